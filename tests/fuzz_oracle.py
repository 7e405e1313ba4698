"""The fuzzer's oracle: a generated program run plainly (CPython + NumPy) and through tracejit on
a sequence of inputs, and the outcome classified.

Calls: the seeded inputs, then scaled copies (negated, shrunk, grown — flipping sign-based
branches and changing the trip counts of data-dependent loops), then the first inputs again, then
(for programs reading the global G) G changed in place and rebound, then the program's own
changes to outside state (a global list appended to, a dict entry set). Each compiled call must give
the plain value (1e-9 relative) and, where the program is smooth at the input, the gradient of
central finite differences. Programs calling `random` run with the same seed for both sides (a
draw frozen at trace time then shows on the next call); programs reading a clock must give a
value between plain calls made just before and just after.

Outcomes: ok, skipped (the plain program fails or overflows on the first input), refused (a
clear user-facing error: TracejitError, or TypeError/ValueError with a message), wrong value,
wrong gradient, crashed (any other exception out of tracejit: an internal error).
"""
import collections
import collections.abc
import functools
import itertools
import linecache
import operator
import os
import random
import time

import numpy as np

import tracejit
from conftest import numerical_grad

CALL_SCALES = [1.0, -0.8, 0.35, 1.9, 1.0]
OK, SKIPPED, REFUSED = "ok", "skipped", "refused"
WRONG_VALUE, WRONG_GRADIENT, CRASHED = "wrong value", "wrong gradient", "crashed"
FAILURES = (WRONG_VALUE, WRONG_GRADIENT, CRASHED)
_INTERNAL_WORDS = ("Tracer", "Var(", "Aval", "NoneType")   # TypeErrors about our own objects


class Outcome:
    def __init__(self, kind, detail="", error=None):
        self.kind, self.detail, self.error = kind, detail, error

    @property
    def signature(self):
        """What a smaller program must reproduce to count as the same failure."""
        return (self.kind, type(self.error).__name__ if self.error is not None else "")

    def __repr__(self):
        return f"Outcome({self.kind!r}, {self.detail[:80]!r})"


class Mismatch(Exception):
    """A compiled call disagreed with plain execution."""

    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


_counter = itertools.count()


def compile_program(source, namespace):
    """A real Python function from source text; linecache lets tracebacks show its lines."""
    filename = f"<fuzz-{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace["prog"]


def make_inputs(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.5, 1.5, size=s) for s in shapes]


def namespace_for(case):
    namespace = {"__name__": "fuzz_program", "np": np, "random": random, "time": time,
                 "T_TIME": time.time(),
                 "T_PERF": time.perf_counter(), "T_MONO": time.monotonic(),
                 "functools": functools, "itertools": itertools, "operator": operator,
                 "collections": collections, "os": os}
    if case.global_shape is not None:
        namespace["G"] = make_inputs([case.global_shape], case.seed + 1)[0]
    return namespace


def classify_error(error):
    """A refusal is an error a user can act on; anything else out of tracejit is a crash."""
    if isinstance(error, tracejit.TracejitError):
        return REFUSED
    if type(error) in (TypeError, ValueError) and str(error) and not any(
            word in str(error) for word in _INTERNAL_WORDS):
        return REFUSED
    return CRASHED


# ---- one call ------------------------------------------------------------------------------------
def _seed(seed):
    """Python's and NumPy's global random states, both seeded (None: left alone)."""
    if seed is not None:
        random.seed(seed)
        np.random.seed(seed)


class Caller:
    """Runs the plain function and a compiled one on the same inputs, as the program's kind of
    impurity demands (same random seed for both; a clock read bracketed by plain calls)."""

    def __init__(self, fn, source):
        self.fn = fn
        self.uses_random = "random." in source
        self.uses_clock = "time." in source
        self.seeds = itertools.count(1000)

    def plain(self, inputs, seed=None):
        _seed(seed)
        return float(self.fn(*[x.copy() for x in inputs]))

    def compare(self, compiled, inputs, want_grads):
        """(plain value, compiled value, compiled grads or None) for one call."""
        seed = next(self.seeds) if self.uses_random else None
        expected = self.plain(inputs, seed)
        _seed(seed)
        out = compiled(*[x.copy() for x in inputs])
        value, grads = out if want_grads else (out, None)
        value = float(value)
        if self.uses_clock:
            after = self.plain(inputs)
            if not expected - 1e-6 * abs(expected) <= value <= after + 1e-6 * abs(after):
                raise Mismatch(WRONG_VALUE, f"value {value!r} outside plain [{expected!r}, "
                                            f"{after!r}] read just before and after")
        elif not np.isclose(value, expected, rtol=1e-9, atol=1e-11 * max(1.0, abs(expected))):
            raise Mismatch(WRONG_VALUE, f"value {value!r} != plain {expected!r}")
        return expected, grads


