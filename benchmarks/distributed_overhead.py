"""What shipping a tracejit gradient to worker processes costs (issue 19), side by side in one run.

    python benchmarks/distributed_overhead.py [--tasks 200] [--workers 2]

- Per task: a spawn ProcessPoolExecutor maps the gradient of a logistic loss over data shards;
  the same map with a hand-written NumPy gradient is the baseline (both pay pickling and the
  round trip; the ratio is what tracejit adds once its workers are warm).
- First call on a fresh worker: a new process imports tracejit and computes one gradient, with
  the kernel cache cold (an empty TRACEJIT_CACHE_DIR: traced, then served by the numpy executor
  while the kernel builds, or built first with TRACEJIT_NUMBA_TIERING=sync) and warm (the
  kernel loaded from disk).
"""
import argparse
import concurrent.futures
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples"))
import distributed_gradients as example  # noqa: E402


def numpy_gradient(w, x, y, l2):
    """The same gradient as example.shard_gradient, by hand."""
    p = 1.0 / (1.0 + np.exp(-(x @ w)))
    return x.T @ (p - y) / example.TOTAL + 2.0 * l2 * w / example.N_SHARDS


def per_task(pool, fn, shards, tasks, w):
    jobs = [shards[k % len(shards)] for k in range(tasks)]
    list(pool.map(fn, [w] * 8, *zip(*jobs[:8]), [1e-3] * 8))          # warm the workers
    started = time.perf_counter()
    list(pool.map(fn, [w] * tasks, *zip(*jobs), [1e-3] * tasks))
    return (time.perf_counter() - started) / tasks


FIRST_CALL = """
import time, numpy as np
started = time.perf_counter()
import distributed_gradients as example
shards, _ = example.make_shards()
x, y = shards[0]
example.shard_gradient(np.zeros(x.shape[1]), x, y, 1e-3)
print(time.perf_counter() - started)
"""


def first_call(cache_dir, tiering):
    env = dict(os.environ, TRACEJIT_CACHE_DIR=str(cache_dir), TRACEJIT_NUMBA_TIERING=tiering,
               PYTHONPATH=os.pathsep.join([str(HERE.parent / "examples"), str(HERE.parent)]))
    out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    shards, true_w = example.make_shards()
    w = np.zeros(true_w.size)
    np.testing.assert_allclose(example.shard_gradient(w, *shards[0], 1e-3),
                               numpy_gradient(w, *shards[0], 1e-3), rtol=1e-10)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE.parent / "examples"), str(HERE.parent)])
    os.environ["TRACEJIT_NUMBA_TIERING"] = "sync"     # workers' warm-up builds their kernels
    context = multiprocessing.get_context("spawn")
    timings = {"tracejit": [], "numpy": []}
    with concurrent.futures.ProcessPoolExecutor(options.workers, mp_context=context) as pool:
        for _ in range(options.rounds):                              # interleaved rounds
            timings["tracejit"].append(per_task(pool, example.shard_gradient, shards,
                                                options.tasks, w))
            timings["numpy"].append(per_task(pool, numpy_gradient, shards, options.tasks, w))
    ours, theirs = statistics.median(timings["tracejit"]), statistics.median(timings["numpy"])
    print(f"per task ({options.workers} spawn workers, {options.tasks} tasks, median of "
          f"{options.rounds} rounds): tracejit {ours * 1e6:.0f} µs, NumPy by hand "
          f"{theirs * 1e6:.0f} µs, ratio {ours / theirs:.2f}")
    with tempfile.TemporaryDirectory() as cold:
        os.chmod(cold, 0o700)
        background = first_call(cold, "background")
    with tempfile.TemporaryDirectory() as cache:
        os.chmod(cache, 0o700)
        built = first_call(cache, "sync")
        warm = first_call(cache, "sync")
    print(f"fresh worker, import + first gradient: cold cache {background:.2f} s (numpy executor "
          f"while the kernel builds), cold cache waiting for the kernel {built:.2f} s, warm cache "
          f"{warm:.2f} s")


if __name__ == "__main__":
    main()
