"""Python's own numbers and the `math` module on traced values: tracejit's versions of `float`,
`int`, `bool`, `math.*` and NumPy's scalar types, which record primitives instead of reading the
value (`LOOKASIDE`, consulted by `calls.call` when a traced value is among the arguments).

CPython's rules are kept where NumPy's differ: `math` raises ValueError where libm's answer is
nan from non-nan arguments or infinite at a pole, OverflowError where it overflows, and
`math.log(x, 1)` ZeroDivisionError; `math.remainder` is IEEE's remainder.
"""
from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from ..errors import UnsupportedError
from ..numpy import _elementwise as E
from ..numpy import _funcs as F
from ..numpy._registry import IMPLEMENTATIONS
from ..ops import elementwise
from ..ops import shape as sh
from ..ops import special
from ..ops.core import Tracer, as_numpy_scalar, concretize_bool, concretize_int


def _as_python_float(x):
    """A traced value used as a Python float: a weak float64 scalar, still differentiable."""
    if x.size != 1:
        raise TypeError("only length-1 arrays can be converted to Python scalars")
    return sh.convert(F.reshape(x, ()), dtype=np.dtype(np.float64), weak=True)


def _float(x=0.0):
    return _as_python_float(x) if isinstance(x, Tracer) else float(x)


def _int(x=0, *args):
    return concretize_int(x) if isinstance(x, Tracer) and not args else int(x, *args)


def _bool(x=False):
    return concretize_bool(x) if isinstance(x, Tracer) else bool(x)


def _np_impl(np_name):
    return IMPLEMENTATIONS[id(getattr(np, np_name))]


def _libm_error(result, args, infinity_error):
    """The error CPython's math module raises where libm's answer is nan from arguments that
    are not nan (a domain error: ValueError) or infinite from finite ones (`infinity_error`:
    OverflowError, or ValueError at a pole such as log(0)); NumPy returns the nan or inf. Each
    test is guarded, so a call where the answer would differ re-traces and raises."""
    nan_made = F.logical_and(F.isnan(result),
                             F.logical_not(functools.reduce(F.logical_or, map(F.isnan, args))))
    infinity_made = F.logical_and(E.isinf(result),
                                  functools.reduce(F.logical_and, map(F.isfinite, args)))
    if not bool(F.logical_or(nan_made, infinity_made)):
        return None
    if bool(nan_made):
        return ValueError("math domain error")
    error = infinity_error(*args)
    return error("math range error" if error is OverflowError else "math domain error")


def _pole(*args):
    return ValueError


def _overflow(*args):
    return OverflowError


def _pole_at(at):
    """ValueError where `at(*args)` holds (a pole of the function), else OverflowError."""
    return lambda *args: ValueError if bool(at(*args)) else OverflowError


_MATH = {   # math name: (NumPy name or function, what an infinity from finite arguments raises)
    "sin": ("sin", _pole), "cos": ("cos", _pole), "tan": ("tan", _pole),
    "exp": ("exp", _overflow), "expm1": ("expm1", _overflow), "exp2": ("exp2", _overflow),
    "sinh": ("sinh", _overflow), "cosh": ("cosh", _overflow),
    "log1p": ("log1p", _pole), "log2": ("log2", _pole), "log10": ("log10", _pole),
    "sqrt": ("sqrt", _pole), "asin": ("arcsin", _pole), "acos": ("arccos", _pole),
    "acosh": ("arccosh", _pole), "atanh": ("arctanh", _pole),
    "fmod": ("fmod", _pole), "remainder": (lambda x, y: _ieee_remainder(x, y), _pole),
    "pow": ("power", _pole_at(lambda x, y: F.equal(x, 0))),
    "tanh": ("tanh", None), "atan": ("arctan", None), "atan2": ("arctan2", None),
    "asinh": ("arcsinh", None), "fabs": ("absolute", None), "hypot": ("hypot", None),
    "degrees": ("degrees", None), "radians": ("radians", None), "cbrt": ("cbrt", None),
    "copysign": ("copysign", None),
}


def _ieee_remainder(x, y):
    """math.remainder: x - n*y for the integer n nearest x/y (ties to even), exact, computed
    through fmod as CPython does (NumPy's `remainder` is Python's `%`, another function)."""
    ax, ay = F.absolute(x), F.absolute(y)
    m = E.fmod(ax, ay)
    c = F.subtract(ay, m)
    tie = F.subtract(m, F.multiply(2.0, E.fmod(F.multiply(0.5, F.subtract(ax, m)), ay)))
    r = F.where(F.less(m, c), m, F.where(F.greater(m, c), F.negative(c), tie))
    return F.where(E.signbit(x), F.negative(r), r)


