"""Which NumPy operations give views of a traced array and which give copies, as NumPy decides.

A view is made by `alias.make_view` from a `ViewStep` of one of three kinds: a basic index (ints,
slices, None, Ellipsis: read as a strided slice, written back as a slice update), a reshape, or
an axis permutation; read-only views (broadcast_to, diagonal) have no write. Reshape and ravel
give a view only when NumPy would for the source's strides, which NumPy itself is asked on the
storage's layout. Copies (copy, np.array, flatten, astype, fancy indexing, arithmetic) are new
arrays that share nothing.

These are the public versions (ndarray methods, and the NumPy functions registered here after
`_funcs` and `_shapes`, replacing the registrations there): the decompositions in those modules
stay in internal use, where a result nobody else can see needs no view.
"""
import operator

import numpy as np

from ..errors import UnsupportedError
from ..ir import Lit
from ..ops import shape as sh
from ..ops.alias import Storage, ViewStep, is_scalar, make_view, would_view
from ..ops.core import Tracer, concretize_index, python_type
from . import _elementwise as E
from . import _funcs as F
from . import _indexing as I
from . import _shapes as S
from ._registry import implements


# ---- the kinds of view step ---------------------------------------------------------------------
class IndexStep(ViewStep):
    """A basic index (static ints, slices, None, Ellipsis): a strided slice, a slice update."""
    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index

    def read(self, x):
        return I.getitem(x, self.index)

    def write(self, x, new):
        return I.setitem(x, self.index, new)

    def numpy(self, a):
        return a[self.index]


class ReshapeStep(ViewStep):
    __slots__ = ("in_shape", "out_shape")

    def __init__(self, in_shape, out_shape):
        self.in_shape, self.out_shape = in_shape, out_shape

    def read(self, x):
        return sh.reshape(x, shape=self.out_shape)

    def write(self, x, new):
        return sh.reshape(new, shape=self.in_shape)

    def numpy(self, a):
        return a.reshape(self.out_shape)


class TransposeStep(ViewStep):
    __slots__ = ("perm",)

    def __init__(self, perm):
        self.perm = perm

    def read(self, x):
        return sh.transpose(x, perm=self.perm)

    def write(self, x, new):
        return sh.transpose(new, perm=tuple(int(i) for i in np.argsort(self.perm)))

    def numpy(self, a):
        return a.transpose(self.perm)


class FunctionStep(ViewStep):
    """Any other view: read by a decomposition, written by `write` (None: read-only)."""
    __slots__ = ("read", "write", "numpy")

    def __init__(self, read, write, numpy):
        self.read, self.write, self.numpy = read, write, numpy


def _refuse_write(what):
    def write(x, new):
        raise UnsupportedError(f"writing through {what}", hint="Write into the array it views.")
    return write


# ---- indexing ---------------------------------------------------------------------------------
def _static_bound(b):
    return concretize_index(b) if isinstance(b, Tracer) else (None if b is None else operator.index(b))


def _plain_bounds(s):
    return all(b is None or type(b) is int for b in (s.start, s.stop, s.step))


def _basic_index(index):
    """The index as static Python entries when it is a basic one (ints, slices, None, Ellipsis),
    else None. Traced slice bounds are guarded here, once."""
    entries = index if isinstance(index, tuple) else (index,)
    if all(type(e) is int or e is None or e is Ellipsis or type(e) is slice and
           _plain_bounds(e) for e in entries):
        return entries                           # already static: the common case, cheap
    out = []
    for e in entries:
        if e is None or e is Ellipsis:
            out.append(e)
        elif isinstance(e, slice):
            out.append(slice(*(_static_bound(b) for b in (e.start, e.stop, e.step))))
        elif I._static_int(e):
            out.append(int(e.val) if isinstance(e, Tracer) else int(e))
        else:
            return None
    return tuple(out)


def getitem(x, index):
    """`x[index]`: a view for basic indices (a scalar, which is a copy, when every axis gets an
    int), a new array for advanced ones."""
    if type(index) is int and x.ndim == 1:
        return I.getitem(x, index)              # the common scalar read, kept cheap
    basic = _basic_index(index)
    if basic is None:
        return _dynamic_view(x, index)
    if len(basic) == x.ndim and all(isinstance(e, int) for e in basic):
        return I.getitem(x, basic)
    return make_view(x, IndexStep(basic))


