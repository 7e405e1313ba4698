"""Reductions, running reductions, order statistics and calculus helpers as compositions.

Order statistics (sort, partition, median, percentiles) gather the input through a permutation
computed by the integer-valued `argsort` primitive: the gradient flows through the gather to the
entries that were picked, as it should.
"""
import builtins

import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops import reduce as rd
from ..ops.core import Tracer, as_numpy_scalar, concretize_bool
from . import _funcs as F
from ._funcs import asarray, normalize_axes, refuse
from ._registry import implements
from ._shapes import _axis, moveaxis, take, take_along_axis


@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    refuse("prod", out=out, where=where)
    a = asarray(a)
    a = F.astype(a, dtype) if dtype is not None else a
    result = rd.reduce_prod(a, axes=normalize_axes(axis, a.ndim), keepdims=bool(keepdims))
    return result if initial is None else ew.mul(result, F.initial_like(initial, result))


def _running(a, axis, dtype):
    a = asarray(a)
    if axis is None:
        a, axis = F.ravel(a), 0
    return (F.astype(a, dtype) if dtype is not None else a), _axis(axis, a.ndim)


@implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    refuse("cumsum", out=out)
    a, axis = _running(a, axis, dtype)
    return rd.cumsum(a, axis=axis)


@implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    """Without zeros: the cumprod primitive (its rule divides by the input). With zeros (a
    data-dependent choice, so guarded): each running product is a product over a triangular
    window, (n, n) work per line but exact at zeros."""
    refuse("cumprod", out=out)
    a, axis = _running(a, axis, dtype)
    if isinstance(a, Tracer) and not a.is_constant and a.dtype.kind in "fc" and \
            concretize_bool(all_(ew.ne(a, 0))):
        return rd.cumprod(a, axis=axis)
    n = a.shape[axis]
    moved = moveaxis(a, axis, -1)
    window = np.tri(n, dtype=bool)                     # window[i, j]: j <= i
    spread = ew.select(window, F.expand_dims(moved, -2), 1)
    return moveaxis(rd.reduce_prod(spread, axes=(spread.ndim - 1,), keepdims=False), -1, axis)


@implements(np.ptp)
def ptp(a, axis=None, out=None, keepdims=False):
    refuse("ptp", out=out)
    return ew.sub(F.max(a, axis=axis, keepdims=keepdims), F.min(a, axis=axis, keepdims=keepdims))


# ---- NaN-ignoring reductions: NaNs replaced by the reduction's identity ---------------------------
def _nan_filled(a, fill):
    a = asarray(a)
    return ew.select(ew.isnan(a), fill, a) if a.dtype.kind in "fc" else a


def _nan_count(a, axis, keepdims):
    a = asarray(a)
    present = F.astype(ew.logical_not(ew.isnan(a)), np.int64)
    return F.sum(present, axis=axis, keepdims=keepdims)


def _count_like(count, total):
    """A count in the floating type of the total it divides (float32 stays float32)."""
    return F.astype(count, total.dtype) if F.asarray(total).dtype.kind == "f" else count


@implements(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    return F.sum(_nan_filled(a, 0), axis, dtype, out, keepdims, initial, where)


@implements(np.nanprod)
def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    return prod(_nan_filled(a, 1), axis, dtype, out, keepdims, initial, where)


@implements(np.nanmean)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    total = nansum(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, where=where)
    return ew.div(total, _count_like(_nan_count(a, axis, keepdims), total))


@implements(np.nanvar)
def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None,
           correction=None):
    refuse("nanvar", out=out, where=where, mean=mean)
    ddof = ddof if correction is None else correction
    centred = ew.sub(a, nanmean(a, axis=axis, dtype=dtype, keepdims=True))
    squares = nansum(ew.mul(centred, centred), axis=axis, keepdims=keepdims)
    count = ew.maximum(ew.sub(_nan_count(a, axis, keepdims), ddof), 0)
    return ew.div(squares, _count_like(count, squares))


@implements(np.nanstd)
def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None,
           correction=None):
    return ew.sqrt(nanvar(a, axis, dtype, out, ddof, keepdims, where, mean, correction))


