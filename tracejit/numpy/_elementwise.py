"""NumPy's elementwise functions beyond the one-primitive ones of `_funcs.py`, as compositions.

Each keeps NumPy's value exactly where a primitive exists (remainders, rounding, complex parts)
and otherwise composes primitives in the numerically usual way (sinc with its removable
singularity filled in by its Taylor series, so that its derivatives there are right too).
"""
import math

import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops.core import Tracer
from . import _funcs as F
from ._funcs import asarray, refuse
from ._registry import implements


def _unary(*np_fns):
    """Register `fn(x)` for `np_fns`, refusing out=/where= as NumPy's ufuncs accept them."""
    def register(fn):
        def wrapper(x, out=None, where=None, **kwargs):
            refuse(np_fns[0].__name__, out=out, where=where)
            return fn(asarray(x), **kwargs)
        wrapper.__name__ = np_fns[0].__name__
        return implements(*np_fns)(wrapper)
    return register


def _binary(*np_fns):
    def register(fn):
        def wrapper(x, y, out=None, where=None, **kwargs):
            refuse(np_fns[0].__name__, out=out, where=where)
            return fn(asarray(x), asarray(y), **kwargs)
        wrapper.__name__ = np_fns[0].__name__
        return implements(*np_fns)(wrapper)
    return register


_SCALED = {   # name: (numpy function, composition)
    "reciprocal": (np.reciprocal, lambda x: _reciprocal(x)),
    "fabs": (np.fabs, lambda x: ew.abs(F.astype(x, np.float64) if x.dtype.kind in "biu" else x)),
    "rad2deg": (np.rad2deg, lambda x: ew.mul(x, 180.0 / math.pi)),
    "degrees": (np.degrees, lambda x: ew.mul(x, 180.0 / math.pi)),
    "deg2rad": (np.deg2rad, lambda x: ew.mul(x, math.pi / 180.0)),
    "radians": (np.radians, lambda x: ew.mul(x, math.pi / 180.0)),
    "trunc": (np.trunc, ew.trunc), "fix": (np.fix, ew.trunc), "rint": (np.rint, ew.rint),
    "positive": (np.positive, lambda x: x),
    "conjugate": (np.conjugate, lambda x: ew.conj(x) if x.dtype.kind == "c" else x),
    "isinf": (np.isinf, lambda x: ew.logical_not(ew.logical_or(ew.isfinite(x), ew.isnan(x)))),
    "signbit": (np.signbit, lambda x: _sign_bit(x)),
    "isposinf": (np.isposinf, lambda x: ew.eq(x, np.inf)),
    "isneginf": (np.isneginf, lambda x: ew.eq(x, -np.inf)),
}
def _reciprocal(x):
    """1 / x; for integers, C's truncating division as NumPy does it (x for +-1, else 0)."""
    if x.dtype.kind in "iu":
        return ew.select(ew.eq(ew.abs(x), 1), x, 0)
    return ew.div(1, x)


for _name, (_np_fn, _compose) in _SCALED.items():
    globals()[_name] = _unary(_np_fn)(_compose)


@_unary(np.sinc)
def sinc(x):
    """sin(pi x) / (pi x), and at x == 0 its Maclaurin series 1 - (pi x)**2/6 + (pi x)**4/120:
    1 there, with the first four derivatives exact (a constant 1 would give 0 for the second,
    -pi**2/3). The quotient is taken at x = 1 instead of 0 so that no NaN reaches its gradient."""
    zero = ew.eq(x, 0)
    px = ew.mul(ew.select(zero, 1.0, x), math.pi)
    square = ew.mul(ew.mul(x, x), math.pi ** 2)
    series = ew.add(ew.sub(1.0, ew.div(square, 6.0)), ew.div(ew.mul(square, square), 120.0))
    return ew.select(zero, series, ew.div(ew.sin(px), px))