def _dynamic_view(x, index):
    """Advanced indices copy; a traced integer (NumPy's basic index at a data-dependent place)
    gives a view that can be read, but written only in the array it views."""
    entries = index if isinstance(index, tuple) else (index,)
    result = I.getitem(x, index)
    dynamic = all(not I._is_array_index(e) or (isinstance(e, Tracer) and e.ndim == 0 and
                                                e.dtype.kind in "iu") for e in entries)
    # `is`, not `in`: `in` would compare a traced index with Ellipsis (a guard on the data)
    if not dynamic or result.ndim == 0 and not any(e is Ellipsis for e in entries):
        return result
    concrete = tuple(int(e.val) if isinstance(e, Tracer) else e for e in entries)
    step = FunctionStep(lambda y: I.getitem(y, index),
                    _refuse_write("a view taken at a data-dependent integer index"),
                    lambda a: a[concrete])
    return make_view(x, step)


def iterate(x):
    if x.ndim == 0:
        raise TypeError("iteration over a 0-d array")
    return (getitem(x, i) for i in range(x.shape[0]))


# ---- reshapes -----------------------------------------------------------------------------------
def reshaped(a, new_shape, numpy_op=None):
    """`a` in `new_shape`: a view when NumPy's `numpy_op` (default: reshape) gives one for a's
    strides, else a new array."""
    new_shape = tuple(new_shape)
    if not would_view(a, numpy_op or (lambda s: s.reshape(new_shape))):
        return sh.reshape(a, shape=new_shape)     # a new array, even in the same shape
    if tuple(a.shape) == new_shape:
        return a
    return make_view(a, ReshapeStep(tuple(a.shape), new_shape))


@implements(np.reshape)
def reshape(a, shape=None, order="C", **kwargs):
    shape = kwargs.get("newshape", shape)
    if order != "C":
        raise UnsupportedError("reshape(order=...) other than 'C' is not supported")
    a = F.asarray(a)
    return reshaped(a, F._resolve_shape(shape, a.size))


@implements(np.ravel)
def ravel(a, order="C"):
    """NumPy's ravel views only a C-contiguous array (reshape(-1) views more: `y[:, ::2]`)."""
    if order != "C":
        raise UnsupportedError("ravel(order=...) other than 'C' is not supported")
    a = F.asarray(a)
    return reshaped(a, (a.size,), lambda s: s.ravel())


@implements(np.squeeze)
def squeeze(a, axis=None):
    a = F.asarray(a)
    return reshaped(a, np.squeeze(np.empty(a.shape, np.bool_), axis).shape)


@implements(np.expand_dims)
def expand_dims(a, axis):
    a = F.asarray(a)
    return reshaped(a, np.expand_dims(np.empty(a.shape, np.bool_), axis).shape)


def _atleast(nd_fn):
    def atleast(*arys):
        out = [reshaped(a, nd_fn(np.empty(a.shape, np.bool_)).shape)
               for a in map(F.asarray, arys)]
        return out[0] if len(out) == 1 else tuple(out)
    return atleast


atleast_1d = implements(np.atleast_1d)(_atleast(np.atleast_1d))
atleast_2d = implements(np.atleast_2d)(_atleast(np.atleast_2d))
atleast_3d = implements(np.atleast_3d)(_atleast(np.atleast_3d))


# ---- axis permutations and flips ---------------------------------------------------------------
def permuted(a, perm):
    perm = tuple(int(p) for p in perm)
    return a if perm == tuple(range(a.ndim)) else make_view(a, TransposeStep(perm))


@implements(np.transpose, np.permute_dims)
def transpose(a, axes=None):
    a = F.asarray(a)
    if axes is None:
        return permuted(a, reversed(range(a.ndim)))
    return permuted(a, (ax % a.ndim for ax in axes))


@implements(np.swapaxes)
def swapaxes(a, axis1, axis2):
    a = F.asarray(a)
    return permuted(a, S.swapaxes_perm(a.ndim, axis1, axis2))


@implements(np.moveaxis)
def moveaxis(a, source, destination):
    a = F.asarray(a)
    return permuted(a, S.moveaxis_perm(a.ndim, source, destination))


@implements(np.rollaxis)
def rollaxis(a, axis, start=0):
    a = F.asarray(a)
    return permuted(a, S.rollaxis_perm(a.ndim, axis, start))