def _numpy_function(name):
    return lambda *args: _np_impl(name)(*args)


_ARITY = {"hypot": 2, "log": 1}   # hypot takes any number (two are traced); log's base: _math_log


def _arity(name):
    """How many arguments math.`name` takes."""
    return _ARITY.get(name) or len(inspect.signature(getattr(math, name)).parameters)


def _math(name, compute, infinity_error):
    """A math-module function of traced values: `compute` as a Python float, raising what
    CPython's math module raises (`_libm_error`)."""
    arity = _arity(name)

    def fn(*args):
        if len(args) != arity:
            if name == "hypot":
                raise UnsupportedError(f"math.hypot of {len(args)} traced coordinates (CPython "
                                       "rounds its n-dimensional norm its own way)")
            raise TypeError(f"math.{name}() takes exactly {arity} argument"
                            f"{'s' if arity > 1 else ''} ({len(args)} given)")
        args = [_as_python_float(a) if isinstance(a, Tracer) else float(a) for a in args]
        result = _as_python_float(compute(*args))
        error = None if infinity_error is None else _libm_error(result, args, infinity_error)
        if error is not None:
            raise error
        return result
    return fn


def _computed(name, compute):
    """How math.`name` is computed: by the C library (elementwise.LIBM), as CPython does, where
    NumPy's function may round otherwise; else by NumPy's, or `compute` itself."""
    if name in elementwise.LIBM:
        return elementwise.LIBM[name]
    return _numpy_function(compute) if isinstance(compute, str) else compute


LOOKASIDE = {id(float): _float, id(int): _int, id(bool): _bool}
LOOKASIDE.update({id(getattr(math, name)): _math(name, _computed(name, compute), error)
                  for name, (compute, error) in _MATH.items() if hasattr(math, name)})
LOOKASIDE.update({id(math.erf): _math("erf", special.LIBM["erf"], None),
                  id(math.erfc): _math("erfc", special.LIBM["erfc"], None),
                  id(math.lgamma): _math("lgamma", special.gammaln,
                                         _pole_at(lambda x: F.less_equal(x, 0)))})


def _math_to_int(np_name):
    """math.floor/ceil/trunc give Python ints: the value steers the program, so it is guarded."""
    def fn(x):
        return concretize_int(_np_impl(np_name)(x)) if isinstance(x, Tracer) else \
            getattr(math, np_name)(x)
    return fn


def _math_test(np_name):
    def fn(x):
        return concretize_bool(_np_impl(np_name)(x)) if isinstance(x, Tracer) else \
            getattr(math, np_name)(x)
    return fn


LOOKASIDE.update({id(getattr(math, n)): _math_to_int(n) for n in ("floor", "ceil", "trunc")})
LOOKASIDE.update({id(getattr(math, n)): _math_test(n) for n in ("isfinite", "isnan", "isinf")})


def _numpy_scalar_type(scalar_type):
    """`np.float64(x)` and the other NumPy scalar types of a traced value: a NumPy scalar of
    that type (an array of it for an array), still traced."""
    dtype = np.dtype(scalar_type)

    def make(x=0, *args):
        if not isinstance(x, Tracer) or args:
            return scalar_type(x, *args)
        out = x if x.dtype == dtype and not x.aval.weak else sh.convert(x, dtype=dtype)
        return as_numpy_scalar(out) if out.ndim == 0 else out
    return make


LOOKASIDE.update({id(t): _numpy_scalar_type(t) for t in (
    np.float64, np.float32, np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16,
    np.uint32, np.uint64, np.bool_)})


_checked_log = _math("log", _computed("log", "log"), _pole)


def _math_log(x, base=None):
    """math.log(x[, base]): CPython divides log(x) by log(base), so base 1 raises
    ZeroDivisionError."""
    out = _checked_log(x)
    if base is None:
        return out
    divisor = _checked_log(base)
    if bool(F.equal(divisor, 0)):
        raise ZeroDivisionError("float division by zero")
    return F.divide(out, divisor)


LOOKASIDE[id(math.log)] = _math_log
