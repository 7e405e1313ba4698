"""autograd's public differential operators, each with what a user switching to tracejit writes
instead (docs/transformations.md has the same table). Each row is checked against autograd
itself on the same function, when autograd is installed."""
import numpy as np
import pytest

import tracejit


def f(x):
    return np.sum(np.sin(x) * x ** 2)


def g(x):
    return np.tanh(x) * 2.0 + x


X, V = np.array([0.3, -1.2, 2.0]), np.array([1.0, 0.5, -2.0])
# autograd name: (autograd call, tracejit call); None when tracejit has no counterpart yet
ROWS = {
    "grad": (lambda ag: ag.grad(f)(X), lambda: tracejit.grad(f)(X)),
    "value_and_grad": (lambda ag: ag.value_and_grad(f)(X), lambda: tracejit.value_and_grad(f)(X)),
    "elementwise_grad": (lambda ag: ag.elementwise_grad(g)(X),
                         lambda: tracejit.elementwise_grad(g)(X)),
    "jacobian": (lambda ag: ag.jacobian(g)(X), lambda: tracejit.jacobian(g)(X)),
    "hessian": (lambda ag: ag.hessian(f)(X), lambda: tracejit.hessian(f)(X)),
    "hessian_vector_product": (lambda ag: ag.hessian_vector_product(f)(X, V),
                               lambda: tracejit.hvp(f)(X, V)),
    "make_vjp": (lambda ag: ag.make_vjp(g)(X)[0](V),              # autograd: (vjp_fn, value)
                 lambda: tracejit.vjp(g, X)[1](V)[0]),             # tracejit: (value, vjp_fn)
    "make_jvp": (lambda ag: ag.make_jvp(g)(X)(V)[1],               # autograd: x -> v -> (y, t)
                 lambda: tracejit.jvp(g, (X,), (V,))[1]),
    "checkpoint": (lambda ag: ag.grad(lambda x: np.sum(ag.checkpoint(g)(x)))(X),
                   lambda: tracejit.grad(lambda x: np.sum(tracejit.checkpoint(g)(x)))(X)),
    "holomorphic_grad": None,                                       # complex: issue 25
}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_autograd_name_has_a_tracejit_counterpart(name):
    row = ROWS[name]
    if row is None:
        pytest.skip(f"autograd's {name}: no tracejit counterpart yet")
    autograd = pytest.importorskip("autograd")
    import autograd.numpy as anp
    reference, ours = row
    with pytest.MonkeyPatch.context() as patch:       # the functions above, on autograd's numpy
        patch.setitem(globals(), "np", anp)
        expected = reference(autograd)
    got = ours()
    for e, o in zip(np.atleast_1d(np.asarray(expected, dtype=object)),
                    np.atleast_1d(np.asarray(got, dtype=object))):
        np.testing.assert_allclose(np.asarray(o, dtype=float), np.asarray(e, dtype=float),
                                   rtol=1e-10, atol=1e-12)
