"""The numba backend agrees with the numpy executor, caches kernels safely on disk, exits on
failed guards and falls back when it cannot compile. Kernels build synchronously here
(TRACEJIT_NUMBA_TIERING=sync) in a private temporary cache."""
import gc
import logging
import multiprocessing
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

import tracejit
from tracejit.backends import numba_backend, numba_cache
from tracejit.backends.numba_backend import NumbaBackend, Program

# short loops roll as long ones would, so loop lowering is exercised (see conftest)
pytestmark = [pytest.mark.numba, pytest.mark.usefixtures("roll_short_loops")]


@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory):
    directory = tmp_path_factory.mktemp("kernels")
    os.chmod(directory, 0o700)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACEJIT_CACHE_DIR", str(directory))
        mp.setenv("TRACEJIT_NUMBA_TIERING", "sync")
        yield directory


def run_both(fn, *args, argnums=0):
    """value_and_grad of `fn` on both backends; asserts the numba one really ran compiled."""
    results = []
    for backend in ("numpy", "numba"):
        vg = tracejit.value_and_grad(fn, argnums=argnums, backend=backend)
        results.append(vg(*args))
        if backend == "numba":
            program = only_entry(vg).program
            assert isinstance(program, Program) and program.compiled
    return results


def only_entry(wrapped):
    (entry,) = wrapped.entries()
    return entry


def leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in leaves(item)]
    return [tree]


def assert_agree(expected, got, rtol=1e-12):
    for e, g in zip(leaves(expected), leaves(got)):
        e, g = np.asarray(e), np.asarray(g)
        assert e.shape == g.shape and e.dtype == g.dtype
        scale = max(np.max(np.abs(e), initial=0.0), 1e-300)
        assert np.max(np.abs(e - g), initial=0.0) <= rtol * scale, (e, g)


R = np.random.default_rng(7)
X, Y = R.standard_normal(6), R.standard_normal(6)
A, B = R.standard_normal((3, 4)), R.standard_normal((4, 5))


def arithmetic(x, y):
    return np.sum(x * y - x / (y * y + 3) + (-x) ** 2 * 2.0 + y ** 3)


def transcendental(x):
    t = x * 0.1
    return np.sum(np.exp(t) + np.log(x * x + 1) + np.log1p(x * x) + np.expm1(t) + np.sin(x)
                  + np.cos(x) + np.tan(t) + np.tanh(x) + np.sqrt(x * x + 1) + np.sinh(t)
                  + np.cosh(t) + np.arcsin(t) + np.arccos(t) + np.arctan(x) + np.arcsinh(x)
                  + np.arccosh(x * x + 2) + np.arctanh(t))


def piecewise(x, y):
    masked = np.where(np.logical_or(np.logical_and(x <= 0, y >= 0),
                                    np.logical_xor(x == y, x != 1.0)), x, 0.0)
    clean = np.where(np.logical_or(np.isnan(x), np.logical_not(np.isfinite(y))), 0.0, y)
    return np.sum(np.abs(x) + np.sign(x) * x + np.floor(x) + np.ceil(y) + np.arctan2(x, y)
                  + np.maximum(x, y) + np.minimum(x, 0.5) + np.where(x > y, x, y * 2)
                  + masked + clean + (x < y).astype(float) * x)


def reductions(a):
    return (np.sum(np.max(a, axis=0)) + np.sum(np.min(a, axis=1, keepdims=True) * a)
            + np.sum(a, axis=(0, 1)) + np.max(a) * np.min(a) + np.mean(a[:, 1:] ** 2))


def shapes(a, x):
    t = a.T.reshape(2, 6)
    c = np.concatenate([t, x.reshape(1, 6), t[:, ::-2].reshape(1, 6)], axis=0)
    u = a.copy()
    u[1:, ::2] = x[:2].reshape(1, 2) * 2.0
    col = a[:, :1] + x[:4].reshape(1, 4)
    return np.sum(c * c) + np.sum(u * a) + np.sum(col * np.sin(col))


def gather(a, x):
    rows = a[np.array([2, 0, 2])]
    cols = a[:, np.array([[1, 3], [0, -1]])]
    masked = x[x > 0]                    # nonzero_flat, behind a guard on the count
    return (np.sum(rows * rows) + np.sum(np.sin(cols)) + np.sum(x[np.array([5, 5, 1])] * x[0])
            + np.sum(masked ** 2))


def products(a, b):
    batched = np.stack([a, 2 * a]) @ b
    return np.sum(np.tanh(a @ b)) + np.sum(batched ** 2) + np.sum((a.T @ a) * 0.5)


def scalars(s, x):
    return s * np.sum(x) + float(np.max(x)) * s ** 2


