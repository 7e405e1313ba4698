"""Loop rolling: repeated iterations become one loop op; values and gradients are unchanged."""
import numpy as np
import pytest

import tracejit
import tracejit.frontend.context as context
import tracejit.ops.control as control
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


def test_compiled_loops_shed_tapes_and_inputs_the_pullback_does_not_read(backend):
    """A running sum's pullback never reads the sum: jit_grad, which returns no value, needs no
    primal loop at all, and the reverse loop is handed nothing its body ignores (prune_loops).
    Euler's pullback reads the state, so its tape stays. Gradients are unchanged either way."""
    x = R.standard_normal(8)
    g = tracejit.jit_grad(rosenbrock, backend=backend)
    np.testing.assert_allclose(g(x), numerical_grad(rosenbrock, x), rtol=1e-6)
    (reverse,) = loop_ops(g.traces()[0])
    vg = tracejit.value_and_grad(rosenbrock)
    value, grad = vg(x)
    assert value == pytest.approx(rosenbrock(x), rel=1e-12)
    np.testing.assert_allclose(grad, g(x), rtol=1e-12)
    body = reverse.params["body"]
    read = {a for op in body.ops for a in op.inputs} | set(body.outputs)
    assert all(v in read for v in body.inputs[1:1 + reverse.params["n_inv"]])
    theta, y0 = np.array([0.7, 0.2]), np.array([1.0, -0.5])
    ge = tracejit.jit_grad(euler, backend=backend)
    np.testing.assert_allclose(ge(theta, y0), numerical_grad(lambda t: euler(t, y0), theta),
                               rtol=1e-6)
    assert loop_ops(ge.traces()[0])[0].params["tape"]


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


def _hessian_fd(fn, x, *rest):
    g = tracejit.jit_grad(fn, backend="numpy")
    return np.array([numerical_grad(lambda y: g(y, *rest)[i], x) for i in range(x.size)])


HESSIAN_CASES = [
    # six elements: the Hessian kernel holds a loop body per tangent direction (build time)
    ("rosenbrock", rosenbrock, lambda: (R.standard_normal(6),)),
    ("euler", euler, lambda: (np.array([2.0, 0.3]), np.array([1.0, 0.0]))),
]


@pytest.mark.parametrize("name,fn,make", HESSIAN_CASES, ids=[c[0] for c in HESSIAN_CASES])
def test_hessian_of_a_rolled_loop_matches_finite_differences(name, fn, make, backend):
    """Second order through a loop op: the tape of the reverse loop depends on the inputs, so
    its tangents (forward over reverse) and its cotangents (reverse over reverse) count."""
    args = make()
    assert len(loop_ops(tracejit.make_trace(fn)(*args))) == 1
    numeric = _hessian_fd(fn, *args)
    hessian = tracejit.hessian(fn, backend=backend)(*args)
    np.testing.assert_allclose(hessian, numeric, rtol=1e-6, atol=1e-6)
    inner = tracejit.jit_grad(fn, backend="numpy")
    grad_of_grad = tracejit.jit_grad(lambda x, *r: inner(x, *r)[0], backend=backend)(*args)
    np.testing.assert_allclose(grad_of_grad, numeric[0], rtol=1e-6, atol=1e-6)


# ---- while loops: the trip count is decided at run time ------------------------------------------
def shrink(x):
    """Halve x (nonlinearly) until it is small: 0 trips for |x|^2 <= 1, then one per halving."""
    while np.sum(x * x) > 1.0:
        x = 0.5 * x + 0.01 * np.sin(x)
    return np.sum(np.sin(x) * x)


def fixed_point(a, y0):
    y = y0
    y_prev = y0 + 1.0
    while np.max(np.abs(y - y_prev)) > 1e-10:
        y_prev = y
        y = np.cos(a * y)
    return np.sum(y * y) + np.sum(y_prev)


def trips(x):
    """How many times shrink's loop runs on x (plain Python)."""
    n = 0
    while np.sum(x * x) > 1.0:
        x, n = 0.5 * x + 0.01 * np.sin(x), n + 1
    return n


def while_ops(trace):
    return [op for op in loop_ops(trace) if op.params.get("cond") is not None]


def test_make_trace_shows_a_while_loop_op():
    trace = tracejit.make_trace(fixed_point)(np.array([0.5, 0.7, 0.3]), np.zeros(3))
    (op,) = loop_ops(trace)
    assert op.params["cond"] is True and op.params["bound"] is None
    assert op.params["start"] == 0               # the first iteration is part of the loop
    assert "cond=True" in str(trace) and "guard" not in str(op.params["body"])
    assert len(trace.ops) < 15


