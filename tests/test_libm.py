"""math.f of a traced Python float returns CPython's float bit for bit, on every backend.

CPython's math module calls the C library (math.hypot is CPython's own algorithm); NumPy's
ufuncs are NumPy's own code, which rounds otherwise in the last bit (np.tanh for 30% of
arguments on this machine's AVX2; exp, log, sin, cos on AVX-512 ones). A compiled function
that printed, compared or summed such a float would otherwise differ from the original.
"""
import itertools
import math

import numpy as np
import pytest

import scipy.special

import tracejit
from tracejit.ops.elementwise import LIBM
from tracejit.ops.special import LIBM as SPECIAL_LIBM

from conftest import numerical_grad

# each function's arguments: a domain where the C library returns a finite float
_DOMAINS = {"log": (0.01, 50), "log1p": (-0.9, 50), "log2": (0.01, 50), "log10": (0.01, 50),
            "sqrt": (0, 50), "asin": (-1, 1), "acos": (-1, 1), "atanh": (-0.99, 0.99),
            "acosh": (1, 50), "exp": (-30, 30), "expm1": (-30, 30), "sinh": (-30, 30),
            "cosh": (-30, 30)}


def _arguments(name, count):
    low, high = _DOMAINS.get(name, (-40, 40))
    rng = np.random.default_rng(sum(map(ord, name)))
    return rng.uniform(low, high, size=(count, 2))


@pytest.mark.parametrize("name", sorted(LIBM) + sorted(SPECIAL_LIBM))
def test_math_of_a_traced_float_is_cpythons_float(name, backend):
    fn = getattr(math, name)
    two = name in ("hypot", "atan2")

    def f(x):
        a, b = float(x[0]), float(x[1])
        return fn(a, b) if two else fn(a)
    compiled = tracejit.jit(f, backend=backend)
    for args in _arguments(name, 40):
        assert compiled(args) == f(args), (name, args)
    assert compiled.stats()["misses"] == 1            # one trace served every argument


def test_hypot_is_cpythons_algorithm_at_the_edges(backend):
    compiled = tracejit.jit(lambda x: math.hypot(float(x[0]), float(x[1])), backend=backend)
    for a, b in [(3.0, 4.0), (-0.0, 0.0), (1e-310, 3e-310), (5e-324, 5e-324), (1e308, 1e308),
                 (1.0, 1e-300), (0.1, 0.7), (math.inf, math.nan), (math.nan, 2.0)]:
        got, want = compiled(np.array([a, b])), math.hypot(a, b)
        assert got == want or (math.isnan(got) and math.isnan(want)), (a, b, got, want)


@pytest.mark.parametrize("name", ["tanh", "hypot", "exp", "atan2", "log1p"])
def test_math_of_a_traced_float_differentiates(name, backend):
    fn = getattr(math, name)
    two = name in ("hypot", "atan2")

    def f(x):
        a, b = float(x[0]), float(x[1])
        return (fn(a, b) if two else fn(a) * b) * 1.5
    x = np.array([0.7, 1.3])
    np.testing.assert_allclose(tracejit.jit_grad(f, backend=backend)(x), numerical_grad(f, x),
                               rtol=1e-6, atol=1e-9)
    hess = tracejit.hessian(f, backend=backend)(x)
    for row in range(2):
        np.testing.assert_allclose(hess[row], numerical_grad(lambda y: tracejit.grad(f)(y)[row], x),
                                   rtol=1e-5, atol=1e-7)


# NumPy's float power and SciPy's special functions, as kernels compute them: the same bits as
# NumPy and SciPy (x * x * x differs from NumPy's pow(x, 3) for a quarter of the arguments; the
# C library's erfc and lgamma from SciPy's by up to 1e-10 relative)
_ARRAY_FUNCTIONS = {
    "cube": lambda x: x ** 3, "fifth": lambda x: x ** 5, "float_cube": lambda x: x ** 3.0,
    "square": lambda x: x ** 2, "array_exponent": lambda x: np.abs(x) ** (x * 0.5),
    "erf": scipy.special.erf, "erfc": scipy.special.erfc,
    "gammaln": lambda x: scipy.special.gammaln(np.abs(x) + 0.01),
}


@pytest.mark.parametrize("name", sorted(_ARRAY_FUNCTIONS))
def test_kernels_compute_numpys_and_scipys_bits(name, backend):
    fn = _ARRAY_FUNCTIONS[name]
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(size=500) * 4, np.linspace(0.99, 1.01, 101)])
    np.testing.assert_array_equal(tracejit.jit(fn, backend=backend)(x), fn(x))


# NumPy sums a C-contiguous array by blocks added pairwise (8 running sums up to 128 terms,
# halves above); a kernel adding one by one differs in the last bits from 9 terms on, and a
# sum that cancels (`np.sum(x - x.mean())`) can change sign, and a branch on it its path
_SUM_SHAPES = [(8,), (9,), (129,), (1000,), (2, 4), (4, 2), (2, 2, 2), (3, 5), (5, 1, 7),
               (16, 16), (3, 200), (200, 3), (2, 3, 40)]


@pytest.mark.parametrize("shape", _SUM_SHAPES, ids=str)
def test_kernels_sum_in_numpys_order(shape, backend):
    rng = np.random.default_rng(len(shape) * 1000 + shape[-1])
    x = rng.normal(size=shape) * 10.0 ** rng.integers(-6, 6, size=shape)
    axes = [None] + [a for r in range(1, len(shape) + 1)
                     for a in itertools.combinations(range(len(shape)), r)]

    def f(v):                                # every axis combination in one kernel
        return [(np.sum(v * 1.5, axis=axis), np.mean(v - np.mean(v), axis=axis))
                for axis in axes]
    for axis, got, want in zip(axes, tracejit.jit(f, backend=backend)(x), f(x)):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w, err_msg=f"axis={axis}")


def test_a_branch_on_a_cancelling_sum_takes_pythons_path(backend):
    def f(x):
        centred = np.sum(x - np.mean(x))          # rounding noise: its sign is the order's
        return x * 2.0 if centred > 0 else x * 3.0
    compiled = tracejit.jit(f, backend=backend)
    rng = np.random.default_rng(5)
    for _ in range(20):
        x = rng.normal(size=300)
        np.testing.assert_array_equal(compiled(x), f(x))
