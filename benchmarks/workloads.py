"""The benchmark workloads: unmodified NumPy functions, each with arguments made at a size.

`reference_workloads.py` is the project's reference set, copied verbatim; the functions below
add an RNN loop, a Gaussian-process marginal likelihood (cholesky/solve), logistic regression
and a softmax classifier. `SWEEP` says how each scales with the problem size `n` (the number of
elements of its main array); `REFERENCE` are the reference workloads at their own sizes.
"""
import numpy as np

from reference_workloads import (big_chain, branchy, euler_ode, mlp_loss, rosenbrock,
                                 small_chain)
from reference_workloads import NAMES as REFERENCE, make as make_reference  # noqa: F401


def rnn_loss(Wh, Wx, b, xs, h0):
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(Wh @ h + Wx @ xs[t] + b)
    return np.sum(h * h)


def gp_neg_log_likelihood(log_params, X, y):
    ell, sf, sn = np.exp(log_params)
    d = X[:, None] - X[None, :]
    K = sf ** 2 * np.exp(-0.5 * d ** 2 / ell ** 2) + (sn ** 2 + 1e-6) * np.eye(len(X))
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    return 0.5 * (y @ alpha) + np.sum(np.log(np.diag(L))) + 0.5 * len(X) * np.log(2 * np.pi)


def logistic_loss(w, X, y):
    z = X @ w
    # log(1 + exp(z)) computed stably
    return np.mean(np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))) - y * z)


def softmax_loss(W, X, Y):
    logits = X @ W
    logits = logits - np.max(logits, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(Y * (logits - lse), axis=1))


def make_euler(steps):
    """`euler_ode` with `steps` explicit Euler steps over the same time span (dt = 1/steps)."""
    dt = 1.0 / steps

    def euler_steps(theta, y0):
        y = y0
        for _ in range(steps):
            dy = np.array([y[1], -theta[0] * y[0] - theta[1] * y[1]])
            y = y + dt * dy
        return np.sum(y * y)
    return euler_steps


def _side(n, lo=2):
    return max(lo, int(round(np.sqrt(n))))


def _rnn(n, rng):
    h = _side(n)
    T = 20
    return rnn_loss, (rng.standard_normal((h, h)) / np.sqrt(h), rng.standard_normal((h, 4)),
                      np.zeros(h), rng.standard_normal((T, 4)), np.zeros(h))


def _gp(n, rng):
    m = _side(n)
    X = np.sort(rng.uniform(-3, 3, m))
    return gp_neg_log_likelihood, (np.array([0.0, 0.0, -1.0]), X,
                                   np.sin(X) + 0.1 * rng.standard_normal(m))


def _logistic(n, rng):
    rows = max(1, n // 10)
    X = rng.standard_normal((rows, 10))
    return logistic_loss, (rng.standard_normal(10) * 0.1, X,
                           (X[:, 0] > 0).astype(np.float64))


def _softmax(n, rng):
    rows = max(1, n // 20)
    X = rng.standard_normal((rows, 20))
    Y = np.eye(5)[rng.integers(0, 5, rows)]
    return softmax_loss, (rng.standard_normal((20, 5)) * 0.1, X, Y)


# name -> (make(n, rng) -> (fn, args), largest n worth running)
SWEEP = {
    "chain": (lambda n, rng: (small_chain, (rng.standard_normal(n),)), 10**6),
    "big_chain": (lambda n, rng: (big_chain, (rng.standard_normal(n),)), 10**6),
    "branchy": (lambda n, rng: (branchy, (rng.standard_normal(n),)), 10**6),
    "logistic": (_logistic, 10**6),
    "softmax": (_softmax, 10**6),
    "rnn": (_rnn, 10**6),
    "gp": (_gp, 10**6),
    # a Python loop over the elements: trace length grows with n, so keep n small
    "rosenbrock": (lambda n, rng: (rosenbrock, (rng.standard_normal(n),)), 10**3),
    # n is the number of Euler steps (the state has 2 elements); loop_scaling.py runs it
    "euler": (lambda n, rng: (make_euler(n), (np.array([2.0, 0.3]), np.array([1.0, 0.0]))),
              10**3),
}

SIZES = [10, 100, 1000, 10**4, 10**5, 10**6]


def make_sweep(name, n, seed=0):
    make, _ = SWEEP[name]
    return make(n, np.random.default_rng(seed))


def make_ref(name, seed=0):
    fn, args, argnum = make_reference(name, np.random.default_rng(seed))
    return fn, args, argnum
