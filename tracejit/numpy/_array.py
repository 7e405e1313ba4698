"""ndarray behaviour for traced values: operators, methods and attributes, defined once here.

Operators follow NumPy exactly (they are the same functions as `numpy.add` etc.). In-place
operators, item assignment and NumPy's writing functions (copyto, put, fill_diagonal) are made
functional by `assign`, which writes through the alias model (`ops/alias.py`): every view of the
same storage sees the write, as in NumPy.
"""
import operator

import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops import shape as sh
from ..ops import alias
from ..ops.core import (PYTHON_INT_BOUND, Tracer, concretize_bool, concretize_exact,
                        concretize_int, python_type, stand_in)
from . import _elementwise as E
from . import _funcs as F
from . import _reductions as R
from . import _shapes as S
from . import _views as V
from ._indexing import getitem, setitem
from ._registry import IMPLEMENTATIONS, implements, python_ints_made_static

def _is_python_number(x):
    return type(x) in (int, float, bool) or isinstance(x, Tracer) and x.aval.weak


def _is_array(x):
    """An ndarray (0-d included) rather than a scalar, Python's or NumPy's."""
    return isinstance(x, np.ndarray) or isinstance(x, Tracer) and python_type(x) is np.ndarray


def _is_python_int(x):
    return type(x) in (int, bool) or isinstance(x, Tracer) and x.aval.weak and x.dtype.kind in "biu"


def _holds(condition) -> bool:
    """A condition on Python numbers; on traced ones the outcome is guarded like a branch."""
    return bool(condition)


def _as_python_float(x):
    return sh.convert(x, dtype=np.dtype(np.float64), weak=True) if isinstance(x, Tracer) \
        else float(x)


# the int64 result of + - * ** of traced Python ints is exact when the float64 shadow of the
# same operation stays below PYTHON_INT_BOUND too
_INT_LIMIT = float(PYTHON_INT_BOUND)
_PYTHON_INT_OPS = {"add": int.__add__, "sub": int.__sub__, "mul": int.__mul__, "pow": int.__pow__}


def _python_int_result(fn, name, a, b):
    """Python ints do not overflow; int64 does. The result is traced while the float64 shadow
    of the operation stays in range (guarded); beyond it, both operands are made exact
    (guarded) constants and Python computes the big int."""
    if all(isinstance(v, Tracer) or abs(v) < PYTHON_INT_BOUND for v in (a, b)):
        result = fn(a, b)
        shadow = fn(_as_python_float(a), _as_python_float(b))
        if not _holds(F.absolute(shadow) >= _INT_LIMIT):
            return result
    exact = [concretize_int(v) if isinstance(v, Tracer) else int(v) for v in (a, b)]
    return _PYTHON_INT_OPS[name](*exact)


def _python_pow(a, b):
    """`**` of two Python numbers as CPython computes it: 0 to a negative power raises
    ZeroDivisionError, an int to a negative int is a float, a float result overflowing raises
    OverflowError, a negative float to a fractional power (a complex number) is refused. The
    exponent's conditions are tested first, so a constant exponent (`s ** 2`) decides most of
    them while tracing and leaves no guard."""
    negative_exponent = _holds(F.less(b, 0))
    if negative_exponent and _holds(F.equal(a, 0)):
        raise ZeroDivisionError("0.0 cannot be raised to a negative power")
    if _is_python_int(a) and _is_python_int(b):
        if not negative_exponent:
            return _python_int_result(F.power, "pow", a, b)
        a = _as_python_float(a)
    fractional = F.logical_and(F.isfinite(b), F.not_equal(F.floor(b), b))
    if _holds(fractional) and _holds(F.logical_and(F.isfinite(a), F.less(a, 0))):
        traced = a if isinstance(a, Tracer) else b
        raise UnsupportedError("a negative Python float raised to a fractional power is a complex "
                               "number in Python; tracejit traces real numbers only",
                               traced.builder.loc,
                               "Use numpy arrays (NumPy gives nan) or complex() explicitly.")
    result = ew.pow(a, b)
    shrinks = not isinstance(b, Tracer) and 0 <= b <= 1      # |a| ** b cannot overflow
    if not shrinks and _holds(F.logical_and(E.isinf(result),
                                            F.logical_and(F.isfinite(a), F.isfinite(b)))):
        raise OverflowError(34, "Numerical result out of range")
    return result


