"""Print a trace as a readable, Python-looking program, one line per op with its source line."""
import numpy as np

from .core import Lit, Var


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
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    if isinstance(value, np.dtype):
        return value.name
    return repr(value)


def format_op(op, names):
    outs = ", ".join(f"{names(v)}: {v.aval}" for v in op.outputs)
    args = [names(a) for a in op.inputs]
    args += [f"{k}={_format_param(v)}" for k, v in op.params.items()]
    call = f"{op.prim.name}({', '.join(args)})"
    line = f"{outs} = {call}" if outs else call
    if op.loc is not None:
        line = f"{line:<60}  # {op.loc}" + (f": {op.loc.text}" if op.loc.text else "")
    return line


def format_trace(trace):
    names = _Names()
    params = ", ".join(f"{names(v)}: {v.aval}" for v in trace.inputs)
    lines = [f"def {trace.name}({params}):"]
    lines += ["    " + format_op(op, names) for op in trace.ops]
    outs = ", ".join(names(a) for a in trace.outputs)
    lines.append(f"    return ({outs},)" if len(trace.outputs) == 1 else f"    return ({outs})")
    return "\n".join(lines)
