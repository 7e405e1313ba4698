"""Opcode handlers: one function per opcode (or family), registered with the versions it serves.

Most handlers apply the Python operation itself to the values on the stack: traced values define
every operator, so `a + b` records an `add` and `bool(cond)` records a guard. What the handlers
add is what CPython's own evaluation would lose: where outside values came from (so they are
re-read on every call), the refusal of side effects on outside state, and inlined calls.
Handlers for operators, subscripts and container building live in `handlers_values.py`.

Each handler sees the instruction as `decode.py` normalised it, so one handler serves every
version an operation exists in; `since`/`until` mark where CPython added or changed one.
"""
from __future__ import annotations

import inspect
import sys
import types

from ..ir import Var
from ..ops.core import Tracer, concretize_int, python_type
from . import protocols, pylib
from .calls import InterpretedGenerator, call, inline, runner
from .context import is_trusted
from .frame import NULL, UNBOUND, Return, Yield, handler
from . import handlers_except  # noqa: F401 (registers the exception and with handlers)
from .handlers_values import created, sourced_items
from .pyvalues import attribute_check, class_of
from .sources import Attr, ImportedModule, Item, Lacks, ModuleGlobals, RootFn

# ---- stack and constants ---------------------------------------------------------------------
@handler("NOP", "RESUME")
@handler("PRECALL", until=(3, 11))
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


@handler("RETURN_CONST", since=(3, 12))
def _return_const(frame, instr):
    return Return(instr.arg)


