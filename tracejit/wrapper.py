"""The objects tracejit hands back for a user's function (`jit`, `grad` and the other
transformations, `custom_vjp`, `custom_jvp`, `checkpoint`): named like the function, and
picklable as functions are, so that they ship to multiprocessing, concurrent.futures, joblib,
Dask or Ray.

A function decorated at module level (`@tracejit.jit_grad def loss(...)`) travels by reference,
as the function itself would: its module's global of that name is this object. Anything else (a
lambda, a closure, a function of `__main__` under cloudpickle) travels by value: the function and
the options, never compiled traces, locks or kernels. The receiving process traces again, and
loads each kernel from the disk cache instead of building it where it shares that cache.
"""
from __future__ import annotations

import functools
import sys
import types


class FunctionWrapper:
    def __init__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn, updated=(),
                                 assigned=("__module__", "__name__", "__qualname__", "__doc__"))

    def __get__(self, obj, kind=None):
        """A method: `obj.f(x)` is `f(obj, x)`, as for the plain function (`self` is then the
        first argument, which `argnums=0` names, as in JAX)."""
        return self if obj is None else types.MethodType(self, obj)

    def __reduce__(self):
        return _global_name(self) or (_rebuild, (type(self), self.__getstate__()))

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_global_name", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __dask_tokenize__(self):
        from dask.base import normalize_token        # called by Dask only
        return type(self).__qualname__, normalize_token(self.__getstate__())


def _global_name(obj):
    """The qualified name under which `obj`'s module holds `obj`, or None: a function decorated
    at module level has its function's name; `loss_grad = jit_grad(loss)` another, found once
    among the module's globals. `__main__` is not one: a worker's `__main__` is another module."""
    module_name = getattr(obj, "__module__", None)
    module = sys.modules.get(module_name) if module_name != "__main__" else None
    if module is None:
        return None
    for name in (obj.__dict__.get("_global_name"), getattr(obj, "__qualname__", None)):
        if isinstance(name, str) and _lookup(module, name) is obj:
            return name
    name = next((k for k, v in vars(module).items() if v is obj), None)
    if name is not None:
        obj.__dict__["_global_name"] = name
    return name


def _lookup(module, qualname):
    found = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def _rebuild(kind, state):
    obj = kind.__new__(kind)
    obj.__setstate__(state)
    return obj
