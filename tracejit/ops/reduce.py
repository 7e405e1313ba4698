"""Reductions over static axes, with NumPy's keepdims semantics."""
import numpy as np

from ..ir import Aval
from ..backends.numba_lower import Reduction, literal
from .core import Primitive
from .elementwise import convert, div, eq, mul
from .shape import broadcast_to, reshape


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _reduce_rule(dtype_of):
    def abstract_eval(x, *, axes, keepdims):
        return [Aval(_reduced_shape(x.shape, axes, keepdims), dtype_of(x.dtype), False)]
    return abstract_eval


def _sum_dtype(dtype):
    return np.sum(np.zeros((1,), dtype)).dtype


def expand_to(g, shape, axes, keepdims):
    """Broadcast a reduction's result `g` back over the reduced `axes` of `shape`."""
    if not keepdims:
        g = reshape(g, shape=_reduced_shape(shape, axes, True))
    return broadcast_to(g, shape=tuple(shape))


def _sum_vjp(cts, outs, ins, *, axes, keepdims):
    return [expand_to(cts[0], ins[0].shape, axes, keepdims)]


reduce_sum = Primitive(
    "reduce_sum", lambda x, *, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims),
    _reduce_rule(_sum_dtype), vjp=_sum_vjp,
    jvp=lambda ts, outs, ins, *, axes, keepdims: [reduce_sum(ts[0], axes=axes, keepdims=keepdims)])


def _argextreme_weights(ans, x, axes, keepdims):
    """Where x attains its max/min along `axes`, 1/(number of ties); elsewhere 0."""
    hits = convert(eq(x, expand_to(ans, x.shape, axes, keepdims)), dtype=x.dtype)
    count = reduce_sum(hits, axes=axes, keepdims=True)
    return div(hits, count)


def _extreme_vjp(cts, outs, ins, *, axes, keepdims):
    w = _argextreme_weights(outs[0], ins[0], axes, keepdims)
    return [mul(expand_to(cts[0], ins[0].shape, axes, keepdims), w)]


def _extreme_jvp(ts, outs, ins, *, axes, keepdims):
    w = _argextreme_weights(outs[0], ins[0], axes, keepdims)
    return [reduce_sum(mul(ts[0], w), axes=axes, keepdims=keepdims)]


reduce_max = Primitive(
    "reduce_max", lambda x, *, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims),
    _reduce_rule(lambda d: d), vjp=_extreme_vjp, jvp=_extreme_jvp)
reduce_min = Primitive(
    "reduce_min", lambda x, *, axes, keepdims: np.min(x, axis=axes, keepdims=keepdims),
    _reduce_rule(lambda d: d), vjp=_extreme_vjp, jvp=_extreme_jvp)


# numba lowerings: accumulations the code generator fuses into the loop over the input
def _lowest(dtype):
    if dtype.kind == "f":
        return literal(-np.inf, dtype)
    return literal(False, dtype) if dtype.kind == "b" else literal(np.iinfo(dtype).min, dtype)


def _highest(dtype):
    if dtype.kind == "f":
        return literal(np.inf, dtype)
    return literal(True, dtype) if dtype.kind == "b" else literal(np.iinfo(dtype).max, dtype)


reduce_sum.numba = Reduction(lambda dtype: literal(0, dtype), "{acc} += {x}")
# `x != x` lets a NaN win and then stick, as np.max/np.min propagate NaN
reduce_max.numba = Reduction(_lowest, "if {x} > {acc} or {x} != {x}:\n    {acc} = {x}")
reduce_min.numba = Reduction(_highest, "if {x} < {acc} or {x} != {x}:\n    {acc} = {x}")
