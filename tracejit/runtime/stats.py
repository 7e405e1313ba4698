"""Counters and timings of one compiled function, for `.stats()` and the profiling tools."""
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Stats:
    calls: int = 0
    hits: int = 0
    misses: int = 0                      # traces made
    side_exits: int = 0                  # guard failures (input guards and data guards)
    trace_time: float = 0.0
    compile_time: float = 0.0
    run_time: float = 0.0
    failures: Counter = field(default_factory=Counter)   # "guard (file:line)" -> count
    last_failure: str = ""

    def note_guard_failure(self, reason, loc):
        self.side_exits += 1
        text = f"{reason} ({loc})" if loc is not None else reason
        self.failures[text] += 1
        self.last_failure = text

    def as_dict(self):
        return {"calls": self.calls, "hits": self.hits, "misses": self.misses,
                "side_exits": self.side_exits, "trace_time": self.trace_time,
                "compile_time": self.compile_time, "run_time": self.run_time,
                "guard_failures": dict(self.failures)}
