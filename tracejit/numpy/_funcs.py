"""NumPy's public functions as compositions of tracejit primitives.

Each function here is registered against the NumPy callable it replaces and follows that
function's signature and semantics (axis normalisation, keepdims, dtype promotion). Keyword
arguments tracejit does not support (`out=`, `where=`...) are refused with a clear message rather
than ignored.
"""
import builtins
import math

import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops import linalg as la
from ..ops import shape as sh
from ..ops.core import (Tracer, as_numpy_scalar, concretize_exact, concretize_int, constant,
                        current_builder, python_type)
from ..ops.reduce import reduce_max, reduce_min, reduce_sum
from ._registry import implements, map_traced


def refuse(fn_name, **unsupported):
    """Refuse keyword arguments tracejit would otherwise silently ignore."""
    for key, value in unsupported.items():
        if value is not None and value is not False:
            raise UnsupportedError(f"numpy.{fn_name}({key}=...) is not supported inside a traced "
                                   f"function", hint="Drop the argument, or compute it outside.")


def asarray(x):
    """A traced value, a Python scalar (kept weak), or a NumPy array."""
    if isinstance(x, (Tracer, bool, int, float, complex, np.ndarray, np.generic)):
        return x
    if isinstance(x, (list, tuple)):
        return array(x)
    return np.asarray(x)


def ndim(x):
    return len(shape(x))


def shape(x):
    """x's shape; a list or tuple holding traced values is read as the array it makes."""
    x = asarray(x) if isinstance(x, (list, tuple)) else x
    return tuple(x.shape) if isinstance(x, Tracer) else np.shape(x)


def normalize_axes(axis, nd):
    """NumPy's axis argument as a sorted tuple of non-negative axes (None: all)."""
    if axis is None:
        return tuple(range(nd))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -nd <= a < nd:
            raise np.exceptions.AxisError(a, nd)
        out.append(a % nd)
    return tuple(sorted(out))


# ---- elementwise ----------------------------------------------------------------------------
def _elementwise(np_fn, prim):
    def fn(*args, out=None, where=None, dtype=None, **kwargs):
        refuse(np_fn.__name__, out=out, where=where)
        if kwargs:
            raise UnsupportedError(f"numpy.{np_fn.__name__}({', '.join(kwargs)}=...) is not supported")
        result = prim(*[asarray(a) for a in args])
        return result if dtype is None else astype(result, dtype)
    fn.__name__ = np_fn.__name__
    return implements(np_fn)(fn)


_ELEMENTWISE = {
    np.add: ew.add, np.subtract: ew.sub, np.multiply: ew.mul, np.true_divide: ew.div,
    np.negative: ew.neg, np.maximum: ew.maximum, np.minimum: ew.minimum,
    np.exp: ew.exp, np.log: ew.log, np.log1p: ew.log1p, np.expm1: ew.expm1, np.sin: ew.sin,
    np.cos: ew.cos, np.tan: ew.tan, np.tanh: ew.tanh, np.sqrt: ew.sqrt, np.absolute: ew.abs,
    np.sign: ew.sign, np.floor: ew.floor, np.ceil: ew.ceil, np.sinh: ew.sinh, np.cosh: ew.cosh,
    np.arcsin: ew.arcsin, np.arccos: ew.arccos, np.arctan: ew.arctan, np.arcsinh: ew.arcsinh,
    np.arccosh: ew.arccosh, np.arctanh: ew.arctanh, np.arctan2: ew.arctan2,
    np.less: ew.lt, np.less_equal: ew.le, np.greater: ew.gt, np.greater_equal: ew.ge,
    np.equal: ew.eq, np.not_equal: ew.ne, np.logical_and: ew.logical_and,
    np.logical_or: ew.logical_or, np.logical_xor: ew.logical_xor, np.logical_not: ew.logical_not,
    np.isnan: ew.isnan, np.isfinite: ew.isfinite, np.log2: ew.log2, np.log10: ew.log10,
    np.exp2: ew.exp2, np.cbrt: ew.cbrt, np.hypot: ew.hypot,
}
for _np_fn, _prim in _ELEMENTWISE.items():
    globals()[_np_fn.__name__] = _elementwise(_np_fn, _prim)


