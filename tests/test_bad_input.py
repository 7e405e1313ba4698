"""Bad and unusual input: NaN/inf propagate as in NumPy; unusual array layouts work; what cannot
work fails at once with a message naming the argument or construct, the file and line, and what
to do; runaway tracing (deep recursion, endless loops, huge traces) stops with a clear error."""
import math
import time
import warnings

import numpy as np
import pytest

import tracejit
from conftest import numerical_grad
from tracejit.errors import TracejitError, UnsupportedError
from tracejit.frontend import context

HERE = __file__


def smooth(x):
    return np.sum(np.sin(x) * x + np.exp(np.tanh(x)))


def smooth_grad(x):
    t = np.tanh(x)
    return np.cos(x) * x + np.sin(x) + np.exp(t) * (1 - t * t)


def where_defined(fn):
    return f"{HERE}:{fn.__code__.co_firstlineno}"


# ---- NaN and inf ---------------------------------------------------------------------------------
def relu_sum(x):
    return np.sum(np.maximum(x, 0.0) * 2.0)


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_propagate_as_in_numpy(special, backend):
    x = np.array([0.5, special, -1.0])
    with np.errstate(all="ignore"):
        value, grad = tracejit.value_and_grad(smooth, backend=backend)(x)
        np.testing.assert_array_equal(value, smooth(x))         # nan == nan here
        np.testing.assert_allclose(grad, smooth_grad(x), rtol=1e-12, equal_nan=True)
        np.testing.assert_array_equal(tracejit.jit(relu_sum, backend=backend)(x), relu_sum(x))


def branch_on_mean(x):
    if np.mean(x) > 0.0:
        return np.sum(x * 2.0)
    return np.sum(x * -3.0)


def test_nan_decides_branches_as_python_does(backend):
    f = tracejit.jit(branch_on_mean, backend=backend)
    for x in (np.array([1.0, 2.0]), np.array([1.0, np.nan]), np.array([-1.0, -2.0]),
              np.array([np.inf, 1.0])):
        np.testing.assert_array_equal(f(x), branch_on_mean(x))


# ---- layouts -------------------------------------------------------------------------------------
def _layouts():
    base = np.random.default_rng(3).standard_normal((4, 6))
    readonly = base.copy()
    readonly.flags.writeable = False
    return {"non-contiguous": base[:, ::2], "transposed": base.T,
            "fortran": np.asfortranarray(base), "read-only": readonly,
            "broadcast view": np.broadcast_to(base[0], (3, 6)), "negative stride": base[::-1]}


@pytest.mark.parametrize("name", sorted(_layouts()))
def test_unusual_layouts(name, backend):
    x = _layouts()[name]
    before = x.copy()
    value, grad = tracejit.value_and_grad(smooth, backend=backend)(x)
    assert value == pytest.approx(smooth(x), rel=1e-12)
    np.testing.assert_allclose(grad, smooth_grad(x), rtol=1e-12)
    assert grad.shape == x.shape
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0, 2)])
def test_zero_size_arrays(shape, backend):
    x = np.zeros(shape)
    value, grad = tracejit.value_and_grad(smooth, backend=backend)(x)
    assert value == smooth(x) == 0.0
    assert grad.shape == shape
    mean_of = tracejit.jit(lambda a: np.sum(a, axis=0) * 2.0, backend=backend)
    np.testing.assert_array_equal(mean_of(x), np.sum(x, axis=0) * 2.0)


def test_memmap_and_subclass_are_keyed_by_shape(tmp_path, backend):
    class Tagged(np.ndarray):
        pass
    f = tracejit.jit(lambda x: np.sum(x * np.arange(x.shape[0])), backend=backend)
    for n in (3, 4, 1):
        x = np.linspace(0.0, 1.0, n).view(Tagged)
        assert f(x) == pytest.approx(np.sum(np.asarray(x) * np.arange(n)))
    path = tmp_path / "data.bin"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=(5,))
    mm[:] = np.arange(5.0)
    assert f(mm) == pytest.approx(np.sum(np.arange(5.0) * np.arange(5)))


# ---- arguments that cannot work: a clear error naming the argument, file and line --------------
def two_args(x, y):
    return np.sum(x * y)


@pytest.mark.parametrize("args, expected", [
    ((np.ones(2),), "missing a required argument: 'y'"),
    ((np.ones(2), np.ones(2), np.ones(2)), "too many positional arguments"),
])
def test_wrong_argument_count(args, expected, backend):
    with pytest.raises(TypeError) as info:
        tracejit.jit(two_args, backend=backend)(*args)
    assert expected in str(info.value) and "two_args" in str(info.value)
    assert where_defined(two_args) in str(info.value)


def _matrix(rows):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)    # np.matrix is discouraged
        return np.matrix(rows)


@pytest.mark.parametrize("value, words", [
    (np.array([1.0, None], dtype=object), ["argument x", "object array", "numpy.asarray"]),
    (np.array([1 + 2j, 3j]), ["complex", "float"]),
    (np.ma.array([1.0, 2.0], mask=[0, 1]), ["argument x", "MaskedArray", ".filled"]),
    (_matrix([[1.0, 2.0]]), ["argument x", "matrix", "numpy.asarray"]),
    ((v * 1.0 for v in range(3)), ["argument x", "generator", "list"]),
    (iter([1.0, 2.0]), ["argument x", "iterator"]),
])
@pytest.mark.parametrize("transform", ["jit", "jit_grad"])
def test_unsupported_argument_kinds(value, words, transform, backend):
    with pytest.raises(TracejitError) as info:
        getattr(tracejit, transform)(smooth, backend=backend)(value)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert where_defined(smooth) in message, message


