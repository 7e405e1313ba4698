"""`print(...)` in a traced function: an op that prints the real values on every call.

The arguments whose text can change from call to call are the traced values: they become the
op's inputs, with the kind of Python object each stands for (a Python float prints `0.5`, a NumPy
array `[0.5 1. ]`). Everything else printed must be fixed by the trace's guards (strings,
numbers, None), or is refused: an object's own `__str__`, a container that holds traced values
or lives outside the function, a `file=` other than standard output.
"""
import numpy as np

from ..ops.core import Tracer, python_type
from ..ops.effects import print_p

_FIXED = (str, int, float, bool, complex, type(None), np.generic)
_KINDS = {float: "float", int: "int", bool: "bool", complex: "complex", np.ndarray: "array"}


def trace_print(ctx, args, kwargs):
    sep, end, file, flush = _options(ctx, **kwargs)
    if file is not None:
        raise ctx.unsupported("print(file=...) inside a traced function: a compiled call would "
                              "not write to the file", "Print to standard output, or return the "
                              "values and write them after the call.")
    texts, traced = [], []
    for arg in args:
        if isinstance(arg, Tracer):
            texts.append(None)
            traced.append(arg)
        else:
            texts.append(_fixed_text(ctx, arg))
    kinds = tuple(_KINDS.get(python_type(t), "numpy") for t in traced)
    params = dict(texts=tuple(texts), kinds=kinds, sep=sep, end=end, flush=flush)
    ctx.builder.add(print_p, [t.atom for t in traced], params, [])
    print_p.impl(*[t.val for t in traced], **params)    # as plain Python prints, while tracing
    return None


def _options(ctx, sep=" ", end="\n", file=None, flush=False):
    sep, end = " " if sep is None else sep, "\n" if end is None else end
    if not all(type(v) is str for v in (sep, end)) or isinstance(flush, Tracer):
        raise ctx.unsupported("print() with a sep/end that is not a string, or a traced flush")
    return sep, end, file, bool(flush)


def _fixed_text(ctx, value):
    """The text of a printed value that is not traced: fixed by the trace, or refused."""
    if isinstance(value, _FIXED) or (isinstance(value, (list, tuple, dict)) and
                                     not ctx.is_outside(value) and _all_fixed(value)):
        return str(value)
    raise ctx.unsupported(
        f"print() of a {type(value).__name__}: a compiled call prints numbers, strings and "
        "arrays", "Print its fields, or convert it to a string of numbers first.")


def _all_fixed(container):
    items = container.items() if isinstance(container, dict) else container
    return all(isinstance(v, _FIXED) or (isinstance(v, (list, tuple, dict)) and _all_fixed(v))
               for v in items)
