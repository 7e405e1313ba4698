"""The table from NumPy callables to tracejit's implementations.

`implements(np.mean)` registers a function as tracejit's version of `np.mean`. The wrapper calls
NumPy itself when no argument is traced, so `tracejit.numpy` gives bit-identical results outside a
trace, and the frontend's lookaside finds every entry with one dictionary lookup.
"""
import functools

import numpy as np

from ..ops.core import Tracer, concretize_int, current_builder

# id(numpy callable) -> tracejit implementation; ids of module-level functions are stable
IMPLEMENTATIONS: dict[int, object] = {}
# names of the functions tracejit.numpy defines, for the shim's __getattr__ and coverage reports
DEFINED: dict[str, object] = {}


def has_tracer(args):
    for a in args:
        if isinstance(a, Tracer):
            return True
        if isinstance(a, (list, tuple)) and has_tracer(a):
            return True
    return False


def _is_python_int(x):
    return isinstance(x, Tracer) and x.aval.weak and x.ndim == 0 and x.dtype.kind in "iu"


def map_traced(tree, convert):
    """`tree` with `convert(t)` in place of every traced value `t` in it (also inside lists,
    tuples and dicts)."""
    if isinstance(tree, Tracer):
        return convert(tree)
    if type(tree) in (list, tuple):
        return type(tree)(map_traced(item, convert) for item in tree)
    if type(tree) is dict:
        return {key: map_traced(value, convert) for key, value in tree.items()}
    return tree


def python_ints_made_static(args):
    """`args` with each traced Python int (a loop counter, an int argument) made the int it
    stands for, guarded: outside ufuncs, NumPy reads Python ints as shapes, axes, counts,
    repetitions and bounds, which a trace fixes (a call with another value re-traces)."""
    return map_traced(args, lambda t: concretize_int(t) if _is_python_int(t) else t)


def implements(*numpy_functions, always=False):
    """Register the decorated function as the traced version of `numpy_functions`.

    `always`: also use it when no argument is traced but a trace is being built (array creation
    functions: their results must be traced values so that later in-place writes are recorded).
    """
    def register(fn):
        original = numpy_functions[0] if numpy_functions else None
        static_ints = not isinstance(original, np.ufunc)

        @functools.wraps(fn)
        def dispatch(*args, **kwargs):
            if static_ints:
                args, kwargs = python_ints_made_static((args, kwargs))
            if original is not None and not has_tracer(args) and not has_tracer(kwargs.values()):
                if not (always and current_builder() is not None):
                    return original(*args, **kwargs)
            return fn(*args, **kwargs)

        for np_fn in numpy_functions:
            IMPLEMENTATIONS[id(np_fn)] = dispatch
            name = getattr(np_fn, "__name__", None)
            if name is not None and getattr(np, name, None) is np_fn:   # top-level NumPy names
                DEFINED[name] = dispatch
        return dispatch
    return register


# (id(object), method name) -> implementation, for methods of long-lived objects such as
# scipy.stats.norm.pdf: a bound method is a new object at each access, so it has no stable id
METHOD_IMPLEMENTATIONS: dict[tuple, object] = {}


def implements_method(owner, name):
    """Register the decorated function as the traced version of `owner.name(...)`."""
    def register(fn):
        original = getattr(owner, name)

        @functools.wraps(fn)
        def dispatch(*args, **kwargs):
            if not has_tracer(args) and not has_tracer(kwargs.values()):
                return original(*args, **kwargs)
            return fn(*args, **kwargs)
        METHOD_IMPLEMENTATIONS[(id(owner), name)] = dispatch
        return dispatch
    return register
