"""Methods of NumPy's ufuncs on traced values: `np.add.at`, `np.add.reduce`, `np.multiply.outer`...
and methods registered with `implements_method` (scipy.stats distributions).

A bound ufunc method is a fresh object at every attribute access, so it cannot be found by id like
the functions of `_registry`; `lookup` recognises it by its ufunc and name instead.
"""
import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops.core import Tracer
from ..ops.index import scatter_add
from . import _funcs as F
from . import _reductions as R
from ._indexing import (_broadcast_value, _expand, _is_array_index, _merged_gather_layout,
                        getitem, setitem)
from ._registry import IMPLEMENTATIONS, METHOD_IMPLEMENTATIONS, has_tracer


def _add_at(a, indices, b):
    """a[indices] += b with repeated indices accumulating, written into the traced array a."""
    from ._array import assign
    if not isinstance(a, Tracer):
        raise UnsupportedError("numpy.add.at on an array tracejit did not see being created",
                               hint="Create it inside the traced function (numpy.zeros...).")
    entries = _expand(indices, a.ndim)
    if not any(_is_array_index(e) for e in entries):
        assign(a, setitem(a, indices, ew.add(getitem(a, indices), b)))
        return None
    layout = _merged_gather_layout(a, entries)
    value = layout.indexed_first(_broadcast_value(a, b, layout.result_shape))
    assign(a, layout.unmerge(a, scatter_add(layout.flat, layout.linear, value, axis=0)))
    return None


_AT = {np.add: _add_at, np.subtract: lambda a, i, b: _add_at(a, i, ew.neg(F.asarray(b)))}
_REDUCE = {np.add: F.sum, np.multiply: R.prod, np.maximum: F.max, np.minimum: F.min,
           np.logical_and: R.all_, np.logical_or: R.any_}
_ACCUMULATE = {np.add: R.cumsum, np.multiply: R.cumprod}


def _outer(ufunc):
    impl = IMPLEMENTATIONS[id(ufunc)]

    def outer(a, b, **kwargs):
        a, b = F.asarray(a), F.asarray(b)
        return impl(F.reshape(a, F.shape(a) + (1,) * F.ndim(b)), b, **kwargs)
    return outer


def _reduce(fn):
    def reduce(a, axis=0, dtype=None, out=None, keepdims=False, **kwargs):
        return fn(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims) if fn in (F.sum, R.prod) \
            else fn(a, axis=axis, out=out, keepdims=keepdims)
    return reduce


def _accumulate(fn):
    return lambda a, axis=0, dtype=None, out=None: fn(a, axis=axis, dtype=dtype, out=out)


def lookup(fn):
    """tracejit's version of a bound ufunc method, or None."""
    ufunc = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", "")
    registered = METHOD_IMPLEMENTATIONS.get((id(ufunc), name)) if ufunc is not None else None
    if registered is not None:
        return registered
    if not isinstance(ufunc, np.ufunc):
        return None
    table = {"at": _AT, "reduce": _REDUCE, "accumulate": _ACCUMULATE}.get(name)
    impl = table.get(ufunc) if table is not None else None
    if impl is not None:
        impl = {"reduce": _reduce, "accumulate": _accumulate}.get(name, lambda f: f)(impl)
    elif name == "outer" and id(ufunc) in IMPLEMENTATIONS:
        impl = _outer(ufunc)
    if impl is None:
        return None

    def dispatch(*args, **kwargs):
        if not has_tracer(args) and not has_tracer(kwargs.values()):
            return fn(*args, **kwargs)
        return impl(*args, **kwargs)
    return dispatch
