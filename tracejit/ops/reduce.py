"""Reductions over static axes, with NumPy's keepdims semantics."""
import numpy as np

from ..ir import Aval
from ..backends.numba_lower import NoLowering, Reduction, Statement, cast, literal
from .core import Primitive, constant
from .elementwise import convert, div, eq, mul
from .shape import (broadcast_to, concatenate, inverse_permutation, reshape, static_slice,
                    transpose)


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


def weighted_rules(weights):
    """(vjp, jvp) of a reduction whose derivative is d out = sum(weights(ans, x) * dx) over the
    reduced axes: max/min (ties share), prod (the product of the other entries)."""
    def vjp(cts, outs, ins, *, axes, keepdims):
        w = weights(outs[0], ins[0], axes, keepdims)
        return [mul(expand_to(cts[0], ins[0].shape, axes, keepdims), w)]

    def jvp(ts, outs, ins, *, axes, keepdims):
        w = weights(outs[0], ins[0], axes, keepdims)
        return [reduce_sum(mul(ts[0], w), axes=axes, keepdims=keepdims)]
    return vjp, jvp


_extreme_vjp, _extreme_jvp = weighted_rules(_argextreme_weights)


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

# ---- product: its derivative is the product of the *other* entries -----------------------------
def _prod_others(ans, x, axes, keepdims):
    """d prod(x) / d x_i, the product of all entries but x_i along `axes`, by a tree of pairwise
    products and its transpose (O(n) multiplications, 2 log2(n) levels). Exact with zeros, and
    made of products only, so its own derivatives (the Hessian's products of all entries but
    two) are right as well: dividing by x_i, or counting the zeros, loses those (0 instead of
    prod(others) wherever an entry is zero)."""
    axes = tuple(sorted(a % x.ndim for a in axes))
    rest = tuple(a for a in range(x.ndim) if a not in axes)
    n = int(np.prod([x.shape[a] for a in axes]))
    moved = transpose(x, perm=axes + rest) if axes + rest != tuple(range(x.ndim)) else x
    rows = reshape(moved, shape=(n,) + tuple(x.shape[a] for a in rest))
    others = _others_of_rows(rows) if n else rows
    others = reshape(others, shape=moved.shape)
    return transpose(others, perm=inverse_permutation(axes + rest)) if moved is not x else others


def _others_of_rows(rows):
    """For each row i of `rows` (axis 0), the product of every other row."""
    levels = [rows]
    while levels[-1].shape[0] > 1:
        levels.append(mul(*_halves(levels[-1])))
    others = _ones(rows, (1,) + tuple(rows.shape[1:]))
    for level in reversed(levels[:-1]):
        low, high = _halves(level)
        from_high = mul(others, low)
        others = concatenate(mul(others, high), _rows(from_high, 0, level.shape[0] - low.shape[0]),
                             axis=0)
    return others


def _halves(level):
    """The first ceil(n/2) rows and the rest, padded with a row of ones to the same length."""
    n = level.shape[0]
    half = (n + 1) // 2
    low, high = _rows(level, 0, half), _rows(level, half, n - half)
    if n % 2:
        high = concatenate(high, _ones(level, (1,) + tuple(level.shape[1:])), axis=0)
    return low, high


def _rows(x, start, count):
    if start == 0 and count == x.shape[0]:
        return x
    return static_slice(x, spec=((start, count, 1),) + tuple((0, n, 1) for n in x.shape[1:]))


def _ones(like, shape):
    return broadcast_to(constant(like, np.ones((), like.dtype)), shape=tuple(shape))


_prod_vjp, _prod_jvp = weighted_rules(_prod_others)


reduce_prod = Primitive(
    "reduce_prod", lambda x, *, axes, keepdims: np.prod(x, axis=axes, keepdims=keepdims),
    _reduce_rule(_sum_dtype), vjp=_prod_vjp, jvp=_prod_jvp)


# ---- running sum along one axis; its transpose is the running sum taken from the other end
def _flip(x, axis):
    spec = tuple((n - 1, n, -1) if a == axis else (0, n, 1) for a, n in enumerate(x.shape))
    return static_slice(x, spec=spec)


def _cumsum_aval(x, *, axis):
    return [Aval(x.shape, _sum_dtype(x.dtype), False)]


cumsum = Primitive(
    "cumsum", lambda x, *, axis: np.cumsum(x, axis=axis), _cumsum_aval,
    vjp=lambda cts, outs, ins, *, axis: [_flip(cumsum(_flip(cts[0], axis), axis=axis), axis)],
    jvp=lambda ts, outs, ins, *, axis: [cumsum(ts[0], axis=axis)])


