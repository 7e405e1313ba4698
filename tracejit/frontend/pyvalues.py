"""The one door for Python values made from traced values (DESIGN.md invariant 5).

Every Python object user code gets out of a traced value is one of three things:
- a traced value still (arithmetic, `float(x)`, `x.item()` on floats, `math.sin`);
- a constant guarded in the trace, so that a call where it would differ re-traces:
  * a type answer (`isinstance`, `type`, `x.__class__`, `hasattr`, `np.ndim`, `np.isscalar`)
    is read from a stand-in of the type the value has in plain NumPy (`core.python_type`):
    that type follows from the trace's ops and input types, which its guards already fix;
  * a branch, `int()`, `round()`, `math.floor` guard their outcome (`core.concretize_bool`,
    `core.concretize_int`);
  * text (`str`, `repr`, `format`, f-strings, `%`, `str.format`) and `hash()` read every
    digit, so they guard the exact value (`core.concretize_exact`): a call with another
    value re-traces;
- refused, with the user's file and line: anything else a traced value flows into natively
  (`calls.call_native`).

This module holds the tables of the callables answered through the door; `calls.call` consults
them first, the f-string and `%` opcodes call `text`, and `handlers.load_attr` asks
`attribute_check` before reading an attribute of a traced value.
"""
from __future__ import annotations

import json
import types

import numpy as np

from ..numpy._registry import has_tracer, map_traced
from ..ops.core import Tracer, concretize_exact, python_type, stand_in


def traced_among(args, kwargs):
    """Whether a traced value is among the arguments (or the values of a dict argument)."""
    return has_tracer(args) or has_tracer(kwargs.values()) or any(
        type(a) is dict and has_tracer(a.values()) for a in (*args, *kwargs.values()))


def _type_query(fn):
    """A callable whose answer depends only on the types, shapes and dtypes of its arguments:
    asked of stand-ins, no guard needed."""
    def answer(*args, **kwargs):
        return fn(*map_traced(args, stand_in), **map_traced(kwargs, stand_in))
    return answer


def _exactly(t: Tracer):
    """The exact value of `t`, guarded; NumPy's print options too when it is an array or a
    NumPy scalar, whose text they shape (precision, legacy) as much as its digits do."""
    value = concretize_exact(t)
    if isinstance(value, (np.ndarray, np.generic)):
        t.builder.ctx.read_print_options()
    return value


def _value_query(fn):
    """A callable that reads values to the last digit (text, hashes): asked of the exact
    values, each guarded."""
    def answer(*args, **kwargs):
        return fn(*map_traced(args, _exactly), **map_traced(kwargs, _exactly))
    return answer


_TYPE_QUERIES = (isinstance, issubclass, type, hasattr, callable, np.isscalar, np.ndim,
                 np.shape, np.size, np.iscomplexobj, np.isrealobj, np.iterable, np.result_type)
_VALUE_QUERIES = (str, repr, ascii, format, hash, hex, oct, bin, chr, np.array2string, np.array_repr,
                  np.array_str, np.format_float_positional, np.format_float_scientific,
                  np.min_scalar_type, json.dumps)
DOORS = {id(fn): _type_query(fn) for fn in _TYPE_QUERIES}
DOORS.update({id(fn): _value_query(fn) for fn in _VALUE_QUERIES})
_STR_METHODS = ("format", "format_map")


def is_str_format(fn):
    """`str.format`/`format_map` bound to a format string."""
    return isinstance(fn, types.BuiltinMethodType) and isinstance(fn.__self__, (str, bytes)) \
        and fn.__name__ in _STR_METHODS


def door(fn, args, kwargs):
    """What answers `fn(*args, **kwargs)` when a traced value is among the arguments, or None."""
    answer = DOORS.get(id(fn))
    if answer is None and is_str_format(fn):
        answer = _value_query(fn)           # "{:.3f}".format(x) (`%` is the opcode's: percent)
    if answer is None or not traced_among(args, kwargs):
        return None
    if fn is type and len(args) != 1:       # type(name, bases, namespace) makes a class
        return None
    return answer


def text(value, conversion=None, spec=""):
    """An f-string field: `format(conversion(value), spec)`, through the door when traced."""
    if traced_among((value,), {}):
        value = map_traced(value, _exactly)
    return format(conversion(value) if conversion else value, spec)


def percent(left, right):
    """`left % right` with a str or bytes on the left: printf-style text of the values."""
    return left % map_traced(right, _exactly)


def class_of(t: Tracer):
    """`t.__class__`."""
    return python_type(t)


def attribute_check(t: Tracer, name):
    """CPython's answer to `t.name` when the object `t` stands for has no such attribute (a
    Python float has no `.shape`); None when it has one."""
    kind = python_type(t)
    if hasattr(kind, name):
        return None
    return AttributeError(f"'{kind.__name__}' object has no attribute '{name}'")
