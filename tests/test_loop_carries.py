"""Invariant 7: a rolled loop carries every Python value its iterations change, or keeps the trip
count it was traced with. Each case changes Python state in a loop whose trip count depends on
the data, reads it after the loop, and is called on inputs that loop a different number of times:
every call must equal plain Python, every gradient finite differences. Where the loop op can carry
the values (numbers in locals and cells), one trace must serve every trip count.
"""
import numpy as np
import pytest

import tracejit
from conftest import numerical_grad

pytestmark = pytest.mark.usefixtures("roll_short_loops")

SCALES = [1.0, 3.0, 0.5, 10.0, 40.0, 2.0]     # each changes the trip counts below


def while_counter_and_float(x):             # the reproducer
    y = x * 1.0
    n = 0
    t = 1.0
    while np.sum(y * y) > 0.01:
        y = y * 0.5
        n += 1
        t = t * 2.0
    return n + np.sum(y) * t


def for_break_index_read_after(x):
    i = 0
    for i in range(40):
        if np.sum(x) * i > 5.0:
            break
    return i * np.sum(x)


def _first_index_over(x):
    for k in range(60):
        if x[0] * k > 3.0:
            return k
    return -1


def helper_returns_from_loop(x):
    return _first_index_over(x) * np.sum(x)


def for_break_counter_index_dead(x):
    n = 0
    for i in range(200):
        x = x * 0.9
        n += 2
        if np.sum(x) < 1.0:
            break
    return n * np.sum(x)


def while_appends_python_numbers(x):
    y = x * 1.0
    seen = []
    while np.max(np.abs(y)) > 0.1:
        y = y * 0.7
        seen.append(len(seen) * 0.5)
    return np.sum(y) + sum(seen) + len(seen)


def while_dict_counter(x):
    y = x * 1.0
    stats = {"steps": 0, "scale": 1.0}
    while np.sum(y) > 1.0:
        y = y * 0.8
        stats["steps"] += 1
        stats["scale"] *= 0.8
    return np.sum(y) * stats["steps"] + stats["scale"]


def while_nonlocal_counter(x):
    n = 0

    def step(v):
        nonlocal n
        n += 1
        return v * 0.6
    y = x * 1.0
    while np.sum(y * y) > 0.5:
        y = step(y)
    return np.sum(y) * (n + 1)


def while_flag_flips(x):
    y = x * 1.0
    odd = False
    while np.sum(y) > 1.0:
        y = y * 0.7
        odd = not odd
    return np.sum(y) * (3.0 if odd else 1.0)


def while_constant_array_counter(x):
    y = x * 1.0
    c = np.zeros(())
    while np.sum(y) > 1.0:
        y = y * 0.75
        c = c + 1.0
    return np.sum(y) * c


def while_float_carry_feeds_data(x):
    y = x * 1.0
    lr = 1.0
    while np.sum(y * y) > 0.05:
        y = y - lr * 0.3 * y
        lr = lr * 0.9 + 0.05
    return np.sum(y) * lr


def while_counter_used_inside(x):
    y = x * 1.0
    n = 0
    while np.sum(y) > 1.0:
        y = y * 0.5 + 0.01 * n
        n += 1
    return np.sum(y) + n


def nested_while_in_for(x):
    total = 0.0
    for j in range(3):
        y = x * (j + 1.0)
        n = 0
        while np.sum(y) > 1.0:
            y = y * 0.6
            n += 1
        total = total + np.sum(y) * n
    return total


def while_counter_as_index(x):
    y = x * 1.0
    n = 0
    while np.sum(y) > 1.0:
        y = y * 0.7
        n += 1
    return np.sum(y) * x[n % 3]


def while_counter_in_range_after(x):
    y = x * 1.0
    n = 0
    while np.sum(y) > 1.0:
        y = y * 0.7
        n += 1
    acc = 0.0
    for k in range(n):
        acc = acc + np.sum(y) * k
    return acc + n


# Python state the loop changes that no local holds directly: it is reached through a bound
# method, a closure, a partial, a list subclass or a class the function made (each was a silently
# wrong count at 3ab0f44: the state summary took those objects by identity only)
class _Counter:
    def __init__(self):
        self.n = 0

    def bump(self):
        self.n += 1


def _make_counter():
    n = 0

    def step():
        nonlocal n
        n += 1
        return n
    return step


