"""Transformations (jvp, vjp, jacobians, Hessians, nesting, custom rules, checkpoint), the NumPy
shim and SciPy interoperability. Derivatives are checked against central finite differences and
against each other; every call names the suite's backend (`pytest --backend numba`)."""
import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

import tracejit as tj
import tracejit.numpy as tnp
from tracejit.backends import run_trace
from tracejit.frontend import trace_function
from tracejit.ir import verify
from tracejit.transforms import jvp_trace, vjp_trace
from conftest import SUITE_BACKEND

B = SUITE_BACKEND
H = 1e-6
RTOL, ATOL = 1e-6, 1e-8

_rng = np.random.default_rng(0)
W = _rng.normal(size=(2, 3))
A = np.eye(4) * 3 + _rng.normal(size=(4, 4)) * 0.3


def fd_jacobian(f, x):
    """Central finite differences: d f(x).ravel() / d x.ravel(), shaped out.shape + x.shape."""
    x = np.array(x, dtype=np.float64)
    out = np.asarray(f(x))
    jac = np.zeros((out.size, x.size))
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = H
        up = np.asarray(f(x + e.reshape(x.shape)))
        down = np.asarray(f(x - e.reshape(x.shape)))
        jac[:, j] = ((up - down) / (2 * H)).ravel()
    return jac.reshape(out.shape + x.shape)


# ---- a table of vector functions R^n -> R^m ------------------------------------------------------
def elementwise(x):
    return np.sin(x) * np.exp(-x ** 2) + x / (1 + x ** 2)


def matmul_broadcast(x):
    return np.tanh(x.reshape(2, 2) @ W + x[:3])


def reductions(x):
    return np.concatenate([np.sum(x ** 2, keepdims=True), np.max(x, keepdims=True),
                           np.mean(np.log1p(x ** 2), keepdims=True)])


def slicing(x):
    return x[1:] * x[:-1] + np.sum(x[::2])


def linear_solve(x):
    return np.linalg.solve(A + x[:, None] * np.eye(4), x)


def branches(x):
    y = np.where(x > 0, x ** 2, -x)
    if np.sum(y) > 1.0:
        return y * 2.0
    return y


VECTOR_FUNCS = [elementwise, matmul_broadcast, reductions, slicing, linear_solve, branches]
X = np.array([0.3, -0.7, 1.1, 0.45])


