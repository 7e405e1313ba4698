"""Per-call overhead of tracejit on a trivial gradient, split by phase with `.stats()`.

    python benchmarks/overhead.py [--backend numpy]

The function is `sum(x * x)` on 3 elements, so arithmetic is negligible and the time per call
is the runtime's own cost: flattening arguments and finding the cache entry ("dispatch"),
checking input guards, running the compiled program, building the result.
"""
import argparse
import statistics
import sys
from time import perf_counter

import numpy as np

import tracejit


def trivial(x):
    return np.sum(x * x)


def measure(backend, number=20000, repeat=9):
    g = tracejit.jit_grad(trivial, backend=backend)
    x = np.ones(3)
    g(x)
    g(x)
    samples = []
    for _ in range(repeat):
        started = perf_counter()
        for _ in range(number):
            g(x)
        samples.append((perf_counter() - started) / number)
    s = g.stats()
    per_call = statistics.median(samples)
    guard, run = s["guard_time"] / s["calls"], s["run_time"] / s["calls"]
    return {"backend": backend, "per_call": per_call, "guard_checks": guard, "running": run,
            "dispatch_and_result": max(per_call - guard - run, 0.0), "min": min(samples)}


def measure_all(backends):
    out = []
    for b in backends:
        try:
            out.append(measure(b))
        except Exception as exc:            # a backend that cannot run even this: say why
            out.append({"backend": b, "error": f"{type(exc).__name__}: {exc}"})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backend", default=",".join(sorted(tracejit.api.BACKENDS)))
    for r in measure_all(p.parse_args().backend.split(",")):
        if "error" in r:
            print(f"{r['backend']}: {r['error']}", file=sys.stderr)
            continue
        print(f"{r['backend']}: {r['per_call'] * 1e6:.2f} µs per call (min {r['min'] * 1e6:.2f}): "
              f"dispatch+result {r['dispatch_and_result'] * 1e6:.2f}, guard checks "
              f"{r['guard_checks'] * 1e6:.2f}, running {r['running'] * 1e6:.2f}")


if __name__ == "__main__":
    main()
