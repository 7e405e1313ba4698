"""tracejit's objects ship to other processes (issue 19): pickled by reference when defined at
module level (as functions are), by value with cloudpickle otherwise (lambdas, closures), never
with their compiled traces; a worker process traces again and gives the same results.

The process-pool tests use the "spawn" start method: a fresh interpreter imports
`pickling_targets` to find the functions, as it would on another machine.
"""
import concurrent.futures
import multiprocessing
import os
import pickle
import sys

import numpy as np
import pytest

import tracejit
import pickling_targets as targets

cloudpickle = pytest.importorskip("cloudpickle")

RNG = np.random.default_rng(3)
W, X, Y = RNG.standard_normal(3), RNG.standard_normal((40, 3)), (RNG.random(40) > 0.5) * 1.0
SHARDS = [(W, X[i:i + 10], Y[i:i + 10]) for i in range(0, 40, 10)]
DECORATED = [targets.logistic_loss_grad, targets.clipped_square, targets.uses_custom_rule]


@pytest.mark.parametrize("obj", DECORATED, ids=lambda o: o.__qualname__)
def test_decorated_module_level_functions_pickle_by_reference(obj):
    for dumps in (pickle.dumps, cloudpickle.dumps):
        assert pickle.loads(dumps(obj)) is obj


def test_module_globals_under_other_names_pickle_by_reference():
    """`logistic_value_and_grad = value_and_grad(_logistic_loss)`: found among the module's
    globals (else every task sent to a worker would arrive as a new object and trace again)."""
    for obj in (targets.logistic_value_and_grad, targets.logistic_hessian):
        assert pickle.loads(pickle.dumps(obj)) is obj


def test_transformations_held_nowhere_pickle_by_value():
    """Made inside a function: the transformation and its options travel by value, its
    module-level function by reference."""
    local = tracejit.value_and_grad(targets._logistic_loss, backend="numpy")
    copy = pickle.loads(pickle.dumps(local))
    assert copy is not local and copy.fn is targets._logistic_loss
    np.testing.assert_allclose(flat(copy(W, X, Y)), flat(local(W, X, Y)), rtol=1e-12)


def flat(result):
    return np.concatenate([np.ravel(r) for r in (result if isinstance(result, tuple) else
                                                  (result,))])


def test_lambdas_and_closures_travel_by_value_without_their_traces(backend):
    scale = 3.0
    closure = tracejit.value_and_grad(lambda x: scale * np.sum(np.sin(x) ** 2), backend=backend)
    x = np.arange(4.0)
    expected = closure(x)                          # compiled, cached, kernels and locks inside
    copy = cloudpickle.loads(cloudpickle.dumps(closure))
    assert copy is not closure and copy.stats().get("misses", 0) == 0
    value, gradient = copy(x)
    assert value == expected[0] and np.array_equal(gradient, expected[1])
    assert copy.backend == backend and copy.stats()["misses"] == 1
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(closure)                      # plain pickle cannot take a lambda


def test_transformations_keep_their_options_through_pickling():
    f = tracejit.jacrev(lambda a, b: a * np.sin(b), argnums=[0, 1], backend="numpy")
    g = tracejit.jit(lambda x, n: x[:n] * 2.0, static_argnums=1, backend="numpy")
    a, b = np.array([1.0, 2.0]), np.array([0.3, -0.4])
    for original in (f, g):
        copy = cloudpickle.loads(cloudpickle.dumps(original))
        assert (copy.static_argnums, copy.backend) == (original.static_argnums, original.backend)
    np.testing.assert_array_equal(cloudpickle.loads(cloudpickle.dumps(f))(a, b)[1], f(a, b)[1])
    np.testing.assert_array_equal(cloudpickle.loads(cloudpickle.dumps(g))(a, 1), g(a, 1))


def _spawn_env():
    tests = os.path.dirname(__file__)
    return os.pathsep.join([tests, os.path.dirname(tests), os.environ.get("PYTHONPATH", "")])


