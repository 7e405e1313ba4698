"""Derivatives at the points where a function is smooth but the usual way of computing it is not:
ties (logaddexp(x, x)), zeros (x ** 0 at 0, a product with zero entries, sinc(0), xlogy(0, y)),
all-equal inputs, a distribution function at its centre. test_systematic samples random points, which never land on them; each wrong
answer below was found there (issue 25): a constant branch of a `select`, a kink in one term of a
composition (|x - y|), a division by the entry or a count of zeros gave 0 or NaN where the
derivative is finite, silently.

Each record is checked on both backends: the value against NumPy, the gradient against central
differences, and the Hessian (forward over reverse, and reverse over reverse) against central
differences of the gradient.
"""
import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st

import tracejit

H = 1e-6

# name: (function of one float64 vector, the point)
RECORDS = {
    "logaddexp_ties": (lambda x: np.sum(np.logaddexp(x[:2], x[2:]) * [0.7, -1.3]),
                       [0.3, -1.0, 0.3, -1.0]),
    "logaddexp_softplus_at_0": (lambda x: np.sum(np.logaddexp(0.0, x)), [0.0, 0.0]),
    "logaddexp2_ties": (lambda x: np.sum(np.logaddexp2(x[:2], x[2:]) * [0.7, -1.3]),
                        [0.3, -1.0, 0.3, -1.0]),
    "logaddexp_of_minus_inf": (lambda x: np.sum(np.logaddexp(x, -np.inf) ** 2), [0.4, -2.0]),
    "power_zero_base": (lambda x: np.sum(np.power(x, [0.0, 1.0, 2.0, 3.0])), [0.0] * 4),
    "power_zero_base_int_exponents": (lambda x: np.sum(np.power(x, np.arange(4))), [0.0] * 4),
    "power_zero_exponent": (lambda x: np.sum(x ** 0 + x ** 0.0 * x), [0.0, 1.5]),
    "float_power_zero_base": (lambda x: np.sum(np.float_power(x, [0.0, 2.0])), [0.0, 0.0]),
    "sinc_at_0": (lambda x: np.sum(np.sinc(x) * [1.0, 2.0]), [0.0, 0.5]),
    "xlogy_x_at_0": (lambda x: np.sum(sc.xlogy(x, [0.7, 2.0])), [0.0, 0.0]),
    "xlogy_y_at_x_0": (lambda x: np.sum(sc.xlogy(x[:2], x[2:])), [0.0, 0.0, 0.7, 2.0]),
    "prod_one_zero": (lambda x: np.prod(x), [0.0, 2.0, 3.0]),
    "prod_two_zeros": (lambda x: np.prod(x), [0.0, 0.0, 3.0, 1.5]),
    "prod_all_zero": (lambda x: np.prod(x), [0.0, 0.0, 0.0]),
    "prod_axis_with_zeros": (lambda x: np.sum(np.prod(x.reshape(2, 3), axis=0) * [1.0, 2.0, 3.0]),
                             [0.0, 1.5, 0.0, 2.0, 0.0, 0.0]),
    "prod_odd_length_zero": (lambda x: np.prod(x), [1.5, -2.0, 0.5, 0.0, 3.0]),
    "prod_keepdims_axes": (lambda x: np.sum(np.prod(x.reshape(2, 2, 2), axis=(0, 2),
                                                    keepdims=True) * [[[1.0], [-2.0]]]),
                           [0.0, 1.0, 2.0, 0.0, 3.0, 0.5, 1.5, 2.5]),
    "cumprod_zero": (lambda x: np.sum(np.cumprod(x) * [1.0, 2.0, 3.0]), [2.0, 0.0, 3.0]),
    "logsumexp_ties": (lambda x: sc.logsumexp(x), [0.2, 0.2, 0.2]),
    "var_all_equal": (lambda x: np.var(x), [0.5, 0.5, 0.5]),
    "hypot_one_zero": (lambda x: np.hypot(x[0], x[1]), [0.0, 1.0]),
    "t_cdf_at_loc": (lambda x: np.sum(st.t.cdf(x, 4.5, loc=[0.0, 1.0]) + st.t.logcdf(x, 3.0)),
                     [0.0, 1.0]),
    "t_sf_at_loc": (lambda x: np.sum(st.t.sf(x, 2.5) * st.t.logsf(x, 7.0)), [0.0, 0.0]),
    "norm_cdf_at_loc": (lambda x: np.sum(st.norm.logcdf(x) + st.norm.logsf(x)), [0.0, 0.0]),
}
# once differentiable only: the second derivative of max(x, 0)**2 jumps from 0 to 2 at 0; for
# |x|**2 it depends on the slope chosen for |x| at 0 (0, as central differences, autograd and
# PyTorch give; JAX takes 1): 2 * sign(0)**2 = 0
FIRST_ORDER_ONLY = {
    "relu_squared_at_0": (lambda x: np.sum(np.maximum(x, 0.0) ** 2 + np.where(x > 0, x, 0.0) ** 2),
                          [0.0, 0.0]),
    "abs_squared_at_0": (lambda x: np.sum(np.abs(x) ** 2), [0.0, 1.0]),
}


def central_difference(f, x):
    g = np.zeros_like(x)
    for k in range(x.size):
        step = np.zeros_like(x)
        step[k] = H
        g[k] = (f(x + step) - f(x - step)) / (2 * H)
    return g


def jacobian_by_differences(f, x, h=1e-4):
    """Columns by central differences; a larger step than H, as the gradient itself carries
    rounding error (sinc's quotient near 0 loses digits)."""
    return np.stack([(f(x + e * h) - f(x - e * h)) / (2 * h) for e in np.eye(x.size)], axis=-1)


@pytest.mark.parametrize("name", RECORDS | FIRST_ORDER_ONLY)
def test_value_and_gradient(name, backend):
    fn, point = (RECORDS | FIRST_ORDER_ONLY)[name]
    x = np.array(point, dtype=np.float64)
    np.testing.assert_array_equal(tracejit.jit(fn, backend=backend)(x), fn(x))
    got = tracejit.jit_grad(fn, backend=backend)(x)
    np.testing.assert_allclose(got, central_difference(fn, x), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", RECORDS)
def test_hessian(name, backend):
    fn, point = RECORDS[name]
    x = np.array(point, dtype=np.float64)
    expected = jacobian_by_differences(tracejit.jit_grad(fn), x)
    forward_over_reverse = tracejit.hessian(fn, backend=backend)(x)
    reverse_over_reverse = tracejit.jacrev(tracejit.grad(fn), backend=backend)(x)
    np.testing.assert_allclose(forward_over_reverse, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reverse_over_reverse, expected, rtol=1e-5, atol=1e-6)
