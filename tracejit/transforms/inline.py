"""Inlining of call-like ops (those holding a sub-trace, such as `checkpoint`).

A backend that does not know a call-like primitive runs the trace after this pass: each such op
is replaced by a renamed copy of its body. Recomputation a `checkpoint` placed in the adjoint is
kept: it is a separate copy of the body, made by the reverse-mode rule.
"""
from dataclasses import replace

from ..ir import Trace, Var


def is_call(op):
    return getattr(op.prim, "call_body", False)


def inline_body(body, inputs):
    """A renamed copy of `body`'s ops reading `inputs`: returns (ops, output atoms)."""
    rename = dict(zip(body.inputs, inputs))
    ops = _expand(body.ops, rename, fresh=True)
    return ops, [_sub(rename, a) for a in body.outputs]


def _expand(ops, rename, fresh):
    out = []
    for op in ops:
        inputs = tuple(_sub(rename, a) for a in op.inputs)
        if is_call(op):
            inner, results = inline_body(op.params["body"], inputs)
            out.extend(inner)
            rename.update(zip(op.outputs, results))
            continue
        outputs = tuple(Var(v.aval) for v in op.outputs) if fresh else op.outputs
        rename.update(zip(op.outputs, outputs))
        out.append(replace(op, inputs=inputs, outputs=outputs))
    return out


def _sub(rename, atom):
    return rename.get(atom, atom) if isinstance(atom, Var) else atom


def inline_calls(trace: Trace) -> Trace:
    """`trace` with every call-like op expanded into its body (other vars keep their identity)."""
    if not any(is_call(op) for op in trace.ops):
        return trace
    rename = {}
    ops = _expand(trace.ops, rename, fresh=False)
    return Trace(trace.inputs, tuple(_sub(rename, a) for a in trace.outputs), tuple(ops),
                 trace.name)


def inline_trace(trace, args):
    """Apply `trace` to `args` (tracers or constants) by binding each of its ops again in the
    builder of the tracers: a trace used as a function (loop bodies, pullbacks)."""
    env = dict(zip(trace.inputs, args))

    def value(atom):
        return env[atom] if isinstance(atom, Var) else atom.value
    for op in trace.ops:
        result = op.prim(*[value(a) for a in op.inputs], **op.params)
        if op.prim.multiple_results:
            env.update(zip(op.outputs, result))
        elif op.outputs:
            env[op.outputs[0]] = result
    return [value(a) for a in trace.outputs]
