"""Entry point of the frontend: run a function under the tracer and return its trace."""
from __future__ import annotations

import inspect
import types
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from ..errors import TracejitTypeError, UnsupportedError
from ..ir import Aval, Lit, Trace
from ..ops.core import PYTHON_INT_BOUND, Tracer, python_type
from ..tree import TreeDef, containers, flatten, unflatten
from .calls import bind_arguments, run_call
from .context import TraceContext, check_array_dtype, is_constant
from .decode import source_loc
from .frame import Frame, catchable
from . import handlers_class  # noqa: F401 (registers the class-statement handlers)
from . import handlers_match  # noqa: F401 (registers the match-statement handlers)
from .handlers import globals_source
from .handlers_except import close_native_exits
from .usertb import without_tracer
from .sources import ArgLeaf, Attr, Is, RootFn, Source, SourceGuard, StridesAre


@dataclass(frozen=True)
class TraceResult:
    """A trace plus what the runtime needs to reuse it: where each input comes from, the
    guards on outside state, and the structure of the output."""
    trace: Trace
    arg_leaves: tuple              # for each leading trace input: its index among the arg leaves
    sourced: tuple                 # for each remaining trace input: its Source
    guards: tuple                  # SourceGuard, checked before running the trace
    out_tree: TreeDef
    out_types: tuple               # per output: the type plain Python would return (see below)

    # traced code with try/with blocks: an op raising at run time may be caught, so such a
    # call re-traces (runtime.cache.ErrorsRetrace)
    protected: bool = False


def leaf_is_input(leaf):
    """Arrays, NumPy scalars and Python numbers are trace inputs: a trace serves every value
    (as in JAX), guarding one only where the program depends on it (a branch, a shape, an
    index). Python ints too large for int64 arithmetic stay constants, keyed by value."""
    return isinstance(leaf, (np.ndarray, np.generic)) or type(leaf) is float or \
        type(leaf) is int and abs(leaf) < PYTHON_INT_BOUND


def _input_aval(leaf, label, loc):
    if type(leaf) in (float, int):
        return Aval((), np.dtype(type(leaf)), weak=True)
    check_array_dtype(leaf, f"argument {label}", loc)
    return Aval(np.shape(leaf), np.asarray(leaf).dtype)


def python_entry(fn):
    """A Python function to start interpreting at: `fn` itself, or a trampoline that calls it
    (for methods, NumPy functions, callable objects), so its call goes through the lookaside."""
    if isinstance(fn, types.FunctionType):
        return fn

    def entry(*args, **kwargs):
        return fn(*args, **kwargs)
    entry.__qualname__ = entry.__name__ = getattr(fn, "__name__", type(fn).__name__)
    return entry


def trace_function(fn, args, kwargs, name=None) -> TraceResult:
    fn = python_entry(fn)
    ctx = TraceContext(fn)
    result = _trace(ctx, fn, args, kwargs, name)
    return replace(result, protected=True) if ctx.protected else result


