"""Module-level tracejit functions for tests/test_pickling.py: a worker process imports this
module to find them by reference, as it would a plain function."""
import numpy as np

import tracejit


@tracejit.jit_grad
def logistic_loss_grad(w, x, y):
    return _logistic_loss(w, x, y)


def _logistic_loss(w, x, y):
    z = x @ w
    return np.sum(np.logaddexp(0.0, z) - y * z)


logistic_value_and_grad = tracejit.value_and_grad(_logistic_loss, backend="numpy")
logistic_hessian = tracejit.hessian(_logistic_loss, backend="numpy")


@tracejit.custom_vjp
def clipped_square(x):
    return np.minimum(x * x, 4.0)


def _clipped_fwd(x):
    return clipped_square(x), x


def _clipped_bwd(x, g):
    return (g * np.where(x * x < 4.0, 2.0 * x, 0.0),)


clipped_square.defvjp(_clipped_fwd, _clipped_bwd)


@tracejit.jit_grad
def uses_custom_rule(x):
    return np.sum(clipped_square(x))


def shard_gradient(shard):
    """What a worker runs: the gradient of the loss on one shard of the data."""
    w, x, y = shard
    return logistic_loss_grad(w, x, y)
