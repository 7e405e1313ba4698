"""The callable users hold: argument flattening, the entry cache, guard checks and re-tracing.

Entries are bucketed by a key computed from the arguments (tree structure, array shapes and
dtypes, values of static arguments). Within a bucket each entry additionally checks its guards on
outside state, then runs; a data guard failing inside the run is a side exit and the next entry
(or a fresh trace) is tried. A stale result is never returned.
"""
from __future__ import annotations

import contextlib
import functools
import sys
import threading
from time import perf_counter
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..frontend import TraceResult, python_entry, trace_function
from ..frontend import draws
from ..ir import Lit, Trace
from ..backends.numpy_exec import run_trace
from ..errors import UnsupportedError
from ..ops.core import GuardFailure, caller_fp_policy
from ..ops.effects import held_output, prints
from ..progress import slow_step
from ..tree import are_leaves, flatten, leaf_tuple
from . import explain, logs
from .fp_policy import caller_raises
from .guard_code import compile_fast_call, compile_prepare, leaf_key
from .stats import HotPathCounts, Retrace, Stats

DEFAULT_CACHE_LIMIT = 8
_MISS = object()                          # no cached entry could run the call


@functools.lru_cache(maxsize=None)
def _flat_treedef(n):
    """What `flatten((args, {}))` gives for `n` positional arguments that are all leaves."""
    return flatten((leaf_tuple(n).unflatten([0.0] * n), {}))[1]


@dataclass
class Entry:
    result: TraceResult
    program: object                       # what the backend compiled: inputs -> outputs
    arg_leaves: tuple
    sourced: tuple
    guards: tuple
    slow_hits: int = 0                    # calls served by the general path
    trace_time: float = 0.0
    compile_time: float = 0.0
    joint: object = None
    finish: object = None                 # (outputs, leaves) -> the user-visible result
    why: Retrace = None                   # why this entry was traced, for .explain()
    labels: list = None                   # readable names of the argument leaves
    key: tuple = None                     # the cache key (argument structure and leaf keys)
    _prepare: object = None               # generated guard check + outside reads (guard_code)
    fast: object = None                   # generated hot path (guard_code.compile_fast_call)
    hot: HotPathCounts = None             # its counters

    @property
    def executor(self):
        """What serves this entry's calls now: "numpy" (the executor) or "numba" (its kernel)."""
        return getattr(self.program, "executor", "numpy")

    @property
    def fallback_reason(self):
        """Why a compiling backend's program is not running its compiled code, or None."""
        return getattr(self.program, "fallback_reason", None)

    @functools.cached_property
    def rewinds(self):
        """Whether some inputs are random draws made at call time that keep their generators'
        states, to be rewound when the run side-exits (frontend/draws.py)."""
        return draws.rewinds(self.sourced)

    @property
    def hits(self):
        return self.slow_hits + (self.hot.count if self.hot is not None else 0)

    def guards_hold(self, fn, leaves):
        """The first guard that fails on these arguments, or None."""
        return self.check(fn, leaves)[0]

    def check(self, fn, leaves):
        """(failing guard, None) or (None, the outside arrays the trace reads), evaluated by
        straight-line code generated once for this entry."""
        if self._prepare is None:
            self._prepare = compile_prepare(self.guards, self.sourced)
        result = self._prepare(fn, leaves)
        if type(result) is int:
            return self.guards[result] if result < len(self.guards) else _SOURCE_GONE, None
        return None, result

    def run(self, fn, leaves, sourced=None, strict=False):
        """The outputs on these arguments; `strict`: under the caller's floating-point policy."""
        inputs = self.inputs(fn, leaves, sourced)
        outputs = _run_under_caller_policy(self.joint, inputs) if strict else \
            self.program.run(inputs)
        for j in self.constant_slots:
            outputs[j] = outputs[j].copy()
        return outputs

    @functools.cached_property
    def constant_slots(self):
        """Outputs that are array constants of the trace: one shared, read-only array, so each
        caller gets its own writable copy, as a plain call would give."""
        return tuple(j for j, a in enumerate(getattr(self.joint, "outputs", ()))
                     if isinstance(a, Lit) and isinstance(a.value, np.ndarray))

    def inputs(self, fn, leaves, sourced=None):
        """The trace's input values: argument leaves, then the outside arrays it reads (as
        `check` already fetched them, or read again through their sources)."""
        values = [leaves[i] for i in self.arg_leaves]
        values += sourced if sourced is not None else [s.get(fn, leaves) for s in self.sourced]
        return values


