"""Random draws inside a traced function are trace inputs drawn at call time (frontend/draws.py).

Every case runs a seeded generator through plain Python and through the compiled function, call
after call, on both backends: the values must be equal bit for bit (the same numbers drawn in the
same order with the same shapes), including calls that side-exit and re-trace. Gradients treat
the draws as constants (the reparameterisation trick).
"""
import numpy as np
import pytest

import tracejit
from conftest import numerical_grad

MU = np.array([0.1, -0.4, 0.7])
RNG = np.random.default_rng(0)          # a generator read through a global, re-seeded per test


def _global_normal(mu):
    return np.sum(mu * np.random.normal(size=3))


def _global_many(mu):
    a = np.random.rand(3) + np.random.randn()
    b = np.random.uniform(-1.0, 2.0, size=(2, 3)) * np.random.random_sample()
    return np.sum(mu * a) + np.sum(b * mu) + np.random.standard_normal()


def _global_integers(mu):
    k = np.random.randint(3)                # a Python int, used as an index
    picks = np.random.choice(3, size=2)
    return mu[k] * 2.0 + np.sum(mu[picks]) + np.random.randint(1, 4)


def _generator_methods(mu):
    eps = RNG.standard_normal(3)
    u = RNG.uniform(0.5, 1.5, size=3) * RNG.normal(0.0, 2.0)
    order = RNG.permutation(3)
    return np.sum((mu + 0.5 * eps) ** 2 * u) + np.sum(mu[order] * np.arange(3)) + RNG.random()


def _generator_integers(mu):
    i = RNG.integers(0, 3)                  # a NumPy integer: a data-dependent index
    return mu[i] * RNG.exponential() + np.sum(mu * RNG.gamma(2.0, size=3))


def _branch_on_draw(mu):
    eps = np.random.standard_normal(3)
    if np.sum(eps) > 0.0:                   # guarded: calls that go the other way side-exit
        return np.sum(mu * eps)
    return np.sum(mu ** 2 * eps) + np.random.rand()


def _loop_of_draws(mu):
    total = 0.0
    for _ in range(5):
        total = total + np.sum(mu * RNG.standard_normal(3))
    return total


def _while_on_draws(mu):
    s = np.sum(mu)
    while s < 2.0:                          # the trip count depends on the draws
        s = s + np.random.rand()
    return s * mu[0]


def _size_from_data(mu):
    n = int(np.sum(mu > 0.0)) + 1           # a draw's shape from data: the count is guarded
    return np.sum(np.random.rand(n)) * mu[0]


CASES = [_global_normal, _global_many, _global_integers, _generator_methods, _generator_integers,
         _branch_on_draw, _loop_of_draws, _while_on_draws, _size_from_data]
MUS = [MU, MU * 2.0, -MU, MU + 1.0, MU, MU * 2.0]


def _seed(seed):
    global RNG
    np.random.seed(seed)
    RNG = np.random.default_rng(seed)


def _stream(fn, seed, calls):
    _seed(seed)
    return [float(calls(mu)) for mu in MUS] + [float(np.random.rand()), float(RNG.random())]


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__.lstrip("_"))
@pytest.mark.parametrize("transform", ["jit", "value_and_grad"])
def test_draws_follow_plain_python_bit_for_bit(backend, fn, transform):
    compiled = getattr(tracejit, transform)(fn, backend=backend)
    run = compiled if transform == "jit" else (lambda mu: compiled(mu)[0])
    for seed in (3, 4):
        assert _stream(run, seed, run) == _stream(fn, seed, fn)


def test_draws_need_no_new_trace(backend):
    compiled = tracejit.jit(_generator_methods, backend=backend)
    _stream(compiled, 1, compiled)
    assert compiled.stats()["misses"] == 1


def _reparameterised(params):
    mu, log_sigma = params[:3], params[3:]
    z = mu + np.exp(log_sigma) * RNG.standard_normal(3)
    return np.mean(z ** 2)


def test_reparameterisation_gradient(backend):
    """The gradient of mean((mu + sigma * eps)**2) for the eps drawn by the same call."""
    params = np.array([0.3, -0.2, 0.5, -1.0, 0.2, 0.1])
    grad = tracejit.jit_grad(_reparameterised, backend=backend)
    for seed in (7, 8, 9):
        _seed(seed)
        got = grad(params)

        def fixed(p, seed=seed):
            _seed(seed)
            return _reparameterised(p)
        np.testing.assert_allclose(got, numerical_grad(fixed, params), rtol=1e-6, atol=1e-8)


