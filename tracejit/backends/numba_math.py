"""Branch-free exp, log, sin, cos and tanh that LLVM's loop vectorizer turns into SIMD code.

numba lowers `math.exp` and friends to calls into the C library (no SVML here). A call blocks
LLVM's loop vectorizer, so a fused loop with one transcendental runs one element at a time, at
4-5x the cost of NumPy's own SIMD loops. These functions are plain arithmetic, integer bit
operations and selects, so once inlined into a fused loop the whole loop vectorizes.

Methods (all published): Cody-Waite range reduction with constants split so the products with the
reduced integer are exact; the integer obtained by the "add 1.5*2^52" rounding trick, whose low
bits are read from the double's bit pattern; 2^k built in the exponent field. Polynomials: Taylor
to degree 13 for exp (truncation below 2^-57 on |r| <= ln2/2), fdlibm's minimax kernels for sin
and cos on |r| <= pi/4 and for log(1+f) (Sun Microsystems, 1993, also used by musl/FreeBSD),
Cephes's rational
approximation for tanh on |x| < 0.625 (Moshier). Measured accuracy against the long double C
library over 10^7 random inputs per range (benchmarks/vecmath_accuracy.py, tests/test_vecmath.py):
exp 0.96 ulp, log 0.90, sin 0.79, cos 0.78, tanh 1.34; the float32 variants were correctly
rounded on every sample.

Kernel generation relies on the functions being pure and inlined. Everything numba would compile
to a branch is written so that LLVM if-converts it (both sides computed, then selected).

No fastmath flags, here or in kernels: `nnan`/`ninf` would let LLVM drop the NaN and infinity
selects; `reassoc` and `contract` (FMA) let LLVM evaluate the vector body and the scalar tail
of one loop differently, so an element's value would depend on its position. Without them each
element gets the same IEEE operations wherever it falls: results are bitwise reproducible.
They do differ from the C library's by up to the ulps above, so the same expression can differ in
its last bit between a short loop (C library, see numba_codegen.VECTOR_MIN_TRIP) and a long one.

sin and cos reduce accurately only for |x| <= TRIG_MAX. `trig_outside(x)` says when a finite
argument lies beyond that; the code generator counts such elements in the vector loop and, if
there were any, runs the loop again with the C library (see numba_codegen). NaN and +-inf need no
fallback: the result is NaN, as from the C library.

Float32 variants compute in float64 and round once to float32 (the results are correctly rounded
but for double rounding, well within 1 ulp); numba would otherwise compute float32 math in double
as well.
"""
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# Every function is inlined by numba itself (`inline="always"`, in its IR) rather than left to
# LLVM's inliner, whose size threshold decides differently as a function grows by a line: a call
# left in a loop stops vectorization (measured: sin alone 12x slower; big_chain's gradient 180 ms
# instead of 12 ms). No `cache=True` for the same reason: a function numba loads from its cache
# is machine code that nothing can inline. The kernel's own cache holds them inlined.
_JIT = dict(error_model="numpy", inline="always")


