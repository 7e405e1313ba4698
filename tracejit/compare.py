"""Run one unmodified NumPy function's gradient under tracejit and each installed peer.

    python -m tracejit.compare mymodule:loss --args "np.random.default_rng(0).standard_normal(10)"
    tracejit.compare(loss, x)                      # the same from Python; returns a Comparison

Peers: plain NumPy (the forward pass alone: the floor any gradient pays at least), tracejit with
every backend in `tracejit.api.BACKENDS`, autograd and JAX (the function's module-level `np` is
rebound to `autograd.numpy` / `jax.numpy` in a copy of its globals; JAX runs
`jax.jit(jax.grad(f))` with x64 on), and PyTorch eager (the same rebinding to `torch._numpy`, its
NumPy-compatible layer over tensors). A peer that is not installed is skipped with a note; one
that cannot run the function says why.

Timing: the first call is timed alone ("first call": tracing and compiling included), calls
for 0.2 s warm up, then the median over `repeat` runs of a loop sized to fill `budget` seconds gives
the steady-state time per call. The garbage collector is off during the loops, as in `timeit`.
"Per op" divides the time per call by the number of primitive ops in tracejit's trace of the
same computation (forward trace for the NumPy row, forward+adjoint for gradients): on small
arrays, where arithmetic is negligible, it estimates what each peer pays per operation.
"""
from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import os
import statistics
import sys
import types
from dataclasses import asdict, dataclass, field
from time import perf_counter

import numpy as np

from . import peers as _peers


@dataclass
class Row:
    peer: str
    what: str = "gradient"               # "forward" or "gradient"
    per_call: float | None = None        # seconds, median of the steady state
    first_call: float | None = None      # seconds, the cold call
    ops: int | None = None               # primitive ops in tracejit's trace of this computation
    counts: tuple | None = None          # (forward ops, joint ops), reported by tracejit rows
    agrees: str = ""                     # "reference", "yes", "NO: ..." or "" (not checked)
    note: str = ""                       # why a peer was skipped or failed; timing caveats
    samples: int = 0
    result: object = field(default=None, repr=False)

    @property
    def ok(self):
        return self.per_call is not None


@dataclass
class Comparison:
    function: str
    signature: str
    argnum: int
    rows: list

    @property
    def floor(self):
        """NumPy's forward time: what any gradient costs at least."""
        return next((r.per_call for r in self.rows if r.what == "forward" and r.ok), None)

    def ratio(self, row):
        return row.per_call / self.floor if row.ok and self.floor else None

    def per_op(self, row):
        return row.per_call / row.ops if row.ok and row.ops else None

    def table(self):
        return _format_table(self)

    __str__ = table

    def as_dict(self):
        rows = []
        for r in self.rows:
            d = {k: v for k, v in asdict(r).items() if k != "result"}
            d.update(ratio_to_numpy=self.ratio(r), per_op=self.per_op(r))
            rows.append(d)
        return {"function": self.function, "signature": self.signature, "argnum": self.argnum,
                "rows": rows}

    def plot(self, path):
        """A bar chart of time per call (log scale) with the NumPy forward floor; needs
        matplotlib, returns False (and draws nothing) when it is missing."""
        from ._plot import plot_comparison
        return plot_comparison(self, path)


# ---- measuring ---------------------------------------------------------------------------------
def measure(call, budget=0.25, repeat=7, max_time=20.0, settle=None, warmup=0.2):
    """(first call seconds, median steady-state seconds per call, samples, first result,
    seconds `settle` waited after the first call for background compilation)."""
    started = perf_counter()
    result = call()
    first = perf_counter() - started
    waited = settle(call) if settle else 0.0
    # Warm up for `warmup` seconds, not a fixed count: in a fresh process BLAS threads, caches
    # and lazily built code make the first tenths of a second several times slower.
    warm_until = perf_counter() + warmup
    while True:
        started = perf_counter()
        call()
        one = max(perf_counter() - started, 1e-7)      # the last warm call sizes the loops
        if started + one >= warm_until:
            break
    number = max(1, int(budget / repeat / one))
    repeat = max(1, min(repeat, int(max_time / one)))   # very slow peers: fewer samples
    samples = []
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            started = perf_counter()
            for _ in range(number):
                call()
            samples.append((perf_counter() - started) / number)
    finally:
        if gc_was_on:
            gc.enable()
    return first, statistics.median(samples), len(samples), result, waited


