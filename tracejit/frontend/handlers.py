"""Opcode handlers: one function per opcode (or family), registered with the versions it serves.

Most handlers apply the Python operation itself to the values on the stack: traced values define
every operator, so `a + b` records an `add` and `bool(cond)` records a guard. What the handlers
add is what CPython's own evaluation would lose: where outside values came from (so they are
re-read on every call), the refusal of side effects on outside state, and inlined calls.
"""
from __future__ import annotations

import operator
import sys
import types

import numpy as np

from ..numpy._registry import has_tracer
from ..ops.core import Tracer, constant
from .calls import call
from .context import is_trusted
from .frame import NULL, UNBOUND, Return, Yield, handler
from .sources import Attr, Equals, Item, Length, ModuleGlobals, RootFn

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
_COMPARE = {"LT": operator.lt, "LE": operator.le, "EQ": operator.eq, "NE": operator.ne,
            "GT": operator.gt, "GE": operator.ge}


def _lift_constant_array(container, key):
    """`ndarray[traced index]`: the constant array becomes a traced constant so indexing records."""
    if isinstance(container, np.ndarray) and has_tracer(key if isinstance(key, tuple) else (key,)):
        like = next(k for k in (key if isinstance(key, tuple) else (key,)) if isinstance(k, Tracer))
        return constant(like, container)
    return container


# ---- stack and constants ---------------------------------------------------------------------
@handler("NOP", "RESUME", "PRECALL", "CACHE", "EXTENDED_ARG")
def _nop(frame, instr):
    return None


@handler("PUSH_NULL")
def _push_null(frame, instr):
    frame.push(NULL)


@handler("POP_TOP")
def _pop_top(frame, instr):
    frame.pop()


@handler("COPY")
def _copy(frame, instr):
    frame.push(frame.stack[-instr.arg])


@handler("SWAP")
def _swap(frame, instr):
    s = frame.stack
    s[-1], s[-instr.arg] = s[-instr.arg], s[-1]


@handler("LOAD_CONST")
def _load_const(frame, instr):
    frame.push(instr.arg)


@handler("RETURN_VALUE")
def _return_value(frame, instr):
    return Return(frame.pop())


@handler("RETURN_GENERATOR")
def _return_generator(frame, instr):
    frame.push(None)           # the generator object is made by the call, before the frame runs


@handler("YIELD_VALUE")
def _yield_value(frame, instr):
    value = frame.pop()
    frame.push(None)           # what `send` would deliver when the frame resumes
    return Yield(value)


# ---- locals, cells, globals ------------------------------------------------------------------
@handler("LOAD_FAST")
def _load_fast(frame, instr):
    value = frame.locals.get(instr.arg, UNBOUND)
    if value is UNBOUND:
        raise UnboundLocalError(f"local variable '{instr.arg}' referenced before assignment")
    frame.push(value)


@handler("STORE_FAST")
def _store_fast(frame, instr):
    frame.locals[instr.arg] = frame.pop()


@handler("DELETE_FAST")
def _delete_fast(frame, instr):
    del frame.locals[instr.arg]


@handler("MAKE_CELL")
def _make_cell(frame, instr):
    name = instr.arg.name
    value = frame.locals.pop(name, UNBOUND)
    frame.cells[name] = types.CellType() if value is UNBOUND else types.CellType(value)


@handler("COPY_FREE_VARS")
def _copy_free_vars(frame, instr):
    ctx, fn = frame.ctx, frame.fn
    fn_source = ctx.source_of(fn)
    for i, name in enumerate(frame.code.co_freevars):
        cell = fn.__closure__[i]
        frame.cells[name] = cell
        if fn_source is not None:        # a closure over outside state: reads stay sourced
            ctx.track(cell, Item(Attr(fn_source, "__closure__"), i))


@handler("LOAD_CLOSURE")
def _load_closure(frame, instr):
    frame.push(frame.cells[instr.arg.name])


@handler("LOAD_DEREF")
def _load_deref(frame, instr):
    cell = frame.cells[instr.arg.name]
    try:
        value = cell.cell_contents
    except ValueError:
        raise NameError(f"free variable '{instr.arg.name}' referenced before assignment") from None
    source = frame.ctx.source_of(cell)
    frame.push(frame.ctx.read(value, Attr(source, "cell_contents") if source else None))


@handler("STORE_DEREF")
def _store_deref(frame, instr):
    cell = frame.cells[instr.arg.name]
    if frame.ctx.source_of(cell) is not None:
        raise frame.ctx.unsupported(f"assignment to nonlocal variable '{instr.arg.name}' of a "
                                    "function outside the trace")
    cell.cell_contents = frame.pop()