@implements(np.flip)
def flip(m, axis=None):
    m = F.asarray(m)
    axes = F.normalize_axes(axis, m.ndim)
    if not axes:
        return m
    return getitem(m, tuple(slice(None, None, -1) if d in axes else slice(None)
                            for d in range(m.ndim)))


implements(np.flipud)(lambda m: flip(m, 0))
implements(np.fliplr)(lambda m: flip(m, 1))


@implements(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    m = F.asarray(m)
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    perm = S.swapaxes_perm(m.ndim, axes[0], axes[1])
    return permuted(flip(m, axes[1]), perm) if k == 1 else flip(permuted(m, perm), axes[1])


# ---- read-only views --------------------------------------------------------------------------
def _readonly_view(a, read, numpy):
    return make_view(a, FunctionStep(read, None, numpy), readonly=True)


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    array = F.asarray(array)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    return _readonly_view(array, lambda x: F.broadcast_to(x, shape),
                          lambda a: np.broadcast_to(a, shape))


@implements(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    a = F.asarray(a)
    return _readonly_view(a, lambda x: S.diagonal(x, offset, axis1, axis2),
                          lambda s: np.diagonal(s, offset, axis1, axis2))


# ---- real and imaginary parts -------------------------------------------------------------------
@implements(np.real)
def real(val):
    val = F.asarray(val)
    if val.dtype.kind != "c":
        return val                      # NumPy: x.real is x for a real array
    return make_view(val, FunctionStep(E.real, _refuse_write("the real part of a complex array"),
                                   lambda a: a))


@implements(np.imag)
def imag(val):
    """For a real array, NumPy gives a new read-only array of zeros."""
    val = F.asarray(val)
    if val.dtype.kind == "c":
        return make_view(val, FunctionStep(E.imag, _refuse_write("the imaginary part of a complex "
                                                             "array"), lambda a: a))
    zeros = copy_array(F.zeros_like(val))
    return make_view(zeros, FunctionStep(lambda x: x, None, lambda a: a), readonly=True)


# ---- copies -------------------------------------------------------------------------------------
@implements(np.copy)
def copy(a, order="K", subok=False):
    return copy_array(a, order)


def copy_array(a, order="K", method=False):
    """A new array with a's values, laid out in `order` as NumPy's copy would be (the copy and
    astype methods of a NumPy scalar give a scalar)."""
    a = F.asarray(a)
    if not isinstance(a, Tracer):
        return F.copy(a, order)
    if a.is_constant:
        value = np.array(a.val, order=order)
        new = Tracer(a.builder, Lit(value), value)
    else:
        # a new var computed into a new buffer (convert copies in both executors; a reshape
        # would hand the caller a view of the argument when the copy is returned)
        new = sh.convert(a, dtype=a.dtype, weak=a.aval.weak)
    if not (method and is_scalar(a)):
        Storage(new, order)
    return new


def flatten(a, order="C"):
    return reshaped(copy_array(a, order), (a.size,))


@implements(np.astype)
def astype(x, dtype, /, *, copy=True, device=None):
    return astype_method(F.asarray(x), dtype, copy=copy, method=False)


def astype_method(a, dtype, order="K", casting="unsafe", subok=True, copy=True, method=True):
    if np.dtype(dtype) != a.dtype:
        return F.astype(a, dtype)
    return copy_array(a, order, method) if copy else a


@implements(np.asarray, np.asanyarray, always=True)
def asarray(a, dtype=None, order=None, **kwargs):
    if not isinstance(a, Tracer):
        return F.array(a, dtype=dtype)
    if python_type(a) is not np.ndarray:
        return array(a, dtype)
    return a if dtype is None else astype_method(a, dtype, copy=False, method=False)


@implements(np.array, always=True)
def array(obj, dtype=None, copy=True, order="K", **kwargs):
    if not isinstance(obj, Tracer):
        return F.array(obj, dtype=dtype)
    if python_type(obj) is not np.ndarray:
        # a NumPy or Python scalar: NumPy makes a new, writable 0-d array of it
        new = F.array(obj, dtype=dtype)
        Storage(new)
        return new
    return astype_method(obj, obj.dtype if dtype is None else dtype, order, copy=bool(copy),
                         method=False)


def view(a, dtype=None, type=None):
    if dtype is not None and np.dtype(dtype) != a.dtype or type is not None:
        raise UnsupportedError("ndarray.view(dtype) reinterpreting the bytes of a traced array")
    return a
