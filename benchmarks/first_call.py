"""Fresh process, warm disk cache: time of the first gradient call after imports.

    python benchmarks/first_call.py WORKLOAD   (run it twice: the first run fills the cache)
"""
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tracejit  # noqa: E402
from reference_workloads import make  # noqa: E402
from tracejit.backends import numba_backend  # noqa: E402

if "--init-numba" in sys.argv:      # count numba's one-time target setup as part of imports
    started = time.perf_counter()
    from numba.core.registry import cpu_target
    cpu_target.target_context.refresh()
    print(f"numba import + target setup {(time.perf_counter() - started) * 1e3:.0f} ms")
fn, args, argnum = make(sys.argv[1], np.random.default_rng(0))
grad = tracejit.jit_grad(fn, argnums=argnum)
started = time.perf_counter()
grad(*args)
first = time.perf_counter() - started
program = grad.entries()[0].program
served_by = "the kernel" if getattr(program, "compiled", False) else "the numpy executor"
numba_backend.wait_for_builds()
ready = time.perf_counter() - started
print(f"{sys.argv[1]}: first call {first * 1e3:.1f} ms (served by {served_by}); kernel in use "
      f"{ready * 1e3:.0f} ms after the first call began: {getattr(program, 'compiled', False)}")
