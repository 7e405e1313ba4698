"""`numpy.linalg` functions in terms of tracejit primitives."""
import numpy as np

from ..ops import elementwise as ew
from ..ops import linalg as la
from . import _funcs as F
from ._registry import implements


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    x = F.asarray(x)
    if ord not in (None, 2, "fro") or (ord == 2 and (axis is None and x.ndim == 2)):
        from ..errors import UnsupportedError
        raise UnsupportedError(f"numpy.linalg.norm(ord={ord!r})")
    return ew.sqrt(F.sum(ew.mul(x, x), axis=axis, keepdims=keepdims))


@implements(np.linalg.solve)
def solve(a, b):
    a, b = F.asarray(a), F.asarray(b)
    if F.ndim(b) == 1:
        return F.reshape(la.solve(a, F.reshape(b, (-1, 1))), (-1,))
    return la.solve(a, b)


@implements(np.linalg.inv)
def inv(a):
    return la.inv(F.asarray(a))


@implements(np.linalg.slogdet)
def slogdet(a):
    sign, logdet = la.slogdet(F.asarray(a))
    return _SlogdetResult(sign, logdet)


class _SlogdetResult(tuple):
    """(sign, logabsdet), also by attribute, as NumPy's named result."""
    def __new__(cls, sign, logabsdet):
        return super().__new__(cls, (sign, logabsdet))

    sign = property(lambda self: self[0])
    logabsdet = property(lambda self: self[1])


@implements(np.linalg.det)
def det(a):
    sign, logdet = la.slogdet(F.asarray(a))
    return ew.mul(sign, ew.exp(logdet))


def __getattr__(name):
    """The rest of `numpy.linalg`, forwarded unchanged (as `tracejit.numpy` forwards NumPy)."""
    return getattr(np.linalg, name)
