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


# ---- NumPy's pairwise summation: np.sum's order of additions, so that kernels sum to its bits --
@njit(**_JIT)
def _block_sum(a, start, n, zero):
    """NumPy's sum of at most 128 terms: fewer than 8 one by one from `zero`; else eight
    running sums, combined as a tree, then the terms left over one by one."""
    if n < 8:
        res = zero
        for i in range(start, start + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    whole = start + n - n % 8
    for i in range(start + 8, whole, 8):
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(whole, start + n):
        res += a[i]
    return res


@njit(**_JIT)
def _half(n):
    half = n // 2
    return half - half % 8


@njit(**_JIT)
def pairwise_sum(a, start, n, zero):
    """The sum of `a[start:start + n]` (a C-contiguous 1-d array) as NumPy's `pairwise_sum`
    adds it (numpy/_core/src/umath/loops_utils.h): blocks of at most 128 terms (`_block_sum`);
    a longer run split in two at half its length rounded down to a multiple of 8, the halves'
    sums added. The recursion runs on an explicit stack: numba cannot load a cached kernel
    that calls a recursive function (the process crashes)."""
    if n <= 128:
        return _block_sum(a, start, n, zero)
    starts = np.empty(64, np.int64)        # a run being summed, per depth
    sizes = np.empty(64, np.int64)
    lefts = np.empty(64, a.dtype)          # its left half's sum, once known
    has_left = np.zeros(64, np.bool_)
    top = 0
    starts[0], sizes[0] = start, n
    while True:
        if sizes[top] > 128:               # descend into the left half
            starts[top + 1], sizes[top + 1] = starts[top], _half(sizes[top])
            has_left[top + 1] = False
            top += 1
            continue
        value = _block_sum(a, starts[top], sizes[top], zero)
        top -= 1
        while top >= 0 and has_left[top]:  # both halves known: one sum for the run above
            value = lefts[top] + value
            top -= 1
        if top < 0:
            return value
        lefts[top], has_left[top] = value, True
        half = _half(sizes[top])           # then the right half
        starts[top + 1], sizes[top + 1] = starts[top] + half, sizes[top] - half
        has_left[top + 1] = False
        top += 1