@implements(np.power)
def power(x1, x2, out=None, where=None, dtype=None):
    """NumPy's power. For an exponent broadcast over the base, NumPy's loop takes shortcuts
    (x*x for 2, sqrt for 0.5); sqrt differs from C's pow (the pow primitive, which Python's
    and NumPy scalars' `**` use) at -0.0 and -inf, where this follows sqrt."""
    refuse("power", out=out, where=where)
    base, exponent = asarray(x1), asarray(x2)
    result = ew.pow(base, exponent)
    if result.dtype.kind == "f" and _broadcast_exponent(base, exponent):
        if not isinstance(exponent, Tracer):
            if np.asarray(exponent).reshape(-1)[0] == 0.5:
                result = ew.sqrt(astype(base, result.dtype))
        else:
            signed_edge = ew.logical_or(ew.eq(base, 0), ew.eq(base, -np.inf))
            result = ew.select(ew.logical_and(ew.eq(exponent, 0.5), signed_edge),
                               ew.sqrt(astype(base, result.dtype)), result)
    return result if dtype is None else astype(result, dtype)


def _broadcast_exponent(base, exponent):
    """Whether NumPy's power loop sees `exponent` as one value repeated (stride 0), which is
    decided by the shapes alone; asked of NumPy on arrays of those shapes."""
    if np.ndim(exponent) == 0:
        return True
    if np.size(exponent) != 1:
        return False
    with np.errstate(invalid="ignore"):
        probe = np.power(np.full(np.shape(base), -np.inf), np.full(np.shape(exponent), 0.5))
    return bool(np.isnan(probe).all())


@implements(np.absolute)
def absolute(x, out=None, where=None):
    """|x|; for complex x composed from its parts, since |z| is not holomorphic."""
    refuse("absolute", out=out, where=where)
    x = asarray(x)
    if x.dtype.kind != "c":
        return ew.abs(x)
    re, im = ew.real(x), ew.imag(x)
    return ew.sqrt(ew.add(ew.mul(re, re), ew.mul(im, im)))


@implements(np.square)
def square(x, out=None):
    refuse("square", out=out)
    return ew.mul(x, x)


@implements(np.where)
def where(condition, x=None, y=None):
    if x is None and y is None:
        from ._shapes import nonzero
        return nonzero(condition)
    # np.where gives an array even where all three are scalars (a 0-d one)
    return _new_array(ew.select(asarray(condition), asarray(x), asarray(y)), copy=True)


@implements(np.clip)
def clip(a, a_min=None, a_max=None, out=None, **kwargs):
    refuse("clip", out=out)
    a_min = kwargs.get("min", a_min)
    a_max = kwargs.get("max", a_max)
    if a_min is not None:
        a = ew.maximum(a, asarray(a_min))
    if a_max is not None:
        a = ew.minimum(a, asarray(a_max))
    return a


# ---- reductions -----------------------------------------------------------------------------
def initial_like(initial, result):
    """A reduction's `initial=`, cast to the result's type as NumPy casts it."""
    if isinstance(initial, Tracer):
        return astype(initial, result.dtype)
    return np.asarray(initial, dtype=result.dtype)[()]


def _reducer(np_fn, prim, combine):
    def fn(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        refuse(np_fn.__name__, out=out, where=where)
        a = asarray(a)
        if dtype is not None:
            a = astype(a, dtype)
        result = prim(a, axes=normalize_axes(axis, ndim(a)), keepdims=bool(keepdims))
        if dtype is not None and result.dtype != np.dtype(dtype):
            result = astype(result, dtype)      # a small int sums as int64 unless told otherwise
        return result if initial is None else combine(result, initial_like(initial, result))
    fn.__name__ = np_fn.__name__
    return fn


sum = implements(np.sum)(_reducer(np.sum, reduce_sum, ew.add))
max = implements(np.max, np.amax)(_reducer(np.max, reduce_max, ew.maximum))
min = implements(np.min, np.amin)(_reducer(np.min, reduce_min, ew.minimum))


def _count(a, axis):
    return math.prod(shape(a)[i] for i in normalize_axes(axis, ndim(a)))


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    refuse("mean", out=out, where=where)
    a = asarray(a)
    total = sum(a, axis=axis, dtype=dtype, keepdims=keepdims)
    return ew.div(total, _count(a, axis))


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None,
        correction=None):
    refuse("var", out=out, where=where, mean=mean)
    ddof = ddof if correction is None else correction
    a = asarray(a)
    centred = ew.sub(a, globals()["mean"](a, axis=axis, dtype=dtype, keepdims=True))
    squares = sum(ew.mul(centred, centred), axis=axis, keepdims=keepdims)
    return ew.div(squares, builtins.max(_count(a, axis) - ddof, 0))


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None,
        correction=None):
    return ew.sqrt(var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims,
                       where=where, mean=mean, correction=correction))


