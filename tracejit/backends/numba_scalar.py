"""Scalar functions with NumPy's (or Python's) exact semantics where numba's own differ.

Kernels import this module as `sm`. numba's `//` and `%` on integers trap or raise on a zero
divisor, and on floats they follow Python, not NumPy's `npy_divmod`; Python's `round(x, n)`
rounds the exact binary value, which scaling by 10**n and rounding does not reproduce.

The functions are not inlined by numba (`inline="always"` works on numba's IR: it copied
`pyround`'s 30 lines into every call site, and 15 rounds took 5.3 s to build instead of 0.4 s);
LLVM inlines them when it links them into a kernel, and the kernels ran as fast (remainder,
floor division, round over 100,000 elements). They are not cached by themselves: a cached
kernel holds their machine code, and its source carries a digest of this file (numba_codegen).
"""
import math

import numpy as np
from numba import njit

_JIT = dict(error_model="numpy")


# ---- floor division and remainders of floats: NumPy's npy_divmod, npy_floor_divide, npy_remainder
@njit(**_JIT)
def _divmod(a, b):
    mod = np.fmod(a, b)
    div = (a - mod) / b                 # a - mod is very nearly a multiple of b
    if mod:
        if (b < 0) != (mod < 0):        # Python's convention: the remainder takes b's sign
            mod += b
            div -= 1.0
    else:
        mod = math.copysign(0.0, b)
    if div:
        floordiv = np.floor(div)      # snap the quotient to the nearest integral value
        if div - floordiv > 0.5:
            floordiv += 1.0
    else:
        floordiv = math.copysign(0.0, a / b)
    return floordiv, mod


@njit(**_JIT)
def floor_divide(a, b):
    """float64 a // b as np.floor_divide: a / b when b is 0 (inf or nan)."""
    if b == 0.0:
        return a / b
    return _divmod(a, b)[0]


@njit(**_JIT)
def remainder(a, b):
    """float64 a % b as np.remainder: the sign of b; nan when b is 0."""
    if b == 0.0:
        return np.fmod(a, b)
    return _divmod(a, b)[1]


# ---- integers: NumPy gives 0 for a zero divisor, and MIN // -1 wraps to MIN -------------------
@njit(**_JIT)
def int_floor_divide(a, b):
    if b == 0:
        return a - a
    if b == -1:
        return -a
    return a // b


@njit(**_JIT)
def int_remainder(a, b):
    if b == 0 or b == -1:
        return a - a
    return a % b


@njit(**_JIT)
def int_fmod(a, b):
    if b == 0 or b == -1:
        return a - a
    r = a % b                          # Python's: the sign of b; fmod's has the sign of a
    if r != 0 and (r < 0) != (a < 0):
        r -= b
    return r


@njit(**_JIT)
def uint_floor_divide(a, b):
    return a - a if b == 0 else a // b


@njit(**_JIT)
def uint_remainder(a, b):
    return a - a if b == 0 else a % b


# ---- rounding ----------------------------------------------------------------------------------
@njit(**_JIT)
def rint(x):
    """Round half to even (np.rint), in the operand's float type."""
    return np.rint(x)


_TWO_53 = 9007199254740992.0          # from here on every float64 is an even integer
_SPLIT = 134217729.0                   # 2**27 + 1: Dekker's splitting constant for float64


@njit(**_JIT)
def _product_error(x, p, y):
    """The exact x * p - y for y = fl(x * p) (Dekker's two-product, no FMA needed)."""
    t = _SPLIT * x
    xh = t - (t - x)
    xl = x - xh
    t = _SPLIT * p
    ph = t - (t - p)
    pl = p - ph
    return ((xh * ph - y) + xh * pl + xl * ph) + xl * pl


