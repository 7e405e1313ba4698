"""Loop rolling at scale: trace length, build time and gradient time as the trip count grows.

    python benchmarks/loop_scaling.py                    # euler 100/1000/10000, rosenbrock 50/1000/100000
    python benchmarks/loop_scaling.py --peers jax --timeout 600

For each workload and trip count, tracejit (numba backend, cold kernel cache, built before
timing) reports the joint trace's op count, the time to trace and the time to compile, and the
gradient time per call; a hand-written numba adjoint loop is the floor for the per-call time.
JAX (`jax.jit(jax.grad)` of the same Python loop, which it unrolls) and autograd run each in a
fresh process with a timeout (`run.py`'s isolation): their "first call" is tracing plus
compiling plus one run. Results print as a Markdown table.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from types import SimpleNamespace

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ["TRACEJIT_NUMBA_TIERING"] = "sync"        # build before timing: compile time apart
os.environ.setdefault("TRACEJIT_CACHE_DIR", tempfile.mkdtemp(prefix="tracejit-loops-"))

import numba  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402
import workloads  # noqa: E402
from bench_backends import fmt, per_call  # noqa: E402

import tracejit  # noqa: E402

CASES = {"euler": [100, 1000, 10_000], "rosenbrock": [50, 1000, 100_000]}


# ---- hand-written adjoints: the floor a compiled gradient is measured against ------------------
@numba.njit(cache=True)
def euler_grad_by_hand(theta, y0, steps):
    """d/dtheta of sum(y_N²) for y_{k+1} = y_k + dt·(y1, -θ0·y0 - θ1·y1): a forward loop keeping
    the trajectory, then the adjoint loop backwards."""
    dt = 1.0 / steps
    ys = np.empty((steps + 1, 2))
    ys[0] = y0
    for k in range(steps):
        a, b = ys[k, 0], ys[k, 1]
        ys[k + 1, 0] = a + dt * b
        ys[k + 1, 1] = b + dt * (-theta[0] * a - theta[1] * b)
    g0, g1 = 2.0 * ys[steps, 0], 2.0 * ys[steps, 1]
    d0 = d1 = 0.0
    for k in range(steps - 1, -1, -1):
        a, b = ys[k, 0], ys[k, 1]
        d0 -= g1 * dt * a
        d1 -= g1 * dt * b
        g0, g1 = g0 - g1 * dt * theta[0], g0 * dt + g1 * (1.0 - dt * theta[1])
    return np.array([d0, d1])


@numba.njit(cache=True)
def rosenbrock_grad_by_hand(x):
    g = np.zeros_like(x)
    for i in range(x.size - 1):
        r = x[i + 1] - x[i] ** 2
        g[i] += -400.0 * r * x[i] - 2.0 * (1.0 - x[i])
        g[i + 1] += 200.0 * r
    return g


def by_hand(name, n, args):
    if name == "euler":
        return lambda: euler_grad_by_hand(args[0], args[1], n)
    return lambda: rosenbrock_grad_by_hand(args[0])


# ---- tracejit ------------------------------------------------------------------------------------
def measure_tracejit(name, n):
    fn, args = workloads.make_sweep(name, n)
    grad = tracejit.jit_grad(fn, backend="numba")
    started = time.perf_counter()
    value = grad(*args)
    first = time.perf_counter() - started
    stats = grad.stats()
    (entry,) = grad.entries()
    expected = by_hand(name, n, args)()
    assert np.allclose(value, expected, rtol=1e-9, atol=1e-12), (name, n, value, expected)
    return dict(ops=sum(count_ops(t) for t in grad.traces()), trace=stats["trace_time"],
                compile=stats["compile_time"], first=first, per_call=per_call(lambda: grad(*args)),
                by_hand=per_call(by_hand(name, n, args)), executor=getattr(entry, "executor", ""))


def count_ops(trace):
    """Ops of the joint trace, those of loop bodies (and their reverse bodies) included once."""
    from tracejit.ir import Trace
    return sum(1 + sum(count_ops(v) for v in op.params.values() if isinstance(v, Trace))
               for op in trace.ops)


def ratio(a, b):
    return f"{a / b:.2f}×" if a >= b / 100 else f"1/{b / a:,.0f}"


def warm_up_numba():
    """numba's one-time set-up (≈0.5 s) would otherwise land in the first workload's compile."""
    grad = tracejit.jit_grad(lambda x: np.sum(x * x), backend="numba")
    grad(np.ones(3))


# ---- peers, each in a fresh process ----------------------------------------------------------
def measure_peer(name, n, peer, timeout):
    opts = SimpleNamespace(repeat=5, budget=0.2, timeout=timeout, threads=1)
    row = run._run_peer_isolated("sweep", name, n, peer, opts)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peers", default="jax,autograd")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds a peer may take on one workload, first call included")
    p.add_argument("--workloads", default=",".join(CASES))
    opts = p.parse_args(argv)
    peers = [s for s in opts.peers.split(",") if s]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, NumPy {np.__version__}, numba {numba.__version__}; "
          f"load average {os.getloadavg()[0]:.1f}")
    warm_up_numba()
    head = ["workload", "trips", "trace ops", "trace", "compile", "tracejit/numba", "by hand",
            "vs by hand"]
    for peer in peers:
        head += [f"{peer} first call", f"{peer} per call", f"tracejit vs {peer}"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in opts.workloads.split(","):
        for n in CASES[name]:
            t = measure_tracejit(name, n)
            cells = [name, f"{n:,}", str(t["ops"]), fmt(t["trace"]), fmt(t["compile"]),
                     fmt(t["per_call"]), fmt(t["by_hand"]), ratio(t["per_call"], t["by_hand"])]
            for peer in peers:
                row = measure_peer(name, n, peer, opts.timeout)
                if row.ok:
                    cells += [fmt(row.first_call), fmt(row.per_call),
                              ratio(t["per_call"], row.per_call)]
                else:
                    cells += [row.note.replace("|", "/")[:70], "—", "—"]
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
