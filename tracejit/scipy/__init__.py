"""SciPy functions tracejit differentiates (registered against SciPy's own callables)."""
from . import special, stats  # noqa: F401