def _python_numbers(fn, name):
    """`fn` (NumPy's operator) with Python's rules when both operands are Python numbers:
    dividing by zero raises ZeroDivisionError (NumPy gives inf or nan; a traced divisor is
    guarded nonzero), ints never overflow, `**` as `_python_pow`."""
    def op(a, b):
        if isinstance(a, _SEQUENCES) or isinstance(b, _SEQUENCES):
            return _with_sequence(fn, name, a, b)
        a, b = _big_ints_as_floats(a, b)
        if name == "pow" and not (_is_array(a) or _is_array(b)):
            # scalars' ** is C's pow (np.float64(-inf) ** 0.5 is inf), not np.power's shortcut
            return _python_pow(a, b) if _is_python_number(a) and _is_python_number(b) \
                else ew.pow(a, b)
        if not (_is_python_number(a) and _is_python_number(b)):
            return fn(a, b)
        if name in ("truediv", "mod", "floordiv") and _holds(F.equal(b, 0)):
            raise ZeroDivisionError(f"{_DIVISION_NAMES[name]} by zero")
        if name in _PYTHON_INT_OPS and _is_python_int(a) and _is_python_int(b):
            return _python_int_result(fn, name, a, b)
        return fn(a, b)
    return op


_SEQUENCES = (list, tuple, str, bytes)


def _big_ints_as_floats(a, b):
    """A Python int beyond int64 meeting a traced float is converted to float, as Python and
    NumPy do (a NumPy literal of it would overflow int64)."""
    traced = a if isinstance(a, Tracer) else b
    if traced.dtype.kind not in "fc":
        return a, b
    return tuple(float(v) if type(v) is int and abs(v) >= PYTHON_INT_BOUND else v for v in (a, b))


def _with_sequence(fn, name, a, b):
    """A Python sequence and a traced value: `seq * n` repeats the sequence for an integer
    scalar (a Python int or a NumPy one, as CPython and NumPy do), with n guarded; a Python
    number with a sequence otherwise raises CPython's TypeError; NumPy values take the
    sequence as an array."""
    traced = a if isinstance(a, Tracer) else b
    integer = traced.ndim == 0 and traced.dtype.kind in "iub" and \
        python_type(traced) is not np.ndarray
    if name == "mul" and integer:
        return a * concretize_int(b) if traced is b else concretize_int(a) * b
    if traced.aval.weak:
        return _PYTHON_OPERATORS[name](*(stand_in(v) if v is traced else v for v in (a, b)))
    return fn(a, b)


_PYTHON_OPERATORS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
                     "pow": operator.pow, "matmul": operator.matmul, "truediv": operator.truediv,
                     "mod": operator.mod, "floordiv": operator.floordiv}


def _python_ints_only(name):
    """Bitwise operators and shifts of Python ints (traced: a loop counter, an int argument):
    computed by Python on the ints they stand for, guarded. Other traced values: booleans only
    (`&`, `|`, `^` as NumPy's logical functions)."""
    python_op = getattr(operator, f"{name}_", None) or getattr(operator, name)
    logical = _LOGICAL.get(name)

    def op(a, b):
        if _is_python_int(a) and _is_python_int(b):
            return python_op(*(concretize_int(v) if isinstance(v, Tracer) else v for v in (a, b)))
        if logical is None or a.dtype != np.bool_ or np.result_type(b) != np.bool_:
            raise TypeError(f"operator {name} on traced values is supported for booleans and "
                            "Python ints only")
        return logical(a, b)
    return op


def _divmod(a, b):
    """divmod: Python's rules for Python numbers (ZeroDivisionError), NumPy's otherwise."""
    if _is_python_number(a) and _is_python_number(b):
        return _BINARY["floordiv"](a, b), _BINARY["mod"](a, b)
    return E.divmod_(a, b)


_DIVISION_NAMES = {"truediv": "division", "mod": "modulo", "floordiv": "integer division or modulo"}
_BINARY = {name: _python_numbers(fn, name) for name, fn in {
    "add": F.add, "sub": F.subtract, "mul": F.multiply, "pow": F.power, "matmul": F.matmul,
    "truediv": F.divide, "mod": E.remainder, "floordiv": E.floor_divide}.items()}
_COMPARE = {"lt": F.less, "le": F.less_equal, "gt": F.greater, "ge": F.greater_equal,
            "eq": F.equal, "ne": F.not_equal}
