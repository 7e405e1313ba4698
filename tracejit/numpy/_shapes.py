"""NumPy's array-manipulation functions as compositions of shape and gather primitives.

Any rearrangement that is not a slice, transpose or reshape becomes one `take` with an index
array computed by NumPy on the shape alone (`repeat`, `diag`, `pad` with index modes,
`take_along_axis`), so each has the gather's gradient without a rule of its own.
"""
import builtins

import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops import shape as sh
from ..ops.core import Tracer, constant
from ..ops.index import take as take_p
from . import _funcs as F
from ._funcs import asarray, normalize_axes
from ._indexing import _mask_positions
from ._registry import implements


def _axis(axis, nd):
    return normalize_axes(axis, nd)[0]


def _tracer(like, x):
    return x if isinstance(x, Tracer) else constant(like, np.asarray(x))


def _gather(a, index, axis=0):
    """`a` gathered along `axis` with a static or traced integer index array."""
    return take_p(a, _tracer(a, index), axis=axis)


# primitives applied to plain arrays just run NumPy, so index arithmetic below serves static and
# traced indices alike
def _index_array(index):
    return index if isinstance(index, Tracer) else np.asarray(index)


def wrap_index(index, n):
    index = _index_array(index)
    return ew.select(ew.lt(index, 0), ew.add(index, n), index)


@implements(np.take)
def take(a, indices, axis=None, out=None, mode="raise"):
    F.refuse("take", out=out)
    a = asarray(a)
    if axis is None:
        a, axis = F.ravel(a), 0
    axis = _axis(axis, a.ndim)
    n, indices = a.shape[axis], _index_array(indices)
    if mode == "wrap":
        indices = ew.mod(indices, n)
    elif mode == "clip":
        indices = ew.minimum(ew.maximum(indices, 0), n - 1)
    return _gather(a, wrap_index(indices, a.shape[axis]), axis)


def _linear_index(shape, axis, indices):
    """Flat positions into an array of `shape` picking `indices` along `axis` (take_along_axis):
    the other axes' offsets are static, only the picked axis' term may be traced."""
    strides = np.cumprod((shape[1:] + (1,))[::-1])[::-1]
    base = np.zeros((1,) * len(shape), dtype=np.int64)
    for d, n in enumerate(shape):
        if d != axis:
            base = base + np.arange(n).reshape([n if e == d else 1 for e in range(len(shape))]) \
                * int(strides[d])
    return ew.add(ew.mul(wrap_index(indices, shape[axis]), int(strides[axis])), base)


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    arr = asarray(arr)
    if axis is None:
        arr, axis = F.ravel(arr), 0
    axis = _axis(axis, arr.ndim)
    return _gather(F.ravel(arr), _linear_index(tuple(arr.shape), axis, indices))


@implements(np.compress)
def compress(condition, a, axis=None, out=None):
    F.refuse("compress", out=out)
    a = asarray(a)
    if axis is None:
        a, axis = F.ravel(a), 0
    positions = _mask_positions(a, _tracer(a, condition) if not isinstance(condition, list)
                                else np.asarray(condition, bool))
    return _gather(a, positions, _axis(axis, a.ndim))


# ---- flips, rotations, axis moves ------------------------------------------------------------
@implements(np.flip)
def flip(m, axis=None):
    m = asarray(m)
    axes = normalize_axes(axis, m.ndim)
    spec = tuple((n - 1, n, -1) if d in axes else (0, n, 1) for d, n in enumerate(m.shape))
    return sh.static_slice(m, spec=spec) if axes and m.size else m


@implements(np.flipud)
def flipud(m):
    return flip(m, 0)


@implements(np.fliplr)
def fliplr(m):
    return flip(m, 1)


