"""Where Python's floats raise and NumPy's give inf or nan.

`math.sqrt(-1.0)` raises ValueError, `math.exp(1000.0)` and `10.0 ** 400` raise OverflowError,
`0.0 ** -1` raises ZeroDivisionError; NumPy returns nan or inf for all of them. A traced value
used as a Python float (`float(x[0])`, a `math` function) follows Python: whether the error
happens is decided on the concrete values and guarded, so a call on the other side of the
guard re-traces, and then raises (or not) exactly where plain Python does. A user's
`except ValueError:` therefore sees the same errors compiled as plain.
"""
import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops.core import Tracer

_DOMAIN = "math domain error"


def _isinf(x):
    return ew.logical_not(ew.logical_or(ew.isfinite(x), ew.isnan(x)))


def _all(preds):
    out = preds[0]
    for p in preds[1:]:
        out = ew.logical_and(out, p)
    return out


def _any(preds):
    out = preds[0]
    for p in preds[1:]:
        out = ew.logical_or(out, p)
    return out


def check_math(name, result, args, overflows):
    """`result` of `math.<name>(*args)` computed by NumPy: CPython's math module raises
    ValueError for a nan from non-nan arguments, and for an inf from finite ones raises
    OverflowError (functions that can overflow: `overflows`) or ValueError (log(0))."""
    if not isinstance(result, Tracer):
        return result
    nan_from_numbers = ew.logical_and(ew.isnan(result),
                                      ew.logical_not(_any([ew.isnan(a) for a in args])))
    inf_from_finite = ew.logical_and(_isinf(result), _all([ew.isfinite(a) for a in args]))
    if not bool(ew.logical_or(nan_from_numbers, inf_from_finite)):   # a guard
        return result
    if bool(np.isnan(result.val)) or not overflows:
        raise ValueError(_DOMAIN)
    raise OverflowError("math range error")


def check_power(a, b, result):
    """`a ** b` for two Python numbers with a float result, computed by NumPy."""
    if not isinstance(result, Tracer) or result.dtype.kind != "f":
        return result
    zero_to_negative = ew.logical_and(ew.eq(a, 0), ew.lt(b, 0))
    overflow = ew.logical_and(_isinf(result), ew.logical_and(ew.isfinite(a), ew.isfinite(b)))
    complex_result = ew.logical_and(ew.logical_and(ew.lt(a, 0), ew.isfinite(b)),
                                    ew.ne(b, ew.floor(b)))
    if not bool(_any([zero_to_negative, overflow, complex_result])):   # a guard
        return result
    a_val, b_val = (float(np.asarray(v.val if isinstance(v, Tracer) else v)) for v in (a, b))
    if a_val == 0 and b_val < 0:
        raise ZeroDivisionError("0.0 cannot be raised to a negative power")
    if a_val < 0 and b_val != np.floor(b_val):
        raise UnsupportedError("a negative Python float raised to a fractional power gives a "
                               "complex number in Python, which tracejit does not trace",
                               result.builder.loc)
    raise OverflowError(34, "Numerical result out of range")