@handler("RETURN_GENERATOR")
def _return_generator(frame, instr):
    if frame.code.co_flags & (inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
        raise frame.ctx.unsupported("async functions (coroutines and async generators) inside a "
                                    "traced function are not supported by tracejit")
    frame.push(None)           # the generator object is made by the call, before the frame runs


@handler("YIELD_VALUE")
def _yield_value(frame, instr):
    value = frame.pop()
    frame.push(None)           # what `send` would deliver when the frame resumes
    return Yield(value)


# ---- yield from: delegation to another iterator ------------------------------------------------
@handler("GET_YIELD_FROM_ITER")
def _get_yield_from_iter(frame, instr):
    value = frame.top()
    if inspect.iscoroutine(value):
        raise TypeError("cannot 'yield from' a coroutine object in a non-coroutine generator")
    if not isinstance(value, (types.GeneratorType, InterpretedGenerator)):
        _get_iter(frame, instr)


@handler("SEND")
def _send(frame, instr):
    """One step of `yield from`: the delegate's next value is yielded by YIELD_VALUE; when it
    returns, its value is the expression's."""
    value = frame.pop()
    receiver = frame.top()
    try:
        if value is None:
            item = _next(frame, receiver)
        else:
            item = call(frame, getattr(receiver, "send"), [value], {})
    except StopIteration as stop:
        delegation_returned(frame, instr, stop.value)
        return
    frame.push(item)


def delegation_returned(frame, send, value):
    """The delegate of the `yield from` whose SEND is `send` returned `value`: continue after
    the loop, with the receiver replaced (3.11) or kept for END_SEND to pop (3.12+)."""
    if sys.version_info < (3, 12):
        frame.pop()
    frame.push(value)
    frame.pc = send.target


@handler("END_SEND", since=(3, 12))
def _end_send(frame, instr):
    value = frame.pop()
    frame.pop()
    frame.push(value)


@handler("CLEANUP_THROW", since=(3, 12))
def _cleanup_throw(frame, instr):
    # [receiver, last sent value, error]: an error thrown into the delegate that it did not
    # handle; a StopIteration ends the delegation with its value, anything else propagates
    error = frame.pop()
    if not isinstance(error, StopIteration):
        raise error
    frame.popn(2)
    frame.push(None)
    frame.push(error.value)


# ---- locals, cells, globals ------------------------------------------------------------------
def _slot(instr):
    """The local name an instruction addresses (cell and free variables come as objects)."""
    return getattr(instr.arg, "name", instr.arg)


@handler("LOAD_FAST", "LOAD_CLOSURE")
@handler("LOAD_FAST_CHECK", since=(3, 12))
def _load_fast(frame, instr):
    value = frame.locals.get(_slot(instr), UNBOUND)
    if value is UNBOUND:
        raise UnboundLocalError(f"local variable '{_slot(instr)}' referenced before assignment")
    frame.push(value)


@handler("LOAD_FAST_AND_CLEAR", since=(3, 12))
def _load_fast_and_clear(frame, instr):
    # An inlined comprehension saves the outer variable of the same name (NULL if unbound) ...
    frame.push(frame.locals.pop(instr.arg, NULL))


@handler("STORE_FAST")
def _store_fast(frame, instr):
    value = frame.pop()
    if value is NULL:              # ... and its STORE_FAST afterwards restores it, unbound too
        frame.locals.pop(instr.arg, None)
    else:
        frame.locals[instr.arg] = value


@handler("DELETE_FAST")
def _delete_fast(frame, instr):
    del frame.locals[instr.arg]


@handler("MAKE_CELL")
def _make_cell(frame, instr):
    value = frame.locals.get(_slot(instr), UNBOUND)
    frame.locals[_slot(instr)] = types.CellType() if value is UNBOUND else types.CellType(value)


@handler("COPY_FREE_VARS")
def _copy_free_vars(frame, instr):
    ctx, fn = frame.ctx, frame.fn
    fn_source = ctx.source_of(fn)
    for i, name in enumerate(frame.code.co_freevars):
        cell = fn.__closure__[i]
        frame.locals[name] = cell
        if fn_source is not None:        # a closure over outside state: reads stay sourced
            ctx.track(cell, Item(Attr(fn_source, "__closure__"), i))


@handler("LOAD_DEREF")
def _load_deref(frame, instr):
    cell = frame.locals[_slot(instr)]
    try:
        value = cell.cell_contents
    except ValueError:
        raise NameError(f"free variable '{_slot(instr)}' referenced before assignment") from None
    source = frame.ctx.source_of(cell)
    frame.push(frame.ctx.read(value, Attr(source, "cell_contents") if source else None))


def _own_cell(frame, instr):
    cell = frame.locals[_slot(instr)]
    if frame.ctx.source_of(cell) is not None:
        raise frame.ctx.unsupported(f"assignment to nonlocal variable '{_slot(instr)}' of a "
                                    "function outside the trace")
    return cell


@handler("STORE_DEREF")
def _store_deref(frame, instr):
    _own_cell(frame, instr).cell_contents = frame.pop()


@handler("DELETE_DEREF")
def _delete_deref(frame, instr):
    del _own_cell(frame, instr).cell_contents


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
    load_global(frame, instr.arg)      # the NULL flag was split off by the decoder


def load_global(frame, name):
    """Push global `name` (else the builtin), read through the frame's globals' source."""
    ctx = frame.ctx
    if name in frame.globals:
        value = frame.globals[name]
        source = Item(frame.globals_source, name) if frame.globals_source is not None else None
        frame.push(ctx.read(value, source))
        return
    if name not in frame.builtins:
        raise NameError(f"name '{name}' is not defined")
    if frame.globals_source is not None:
        ctx.read_missing(frame.globals_source, frame.globals, name)
    frame.push(frame.builtins[name])


@handler("STORE_GLOBAL", "DELETE_GLOBAL")
def _store_global(frame, instr):
    raise frame.ctx.unsupported(f"assignment to global variable '{instr.arg}' inside a traced "
                                "function", "Return the value instead.")


# ---- attributes ------------------------------------------------------------------------------
def load_attr(frame, obj, name):
    ctx = frame.ctx
    if isinstance(obj, Tracer):
        return _tracer_attr(ctx, obj, name)
    getter = protocols.property_getter(obj, name)
    if getter is not None:             # a user class's @property: its getter under the tracer
        return call(frame, getter, (obj,), {})
    try:
        value = getattr(obj, name)
    except AttributeError:
        source = ctx.source_of(obj)
        if source is not None:
            ctx.guard(source, Lacks(name))
        raise
    if isinstance(obj, types.ModuleType) and is_trusted(obj):
        return value
    if isinstance(value, types.MethodType) and value.__self__ is obj:
        return value                   # bound methods are re-made on every access: not guarded
    source = ctx.source_of(obj)
    return ctx.read(value, Attr(source, name) if source is not None else None)


def _tracer_attr(ctx, t, name):
    """`t.name` as CPython would answer it for the object `t` stands for (see pyvalues)."""
    missing = attribute_check(t, name)
    if missing is not None:
        raise missing
    if name == "__class__":
        return class_of(t)
    try:
        return getattr(t, name)
    except AttributeError:
        if python_type(t) in (int, bool):   # n.bit_length(), n.to_bytes(...): read by value
            return getattr(concretize_int(t), name)
        raise ctx.unsupported(f"attribute or method '.{name}' of arrays is not supported "
                              "on traced values") from None


@handler("LOAD_ATTR")
def _load_attr(frame, instr):
    frame.push(load_attr(frame, frame.pop(), instr.arg))


@handler("LOAD_METHOD")
def _load_method(frame, instr):
    # Always [NULL, bound attribute]: CPython's [function, self] is a speed-up of the same call.
    obj = frame.pop()
    frame.push(NULL)
    frame.push(load_attr(frame, obj, instr.arg))


@handler("LOAD_SUPER_ATTR", "LOAD_ZERO_SUPER_ATTR", "LOAD_SUPER_METHOD", "LOAD_ZERO_SUPER_METHOD",
         since=(3, 12))
def _load_super_attr(frame, instr):
    # [super, class, self]: `super().name` with the class and self the compiler loaded
    cls, obj = frame.popn(2)
    global_super = frame.pop()
    if global_super is super:
        proxy = super(cls, obj)
    else:                              # a user's own `super`, called as written
        proxy = call(frame, global_super, [] if "ZERO" in instr.name else [cls, obj], {})
    if instr.name.endswith("METHOD"):
        frame.push(NULL)
    frame.push(load_attr(frame, proxy, instr.arg))


def store_attr(ctx, obj, name, value, what="assignment to", base=None):
    """`obj.name = value` (`del obj.name` for _DELETE) on an object made in the trace; `base`:
    the class whose __setattr__/__delattr__ to use (`object.__setattr__(self, ...)`, as a
    frozen dataclass's __init__ does), else the object's own."""
    if id(obj) not in ctx.created:
        raise ctx.unsupported(
            f"{what} attribute '{name}' of a {type(obj).__name__} that exists outside "
            "the traced function", "Return the new value instead of storing it.")
    if value is _DELETE:
        delattr(obj, name) if base is None else base.__delattr__(obj, name)
    else:
        setattr(obj, name, value) if base is None else base.__setattr__(obj, name, value)


_DELETE = object()


@handler("STORE_ATTR")
def _store_attr(frame, instr):
    obj = frame.pop()
    value = frame.pop()
    store_attr(frame.ctx, obj, instr.arg, value)


@handler("DELETE_ATTR")
def _delete_attr(frame, instr):
    store_attr(frame.ctx, frame.pop(), instr.arg, _DELETE, "del of")


# ---- iteration and jumps ---------------------------------------------------------------------
@handler("GET_ITER")
def _get_iter(frame, instr):
    seq = frame.pop()
    method = protocols.special_method(seq, "__iter__")
    if method is not None:                    # a user class's __iter__, under the tracer
        frame.push(runner(frame)(method, (seq,)))
        return
    if protocols.special_method(seq, "__getitem__") is not None:   # the old sequence protocol
        frame.push(inline(frame.ctx, pylib.sequence_items, (seq,), {}))
        return
    if frame.ctx.source_of(seq) is not None and not isinstance(seq, Tracer):
        seq = sourced_items(frame, seq)
    frame.push(iter(seq))


@handler("FOR_ITER", until=(3, 11))
def _for_iter(frame, instr):
    try:
        frame.push(_next(frame, frame.top()))
    except StopIteration:
        frame.pop()
        frame.pc = instr.target


def _next(frame, iterator):
    """The next item; a user iterator's __next__ runs under the tracer."""
    method = protocols.special_method(iterator, "__next__")
    return next(iterator) if method is None else runner(frame)(method, (iterator,))


_EXHAUSTED = type("EXHAUSTED", (), {"__repr__": lambda self: "EXHAUSTED"})()


@handler("FOR_ITER", since=(3, 12))
def _for_iter_to_end_for(frame, instr):
    # From 3.12 the loop exit is END_FOR, which pops the iterator and one more value. CPython
    # jumps over it, popping the iterator itself; pushing a placeholder for END_FOR is the same.
    try:
        frame.push(_next(frame, frame.top()))
    except StopIteration:
        frame.push(_EXHAUSTED)
        frame.pc = instr.target


@handler("END_FOR", since=(3, 12), until=(3, 12))
def _end_for(frame, instr):
    frame.popn(2)


@handler("END_FOR", since=(3, 13))            # 3.13: the iterator is popped by a POP_TOP after
def _end_for_value(frame, instr):
    frame.pop()


@handler("JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT")
def _jump(frame, instr):
    frame.pc = instr.target


def _decide(frame, value):
    """The truth of a branch condition. One decided on Python values rather than traced data
    is counted: a while loop runs past its traced iterations only if none steered it."""
    value = protocols.truth(runner(frame), value)
    if not (isinstance(value, Tracer) and isinstance(value.atom, Var)):
        frame.ctx.python_branches += 1
    return bool(value)


@handler("POP_JUMP_FORWARD_IF_TRUE", "POP_JUMP_BACKWARD_IF_TRUE", until=(3, 11))
@handler("POP_JUMP_IF_TRUE", since=(3, 12))
def _pop_jump_if_true(frame, instr):
    if _decide(frame, frame.pop()):
        frame.pc = instr.target


@handler("POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_BACKWARD_IF_FALSE", until=(3, 11))
@handler("POP_JUMP_IF_FALSE", since=(3, 12))
def _pop_jump_if_false(frame, instr):
    if not _decide(frame, frame.pop()):
        frame.pc = instr.target


@handler("POP_JUMP_FORWARD_IF_NONE", "POP_JUMP_BACKWARD_IF_NONE", until=(3, 11))
@handler("POP_JUMP_IF_NONE", since=(3, 12))
def _pop_jump_if_none(frame, instr):
    frame.ctx.python_branches += 1
    if frame.pop() is None:
        frame.pc = instr.target


@handler("POP_JUMP_FORWARD_IF_NOT_NONE", "POP_JUMP_BACKWARD_IF_NOT_NONE", until=(3, 11))
@handler("POP_JUMP_IF_NOT_NONE", since=(3, 12))
def _pop_jump_if_not_none(frame, instr):
    frame.ctx.python_branches += 1
    if frame.pop() is not None:
        frame.pc = instr.target


@handler("JUMP_IF_TRUE_OR_POP", until=(3, 11))
def _jump_if_true_or_pop(frame, instr):
    if _decide(frame, frame.top()):
        frame.pc = instr.target
    else:
        frame.pop()


@handler("JUMP_IF_FALSE_OR_POP", until=(3, 11))
def _jump_if_false_or_pop(frame, instr):
    if not _decide(frame, frame.top()):
        frame.pc = instr.target
    else:
        frame.pop()


# ---- calls and functions ---------------------------------------------------------------------
# The stack holds [NULL, callable, args...] or [callable, self, args...] on every version: the
# decoder moves 3.13's NULL below the callable (see decode.py).
@handler("KW_NAMES", until=(3, 12))
def _kw_names(frame, instr):
    frame.kw_names = instr.arg if isinstance(instr.arg, tuple) else frame.code.co_consts[instr.arg]


@handler("CALL")
def _call(frame, instr):
    kw_names, frame.kw_names = frame.kw_names, ()
    _call_with(frame, instr.arg, kw_names)


@handler("CALL_KW", since=(3, 13))
def _call_kw(frame, instr):
    _call_with(frame, instr.arg, frame.pop())


def _call_with(frame, n_args, kw_names):
    args = frame.popn(n_args)
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
    # `f(*xs, **kw)` with containers that live outside: their items read through sources
    frame.push(call(frame, fn, tuple(sourced_items(frame, args)),
                    dict(frame.ctx.contents(kwargs))))


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
    created(frame, fn)


# ---- assertions, imports ---------------------------------------------------------------------
@handler("LOAD_ASSERTION_ERROR")
def _load_assertion_error(frame, instr):
    frame.push(AssertionError)


@handler("IMPORT_NAME")
def _import_name(frame, instr):
    fromlist = frame.pop()
    level = frame.pop()
    module = __import__(instr.arg, frame.globals, None, fromlist, level)
    # a module's attributes are outside state like a global's: read through a source
    frame.push(module if is_trusted(module) else
               frame.ctx.read(module, ImportedModule(module.__name__)))


@handler("IMPORT_FROM")
def _import_from(frame, instr):
    frame.push(load_attr(frame, frame.top(), instr.arg))

