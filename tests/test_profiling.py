"""Statistics, explanations and logs of compiled functions; the `tracejit.compare` tool."""
import importlib.util
import logging
import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

import tracejit
from tracejit.peers import rebind


def grad_np(fn):
    return tracejit.jit_grad(fn, backend="numpy")


def branchy(x):
    if np.sum(x) > 0:
        return np.sum(np.exp(-x) * x)
    return np.sum(np.log1p(x * x))


BRANCH_LINE = f"{__file__}:{branchy.__code__.co_firstlineno + 1}"
HAS = {m: importlib.util.find_spec(m) is not None for m in ("autograd", "jax", "matplotlib")}


# ---- .stats() ----------------------------------------------------------------------------------
def test_stats_count_hits_and_misses_exactly():
    g = grad_np(lambda x: np.sum(x ** 2))
    for _ in range(3):
        g(np.ones(3))
    g(np.ones(4))
    s = g.stats()
    assert (s["calls"], s["hits"], s["misses"], s["retraces"], s["side_exits"]) == (4, 2, 2, 0, 0)
    assert s["backend"] == "numpy"
    assert s["trace_reasons"][0].startswith("first: first call")
    assert "x: ndarray float64[3] -> ndarray float64[4]" in s["trace_reasons"][1]
    for key in ("trace_time", "compile_time", "guard_time", "run_time"):
        assert s[key] >= 0.0


def test_stats_count_retrace_after_forced_guard_failure():
    g = grad_np(branchy)
    x = np.array([0.5, 1.0, -0.2])
    for sample in (x, x, -x, -x, x):
        g(sample)
    s = g.stats()
    # call 3 fails the `if` guard of entry 1 and re-traces; call 5 fails entry 2's, then hits 1
    assert (s["calls"], s["hits"], s["misses"], s["retraces"], s["side_exits"]) == (5, 3, 2, 1, 2)
    assert s["trace_reasons"][1] == f"guard failed: if np.sum(x) > 0: ({BRANCH_LINE})"
    assert s["guard_failures"] == {f"if np.sum(x) > 0: ({BRANCH_LINE})": 2}


def test_input_guard_failure_names_the_global_and_the_function():
    namespace = {"np": np, "K": 2.0}
    exec("def f(x):\n    return np.sum(x * K)", namespace)
    g = grad_np(namespace["f"])
    g(np.ones(2))
    namespace["K"] = 5.0
    np.testing.assert_allclose(g(np.ones(2)), [5.0, 5.0])
    s = g.stats()
    assert s["retraces"] == 1 and s["misses"] == 2
    assert "K" in s["trace_reasons"][1] and "<string>:1" in s["trace_reasons"][1]


# ---- logging -----------------------------------------------------------------------------------
def test_retrace_log_names_failing_guard_and_source_line(caplog):
    g = grad_np(branchy)
    with caplog.at_level(logging.DEBUG, logger="tracejit"):
        g(np.ones(3))
        g(-np.ones(3))
    lines = [r.getMessage() for r in caplog.records if r.name == "tracejit.recompiles"]
    assert len(lines) == 1
    assert "re-tracing branchy" in lines[0]
    assert "if np.sum(x) > 0:" in lines[0] and BRANCH_LINE in lines[0]
    side_exits = [r.getMessage() for r in caplog.records if r.name == "tracejit.guards"]
    assert any("side exit" in m and BRANCH_LINE in m for m in side_exits)


def test_log_categories_are_silent_by_default(caplog):
    g = grad_np(branchy)
    with caplog.at_level(logging.INFO, logger="tracejit"):
        g(np.ones(3))
        g(-np.ones(3))
    assert not caplog.records


