"""numba_math's branch-free exp/sin/cos/tanh: accuracy in ulps against the long double C library,
special values, float32 variants, and their use in generated kernels (values and gradients equal
to the numpy executor's, the C-library rerun for huge sin/cos arguments, cache reuse)."""
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracejit

pytestmark = pytest.mark.numba
numba = pytest.importorskip("numba")
vm = pytest.importorskip("tracejit.backends.numba_math")
codegen = pytest.importorskip("tracejit.backends.numba_codegen")

# x87 long double has 64 mantissa bits: its sinl/expl/... are exact to far below a double's ulp
EXTENDED = np.finfo(np.longdouble).nmant >= 63
needs_extended = pytest.mark.skipif(not EXTENDED, reason="long double is not x87 extended here")

FUNCTIONS = {"exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tanh": np.tanh}
# what the module promises (docstring): below 1 ulp for exp/log/sin/cos, below 2 for tanh
BOUND = {"exp": 1.0, "log": 1.0, "sin": 1.0, "cos": 1.0, "tanh": 2.0}
_loops = {}


def apply(name, x):
    """numba_math.<name> over the array x, in a compiled loop (as kernels call it)."""
    key = (name, x.dtype)
    if key not in _loops:
        f = getattr(vm, name)

        @numba.njit(error_model="numpy")
        def loop(x, out):
            for i in range(x.shape[0]):
                out[i] = f(x[i])
        _loops[key] = loop
    out = np.empty_like(x)
    _loops[key](x, out)
    return out


def ulps(got, ref, dtype=np.float64):
    """|got - ref| in units of the last place of `dtype` at ref (ref in long double); 0 where
    both are the same special value or equal."""
    with np.errstate(over="ignore"):          # references beyond the largest double
        ref_rounded = ref.astype(dtype)
    tiny = np.finfo(dtype).smallest_subnormal
    unit = np.maximum(np.spacing(np.abs(ref_rounded).astype(dtype)), tiny).astype(np.longdouble)
    with np.errstate(invalid="ignore"):
        err = np.abs(got.astype(np.longdouble) - ref) / unit
    same = (got == ref_rounded) | (np.isnan(got) & np.isnan(ref_rounded))
    return np.where(same, 0.0, err)


def max_ulps(name, x):
    return float(np.max(ulps(apply(name, x), FUNCTIONS[name](x.astype(np.longdouble)))))


RANGES = {
    "exp": [(-745.2, 709.8), (-2.0, 2.0), (-1e-8, 1e-8)],
    "log": [(0.0, 10.0), (0.5, 2.0), (1.0 - 1e-6, 1.0 + 1e-6)],
    "sin": [(-7.0, 7.0), (-1e3, 1e3), (-vm.TRIG_MAX, vm.TRIG_MAX)],
    "cos": [(-7.0, 7.0), (-1e3, 1e3), (-vm.TRIG_MAX, vm.TRIG_MAX)],
    "tanh": [(-0.7, 0.7), (-25.0, 25.0), (-1e-6, 1e-6)],
}


@needs_extended
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_accuracy_random(name):
    rng = np.random.default_rng(7)
    for lo, hi in RANGES[name]:
        x = rng.uniform(lo, hi, 200_000)
        assert max_ulps(name, x) < BOUND[name], (name, lo, hi)
    # log-uniform magnitudes of both signs, down to the subnormals
    x = np.exp2(rng.uniform(-1074, 10, 200_000)) * rng.choice([-1.0, 1.0], 200_000)
    if name == "log":                                     # all of its domain instead
        x = np.exp2(rng.uniform(-1074, 1024, 200_000))
    assert max_ulps(name, x) < BOUND[name]


@needs_extended
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_trig_near_multiples_of_half_pi(name):
    """The doubles nearest k*pi/2 (and their neighbours) are where range reduction cancels."""
    k = np.unique(np.concatenate([np.arange(1, 2000), np.geomspace(2000, 667_000, 3000)
                                  .astype(np.int64)])).astype(np.longdouble)
    near = (k * (np.arctan(np.longdouble(1)) * 2)).astype(np.float64)   # pi/2 in long double
    x = np.concatenate([near, np.nextafter(near, 0), np.nextafter(near, np.inf), -near])
    x = x[np.abs(x) <= vm.TRIG_MAX]
    assert max_ulps(name, x) < BOUND[name]


def test_exp_special_values():
    big = np.log(np.finfo(np.float64).max)               # 709.78...: last finite
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, big, np.nextafter(big, np.inf), 710.0,
                  1e308, -745.13, -745.14, -1e308, 1e-320, -1e-320, -708.5, -740.0])
    with np.errstate(over="ignore"):
        got, want = apply("exp", x), np.exp(x)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(got[~np.isnan(got)] == np.inf, want[~np.isnan(want)] == np.inf)
    assert got[0] == 1.0 and got[1] == 1.0 and got[3] == 0.0 and got[10] == 0.0
    assert got[9] == 5e-324                               # the smallest subnormal, not 0
    finite = np.isfinite(want) & (want > 0)
    assert np.all(ulps(got[finite], np.exp(x[finite].astype(np.longdouble))) < 1.0)


