import os
import tempfile
import zlib

import numpy as np
import pytest


def _test_cache_dir():
    """Compiled kernels of test runs go to a cache of their own, not the user's: one per user
    under the temporary directory, kept between runs so that a re-run loads kernels instead of
    compiling them again (kernel files are content-hashed, so a stale one is never reused).
    numba_cache refuses it if it is not private (mode 0700, owned by this user)."""
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    path = os.path.join(tempfile.gettempdir(), f"tracejit-tests-{uid}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


os.environ.setdefault("TRACEJIT_CACHE_DIR", _test_cache_dir())


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
def roll_short_loops(monkeypatch):
    """Loops as short as tests like them normally stay unrolled (context.UNROLL_OPS): roll them
    anyway, as a long loop would be, so the rolling machinery is what the test exercises."""
    import tracejit.frontend.context as context
    monkeypatch.setattr(context, "UNROLL_OPS", 0)


@pytest.fixture(autouse=True)
def _builds_end_with_their_test():
    """A kernel a test left building in the background finishes before the next test starts:
    its build time, log lines and loading thread belong to the test that started it."""
    yield
    from tracejit.backends.numba_backend import wait_for_builds
    wait_for_builds()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---- backends and fuzzing budget -----------------------------------------------------------------
# SUITE_BACKEND serves the tests written for "any backend" (`pytest --backend numba` runs them on
# numba, each kernel call cross-checked); BACKENDS-parametrised tests run on every backend always
SUITE_BACKEND = "numpy"


def pytest_configure(config):
    global SUITE_BACKEND
    SUITE_BACKEND = config.getoption("--backend")
    if SUITE_BACKEND == "numba":
        os.environ["TRACEJIT_NUMBA_TIERING"] = "sync"
        os.environ["TRACEJIT_NUMBA_CROSSCHECK"] = "1"
    else:
        # the tests written for any backend run on the numpy executor: without this, each
        # jit(f) of theirs (numba is the default backend) would start a background build that
        # no call waits for — thousands of kernels, most of a cold run's time
        os.environ["TRACEJIT_NUMBA_TIERING"] = "off"


def pytest_collection_modifyitems(config, items):
    """`--backend numba` runs the tests written for any backend; the BACKENDS-parametrised ones
    already run on numba in every run, so they are deselected rather than run twice.
    `--backends numpy` runs the BACKENDS-parametrised ones on the numpy executor only."""
    swept = set(config.getoption("--backends").split(","))
    if SUITE_BACKEND == "numpy":
        chosen = [item for item in items if _swept_backend(item) in swept | {None}]
    else:
        chosen = [item for item in items if "backend" not in getattr(item, "fixturenames", ())]
    chosen = [item for item in chosen if _in_sample(item.nodeid, config.getoption("--sample"))]
    if len(chosen) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in chosen])
        items[:] = chosen


def _in_sample(nodeid, sample):
    """`--sample K/N`: the tests whose id hashes to K modulo N (a fixed share of every file)."""
    if sample is None:
        return True
    k, n = (int(part) for part in sample.split("/"))
    return zlib.crc32(nodeid.encode()) % n == k


# every backend-parametrised test runs once per entry; adding a backend is one line here
BACKENDS = ["numpy", "numba"]


def _swept_backend(item):
    """The BACKENDS entry a parametrised test runs on (None for other tests)."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("backend") if callspec is not None else None


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    if request.param == "numba":
        # kernels are built before the first call (deterministic: the kernel, not the numpy
        # executor it tiers up from, serves the test), and every kernel call is checked against
        # the numpy executor: same guard decisions, values within 1e-12 relative
        monkeypatch.setenv("TRACEJIT_NUMBA_TIERING", "sync")
        monkeypatch.setenv("TRACEJIT_NUMBA_CROSSCHECK", "1")
    return request.param


def pytest_addoption(parser):
    parser.addoption("--backend", default="numpy", choices=["numpy", "numba"],
                     help="backend for the tests that do not test one backend in particular "
                          "(numba: kernels built before the first call, and every kernel call "
                          "checked against the numpy executor)")
    parser.addoption("--backends", default=",".join(BACKENDS),
                     help="the backends BACKENDS-parametrised tests run on, comma-separated "
                          "(CI's other Python versions: numpy; the numba kernels' own tests "
                          "still run there)")
    parser.addoption("--sample", default=None, metavar="K/N",
                     help="run only the tests whose id hashes to K modulo N (CI's budgeted "
                          "slice of the --backend numba run: --sample 0/2)")
    parser.addoption("--fuzz-examples", type=int, default=None,
                     help="programs per differential fuzzing test (long mode: "
                          "pytest -m fuzz --fuzz-examples 10000)")


@pytest.fixture
def fuzz_examples(request):
    """(examples per fuzz test, long mode?): a fixed CI budget unless --fuzz-examples is given."""
    n = request.config.getoption("--fuzz-examples")
    return (n, True) if n is not None else (None, False)
