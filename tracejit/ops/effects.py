"""Effects a compiled call repeats at run time: `print` of traced values, on every call, in order.

A `print` op holds the printed arguments' text where it is fixed (strings, guarded Python
values) and takes the traced ones as inputs; running it prints what plain Python would print
for the same values: the text of the Python or NumPy object the value stands for (`kinds`).

A run that side-exits must not print twice (its call is served again by another entry or a new
trace), and the tracer's own evaluation must not print before the run that follows it: so while
a call is being served, prints are held (`held_output`) and written once that run has ended —
all of them when it returned or raised an error of the program, none when a guard failed.

Derived traces that run the function's computation again — a pullback, a tangent loop running
the primal alongside, a sweep recomputing a loop — print nothing (`without_prints`): the primal
ops print once. The numba backend has no lowering for `print`: an entry that prints runs on the
numpy executor.
"""
import contextlib
import threading

import numpy as np

from ..ir import Op, Trace
from .core import GuardFailure, Primitive


class _Held(threading.local):
    def __init__(self):
        self.prints = None              # the prints of the run being served, or None: print now


_held = _Held()

_AS_PYTHON = {"float": float, "int": int, "bool": bool, "complex": complex}


def _as_printed(value, kind):
    """The object plain Python would hold: a Python number, a NumPy scalar or an array."""
    if kind in _AS_PYTHON:
        return _AS_PYTHON[kind](np.asarray(value).reshape(()))
    if kind == "numpy":
        return np.asarray(value).reshape(())[()]
    return np.asarray(value)


def _print_impl(*values, texts, kinds, sep, end, flush):
    """`texts`: per printed argument, its text, or None for the next traced value."""
    traced = iter(zip(values, kinds))
    objects = [text if text is not None else _as_printed(*next(traced)) for text in texts]
    if _held.prints is not None:
        _held.prints.append((objects, sep, end, flush))
    else:
        print(*objects, sep=sep, end=end, flush=flush)


print_p = Primitive("print", _print_impl, lambda *avals, **params: [], effect=True)
print_p.pure = False                   # never merged with an identical print (cse)
print_p.numba_note = "prints from Python: an entry that prints runs on the numpy executor"


@contextlib.contextmanager
def held_output(keep_on_success=True):
    """Hold the prints made inside; write them when the block ends, unless a guard failed
    (`GuardFailure`) or the block returned and `keep_on_success` is false."""
    outer, _held.prints = _held.prints, []
    held = _held.prints
    try:
        yield
    except GuardFailure:
        _held.prints = outer
        raise
    except BaseException:
        _write(held, outer)
        raise
    _write(held if keep_on_success else [], outer)


def _write(prints, outer):
    _held.prints = outer
    for objects, sep, end, flush in prints:
        if outer is not None:
            outer.append((objects, sep, end, flush))
        else:
            print(*objects, sep=sep, end=end, flush=flush)


def prints(trace):
    """Whether `trace` (or a trace it holds, a loop body) prints."""
    return any(op.prim is print_p or any(isinstance(p, Trace) and prints(p)
                                          for p in op.params.values()) for op in trace.ops)


def without_prints(trace):
    """`trace` with its prints (and those of the traces it holds) left out."""
    if not prints(trace):
        return trace
    ops = tuple(Op(op.prim, op.inputs, op.outputs,
                   {k: without_prints(v) if isinstance(v, Trace) else v
                    for k, v in op.params.items()}, op.loc)
                for op in trace.ops if op.prim is not print_p)
    return Trace(trace.inputs, trace.outputs, ops, trace.name)
