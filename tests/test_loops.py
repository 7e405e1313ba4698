"""Loop rolling: repeated iterations become one loop op; values and gradients are unchanged."""
import numpy as np
import pytest

import tracejit
import tracejit.frontend.context as context
from conftest import numerical_grad

R = np.random.default_rng(3)


def rosenbrock(x):
    s = 0.0
    for i in range(len(x) - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


def euler(theta, y0, steps=50):
    y = y0
    for _ in range(steps):
        dy = np.array([y[1], -theta[0] * y[0] - theta[1] * y[1]])
        y = y + 0.01 * dy
    return np.sum(y * y)


def nested(x):
    total = 0.0
    for i in range(3):
        for j in range(len(x)):
            total = total + np.sin(x[j] * (i + 1.0))
    return total


def accumulate_inplace(x):
    out = np.zeros_like(x)
    for i in range(1, len(x)):
        out[i] = out[i - 1] + x[i] ** 2
    return np.sum(out * x)


def vector_state(w):
    h = np.zeros(3)
    for t in range(6):
        h = np.tanh(w @ h + 0.5)
    return np.sum(h ** 2)


# the cases are short loops, so they run fast: roll them as long ones would be (conftest)
pytestmark = pytest.mark.usefixtures("roll_short_loops")


def loop_ops(trace):
    return [op for op in trace.ops if op.prim.name == "loop"]


CASES = [
    ("rosenbrock", rosenbrock, lambda: (R.standard_normal(7),)),
    ("euler", euler, lambda: (np.array([2.0, 0.3]), np.array([1.0, 0.0]))),
    ("nested", nested, lambda: (R.standard_normal(4),)),
    ("setitem", accumulate_inplace, lambda: (R.standard_normal(6),)),
    ("vector_state", vector_state, lambda: (R.standard_normal((3, 3)) * 0.5,)),
]


@pytest.mark.parametrize("name,fn,make", CASES, ids=[c[0] for c in CASES])
def test_rolled_equals_unrolled_and_finite_differences(name, fn, make, monkeypatch):
    args = make()
    rolled = tracejit.value_and_grad(fn, backend="numpy")(*args)
    monkeypatch.setattr(context, "ROLL_LOOPS", False)
    unrolled = tracejit.value_and_grad(fn, backend="numpy")(*args)
    np.testing.assert_allclose(rolled[0], unrolled[0], rtol=1e-13)
    np.testing.assert_allclose(rolled[1], unrolled[1], rtol=1e-12, atol=1e-14)
    numeric = numerical_grad(lambda a: fn(a, *args[1:]), args[0])
    np.testing.assert_allclose(rolled[1], numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,fn,make", CASES[:2], ids=[c[0] for c in CASES[:2]])
def test_make_trace_shows_one_loop_op(name, fn, make):
    trace = tracejit.make_trace(fn)(*make())
    assert len(loop_ops(trace)) == 1
    assert "loop(" in str(trace) and "def body(" in str(trace)


def test_trace_length_is_flat_in_the_trip_count():
    lengths = [len(tracejit.make_trace(rosenbrock)(np.ones(n)).ops) for n in (10, 100, 1000)]
    assert lengths[0] == lengths[1] == lengths[2]
    loop = loop_ops(tracejit.make_trace(rosenbrock)(np.ones(1000)))[0]
    assert loop.params["trip"] == 998          # iterations 2..999; the first is peeled


def test_branch_that_changes_mid_loop_stays_correct():
    def f(x):
        s = 0.0
        for i in range(len(x)):
            if x[i] > 0:
                s = s + x[i] ** 2
            else:
                s = s - np.sin(x[i])
        return s
    x = np.array([0.5, 0.7, -0.3, 0.9, 1.1, -2.0, 0.4])
    g = tracejit.jit_grad(f, backend="numpy")
    np.testing.assert_allclose(g(x), numerical_grad(f, x), rtol=1e-6)
    np.testing.assert_allclose(g(-x), numerical_grad(f, -x), rtol=1e-6)


def test_guard_inside_rolled_body_side_exits():
    def f(x):
        s = 0.0
        for i in range(len(x)):
            if x[i] > 0:
                s = s + x[i] ** 3
        return s
    g = tracejit.jit_grad(f, backend="numpy")
    x = np.full(6, 0.5)
    np.testing.assert_allclose(g(x), 3 * x ** 2)
    assert len(loop_ops(tracejit.make_trace(f)(x))) == 1
    assert len(loop_ops(g.traces()[0])) == 2    # forward loop (with its tape) and reverse loop
    y = x.copy()
    y[4] = -1.0                                 # one iteration now takes the other path
    np.testing.assert_allclose(g(y), np.where(y > 0, 3 * y ** 2, 0.0))
    assert g.stats()["misses"] == 2


def test_values_of_middle_iterations_used_later_keep_the_loop_unrolled():
    def f(x):
        parts = []
        for i in range(len(x)):
            parts.append(x[i] * 2.0)
        return np.sum(np.array(parts) ** 2)
    x = R.standard_normal(5)
    trace = tracejit.make_trace(f)(x)
    assert not loop_ops(trace)
    np.testing.assert_allclose(tracejit.jit_grad(f, backend="numpy")(x), 8 * x)


def test_forward_mode_and_hessian_through_a_rolled_loop():
    x, v = R.standard_normal(7), R.standard_normal(7)
    assert len(loop_ops(tracejit.make_trace(rosenbrock)(x))) == 1
    _, tangent = tracejit.jvp(rosenbrock, (x,), (v,), backend="numpy")
    np.testing.assert_allclose(tangent, numerical_grad(rosenbrock, x) @ v, rtol=1e-7)
    g = tracejit.jit_grad(rosenbrock, backend="numpy")
    numeric = np.array([numerical_grad(lambda y: g(y)[i], x) for i in range(len(x))])
    hessian = tracejit.hessian(rosenbrock, backend="numpy")(x)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(tracejit.hvp(rosenbrock, backend="numpy")(x, v), hessian @ v,
                               rtol=1e-10)


def test_long_loop_is_rolled_while_tracing_and_pieces_merge():
    trace = tracejit.make_trace(rosenbrock)(np.ones(5000))
    (loop,) = loop_ops(trace)
    assert loop.params["trip"] == 4998 and loop.params["start"] == 1
    assert len(trace.ops) < 20


@pytest.mark.numba
def test_numba_runs_rolled_loops_and_agrees(monkeypatch):
    monkeypatch.setenv("TRACEJIT_NUMBA_TIERING", "sync")
    for fn, args in [(rosenbrock, (R.standard_normal(40),)),
                     (euler, (np.array([2.0, 0.3]), np.array([1.0, 0.0]))),
                     (vector_state, (R.standard_normal((3, 3)) * 0.5,))]:
        compiled = tracejit.value_and_grad(fn, backend="numba")
        value, grad = compiled(*args)
        ref_value, ref_grad = tracejit.value_and_grad(fn, backend="numpy")(*args)
        assert compiled.entries()[0].program.compiled     # really ran the kernel
        np.testing.assert_allclose(value, ref_value, rtol=1e-12)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-11, atol=1e-13)


def chain(x, rounds):
    y = x
    for _ in range(rounds):
        y = np.sin(y) * 0.5 + np.cos(y) * y - 0.1 * y * y
    return np.sum(y * y)


@pytest.mark.parametrize("rounds,rolled", [(10, False), (17, True), (200, True)])
def test_short_loops_stay_unrolled_long_ones_roll(rounds, rolled, monkeypatch):
    """A loop that ends within ROLL_EVERY iterations with a few ops stays straight-line code;
    a longer one rolls. Both give the unrolled trace's values and gradients."""
    monkeypatch.setattr(context, "UNROLL_OPS", 400)
    x = R.standard_normal(10)
    trace = tracejit.make_trace(chain)(x, rounds)
    assert len(loop_ops(trace)) == (1 if rolled else 0)
    got = tracejit.value_and_grad(chain, backend="numpy")(x, rounds)
    monkeypatch.setattr(context, "ROLL_LOOPS", False)
    unrolled = tracejit.value_and_grad(chain, backend="numpy")(x, rounds)
    np.testing.assert_allclose(got[0], unrolled[0], rtol=1e-13)
    np.testing.assert_allclose(got[1], unrolled[1], rtol=1e-12)


def test_many_ops_roll_even_in_few_iterations(monkeypatch):
    """The op budget, not only the iteration count, decides: 8 iterations of 60 ops roll, and
    the inner loop (12 iterations of 5 ops) stays unrolled inside the rolled body."""
    monkeypatch.setattr(context, "UNROLL_OPS", 400)

    def long_body(x):
        y = x
        for _ in range(8):
            for _ in range(12):
                y = np.sin(y) * 0.5 + np.cos(y) * y
        return np.sum(y)
    trace = tracejit.make_trace(long_body)(R.standard_normal(3))
    (outer,) = loop_ops(trace)
    assert not loop_ops(outer.params["body"])
    assert len(outer.params["body"].ops) >= 60
