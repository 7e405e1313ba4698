"""Counters and timings of one compiled function, for `.stats()` and the profiling tools.

The hot path only bumps counters and adds `perf_counter` differences; everything descriptive
(reasons, source lines, formatting) is built on the slow path of a guard failure or a new trace.
"""
import itertools
from collections import Counter
from dataclasses import dataclass, field


class HotPathCounts:
    """Counters of one cache entry's generated fast path (`guard_code.compile_fast_call`).

    The fast path takes no lock: `next()` on an `itertools.count` is one C call, atomic under
    the GIL, so hits are exact even with many threads. Its times are sampled: every
    `SAMPLE_EVERY`-th attempt is timed (under the stats lock) and the totals are extrapolated
    to all hits, which keeps three clock reads and a lock off the other calls.
    """
    SAMPLE_EVERY = 16

    def __init__(self):
        self.hits = itertools.count()      # next() once per call served
        self.attempts = itertools.count()  # next() once per call tried: picks the timed ones
        self.timed = 0
        self.guard_time = 0.0
        self.run_time = 0.0

    @property
    def count(self):
        # an itertools.count shows its next value only in its repr, "count(17)"
        return int(repr(self.hits)[6:-1])

    def estimated(self, total):
        """A sampled total (guard or run time) extrapolated to every hit."""
        return total * self.count / self.timed if self.timed else 0.0


@dataclass
class Retrace:
    """Why one new trace was made: `kind` is "first", "new signature" or "guard failed"."""
    kind: str
    reason: str                          # the failing guard or the changed argument
    loc: str = ""                        # the user's file:line that the guard came from

    def __str__(self):
        return f"{self.kind}: {self.reason}" + (f" ({self.loc})" if self.loc else "")


@dataclass
class Stats:
    backend: str = ""
    calls: int = 0
    hits: int = 0
    misses: int = 0                      # traces made (first trace, new signatures, re-traces)
    side_exits: int = 0                  # guard failures (input guards and data guards)
    trace_time: float = 0.0
    compile_time: float = 0.0
    guard_time: float = 0.0              # checking input guards before running an entry
    run_time: float = 0.0                # running entries, including runs that side-exited
    failures: Counter = field(default_factory=Counter)   # "guard (file:line)" -> count
    last_failure: str = ""
    traces: list = field(default_factory=list)           # one Retrace per trace made
    # calls, hits and times above are the general path's; each entry's fast path keeps its own
    hot_paths: list = field(default_factory=list)        # HotPathCounts

    def note_guard_failure(self, reason, loc):
        self.side_exits += 1
        text = f"{reason} ({loc})" if loc is not None else reason
        self.failures[text] += 1
        self.last_failure = text

    @property
    def retraces(self):
        """Traces made because a cached entry's guard failed (not first use or a new signature)."""
        return sum(1 for r in self.traces if r.kind == "guard failed")

    def as_dict(self):
        fast_hits = sum(h.count for h in self.hot_paths)
        guard_time = self.guard_time + sum(h.estimated(h.guard_time) for h in self.hot_paths)
        run_time = self.run_time + sum(h.estimated(h.run_time) for h in self.hot_paths)
        return {"backend": self.backend, "calls": self.calls + fast_hits,
                "hits": self.hits + fast_hits,
                "misses": self.misses, "retraces": self.retraces, "side_exits": self.side_exits,
                "trace_time": self.trace_time, "compile_time": self.compile_time,
                "guard_time": guard_time, "run_time": run_time,
                "guard_failures": dict(self.failures),
                "trace_reasons": [str(r) for r in self.traces]}


def format_stats(d):
    """`Stats.as_dict()` as a few aligned lines for `.explain()` and the logs."""
    ms = lambda s: f"{s * 1e3:.3f} ms"
    lines = [f"backend {d['backend']}: {d['calls']} calls, {d['hits']} hits, {d['misses']} traces "
             f"({d['retraces']} after a guard failure), {d['side_exits']} side exits",
             f"time: trace {ms(d['trace_time'])}, compile {ms(d['compile_time'])}, "
             f"guard checks {ms(d['guard_time'])}, running {ms(d['run_time'])}"]
    if "served" in d:
        lines.append("served by: " + ", ".join(f"{k} {n}" for k, n in d["served"].items()))
    lines += [f"trace #{i}: {r}" for i, r in enumerate(d["trace_reasons"])]
    lines += [f"guard failed {n}x: {g}" for g, n in d["guard_failures"].items()]
    return "\n".join(lines)
