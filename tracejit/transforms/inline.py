"""Replay a trace's ops on new arguments in the current builder (a trace used as a function)."""
from ..ir import Var


def inline_trace(trace, args):
    """Apply `trace` to `args` (tracers or constants) by binding each of its ops again."""
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
