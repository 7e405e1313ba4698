"""Whole user-style functions, guards and re-tracing, the trace IR, and error messages."""
import math

import numpy as np
import pytest

import tracejit
from conftest import SUITE_BACKEND, numerical_grad
from tracejit.ir import verify

R = np.random.default_rng(7)


def suite_grad(f, **kw):
    return tracejit.jit_grad(f, backend=SUITE_BACKEND, **kw)


def assert_grad(f, x, **kw):
    np.testing.assert_allclose(suite_grad(f, **kw)(x), numerical_grad(f, x), rtol=1e-6, atol=1e-8)


# ---- user-style functions ----------------------------------------------------------------------
def mlp_loss(params, X, Y):
    h = np.tanh(X @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    logits = logits - np.max(logits, axis=1, keepdims=True)
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(Y * logp, axis=1))


def test_mlp_with_dict_of_params():
    params = {"W1": R.standard_normal((4, 5)) * 0.3, "b1": np.zeros(5),
              "W2": R.standard_normal((5, 3)) * 0.3, "b2": np.zeros(3)}
    X, Y = R.standard_normal((6, 4)), np.eye(3)[[0, 1, 2, 0, 1, 2]]
    g = suite_grad(mlp_loss)(params, X, Y)
    assert set(g) == set(params)
    for name in params:
        def along(p, name=name):
            return mlp_loss({**params, name: p}, X, Y)
        np.testing.assert_allclose(g[name], numerical_grad(along, params[name]), rtol=1e-5, atol=1e-8)


def logistic_regression(w, X, y):
    z = X @ w
    return np.mean(np.log1p(np.exp(-y * z)))


def test_logistic_regression():
    X, y = R.standard_normal((20, 3)), np.sign(R.standard_normal(20))
    w = R.standard_normal(3)
    np.testing.assert_allclose(suite_grad(logistic_regression)(w, X, y),
                               numerical_grad(lambda w: logistic_regression(w, X, y), w), rtol=1e-6)


def rosenbrock(x):
    s = 0.0
    for i in range(len(x) - 1):
        s = s + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


def test_rosenbrock_loop():
    assert_grad(rosenbrock, R.standard_normal(6))


def _inner(x, scale=2.0):
    return np.sin(x) * scale


def _middle(x, *, power=2):
    return _inner(x) ** power + _inner(x, scale=0.5)


def test_helper_call_chain_with_defaults_and_keywords():
    assert_grad(lambda x: np.sum(_middle(x, power=3)), R.standard_normal(4))


def test_closure_and_lambda():
    w = R.standard_normal(3)

    def make(k):
        return lambda v: np.sum((v * w) ** k)
    f = make(3)
    assert_grad(lambda x: f(x) + sum(v * v for v in x), R.standard_normal(3))


def test_args_kwargs_comprehensions_unpacking():
    def combine(*parts, **weights):
        return sum(weights[k] * np.sum(p) for k, p in zip(sorted(weights), parts))

    def f(x):
        a, b, *rest = [x[i] for i in range(len(x))]
        squares = [v ** 2 for v in rest]
        table = {"u": a * b, "v": np.stack(squares)}
        return combine(table["u"], table["v"], p=1.0, q=3.0)
    assert_grad(f, R.standard_normal(5))


class Model:
    def __init__(self, scale):
        self.scale = scale

    def predict(self, x):
        return np.tanh(self.scale * x)


def test_methods_on_user_objects_created_inside():
    assert_grad(lambda x: np.sum(Model(1.5).predict(x) ** 2), R.standard_normal(4))


def test_python_float_argument_gets_float_gradient():
    g = suite_grad(lambda t, x: t * np.sum(x) + math.sin(t))(0.3, np.ones(2))
    assert isinstance(g, float)
    assert g == pytest.approx(2 + math.cos(0.3))


def test_argnums_tuple_and_value_and_grad():
    f = lambda a, b: np.sum(a * b ** 2)  # noqa: E731
    a, b = R.standard_normal(3), R.standard_normal(3)
    value, (ga, gb) = tracejit.value_and_grad(f, argnums=(0, 1), backend=SUITE_BACKEND)(a, b)
    assert value == pytest.approx(f(a, b))
    np.testing.assert_allclose(ga, b ** 2)
    np.testing.assert_allclose(gb, 2 * a * b)


