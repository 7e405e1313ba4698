"""Fit an L2-regularised logistic regression with SciPy, gradients from tracejit.

The loss is plain NumPy. `tracejit.jit_grad(loss)` is handed to `scipy.optimize.minimize` as
`jac`: it returns a float64 ndarray, is traced and compiled on the first call and reused on every
later one (SciPy passes arrays of the same shape each iteration). A second fit uses Newton-CG
with Hessian-vector products from `tracejit.hvp`, and the fitted weights are checked against
each other and against the weights that generated the data.

    python examples/fit_with_scipy.py
"""
import numpy as np
import scipy.optimize

import tracejit


def make_data(n=2000, d=5, seed=0):
    rng = np.random.default_rng(seed)
    true_w = rng.normal(size=d)
    true_b = 0.5
    X = rng.normal(size=(n, d))
    p = 1 / (1 + np.exp(-(X @ true_w + true_b)))
    y = (rng.random(n) < p).astype(np.float64)
    return X, y, true_w, true_b


X, y, TRUE_W, TRUE_B = make_data()
L2 = 1e-3


def loss(params):
    """Mean negative log-likelihood plus an L2 penalty on the weights; params = [w..., b]."""
    w, b = params[:-1], params[-1]
    z = X @ w + b
    # log(1 + exp(z)) - y z, written stably for large |z|
    nll = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))) - y * z
    return np.mean(nll) + L2 * np.sum(w ** 2)


def main():
    x0 = np.zeros(X.shape[1] + 1)
    grad = tracejit.jit_grad(loss, backend="numpy")
    bfgs = scipy.optimize.minimize(loss, x0, jac=grad, method="BFGS")
    newton = scipy.optimize.minimize(loss, x0, jac=grad, method="Newton-CG",
                                     hessp=tracejit.hvp(loss, backend="numpy"))
    for name, result in [("BFGS", bfgs), ("Newton-CG", newton)]:
        accuracy = np.mean(((X @ result.x[:-1] + result.x[-1]) > 0) == (y > 0.5))
        print(f"{name:9s}: loss {result.fun:.6f} after {result.nit} iterations, "
              f"|grad| {np.linalg.norm(grad(result.x)):.1e}, accuracy {accuracy:.3f}")
    print("true weights  ", np.round(np.append(TRUE_W, TRUE_B), 3))
    print("fitted weights", np.round(bfgs.x, 3))
    print(f"gradient calls: {grad.stats()['calls']}, traced {grad.stats()['misses']} time(s)")
    assert bfgs.success and newton.success
    np.testing.assert_allclose(bfgs.x, newton.x, atol=1e-4)
    assert np.max(np.abs(bfgs.x - np.append(TRUE_W, TRUE_B))) < 0.2   # 2000 samples: close
    return bfgs.x


if __name__ == "__main__":
    main()
