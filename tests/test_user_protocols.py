"""Operators and protocol builtins on objects of user classes run their Python special methods
under the tracer (frontend/protocols.py).

Natively, `Dual.__mul__` would see a tracer where plain Python sees a float (its isinstance test
failing), and `len(bag)` / `sum(bag)` / `np.array(bag)` of a bag held outside the function would
read its items once, at trace time. Each case is checked against plain Python on several inputs
(the later ones taking other paths), values and gradients, on both backends.
"""
import collections
import array

import numpy as np
import pytest

import tracejit


class Dual:
    """A forward-mode dual number written the way users write them: type tests on `other`."""

    def __init__(self, v, d):
        self.v, self.d = v, d

    def __mul__(self, other):
        if isinstance(other, (int, float)):
            return Dual(self.v * other, self.d * other)
        return Dual(self.v * other.v, self.v * other.d + self.d * other.v)

    __rmul__ = __mul__

    def __add__(self, other):
        if isinstance(other, Dual):
            return Dual(self.v + other.v, self.d + other.d)
        return Dual(self.v + other, self.d)

    __radd__ = __add__

    def __sub__(self, other):
        return self + (-1.0) * other

    def __rsub__(self, other):
        return (-1.0) * self + other

    def __neg__(self):
        return Dual(-self.v, -self.d)

    def __lt__(self, other):
        return self.v < (other.v if isinstance(other, Dual) else other)

    def __bool__(self):
        return bool(self.v > 0)

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (self.v, self.d)[i]

    def __iter__(self):
        yield self.v
        yield self.d

    def __repr__(self):
        return f"Dual({float(self.v):.4f})"

    def __float__(self):
        return float(self.v)

    def __contains__(self, value):
        return value == self.v


class Opaque:
    """Not a sequence: NumPy hands it to its reflected method."""

    def __init__(self, v):
        self.v = v

    def __rmul__(self, other):
        return Opaque(self.v * other if isinstance(other, float) else -1.0)


class ScaledDual(Dual):
    """A subclass overriding a reflected method: Python asks it first."""

    def __rmul__(self, other):
        return Dual(self.v * other.v * 2.0, self.d)


CASES = {
    "mul by a Python float": lambda x: (Dual(x[0], 1.0) * float(x[1])).d,
    "Python float times": lambda x: (float(x[1]) * Dual(x[0], 1.0)).d,
    "NumPy scalar times a sequence": lambda x: np.sum(x[1] * Dual(x[0], 1.0)),
    "NumPy scalar times": lambda x: (x[1] * Opaque(x[0])).v,
    "mul of two": lambda x: (Dual(x[0], 1.0) * Dual(x[1], 0.5)).d,
    "sub and rsub": lambda x: (2.0 - Dual(x[0], 1.0) - x[1]).v,
    "in-place": lambda x: _inplace(x),
    "negate": lambda x: (-Dual(x[0], 3.0)).d,
    "subclass reflected first": lambda x: (Dual(x[0], 1.0) * ScaledDual(x[1], 1.0)).v,
    "compare": lambda x: 1.0 if Dual(x[0], 0.0) < Dual(x[1], 0.0) else 2.0,
    "reflected compare": lambda x: 1.0 if float(x[1]) > Dual(x[0], 0.0) else 2.0,
    "truth": lambda x: 1.0 if Dual(x[0] - 1.0, 0.0) else 2.0,
    "not": lambda x: 1.0 if not Dual(x[0] - 1.0, 0.0) else 2.0,
    "len": lambda x: len(Dual(x[0], 1.0)) * x[0],
    "item": lambda x: Dual(x[0], x[1])[1],
    "iterate": lambda x: sum(v for v in Dual(x[0], x[1])),
    "unpack": lambda x: (lambda a, b: a * b)(*Dual(x[0], x[1])),
    "in": lambda x: 1.0 if x[0] in Dual(x[0], 0.0) else 2.0,
    "float()": lambda x: float(Dual(x[0], 1.0)) * 2.0,
    "repr": lambda x: float(repr(Dual(x[0], 1.0))[5:11]),
    "f-string": lambda x: float(f"{Dual(x[0], 1.0)}"[5:11]),
    "sum of duals": lambda x: sum([Dual(x[0], 1.0), Dual(x[1], 2.0)], Dual(0.0, 0.0)).d,
    "sorted duals": lambda x: sorted([Dual(x[0], 1.0), Dual(x[1], 2.0)])[0].d,
    "min and max": lambda x: min(Dual(x[0], 1.0), Dual(x[1], 2.0)).d + max(
        [Dual(x[0], 3.0), Dual(x[1], 4.0)]).d,
    "list of one": lambda x: list(Dual(x[0], x[1]))[1],
    "np.array of one": lambda x: np.sum(np.array(Dual(x[0], x[1]))),
}


