"""Every primitive's reverse-mode rule against central finite differences (float64).

Each record calls the NumPy function that lowers to the primitive; the output is contracted with
random weights so that the cotangent reaching the rule is not uniform.
"""
import numpy as np
import pytest

import tracejit
from conftest import SUITE_BACKEND, numerical_grad

R = np.random.default_rng(42)


def _pos(*shape):
    return R.uniform(0.5, 2.0, shape)


def _any(*shape):
    return R.standard_normal(shape)


def _unit(*shape):
    return R.uniform(-0.9, 0.9, shape)


UNARY = [  # (name, numpy function, input)
    ("neg", np.negative, _any(3, 2)), ("exp", np.exp, _any(4)), ("log", np.log, _pos(4)),
    ("log1p", np.log1p, _pos(4)), ("expm1", np.expm1, _any(4)), ("sin", np.sin, _any(2, 3)),
    ("cos", np.cos, _any(4)), ("tan", np.tan, _unit(4)), ("tanh", np.tanh, _any(4)),
    ("sqrt", np.sqrt, _pos(4)), ("abs", np.abs, _pos(4) * np.array([1, -1, 1, -1])),
    ("sinh", np.sinh, _any(3)), ("cosh", np.cosh, _any(3)), ("arcsin", np.arcsin, _unit(3)),
    ("arccos", np.arccos, _unit(3)), ("arctan", np.arctan, _any(3)),
    ("arcsinh", np.arcsinh, _any(3)), ("arccosh", np.arccosh, _pos(3) + 1.0),
    ("arctanh", np.arctanh, _unit(3)), ("square", np.square, _any(3)),
    ("log2", np.log2, _pos(3)), ("log10", np.log10, _pos(3)), ("exp2", np.exp2, _any(3)),
    ("cbrt", np.cbrt, _pos(4) * np.array([1, -1, 1, -1])),
]

BINARY = [  # (name, function, x, y): broadcasting pairs included
    ("add", np.add, _any(3, 2), _any(2)), ("sub", np.subtract, _any(3), _any(2, 1)),
    ("mul", np.multiply, _any(2, 3), _any(1, 3)), ("div", np.divide, _any(3), _pos(2, 3)),
    ("pow", np.power, _pos(3), _any(3)), ("maximum", np.maximum, _any(4), _any(4)),
    ("minimum", np.minimum, _any(2, 2), _any(2)), ("arctan2", np.arctan2, _any(3), _pos(3)),
    ("hypot", np.hypot, _any(3), _pos(2, 3)),
]


def _check(f, args, argnum, rtol=1e-6, atol=1e-7):
    grad = tracejit.jit_grad(f, argnums=argnum, backend=SUITE_BACKEND)(*args)

    def along(v):
        moved = list(args)
        moved[argnum] = v
        return f(*moved)
    np.testing.assert_allclose(grad, numerical_grad(along, args[argnum]), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name,fn,x", UNARY, ids=[u[0] for u in UNARY])
def test_unary_vjp(name, fn, x):
    w = _any(*x.shape)
    _check(lambda x: np.sum(fn(x) * w), (x,), 0)


@pytest.mark.parametrize("name,fn,x,y", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("argnum", [0, 1])
def test_binary_vjp(name, fn, x, y, argnum):
    w = _any(*np.broadcast_shapes(x.shape, y.shape))
    _check(lambda x, y: np.sum(fn(x, y) * w), (x, y), argnum)


def test_select_vjp():
    x, y = _any(5), _any(5)
    _check(lambda x, y: np.sum(np.where(x > y, x * 2.0, y ** 2)), (x, y), 0)
    _check(lambda x, y: np.sum(np.where(x > y, x * 2.0, y ** 2)), (x, y), 1)


@pytest.mark.parametrize("reduce", [np.sum, np.max, np.min])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 1), True),
                                           (-1, False)])
def test_reduction_vjp(reduce, axis, keepdims):
    x = _any(3, 4)
    w = _any(*np.shape(reduce(x, axis=axis, keepdims=keepdims)))
    _check(lambda x: np.sum(reduce(x, axis=axis, keepdims=keepdims) * w), (x,), 0)


