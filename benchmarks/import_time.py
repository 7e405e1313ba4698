"""`import tracejit` against `import numpy`, each in fresh processes, as a ratio.

    python benchmarks/import_time.py [--runs N]

SciPy and numba are imported when first needed (a SciPy function met while tracing, the first
kernel build), not by `import tracejit`; this measures what is left. Best of N runs each.
"""
import argparse
import subprocess
import sys
import time


def best_import_time(module, runs):
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        best = min(best, time.perf_counter() - started)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    bare = best_import_time("sys", runs)               # the interpreter's own start-up
    numpy = best_import_time("numpy", runs) - bare
    tracejit = best_import_time("tracejit", runs) - bare
    print(f"import numpy     {numpy * 1e3:7.1f} ms")
    print(f"import tracejit  {tracejit * 1e3:7.1f} ms  ({tracejit / numpy:.2f}x numpy, "
          "numpy included)")


if __name__ == "__main__":
    main()
