"""Interpreter frames and the loop that runs one frame's bytecode.

A `Frame` holds what CPython's frame holds (value stack, local slots, globals) for one code
object. `run_frame` executes instructions through the version's handler table until the frame
returns or yields. Calls to Python functions create nested frames (inlining), so the whole call
tree of the user's function executes under the tracer.
"""
from __future__ import annotations

import types

from ..errors import UnsupportedError
from .decode import decode
from .opcodes import REFUSED
from .usertb import user_traceback
from .versions import FIRST, LATEST, describe, serves

NULL = type("NULL", (), {"__repr__": lambda self: "NULL"})()   # CPython's NULL stack marker
UNBOUND = type("UNBOUND", (), {"__repr__": lambda self: "UNBOUND"})()


class Return:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class Yield(Return):
    __slots__ = ()


class Frame:
    """`locals` maps each name to its slot, as CPython's fast locals do: a cell variable's slot
    holds its cell (after MAKE_CELL or COPY_FREE_VARS), which is what 3.13's LOAD_FAST of a cell
    and 3.12's LOAD_FAST_AND_CLEAR around inlined comprehensions expect."""
    __slots__ = ("ctx", "fn", "code", "instrs", "decoded", "pc", "stack", "locals",
                 "globals", "builtins", "globals_source", "kw_names", "lineno", "loops",
                 "heads", "head_ops", "last", "raised_at", "namespace")

    def __init__(self, ctx, fn, code, globals_, globals_source):
        self.ctx = ctx
        self.fn = fn
        self.code = code
        self.decoded = decode(code)
        self.instrs = self.decoded.instrs
        self.pc = 0
        self.stack = []
        self.locals = {}
        self.globals = globals_
        self.builtins = globals_.get("__builtins__", __builtins__)
        if isinstance(self.builtins, types.ModuleType):
            self.builtins = self.builtins.__dict__
        self.globals_source = globals_source
        self.kw_names = ()
        self.lineno = None          # the first instruction sets the location (one-line functions too)
        self.loops = []           # loops being executed, innermost last (see TraceContext.back_edge)
        self.heads = self.decoded.heads
        self.head_ops = {}        # loop head -> (op count, python_branches, Python state) when
                                  # its loop was last entered
        self.last = -1            # index of the instruction running (or that ran last)
        self.raised_at = None     # id(error) -> (error, line it was raised at in this frame)
        self.namespace = None     # a class body's namespace, which its name opcodes use
        if self.decoded.user_handlers:
            ctx.protected = True

    def push(self, value):
        self.stack.append(value)

    def pop(self):
        return self.stack.pop()

    def popn(self, n):
        if n == 0:
            return []
        values = self.stack[-n:]
        del self.stack[-n:]
        return values

    def top(self):
        return self.stack[-1]

    @property
    def loc(self):
        return self.decoded.loc(self.lineno)


HANDLERS: dict = {}          # opcode name -> handler(frame, instr), for the running Python


def handler(*names, since=FIRST, until=LATEST):
    """Register a handler for opcodes `names` on Python versions since..until (inclusive)."""
    def register(fn):
        if serves(since, until):
            for name in names:
                HANDLERS[name] = fn
        return fn
    return register


def run_frame(frame: Frame, throw=None):
    """Run until the frame returns (a `Return`) or yields (a `Yield`); `throw` is an exception
    to raise where the frame is suspended (a generator's `throw`)."""
    error = throw
    index = frame.pc - 1
    while True:
        if error is not None:          # outside any `except`: nothing chains onto the error
            unwind(frame, index, error)
            error = None
        try:
            return _run_instructions(frame)
        except UnsupportedError as raised:
            if raised.loc is not None:
                raise
            # refused deep inside (a NumPy shim, a math function): name the user's line
            raise UnsupportedError(raised.what, frame.ctx.loc, raised.hint) from None
        except BaseException as raised:
            if not catchable(raised):
                raise
            error, index = raised, frame.last


def _run_instructions(frame):
    ctx = frame.ctx
    instrs = frame.instrs
    while True:
        index = frame.last = frame.pc
        instr = instrs[index]
        frame.pc += 1
        if index in frame.heads:                   # where a loop's iteration starts
            ctx.reach_head(frame, index)
        if instr.lineno is not None and instr.lineno != frame.lineno:
            frame.lineno = instr.lineno
            ctx.set_loc(frame)
        fn = HANDLERS.get(instr.name)
        if fn is None:
            raise unknown_opcode(instr.name, frame.loc)
        result = fn(frame, instr)
        if ctx.dropped_generators:
            ctx.close_dropped()
        if frame.pc <= index and frame.pc in frame.heads:   # one more iteration of a loop
            ctx.back_edge(frame, frame.pc, index)
        elif frame.loops and not frame.loops[-1].contains(frame.pc):
            ctx.leave_loops(frame)
        if result is not None:
            if type(result) is Return:
                ctx.leave_loops(frame, returned=result)
            return result


def catchable(error):
    """Whether the user's code may catch `error`. tracejit's own errors (a refused construct,
    a limit), RecursionError (the tracer nests deeper than CPython would) and the interpreter's
    own exits (KeyboardInterrupt, SystemExit) end the trace; GeneratorExit is the user's."""
    from ..errors import TracejitError
    return isinstance(error, (Exception, GeneratorExit)) and \
        not isinstance(error, (TracejitError, RecursionError))


def unwind(frame, index, error):
    """CPython's exception unwinding for one frame: the exception table entry of instruction
    `index` names the handler, the stack depth to cut to, and whether to push the index;
    with none, the error leaves the frame, its traceback naming the user's line."""
    ctx = frame.ctx
    chain_context(ctx.exc_info, error)
    valid = 0 <= index < len(frame.instrs)
    if valid and not _is_reraise(frame.instrs[index]):
        _note_raise(frame, error)
    handler = frame.decoded.handlers[index] if valid else None
    if handler is None:
        frame.loops.clear()          # their iterations stay as traced: sound, if unrolled
        _, lineno = (frame.raised_at or {}).get(id(error), (None, frame.lineno))
        raise error.with_traceback(user_traceback(frame, lineno, error.__traceback__))
    ctx.created.add(id(error))       # made while tracing: a handler may set its attributes
    del frame.stack[handler.depth:]
    if handler.push_lasti:
        frame.push(index)
    frame.push(error)
    frame.pc = handler.target


def _is_reraise(instr):
    return instr.name == "RERAISE" or (instr.name == "RAISE_VARARGS" and instr.arg == 0)


def _note_raise(frame, error):
    """CPython's traceback entry for a frame is made where an error is raised in it; passing
    through `finally` or `except ...: raise` does not move it."""
    if frame.raised_at is None:
        frame.raised_at = {}
    frame.raised_at[id(error)] = (error, frame.lineno)


def chain_context(handled, error):
    """What CPython does when `error` is raised while `handled` is being handled: the new
    error's `__context__` is the handled one (a re-raise of the handled error keeps its own)."""
    if handled is None or error is handled or error.__context__ is not None:
        return
    link = handled
    while link is not None:          # never make a cycle
        if link is error:
            return
        link = link.__context__
    error.__context__ = handled


def unknown_opcode(name, loc):
    construct = REFUSED.get(name)
    if construct is not None:
        return UnsupportedError(f"{construct} (opcode {name}) is not supported by tracejit on "
                                f"{describe()}", loc)
    return UnsupportedError(f"the Python construct behind opcode {name} is not supported by "
                            f"tracejit on {describe()}", loc)
