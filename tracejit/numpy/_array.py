"""ndarray behaviour for traced values: operators, methods and attributes, defined once here.

Operators follow NumPy exactly (they are the same functions as `numpy.add` etc.). In-place
operators, item assignment and NumPy's writing functions (copyto, put, fill_diagonal) are made
functional by `assign`, which writes through the alias model (`ops/alias.py`): every view of the
same storage sees the write, as in NumPy.
"""
import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops import shape as sh
from ..ops import alias
from ..ops.core import Tracer, concretize_int
from . import _elementwise as E
from . import _funcs as F
from . import _reductions as R
from . import _shapes as S
from . import _views as V
from ._indexing import getitem, setitem
from ._registry import IMPLEMENTATIONS, implements

def _is_python_number(x):
    return type(x) in (int, float, bool) or isinstance(x, Tracer) and x.aval.weak


def _python_division(fn, name):
    """`fn` with Python's rule for two Python numbers: dividing by zero raises
    ZeroDivisionError (NumPy gives inf or nan). A traced divisor is guarded to be nonzero, so
    a call where it is zero re-traces and raises as plain Python does."""
    def op(a, b):
        if _is_python_number(a) and _is_python_number(b) and \
                bool(ew.eq(b, 0) if isinstance(b, Tracer) else b == 0):
            raise ZeroDivisionError(f"{name} by zero")
        return fn(a, b)
    return op


_BINARY = {
    "add": F.add, "sub": F.subtract, "mul": F.multiply, "pow": F.power, "matmul": F.matmul,
    "truediv": _python_division(F.divide, "division"),
    "mod": _python_division(E.remainder, "modulo"),
    "floordiv": _python_division(E.floor_divide, "integer division or modulo"),
}
_COMPARE = {"lt": F.less, "le": F.less_equal, "gt": F.greater, "ge": F.greater_equal,
            "eq": F.equal, "ne": F.not_equal}
_LOGICAL = {"and": F.logical_and, "or": F.logical_or, "xor": F.logical_xor}


def _binary(fn):
    return (lambda a, b: fn(a, b)), (lambda a, b: fn(b, a))


def _bool_only(fn, name):
    def op(a, b):
        if a.dtype != np.bool_ or np.result_type(b) != np.bool_:
            raise TypeError(f"operator {name} on traced values is supported for booleans only")
        return fn(a, b)
    return op


def assign(target: Tracer, new: Tracer):
    """Make `target` hold `new` (an in-place write), seen by every array sharing its storage."""
    if alias.is_readonly(target):
        raise ValueError("assignment destination is read-only")
    label = target.builder.outside_label(target)
    if label is not None:
        # NumPy would change the caller's array; a compiled call could not, so refuse
        raise UnsupportedError(
            f"in-place write into {label}, an array that exists outside the traced function "
            "(an argument or global): plain NumPy would change the caller's array, compiled "
            "calls would not", target.builder.loc,
            "Work on a copy made inside the function (`a = a.copy()`), or return the new value.")
    if new.dtype != target.dtype:
        new = sh.convert(new, dtype=target.dtype)
    if tuple(new.shape) != tuple(target.shape):
        new = sh.broadcast_to(new, shape=target.shape)
    alias.write(target, new)


def _inplace(fn):
    def op(a, b):
        if alias.is_scalar(a) and a.builder.outside_label(a) is None:
            # NumPy scalars and Python floats are immutable: `a += b` makes a new value and
            # leaves other names bound to the old one alone (`total += x; history.append(total)`)
            return fn(a, b)
        assign(a, fn(a, b))
        return a
    return op


def _setitem(self, index, value):
    if alias.is_scalar(self) and self.builder.outside_label(self) is None:
        raise TypeError(f"'numpy.{self.dtype}' object does not support item assignment")
    assign(self, setitem(self, index, value))


def _fill(self, value):
    if not alias.is_scalar(self):     # a NumPy scalar's fill changes nothing
        assign(self, F.full_like(self, value))


def _item(self, *args):
    x = getitem(self, args) if args else F.reshape(self, ())
    if x.dtype.kind in "biu":
        return concretize_int(x) if x.dtype.kind != "b" else bool(x)
    return sh.convert(x, dtype=x.dtype, weak=True)   # a Python float: weak in promotion


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """NumPy calls on traced values made outside the bytecode tracer (eager mode) record too."""
    impl = IMPLEMENTATIONS.get(id(ufunc))
    if method != "__call__" or impl is None:
        return NotImplemented
    return impl(*inputs, **kwargs)


def _array_function(self, func, types, args, kwargs):
    impl = IMPLEMENTATIONS.get(id(func))
    return NotImplemented if impl is None else impl(*args, **kwargs)


def _round(self, ndigits=None):
    """round(x): a Python int (guarded) without ndigits, else NumPy's rounding."""
    if ndigits is None:
        return concretize_int(sh.convert(E.rint(self), dtype=np.dtype(np.int64)))
    return ew.pyround(self, ndigits=int(ndigits)) if self.aval.weak else E.round_(self, ndigits)