def stack_rows(rows):
    return np.sum(np.array(rows) * 2.0)


def test_ragged_nested_lists(backend):
    with pytest.raises(ValueError) as info:
        tracejit.jit(stack_rows, backend=backend)([[1.0, 2.0], [3.0]])
    message = str(info.value)
    assert "ragged" in message and f"{HERE}:{stack_rows.__code__.co_firstlineno + 1}" in message
    # the same nested lists, rectangular, are fine
    assert tracejit.jit(stack_rows, backend=backend)([[1.0, 2.0], [3.0, 4.0]]) == 20.0


# ---- runaway tracing -----------------------------------------------------------------------------
def deep(x, n):
    if n == 0:
        return x
    return deep(x, n - 1) * 1.0


def test_recursion_deeper_than_the_limit(backend):
    start = time.perf_counter()
    with pytest.raises(UnsupportedError) as info:
        tracejit.jit(lambda x: np.sum(deep(x, 10_000)), backend=backend)(np.ones(2))
    message = str(info.value)
    assert "nested deeper than" in message and "MAX_DEPTH" in message
    assert f"{HERE}:{deep.__code__.co_firstlineno + 3}" in message
    assert time.perf_counter() - start < 30
    assert tracejit.jit(lambda x: np.sum(deep(x, 20)), backend=backend)(np.ones(2)) == 2.0


def test_recursion_when_python_stack_is_small(backend, monkeypatch):
    """Python's own recursion limit hit first still gives tracejit's message, not a bare
    RecursionError from deep inside the interpreter."""
    import sys
    monkeypatch.setattr(context, "MAX_DEPTH", 10_000)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(400)
    try:
        with pytest.raises(UnsupportedError, match="nested deeper than"):
            tracejit.jit(lambda x: np.sum(deep(x, 5_000)), backend=backend)(np.ones(2))
    finally:
        sys.setrecursionlimit(old)


def endless(x):
    while np.sum(x) > 0.0:         # never false: x only grows
        x = x * 1.5
    return np.sum(x)


def spins(x):
    n = 0
    while True:
        n += 1
    return x


def long_unrolled(x):
    for i in range(100_000):
        x = np.sin(x) + i * 0.5 if i % 3 else x * 0.5
    return np.sum(x)


@pytest.mark.parametrize("fn, limit, words, lines", [
    # rolled into a loop op, an endless loop stays short: the iteration limit stops it
    (endless, ("MAX_LOOP_ITERATIONS", 20_000), "more than 20000 iterations", (1, 2)),
    (long_unrolled, ("MAX_TRACE_OPS", 2_000), "trace grew past 2000 operations", (1, 2)),
    (spins, ("MAX_LOOP_ITERATIONS", 20_000), "more than 20000 iterations", (2, 3)),
])
def test_runaway_tracing_stops_with_a_clear_error(fn, limit, words, lines, backend, monkeypatch):
    monkeypatch.setattr(context, *limit)
    start = time.perf_counter()
    with np.errstate(all="ignore"), pytest.raises(UnsupportedError) as info:
        tracejit.jit(fn, backend=backend)(np.ones(3))
    message = str(info.value)
    assert words in message and limit[0] in message, message
    assert any(f"{HERE}:{fn.__code__.co_firstlineno + n}:" in message for n in lines), message
    assert time.perf_counter() - start < 60


def test_default_limits_are_finite_and_generous():
    assert 50_000 <= context.MAX_TRACE_OPS <= 1_000_000
    assert 100_000 <= context.MAX_LOOP_ITERATIONS <= 10_000_000
    assert 50 <= context.MAX_DEPTH <= 150


# ---- every error tracejit raises is also of a standard class --------------------------------------
def _returns_array(x):
    return x * 2.0


def _reads_clock(x):
    import time
    return x * time.time()


@pytest.mark.parametrize("call, standard", [
    (lambda: tracejit.grad(_returns_array)(np.ones(2)), TypeError),     # not a scalar result
    (lambda: tracejit.grad(lambda x: np.sum(x), argnums=3)(np.ones(2)), TypeError),  # as JAX
    (lambda: tracejit.jit(_reads_clock)(np.ones(2)), NotImplementedError),   # a refusal
])
def test_errors_are_of_standard_classes(call, standard):
    """`except TypeError` around a call catches a wrong argument as in plain Python; all of
    them are TracejitErrors too."""
    with pytest.raises(standard) as info:
        call()
    assert isinstance(info.value, tracejit.TracejitError)


def test_users_except_inside_the_function_does_not_catch_a_refusal():
    """A refusal is of a standard class now: the user's own `except NotImplementedError` (or
    `except Exception`) inside the traced function must still not swallow it."""
    def f(x):
        try:
            return _reads_clock(x)
        except (NotImplementedError, Exception):
            return x * 0.0
    with pytest.raises(tracejit.UnsupportedError, match="clock"):
        tracejit.jit(f)(np.ones(2))


def test_math_function_with_the_wrong_number_of_arguments_raises_as_python():
    compiled = tracejit.jit(lambda x: math.sin(float(x[0]), 1.0))
    with pytest.raises(TypeError, match=r"math.sin\(\) takes exactly 1 argument"):
        compiled(np.ones(2))


def test_a_refusal_deep_inside_names_the_users_line():
    """math.hypot of three traced coordinates is refused in the math shim, which knows no
    line; the interpreter adds the user's (it was an internal TypeError before)."""
    def norm3(x):
        return math.hypot(float(x[0]), float(x[1]), 2.0)
    with pytest.raises(NotImplementedError, match=r"test_bad_input.py:\d+: math.hypot of 3"):
        tracejit.jit(norm3)(np.ones(2))
