"""Shape primitives: broadcast, reshape, transpose, strided slicing and its update, concatenate.

`unbroadcast` lives here too: the one place where a cotangent of a broadcast result is summed back
to an input's shape.
"""
import numpy as np

from ..ir import Aval
from ..backends.numba_lower import Scalar, Statement, cast, python_slices, slice_positions
from .core import Primitive, constant
from .elementwise import convert  # noqa: F401  (re-exported: dtype conversion is a shape-family op too)


def _same_dtype(x, shape):
    return [Aval(tuple(shape), x.dtype, x.weak)]


# broadcast_to
def _broadcast_vjp(cts, outs, ins, *, shape):
    return [unbroadcast(cts[0], ins[0].shape)]


broadcast_to = Primitive(
    "broadcast_to", lambda x, *, shape: np.broadcast_to(x, shape),
    lambda x, *, shape: _same_dtype(x, shape),
    vjp=_broadcast_vjp,
    jvp=lambda ts, outs, ins, *, shape: [broadcast_to(ts[0], shape=shape)])


def unbroadcast(g, shape):
    """Sum `g` over the axes along which an array of `shape` was broadcast to `g.shape`."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    from .reduce import reduce_sum
    lead = len(g.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and g.shape[lead + i] != 1)
    summed = reduce_sum(g, axes=axes, keepdims=False)
    return reshape(summed, shape=shape) if tuple(summed.shape) != shape else summed


# reshape
reshape = Primitive(
    "reshape", lambda x, *, shape: np.reshape(x, shape),
    lambda x, *, shape: _same_dtype(x, shape),
    vjp=lambda cts, outs, ins, *, shape: [reshape(cts[0], shape=ins[0].shape)],
    jvp=lambda ts, outs, ins, *, shape: [reshape(ts[0], shape=shape)])


# transpose
def inverse_permutation(perm):
    return tuple(int(i) for i in np.argsort(perm))


transpose = Primitive(
    "transpose", lambda x, *, perm: np.transpose(x, perm),
    lambda x, *, perm: _same_dtype(x, [x.shape[p] for p in perm]),
    vjp=lambda cts, outs, ins, *, perm: [transpose(cts[0], perm=inverse_permutation(perm))],
    jvp=lambda ts, outs, ins, *, perm: [transpose(ts[0], perm=perm)])


# strided slicing: per axis a (start, size, step) triple selecting start + k*step, k < size
# (python_slices gives NumPy's index tuple for a spec)
def _slice_impl(x, *, spec):
    return np.asarray(x)[python_slices(spec)]


def zeros_like(x, shape=None):
    """A zero of `x`'s dtype broadcast to `shape` (default: x's): a broadcast op, not a big literal."""
    shape = tuple(x.shape) if shape is None else tuple(shape)
    zero = constant(x, np.zeros((), x.dtype))
    return broadcast_to(zero, shape=shape) if shape else zero


def _slice_vjp(cts, outs, ins, *, spec):
    return [slice_update(zeros_like(ins[0]), cts[0], spec=spec)]


static_slice = Primitive(
    "slice", _slice_impl,
    lambda x, *, spec: _same_dtype(x, [size for _, size, _ in spec]),
    vjp=_slice_vjp,
    jvp=lambda ts, outs, ins, *, spec: [static_slice(ts[0], spec=spec)])


def _slice_update_impl(base, update, *, spec):
    out = np.array(base, copy=True)
    out[python_slices(spec)] = update
    return out


def _slice_update_vjp(cts, outs, ins, *, spec):
    g = cts[0]
    base, update = ins
    g_update = static_slice(g, spec=spec)
    return [slice_update(g, zeros_like(update, g_update.shape), spec=spec),
            unbroadcast(g_update, update.shape)]


def _slice_update_jvp(ts, outs, ins, *, spec):
    base, update = ins
    tb = ts[0] if ts[0] is not None else zeros_like(base)
    tu = ts[1] if ts[1] is not None else zeros_like(update)
    return [slice_update(tb, tu, spec=spec)]


slice_update = Primitive(
    "slice_update", _slice_update_impl,
    lambda base, update, *, spec: [Aval(base.shape, base.dtype, base.weak)],
    vjp=_slice_update_vjp, jvp=_slice_update_jvp)


# concatenate
def _concat_aval(*xs, axis):
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    dtype = np.result_type(*[x.dtype for x in xs])
    return [Aval(tuple(shape), dtype, all(x.weak for x in xs))]


def _concat_vjp(cts, outs, ins, *, axis):
    g, start, out = cts[0], 0, []
    for x in ins:
        spec = tuple((start if a == axis else 0, x.shape[a], 1) for a in range(g.ndim))
        out.append(static_slice(g, spec=spec))
        start += x.shape[axis]
    return out


def _concat_jvp(ts, outs, ins, *, axis):
    if all(t is None for t in ts):
        return [None]
    return [concatenate(*[t if t is not None else zeros_like(x) for t, x in zip(ts, ins)], axis=axis)]


concatenate = Primitive(
    "concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis), _concat_aval,
    vjp=_concat_vjp, jvp=_concat_jvp)


# numba lowerings. broadcast_to reads its input with broadcasting, exactly like an elementwise
# op, so it fuses into loops; reshape, transpose and slice are views; updates write in place when
# the kernel owns the base and nothing else reads it.
broadcast_to.numba = Scalar("{0}")


def _lower_reshape(kb, op):
    x, out = op.inputs[0], op.outputs[0]
    if kb.is_scalar(out):
        kb.rename(out, kb.scalar(x))
        return
    kb.alias(x)
    kb.define(out, f"{kb.contiguous(x)}.reshape({tuple(int(n) for n in out.shape)!r})")


def _lower_transpose(kb, op):
    (x,), out, perm = op.inputs, op.outputs[0], tuple(int(p) for p in op.params["perm"])
    if kb.is_scalar(out):
        kb.rename(out, kb.scalar(x))
        return
    kb.alias(x)
    if perm == (1, 0):
        kb.define(out, f"{kb.contiguous(x)}.T", view="F")     # np.dot takes it without a copy
    else:
        kb.copy_loop(kb.alloc(out), x, x.shape, lambda i: [i[p] for p in perm])


def _slice_text(spec):
    parts = []
    for s in python_slices(spec):
        stop = "" if s.stop is None else repr(int(s.stop))
        parts.append(f"{int(s.start)}:{stop}:{int(s.step or 1)}")
    return ", ".join(parts)


def _lower_slice(kb, op):
    (x,), out, spec = op.inputs, op.outputs[0], op.params["spec"]
    if kb.is_scalar(out):
        if kb.is_scalar(x):
            kb.rename(out, kb.scalar(x))
        else:
            where = ", ".join(str(int(start)) for start, _, _ in spec)
            kb.define_scalar(out, f"{kb.array(x)}[{where}]")
        return
    kb.alias(x)
    kb.define(out, f"{kb.array(x)}[{_slice_text(spec)}]", view="A")


def _lower_slice_update(kb, op):
    (base, update), out, spec = op.inputs, op.outputs[0], op.params["spec"]
    if kb.is_scalar(out):          # one element: it is either replaced or kept
        kept = base if any(size == 0 for _, size, _ in spec) else update
        kb.define_scalar(out, cast(kb.scalar(kept), kept.dtype, out.dtype))
        return
    kb.copy_loop(kb.writable_copy(base, out), update, tuple(size for _, size, _ in spec),
                 lambda i: slice_positions(spec, i))


def _lower_concatenate(kb, op):
    out = op.outputs[0]
    axis = op.params["axis"] % out.ndim
    target, start = kb.alloc(out), 0
    for x in op.inputs:
        kb.copy_loop(target, x, x.shape,
                     lambda i, at=start: i[:axis] + [f"{at} + {i[axis]}"] + i[axis + 1:])
        start += x.shape[axis]


reshape.numba = Statement(_lower_reshape, rearranges=True)
transpose.numba = Statement(_lower_transpose, rearranges=True)
static_slice.numba = Statement(_lower_slice, rearranges=True)
slice_update.numba = Statement(_lower_slice_update, rearranges=True)
concatenate.numba = Statement(_lower_concatenate, rearranges=True)
