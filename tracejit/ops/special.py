"""Special functions (from scipy.special) as elementwise primitives.

Each has a closed-form derivative in terms of elementwise primitives, so second derivatives work.
"""
import math

import numpy as np
import scipy.special as sc

from .elementwise import add, binary, exp, mul, neg, sub, unary

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf_lin(g, ans, x):
    return mul(g, mul(exp(neg(mul(x, x))), _TWO_OVER_SQRT_PI))


expit = unary("expit", sc.expit, lambda g, ans, x: mul(g, mul(ans, sub(1, ans))))
erf = unary("erf", sc.erf, _erf_lin)
erfc = unary("erfc", sc.erfc, lambda g, ans, x: neg(_erf_lin(g, ans, x)))
erfinv = unary("erfinv", sc.erfinv,
               lambda g, ans, x: mul(g, mul(exp(mul(ans, ans)), math.sqrt(math.pi) / 2)))
# polygamma(n, x): the n-th derivative of digamma; its own derivative is polygamma(n + 1, x)
polygamma = binary("polygamma", sc.polygamma, None,
                   lambda g, ans, n, x: mul(g, polygamma(add(n, 1), x)))
gammaln = unary("gammaln", sc.gammaln, lambda g, ans, x: mul(g, polygamma(0, x)))
