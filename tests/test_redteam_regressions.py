"""Regressions found by the red-team fuzzer (tests/fuzz_redteam.py), one table per root cause.

Each case is a function and a sequence of calls; every compiled call must give what plain
CPython + NumPy gives, judged strictly (tests/fuzz_redteam.py `same`): the same type (Python
float vs np.float64 vs 0-d array vs int), dtype, shape and value, or the same exception class.
The sequences flip the data (NaN, inf, zeros, huge values) so guards must re-trace.
"""
import math

import numpy as np
import pytest

import tracejit
from fuzz_redteam import same

NAN, INF = np.nan, np.inf


def _a(*values, dtype=np.float64):
    return np.array(values, dtype=dtype)


def _outcome(fn, args):
    try:
        with np.errstate(all="ignore"):
            return fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args]), None
    except Exception as error:          # noqa: BLE001 — the error is what is compared
        return None, error


def check_sequence(fn, calls, backend):
    compiled = tracejit.jit(fn, backend=backend)
    for args in calls:
        want, plain_error = _outcome(fn, args)
        got, error = _outcome(compiled, args)
        if plain_error is not None:
            assert type(error) is type(plain_error), \
                f"{fn.__name__}{args}: plain raised {plain_error!r}, compiled gave {got!r} {error!r}"
            continue
        assert error is None, f"{fn.__name__}{args}: plain gave {want!r}, compiled raised {error!r}"
        diff = same(want, got)
        assert diff is None, f"{fn.__name__}{args}: {diff}"


# ---- 0-d results come back as the type plain Python returns --------------------------------------
def _index_scalar(x):
    return x[0], (1.0, x[-1]), [x[0], np.sum(x)]


def _folded_python_float(x):
    z = np.ones(3)                         # constant: float() of it is folded while tracing
    acc = 0.0
    acc += float(np.sum(z * 2.0))
    return acc, float(x[0])


def _median_scalar(x):
    return np.median(x), np.quantile(x, 0.3), np.percentile(x, [10.0, 50.0])


def _where_of_scalars(x):
    return np.where(x[0] > 0, float(x[0]), 2.0), np.where(float(x[0]) > 0, 1.0, 2.0)


def _python_float_over_array(x):
    y = x.copy()
    v = y.reshape(-1)
    v[...] = float(x[0]) * 2          # a weak value written over every element
    z = np.zeros(1)
    z[0] = float(x[-1])
    return y, v, z


def _sum_dtype(x):
    return np.sum(x > 0, dtype=np.int32), x.astype(np.int64).max(), x.mean(dtype=np.float32)


OUTPUT_TYPES = [_index_scalar, _folded_python_float, _median_scalar, _where_of_scalars,
                _python_float_over_array, _sum_dtype]


@pytest.mark.parametrize("fn", OUTPUT_TYPES, ids=lambda f: f.__name__)
def test_output_types(fn, backend):
    check_sequence(fn, [(_a(0.3, -1.2, 2.0),), (_a(-0.5),), (_a(1.0, NAN),), (_a(0.3, -1.2, 2.0),)],
                   backend)


# ---- int() of a float: Python's errors for NaN and inf, exact for huge values --------------------
def _int_of(x):
    return int(x[0] * 3)


def _round_of(x):
    return round(float(x[-1])), round(x[0])


def _floor_ceil_of(x):
    return math.floor(float(x[0]) * 2) + math.ceil(float(x[-1]))


def _int_as_index(x):
    return [1.0, 2.0, 3.0][int(np.sum(x < 0))]


INT_CONVERSIONS = [_int_of, _round_of, _floor_ceil_of, _int_as_index]


@pytest.mark.parametrize("fn", INT_CONVERSIONS, ids=lambda f: f.__name__)
def test_int_of_float(fn, backend):
    check_sequence(fn, [(_a(0.4, 1.6),), (_a(NAN, 1.0),), (_a(INF, 2.0),), (_a(-INF, 1.0),),
                        (_a(1e300, -3e20),), (_a(-0.4, -1.6),), (_a(0.4, 1.6),)], backend)


