"""Opcode handlers for values: operators, subscripts, building containers, f-strings, unpacking.

Registered into the same table as `handlers.py` (which imports this module); see there.
"""
from __future__ import annotations

import operator

import numpy as np

from ..numpy._registry import has_tracer
from ..numpy._shapes import SUBSCRIPTABLE
from ..ops.core import Tracer, constant, stand_in
from . import protocols
from .calls import call, runner
from .context import is_constant
from .frame import handler
from .handlers_except import prep_reraise_star
from .pyvalues import percent, text
from .sources import Equals, Item, Length
from .versions import describe

_BINARY = {
    "ADD": operator.add, "SUBTRACT": operator.sub, "MULTIPLY": operator.mul,
    "TRUE_DIVIDE": operator.truediv, "FLOOR_DIVIDE": operator.floordiv, "REMAINDER": operator.mod,
    "POWER": operator.pow, "MATRIX_MULTIPLY": operator.matmul, "LSHIFT": operator.lshift,
    "RSHIFT": operator.rshift, "AND": operator.and_, "OR": operator.or_, "XOR": operator.xor,
    "INPLACE_ADD": operator.iadd, "INPLACE_SUBTRACT": operator.isub,
    "INPLACE_MULTIPLY": operator.imul, "INPLACE_TRUE_DIVIDE": operator.itruediv,
    "INPLACE_FLOOR_DIVIDE": operator.ifloordiv, "INPLACE_REMAINDER": operator.imod,
    "INPLACE_POWER": operator.ipow, "INPLACE_MATRIX_MULTIPLY": operator.imatmul,
    "INPLACE_LSHIFT": operator.ilshift, "INPLACE_RSHIFT": operator.irshift,
    "INPLACE_AND": operator.iand, "INPLACE_OR": operator.ior, "INPLACE_XOR": operator.ixor,
}

# BINARY_OP's names -> the special methods' ("ADD" -> __add__)
_DUNDER = {"ADD": "add", "SUBTRACT": "sub", "MULTIPLY": "mul", "TRUE_DIVIDE": "truediv",
           "FLOOR_DIVIDE": "floordiv", "REMAINDER": "mod", "POWER": "pow",
           "MATRIX_MULTIPLY": "matmul", "LSHIFT": "lshift", "RSHIFT": "rshift", "AND": "and",
           "OR": "or", "XOR": "xor"}


def describe_op(name):
    """`+` for "INPLACE_ADD": the operator as the user wrote it."""
    return protocols.symbol(_DUNDER[name.removeprefix("INPLACE_")])


_COMPARE = {"LT": operator.lt, "LE": operator.le, "EQ": operator.eq, "NE": operator.ne,
            "GT": operator.gt, "GE": operator.ge}


def _lift_constant_array(container, key):
    """`ndarray[traced index]`: the constant array becomes a traced constant so indexing records.
    `np.r_[...]`/`np.c_[...]` with traced entries use tracejit's versions."""
    if id(container) in SUBSCRIPTABLE and has_tracer(key if isinstance(key, tuple) else (key,)):
        return SUBSCRIPTABLE[id(container)]
    if isinstance(container, np.ndarray) and has_tracer(key if isinstance(key, tuple) else (key,)):
        like = next(k for k in (key if isinstance(key, tuple) else (key,)) if isinstance(k, Tracer))
        return constant(like, container)
    return container


# ---- operators -------------------------------------------------------------------------------
@handler("BINARY_OP")
def _binary_op(frame, instr):
    ctx = frame.ctx
    name = instr.arg.name
    b = ctx.contents(frame.pop())
    a = frame.pop()
    if name.startswith("INPLACE") and type(a) in (list, dict, set) and ctx.is_outside(a):
        raise ctx.unsupported(f"`{describe_op(name)}=` changes a {type(a).__name__} that exists "
                              "outside the traced function", "Build a new one inside the "
                              "function (`xs = xs + [...]`), or do it outside.")
    a = ctx.contents(a)
    if isinstance(a, (str, bytes)) and name in ("REMAINDER", "INPLACE_REMAINDER"):
        frame.push(percent(a, protocols.for_text(runner(frame), b)))   # through the door
        return
    operation = name.removeprefix("INPLACE_")
    frame.push(protocols.binary(runner(frame), _DUNDER[operation], _BINARY[name], a, b,
                                inplace=operation != name))