def test_log_special_values():
    x = np.array([0.0, -0.0, -1.0, -5e-324, np.inf, -np.inf, np.nan, 1.0, 5e-324, 1e-310,
                  np.finfo(np.float64).max, np.nextafter(1.0, 0), np.nextafter(1.0, 2)])
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log(x)
    got = apply("log", x)
    assert np.array_equal(got, want, equal_nan=True)      # these are all correctly rounded


@pytest.mark.parametrize("name", ["sin", "tanh"])
def test_odd_functions_keep_the_sign_of_zero_and_tiny_arguments(name):
    x = np.array([0.0, -0.0, 5e-324, -5e-324, 1e-310, -1e-310, 1e-200, -1e-200])
    got = apply(name, x)
    assert np.array_equal(got, x) and np.array_equal(np.signbit(got), np.signbit(x))


def test_nonfinite_and_huge_trig_arguments():
    x = np.array([np.inf, -np.inf, np.nan, vm.TRIG_MAX, -vm.TRIG_MAX, 1e7, -1e300, 2.0**1023])
    for name in ("sin", "cos"):
        got = apply(name, x)
        assert np.all(np.isnan(got[:3]))
        assert abs(got[3] - getattr(math, name)(x[3])) <= np.spacing(1.0)
    outside = [vm.trig_outside(float(v)) for v in x]
    assert outside == [0, 0, 0, 0, 0, 1, 1, 1]           # only finite |x| > TRIG_MAX need libm


def test_tanh_saturates_and_propagates_nan():
    # tanh(19) = 1 - 6.3e-17 rounds to 1 - 2^-53 (the C library's double tanh says 1.0)
    x = np.array([19.0, 25.0, 1e300, np.inf, -np.inf, np.nan, 0.625, -0.625])
    got = apply("tanh", x)
    assert np.array_equal(got[:5], [1.0 - 2.0**-53, 1.0, 1.0, 1.0, -1.0]) and np.isnan(got[5])
    assert np.all(np.abs(got[6:] - np.tanh(x[6:])) <= np.spacing(0.56))


@needs_extended
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_float32_variants(name):
    rng = np.random.default_rng(3)
    lo, hi = RANGES[name][1]
    x = np.concatenate([rng.uniform(lo, hi, 100_000),
                        np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45])])
    x = x.astype(np.float32)
    got = apply(name + "32", x)
    assert got.dtype == np.float32
    with np.errstate(invalid="ignore", divide="ignore"):   # sin/cos of inf, log of 0
        want = FUNCTIONS[name](x.astype(np.longdouble))
    assert float(np.max(ulps(got, want, np.float32))) <= 1.0


# ---- in generated kernels --------------------------------------------------------------------
@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory):
    directory = tmp_path_factory.mktemp("kernels")
    os.chmod(directory, 0o700)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACEJIT_CACHE_DIR", str(directory))
        mp.setenv("TRACEJIT_NUMBA_TIERING", "sync")
        yield directory


def chain(x):
    y = np.exp(-x * x) * np.sin(3.0 * x) + 0.5 * np.tanh(x)
    y = y * y + np.cos(y) - x / (1.0 + x * x)
    return np.sum(y)


def kernel_source(vg):
    (entry,) = vg.entries()
    assert entry.program.compiled
    return entry.program.kernel.source


def both(fn, x):
    numpy_vg = tracejit.value_and_grad(fn, backend="numpy")
    numba_vg = tracejit.value_and_grad(fn, backend="numba")
    return numpy_vg(x), numba_vg(x), numba_vg


def assert_close(expected, got, rtol):
    expected, got = np.asarray(expected), np.asarray(got)
    assert expected.dtype == got.dtype
    scale = np.max(np.abs(expected))
    assert np.max(np.abs(expected - got)) <= rtol * scale