# ---- shapes ---------------------------------------------------------------------------------
def _resolve_shape(new_shape, size):
    """The shape NumPy's reshape makes of `new_shape` for `size` elements (-1 resolved), with
    NumPy's own errors: asked of a zero-strided stand-in that holds no memory."""
    if not isinstance(new_shape, (tuple, list)):
        new_shape = (new_shape,)
    stand_in = np.lib.stride_tricks.as_strided(np.zeros(1, np.int8), (size,), (0,))
    return stand_in.reshape(tuple(int(n) for n in new_shape)).shape


@implements(np.reshape)
def reshape(a, shape=None, order="C", **kwargs):
    shape = kwargs.get("newshape", shape)
    if order != "C":
        raise UnsupportedError("reshape(order=...) other than 'C' is not supported")
    a = asarray(a)
    new_shape = _resolve_shape(shape, a.size)
    return a if tuple(a.shape) == new_shape else sh.reshape(a, shape=new_shape)


@implements(np.ravel)
def ravel(a, order="C"):
    return reshape(a, -1, order=order)


@implements(np.transpose)
def transpose(a, axes=None):
    a = asarray(a)
    perm = tuple(reversed(range(a.ndim))) if axes is None else tuple(a_ % a.ndim for a_ in axes)
    return a if perm == tuple(range(a.ndim)) else sh.transpose(a, perm=perm)


@implements(np.expand_dims)
def expand_dims(a, axis):
    a = asarray(a)
    axes = normalize_axes(axis, a.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1))
    dims = iter(a.shape)
    return sh.reshape(a, shape=tuple(1 if i in axes else next(dims)
                                     for i in range(a.ndim + len(axes))))


@implements(np.squeeze)
def squeeze(a, axis=None):
    a = asarray(a)
    axes = (tuple(i for i, n in enumerate(a.shape) if n == 1) if axis is None
            else normalize_axes(axis, a.ndim))
    return reshape(a, tuple(n for i, n in enumerate(a.shape) if i not in axes))


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    array = asarray(array)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    return array if tuple(array.shape) == shape else sh.broadcast_to(array, shape=shape)


def _as_tracer_list(arrays):
    arrays = [asarray(a) for a in arrays]
    like = next(a for a in arrays if isinstance(a, Tracer))
    return [a if isinstance(a, Tracer) else constant(like, np.asarray(a)) for a in arrays]


@implements(np.concatenate)
def concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    refuse("concatenate", out=out)
    arrays = _as_tracer_list(arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    result = sh.concatenate(*arrays, axis=normalize_axes(axis, arrays[0].ndim)[0])
    return result if dtype is None else astype(result, dtype)


@implements(np.stack)
def stack(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    refuse("stack", out=out)
    arrays = _as_tracer_list(arrays)
    axis = normalize_axes(axis, arrays[0].ndim + 1)[0]
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis, dtype=dtype)


@implements(np.hstack)
def hstack(tup, dtype=None, casting="same_kind"):
    arrays = [atleast_1d(a) for a in _as_tracer_list(tup)]
    return concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1, dtype=dtype)


@implements(np.vstack)
def vstack(tup, dtype=None, casting="same_kind"):
    return concatenate([atleast_2d(a) for a in _as_tracer_list(tup)], axis=0, dtype=dtype)


@implements(np.atleast_1d)
def atleast_1d(a):
    a = asarray(a)
    return reshape(a, (1,)) if ndim(a) == 0 else a


@implements(np.atleast_2d)
def atleast_2d(a):
    a = asarray(a)
    return reshape(a, (1,) * (2 - ndim(a)) + tuple(shape(a))) if ndim(a) < 2 else a


@implements(np.roll)
def roll(a, shift, axis=None):
    a = asarray(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), a.shape)
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    for s, ax in zip(shifts, axes):
        ax = normalize_axes(ax, a.ndim)[0]
        n = a.shape[ax]
        if n == 0 or int(s) % n == 0:
            continue
        k = int(s) % n
        a = concatenate([_take_range(a, ax, n - k, n), _take_range(a, ax, 0, n - k)], axis=ax)
    return a


def _take_range(a, axis, start, stop):
    spec = tuple((start if i == axis else 0, stop - start if i == axis else n, 1)
                 for i, n in enumerate(a.shape))
    return sh.static_slice(a, spec=spec)


