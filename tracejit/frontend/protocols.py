"""Special methods of user classes run under the tracer.

CPython's operators and builtins reach an object's `__add__`, `__len__`, `__bool__`, `__iter__`
... through its type. Done natively, a user class's method would run outside the tracer: its
type tests would answer for tracers (`isinstance(other, float)` is False for a traced Python
float), its branches and reads of outside state would be frozen at trace time. So wherever the
interpreter applies an operator or a protocol builtin, a user class's Python method is called
through the tracer instead, with Python's own rules: the reflected method when the forward one
returns NotImplemented (or when the right operand's class is a subclass overriding it), the
in-place method before the binary one, `__len__` for truth when there is no `__bool__`,
`__repr__` for `str` when there is no `__str__`.

Every function here takes `run(method, args)`, which calls a Python function under the tracer
(`calls.call`); this module imports nothing from the call machinery.
"""
from __future__ import annotations

import collections.abc
import operator
import types
import weakref

import numpy as np

from ..errors import UnsupportedError
from ..ops.core import Tracer, concretize_exact, python_type
from .context import is_trusted

_BUILTIN_KINDS = frozenset({int, float, bool, complex, str, bytes, list, tuple, dict, set,
                            frozenset, type(None), np.ndarray, slice, range})


# the views `keys()`, `values()`, `items()` of a mapping written in Python (collections.abc's
# mixins): Python code over the user's own __iter__ and __getitem__
_PYTHON_MAPPING_VIEWS = frozenset({collections.abc.KeysView, collections.abc.ValuesView,
                                   collections.abc.ItemsView})


def _user_class(obj):
    """`obj`'s class when it may be user code (not a builtin, NumPy's, tracejit's or the
    standard library's), else None."""
    kind = type(obj)
    if kind in _PYTHON_MAPPING_VIEWS:
        return kind
    if kind in _BUILTIN_KINDS or isinstance(obj, (Tracer, np.generic, types.ModuleType)) or \
            is_trusted(kind):
        return None
    return kind


def _python_code(fn):
    # a user class's method in Python, its own or inherited from the standard library's mixins
    # (collections.abc.Mapping.__contains__ calls the class's __getitem__): run under the tracer
    return fn if isinstance(fn, types.FunctionType) else None


def inherited_method(fn, obj):
    """Whether `fn` is a Python method a user class gets from a trusted base class
    (`collections.abc.Mapping.get` on `os.environ` or a user mapping), called on `obj`."""
    kind = _user_class(obj)
    return kind is not None and isinstance(fn, types.FunctionType) and any(
        klass.__dict__.get(fn.__name__) is fn for klass in kind.__mro__)


def special_method(obj, name):
    """The Python function that implements `name` for `obj`'s class when that class is user
    code the tracer runs; None for tracejit's and the standard library's types."""
    kind = _user_class(obj)
    return None if kind is None else _python_code(getattr(kind, name, None))


def property_getter(obj, name):
    """The Python getter of a `property` named `name` on `obj`'s user class (a data descriptor:
    it wins over the instance's dict), or None."""
    kind = _user_class(obj)
    if kind is None:
        return None
    for klass in kind.__mro__:
        found = klass.__dict__.get(name)
        if found is not None:
            return _python_code(found.fget) if isinstance(found, property) else None
    return None


def is_user_object(obj):
    """Whether `obj`'s class implements any operator or protocol in Python code."""
    kind = _user_class(obj)
    if kind is None:
        return False
    known = _PYTHON_SPECIALS.get(kind)
    if known is None:
        known = _PYTHON_SPECIALS[kind] = any(
            special_method(obj, name) is not None for name in _ALL_SPECIALS)
    return known


_PYTHON_SPECIALS = weakref.WeakKeyDictionary()      # class -> is_user_object's answer


# ---- binary operators and comparisons --------------------------------------------------------
_ARITHMETIC = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "lshift",
               "rshift", "and", "or", "xor")
_REFLECTED = {**{name: "r" + name for name in _ARITHMETIC},
              "lt": "gt", "gt": "lt", "le": "ge", "ge": "le", "eq": "eq", "ne": "ne"}
_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%",
            "pow": "** or pow()", "matmul": "@", "lshift": "<<", "rshift": ">>", "and": "&",
            "or": "|", "xor": "^", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}


def symbol(name):
    """`+` for "add": the operator as Python's error messages write it."""
    return _SYMBOLS[name]


