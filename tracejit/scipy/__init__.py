"""SciPy functions tracejit differentiates (registered against SciPy's own callables).

`special`, `linalg`, `signal` and `stats` cost more than a second of imports between them
(`import tracejit` would take three times as long), so they are registered the first time the
tracer meets a SciPy callable it does not know (`load`), or when the user imports them.
"""
import importlib
import sys

import numpy as np

_LAZY = ("special", "linalg", "signal", "stats")
_loaded = False


def load():
    """Register every SciPy shim; True if this call did anything."""
    global _loaded
    if _loaded:
        return False
    for name in _LAZY:
        importlib.import_module(f"{__name__}.{name}")
    _loaded = True
    return True


def is_scipy_callable(fn):
    """Whether `fn` comes from SciPy: a function, or a method of a SciPy object (a
    distribution's `pdf`, say)."""
    if isinstance(fn, np.ufunc):          # scipy.special's ufuncs name no module
        special = sys.modules.get("scipy.special")
        return special is not None and getattr(special, fn.__name__, None) is fn
    owner = getattr(fn, "__self__", None)
    module = getattr(fn, "__module__", None) or getattr(type(owner), "__module__", None) or ""
    return module == "scipy" or module.startswith("scipy.")