@handler("COMPARE_OP")
def _compare_op(frame, instr):
    b = frame.ctx.contents(frame.pop())
    a = frame.ctx.contents(frame.pop())
    frame.push(protocols.binary(runner(frame), instr.arg.lower(), _COMPARE[instr.arg], a, b))


@handler("IS_OP")
def _is_op(frame, instr):
    b = frame.pop()
    a = frame.pop()
    frame.push((a is not b) if instr.arg else (a is b))


@handler("CONTAINS_OP")
def _contains_op(frame, instr):
    container = frame.ctx.contents(frame.pop())
    item = frame.ctx.contents(frame.pop())
    found = protocols.contains(runner(frame), container, item)
    frame.push((not found) if instr.arg else found)


@handler("UNARY_NEGATIVE")
def _unary_negative(frame, instr):
    frame.push(protocols.unary(runner(frame), "neg", operator.neg, frame.pop()))


@handler("UNARY_POSITIVE", until=(3, 11))
def _unary_positive(frame, instr):
    frame.push(protocols.unary(runner(frame), "pos", operator.pos, frame.pop()))


@handler("UNARY_INVERT")
def _unary_invert(frame, instr):
    frame.push(protocols.unary(runner(frame), "invert", operator.invert, frame.pop()))


@handler("UNARY_NOT")
def _unary_not(frame, instr):
    frame.push(not protocols.truth(runner(frame), frame.pop()))


@handler("TO_BOOL", since=(3, 13))
def _to_bool(frame, instr):
    """3.13 converts a branch's condition to bool first. A traced boolean scalar stays traced,
    so the branch that consumes it records the guard and knows that data, not a Python value,
    decided it (a while loop's exit); anything else becomes a bool here (traced: a guard)."""
    value = protocols.truth(runner(frame), frame.pop())
    if isinstance(value, Tracer) and value.dtype == np.bool_ and value.size == 1:
        frame.push(value)
    else:
        frame.push(bool(value))


# ---- subscripts ------------------------------------------------------------------------------
@handler("BINARY_SUBSCR")
def _binary_subscr(frame, instr):
    key = frame.pop()
    _subscript(frame, frame.pop(), key)


@handler("BINARY_SLICE", since=(3, 12))
def _binary_slice(frame, instr):
    start, stop = frame.popn(2)
    _subscript(frame, frame.pop(), slice(start, stop))


def _subscript(frame, container, key):
    container = _lift_constant_array(container, key)
    special = protocols.get_item(runner(frame), container, key)
    if special is not None:                  # a user class's __getitem__, under the tracer
        frame.push(special[0])
        return
    source = frame.ctx.source_of(container)
    try:
        value = container[key]
    except (KeyError, IndexError) as error:
        if isinstance(key, Tracer):       # the key the user sees is the value, not our tracer
            raise type(error)(stand_in(key)) from None
        if source is not None and not isinstance(container, Tracer):
            frame.ctx.read_missing(source, container, key)
        raise
    if source is not None and not isinstance(container, Tracer):
        if is_constant(key) and not isinstance(key, slice):     # int, str, bytes, tuple ...
            value = frame.ctx.read(value, Item(source, key))
        elif isinstance(key, slice) and type(container) in (list, tuple):
            value = type(container)(sourced_items(frame, container)[key])
        else:
            raise frame.ctx.unsupported(f"indexing an outside {type(container).__name__} with "
                                        f"{type(key).__name__}")
    frame.push(value)


@handler("STORE_SUBSCR")
def _store_subscr(frame, instr):
    key = frame.pop()
    container = frame.pop()
    _store_item(frame, container, key, frame.pop())


@handler("STORE_SLICE", since=(3, 12))
def _store_slice(frame, instr):
    start, stop = frame.popn(2)
    container = frame.pop()
    _store_item(frame, container, slice(start, stop), frame.pop())


