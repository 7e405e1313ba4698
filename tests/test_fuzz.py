"""Differential fuzzing: random NumPy programs, written as Python source and compiled with `exec`
so the tracer sees real bytecode, are run plainly and through tracejit.

The first fuzzer (straight-line and branching programs, some reading an array through a global
that is changed in place and rebound between calls): the compiled value equals plain execution,
the gradient equals central finite differences (float64), and a second call on inputs that flip
data-dependent branches is still right (the guards side-exit and re-trace).

The families of issues 17/18 (tests/fuzz_families.py: loop carries, early returns, containers,
type tests, text, impure calls, views, try/except, in-place loops) are judged by
tests/fuzz_oracle.py over a sequence of calls: each family's test fails on a wrong value, a
wrong gradient or an internal error; a clear refusal passes. scripts/fuzz_campaign.py runs the
same programs by the thousand and tabulates the outcomes.

The program's structure comes from hypothesis (so a failure shrinks to a small program); the
input data comes from a seeded generator, so values are generic (no exact ties or zeros that
would put finite differences on a kink). CI runs a fixed budget (without shrinking the new
families: the campaign script shrinks); `pytest -m fuzz --fuzz-examples 10000` is the long
local mode.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

import tracejit
from conftest import numerical_grad
from fuzz_families import FAMILIES, FAMILY_STATEMENTS, Case, cases, random_case
from fuzz_oracle import (CRASHED, FAILURES, OK, REFUSED, SKIPPED, Caller, Mismatch,
                         _check_grads, classify_error, compile_program, make_inputs, namespace_for,
                         run_case)

# short generated loops roll as long ones would (the machinery under test), see conftest
pytestmark = [pytest.mark.fuzz, pytest.mark.usefixtures("roll_short_loops")]

# programs per CI run; the numba backend builds a few kernels per program (~3 s), so it gets fewer
# — each of its calls is also checked against the numpy executor (see conftest's `backend`)
CI_EXAMPLES = {("straight", "numpy"): 120, ("branching", "numpy"): 180,
               ("straight", "numba"): 15, ("branching", "numba"): 20}
FAMILY_CI_EXAMPLES = {"numpy": 20, "numba": 1}


def _fd_grads(fn, inputs):
    grads = []
    for i, x in enumerate(inputs):
        def along(xi, i=i):
            return fn(*inputs[:i], xi, *inputs[i + 1:])
        grads.append(numerical_grad(along, x))
    return grads


def check_call(compiled, fn, inputs, source):
    expected = float(fn(*[x.copy() for x in inputs]))
    value, grads = compiled(*[x.copy() for x in inputs])
    scale = max(1.0, abs(expected))
    assert np.isclose(float(value), expected, rtol=1e-9, atol=1e-11 * scale), \
        f"value {value!r} != plain {expected!r}\n{source}"
    for i, (got, want) in enumerate(zip(grads, _fd_grads(fn, inputs))):
        assert np.shape(got) == np.shape(want), f"gradient shape of x{i}\n{source}"
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale,
                                   err_msg=f"gradient of x{i}\n{source}")


def check_program(source, shapes, seed, backend, global_shape=None):
    namespace = {"np": np}
    if global_shape is not None:
        namespace["G"] = make_inputs([global_shape], seed + 1)[0]
    fn = compile_program(source, namespace)
    inputs = make_inputs(shapes, seed)
    with np.errstate(all="ignore"):
        if not np.isfinite(fn(*inputs)):
            return None                               # overflow: nothing smooth to compare
        compiled = tracejit.value_and_grad(fn, argnums=tuple(range(len(inputs))),
                                           backend=backend)
        check_call(compiled, fn, inputs, source)
        flipped = [-0.8 * x for x in inputs]      # flips sign-based branches of most programs
        if np.isfinite(fn(*flipped)):
            check_call(compiled, fn, flipped, source)
        check_call(compiled, fn, inputs, source)      # the first entry is still right
        if global_shape is not None:
            namespace["G"] *= -1.3                     # in place: read again at call time
            check_call(compiled, fn, inputs, source)
            namespace["G"] = namespace["G"] * 0.5 + 0.2   # rebound
            check_call(compiled, fn, inputs, source)
        primal = tracejit.jit(fn, backend=backend)
        np.testing.assert_allclose(primal(*flipped), fn(*flipped), rtol=1e-9, atol=1e-12)
    return compiled.stats()


def _settings(examples, long_mode, shrink=True):
    phases = list(Phase) if shrink else [Phase.explicit, Phase.reuse, Phase.generate]
    return settings(max_examples=examples, deadline=None, derandomize=not long_mode,
                    suppress_health_check=list(HealthCheck), database=None, phases=phases)


def _run(kind, fuzz_examples, backend):
    n, long_mode = fuzz_examples
    budget = _settings(n or CI_EXAMPLES[kind, backend], long_mode)
    seen = []

    @budget
    @given(cases(kind))
    def run(case):
        stats = check_program(case.source, case.shapes, case.seed, backend, case.global_shape)
        if stats is not None:
            seen.append(stats["side_exits"] > 0)
    run()
    return seen


def test_fuzz_straight_line_programs(fuzz_examples, backend):
    _run("straight", fuzz_examples, backend)


def test_fuzz_branching_programs(fuzz_examples, backend):
    retraced = _run("branching", fuzz_examples, backend)
    # the flipped second call must really exercise side exits, not only replay the first trace
    assert sum(retraced) >= 0.1 * len(retraced), f"{sum(retraced)} of {len(retraced)} re-traced"


def test_flipped_branch_side_exits_and_retraces(backend):
    source = ("def prog(x0):\n"
              "    if np.sum(x0) > 0.0:\n"
              "        v0 = np.sin(x0)\n"
              "    else:\n"
              "        v0 = np.cos(x0)\n"
              "    return np.sum(v0)\n")
    seed = next(s for s in range(100) if make_inputs([(3,)], s)[0].sum() > 0)
    stats = check_program(source, [(3,)], seed, backend)
    assert stats["side_exits"] >= 1 and stats["misses"] == 2


@pytest.mark.parametrize("family", list(FAMILY_STATEMENTS))
def test_fuzz_family(family, fuzz_examples, backend):
    """Issues 17/18/21: programs of one family, over the oracle's call sequence; a wrong value,
    a wrong gradient or a crash fails, and so does a refusal in the families tracejit must
    compile (MUST_COMPILE: try_except). See scripts/fuzz_campaign.py for the rates and minimal
    reproducers."""
    n, long_mode = fuzz_examples

    @_settings(n or FAMILY_CI_EXAMPLES[backend], long_mode, shrink=long_mode)
    @given(cases(family))
    def run(case):
        outcome = run_case(case, backend)
        failures = (*FAILURES, *MUST_COMPILE.get(family, ()))
        assert outcome.kind not in failures, \
            f"{family}: {outcome.kind}: {outcome.detail}\n{case.source}"
    run()


# families whose programs tracejit compiles: a refusal fails them too
MUST_COMPILE = {family: (REFUSED,) for family in ("try_except", "outside_state", "user_classes")}


# ---- the fuzzer itself ---------------------------------------------------------------------------
def test_generated_programs_run_plainly():
    """Every family's programs are valid Python that plain NumPy runs (else nothing is tested)."""
    for family in FAMILIES:
        for seed in range(15):
            case = random_case(family, seed)
            fn = compile_program(case.source, namespace_for(case))
            with np.errstate(all="ignore"):
                fn(*make_inputs(case.shapes, case.seed))


