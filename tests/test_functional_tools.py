"""functools, itertools and operator with traced values (issue 21), and Python code that native
code calls back.

The C helpers that only move objects or apply the values' own operators let traced values
through; `functools.partial` and `lru_cache` wrappers are looked through; a Python function
given to native code (`functools.reduce(lambda ...)`, a key, a predicate) runs under the tracer
when called back, so its type tests and branches answer for the values, not for tracers.
"""
import functools
import itertools
import operator

import numpy as np
import pytest

import tracejit

X = np.array([0.7, -1.3, 2.1, 0.4])


def _items(x):
    return [x[0], x[1], x[2], x[3]]


CASES = {
    "partial of np.multiply with a traced argument":
        lambda x: np.sum(functools.partial(np.multiply, x)(2.5)),
    "partial called with a traced argument":
        lambda x: np.sum(functools.partial(np.multiply, 2.5)(x)),
    "partial of a user function with keywords":
        lambda x: np.sum(functools.partial(lambda a, b, c=1.0: a * b + c, b=3.0, c=0.5)(x)),
    "reduce with a lambda":
        lambda x: functools.reduce(lambda a, b: a * b, _items(x)),
    "reduce with operator.add and a start":
        lambda x: functools.reduce(operator.add, _items(x), 1.0),
    "reduce choosing by value":
        lambda x: functools.reduce(lambda a, b: a if a > b else b, _items(x)),
    "accumulate":
        lambda x: sum(itertools.accumulate(_items(x))),
    "accumulate with operator.mul":
        lambda x: sum(itertools.accumulate(_items(x), operator.mul)),
    "chain":
        lambda x: sum(itertools.chain(_items(x)[:2], [x[3]])),
    "chain.from_iterable":
        lambda x: sum(itertools.chain.from_iterable([_items(x)[:2], _items(x)[2:]])),
    "product":
        lambda x: sum(a * b for a, b in itertools.product(_items(x)[:2], _items(x)[2:])),
    "starmap":
        lambda x: sum(itertools.starmap(operator.mul, [(x[0], x[1]), (x[2], x[3])])),
    "pairwise":
        lambda x: sum((b - a) ** 2 for a, b in itertools.pairwise(_items(x))),
    "zip_longest":
        lambda x: sum(a * b for a, b in itertools.zip_longest(_items(x)[:2], _items(x), fillvalue=1.0)),
    "islice and count":
        lambda x: sum(v * k for v, k in zip(itertools.islice(_items(x), 3), itertools.count(1))),
    "combinations":
        lambda x: sum(a * b for a, b in itertools.combinations(_items(x), 2)),
    "takewhile on data":
        lambda x: sum(itertools.takewhile(lambda v: v < 2.0, _items(x))),
    "filterfalse on data":
        lambda x: sum(itertools.filterfalse(lambda v: v < 0, _items(x))),
    "groupby key on data":
        lambda x: sum(sum(g) * (2.0 if k else 1.0)
                      for k, g in itertools.groupby(_items(x), key=lambda v: v > 0)),
    "operator functions":
        lambda x: operator.truediv(operator.mul(x[0], x[1]), operator.add(x[2], 3.0))
        - operator.neg(x[3]) + operator.pow(x[2], 2),
    "itemgetter and attrgetter":
        lambda x: np.sum(operator.itemgetter(0, 2)(x)) + operator.attrgetter("T")(x)[1],
    "methodcaller":
        lambda x: operator.methodcaller("sum")(x * x),
    "map with operator.mul":
        lambda x: sum(map(operator.mul, _items(x), _items(x))),
    "sorted with a key on data":
        lambda x: sorted(_items(x), key=lambda v: abs(v))[0] * 2.0,
}


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_python(name, backend):
    fn = CASES[name]
    value_and_grad = tracejit.value_and_grad(fn, backend=backend)
    for x in (X, -X * 0.8, X[::-1].copy()):          # another path on the later calls
        value, gradient = value_and_grad(x)
        assert type(value) is type(fn(x))
        np.testing.assert_allclose(value, fn(x), rtol=1e-12)
        eps = 1e-6
        numeric = [(fn(x + eps * e) - fn(x - eps * e)) / (2 * eps) for e in np.eye(x.size)]
        np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-8)


def test_callback_type_tests_answer_for_the_values(backend):
    """A Python function called back by native code runs under the tracer: `x[i]` is an
    np.float64, which *is* a float. Natively it would have seen a tracer (300.0 here)."""
    def total(x):
        return functools.reduce(
            lambda acc, i: acc + (x[i] if isinstance(x[i], float) else 100.0), range(3), 0.0)
    compiled = tracejit.jit(total, backend=backend)
    x = np.array([1.0, 2.0, 3.0])
    assert compiled(x) == total(x) == 6.0
    assert compiled(x * 2) == total(x * 2)


def test_callback_closing_over_traced_values_through_an_unknown_native(backend):
    """A native tracejit knows nothing about, calling back a Python function that reads traced
    values from its closure: the callback runs under the tracer, re-run on every call."""
    def scaled(x):
        return sum(map(lambda i: x[i] * i, range(3))) + functools.reduce(
            lambda a, b: a + x[b], [0, 1], 0.0)
    compiled = tracejit.jit(scaled, backend=backend)
    for x in (np.array([1.0, 2.0, 3.0]), np.array([-4.0, 0.5, 9.0])):
        assert compiled(x) == scaled(x)


def test_partial_held_outside_follows_its_array(backend):
    """A global partial whose bound array changes in place: re-read on every call."""
    weights = np.array([1.0, 2.0])
    scale = functools.partial(np.multiply, weights)

    def f(x):
        return np.sum(scale(x))
    compiled = tracejit.jit(f, backend=backend)
    x = np.array([3.0, 4.0])
    assert compiled(x) == f(x)
    weights[0] = -5.0
    assert compiled(x) == f(x)


def test_lru_cached_helper_with_traced_arguments(backend):
    """The cached function is traced itself: its cache never holds a traced value, and a
    traced int argument (int arguments are trace inputs) reaches it."""
    @functools.lru_cache(maxsize=None)
    def coefficient(k):
        return 1.0 / (k + 1)

    def f(x, k):
        return np.sum(x) * coefficient(k)
    compiled = tracejit.jit(f, backend=backend)
    x = np.array([1.0, 2.0])
    for k in (0, 3, 7):
        assert compiled(x, k) == f(x, k)
    assert all(type(v) is float for v in (coefficient(0), coefficient(3)))


def test_native_iterator_in_a_long_loop(backend):
    """A loop over an itertools iterator whose items are made during the loop (accumulate's
    running total): right for any data, with gradients."""
    def f(x):
        s = 0.0
        for v in itertools.accumulate([x[i] for i in range(40)]):
            s = s + v * 0.1
        return s
    grad = tracejit.value_and_grad(f, backend=backend)
    for x in (np.linspace(0.5, 1.2, 40), np.linspace(-1.0, 3.0, 40)):
        value, gradient = grad(x)
        np.testing.assert_allclose(value, f(x), rtol=1e-12)
        np.testing.assert_allclose(gradient, 0.1 * np.arange(40, 0, -1), rtol=1e-12)
