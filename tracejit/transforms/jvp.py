"""Forward mode: a trace becomes a primal + tangent trace.

Each op's JVP rule maps input tangents to output tangents; an input without a tangent passes
None. Tangents of elementwise ops are broadcast to the result's shape here, once, rather than in
every rule (a rule like `add`'s returns its input tangent unchanged, whatever the broadcast).
Tangent ops are ordinary primitives, so the result can be differentiated again.
"""
from ..errors import UnsupportedError
from ..ir import Trace, Var
from ..ops.core import Builder
from ..ops.shape import broadcast_to, zeros_like
from .dce import dce
from .vjp import is_differentiable, is_zero, match_dtype, replay


def emit_jvp(builder, ops, env, tangents):
    """Append to `builder` the tangent of each op in `ops` (already recorded there), starting
    from `tangents` ({var: tracer}); returns the dict of every var's tangent."""
    tangents = dict(tangents)
    saved_loc = builder.loc
    for op in ops:
        ins = [tangents.get(a) if isinstance(a, Var) else None for a in op.inputs]
        if op.prim.effect or all(t is None for t in ins):
            continue
        if op.prim.jvp is None:
            raise UnsupportedError(f"{op.prim.name} has no forward-mode rule"
                                + (f" (used at {op.loc})" if op.loc else ""))
        builder.loc = op.loc
        outs = op.prim.jvp(ins, [env(v) for v in op.outputs], [env(a) for a in op.inputs],
                           **op.params)
        for v, t in zip(op.outputs, outs):
            if t is not None and is_differentiable(v) and not is_zero(t):
                tangents[v] = _fit_tangent(t, v.aval, op.prim.elementwise)
    builder.loc = saved_loc
    return tangents


def _fit_tangent(t, aval, elementwise):
    if elementwise and tuple(t.shape) != tuple(aval.shape):
        t = broadcast_to(t, shape=tuple(aval.shape))
    return match_dtype(t, aval)


def jvp_trace(trace: Trace, wrt_indices) -> Trace:
    """Trace with inputs (*trace.inputs, *tangents of inputs[wrt]) and outputs
    (*trace.outputs, *tangents of the outputs); non-float outputs get zero tangents."""
    builder = Builder(concrete=False)
    env = replay(builder, trace)
    seeds = {}
    for i in wrt_indices:
        v = trace.inputs[i]
        seeds[v] = builder.new_input(v.aval)
    tangents = emit_jvp(builder, trace.ops, env, seeds)
    outs = [tangents[a] if a in tangents else zeros_like(env(a)) for a in trace.outputs]
    tangent_trace = builder.build([], name=f"{trace.name}_jvp")
    return dce(Trace(tangent_trace.inputs, tuple(trace.outputs) + tuple(t.atom for t in outs),
                     tangent_trace.ops, tangent_trace.name))
