"""Public entry points: `jit_grad`/`grad`, `value_and_grad`, `jit`, `make_trace`."""
from __future__ import annotations

import functools

import numpy as np

from .backends import NumpyBackend
from .errors import TracejitError
from .frontend import trace_function
from .ir import verify
from .runtime import CompiledFunction
from .transforms import dce, vjp_trace
from .tree import flatten, unflatten

BACKENDS = {"numpy": NumpyBackend}


def _backend(name):
    try:
        return BACKENDS[name]()
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}") from None


def _decorator(make):
    """Let `make(fn, **options)` be used as `@make`, `@make(**options)` and `make(fn, ...)`."""
    @functools.wraps(make)
    def wrapper(fn=None, **options):
        if fn is None:
            return lambda f: wrapper(f, **options)
        compiled = make(fn, **options)
        functools.update_wrapper(compiled, fn)
        return compiled
    return wrapper


class _Wrapped:
    """The user's handle: calls the compiled function; exposes stats and traces."""

    def __init__(self, compiled: CompiledFunction):
        self._compiled = compiled

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def stats(self):
        """Counters and timings: calls, hits, traces and why, guard failures, time per phase."""
        return self._compiled.stats.as_dict()

    def explain(self):
        """A readable report: stats, then each cache entry's guards, generated code and trace."""
        return self._compiled.explain()

    def traces(self):
        return self._compiled.traces()


def _output(value, weak):
    if weak:
        return float(value)
    return value


def _finish_outputs(result, outputs):
    return unflatten(result.out_tree, [_output(v, w) for v, w in zip(outputs, result.out_weak)])


# ---- jit ---------------------------------------------------------------------------------------
@_decorator
def jit(fn, *, backend="numpy"):
    """Compile `fn` (the primal alone): traced once per signature, guarded, re-traced as needed."""
    def transform(result, args, kwargs):
        return verify(dce(result.trace)), lambda outputs, leaves: _finish_outputs(result, outputs)
    return _Wrapped(CompiledFunction(fn, transform, _backend(backend)))


# ---- gradients ---------------------------------------------------------------------------------
def _leaf_ranges(args):
    """For each positional argument, the range of its leaves among all argument leaves."""
    ranges, start = [], 0
    for a in args:
        n = len(flatten(a)[0])
        ranges.append(range(start, start + n))
        start += n
    return ranges


def _check_leaf(leaf, label):
    if type(leaf) is float or (isinstance(leaf, (np.ndarray, np.generic)) and leaf.dtype.kind == "f"):
        return True
    if leaf is None or isinstance(leaf, str):
        return False
    kind = getattr(getattr(leaf, "dtype", None), "name", type(leaf).__name__)
    raise TracejitError(f"cannot differentiate with respect to {label}: it is {kind}; gradients "
                        "need float arrays or Python floats (pass other data as an argument "
                        "outside argnums)")


def _grad_transform(argnums, has_aux, with_value, fn):
    argnum_tuple = argnums if isinstance(argnums, tuple) else (argnums,)

    def transform(result, args, kwargs):
        ranges = _leaf_ranges(args)
        if max(argnum_tuple) >= len(args):
            raise TracejitError(f"argnums={argnums} but {fn.__qualname__} was called with "
                                f"{len(args)} positional arguments")
        position = {leaf: j for j, leaf in enumerate(result.arg_leaves)}
        wrt, grad_slots = [], []
        for i in argnum_tuple:
            arg_leaves = flatten(args[i])[0]
            slots = []
            for k, leaf in zip(ranges[i], arg_leaves):
                if _check_leaf(leaf, f"argument {i} of {fn.__qualname__}"):
                    slots.append((len(wrt), type(leaf) is float))
                    wrt.append(position[k])
                else:
                    slots.append(None)
            grad_slots.append((flatten(args[i])[1], slots))
        trace = result.trace
        value_atom = trace.outputs[0]
        if value_atom.aval.shape != () or value_atom.aval.dtype.kind != "f":
            raise TracejitError(f"{fn.__qualname__} must return a float scalar to be "
                                f"differentiated, but returned {value_atom.aval}"
                                + (" as its first output (has_aux=True)" if has_aux else ""))
        joint = verify(vjp_trace(trace, wrt, out_index=0))
        n_out = len(trace.outputs)

        def finish(outputs, leaves):
            primal = _finish_outputs(result, outputs[:n_out])
            grads = outputs[n_out:]
            per_arg = tuple(unflatten(tree, [None if s is None else
                                             (float(grads[s[0]]) if s[1] else grads[s[0]])
                                             for s in slots]) for tree, slots in grad_slots)
            g = per_arg if isinstance(argnums, tuple) else per_arg[0]
            if has_aux:
                value, aux = primal
                return ((value, aux), g) if with_value else (g, aux)
            return (primal, g) if with_value else g
        return joint, finish
    return transform


@_decorator
def jit_grad(fn, *, argnums=0, has_aux=False, backend="numpy"):
    """The gradient of `fn` with respect to positional argument(s) `argnums`, compiled."""
    return _Wrapped(CompiledFunction(fn, _grad_transform(argnums, has_aux, False, fn),
                                     _backend(backend)))


grad = jit_grad


@_decorator
def value_and_grad(fn, *, argnums=0, has_aux=False, backend="numpy"):
    """`(fn(*args), gradient)` in one compiled call."""
    return _Wrapped(CompiledFunction(fn, _grad_transform(argnums, has_aux, True, fn),
                                     _backend(backend)))


# ---- inspection --------------------------------------------------------------------------------
def make_trace(fn):
    """`make_trace(f)(*args)` returns the trace of `f` on those arguments (like make_jaxpr)."""
    @functools.wraps(fn)
    def traced(*args, **kwargs):
        return verify(trace_function(fn, args, kwargs).trace)
    return traced
