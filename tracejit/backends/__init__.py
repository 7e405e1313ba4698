"""Backends turn a trace into something that runs: NumPy (reference) and numba (fast)."""
from .numpy_exec import NumpyBackend, run_trace
