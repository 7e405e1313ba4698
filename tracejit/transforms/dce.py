"""Dead-code elimination: drop ops whose results nothing uses (guards always stay)."""
from ..ir import Trace, Var


def dce(trace: Trace) -> Trace:
    live = {a for a in trace.outputs if isinstance(a, Var)}
    kept = []
    for op in reversed(trace.ops):
        if op.prim.effect or any(v in live for v in op.outputs):
            kept.append(op)
            live.update(a for a in op.inputs if isinstance(a, Var))
    return Trace(trace.inputs, trace.outputs, tuple(reversed(kept)), trace.name)
