"""The callable users hold: argument flattening, the entry cache, guard checks and re-tracing.

Entries are bucketed by a key computed from the arguments (tree structure, array shapes and
dtypes, values of static arguments). Within a bucket each entry additionally checks its guards on
outside state, then runs; a data guard failing inside the run is a side exit and the next entry
(or a fresh trace) is tried. A stale result is never returned.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..frontend import TraceResult, trace_function
from ..ops.core import GuardFailure
from ..tree import LEAF, TreeDef, flatten
from .stats import Stats

log = logging.getLogger("tracejit")

DEFAULT_CACHE_LIMIT = 8


def leaf_key(leaf):
    """What a trace may assume about one argument leaf without looking at array contents."""
    t = type(leaf)
    if t is np.ndarray:
        return (t, leaf.shape, leaf.dtype.str)
    if t is float:
        return t
    if isinstance(leaf, np.generic):
        return (t,)
    if t in (int, bool, str, type(None), complex, bytes):
        return (t, leaf)
    if callable(leaf):
        return ("object", leaf)          # functions and classes: by identity
    return ("type", t)


_CONTAINERS = (dict, list, tuple)


@functools.lru_cache(maxsize=None)
def _flat_treedef(n):
    """What `flatten((args, {}))` gives for `n` positional arguments that are all leaves."""
    return TreeDef("tuple", (), (TreeDef("tuple", (), (LEAF,) * n), TreeDef("dict", (), ())))


@dataclass
class Entry:
    result: TraceResult
    program: object                       # what the backend compiled: inputs -> outputs
    arg_leaves: tuple
    sourced: tuple
    guards: tuple
    hits: int = 0
    trace_time: float = 0.0
    compile_time: float = 0.0
    joint: object = None
    finish: object = None                 # (outputs, leaves) -> the user-visible result

    def guards_hold(self, fn, leaves):
        for guard in self.guards:
            if not guard.holds(fn, leaves):
                return guard
        return None

    def inputs(self, fn, leaves):
        values = [leaves[i] for i in self.arg_leaves]
        values += [s.get(fn, leaves) for s in self.sourced]
        return values


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
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _warned: bool = False

    def __call__(self, *args, **kwargs):
        if kwargs or any(type(a) in _CONTAINERS for a in args):
            leaves, treedef = flatten((args, kwargs))
        else:                             # the common case, without the general walk
            leaves, treedef = list(args), _flat_treedef(len(args))
        key = (treedef, tuple(leaf_key(leaf) for leaf in leaves))
        self.stats.calls += 1
        for entry in list(self.entries.get(key, ())):
            failed = entry.guards_hold(self.fn, leaves)
            if failed is not None:
                self.stats.note_guard_failure(str(failed), None)
                continue
            try:
                started = time.perf_counter()
                outputs = entry.program(entry.inputs(self.fn, leaves))
                self.stats.run_time += time.perf_counter() - started
            except GuardFailure as failure:
                self.stats.note_guard_failure(failure.reason, failure.op.loc if failure.op else None)
                log.debug("side exit: %s", failure)
                continue
            entry.hits += 1
            self.stats.hits += 1
            return entry.finish(outputs, leaves)
        return self._retrace(key, args, kwargs, leaves)

    def _retrace(self, key, args, kwargs, leaves):
        with self._lock:
            started = time.perf_counter()
            result = trace_function(self.fn, args, kwargs)
            traced = time.perf_counter()
            entry = self._make_entry(result, args, kwargs)
            entry.trace_time = traced - started
            entry.compile_time = time.perf_counter() - traced
            self.stats.misses += 1
            self.stats.trace_time += entry.trace_time
            self.stats.compile_time += entry.compile_time
            bucket = self.entries.setdefault(key, [])
            bucket.insert(0, entry)
            self._enforce_limit()
        outputs = entry.program(entry.inputs(self.fn, leaves))
        return entry.finish(outputs, leaves)

    def _make_entry(self, result, args, kwargs):
        joint, finish = self.transform(result, args, kwargs)
        return Entry(result, self.backend.compile(joint), result.arg_leaves, result.sourced,
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
                          f"that keeps failing: {reason}. The oldest traces are being dropped.",
                          RuntimeWarning, stacklevel=4)
        oldest_key = min(self.entries, key=lambda k: min(e.hits for e in self.entries[k]))
        self.entries[oldest_key].pop()
        if not self.entries[oldest_key]:
            del self.entries[oldest_key]

    def traces(self):
        """Every cached joint trace, most recent first within each signature."""
        return [e.joint for bucket in self.entries.values() for e in bucket]