def astype(a, dtype, copy=True):
    dtype = np.dtype(dtype)
    return a if a.dtype == dtype else sh.convert(a, dtype=dtype)


# ---- creation: results are traced constants so in-place writes to them are recorded -----------
def _constant(value):
    builder = current_builder()
    if builder is None:
        return value
    if getattr(value, "dtype", None) == object:
        # its items would be Python objects held from the trace on (tracers among them)
        raise UnsupportedError(
            "NumPy would make an object array here (of "
            f"{sorted({type(v).__name__ for v in np.asarray(value).ravel()})}); tracejit traces "
            "numeric arrays only", builder.loc,
            "Give the class __len__ and __getitem__ to be read as a sequence, or build the "
            "array from its numbers.")
    from ..ir import Lit
    return Tracer(builder, Lit(value), value)


def _like(a, fill, dtype, shape_):
    a = asarray(a)
    dtype = np.dtype(dtype) if dtype is not None else a.dtype
    shape_ = tuple(a.shape) if shape_ is None else tuple(np.atleast_1d(shape_))
    value = np.full((), fill, dtype)
    return sh.broadcast_to(_constant(value), shape=shape_) if shape_ else _constant(value)


@implements(np.zeros_like, always=True)
def zeros_like(a, dtype=None, order="K", subok=True, shape=None):
    return _like(a, 0, dtype, shape)


@implements(np.empty_like, always=True)
def empty_like(a, dtype=None, order="K", subok=True, shape=None):
    return _like(a, 0, dtype, shape)


@implements(np.ones_like, always=True)
def ones_like(a, dtype=None, order="K", subok=True, shape=None):
    return _like(a, 1, dtype, shape)


@implements(np.full_like, always=True)
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None):
    if isinstance(fill_value, Tracer):
        return ew.add(zeros_like(a, dtype, shape=shape), fill_value)
    return _like(a, fill_value, dtype, shape)


def _static_value(t):
    """The Python object a traced scalar stands for, guarded: an int by its value, anything
    else exactly (as text is)."""
    return concretize_int(t) if t.dtype.kind in "iub" and t.ndim == 0 else concretize_exact(t)


def static_values(tree):
    return map_traced(tree, _static_value)


def _creator(np_fn):
    """A NumPy function making a new array from Python values (shapes, bounds, counts): run
    natively on them, a traced value among them made the Python value it stands for, guarded."""
    def fn(*args, **kwargs):
        args, kwargs = static_values((args, kwargs))
        return _constant(np_fn(*args, **kwargs))
    fn.__name__ = np_fn.__name__
    return implements(np_fn, always=True)(fn)


for _np_fn in (np.zeros, np.ones, np.empty, np.eye, np.identity, np.arange, np.linspace):
    globals()[_np_fn.__name__] = _creator(_np_fn)


@implements(np.full, always=True)
def full(shape, fill_value, dtype=None, order="C"):
    if isinstance(fill_value, Tracer):
        return ew.add(_constant(np.zeros(shape, dtype or fill_value.dtype)), fill_value)
    return _constant(np.full(shape, fill_value, dtype))


@implements(np.asarray, np.asanyarray, always=True)
def asarray_(obj, dtype=None, order=None, **kwargs):
    """np.asarray: an array returned as it is (`np.asarray(x) is x`), a scalar made an array."""
    return array(obj, dtype, copy=False)


def _new_array(t, copy):
    """`t` as an array object: itself when it is one and no copy is asked for, else a new
    one (a new tracer of the same SSA value: values are immutable, writes rebind)."""
    if t.aval.weak:                      # a Python scalar becomes a (strong) float64 array
        t = sh.convert(t, dtype=t.dtype)
    elif python_type(t) is np.ndarray and not copy:
        return t
    val = t.val if t.val is None or isinstance(t.val, np.ndarray) else np.asarray(t.val)
    return Tracer(t.builder, t.atom, val)


@implements(np.array, always=True)
def array(obj, dtype=None, copy=True, order="K", **kwargs):
    """Arrays built from Python lists of traced scalars/arrays become a stack of them."""
    if isinstance(obj, Tracer):
        result = _new_array(obj, copy)
    elif isinstance(obj, (list, tuple)) and _contains_tracer(obj):
        result = stack(_same_shapes([o if isinstance(o, Tracer) else array(o) for o in obj]))
    else:
        return _constant(np.array(obj, dtype=dtype))
    if dtype is not None:
        result = astype(result, dtype)
    return result


