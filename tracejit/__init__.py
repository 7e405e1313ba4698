"""tracejit: differentiate ordinary NumPy code by tracing its bytecode, and run it compiled."""
from . import numpy  # noqa: F401  (attaches array behaviour)
from .api import (elementwise_grad, grad, hessian, hvp, jacfwd, jacobian, jacrev, jit, jit_grad,
                  jvp, linearize, make_trace, value_and_grad, vjp)
from .custom import checkpoint, custom_jvp, custom_vjp, remat
from .backends.numba_backend import wait_for_builds as wait
from .errors import TracejitError, TracejitTypeError, TracejitValueError, UnsupportedError
from . import tree_util  # noqa: F401  (tracejit.tree_util: pytree registration, tree_map)

__all__ = ["jit_grad", "grad", "value_and_grad", "elementwise_grad", "jit", "jvp", "linearize",
           "vjp", "jacfwd", "jacrev", "jacobian", "hessian", "hvp", "custom_vjp", "custom_jvp", "checkpoint", "remat",
           "make_trace", "wait", "TracejitError", "TracejitTypeError", "TracejitValueError",
           "UnsupportedError"]

def __getattr__(name):
    # `tracejit.compare` (function and module at once) loads on first use: importing it here
    # would make `python -m tracejit.compare` warn that the module ran after being imported.
    if name == "compare":
        import importlib
        return importlib.import_module(".compare", __name__)
    raise AttributeError(f"module 'tracejit' has no attribute {name!r}")
