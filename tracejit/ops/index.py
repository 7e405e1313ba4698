"""Gather and scatter-add along one axis with an integer index array of any shape.

All advanced indexing in `tracejit.numpy` lowers to these two: `x[idx]`, `x[:, idx]`, boolean
masks (via their integer positions) and multi-array indices (via a linearised index).
"""
import numpy as np

from ..ir import Aval
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