def _run_under_caller_policy(trace, inputs):
    """The numpy executor with the caller's floating-point error state in force (fp_policy):
    an error it raises is a side exit, and the call is traced under that state, which meets the
    error where CPython would (or finds it was in code that silences it)."""
    with held_output(), caller_fp_policy():
        try:
            return run_trace(trace, inputs)
        except (FloatingPointError, RuntimeWarning) as error:
            raise GuardFailure(f"{type(error).__name__} under the caller's floating-point "
                               f"error state: {error}") from error


def _user_stacklevel():
    """The `stacklevel` that makes a warning point at the first frame outside tracejit (the
    user's call), however many of tracejit's own frames lie between."""
    package = __name__.split(".")[0]
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == package:
        frame, level = frame.f_back, level + 1
    return level


class _WrappedProgram:
    """A compiled program with behaviour added around `run`; the rest is the program's."""

    def __init__(self, program):
        self.program = program

    def __getattr__(self, name):           # executor, fallback_reason, kernel, source ...
        if name == "program":              # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.program, name)


class ErrorsRetrace(_WrappedProgram):
    """A program traced through try or with blocks: an op that raises when it runs (NumPy's
    error on these inputs, which tracing did not meet) may be one the user's code catches,
    so the call is a side exit; re-tracing runs the handler CPython would, or raises as it
    would, on the user's line."""

    def run(self, inputs):
        try:
            return self.program.run(inputs)
        except GuardFailure:
            raise
        except Exception as error:
            raise GuardFailure(f"{type(error).__name__} raised inside code with try/with "
                               "blocks") from error


class PrintingProgram(_WrappedProgram):
    """A program whose trace prints: its prints are held while it runs, and dropped when a
    guard fails (the call is served again, and prints then). It wraps ErrorsRetrace, whose
    side exits then drop the prints too."""

    def run(self, inputs):
        with held_output():
            return self.program.run(inputs)


def _may_side_exit(trace):
    """Whether running `trace` may raise GuardFailure: it checks a guard, or runs a loop (whose
    body may, or whose iterator may run out)."""
    return any(op.prim.effect or any(isinstance(p, Trace) for p in op.params.values())
               for op in trace.ops)


# an outside array the trace reads has disappeared (an attribute deleted, a key removed)
_SOURCE_GONE = "an outside array the trace reads is no longer there"


