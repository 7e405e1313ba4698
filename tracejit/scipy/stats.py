"""`scipy.stats` densities and distribution functions as compositions of special functions.

Registered per distribution object and method (`scipy.stats.norm.logpdf`...). Distribution
functions built on regularized incomplete gamma/beta functions are differentiable in x (and, for
Poisson, in the mean); their shape parameters must not depend on traced inputs.
"""
import math

import numpy as np
import scipy.stats as st

from ..numpy import _funcs as F
from ..numpy._registry import implements_method
from ..numpy.linalg import slogdet, solve
from ..ops import elementwise as ew
from ..ops import special as sp
from .special import require_constant_parameters, xlogy

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _float64(x):
    """scipy.stats computes in float64 whatever the input's precision."""
    if isinstance(x, (int, float)):
        return float(x)
    x = F.asarray(x)
    return F.astype(x, np.float64) if x.dtype != np.float64 else x


def _standardize(x, loc, scale):
    return ew.div(ew.sub(_float64(x), _float64(loc)), _float64(scale))


def _methods(dist, logpdf, cdf=None, name="pdf"):
    """Register logpdf, pdf = exp(logpdf), and when given cdf, logcdf, sf and logsf."""
    implements_method(dist, "log" + name)(logpdf)
    implements_method(dist, name)(lambda *a, **k: ew.exp(logpdf(*a, **k)))
    if cdf is None:
        return
    implements_method(dist, "cdf")(cdf)
    implements_method(dist, "logcdf")(lambda *a, **k: ew.log(cdf(*a, **k)))
    implements_method(dist, "sf")(lambda *a, **k: ew.sub(1.0, cdf(*a, **k)))
    implements_method(dist, "logsf")(lambda *a, **k: ew.log1p(ew.neg(cdf(*a, **k))))


def _in_support(z, low, high=None):
    """(inside, z moved inside where it is not): densities are 0 (log: -inf) outside, and the
    formulas never see values that would turn their unused branch's gradient into NaN."""
    inside = ew.gt(z, low) if high is None else ew.logical_and(ew.gt(z, low), ew.lt(z, high))
    return inside, ew.select(inside, z, low + 0.5 if high is None else (low + high) / 2)


# ---- normal ----------------------------------------------------------------------------------
def _norm_logpdf(x, loc=0.0, scale=1.0):
    z = _standardize(x, loc, scale)
    return ew.sub(ew.sub(ew.mul(ew.mul(z, z), -0.5), _LOG_SQRT_2PI), ew.log(F.asarray(scale)))


def _norm_cdf(x, loc=0.0, scale=1.0):
    return ew.mul(sp.erfc(ew.mul(_standardize(x, loc, scale), -1 / math.sqrt(2))), 0.5)


def _norm_sf(x, loc=0.0, scale=1.0):
    return ew.mul(sp.erfc(ew.mul(_standardize(x, loc, scale), 1 / math.sqrt(2))), 0.5)


_methods(st.norm, _norm_logpdf, _norm_cdf)
implements_method(st.norm, "sf")(_norm_sf)                 # accurate in the upper tail
implements_method(st.norm, "logsf")(lambda *a, **k: ew.log(_norm_sf(*a, **k)))


# ---- Student's t -------------------------------------------------------------------------------
def _t_logpdf(x, df, loc=0.0, scale=1.0):
    z, df = _standardize(x, loc, scale), F.asarray(df)
    half = ew.mul(ew.add(df, 1.0), 0.5)
    norm = ew.sub(ew.sub(sp.gammaln(half), sp.gammaln(ew.mul(df, 0.5))),
                  ew.mul(ew.log(ew.mul(df, math.pi)), 0.5))
    tail = ew.mul(half, ew.log1p(ew.div(ew.mul(z, z), df)))
    return ew.sub(ew.sub(norm, tail), ew.log(F.asarray(scale)))


def _t_cdf(x, df, loc=0.0, scale=1.0):
    require_constant_parameters("scipy.stats.t.cdf", (df,))
    return sp.stdtr(F.asarray(df), _standardize(x, loc, scale))


_methods(st.t, _t_logpdf, _t_cdf)