def binary(run, name, native, a, b, inplace=False):
    """`a <name> b` (`name` as in `__add__`: "add", "lt", ...), `native` the operator's function
    for operands no user class takes part in."""
    if inplace:
        method = special_method(a, f"__i{name}__")
        if method is not None:
            result = run(method, (a, b))
            if result is not NotImplemented:
                return result
    forward = special_method(a, f"__{name}__")
    reflected = special_method(b, f"__{_REFLECTED[name]}__")
    if forward is None and reflected is None:
        if name == "ne" and (special_method(a, "__eq__") or special_method(b, "__eq__")):
            # object.__ne__ inverts __eq__: the user's __eq__, under the tracer
            equal = binary(run, "eq", operator.eq, a, b)
            return equal if equal is NotImplemented else not truth(run, equal)
        return native(a, b)
    # NumPy reads a user sequence next to a NumPy value as an array of its items
    if forward is None and _numpy_value(a) and (items := sequence_items(run, b)) is not None:
        return native(a, items)

    sides = [(a, b, forward, name), (b, a, reflected, _REFLECTED[name])]
    if type(b) is not type(a) and issubclass(type(b), type(a)) and reflected is not None and \
            reflected is not special_method(a, f"__{_REFLECTED[name]}__"):
        sides.reverse()                 # a subclass's reflected method goes first, as in CPython
    for left, right, method, method_name in sides:
        result = run(method, (left, right)) if method is not None else \
            _native_side(left, right, method_name)
        if result is not NotImplemented:
            return result
    if name in ("eq", "ne"):
        return (a is b) == (name == "eq")
    raise TypeError(f"unsupported operand type(s) for {_SYMBOLS[name]}: "
                    f"'{type(a).__name__}' and '{type(b).__name__}'")


def _native_side(left, right, method_name):
    """The operand's own (non-Python) method. Python numbers know nothing of a user class, and
    a NumPy scalar hands it to the class's reflected method (through a 0-d object array):
    NotImplemented, so that method answers. An n-d array would make an object array of the
    class's answers per element, which a trace cannot hold: refused."""
    if is_user_object(right) and not is_user_object(left):
        if _numpy_value(left) and left.ndim > 0:
            raise UnsupportedError(
                f"an array {_SYMBOLS.get(method_name, method_name)} a {type(right).__name__} "
                "object: NumPy would make an object array of its results per element, which "
                "tracejit does not trace", left.builder.loc,
                "Give the class __array_ufunc__ = None to take the operation over, or operate "
                "on its arrays.")
        return NotImplemented
    method = getattr(type(left), f"__{method_name}__", None)
    return NotImplemented if method is None else method(left, right)


def _numpy_value(value):
    """A traced NumPy value (scalar or array), not a Python number."""
    return isinstance(value, Tracer) and python_type(value) not in (bool, int, float, complex)


def unary(run, name, native, value):
    method = special_method(value, f"__{name}__")
    return native(value) if method is None else run(method, (value,))


# ---- truth, containment, items, iteration ----------------------------------------------------
def truth(run, value):
    """What `if value:` tests: `__bool__`, else `__len__` != 0, of a user class; else `value`
    itself (a traced boolean stays traced for the branch to guard)."""
    method = special_method(value, "__bool__")
    if method is not None:
        return run(method, (value,))
    method = special_method(value, "__len__")
    if method is not None:
        return run(method, (value,)) != 0
    return value


def contains(run, container, item):
    """`item in container`: `__contains__`, else a search of the items (iterated under the
    tracer) for one that is `item` or equals it, as CPython does."""
    method = special_method(container, "__contains__")
    if method is not None:
        return bool(run(method, (container, item)))
    items = iterated(run, container) if is_user_object(container) else None
    if items is None:
        return item in container
    return any(value is item or bool(binary(run, "eq", operator.eq, value, item))
               for value in items)


def get_item(run, container, key):
    """`container[key]` for a user class, or None when the class has no Python __getitem__."""
    method = special_method(container, "__getitem__")
    return None if method is None else (run(method, (container, key)),)


def mapping_items(run, obj):
    """The (key, value) pairs `dict(obj)` and `{**obj}` take from a user mapping: its `keys()`,
    then `obj[key]` for each, under the tracer; None when its class has no Python `keys`."""
    keys = special_method(obj, "keys")
    if keys is None:
        return None
    if keys is collections.abc.Mapping.keys:      # a KeysView, which iterates the mapping
        names = iterated(run, obj)
    else:
        listed = run(keys, (obj,))
        names = iterated(run, listed) if is_user_object(listed) else list(listed)
    return [(k, get_item(run, obj, k)[0]) for k in names]