def test_float_is_not_an_index(backend):
    def slice_by_float(x):
        return x[:float(x[0])]
    check_sequence(slice_by_float, [(_a(1.0, 2.0),)], backend)


# ---- math functions of Python numbers (constants) run natively -----------------------------------
def _math_of_constant(x):
    return math.exp(min(float(x[-1]), 5.0)), math.erf(max(float(x[0]), 3.0))


def _math_domain_of_constant(x):
    return math.sqrt(min(float(x[0]), -1.0))


@pytest.mark.parametrize("fn", [_math_of_constant, _math_domain_of_constant],
                         ids=lambda f: f.__name__)
def test_math_of_python_numbers(fn, backend):
    # min/max pick the constant in each call (a traced argument's domain errors are not this case)
    check_sequence(fn, [(_a(2.0, 9.0),), (_a(7.0, 1.0),), (_a(0.5, 2.0),)], backend)


# ---- NaN and inf in reductions --------------------------------------------------------------------
def _arg_extremes(x):
    return int(np.argmax(x)), int(np.argmin(x)), np.argmax(x.reshape(1, -1), axis=1)


def _order_statistics(x):
    return np.median(x), np.quantile(x, 0.3), np.quantile(x, 0.7), np.percentile(x, [10, 50, 90])


def _nan_ignoring_extremes(x):
    return np.nanmin(x), np.nanmax(x.reshape(1, -1), axis=1), float(np.nanmin(x)) + np.nansum(x)


@pytest.mark.parametrize("fn", [_arg_extremes, _order_statistics, _nan_ignoring_extremes],
                         ids=lambda f: f.__name__)
def test_nan_inf_reductions(fn, backend):
    check_sequence(fn, [(_a(1.0, NAN, 3.0, NAN),), (_a(-INF),), (_a(-INF, 1.0),),
                        (_a(NAN, 1.0, 2.0),), (_a(1.0, INF),), (_a(3.0, 1.0, 2.0, 5.0),),
                        (_a(NAN),), (_a(NAN, NAN),)], backend)


# ---- Python numbers to a power ---------------------------------------------------------------------
def _python_power(x):
    return float(x[0]) ** -1, 2 ** -int(x[0] > 0), int(x[0] > 0) ** -1, float(x[0]) ** 300


def _python_power_traced_exponent(x):
    return 10.0 ** float(x[1] * 1000), abs(float(x[0])) ** float(x[1])


@pytest.mark.parametrize("fn", [_python_power, _python_power_traced_exponent],
                         ids=lambda f: f.__name__)
def test_python_power(fn, backend):
    check_sequence(fn, [(_a(2.0, 0.1),), (_a(0.0, -1.5),), (_a(20.0, 0.5),), (_a(-8.0, 3.0),),
                        (_a(2.0, 0.1),)], backend)


def test_negative_float_to_fractional_power_is_refused(backend):
    def root(x):
        return float(x[0]) ** 0.5
    compiled = tracejit.jit(root, backend=backend)
    assert compiled(_a(4.0)) == 2.0
    with pytest.raises(tracejit.TracejitError, match="complex"):
        compiled(_a(-4.0))                       # Python gives a complex number


# ---- NumPy's own errors -----------------------------------------------------------------------------
def _inplace_cast(x):
    y = x.copy()
    y += 0.5                                     # NumPy: cannot cast float64 into int64
    return y


def _inplace_bool(x):
    b = x > 0
    b += 1
    return b


def _reshape_zero(x):
    return x.reshape(int(np.sum(x > 0)), -1)


def _dict_by_value(x):
    return {0.5: 1.0}[float(x[0])]


NUMPY_ERRORS = [_inplace_cast, _inplace_bool, _reshape_zero, _dict_by_value]


@pytest.mark.parametrize("fn", NUMPY_ERRORS, ids=lambda f: f.__name__)
def test_numpy_errors(fn, backend):
    check_sequence(fn, [(_a(1, 2, 3, dtype=np.int64),), (_a(0.5, -1.0),), (_a(-1.0, -2.0),),
                        (_a(1.0, 2.0, 3.0),)], backend)


