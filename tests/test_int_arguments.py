"""Python int arguments are trace inputs, as in JAX: a trace serves every value and guards one
only where the program depends on it (a shape, a count, an index, a branch). Each function
below reads an int argument one way; it is called on a sequence of values that changes what the
int decides (including values that make plain Python raise), and every call must agree with
plain Python: the same value and type, or the same exception class."""
import math

import numpy as np
import pytest

import tracejit

X = np.arange(1.0, 13.0)
USES = {
    "zeros": lambda x, n: np.zeros(n).sum() + x.sum(),
    "ones_shape": lambda x, n: np.ones((n, 2)).sum() * x[0],
    "eye": lambda x, n: np.eye(n).sum() * x[1],
    "arange": lambda x, n: np.arange(1, n, 2).sum() + x[0],
    "linspace": lambda x, n: np.linspace(0, 1, n).sum() * x[0],
    "full": lambda x, n: np.full(n, 1.5).sum() * x[0],
    "reshape_method": lambda x, n: x.reshape(n, -1).sum(axis=0),
    "reshape": lambda x, n: np.reshape(x, (n, -1))[0],
    "slice": lambda x, n: x[:n].sum(),
    "slice_both": lambda x, n: x[n:2 * n],
    "step": lambda x, n: x[::n],
    "index": lambda x, n: x[n],
    "negative_index": lambda x, n: x[-n],
    "index_2d": lambda x, n: x.reshape(3, 4)[n % 4, n],
    "roll": lambda x, n: np.roll(x, n),
    "repeat": lambda x, n: np.repeat(x[:3], n),
    "tile": lambda x, n: np.tile(x[:2], n),
    "axis": lambda x, n: np.cumsum(x.reshape(3, 4), axis=n % 2),
    "range": lambda x, n: sum(x[i] for i in range(n)),
    "list_repeat": lambda x, n: len([0] * n) * x[0],
    "concatenate_repeat": lambda x, n: np.concatenate([x[:2]] * n),
    "power": lambda x, n: x ** n,
    "np_power": lambda x, n: np.power(x, n),
    "round": lambda x, n: np.round(x / 7, n),
    "python_round": lambda x, n: round(float(x[0]) / 7, n),
    "branch": lambda x, n: x * 2 if n > 3 else x - 1,
    "list_index": lambda x, n: [x[0], x[1], x[2], x[3], x[4], x[5]][n],
    "dict_get": lambda x, n: {1: x[0], 2: x[1]}.get(n, x[2]),
    "text": lambda x, n: x[0] * len(f"{n}") + len(hex(n)),
    "membership": lambda x, n: x[0] * (n in (1, 2, 3)),
    "arithmetic": lambda x, n: x * (n * 3 - 1) / (n + 0.5) + n // 2 + n % 3,
    "true_division": lambda x, n: x[0] * (7 / n),
    "floor_division": lambda x, n: x[0] * (7 // n),
    "divmod": lambda x, n: x[0] * divmod(17, n)[0],
    "bitwise": lambda x, n: x[0] * (1 << abs(n)) + (n & 1) + (n ^ 2) + (n | 4),
    "builtins": lambda x, n: x[0] * max(n, 3) + min(n, 2) + abs(n) + float(n) + bool(n),
    "clip": lambda x, n: np.clip(x, n, 2 * n),
    "where": lambda x, n: np.where(x > n, x, n),
    "astype": lambda x, n: (x * n).astype(int),
    "matrix_power": lambda x, n: np.linalg.matrix_power(x[:4].reshape(2, 2), n).sum(),
    "returned": lambda x, n: (x[0] * n, n),
    # native code that reads the int by value (guarded): were refused, or raised TypeError
    "factorial": lambda x, n: x[0] * (math.factorial(abs(n)) % 1009),
    "comb": lambda x, n: x[0] * math.comb(abs(n) + 3, 3),
    "pow_modulo": lambda x, n: x[0] * pow(abs(n) + 2, 65537, 1000003),
    "int_methods": lambda x, n: x[0] * (n.bit_length() + len(n.to_bytes(8, "little", signed=True))),
    "gcd": lambda x, n: x[0] * math.gcd(n, 12),
}
VALUES = [3, 4, 3, 1, 2, 6, 0, -1, 13, 3]


def _outcome(fn, n):
    try:
        with np.errstate(all="ignore"):
            return "value", fn(X, n)
    except Exception as error:                       # noqa: BLE001 - the class is compared
        return "error", type(error)


def _same(want, got):
    if want[0] != got[0] or want[0] == "error":
        return want == got
    w, g = want[1], got[1]
    if isinstance(w, tuple):
        return type(g) is tuple and len(w) == len(g) and all(
            _same(("value", a), ("value", b)) for a, b in zip(w, g))
    return type(w) is type(g) and np.shape(w) == np.shape(g) and \
        np.asarray(w).dtype == np.asarray(g).dtype and np.array_equal(w, g, equal_nan=True)


@pytest.mark.parametrize("use", sorted(USES))
def test_int_argument_answers_as_python_does(use):
    fn = USES[use]
    compiled = tracejit.jit(fn)
    for n in VALUES:
        assert _same(_outcome(fn, n), _outcome(compiled, n)), (use, n)


@pytest.mark.parametrize("use", ["arithmetic", "index", "power", "where", "range", "bitwise",
                                 "pow_modulo", "int_methods"])
def test_int_argument_on_numba(use):
    fn = USES[use]
    compiled = tracejit.jit(fn, backend="numba")
    for n in VALUES[:6]:
        assert _same(_outcome(fn, n), _outcome(compiled, n)), (use, n)


def test_an_iteration_number_does_not_retrace(backend):
    """autograd's optimizers call grad(objective)(params, i) with the step number: one trace
    serves every step when the objective only computes with it."""
    def objective(w, i):
        rate = 0.1 * 0.99 ** i
        return np.sum((w - i * 0.01) ** 2) * rate

    grad = tracejit.jit_grad(objective, backend=backend)
    w = np.array([1.0, 2.0])
    for i in range(12):
        expected = 2 * (w - i * 0.01) * 0.1 * 0.99 ** i
        np.testing.assert_allclose(grad(w, i), expected, rtol=1e-13)
    stats = grad.stats()
    assert stats["misses"] == 1 and stats["hits"] == 11, stats


def test_an_int_that_decides_a_shape_retraces_per_value():
    compiled = tracejit.jit(lambda x, n: np.sum(x[:n]))
    for n in (2, 3, 2, 3):
        assert compiled(X, n) == np.sum(X[:n])
    assert compiled.stats()["misses"] == 2


def test_huge_ints_stay_python_values():
    """Ints beyond int64 arithmetic are keyed by value, computed by Python exactly."""
    compiled = tracejit.jit(lambda x, n: (x[0] * (n % 7), n * n))
    for n in (2 ** 70, 2 ** 70 + 1, 5):
        got = compiled(X, n)
        assert got[1] == n * n and type(got[1]) is int and got[0] == X[0] * (n % 7)