def _tolist(self):
    """Nested lists of Python numbers: traced floats stay differentiable, as float() does."""
    if self.ndim == 0:
        return _item(self)
    return [_tolist(getitem(self, i)) for i in range(self.shape[0])]


def _array(self, dtype=None, copy=None):
    """NumPy converting a traced value to an array happens only in code tracejit does not
    trace (e.g. `np.array([a, b])` in a callback run natively): refuse rather than build an
    object array that would hide the values from differentiation."""
    from ..errors import TracejitError
    raise TracejitError("a traced value was converted to a NumPy array in code tracejit does not "
                        "trace; use tracejit.numpy functions there (import tracejit.numpy as np)")


def _reshape(self, *shape, order="C"):
    return V.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)


def _transpose(self, *axes):
    return V.transpose(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int)
                       else (axes or None))


# ---- NumPy's functions that write into an array ------------------------------------------------
@implements(np.copyto)
def copyto(dst, src, casting="same_kind", where=True):
    if not isinstance(dst, Tracer):
        raise UnsupportedError("numpy.copyto into an array tracejit did not see being created",
                               hint="Create it inside the traced function (numpy.zeros...).")
    src = F.asarray(src)
    assign(dst, src if where is True else F.where(where, src, dst))


@implements(np.put)
def put(a, ind, v, mode="raise"):
    """a.flat[ind] = v, with v repeated along the indices as NumPy does (the last of repeated
    indices stays)."""
    if mode != "raise":
        raise UnsupportedError(f"numpy.put(mode={mode!r})")
    ind = F.reshape(ind, (-1,)) if isinstance(ind, Tracer) else np.asarray(ind).reshape(-1)
    v = F.asarray(v)
    values = F.reshape(v, (-1,)) if F.ndim(v) else v
    if F.ndim(values) and F.shape(values)[0] != ind.size:
        values = getitem(values, np.arange(ind.size) % F.shape(values)[0])
    flat = setitem(F.reshape(a, (-1,)), ind, values)
    assign(a, F.reshape(flat, a.shape))


@implements(np.fill_diagonal)
def fill_diagonal(a, val, wrap=False):
    """The main diagonal of `a` (every axis of one length, or a 2-D array) set to `val`."""
    if a.ndim < 2 or (a.ndim > 2 and len(set(a.shape)) > 1) or wrap and a.shape[0] > a.shape[1]:
        raise UnsupportedError("numpy.fill_diagonal other than on a square array or a 2-D one "
                               "without wrap")
    rows = np.arange(min(a.shape))
    val = F.asarray(val)
    if F.ndim(val):
        val = getitem(F.reshape(val, (-1,)), rows % F.size(val))
    assign(a, setitem(a, (rows,) * a.ndim, val))


METHODS = {
    "__getitem__": V.getitem, "__setitem__": _setitem, "__iter__": V.iterate,
    "__neg__": F.negative, "__pos__": lambda a: a, "__abs__": F.absolute,
    "__invert__": lambda a: F.logical_not(a) if a.dtype == np.bool_ else NotImplemented,
    "__array_ufunc__": _array_ufunc, "__array_function__": _array_function, "__array__": _array,
    "sum": F.sum, "mean": F.mean, "std": F.std, "var": F.var, "max": F.max, "min": F.min,
    "reshape": _reshape, "transpose": _transpose, "ravel": V.ravel, "flatten": V.flatten,
    "squeeze": V.squeeze, "dot": F.dot, "clip": F.clip, "item": _item,
    "astype": V.astype_method, "copy": lambda a, order="C": V.copy_array(a, order, method=True),
    "T": property(V.transpose), "view": V.view,
    "real": property(V.real), "imag": property(V.imag), "conj": E.conjugate,
    "conjugate": E.conjugate, "prod": R.prod, "cumsum": R.cumsum, "cumprod": R.cumprod,
    "argmax": R.argmax, "argmin": R.argmin, "argsort": R.argsort, "any": R.any_, "all": R.all_,
    "round": E.round_, "trace": S.trace, "diagonal": V.diagonal, "repeat": S.repeat,
    "take": S.take, "swapaxes": V.swapaxes, "compress": lambda a, c, axis=None: S.compress(c, a, axis),
    "sort": lambda a, axis=-1, kind=None, order=None: assign(a, R.sort(a, axis)),
    "fill": _fill,
    "__round__": _round, "tolist": _tolist, "__divmod__": lambda a, b: E.divmod_(a, b),
}
for _name, _fn in _BINARY.items():
    METHODS[f"__{_name}__"], METHODS[f"__r{_name}__"] = _binary(_fn)
    METHODS[f"__i{_name}__"] = _inplace(_fn)
for _name, _fn in _COMPARE.items():
    METHODS[f"__{_name}__"] = _fn
for _name, _fn in _LOGICAL.items():
    METHODS[f"__{_name}__"] = METHODS[f"__r{_name}__"] = _bool_only(_fn, _name)

for _name, _fn in METHODS.items():
    setattr(Tracer, _name, _fn)
