"""Gather and scatter-add along one axis with an integer index array of any shape.

All advanced indexing in `tracejit.numpy` lowers to these two: `x[idx]`, `x[:, idx]`, boolean
masks (via their integer positions) and multi-array indices (via a linearised index).
"""
import numpy as np

from ..ir import Aval
from ..backends.numba_lower import Statement
from .core import Primitive
from .shape import zeros_like


def _take_aval(x, idx, *, axis):
    shape = x.shape[:axis] + idx.shape + x.shape[axis + 1:]
    return [Aval(shape, x.dtype, x.weak)]


def _take_vjp(cts, outs, ins, *, axis):
    x, idx = ins
    return [scatter_add(zeros_like(x), idx, cts[0], axis=axis), None]


take = Primitive(
    "take", lambda x, idx, *, axis: np.take(x, idx, axis=axis), _take_aval, vjp=_take_vjp,
    jvp=lambda ts, outs, ins, *, axis: [None if ts[0] is None else take(ts[0], ins[1], axis=axis)])


def _scatter_add_impl(base, idx, update, *, axis):
    out = np.array(base, copy=True)
    index = (slice(None),) * axis + (np.asarray(idx),)
    np.add.at(out, index, update)
    return out


def _scatter_add_vjp(cts, outs, ins, *, axis):
    g = cts[0]
    return [g, None, take(g, ins[1], axis=axis)]


def _scatter_add_jvp(ts, outs, ins, *, axis):
    base, idx, update = ins
    tb = ts[0] if ts[0] is not None else zeros_like(base)
    if ts[2] is None:
        return [tb if ts[0] is not None else None]
    return [scatter_add(tb, idx, ts[2], axis=axis)]


scatter_add = Primitive(
    "scatter_add", _scatter_add_impl,
    lambda base, idx, update, *, axis: [Aval(base.shape, base.dtype, base.weak)],
    vjp=_scatter_add_vjp, jvp=_scatter_add_jvp)


def _nonzero_flat_impl(mask, *, size):
    positions = np.flatnonzero(mask)
    if positions.size != size:      # the count guard before this op failed to stop the run
        raise AssertionError(f"mask has {positions.size} true entries, trace assumed {size}")
    return positions.astype(np.int64)


# positions of a mask's true entries; its count is fixed by a guard recorded just before it
nonzero_flat = Primitive(
    "nonzero_flat", _nonzero_flat_impl,
    lambda mask, *, size: [Aval((size,), np.dtype(np.int64))])


# numba lowerings: explicit loops; an index out of range leaves the kernel, and the numpy
# executor then reruns the trace to raise NumPy's own IndexError
def _checked_index(kb, op, idx, where, n):
    """Emit `j = idx[where]` wrapped like NumPy (negative counts from the end) and
    bounds-checked; `where` are the loop's index names over idx's axes."""
    j = kb.fresh("j")
    where = ", ".join(where)
    kb.line(f"{j} = {kb.scalar(idx) if kb.is_scalar(idx) else f'{kb.array(idx)}[{where}]'}")
    kb.line(f"if {j} < 0:")
    kb.line(f"    {j} += {int(n)}")
    kb.line(f"if {j} < 0 or {j} >= {int(n)}:")
    kb.line("    " + kb.exit(op))
    return j


def _lower_take(kb, op):
    (x, idx), out, axis = op.inputs, op.outputs[0], op.params["axis"]
    if kb.is_scalar(out):                       # one element: read it, allocate nothing
        j = _checked_index(kb, op, idx, (), x.shape[axis])
        read = ["0"] * axis + [j] + ["0"] * (x.ndim - axis - 1)
        kb.define_scalar(out, f"{kb.array(x)}[{', '.join(read)}]")
        return
    if kb.small(out.aval) and kb.is_scalar(idx):   # a row of a tape, say: its elements
        j, source = _checked_index(kb, op, idx, (), x.shape[axis]), kb.array(x)
        reads = ([*map(str, i[:axis]), j, *map(str, i[axis + idx.ndim:])]
                 for i in np.ndindex(*out.shape))
        kb.hold(out, [f"{source}[{', '.join(read)}]" for read in reads])
        return
    target, source = kb.alloc(out), kb.array(x)
    with kb.loops(out.shape) as i:
        j = _checked_index(kb, op, idx, i[axis:axis + idx.ndim], x.shape[axis])
        read = i[:axis] + [j] + i[axis + idx.ndim:]
        kb.line(f"{target}[{', '.join(i) or '0'}] = {source}[{', '.join(read)}]")


def _lower_scatter_add(kb, op):
    (base, idx, update), out, axis = op.inputs, op.outputs[0], op.params["axis"]
    loop_shape = out.shape[:axis] + idx.shape + out.shape[axis + 1:]
    # one element: a scalar accumulator (every index must still be in range)
    target = kb.define_scalar(out, kb.scalar(base)) if kb.is_scalar(out) else \
        kb.writable_copy(base, out)
    with kb.loops(loop_shape) as i:
        j = _checked_index(kb, op, idx, i[axis:axis + idx.ndim], out.shape[axis])
        value = kb.scalar(update) if kb.is_scalar(update) else \
            f"{kb.array(update)}[{', '.join(kb.index(update.shape, loop_shape))}]"
        write = "" if kb.is_scalar(out) else f"[{', '.join(i[:axis] + [j] + i[axis + idx.ndim:])}]"
        kb.line(f"{target}{write} += {value}")


def _lower_nonzero_flat(kb, op):
    (mask,), out, size = op.inputs, op.outputs[0], int(op.params["size"])
    target, count = kb.alloc(out), kb.fresh("n")
    flat = f"{kb.contiguous(mask)}.reshape({int(mask.aval.size)})"
    kb.line(f"{count} = 0")
    with kb.loops((mask.aval.size,)) as (i,):
        with kb.block(f"if {flat}[{i}]:"):
            kb.line(f"if {count} < {size}:")
            kb.line(f"    {target}[{count}] = {i}")
            kb.line(f"{count} += 1")
    kb.line(f"if {count} != {size}:")
    kb.line("    " + kb.exit(op))


take.numba = Statement(_lower_take)
scatter_add.numba = Statement(_lower_scatter_add)
nonzero_flat.numba = Statement(_lower_nonzero_flat)