def test_has_aux():
    def f(x):
        return np.sum(x ** 2), {"mean": np.mean(x)}
    g, aux = suite_grad(f, has_aux=True)(np.array([1.0, 2.0]))
    np.testing.assert_allclose(g, [2.0, 4.0])
    assert aux["mean"] == pytest.approx(1.5)


def test_integer_data_is_an_input_not_a_constant():
    def f(x, idx):
        return np.sum(x[idx] ** 2)
    g = suite_grad(f)
    x = np.arange(4.0)
    np.testing.assert_allclose(g(x, np.array([0, 3])), [0, 0, 0, 6])
    np.testing.assert_allclose(g(x, np.array([1, 2])), [0, 2, 4, 0])
    assert g.stats()["misses"] == 1


def test_jit_primal():
    f = tracejit.jit(lambda x: {"y": np.cos(x), "n": np.sum(x)}, backend=SUITE_BACKEND)
    out = f(np.array([0.0, 1.0]))
    np.testing.assert_allclose(out["y"], np.cos([0.0, 1.0]))


# ---- guards and re-tracing -------------------------------------------------------------------
def branchy(x):
    if np.sum(x) > 0:
        return np.sum(np.exp(-x) * x)
    return np.sum(np.log1p(x * x))


def test_branch_flip_retraces_and_stays_correct():
    g = suite_grad(branchy)
    x = np.array([0.5, 1.0, -0.2])
    for sample in (x, -x, x * 2, -x * 3, x):
        np.testing.assert_allclose(g(sample), numerical_grad(branchy, sample), rtol=1e-6)
    stats = g.stats()
    assert stats["misses"] == 2 and stats["hits"] == 3
    assert any("np.sum(x) > 0" in reason for reason in stats["guard_failures"])


def newton_sqrt(a):
    x = np.ones_like(a)
    while np.max(np.abs(x * x - a)) > 1e-12:
        x = 0.5 * (x + a / x)
    return np.sum(x)


def test_while_loop_with_data_dependent_trip_count():
    g = suite_grad(newton_sqrt)
    for a in (np.array([2.0, 5.0]), np.array([100.0, 3.0]), np.array([2.0, 5.0])):
        np.testing.assert_allclose(g(a), 0.5 / np.sqrt(a), rtol=1e-8)
    assert g.stats()["misses"] == 1     # one while loop serves both trip counts


def test_new_shape_and_dtype_retrace():
    g = suite_grad(lambda x: np.sum(x ** 3))
    g(np.ones(3))
    g(np.ones(4))
    g(np.ones(4, dtype=np.float32))
    g(np.ones(3))
    assert g.stats()["misses"] == 3 and g.stats()["hits"] == 1


def test_static_int_argument_is_guarded_by_value():
    g = suite_grad(lambda x, n: np.sum(x ** n))
    np.testing.assert_allclose(g(np.array([2.0]), 2), [4.0])
    np.testing.assert_allclose(g(np.array([2.0]), 3), [12.0])


SCALE = np.array([1.0, 2.0])


def uses_global(x):
    return np.sum(SCALE * x ** 2)


def test_global_array_is_read_at_call_time():
    global SCALE
    g = suite_grad(uses_global)
    x = np.array([1.0, 1.0])
    np.testing.assert_allclose(g(x), [2.0, 4.0])
    SCALE[0] = 10.0                      # mutated in place
    np.testing.assert_allclose(g(x), [20.0, 4.0])
    SCALE = np.array([3.0, 3.0])         # rebound
    np.testing.assert_allclose(g(x), [6.0, 6.0])
    assert g.stats()["misses"] == 1


def test_global_constant_change_retraces():
    namespace = {"np": np, "K": 2.0}
    exec("def f(x):\n    return np.sum(x * K)", namespace)
    g = suite_grad(namespace["f"])
    np.testing.assert_allclose(g(np.ones(2)), [2.0, 2.0])
    namespace["K"] = 5.0
    np.testing.assert_allclose(g(np.ones(2)), [5.0, 5.0])


