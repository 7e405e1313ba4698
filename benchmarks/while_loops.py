"""A `while` loop with a data-dependent exit, across trip counts: one trace and one kernel
serve every trip count; per-call time of the gradient and of the plain NumPy forward pass.

    python benchmarks/while_loops.py

The loop is a fixed-point iteration y = cos(a*y) on n = 100 elements, stopped when the step is
below 1e-10; scaling `a` changes how many iterations that takes.
"""
import os
import statistics
import sys
import timeit

os.environ.setdefault("TRACEJIT_NUMBA_TIERING", "sync")

import numpy as np  # noqa: E402

import tracejit  # noqa: E402

N = 100


def fixed_point(a, y0):
    y = y0
    y_prev = y0 + 1.0
    while np.max(np.abs(y - y_prev)) > 1e-10:
        y_prev = y
        y = np.cos(a * y)
    return np.sum(y * y)


def trips(a, y0):
    y, y_prev, n = y0, y0 + 1.0, 0
    while np.max(np.abs(y - y_prev)) > 1e-10:
        y_prev, y, n = y, np.cos(a * y), n + 1
    return n


def per_call(fn, repeats=5):
    fn()
    number, _ = timeit.Timer(fn).autorange()
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeats)) / number


def main(backends=("numba", "numpy")):
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.9, N)
    y0 = np.zeros(N)
    scales = [0.05, 0.3, 0.6, 0.9, 1.0, 1.1]
    print(f"| trip count | NumPy forward | " +
          " | ".join(f"value_and_grad ({b})" for b in backends) + " |")
    print("|---|---|" + "---|" * len(backends))
    compiled = {b: tracejit.value_and_grad(fixed_point, backend=b) for b in backends}
    for scale in scales:
        a = base * scale
        row = [str(trips(a, y0)), f"{per_call(lambda: fixed_point(a, y0)) * 1e6:.1f} µs"]
        for b in backends:
            row.append(f"{per_call(lambda: compiled[b](a, y0)) * 1e6:.1f} µs")
        print("| " + " | ".join(row) + " |")
    for b in backends:
        stats = compiled[b].stats()
        print(f"\n{b}: {stats['calls']} calls, {stats['misses']} trace(s), "
              f"{len(compiled[b].entries())} cache entr{'y' if len(compiled[b].entries()) == 1 else 'ies'}, "
              f"trace {stats['trace_time'] * 1e3:.1f} ms, compile {stats['compile_time']:.2f} s")


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or ("numba", "numpy"))
