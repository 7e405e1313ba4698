"""SciPy functions tracejit differentiates (registered against SciPy's own callables).

`special` is registered when tracejit is imported (its primitives need `scipy.special` anyway);
`linalg`, `signal` and `stats` cost about a second of imports between them, so they are
registered the first time the tracer meets a SciPy callable it does not know (`load`), or when
the user imports them.
"""
import importlib

_LAZY = ("linalg", "signal", "stats")
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
    owner = getattr(fn, "__self__", None)
    module = getattr(fn, "__module__", None) or getattr(type(owner), "__module__", None) or ""
    return module == "scipy" or module.startswith("scipy.")