@implements(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    m = asarray(m)
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    perm = list(range(m.ndim))
    perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
    if k == 1:
        return F.transpose(flip(m, axes[1]), perm)
    return flip(F.transpose(m, perm), axes[1])


def swapaxes_perm(nd, axis1, axis2):
    perm = list(range(nd))
    i, j = _axis(axis1, nd), _axis(axis2, nd)
    perm[i], perm[j] = j, i
    return perm


def moveaxis_perm(nd, source, destination):
    src = [_axis(s, nd) for s in np.atleast_1d(source)]
    dst = [_axis(d, nd) for d in np.atleast_1d(destination)]
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return order


def rollaxis_perm(nd, axis, start=0):
    axis, start = _axis(axis, nd), start % (nd + 1) if start < 0 else start
    if axis < start:
        start -= 1
    return moveaxis_perm(nd, axis, start)


@implements(np.swapaxes)
def swapaxes(a, axis1, axis2):
    a = asarray(a)
    return F.transpose(a, swapaxes_perm(a.ndim, axis1, axis2))


@implements(np.moveaxis)
def moveaxis(a, source, destination):
    a = asarray(a)
    return F.transpose(a, moveaxis_perm(a.ndim, source, destination))


@implements(np.rollaxis)
def rollaxis(a, axis, start=0):
    a = asarray(a)
    return F.transpose(a, rollaxis_perm(a.ndim, axis, start))


@implements(np.permute_dims)
def permute_dims(a, axes=None):
    return F.transpose(a, axes)


@implements(np.atleast_3d)
def atleast_3d(a):
    a = asarray(a)
    if a.ndim == 0:
        return F.reshape(a, (1, 1, 1))
    if a.ndim == 1:
        return F.reshape(a, (1, a.shape[0], 1))
    return F.reshape(a, tuple(a.shape) + (1,)) if a.ndim == 2 else a


# ---- joining and splitting -------------------------------------------------------------------
@implements(np.column_stack)
def column_stack(tup):
    arrays = [asarray(a) for a in tup]
    return F.concatenate([F.reshape(a, (-1, 1)) if F.ndim(a) < 2 else a for a in arrays], axis=1)


@implements(np.dstack)
def dstack(tup):
    return F.concatenate([atleast_3d(a) for a in tup], axis=2)


def row_stack(tup, **kwargs):
    return F.vstack(tup, **kwargs)


if hasattr(np, "row_stack"):           # an alias of vstack, removed in NumPy 2.5 (Python 3.12+)
    implements(np.row_stack)(row_stack)


@implements(np.append)
def append(arr, values, axis=None):
    if axis is None:
        return F.concatenate([F.ravel(asarray(arr)), F.ravel(asarray(values))], axis=0)
    return F.concatenate([arr, values], axis=axis)


def _split_points(n, indices_or_sections, even):
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if even and n % sections:
            raise ValueError("array split does not result in an equal division")
        base, extra = divmod(n, sections)
        sizes = [base + 1] * extra + [base] * (sections - extra)
        return list(np.cumsum([0] + sizes))
    return [0] + [builtins.min(builtins.max(int(i) if i >= 0 else n + int(i), 0), n)
                  for i in indices_or_sections] + [n]


def _split(ary, indices_or_sections, axis, even):
    ary = asarray(ary)
    axis = _axis(axis, ary.ndim)
    points = _split_points(ary.shape[axis], indices_or_sections, even)
    out = []
    for start, stop in zip(points[:-1], points[1:]):
        stop = builtins.max(stop, start)
        spec = tuple((int(start), int(stop - start), 1) if d == axis else (0, n, 1)
                     for d, n in enumerate(ary.shape))
        out.append(sh.static_slice(ary, spec=spec))
    return out


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, even=True)


@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, even=False)


@implements(np.vsplit)
def vsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 0)


@implements(np.hsplit)
def hsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 1 if F.ndim(ary) > 1 else 0)


@implements(np.dsplit)
def dsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 2)


# ---- repetition ------------------------------------------------------------------------------
@implements(np.repeat)
def repeat(a, repeats, axis=None):
    a = asarray(a)
    if isinstance(repeats, Tracer):
        raise UnsupportedError("numpy.repeat with traced repeat counts (the result's shape "
                               "would depend on data)")
    if axis is None:
        a, axis = F.ravel(a), 0
    axis = _axis(axis, a.ndim)
    return _gather(a, np.repeat(np.arange(a.shape[axis]), repeats), axis)


@implements(np.tile)
def tile(A, reps):
    A = asarray(A)
    reps = tuple(np.atleast_1d(reps))
    nd = builtins.max(len(reps), A.ndim)
    A = F.reshape(A, (1,) * (nd - A.ndim) + tuple(A.shape))
    reps = (1,) * (nd - len(reps)) + reps
    pairs = tuple(x for r, n in zip(reps, A.shape) for x in (1, n))
    wide = tuple(x for r, n in zip(reps, A.shape) for x in (r, n))
    out = F.broadcast_to(F.reshape(A, pairs), wide)
    return F.reshape(out, tuple(r * n for r, n in zip(reps, A.shape)))


