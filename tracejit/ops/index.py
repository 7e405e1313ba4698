"""Gather, scatter and scatter-add along one axis with an integer index array of any shape.

All advanced indexing in `tracejit.numpy` lowers to these: `x[idx]`, `x[:, idx]`, boolean
masks (via their integer positions) and multi-array indices (via a linearised index) read with
`take`, are written with `scatter` (NumPy's assignment: a repeated index keeps the last write)
and accumulated with `scatter_add` (`np.add.at`). Their indices are in range: `wrap_index`
applies NumPy's rule to each user index first (negative counts from the end, out of range
raises IndexError), at run time when the index comes from data.
"""
import numpy as np

from ..ir import Aval
from ..backends.numba_lower import Statement
from . import elementwise as ew
from .core import Primitive, constant
from .shape import reshape, zeros_like


def _wrap_index_impl(idx, *, size, axis):
    idx = np.asarray(idx)
    outside = (idx < -size) | (idx >= size)
    if outside.any():
        raise IndexError(f"index {idx[outside].flat[0]} is out of bounds for axis {axis} "
                         f"with size {size}")
    return np.where(idx < 0, idx.astype(np.int64) + size, idx).astype(np.int64)


# NumPy's reading of a user's index into an axis of `size`: the position it names, or NumPy's
# IndexError when the call's data put it out of range (on every call, not just the traced one)
wrap_index = Primitive(
    "wrap_index", _wrap_index_impl,
    lambda idx, *, size, axis: [Aval(idx.shape, np.dtype(np.int64))])


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


def _scatter_impl(base, idx, update, *, axis):
    out = np.array(base, copy=True)
    out[(slice(None),) * axis + (np.asarray(idx),)] = update      # NumPy: the last write stays
    return out


def _last_writers(idx, size):
    """Where a write through `idx` (positions into an axis of `size`) is the one that stays:
    a boolean mask of idx's shape, or None when every write stays (distinct constant indices)."""
    order = constant(idx, np.arange(idx.size, dtype=np.int64).reshape(idx.shape))
    winner = scatter(constant(idx, np.full(size, -1, np.int64)), idx, order, axis=0)
    last = ew.eq(take(winner, idx, axis=0), order)
    if last.is_constant and np.all(last.val):
        return None
    return last


def _scatter_vjp(cts, outs, ins, *, axis):
    base, idx, update = ins
    g = cts[0]
    g_update = take(g, idx, axis=axis)
    last = _last_writers(idx, base.shape[axis])
    if last is not None:                 # an overwritten write reaches nothing
        last = reshape(last, shape=(1,) * axis + tuple(idx.shape) + (1,) * (base.ndim - axis - 1))
        g_update = ew.select(last, g_update, constant(g, np.zeros((), g.dtype)))
    return [scatter(g, idx, zeros_like(update), axis=axis), None, g_update]


def _scatter_jvp(ts, outs, ins, *, axis):
    base, idx, update = ins
    if ts[0] is None and ts[2] is None:
        return [None]
    tb = ts[0] if ts[0] is not None else zeros_like(base)
    tu = ts[2] if ts[2] is not None else zeros_like(update)
    return [scatter(tb, idx, tu, axis=axis)]


# base with `update` written at positions `idx` (in range) of `axis`
scatter = Primitive(
    "scatter", _scatter_impl,
    lambda base, idx, update, *, axis: [Aval(base.shape, base.dtype, base.weak)],
    vjp=_scatter_vjp, jvp=_scatter_jvp)


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


def _scatter_lowering(assign):
    """The lowering of a scatter that writes each update element with `assign` ("=", "+="), in
    C order of the index, so that the last of repeated writes stays, as in NumPy."""
    def lower(kb, op):
        (base, idx, update), out, axis = op.inputs, op.outputs[0], op.params["axis"]
        loop_shape = out.shape[:axis] + idx.shape + out.shape[axis + 1:]
        # one element: a scalar (every index must still be in range)
        target = kb.define_scalar(out, kb.scalar(base)) if kb.is_scalar(out) else \
            kb.writable_copy(base, out)
        with kb.loops(loop_shape) as i:
            j = _checked_index(kb, op, idx, i[axis:axis + idx.ndim], out.shape[axis])
            value = kb.scalar(update) if kb.is_scalar(update) else \
                f"{kb.array(update)}[{', '.join(kb.index(update.shape, loop_shape))}]"
            write = "" if kb.is_scalar(out) else \
                f"[{', '.join(i[:axis] + [j] + i[axis + idx.ndim:])}]"
            kb.line(f"{target}{write} {assign} {value}")
    return lower


def _lower_wrap_index(kb, op):
    (idx,), out, size = op.inputs, op.outputs[0], op.params["size"]
    if kb.is_scalar(out):
        kb.define_scalar(out, f"np.int64({_checked_index(kb, op, idx, (), size)})")
        return
    target = kb.alloc(out)
    with kb.loops(out.shape) as i:
        j = _checked_index(kb, op, idx, i, size)
        kb.line(f"{target}[{', '.join(i) or '0'}] = {j}")


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
scatter_add.numba = Statement(_scatter_lowering("+="))
scatter.numba = Statement(_scatter_lowering("="))
wrap_index.numba = Statement(_lower_wrap_index)
nonzero_flat.numba = Statement(_lower_nonzero_flat)