def _smooth_fd_grads(fn, inputs):
    """Central differences, or None where the program is not smooth at the input: two step
    sizes disagree (a kink, a branch or a rounding boundary within reach), or a one-sided
    difference does (the input itself sits on a jump: a branch on the digits of a value's text
    flips at every perturbation)."""
    grads = []
    for i, x in enumerate(inputs):
        def along(xi, i=i, x=x):
            if isinstance(x, np.generic):          # perturb a NumPy scalar as a NumPy scalar:
                xi = type(x)(xi)                   # type tests must see what the program got
            return fn(*inputs[:i], xi, *inputs[i + 1:])
        fine, coarse = numerical_grad(along, x, 1e-6), numerical_grad(along, x, 1e-5)
        if not np.allclose(fine, coarse, rtol=1e-3, atol=1e-4) or \
                not np.allclose(_forward_differences(along, x, 1e-6), fine, rtol=1e-2, atol=1e-2):
            return None
        grads.append(fine)
    return grads


def _forward_differences(f, x, h):
    x = np.array(x, dtype=np.float64)
    at_x = float(f(x.copy()))
    out = np.zeros_like(x)
    for k in range(x.size):
        moved = x.copy()
        moved.reshape(-1)[k] += h
        out.reshape(-1)[k] = (float(f(moved)) - at_x) / h
    return out


def _check_grads(caller, inputs, grads, value):
    if grads is None or caller.uses_random or caller.uses_clock:
        return
    want = _smooth_fd_grads(caller.fn, inputs)
    if want is None:
        return
    scale = max(1.0, abs(value))
    for i, (got, fd) in enumerate(zip(grads, want)):
        if np.shape(got) != np.shape(fd) or not np.allclose(got, fd, rtol=1e-4, atol=1e-5 * scale):
            raise Mismatch(WRONG_GRADIENT, f"gradient of x{i}: {np.asarray(got).tolist()} != "
                                           f"finite differences {fd.tolist()}")


# ---- a whole program -----------------------------------------------------------------------------
def call_sequence(case, namespace):
    """(label, inputs, change to the namespace made before the call) for every call."""
    base = make_inputs(case.shapes, case.seed)
    calls = [(f"x*{s}", [s * x for x in base], None) for s in CALL_SCALES]
    if case.global_shape is not None:
        def scale_in_place(ns):
            ns["G"] *= -1.3

        def rebind(ns):
            ns["G"] = ns["G"] * 0.5 + 0.2
        calls += [("x, G changed in place", base, scale_in_place), ("x, G rebound", base, rebind)]
    for statement in getattr(case, "mutations", ()):       # outside state changed in between
        calls.append((f"x, after `{statement}`", base,
                      lambda ns, statement=statement: _change(statement, ns)))
    return calls


def _change(statement, namespace):
    if statement.split(".")[0].split("[")[0] in namespace:    # (shrinking may remove it)
        exec(statement, namespace)


def _valid(caller, inputs):
    try:
        with np.errstate(all="ignore"):
            return np.isfinite(caller.plain(inputs, 0))
    except Exception:                 # the plain program fails here: nothing to compare with
        return False


def _run_calls(case, backend, with_grads):
    namespace = namespace_for(case)
    fn = compile_program(case.source, namespace)
    caller = Caller(fn, case.source)
    argnums = tuple(range(len(case.shapes)))
    compiled = (tracejit.value_and_grad(fn, argnums=argnums, backend=backend) if with_grads
                else tracejit.jit(fn, backend=backend))
    checked = 0
    for label, inputs, change in call_sequence(case, namespace):
        if change is not None:
            change(namespace)
        if not _valid(caller, inputs):
            if checked == 0:
                return None
            continue
        try:
            with np.errstate(all="ignore"):
                value, grads = caller.compare(compiled, inputs, with_grads)
                _check_grads(caller, inputs, grads, value)
        except Mismatch as mismatch:
            how = "value_and_grad" if with_grads else "jit"
            mismatch.detail = f"{how}, call {checked + 1} ({label}): {mismatch.detail}"
            raise
        checked += 1
    return checked


def run_case(case, backend="numpy"):
    """The Outcome of one program: value_and_grad over the call sequence, then jit alone."""
    try:
        for with_grads in (True, False):
            if _run_calls(case, backend, with_grads) is None:
                return Outcome(SKIPPED, "the plain program fails on the first input")
    except Mismatch as mismatch:
        return Outcome(mismatch.kind, mismatch.detail)
    except Exception as error:             # noqa: BLE001 — every error is classified
        kind = classify_error(error)
        return Outcome(kind, f"{type(error).__name__}: {error}", error)
    return Outcome(OK)
