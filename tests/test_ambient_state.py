"""State the caller sets around a call, which plain NumPy reads on every call: its floating-point
error policy (np.seterr, np.errstate, warnings turned into errors) and its print options.

Compiled kernels never raise on a division by zero; plain NumPy raises FloatingPointError under
np.errstate(divide="raise") and RuntimeWarning under warnings.simplefilter("error"). A call under
such a policy must raise where plain Python raises (or be handled where the function catches it),
and return the same values where it does not. Text of arrays follows np.set_printoptions. Found
in session 18: all of these returned inf or the first call's text.
"""
import warnings

import numpy as np
import pytest

import tracejit


def reciprocal_sum(x):
    return np.sum(1.0 / x)


def caught(x):
    try:
        y = 1.0 / x
    except FloatingPointError:
        y = np.zeros_like(x)
    return np.sum(y)


def silenced_inside(x):
    with np.errstate(divide="ignore"):
        y = 1.0 / x
    return np.sum(np.where(np.isfinite(y), y, -1.0))


def log_loss(x):
    return np.sum(np.log(x) * x)


FUNCTIONS = [reciprocal_sum, caught, silenced_inside, log_loss]
POLICIES = {
    "default": lambda: np.errstate(),
    "errstate raise": lambda: np.errstate(divide="raise", invalid="raise"),
    "errstate all raise": lambda: np.errstate(all="raise"),
    "warnings as errors": lambda: _warnings_as_errors(),
    "errstate ignore": lambda: np.errstate(all="ignore"),
}


class _warnings_as_errors(warnings.catch_warnings):
    def __enter__(self):
        result = super().__enter__()
        warnings.simplefilter("error")
        return result


def _outcome(fn, x):
    try:
        return "value", float(fn(x))
    except (FloatingPointError, RuntimeWarning) as error:
        return "raised", type(error).__name__


SAFE, ZERO = np.array([1.0, 2.0]), np.array([0.0, 2.0])


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_compiled_call_follows_the_callers_error_policy(fn, backend):
    """Each call, under each policy in turn and back, as plain Python; the default-policy calls
    after strict ones still run the compiled trace."""
    compiled = tracejit.jit(fn, backend=backend)
    for policy in ["default", "errstate raise", "warnings as errors", "errstate all raise",
                   "default", "errstate ignore", "errstate raise", "default"]:
        for x in (SAFE, ZERO, SAFE):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")       # the default policy's RuntimeWarning
                with POLICIES[policy]():
                    expected = _outcome(fn, x)
                    got = _outcome(compiled, x)
            assert got[0] == expected[0], (policy, x, got, expected)
            if got[0] == "value":
                np.testing.assert_equal(got[1], expected[1])
            else:
                assert got[1] == expected[1], (policy, x)


def test_gradient_under_a_raising_policy_raises_at_the_users_line():
    grad = tracejit.jit_grad(log_loss)
    np.testing.assert_allclose(grad(SAFE), np.log(SAFE) + 1.0)
    with np.errstate(divide="raise"):
        np.testing.assert_allclose(grad(SAFE), np.log(SAFE) + 1.0)
        with pytest.raises(FloatingPointError, match="divide by zero") as info:
            grad(ZERO)
    assert any(frame.name == "log_loss" for frame in info.traceback)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(grad(ZERO)[0])              # default policy again: NumPy's nan


def test_default_policy_calls_stay_on_the_hot_path():
    compiled = tracejit.jit(reciprocal_sum)
    for _ in range(3):
        compiled(SAFE)
    with np.errstate(all="raise"):
        compiled(SAFE)
    for _ in range(3):
        compiled(SAFE)
    stats = compiled.stats()
    assert stats["misses"] == 1 and stats["hits"] == 6


@pytest.mark.parametrize("make_text", [
    lambda x: f"{x}", lambda x: str(x * 2.0), lambda x: repr(np.sum(x)),
    lambda x: "%s" % (x,), lambda x: "{}".format(x[0])],
    ids=["fstring", "str", "repr_scalar", "percent", "format"])
def test_text_of_arrays_follows_print_options(make_text, backend):
    def fn(x):
        return make_text(x / 3.0)
    compiled = tracejit.jit(fn, backend=backend)
    x = np.array([1.0, 2.0])
    assert compiled(x) == fn(x)
    with np.printoptions(precision=3):
        assert compiled(x) == fn(x)
    with np.printoptions(legacy="1.25"):
        assert compiled(x) == fn(x)
    assert compiled(x) == fn(x)