def test_key_error_carries_the_value(backend):
    def lookup(x):
        return {0.5: 1.0}[float(x[0])]
    with pytest.raises(KeyError) as caught:
        tracejit.jit(lookup, backend=backend)(_a(0.25))
    assert caught.value.args == (0.25,)


# ---- rolled loops: a Python int that moves with the iteration stays a Python int -------------------
def _counter_in_float_sum(x):
    z, it, hist = float(x[0]), 0, 0.0
    while abs(z) < 100.0 and it < 1000:
        z = z * z + float(x[1])
        it += 1
        hist = hist + z * 0.0 + it
    return it, hist


@pytest.mark.usefixtures("roll_short_loops")
def test_rolled_counter_stays_python_int(backend):
    check_sequence(_counter_in_float_sum, [(_a(3.0, 0.2),), (_a(0.5, 0.1),), (_a(1.2, -2.0),),
                                           (_a(-0.5, 0.3),)], backend)


# ---- a Python number meeting a small dtype keeps it (NEP 50), in every executor ----------------------
def _float32_plus_python_float(x, s):
    return np.sum(x) + float(x[0]) * s, x * float(x[-1])


def _uint8_plus_python_int(x, s):
    u = (np.abs(x) * 10).astype(np.uint8)
    n = int(x[0] > 0)                    # a Python int, guarded
    return u + n, u[0] * 2


@pytest.mark.parametrize("fn", [_float32_plus_python_float, _uint8_plus_python_int],
                         ids=lambda f: f.__name__)
def test_python_numbers_keep_small_dtypes(fn, backend):
    x32 = _a(1.1, 2.3, -0.7, dtype=np.float32)
    check_sequence(fn, [(x32, 2.0), (x32, 2), (x32 * 3, -1.5)], backend)


# ---- signs of infinities and zeros ------------------------------------------------------------------
def _sign_bits(x):
    return np.signbit(x), np.copysign(1.0, x), np.copysign(x, -1.0), np.isposinf(x), np.isneginf(x)


def _python_copysign(x):
    return math.copysign(1.0, float(x[0] * 0.0)), math.copysign(float(x[1]), float(x[0]))


@pytest.mark.parametrize("fn", [_sign_bits, _python_copysign], ids=lambda f: f.__name__)
def test_sign_bits(fn, backend):
    check_sequence(fn, [(_a(0.7, -0.2),), (_a(-1.3, INF),), (_a(-0.0, -INF),), (_a(0.7, -0.2),)],
                   backend)


def test_sign_bit_of_nan_is_refused(backend):
    """`-inf * 0.0` is a NaN whose sign bit is set on most machines: no comparison reads it."""
    compiled = tracejit.jit(_python_copysign, backend=backend)
    assert compiled(_a(0.7, -0.2)) == _python_copysign(_a(0.7, -0.2))
    with pytest.raises(tracejit.TracejitError, match="sign bit of a NaN"):
        compiled(_a(-INF, 1.0))                  # the guard fails: re-traced, then refused


# ---- booleans add as NumPy adds them (a logical or), in every executor ----------------------------
def _bool_sums(x):
    cnt = 13
    cnt += (x[0] > 0) + (x[-1] < 0)
    return cnt, (x > 0) + (x < 1), np.add(x > 0, x > 0), x + (x > 0)


def test_bool_addition(backend):
    check_sequence(_bool_sums, [(_a(1.0, 0.5, -2.0),), (_a(-1.0, 2.0),), (_a(1.0, 0.5, -2.0),)],
                   backend)


# ---- powers: C's pow for scalars, NumPy's sqrt shortcut for a broadcast exponent of 0.5 -----------
def _half_powers(x, s):
    return (float(x[0]) ** 0.5, x[0] ** 0.5, x ** 0.5, np.power(x, 0.5), np.power(x[0], 0.5),
            x ** s, np.power(x, s), x[0] ** s, float(x[1]) ** 0.5,
            np.power(x[:1], np.array([0.5])),            # one element each: C's pow
            np.power(x, np.array([0.5])),                 # broadcast: sqrt
            np.power(x.reshape(1, -1), np.array([0.5])))


