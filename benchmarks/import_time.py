"""`import tracejit` against `import numpy`, each in fresh processes, as a ratio.

    python benchmarks/import_time.py [--runs N]

SciPy and numba are imported when first needed (a SciPy function met while tracing, the first
kernel build), not by `import tracejit`; this measures what is left. Best of N runs each.

Measured as a user's install runs it: with Python's bytecode cache (`__pycache__`, written by
pip for installed packages and by the first import of an editable one). An environment with
PYTHONDONTWRITEBYTECODE=1 and no cache (this project's sandboxes) compiles tracejit's modules
from source on every import: about 0.2 s more.
"""
import argparse
import os
import subprocess
import sys


def best_import_time(module, runs, env):
    """Seconds the import statement takes in a fresh process (start-up and exit excluded)."""
    code = (f"import time; started = time.perf_counter(); import {module}; "
            "print(time.perf_counter() - started)")
    return min(float(subprocess.run([sys.executable, "-c", code], check=True, env=env,
                                    capture_output=True, text=True).stdout)
               for _ in range(runs))


def report(label, runs, env):
    numpy = best_import_time("numpy", runs, env)
    tracejit = best_import_time("tracejit", runs, env)
    print(f"{label}\n  import numpy     {numpy * 1e3:7.1f} ms\n"
          f"  import tracejit  {tracejit * 1e3:7.1f} ms  ({tracejit / numpy:.2f}x numpy, "
          "numpy included)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", "import tracejit"], check=True, env=cached)  # the cache
    report("with the bytecode cache (an installed package):", runs, cached)


if __name__ == "__main__":
    main()
