"""Gradient time per call: plain NumPy forward, tracejit (numpy backend), tracejit (numba backend),
and JAX / autograd when importable, on the reference workloads. Prints a ratio table.

    python benchmarks/bench_backends.py [WORKLOAD ...]

Timings are medians over repeats of timeit batches (the machine may be shared). Kernels are built
before timing (TRACEJIT_NUMBA_TIERING=sync), so compile time is not in the per-call figures; the
build time is reported separately. BLAS runs single-threaded (as the targets are stated).
"""
import os
import platform
import statistics
import sys
import time
import timeit
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")          # the targets are single-threaded; set before NumPy
os.environ.setdefault("TRACEJIT_NUMBA_TIERING", "sync")

import numpy as np  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
import tracejit  # noqa: E402
from reference_workloads import make, mlp_loss  # noqa: E402

WORKLOADS = ["small_chain", "rosenbrock", "mlp", "big_chain", "branchy"]


def per_call(fn, budget=0.2, repeats=7):
    """Median seconds per call of `fn()`."""
    fn()
    number, _ = timeit.Timer(fn).autorange()
    number = max(1, int(number * budget / 0.2))
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeats)) / number


def trivial(x):
    return np.sum(x * x)


def mlp_grad_by_hand(W1, b1, W2, b2, X, Y):
    """The gradient of `mlp_loss` in W1, written out in NumPy: the baseline for the mlp target."""
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    logits = logits - np.max(logits, axis=1, keepdims=True)
    e = np.exp(logits)
    p = e / np.sum(e, axis=1, keepdims=True)
    g_logits = (p * np.sum(Y, axis=1, keepdims=True) - Y) / X.shape[0]
    g_h = (g_logits @ W2.T) * (1 - h * h)
    return X.T @ g_h


def peers():
    """The installed peers (tracejit.peers: the function's NumPy is rebound to the peer's
    NumPy-compatible module in a copy, so the user's code is unchanged), each as
    `make(fn, args, argnum) -> zero-argument gradient call`."""
    from tracejit import peers as known
    found = {}
    for peer in (known.Jax(), known.Autograd()):
        try:
            peer.prepare(trivial, (np.ones(3),), 0, {})()
        except known.Unavailable:
            continue
        found[peer.name] = lambda fn, args, argnum, peer=peer: peer.prepare(fn, args, argnum, {})
    return found


def cases(names):
    rng = np.random.default_rng(0)
    for name in names:
        if name == "trivial":
            yield name, trivial, (rng.standard_normal(3),), 0
        else:
            yield (name, *make(name, rng))


def measure(name, fn, args, argnum, other):
    row = {"numpy fwd": per_call(lambda: fn(*args))}
    for backend in ("numpy", "numba"):
        grad = tracejit.jit_grad(fn, argnums=argnum, backend=backend)
        started = time.perf_counter()
        grad(*args)
        if backend == "numba":
            row["build s"] = time.perf_counter() - started
        row[f"tracejit/{backend}"] = per_call(lambda: grad(*args))
    if name == "mlp":
        row["by hand"] = per_call(lambda: mlp_grad_by_hand(*args))
    for peer, make_grad in other.items():
        try:
            row[peer] = per_call(make_grad(fn, args, argnum))
        except Exception as exc:                 # e.g. JAX cannot branch on traced data
            row[peer] = f"fails: {type(exc).__name__}"
    return row


def fmt(seconds):
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.2f} µs"


def main(names):
    other = peers()
    columns = ["numpy fwd", "tracejit/numpy", "tracejit/numba"] + \
              (["by hand"] if "mlp" in names else []) + list(other)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"numba {__import__('numba').__version__}; peers found: {', '.join(other) or 'none'}")
    print("| workload | " + " | ".join(columns) + " | numba vs numpy fwd | numba vs tracejit/numpy "
          "| build |")
    print("|" + "---|" * (len(columns) + 4))
    for name, fn, args, argnum in cases(names):
        row = measure(name, fn, args, argnum, other)
        cells = [(fmt(row[c]) if isinstance(row[c], float) else row[c]) if c in row else "—"
                 for c in columns]
        ratio_fwd = row["tracejit/numba"] / row["numpy fwd"]
        ratio_np = row["tracejit/numba"] / row["tracejit/numpy"]
        print(f"| {name} | " + " | ".join(cells) +
              f" | {ratio_fwd:.2f}× | {ratio_np:.3f}× | {row['build s']:.2f} s |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["trivial"] + WORKLOADS)
