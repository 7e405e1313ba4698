"""Print a trace as a readable, Python-looking program, one line per op with its source line."""
import os

import numpy as np

from .core import Lit, Trace, Var


class _Names:
    """Short sequential names (`t0`, `t1`, ...) for the variables of one trace."""
    def __init__(self):
        self._names = {}

    def __call__(self, atom):
        if isinstance(atom, Lit):
            return _format_literal(atom.value)
        name = self._names.get(atom)
        if name is None:
            name = self._names[atom] = f"t{len(self._names)}"
        return name


def _format_literal(value):
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return f"array({value.tolist()!r}, {value.dtype.name})"
        return f"const<{value.dtype.name}{list(value.shape)}>"
    if isinstance(value, np.generic):
        return f"{value.dtype.name}({value.item()!r})"
    return repr(value)


def _format_param(value):
    if isinstance(value, Trace):
        return value.name
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    if isinstance(value, np.dtype):
        return value.name
    return repr(value)


_HIDDEN_PARAMS = {"reason"}     # a guard's reason is its source line, printed once above it


def format_op(op, names):
    outs = ", ".join(f"{names(v)}: {v.aval}" for v in op.outputs)
    args = [names(a) for a in op.inputs]
    args += [f"{k}={_format_param(v)}" for k, v in op.params.items() if k not in _HIDDEN_PARAMS]
    call = f"{op.prim.name}({', '.join(args)})"
    return f"{outs} = {call}" if outs else call


def format_loc(loc):
    """`# file.py:12  the source line` (its own comment stripped), printed when the line changes."""
    text = loc.text.split("  #")[0].strip()
    return f"# {os.path.basename(loc.filename)}:{loc.lineno}" + (f"  {text}" if text else "")


def format_trace(trace, indent=""):
    names = _Names()
    params = ", ".join(f"{names(v)}: {v.aval}" for v in trace.inputs)
    lines = [f"{indent}def {trace.name}({params}):"]
    last_loc = None
    for op in trace.ops:
        if op.loc is not None and op.loc != last_loc:
            lines.append(f"{indent}    " + format_loc(op.loc))
            last_loc = op.loc
        for value in op.params.values():        # nested traces (loop bodies) print above the op
            if isinstance(value, Trace):
                lines.append(format_trace(value, indent + "    "))
        lines.append(f"{indent}    " + format_op(op, names))
    outs = ", ".join(names(a) for a in trace.outputs)
    lines.append(f"{indent}    return ({outs},)" if len(trace.outputs) == 1 else f"{indent}    return ({outs})")
    return "\n".join(lines)
