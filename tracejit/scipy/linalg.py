"""`scipy.linalg` solvers as compositions of `tracejit.numpy` functions and the solve primitive.

Triangular and banded systems are solved as the dense systems they describe (exact, not
structure-exploiting); Sylvester equations through their Kronecker form, which suits the small
matrices these are used on.
"""
import numpy as np
import scipy.linalg as sl

from ..errors import UnsupportedError
from ..numpy import _funcs as F
from ..numpy._products import kron
from ..numpy._registry import implements
from ..numpy._shapes import _gather, tril, triu
from ..numpy.linalg import solve
from ..ops import elementwise as ew


@implements(sl.solve_triangular)
def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    a = F.asarray(a)
    tri = tril(a) if lower else triu(a)
    if unit_diagonal:
        eye = np.eye(F.shape(a)[-1], dtype=bool)
        tri = ew.select(eye, 1.0, tri)
    if trans in (1, "T", 2, "C"):
        tri = F.transpose(tri)
    elif trans not in (0, "N"):
        raise ValueError(f"invalid trans {trans!r}")
    return solve(tri, b)


@implements(sl.solve_banded)
def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    """The dense matrix a[i, j] = ab[u + i - j, j] (zero outside the band), then a solve."""
    lower, upper = (int(k) for k in l_and_u)
    ab = F.asarray(ab)
    rows, n = F.shape(ab)
    if rows != lower + upper + 1:
        raise ValueError("invalid values for the number of lower and upper diagonals")
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    band_row = upper + i - j
    inside = (band_row >= 0) & (band_row < rows)
    index = np.where(inside, band_row * n + j, rows * n)      # rows * n: an appended zero
    flat = F.concatenate([F.ravel(ab), np.zeros(1, F.asarray(ab).dtype)], axis=0)
    return solve(_gather(flat, index), b)


@implements(sl.solve_sylvester)
def solve_sylvester(a, b, q):
    """A X + X B = Q as (A kron I + I kron B^T) vec(X) = vec(Q), with row-major vec."""
    a, b, q = F.asarray(a), F.asarray(b), F.asarray(q)
    n, m = F.shape(q)
    if F.ndim(a) != 2 or F.ndim(b) != 2:
        raise UnsupportedError("scipy.linalg.solve_sylvester of stacked matrices")
    system = ew.add(kron(a, np.eye(m)), kron(np.eye(n), F.transpose(b)))
    return F.reshape(solve(system, F.ravel(q)), (n, m))


@implements(sl.sqrtm)
def sqrtm(A, disp=True, blocksize=64):
    """The principal square root; real when SciPy's is real, a data-dependent choice that is
    guarded like a branch."""
    from ..ops import linalg as la
    A = F.asarray(A)
    root = la.sqrtm(A)
    if A.dtype.kind != "c" and bool(F.max(F.absolute(ew.imag(root))) == 0):
        return ew.real(root)
    return root
