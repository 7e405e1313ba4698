"""Quickstart: differentiate ordinary NumPy code, branches and loops included."""
import numpy as np

import tracejit


def loss(params, x, y):
    h = np.tanh(x @ params["W"] + params["b"])     # a dict of parameters
    pred = h @ params["v"]
    err = pred - y
    if np.mean(err) > 0:                           # a branch on data: guarded, re-traced if it flips
        err = err * 1.5
    total = 0.0
    for i in range(len(err)):                      # a Python loop
        total = total + err[i] ** 2
    return total / len(err)


rng = np.random.default_rng(0)
params = {"W": rng.standard_normal((3, 4)) * 0.5, "b": np.zeros(4), "v": rng.standard_normal(4)}
x, y = rng.standard_normal((5, 3)), rng.standard_normal(5)

grad_loss = tracejit.jit_grad(loss)
g = grad_loss(params, x, y)
print("d loss / d v =", g["v"])
print()
print(tracejit.make_trace(loss)(params, x, y))
print()
print("stats:", grad_loss.stats())
