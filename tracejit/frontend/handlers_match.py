"""Handlers for `match` statements: the structural tests of sequence, mapping and class patterns.

What the subject *is* (a sequence, a mapping, an instance of a class) is a type answer, which
for a traced value comes from the one door (`pyvalues.class_of`, `isinstance` through `call`)
and needs no guard; the values a pattern compares or binds are read through the usual doors:
`len` of an array is its (static) shape, a dict found outside the trace is read through its
source (`.get`, guarded keys), attributes through `load_attr`. Literal and value patterns are
plain comparisons, so they are guarded like any branch.
"""
from __future__ import annotations

from ..ops.core import Tracer
from .calls import call
from .frame import handler
from .handlers import load_attr
from .pyvalues import class_of

# CPython's type flags (Include/object.h) that `match` reads
_SEQUENCE, _MAPPING, _HEAP_TYPE, _MATCH_SELF = 1 << 5, 1 << 6, 1 << 9, 1 << 22
_ABSENT = object()


def _flags(value):
    return (class_of(value) if isinstance(value, Tracer) else type(value)).__flags__


@handler("MATCH_SEQUENCE")
def _match_sequence(frame, instr):
    frame.push(bool(_flags(frame.top()) & _SEQUENCE))


@handler("MATCH_MAPPING")
def _match_mapping(frame, instr):
    frame.push(bool(_flags(frame.top()) & _MAPPING))


@handler("GET_LEN")
def _get_len(frame, instr):
    frame.push(call(frame, len, [frame.top()], {}))


@handler("MATCH_KEYS")
def _match_keys(frame, instr):
    # [subject, keys] -> [subject, keys, values or None], as CPython's `subject.get(key, dummy)`
    subject, keys = frame.stack[-2:]
    get = load_attr(frame, subject, "get")
    values = []
    for k, key in enumerate(keys):
        if key in keys[:k]:
            raise ValueError(f"mapping pattern checks duplicate key ({key!r})")
        value = call(frame, get, [key, _ABSENT], {})
        if value is _ABSENT:
            frame.push(None)
            return
        values.append(value)
    frame.push(tuple(values))


@handler("MATCH_CLASS")
def _match_class(frame, instr):
    # [subject, class, keyword names] -> [attributes or None]
    subject, cls, names = frame.popn(3)
    if not isinstance(cls, type):
        raise TypeError("called match pattern must be a class")
    if not call(frame, isinstance, [subject, cls], {}):
        frame.push(None)
        return
    positional = _positional_names(cls, instr.arg)
    attrs = [subject] if positional is None else []      # int(x), float(x): the subject itself
    names = (positional or ()) + tuple(names)
    for k, name in enumerate(names):
        if name in names[:k]:
            raise TypeError(f"{_type_name(cls)}() got multiple sub-patterns for attribute {name!r}")
    for name in names:
        try:
            attrs.append(load_attr(frame, subject, name))
        except AttributeError:
            frame.push(None)
            return
    frame.push(tuple(attrs))


def _type_name(cls):
    """CPython's `tp_name`, which its messages use: a C type's is qualified by its module."""
    if cls.__flags__ & _HEAP_TYPE or cls.__module__ == "builtins":
        return cls.__name__
    return f"{cls.__module__}.{cls.__name__}"


def _positional_names(cls, count):
    """The attribute names of `count` positional sub-patterns (`__match_args__`), or None when
    the class matches its one positional sub-pattern against the subject itself."""
    if count == 0:
        return ()
    match_args = getattr(cls, "__match_args__", _ABSENT)
    if match_args is _ABSENT:
        allowed = 1 if cls.__flags__ & _MATCH_SELF else 0
        if count > allowed:
            raise TypeError(f"{_type_name(cls)}() accepts {allowed} positional sub-pattern"
                            f"{'' if allowed == 1 else 's'} ({count} given)")
        return None
    if not isinstance(match_args, tuple):
        raise TypeError(f"{_type_name(cls)}.__match_args__ must be a tuple (got "
                        f"{type(match_args).__name__})")
    if count > len(match_args):
        raise TypeError(f"{_type_name(cls)}() accepts {len(match_args)} positional sub-pattern"
                        f"{'' if len(match_args) == 1 else 's'} ({count} given)")
    for name in match_args[:count]:
        if not isinstance(name, str):
            raise TypeError(f"__match_args__ elements must be strings (got "
                            f"{type(name).__name__})")
    return tuple(match_args[:count])