def test_cache_limit_warns_and_names_the_guard():
    g = tracejit.jit_grad(lambda x, n: np.sum(x[:n]), backend=SUITE_BACKEND)   # n: a shape
    g(np.ones(6), 0)
    (compiled,) = g._compiled.values()
    compiled.cache_limit = 3
    with pytest.warns(RuntimeWarning, match="cache limit 3"):
        for n in range(1, 5):
            np.testing.assert_allclose(g(np.ones(6), n), [1.0] * n + [0.0] * (6 - n))
    # an int the function only computes with is a trace input: no re-trace
    h = tracejit.jit_grad(lambda x, n: np.sum(x * n), backend=SUITE_BACKEND)
    for n in range(5):
        np.testing.assert_allclose(h(np.ones(2), n), [n, n])
    assert h.stats()["misses"] == 1


# ---- the IR --------------------------------------------------------------------------------------
def test_make_trace_prints_a_readable_program():
    trace = tracejit.make_trace(branchy)(np.array([1.0, 2.0]))
    text = str(trace)
    assert text.startswith("def branchy(t0: f64[2]):")
    assert "guard(" in text and "if np.sum(x) > 0:" in text and "test_tracing.py" in text
    verify(trace)


def test_joint_trace_verifies_and_keeps_guards():
    g = suite_grad(branchy)
    g(np.array([1.0, 2.0]))
    joint = g.traces()[0]
    verify(joint)
    assert sum(op.prim.name == "guard" for op in joint.ops) == 1
    assert len(joint.outputs) == 1              # jit_grad's joint trace returns the gradient only


# ---- errors ------------------------------------------------------------------------------------
async def _coroutine(x):
    return x


def uses_a_coroutine(x):
    _coroutine(x)
    return np.sum(x)


def test_unsupported_construct_names_file_and_line():
    with pytest.raises(tracejit.UnsupportedError, match=r"test_tracing.py:\d+.*async"):
        suite_grad(uses_a_coroutine)(np.ones(2))


def test_non_float_differentiable_argument():
    with pytest.raises(tracejit.TracejitError, match="cannot differentiate.*int64"):
        suite_grad(lambda x: np.sum(x * 1.0))(np.arange(3))
    with pytest.raises(tracejit.TracejitError, match="cannot differentiate"):
        suite_grad(lambda x: 1.0)([1, 2])


def test_complex_and_object_arrays_are_refused():
    with pytest.raises(tracejit.TracejitError, match="complex"):
        suite_grad(lambda x: np.sum(x))(np.ones(2, dtype=complex))
    with pytest.raises(tracejit.TracejitError, match="object"):
        suite_grad(lambda x: np.sum(x))(np.array([1.0, None]))


def no_return(x):
    np.sum(x)


def test_function_without_return_value():
    with pytest.raises(tracejit.TracejitError, match="forget a `return`"):
        suite_grad(no_return)(np.ones(2))


def test_traced_value_into_unknown_c_function():
    import zlib

    def f(x):
        return zlib.crc32(x) + np.sum(x)
    with pytest.raises(tracejit.UnsupportedError, match=r"crc32.*\n.*|test_tracing.py:\d+.*crc32"):
        suite_grad(f)(np.ones(2))


def test_unsupported_numpy_function_suggests_custom_vjp():
    def f(x):
        return np.sum(np.frompyfunc(lambda v: v, 1, 1)(x))
    with pytest.raises(tracejit.UnsupportedError, match="custom_vjp"):
        suite_grad(f)(np.ones(2))


def test_random_draw_inside_is_drawn_on_every_call():
    """Not frozen at trace time: each call's gradient is that call's draw (test_random_draws)."""
    def f(x):
        return np.sum(x * np.random.rand(2))
    grad = suite_grad(f)
    np.random.seed(0)
    got = [grad(np.ones(2)) for _ in range(3)]
    np.random.seed(0)
    np.testing.assert_array_equal(got, [np.random.rand(2) for _ in range(3)])


def test_non_scalar_output():
    with pytest.raises(tracejit.TracejitError, match="scalar"):
        suite_grad(lambda x: x * 2)(np.ones(2))
