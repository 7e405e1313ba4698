"""Calls ordinary code makes on traced values: NumPy's closeness tests, the standard library's
comparison-only helpers, float methods, JSON text, objects made by a user `__new__`.

Each matches plain Python on several inputs (NaN, infinities, ties), or is refused with a clear
error; none may raise where Python does not.
"""
import bisect
import heapq
import json

import numpy as np
import pytest

import tracejit

PAIRS = [
    (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])),
    (np.array([1.0, 2.0, np.nan]), np.array([1.0, 2.000001, np.nan])),
    (np.array([np.inf, 2.0, 3.0]), np.array([np.inf, 2.5, 3.0])),
    (np.array([0.0, -np.inf, 1e-9]), np.array([1e-9, -np.inf, 0.0])),
]
CLOSENESS = {
    "isclose": lambda x, y: np.isclose(x, y),
    "isclose of scalars": lambda x, y: np.isclose(x[0], y[0], atol=0.1),
    "isclose equal_nan": lambda x, y: np.isclose(x, y, equal_nan=True),
    "isclose with ints": lambda x, y: np.isclose(x, np.array([1, 2, 3])),
    "allclose": lambda x, y: np.allclose(x, y),
    "allclose rtol": lambda x, y: np.allclose(x, y, rtol=0.5),
    "array_equal": lambda x, y: np.array_equal(x, y),
    "array_equal equal_nan": lambda x, y: np.array_equal(x, y, equal_nan=True),
    "array_equal other shape": lambda x, y: np.array_equal(x, y[:2]),
    "array_equiv": lambda x, y: np.array_equiv(x, y[:1]),
    "a branch on allclose": lambda x, y: np.sum(x) if np.allclose(x, y) else np.sum(y) * 2,
}


@pytest.mark.parametrize("name", list(CLOSENESS))
def test_closeness_tests_match_numpy(name, backend):
    fn = CLOSENESS[name]
    compiled = tracejit.jit(fn, backend=backend)
    for x, y in PAIRS:
        want, got = fn(x, y), compiled(x, y)
        assert type(got) is type(want)
        np.testing.assert_array_equal(got, want)


SCALAR_CALLS = {
    "json.dumps": lambda x: json.loads(json.dumps({"a": float(x[0]), "b": [x[1]]}))["a"],
    "float.hex": lambda x: float(len(float(x[0]).hex())),
    "float.as_integer_ratio": lambda x: float(float(x[0]).as_integer_ratio()[1]),
    "float.is_integer": lambda x: float(float(x[0] * 2.0).is_integer()),
    "np.float64.is_integer": lambda x: float(x[1].is_integer()),
    "bisect": lambda x: x[0] * bisect.bisect([0.0, 1.0, 2.0], float(x[1])),
    "heapq.nsmallest": lambda x: heapq.nsmallest(2, [x[0], x[1], x[2]])[1],
    "heapq push and pop": lambda x: _heap_sum(x),
}


def _heap_sum(x):
    heap = []
    for v in (x[0], x[1], x[2]):
        heapq.heappush(heap, v)
    return heapq.heappop(heap) * 2.0 + heap[0]


@pytest.mark.parametrize("name", list(SCALAR_CALLS))
def test_scalar_calls_match_python(name, backend):
    fn = SCALAR_CALLS[name]
    compiled = tracejit.jit(fn, backend=backend)
    for x in (np.array([0.5, 1.25, 2.0]), np.array([-2.0, 3.5, 0.1]), np.array([1.0, 1.0, 1.0])):
        assert compiled(x) == fn(x)


class Cached:
    """A class with its own __new__ that sets attributes on the object super() makes."""

    def __new__(cls, value):
        self = super().__new__(cls)
        self.value = value * 2.0
        return self


def test_object_made_by_super_new_is_the_traces(backend):
    def f(x):
        return Cached(x[0]).value + x[1]
    compiled = tracejit.jit(f, backend=backend)
    x = np.array([1.5, -0.5])
    assert compiled(x) == f(x)


def test_traced_value_inside_a_dict_given_to_native_code_is_refused():
    """A C function tracejit cannot look inside, given a dict holding a traced value: a clear
    refusal, not the TypeError the C code would raise on a tracer."""
    import operator

    def f(x):
        return operator.length_hint({"a": x[0]}) * x[0]   # length_hint is not a safe native
    with pytest.raises(tracejit.UnsupportedError, match="length_hint"):
        tracejit.jit(f)(np.array([1.0]))


# ---- NumPy functions given Python lists of traced scalars (autograd's tests build them) ---------
def _entries(x):
    out = []
    for i in range(x.size):
        out.append(x[i] * (i + 1.0))
    return out


LIST_CALLS = {
    "mean": lambda x: np.mean(_entries(x)),
    "std": lambda x: np.std(_entries(x)),
    "var ddof": lambda x: np.var(_entries(x), ddof=1),
    "sum prod": lambda x: np.sum(_entries(x)) * np.prod(_entries(x)),
    "max min": lambda x: np.max(_entries(x)) - np.min(_entries(x)),
    "median average": lambda x: np.median(_entries(x)) + np.average(_entries(x)),
    "shape ndim size": lambda x: np.sum(_entries(x)) * (np.shape(_entries(x))[0] + np.ndim(
        _entries(x)) + np.size(_entries(x))),
    "array of floats and traced": lambda x: np.sum(np.array([x[0], 2.0, x[1] * x[2]]) ** 2),
    "nested lists": lambda x: np.sum(np.array([[x[0], 1.0], [x[1], x[2] ** 2]]) @ np.ones(2)),
    "mean over an axis": lambda x: np.sum(np.mean([[x[0], x[1]], [x[2], 1.0]], axis=0) ** 2),
}


@pytest.mark.parametrize("name", list(LIST_CALLS))
def test_lists_of_traced_scalars(name, backend):
    fn = LIST_CALLS[name]
    x = np.array([0.7, -1.3, 2.1])
    assert tracejit.jit(fn, backend=backend)(x) == fn(x)
    got = tracejit.jit_grad(fn, backend=backend)(x)
    h = 1e-6
    expected = [(fn(x + e * h) - fn(x - e * h)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def test_import_loads_neither_scipy_nor_numba():
    """SciPy (0.25-0.3 s) and numba load when first needed: a SciPy callable met while tracing,
    the first kernel build; so do the bytecode decoder (the first trace) and the build process's
    pipes (the first background build). benchmarks/import_time.py measures what is left."""
    import subprocess
    import sys
    code = ("import sys, tracejit; print(sorted(m for m in ('scipy', 'scipy.special', 'numba', "
            "'bytecode', 'multiprocessing.connection', 'subprocess') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
