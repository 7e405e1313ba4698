"""Python semantics around traced values: scalar conversions, the math module, builtins, in-place
updates, indexing, and the errors for what is not supported. Each case compares the traced value
with plain execution and the gradient with central finite differences."""
import math

import numpy as np
import pytest

import tracejit
from conftest import SUITE_BACKEND, numerical_grad


def _float_item_int(x):
    n = int(x[2] * 10)                 # steers nothing here, but is an int: guarded
    return float(x[0]) * x[1].item() + n * x[2] + round(float(x[1]), 1) * x[0]


def _math_module(x):
    a, b = x[0], x[1]
    return (math.sin(a) + math.exp(b) + math.log(b) + math.sqrt(b) + math.tanh(a)
            + math.log(b, 3) + math.atan2(a, b) + math.erf(a) + math.lgamma(b + 1)
            + math.pi * a + math.hypot(a, b) + math.floor(b * 10) * a)


def _builtins(x):
    return (abs(x[0] - 1) + sum(x) + max(x[0], x[1]) * min(x[1], x[2]) + len(x) * x[2]
            + sum([x[0] ** 2, x[1]]) + max(float(x[0]), 0.1))


def _inplace(x):
    y = np.zeros(5)
    y[0] = x[0]
    y[1:4] = x * 2
    y[1:3] *= 3
    y[-1] += x.sum()
    z = x.copy()
    z += x ** 2
    z[::-1] -= x
    w = np.ones((3, 3))
    w[:, 1] = x
    w[[0, 2], 0] = x[:2]
    w[w > 2] = 0.0
    return np.sum(y ** 2) + np.sum(z * w[0]) + np.sum(w ** 2)


def _views(x):
    m = np.zeros((3, 3))
    row = m[1]                  # a view: writing to it writes to m
    row[:] = x
    row *= 2
    return np.sum(m * np.arange(9.0).reshape(3, 3))


def _add_at(x):
    acc = np.zeros(4)
    np.add.at(acc, [0, 2, 0, 3], np.r_[x, x[0]])
    grid = np.zeros((3, 2))
    np.add.at(grid, (np.array([0, 0, 2]), 1), x)
    return np.sum(acc ** 2) + np.sum(grid ** 3)


def _indexing(x):
    m = np.outer(x, np.arange(1.0, 5.0))                   # (3, 4)
    parts = [
        m[1], m[-1, ::-2], m[None, 1:, ...], m[..., 2], m[:, None, 1], m[::-1, ::-1],
        m[[0, 2]], m[[0, 0, 1], [3, 2, 1]], m[:, [1, 3]], m[m > 1.5], m[1, [0, 0, 3]],
        m[np.array([[0, 1], [2, 2]])], m[1:, np.array([True, False, True, False])],
    ]
    total = 0.0
    for p in parts:
        total = total + np.sum(np.sin(p))
    return total


def _nonzero(x):
    m = np.outer(x, x)
    i, j = np.nonzero(m > 0.6)
    (k,) = np.where(x > 0.5)
    return (np.sum(m[i, j] ** 2) + np.sum(x[k]) + np.sum(x[np.flatnonzero(x < 1.0)])
            + np.sum(np.argwhere(m > 0.6)) * x[0])


def _tolist(x):
    values = (x * 2).tolist()
    rows = np.outer(x, x).tolist()
    return values[0] * values[2] + sum(rows[1]) + max(values)


def _control_flow(x):
    total = 0.0
    for v in x:
        if v > 0.5:
            total = total + v ** 2
        else:
            total = total - v
    k = 0
    while total < 5.0 and k < 10:
        total = total * 1.5
        k += 1
    return total