def test_max_ties_share_the_gradient():
    x = np.array([1.0, 3.0, 3.0, 2.0])
    g = tracejit.jit_grad(lambda x: np.max(x), backend=SUITE_BACKEND)(x)
    np.testing.assert_allclose(g, [0.0, 0.5, 0.5, 0.0])


SHAPES = [
    ("broadcast_to", lambda x: np.broadcast_to(x, (3, 2, 4)), _any(2, 1)),
    ("reshape", lambda x: x.reshape(4, 3), _any(2, 6)),
    ("transpose", lambda x: np.transpose(x, (2, 0, 1)), _any(2, 3, 4)),
    ("slice", lambda x: x[1:, ::-2], _any(4, 5)),
    ("int_index", lambda x: x[2], _any(4, 3)),
    ("newaxis", lambda x: x[:, None, :], _any(2, 3)),
    ("concatenate", lambda x: np.concatenate([x, 2 * x[:1]], axis=0), _any(3, 2)),
    ("take", lambda x: x[np.array([3, 0, 0, 2])], _any(4, 2)),
    ("take_axis1", lambda x: x[:, np.array([1, 1, 0])], _any(2, 3)),
    ("mask", lambda x: x[x > 0.1], np.array([0.5, -1.0, 2.0, 0.05, 1.5])),
    ("multi_index", lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 2])], _any(2, 3)),
    ("roll", lambda x: np.roll(x, 2), _any(5)),
    ("mean_std", lambda x: x.mean(axis=0) * x.std(axis=0), _any(4, 3)),
]


@pytest.mark.parametrize("name,fn,x", SHAPES, ids=[s[0] for s in SHAPES])
def test_shape_and_index_vjp(name, fn, x):
    w = _any(*np.shape(fn(x)))
    _check(lambda x: np.sum(fn(x) * w), (x,), 0)


LINALG = [
    ("matmul", lambda a, b: a @ b, _any(3, 4), _any(4, 2)),
    ("matvec", lambda a, b: a @ b, _any(3, 4), _any(4)),
    ("vecmat", lambda a, b: a @ b, _any(4), _any(4, 2)),
    ("batched", lambda a, b: np.matmul(a, b), _any(2, 3, 4), _any(4, 2)),
    ("dot", np.dot, _any(4), _any(4)),
    ("solve", np.linalg.solve, _any(3, 3) + 3 * np.eye(3), _any(3)),
    ("solve_matrix", np.linalg.solve, _any(3, 3) + 3 * np.eye(3), _any(3, 2)),
]


@pytest.mark.parametrize("name,fn,a,b", LINALG, ids=[r[0] for r in LINALG])
@pytest.mark.parametrize("argnum", [0, 1])
def test_linalg_vjp(name, fn, a, b, argnum):
    w = _any(*np.shape(fn(a, b)))
    _check(lambda a, b: np.sum(fn(a, b) * w), (a, b), argnum)


@pytest.mark.parametrize("fn", [lambda a: np.linalg.slogdet(a)[1], lambda a: np.sum(np.linalg.inv(a)),
                                np.linalg.det], ids=["slogdet", "inv", "det"])
def test_square_matrix_vjp(fn):
    _check(fn, (_any(3, 3) + 3 * np.eye(3),), 0)


def test_float32_stays_float32():
    x = _any(4).astype(np.float32)
    g = tracejit.jit_grad(lambda x: np.sum(np.sin(x) * 0.5 + x * x), backend=SUITE_BACKEND)(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 0.5 * np.cos(x) + 2 * x, rtol=1e-6)


def test_numpy_function_as_root_is_cached():
    g = tracejit.jit_grad(np.linalg.det, backend=SUITE_BACKEND)
    a = _any(3, 3) + 3 * np.eye(3)
    g(a)
    g(a + 0.1)
    assert g.stats()["misses"] == 1 and g.stats()["hits"] == 1
