"""`numpy.fft` in terms of the `fft` primitive; n=/s= padding and cropping are shape ops."""
import numpy as np

from ..ops.fft import fft as fft_p
from ..ops.fft import resize_axis
from . import _funcs as F
from ._registry import implements


def _axes_and_sizes(a, s, axes, default_axes):
    if axes is None:
        axes = default_axes if s is None else tuple(range(-len(s), 0))
    axes = tuple(int(ax) % a.ndim for ax in axes)
    sizes = tuple(a.shape[ax] for ax in axes) if s is None else tuple(s)
    return axes, sizes


def _transform(kind, a, s, axes, norm, default_axes):
    a = F.asarray(a)
    if a.dtype.kind not in "fc":
        a = F.astype(a, np.float64)
    axes, sizes = _axes_and_sizes(a, s, axes, default_axes)
    n = None
    if kind == "irfft":
        n = sizes[-1] if s is not None else 2 * (a.shape[axes[-1]] - 1)
        sizes = sizes[:-1] + (n // 2 + 1,)
    elif kind == "rfft" and a.dtype.kind == "c":
        raise TypeError("rfft of complex input")
    for ax, size in zip(axes, sizes):
        a = resize_axis(a, ax, size)
    return fft_p(a, kind=kind, axes=axes, norm=norm, n=n)


def _one_axis(kind):
    def fn(a, n=None, axis=-1, norm=None, out=None):
        F.refuse(kind, out=out)
        return _transform(kind, a, None if n is None else (n,), (axis,), norm, None)
    return fn


def _two_axes(kind):
    def fn(a, s=None, axes=(-2, -1), norm=None, out=None):
        F.refuse(kind + "2", out=out)
        return _transform(kind, a, s, axes, norm, None)
    return fn


def _all_axes(kind):
    def fn(a, s=None, axes=None, norm=None, out=None):
        F.refuse(kind + "n", out=out)
        return _transform(kind, a, s, axes, norm, tuple(range(F.ndim(a))))
    return fn


for _kind in ("fft", "ifft", "rfft", "irfft"):
    for _suffix, _factory in (("", _one_axis), ("2", _two_axes), ("n", _all_axes)):
        _fn = _factory(_kind)
        _fn.__name__ = _kind + _suffix
        globals()[_fn.__name__] = implements(getattr(np.fft, _fn.__name__))(_fn)


@implements(np.fft.fftshift)
def fftshift(x, axes=None):
    x = F.asarray(x)
    axes = tuple(range(x.ndim)) if axes is None else tuple(np.atleast_1d(axes))
    return F.roll(x, [x.shape[ax] // 2 for ax in axes], axes)


@implements(np.fft.ifftshift)
def ifftshift(x, axes=None):
    x = F.asarray(x)
    axes = tuple(range(x.ndim)) if axes is None else tuple(np.atleast_1d(axes))
    return F.roll(x, [-(x.shape[ax] // 2) for ax in axes], axes)
