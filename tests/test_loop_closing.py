"""Closing loops while recording (issue 23): a `for` loop over a range that rolled runs its
remaining iterations from the rolled body. Each case is a loop long enough to close; the
attack cases use the loop variable in ways that could change the body at an iteration the
tracer has not seen (a Python branch on it, `min`, `%`, a Python list, a call, a late data
guard, an index running off the end): every call must equal plain Python, every gradient
finite differences, and the cases that may close must close (the log says so).
"""
import logging

import numpy as np
import pytest

import tracejit
from conftest import numerical_grad
from tracejit.frontend import loop_close

N = 90


def rosenbrock(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return total


def euler(x):
    y = x[:2] * 1.0
    for i in range(N):
        y = y + 0.01 * np.array([y[1], -y[0]]) * x[2]
    return np.sum(y)


def slices_and_steps(x):
    total = 0.0
    for i in range(N - 3, 2, -2):
        total = total + np.sum(x[i - 2:i + 1] * x[i - 1]) * 0.5 + x[N - i] * i
    return total


def floor_division_index(x):               # i // 40 is 0 for the first 40 iterations
    total = 0.0
    for i in range(N):
        total = total + x[i // 40] * x[i]
    return total


def late_data_guard(x):                     # the branch flips at i = 60: a replayed guard fails
    total = 0.0
    for i in range(N):
        if x[i] > 0.0:
            total = total + x[i] * 2.0
        else:
            total = total - x[i]
    return total


def breaks_on_data(x):
    total = 0.0
    for i in range(N):
        total = total + x[i] * x[i]
        if total > 40.0:
            break
    return total


def runs_off_the_end(x):                    # x[i + 1] raises IndexError at the last item
    total = 0.0
    for i in range(len(x)):
        try:
            total = total + x[i] * x[i + 1]
        except IndexError:
            total = total * 2.0
    return total


def python_branch_on_index(x):
    total = 0.0
    for i in range(N):
        total = total + x[i]
        if i == 70:
            total = total * 3.0
    return total


def min_of_index(x):
    total = 0.0
    for i in range(N):
        total = total + x[min(i, 50)]
    return total


def index_modulo(x):
    total = 0.0
    for i in range(N):
        total = total + x[i % 7] * x[i]
    return total


def python_list_index(x):
    weights = [1.0] * 60 + [-2.0] * 40
    total = 0.0
    for i in range(N):
        total = total + x[i] * weights[i]
    return total


def index_passed_to_a_helper(x):
    total = 0.0
    for i in range(N):
        total = total + _scaled(x, i)
    return total


def _scaled(x, i):
    return x[i] * (2.0 if i > 64 else 1.0)


def index_as_a_number(x):                  # i as a float and a traced factor: closes
    total = 0.0
    for i in range(N):
        total = total + x[i] * i - x[i + 1] / (i + 1)
    return total


def index_as_a_float_in_python(x):
    total = 0.0
    for i in range(N):
        total = total + x[i] * float(i)
    return total


def comparison_of_index(x):                # a bool that flips at 40 (it crashed rolling once)
    total = 0.0
    for i in range(N):
        total = total + x[i] * (i < 40)
    return total


def counter_beside_the_index(x):
    total, j = 0.0, 0
    for i in range(N):
        total = total + x[i] * x[j % 5]
        j += 1
    return total


def history_list(x):
    history = []
    total = 0.0
    for i in range(N):
        total = total + x[i]
        history.append(total)
    return total + history[55] * 0.5


def closure_over_index(x):
    total = 0.0
    for i in range(N):
        get = lambda: x[i]                  # noqa: E731 (i becomes a cell)
        total = total + get()
    return total


def nested_loops(x):
    total = 0.0
    for i in range(N - 3):
        for j in range(3):
            total = total + x[i + j] * 0.25
    return total


def helper_with_data_branch(x):
    total = 0.0
    for i in range(N):
        total = total + _soft(x[i], -5.0)
    return total


def helper_with_varying_branch(x):         # the iterations differ: the loop never rolls
    total = 0.0
    for i in range(N):
        total = total + _soft(x[i], 0.3)
    return total


def _soft(v, threshold):
    return v * 0.5 if v > threshold else v * 0.25


def _pairs(x):
    for i in range(N):
        yield x[i] * x[i + 1]


def generator_loop(x):                      # the generator's loop yields: it never closes
    total = 0.0
    count = 0
    for v in _pairs(x):
        total = total + v
        count += 1
    return total * count


CLOSES = [rosenbrock, euler, slices_and_steps, late_data_guard, breaks_on_data,
          runs_off_the_end, nested_loops, helper_with_data_branch, index_as_a_number]
STAYS_OPEN = [python_branch_on_index, min_of_index, index_modulo, python_list_index,
              index_passed_to_a_helper, index_as_a_float_in_python, counter_beside_the_index,
              history_list, closure_over_index, floor_division_index,
              helper_with_varying_branch, generator_loop, comparison_of_index]


def _inputs():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.1, 1.0, N + 1)
    flipped = base.copy()
    flipped[60:] *= -1.0
    return [base, flipped, rng.normal(size=N + 1) * 0.5]


@pytest.mark.parametrize("fn", CLOSES + STAYS_OPEN, ids=lambda f: f.__name__)
def test_values_equal_plain_python(fn, backend):
    compiled = tracejit.jit(fn, backend=backend)
    for x in _inputs():
        try:
            expected = fn(x)
        except Exception as error:          # noqa: BLE001 — the same error, or the same value
            with pytest.raises(type(error)):
                compiled(x)
            continue
        np.testing.assert_array_equal(compiled(x), expected)


@pytest.mark.parametrize("fn", CLOSES + STAYS_OPEN, ids=lambda f: f.__name__)
def test_gradients_equal_finite_differences(fn, backend):
    grad = tracejit.grad(fn, backend=backend)
    for x in _inputs()[::2]:
        np.testing.assert_allclose(grad(x), numerical_grad(fn, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", CLOSES + STAYS_OPEN, ids=lambda f: f.__name__)
def test_closing_is_taken_only_where_it_is_sound(fn, caplog):
    with caplog.at_level(logging.INFO, logger="tracejit"):
        tracejit.make_trace(fn)(_inputs()[0])
    closed = any("closed after" in r.getMessage() for r in caplog.records)
    assert closed == (fn in CLOSES)


@pytest.mark.parametrize("fn", CLOSES, ids=lambda f: f.__name__)
def test_a_closed_loop_records_the_same_trace(fn, monkeypatch):
    from tracejit.transforms.roll import trace_key
    x = _inputs()[1]
    closed = tracejit.make_trace(fn)(x)
    monkeypatch.setattr(loop_close, "CLOSE_LOOPS", False)
    interpreted = tracejit.make_trace(fn)(x)
    assert trace_key(closed) == trace_key(interpreted)