def iterated(run, obj):
    """The items of `obj` as a list, its Python `__iter__` (then the iterator's `__next__`) or
    `__getitem__` (0, 1, ... until IndexError) run under the tracer; None when its class has
    neither."""
    method = special_method(obj, "__iter__")
    if method is not None:
        iterator, items = run(method, (obj,)), []
        step = special_method(iterator, "__next__")
        while True:
            try:
                items.append(next(iterator) if step is None else run(step, (iterator,)))
            except StopIteration:
                return items
    item = special_method(obj, "__getitem__")
    if item is None:
        return None
    items = []                   # the old sequence protocol: items 0, 1, ... until IndexError
    while True:
        try:
            items.append(run(item, (obj, len(items))))
        except (IndexError, StopIteration):
            return items


def sequence_items(run, obj):
    """The items NumPy reads from `obj` when it makes an array of it: `obj[0]` ...
    `obj[len(obj) - 1]` for a class with Python `__len__` and `__getitem__` (NumPy's sequence
    protocol, not iteration), run under the tracer; None for other objects."""
    length, item = special_method(obj, "__len__"), special_method(obj, "__getitem__")
    if length is None or item is None:
        return None
    return [run(item, (obj, i)) for i in range(operator.index(run(length, (obj,))))]


# ---- text made natively: str.format, % -----------------------------------------------------------
class _Text:
    """A user object given to native text formatting (`"{:.2f}".format(obj)`, `"%s" % obj`):
    the special methods formatting calls answer through the tracer (`run(fn, args)`)."""
    __slots__ = ("obj", "run")

    def __init__(self, obj, run):
        self.obj, self.run = obj, run

    def __format__(self, spec):
        return self.run(format, (self.obj, spec))

    def __str__(self):
        return self.run(str, (self.obj,))

    def __repr__(self):
        return self.run(repr, (self.obj,))

    def __float__(self):                    # "%f": text reads every digit (guarded)
        return float(_exact(self.run(float, (self.obj,))))

    def __index__(self):
        return operator.index(_exact(self.run(int, (self.obj,))))

    __int__ = __index__

    def __getattr__(self, name):            # "{0.v}".format(obj)
        return getattr(self.obj, name)


def _exact(value):
    return concretize_exact(value) if isinstance(value, Tracer) else value


def for_text(run, value):
    """`value` (a format argument, or `%`'s right operand: a tuple or dict of them) with user
    objects wrapped so that their text is made under the tracer."""
    if is_user_object(value):
        return _Text(value, run)
    if type(value) is tuple:
        return tuple(for_text(run, v) if is_user_object(v) else v for v in value)
    if type(value) is dict:
        return {k: for_text(run, v) if is_user_object(v) else v for k, v in value.items()}
    return value


# ---- builtins that call one special method ----------------------------------------------------
# builtin -> (special methods tried in order, what the builtin makes of the method's result)
_BUILTINS = {
    len: (("__len__",), operator.index), abs: (("__abs__",), None), hash: (("__hash__",), None),
    iter: (("__iter__",), None), next: (("__next__",), None),
    reversed: (("__reversed__",), None), round: (("__round__",), None),
    float: (("__float__", "__index__"), float), int: (("__int__", "__index__"), int),
    complex: (("__complex__", "__float__"), complex), bool: (("__bool__",), bool),
    str: (("__str__", "__repr__"), str), repr: (("__repr__",), str),
    format: (("__format__", "__str__", "__repr__"), str),
}


def builtin(run, fn, args, kwargs):
    """`fn(*args)` for a protocol builtin given a user object with the Python special method
    it calls: (the result,), or None when `fn` is not one or the object has none. The builtin
    is applied to the method's result through `run` too (a traced float stays traced through
    `float`)."""
    entry = _BUILTINS.get(fn) if isinstance(fn, (type, types.BuiltinFunctionType)) else None
    if entry is None or not args or kwargs:
        return None
    names, convert = entry
    for name in names:
        method = special_method(args[0], name)
        if method is not None:
            break
    else:
        if fn is bool and special_method(args[0], "__len__") is not None:
            return (run(bool, (truth(run, args[0]),)),)
        return None
    if fn is format and name != "__format__" and len(args) > 1 and args[1]:
        raise TypeError(f"unsupported format string passed to {type(args[0]).__name__}.__format__")
    extra = args[1:] if name in ("__round__", "__format__") else ()
    if fn is next and len(args) > 1:
        try:
            return (run(method, args[:1]),)
        except StopIteration:
            return (args[1],)
    result = run(method, (args[0], *extra))
    if convert is None:
        return (result,)
    return (run(convert, (result,)),)


_ALL_SPECIALS = sorted({f"__{n}__" for n in (*_ARITHMETIC, *(f"r{n}" for n in _ARITHMETIC),
                                             *(f"i{n}" for n in _ARITHMETIC), "lt", "le",
                                             "gt", "ge", "eq", "ne", "neg", "pos", "invert",
                                             "contains", "getitem", "setitem")}
                       | {name for names, _ in _BUILTINS.values() for name in names})