def globals_source(ctx, fn, fn_source):
    """A source for `fn.__globals__`, so that global reads are re-checked on every call."""
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    if module is not None and module.__dict__ is fn.__globals__:
        return ModuleGlobals(module.__name__)
    if fn is ctx.root_fn:
        return Attr(RootFn(), "__globals__")
    return Attr(fn_source, "__globals__") if fn_source is not None else None


@handler("LOAD_GLOBAL")
def _load_global(frame, instr):
    push_null, name = instr.arg
    if push_null:
        frame.push(NULL)
    ctx = frame.ctx
    if name in frame.globals:
        value = frame.globals[name]
        source = Item(frame.globals_source, name) if frame.globals_source is not None else None
        frame.push(ctx.read(value, source))
        return
    if name not in frame.builtins:
        raise NameError(f"name '{name}' is not defined")
    if frame.globals_source is not None:
        ctx.read_global_missing(frame.globals_source, name)
    frame.push(frame.builtins[name])


@handler("STORE_GLOBAL", "DELETE_GLOBAL")
def _store_global(frame, instr):
    raise frame.ctx.unsupported(f"assignment to global variable '{instr.arg}' inside a traced "
                                "function", "Return the value instead.")


# ---- attributes ------------------------------------------------------------------------------
def load_attr(frame, obj, name):
    ctx = frame.ctx
    try:
        value = getattr(obj, name)
    except AttributeError:
        if isinstance(obj, Tracer):
            raise ctx.unsupported(f"attribute or method '.{name}' of arrays is not supported "
                                  "on traced values") from None
        raise
    if isinstance(obj, Tracer) or (isinstance(obj, types.ModuleType) and is_trusted(obj)):
        return value
    if isinstance(value, types.MethodType) and value.__self__ is obj:
        return value                   # bound methods are re-made on every access: not guarded
    source = ctx.source_of(obj)
    return ctx.read(value, Attr(source, name) if source is not None else None)


@handler("LOAD_ATTR")
def _load_attr(frame, instr):
    frame.push(load_attr(frame, frame.pop(), instr.arg))


@handler("LOAD_METHOD")
def _load_method(frame, instr):
    obj = frame.pop()
    frame.push(NULL)
    frame.push(load_attr(frame, obj, instr.arg))


def store_attr(ctx, obj, name, value, what="assignment to"):
    if id(obj) not in ctx.created:
        raise ctx.unsupported(
            f"{what} attribute '{name}' of a {type(obj).__name__} that exists outside "
            "the traced function", "Return the new value instead of storing it.")
    if value is _DELETE:
        delattr(obj, name)
    else:
        setattr(obj, name, value)


_DELETE = object()


@handler("STORE_ATTR")
def _store_attr(frame, instr):
    obj = frame.pop()
    value = frame.pop()
    store_attr(frame.ctx, obj, instr.arg, value)


@handler("DELETE_ATTR")
def _delete_attr(frame, instr):
    store_attr(frame.ctx, frame.pop(), instr.arg, _DELETE, "del of")


# ---- operators -------------------------------------------------------------------------------
@handler("BINARY_OP")
def _binary_op(frame, instr):
    b = frame.pop()
    a = frame.pop()
    frame.push(_BINARY[instr.arg.name](a, b))


@handler("COMPARE_OP")
def _compare_op(frame, instr):
    b = frame.pop()
    a = frame.pop()
    frame.push(_COMPARE[instr.arg.name](a, b))


@handler("IS_OP")
def _is_op(frame, instr):
    b = frame.pop()
    a = frame.pop()
    frame.push((a is not b) if instr.arg else (a is b))


@handler("CONTAINS_OP")
def _contains_op(frame, instr):
    container = frame.pop()
    item = frame.pop()
    frame.push((item not in container) if instr.arg else (item in container))


@handler("UNARY_NEGATIVE")
def _unary_negative(frame, instr):
    frame.push(-frame.pop())


@handler("UNARY_POSITIVE")
def _unary_positive(frame, instr):
    frame.push(+frame.pop())


@handler("UNARY_INVERT")
def _unary_invert(frame, instr):
    frame.push(~frame.pop())


@handler("UNARY_NOT")
def _unary_not(frame, instr):
    frame.push(not frame.pop())


