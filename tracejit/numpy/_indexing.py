"""`x[index]` and `x[index] = value` on traced arrays, in terms of slice/take/scatter primitives.

Basic indexing (ints, slices, None, Ellipsis) becomes one strided `slice` plus a `reshape`.
Advanced indexing (integer arrays, boolean masks, ints mixed with them) moves the indexed axes to
the front, merges them into one axis, and gathers with one linearised integer index: one general
mechanism for `x[idx]`, `x[:, idx]`, `x[i, j]` with arrays, and `x[mask]`. NumPy's rule for where
the indexed dimensions land (in place when the advanced indices are adjacent, else first) is
applied at the end.
"""
import math
from typing import NamedTuple

import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops import shape as sh
from ..ops.core import Tracer, as_numpy_scalar, concretize_int, constant
from ..ops.index import nonzero_flat, scatter, take, wrap_index
from ..ops.reduce import reduce_sum


def _is_array_index(e):
    return isinstance(e, (list, np.ndarray, Tracer)) and not (
        isinstance(e, Tracer) and e.ndim == 0 and e.dtype.kind in "iu" and e.is_constant)


def _expand(index, nd):
    """The index as a list of entries with Ellipsis expanded to full slices."""
    index = index if isinstance(index, tuple) else (index,)
    index = [np.asarray(e) if isinstance(e, list) else e for e in index]
    consumed = sum(e.ndim if _is_array_index(e) and e.dtype == np.bool_ else 1
                   for e in index if e is not None and e is not Ellipsis)
    if sum(e is Ellipsis for e in index) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > nd:
        raise IndexError(f"too many indices for array: array is {nd}-dimensional, "
                         f"but {consumed} were indexed")
    out = []
    for e in index:
        if e is Ellipsis:
            out += [slice(None)] * (nd - consumed)
        else:
            out.append(e)
    if not any(e is Ellipsis for e in index):
        out += [slice(None)] * (nd - consumed)
    return out


def _static_int(e):
    return isinstance(e, (int, np.integer)) and not isinstance(e, bool) or (
        isinstance(e, Tracer) and e.ndim == 0 and e.dtype.kind in "iu" and e.is_constant)


def _slice_spec(entries, shape, keep_ints):
    """The strided-slice spec for the slice/int entries; array entries keep their axis whole."""
    spec, axis = [], 0
    for e in entries:
        if e is None:
            continue
        n = shape[axis]
        if isinstance(e, slice):
            start, stop, step = (concretize_index(b) if isinstance(b, Tracer) else b
                                 for b in (e.start, e.stop, e.step))
            start, stop, step = slice(start, stop, step).indices(n)
            spec.append((start, len(range(start, stop, step)), step))
        elif _static_int(e) and not keep_ints:
            i = int(e)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
            spec.append((i % n, 1, 1))
        else:
            spec.append((0, n, 1))
        axis += e.ndim if _is_array_index(e) and e.dtype == np.bool_ else 1
    spec += [(0, n, 1) for n in shape[axis:]]
    return tuple(spec)


def _apply_slice(x, spec):
    if all(s == (0, n, 1) for s, n in zip(spec, x.shape)):
        return x
    return sh.static_slice(x, spec=spec)


def getitem(x, index):
    result = _getitem(x, index)
    if result.ndim == 0 and not _has_ellipsis(index):
        return as_numpy_scalar(result)        # x[0] is an np.float64, x[0, ...] a 0-d array
    return result


def _has_ellipsis(index):
    return index is Ellipsis or (isinstance(index, tuple) and any(e is Ellipsis for e in index))


def _getitem(x, index):
    entries = _expand(index, x.ndim)
    if any(_is_array_index(e) for e in entries):
        return _advanced_getitem(x, entries)
    spec = _slice_spec(entries, x.shape, keep_ints=False)
    result = _apply_slice(x, spec)
    out_shape, axis = [], 0
    for e in entries:
        if e is None:
            out_shape.append(1)
            continue
        if isinstance(e, slice):
            out_shape.append(spec[axis][1])
        axis += 1
    out_shape += [size for _, size, _ in spec[axis:]]
    return result if tuple(result.shape) == tuple(out_shape) else sh.reshape(result, shape=tuple(out_shape))


def _index_tracer(like, e):
    """An integer index entry as a tracer (constants stay literals)."""
    return e if isinstance(e, Tracer) else constant(like, np.asarray(e))


def _advanced_entries(x, entries):
    """[(first axis, number of axes, flat index)] for every advanced entry, after slicing."""
    adv, axis = [], 0
    for e in entries:
        if e is None:
            raise UnsupportedError("indexing that mixes None (newaxis) with integer-array or "
                                   "boolean indices", hint="Index in two steps.")
        if _is_array_index(e) and e.dtype == np.bool_:
            adv.append((axis, e.ndim, _mask_positions(x, e)))
            axis += e.ndim
            continue
        if _is_array_index(e) or _static_int(e):
            if getattr(e, "dtype", np.dtype(int)).kind not in "iu":
                raise IndexError("arrays used as indices must be of integer (or boolean) type")
            adv.append((axis, 1, wrap_index(_index_tracer(x, e), size=x.shape[axis], axis=axis)))
        axis += 1
    return adv


def _mask_positions(x, mask):
    """Flat positions of the true entries of `mask`; a traced mask guards its count."""
    mask = _index_tracer(x, mask)
    if mask.is_constant:
        return constant(x, np.flatnonzero(mask.val))
    count = concretize_int(reduce_sum(sh.convert(mask, dtype=np.dtype(np.int64)),
                                      axes=tuple(range(mask.ndim)), keepdims=False))
    return nonzero_flat(mask, size=count)


