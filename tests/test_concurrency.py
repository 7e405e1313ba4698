"""The same compiled function called from 8 threads at once, with inputs that force re-traces
(new shapes and flipped branches): every result is right, each signature/branch is traced exactly
once, and the counters add up."""
import threading

import numpy as np

import tracejit
from conftest import numerical_grad

N_THREADS = 8
ROUNDS = 6


def branchy(x, scale):
    if np.sum(x) > 0.0:
        y = np.sin(x) * scale
    else:
        y = np.cos(x) * scale
    total = 0.0
    for i in range(3):
        total += np.sum(y * y) * (i + 1.0)
    return total


def _inputs(thread, round_):
    """Per thread a shape (4 distinct), and a branch that flips from round to round."""
    size = 2 + thread % 4
    rng = np.random.default_rng(100 * thread + round_)
    x = np.abs(rng.standard_normal(size)) + 0.1
    return (x if (thread + round_) % 2 else -x), 1.0 + thread


def _hammer(fn, check):
    barrier = threading.Barrier(N_THREADS)
    errors = []

    def work(thread):
        try:
            barrier.wait()                    # all threads call at the same moment
            for round_ in range(ROUNDS):
                check(fn, *_inputs(thread, round_))
        except BaseException as e:            # reported below, with the thread's traceback
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    if errors:
        raise errors[0]


def _check_value(fn, x, scale):
    np.testing.assert_allclose(fn(x, scale), branchy(x, scale), rtol=1e-12)


def _check_grad(fn, x, scale):
    value, grad = fn(x, scale)
    np.testing.assert_allclose(value, branchy(x, scale), rtol=1e-12)
    np.testing.assert_allclose(grad, numerical_grad(lambda v: branchy(v, scale), x),
                               rtol=1e-6, atol=1e-7)


def _assert_consistent(compiled, calls):
    stats = compiled.stats()
    entries = compiled.entries()
    # 4 shapes x 2 branches (within the default cache limit of 8), each traced exactly once:
    # no thread re-traced what another had just added
    assert stats["misses"] == 8 and len(entries) == 8, stats
    assert stats["calls"] == calls, stats
    assert stats["hits"] + stats["misses"] == calls, stats
    assert len({str(e.joint) for e in entries}) == 8            # no duplicate entries


def test_threads_share_one_compiled_function(backend):
    compiled = tracejit.jit(branchy, backend=backend)
    _hammer(compiled, _check_value)
    _assert_consistent(compiled, N_THREADS * ROUNDS)


def test_threads_share_one_compiled_gradient(backend):
    compiled = tracejit.value_and_grad(branchy, backend=backend)
    _hammer(compiled, _check_grad)
    _assert_consistent(compiled, N_THREADS * ROUNDS)


def test_threads_with_distinct_functions_trace_in_parallel(backend):
    """Tracing state (the builder stack) is per thread: two functions traced at once do not mix."""
    def make(k):
        def fn(x, scale):
            return branchy(x * k, scale) + k
        return fn
    fns = [make(k) for k in range(N_THREADS)]
    compiled = [tracejit.jit(f, backend=backend) for f in fns]
    barrier = threading.Barrier(N_THREADS)
    results = [None] * N_THREADS

    def work(k):
        barrier.wait()
        x, scale = _inputs(k, 0)
        results[k] = (compiled[k](x, scale), fns[k](x, scale))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for got, want in results:
        np.testing.assert_allclose(got, want, rtol=1e-12)
