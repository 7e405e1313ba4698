"""Print a trace as a readable, Python-looking program, one line per op with its source line.

Printed traces may be pasted, logged or turned into source by backends, so text that came from
the user (function names, file names, source lines) is emitted only as a validated identifier or
inside a one-line comment with every non-printable character escaped: no user text can end the
comment and start a line of code.
"""
import keyword
import os
import re

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


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def identifier(name, default="f"):
    """`name` if it is a plain ASCII Python identifier (not a keyword), else `default`."""
    if isinstance(name, str) and _IDENTIFIER.fullmatch(name) and not keyword.iskeyword(name):
        return name
    return default


def one_line(text):
    """`text` with newlines and other non-printable characters escaped, for a comment."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


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
        return identifier(value.name)
    if callable(value) and hasattr(value, "__name__"):
        return identifier(value.__name__, "<callable>")
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
    text = one_line(loc.text.split("  #")[0].strip())
    place = one_line(f"{os.path.basename(loc.filename)}:{int(loc.lineno)}")
    return f"# {place}" + (f"  {text}" if text else "")


def format_trace(trace, indent=""):
    names = _Names()
    params = ", ".join(f"{names(v)}: {v.aval}" for v in trace.inputs)
    lines = [f"{indent}def {identifier(trace.name)}({params}):"]
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
