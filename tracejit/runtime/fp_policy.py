"""The caller's floating-point error policy, read on every call.

Compiled kernels never raise on a division by zero, an overflow or an invalid operation; plain
NumPy raises `FloatingPointError` under `np.seterr`/`np.errstate(...="raise")` (or calls the
`"call"` handler), and the warning it would print becomes an exception when warnings are errors
(`warnings.simplefilter("error")`, `pytest -W error`). A call made under such a policy is served
where the policy can be honoured (runtime/cache.py): on the numpy executor with the caller's
error state in force, where an error is a side exit, and by tracing with it in force, so that
the user's code meets the error where CPython would: a `try` catches it, or it propagates.

The check costs two identity tests while neither NumPy's error state (a context variable whose
value changes identity on every np.errstate/np.seterr) nor the warning filters (a list replaced
by `catch_warnings`, grown by `simplefilter`/`filterwarnings`) have changed.
"""
from __future__ import annotations

import warnings

import numpy as np

try:    # NumPy 2's error state; np.geterr() is the public way to read it, ten times slower
    from numpy._core._multiarray_umath import _extobj_contextvar
    _error_state = _extobj_contextvar.get
except ImportError:                              # pragma: no cover
    def _error_state():
        return tuple(sorted(np.geterr().items()))

_FP_ERRORS = ("divide", "over", "under", "invalid")
_seen = [None, None, -1, False]         # NumPy error state, filters list, its length, verdict


def caller_raises():
    """Whether a floating-point error in NumPy would raise for the caller now."""
    state, filters = _error_state(), warnings.filters
    seen = _seen
    if (state is seen[0] or state == seen[0]) and filters is seen[1] and len(filters) == seen[2]:
        return seen[3]
    verdict = _raises(np.geterr(), filters)
    _seen[:] = [state, filters, len(filters), verdict]
    return verdict


def _raises(errors, filters):
    modes = {errors[kind] for kind in _FP_ERRORS}
    if modes & {"raise", "call"}:
        return True
    # "warn" raises when a filter turns RuntimeWarning into an error (any filter that could
    # match: its message and module patterns are not worth reading for a verdict that only
    # costs speed when it is wrong this way)
    return "warn" in modes and any(action == "error" and issubclass(RuntimeWarning, category)
                                   for action, _, category, *_ in filters)
