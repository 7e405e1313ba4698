"""One-line notices of slow steps of a first call: tracing or a kernel build still running after
a second is announced, with what it is for, and its time when it ends.

Notices are INFO records of the logger "tracejit.progress"; when nothing is configured to show
them and standard error is a terminal, they are written there too, so an interactive user sees
why a first call takes seconds.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time

SLOW = 1.0                                 # seconds before a step is announced
log = logging.getLogger("tracejit.progress")


def notice(message):
    log.info(message)
    if not log.hasHandlers() and getattr(sys.stderr, "isatty", lambda: False)():
        print(f"tracejit: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def slow_step(what):
    """Announce `what` if it still runs after SLOW seconds, and its time if it took longer."""
    started = time.perf_counter()
    timer = threading.Timer(SLOW, notice, (f"{what} ...",))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        elapsed = time.perf_counter() - started
        if elapsed > SLOW:
            notice(f"{what}: {elapsed:.1f} s")