# ---- subscripts ------------------------------------------------------------------------------
@handler("BINARY_SUBSCR")
def _binary_subscr(frame, instr):
    key = frame.pop()
    container = _lift_constant_array(frame.pop(), key)
    value = container[key]
    source = frame.ctx.source_of(container)
    if source is not None and not isinstance(container, Tracer):
        if isinstance(key, (int, str)) and not isinstance(key, bool):
            value = frame.ctx.read(value, Item(source, key))
        elif isinstance(key, slice) and type(container) in (list, tuple):
            value = type(container)(_sourced_items(frame, container)[key])
        else:
            raise frame.ctx.unsupported(f"indexing an outside {type(container).__name__} with "
                                        f"{type(key).__name__}")
    frame.push(value)


@handler("STORE_SUBSCR")
def _store_subscr(frame, instr):
    key = frame.pop()
    container = frame.pop()
    value = frame.pop()
    ctx = frame.ctx
    if isinstance(container, np.ndarray) and (isinstance(value, Tracer) or has_tracer((key,))):
        raise ctx.unsupported("writing a traced value into a NumPy array that tracejit did not "
                              "see being created", "Create it inside the traced function with "
                              "numpy.zeros/empty/array so its contents are traced.")
    if not isinstance(container, Tracer) and ctx.is_outside(container):
        raise ctx.unsupported(f"item assignment to a {type(container).__name__} that exists "
                              "outside the traced function", "Build a new one inside instead.")
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
def _created(frame, obj):
    frame.ctx.created.add(id(obj))
    frame.push(obj)


@handler("BUILD_TUPLE")
def _build_tuple(frame, instr):
    frame.push(tuple(frame.popn(instr.arg)))


@handler("BUILD_LIST")
def _build_list(frame, instr):
    _created(frame, frame.popn(instr.arg))


@handler("BUILD_SET")
def _build_set(frame, instr):
    _created(frame, set(frame.popn(instr.arg)))


@handler("BUILD_MAP")
def _build_map(frame, instr):
    items = frame.popn(2 * instr.arg)
    _created(frame, dict(zip(items[::2], items[1::2])))


@handler("BUILD_CONST_KEY_MAP")
def _build_const_key_map(frame, instr):
    keys = frame.pop()
    _created(frame, dict(zip(keys, frame.popn(instr.arg))))


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


@handler("LIST_EXTEND")
def _list_extend(frame, instr):
    values = frame.pop()
    frame.stack[-instr.arg].extend(values)


@handler("SET_UPDATE", "DICT_UPDATE", "DICT_MERGE")
def _update(frame, instr):
    values = frame.pop()
    frame.stack[-instr.arg].update(values)


@handler("LIST_TO_TUPLE")
def _list_to_tuple(frame, instr):
    frame.push(tuple(frame.pop()))


@handler("FORMAT_VALUE")
def _format_value(frame, instr):
    spec = frame.pop() if instr.arg & 0x04 else ""
    value = frame.pop()
    if isinstance(value, Tracer):
        value = value.val
    convert = {1: str, 2: repr, 3: ascii}.get(instr.arg & 0x03)
    frame.push(format(convert(value) if convert else value, spec))


def _sourced_items(frame, seq):
    """Items of `seq`; those of an outside list/tuple are read through sources."""
    ctx = frame.ctx
    source = ctx.source_of(seq)
    if source is None or isinstance(seq, Tracer):
        return list(seq)
    if not isinstance(seq, (list, tuple)):
        raise ctx.unsupported(f"iterating over an outside {type(seq).__name__}")
    ctx.guard(Length(source), Equals(len(seq)))
    return [ctx.read(v, Item(source, i)) for i, v in enumerate(seq)]


@handler("UNPACK_SEQUENCE")
def _unpack_sequence(frame, instr):
    items = _sourced_items(frame, frame.pop())
    if len(items) != instr.arg:
        raise ValueError(f"expected {instr.arg} values to unpack, got {len(items)}")
    frame.stack.extend(reversed(items))


@handler("UNPACK_EX")
def _unpack_ex(frame, instr):
    before, after = instr.arg & 0xFF, instr.arg >> 8
    items = _sourced_items(frame, frame.pop())
    if len(items) < before + after:
        raise ValueError(f"not enough values to unpack (expected at least {before + after}, "
                         f"got {len(items)})")
    middle = items[before:len(items) - after]
    frame.stack.extend(reversed(items[:before] + [middle] + items[len(items) - after:]))