@implements(np.nanmax)
def nanmax(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    return _all_nan_is_nan(a, axis, keepdims, initial, F.max(
        _nan_filled(a, -np.inf), axis, out=out, keepdims=keepdims, initial=initial, where=where))


@implements(np.nanmin)
def nanmin(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    return _all_nan_is_nan(a, axis, keepdims, initial, F.min(
        _nan_filled(a, np.inf), axis, out=out, keepdims=keepdims, initial=initial, where=where))


def _all_nan_is_nan(a, axis, keepdims, initial, result):
    """NumPy's nanmax/nanmin of a slice that is all NaN is NaN (not the filler's +-inf)."""
    a = asarray(a)
    if a.dtype.kind not in "fc" or initial is not None:
        return result
    all_nan = F.min(ew.isnan(a), axis, keepdims=keepdims)
    return as_numpy_scalar(ew.select(all_nan, np.nan, result))


@implements(np.nancumsum)
def nancumsum(a, axis=None, dtype=None, out=None):
    return cumsum(_nan_filled(a, 0), axis, dtype, out)


@implements(np.nancumprod)
def nancumprod(a, axis=None, dtype=None, out=None):
    return cumprod(_nan_filled(a, 1), axis, dtype, out)


@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    if weights is None:
        avg = F.mean(a, axis=axis, keepdims=keepdims)
        scale = ew.add(F.zeros_like(avg), float(F._count(a, axis)))
    else:
        a, weights = asarray(a), asarray(weights)
        if F.ndim(weights) == 1 and F.ndim(a) > 1:
            shape = [1] * a.ndim
            shape[_axis(axis, a.ndim)] = weights.shape[0]
            weights = F.reshape(weights, tuple(shape))
        scale = F.sum(ew.mul(F.ones_like(a), weights), axis=axis, keepdims=keepdims)
        avg = ew.div(F.sum(ew.mul(a, weights), axis=axis, keepdims=keepdims), scale)
    return (avg, scale) if returned else avg


# ---- order statistics ------------------------------------------------------------------------
@implements(np.argsort)
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    a = asarray(a)
    if axis is None:
        a, axis = F.ravel(a), 0
    kind = "stable" if stable else kind
    return rd.argsort(a, axis=_axis(axis, a.ndim), kind=kind)


@implements(np.sort)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    a = asarray(a)
    if axis is None:
        a, axis = F.ravel(a), 0
    return take_along_axis(a, rd.argsort(a, axis=_axis(axis, a.ndim), kind="stable"), axis)


@implements(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    a = asarray(a)
    if axis is None:
        a, axis = F.ravel(a), 0
    kth = tuple(np.atleast_1d(kth).tolist())
    order = rd.argsort(a, axis=_axis(axis, a.ndim), kth=kth)
    return take_along_axis(a, order, axis)


def _arg_extreme(a, axis, keepdims, extreme):
    """The first position where `a` attains its max/min: the smallest matching index (a NaN
    is the extreme, as NumPy's max/min propagate it)."""
    a = asarray(a)
    if axis is None:
        a, axis = F.ravel(a), 0
    axis = _axis(axis, a.ndim)
    n = a.shape[axis]
    positions = np.arange(n).reshape([n if d == axis else 1 for d in range(a.ndim)])
    hits = ew.eq(a, extreme(a, axis=axis, keepdims=True))
    if a.dtype.kind in "fc":
        hits = ew.logical_or(hits, ew.isnan(a))
    return F.min(ew.select(hits, positions, n), axis=axis, keepdims=keepdims)


@implements(np.argmax)
def argmax(a, axis=None, out=None, *, keepdims=False):
    refuse("argmax", out=out)
    return _arg_extreme(a, axis, keepdims, F.max)


@implements(np.argmin)
def argmin(a, axis=None, out=None, *, keepdims=False):
    refuse("argmin", out=out)
    return _arg_extreme(a, axis, keepdims, F.min)


@implements(np.quantile)
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, weights=None):
    """Linear interpolation between the order statistics around each quantile (NumPy's default),
    with NumPy's formula (from the upper neighbour when q's fraction is at least 1/2, which
    decides what infinite neighbours give) and a NaN anywhere making the result NaN."""
    refuse("quantile", out=out, weights=weights)
    if method != "linear" or isinstance(q, Tracer):
        raise UnsupportedError("numpy.quantile/percentile/median with a method other than "
                               "'linear' or a traced q")
    a = asarray(a)
    ordered, rest, axes = _sorted_last(a, axis)
    n = ordered.shape[-1]
    python_q = isinstance(q, (int, float))       # a Python number does not widen a's type
    q = np.asarray(q, dtype=np.float64)
    pos = q * (n - 1)
    below = np.floor(pos).astype(int)
    above = np.minimum(below + 1, n - 1)
    lo, hi = (_order_stat(ordered, index, q.ndim) for index in (below, above))
    frac = np.reshape(pos - below, q.shape + (1,) * len(rest))
    if a.dtype.kind == "f":
        frac = frac.astype(a.dtype if python_q else np.result_type(a.dtype, q.dtype))
    step = ew.sub(hi, lo)
    out = ew.select(frac >= 0.5, ew.sub(hi, ew.mul(step, 1 - frac)), ew.add(lo, ew.mul(step, frac)))
    out = _nan_if_any(out, ordered)
    if keepdims:
        out = F.reshape(out, q.shape + _kept_shape(a, axes))
    return as_numpy_scalar(out)


def _sorted_last(a, axis):
    """`a` sorted along the reduced axes, moved last and flattened into one."""
    axes = normalize_axes(axis, a.ndim)
    rest = [d for d in range(a.ndim) if d not in axes]
    flat = F.reshape(F.transpose(a, rest + list(axes)), tuple(a.shape[d] for d in rest) + (-1,))
    return sort(flat, axis=-1), rest, axes


def _order_stat(ordered, index, q_ndim):
    """The order statistics at `index` (one per quantile), the quantiles' axes first."""
    picked = take(ordered, index, axis=-1)
    return moveaxis(picked, tuple(range(-q_ndim, 0)), tuple(range(q_ndim))) if q_ndim else picked


def _nan_if_any(out, ordered):
    """NaN where the data held one, as NumPy's quantile and median give (sorting put it last)."""
    if ordered.dtype.kind not in "fc":
        return out
    return ew.select(ew.isnan(take(ordered, -1, axis=-1)), np.nan, out)


def _kept_shape(a, axes):
    return tuple(1 if d in axes else n for d, n in enumerate(a.shape))


@implements(np.percentile)
def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None):
    q = q / 100.0 if isinstance(q, (int, float)) else np.asarray(q) / 100.0
    return quantile(a, q, axis, out, overwrite_input, method, keepdims,
                    weights=weights)


@implements(np.median)
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The mean of the middle one or two order statistics, as NumPy computes it (so infinite
    middles give what their mean gives), NaN where the data held one."""
    refuse("median", out=out)
    a = asarray(a)
    ordered, _, axes = _sorted_last(a, axis)
    n = ordered.shape[-1]
    middle = ordered[..., (n - 1) // 2:n // 2 + 1]
    out = _nan_if_any(F.mean(middle, axis=-1), ordered)
    return F.reshape(out, _kept_shape(a, axes)) if keepdims else as_numpy_scalar(out)


@implements(np.nanmedian)
def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    a = asarray(a)
    if bool(F.max(F.astype(ew.isnan(a), np.int8)) > 0):
        raise UnsupportedError("numpy.nanmedian of data containing NaN (the count of entries "
                               "left would vary along the axis)")
    return median(a, axis=axis, out=out, keepdims=keepdims)


# ---- differences, integrals, interpolation, polynomials ---------------------------------------
@implements(np.diff)
def diff(a, n=1, axis=-1, prepend=None, append=None):
    a = asarray(a)
    axis = _axis(axis, a.ndim)
    if prepend is not None or append is not None:
        parts = [F.broadcast_to(p, _with(a.shape, axis, 1)) if F.ndim(p) == 0 else p
                 for p in (prepend,) if p is not None] + [a] + \
                [F.broadcast_to(p, _with(a.shape, axis, 1)) if F.ndim(p) == 0 else p
                 for p in (append,) if p is not None]
        a = F.concatenate(parts, axis=axis)
    for _ in range(n):
        m = a.shape[axis]
        a = ew.sub(F._take_range(a, axis, 1, m), F._take_range(a, axis, 0, m - 1))
    return a


def _with(shape, axis, size):
    return tuple(size if d == axis else n for d, n in enumerate(shape))


@implements(np.gradient)
def gradient(f, *varargs, axis=None, edge_order=1):
    """Second-order central differences inside, first-order one-sided at the edges (uniform
    spacing given as scalars)."""
    f = asarray(f)
    if edge_order != 1 or builtins.any(np.ndim(v) for v in varargs):
        raise UnsupportedError("numpy.gradient with edge_order=2 or coordinate arrays")
    axes = normalize_axes(axis, f.ndim)
    spacing = list(varargs) * len(axes) if len(varargs) <= 1 else list(varargs)
    spacing = spacing or [1.0] * len(axes)
    out = []
    for ax, h in zip(axes, spacing):
        n = f.shape[ax]
        inner = ew.div(ew.sub(F._take_range(f, ax, 2, n), F._take_range(f, ax, 0, n - 2)), 2.0 * h)
        first = ew.div(ew.sub(F._take_range(f, ax, 1, 2), F._take_range(f, ax, 0, 1)), h)
        last = ew.div(ew.sub(F._take_range(f, ax, n - 1, n), F._take_range(f, ax, n - 2, n - 1)), h)
        out.append(F.concatenate([first, inner, last], axis=ax))
    return out[0] if len(out) == 1 else tuple(out)


@implements(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = asarray(y)
    axis = _axis(axis, y.ndim)
    n = y.shape[axis]
    mid = ew.mul(ew.add(F._take_range(y, axis, 1, n), F._take_range(y, axis, 0, n - 1)), 0.5)
    if x is None:
        return ew.mul(F.sum(mid, axis=axis), dx)
    widths = diff(x, axis=-1 if F.ndim(x) == 1 else axis)
    if F.ndim(x) == 1 and y.ndim > 1:
        widths = F.reshape(widths, _with((1,) * y.ndim, axis, n - 1))
    return F.sum(ew.mul(mid, widths), axis=axis)


@implements(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation, differentiable in x and fp; the interval each x falls in
    is found by NumPy on the concrete values and guarded."""
    if period is not None or isinstance(xp, Tracer):
        raise UnsupportedError("numpy.interp with period= or traced sample positions xp")
    xp = np.asarray(xp, dtype=np.float64)
    x, fp = asarray(x), asarray(fp)
    n = xp.shape[0]
    x_val = x.val if isinstance(x, Tracer) else np.asarray(x)
    slot = np.clip(np.searchsorted(xp, x_val, side="right") - 1, 0, n - 2)
    if isinstance(x, Tracer) and not x.is_constant:
        lo_ok = ew.logical_or(ew.ge(x, xp[slot]), slot == 0)
        hi_ok = ew.logical_or(ew.lt(x, xp[slot + 1]), slot == n - 2)
        concretize_bool(all_(ew.logical_and(lo_ok, hi_ok)))    # guard: same intervals next call
    f_lo, f_hi = take(fp, slot), take(fp, slot + 1)
    t = ew.div(ew.sub(x, xp[slot]), xp[slot + 1] - xp[slot])
    inside = ew.add(f_lo, ew.mul(ew.sub(f_hi, f_lo), t))
    left = take(fp, 0) if left is None else left
    right = take(fp, n - 1) if right is None else right
    return ew.select(ew.lt(x, xp[0]), left, ew.select(ew.gt(x, xp[-1]), right, inside))


@implements(np.polyval)
def polyval(p, x):
    """Horner's rule, as NumPy evaluates it."""
    x = asarray(x)
    out = F.zeros_like(x) if F.ndim(x) else 0.0
    for k in range(F.shape(p)[0]):
        out = ew.add(ew.mul(out, x), p[k])
    return out


@implements(np.any)
def any_(a, axis=None, out=None, keepdims=False, *, where=None):
    refuse("any", out=out, where=where)
    return F.max(ew.ne(asarray(a), 0), axis=axis, keepdims=keepdims)


@implements(np.all)
def all_(a, axis=None, out=None, keepdims=False, *, where=None):
    refuse("all", out=out, where=where)
    return F.min(ew.ne(asarray(a), 0), axis=axis, keepdims=keepdims)


@implements(np.count_nonzero)
def count_nonzero(a, axis=None, *, keepdims=False):
    return F.sum(F.astype(ew.ne(asarray(a), 0), np.int64), axis=axis, keepdims=keepdims)


# ---- closeness and equality tests ---------------------------------------------------------------
def _as_float(y):
    """`y` in floating point, as NumPy's isclose converts it (ints to float64, float32 kept)."""
    return ew.mul(y, 1.0) if isinstance(y, Tracer) else np.asarray(y) * 1.0


@implements(np.isclose)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """NumPy's rule: |a - b| <= atol + rtol * |b| where b is finite, or a == b (infinities)."""
    x, y = asarray(a), _as_float(asarray(b))
    within = ew.le(F.absolute(ew.sub(x, y)), ew.add(atol, ew.mul(rtol, F.absolute(y))))
    result = ew.logical_or(ew.logical_and(within, ew.isfinite(y)), ew.eq(x, y))
    if equal_nan:
        result = ew.logical_or(result, ew.logical_and(ew.isnan(x), ew.isnan(y)))
    return as_numpy_scalar(result) if F.ndim(result) == 0 else result


@implements(np.allclose)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A Python bool, as NumPy returns (guarded: a call where it differs re-traces)."""
    return concretize_bool(all_(isclose(a, b, rtol, atol, equal_nan)))


@implements(np.array_equal)
def array_equal(a1, a2, equal_nan=False):
    x, y = asarray(a1), asarray(a2)
    if F.shape(x) != F.shape(y):
        return False
    same = ew.eq(x, y)
    if equal_nan:
        both_nan = ew.logical_and(ew.isnan(x), ew.isnan(y))
        if not concretize_bool(all_(ew.eq(ew.isnan(x), ew.isnan(y)))):
            return False
        same = ew.logical_or(same, both_nan)
    return concretize_bool(all_(same))


@implements(np.array_equiv)
def array_equiv(a1, a2):
    x, y = asarray(a1), asarray(a2)
    try:
        np.broadcast_shapes(F.shape(x), F.shape(y))
    except ValueError:
        return False
    return concretize_bool(all_(ew.eq(x, y)))