def _inplace(x):
    total = Dual(0.0, 0.0)
    for i in range(2):
        total += Dual(x[i], 1.0) * x[i]
    return total.d + total.v


@pytest.mark.parametrize("name", list(CASES))
def test_special_methods_run_as_in_python(name, backend):
    fn = CASES[name]
    compiled = tracejit.jit(fn, backend=backend)
    for x in (np.array([0.5, 2.0]), np.array([3.0, -1.0]), np.array([1.5, 1.5])):
        assert compiled(x) == pytest.approx(fn(x), rel=1e-12)


def test_gradient_through_user_arithmetic(backend):
    def f(x):
        a, b = Dual(x[0], 1.0), Dual(x[1], 0.0)
        y = a * b * float(x[0]) + 3.0 * a - b
        return y.v + y.d
    grad = tracejit.grad(f, backend=backend)
    x = np.array([0.7, -1.2])
    eps = 1e-6
    numeric = [(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(grad(x), numeric, rtol=1e-7)


def test_unsupported_operands_raise_pythons_type_error():
    class NoAdd:
        def __add__(self, other):
            return NotImplemented

    def f(x):
        return NoAdd() + x[0]
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: 'NoAdd'"):
        tracejit.jit(f)(np.array([1.0]))


class Bag:
    """A container class at module level whose items change between calls."""

    def __init__(self):
        self.items = [1.0, 2.0]

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, i):
        return self.items[i]

    def __repr__(self):
        return f"Bag({self.items})"


BAG = Bag()
OUTSIDE = {
    "len": lambda x: x * len(BAG),
    "sum": lambda x: x * sum(BAG),
    "list": lambda x: x * list(BAG)[0],
    "np.array": lambda x: x * np.array(BAG)[0],
    "repr": lambda x: x * len(repr(BAG)),
    "for": lambda x: x * [v for v in BAG][-1],
    "sorted": lambda x: x * sorted(BAG)[0],
    "max": lambda x: x * max(BAG),
}


@pytest.mark.parametrize("name", list(OUTSIDE))
def test_outside_user_container_changes_between_calls(name, backend):
    fn = OUTSIDE[name]
    x = np.array([1.0, 2.0])
    BAG.items = [1.0, 2.0]
    compiled = tracejit.jit(fn, backend=backend)
    try:
        np.testing.assert_array_equal(compiled(x), fn(x))
        BAG.items = [5.0, 2.5, 3.0]
        np.testing.assert_array_equal(compiled(x), fn(x))
        BAG.items[0] = -1.0
        np.testing.assert_array_equal(compiled(x), fn(x))
    finally:
        BAG.items = [1.0, 2.0]


ORDERED = collections.OrderedDict(a=1.0, b=2.0)
DEFAULTS = collections.defaultdict(float, a=1.0)
QUEUE = collections.deque([1.0, 2.0])
BUFFER = array.array("d", [1.0, 2.0])
OTHER_KINDS = {
    "OrderedDict length": (lambda x: x * len(ORDERED), lambda: ORDERED.update(c=1.0)),
    "OrderedDict order": (lambda x: x * list(ORDERED.values())[0],
                          lambda: ORDERED.move_to_end("a")),
    "defaultdict length": (lambda x: x * len(DEFAULTS), lambda: DEFAULTS.update(z=3.0)),
    "deque sum": (lambda x: x * sum(QUEUE), lambda: QUEUE.append(5.0)),
    "deque to NumPy": (lambda x: x * np.array(QUEUE)[0], lambda: QUEUE.appendleft(7.0)),
    "array.array sum": (lambda x: x * sum(BUFFER), lambda: BUFFER.__setitem__(1, 6.0)),
    "array.array to NumPy": (lambda x: x * np.asarray(BUFFER)[0],
                             lambda: BUFFER.__setitem__(0, 4.0)),
}


@pytest.mark.parametrize("name", list(OTHER_KINDS))
def test_other_outside_containers_change_between_calls(name):
    fn, change = OTHER_KINDS[name]
    x = np.array([1.0, 2.0])
    compiled = tracejit.jit(fn)
    np.testing.assert_array_equal(compiled(x), fn(x))
    change()
    np.testing.assert_array_equal(compiled(x), fn(x))


def test_advancing_an_outside_iterator_is_refused():
    """Plain Python takes the next item on every call; a trace would take one, once."""
    numbers = iter([1.0, 2.0, 3.0])

    def f(x):
        return x * next(numbers)
    with pytest.raises(tracejit.UnsupportedError, match="iterator that exists outside"):
        tracejit.jit(f)(np.array([1.0]))
    assert next(numbers) == 1.0                  # tracing did not advance it


class Money:
    def __init__(self, v):
        self.v = v

    def __format__(self, spec):
        return format(float(self.v) * 2.0, spec)

    def __str__(self):
        return f"M{float(self.v):.2f}"

    def __float__(self):
        return float(self.v)


TEXT = {
    "str.format with a spec": lambda x: float("{:.3f}".format(Money(x[0]))),
    "str.format plain": lambda x: float("{}".format(Money(x[0]))[1:]),
    "str.format !r": lambda x: float("{!r}".format(Dual(x[0], 1.0))[5:-1]),
    "%s": lambda x: float(("%s" % Money(x[0]))[1:]),
    "% of a tuple with %f": lambda x: float(("%s|%f" % (Money(x[0]), Money(x[1]))).split("|")[1]),
    "format_map": lambda x: float("{m:.2f}".format_map({"m": Money(x[0])})),
    "attribute field": lambda x: float("{0.v:.3f}".format(Money(x[0]))),
}


@pytest.mark.parametrize("name", list(TEXT))
def test_text_of_user_objects_made_natively(name, backend):
    """str.format and % call __format__/__str__/__repr__/__float__ natively: they run under
    the tracer, and the text (which reads every digit) re-traces when the value changes."""
    fn = TEXT[name]
    compiled = tracejit.jit(fn, backend=backend)
    for x in (np.array([0.5, 1.25]), np.array([-2.0, 3.5])):
        assert compiled(x) == fn(x)


class OldSequence:
    """Only __getitem__: Python iterates it 0, 1, ... until IndexError; NumPy does not take it
    for a sequence (no __len__)."""

    def __init__(self, items):
        self.items = items

    def __getitem__(self, i):
        if i >= len(self.items):
            raise IndexError(i)
        return self.items[i] * (2.0 if isinstance(self.items[i], float) else 1.0)


OLD = OldSequence([1.0, 2.0, 3.0])
SEQUENCE_CASES = {
    "for over it": lambda x: sum(v for v in OldSequence([x[0], x[1], x[2]])),
    "list of it": lambda x: list(OldSequence([x[0], x[1], x[2]]))[2],
    "in, by iteration": lambda x: float(x[1] * 2.0 in OldSequence([x[0], x[1], x[2]])),
    "outside, iterated": lambda x: x * sum(v for v in OLD),
    "outside, in": lambda x: x * (4.0 in OLD),
}


@pytest.mark.parametrize("name", list(SEQUENCE_CASES))
def test_old_sequence_protocol(name, backend):
    fn = SEQUENCE_CASES[name]
    compiled = tracejit.jit(fn, backend=backend)
    x = np.array([1.0, 2.0, 3.0])
    try:
        np.testing.assert_array_equal(compiled(x), fn(x))
        OLD.items = [2.0, 5.0, 1.0]
        np.testing.assert_array_equal(compiled(x), fn(x))
    finally:
        OLD.items = [1.0, 2.0, 3.0]


def test_numpy_object_array_of_a_user_object_is_refused():
    """NumPy makes a 0-d object array of an object that is not a sequence (no __len__): it
    would hold the trace's values from then on, so it is refused, not returned stale."""
    def f(x):
        return np.sum(np.array(OldSequence([x[0], x[1]])))
    with pytest.raises(tracejit.UnsupportedError, match="object array"):
        tracejit.jit(f)(np.array([1.0, 2.0]))


class WithProperty:
    def __init__(self, w):
        self.w = w
        self.items = [1.0, 2.0]

    @property
    def scale(self):
        return self.w * 2.0 if isinstance(self.w, float) else self.w * 3.0

    @property
    def total(self):
        return sum(self.items)


HELD = WithProperty(1.0)


@pytest.mark.parametrize("fn", [lambda x: WithProperty(float(x[0])).scale,
                                lambda x: WithProperty(x[0]).scale,
                                lambda x: x * HELD.total + x * HELD.scale])
def test_property_getters_run_traced(fn, backend):
    """A @property's getter runs under the tracer: its type test sees a float for a traced
    Python float, and one on an object held outside reads that object's state afresh."""
    compiled = tracejit.jit(fn, backend=backend)
    x = np.array([1.5, 2.0])
    try:
        np.testing.assert_array_equal(compiled(x), fn(x))
        HELD.items.append(4.0)
        HELD.w = 2.5
        np.testing.assert_array_equal(compiled(x), fn(x))
    finally:
        HELD.w, HELD.items = 1.0, [1.0, 2.0]


class EqualByValue:
    """__eq__ only (with a type test): `!=` is object.__ne__ inverting it."""

    def __init__(self, v):
        self.v = v

    def __eq__(self, other):
        return isinstance(other, EqualByValue) and isinstance(self.v, float) and \
            self.v == other.v


def test_not_equal_inverts_a_python_eq(backend):
    def f(x):
        a, b = EqualByValue(float(x[0])), EqualByValue(float(x[1]))
        return float(a != b) + 2.0 * float(a == EqualByValue(float(x[0])))
    compiled = tracejit.jit(f, backend=backend)
    for x in (np.array([1.0, 1.0]), np.array([1.0, 2.0])):
        assert compiled(x) == f(x)
