"""`numpy.linalg` functions in terms of tracejit primitives."""
import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops import linalg as la
from . import _funcs as F
from ._registry import implements


def _named(name, fields):
    """A tuple subclass whose entries are also attributes, as NumPy's linalg results."""
    def prop(i):
        return property(lambda self: self[i])
    return type(name, (tuple,), {"__new__": lambda cls, *v: tuple.__new__(cls, v),
                                 **{f: prop(i) for i, f in enumerate(fields)}})


SlogdetResult = _named("SlogdetResult", ("sign", "logabsdet"))
EighResult = _named("EighResult", ("eigenvalues", "eigenvectors"))
SVDResult = _named("SVDResult", ("U", "S", "Vh"))
QRResult = _named("QRResult", ("Q", "R"))


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
    return SlogdetResult(*la.slogdet(F.asarray(a)))


@implements(np.linalg.det)
def det(a):
    sign, logdet = la.slogdet(F.asarray(a))
    return ew.mul(sign, ew.exp(logdet))


@implements(np.linalg.eigh)
def eigh(a, UPLO="L"):
    a = F.asarray(a)
    return EighResult(*la.eigh(a if UPLO == "L" else la.swap_last(a)))


EigResult = _named("EigResult", ("eigenvalues", "eigenvectors"))


@implements(np.linalg.eig)
def eig(a):
    """Complex eigenpairs, or (NumPy < 2.5) real ones when every eigenvalue is real, as the
    installed NumPy decides; that decision depends on the data, so it is guarded like a branch."""
    a = F.asarray(a)
    w, v = la.eig(a)
    if _EIG_MAY_BE_REAL and a.dtype.kind != "c" and \
            bool(F.max(F.absolute(ew.imag(w))) == 0):
        return EigResult(ew.real(w), ew.real(v))
    return EigResult(w, v)


# NumPy 2.5 made eig always complex; earlier versions return real results when they can
_EIG_MAY_BE_REAL = np.linalg.eig(np.eye(1)).eigenvalues.dtype.kind != "c"


@implements(np.linalg.eigvals)
def eigvals(a):
    return eig(a)[0]


@implements(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    return eigh(a, UPLO)[0]


@implements(np.linalg.cholesky)
def cholesky(a, /, *, upper=False):
    low = la.cholesky(F.asarray(a))
    return la.swap_last(low) if upper else low


@implements(np.linalg.svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    a = F.asarray(a)
    if not compute_uv:
        return la.svd(a, compute_uv=False)[0]
    m, n = a.shape[-2:]
    if full_matrices and m != n:
        raise UnsupportedError(
            "numpy.linalg.svd(full_matrices=True) of a non-square matrix: the extra singular "
            "vectors are not unique, so they have no derivative",
            hint="Pass full_matrices=False.")
    return SVDResult(*la.svd(a, compute_uv=True))


@implements(np.linalg.qr)
def qr(a, mode="reduced"):
    if mode not in ("reduced", "r"):
        raise UnsupportedError(f"numpy.linalg.qr(mode={mode!r}); use mode='reduced' or 'r'")
    q, r = la.qr(F.asarray(a))
    return r if mode == "r" else QRResult(q, r)


@implements(np.linalg.pinv)
def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """V diag(1/s) U^T with NumPy's cutoff for small singular values."""
    a = F.asarray(a)
    cutoff = rcond if rcond is not None else (rtol if rtol is not None else 1e-15)
    u, s, vh = la.svd(a, compute_uv=True)
    keep = ew.gt(s, ew.mul(F.max(s, axis=-1, keepdims=True), cutoff))
    s_inv = ew.select(keep, ew.div(1.0, ew.select(keep, s, 1.0)), 0.0)
    return F.matmul(la.swap_last(vh), ew.mul(F.expand_dims(s_inv, -1), la.swap_last(u)))


@implements(np.linalg.matrix_power)
def matrix_power(a, n):
    """Binary powering, as NumPy does it; a negative power inverts first."""
    a = F.asarray(a)
    if n < 0:
        a, n = inv(a), -n
    if n == 0:
        return F.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape) if a.ndim > 2 \
            else np.eye(a.shape[-1], dtype=a.dtype)
    result, power = None, a
    while n:
        if n & 1:
            result = power if result is None else F.matmul(result, power)
        n >>= 1
        if n:
            power = F.matmul(power, power)
    return result


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    x = F.asarray(x)
    if x.dtype.kind in "biu":
        x = F.astype(x, np.float64)
    if axis is None and ord is None:
        return _keep(ew.sqrt(F.sum(_abs2(x))), x.ndim, tuple(range(x.ndim)), keepdims)
    axes = F.normalize_axes(axis if axis is not None else tuple(range(x.ndim)), x.ndim)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _keep(_matrix_norm(x, ord, axes), x.ndim, axes, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


def _abs2(x):
    return ew.mul(x, x) if x.dtype.kind != "c" else ew.add(ew.mul(ew.real(x), ew.real(x)),
                                                           ew.mul(ew.imag(x), ew.imag(x)))


def _keep(result, nd, axes, keepdims):
    if not keepdims:
        return result
    return F.reshape(result, tuple(1 if i in axes else n for i, n in
                                   enumerate(_shape_without(result, nd, axes))))


def _shape_without(result, nd, axes):
    it = iter(F.shape(result))
    return [1 if i in axes else next(it) for i in range(nd)]


def _vector_norm(x, ord, axis, keepdims):
    mag = F.absolute(x) if x.dtype.kind != "c" else ew.sqrt(_abs2(x))
    if ord is None or ord == 2:
        return ew.sqrt(F.sum(_abs2(x), axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return F.max(mag, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return F.min(mag, axis=axis, keepdims=keepdims)
    if ord == 0:
        return F.sum(F.astype(ew.ne(x, 0), x.dtype), axis=axis, keepdims=keepdims)
    if ord == 1:
        return F.sum(mag, axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    total = F.sum(ew.pow(mag, float(ord)), axis=axis, keepdims=keepdims)
    return ew.pow(total, 1.0 / float(ord))


def _matrix_norm(x, ord, axes):
    from ._shapes import moveaxis
    row, col = axes
    if ord in (None, "fro"):
        return ew.sqrt(F.sum(_abs2(x), axis=axes))
    if ord in (1, -1, np.inf, -np.inf):
        summed_axis, kept_axis = (row, col) if ord in (1, -1) else (col, row)
        sums = F.sum(F.absolute(x), axis=summed_axis, keepdims=True)
        pick = F.max if ord in (1, np.inf) else F.min
        return F.squeeze(pick(sums, axis=kept_axis, keepdims=True), axis=axes)
    if ord in (2, -2, "nuc"):
        s = la.svd(moveaxis(x, axes, (-2, -1)), compute_uv=False)[0]
        return {2: F.max, -2: F.min, "nuc": F.sum}[ord](s, axis=-1)
    raise ValueError(f"Invalid norm order {ord!r} for matrices")


def __getattr__(name):
    """The rest of `numpy.linalg`, forwarded unchanged (as `tracejit.numpy` forwards NumPy)."""
    return getattr(np.linalg, name)