def test_oracle_flags_a_wrong_gradient():
    fn = compile_program("def prog(x0):\n    return np.sum(np.sin(x0))\n", {"np": np})
    caller, x = Caller(fn, ""), [np.array([0.3, -0.7])]
    _check_grads(caller, x, [np.cos(x[0])], 1.0)
    with pytest.raises(Mismatch):
        _check_grads(caller, x, [np.cos(x[0]) * 1.01], 1.0)


def test_oracle_classifies_errors():
    assert classify_error(tracejit.UnsupportedError("print() is not supported")) == REFUSED
    assert classify_error(ValueError("operands could not be broadcast")) == REFUSED
    assert classify_error(TypeError("unsupported operand type(s) for +: 'Tracer'")) == CRASHED
    assert classify_error(AttributeError("'Var' object has no attribute 'shape'")) == CRASHED


def test_oracle_never_accepts_a_frozen_draw(monkeypatch):
    """A random draw made once at trace time must show (or the call be refused), never pass.
    tracejit draws Python's random at call time, so that is switched off here to freeze one."""
    from tracejit.frontend import calls
    monkeypatch.setattr(calls, "is_draw", lambda fn: False)
    source = "def prog(x0):\n    return np.sum(x0) * random.random()\n"
    outcome = run_case(Case("impure", source, [(3,)], 1, None))
    assert outcome.kind not in (OK, SKIPPED), outcome
    monkeypatch.undo()
    assert run_case(Case("impure", source, [(3,)], 1, None)).kind == OK   # drawn at call time