# ---- the permutation that sorts (kth=None) or partitions along an axis: integer, no derivative
def _argsort_impl(x, *, axis, kth=None, kind=None):
    if kth is None:
        return np.argsort(x, axis=axis, kind=kind)
    return np.argpartition(x, kth, axis=axis)


argsort = Primitive(
    "argsort", _argsort_impl,
    lambda x, *, axis, kth=None, kind=None: [Aval(x.shape, np.dtype(np.int64))],
    vjp=lambda cts, outs, ins, **_: [None], jvp=lambda ts, outs, ins, **_: [None])


reduce_prod.numba = Reduction(lambda dtype: literal(1, dtype), "{acc} *= {x}")


# ---- running product along one axis, for inputs without zeros (the caller guards that; with
# zeros, tracejit.numpy.cumprod composes products over windows instead): the derivative of
# out[i] with respect to x[j <= i] is out[i] / x[j]
def _cumprod_vjp(cts, outs, ins, *, axis):
    from .elementwise import div
    later = _flip(cumsum(_flip(mul(cts[0], outs[0]), axis), axis=axis), axis)
    return [div(later, ins[0])]


def _cumprod_jvp(ts, outs, ins, *, axis):
    from .elementwise import div
    return [mul(outs[0], cumsum(div(ts[0], ins[0]), axis=axis))]


cumprod = Primitive(
    "cumprod", lambda x, *, axis: np.cumprod(x, axis=axis), _cumsum_aval,
    vjp=_cumprod_vjp, jvp=_cumprod_jvp)



# ---- numba: running sums and products as loops in C order (each element reads its predecessor
# along the axis, computed earlier), so they add in NumPy's order; argsort per lane
def _lower_running(symbol):
    def emit(kb, op):
        (x,), out, axis = op.inputs, op.outputs[0], op.params["axis"]
        if x.ndim == 0:
            raise NoLowering(f"{op.prim.name} of a 0-d array")
        axis %= x.ndim
        source = kb.scalar(x) if kb.is_scalar(x) else kb.array(x)
        target = kb.alloc(out)
        with kb.loops(out.shape) as i:
            value = cast(source if kb.is_scalar(x) else f"{source}[{', '.join(i)}]",
                         x.dtype, out.dtype)
            here = f"{target}[{', '.join(i) or '0'}]"
            if out.shape[axis] == 1:
                kb.line(f"{here} = {value}")
            else:
                before = ", ".join(f"{k} - 1" if d == axis else k for d, k in enumerate(i))
                kb.line(f"{here} = {value} if {i[axis]} == 0 else "
                        f"{target}[{before}] {symbol} {value}")
    return Statement(emit)


cumsum.numba = _lower_running("+")
cumprod.numba = _lower_running("*")


def _lower_argsort(kb, op):
    """A stable sort of each lane; a sort NumPy does not promise to be stable (the default
    quicksort, heapsort) orders ties its own way, so a lane with ties leaves the kernel and the
    numpy executor reruns the call."""
    (x,), out = op.inputs, op.outputs[0]
    kind, axis = op.params.get("kind"), op.params["axis"]
    if op.params.get("kth") is not None or x.ndim == 0:
        raise NoLowering("argpartition")       # NumPy's introselect order cannot be reproduced
    axis %= x.ndim
    n, source, target = x.shape[axis], kb.array(x), kb.alloc(out)
    lane, perm, tied = kb.fresh("lane"), kb.fresh("perm"), kb.fresh("tied")
    kb.line(f"{lane} = np.empty({int(n)}, {kb.dtype(x.dtype)})")
    others = tuple(1 if d == axis else size for d, size in enumerate(x.shape))
    with kb.loops(others) as i:
        where = lambda k: ", ".join(k if d == axis else j for d, j in enumerate(i))  # noqa: E731
        with kb.block(f"for k in range({int(n)}):"):
            kb.line(f"{lane}[k] = {source}[{where('k')}]")
        kb.line(f"{perm}, {tied} = sm.stable_argsort({lane})")
        if kind not in ("stable", "mergesort"):
            kb.line(f"if {tied}:")
            kb.line("    " + kb.exit(op))
        with kb.block(f"for k in range({int(n)}):"):
            kb.line(f"{target}[{where('k')}] = {perm}[k]")


argsort.numba = Statement(_lower_argsort)
argsort.numba_note = "argpartition (kth) runs on numpy: its order is NumPy's introselect's"