def indexed_loop(x):
    # the adjoint accumulates into one buffer in place (slice_update of zeros + add)
    s = 0.0
    for i in range(len(x) - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


def one_trip_axes(t, x):
    # axes of length 1 have no loop in the kernel: their index must be 0, not a loop variable
    # (found by the differential fuzzer: a leaked i0 read out of bounds)
    rows = t[:, np.array([[1], [0]])]                     # gather with a one-long index axis
    one = x[:1]
    return (np.sum(np.sum(t, axis=1) ** 2) + np.sum(np.max(t, axis=2, keepdims=True) * t)
            + np.sum(rows * 1.5) + np.sum(one[one > 0] ** 2) + np.sum(np.sum(t, axis=0) * 0.5))


T = R.standard_normal((1, 2, 2))


# Loop bodies compute in scratch buffers allocated once, before the loop, and copy carries into
# the carries' own buffers: these cases would read a buffer another output overwrote if the
# copies were ordered or aliased wrongly.
def view_carries(m):
    a, b = m.reshape(3, 2) * 1.0, m * 2.0
    for _ in range(20):
        new_b = a.reshape(2, 3) * 0.5 + np.sin(b)
        a = b.reshape(3, 2)          # a view of b's buffer, which new_b then fills
        b = new_b
    return np.sum(a.reshape(2, 3) * b)


def carried_twice(x):
    a = b = x
    for _ in range(20):
        c = np.tanh(a) + 0.1 * b
        a, b = c, c
    return np.sum(a) + np.sum(b * b)


def read_after_loop(x):
    y = x
    for _ in range(20):
        t = np.cos(y) * 0.5          # t of the last iteration is read after the loop
        y = y + t * 0.1
    return np.sum(y) + np.sum(t * t)


def nested_carries(x):
    y = x
    for _ in range(18):
        z = y * 1.0
        for _ in range(17):          # the inner loop's buffers are the outer body's scratch
            z = z * 0.9 + np.sin(z) * 0.05
        y = y + z * 0.01
    return np.sum(y * y)


def setitem_carry(x):
    out = np.zeros_like(x)
    last = out
    for i in range(1, len(x)):
        out[i] = np.sin(x[i]) + out[i - 1]   # updated in place in the carry's buffer
        last = out * 1.0
    return np.sum(out * last)


# A loop body holds arrays of up to ELEMENT_MAX elements as scalars: carries travel element by
# element, fused loops unroll, reshapes, slices and concatenations rename elements, a tape row is
# read into scalars. These cover each of those next to arrays that stay arrays.
def small_state(theta, y0):
    y = y0
    for _ in range(30):
        dy = np.array([y[1], -theta[0] * y[0] - theta[1] * y[1]])
        y = y + 0.05 * dy
    return np.sum(y * y)


def small_matrix(m, v):
    s = m
    for _ in range(12):
        t = s.T * 0.5 + np.tanh(s)
        t[0, :] = t[0, :] + v
        row = np.sum(t, axis=0, keepdims=True)
        s = t - 0.1 * row + np.concatenate([v[1:], v[:1]]).reshape(1, 2)
    return np.sum(s * s) + np.max(s)


def mixed_sizes(x, v):
    a, b = v, x                      # 3 elements (held) and 9 (over ELEMENT_MAX: an array)
    for _ in range(15):
        b = b * 0.9 + np.sum(a) * 0.01
        a = a[::-1] * 0.8 + b[:3] * 0.1
    return np.sum(a * a) + np.sum(b)


def while_small(v):
    y = v
    while np.max(np.abs(y)) > 0.05:
        y = y * 0.7 + np.array([0.0, 0.001])
    return np.sum(y * y)


def nested_small(v):
    y = v
    for _ in range(6):
        z = y[::-1] * 1.0
        for _ in range(5):
            z = np.sin(z) * 0.9 + y * 0.05
        y = y + z * 0.1
    return np.sum(y * y)


def float32_small(v):
    y = v.astype(np.float32)
    for _ in range(10):
        y = y * np.float32(0.9) + np.sin(y) * np.float32(0.01)
    return np.sum(y * y)


def test_small_arrays_are_held_as_scalars():
    """Euler's state of 2 lives in scalars: the loops pass it element by element and allocate no
    temporaries; the only arrays are the tape and the two gradients returned."""
    grad = tracejit.jit_grad(small_state, argnums=(0, 1), backend="numba")
    args = (np.array([0.7, 0.2]), np.array([1.0, -0.5]))
    assert_agree(tracejit.jit_grad(small_state, argnums=(0, 1), backend="numpy")(*args),
                 grad(*args))
    source = only_entry(grad).program.kernel.source
    assert re.search(r"def sub\d+\(a0, a1, a2_0, a2_1\)", source)     # the forward body
    assert source.count("np.empty(") == 3 and "np.empty((30, 2)" in source


CASES = [
    (one_trip_axes, (T, np.abs(X) + 0.1), (0, 1)),
    (arithmetic, (X, Y), (0, 1)),
    (transcendental, (X,), 0),
    (piecewise, (X, Y), (0, 1)),
    (reductions, (A,), 0),
    (shapes, (A, X), (0, 1)),
    (gather, (A, X), (0, 1)),
    (products, (A, B), (0, 1)),
    (scalars, (1.5, X), (0, 1)),
    (indexed_loop, (X,), 0),
    (view_carries, (R.standard_normal((2, 3)),), 0),
    (carried_twice, (X,), 0),
    (read_after_loop, (X,), 0),
    (nested_carries, (X,), 0),
    (setitem_carry, (X,), 0),
    (small_state, (np.array([0.7, 0.2]), np.array([1.0, -0.5])), (0, 1)),
    (small_matrix, (R.standard_normal((2, 2)), R.standard_normal(2)), (0, 1)),
    (mixed_sizes, (R.standard_normal(9), R.standard_normal(3)), (0, 1)),
    (while_small, (np.array([1.5, -2.0]),), 0),
    (nested_small, (R.standard_normal(3),), 0),
    (float32_small, (R.standard_normal(4),), 0),
]


@pytest.mark.parametrize("fn, args, argnums", CASES, ids=[c[0].__name__ for c in CASES])
def test_backends_agree(fn, args, argnums):
    expected, got = run_both(fn, *args, argnums=argnums)
    assert_agree(expected, got)


def branchy(x):
    if np.sum(x) > 0:
        return np.sum(np.exp(-x) * x)
    return np.sum(np.log1p(x * x))


def test_failed_guard_in_kernel_retraces():
    grad = tracejit.jit_grad(branchy, backend="numba")
    reference = tracejit.jit_grad(branchy, backend="numpy")
    positive = np.abs(X) + 0.1
    assert_agree(reference(positive), grad(positive))
    assert only_entry(grad).program.compiled
    assert_agree(reference(-positive), grad(-positive))     # the kernel's guard fails inside
    stats = grad.stats()
    assert stats["misses"] == 2 and stats["side_exits"] == 1
    assert any("np.sum(x) > 0" in reason for reason in stats["guard_failures"])


def test_background_build_switches_to_the_kernel(monkeypatch):
    monkeypatch.setenv("TRACEJIT_NUMBA_TIERING", "background")
    grad = tracejit.jit_grad(lambda x: np.sum(np.cos(x) * x * 0.625), backend="numba")
    first = grad(X)                      # on the numpy executor, or the kernel if already built
    numba_backend.wait_for_builds()
    assert only_entry(grad).program.compiled
    assert_agree(first, grad(X))


class _HeldBuild:
    """A stand-in program for BuildQueue: its build waits for `release` and is recorded."""
    def __init__(self, built, release=None):
        self.built, self.release = built, release

    def build_or_interpret(self, process):
        if self.release is not None:
            self.release.wait(10)
        self.built.append(self)


def test_build_queue_builds_in_order_on_one_thread_and_skips_dropped_programs():
    queue, built, release = numba_backend.BuildQueue(), [], threading.Event()
    queue.linger = 0.0
    first, second, third = (_HeldBuild(built, release), _HeldBuild(built), _HeldBuild(built))
    for program in (first, second, third):
        queue.submit(program)
    assert queue.wait(timeout=0.05) is False          # the first build is still running
    assert queue._worker.daemon
    del second
    gc.collect()                                      # dropped before its turn: never built
    release.set()
    assert queue.wait(timeout=10) is True
    assert built == [first, third]
    worker = queue._worker
    if worker is not None:
        worker.join(10)
    assert queue._worker is None                      # an idle queue holds no thread


def test_many_background_traces_share_one_build_thread(monkeypatch):
    monkeypatch.setenv("TRACEJIT_NUMBA_TIERING", "background")
    grad = tracejit.jit_grad(lambda x: np.sum(np.sin(x) * x), backend="numba")
    shapes = [np.linspace(0.1, 1.0, n) for n in range(2, 9)]
    answers = [grad(x) for x in shapes]                # seven traces, seven builds queued
    builders = [t for t in threading.enumerate() if t.name.startswith("tracejit-numba")]
    assert len(builders) <= 1
    numba_backend.wait_for_builds()
    assert all(entry.program.compiled for entry in grad.entries())
    for x, answer in zip(shapes, answers):
        assert_agree(answer, grad(x))


def _background_build_in_child(results):
    grad = tracejit.jit_grad(lambda x: np.sum(x * x * x), backend="numba")
    grad(X)
    finished = numba_backend.wait_for_builds(timeout=120)
    results.put((finished, only_entry(grad).program.compiled))


def test_forked_child_builds_while_the_parent_is_building(monkeypatch):
    """A child forked during a parent's build has no build thread: its queue starts afresh."""
    monkeypatch.setenv("TRACEJIT_NUMBA_TIERING", "background")
    release = threading.Event()
    numba_backend._builds.submit(held := _HeldBuild([], release))
    try:
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        child = context.Process(target=_background_build_in_child, args=(results,))
        child.start()
        assert results.get(timeout=180) == (True, True)
        child.join(30)
    finally:
        release.set()
        numba_backend.wait_for_builds()
    assert held.built == [held]


@pytest.fixture
def cold_background(tmp_path, monkeypatch):
    """Background tiering into an empty cache of this test's own: every kernel is built, by a
    build process started for this test (not one lingering from an earlier test)."""
    numba_backend.wait_for_builds()
    if numba_backend._builds.process is not None:
        numba_backend._builds.process.stop()
    os.chmod(tmp_path, 0o700)
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TRACEJIT_NUMBA_TIERING", "background")
    return tmp_path


def test_background_build_compiles_in_the_build_process(cold_background):
    grad = tracejit.jit_grad(lambda x: np.sum(np.tan(x) * x), backend="numba")
    first = grad(X)
    assert numba_backend.wait_for_builds(timeout=300)
    program = only_entry(grad).program
    stats = program.dispatcher.stats                 # this process loaded, compiled nothing
    assert program.compiled and sum(stats.cache_hits.values()) == 1
    assert not sum(stats.cache_misses.values())
    assert_agree(first, grad(X))


def test_background_build_leaves_warning_state_to_the_users_thread(cold_background,
                                                                     monkeypatch):
    """numba's type inference enters warnings.catch_warnings (process-global, not thread-safe
    before 3.14) for every call it types: from a build thread of this process that undid the
    user's filters and recording (a pytest.warns in the main thread saw no warning). Builds type
    in the build process; this process only loads the machine code."""
    warm = tracejit.jit_grad(lambda x: np.sum(np.cosh(x)), backend="numba")
    warm(X)
    assert numba_backend.wait_for_builds(timeout=300)  # imports done (scipy enters it once)
    entered_by = []
    enter = warnings.catch_warnings.__enter__

    def recording_enter(self):
        entered_by.append(threading.current_thread().name)
        return enter(self)
    monkeypatch.setattr(warnings.catch_warnings, "__enter__", recording_enter)
    grad = tracejit.jit_grad(lambda x: np.sum(np.cosh(x) * x + np.sqrt(x * x + 1)),
                             backend="numba")
    grad(X)
    assert numba_backend.wait_for_builds(timeout=300)
    assert only_entry(grad).program.compiled
    assert [name for name in entered_by if name != "MainThread"] == []


@pytest.mark.parametrize("setting, reason", [
    ({"TRACEJIT_BUILD_TIMEOUT": "0.05"}, r"ran past 0\.05 s \(TRACEJIT_BUILD_TIMEOUT\)"),
    ({"TRACEJIT_BUILD_MEMORY_MB": "50"},
     r"more than 50 MB of address space \(TRACEJIT_BUILD_MEMORY_MB\)"),
])
def test_build_out_of_budget_is_abandoned_for_the_executor(cold_background, monkeypatch, caplog,
                                                           setting, reason):
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    grad = tracejit.jit_grad(lambda x: np.sum(np.arctan(x) * x), backend="numba")
    with caplog.at_level(logging.WARNING, logger="tracejit"):
        first = grad(X)
        assert numba_backend.wait_for_builds(timeout=300)
    program = only_entry(grad).program
    assert not program.compiled and program.executor == "numpy"
    assert re.search(reason, program.fallback_reason), program.fallback_reason
    assert "abandoned" in program.fallback_reason and "abandoned" in caplog.text
    assert_agree(first, grad(X))
    assert_agree(np.arctan(X) + X / (1 + X * X), first)
    for name in setting:                              # the next build gets a new process
        monkeypatch.delenv(name)
    again = tracejit.jit_grad(lambda x: np.sum(np.arctan(x) * x * 2.0), backend="numba")
    again(X)
    assert numba_backend.wait_for_builds(timeout=300)
    assert only_entry(again).program.compiled


def test_build_process_killed_mid_build_is_abandoned_and_replaced(cold_background):
    grad = tracejit.jit_grad(lambda x: np.sum(np.sinh(x) * x), backend="numba")
    first = grad(X)
    deadline = time.monotonic() + 60
    while (child := numba_backend._builds.process._process) is None:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    child.kill()                                      # numba's import alone takes ~1 s
    assert numba_backend.wait_for_builds(timeout=300)
    reason = only_entry(grad).program.fallback_reason
    assert re.search(r"abandoned: the build process died \(signal 9", reason), reason
    assert_agree(first, grad(X))
    again = tracejit.jit_grad(lambda x: np.sum(np.sinh(x) * x * 2.0), backend="numba")
    again(X)
    assert numba_backend.wait_for_builds(timeout=300)
    assert only_entry(again).program.compiled


def test_no_build_process_where_none_can_start(monkeypatch):
    """A frozen app's executable is the app itself; no Python at all in an embedded one: the
    build queue's thread builds, as before the build process."""
    assert numba_backend.BuildQueue().process is not None
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert numba_backend.BuildQueue().process is None
    monkeypatch.delattr(sys, "frozen")
    monkeypatch.setattr(sys, "executable", "")
    assert numba_backend.BuildQueue().process is None


def test_tiering_off_builds_no_kernel_and_bad_values_are_named(monkeypatch):
    monkeypatch.setenv("TRACEJIT_NUMBA_TIERING", "off")
    grad = tracejit.jit_grad(lambda x: np.sum(x * x), backend="numba")
    assert_agree(2 * X, grad(X))
    assert only_entry(grad).program.executor == "numpy"
    assert "TRACEJIT_NUMBA_TIERING=off" in only_entry(grad).program.fallback_reason
    monkeypatch.setenv("TRACEJIT_NUMBA_TIERING", "later")
    with pytest.raises(ValueError, match="TRACEJIT_NUMBA_TIERING='later'.*background, sync, off"):
        tracejit.jit_grad(lambda x: np.sum(x * x), backend="numba")(X)


def test_float32_stays_float32():
    x = X.astype(np.float32)
    grad = tracejit.value_and_grad(lambda v: np.sum(np.sin(v) * 0.3 + v * v), backend="numba")
    value, g = grad(x)
    assert g.dtype == np.float32 and np.asarray(value).dtype == np.float32
    expected = tracejit.value_and_grad(lambda v: np.sum(np.sin(v) * 0.3 + v * v),
                                       backend="numpy")(x)
    assert_agree(expected, (value, g), rtol=1e-6)
    assert "np.float32(0.3)" in only_entry(grad).program.kernel.source


def test_literal_arrays_are_arguments_not_source():
    weights = np.linspace(0.25, 3.0, 6)
    expected, got = run_both(lambda x: np.sum(x * np.linspace(0.25, 3.0, 6)), X)
    assert_agree(expected, got)
    vg = tracejit.value_and_grad(lambda x: np.sum(x * np.linspace(0.25, 3.0, 6)), backend="numba")
    vg(X)
    kernel = only_entry(vg).program.kernel
    assert any(np.array_equal(a, weights) for a in kernel.lit_args)
    assert repr(weights[1]) not in kernel.source


def test_no_lowering_falls_back_once(caplog):
    def spectrum_sum(m):
        return np.sum(np.real(np.fft.fft(m)) ** 2)
    m = np.eye(3) * 2 + 0.1
    with caplog.at_level(logging.INFO, logger="tracejit"):
        numba_backend._fallback_reasons.clear()
        fns = [tracejit.jit_grad(spectrum_sum, backend="numba") for _ in range(2)]
        grads = [fn(m) for fn in fns]
    assert_agree(tracejit.jit_grad(spectrum_sum, backend="numpy")(m), grads[0])
    messages = [r.message for r in caplog.records]
    assert messages.count("numba backend: no lowering for primitive fft; such traces run on "
                          "the numpy executor") == 1
    entry = only_entry(fns[0])
    assert entry.executor == "numpy" and entry.fallback_reason == "no numba lowering for primitive fft"


def test_unsafe_cache_dir_is_never_loaded_from_and_never_fails_a_call(tmp_path, monkeypatch):
    """An unsafe (or unusable) directory is not used: one warning, then kernels go to a private
    temporary directory for the process, and every call works."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(numba_cache.CacheDirError, match="writable by group or others"):
        numba_cache.private_dir(shared)
    monkeypatch.setenv("TRACEJIT_CACHE_DIR", str(shared))
    with pytest.warns(RuntimeWarning, match="cannot be used"):
        got = tracejit.value_and_grad(branchy, backend="numba")(X)
    assert_agree(tracejit.value_and_grad(branchy, backend="numpy")(X), got)
    assert not any(shared.iterdir())                  # nothing written where others can write
    with warnings.catch_warnings():
        warnings.simplefilter("error")                # one warning per directory
        tracejit.jit_grad(lambda x: np.sum(np.cos(x)), backend="numba")(X)
    fresh = tmp_path / "new" / "kernels"
    assert numba_cache.private_dir(fresh) == fresh and (fresh.stat().st_mode & 0o777) == 0o700


def test_shared_temp_dir_advice_is_a_directory_of_ones_own(tmp_path):
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    with pytest.raises(numba_cache.CacheDirError, match="a directory of your own inside it") as info:
        numba_cache.private_dir(sticky)
    assert "chmod" not in str(info.value)


def test_cache_keeps_under_its_size_by_removing_least_recently_used(tmp_path):
    directory = numba_cache.private_dir(tmp_path / "kernels")
    for k in range(4):
        path = directory / f"{numba_cache.PREFIX}{k:024x}.py"
        path.write_text("x" * 1000)
        os.utime(path, (1000 + k, 1000 + k))          # kernel 0 used longest ago
    assert numba_cache.evict(directory, limit=2500) == 2
    assert sorted(p.name[-6:-3] for p in directory.glob("*.py")) == ["002", "003"]
    assert numba_cache.clear(directory) == 2 and not any(directory.glob("*.py"))


def test_cache_command_line(tmp_path):
    directory = tmp_path / "kernels"
    env = dict(os.environ, TRACEJIT_CACHE_DIR=str(directory))
    numba_cache.private_dir(directory)
    (directory / f"{numba_cache.PREFIX}{0:024x}.py").write_text("x" * 2048)
    run = [sys.executable, "-m", "tracejit.cache"]
    out = subprocess.run(run + ["info"], env=env, capture_output=True, text=True, check=True).stdout
    assert str(directory) in out and "kernels:      1" in out
    out = subprocess.run(run + ["clear"], env=env, capture_output=True, text=True, check=True).stdout
    assert "removed 1 kernels" in out and not any(directory.glob("*.py"))


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to chown")
def test_cache_dir_of_another_user_is_refused(tmp_path):
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    os.chown(other, 12345, -1)
    with pytest.raises(numba_cache.CacheDirError, match="belongs to uid 12345"):
        numba_cache.private_dir(other)


def test_corrupt_cache_file_is_rebuilt(private_cache):
    trace = only_entry(_compiled_arithmetic()).joint
    path = NumbaBackend().compile(trace).path
    good = path.read_text()
    path.write_text(good[: len(good) // 2])              # a truncated write
    sys.modules.pop(path.stem)
    program = NumbaBackend().compile(trace)
    assert program.compiled and path.read_text() == good
    assert_agree(tracejit.value_and_grad(arithmetic, backend="numpy")(X, Y)[1],
                 program([X, Y])[1])


def _compiled_arithmetic():
    vg = tracejit.value_and_grad(arithmetic, backend="numba")
    vg(X, Y)
    return vg


SUBPROCESS = textwrap.dedent("""
    import numpy as np, tracejit
    from tracejit.backends.numba_backend import wait_for_builds
    def f(x):
        return np.sum(np.sin(x) * x + 0.25 * x * x)
    g = tracejit.jit_grad(f, backend="numba")
    result = g(np.linspace(0, 1, 5))
    wait_for_builds()        # the first kernel of a process loads in the background
    program = g.entries()[0].program
    stats = program.dispatcher.stats
    print(program.compiled, sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
    print(repr(result.tolist()))
""")


def test_cache_reused_across_processes(private_cache):
    runs = [subprocess.run([sys.executable, "-c", SUBPROCESS], capture_output=True, text=True,
                           check=True, timeout=120,
                           env=dict(os.environ, TRACEJIT_CACHE_DIR=str(private_cache),
                                    TRACEJIT_NUMBA_TIERING=tiering)).stdout.splitlines()
            for tiering in ("sync", "background")]
    # the first process may have found nothing; the second, with background tiering, loads the
    # kernel from numba's cache and compiles nothing
    assert runs[1][0] == "True 1 0"
    assert runs[0][1] == runs[1][1]


# ---- crosscheck mode: the suite's way of running every compiled call against the reference ----
def test_disagreement_tolerances():
    disagreement = numba_backend.disagreement
    a = np.array([1.0, -2.0, 3.0])
    assert disagreement(a, a * (1 + 1e-14)) == ""
    assert "differs" in disagreement(a, a * (1 + 1e-9))
    assert "different places" in disagreement(np.array([np.nan, 1.0]), np.array([1.0, 1.0]))
    assert disagreement(np.array([np.nan, np.inf]), np.array([np.nan, np.inf])) == ""
    assert "-inf" not in disagreement(np.array([-np.inf]), np.array([-np.inf]))
    assert disagreement(np.array([np.inf]), np.array([-np.inf])) != ""
    assert disagreement(np.float64(2.0), np.float32(2.0)) != ""          # dtype
    assert disagreement(np.ones(3), np.ones((3, 1))) != ""               # shape
    assert disagreement(np.array([1, 2]), np.array([1, 3])) != ""        # integers: exact
    assert disagreement(np.float32(1.0), np.float32(1.0 + 1e-7)) == ""   # float32 tolerance


def test_crosscheck_catches_a_wrong_lowering(monkeypatch):
    from tracejit.backends.numba_lower import Scalar
    from tracejit.ops import elementwise
    monkeypatch.setenv("TRACEJIT_NUMBA_CROSSCHECK", "1")
    # a deliberately wrong rule, in a function no other test compiles (fresh kernel source)
    monkeypatch.setattr(elementwise.sinh, "numba", Scalar("math.cosh({0})"))
    grad = tracejit.jit(lambda x: np.sum(np.sinh(x) * 0.8125), backend="numba")   # the value
    with pytest.raises(numba_backend.BackendMismatch, match="differs"):
        grad(X)


def test_crosscheck_passes_a_right_kernel(monkeypatch):
    monkeypatch.setenv("TRACEJIT_NUMBA_CROSSCHECK", "1")
    grad = tracejit.jit_grad(lambda x: np.sum(np.sinh(x) * 0.6875), backend="numba")
    np.testing.assert_allclose(grad(X), np.cosh(X) * 0.6875, rtol=1e-13)
    assert only_entry(grad).program.compiled


# ---- semantics of the lowerings at their edges: bit for bit what NumPy/Python give -------------
def kernel_result(fn, *args):
    """`fn` jitted on numba: the result of a kernel call (asserted to be served by the kernel)."""
    jitted = tracejit.jit(fn, backend="numba")
    with np.errstate(all="ignore"):
        got = jitted(*args)
    entry = only_entry(jitted)
    assert entry.executor == "numba" and entry.fallback_reason is None, entry.fallback_reason
    assert entry.program.runtime_fallbacks == 0
    return got


def assert_identical(got, expected):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected, equal_nan=True), (got, expected)
    if got.dtype.kind == "f":                       # signed zeros too
        assert np.array_equal(np.signbit(got), np.signbit(expected)), (got, expected)


EDGES = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -2.5, 7.0, -7.0, 0.5, -0.5, 3.3, 1e300,
                  np.inf, -np.inf, np.nan])
INT_EDGES = np.array([0, 1, -1, 2, -2, 7, -7, np.iinfo(np.int64).min, np.iinfo(np.int64).max])


@pytest.mark.parametrize("ufunc", [np.floor_divide, np.remainder, np.fmod])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32, np.int8, np.uint8])
def test_division_family_matches_numpy_at_zero_and_negative_operands(ufunc, dtype):
    values = EDGES if np.dtype(dtype).kind == "f" else INT_EDGES
    with np.errstate(all="ignore"):
        x, y = (np.asarray(v).astype(dtype) for v in np.meshgrid(values, values))
        expected = ufunc(x, y)
    assert_identical(kernel_result(ufunc, x, y), expected)


@pytest.mark.parametrize("ufunc", [np.maximum, np.minimum])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_maximum_minimum_match_numpy_on_equal_zeros_and_nan(ufunc, dtype):
    """NumPy returns the second operand unless the first wins or is NaN, which decides the
    sign of an equal zero: maximum(-0.0, 0.0) is 0.0 (numba's own np.maximum gave -0.0)."""
    values = EDGES if np.dtype(dtype).kind == "f" else INT_EDGES
    with np.errstate(all="ignore"):
        x, y = (np.asarray(v).astype(dtype) for v in np.meshgrid(values, values))
    assert_identical(kernel_result(ufunc, x, y), ufunc(x, y))


def test_sign_of_negative_zero_is_zero():
    assert_identical(kernel_result(np.sign, EDGES), np.sign(EDGES))


@pytest.mark.parametrize("fn", [np.rint, np.trunc, np.round, np.real, np.imag, np.conj])
def test_rounding_and_parts_match_numpy(fn):
    halves = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -0.0, 1e300, np.inf, np.nan, 0.49999999999999994])
    assert_identical(kernel_result(fn, halves), fn(halves))


def test_python_round_rounds_the_exact_binary_value():
    values = np.array([0.45, 0.25, 2.675, -0.45, 1.005, 0.125, -0.0, 1e300, 2.5, np.nan, 25.0,
                       -150.0, 1250.0, 349.99999999999994, 5.2e15 / 1e10])

    def rounded(x, ndigits):
        return [round(float(v), ndigits) for v in x]
    for ndigits in (0, 1, 2, 3, 10, -1, -2):
        got = kernel_result(lambda x: rounded(x, ndigits), values)
        assert_identical(got, [round(float(v), ndigits) for v in values])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_running_sums_and_products_along_any_axis(axis):
    x = np.arange(1.0, 25.0).reshape(2, 3, 4) / 7
    assert_identical(kernel_result(lambda a: np.cumsum(a, axis=axis), x), np.cumsum(x, axis=axis))
    assert_identical(kernel_result(lambda a: np.cumprod(a, axis=axis), x), np.cumprod(x, axis=axis))
    n = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    assert_identical(kernel_result(lambda a: np.cumsum(a, axis=axis), n), np.cumsum(n, axis=axis))


def test_argsort_with_ties_gives_numpys_order():
    x = np.array([[3.0, 1.0, 2.0, 1.0, np.nan, 0.0], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    assert_identical(kernel_result(lambda a: np.argsort(a, axis=-1, kind="stable"), x),
                     np.argsort(x, axis=-1, kind="stable"))
    # a sort NumPy does not promise to be stable: a tie leaves the kernel for the numpy executor
    jitted = tracejit.jit(lambda a: np.argsort(a, axis=0), backend="numba")
    assert_identical(jitted(x), np.argsort(x, axis=0))
    assert_identical(jitted(x[:, ::-1].copy()), np.argsort(x[:, ::-1], axis=0))


def test_special_functions_call_scipys_compiled_code():
    import scipy.special as sc
    x = np.linspace(0.1, 4.0, 9)
    assert_agree(sc.jv(2.5, x), kernel_result(lambda a: sc.jv(2.5, a), x))
    assert_agree(sc.gammainc(1.7, x), kernel_result(lambda a: sc.gammainc(1.7, a), x))
    assert_agree(sc.erfinv(x / 5), kernel_result(lambda a: sc.erfinv(a / 5), x))
    for n in (0, 1, 3):
        assert_agree(sc.polygamma(n, x), kernel_result(lambda a: sc.polygamma(n, a), x))


def test_singular_matrix_reruns_on_the_numpy_executor(caplog):
    """numba's LAPACK calls raise (a singular matrix, NaN entries) where NumPy raises or returns;
    that call reruns on the numpy executor, giving NumPy's own result or error."""
    inv = tracejit.jit(np.linalg.inv, backend="numba")
    assert_agree(np.linalg.inv(np.eye(3) * 2), inv(np.eye(3) * 2))
    with caplog.at_level(logging.INFO, logger="tracejit"):
        with pytest.raises(np.linalg.LinAlgError, match="Singular matrix") as raised:
            inv(np.ones((3, 3)))
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert any("LinAlgError in a kernel" in r.message for r in caplog.records)
    with_nan = np.array([[np.nan, 1.0], [2.0, 3.0]])
    inv2 = tracejit.jit(np.linalg.inv, backend="numba")
    inv2(np.eye(2))
    assert_identical(inv2(with_nan), np.linalg.inv(with_nan))
    entry = only_entry(inv2)
    assert entry.executor == "numba" and entry.program.runtime_fallbacks == 1


def test_batched_linalg_lowers():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 3, 3)) + 3 * np.eye(3)
    b = rng.normal(size=(3, 2))
    assert_agree(np.linalg.solve(a, b), kernel_result(np.linalg.solve, a, b), rtol=1e-10)
    assert_agree(np.linalg.slogdet(a)[1], kernel_result(lambda m: np.linalg.slogdet(m)[1], a),
                 rtol=1e-10)
    assert_agree(np.linalg.svd(a, compute_uv=False),
                 kernel_result(lambda m: np.linalg.svd(m, compute_uv=False), a), rtol=1e-10)


def test_checkpoint_body_is_a_sub_kernel():
    from tracejit.backends.numpy_exec import run_trace

    def inner(x, y):
        return np.sin(x) * y, 2.0, x

    def f(x, y):
        a, b, c = tracejit.checkpoint(inner)(x, y)
        return np.sum(a) + b + np.sum(c)
    x, y = np.linspace(0, 1, 5), np.linspace(1, 2, 5)
    trace = tracejit.make_trace(f)(x, y)
    assert "checkpoint" in [op.prim.name for op in trace.ops]
    program = NumbaBackend().compile(trace)
    assert isinstance(program, Program) and program.executor == "numba"
    assert_agree(run_trace(trace, [x, y]), program([x, y]))


def test_kernel_source_names_the_helper_modules_it_inlines():
    """Editing a helper module changes every kernel's source, hence its content-hashed file:
    numba's cache would otherwise keep old inlined helper code."""
    import scipy.special as sc
    from tracejit.backends import numba_codegen
    plain = tracejit.make_trace(lambda x: np.sum(np.fmod(x, 0.3)))(X)
    special = tracejit.make_trace(lambda x: np.sum(sc.jv(1.5, x)))(X)
    plain_source = numba_codegen.generate(plain).source
    special_source = numba_codegen.generate(special).source
    for module in ("numba_math", "numba_scalar"):
        assert f"# {module} {numba_codegen._version(module)}" in plain_source
    assert "numba_scipy" not in plain_source          # only kernels calling SciPy import it
    assert "import numba_scipy as sp" in special_source


def test_text_of_a_kernel_sum_is_settled_by_numpy_not_a_side_exit():
    """The text of a float guards its exact value; a kernel that sums in another order than
    NumPy's pairwise sum may differ in the last bit, so the numpy executor settles that guard
    instead of re-tracing every call."""
    def f(x):
        text = str(np.sum(x))
        return np.sum(x) * (2.0 if text[-1] in "13579" else 3.0)
    compiled = tracejit.jit(f, backend="numba")
    x = np.random.default_rng(1).standard_normal(1000)
    for _ in range(5):
        assert compiled(x) == f(x)
    stats = compiled.stats()
    assert stats["misses"] == 1 and stats["side_exits"] == 0
    other = x[::-1].copy()
    assert compiled(other) == f(other)                # a new value still re-traces correctly


# ---- kernels build for every trace: generated source at the edges of what numba accepts --------
def _many_invariants(x, ws):
    h = x * 1.0
    for _ in range(8):
        acc = h * 0.5
        for w in ws:
            acc = acc + h * w
        h = np.sin(acc) * 0.5
    return np.sum(h)


def _many_carries(x, n):
    states = [x * (k + 1.0) for k in range(n)]
    for _ in range(8):
        states = [np.tanh(s * 0.9 + states[k - 1] * 0.1) for k, s in enumerate(states)]
    return sum(np.sum(s * (k + 1)) for k, s in enumerate(states))


@pytest.mark.parametrize("shape,width", [("invariants", 31), ("invariants", 70), ("carries", 31)])
def test_loop_bodies_with_many_parameters_get_a_kernel(shape, width):
    """CPython compiles a call of more than 30 arguments through `*args`, which numba's inlining
    rejects: an LSTM's loop body (53 parameters) fell back to the numpy executor. Two elements
    each: held as scalars, a carry is two parameters (and the kernel builds in seconds)."""
    x = np.linspace(0.1, 0.5, 2)
    if shape == "invariants":
        args, fn = (x, [np.cos(x + k) for k in range(width)]), _many_invariants
    else:
        args, fn = (x,), lambda x: _many_carries(x, width)
    grad = tracejit.jit_grad(fn, backend="numba")
    got = grad(*args)
    entry = only_entry(grad)
    assert entry.executor == "numba" and entry.fallback_reason is None, entry.fallback_reason
    np.testing.assert_allclose(got, tracejit.jit_grad(fn, backend="numpy")(*args), rtol=1e-12)
