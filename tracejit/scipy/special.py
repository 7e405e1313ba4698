"""`scipy.special` functions: primitives of `ops/special.py` plus compositions."""
import math

import numpy as np
import scipy.special as sc

from ..errors import UnsupportedError
from ..numpy import _funcs as F
from ..numpy._registry import implements
from ..ops import elementwise as ew
from ..ops import special as sp
from ..ops.core import Tracer


def _unary(sc_fn, prim):
    def fn(x, out=None):
        F.refuse(sc_fn.__name__, out=out)
        return prim(F.asarray(x))
    fn.__name__ = sc_fn.__name__
    return implements(sc_fn)(fn)


for _sc_fn, _prim in ((sc.expit, sp.expit), (sc.erf, sp.erf), (sc.erfc, sp.erfc),
                      (sc.erfinv, sp.erfinv), (sc.erfcinv, sp.erfcinv), (sc.gammaln, sp.gammaln),
                      (sc.j0, sp.j0), (sc.j1, sp.j1), (sc.y0, sp.y0), (sc.y1, sp.y1),
                      (sc.i0, sp.i0), (sc.i1, sp.i1)):
    globals()[_sc_fn.__name__] = _unary(_sc_fn, _prim)


def require_constant_parameters(name, params):
    """Refuse, rather than silently give a zero derivative, parameters that depend on inputs."""
    if any(isinstance(p, Tracer) and not p.is_constant for p in params):
        raise UnsupportedError(f"{name} is differentiated with respect to x only; its other "
                               "arguments here depend on traced inputs",
                               hint="Give it a derivative with tracejit.custom_vjp.")


def _with_parameters(sc_fn, prim):
    """Functions of parameters (orders, shapes) and x; differentiable in x only."""
    def fn(*args, out=None):
        F.refuse(sc_fn.__name__, out=out)
        require_constant_parameters(f"scipy.special.{sc_fn.__name__}", args[:-1])
        return prim(*[F.asarray(a) for a in args])
    fn.__name__ = sc_fn.__name__
    return implements(sc_fn)(fn)


for _sc_fn, _prim in ((sc.jv, sp.jv), (sc.yv, sp.yv), (sc.iv, sp.iv), (sc.ive, sp.ive),
                      (sc.yn, sp.yn), (sc.gammainc, sp.gammainc),
                      (sc.gammaincc, sp.gammaincc), (sc.betainc, sp.betainc)):
    globals()[_sc_fn.__name__] = _with_parameters(_sc_fn, _prim)


@implements(sc.digamma, sc.psi)
def digamma(x, out=None):
    F.refuse("digamma", out=out)
    x = F.asarray(x)
    out = sp.polygamma(0, x)            # scipy's polygamma is float64; its digamma keeps float32
    return F.astype(out, x.dtype) if x.dtype.kind == "f" else out


@implements(sc.polygamma)
def polygamma(n, x):
    return sp.polygamma(F.asarray(n), F.asarray(x))


@implements(sc.logit)
def logit(x, out=None):
    F.refuse("logit", out=out)
    x = F.asarray(x)
    return ew.sub(ew.log(x), ew.log1p(ew.neg(x)))


@implements(sc.xlogy)
def xlogy(x, y, out=None):
    F.refuse("xlogy", out=out)
    return sp.xlogy(F.asarray(x), F.asarray(y))


@implements(sc.gamma)
def gamma(x, out=None):
    F.refuse("gamma", out=out)
    x = F.asarray(x)
    return ew.mul(_gamma_sign(x), ew.exp(sp.gammaln(x)))


def _gamma_sign(x):
    """+1, or -1 on the negative intervals (-1, 0), (-3, -2)... where Gamma is negative."""
    negative = ew.logical_and(ew.lt(x, 0), ew.eq(ew.mod(ew.floor(x), 2), 1))
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    return ew.select(negative, np.asarray(-1.0, dtype)[()], np.asarray(1.0, dtype)[()])


@implements(sc.gammasgn)
def gammasgn(x, out=None):
    return _gamma_sign(F.asarray(x))


@implements(sc.rgamma)
def rgamma(x, out=None):
    x = F.asarray(x)
    return ew.mul(_gamma_sign(x), ew.exp(ew.neg(sp.gammaln(x))))


@implements(sc.betaln)
def betaln(a, b, out=None):
    a, b = F.asarray(a), F.asarray(b)
    return ew.sub(ew.add(sp.gammaln(a), sp.gammaln(b)), sp.gammaln(ew.add(a, b)))


@implements(sc.beta)
def beta(a, b, out=None):
    return ew.exp(betaln(a, b))


@implements(sc.multigammaln)
def multigammaln(a, d):
    a = F.asarray(a)
    terms = [sp.gammaln(ew.sub(a, j / 2.0)) for j in range(d)]
    total = terms[0]
    for t in terms[1:]:
        total = ew.add(total, t)
    return ew.add(total, np.float64(d * (d - 1) / 4.0 * math.log(math.pi)))   # float64, as SciPy


@implements(sc.logsumexp)
def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """max + log(sum(b * exp(a - max))); the max's own derivative cancels exactly."""
    if return_sign:
        raise UnsupportedError("scipy.special.logsumexp(return_sign=True)")
    a = F.asarray(a)
    top = F.max(a, axis=axis, keepdims=True)
    top = ew.select(ew.isfinite(top), top, 0.0)
    terms = ew.exp(ew.sub(a, top))
    if b is not None:
        terms = ew.mul(terms, F.asarray(b))
    total = ew.log(F.sum(terms, axis=axis, keepdims=True))
    out = ew.add(total, top)
    return out if keepdims else F.squeeze(out, axis=F.normalize_axes(axis, a.ndim))