def test_half_power_follows_the_operand_kinds(backend):
    """-inf ** 0.5 is inf for scalars (C's pow) and nan for np.power with a broadcast exponent
    (NumPy takes sqrt); -0.0 ** 0.5 is 0.0 and -0.0 likewise."""
    calls = [(_a(-INF, -0.0, 4.0), 0.5), (_a(-0.0, -INF, 2.0), 0.5), (_a(-INF, -0.0, 4.0), 2.0),
             (_a(4.0, 1.0, 2.0), 0.5)]
    check_sequence(_half_powers, calls, backend)


def test_half_power_gradient_with_traced_exponent(backend):
    def f(x, s):
        return np.sum(np.power(x, s) + x[0] ** s)
    x, s = np.array([1.3, 0.7, 2.1]), 0.5
    gx, gs = tracejit.grad(f, argnums=(0, 1), backend=backend)(x, s)
    eps = 1e-6
    fd_s = (f(x, s + eps) - f(x, s - eps)) / (2 * eps)
    fd_x = [(f(x + eps * e, s) - f(x - eps * e, s)) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(gs, fd_s, rtol=1e-7)
    np.testing.assert_allclose(gx, fd_x, rtol=1e-7)


# ---- float32 gradients through weak masks: float32 on every executor -------------------------------
def test_float32_gradient_dtype_through_weak_masks(backend):
    """maximum/fmax/clip/abs/minimum's VJPs multiply by a weak float64 mask; the trace types the
    gradient float32 (numba's kernels too), so must the numpy executor (red-team numba seed
    410037: a BackendMismatch under the crosscheck)."""
    def f(x):
        return np.sum((np.maximum(x, 0.0) + np.fmax(x, -1.0)) ** 2) + \
            np.sum(np.abs(x) * np.clip(x, -1, 1)) + np.sum(np.minimum(x, 0.5))
    x = _a(0.67, -0.0155, -1.83, 1.57, -0.03, dtype=np.float32)
    gradient = tracejit.grad(f, backend=backend)(x)
    assert gradient.dtype == np.float32
    reference = tracejit.grad(f, backend=backend)(x.astype(np.float64))
    np.testing.assert_allclose(gradient, reference, rtol=1e-6)


# ---- a `for` loop left by `break` whose trip count nothing reads (for ... else) -------------------
# Its while form side-exits when the iterator runs out before the break; dead-code elimination
# dropped the loop (nothing read its results), so a call that ran out took the traced path and
# missed the `else` (red-team seed 372641: 2 returned, plain 102)
def _for_else_counts(x):
    count = 0
    for i in range(len(x)):
        if x[i] > 1.0:
            break
    else:
        count += 100
    return count + float(np.sum(x))


def _for_else_flag(x):
    found = False
    for v in x:
        if v > 1.0:
            found = True
            break
    else:
        found = None
    return np.sum(x) * (2.0 if found else 3.0)


@pytest.mark.parametrize("fn", [_for_else_counts, _for_else_flag], ids=lambda f: f.__name__)
def test_a_loop_left_by_break_runs_though_nothing_reads_it(fn, backend):
    compiled = tracejit.jit(fn, backend=backend)
    grad = tracejit.grad(fn, backend=backend)
    for x in (_a(-0.5, 0.25, 1.5, 0.5, 0.1), _a(-0.5, 0.25, 1.5e-300, 0.5, 0.1),
              _a(2.0, 0.0, 0.0, 0.0, 0.0), _a(0.1, 0.2, 0.3, 0.4, 0.5)):
        want, _ = _outcome(fn, (x,))
        assert same(want, compiled(x.copy())) is None, x
        assert np.allclose(grad(x.copy()), 1.0 if fn is _for_else_counts else
                           (2.0 if np.any(x > 1.0) else 3.0)), x
