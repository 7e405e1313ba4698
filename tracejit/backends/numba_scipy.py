"""SciPy's special functions for numba kernels: calls into SciPy's own compiled code.

`scipy.special.cython_special` exports each function's C implementation through its
`__pyx_capi__`; their addresses are registered with LLVM under names of our own
(`llvmlite.binding.add_symbol`) and called as `numba.types.ExternalFunction`s. A call by symbol
name, unlike a ctypes pointer baked into the machine code, lets numba cache the kernel on disk:
a process loading it imports this module (the kernel's header does), which registers the
symbols again. Kernels import this module as `sp`; the code generator adds the import only to
kernels that use it, since it loads cython_special (about 0.1 s).

Each wrapper computes in float64 as the SciPy ufunc's "dd->d" loop does. `polygamma` is Python
code in SciPy (psi, or a Hurwitz zeta times a factorial); cython_special has no two-argument
zeta, so `zeta` below implements the Hurwitz zeta by the same algorithm SciPy's (Cephes)
uses — Euler–Maclaurin summation, the tail's coefficients being (2k)!/B_2k — so the two agree.
"""
import math

import numpy as np
from llvmlite import binding
from numba import njit, types
from numba.extending import get_cython_function_address

_MODULE = "scipy.special.cython_special"
_JIT = dict(error_model="numpy", inline="always")


def _external(capi_name, n_args):
    """The C function `capi_name` of cython_special taking `n_args` doubles (and Cython's
    skip-dispatch flag), as an external function numba can call."""
    symbol = f"tracejit_scipy_{capi_name}"
    binding.add_symbol(symbol, get_cython_function_address(_MODULE, capi_name))
    return types.ExternalFunction(symbol, types.float64(*[types.float64] * n_args, types.intc))


_erf = _external("__pyx_fuse_1erf", 1)
_erfc = _external("__pyx_fuse_1erfc", 1)
_gammaln = _external("gammaln", 1)
_erfinv = _external("__pyx_fuse_0erfinv", 1)
_erfcinv = _external("erfcinv", 1)
_i0 = _external("i0", 1)
_i1 = _external("i1", 1)
_j0 = _external("j0", 1)
_j1 = _external("j1", 1)
_y0 = _external("y0", 1)
_y1 = _external("y1", 1)
_psi = _external("__pyx_fuse_1psi", 1)
_iv = _external("__pyx_fuse_1iv", 2)
_ive = _external("__pyx_fuse_1ive", 2)
_jv = _external("__pyx_fuse_1jv", 2)
_yv = _external("__pyx_fuse_1yv", 2)
_yn = _external("__pyx_fuse_0yn", 2)
_gammainc = _external("gammainc", 2)
_gammaincc = _external("gammaincc", 2)
_betainc = _external("__pyx_fuse_0betainc", 3)
_stdtr = _external("__pyx_fuse_0stdtr", 2)


@njit(**_JIT)
def erf(x):
    return _erf(x, 0)


@njit(**_JIT)
def erfc(x):
    return _erfc(x, 0)


@njit(**_JIT)
def gammaln(x):
    return _gammaln(x, 0)


@njit(**_JIT)
def erfinv(x):
    return _erfinv(x, 0)


@njit(**_JIT)
def erfcinv(x):
    return _erfcinv(x, 0)


@njit(**_JIT)
def i0(x):
    return _i0(x, 0)


@njit(**_JIT)
def i1(x):
    return _i1(x, 0)


@njit(**_JIT)
def j0(x):
    return _j0(x, 0)


@njit(**_JIT)
def j1(x):
    return _j1(x, 0)


@njit(**_JIT)
def y0(x):
    return _y0(x, 0)


@njit(**_JIT)
def y1(x):
    return _y1(x, 0)


@njit(**_JIT)
def iv(v, x):
    return _iv(v, x, 0)


@njit(**_JIT)
def ive(v, x):
    return _ive(v, x, 0)


@njit(**_JIT)
def jv(v, x):
    return _jv(v, x, 0)


@njit(**_JIT)
def yv(v, x):
    return _yv(v, x, 0)


@njit(**_JIT)
def yn(n, x):
    return _yn(n, x, 0)


@njit(**_JIT)
def gammainc(a, x):
    return _gammainc(a, x, 0)


@njit(**_JIT)
def gammaincc(a, x):
    return _gammaincc(a, x, 0)


@njit(**_JIT)
def betainc(a, b, x):
    return _betainc(a, b, x, 0)


@njit(**_JIT)
def stdtr(df, t):
    return _stdtr(df, t, 0)


# ---- polygamma(n, x) = psi(x) if n == 0 else (-1)**(n+1) * n! * zeta(n+1, x), as SciPy computes it
_MACHEP = 1.11022302462515654042e-16
_ZETA_A = np.array([12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9,
                    7.47242496e10, -2.950130727918164224e12, 1.1646782814350067249e14,
                    -4.5979787224074726105e15, 1.8152105401943546773e17,
                    -7.1661652561756670113e18])


@njit(error_model="numpy")
def zeta(x, q):
    """Hurwitz zeta(x, q) = sum over k >= 0 of (k + q)**-x: at least 9 terms summed directly (until
    k + q > 9), the rest by Euler–Maclaurin."""
    if x == 1.0:
        return np.inf
    if x < 1.0:
        return np.nan
    if q <= 0.0:
        if q == np.floor(q):
            return np.inf
        if x != np.floor(x):
            return np.nan
    if q > 1e8:
        return (1.0 / (x - 1.0) + 1.0 / (2.0 * q)) * q ** (1.0 - x)
    s = q ** -x
    a = q
    i = 0
    b = 0.0
    while i < 9 or a <= 9.0:
        i += 1
        a += 1.0
        b = a ** -x
        s += b
        if abs(b / s) < _MACHEP:
            return s
    w = a
    s += b * w / (x - 1.0)
    s -= 0.5 * b
    a = 1.0
    k = 0.0
    for i in range(12):
        a *= x + k
        b /= w
        t = a * b / _ZETA_A[i]
        s = s + t
        if abs(t / s) < _MACHEP:
            return s
        k += 1.0
        a *= x + k
        b /= w
        k += 1.0
    return s


@njit(**_JIT)
def polygamma(n, x):
    if n == 0.0:
        return _psi(x, 0)
    return (-1.0) ** (n + 1.0) * math.gamma(n + 1.0) * zeta(n + 1.0, x)
