"""tracejit: differentiate ordinary NumPy code by tracing its bytecode, and run it compiled."""
from . import numpy, scipy  # noqa: F401  (attaches array behaviour; registers SciPy functions)
from .api import grad, jit, jit_grad, make_trace, value_and_grad
from .errors import TracejitError, UnsupportedError

__all__ = ["jit_grad", "grad", "value_and_grad", "jit", "make_trace", "TracejitError",
           "UnsupportedError"]
