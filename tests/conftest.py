import numpy as np
import pytest


def numerical_grad(f, x, h=1e-6):
    """Central finite differences of scalar f at float64 array x."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = float(f(x))
        flat[i] = old - h
        down = float(f(x))
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return g


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---- backends and fuzzing budget -----------------------------------------------------------------
# every backend-parametrised test runs once per entry; adding a backend is one line here
BACKENDS = ["numpy"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def pytest_addoption(parser):
    parser.addoption("--fuzz-examples", type=int, default=None,
                     help="programs per differential fuzzing test (long mode: "
                          "pytest -m fuzz --fuzz-examples 10000)")


@pytest.fixture
def fuzz_examples(request):
    """(examples per fuzz test, long mode?): a fixed CI budget unless --fuzz-examples is given."""
    n = request.config.getoption("--fuzz-examples")
    return (n, True) if n is not None else (None, False)