@njit(**_JIT)
def pyround(x, ndigits, scale):
    """Python's round(x, ndigits) for a float64 x and -22 <= ndigits <= 22 (`scale` = 10.0 **
    abs(ndigits), exact): the exact value x * 10**ndigits rounded half to even, scaled back."""
    if ndigits == 0:
        return np.rint(x)
    if ndigits < 0:
        return _pyround_tens(x, scale)
    y = x * scale
    if not math.isfinite(y) or abs(y) >= _TWO_53:
        return x                       # the rounding moves x by less than half its last bit
    r = np.rint(y)
    if abs(y - r) == 0.5:              # a tie in y; the exact product decides which way
        r = _off_tie(y, _product_error(x, scale, y))
    return math.copysign(0.0, x) if r == 0.0 else r / scale


@njit(**_JIT)
def _pyround_tens(x, scale):
    """round(x, -n) with `scale` = 10.0 ** n: y = fl(x / scale) is a tie only if the exact
    quotient is near one; the sign of the exact remainder x - y * scale says which way."""
    y = x / scale
    if not math.isfinite(y) or abs(y) >= _TWO_53:
        return x
    r = np.rint(y)
    if abs(y - r) == 0.5:
        high = y * scale
        r = _off_tie(y, (x - high) - _product_error(y, scale, high))
    return math.copysign(0.0, x) if r == 0.0 else r * scale


@njit(**_JIT)
def _off_tie(y, excess):
    """The rounding of an exact value whose float64 rounding `y` is a tie, `excess` having the
    sign of (exact value - y): up or down off the tie, or half to even when exactly on it."""
    if excess > 0.0:
        return np.floor(y) + 1.0
    if excess < 0.0:
        return np.floor(y)
    return np.rint(y)


# ---- CPython's math.hypot -------------------------------------------------------------------------
@njit(**_JIT)
def _add_product(a, b, total, low1, low2):
    """Add a * b to the sum `total` (>= |a * b|) + low1 + low2, keeping the rounding errors of
    the product (Dekker's two-product) in low1 and of the addition (fast two-sum) in low2."""
    high = a * b
    new = total + high
    return new, low1 + _product_error(a, b, high), low2 + (high - (new - total))


@njit(**_JIT)
def py_hypot(x, y):
    """CPython's math.hypot(x, y) (3.10+), which is not the C library's: the squares summed
    exactly after scaling by a power of two near 1 / max, a square root, and one Newton
    correction from the exact residual (CPython's `vector_norm` for two coordinates)."""
    x, y = abs(x), abs(y)
    if math.isinf(x) or math.isinf(y):
        return math.inf
    if math.isnan(x) or math.isnan(y):
        return math.nan
    big = max(x, y)
    if big == 0.0:
        return big
    _, exponent = math.frexp(big)
    if exponent < -1023:                         # subnormal: scale up to normals first
        return _DBL_MIN * py_hypot(x / _DBL_MIN, y / _DBL_MIN)
    scale = math.ldexp(1.0, -exponent)
    x, y = x * scale, y * scale
    total, low1, low2 = _add_product(x, x, 1.0, 0.0, 0.0)
    total, low1, low2 = _add_product(y, y, total, low1, low2)
    h = math.sqrt(total - 1.0 + (low1 + low2))
    total, low1, low2 = _add_product(-h, h, total, low1, low2)     # the exact residual
    h += (total - 1.0 + (low1 + low2)) / (2.0 * h)
    return h / scale


_DBL_MIN = 2.2250738585072014e-308


# ---- sorting -----------------------------------------------------------------------------------
@njit(**_JIT)
def stable_argsort(lane):
    """The stable sorting permutation of a 1-D array (NaNs last, as NumPy's), and whether two
    entries tie (then any sort but a stable one may order them otherwise)."""
    perm = np.argsort(lane, kind="mergesort")
    tied = False
    for k in range(1, lane.size):
        a, b = lane[perm[k - 1]], lane[perm[k]]
        if a == b or (a != a and b != b):
            tied = True
    return perm, tied