@pytest.mark.parametrize("n", [17, 1000])
def test_kernel_uses_vector_math_and_agrees(n):
    x = np.random.default_rng(0).uniform(-3, 3, n)
    (v0, g0), (v1, g1), vg = both(chain, x)
    source = kernel_source(vg)
    assert "vm.sin(" in source and "vm.exp(" in source and "vm.tanh(" in source
    assert_close(v0, v1, 1e-12)
    assert_close(g0, g1, 1e-12)
    h = 1e-6
    for i in range(0, n, max(1, n // 7)):
        e = np.zeros(n)
        e[i] = h
        fd = (chain(x + e) - chain(x - e)) / (2 * h)
        assert abs(fd - g1[i]) <= 1e-6 * max(1.0, abs(fd))


def test_short_loops_keep_the_c_library():
    x = np.linspace(-1, 1, codegen.VECTOR_MIN_TRIP - 1)
    (v0, g0), (v1, g1), vg = both(chain, x)
    source = kernel_source(vg)
    assert "vm." not in source.split("def kernel")[1] and "math.sin(" in source
    assert_close(g0, g1, 1e-12)


def test_huge_trig_argument_reruns_the_loop_with_the_c_library():
    """One element beyond TRIG_MAX: the whole fused loop (with its sum) runs again on libm; the
    sum must not count the first run, and the huge element must be libm's exact value."""
    def f(x):
        return np.sum(np.sin(x) * np.exp(-np.abs(x) * 1e-9) + np.cos(2.0 * x))
    x = np.random.default_rng(1).uniform(-3, 3, 64)
    x[5] = 3.0e7
    (v0, g0), (v1, g1), vg = both(f, x)
    assert "if n" in kernel_source(vg)
    assert v0 == pytest.approx(v1, rel=1e-13)
    assert_close(g0, g1, 1e-13)
    assert g1[5] == g0[5]                                 # both from the C library


def test_nonfinite_inputs_agree_with_numpy():
    def f(x):
        return np.exp(x) + np.sin(x) * np.cos(x) + np.tanh(x) + np.log(x)
    x = np.linspace(-5, 5, 40)
    x[[1, 7, 20, 30]] = [np.nan, np.inf, -np.inf, 0.0]
    compiled = tracejit.jit(f, backend="numba")
    got = compiled(x)
    assert "vm.tanh(" in kernel_source(compiled) and "vm.log(" in kernel_source(compiled)
    with np.errstate(all="ignore"):
        want = f(x)
    assert np.array_equal(np.isnan(want), np.isnan(got))
    ok = ~np.isnan(want)
    assert np.allclose(want[ok], got[ok], rtol=1e-15, atol=0)
    assert got[30] == -np.inf


def test_float32_traces_stay_float32():
    def f(x):
        return np.sum(np.exp(-x * x) * np.sin(x) + np.tanh(x) * np.cos(x))
    x = np.random.default_rng(2).uniform(-2, 2, 100).astype(np.float32)
    (v0, g0), (v1, g1), vg = both(f, x)
    assert "vm.sin32(" in kernel_source(vg) and "vm.exp32(" in kernel_source(vg)
    assert g1.dtype == np.float32 and np.asarray(v1).dtype == np.float32
    assert_close(g0, g1, 4e-7)


SUBPROCESS = textwrap.dedent("""
    import numpy as np, tracejit
    def f(x):
        return np.sum(np.sin(x) * np.exp(x) + np.tanh(x) * np.cos(x))
    g = tracejit.jit_grad(f, backend="numba")
    result = g(np.linspace(0, 1, 64))
    program = g.entries()[0].program
    stats = program.dispatcher.stats
    print("vm.sin(" in program.kernel.source, program.compiled,
          sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
    print(repr(result.tolist()))
""")


def test_vector_kernel_cache_reused_across_processes(private_cache):
    runs = [subprocess.run([sys.executable, "-c", SUBPROCESS], capture_output=True, text=True,
                           check=True, timeout=180,
                           env=dict(os.environ, TRACEJIT_CACHE_DIR=str(private_cache),
                                    TRACEJIT_NUMBA_TIERING="sync")).stdout.splitlines()
            for _ in range(2)]
    assert runs[1][0] == "True True 1 0"                 # loaded from numba's cache
    assert runs[0][1] == runs[1][1]


def test_fused_loop_vectorizes():
    """The point of numba_math: no call left in the loop and SIMD arithmetic on doubles. (A
    function numba loaded from its cache, or one LLVM's inliner declined, would leave a call.)"""
    x = np.random.default_rng(4).uniform(-2, 2, 256)
    vg = tracejit.jit_grad(chain, backend="numba")
    vg(x)
    (entry,) = vg.entries()
    kernel = entry.program.dispatcher
    if kernel.stats.cache_hits and sum(kernel.stats.cache_hits.values()):
        pytest.skip("kernel loaded from numba's cache: its LLVM IR cannot be inspected")
    llvm = "\n".join(kernel.inspect_llvm().values())
    assert "numba_math" not in llvm                       # every math function inlined
    assert "x double>" in llvm                            # vector types: the loop vectorized


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_value_does_not_depend_on_position_in_the_loop(name):
    """No fastmath: the vector body and the scalar remainder compute each element alike."""
    values = np.random.default_rng(5).uniform(-4, 4, 7)
    values = np.abs(values) if name == "log" else values
    x = np.repeat(values, 37)                              # 259 = 32*8 + 3: body and tail
    got = apply(name, x).reshape(7, 37)
    assert np.array_equal(got, np.repeat(got[:, :1], 37, axis=1), equal_nan=True)


@pytest.mark.parametrize("shape", [(5, 40), (40, 5)])
def test_axis_reductions_in_vector_loops(shape):
    """Reductions along an axis leave the vector loop for a loop of their own (long rows) or
    stay fused with C library calls (short rows); both agree with the numpy executor."""
    def f(x):
        e = np.exp(np.sin(x) * 2.0)
        return np.sum(np.tanh(np.sum(e, axis=1)) * np.cos(np.max(x, axis=1)))
    x = np.random.default_rng(6).uniform(-2, 2, shape)
    (v0, g0), (v1, g1), vg = both(f, x)
    assert ("vm.exp(" in kernel_source(vg)) == (shape[1] >= codegen.VECTOR_MIN_TRIP)
    assert_close(v0, v1, 1e-12)
    assert_close(g0, g1, 1e-12)
