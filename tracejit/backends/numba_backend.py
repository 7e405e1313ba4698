"""The numba backend: compile a trace to one cached `@njit` kernel, call it in microseconds.

Tiering: compiling a kernel takes 0.1-5 s of numba time (measured on the reference workloads),
while a call takes microseconds to milliseconds, so a new trace first runs on the numpy executor
while the kernel is built in the background (BuildQueue: one thread, which has the build process
of build_process.py compile and then loads the machine code); the program switches once it is
ready. The alternative, "compile at the N-th call", would stall that call for the whole compile
(no N makes a 5 s stall cheap for a microsecond function) or leave a hot function interpreted.
When numba's disk cache already holds the kernel, loading takes milliseconds, so it is done at
once — except for the first kernel of a process, which also pays numba's own one-time set-up
(0.5-1 s) and so loads in the background.
`TRACEJIT_NUMBA_TIERING=sync` builds before the first call (tests, benchmarks); `off` builds
no kernel at all, every trace running on the numpy executor (debugging the tracer, and test
suites that check traces rather than kernels: thousands of background builds nobody waits for
would otherwise fill the process).

A trace with an op or dtype that has no lowering runs on the numpy executor (logged once per
reason).
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref

import numpy as np

from ..ops.core import GuardFailure
from ..progress import slow_step
from . import numba_cache
from .build_process import BuildAbandoned, BuildFailed, BuildProcess
from .numba_codegen import generate
from .numba_lower import NoLowering
from .numba_runtime import KernelExit
from . import numpy_exec
from .numpy_exec import run_trace

log = logging.getLogger("tracejit")

_fallback_reasons: set = set()
_numba_ready = threading.Event()      # a kernel was loaded: numba's one-time set-up is done


TIERINGS = ("background", "sync", "off")


def tiering():
    mode = os.environ.get("TRACEJIT_NUMBA_TIERING", "background")
    if mode not in TIERINGS:
        raise ValueError(f"TRACEJIT_NUMBA_TIERING={mode!r}: choose one of {', '.join(TIERINGS)}")
    return mode


def crosscheck():
    """`TRACEJIT_NUMBA_CROSSCHECK=1`: every kernel call also runs the numpy executor on the same
    inputs and the two must agree (1e-12 relative in float64, the same guard decisions) — how
    the test suite checks this backend against the reference on every call it makes."""
    return os.environ.get("TRACEJIT_NUMBA_CROSSCHECK") == "1"


class BackendMismatch(AssertionError):
    """A compiled kernel disagreed with the numpy executor (crosscheck mode)."""


class BuildQueue:
    """Background builds, one at a time, oldest first, by one daemon thread that hands each to
    the build process (build_process.py) and then loads its machine code. numba compiles under
    a process-wide lock, so more threads would build no faster: they would only hold memory and
    contend for the GIL (a process that traced hundreds of shapes had hundreds of build
    threads). The thread and the build process end when the queue has been empty for `linger`
    seconds. A queued build whose program was dropped before its turn (its cache entry evicted,
    its function gone) is skipped."""

    def __init__(self):
        self._pending = collections.deque()      # weak references to Programs
        self._changed = threading.Condition()
        self._building = False
        self._worker = None
        # pass_fds is POSIX; an embedded interpreter may have no Python to start: build here
        self.process = BuildProcess() if BuildProcess.possible() else None
        self.linger = 30.0                       # seconds an idle worker waits for more builds

    def submit(self, program):
        with self._changed:
            self._pending.append(weakref.ref(program))
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, daemon=True,
                                                name="tracejit-numba-builds")
                self._worker.start()
            self._changed.notify_all()

    def wait(self, timeout=None):
        """True once no build is queued or running; False if `timeout` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._building,
                                          timeout)

    def _work(self):
        while True:
            with self._changed:
                # idle: the build process is kept a while for the next trace's build (starting
                # one costs about a second), then both end; the next submit starts them again
                self._changed.wait_for(lambda: self._pending, self.linger)
                if not self._pending:
                    self._worker = None
                    if self.process is not None:
                        self.process.stop()
                    return
                program = self._pending.popleft()()
                self._building = program is not None
            if program is None:
                continue
            try:
                program.build_or_interpret(self.process)
            finally:
                del program
                with self._changed:
                    self._building = False
                    self._changed.notify_all()

    def reset_after_fork(self):
        """A forked child has none of its parent's threads and no build process of its own."""
        if self.process is not None:
            self.process.forget_after_fork()
        self.__init__()


_builds = BuildQueue()
os.register_at_fork(after_in_child=_builds.reset_after_fork)


def wait_for_builds(timeout=None):
    """Block until every background kernel build has finished, so that the kernels serve the
    calls that follow (`tracejit.wait()`: benchmarks, tests). Returns False if `timeout`
    seconds passed first."""
    return _builds.wait(timeout)