def test_fixed_point_compiles_once_for_every_trip_count(backend):
    y0 = np.zeros(3)
    g = tracejit.value_and_grad(fixed_point, backend=backend)
    for scale in (1.0, 0.5, 0.05, 1.3, 0.9):
        a = np.array([0.5, 0.7, 0.3]) * scale
        value, grad = g(a, y0)
        np.testing.assert_allclose(value, fixed_point(a, y0), rtol=1e-13)
        numeric = numerical_grad(lambda b: fixed_point(b, y0), a)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    stats = g.stats()
    assert stats["misses"] == 1 and stats["hits"] == 4 and stats["side_exits"] == 0
    assert len(g.entries()) == 1
    assert len(while_ops(g.traces()[0])) == 1
    if backend == "numba":
        assert g.entries()[0].program.compiled


def test_trip_counts_zero_one_two_many(backend):
    g = tracejit.value_and_grad(shrink, backend=backend)
    start = np.array([30.0, -20.0])                 # traced with many trips
    cases = [start, np.array([1.5, 0.2]), np.array([2.5, 1.0]), np.array([1e3, 7.0]),
             np.array([0.5, 0.1]), np.array([0.3, 0.2])]
    assert [trips(x) for x in cases] == [6, 1, 2, 10, 0, 0]
    for x in cases:
        value, grad = g(x)
        np.testing.assert_allclose(value, shrink(x), rtol=1e-13)
        np.testing.assert_allclose(grad, numerical_grad(shrink, x), rtol=1e-6, atol=1e-9)
    # one trace serves every trip count >= 1; zero trips fail the test before the loop (a
    # guard: the code after a loop that never ran reads other values) and trace once more
    stats = g.stats()
    assert stats["misses"] == 2 and stats["side_exits"] == 1
    assert sorted(len(while_ops(t)) for t in g.traces()) == [0, 1]


def test_a_loop_traced_with_one_trip_retraces_for_more():
    g = tracejit.jit_grad(shrink, backend="numpy")
    for x in (np.array([1.5, 0.2]), np.array([30.0, 1.0]), np.array([2.0, 0.5])):
        np.testing.assert_allclose(g(x), numerical_grad(shrink, x), rtol=1e-6, atol=1e-9)
    assert g.stats()["misses"] == 2                # the second trace has the while loop


def test_forward_mode_through_a_while_loop(backend):
    a, y0, v = np.array([0.5, 0.7, 0.3]), np.zeros(3), np.array([1.0, -2.0, 0.5])
    for scale in (1.0, 0.3):
        _, tangent = tracejit.jvp(fixed_point, (a * scale, y0), (v, np.zeros(3)),
                                  backend=backend)
        numeric = numerical_grad(lambda b: fixed_point(b, y0), a * scale) @ v
        np.testing.assert_allclose(tangent, numeric, rtol=1e-6)


def break_on_data(x, n):
    for i in range(n):
        x = 0.5 * x + 0.1 * np.cos(i * 0.0 + x)
        if np.max(np.abs(x - 0.5 * x - 0.1 * np.cos(x))) < 1e-9:
            break
    return np.sum(x * x)


def test_for_loop_with_break_on_data(backend):
    g = tracejit.jit_grad(break_on_data, backend=backend)
    for scale in (1.0, 50.0, 0.01):
        x = np.array([3.0, 1.0]) * scale
        np.testing.assert_allclose(g(x, 60), numerical_grad(lambda y: break_on_data(y, 60), x),
                                   rtol=1e-5, atol=1e-9)
    assert g.stats()["misses"] == 1
    (op,) = while_ops(g.traces()[0])
    assert op.params["bound"] == 60


def test_for_loop_whose_range_runs_out_before_the_break_side_exits():
    g = tracejit.jit_grad(break_on_data, backend="numpy")
    x = np.array([3.0, 1.0])                        # settles after 29 iterations
    g(x, 35)
    assert while_ops(g.traces()[0])
    big = x * 1e3                                   # would need 39: the range ends first
    np.testing.assert_allclose(g(big, 35), numerical_grad(lambda y: break_on_data(y, 35), big),
                               rtol=1e-5, atol=1e-9)
    assert g.stats()["side_exits"] == 1 and g.stats()["misses"] == 2


def test_iterations_that_differ_keep_the_loop_guarded():
    def f(x):
        while np.sum(x * x) > 1.0:
            if x[0] > 10.0:                         # a path taken in early iterations only
                x = 0.5 * x
            else:
                x = 0.9 * x
        return np.sum(x)
    g = tracejit.jit_grad(f, backend="numpy")
    x = np.array([37.0, 1.0])
    np.testing.assert_allclose(g(x), numerical_grad(f, x), rtol=1e-6)
    y = np.array([13.0, 1.0])                       # another mix of paths: re-traced, right
    np.testing.assert_allclose(g(y), numerical_grad(f, y), rtol=1e-6)
    assert g.stats()["misses"] == 2


