"""SciPy functions tracejit differentiates (registered against SciPy's own callables)."""
from . import linalg, signal, special, stats  # noqa: F401