def _why(exc):
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first[:160]}"


def _run_peer(peer, fn, args, argnum, options):
    row = Row(peer.name, what=peer.what)
    try:
        call = peer.prepare(fn, args, argnum, options)
    except _peers.Unavailable as missing:
        row.note = f"skipped: {missing}"
        return row
    except Exception as exc:                      # a peer that cannot run this function
        row.note = f"failed: {_why(exc)}"
        return row
    try:
        row.first_call, row.per_call, row.samples, row.result, waited = measure(
            call, options.get("budget", 0.25), options.get("repeat", 7), settle=peer.settle)
    except Exception as exc:
        row.note = f"failed: {_why(exc)}"
        return row
    row.counts = peer.counts(call)
    notes = [peer.note(call)]
    if waited > 0.01:
        notes.append(f"compiled code ready {fmt_time(row.first_call + waited)} after the start")
    row.note = "; ".join(n for n in notes if n)
    return row


# ---- agreement ---------------------------------------------------------------------------------
def _leaves(value):
    from .tree import flatten
    return [np.asarray(_peers.to_numpy(v)) for v in flatten(value)[0]]


def _agreement(reference, other, rtol=1e-6, atol=1e-9):
    a, b = _leaves(reference), _leaves(other)
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        return "NO: different shapes " + str([x.shape for x in b])
    worst = max((float(np.max(np.abs(x - y) / (atol + rtol * np.abs(x)), initial=0.0))
                 for x, y in zip(a, b)), default=0.0)
    if worst <= 1.0:
        return "yes"
    err = max(float(np.max(np.abs(x - y), initial=0.0)) for x, y in zip(a, b))
    return f"NO: max abs diff {err:.2e}"


def _check_agreement(rows):
    grads = [r for r in rows if r.what == "gradient" and r.ok]
    if not grads:
        return
    ref = next((r for r in grads if r.peer == "tracejit[numpy]"), grads[0])
    ref.agrees = "reference"
    for r in grads:
        if r is not ref:
            r.agrees = _agreement(ref.result, r.result)


# ---- entry points ------------------------------------------------------------------------------
def signature_of(args):
    def one(a):
        if isinstance(a, np.ndarray):
            return f"{a.dtype.name}[{','.join(map(str, a.shape))}]"
        return type(a).__name__
    return ", ".join(one(a) for a in args)


def run_peers(fn, args, argnum=0, peers=None, backends=None, repeat=7, budget=0.25):
    """One measured `Row` per selected peer (no agreement check yet: see `summarize`)."""
    options = {"repeat": repeat, "budget": budget, "backends": backends}
    return [_run_peer(p, fn, args, argnum, options) for p in _peers.select(peers, backends)]


def summarize(fn, args, argnum, rows):
    """The `Comparison` of measured rows: op counts shared, gradients checked against the
    reference. Rows may come from separate processes (benchmarks/ isolates each peer)."""
    _peers.share_op_counts(rows)
    _check_agreement(rows)
    return Comparison(getattr(fn, "__qualname__", repr(fn)), signature_of(args), argnum, rows)