def _same_shapes(parts):
    """The parts of a nested sequence, which must be equal in shape as NumPy requires."""
    shapes = sorted({tuple(shape(p)) for p in parts})
    if len(shapes) > 1:
        loc = getattr(current_builder(), "loc", None)
        raise ValueError(f"{loc}: " * (loc is not None) + "setting an array element with a "
                         f"sequence: the nested sequence is ragged (parts of shapes {shapes}); "
                         "pad the parts to one shape, or keep them as a list of arrays")
    return parts


def _contains_tracer(obj):
    if isinstance(obj, Tracer):
        return True
    return isinstance(obj, (list, tuple)) and builtins.any(_contains_tracer(o) for o in obj)


# ---- products -------------------------------------------------------------------------------
@implements(np.matmul)
def matmul(a, b, out=None, **kwargs):
    refuse("matmul", out=out)
    a, b = asarray(a), asarray(b)
    if ndim(a) == 0 or ndim(b) == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    a2 = reshape(a, (1,) + tuple(shape(a))) if ndim(a) == 1 else a
    b2 = reshape(b, tuple(shape(b)) + (1,)) if ndim(b) == 1 else b
    if not isinstance(a2, Tracer) and not isinstance(b2, Tracer):
        return np.matmul(a, b)
    out_ = la.matmul(a2, b2)
    dropped = {out_.ndim - 2} if ndim(a) == 1 else set()   # the axes 1-D operands were given
    dropped |= {out_.ndim - 1} if ndim(b) == 1 else set()
    # two vectors give a NumPy scalar, as NumPy's matmul and dot do
    return as_numpy_scalar(reshape(out_, tuple(n for i, n in enumerate(out_.shape)
                                               if i not in dropped)))


@implements(np.dot)
def dot(a, b, out=None):
    refuse("dot", out=out)
    a, b = asarray(a), asarray(b)
    if ndim(a) == 0 or ndim(b) == 0:
        return ew.mul(a, b)
    if ndim(b) <= 2:
        return matmul(a, b)
    from ._products import dot_nd
    return dot_nd(a, b)


@implements(np.outer)
def outer(a, b, out=None):
    refuse("outer", out=out)
    return ew.mul(reshape(ravel(a), (-1, 1)), reshape(ravel(b), (1, -1)))


@implements(np.inner)
def inner(a, b):
    if ndim(a) > 1 or ndim(b) > 1:
        from ._products import inner_nd
        return inner_nd(a, b)
    return sum(ew.mul(a, b), axis=-1) if ndim(a) and ndim(b) else ew.mul(a, b)


@implements(np.copy)
def copy(a, order="K", subok=False):
    a = asarray(a)
    return a if not isinstance(a, Tracer) or a.is_constant else sh.reshape(a, shape=a.shape)


@implements(np.astype)
def astype_(x, dtype, /, *, copy=True, device=None):
    return astype(asarray(x), dtype)


@implements(np.linspace, always=True)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """NumPy's formula (start + k * step, the last point set to stop) on traced endpoints."""
    if axis != 0 or not (isinstance(start, Tracer) or isinstance(stop, Tracer)):
        return _constant(np.linspace(start, stop, num, endpoint, retstep, dtype, axis))
    div = (num - 1) if endpoint else num
    span = ew.sub(asarray(stop), asarray(start))
    result = np.result_type(*[np.zeros((), v.dtype) if isinstance(v, Tracer) else v
                              for v in (start, stop)], float(num))
    k = np.arange(num, dtype=result).reshape((-1,) + (1,) * ndim(span))
    step = ew.div(span, div) if div > 0 else span
    out = ew.add(ew.mul(k, step), asarray(start))
    if endpoint and num > 1:
        out = concatenate([_take_range(out, 0, 0, num - 1),
                           expand_dims(broadcast_to(asarray(stop), out.shape[1:]), 0)], axis=0)
    out = out if dtype is None else astype(out, dtype)
    return (out, step) if retstep else out


@implements(np.shape)
def shape_(a):
    return shape(a)


@implements(np.ndim)
def ndim_(a):
    return ndim(a)


@implements(np.size)
def size(a, axis=None):
    return math.prod(shape(a)) if axis is None else shape(a)[axis]


@implements(np.iscomplexobj)
def iscomplexobj(x):
    return np.dtype(x.dtype).kind == "c" if isinstance(x, Tracer) else np.iscomplexobj(x)


@implements(np.isrealobj)
def isrealobj(x):
    return not iscomplexobj(x)