# ---- checkpointing: the reverse pass keeps O(sqrt(trip)) states over a byte budget --------------
def long_orbit(theta, y0):
    y = y0
    while np.sum(y * y) > 0.2:                      # 1254 steps from (1, 0)
        y = y + 0.005 * np.array([y[1], -theta[0] * y[0] - theta[1] * y[1]])
    return np.sum(y * y * y)


def test_checkpointing_bounds_the_tape_and_keeps_the_gradient(monkeypatch):
    args = (np.array([2.0, 0.3]), np.array([1.0, 0.0]))
    full = tracejit.jit_grad(long_orbit, backend="numpy")(*args)
    assert control.SWEEP_STATS["stride"] == 1 and control.SWEEP_STATS["states"] >= 1254
    monkeypatch.setattr(control, "CHECKPOINT_BYTES", 1024)     # 64 states of 16 bytes
    checkpointed = tracejit.jit_grad(long_orbit, backend="numpy")(*args)
    stats = control.SWEEP_STATS
    assert stats["stride"] == 36 and stats["states"] <= 2 * 36 + 2   # isqrt(1253) + 1
    np.testing.assert_allclose(checkpointed, full, rtol=1e-13)
    np.testing.assert_allclose(full, numerical_grad(lambda a: long_orbit(a, args[1]), args[0]),
                               rtol=1e-6)


@pytest.mark.numba
def test_checkpointing_on_numba_agrees(monkeypatch):
    monkeypatch.setenv("TRACEJIT_NUMBA_TIERING", "sync")
    monkeypatch.setenv("TRACEJIT_NUMBA_CROSSCHECK", "1")
    monkeypatch.setattr(control, "CHECKPOINT_BYTES", 1024)
    args = (np.array([2.0, 0.3]), np.array([1.0, 0.0]))
    g = tracejit.jit_grad(long_orbit, backend="numba")
    np.testing.assert_allclose(g(*args), numerical_grad(lambda a: long_orbit(a, args[1]), args[0]),
                               rtol=1e-6)
    assert g.entries()[0].program.compiled
    assert "stride" in g.entries()[0].program.kernel.source


def test_long_counted_loops_checkpoint_too(monkeypatch):
    args = (np.array([2.0, 0.3]), np.array([1.0, 0.0]))
    monkeypatch.setattr(control, "CHECKPOINT_BYTES", 256)      # euler's tape: 50 * 16 bytes
    g = tracejit.value_and_grad(euler, backend="numpy")
    value, grad = g(*args)
    ops = {op.prim.name for op in g.traces()[0].ops}
    assert "sweep" in ops and not any(op.params["tape"] for op in loop_ops(g.traces()[0]))
    assert control.SWEEP_STATS["stride"] > 1
    np.testing.assert_allclose(grad, numerical_grad(lambda a: euler(a, args[1]), args[0]),
                               rtol=1e-6)


def test_the_primal_loop_records_the_tape_once():
    g = tracejit.value_and_grad(euler, backend="numpy")
    g(np.array([2.0, 0.3]), np.array([1.0, 0.0]))
    tapes = [op.params["tape"] for op in loop_ops(g.traces()[0])]
    assert tapes == [True, False]                   # primal loop with tape, reverse loop


WHILE_HESSIAN_CASES = [
    ("fixed_point", fixed_point, lambda: (np.array([0.5, 0.7, 0.3]), np.zeros(3))),
    ("long_orbit", long_orbit, lambda: (np.array([2.0, 0.3]), np.array([1.0, 0.0]))),
]


@pytest.mark.parametrize("name,fn,make", WHILE_HESSIAN_CASES,
                         ids=[c[0] for c in WHILE_HESSIAN_CASES])
def test_hessian_through_a_while_loop(name, fn, make, backend):
    """Forward over reverse through the sweep op (the tangent of a sweep is a sweep)."""
    args = make()
    h = tracejit.hessian(fn, backend=backend)
    np.testing.assert_allclose(h(*args), _hessian_fd(fn, *args), rtol=1e-6, atol=1e-7)
    assert "sweep" in {op.prim.name for op in h.traces()[0].ops}
    if backend == "numba":
        assert h.entries()[0].program.compiled


