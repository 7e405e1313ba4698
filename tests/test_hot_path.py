"""The generated per-entry fast path (runtime/guard_code.compile_fast_call) must make exactly the
decisions the general path makes: each test calls through it after a first call has made an
entry hot, changes one thing, and checks the answer against plain execution."""
import threading

import numpy as np
import pytest

import tracejit

SCALE = 2.0


@pytest.fixture(params=["numpy", "numba"])
def backend(request):
    """Both backends: the numba program swaps its runner when the kernel is built."""
    return request.param


def scaled(x):
    return np.sum(SCALE * x * x)


def _grad_scaled(x):
    return 2 * SCALE * x


def test_hot_path_serves_repeated_calls_and_counts_them(backend):
    g = tracejit.jit_grad(scaled, backend=backend)
    x = np.arange(3.0)
    for k in range(40):
        np.testing.assert_allclose(g(x + k), _grad_scaled(x + k))
    s = g.stats()
    assert (s["calls"], s["hits"], s["misses"]) == (40, 39, 1), s
    assert s["run_time"] > 0 and s["guard_time"] > 0       # sampled, extrapolated to every hit
    assert g.entries()[0].hits == 39


def test_global_rebound_between_hot_calls_is_seen(backend):
    global SCALE
    g = tracejit.jit_grad(scaled, backend=backend)
    x = np.arange(3.0)
    g(x)
    g(x)
    try:
        SCALE = 5.0
        np.testing.assert_allclose(g(x), 2 * 5.0 * x)
    finally:
        SCALE = 2.0
    np.testing.assert_allclose(g(x), 2 * 2.0 * x)


@pytest.mark.parametrize("other,traces", [
    (np.arange(4.0), 2),                               # shape
    (np.arange(3.0, dtype=np.float32), 2),             # dtype
    (np.arange(3.0).astype(">f8"), 2),                 # byte order: an equal-looking dtype
    (np.arange(3.0).reshape(3, 1), 2),                 # rank
    (np.float64(1.5), 2),                              # a NumPy scalar
    (np.arange(6.0)[::-2], 1),                         # a strided view: same trace serves it
])
def test_a_different_argument_misses_the_hot_entry(other, traces, backend):
    g = tracejit.jit_grad(scaled, backend=backend)
    x = np.arange(3.0)
    g(x)
    g(x)
    got = g(other)
    expected = 2 * SCALE * np.asarray(other, dtype=np.float64)
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), expected)
    np.testing.assert_allclose(g(x), _grad_scaled(x))          # the first entry still right
    assert g.stats()["misses"] == traces


def test_dict_arguments_match_by_key_not_by_order(backend):
    def loss(params, x):
        return np.sum(params["w"] * x) + params["b"] ** 2

    g = tracejit.jit_grad(loss, backend=backend)
    x = np.arange(3.0)
    p = {"w": np.ones(3), "b": 0.5}
    g(p, x)
    g(p, x)
    reordered = {"b": 3.0, "w": np.full(3, 2.0)}
    got = g(reordered, x)
    np.testing.assert_allclose(got["w"], x)
    assert got["b"] == pytest.approx(6.0)
    renamed = {"w": np.ones(3), "c": 0.5}
    with pytest.raises(Exception):
        g(renamed, x)                   # a missing key is the user's KeyError, not a stale run
    extra = {"w": np.ones(3), "b": 0.5, "c": 1.0}
    got = g(extra, x)
    assert set(got) == {"w", "b", "c"} and got["c"] == 0.0


def test_python_scalar_arguments_are_keyed_by_value(backend):
    def f(x, n):
        return np.sum(x ** n)

    g = tracejit.jit_grad(f, backend=backend)
    x = np.arange(1.0, 4.0)
    g(x, 2)
    g(x, 2)
    np.testing.assert_allclose(g(x, 3), 3 * x ** 2)
    np.testing.assert_allclose(g(x, 2), 2 * x)


def test_keyword_call_after_hot_positional_calls(backend):
    f = tracejit.jit(scaled, backend=backend)
    x = np.arange(3.0)
    f(x)
    f(x)
    assert f(x=x + 1) == pytest.approx(scaled(x + 1))
    assert f(x + 2) == pytest.approx(scaled(x + 2))


def test_side_exit_inside_the_hot_path_retraces(backend):
    def f(x):
        if np.sum(x) > 0:
            return np.sum(x * x)
        return np.sum(np.sin(x))

    g = tracejit.jit_grad(f, backend=backend)
    x = np.arange(1.0, 4.0)
    g(x)
    g(x)
    np.testing.assert_allclose(g(-x), np.cos(-x))
    np.testing.assert_allclose(g(x), 2 * x)
    np.testing.assert_allclose(g(-x), np.cos(-x))
    s = g.stats()
    assert s["misses"] == 2 and s["calls"] == 5 and s["hits"] == 3, s
    assert s["side_exits"] >= 1, s


def test_constant_output_is_a_fresh_array_each_call(backend):
    def f(x):
        return np.sum(x) * 0.0 + 1.0, np.ones(3)

    jitted = tracejit.jit(f, backend=backend)
    x = np.arange(3.0)
    jitted(x)
    first = jitted(x)[1]
    first[0] = 99.0
    assert jitted(x)[1][0] == 1.0


def test_evicted_hot_entry_is_not_used():
    g = tracejit.jit_grad(scaled, backend="numpy")
    x = np.arange(3.0)
    g(x)
    compiled = next(iter(g._compiled.values()))
    compiled.cache_limit = 1
    with pytest.warns(RuntimeWarning):
        g(np.arange(4.0))
    assert sum(len(b) for b in compiled.entries.values()) == 1
    hot = compiled._hot
    assert hot is None or any(hot is e for b in compiled.entries.values() for e in b)
    np.testing.assert_allclose(g(x), _grad_scaled(x))


def test_hot_path_counts_are_exact_across_threads(backend):
    g = tracejit.jit_grad(scaled, backend=backend)
    x = np.arange(3.0)
    g(x)
    errors = []

    def work():
        try:
            for k in range(200):
                np.testing.assert_allclose(g(x + k), _grad_scaled(x + k))
        except AssertionError as e:        # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    s = g.stats()
    assert s["calls"] == 1 + 8 * 200 and s["hits"] == 8 * 200, s


def test_cache_size_option_keeps_every_shape_a_thread_pool_uses():
    """Eight threads calling with ten shapes: with cache_size=16 each shape is traced once and
    nothing is dropped; with the default (8) the function says so once, naming cache_size."""
    import concurrent.futures
    import warnings as w

    def loss(x):
        return np.sum(np.sin(x)) if x[0] > 0 else np.sum(x * x)
    shapes = [np.full(n, 0.5) for n in range(1, 11)]
    roomy = tracejit.jit_grad(loss, backend="numpy", cache_size=16)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            list(pool.map(roomy, shapes))
    assert roomy.stats()["misses"] == 10
    small = tracejit.jit_grad(loss, backend="numpy")
    with w.catch_warnings(record=True) as caught:
        w.simplefilter("always")
        for x in shapes * 2:
            small(x)
    messages = [str(c.message) for c in caught if "cache limit" in str(c.message)]
    assert len(messages) == 1 and "cache_size=" in messages[0]
    with pytest.raises(ValueError, match="cache_size"):
        tracejit.jit(loss, cache_size=0)