def _store_item(frame, container, key, value):
    ctx = frame.ctx
    if isinstance(container, np.ndarray) and (isinstance(value, Tracer) or has_tracer((key,))):
        raise ctx.unsupported("writing a traced value into a NumPy array that tracejit did not "
                              "see being created", "Create it inside the traced function with "
                              "numpy.zeros/empty/array so its contents are traced.")
    if not isinstance(container, Tracer) and ctx.is_outside(container):
        raise ctx.unsupported(f"item assignment to a {type(container).__name__} that exists "
                              "outside the traced function", "Build a new one inside instead.")
    method = protocols.special_method(container, "__setitem__")
    if method is not None:
        runner(frame)(method, (container, key, value))
        return
    container[key] = value


@handler("DELETE_SUBSCR")
def _delete_subscr(frame, instr):
    key = frame.pop()
    container = frame.pop()
    if isinstance(container, Tracer) or frame.ctx.is_outside(container):
        raise frame.ctx.unsupported("del of an item of an outside container or array")
    del container[key]


@handler("BUILD_SLICE")
def _build_slice(frame, instr):
    frame.push(slice(*frame.popn(instr.arg)))


# ---- building containers ---------------------------------------------------------------------
def created(frame, obj):
    frame.ctx.created.add(id(obj))
    frame.push(obj)


@handler("BUILD_TUPLE")
def _build_tuple(frame, instr):
    frame.push(tuple(frame.popn(instr.arg)))


@handler("BUILD_LIST")
def _build_list(frame, instr):
    created(frame, frame.popn(instr.arg))


@handler("BUILD_SET")
def _build_set(frame, instr):
    created(frame, set(frame.popn(instr.arg)))


@handler("BUILD_MAP")
def _build_map(frame, instr):
    items = frame.popn(2 * instr.arg)
    created(frame, dict(zip(items[::2], items[1::2])))


@handler("BUILD_CONST_KEY_MAP")
def _build_const_key_map(frame, instr):
    keys = frame.pop()
    created(frame, dict(zip(keys, frame.popn(instr.arg))))


@handler("BUILD_STRING")
def _build_string(frame, instr):
    frame.push("".join(frame.popn(instr.arg)))


@handler("LIST_APPEND")
def _list_append(frame, instr):
    value = frame.pop()
    frame.stack[-instr.arg].append(value)


@handler("SET_ADD")
def _set_add(frame, instr):
    value = frame.pop()
    frame.stack[-instr.arg].add(value)


@handler("MAP_ADD")
def _map_add(frame, instr):
    value = frame.pop()
    key = frame.pop()
    frame.stack[-instr.arg][key] = value


@handler("LIST_EXTEND", "SET_UPDATE")
def _extend(frame, instr):
    """`[*xs]`, `{*xs}`: a user class's items under the tracer, others as native code reads
    them (`contents`: an outside container's through its sources)."""
    value = frame.pop()
    items = protocols.iterated(runner(frame), value) if protocols.is_user_object(value) else None
    target = frame.stack[-instr.arg]
    (target.extend if isinstance(target, list) else target.update)(
        frame.ctx.contents(value) if items is None else items)


@handler("DICT_UPDATE", "DICT_MERGE")
def _update(frame, instr):
    value = frame.pop()
    items = protocols.mapping_items(runner(frame), value) \
        if protocols.is_user_object(value) else None
    frame.stack[-instr.arg].update(frame.ctx.contents(value) if items is None else items)


@handler("LIST_TO_TUPLE", until=(3, 11))
def _list_to_tuple(frame, instr):
    frame.push(tuple(frame.pop()))


def _stop_iteration_error(exc):
    """PEP 479 in a generator's cleanup handler: a StopIteration leaving it is an error."""
    if not isinstance(exc, StopIteration):
        return exc
    error = RuntimeError("generator raised StopIteration")
    error.__cause__ = exc
    return error


_INTRINSICS = {"INTRINSIC_LIST_TO_TUPLE": tuple, "INTRINSIC_UNARY_POSITIVE": operator.pos,
               "INTRINSIC_STOPITERATION_ERROR": _stop_iteration_error}
_INTRINSIC_CONSTRUCTS = {"INTRINSIC_IMPORT_STAR": "from ... import *",
                         "INTRINSIC_PRINT": "interactive-mode printing",
                         "INTRINSIC_ASYNC_GEN_WRAP": "async generators"}


