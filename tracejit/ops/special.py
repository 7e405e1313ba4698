"""Special functions (from scipy.special) as elementwise primitives.

Each has a closed-form derivative in terms of elementwise primitives, so second derivatives work.
`scipy.special` itself (0.25-0.3 s to import) is imported when one of them is first evaluated.
"""
import importlib
import math

from ..backends.numba_lower import ByKind, Scalar

from .elementwise import (Elementwise, add, binary, div, eq, exp, libm_twin, log, log1p,
                          logical_and, mul, neg, select, sign, sub, unary)

class _LazyFunction:
    """`scipy.special.<name>`, looked up when first called."""

    def __init__(self, name):
        self.__name__ = name
        self._fn = None

    def __call__(self, *args, **kwargs):
        if self._fn is None:
            self._fn = getattr(importlib.import_module("scipy.special"), self.__name__)
        return self._fn(*args, **kwargs)


class _LazyModule:
    def __getattr__(self, name):
        return _LazyFunction(name)


sc = _LazyModule()
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
erfcinv = unary("erfcinv", sc.erfcinv,
                lambda g, ans, x: neg(mul(g, mul(exp(mul(ans, ans)), math.sqrt(math.pi) / 2))))


# ---- Bessel functions: derivatives by the recurrences d/dx C_v = (C_{v-1} -+ C_{v+1}) / 2 -------
def _order(name, fn, sign):
    """A Bessel-type function of (order v, x), differentiable in x."""
    def lin_x(g, ans, v, x):
        return mul(g, mul(add(prim(sub(v, 1), x), mul(prim(add(v, 1), x), sign)), 0.5))
    prim = binary(name, fn, None, lin_x)
    return prim



jv = _order("jv", sc.jv, -1)
yv = _order("yv", sc.yv, -1)
iv = _order("iv", sc.iv, 1)
j0 = unary("j0", sc.j0, lambda g, ans, x: neg(mul(g, j1(x))))
j1 = unary("j1", sc.j1, lambda g, ans, x: mul(g, mul(sub(j0(x), jv(2, x)), 0.5)))
y0 = unary("y0", sc.y0, lambda g, ans, x: neg(mul(g, y1(x))))
y1 = unary("y1", sc.y1, lambda g, ans, x: mul(g, mul(sub(y0(x), yv(2, x)), 0.5)))
i0 = unary("i0", sc.i0, lambda g, ans, x: mul(g, i1(x)))
i1 = unary("i1", sc.i1, lambda g, ans, x: mul(g, mul(add(i0(x), iv(2, x)), 0.5)))
yn = binary("yn", sc.yn, None, lambda g, ans, n, x: mul(g, mul(sub(yv(sub(n, 1), x),
                                                                  yv(add(n, 1), x)), 0.5)))


def _ive_lin(g, ans, v, x):
    rise = mul(add(ive(sub(v, 1), x), ive(add(v, 1), x)), 0.5)
    return mul(g, sub(rise, mul(sign(x), ans)))


ive = binary("ive", sc.ive, None, _ive_lin)


# ---- regularized incomplete gamma and beta functions, differentiable in x --------------------
def _gammainc_density(a, x):
    """x^(a-1) e^(-x) / Gamma(a)."""
    return exp(sub(sub(mul(sub(a, 1), log(x)), x), gammaln(a)))


gammainc = binary("gammainc", sc.gammainc, None,
                  lambda g, ans, a, x: mul(g, _gammainc_density(a, x)))
gammaincc = binary("gammaincc", sc.gammaincc, None,
                   lambda g, ans, a, x: neg(mul(g, _gammainc_density(a, x))))


def _betainc_lin(g, ans, a, b, x):
    log_beta = sub(add(gammaln(a), gammaln(b)), gammaln(add(a, b)))
    log_density = sub(add(mul(sub(a, 1), log(x)), mul(sub(b, 1), log1p(neg(x)))), log_beta)
    return mul(g, exp(log_density))


betainc = Elementwise("betainc", sc.betainc, (None, None, _betainc_lin))


# ---- Student's t distribution function of (df, t). Its slope is the t density, smooth at t = 0,
# where the incomplete-beta form (betainc at x = df / (df + t**2) = 1, whose density is infinite
# there, times a slope of 0) gives NaN
def _t_density(df, t):
    half = mul(add(df, 1), 0.5)
    log_norm = sub(sub(gammaln(half), gammaln(mul(df, 0.5))), mul(log(mul(df, math.pi)), 0.5))
    return exp(sub(log_norm, mul(half, log1p(div(mul(t, t), df)))))


stdtr = binary("stdtr", sc.stdtr, None, lambda g, ans, df, t: mul(g, _t_density(df, t)))


# ---- x log y, 0 where x == 0 (a NaN y aside): smooth in x there, with slope log y ------------
def _xlogy_lin_x(g, ans, x, y):
    return mul(g, log(y))


def _xlogy_lin_y(g, ans, x, y):
    # x / y, and 0 at x == y == 0 (xlogy(0, y) is 0 for every y), where 0 / 0 would be NaN
    both_zero = logical_and(eq(x, 0), eq(y, 0))
    return mul(g, div(x, select(both_zero, 1, y)))


xlogy = binary("xlogy", sc.xlogy, _xlogy_lin_x, _xlogy_lin_y)


# ---- numba: SciPy's own compiled code through backends/numba_scipy (`sp.`), so that a kernel
# computes what scipy.special computes (the C library's erf and lgamma differ from SciPy's in
# the last bits for 9-60% of arguments: up to 1e-10 relative for erfc's tail and near lgamma's
# zeros); operands and results are float64, converted by the code generator
expit.numba = Scalar("(1.0 / (1.0 + math.exp(-np.float64({0}))))")
# math.erf / math.erfc of a traced Python float are CPython's, the C library's functions (numba
# calls the same), not SciPy's
LIBM = {name: libm_twin(getattr(math, name), prim, f"math.{name}({{0}})")
        for name, prim in {"erf": erf, "erfc": erfc}.items()}
xlogy.numba = Scalar("(0.0 if {0} == 0 and {1} == {1} else np.float64({0}) * math.log({1}))")


def _scipy(call):
    return ByKind({"f": call}, scipy=True)


_ARGS = {1: "np.float64({0})", 2: "np.float64({0}), np.float64({1})",
         3: "np.float64({0}), np.float64({1}), np.float64({2})"}
for _prim, _arity in {erf: 1, erfc: 1, gammaln: 1, erfinv: 1, erfcinv: 1, i0: 1, i1: 1, j0: 1, j1: 1, y0: 1, y1: 1, iv: 2,
                      ive: 2, jv: 2, yv: 2, yn: 2, gammainc: 2, gammaincc: 2, betainc: 3, stdtr: 2,
                      polygamma: 2}.items():
    _prim.numba = _scipy(f"sp.{_prim.name}({_ARGS[_arity]})")