_LOGICAL = {"and": F.logical_and, "or": F.logical_or, "xor": F.logical_xor}


def _binary(fn):
    return (lambda a, b: fn(a, b)), (lambda a, b: fn(b, a))


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
    if new.dtype != target.dtype or new.aval.weak:
        # an array holds what is written into it as its own dtype: a Python float written
        # over every element must not leave the array a (weak) Python number
        new = sh.convert(new, dtype=target.dtype)
    if tuple(new.shape) != tuple(target.shape):
        new = sh.broadcast_to(new, shape=target.shape)
    alias.write(target, new)


def _inplace(fn, name):
    def op(a, b):
        if alias.is_scalar(a) and a.builder.outside_label(a) is None:
            # NumPy scalars and Python floats are immutable: `a += b` makes a new value and
            # leaves other names bound to the old one alone (`total += x; history.append(total)`)
            return fn(a, b)
        new = fn(a, b)
        if not np.can_cast(new.dtype, a.dtype, casting="same_kind"):
            _raise_as_numpy(name, a, b)
        assign(a, new)
        return a
    return op


def _raise_as_numpy(name, a, b):
    """An in-place operator whose result NumPy will not cast back into `a` (`ints += 0.5`):
    NumPy's own error, got by running the operator on stand-ins of the same kinds."""
    def stand_in_for(x):
        if not isinstance(x, (Tracer, np.ndarray)):
            return x
        if isinstance(x, Tracer) and x.aval.weak:
            return x.dtype.type(0).item()
        return np.zeros((1, 1), x.dtype)
    getattr(operator, f"i{name}")(np.zeros((1, 1), a.dtype), stand_in_for(b))
    raise TypeError(f"cannot cast the result of {name} ({np.result_type(a.dtype)}) back into "
                    f"{a.dtype} in place")


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
        return concretize_int(E.rint(self) if self.dtype.kind == "f" else self)
    return ew.pyround(self, ndigits=int(ndigits)) if self.aval.weak else E.round_(self, ndigits)


def _tolist(self):
    """Nested lists of Python numbers: traced floats stay differentiable, as float() does."""
    if self.ndim == 0:
        return _item(self)
    return [_tolist(getitem(self, i)) for i in range(self.shape[0])]


def _exact_float_method(name):
    """A float method that reads every bit (`hex`, `as_integer_ratio`): of the exact value,
    guarded."""
    def method(self, *args):
        return getattr(float(concretize_exact(self)), name)(*args)
    method.__name__ = name
    return method


def _is_integer(self):
    return concretize_bool(F.equal(F.floor(self), self))


def _array(self, dtype=None, copy=None):
    """NumPy converting a traced value to an array happens only in code tracejit does not
    trace (e.g. `np.array([a, b])` in a callback run natively): refuse rather than build an
    object array that would hide the values from differentiation."""
    raise UnsupportedError("a traced value was converted to a NumPy array in code tracejit does not "
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
    "__round__": _round, "tolist": _tolist, "__divmod__": _divmod,
    "__rdivmod__": lambda a, b: _divmod(b, a),
    # float's own methods (a Python float or np.float64 has them; attribute_check refuses
    # them for arrays as CPython would)
    "hex": _exact_float_method("hex"), "as_integer_ratio": _exact_float_method("as_integer_ratio"),
    "is_integer": _is_integer,
}
for _name, _fn in _BINARY.items():
    METHODS[f"__{_name}__"], METHODS[f"__r{_name}__"] = _binary(_fn)
    METHODS[f"__i{_name}__"] = _inplace(_fn, _name)
for _name, _fn in _COMPARE.items():
    METHODS[f"__{_name}__"] = _fn
for _name in ("and", "or", "xor", "lshift", "rshift"):
    METHODS[f"__{_name}__"], METHODS[f"__r{_name}__"] = _binary(_python_ints_only(_name))

def _static_int_arguments(method):
    """An ndarray method reads its Python int arguments as NumPy functions do (axes, counts,
    shapes): `python_ints_made_static`."""
    def call(self, *args, **kwargs):
        args, kwargs = python_ints_made_static((args, kwargs))
        return method(self, *args, **kwargs)
    return call




for _name, _fn in METHODS.items():
    plain = _name.startswith("__") or isinstance(_fn, property)
    setattr(Tracer, _name, _fn if plain else _static_int_arguments(_fn))