def test_a_generator_passed_as_argument_is_drawn_from():
    def f(mu, rng):
        return np.sum(mu * rng.normal(size=3)) + rng.random()
    compiled = tracejit.value_and_grad(f)
    for seed in (1, 2):
        want = [f(MU, r) for r in [np.random.RandomState(seed)] * 3]
        shared = np.random.RandomState(seed)
        assert [compiled(MU, shared)[0] for _ in range(3)] == want
    assert compiled(MU, np.random.default_rng(5))[0] == f(MU, np.random.default_rng(5))


@pytest.mark.parametrize("body, match", [
    ("np.random.normal(mu, 1.0)", "parameter computed from traced values"),
    ("np.random.default_rng(0).normal(size=3)", "draws random numbers"),
    ("np.random.seed(0)", "draws random numbers"),
    ("np.random.shuffle(mu)", "draws random numbers"),
    ("random.seed(0)", "sets the state of Python's random numbers"),
    ("random.Random(0).random()", "generator made inside"),
    ("random.gauss(mu[0], 1.0)", "parameter computed from traced values"),
    ("RNG.standard_normal(out=np.zeros(3))", "out="),
], ids=["traced-parameter", "generator-made-inside", "seed", "shuffle", "python-seed",
        "python-generator-made-inside", "python-gauss-traced-parameter", "out"])
def test_what_stays_refused(body, match):
    namespace = {"np": np, "random": __import__("random"), "RNG": RNG}
    exec(f"def f(mu):\n    return np.sum(mu * {body})\n", namespace)
    with pytest.raises(tracejit.UnsupportedError, match=match):
        tracejit.jit_grad(namespace["f"])(MU.copy())


def _branch_without_draws(mu):
    return np.sum(mu) if mu[0] > 0.0 else np.sum(mu ** 2)


def test_interleaved_functions_and_side_exits_keep_the_stream(backend):
    """Side exits of a function that does not draw never rewind another one's generator."""
    with_draws = tracejit.jit(_branch_on_draw, backend=backend)
    without = tracejit.jit(_branch_without_draws, backend=backend)

    def calls(f, g):
        return [(f(mu), g(mu), f(-mu)) for mu in MUS]
    _seed(11)
    want = calls(_branch_on_draw, _branch_without_draws) + [np.random.rand()]
    _seed(11)
    assert calls(with_draws, without) + [np.random.rand()] == want


# ---- Python's random module: its global generator or a random.Random from outside -------------
PY_RNG = __import__("random").Random(21)


def _python_draws(mu):
    import random
    a = random.random() + random.uniform(0.5, float(mu[1]) + 2.0)   # a traced parameter
    b = random.gauss(0.0, 1.0) * random.randint(1, 6) + random.choice([0.25, 0.5])
    c = random.expovariate(2.0) + random.triangular(0.0, 1.0) + random.getrandbits(4)
    return np.sum(mu * a) + b + c + PY_RNG.random() * mu[0]


def test_python_random_draws_follow_the_stream(backend):
    """Each call draws what plain Python draws, in order: random() and getrandbits() are the
    draws; uniform, expovariate, triangular run under the tracer on top of them; gauss,
    randint and choice are drawn whole. The gradient treats draws as constants."""
    import random
    compiled = tracejit.value_and_grad(_python_draws, backend=backend)
    random.seed(5)
    PY_RNG.seed(21)
    want = [_python_draws(mu) for mu in MUS]
    random.seed(5)
    PY_RNG.seed(21)
    got = [compiled(mu) for mu in MUS]
    assert [value for value, _ in got] == want
    random.seed(5)
    PY_RNG.seed(21)
    mu = MUS[0]
    state = (random.getstate(), PY_RNG.getstate())
    _, gradient = compiled(mu)
    random.setstate(state[0])
    PY_RNG.setstate(state[1])
    h = 1e-6
    numeric = []
    for e in np.eye(mu.size):
        values = []
        for sign in (1, -1):
            random.setstate(state[0])
            PY_RNG.setstate(state[1])
            values.append(_python_draws(mu + sign * h * e))
        numeric.append((values[0] - values[1]) / (2 * h))
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-6)