def compare(fn, *args, argnum=0, peers=None, backends=None, repeat=7, budget=0.25,
            plot=None, file=None):
    """Time `fn`'s gradient (w.r.t. positional argument `argnum`) under tracejit and each
    installed peer, check the gradients agree, print the table to `file` (default stdout; pass
    False for silence) and return the `Comparison`. `peers` picks peers by name."""
    rows = run_peers(fn, args, argnum, peers, backends, repeat, budget)
    result = summarize(fn, args, argnum, rows)
    out = sys.stdout if file is None else file
    if out is not False:
        print(result.table(), file=out)
    if plot:
        drawn = result.plot(plot)
        if out is not False:
            print(f"plot: {plot}" if drawn else "plot: skipped (matplotlib is not installed)",
                  file=out)
    return result


# ---- the table ---------------------------------------------------------------------------------
def fmt_time(seconds):
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _format_table(c):
    header = ["peer", "computes", "per call", "× numpy fwd", "first call", "per op", "agrees",
              "note"]
    lines = []
    for r in c.rows:
        ratio = c.ratio(r)
        lines.append([r.peer, r.what, fmt_time(r.per_call), f"{ratio:.3g}" if ratio else "-",
                      fmt_time(r.first_call), fmt_time(c.per_op(r)), r.agrees or "-", r.note])
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(header)]
    out = [f"tracejit.compare: {c.function}({c.signature}), gradient w.r.t. argument {c.argnum}",
           "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(l, widths)).rstrip() for l in lines]
    return "\n".join(out)


# ---- command line ------------------------------------------------------------------------------
def load_target(spec):
    """`package.module:function` or `path/to/file.py:function` -> (function, its module)."""
    modname, _, attr = spec.rpartition(":")
    if not modname or not attr:
        raise SystemExit(f"expected module:function, got {spec!r}")
    if modname.endswith(".py") or os.sep in modname:
        path = os.path.abspath(modname)
        name = os.path.splitext(os.path.basename(path))[0]
        sys.path.insert(0, os.path.dirname(path))
        module = importlib.import_module(name)
    else:
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(modname)
    target = module
    for part in attr.split("."):
        target = getattr(target, part)
    return target, module


def parse_args(expr, factory, module):
    """Arguments from `--args EXPR` (evaluated with numpy as np and the target module's names;
    a tuple is the argument list, anything else one argument) or `--factory module:fn`."""
    if factory:
        made, _ = load_target(factory)
        value = made()
    elif expr:
        namespace = dict(vars(module))
        namespace.update(np=np, numpy=np)
        value = eval(expr, namespace)   # noqa: S307 (the user's own command line)
    else:
        raise SystemExit("give the arguments with --args EXPR or --factory module:function")
    return tuple(value) if isinstance(value, tuple) else (value,)


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="python -m tracejit.compare", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", help="module:function or path/file.py:function")
    p.add_argument("--args", help="a Python expression for the arguments (numpy is np); "
                   "a tuple gives several arguments")
    p.add_argument("--factory", help="module:function returning the argument tuple")
    p.add_argument("--argnum", type=int, default=0, help="differentiate w.r.t. this argument")
    p.add_argument("--peers", help="comma-separated subset of " + ",".join(_peers.NAMES))
    p.add_argument("--backend", help="tracejit backends to run (comma-separated; default all)")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--budget", type=float, default=0.25, help="seconds of timing per peer")
    p.add_argument("--plot", help="write a bar chart to this PNG (needs matplotlib)")
    p.add_argument("--json", help="write the results to this JSON file")
    ns = p.parse_args(argv)
    fn, module = load_target(ns.target)
    args = parse_args(ns.args, ns.factory, module)
    split = lambda s: [x.strip() for x in s.split(",")] if s else None
    result = compare(fn, *args, argnum=ns.argnum, peers=split(ns.peers),
                     backends=split(ns.backend), repeat=ns.repeat, budget=ns.budget,
                     plot=ns.plot)
    if ns.json:
        with open(ns.json, "w") as f:
            json.dump(result.as_dict(), f, indent=1)
    return result


class _CallableModule(types.ModuleType):
    """`tracejit.compare` is both this module (for `python -m`) and the function: calling the
    module calls `compare`, so importing the module never shadows the API."""

    def __call__(self, *args, **kwargs):
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    main()