class Layout(NamedTuple):
    """An advanced index applied in steps: slice the array (`spec`), move the advanced axes first
    (`perm`, giving `moved_shape`), merge them into one axis (`flat`), index that with `linear`.
    `position` is the axis where NumPy puts the indexed dimensions in the result."""
    spec: tuple
    perm: tuple
    moved_shape: tuple
    flat: Tracer
    linear: Tracer
    position: int

    @property
    def result_shape(self):
        """The shape of NumPy's `x[index]`."""
        rest = tuple(self.flat.shape[1:])
        return rest[:self.position] + tuple(self.linear.shape) + rest[self.position:]

    def indexed_first(self, value):
        """`value`, shaped as NumPy's `x[index]`, with the indexed dimensions moved first (as
        `take` of `flat` gives them)."""
        k, position = self.linear.ndim, self.position
        if not position:
            return value
        perm = tuple(range(position, position + k)) + tuple(range(position)) + \
            tuple(range(position + k, value.ndim))
        return sh.transpose(value, perm=perm)

    def indexed_in_place(self, value):
        """The inverse of `indexed_first`."""
        k, position = self.linear.ndim, self.position
        if not position:
            return value
        perm = tuple(range(k, k + position)) + tuple(range(k)) + tuple(range(k + position, value.ndim))
        return sh.transpose(value, perm=perm)

    def unmerge(self, x, flat):
        """`x` after `flat` (a new value of the merged array) was written back through the
        steps: un-merge, move the axes back, and write the slice into x."""
        out = sh.reshape(flat, shape=self.moved_shape)
        if self.perm != tuple(range(len(self.perm))):
            out = sh.transpose(out, perm=tuple(int(i) for i in np.argsort(self.perm)))
        if all(s == (0, n, 1) for s, n in zip(self.spec, x.shape)):
            return out
        return sh.slice_update(x, out, spec=self.spec)


def _merged_gather_layout(x, entries):
    """The `Layout` of the advanced index `entries` into x."""
    spec = _slice_spec(entries, x.shape, keep_ints=True)
    x = _apply_slice(x, spec)
    adv = _advanced_entries(x, entries)
    sliced_shape = x.shape
    adv_axes = [a for first, k, _ in adv for a in range(first, first + k)]
    perm = tuple(adv_axes + [a for a in range(x.ndim) if a not in adv_axes])
    if perm != tuple(range(x.ndim)):
        x = sh.transpose(x, perm=perm)
    moved_shape = tuple(x.shape)
    merged = math.prod(x.shape[:len(adv_axes)])
    x = sh.reshape(x, shape=(merged,) + tuple(x.shape[len(adv_axes):]))
    linear = None
    for first, k, idx in adv:
        size = math.prod(sliced_shape[first:first + k])
        linear = idx if linear is None else ew.add(ew.mul(linear, size), idx)
    spans = [(first, first + k) for first, k, _ in adv]
    adjacent = all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    return Layout(spec, perm, moved_shape, x, linear, spans[0][0] if adjacent else 0)


def _advanced_getitem(x, entries):
    layout = _merged_gather_layout(x, entries)
    return layout.indexed_in_place(take(layout.flat, layout.linear, axis=0))


def _broadcast_value(x, value, shape):
    """`value` cast to x's dtype (assignment casts, as NumPy does) and broadcast to `shape`."""
    value = value if isinstance(value, Tracer) else constant(x, np.asarray(value, dtype=x.dtype))
    if value.dtype != x.dtype:
        value = sh.convert(value, dtype=x.dtype)
    if tuple(value.shape) != tuple(shape):
        value = sh.broadcast_to(value, shape=np.broadcast_shapes(value.shape, shape)) \
            if value.ndim <= len(shape) else sh.reshape(value, shape=tuple(shape))
    return value


def setitem(x, index, value):
    """`x[index] = value` as a new value of x; the caller rebinds x (and its base) to it."""
    entries = _expand(index, x.ndim)
    if any(_is_array_index(e) for e in entries):
        return _advanced_setitem(x, entries, value)
    if any(e is None for e in entries):
        entries = [e for e in entries if e is not None]
    spec = _slice_spec(entries, x.shape, keep_ints=False)
    selected_shape = [size for (_, size, _), e in zip(spec, entries + [slice(None)] * x.ndim)
                      if not _static_int(e)]
    region = _broadcast_value(x, value, selected_shape)
    region = sh.reshape(region, shape=tuple(size for _, size, _ in spec))
    if all(s == (0, n, 1) for s, n in zip(spec, x.shape)):
        return sh.broadcast_to(region, shape=x.shape) if region.shape != x.shape else region
    return sh.slice_update(x, region, spec=spec)


def _advanced_setitem(x, entries, value):
    masks = [e for e in entries if _is_array_index(e) and e.dtype == np.bool_]
    if len(masks) == 1 and len(entries) == 1 and masks[0].shape == tuple(x.shape):
        mask = _index_tracer(x, masks[0])
        value = value if isinstance(value, Tracer) else constant(x, np.asarray(value, x.dtype))
        if value.size == 1:                       # x[mask] = scalar: a select, no scatter
            return ew.select(mask, sh.convert(value, dtype=x.dtype) if value.dtype != x.dtype
                             else value, x)
    layout = _merged_gather_layout(x, entries)
    value = layout.indexed_first(_broadcast_value(x, value, layout.result_shape))
    return layout.unmerge(x, scatter(layout.flat, layout.linear, value, axis=0))
