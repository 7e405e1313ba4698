"""Discrete Fourier transforms over static axes: one primitive, four kinds.

`fft`/`ifft` are complex-linear with symmetric matrices, so each is its own transpose. `rfft`
keeps the first half of a real input's spectrum; its transpose zero-pads and runs a full `fft`.
`irfft` is only real-linear (it reads a Hermitian half-spectrum); its transpose is an `ifft`
weighted by how often each half-spectrum entry counts in the full spectrum. Complex cotangents
follow the convention of `elementwise.py` (dz -> Re(ct * dz)). Padding and cropping (NumPy's
`n=`/`s=`) are done by `tracejit.numpy.fft` with shape primitives, so the transforms here always
use their input's length, except `irfft`'s output length `n`.
"""
from functools import lru_cache

import numpy as np

from ..ir import Aval
from .core import Primitive, constant
from .elementwise import mul
from .shape import concatenate, static_slice, zeros_like

_NUMPY = {"fft": np.fft.fftn, "ifft": np.fft.ifftn, "rfft": np.fft.rfftn, "irfft": np.fft.irfftn}


def _fft_impl(x, *, kind, axes, norm, n=None):
    if kind == "irfft":
        s = [x.shape[a] for a in axes[:-1]] + [n]
        return np.fft.irfftn(x, s=s, axes=axes, norm=norm)
    return _NUMPY[kind](x, axes=axes, norm=norm)


@lru_cache(maxsize=None)
def _out_dtype(kind, dtype):
    return _NUMPY[kind](np.zeros((2,), dtype)).dtype


def _fft_aval(x, *, kind, axes, norm, n=None):
    shape = list(x.shape)
    if kind == "rfft":
        shape[axes[-1]] = shape[axes[-1]] // 2 + 1
    elif kind == "irfft":
        shape[axes[-1]] = n
    return [Aval(tuple(shape), _out_dtype(kind, x.dtype))]


def resize_axis(x, axis, size):
    """Crop or zero-pad `x` along `axis` to `size` (NumPy's n=/s= arguments)."""
    have = x.shape[axis]
    if have == size:
        return x
    if have > size:
        spec = tuple((0, size if a == axis else m, 1) for a, m in enumerate(x.shape))
        return static_slice(x, spec=spec)
    pad_shape = tuple(size - have if a == axis else m for a, m in enumerate(x.shape))
    return concatenate(x, zeros_like(x, pad_shape), axis=axis)


def _irfft_weights(like, n, axis, ndim):
    """1 for the zero-frequency (and, for even n, the Nyquist) entry, 2 for the others."""
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return constant(like, w.reshape([-1 if a == axis else 1 for a in range(ndim)]))


def _fft_vjp(cts, outs, ins, *, kind, axes, norm, n=None):
    g, x, last = cts[0], ins[0], axes[-1]
    if kind in ("fft", "ifft"):
        return [fft(g, kind=kind, axes=axes, norm=norm)]
    if kind == "rfft":
        return [fft(resize_axis(g, last, x.shape[last]), kind="fft", axes=axes, norm=norm)]
    back = resize_axis(fft(g, kind="ifft", axes=axes, norm=norm), last, n // 2 + 1)
    return [resize_axis(mul(back, _irfft_weights(g, n, last, g.ndim)), last, x.shape[last])]


fft = Primitive(
    "fft", _fft_impl, _fft_aval, vjp=_fft_vjp,
    jvp=lambda ts, outs, ins, **params: [fft(ts[0], **params)])

# complex results: the numba backend handles real dtypes only, so traces with an fft run on the
# numpy executor (NumPy's pocketfft)
fft.numba_note = "complex results (numba kernels handle real dtypes only)"