# ---- beta, chi-squared, gamma ------------------------------------------------------------------
def _beta_logpdf(x, a, b, loc=0.0, scale=1.0):
    inside, z = _in_support(_standardize(x, loc, scale), 0.0, 1.0)
    a, b = F.asarray(a), F.asarray(b)
    log_beta = ew.sub(ew.add(sp.gammaln(a), sp.gammaln(b)), sp.gammaln(ew.add(a, b)))
    body = ew.add(ew.mul(ew.sub(a, 1.0), ew.log(z)), ew.mul(ew.sub(b, 1.0), ew.log1p(ew.neg(z))))
    return ew.select(inside, ew.sub(ew.sub(body, log_beta), ew.log(F.asarray(scale))), -np.inf)


def _beta_cdf(x, a, b, loc=0.0, scale=1.0):
    require_constant_parameters("scipy.stats.beta.cdf", (a, b))
    z = ew.minimum(ew.maximum(_standardize(x, loc, scale), 0.0), 1.0)
    return sp.betainc(F.asarray(a), F.asarray(b), z)


def _gamma_logpdf(x, a, loc=0.0, scale=1.0):
    inside, z = _in_support(_standardize(x, loc, scale), 0.0)
    a = F.asarray(a)
    body = ew.sub(ew.sub(ew.mul(ew.sub(a, 1.0), ew.log(z)), z), sp.gammaln(a))
    return ew.select(inside, ew.sub(body, ew.log(F.asarray(scale))), -np.inf)


def _gamma_cdf(x, a, loc=0.0, scale=1.0):
    require_constant_parameters("scipy.stats.gamma.cdf", (a,))
    z = ew.maximum(_standardize(x, loc, scale), 0.0)
    return sp.gammainc(F.asarray(a), z)


def _chi2_logpdf(x, df, loc=0.0, scale=1.0):
    return _gamma_logpdf(x, ew.mul(F.asarray(df), 0.5), loc, ew.mul(F.asarray(scale), 2.0))


def _chi2_cdf(x, df, loc=0.0, scale=1.0):
    require_constant_parameters("scipy.stats.chi2.cdf", (df,))
    return _gamma_cdf(x, ew.mul(F.asarray(df), 0.5), loc, ew.mul(F.asarray(scale), 2.0))


for _dist, _logpdf, _cdf in ((st.beta, _beta_logpdf, _beta_cdf), (st.gamma, _gamma_logpdf, _gamma_cdf),
                             (st.chi2, _chi2_logpdf, _chi2_cdf)):
    _methods(_dist, _logpdf, _cdf)


# ---- Poisson -------------------------------------------------------------------------------------
def _poisson_logpmf(k, mu, loc=0):
    k, mu = ew.sub(_float64(k), loc), _float64(mu)
    return ew.sub(ew.sub(xlogy(k, mu), mu), sp.gammaln(ew.add(k, 1.0)))


def _poisson_cdf(k, mu, loc=0):
    require_constant_parameters("scipy.stats.poisson.cdf", (k,))
    return sp.gammaincc(ew.add(ew.floor(ew.sub(_float64(k), loc)), 1.0), _float64(mu))


_methods(st.poisson, _poisson_logpmf, name="pmf")
implements_method(st.poisson, "cdf")(_poisson_cdf)


# ---- multivariate --------------------------------------------------------------------------------
def _dirichlet_logpdf(x, alpha):
    x, alpha = F.asarray(x), F.asarray(alpha)
    alpha_col = F.reshape(alpha, (-1,) + (1,) * (F.ndim(x) - 1))
    norm = ew.sub(F.sum(sp.gammaln(alpha)), sp.gammaln(F.sum(alpha)))
    return ew.sub(F.sum(xlogy(ew.sub(alpha_col, 1.0), x), axis=0), norm)


_methods(st.dirichlet, _dirichlet_logpdf)


def _mvn_logpdf(x, mean=None, cov=1):
    x = F.asarray(x)
    diff = x if mean is None else ew.sub(x, mean)
    cov = F.asarray(cov)
    k = F.shape(diff)[-1]
    maha = F.sum(ew.mul(diff, F.transpose(solve(cov, F.transpose(F.atleast_2d(diff))))), axis=-1)
    maha = F.reshape(maha, F.shape(diff)[:-1])
    return ew.mul(ew.add(ew.add(maha, slogdet(cov)[1]), k * math.log(2 * math.pi)), -0.5)


def _mvn_entropy(mean=None, cov=1):
    cov = F.asarray(cov)
    k = F.shape(cov)[-1]
    return ew.mul(ew.add(slogdet(cov)[1], k * (1 + math.log(2 * math.pi))), 0.5)


_methods(st.multivariate_normal, _mvn_logpdf)
implements_method(st.multivariate_normal, "entropy")(_mvn_entropy)