def _run(code, env_extra=None, cwd=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def test_tracejit_log_env_var_switches_categories_on():
    code = """
        import numpy as np, tracejit
        def f(x):
            if np.sum(x) > 0:
                return np.sum(x * x)
            return np.sum(-x)
        g = tracejit.jit_grad(f, backend="numpy")
        g(np.ones(2)); g(-np.ones(2))
    """
    out = _run(code, {"TRACEJIT_LOG": "recompiles"})
    assert out.returncode == 0, out.stderr
    assert "[tracejit.recompiles] re-tracing f" in out.stderr
    assert "<string>:3" in out.stderr and "tracejit.compile" not in out.stderr
    bad = _run(code, {"TRACEJIT_LOG": "recompile"})
    assert bad.returncode == 0 and "unknown TRACEJIT_LOG categories" in bad.stderr


# ---- .explain() --------------------------------------------------------------------------------
def test_explain_lists_entries_guards_code_and_trace():
    g = grad_np(branchy)
    g(np.ones(3))
    g(-np.ones(3))
    text = g.explain()
    assert "2 entries in 1 signatures" in text
    assert "signature (x: ndarray float64[3])" in text
    assert f"data guard: if np.sum(x) > 0: is True ({BRANCH_LINE})" in text
    assert f"data guard: if np.sum(x) > 0: is False ({BRANCH_LINE})" in text
    assert "input guard: " in text and "generated code: " in text
    assert "log1p(" in text and "exp(" in text
    assert repr(text) == str(text)


# ---- tracejit.compare --------------------------------------------------------------------------
def test_rebind_swaps_numpy_in_a_copy_only():
    fake = types.ModuleType("fake_numpy")
    fake.sum = lambda x: "fake sum"
    namespace = {"np": np}
    exec("def helper(x):\n    return np.sum(x)\ndef f(x):\n    return helper(x)", namespace)
    swapped = rebind(namespace["f"], {"numpy": fake})
    assert swapped(np.ones(2)) == "fake sum"
    assert namespace["f"](np.ones(2)) == 2.0 and namespace["np"] is np


def test_compare_api_runs_numpy_and_tracejit_and_agrees():
    result = tracejit.compare(lambda x: np.sum(np.sin(x) * x), np.linspace(0, 1, 5),
                              peers=["numpy", "tracejit", "autograd"], repeat=2, budget=0.005,
                              file=False)
    rows = {r.peer: r for r in result.rows}
    assert rows["numpy"].what == "forward" and rows["numpy"].ok
    assert rows["tracejit[numpy]"].agrees == "reference"
    assert rows["tracejit[numpy]"].ops > 0 and rows["numpy"].ops > 0
    if HAS["autograd"]:
        assert rows["autograd"].agrees == "yes"
    else:
        assert rows["autograd"].note.startswith("skipped")
    assert "tracejit[numpy]" in result.table()


@pytest.mark.skipif(not HAS["jax"], reason="jax is not installed")
def test_compare_says_why_jax_fails_on_a_data_dependent_branch():
    result = tracejit.compare(branchy, np.ones(4), peers=["numpy", "tracejit", "jax"],
                              repeat=2, budget=0.005, file=False)
    jax_row = next(r for r in result.rows if r.peer == "jax")
    assert not jax_row.ok and "TracerBoolConversionError" in jax_row.note


def test_compare_command_line_prints_table_and_plot(tmp_path):
    (tmp_path / "tiny.py").write_text("import numpy as np\n\ndef f(x):\n"
                                      "    return np.sum(np.tanh(x) ** 2)\n")
    plot = tmp_path / "out.png"
    out = subprocess.run([sys.executable, "-m", "tracejit.compare", "tiny:f", "--args",
                          "np.random.default_rng(0).standard_normal(10)", "--repeat", "2",
                          "--budget", "0.01", "--plot", str(plot)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "RuntimeWarning" not in out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("tracejit.compare: f(float64[10])")
    assert any(l.startswith("numpy ") and "forward" in l for l in lines)
    assert any(l.startswith("tracejit[numpy]") and "reference" in l for l in lines)
    for peer in ("autograd", "jax"):
        row = next(l for l in lines if l.startswith(peer))
        assert ("skipped" in row) != HAS[peer]
    if HAS["matplotlib"]:
        assert plot.read_bytes()[:4] == b"\x89PNG"
    else:
        assert "plot: skipped" in out.stdout


def test_executed_ops_count_rolled_loop_bodies_per_iteration():
    from tracejit.peers import executed_ops

    def loop(x):
        for _ in range(30):
            x = np.sin(x) * 0.5
        return np.sum(x)
    trace = tracejit.make_trace(loop)(np.ones(3))
    assert executed_ops(trace) >= 60 and executed_ops(trace) >= len(trace.ops)


def test_slow_steps_are_announced_with_their_time(caplog, monkeypatch):
    """A trace still running after SLOW seconds is announced on tracejit.progress, then its
    time; a quick one says nothing."""
    from tracejit import progress
    caplog.set_level(logging.INFO, logger="tracejit.progress")
    grad_np(lambda x: np.sum(x * x))(np.ones(2))
    assert not caplog.records
    monkeypatch.setattr(progress, "SLOW", 0.05)

    def slow(x):
        import time
        time.sleep(0.2)                   # tracing runs this once
        return np.sum(np.sin(x))
    grad_np(slow)(np.ones(2))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and messages[0].startswith("tracing ") and "slow" in messages[0]
    assert messages[0].endswith("...") and messages[1].endswith(" s")


def test_stats_say_which_executor_served_the_calls(monkeypatch):
    monkeypatch.setenv("TRACEJIT_NUMBA_TIERING", "sync")
    compiled = tracejit.jit_grad(lambda x: np.sum(np.cos(x) * x), backend="numba")
    for _ in range(3):
        compiled(np.ones(3))
    assert compiled.stats()["served"] == {"numpy executor": 0, "numba kernel": 3}
    executor = grad_np(lambda x: np.sum(np.cos(x) * x))
    for _ in range(2):
        executor(np.ones(3))
    assert executor.stats()["served"] == {"numpy executor": 2, "numba kernel": 0}
    tracejit.wait()                       # no background build left behind
