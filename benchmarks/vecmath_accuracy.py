"""Maximum error in ulps of numba_math's exp/log/sin/cos/tanh (float64 and float32) over random
inputs, against the x87 long double C library (64-bit mantissa: its own error is far below a
double's ulp). The figures in benchmarks/RESULTS.md come from this script.

    python benchmarks/vecmath_accuracy.py [N]        # N inputs per range, default 10**7
"""
import sys

import numpy as np
from numba import njit

from tracejit.backends import numba_math as vm

RANGES = {
    "exp": [(-745.2, 709.8), (-1.0, 1.0)],
    "log": [(0.0, 1e3), (0.5, 2.0)],
    "sin": [(-2 * np.pi, 2 * np.pi), (-vm.TRIG_MAX, vm.TRIG_MAX)],
    "cos": [(-2 * np.pi, 2 * np.pi), (-vm.TRIG_MAX, vm.TRIG_MAX)],
    "tanh": [(-1.0, 1.0), (-20.0, 20.0)],
}


def compiled(f):
    @njit(error_model="numpy")
    def loop(x, out):
        for i in range(x.shape[0]):
            out[i] = f(x[i])
    return loop


def ulps(got, ref, dtype):
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = ref.astype(dtype)
        unit = np.maximum(np.spacing(np.abs(rounded)), np.finfo(dtype).smallest_subnormal)
        err = np.abs(got.astype(np.longdouble) - ref) / unit.astype(np.longdouble)
    return np.where((got == rounded) | (np.isnan(got) & np.isnan(rounded)), 0.0, err)


def report(name, dtype, x, chunk=10**6):
    suffix = "" if dtype == np.float64 else "32"
    loop = compiled(getattr(vm, name + suffix))
    worst, where = 0.0, None
    for start in range(0, x.size, chunk):
        part = x[start:start + chunk].astype(dtype)
        out = np.empty_like(part)
        loop(part, out)
        err = ulps(out, getattr(np, name)(part.astype(np.longdouble)), dtype)
        i = int(np.argmax(err))
        if err[i] > worst:
            worst, where = float(err[i]), part[i]
    return worst, where


def main(n):
    rng = np.random.default_rng(2026)
    print(f"{n} random inputs per range; error in ulps of the result's type")
    for name, ranges in RANGES.items():
        for lo, hi in ranges:
            x = rng.uniform(lo, hi, n)
            for dtype in (np.float64, np.float32):
                worst, where = report(name, dtype, x)
                print(f"{name:5s} {np.dtype(dtype).name:8s} [{lo:.4g}, {hi:.4g}]: "
                      f"max {worst:.3f} ulp at {where!r}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10**7)