# ---- iteration and jumps ---------------------------------------------------------------------
@handler("GET_ITER")
def _get_iter(frame, instr):
    seq = frame.pop()
    if frame.ctx.source_of(seq) is not None and not isinstance(seq, Tracer):
        seq = _sourced_items(frame, seq)
    frame.push(iter(seq))


@handler("FOR_ITER")
def _for_iter(frame, instr):
    try:
        frame.push(next(frame.top()))
    except StopIteration:
        frame.pop()
        frame.pc = instr.target


@handler("JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT")
def _jump(frame, instr):
    frame.pc = instr.target


@handler("POP_JUMP_FORWARD_IF_TRUE", "POP_JUMP_BACKWARD_IF_TRUE")
def _pop_jump_if_true(frame, instr):
    if frame.pop():
        frame.pc = instr.target


@handler("POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_BACKWARD_IF_FALSE")
def _pop_jump_if_false(frame, instr):
    if not frame.pop():
        frame.pc = instr.target


@handler("POP_JUMP_FORWARD_IF_NONE", "POP_JUMP_BACKWARD_IF_NONE")
def _pop_jump_if_none(frame, instr):
    if frame.pop() is None:
        frame.pc = instr.target


@handler("POP_JUMP_FORWARD_IF_NOT_NONE", "POP_JUMP_BACKWARD_IF_NOT_NONE")
def _pop_jump_if_not_none(frame, instr):
    if frame.pop() is not None:
        frame.pc = instr.target


@handler("JUMP_IF_TRUE_OR_POP")
def _jump_if_true_or_pop(frame, instr):
    if frame.top():
        frame.pc = instr.target
    else:
        frame.pop()


@handler("JUMP_IF_FALSE_OR_POP")
def _jump_if_false_or_pop(frame, instr):
    if not frame.top():
        frame.pc = instr.target
    else:
        frame.pop()


# ---- calls and functions ---------------------------------------------------------------------
@handler("KW_NAMES")
def _kw_names(frame, instr):
    frame.kw_names = instr.arg if isinstance(instr.arg, tuple) else frame.code.co_consts[instr.arg]


@handler("CALL")
def _call(frame, instr):
    kw_names, frame.kw_names = frame.kw_names, ()
    args = frame.popn(instr.arg)
    second = frame.pop()
    first = frame.pop()
    fn, args = (second, args) if first is NULL else (first, [second, *args])
    n_kw = len(kw_names)
    kwargs = dict(zip(kw_names, args[len(args) - n_kw:])) if n_kw else {}
    frame.push(call(frame, fn, args[:len(args) - n_kw], kwargs))


@handler("CALL_FUNCTION_EX")
def _call_function_ex(frame, instr):
    kwargs = frame.pop() if instr.arg & 0x01 else {}
    args = frame.pop()
    fn = frame.pop()
    if frame.stack and frame.stack[-1] is NULL:
        frame.pop()
    frame.push(call(frame, fn, tuple(args), dict(kwargs)))


@handler("MAKE_FUNCTION")
def _make_function(frame, instr):
    code = frame.pop()
    closure = frame.pop() if instr.arg & 0x08 else None
    if instr.arg & 0x04:
        frame.pop()                                    # annotations
    kwdefaults = frame.pop() if instr.arg & 0x02 else None
    defaults = frame.pop() if instr.arg & 0x01 else None
    fn = types.FunctionType(code, frame.globals, code.co_name, defaults, closure)
    fn.__kwdefaults__ = kwdefaults
    fn.__qualname__ = code.co_qualname
    _created(frame, fn)


# ---- exceptions, imports ---------------------------------------------------------------------
@handler("LOAD_ASSERTION_ERROR")
def _load_assertion_error(frame, instr):
    frame.push(AssertionError)


@handler("RAISE_VARARGS")
def _raise_varargs(frame, instr):
    if instr.arg == 0:
        raise frame.ctx.unsupported("a bare `raise` (re-raise) inside a traced function")
    cause = frame.pop() if instr.arg == 2 else None
    exc = frame.pop()
    raise exc from cause


@handler("TRY_BEGIN")
def _try_begin(frame, instr):
    raise frame.ctx.unsupported("try/except, try/finally and with blocks inside a traced function",
                                "Move the guarded code into a helper called outside the trace.")


@handler("IMPORT_NAME")
def _import_name(frame, instr):
    fromlist = frame.pop()
    level = frame.pop()
    frame.push(__import__(instr.arg, frame.globals, None, fromlist, level))


@handler("IMPORT_FROM")
def _import_from(frame, instr):
    frame.push(getattr(frame.top(), instr.arg))

