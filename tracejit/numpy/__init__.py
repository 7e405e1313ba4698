"""`import tracejit.numpy as np`: NumPy, with every function tracejit knows made traceable.

Outside a trace every function here returns exactly what NumPy returns (it calls NumPy). Names
tracejit does not define are forwarded to NumPy itself.
"""
import numpy as _np

from . import _array, _elementwise, _products, _reductions, _shapes, fft, linalg  # noqa: F401  (attaches ndarray methods to traced values)
from ._funcs import *  # noqa: F401,F403
from ._funcs import asarray, array  # noqa: F401
from ._registry import DEFINED, IMPLEMENTATIONS

globals().update(DEFINED)


def __getattr__(name):
    return getattr(_np, name)
