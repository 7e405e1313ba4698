"""Backends turn a trace into something that runs: NumPy (reference) and numba (fast)."""


def __getattr__(name):
    # imported on first use: the ops import `numba_lower` from this package while they load,
    # before `numpy_exec` (which needs the ops) could be imported
    if name in ("NumpyBackend", "run_trace"):
        from . import numpy_exec
        return getattr(numpy_exec, name)
    if name == "NumbaBackend":
        from .numba_backend import NumbaBackend
        return NumbaBackend
    raise AttributeError(name)
