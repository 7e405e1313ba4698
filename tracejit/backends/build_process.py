"""Background kernel builds in a separate process.

Why a process and not a thread of the user's: numba compiles holding the GIL most of the time,
under a process-wide lock, and enters `warnings.catch_warnings` (process-global state, not
thread-safe before Python 3.14) for every call it types. A build thread therefore slowed the
user's own calls, could undo the user's warning filters or recording mid-way, could not be
stopped, and took its memory from the user's process (one 6,100-line kernel took 13.8 GB).

The build process compiles a kernel into numba's disk cache; the user's process then loads the
machine code, which takes milliseconds and no type inference. A build that runs past
`TRACEJIT_BUILD_TIMEOUT` seconds (300 by default), that exceeds `TRACEJIT_BUILD_MEMORY_MB` of
address space (half the machine's memory by default) or whose process dies is abandoned: its
trace stays on the numpy executor, and the reason is logged and shown by `.explain()`. The next
build starts a new process. One process serves a burst of builds and ends when the queue is
empty (numba's import costs it about a second).
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

TIMEOUT_VAR = "TRACEJIT_BUILD_TIMEOUT"
MEMORY_VAR = "TRACEJIT_BUILD_MEMORY_MB"
DEFAULT_TIMEOUT = 300.0


class BuildAbandoned(Exception):
    """The build process ran out of time or memory, or died: the trace keeps its executor."""


class BuildFailed(Exception):
    """numba raised while building (in the build process); the message is its error."""


def timeout_seconds() -> float:
    return _positive(TIMEOUT_VAR, DEFAULT_TIMEOUT)


def memory_bytes() -> int:
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 8 << 30
    return int(_positive(MEMORY_VAR, physical / 2 / 2**20) * 2**20)


def _positive(name, default):
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{name}={text!r}: give a positive number")
    return value


class BuildProcess:
    """The parent's handle on one build process, used by one thread at a time (the build
    queue's): `start` a build, then `finish` it."""

    def __init__(self):
        self._process = None
        self._requests = self._replies = None

    @staticmethod
    def possible() -> bool:
        """Whether this platform and interpreter can start a build process (a frozen app's
        executable is the app, not a Python that takes -c)."""
        return (os.name == "posix" and not getattr(sys, "frozen", False)
                and bool(sys.executable) and os.path.exists(sys.executable))

    def start(self, path: Path, source: str, signature: tuple):
        """Ask for the kernel module at `path` to be compiled for `signature` into numba's
        disk cache; `finish` waits for it (the caller's thread is free meanwhile)."""
        self._start()
        try:
            self._requests.send((str(path), source, signature, memory_bytes()))
        except OSError:
            raise BuildAbandoned(f"the build process died ({self._exit_status()})") from None

    def finish(self) -> float:
        """The seconds the build took; BuildFailed (numba's error) or BuildAbandoned (time,
        memory, death)."""
        timeout = timeout_seconds()
        try:
            if not self._replies.poll(timeout):
                self.stop()
                raise BuildAbandoned(f"the build ran past {timeout:g} s ({TIMEOUT_VAR})")
            outcome, detail = self._replies.recv()
        except (EOFError, OSError):
            raise BuildAbandoned(f"the build process died ({self._exit_status()})") from None
        if outcome == "failed":
            raise BuildFailed(detail)
        if outcome == "abandoned":         # out of memory: its numba may be half set up
            self.stop()
            raise BuildAbandoned(detail)
        return detail

    def stop(self):
        """End the process (idle, or abandoned mid-build)."""
        process, self._process = self._process, None
        if process is None:
            return
        self._close_pipes()
        if process.poll() is None:
            process.kill()
        process.wait()

    def forget_after_fork(self):
        """A forked child of the user's process does not own its parent's build process; it
        closes its copies of the pipes, so that the build process still ends with the parent."""
        if self._process is not None:
            self._close_pipes()
        self._process = self._requests = self._replies = None

    def _close_pipes(self):
        for end in (self._requests, self._replies):
            end.close()

    def _start(self):
        import subprocess                      # here, not at import: 20 ms of `import tracejit`
        from multiprocessing.connection import Connection
        if self._process is not None and self._process.poll() is None:
            return
        self.stop()
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        # the child imports from exactly this process's path (tracejit wherever it came from)
        code = (f"import sys; sys.path[:] = {sys.path!r}\n"
                f"from tracejit.backends.build_process import serve; serve({to_child}, {from_child})")
        self._process = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=(to_child, from_child),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self._requests = Connection(from_parent, readable=False)
        self._replies = Connection(to_parent, writable=False)

    def _exit_status(self):
        process = self._process
        self.stop()
        code = process.returncode if process is not None else None
        if code is not None and code < 0:
            return f"signal {-code}: out of memory or killed"
        return f"exit status {code}"


def serve(requests_fd: int, replies_fd: int):
    """The build process: compile each requested kernel until the parent closes the pipe."""
    from multiprocessing.connection import Connection
    requests = Connection(requests_fd, writable=False)
    replies = Connection(replies_fd, readable=False)
    warnings.simplefilter("ignore")        # this process has no user to show them to
    while True:
        try:
            path, source, signature, limit = requests.recv()
        except EOFError:
            return
        _limit_memory(limit)               # the parent's setting at this request
        started = time.perf_counter()
        try:
            from . import numba_cache
            numba_cache.load_module(Path(path), source).kernel.compile(signature)
            reply = ("built", time.perf_counter() - started)
        except MemoryError:
            reply = ("abandoned", f"the build needed more than {limit / 2**20:.0f} MB of "
                                  f"address space ({MEMORY_VAR})")
        except BaseException as error:     # the parent keeps its executor
            reply = ("failed", f"{type(error).__name__}: {error}"[:4000])
        replies.send(reply)


def _limit_memory(limit: int):
    try:
        import resource
    except ImportError:                    # not POSIX: no limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