@pytest.mark.parametrize("f", VECTOR_FUNCS, ids=lambda f: f.__name__)
def test_jvp_matches_finite_differences(f):
    v = np.array([0.5, -1.0, 0.25, 2.0])
    out, tangent = tj.jvp(f, (X,), (v,), backend=B)
    np.testing.assert_allclose(out, f(X), rtol=1e-12)
    expected = (f(X + H * v) - f(X - H * v)) / (2 * H)
    np.testing.assert_allclose(tangent, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("f", VECTOR_FUNCS, ids=lambda f: f.__name__)
def test_vjp_matches_finite_differences(f):
    out, vjp_fn = tj.vjp(f, X, backend=B)
    u = np.linspace(-1.0, 1.0, out.size).reshape(out.shape)
    (got,) = vjp_fn(u)
    expected = np.tensordot(u, fd_jacobian(f, X), axes=u.ndim)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("f", VECTOR_FUNCS, ids=lambda f: f.__name__)
def test_jacfwd_equals_jacrev_and_finite_differences(f):
    forward = tj.jacfwd(f, backend=B)(X)
    reverse = tj.jacrev(f, backend=B)(X)
    assert forward.shape == reverse.shape == f(X).shape + X.shape
    np.testing.assert_allclose(forward, reverse, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(forward, fd_jacobian(f, X), rtol=RTOL, atol=ATOL)
    assert tj.jacobian is tj.jacrev


@pytest.mark.parametrize("f", VECTOR_FUNCS, ids=lambda f: f.__name__)
def test_jvp_trace_pass_is_a_verified_tangent_trace(f):
    result = trace_function(f, (X,), {})
    trace = verify(result.trace)
    inputs = [X] + [source.get(f, [X]) for source in result.sourced]   # globals such as W
    tangent_trace = verify(jvp_trace(trace, [0]))
    assert len(tangent_trace.inputs) == len(trace.inputs) + 1
    v = np.array([1.0, 0.5, -0.5, 0.25])
    out, tangent = run_trace(tangent_trace, inputs + [v])
    np.testing.assert_allclose(tangent, fd_jacobian(f, X) @ v, rtol=RTOL, atol=ATOL)
    # the tangent trace is itself differentiable: reverse over forward gives d(sum(J v))/dx
    joint = verify(vjp_trace(_summed_output(tangent_trace, 1), [0]))
    second = run_trace(joint, inputs + [v])[1]

    def summed_tangent(x):
        return np.sum(tj.jvp(f, (x,), (v,), backend=B)[1])
    np.testing.assert_allclose(second, fd_jacobian(summed_tangent, X), rtol=1e-5, atol=1e-7)


def _summed_output(trace, index):
    """`trace` with its output `index` summed to a scalar placed first (a scalar to differentiate)."""
    from tracejit.ir import Trace
    from tracejit.ops.core import Builder, Tracer
    from tracejit.ops.reduce import reduce_sum
    builder = Builder(concrete=False)
    builder.inputs.extend(trace.inputs)
    builder.ops.extend(trace.ops)
    out = trace.outputs[index]
    total = reduce_sum(Tracer(builder, out), axes=tuple(range(out.ndim)), keepdims=False)
    built = builder.build([total])
    return Trace(built.inputs, built.outputs, built.ops)


# one record per primitive family, in forward mode and to second order (hvp vs differences of grad)
M = np.array([[2.0, 0.3, 0.1, 0.0], [0.3, 1.5, 0.2, 0.1], [0.1, 0.2, 1.8, 0.3], [0.0, 0.1, 0.3, 2.2]])
PRIMITIVE_FUNCS = {
    "unary": lambda x: np.sqrt(np.abs(x) + 1) * np.arctan(x) + np.cosh(x) - np.expm1(x) * np.sinh(x),
    "binary": lambda x: np.arctan2(x, x[::-1] + 2.0) + np.maximum(x, 0.1) * np.minimum(x, 0.2),
    "power": lambda x: (x ** 2 + 1.0) ** x + 2.0 ** x,
    "take_scatter": lambda x: x[np.array([3, 0, 0, 2])] * x + x[x > 0.0].sum(),
    "transpose_broadcast": lambda x: (np.outer(x, x).T + np.broadcast_to(x, (4, 4))).sum(axis=0),
    "reductions": lambda x: np.max(np.outer(x, x), axis=1) + np.min(x) + np.mean(x ** 2),
    "inv_slogdet": lambda x: (np.linalg.inv(M + x[:, None] * np.eye(4)) @ x
                            + np.linalg.slogdet(M + x[:, None] * np.eye(4))[1]),
    "slice_update": lambda x: _slice_update(x),
}


def _slice_update(x):
    y = np.zeros(6)
    y[1:5] = x * x
    y[::2] += np.sin(x[:3])
    return y


@pytest.mark.parametrize("name", PRIMITIVE_FUNCS)
def test_primitives_forward_mode_and_second_order(name):
    f = PRIMITIVE_FUNCS[name]
    v = np.array([0.5, -1.0, 0.25, 2.0])
    _, tangent = tj.jvp(f, (X,), (v,), backend=B)
    np.testing.assert_allclose(tangent, fd_jacobian(f, X) @ v, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(tj.jacfwd(f, backend=B)(X), tj.jacrev(f, backend=B)(X),
                               rtol=1e-12, atol=1e-13)

    def scalar(x):
        return np.sum(f(x) * np.cos(np.arange(f(x).size)))
    hvp = tj.hvp(scalar, backend=B)(X, v)
    np.testing.assert_allclose(hvp, fd_jacobian(tj.grad(scalar, backend=B), X) @ v,
                               rtol=1e-5, atol=1e-6)


# ---- scalar functions: gradients, Hessians, hvp, higher order -----------------------------------
def energy(x):
    return np.sum(np.sin(x) * x ** 2) + np.log(1 + np.sum(x ** 2)) * x[0]


def test_hessian_is_forward_over_reverse_and_matches_finite_differences():
    hess = tj.hessian(energy, backend=B)(X)
    grad = tj.grad(energy, backend=B)
    np.testing.assert_allclose(hess, fd_jacobian(grad, X), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(hess, hess.T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hess, tj.jacrev(grad, backend=B)(X), rtol=1e-12, atol=1e-14)


def test_hvp_equals_hessian_times_vector():
    v = np.array([1.0, -2.0, 0.5, 3.0])
    hess = tj.hessian(energy, backend=B)(X)
    np.testing.assert_allclose(tj.hvp(energy, backend=B)(X, v), hess @ v, rtol=1e-12, atol=1e-13)


def test_third_order_derivative_of_scalar_function():
    def h(t):
        return t ** 3 * np.sin(t)
    t = 0.7
    third = tj.grad(tj.grad(tj.grad(h, backend=B), backend=B), backend=B)(t)
    exact = (6 * np.sin(t) + 18 * t * np.cos(t) - 9 * t ** 2 * np.sin(t) - t ** 3 * np.cos(t))
    assert type(third) is float
    assert third == pytest.approx(exact, rel=1e-12)
    second = tj.grad(tj.grad(h, backend=B), backend=B)
    assert third == pytest.approx((second(t + H) - second(t - H)) / (2 * H), rel=1e-6)


def test_nested_grad_distinguishes_argument_from_closure():
    # d/dy (y * x) at y = x is x, not 2x: the inner argument gets a var of its own
    def outer(x):
        return tj.grad(lambda y: y * x, backend=B)(x)
    assert tj.jit(outer, backend=B)(3.0) == 3.0
    assert tj.grad(outer, backend=B)(3.0) == 1.0


def test_transformations_inside_jit_and_cached():
    grad_energy = tj.grad(energy, backend=B)

    def twice_grad(x):
        return grad_energy(x) * 2.0
    compiled = tj.jit(twice_grad, backend=B)
    np.testing.assert_allclose(compiled(X), 2 * grad_energy(X), rtol=1e-12)
    compiled(X + 1.0)
    assert compiled.stats()["misses"] == 1 and compiled.stats()["hits"] == 1


# ---- options ---------------------------------------------------------------------------------------
def test_argnums_tuple_negative_and_has_aux():
    def f(a, b, c):
        return np.sum(a * b ** 2) + c, {"note": np.max(a)}
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    (ga, gb), aux = tj.grad(f, argnums=(0, -2), has_aux=True, backend=B)(a, b, 0.5)
    np.testing.assert_allclose(ga, b ** 2)
    np.testing.assert_allclose(gb, 2 * a * b)
    assert aux == {"note": 2.0}
    (value, aux), g = tj.value_and_grad(f, argnums=2, has_aux=True, backend=B)(a, b, 0.5)
    assert value == pytest.approx(np.sum(a * b ** 2) + 0.5) and g == 1.0
    g1, g0 = tj.grad(f, argnums=(1, 0), has_aux=True, backend=B)(a, b, 0.5)[0]
    np.testing.assert_allclose(g1, 2 * a * b)
    np.testing.assert_allclose(g0, b ** 2)
    with pytest.raises(ValueError, match="twice"):           # JAX's rule: no repeated argument
        tj.grad(f, argnums=(1, -2), has_aux=True, backend=B)(a, b, 0.5)
    jac, aux = tj.jacrev(lambda x: (x ** 2, np.sum(x)), has_aux=True, backend=B)(a)
    np.testing.assert_allclose(jac, np.diag(2 * a))
    assert aux == pytest.approx(3.0)


@pytest.mark.parametrize("shape", [(1,), (1, 1), (1, 1, 1)])
def test_gradient_of_a_one_element_output(shape):
    """A size-1 array output is a scalar to differentiate (autograd's rule; JAX refuses it); the
    value keeps its shape. Larger outputs are refused with a TypeError naming the shape."""
    def f(x):
        return (np.sum(x ** 3) * np.ones(shape)).reshape(shape)
    x = np.array([0.5, -1.5])
    value, g = tj.value_and_grad(f, backend=B)(x)
    assert value.shape == shape and value.item() == pytest.approx(np.sum(x ** 3))
    np.testing.assert_allclose(g, 3 * x ** 2)
    np.testing.assert_allclose(tj.jit_grad(f, backend=B)(x), 3 * x ** 2)
    with pytest.raises(TypeError, match=r"returned f64\[2\]"):
        tj.grad(lambda x: x * 2.0, backend=B)(x)


def test_argnums_as_jax_takes_them():
    """An int, a tuple or a list (JAX's rules); arguments to differentiate must be positional:
    a TypeError, as in JAX, when they are passed by keyword or missing."""
    def f(a, b):
        return np.sum(a * b ** 2)
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    ga, gb = tj.grad(f, argnums=[0, 1], backend=B)(a, b)
    np.testing.assert_allclose(ga, b ** 2)
    np.testing.assert_allclose(gb, 2 * a * b)
    (jb,) = tj.jacrev(lambda a, b: a * b, argnums=[1], backend=B)(a, b)
    np.testing.assert_allclose(jb, np.diag(a))
    with pytest.raises(TypeError, match="passed by position"):
        tj.grad(f, backend=B)(a=a, b=b)
    with pytest.raises(TypeError, match="argument 1 passed by position"):
        tj.grad(f, argnums=1, backend=B)(a, b=b)
    with pytest.raises(TypeError, match="argnums must be an int"):
        tj.grad(f, argnums=1.0)


def test_linearize_and_hvp_in_jax_conventions():
    def f(x, y):
        return np.sin(x) * y
    x, y = np.array([0.3, -1.2]), np.array([2.0, 0.5])
    out, f_jvp = tj.linearize(f, x, y, backend=B)
    np.testing.assert_allclose(out, f(x, y))
    for tx, ty in [(np.ones(2), np.zeros(2)), (np.array([0.5, -2.0]), np.array([1.0, 3.0]))]:
        np.testing.assert_allclose(f_jvp(tx, ty), np.cos(x) * y * tx + np.sin(x) * ty)

    def g(x):
        return np.sum(x ** 3)
    v = np.array([1.0, -0.5])
    np.testing.assert_allclose(tj.hvp(g, (x,), (v,), backend=B), 6 * x * v)
    np.testing.assert_allclose(tj.hvp(g, backend=B)(x, v), 6 * x * v)


def test_jacobians_with_several_argnums():
    def f(a, b):
        return a * np.sum(b ** 2)
    a, b = np.array([1.0, 2.0]), np.array([0.5, -1.0, 2.0])
    for jac in (tj.jacfwd, tj.jacrev):
        ja, jb = jac(f, argnums=(0, 1), backend=B)(a, b)
        np.testing.assert_allclose(ja, np.eye(2) * np.sum(b ** 2))
        np.testing.assert_allclose(jb, np.outer(a, 2 * b))


def test_jvp_and_vjp_with_aux_and_pytrees():
    def f(p):
        return {"y": p["w"] * p["b"]}, np.sum(p["w"])
    p = {"w": np.array([1.0, 2.0]), "b": np.array([0.5, -1.0])}
    t = {"w": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])}
    out, tangent, aux = tj.jvp(f, (p,), (t,), has_aux=True, backend=B)
    np.testing.assert_allclose(tangent["y"], [0.5, 2.0])
    assert aux == pytest.approx(3.0)
    out, vjp_fn, aux = tj.vjp(f, p, has_aux=True, backend=B)
    (g,) = vjp_fn({"y": np.array([1.0, 1.0])})
    np.testing.assert_allclose(g["w"], p["b"])
    np.testing.assert_allclose(g["b"], p["w"])


def test_jacobian_of_pytree_input():
    def f(p):
        return p["w"] * np.sum(p["b"] ** 2)
    p = {"w": np.array([1.0, 2.0]), "b": np.array([0.5, -1.0, 2.0])}
    jac = tj.jacfwd(f, backend=B)(p)
    assert jac["w"].shape == (2, 2) and jac["b"].shape == (2, 3)
    np.testing.assert_allclose(jac["b"], np.outer(p["w"], 2 * p["b"]))
    rev = tj.jacrev(f, backend=B)(p)
    np.testing.assert_allclose(rev["w"], jac["w"])
    np.testing.assert_allclose(rev["b"], jac["b"])


def test_none_and_string_leaves_are_passed_through():
    def f(p):
        return np.sum(p["w"] ** 2)
    g = tj.grad(f, backend=B)({"w": np.array([1.0, 2.0]), "name": "layer", "mask": None})
    assert g["name"] is None and g["mask"] is None
    np.testing.assert_allclose(g["w"], [2.0, 4.0])


def test_static_argnums_and_argnames_are_guarded_by_value():
    def f(x, power, *, scale):
        return scale * np.sum(x ** power)
    x = np.array([1.0, 2.0])
    g = tj.grad(f, static_argnums=1, static_argnames="scale", backend=B)
    np.testing.assert_allclose(g(x, 2, scale=1.0), 2 * x)
    np.testing.assert_allclose(g(x, 3, scale=1.0), 3 * x ** 2)
    np.testing.assert_allclose(g(x, 3, scale=2.0), 6 * x ** 2)
    np.testing.assert_allclose(g(x, 2, scale=1.0), 2 * x)
    assert g.stats()["misses"] == 3 and g.stats()["hits"] == 1
    with pytest.raises(tj.TracejitError, match="hashable"):
        g(x, [2], scale=1.0)


def test_complex_and_holomorphic_refused_clearly():
    with pytest.raises(tj.TracejitError, match="holomorphic=True is not supported"):
        tj.grad(np.sum, holomorphic=True)
    with pytest.raises(tj.TracejitError, match="complex"):
        tj.grad(lambda z: np.sum(np.abs(z)), backend=B)(np.array([1 + 2j]))
    with pytest.raises(tj.TracejitError, match="complex"):
        tj.grad(lambda z, x: np.sum(x), backend=B)(1j, np.ones(2))


def test_integer_argument_refused():
    with pytest.raises(tj.TracejitError, match="cannot differentiate with respect to"):
        tj.grad(lambda n: np.sum(n * 1.0), backend=B)(np.arange(3))


# ---- custom rules ----------------------------------------------------------------------------------
def test_custom_vjp_wraps_scipy_and_its_rule_runs():
    calls = []

    @tj.custom_vjp
    def solve(a, b):
        return scipy.linalg.solve(a, b)

    def solve_fwd(a, b):
        x = scipy.linalg.solve(a, b)
        return x, (scipy.linalg.lu_factor(a), x)       # residuals may be any Python objects

    def solve_bwd(res, g):
        lu, x = res
        calls.append(g.copy())
        gb = scipy.linalg.lu_solve(lu, g, trans=1)
        return -np.outer(gb, x), gb
    solve.defvjp(solve_fwd, solve_bwd)

    b = np.array([1.0, -2.0, 0.5, 3.0])
    custom = tj.grad(lambda a, b: np.sum(solve(a, b) ** 2), argnums=(0, 1), backend=B)(A, b)
    builtin = tj.grad(lambda a, b: np.sum(np.linalg.solve(a, b) ** 2), argnums=(0, 1),
                      backend=B)(A, b)
    assert calls                                          # ran while tracing, and compiled
    np.testing.assert_allclose(calls[-1], 2 * np.linalg.solve(A, b), rtol=1e-12)
    compiled = tj.grad(lambda a, b: np.sum(solve(a, b) ** 2), argnums=1, backend=B)
    compiled(A, b)
    n = len(calls)
    compiled(A, 2 * b)                                    # a cached trace: the rule runs once
    assert len(calls) == n + 1
    np.testing.assert_allclose(calls[-1], 4 * np.linalg.solve(A, b), rtol=1e-12)
    for got, want in zip(custom, builtin):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_custom_vjp_result_is_the_rules_not_the_true_derivative():
    @tj.custom_vjp
    def clip_gradient(x):
        return x

    clip_gradient.defvjp(lambda x: (x, None), lambda res, g: (np.clip(g, -1.0, 1.0),))
    x = np.array([1.0, 2.0, 3.0])
    g = tj.grad(lambda x: np.sum(clip_gradient(x ** 2) * 5.0), backend=B)(x)
    np.testing.assert_allclose(g, 2 * x * 1.0)        # 5 clipped to 1, then times 2x
    assert clip_gradient(x) is x                         # outside tracing: the plain function
    with pytest.raises(tj.TracejitError, match="forward-mode"):
        tj.jvp(lambda x: clip_gradient(x), (x,), (x,), backend=B)


def test_custom_rules_with_nondiff_argnums():
    import functools

    @functools.partial(tj.custom_vjp, nondiff_argnums=(0, 2))
    def apply(fn, x, scale):
        return fn(x) * scale

    def apply_fwd(fn, x, scale):
        return apply(fn, x, scale), x

    def apply_bwd(fn, scale, x, g):               # non-differentiated arguments come first
        return (g * scale * 10.0,)                 # a deliberately scaled rule
    apply.defvjp(apply_fwd, apply_bwd)
    x = np.array([1.0, 2.0])
    g = tj.grad(lambda x, s: np.sum(apply(np.sin, x, s)), backend=B)(x, np.array(3.0))
    np.testing.assert_allclose(g, np.full(2, 30.0))

    @functools.partial(tj.custom_jvp, nondiff_argnums=(1,))
    def scaled_square(x, power):
        return x ** power

    @scaled_square.defjvp
    def scaled_square_jvp(power, primals, tangents):
        (x,), (t,) = primals, tangents
        return x ** power, power * x ** (power - 1) * t
    _, tangent = tj.jvp(lambda x: scaled_square(x, 3), (x,), (np.ones(2),), backend=B)
    np.testing.assert_allclose(tangent, 3 * x ** 2)
    np.testing.assert_allclose(tj.grad(lambda x: np.sum(scaled_square(x, 3)), backend=B)(x),
                               3 * x ** 2)


def test_custom_jvp_rule_used_in_both_modes():
    calls = []

    @tj.custom_jvp
    def softplus(x):
        return np.log1p(np.exp(x))

    @softplus.defjvp
    def softplus_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        calls.append(1)
        return softplus(x), 3.0 * t / (1 + np.exp(-x))   # deliberately 3x the derivative

    x = np.array([-1.0, 0.5])
    sigmoid = 1 / (1 + np.exp(-x))
    _, tangent = tj.jvp(softplus, (x,), (np.ones(2),), backend=B)
    np.testing.assert_allclose(tangent, 3 * sigmoid, rtol=1e-12)
    g = tj.grad(lambda x: np.sum(softplus(x) * x), backend=B)(x)
    np.testing.assert_allclose(g, 3 * sigmoid * x + softplus(x), rtol=1e-12)
    assert calls


# ---- checkpoint ------------------------------------------------------------------------------------
def block(x):
    return np.sin(np.cos(x) * W[0, 0]) * x


def test_checkpoint_gives_equal_derivatives():
    def plain(x):
        return np.sum(block(block(x)) ** 2)

    def checkpointed(x):
        return np.sum(tj.checkpoint(block)(tj.checkpoint(block)(x)) ** 2)
    np.testing.assert_allclose(tj.grad(checkpointed, backend=B)(X),
                               tj.grad(plain, backend=B)(X), rtol=1e-13)
    np.testing.assert_allclose(tj.hessian(checkpointed, backend=B)(X),
                               tj.hessian(plain, backend=B)(X), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tj.jacfwd(tj.checkpoint(block), backend=B)(X),
                               tj.jacfwd(block, backend=B)(X), rtol=1e-13)
    np.testing.assert_allclose(tj.checkpoint(block)(X), block(X))


def test_checkpoint_recomputes_in_the_backward_pass():
    def count(prim_name, f):
        g = tj.value_and_grad(f, backend=B)          # the value keeps the forward pass live
        g(X)
        return sum(op.prim.name == prim_name for op in g.traces()[0].ops)
    plain = count("cos", lambda x: np.sum(block(x)))
    recomputed = count("cos", lambda x: np.sum(tj.checkpoint(block)(x)))
    assert recomputed == plain + 1                   # the forward cos, recomputed once


# ---- the NumPy shim ----------------------------------------------------------------------------------
_x = np.linspace(-1.0, 2.0, 12).reshape(3, 4)
_f32 = _x.astype(np.float32)
SHIM_CALLS = [
    ("sum", (_x,), {"axis": 1}), ("mean", (_f32,), {}), ("std", (_x,), {"ddof": 1}),
    ("var", (_x,), {}), ("max", (_x,), {"axis": 0}), ("min", (_x,), {}),
    ("exp", (_f32,), {}), ("log1p", (np.abs(_x),), {}), ("sqrt", (np.abs(_x),), {}),
    ("tanh", (_x,), {}), ("arctan2", (_x, _x[::-1]), {}),
    ("add", (_f32, 1.5), {}), ("multiply", (_x, np.int64(3)), {}), ("power", (_x, 2), {}),
    ("divide", (_x, 7), {}), ("maximum", (_x, 0.0), {}), ("where", (_x > 0, _x, -1.0), {}),
    ("clip", (_x, -0.5, 0.5), {}), ("matmul", (_x, _x.T), {}), ("dot", (_x[0], _x[1]), {}),
    ("outer", (_x[0], _x[1]), {}), ("concatenate", ([_x, _x],), {"axis": 1}),
    ("stack", ([_x[0], _x[1]],), {}), ("reshape", (_x, (4, 3)), {}),
    ("transpose", (_x,), {}), ("roll", (_x, 2), {}), ("linspace", (0.0, 1.0, 7), {}),
    ("arange", (5,), {}), ("zeros", ((2, 3),), {"dtype": np.float32}), ("ones_like", (_x,), {}),
    ("full", ((2,), 3), {}), ("eye", (3,), {}), ("array", ([1, 2, 3],), {}),
    ("square", (_x,), {}), ("sign", (_x,), {}), ("isfinite", (_x,), {}),
    ("cumsum", (_x,), {"axis": 0}), ("sort", (_x[::-1],), {}), ("median", (_x,), {}),
    ("float32", (1.25,), {}), ("einsum", ("ij,kj->ik", _x, _x), {}),
]


@pytest.mark.parametrize("name,args,kwargs", SHIM_CALLS, ids=[c[0] for c in SHIM_CALLS])
def test_shim_is_bit_identical_to_numpy_outside_tracing(name, args, kwargs):
    expected = getattr(np, name)(*args, **kwargs)
    got = getattr(tnp, name)(*args, **kwargs)
    assert type(got) is type(expected)
    assert np.asarray(got).dtype == np.asarray(expected).dtype
    assert np.shape(got) == np.shape(expected)
    assert np.asarray(got).tobytes() == np.asarray(expected).tobytes()


def test_shim_linalg_is_bit_identical():
    m = _x[:, :3] @ _x[:, :3].T + np.eye(3)
    for name, args in [("solve", (m, _x[:, 0])), ("inv", (m,)), ("norm", (_x,)),
                       ("slogdet", (m,)), ("det", (m,)), ("cholesky", (m,))]:
        expected, got = getattr(np.linalg, name)(*args), getattr(tnp.linalg, name)(*args)
        assert np.asarray(got).tobytes() == np.asarray(expected).tobytes(), name


def test_shim_forwards_the_whole_numpy_namespace():
    public = [n for n in dir(np) if not n.startswith("_")]
    assert all(hasattr(tnp, n) for n in public)
    assert set(public) <= set(dir(tnp))
    assert tnp.float64 is np.float64 and tnp.pi == np.pi and tnp.random is np.random


def test_shim_inside_traced_functions_gives_the_same_derivatives():
    def with_numpy(x):
        return np.sum(np.tanh(x) ** 2) + np.linalg.norm(x)

    def with_shim(x):
        return tnp.sum(tnp.tanh(x) ** 2) + tnp.linalg.norm(x)
    np.testing.assert_array_equal(tj.grad(with_shim, backend=B)(X),
                                  tj.grad(with_numpy, backend=B)(X))
    assert with_shim(X) == with_numpy(X)


def test_map_callbacks_are_traced_with_the_shim_or_plain_numpy():
    # the callback `map` calls is run under the tracer (its type tests and text go through the
    # same door as the user's own code), so plain NumPy and the shim both work in it
    def f(x):
        rows = list(map(lambda r: tnp.stack([tnp.sin(r), r * 2.0]), [x[0], x[1]]))
        return tnp.sum(tnp.array(rows) ** 2)

    def native_numpy(x):
        rows = list(map(lambda r: np.array([np.sin(r), r * 2.0]), [x[0], x[1]]))
        return np.sum(np.array(rows) ** 2)
    x = np.array([0.3, 0.4])
    for fn in (f, native_numpy):
        np.testing.assert_allclose(tj.grad(fn, backend=B)(x), 2 * np.sin(x) * np.cos(x) + 8 * x)


# ---- SciPy ---------------------------------------------------------------------------------------
def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_scipy_minimize_with_jit_grad():
    jac = tj.jit_grad(rosenbrock, backend=B)
    g = jac(np.zeros(5))
    assert type(g) is np.ndarray and g.dtype == np.float64
    result = scipy.optimize.minimize(rosenbrock, np.zeros(5), jac=jac, method="BFGS")
    assert result.success
    np.testing.assert_allclose(result.x, np.ones(5), atol=1e-4)
    assert jac.stats()["misses"] == 1


def test_scipy_newton_with_hessian():
    result = scipy.optimize.minimize(rosenbrock, np.zeros(3), method="Newton-CG",
                                     jac=tj.grad(rosenbrock, backend=B),
                                     hessp=tj.hvp(rosenbrock, backend=B))
    np.testing.assert_allclose(result.x, np.ones(3), atol=1e-4)


def test_fit_with_scipy_example_runs():
    import pathlib
    import runpy
    path = pathlib.Path(__file__).parent.parent / "examples" / "fit_with_scipy.py"
    fitted = runpy.run_path(str(path))["main"]()
    assert fitted.shape == (6,) and fitted.dtype == np.float64


def test_compiled_jacobian_shares_work_between_sweeps():
    jac = tj.jacfwd(lambda x: np.sin(x) * 2.0, backend=B)
    np.testing.assert_allclose(jac(X), np.diag(2 * np.cos(X)), rtol=1e-13)
    ops = jac.traces()[0].ops
    assert sum(op.prim.name == "cos" for op in ops) == 1       # one per sweep before cse


def test_cse_pass_merges_repeated_pure_ops_only():
    from tracejit.transforms import cse

    def f(x):
        return np.sin(x) + np.sin(x) * np.sin(x + 1.0) - np.sin(x + 1.0)
    trace = verify(trace_function(f, (X,), {}).trace)
    merged = verify(cse(trace))
    assert sum(op.prim.name == "sin" for op in merged.ops) == 2
    assert sum(op.prim.name == "add" for op in merged.ops) == sum(
        op.prim.name == "add" for op in trace.ops) - 1          # x + 1.0 computed once
    np.testing.assert_array_equal(run_trace(merged, [X])[0], f(X))


# ---- guards and outside state through transformations ----------------------------------------------
G = np.array([1.0, 2.0, 3.0])


def test_nested_transformations_guard_branches_and_reread_outside_arrays():
    def piecewise(t):
        if t > 0.0:
            return t ** 3
        return -t ** 2

    second = tj.grad(tj.grad(piecewise, backend=B), backend=B)
    assert second(2.0) == pytest.approx(12.0)
    assert second(-2.0) == pytest.approx(-2.0)            # a side exit, then a second trace
    assert second(3.0) == pytest.approx(18.0)

    def outer(x):
        return tj.grad(lambda y: np.sum(np.sin(y) * G), backend=B)(x) * 2.0
    compiled = tj.jit(outer, backend=B)
    np.testing.assert_allclose(compiled(G), 2 * np.cos(G) * G)
    saved = G.copy()
    try:
        G[:] = [4.0, 5.0, 6.0]                             # mutated in place: read at call time
        np.testing.assert_allclose(compiled(saved), 2 * np.cos(saved) * G)
    finally:
        G[:] = saved


def test_closure_arrays_are_inputs_of_transformed_functions():
    def make_loss(data):
        return lambda w: np.sum((data @ w) ** 2)
    data = np.array([[1.0, 2.0], [3.0, 4.0]])
    hess = tj.hessian(make_loss(data), backend=B)
    w = np.array([0.5, -0.5])
    np.testing.assert_allclose(hess(w), 2 * data.T @ data)
    data *= 2.0
    np.testing.assert_allclose(hess(w), 2 * data.T @ data)