def _trace(ctx, fn, args, kwargs, name):
    leaves, treedef = flatten((tuple(args), kwargs))
    labels = arg_labels(fn, args, kwargs)
    traced, arg_leaves = [], []
    user_code = getattr(inspect.unwrap(fn), "__code__", fn.__code__)   # not a wrapper's
    def_loc = source_loc(user_code.co_filename, user_code.co_firstlineno)
    for k, (leaf, label) in enumerate(zip(leaves, labels)):
        if leaf_is_input(leaf):
            traced.append(ctx.builder.new_input(_input_aval(leaf, label, def_loc), leaf,
                                                     label=f"argument {label}"))
            arg_leaves.append(k)
        elif is_constant(leaf):
            traced.append(leaf)
        else:
            _check_not_iterator(leaf, label, def_loc)
            traced.append(ctx.read(leaf, ArgLeaf(k, label)))
    args, kwargs = unflatten(treedef, traced)
    # the containers the function is given (rebuilt around the traced leaves): changing one
    # would be a visible side effect
    ctx.arg_containers.update(id(c) for c in containers((args, kwargs)))
    ctx.track(fn, RootFn())
    ctx.guard(Attr(RootFn(), "__code__"), Is(fn.__code__))
    frame = Frame(ctx, fn, fn.__code__, fn.__globals__, globals_source(ctx, fn, RootFn()))
    with ctx.builder:
        bind_arguments(ctx, frame, fn, RootFn(), args, kwargs)
        try:
            result = run_call(ctx, frame).value
        except RecursionError:
            raise ctx.too_deep() from None
        except Exception as error:
            if catchable(error):     # the user's error: their lines, not the tracer's
                error.with_traceback(without_tracer(error.__traceback__))
                _untrace_error(error)
            raise
        finally:
            close_native_exits(ctx)
        if ctx.abandoned_cleanup is not None:
            raise UnsupportedError("a generator suspended inside try/finally or a with block "
                                   "was dropped unfinished; CPython would run its cleanup then",
                                   ctx.abandoned_cleanup, "Run the generator to its end.")
    out_leaves, out_tree = flatten(result)
    outputs = [_output_atom(ctx, o, fn) for o in out_leaves]
    if ctx.builder.layout_read and ctx.builder.wrote:
        _guard_layouts(ctx, leaves, labels, arg_leaves)
    trace = ctx.builder.build(outputs, name=name or getattr(fn, "__name__", "f"))
    return TraceResult(trace, tuple(arg_leaves), tuple(s for s, _ in ctx.sourced_inputs),
                       tuple(ctx.guards), out_tree, tuple(map(output_type, out_leaves)))


def output_type(value):
    """The type the plain call returns for an output: a Python scalar for a weak value, a
    NumPy scalar (`x[0]`, `np.sum(x)`) or an ndarray. Executors return 0-d results as either;
    the compiled function's `finish` makes them this type again."""
    return python_type(value) if isinstance(value, Tracer) else type(value)


def _guard_layouts(ctx, leaves, labels, arg_leaves):
    """The trace chose between a view and a copy by a memory layout, which follows from the
    layouts of the arrays it read: guard their strides (arguments and outside arrays)."""
    for k in arg_leaves:
        if isinstance(leaves[k], np.ndarray):
            ctx.guard(ArgLeaf(k, labels[k]), StridesAre(leaves[k].strides))
    for source, tracer in ctx.outside_arrays():
        ctx.guard(source, StridesAre(tracer.val.strides))


def _untrace_error(error):
    """An exception leaving the trace carries what plain Python would have put in it: the
    concrete values its arguments and attributes stood for, not traced values."""
    from ..ops.core import stand_in

    def concrete(value):
        return stand_in(value) if isinstance(value, Tracer) else value
    error.args = tuple(concrete(a) for a in error.args)
    for name, value in list(getattr(error, "__dict__", {}).items()):
        if isinstance(value, Tracer):
            setattr(error, name, concrete(value))


def _check_not_iterator(leaf, label, loc):
    if isinstance(leaf, Iterator):
        # tracing would consume it, and a later call's iterator would replay the first one's items
        raise TracejitTypeError(f"{loc}: argument {label} is a {type(leaf).__name__} (an iterator); "
                            "tracejit needs arguments it can read more than once: pass a list, "
                            "tuple or array, e.g. list(...) or numpy.fromiter(...)")


def _output_atom(ctx, value, fn):
    if isinstance(value, Tracer):
        return value.atom
    if isinstance(value, (np.ndarray, np.generic, int, float, bool)) and \
            getattr(value, "dtype", None) != object:
        return Lit(value)
    raise TracejitTypeError(f"{fn.__qualname__} returned a {type(value).__name__}; traced functions "
                            "must return arrays, numbers, or containers of them (tuples, lists, "
                            "dicts, dataclasses, ...; see tracejit.tree_util)")


def parameter_names(fn):
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def argument_name(names, i):
    """The name of positional argument `i`, given `parameter_names(fn)`."""
    return names[i] if i < len(names) else f"args[{i}]"


def arg_labels(fn, args, kwargs):
    """Readable names for the argument leaves, in flattening order: `params['w']`, `x`."""
    names = parameter_names(fn)
    labels = []
    for i, arg in enumerate(args):
        flatten(arg, paths=labels, path=argument_name(names, i))
    for key in sorted(kwargs):
        flatten(kwargs[key], paths=labels, path=str(key))
    return labels


__all__ = ["TraceResult", "trace_function", "Source", "SourceGuard"]
