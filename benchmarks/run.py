"""Benchmark suite: tracejit against its peers on the reference workloads and a size sweep.

    python benchmarks/run.py                       # everything, every backend in BACKENDS
    python benchmarks/run.py --backend numba --sizes 10,1000,100000 --workloads chain,rnn
    python benchmarks/run.py --quick               # a small, fast subset (for smoke runs)

Each (workload, size) runs through `tracejit.compare` (same timing rules: first call apart,
median of repeated steady-state runs). Results go to benchmarks/results/: results.json, the
plots sweep.png and reference.png, and README.md with the tables and the machine they ran on.
Peers that are not installed are skipped; a peer that fails on a workload is shown as failing
(with the reason in the JSON), and so is tracejit where it does not support a function yet.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


from tracejit.api import BACKENDS  # noqa: E402
from tracejit.compare import Row, run_peers, summarize  # noqa: E402
from tracejit.peers import to_numpy  # noqa: E402
from tracejit.tree import flatten  # noqa: E402

import overhead  # noqa: E402
import report  # noqa: E402
import workloads  # noqa: E402


class Progress:
    """A one-line progress bar on stderr (no dependency; quiet when stderr is not a tty)."""

    def __init__(self, total):
        self.total, self.done, self.started = total, 0, time.perf_counter()
        self.tty = sys.stderr.isatty()

    def step(self, label):
        self.done += 1
        elapsed = time.perf_counter() - self.started
        bar = "#" * (30 * self.done // self.total)
        line = f"[{bar:<30}] {self.done}/{self.total} {elapsed:6.0f}s  {label}"
        if self.tty:
            sys.stderr.write("\r" + line[:110].ljust(110))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def close(self):
        if self.tty:
            sys.stderr.write("\n")


def _jobs(names, sizes, reference):
    jobs = [("reference", name, None) for name in reference]
    for name in names:
        limit = workloads.SWEEP[name][1]
        jobs += [("sweep", name, n) for n in sizes if n <= limit]
    return jobs


def _make(kind, name, n):
    if kind == "reference":
        return workloads.make_ref(name)
    fn, args = workloads.make_sweep(name, n)
    return fn, args, 0


def _peer_names(opts):
    backends = opts.backends or sorted(BACKENDS, key=lambda b: (b != "numpy", b))
    names = ["numpy", *(f"tracejit[{b}]" for b in backends), "autograd", "jax", "torch"]
    return [p for p in names if not opts.peers or p in opts.peers
            or (p.startswith("tracejit[") and "tracejit" in opts.peers)]


def _worker(kind, name, size, peer, out, repeat, budget):
    """Child process: measure one peer on one workload, pickle its Row (result as numpy)."""
    fn, args, argnum = _make(kind, name, int(size) if size != "-" else None)
    backends = [peer[len("tracejit["):-1]] if peer.startswith("tracejit[") else None
    (row,) = run_peers(fn, args, argnum, [peer], backends, int(repeat), float(budget))
    if row.result is not None:
        row.result = [to_numpy(v) for v in flatten(row.result)[0]]
    with open(out, "wb") as f:
        pickle.dump(row, f)


def _thread_env(threads):
    """Environment giving every peer's math libraries the same number of threads. On a small
    shared machine multi-threaded BLAS stalls on descheduled threads (30 ms for a 0.1 ms matmul
    observed), so the default is 1."""
    env = dict(os.environ)
    if threads:
        n = str(threads)
        env.update(OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n,
                   NUMBA_NUM_THREADS=n, XLA_FLAGS=(env.get("XLA_FLAGS", "") +
                   " --xla_cpu_multi_thread_eigen=" + ("false" if threads == 1 else "true")
                   ).strip())
    return env


def _run_peer_isolated(kind, name, n, peer, opts):
    """Each peer runs in a fresh process: a stuck compile is stopped at the timeout, and no
    peer's warm caches or threads disturb another's timing."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "row.pkl")
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, name,
               str(n) if n else "-", peer, out, str(opts.repeat), str(opts.budget)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=opts.timeout,
                                  env=_thread_env(opts.threads))
        except subprocess.TimeoutExpired:
            return Row(peer, "forward" if peer == "numpy" else "gradient",
                       note=f"failed: Timeout: no result within {opts.timeout:.0f} s "
                            "(first call included)")
        if done.returncode != 0 or not os.path.exists(out):
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return Row(peer, "forward" if peer == "numpy" else "gradient",
                       note=f"failed: worker crashed: {last[:160]}")
        with open(out, "rb") as f:
            return pickle.load(f)


def _run_job(kind, name, n, opts, progress):
    fn, args, argnum = _make(kind, name, n)
    rows = []
    for peer in _peer_names(opts):
        rows.append(_run_peer_isolated(kind, name, n, peer, opts))
        progress.step(f"{name}" + (f" n={n}" if n else "") + f" {peer}")
    record = summarize(fn, args, argnum, rows).as_dict()
    record.update(kind=kind, workload=name, size=n)
    return record


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", help=f"tracejit backends (default: all of {sorted(BACKENDS)})")
    p.add_argument("--peers", help="subset of numpy,tracejit,autograd,jax,torch")
    p.add_argument("--workloads", help="sweep workloads (default: " + ",".join(workloads.SWEEP)
                   + ")")
    p.add_argument("--reference", help="reference workloads (default: all; 'none' to skip)")
    p.add_argument("--sizes", help="problem sizes (default: 10,...,1000000)")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--budget", type=float, default=0.2, help="seconds of timing per peer")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds one peer may take on one workload, first call included")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for BLAS/OpenMP/XLA in every peer (0: libraries' defaults)")
    p.add_argument("--quick", action="store_true", help="sizes 10,1000; repeat 3; short budget")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    opts = p.parse_args(argv)
    split = lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else None
    opts.backends = split(opts.backend)
    opts.peers = split(opts.peers)
    opts.names = split(opts.workloads) or list(workloads.SWEEP)
    opts.ref_names = ([] if opts.reference == "none" else split(opts.reference)
                      or list(workloads.REFERENCE))
    opts.size_list = [int(float(s)) for s in split(opts.sizes)] if opts.sizes else workloads.SIZES
    if opts.quick:
        opts.size_list = [s for s in opts.size_list if s in (10, 1000)] or opts.size_list[:2]
        opts.repeat, opts.budget = 3, 0.02
    return opts


def main(argv=None):
    opts = parse(argv)
    os.makedirs(opts.out, exist_ok=True)
    jobs = _jobs(opts.names, opts.size_list, opts.ref_names)
    progress = Progress(len(jobs) * len(_peer_names(opts)))
    results = [_run_job(kind, name, n, opts, progress) for kind, name, n in jobs]
    progress.close()
    data = {"machine": report.machine_info(), "backends": opts.backends or sorted(BACKENDS),
            "repeat": opts.repeat, "budget": opts.budget, "threads": opts.threads,
            "overhead": overhead.measure_all(opts.backends or sorted(BACKENDS)),
            "results": results}
    with open(os.path.join(opts.out, "results.json"), "w") as f:
        json.dump(data, f, indent=1, default=str)
    report.write_all(data, opts.out)
    print(f"wrote {opts.out}/results.json, README.md and plots", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(*sys.argv[2:])
    else:
        main()
