"""Gradient time per call with numba_math's vector functions in fused loops against the C
library's (what the numba backend generated before), in one process, alternating the two so
machine load hits both alike.

    python benchmarks/bench_vecmath.py
"""
import os
import statistics
import sys
import timeit

os.environ.setdefault("TRACEJIT_NUMBA_TIERING", "sync")
sys.path.insert(0, "/work/shared/reference")

import numpy as np  # noqa: E402

import tracejit  # noqa: E402
from tracejit.backends import numba_codegen  # noqa: E402
from workloads import big_chain, small_chain  # noqa: E402

LIBM = 10**18          # a VECTOR_MIN_TRIP no loop reaches: every loop calls the C library


def mixed(x):
    return np.sum(np.exp(-x * x) * np.sin(3.0 * x) + np.tanh(x) * np.cos(x))


def per_call(fn, repeats=7):
    fn()
    number, _ = timeit.Timer(fn).autorange()
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeats)) / number


def compare(label, transform, fn, x, rounds=3):
    best = {}
    for _ in range(rounds):
        for name, trip in (("libm", LIBM), ("vector", numba_codegen.VECTOR_MIN_TRIP)):
            saved, numba_codegen.VECTOR_MIN_TRIP = numba_codegen.VECTOR_MIN_TRIP, trip
            try:
                compiled = transform(fn)
                seconds = per_call(lambda: compiled(x))
            finally:
                numba_codegen.VECTOR_MIN_TRIP = saved
            best[name] = min(best.get(name, np.inf), seconds)
    print(f"| {label} | {best['libm'] * 1e3:.3f} ms | {best['vector'] * 1e3:.3f} ms | "
          f"{best['libm'] / best['vector']:.2f}× |", flush=True)


def main():
    rng = np.random.default_rng(0)
    print(f"load average {os.getloadavg()[0]:.2f}; best of 3 medians")
    print("| case | C library | numba_math | speed-up |\n|---|---|---|---|")
    compare("jit_grad(small_chain), n=10", tracejit.jit_grad, small_chain, rng.standard_normal(10))
    for n in (10, 1000, 10**6):
        compare(f"jit_grad(mixed), n={n}", tracejit.jit_grad, mixed, rng.standard_normal(n))
    x = rng.standard_normal(10**6)
    compare("jit_grad(big_chain), n=10⁶", tracejit.jit_grad, big_chain, x)
    compare("value_and_grad(big_chain), n=10⁶", tracejit.value_and_grad, big_chain, x)
    compare("jit(big_chain), n=10⁶", tracejit.jit, big_chain, x)


if __name__ == "__main__":
    main()