_BINARY = {
    "floor_divide": (np.floor_divide, ew.floor_divide), "remainder": (np.remainder, ew.mod),
    "fmod": (np.fmod, ew.fmod),
    "float_power": (np.float_power, lambda x, y: ew.pow(_as_float64(x), _as_float64(y))),
    "fmax": (np.fmax, lambda x, y: _nan_ignoring(ew.maximum, x, y)),
    "fmin": (np.fmin, lambda x, y: _nan_ignoring(ew.minimum, x, y)),
    "logaddexp": (np.logaddexp, ew.logaddexp), "logaddexp2": (np.logaddexp2, ew.logaddexp2),
    "copysign": (np.copysign, lambda x, y: _copysign(x, y)),
}


def _copysign(x, y):
    """|x| with y's sign bit."""
    magnitude = ew.abs(_as_float64(x) if _is_integer(x) else x)
    return ew.select(_sign_bit(y), ew.neg(magnitude), magnitude)


def _sign_bit(x):
    """Negative, or -0.0 (whose reciprocal is -inf). -inf's reciprocal is -0.0, not below zero,
    so the first test is needed. A NaN's sign bit (set by `-inf * 0.0` on most machines) no
    comparison can read: refused, with a guard so that a later call with a NaN re-traces."""
    if isinstance(x, Tracer) and x.dtype.kind == "f" and bool(F.max(F.astype(ew.isnan(x), np.int8))):
        raise UnsupportedError("the sign bit of a NaN (np.signbit, np.copysign, math.copysign)")
    return ew.logical_or(ew.lt(x, 0), ew.lt(ew.div(1, x), 0))


def _is_integer(x):
    return isinstance(x, (int, bool)) or getattr(x, "dtype", np.dtype(float)).kind in "biu"


def _as_float64(x):
    return float(x) if isinstance(x, (int, float)) else F.astype(x, np.float64)


def _nan_ignoring(extreme, x, y):
    return ew.select(ew.isnan(y), x, ew.select(ew.isnan(x), y, extreme(x, y)))


for _name, (_np_fn, _compose) in _BINARY.items():
    globals()[_name] = _binary(_np_fn)(_compose)


@implements(np.divmod)
def divmod_(x, y, out=None):
    refuse("divmod", out=out)
    x, y = asarray(x), asarray(y)
    return ew.floor_divide(x, y), ew.mod(x, y)


@implements(np.round, np.around)
def round_(a, decimals=0, out=None):
    refuse("round", out=out)
    a = asarray(a)
    if a.dtype.kind in "iub" and decimals >= 0:
        return a
    scale = 10.0 ** decimals
    return ew.rint(a) if decimals == 0 else ew.div(ew.rint(ew.mul(a, scale)), scale)


# ---- complex parts --------------------------------------------------------------------------
@implements(np.real)
def real(val):
    val = asarray(val)
    return ew.real(val) if val.dtype.kind == "c" else val


@implements(np.imag)
def imag(val):
    val = asarray(val)
    return ew.imag(val) if val.dtype.kind == "c" else F.zeros_like(val)


@implements(np.angle)
def angle(z, deg=False):
    z = asarray(z)
    out = ew.arctan2(imag(z), real(z)) if z.dtype.kind == "c" else ew.arctan2(0.0, z)
    return ew.mul(out, 180.0 / math.pi) if deg else out


@implements(np.real_if_close)
def real_if_close(a, tol=100):
    """The real part when every imaginary part is within `tol` machine epsilons of zero: a
    data-dependent choice of result type, so it is guarded like any branch on data."""
    a = asarray(a)
    if a.dtype.kind != "c":
        return a
    eps = np.finfo(a.dtype).eps * tol if tol > 1 else tol
    if bool(F.max(ew.abs(ew.imag(a))) < eps):
        return ew.real(a)
    return a


@implements(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    x = asarray(x)
    if x.dtype.kind not in "fc":
        return x
    info = np.finfo(x.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    out = ew.select(ew.isnan(x), nan, x)
    out = ew.select(ew.eq(x, np.inf), posinf, out)
    return ew.select(ew.eq(x, -np.inf), neginf, out)


@implements(np.heaviside)
def heaviside(x1, x2, out=None):
    refuse("heaviside", out=out)
    x1 = asarray(x1)
    return ew.select(ew.isnan(x1), x1, ew.select(ew.lt(x1, 0), 0.0,
                                                  ew.select(ew.gt(x1, 0), 1.0, x2)))
