"""State that changes between calls: arrays and constants reached through globals, closures,
default arguments and attributes are read at call time, and a function whose code, defaults or
closure changes is re-traced. Each test mutates in place and rebinds, then compares with plain
execution of the same function on the same state."""
import numpy as np
import pytest

import tracejit

X = np.array([0.5, -1.0, 2.0])
W = np.ones(3)
SCALE = 2.0
LAYERS = [np.ones(3), np.full(3, 2.0), np.full(3, 3.0)]
CONFIG = {"w": np.ones(3), "scale": 2.0}


def same(compiled, fn, *args):
    np.testing.assert_allclose(compiled(*args), fn(*args), rtol=1e-12)


def global_weights(x):
    return np.sum(np.sin(x) * W) * SCALE


def test_global_array_in_place_and_rebound(backend):
    global W
    f = tracejit.jit(global_weights, backend=backend)
    same(f, global_weights, X)
    W[:] = [3.0, -1.0, 0.5]
    same(f, global_weights, X)
    W = np.full(3, 7.0)
    same(f, global_weights, X)
    W = np.ones((2, 3))                       # new shape: re-traced, not mis-broadcast
    same(f, global_weights, X)
    W = np.ones(3)
    assert f.stats()["misses"] == 2            # value changes never re-trace; the shape did


def test_global_constant_rebound_retraces(backend):
    global SCALE
    f = tracejit.jit(global_weights, backend=backend)
    same(f, global_weights, X)
    SCALE = 5.0
    try:
        same(f, global_weights, X)
    finally:
        SCALE = 2.0
    same(f, global_weights, X)


def list_and_dict_globals(x):
    total = 0.0
    for w in LAYERS[1:]:
        total = total + np.sum(w * x)
    for i, w in enumerate(LAYERS):
        total = total + i * np.sum(w * x)
    return total + np.sum(sum(LAYERS) * x) + np.sum(CONFIG["w"] * x) * CONFIG["scale"]


def test_arrays_in_global_containers(backend):
    f = tracejit.jit(list_and_dict_globals, backend=backend)
    same(f, list_and_dict_globals, X)
    LAYERS[2][:] = -4.0
    CONFIG["w"][0] = 9.0
    same(f, list_and_dict_globals, X)
    LAYERS[1] = np.full(3, 0.25)
    CONFIG["w"] = np.arange(3.0)
    CONFIG["scale"] = -1.0
    same(f, list_and_dict_globals, X)
    LAYERS.append(np.ones(3))                  # a longer list: re-traced
    same(f, list_and_dict_globals, X)


def make_closure():
    weights = np.ones(3)
    offset = 1.0

    def model(x):
        return np.sum(np.tanh(x * weights)) + offset

    def rebind(new_weights, new_offset):
        nonlocal weights, offset
        weights, offset = new_weights, new_offset
    return model, rebind


def test_closure_array_in_place_and_rebound(backend):
    model, rebind = make_closure()
    f = tracejit.jit(model, backend=backend)
    same(f, model, X)
    model.__closure__[1].cell_contents[:] = 3.0     # the `weights` cell, in place
    same(f, model, X)
    rebind(np.full(3, -2.0), 4.0)
    same(f, model, X)


DEFAULT_W = np.ones(3)


def with_defaults(x, w=DEFAULT_W, scale=2.0, *, shift=0.5):
    return np.sum(x * w) * scale + shift


def test_default_arguments_in_place_and_rebound(backend):
    f = tracejit.jit(with_defaults, backend=backend)
    same(f, with_defaults, X)
    DEFAULT_W[:] = 4.0
    same(f, with_defaults, X)
    old, old_kw = with_defaults.__defaults__, with_defaults.__kwdefaults__
    try:
        with_defaults.__defaults__ = (np.full(3, -1.0), 3.0)
        same(f, with_defaults, X)
        with_defaults.__kwdefaults__ = {"shift": 10.0}
        same(f, with_defaults, X)
    finally:
        with_defaults.__defaults__, with_defaults.__kwdefaults__ = old, old_kw
    same(f, with_defaults, X)


class Model:
    def __init__(self):
        self.w = np.ones(3)
        self.scale = 2.0

    def loss(self, x):
        return np.sum(np.cos(x) * self.w) * self.scale

    def __call__(self, x):
        return self.loss(x) + np.sum(getattr(self, "w"))


def loss_of_model(x, model):
    return model.loss(x)


@pytest.mark.parametrize("how", ["bound method", "callable object", "object argument"])
def test_attributes_in_place_and_rebound(backend, how):
    model = Model()
    fn = {"bound method": model.loss, "callable object": model,
          "object argument": lambda x: loss_of_model(x, model)}[how]
    f = tracejit.jit(fn, backend=backend)
    same(f, fn, X)
    model.w[:] = [1.0, 2.0, 3.0]
    same(f, fn, X)
    model.w = np.full(3, -0.5)
    model.scale = 7.0
    same(f, fn, X)


def test_object_passed_as_argument_is_read_per_call(backend):
    f = tracejit.jit(loss_of_model, backend=backend)
    a, b = Model(), Model()
    b.w = np.arange(3.0)
    same(f, loss_of_model, X, a)
    same(f, loss_of_model, X, b)
    a.w *= 3
    same(f, loss_of_model, X, a)


def helper(x):
    return x * 2.0


def calls_helper(x):
    return np.sum(helper(x))


def test_changed_code_of_the_function_and_of_a_helper_retraces(backend):
    def fn(x):
        return np.sum(x) * 2.0
    f = tracejit.jit(fn, backend=backend)
    same(f, fn, X)
    fn.__code__ = (lambda x: np.sum(x) * 3.0).__code__
    same(f, fn, X)
    g = tracejit.jit(calls_helper, backend=backend)
    same(g, calls_helper, X)
    old = helper.__code__
    try:
        helper.__code__ = (lambda x: x * 5.0).__code__
        same(g, calls_helper, X)
    finally:
        helper.__code__ = old


def test_changed_closure_of_a_rebuilt_function_retraces(backend):
    def make(scale):
        def fn(x):
            return np.sum(x) * scale
        return fn
    fn = make(2.0)
    f = tracejit.jit(fn, backend=backend)
    same(f, fn, X)
    fn.__closure__[0].cell_contents = 6.0
    same(f, fn, X)
    # same code, another closure: a function object with the other cell is traced on its own
    other = make(-1.0)
    assert tracejit.jit(other, backend=backend)(X) == other(X)