class NumbaBackend:
    name = "numba"

    def compile(self, trace):
        if tiering() == "off":
            return numpy_exec.Program(trace, fallback_reason="kernels are off "
                                                             "(TRACEJIT_NUMBA_TIERING=off)")
        try:
            kernel = generate(trace)
        except NoLowering as reason:
            _note_fallback(str(reason))
            return numpy_exec.Program(trace, fallback_reason=f"no numba lowering for {reason}")
        return Program(trace, kernel, numba_cache.kernel_dir())


def _note_fallback(reason):
    if reason not in _fallback_reasons:
        _fallback_reasons.add(reason)
        log.info("numba backend: no lowering for %s; such traces run on the numpy executor", reason)


class Program:
    """Runs a trace: on the numpy executor until its kernel is ready, then on the kernel."""

    def __init__(self, trace, kernel, directory):
        self.trace = trace
        self.kernel = kernel
        self.path = numba_cache.write_module(directory, kernel.source)
        self.run = self._on_executor
        self.executor_calls = 0            # calls the numpy executor served, the kernel not ready
        self.compiled = False
        self.build_error = None
        self.runtime_fallbacks = 0         # calls the kernel raised on, rerun by the executor
        # a kernel in numba's disk cache loads in milliseconds, so it is loaded at once — once
        # numba itself is initialised: its one-time set-up in a process (0.5-1 s) is done in the
        # background like a build, with the numpy executor serving the first calls meanwhile
        if tiering() == "sync" or (numba_cache.is_warm(self.path) and _numba_ready.is_set()):
            self.build_or_interpret()
        else:
            _builds.submit(self)

    def __call__(self, inputs):
        return self.run(inputs)

    @property
    def executor(self):
        return "numba" if self.compiled else "numpy"

    @property
    def fallback_reason(self):
        if self.compiled:
            return None
        return self.build_error or "the kernel is still being built"

    def interpret(self, inputs):
        return run_trace(self.trace, inputs)

    def _on_executor(self, inputs):
        self.executor_calls += 1
        return run_trace(self.trace, inputs)

    @property
    def signature(self):
        return (tuple(_numba_type(v) for v in self.trace.inputs) +
                tuple(_numba_type(a) for a in self.kernel.lit_args))

    def build(self):
        module = numba_cache.load_module(self.path, self.kernel.source)
        self.dispatcher = dispatcher = module.kernel
        dispatcher.compile(self.signature)
        runner = make_runner(dispatcher, self.kernel, self.trace, self.on_exit, self.on_error)
        self.run = self._crosschecked(runner) if crosscheck() else runner
        self.compiled = True
        _numba_ready.set()

    def _crosschecked(self, runner):
        # float32 values anywhere carry float32 precision into results of any dtype (numba's
        # float32 exp and NumPy's may differ in the last bit before a float64 sum)
        narrow = any(v.dtype == np.float32 for op in self.trace.ops for v in op.outputs) or \
            any(v.dtype == np.float32 for v in self.trace.inputs)
        rtol = 2e-6 if narrow else None

        def run(inputs):
            try:
                got = runner(inputs)
            except GuardFailure as failure:
                try:
                    self.interpret(inputs)
                except GuardFailure:
                    raise failure from None
                raise BackendMismatch(f"{self.path.name}: the kernel failed the guard on "
                                      f"{failure.reason} that the numpy executor passed") from None
            try:
                expected = self.interpret(inputs)
            except GuardFailure as failure:
                raise BackendMismatch(f"{self.path.name}: the numpy executor failed the guard on "
                                      f"{failure.reason} that the kernel passed") from None
            for k, (a, b) in enumerate(zip(got, expected)):
                problem = disagreement(a, b, rtol)
                if problem:
                    raise BackendMismatch(f"{self.path.name}, output {k}: {problem}")
            return got
        return run

    def build_or_interpret(self, process=None):
        """Build (or load) the kernel here, or first in the build `process` when there is one
        and numba's cache does not hold it yet. On failure the numpy executor keeps serving."""
        warm = numba_cache.is_warm(self.path)
        what = (f"{'loading' if warm else 'building'} the numba kernel of {self.trace.name} "
                f"({len(self.trace.ops)} ops)")
        try:
            started = time.perf_counter()
            with slow_step(what):
                if process is not None and not warm:
                    process.start(self.path, self.kernel.source, self.signature)
                    # numba's set-up in this process (imports, the kernel module and its
                    # helpers) while the build process compiles
                    numba_cache.load_module(self.path, self.kernel.source)
                    process.finish()
                self.build()
            log.debug("%s: %.3f s", what, time.perf_counter() - started)
            if not warm:                 # new machine code on disk: keep the cache's size
                numba_cache.evict(self.path.parent)
        except BuildAbandoned as reason:
            self.build_error = f"the kernel build was abandoned: {reason}"
            log.warning("numba backend: %s: %s; using the numpy executor", self.path.name,
                        self.build_error)
        except BuildFailed as error:     # numba's error, raised in the build process
            self._failed(str(error).partition(":")[0], str(error))
        except Exception as error:
            self._failed(type(error).__name__, f"{type(error).__name__}: {error}")

    def _failed(self, kind, detail):
        self.build_error = f"building the kernel failed ({kind})"
        log.warning("numba backend: building %s failed (%s); using the numpy executor",
                    self.path.name, detail)

    def on_exit(self, code, inputs):
        op, kind = self.kernel.exits[code]
        if kind == "guard" and not op.params.get("exact"):
            raise GuardFailure(op.params["reason"], op)
        # an exact-value guard (text of a float) is NumPy's to decide: the kernel's sums may
        # differ in the last bit, so the numpy executor runs this call
        return self.interpret(inputs)      # raises NumPy's own error for the bad data

    def on_error(self, error, inputs):
        """The kernel raised (numba's np.linalg on a singular matrix, say): the numpy executor
        runs this call, giving NumPy's result or NumPy's own error."""
        self.runtime_fallbacks += 1
        reason = f"{type(error).__name__} in a kernel"
        if reason not in _fallback_reasons:
            _fallback_reasons.add(reason)
            log.info("numba backend: %s (%s: %s); that call runs on the numpy executor",
                     reason, self.path.name, error)
        try:
            return self.interpret(inputs)
        except Exception as numpy_error:    # NumPy's own error, not chained to numba's
            raise numpy_error from None