@intrinsic
def _bits(typingctx, x):
    """The bit pattern of a float64 as an int64 (a register move; vectorizes)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, n):
    """The float64 whose bit pattern is the int64 `n`."""
    if n != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


# x*c + SHIFTER - SHIFTER rounds x*c to the nearest integer for |x*c| < 2^51, and the sum's bit
# pattern minus SHIFTER's is that integer (its low mantissa bits). No float->int conversion needed.
SHIFTER = 6755399441055744.0           # 1.5 * 2^52

# ---- exp --------------------------------------------------------------------------------------
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01    # fdlibm's split of ln 2: the high part has 32 bits, so
LN2_LO = 1.90821492927058770002e-10    # k * LN2_HI is exact for |k| < 2^21
EXP_LOW = -746.0                       # exp(x) rounds to 0 below about -745.13
EXP_HIGH = 710.0                       # and overflows above about 709.78
# 1/k! for k = 13 .. 2 (Taylor; on |r| <= ln2/2 the truncation error is r^14/14! < 2^-57)
_EXP_TAYLOR = (1.6059043836821613e-10, 2.08767569878681e-09, 2.505210838544172e-08,
               2.755731922398589e-07, 2.7557319223985893e-06, 2.48015873015873e-05,
               0.0001984126984126984, 0.001388888888888889, 0.008333333333333333,
               0.041666666666666664, 0.16666666666666666, 0.5)
E13, E12, E11, E10, E9, E8, E7, E6, E5, E4, E3, E2 = _EXP_TAYLOR


@njit(**_JIT)
def exp(x):
    xc = x if x > EXP_LOW else EXP_LOW             # also maps NaN to EXP_LOW: fixed at the end
    xc = xc if xc < EXP_HIGH else EXP_HIGH
    t = xc * LOG2E + SHIFTER
    kf = t - SHIFTER
    k = _bits(t) - _bits(SHIFTER)
    r = (xc - kf * LN2_HI) - kf * LN2_LO           # exact first step: kf * LN2_HI is exact
    p = E2 + r * (E3 + r * (E4 + r * (E5 + r * (E6 + r * (E7 + r * (
        E8 + r * (E9 + r * (E10 + r * (E11 + r * (E12 + r * E13))))))))))
    y = 1.0 + (r + r * r * p)                      # 1 + small: one rounding in the last step
    # k is in [-1076, 1024]; 2^k as two factors keeps both normal, so y * 2^k1 is exact and the
    # second product rounds once, also into the subnormal range, and overflows to inf correctly
    k1 = k >> 1
    res = (y * _from_bits((k1 + 1023) << 52)) * _from_bits((k - k1 + 1023) << 52)
    return res if x == x else x


# ---- sin, cos ---------------------------------------------------------------------------------
TWO_OVER_PI = 0.63661977236758134308
# pi/2 split in 33-bit pieces (fdlibm's pio2_1, pio2_2, pio2_3 and the tail pio2_3t): k * piece
# is exact for |k| < 2^20, so each subtraction is exact when it cancels (Sterbenz) and otherwise
# rounds relative to a result that later steps no longer cancel
PIO2_1 = 1.57079632673412561417e+00
PIO2_2 = 6.07710050630396597660e-11
PIO2_3 = 2.02226624871116645580e-21
PIO2_3T = 8.47842766036889956997e-32
TRIG_MAX = 1048576.0                   # 2^20: |k| < 2^20 keeps the products above exact
# fdlibm __kernel_sin / __kernel_cos minimax coefficients on [-pi/4, pi/4]
S1, S2, S3, S4, S5, S6 = (-1.66666666666666324348e-01, 8.33333333332248946124e-03,
                          -1.98412698298579493134e-04, 2.75573137070700676789e-06,
                          -2.50507602534068634195e-08, 1.58969099521155010221e-10)
C1, C2, C3, C4, C5, C6 = (4.16666666666666019037e-02, -1.38888888888741095749e-03,
                          2.48015872894767294178e-05, -2.75573143513906633035e-07,
                          2.08757232129817482790e-09, -1.13596475577881948265e-11)


@njit(**_JIT)
def _sin_quarters(x, q):
    """sin(x + q*pi/2) for |x| <= TRIG_MAX (cos is q = 1); NaN for NaN and +-inf.

    Reduction: x = (r + rr) + k*pi/2 with |r| <= pi/4, rr a correction below ulp(r). The pieces
    of pi/2 are subtracted one at a time and each subtraction's error is kept exactly (Knuth's
    TwoSum), so neither a rounding nor the cancellation when x lies close to a multiple of pi/2
    loses bits. Then fdlibm's __kernel_sin and __kernel_cos evaluations on (r, rr), both
    computed and one selected by the quadrant k + q. One function rather than several small
    ones: each function numba inlines costs compile time (measured ~0.1 s)."""
    xr = x if abs(x) <= TRIG_MAX else 0.0          # NaN, inf, huge: a harmless stand-in
    t = xr * TWO_OVER_PI + SHIFTER
    kf = t - SHIFTER
    r1 = xr - kf * PIO2_1                          # exact (Sterbenz)
    b1 = -(kf * PIO2_2)
    y1 = r1 + b1
    bb1 = y1 - r1
    e1 = (r1 - (y1 - bb1)) + (b1 - bb1)            # TwoSum: y1 + e1 == r1 + b1 exactly
    b2 = -(kf * PIO2_3)
    y2 = y1 + b2
    bb2 = y2 - y1
    e2 = (y1 - (y2 - bb2)) + (b2 - bb2)
    tail = (e1 + e2) - kf * PIO2_3T
    r = y2 + tail
    rr = tail - (r - y2)
    z = r * r
    v = z * r
    ps = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))
    sin_r = r - ((z * (0.5 * rr - v * ps) - rr) - v * S1)
    pc = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))))
    hz = 0.5 * z
    w = 1.0 - hz                                   # its rounding error added back (FreeBSD k_cos)
    cos_r = w + (((1.0 - w) - hz) + (z * pc - r * rr))
    k = _bits(t) - _bits(SHIFTER) + q
    res = cos_r if k & 1 else sin_r
    res = -res if k & 2 else res
    return res if abs(x) <= TRIG_MAX else x - x    # inf - inf and NaN - NaN are NaN


@njit(**_JIT)
def sin(x):
    return _sin_quarters(x, 0) if x != 0.0 else x  # the reduction's sums turn -0 into +0


@njit(**_JIT)
def cos(x):
    return _sin_quarters(x, 1)


@njit(**_JIT)
def trig_outside(x):
    """1 if sin/cos above cannot reduce the finite x accurately (the C library must), else 0."""
    return 1 if TRIG_MAX < abs(x) < np.inf else 0


# ---- tanh -------------------------------------------------------------------------------------
# Cephes tanh: x + x^3 P(x^2)/Q(x^2) for |x| < 0.625, 1 - 2/(exp(2|x|) + 1) with x's sign above
TANH_P0, TANH_P1, TANH_P2 = (-9.64399179425052238628e-01, -9.92877231001918586564e+01,
                             -1.61468768441708447952e+03)
TANH_Q0, TANH_Q1, TANH_Q2 = (1.12811678491632931402e+02, 2.23548839060100448583e+03,
                             4.84406305325125486048e+03)


@njit(**_JIT)
def tanh(x):
    a = abs(x)
    z = x * x
    small = x + x * z * ((TANH_P0 * z + TANH_P1) * z + TANH_P2) / \
        (((z + TANH_Q0) * z + TANH_Q1) * z + TANH_Q2)
    big = 1.0 - 2.0 / (exp(2.0 * a) + 1.0)           # exp overflows to inf: 1 exactly
    big = -big if x < 0.0 else big
    small = small if x != 0.0 else x               # -0 + (-0 * negative) would be +0
    return small if a < 0.625 else (big if a == a else x)


# ---- log --------------------------------------------------------------------------------------
# fdlibm e_log.c's method: x = 2^k * m with m in [sqrt(2)/2, sqrt(2)), f = m - 1, s = f / (2 + f),
# log(1 + f) = 2s + s*R(s^2) with its minimax Lg1..Lg7; both of its final summations are computed
# and the one fdlibm would branch to is selected
LG1, LG2, LG3, LG4, LG5, LG6, LG7 = (6.666666666666735130e-01, 3.999999999940941908e-01,
                                     2.857142874366239149e-01, 2.222219843214978396e-01,
                                     1.818357216161805012e-01, 1.531383769920937332e-01,
                                     1.479819860511658591e-01)
TWO54 = 18014398509481984.0            # 2^54: scales subnormals into the normal range


@njit(**_JIT)
def log(x):
    sub = x < 2.2250738585072014e-308             # subnormal (or zero, negative: fixed below)
    xs = x * TWO54 if sub else x
    bits = _bits(xs)
    hx = (bits >> 32) & 0x7FFFFFFF
    k = (hx >> 20) - 1023 - (54 if sub else 0)
    hx = hx & 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000                # m >= sqrt(2): halve m, count it in k
    m = _from_bits(((hx | (i ^ 0x3FF00000)) << 32) | (bits & 0xFFFFFFFF))
    k = k + (i >> 20)
    f = m - 1.0
    s = f / (2.0 + f)
    dk = np.float64(k)
    z = s * s
    w = z * z
    r = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7))) + w * (LG2 + w * (LG4 + w * LG6))
    hfsq = 0.5 * f * f
    far = dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)
    near = dk * LN2_HI - ((s * (f - r) - dk * LN2_LO) - f)
    res = far if ((hx - 0x6147A) | (0x6B851 - hx)) > 0 else near
    res = res if x < np.inf else x                 # +inf
    res = res if x != 0.0 else -np.inf
    return res if x >= 0.0 else (x - x) / (x - x)  # negative or NaN: NaN


# ---- float32: computed in float64, rounded once -----------------------------------------------
@njit(**_JIT)
def exp32(x):
    return np.float32(exp(np.float64(x)))


@njit(**_JIT)
def sin32(x):
    return np.float32(sin(np.float64(x)))


@njit(**_JIT)
def cos32(x):
    return np.float32(cos(np.float64(x)))


@njit(**_JIT)
def log32(x):
    return np.float32(log(np.float64(x)))


@njit(**_JIT)
def tanh32(x):
    return np.float32(tanh(np.float64(x)))