@dataclass
class CompiledFunction:
    """Traces `fn` on first use per input signature, transforms the trace (`transform`), and
    runs the compiled result on later calls while its guards hold."""
    fn: object
    transform: object                     # (TraceResult, leaves) -> (trace to compile, finish)
    backend: object
    cache_limit: int = DEFAULT_CACHE_LIMIT
    entries: dict = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    _lock: threading.RLock = field(default_factory=threading.RLock)        # tracing, the cache
    _stats_lock: threading.Lock = field(default_factory=threading.Lock)   # counters on hot paths
    _warned: bool = False
    _hot: object = None                   # the entry that ran last: its fast path is tried first

    def __post_init__(self):
        # trace and guard against the same Python function (a trampoline for non-Python callables)
        self.fn = python_entry(self.fn)
        self.stats.backend = getattr(self.backend, "name", type(self.backend).__name__)

    def __call__(self, *args, **kwargs):
        if caller_raises():               # np.errstate(divide="raise"), warnings as errors
            return self._call(args, kwargs, strict=True)
        hot = self._hot
        if hot is not None and not kwargs:
            try:
                result = hot.fast(self.fn, args)
            except GuardFailure as failure:   # a side exit: the general path takes over
                exited = self._side_exit(failure, hot)
            else:
                if result is not _MISS:
                    return result
                exited = None
            # outside the `except`: an exception the user's code raises while re-tracing must
            # not get the GuardFailure as its __context__
            return self._call(args, kwargs, [hot] if exited else None, exited)
        return self._call(args, kwargs)

    def _call(self, args, kwargs, tried=None, failed=None, strict=False):
        """The general path: find the entries for these arguments' key, run the first whose
        guards hold, else trace anew. `strict`: under the caller's floating-point policy."""
        if kwargs or not are_leaves(args):
            leaves, treedef = flatten((args, kwargs))
        else:                             # the common case, without the general walk
            leaves, treedef = list(args), _flat_treedef(len(args))
        key = (treedef, tuple(leaf_key(leaf) for leaf in leaves))
        with self._stats_lock:
            self.stats.calls += 1
        tried = [] if tried is None else tried          # entries already run on these arguments
        result, failed_here = self._run_cached(key, leaves, tried, strict)
        if result is not _MISS:
            return result
        return self._retrace(key, args, kwargs, leaves, failed_here or failed, tried, strict)

    def _run_cached(self, key, leaves, tried, strict=False):
        """Run the first entry of `key` (not in `tried`) whose guards hold: (result, None), or
        (_MISS, the last guard failure) when none does."""
        stats = self.stats
        failed = None                     # the last guard failure, to explain a re-trace
        for entry in list(self.entries.get(key, ())):
            if any(entry is t for t in tried):
                continue
            tried.append(entry)
            started = perf_counter()
            guard, sourced = entry.check(self.fn, leaves)
            checked = perf_counter()
            if guard is not None:
                failed = self._input_guard_failed(guard)
                continue
            try:
                outputs = entry.run(self.fn, leaves, sourced, strict)
            except GuardFailure as failure:
                failed = self._side_exit(failure, entry)
                continue
            finally:
                with self._stats_lock:
                    stats.guard_time += checked - started
                    stats.run_time += perf_counter() - checked
            with self._stats_lock:
                entry.slow_hits += 1
                stats.hits += 1
            self._make_hot(entry)
            return entry.finish(outputs, leaves), None
        return _MISS, failed

    def _input_guard_failed(self, guard):
        # Input guards carry no source line of their own: name the function's definition.
        loc = getattr(guard, "loc", None) or explain.def_loc(self.fn)
        with self._stats_lock:
            self.stats.note_guard_failure(str(guard), loc)
        logs.guards.debug("%s: input guard failed: %s (%s)", explain.name(self.fn), guard, loc)
        return Retrace("guard failed", str(guard), str(loc))

    def _side_exit(self, failure, entry):
        if entry.rewinds:                 # the entry that serves the call draws them again
            draws.rewind()
        loc = failure.op.loc if failure.op is not None else None
        with self._stats_lock:
            self.stats.note_guard_failure(failure.reason, loc)
        logs.guards.debug("%s: side exit: %s", explain.name(self.fn), failure)
        return Retrace("guard failed", failure.reason, str(loc or ""))

    def _retrace(self, key, args, kwargs, leaves, failed=None, tried=(), strict=False):
        with self._lock:
            # another thread may have traced these arguments while this one waited for the lock
            result, failed_again = self._run_cached(key, leaves, list(tried), strict)
            if result is not _MISS:
                return result
            failed = failed_again or failed
            why = failed or explain.signature_change(self.fn, key, self.entries, args, kwargs)
            started = perf_counter()
            # under a raising floating-point policy the tracer evaluates as CPython would
            with held_output(keep_on_success=False), \
                    (caller_fp_policy() if strict else contextlib.nullcontext()), \
                    slow_step(f"tracing {explain.name(self.fn)} ({explain.def_loc(self.fn)})"):
                result = trace_function(self.fn, args, kwargs)
            if draws.has_draws(result.sourced):   # the run below draws what the tracer drew
                draws.rewind()
            traced = perf_counter()
            entry = self._make_entry(result, args, kwargs)
            entry.trace_time = traced - started
            entry.compile_time = perf_counter() - traced
            entry.why, entry.labels = why, explain.leaf_labels(self.fn, args, kwargs)
            self.stats.misses += 1
            self.stats.trace_time += entry.trace_time
            self.stats.compile_time += entry.compile_time
            self.stats.traces.append(why)
            entry.key = key
            bucket = self.entries.setdefault(key, [])
            bucket.insert(0, entry)
            explain.log_new_entry(self, entry, why)
            self._enforce_limit()
        outputs = self._run_new(entry, leaves) if strict else entry.run(self.fn, leaves)
        self._make_hot(entry)
        return entry.finish(outputs, leaves)

    def _run_new(self, entry, leaves):
        """A trace just recorded under the caller's raising floating-point policy, run on the
        arguments it was recorded on. Tracing met no error the code did not handle (its handled
        ones are guards that the run must raise again); one the run meets nonetheless is in
        code that silences errors itself (`with np.errstate(all="ignore")` inside): silently."""
        try:
            return entry.run(self.fn, leaves, strict=True)
        except GuardFailure as failure:
            if not isinstance(failure.__cause__, (FloatingPointError, RuntimeWarning)):
                raise
        try:
            return entry.run(self.fn, leaves)
        except GuardFailure:
            raise UnsupportedError(
                f"{explain.name(self.fn)} both catches floating-point errors and silences them "
                "(np.errstate inside), called under a raising error state (np.errstate(...="
                "'raise') or warnings as errors): tracejit cannot tell which errors the code "
                "meets", hint="Call it under NumPy's default error state.") from None

    def _make_hot(self, entry):
        """Let `entry` serve the next call through its generated fast path."""
        if entry is self._hot:
            return
        with self._stats_lock:
            if entry.hot is None:            # first time: generate its fast path
                entry.hot = HotPathCounts()
                self.stats.hot_paths.append(entry.hot)
                entry.fast = compile_fast_call(entry.key, entry, entry.program, entry.finish,
                                               entry.hot, self._stats_lock, _MISS)
        if entry.fast is not None:
            self._hot = entry

    def _make_entry(self, result, args, kwargs):
        joint, finish = self.transform(result, args, kwargs)
        draws.keep_states(result.sourced, _may_side_exit(joint))
        program = self.backend.compile(joint)
        if result.protected:
            program = ErrorsRetrace(program)
        if prints(joint):
            program = PrintingProgram(program)
        return Entry(result, program, result.arg_leaves, result.sourced,
                     result.guards, joint=joint, finish=finish)

    def _enforce_limit(self):
        total = sum(len(b) for b in self.entries.values())
        if total <= self.cache_limit:
            return
        if not self._warned:
            self._warned = True
            reason = self.stats.last_failure or "new argument shapes, types or static values"
            warnings.warn(f"tracejit: {getattr(self.fn, '__qualname__', self.fn)} was traced "
                          f"{self.stats.misses} times (cache limit {self.cache_limit}); the guard "
                          f"that keeps failing: {reason}. The least used traces are being "
                          "dropped; pass cache_size= to keep more.",
                          RuntimeWarning, stacklevel=_user_stacklevel())
        oldest_key = min(self.entries, key=lambda k: min(e.hits for e in self.entries[k]))
        dropped = self.entries[oldest_key].pop()
        if dropped is self._hot:
            self._hot = None
        if not self.entries[oldest_key]:
            del self.entries[oldest_key]

    def stats_dict(self):
        """`Stats.as_dict()`, with how many calls the numpy executor and numba kernels served
        (a kernel builds in the background while the executor serves the first calls)."""
        executor = kernel = 0
        for bucket in self.entries.values():
            for entry in bucket:
                runs = entry.hits + 1                  # the run right after tracing included
                on_executor = min(getattr(entry.program, "executor_calls", runs), runs)
                executor += on_executor
                kernel += runs - on_executor if hasattr(entry.program, "kernel") else 0
        return {**self.stats.as_dict(),
                "served": {"numpy executor": executor, "numba kernel": kernel}}

    def explain(self):
        """Stats, then every cache entry with its guards, generated code and trace."""
        return explain.explain(self)

    def traces(self):
        """Every cached joint trace, most recent first within each signature."""
        return [e.joint for bucket in self.entries.values() for e in bucket]

