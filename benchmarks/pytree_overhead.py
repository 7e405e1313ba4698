"""Per-call cost of container arguments and results: a trivial function of a dict, a
dataclass and a NamedTuple of parameters, compiled with `jit` and `grad`, best of many calls.

    python benchmarks/pytree_overhead.py [--backend numba]

Positional calls take the generated fast path (the structure checked inline); a keyword
argument sends the call through the general path (flatten the arguments, hash the structure,
look the entry up).
"""
import argparse
import dataclasses
import typing
from time import perf_counter

import numpy as np

import tracejit


@dataclasses.dataclass
class Params:
    w: np.ndarray
    b: np.ndarray


class Pair(typing.NamedTuple):
    w: np.ndarray
    b: np.ndarray


def by_key(p, x):
    return p["w"] * x + p["b"]


def by_attribute(p, x):
    return p.w * x + p.b


def best_time(call, number=5000, repeat=15):
    call()
    call()
    samples = []
    for _ in range(repeat):
        started = perf_counter()
        for _ in range(number):
            call()
        samples.append((perf_counter() - started) / number)
    return min(samples)


def measure(backend):
    x, w, b = np.ones(3), np.ones(3), np.zeros(3)
    rows = []
    for kind, params, fn in (("dict", {"w": w, "b": b}, by_key),
                             ("dataclass", Params(w, b), by_attribute),
                             ("NamedTuple", Pair(w, b), by_attribute)):
        f = tracejit.jit(fn, backend=backend)
        g = tracejit.grad(lambda p, x, fn=fn: np.sum(fn(p, x)), backend=backend)
        rows += [(f"jit, {kind} argument", best_time(lambda: f(params, x))),
                 (f"jit, {kind} argument, keyword x", best_time(lambda: f(params, x=x))),
                 (f"grad, {kind} argument and gradient", best_time(lambda: g(params, x)))]
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backend", default="numba")
    for name, seconds in measure(p.parse_args().backend):
        print(f"{name:42s} {seconds * 1e6:7.2f} µs")


if __name__ == "__main__":
    main()
