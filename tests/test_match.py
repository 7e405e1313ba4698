"""`match` statements with every pattern kind (issue 21): literal, capture, wildcard, value,
sequence (with a star), mapping (with `**rest`), class (positional via `__match_args__`, keyword,
the built-in classes that match themselves), or- and as-patterns, guards. Each case runs a
sequence of calls on one compiled function, taking different cases, against plain Python, and
its gradient against finite differences."""
from dataclasses import dataclass

import numpy as np
import pytest

import tracejit
from conftest import numerical_grad


@dataclass
class Point:
    x: float
    y: float


class Polar:
    __match_args__ = ("r", "angle")

    def __init__(self, r, angle):
        self.r, self.angle = r, angle


_MODES = {"double": 2.0}


def sequence_patterns(x):
    match (x[0], x[1], x[2]):
        case (a, b, _) if a > b:
            return a * b
        case (a, *rest) if len(rest) == 2:
            return a + rest[0] * rest[1]
    return np.sum(x)


def mapping_patterns(x):
    config = {"scale": x[0], "shift": 1.0, "name": "m"}
    if x[1] > 0.0:
        config = {"mode": "double", "value": x[1]}
    match config:
        case {"scale": s, **rest}:
            return s * x[2] + len(rest)
        case {"mode": "double", "value": v}:
            return v * _MODES["double"]
    return 0.0


def class_patterns(x):
    shape = Point(x[0], x[1]) if x[2] > 0.0 else Polar(x[0], x[1])
    match shape:
        case Point(x=px, y=py) if px > py:
            return px - py
        case Point(px, py):
            return px * py
        case Polar(r, angle=theta):
            return r * np.cos(theta)
    return 0.0


def builtin_classes(x):
    match float(x[0]):
        case float(v) if v > 0.0:
            total = v
        case v:
            total = -v
    match x[1]:
        case np.float64() | int():
            total = total * 2.0
    match x:
        case np.ndarray(shape=(3,)) as whole:
            total = total + np.sum(whole)
    return total


def literal_or_as(x):
    kind = int(x[0] > 0.0) + int(x[1] > 0.0)
    match (kind, bool(x[2] > 0.0)):
        case (0, _):
            return np.sum(x)
        case (1 | 2 as k, True):
            return np.sum(x) * k
        case (k, False):
            return np.sum(x) - k
    return 0.0


A = np.array
CASES = {
    sequence_patterns: [A([2.0, 1.0, 3.0]), A([1.0, 2.0, 3.0]), A([3.0, 1.0, 0.5])],
    mapping_patterns: [A([2.0, -1.0, 3.0]), A([1.0, 2.0, 3.0]), A([0.5, -2.0, 1.0])],
    class_patterns: [A([2.0, 1.0, 3.0]), A([1.0, 2.0, 3.0]), A([1.0, 0.5, -1.0]),
                     A([3.0, 1.0, 1.0])],
    builtin_classes: [A([2.0, 1.0, 3.0]), A([-1.0, 2.0, 3.0]), A([0.5, 0.5, 0.5])],
    literal_or_as: [A([-2.0, -1.0, 3.0]), A([1.0, -2.0, 3.0]), A([1.0, 2.0, 3.0]),
                    A([1.0, 2.0, -3.0])],
}


@pytest.mark.parametrize("fn", list(CASES), ids=lambda fn: fn.__name__)
def test_match_values_and_gradients(fn, backend):
    compiled = tracejit.jit(fn, backend=backend)
    grad = tracejit.jit_grad(fn, backend=backend)
    for x in CASES[fn]:
        np.testing.assert_allclose(compiled(x.copy()), fn(x.copy()), rtol=1e-12)
        np.testing.assert_allclose(grad(x.copy()), numerical_grad(fn, x), rtol=1e-5, atol=1e-7)


class _Keys:
    first = second = "a"       # value patterns: a duplicate the compiler cannot see


def test_match_errors_are_pythons():
    def duplicate_key(x):
        match {"a": 1, "b": 2}:
            case {_Keys.first: 1, _Keys.second: 2}:
                return x
        return x
    def too_many_positional(x):
        match x:
            case np.ndarray(a, b):
                return a
        return x
    for fn, error in ((duplicate_key, ValueError), (too_many_positional, TypeError)):
        with pytest.raises(error) as plain:
            fn(A([1.0]))
        with pytest.raises(error) as traced:
            tracejit.jit(fn)(A([1.0]))
        assert str(traced.value) == str(plain.value)