def test_hessian_through_a_checkpointed_counted_loop(monkeypatch, backend):
    monkeypatch.setattr(control, "CHECKPOINT_BYTES", 256)
    args = (np.array([2.0, 0.3]), np.array([1.0, 0.0]))
    h = tracejit.hessian(euler, backend=backend)
    np.testing.assert_allclose(h(*args), _hessian_fd(euler, *args), rtol=1e-6, atol=1e-7)


def test_a_loop_also_steered_by_python_values_keeps_its_trip_count():
    def f(x):
        n = 0
        while np.sum(x * x) > 1.0 and n < 3:        # `n < 3` is invisible to the trace
            x = 0.7 * x
            n += 1
        return np.sum(x)
    g = tracejit.jit_grad(f, backend="numpy")
    for x in (np.array([1.2, 0.0]), np.array([9.0, 0.0]), np.array([1.2, 0.1])):
        np.testing.assert_allclose(g(x), numerical_grad(f, x), rtol=1e-6)
    assert not while_ops(g.traces()[0])


def test_constants_that_change_with_the_iteration_bound_the_while_loop():
    def f(x):
        for i in range(50):                          # a for loop's index stays a Python int
            x = (x + min(i, 2)) * 0.1                # 0, 1, 2, 2, 2: a line only at first
            if np.sum(x * x) <= 1.0:
                break
        return np.sum(x)
    g = tracejit.jit_grad(f, backend="numpy")
    value = tracejit.jit(f, backend="numpy")
    (op,) = while_ops(tracejit.make_trace(f)(np.array([300.0])))        # 3 trips
    assert op.params["bound"] == 3
    for x in (np.array([300.0]), np.array([30.0]), np.array([3000.0])):   # 3, 2, 4 trips
        np.testing.assert_allclose(value(x), f(x), rtol=1e-13)
        np.testing.assert_allclose(g(x), numerical_grad(f, x), rtol=1e-6, atol=1e-9)
    assert g.stats()["misses"] == 2 and g.stats()["side_exits"] == 1


def test_a_carried_counter_steering_python_code_guards_it_in_the_body():
    def f(x):
        n = 0
        while np.sum(x * x) > 1.0:
            x = (x + min(n, 2)) * 0.1                # n is carried: min() compares it
            n += 1
        return np.sum(x)
    g = tracejit.jit_grad(f, backend="numpy")
    value = tracejit.jit(f, backend="numpy")
    (op,) = while_ops(tracejit.make_trace(f)(np.array([300.0])))
    assert any(o.prim.name == "guard" for o in op.params["body"].ops)
    for x in (np.array([300.0]), np.array([30.0]), np.array([3000.0]), np.array([3e5])):
        np.testing.assert_allclose(value(x), f(x), rtol=1e-13)
        np.testing.assert_allclose(g(x), numerical_grad(f, x), rtol=1e-6, atol=1e-9)


def while_around_for(x):
    err = 1.0
    while err > 1e-8:
        y = x
        for _ in range(3):
            y = np.sin(y) * 0.5
        err = np.sum((y - x) ** 2)
        x = 0.5 * (x + y)
    return np.sum(x * x) + err


def scalar_while(s):
    t = s * 1.0
    while t > 0.01:
        t = t * 0.3 + 0.001 * np.sin(t)
    return t * s


def while_in_while(x):
    total = 0.0
    while np.sum(x * x) > 0.1:
        y = x
        while np.sum(y * y) > np.sum(x * x) * 0.5:
            y = y * 0.8
        x = y * 0.9
        total = total + np.sum(y)
    return total


NESTED_WHILE_CASES = [
    ("while_around_for", while_around_for, [np.array([1.0, 2.0]), np.array([0.3, -1.0])]),
    ("scalar_while", scalar_while, [np.array(5.0), np.array(50.0), np.array(0.5)]),
    ("while_in_while", while_in_while, [np.array([3.0, 1.0]), np.array([30.0, 1.0]),
                                        np.array([0.5, 1.0])]),
]


@pytest.mark.parametrize("name,fn,xs", NESTED_WHILE_CASES, ids=[c[0] for c in NESTED_WHILE_CASES])
def test_while_loops_nested_and_scalar(name, fn, xs, backend):
    """A while loop around a for loop, with a 0-d carry, and inside another while loop (whose
    reverse pass then holds a sweep in its reverse body): one trace for all the inputs."""
    g = tracejit.value_and_grad(fn, backend=backend)
    for x in xs:
        value, grad = g(x)
        np.testing.assert_allclose(value, fn(x), rtol=1e-12)
        np.testing.assert_allclose(grad, numerical_grad(fn, x), rtol=1e-5, atol=1e-8)
    assert g.stats()["misses"] == 1
    if backend == "numba":
        assert g.entries()[0].program.compiled
