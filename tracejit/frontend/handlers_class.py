"""Class statements inside a traced function: the class body runs under the tracer.

`class Local(Base): ...` loads `__build_class__` (LOAD_BUILD_CLASS) and calls it with the body
compiled as a function. tracejit's `build_class` does what CPython's does: resolve the bases
(`__mro_entries__`), pick the metaclass and its namespace (`__prepare__`), run the body with that
namespace as its locals, and call the metaclass (a user metaclass's Python code traced, like any
call; `type` itself runs natively: it stores the namespace's values, traced ones included, and
calls the bases' `__init_subclass__` and the values' `__set_name__` hooks natively). The body is a frame whose `namespace` serves the name opcodes: LOAD_NAME falls back to the
globals, read through their source like LOAD_GLOBAL; LOAD_CLASSDEREF (3.11) and
LOAD_FROM_DICT_OR_DEREF (3.12+) to the closure cell. The namespace and the class are objects the
function made, so the body and later code may fill them.
"""
from __future__ import annotations

import builtins
import types

from .calls import INTERPRETER_STATE, call, made_class, run_call
from .context import is_trusted
from .frame import HANDLERS, Frame, handler
from .handlers import globals_source, load_global


@handler("LOAD_BUILD_CLASS")
def _load_build_class(frame, instr):
    if "__build_class__" not in frame.builtins:
        raise NameError("__build_class__ not found")
    frame.push(frame.builtins["__build_class__"])


def build_class(ctx, body, name, *bases, **keywords):
    """CPython's `__build_class__(body, name, *bases, **keywords)`, the body traced."""
    if not isinstance(body, types.FunctionType):
        raise TypeError("__build_class__: func must be a function")
    if not isinstance(name, str):
        raise TypeError("__build_class__: name is not a string")
    resolved = types.resolve_bases(bases)
    meta, namespace, keywords = types.prepare_class(name, resolved, keywords)
    ctx.created.add(id(namespace))
    frame = Frame(ctx, body, body.__code__, body.__globals__,
                  globals_source(ctx, body, ctx.source_of(body)))
    frame.namespace = namespace
    cell = run_call(ctx, frame).value
    if resolved is not bases:
        namespace["__orig_bases__"] = bases
    if is_trusted(meta):       # `type`, ABCMeta ...: they store the namespace's values
        cls = made_class(ctx, meta(name, resolved, namespace, **keywords))
    else:
        cls = made_class(ctx, call(ctx.frame, meta, [name, resolved, namespace], keywords))
    if isinstance(cell, types.CellType) and cell.cell_contents is not cls:
        raise TypeError(f"__class__ set to {cell.cell_contents!r} defining {name!r} as {cls!r}")
    return cls


INTERPRETER_STATE[id(builtins.__build_class__)] = build_class


def _namespace(frame):
    if frame.namespace is None:
        raise SystemError("no locals found")       # CPython's words: only class bodies have them
    return frame.namespace


@handler("LOAD_NAME")
def _load_name(frame, instr):
    namespace = _namespace(frame)
    if instr.arg in namespace:
        frame.push(namespace[instr.arg])
    else:
        load_global(frame, instr.arg)


@handler("STORE_NAME")
def _store_name(frame, instr):
    _namespace(frame)[instr.arg] = frame.pop()


@handler("DELETE_NAME")
def _delete_name(frame, instr):
    namespace = _namespace(frame)
    if instr.arg not in namespace:
        raise NameError(f"name '{instr.arg}' is not defined")
    del namespace[instr.arg]


@handler("SETUP_ANNOTATIONS")
def _setup_annotations(frame, instr):
    namespace = _namespace(frame)
    if "__annotations__" not in namespace:
        annotations = namespace["__annotations__"] = {}
        frame.ctx.created.add(id(annotations))


@handler("LOAD_LOCALS", since=(3, 12))
def _load_locals(frame, instr):
    frame.push(_namespace(frame))


@handler("LOAD_CLASSDEREF", until=(3, 11))
def _load_classderef(frame, instr):
    _from_dict_or(frame, instr, _namespace(frame), HANDLERS["LOAD_DEREF"])


@handler("LOAD_FROM_DICT_OR_DEREF", since=(3, 12))
def _load_from_dict_or_deref(frame, instr):
    _from_dict_or(frame, instr, frame.pop(), HANDLERS["LOAD_DEREF"])


@handler("LOAD_FROM_DICT_OR_GLOBALS", since=(3, 12))
def _load_from_dict_or_globals(frame, instr):
    _from_dict_or(frame, instr, frame.pop(), lambda frame, instr: load_global(frame, instr.arg))


def _from_dict_or(frame, instr, mapping, otherwise):
    name = getattr(instr.arg, "name", instr.arg)
    if name in mapping:
        frame.push(mapping[name])
    else:
        otherwise(frame, instr)