@handler("CALL_INTRINSIC_2", since=(3, 12))
def _call_intrinsic_2(frame, instr):
    if instr.arg.name != "INTRINSIC_PREP_RERAISE_STAR":    # the others make generic types
        raise frame.ctx.unsupported(f"generic type parameters (PEP 695; CALL_INTRINSIC_2 "
                                    f"{instr.arg.name}) are not supported by tracejit on "
                                    f"{describe()}")
    raised = frame.pop()
    frame.push(prep_reraise_star(frame.pop(), raised))


@handler("CALL_INTRINSIC_1", since=(3, 12))
def _call_intrinsic_1(frame, instr):
    fn = _INTRINSICS.get(instr.arg.name)
    if fn is None:
        construct = _INTRINSIC_CONSTRUCTS.get(instr.arg.name, "generic type parameters (PEP 695)")
        raise frame.ctx.unsupported(f"{construct} (CALL_INTRINSIC_1 {instr.arg.name}) is not "
                                    f"supported by tracejit on {describe()}")
    frame.push(fn(frame.pop()))


# ---- f-strings: text of traced values goes through the one door (pyvalues.text) ---------------
_CONVERSIONS = {1: str, 2: repr, 3: ascii}


@handler("FORMAT_VALUE", until=(3, 12))
def _format_value(frame, instr):
    spec = frame.pop() if instr.arg & 0x04 else ""
    frame.push(_formatted(frame, frame.pop(), _CONVERSIONS.get(instr.arg & 0x03), spec))


@handler("CONVERT_VALUE", since=(3, 13))
def _convert_value(frame, instr):
    frame.push(_formatted(frame, frame.pop(), _CONVERSIONS[int(instr.arg)]))


@handler("FORMAT_SIMPLE", since=(3, 13))
def _format_simple(frame, instr):
    frame.push(_formatted(frame, frame.pop()))


@handler("FORMAT_WITH_SPEC", since=(3, 13))
def _format_with_spec(frame, instr):
    spec = frame.pop()
    frame.push(_formatted(frame, frame.pop(), spec=spec))


def _formatted(frame, value, conversion=None, spec=""):
    """An f-string field: a user class's __format__/__str__/__repr__ under the tracer, other
    values' text through the one door."""
    if protocols.is_user_object(value):
        if conversion is not None:
            value = call(frame, conversion, (value,), {})
        return call(frame, format, (value, spec), {})
    return text(frame.ctx.contents(value), conversion, spec)


def sourced_items(frame, seq):
    """Items of `seq`; those of an outside list/tuple are read through sources."""
    ctx = frame.ctx
    if protocols.is_user_object(seq):
        items = protocols.iterated(runner(frame), seq)
        if items is not None:
            return items
    source = ctx.source_of(seq)
    if source is None or isinstance(seq, Tracer):
        return list(seq)
    if not isinstance(seq, (list, tuple, dict, set, frozenset)):
        raise ctx.unsupported(f"iterating over an outside {type(seq).__name__}")
    if not isinstance(seq, (list, tuple)):
        return list(ctx.contents(seq))        # a dict's keys in order, a set's items
    ctx.guard(Length(source), Equals(len(seq)))
    return [ctx.read(v, Item(source, i)) for i, v in enumerate(seq)]


@handler("UNPACK_SEQUENCE")
def _unpack_sequence(frame, instr):
    items = sourced_items(frame, frame.pop())
    if len(items) != instr.arg:
        raise ValueError(f"expected {instr.arg} values to unpack, got {len(items)}")
    frame.stack.extend(reversed(items))


@handler("UNPACK_EX")
def _unpack_ex(frame, instr):
    before, after = instr.arg & 0xFF, instr.arg >> 8
    items = sourced_items(frame, frame.pop())
    if len(items) < before + after:
        raise ValueError(f"not enough values to unpack (expected at least {before + after}, "
                         f"got {len(items)})")
    middle = items[before:len(items) - after]
    frame.stack.extend(reversed(items[:before] + [middle] + items[len(items) - after:]))
