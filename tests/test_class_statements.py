"""Class statements inside a traced function (issue 21): the body runs under the tracer, the
class is the function's own. Each case is checked against plain Python on inputs that take
different paths, and its gradient against finite differences, on both backends."""
import abc
import dataclasses
import enum
import functools
from typing import NamedTuple

import numpy as np
import pytest

import tracejit
from conftest import numerical_grad


class Base:
    def __init_subclass__(cls, **kwargs):
        cls.sign = 1.0 if cls.shift > 0 else -1.0     # natively run, on a traced class attribute


def subclass_hook(x):
    first = x[0]

    class Local(Base):
        shift = first * 2.0
    return np.sum(x) * Local.sign + Local.shift


def methods_and_super(x):
    class Scaled:
        def __init__(self, w):
            self.w = w

        def apply(self, v):
            return self.w * v

    class Shifted(Scaled):
        offset = x[1]

        def apply(self, v):
            return super().apply(v) + self.offset

    total = 0.0
    for item in (Scaled(2.0), Shifted(x[0])):      # a class made in the loop's iterable
        total = total + np.sum(item.apply(x))
    Shifted.offset = Shifted.offset * 3.0           # the function's own class: free to change
    return total + Shifted(1.0).apply(x[0]) + isinstance(Shifted(1.0), Scaled)


def class_in_a_loop(x):
    total = 0.0
    for i in range(4):
        class Step:
            k = i * x[0]
        total = total + Step.k * x[1]
        if total > 1.0:
            total = total * 0.5
    return total


def standard_library_factories(x):
    @dataclasses.dataclass(frozen=True)
    class Params:
        a: float
        b: float = 2.0

        def value(self):
            return self.a * self.b

    class Pair(NamedTuple):
        u: float
        v: float = 1.0

    class Mode(enum.Enum):
        SCALE = 3.0

    @functools.total_ordering
    class Ranked:
        def __init__(self, a):
            self.a = a

        def __lt__(self, other):
            return self.a < other.a

        def __eq__(self, other):
            return self.a == other.a

    class Shape(abc.ABC):
        @abc.abstractmethod
        def area(self, v):
            ...

    class Square(Shape):
        def area(self, v):
            return v * v

    pair = Pair(x[1])
    best = max(Ranked(x[0]), Ranked(x[1])).a
    return Params(x[0]).value() + pair.u * pair.v * Mode.SCALE.value + best + \
        np.sum(Square().area(x)) + len(dataclasses.fields(Params))


def user_metaclass(x):
    class Meta(type):
        def __new__(mcls, name, bases, namespace):
            namespace["scale"] = 3.0 if namespace["w"] > 0 else -1.0
            return super().__new__(mcls, name, bases, namespace)

    class K(metaclass=Meta):
        w = x[0]
    return K.scale * np.sum(x) + K.w


A = np.array
CASES = {
    subclass_hook: [A([1.0, 2.0]), A([-1.0, 2.0]), A([1.5, 3.0])],
    methods_and_super: [A([1.0, 2.0]), A([-0.5, 0.25])],
    class_in_a_loop: [A([0.1, 0.2]), A([1.0, 2.0]), A([0.05, 0.1])],
    standard_library_factories: [A([1.0, 2.0]), A([3.0, 0.5])],
    user_metaclass: [A([1.0, 2.0]), A([-1.0, 2.0]), A([2.0, 0.5])],
}


@pytest.mark.parametrize("fn", list(CASES), ids=lambda fn: fn.__name__)
def test_values_match_python(fn, backend):
    compiled = tracejit.jit(fn, backend=backend)
    for x in CASES[fn] + CASES[fn][::-1]:
        np.testing.assert_allclose(compiled(x.copy()), fn(x.copy()), rtol=1e-13)


@pytest.mark.parametrize("fn", list(CASES), ids=lambda fn: fn.__name__)
def test_gradients_match_finite_differences(fn, backend):
    grad = tracejit.jit_grad(fn, backend=backend)
    for x in CASES[fn]:
        np.testing.assert_allclose(grad(x.copy()), numerical_grad(fn, x), rtol=1e-6, atol=1e-8)


def test_a_class_made_inside_is_no_result():
    def fn(x):
        class Local:
            pass
        return x * 2.0, Local

    with pytest.raises(TypeError, match="fn returned a type"):
        tracejit.jit(fn)(A([1.0]))
