"""ndarray behaviour for traced values: operators, methods and attributes, defined once here.

Operators follow NumPy exactly (they are the same functions as `numpy.add` etc.). In-place
operators and item assignment are made functional: the tracer is rebound to the new value, and a
view created by basic indexing passes the write on to the array it views, as NumPy would.
"""
import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops import shape as sh
from ..ops.core import Tracer, concretize_int
from . import _elementwise as E
from . import _funcs as F
from . import _reductions as R
from . import _shapes as S
from ._indexing import getitem, setitem
from ._registry import IMPLEMENTATIONS

_BINARY = {
    "add": F.add, "sub": F.subtract, "mul": F.multiply, "truediv": F.divide, "pow": F.power,
    "matmul": F.matmul, "mod": E.remainder, "floordiv": E.floor_divide,
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
    """Make `target` hold `new` (an in-place write), and pass the write on to what it views."""
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
    target.rebind(new)
    if target.base is not None:
        parent, index = target.base
        assign(parent, setitem(parent, index, target))


def _inplace(fn):
    def op(a, b):
        if a.ndim == 0 and a.builder.outside_label(a) is None:
            # NumPy scalars and Python floats are immutable: `a += b` makes a new value and
            # leaves other names bound to the old one alone (`total += x; history.append(total)`)
            return fn(a, b)
        assign(a, fn(a, b))
        return a
    return op


def _setitem(self, index, value):
    assign(self, setitem(self, index, value))


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d array")
    return (getitem(self, i) for i in range(self.shape[0]))


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
    return E.round_(self, ndigits)


def _array(self, dtype=None, copy=None):
    """NumPy converting a traced value to an array happens only in code tracejit does not
    trace (e.g. `np.array([a, b])` in a callback run natively): refuse rather than build an
    object array that would hide the values from differentiation."""
    from ..errors import TracejitError
    raise TracejitError("a traced value was converted to a NumPy array in code tracejit does not "
                        "trace; use tracejit.numpy functions there (import tracejit.numpy as np)")


def _reshape(self, *shape, order="C"):
    return F.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)


def _transpose(self, *axes):
    return F.transpose(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int)
                       else (axes or None))


METHODS = {
    "__getitem__": getitem, "__setitem__": _setitem, "__iter__": _iter,
    "__neg__": F.negative, "__pos__": lambda a: a, "__abs__": F.absolute,
    "__invert__": lambda a: F.logical_not(a) if a.dtype == np.bool_ else NotImplemented,
    "__array_ufunc__": _array_ufunc, "__array_function__": _array_function, "__array__": _array,
    "sum": F.sum, "mean": F.mean, "std": F.std, "var": F.var, "max": F.max, "min": F.min,
    "reshape": _reshape, "transpose": _transpose, "ravel": F.ravel, "flatten": F.ravel,
    "squeeze": F.squeeze, "dot": F.dot, "clip": F.clip, "item": _item, "astype": F.astype,
    "copy": lambda a, order="C": a if a.is_constant else sh.reshape(a, shape=a.shape),
    "T": property(lambda a: F.transpose(a)),
    "real": property(E.real), "imag": property(E.imag), "conj": E.conjugate,
    "conjugate": E.conjugate, "prod": R.prod, "cumsum": R.cumsum, "cumprod": R.cumprod,
    "argmax": R.argmax, "argmin": R.argmin, "argsort": R.argsort, "any": R.any_, "all": R.all_,
    "round": E.round_, "trace": S.trace, "diagonal": S.diagonal, "repeat": S.repeat,
    "take": S.take, "swapaxes": S.swapaxes, "compress": lambda a, c, axis=None: S.compress(c, a, axis),
    "sort": lambda a, axis=-1, kind=None, order=None: assign(a, R.sort(a, axis)),
    "fill": lambda a, value: assign(a, F.full_like(a, value)),
    "__round__": _round, "__divmod__": lambda a, b: E.divmod_(a, b),
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