class _History(list):
    pass


def while_bound_method_counts(x):
    bump = _Counter().bump
    y = x * 1.0
    while np.sum(y) > 1.0:
        y = y * 0.7
        bump()
    return np.sum(y) + bump.__self__.n


def while_closure_counts(x):
    step = _make_counter()
    y = x * 1.0
    while np.sum(y) > 1.0:
        y = y * 0.7
        step()
    return np.sum(y) + step()


def while_builtin_method_counts(x):
    record = [0.0].append
    y = x * 1.0
    while np.sum(y) > 1.0:
        y = y * 0.7
        record(1.0)
    return np.sum(y) * len(record.__self__)


def while_partial_counts(x):
    import functools
    bump = functools.partial(_Counter.bump, _Counter())
    y = x * 1.0
    while np.sum(y) > 1.0:
        y = y * 0.7
        bump()
    return np.sum(y) + bump.args[0].n


def while_list_subclass_grows(x):
    history = [_History()][0]
    y = x * 1.0
    while np.sum(y) > 1.0:
        y = y * 0.7
        history.append(2.0)
    return np.sum(y) + sum(history)


def while_class_attribute_counts(x):
    class Steps:
        n = 0
    y = x * 1.0
    while np.sum(y) > 1.0:
        y = y * 0.7
        Steps.n += 1
    return np.sum(y) * Steps.n


CASES = [while_bound_method_counts, while_closure_counts, while_builtin_method_counts,
         while_partial_counts, while_list_subclass_grows, while_class_attribute_counts,
         while_counter_and_float, for_break_index_read_after, helper_returns_from_loop,
         for_break_counter_index_dead, while_appends_python_numbers, while_dict_counter,
         while_nonlocal_counter, while_flag_flips, while_constant_array_counter,
         while_float_carry_feeds_data, while_counter_used_inside, nested_while_in_for,
         while_counter_as_index, while_counter_in_range_after]
# the loop op carries these values: one trace serves every trip count
ONE_TRACE = {while_counter_and_float, for_break_counter_index_dead, while_nonlocal_counter,
             while_constant_array_counter, while_float_carry_feeds_data,
             while_counter_used_inside}


def _inputs():
    base = np.array([0.7, 1.3, 2.1])
    return [base * s for s in SCALES]


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_python_values_changed_by_loops(fn, backend):
    compiled = tracejit.jit(fn, backend=backend)
    for x in _inputs():
        assert np.allclose(compiled(x), fn(x), rtol=1e-12, atol=1e-12), x


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_gradients_through_loop_carries(fn, backend):
    gradient = tracejit.grad(fn, backend=backend)
    for x in _inputs()[:4]:
        assert np.allclose(gradient(x), numerical_grad(fn, x), rtol=1e-5, atol=1e-6), x


@pytest.mark.parametrize("fn", sorted(ONE_TRACE, key=lambda f: f.__name__),
                         ids=lambda f: f.__name__)
def test_carried_values_serve_every_trip_count(fn):
    compiled = tracejit.jit(fn, backend="numpy")
    trips = set()
    for x in _inputs():
        compiled(x)
        trips.add(round(float(fn(x)), 9))
    assert len(trips) > 2                       # the inputs do loop differently
    assert compiled.stats()["misses"] == 1, compiled.stats()["trace_reasons"]


def test_counter_becomes_a_loop_carry():
    trace = tracejit.make_trace(while_counter_and_float)(np.array([1.0, 2.0, 3.0]))
    loop_ops = [op for op in trace.ops if op.prim.name == "loop"]
    assert len(loop_ops) == 1 and loop_ops[0].params["n_carry"] == 3   # y, n, t
    assert loop_ops[0].params.get("cond") is not None                 # trip count at run time


def test_hessian_through_float_carry():
    def f(x):
        y = x * 1.0
        t = 1.0
        while np.sum(y * y) > 0.05:
            y = y * 0.5
            t = t * 1.5
        return np.sum(y * y) * t
    x = np.array([0.4, 0.9])
    h = tracejit.hessian(f)(x)
    numeric = np.array([numerical_grad(lambda z: tracejit.grad(f)(z)[i], x) for i in range(2)])
    assert np.allclose(h, numeric, rtol=1e-5, atol=1e-6)