CASES = [_float_item_int, _math_module, _builtins, _inplace, _views, _add_at, _indexing,
         _nonzero, _tolist, _control_flow]


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("x", [np.array([0.3, 1.23, 0.77]), np.array([0.9, 0.47, 1.63])])
def test_value_and_gradient(fn, x):
    value, grad = tracejit.value_and_grad(fn, backend=SUITE_BACKEND)(x.copy())
    assert np.isclose(value, fn(x.copy()), rtol=1e-12)
    np.testing.assert_allclose(grad, numerical_grad(fn, x.copy()), rtol=1e-5, atol=1e-6)


def _uses_unsupported(x):
    return np.sum(np.unwrap(x))


def test_unsupported_numpy_function_names_it_at_the_users_line():
    with pytest.raises(tracejit.UnsupportedError) as info:
        tracejit.jit_grad(_uses_unsupported)(np.ones(2))
    text = str(info.value)
    assert "numpy.unwrap" in text and "tracejit.custom_vjp" in text
    line = _uses_unsupported.__code__.co_firstlineno + 1
    assert f"test_python_semantics.py:{line}" in text


@pytest.mark.parametrize("call", [
    lambda x: np.sum(x, out=np.zeros(())), lambda x: np.exp(x, out=np.zeros(3)),
    lambda x: np.cumsum(x, out=np.zeros(3)), lambda x: np.dot(x, x, out=np.zeros(()))])
def test_out_argument_is_refused(call):
    with pytest.raises(tracejit.UnsupportedError, match="out="):
        tracejit.jit(lambda x: call(x))(np.ones(3))


def _write_through_view_of_argument(x):
    y = x[1:]
    y[0] = 5.0
    return np.sum(x ** 2)


def _augmented_argument(x):
    x += 1.0
    return np.sum(x ** 2)


@pytest.mark.parametrize("fn", [_write_through_view_of_argument, _augmented_argument])
def test_writes_into_arguments_are_refused(fn):
    """NumPy would change the caller's array; the compiled function would not."""
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(tracejit.UnsupportedError, match="in-place write into argument"):
        tracejit.jit_grad(fn)(x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_augmented_assignment_to_a_python_float_rebinds():
    def f(x, s):
        before = s
        s += 1.0              # a new float; `before` keeps the old one
        return np.sum(x ** 2) * s + before
    x = np.array([1.0, 2.0, 3.0])
    value, (gx, gs) = tracejit.value_and_grad(f, argnums=(0, 1))(x, 2.0)
    assert value == f(x, 2.0)
    np.testing.assert_allclose(gx, 2 * x * 3.0)
    assert gs == pytest.approx(np.sum(x ** 2) + 1.0)


def test_tracejit_numpy_namespace_mirrors_numpy():
    """`import tracejit.numpy as np`: submodules stay modules, names keep NumPy's meaning."""
    import types

    import tracejit.numpy as tnp
    assert isinstance(tnp.fft, types.ModuleType) and isinstance(tnp.linalg, types.ModuleType)
    assert not hasattr(np, "norm") and not hasattr(tnp, "norm")
    x = np.array([0.25, 1.5, -2.0])
    np.testing.assert_array_equal(tnp.round(x, 1), np.round(x, 1))
    np.testing.assert_allclose(tnp.fft.rfft(x), np.fft.rfft(x))


def _python_number_division(x):
    v = float(x[0])                      # a Python float: dividing it by zero raises
    return 1.0 / v + (v % 2.0) + (v // 0.5) + np.sum(x)


def test_dividing_python_numbers_by_zero_raises_as_python_does(backend):
    compiled = tracejit.jit(_python_number_division, backend=backend)
    assert compiled(np.array([1.5, 2.0])) == _python_number_division(np.array([1.5, 2.0]))
    with pytest.raises(ZeroDivisionError):
        compiled(np.array([0.0, 2.0]))
    assert compiled(np.array([3.0, 2.0])) == _python_number_division(np.array([3.0, 2.0]))
    # NumPy scalars and arrays keep NumPy's rule (inf, with a warning)
    with np.errstate(divide="ignore"):
        assert tracejit.jit(lambda x: np.sum(x) / x[0], backend=backend)(np.array([0.0, 1.0])) \
            == np.inf
