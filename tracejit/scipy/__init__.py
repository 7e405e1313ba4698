"""SciPy functions tracejit differentiates (registered against SciPy's own callables)."""
from . import special  # noqa: F401
