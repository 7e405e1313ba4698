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


# ---- except*: exception groups split among the clauses, then what is left raised again -------
@handler("CHECK_EG_MATCH")
def _check_eg_match(frame, instr):
    """[exception, classes] -> [rest, match]: the part of the exception (group) the classes
    match, a naked exception wrapped in a group, becomes the exception being handled."""
    classes = frame.pop()
    exc = frame.pop()
    for cls in classes if isinstance(classes, tuple) else (classes,):
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(_NOT_CLASS)
        if issubclass(cls, BaseExceptionGroup):
            raise TypeError("catching ExceptionGroup with except* is not allowed. Use except "
                            "instead.")
    match, rest = _split(exc, classes)
    frame.push(rest)
    frame.push(match)
    if match is not None:
        frame.ctx.exc_info = match


def _split(exc, classes):
    """(match, rest) as CPython's exception_group_match."""
    if exc is None:
        return None, None
    if isinstance(exc, classes):
        if isinstance(exc, BaseExceptionGroup):
            return exc, None
        wrapped = BaseExceptionGroup("", [exc])       # an ExceptionGroup when exc is an Exception
        return wrapped.with_traceback(exc.__traceback__), None
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(classes)
    return None, exc


def prep_reraise_star(original, raised):
    """What a try/except* statement raises when its clauses are done, as CPython's
    _PyExc_PrepReraiseStar: nothing if nothing is left; the part of the original group that
    clauses re-raised (or did not match), in its own structure; with new exceptions from the
    clauses, all in a new group."""
    if not raised:
        return None
    if not isinstance(original, BaseExceptionGroup):
        return raised[0]                     # a naked exception: one clause ran, at most
    new, again = [], []
    for exc in raised:
        if exc is not None:
            (again if _same_metadata(exc, original) else new).append(exc)
    leaves = {id(leaf) for exc in again for leaf in _leaves(exc)}
    kept = original.split(lambda leaf: id(leaf) in leaves)[0] if again else None
    if not new:
        return kept
    if kept is not None:
        new.append(kept)
    return BaseExceptionGroup("", new) if len(new) > 1 else new[0]


def _same_metadata(a, b):
    missing = object()
    return getattr(a, "__notes__", missing) is getattr(b, "__notes__", missing) and \
        a.__traceback__ is b.__traceback__ and a.__cause__ is b.__cause__ and \
        a.__context__ is b.__context__


def _leaves(exc):
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


@handler("PREP_RERAISE_STAR", until=(3, 11))
def _prep_reraise_star(frame, instr):
    raised = frame.pop()
    frame.push(prep_reraise_star(frame.pop(), raised))


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