@pytest.fixture
def spawn_context(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", _spawn_env())  # workers import pickling_targets
    monkeypatch.setenv("TRACEJIT_NUMBA_TIERING", "sync")
    return multiprocessing.get_context("spawn")


def test_multiprocessing_pool_maps_gradients_over_shards(spawn_context):
    expected = [targets.shard_gradient(shard) for shard in SHARDS]
    with spawn_context.Pool(2) as pool:
        got = pool.map(targets.shard_gradient, SHARDS)
        direct = pool.starmap(targets.logistic_loss_grad, SHARDS)   # the jit_grad object itself
    for e, g, d in zip(expected, got, direct):
        np.testing.assert_allclose(g, e, rtol=1e-12)
        np.testing.assert_allclose(d, e, rtol=1e-12)


def test_process_pool_executor_runs_a_closure_sent_by_cloudpickle(spawn_context):
    offset = 0.5
    closure = tracejit.jit_grad(lambda w: np.sum((X @ w - offset) ** 2), backend="numpy")
    payload = cloudpickle.dumps(closure)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=spawn_context) as pool:
        got = list(pool.map(_run_pickled, [payload] * 2, [W, 2 * W]))
    np.testing.assert_allclose(got[0], closure(W), rtol=1e-12)
    np.testing.assert_allclose(got[1], closure(2 * W), rtol=1e-12)


def _run_pickled(payload, w):
    return cloudpickle.loads(payload)(w)


def test_dask_token_is_deterministic():
    dask_base = pytest.importorskip("dask.base")
    first = dask_base.tokenize(targets.logistic_value_and_grad)
    assert first == dask_base.tokenize(pickle.loads(pickle.dumps(targets.logistic_value_and_grad)))
    assert first != dask_base.tokenize(targets.logistic_hessian)


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_distributed_example_matches_one_process(executor, monkeypatch):
    """examples/distributed_gradients.py: gradient descent whose per-shard gradients run on 2
    worker processes (a spawn pool, a Dask LocalCluster) equals the same run in one process."""
    if executor == "dask":
        pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", _spawn_env())
    examples = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples")
    monkeypatch.syspath_prepend(examples)
    import distributed_gradients
    weights = distributed_gradients.run(executor, workers=2, steps=3)
    assert weights.shape == (20,) and np.all(np.isfinite(weights))


def test_joblib_and_dask_delayed_take_tracejit_functions(monkeypatch):
    joblib = pytest.importorskip("joblib")
    dask = pytest.importorskip("dask")
    monkeypatch.setenv("PYTHONPATH", _spawn_env())
    scale = 2.0
    closure = tracejit.jit_grad(lambda w: scale * np.sum(np.tanh(X @ w)), backend="numpy")
    expected = [closure(W * k) for k in range(3)]
    got = joblib.Parallel(n_jobs=2)(joblib.delayed(closure)(W * k) for k in range(3))
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    delayed = [dask.delayed(targets.shard_gradient)(shard) for shard in SHARDS]
    got = dask.compute(*delayed, scheduler="processes", num_workers=2)
    for shard, g in zip(SHARDS, got):
        np.testing.assert_allclose(g, targets.shard_gradient(shard), rtol=1e-12)


class Model:
    """Methods decorated in a class body: `obj.method(x)` binds `self` as the first argument."""

    def __init__(self, w):
        self.w = w

    @tracejit.jit
    def predict(self, x):
        return np.tanh(x @ self.w)

    @tracejit.jit_grad(argnums=1)
    def input_gradient(self, x):
        return np.sum(self.predict(x) ** 2)


def test_decorated_methods_bind_and_pickle():
    model = Model(W.copy())
    x = X[:5]
    np.testing.assert_allclose(model.predict(x), np.tanh(x @ W), rtol=1e-12)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = 1e-6
        numeric[i] = (np.sum(np.tanh((x + e) @ W) ** 2) - np.sum(np.tanh((x - e) @ W) ** 2)) / 2e-6
    np.testing.assert_allclose(model.input_gradient(x), numeric, rtol=1e-6, atol=1e-9)
    model.w = -W                                  # an attribute read through `self`: guarded
    np.testing.assert_allclose(model.predict(x), np.tanh(-x @ W), rtol=1e-12)
    assert pickle.loads(pickle.dumps(Model.predict)) is Model.predict
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(copy.predict(x), model.predict(x), rtol=1e-12)


def test_dask_array_map_blocks_with_a_compiled_function():
    da = pytest.importorskip("dask.array")
    squash = tracejit.jit(lambda block: np.tanh(block) * 2.0 + block ** 2, backend="numpy")
    data = RNG.standard_normal((8, 6))
    lazy = da.from_array(data, chunks=(4, 3)).map_blocks(squash, dtype=np.float64)
    np.testing.assert_allclose(lazy.compute(scheduler="processes", num_workers=2),
                               np.tanh(data) * 2.0 + data ** 2, rtol=1e-12)