# ---- diagonals and triangles -----------------------------------------------------------------
@implements(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    a = asarray(a)
    a = moveaxis(a, (_axis(axis1, a.ndim), _axis(axis2, a.ndim)), (-2, -1))
    n, m = a.shape[-2:]
    rows = np.arange(builtins.max(0, -offset), builtins.min(n, m - offset))
    flat = F.reshape(a, tuple(a.shape[:-2]) + (n * m,))
    return _gather(flat, rows * m + rows + offset, axis=a.ndim - 2)


@implements(np.diag)
def diag(v, k=0):
    v = asarray(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n = v.shape[0] + builtins.abs(k)
    index = np.full((n, n), v.shape[0])            # points at an appended zero
    rows = np.arange(v.shape[0]) + builtins.max(0, -k)
    index[rows, rows + k] = np.arange(v.shape[0])
    padded = F.concatenate([v, np.zeros(1, v.dtype)], axis=0)
    return _gather(padded, index)


@implements(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    F.refuse("trace", out=out)
    return F.sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def _triangle(m, k, lower):
    m = asarray(m)
    n, cols = m.shape[-2:]
    mask = np.tri(n, cols, k, dtype=bool) if lower else ~np.tri(n, cols, k - 1, dtype=bool)
    return ew.select(mask, m, 0)


@implements(np.tril)
def tril(m, k=0):
    return _triangle(m, k, lower=True)


@implements(np.triu)
def triu(m, k=0):
    return _triangle(m, k, lower=False)


# ---- padding, grids, selection ---------------------------------------------------------------
@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    array = asarray(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (array.ndim, 2))
    for axis, (before, after) in enumerate(widths):
        if before == after == 0:
            continue
        if mode == "constant":
            array = _pad_constant(array, axis, before, after, kwargs.get("constant_values", 0))
        elif mode in ("edge", "reflect", "symmetric", "wrap"):
            index = np.pad(np.arange(array.shape[axis]), (before, after), mode=mode)
            array = _gather(array, index, axis)
        else:
            raise UnsupportedError(f"numpy.pad(mode={mode!r}) is not supported")
    return array


def _pad_constant(array, axis, before, after, value):
    if np.ndim(value) != 0:
        raise UnsupportedError("numpy.pad with per-axis constant_values")
    parts = []
    for width in (before, after):
        shape = tuple(int(width) if d == axis else n for d, n in enumerate(array.shape))
        parts.append(F.full_like(array, value, shape=shape))
    return F.concatenate([parts[0], array, parts[1]], axis=axis)


@implements(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    xi = [F.ravel(asarray(x)) for x in xi]
    nd = len(xi)
    shapes = [[1] * nd for _ in xi]
    for i, x in enumerate(xi):
        shapes[i][i] = x.shape[0]
    if indexing == "xy" and nd > 1:
        for s in shapes:
            s[0], s[1] = s[1], s[0]
    out = [F.reshape(x, tuple(s)) for x, s in zip(xi, shapes)]
    if sparse:
        return tuple(out)
    full = np.broadcast_shapes(*[tuple(s) for s in shapes])
    return tuple(F.broadcast_to(o, full) for o in out)


@implements(np.select)
def select(condlist, choicelist, default=0):
    out = asarray(default)
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        out = ew.select(asarray(cond), asarray(choice), out)
    return out


@implements(np.broadcast_arrays)
def broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*[F.shape(a) for a in args])
    return tuple(F.broadcast_to(asarray(a), shape) for a in args)


class IndexConcatenator:
    """`np.r_[...]` / `np.c_[...]` with traced entries: slices become ranges, arrays are joined."""

    def __init__(self, columns):
        self.columns = columns

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        if builtins.any(isinstance(k, str) for k in items):
            raise UnsupportedError("np.r_/np.c_ string directives inside a traced function")
        arrays = [np.r_[k] if isinstance(k, slice) else asarray(k) for k in items]
        if self.columns:
            arrays = [F.reshape(a, (-1, 1)) if F.ndim(a) <= 1 else a for a in arrays]
            return F.concatenate(arrays, axis=-1)
        return F.concatenate([F.atleast_1d(a) for a in arrays], axis=0)


r_ = IndexConcatenator(columns=False)
c_ = IndexConcatenator(columns=True)
SUBSCRIPTABLE = {id(np.r_): r_, id(np.c_): c_}


# ---- positions of nonzero entries: integer results whose count is guarded ---------------------
@implements(np.flatnonzero)
def flatnonzero(a):
    a = asarray(a)
    mask = ew.ne(F.ravel(a), 0)
    return _mask_positions(mask, mask)


@implements(np.nonzero)
def nonzero(a):
    a = asarray(a)
    if a.ndim == 0:
        raise ValueError("Calling nonzero on 0d arrays is not allowed. Use np.atleast_1d(x)")
    flat = flatnonzero(a)
    strides = np.cumprod((tuple(a.shape[1:]) + (1,))[::-1])[::-1]
    return tuple(ew.mod(ew.floor_divide(flat, int(s)), n) for s, n in zip(strides, a.shape))


@implements(np.argwhere)
def argwhere(a):
    a = asarray(a)
    if a.ndim == 0:
        return F.reshape(flatnonzero(a), (-1, 0))
    return F.stack(nonzero(a), axis=1)
