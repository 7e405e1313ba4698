"""tracejit: differentiate ordinary NumPy code by tracing its bytecode, and run it compiled."""
from . import numpy  # noqa: F401  (attaches array behaviour to traced values)
from .api import grad, jit, jit_grad, make_trace, value_and_grad
from .errors import TracejitError, UnsupportedError

__all__ = ["jit_grad", "grad", "value_and_grad", "jit", "make_trace", "TracejitError",
           "UnsupportedError"]


def __getattr__(name):
    # `tracejit.compare` (function and module at once) loads on first use: importing it here
    # would make `python -m tracejit.compare` warn that the module ran after being imported.
    if name == "compare":
        import importlib
        return importlib.import_module(".compare", __name__)
    raise AttributeError(f"module 'tracejit' has no attribute {name!r}")