def disagreement(got, expected, rtol=None):
    """Why the kernel's output `got` differs from the numpy executor's `expected`, or "".
    Floats agree to `rtol` relative to the output's largest magnitude (summation order differs
    between fused loops and NumPy), with NaNs and infinities in the same places."""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return f"{got.dtype}{list(got.shape)} != {expected.dtype}{list(expected.shape)}"
    if got.dtype.kind != "f":
        return "" if np.array_equal(got, expected) else f"{got} != {expected}"
    rtol = rtol if rtol is not None else (1e-12 if got.dtype.itemsize >= 8 else 2e-6)
    finite = np.isfinite(expected)
    if not np.array_equal(np.isfinite(got), finite) or not np.array_equal(
            got[~finite], expected[~finite], equal_nan=True):
        return "NaN or infinity in different places"
    if not finite.any():
        return ""
    error = np.max(np.abs(got[finite] - expected[finite]))
    scale = max(np.max(np.abs(got[finite])), np.max(np.abs(expected[finite])))
    if error > rtol * scale:
        return f"differs by {error:.3g} (scale {scale:.3g}, relative tolerance {rtol:g})"
    return ""


def _numba_type(value):
    """The numba type the kernel will see for a trace input (Var) or literal array."""
    from numba import typeof
    if isinstance(value, np.ndarray):
        return typeof(value)
    if value.ndim == 0:
        return typeof(np.zeros((), value.dtype)[()])
    return typeof(np.empty((0,) * value.ndim, value.dtype))


def _reraise(error, inputs):
    raise error


_SCALAR_INPUT = {"f": float, "i": int, "b": bool}    # for 8-byte numbers and bools


def make_runner(dispatcher, kernel, trace, on_exit, on_error=None):
    """Straight-line Python calling the kernel: unpack inputs, convert 0-d inputs to scalars,
    call, map outputs (0-d results become NumPy scalars, literal outputs are constants). Any
    other exception the kernel raises goes to `on_error(error, inputs)` (default: re-raised)."""
    env = {"kernel": dispatcher, "KernelExit": KernelExit, "on_exit": on_exit,
           "on_error": on_error or _reraise}
    params = [f"a{i}" for i in range(len(trace.inputs))]
    body = [f"    {', '.join(params)}{',' if len(params) == 1 else ''} = inputs"] if params else []
    for i, v in enumerate(trace.inputs):
        if v.ndim == 0:
            native = v.dtype.itemsize == 8 or v.dtype.kind == "b"
            env[f"s{i}"] = _SCALAR_INPUT.get(v.dtype.kind, v.dtype.type) if native else v.dtype.type
            body.append(f"    a{i} = s{i}(a{i})")
    for k, array in enumerate(kernel.lit_args):
        env[f"c{k}"] = array
    args = params + [f"c{k}" for k in range(len(kernel.lit_args))]
    body += ["    try:", f"        r = kernel({', '.join(args)})",
             "    except KernelExit as e:", "        return on_exit(e.args[0], inputs)",
             "    except Exception as e:", "        return on_error(e, inputs)"]
    slot = {v: k for k, v in enumerate(kernel.returned)}
    outs = []
    for j, atom in enumerate(trace.outputs):
        if atom in slot and atom.ndim == 0:
            env[f"T{j}"] = atom.dtype.type
            outs.append(f"T{j}(r[{slot[atom]}])")
        elif atom in slot:
            outs.append(f"r[{slot[atom]}]")
        else:
            env[f"L{j}"] = atom.value
            outs.append(f"L{j}")
    body.append(f"    return [{', '.join(outs)}]")
    exec("def run(inputs):\n" + "\n".join(body) + "\n", env)
    return env["run"]
