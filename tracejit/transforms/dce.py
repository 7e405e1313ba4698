"""Dead-code elimination: drop ops whose results nothing uses (guards and ops that may raise
always stay, and so does an op holding a trace with one: a loop whose body checks the path
taken, or a `for` loop left by `break` whose side exit checks that the break came first)."""
from ..ir import Trace, Var


def dce(trace: Trace) -> Trace:
    live = {a for a in trace.outputs if isinstance(a, Var)}
    kept = []
    for op in reversed(trace.ops):
        if any(v in live for v in op.outputs) or has_effect(op):
            kept.append(op)
            live.update(a for a in op.inputs if isinstance(a, Var))
    return Trace(trace.inputs, trace.outputs, tuple(reversed(kept)), trace.name)


def has_effect(op):
    """Whether `op` must run though nothing reads its results."""
    raises = op.prim.may_raise
    return bool(op.prim.effect or (raises(op.params) if callable(raises) else raises)) or any(
        isinstance(v, Trace) and any(has_effect(o) for o in v.ops) for v in op.params.values())
