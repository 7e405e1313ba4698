"""Handlers for exceptions and with-blocks: raising, matching, re-raising, entering and exiting.

The unwinding itself (the exception table, cutting the stack) is `frame.unwind`. CPython's
"exception being handled" (`sys.exception()`, what a bare `raise` re-raises) is
`TraceContext.exc_info`: PUSH_EXC_INFO saves the previous one on the stack and sets the new one,
POP_EXCEPT restores it.

A with-block's `__enter__`/`__exit__` are called through the lookaside like any call, so a
Python context manager (a user's class, `contextlib`'s) is interpreted. A native one (NumPy's
`errstate`) runs natively while tracing; its `__exit__` is remembered so that a trace that
fails halfway still restores what `__enter__` changed.
"""
from __future__ import annotations

import sys

import numpy as np

from .calls import INTERPRETER_STATE, call
from .frame import handler

_NOT_CLASS = "catching classes that do not inherit from BaseException is not allowed"


@handler("RAISE_VARARGS")
def _raise_varargs(frame, instr):
    if instr.arg == 0:
        exc = frame.ctx.exc_info
        if exc is None:
            raise RuntimeError("No active exception to reraise")
        raise exc
    cause = frame.pop() if instr.arg == 2 else None
    exc = frame.pop()
    raise exc from cause


@handler("PUSH_EXC_INFO")
def _push_exc_info(frame, instr):
    exc = frame.pop()
    frame.push(frame.ctx.exc_info)
    frame.push(exc)
    frame.ctx.exc_info = exc


@handler("POP_EXCEPT")
def _pop_except(frame, instr):
    frame.ctx.exc_info = frame.pop()


@handler("CHECK_EXC_MATCH")
def _check_exc_match(frame, instr):
    classes = frame.pop()
    for cls in classes if isinstance(classes, tuple) else (classes,):
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(_NOT_CLASS)
    frame.push(isinstance(frame.top(), classes))


@handler("RERAISE")
def _reraise(frame, instr):
    raise frame.pop()     # its traceback line is where the error first entered this frame


@handler("BEFORE_WITH")
def _before_with(frame, instr):
    manager = frame.pop()
    kind = type(manager)
    if not (hasattr(kind, "__enter__") and hasattr(kind, "__exit__")):
        raise TypeError(f"'{kind.__name__}' object does not support the context manager "
                        "protocol")
    exit_ = kind.__exit__.__get__(manager, kind)
    if is_native(kind.__exit__):
        exit_ = NativeExit(frame.ctx, exit_)
    frame.push(exit_)
    before = np.geterr()
    frame.push(call(frame, kind.__enter__.__get__(manager, kind), [], {}))
    _check_errstate(frame, before)


@handler("WITH_EXCEPT_START")
def _with_except_start(frame, instr):
    # [..., __exit__, lasti, previous exception, exception]
    exc = frame.top()
    frame.push(call(frame, frame.stack[-4], [type(exc), exc, exc.__traceback__], {}))


def is_native(fn):
    """Whether calling `fn` runs it natively rather than interpreting its bytecode."""
    from .context import is_trusted
    return not hasattr(fn, "__code__") or is_trusted(fn)


class NativeExit:
    """The `__exit__` of a native context manager, remembered until it is called."""

    def __init__(self, ctx, exit_):
        self.ctx, self.exit = ctx, exit_
        ctx.open_exits.append(self)

    def __call__(self, *exc_info):
        self.ctx.open_exits.remove(self)
        return self.exit(*exc_info)


def close_native_exits(ctx):
    """Exit the native context managers a failed trace left open, innermost first."""
    while ctx.open_exits:
        ctx.open_exits[-1](None, None, None)


def _check_errstate(frame, before):
    """`np.errstate(divide="raise")` and the like: compiled code does not check floating-point
    errors, so a call that should raise would return inf or nan instead. Refused."""
    after = np.geterr()
    raising = sorted(k for k, v in after.items() if v in ("raise", "call") and v != before[k])
    if raising:
        np.seterr(**before)
        raise frame.ctx.unsupported(
            f"a with block that makes NumPy raise on floating-point errors ({', '.join(raising)})"
            " inside a traced function: compiled code does not check floating-point errors",
            "Test the values instead (np.isfinite, a comparison) and raise, or use "
            "np.errstate(...='ignore'/'warn').")


def _exc_info(ctx):
    exc = ctx.exc_info
    return (None, None, None) if exc is None else (type(exc), exc, exc.__traceback__)


def _exception(ctx):
    return ctx.exc_info


INTERPRETER_STATE[id(sys.exc_info)] = _exc_info
if hasattr(sys, "exception"):
    INTERPRETER_STATE[id(sys.exception)] = _exception
