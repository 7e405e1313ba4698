"""Side effects during tracing: each is refused at trace time with an error naming the construct
and the user's file:line (see docs/guarantees.md), because a compiled call would not repeat it.
Effects on values created inside the function are ordinary computation and work."""
import logging
import sys
import warnings

import numpy as np
import pytest

import tracejit
from tracejit.errors import UnsupportedError

X = np.array([0.5, -1.0, 2.0])
OUTSIDE_LIST = []
OUTSIDE_DICT = {}
COUNTER = 0
log = logging.getLogger("tracejit.tests.side_effects")


class Box:
    w = np.ones(3)


BOX = Box()


def prints_to_a_file(x):
    print("loss", np.sum(x), file=sys.stderr)   # print to stdout prints on every call (test_print)
    return np.sum(x)


def logs_module(x):
    logging.warning("step")
    return np.sum(x)


def logs_logger(x):
    log.info("value %s", 1)
    return np.sum(x)


def warns(x):
    warnings.warn("careful")
    return np.sum(x)


def writes_stdout(x):
    sys.stdout.write("x\n")
    return np.sum(x)


def appends_outer_list(x):
    OUTSIDE_LIST.append(x)
    return np.sum(x)


def stores_into_outer_dict(x):
    OUTSIDE_DICT["last"] = x
    return np.sum(x)


def writes_global(x):
    global COUNTER
    COUNTER += 1
    return np.sum(x)


def writes_global_via_globals(x):
    globals()["COUNTER"] = 5
    return np.sum(x)


def sets_outer_attribute(x):
    BOX.w = x
    return np.sum(x)


def setattr_outer(x):
    setattr(BOX, "w", x)
    return np.sum(x)


def mutates_argument(x):
    x[0] = 0.0
    return np.sum(x)


def augments_argument(x):
    x *= 2.0
    return np.sum(x)


def mutates_view_of_argument(x):
    head = x[:2]
    head += 1.0
    return np.sum(x)


def mutates_global_array(x):
    Box.w[1] = 5.0
    return np.sum(x * Box.w)


def appends_to_argument_list(x, history):
    history.append(np.sum(x))
    return np.sum(x)


def stores_into_argument_dict(x, state):
    state["x"] = x
    return np.sum(x)


REFUSED = [
    (prints_to_a_file, "print(file=...)", 1), (logs_module, "logging.warning()", 1),
    (logs_logger, "logging.Logger.info()", 1), (warns, "warnings.warn()", 1),
    (writes_stdout, ".write() inside a traced function", 1), (appends_outer_list, "list.append()", 1),
    (stores_into_outer_dict, "item assignment to a dict", 1),
    (writes_global, "assignment to global variable 'COUNTER'", 2),
    (writes_global_via_globals, "item assignment to a dict", 1),
    (sets_outer_attribute, "assignment to attribute 'w'", 1),
    (setattr_outer, "setattr() of attribute 'w'", 1),
    (mutates_argument, "in-place write into argument x", 1),
    (augments_argument, "in-place write into argument x", 1),
    (mutates_view_of_argument, "in-place write into argument x", 2),
    (mutates_global_array, "in-place write into", 1),
    (appends_to_argument_list, "list.append()", 1),
    (stores_into_argument_dict, "item assignment to a dict", 1),
]


def _extra_args(fn):
    return {appends_to_argument_list: ([],), stores_into_argument_dict: ({},)}.get(fn, ())


@pytest.mark.parametrize("fn, construct, line", REFUSED, ids=[r[0].__name__ for r in REFUSED])
@pytest.mark.parametrize("transform", ["jit", "jit_grad"])
def test_side_effect_is_refused_with_file_and_line(fn, construct, line, transform, backend,
                                                    capsys):
    x = X.copy()
    before = (list(OUTSIDE_LIST), dict(OUTSIDE_DICT), COUNTER, Box.w.copy(), BOX.__dict__.copy())
    compiled = getattr(tracejit, transform)(fn, backend=backend)
    with pytest.raises(UnsupportedError) as info, warnings.catch_warnings():
        warnings.simplefilter("error")          # a warning that escaped would fail the test
        compiled(x, *_extra_args(fn))
    message = str(info.value)
    assert construct in message
    expected_line = fn.__code__.co_firstlineno + line
    assert f"{__file__}:{expected_line}:" in message, message
    # nothing happened: no output, no changed state, the argument untouched
    assert capsys.readouterr().out == ""
    assert np.array_equal(x, X)
    after = (list(OUTSIDE_LIST), dict(OUTSIDE_DICT), COUNTER, Box.w.copy(), BOX.__dict__.copy())
    assert len(after[0]) == len(before[0]) and after[1].keys() == before[1].keys()
    assert after[2] == before[2] and np.array_equal(after[3], before[3])
    assert after[4].keys() == before[4].keys()


def effects_on_local_values(x, n):
    history = []
    state = {}
    total = 0.0
    y = x.copy()
    y[0] = 10.0                     # a copy made inside: writing into it is computation
    for i in range(n):
        total += np.sum(np.sin(y)) * (i + 1)
        history.append(total)       # `+=` on a scalar made a new value: history keeps each
        state[i] = total
    return history[0] - history[-1] * 0.5 + state[0]


def test_effects_on_values_created_inside_are_traced(backend):
    from conftest import numerical_grad
    f = tracejit.value_and_grad(effects_on_local_values, backend=backend)
    for n in (3, 4):
        value, grad = f(X, n)
        assert value == pytest.approx(effects_on_local_values(X, n), rel=1e-12)
        np.testing.assert_allclose(grad, numerical_grad(lambda x: effects_on_local_values(x, n), X),
                                   rtol=1e-6, atol=1e-8)


def returns_constant_and_computed(x):
    return np.ones(3), x * 2.0


def test_caller_may_mutate_what_a_compiled_call_returned(backend):
    """A constant output is not shared between calls: mutating one result leaves the next."""
    f = tracejit.jit(returns_constant_and_computed, backend=backend)
    for _ in range(3):
        ones, doubled = f(X)
        np.testing.assert_array_equal(ones, np.ones(3))
        ones[0] = 99.0
        doubled[0] = 99.0
    np.testing.assert_array_equal(f(X)[1], X * 2.0)
