"""Reverse mode: a trace becomes a joint primal + adjoint trace.

The joint trace replays the primal ops (guards included), then walks them backwards applying
each primitive's VJP rule. Rules are written with primitives, so the adjoint is an ordinary trace
that can itself be differentiated. Cotangents of elementwise ops are summed back to each input's
shape here, once, rather than in every rule.
"""
import numpy as np

from ..errors import TracejitError
from ..ir import Lit, Trace, Var
from ..ops.core import Builder, Tracer
from ..ops.elementwise import add, convert
from ..ops.shape import unbroadcast, zeros_like
from .dce import dce
from .tapes import merge_taped_loops


def is_differentiable(var):
    return isinstance(var, Var) and var.dtype.kind in "fc"


def active_vars(trace, wrt):
    """Vars whose value depends on a differentiable input in `wrt`."""
    active = {v for v in wrt if is_differentiable(v)}
    for op in trace.ops:
        if any(a in active for a in op.inputs if isinstance(a, Var)):
            active.update(v for v in op.outputs if is_differentiable(v))
    return active


def replay(builder, trace):
    """Copy `trace`'s inputs and ops into `builder`; return a map from its vars to tracers."""
    env = {}
    for v in trace.inputs:
        builder.inputs.append(v)
        env[v] = Tracer(builder, v)
    for op in trace.ops:
        builder.ops.append(op)
        for v in op.outputs:
            env[v] = Tracer(builder, v)
    return env


def backward(builder, env, trace, seeds, wrt):
    """Propagate cotangents `seeds` ({var: tracer}) back through `trace`'s ops into `builder`;
    return the cotangent tracer of each var in `wrt` (None where nothing flowed)."""
    active = active_vars(trace, wrt)

    def tracer(atom):
        return env[atom] if isinstance(atom, Var) else Tracer(builder, atom, atom.value)

    cts = {v: g for v, g in seeds.items() if v in active}
    for op in reversed(trace.ops):
        if not any(v in cts for v in op.outputs) or not any(a in active for a in op.inputs):
            continue
        if op.prim.vjp is None:
            raise TracejitError(f"{op.prim.name} has no reverse-mode rule"
                                + (f" (used at {op.loc})" if op.loc else ""))
        builder.loc = op.loc
        out_cts = [cts[v] if v in cts else zeros_like(env[v]) for v in op.outputs]
        in_cts = op.prim.vjp(out_cts, [env[v] for v in op.outputs],
                             [tracer(a) for a in op.inputs], **op.params)
        for a, g in zip(op.inputs, in_cts):
            if g is None or a not in active:
                continue
            g = _fit(g, a, op.prim.elementwise)
            cts[a] = add(cts[a], g) if a in cts else g
    return [cts.get(v) for v in wrt]


def _zero_or(ct, var, env):
    if ct is not None:
        return ct.atom
    if is_differentiable(var):
        return zeros_like(env[var]).atom
    return Lit(np.zeros(var.shape, np.float64))


def vjp_trace(trace: Trace, wrt_indices, out_index=0) -> Trace:
    """Joint trace computing `trace`'s outputs, then d(outputs[out_index])/d(inputs[wrt])."""
    builder = Builder(concrete=False)
    env = replay(builder, trace)
    wrt = [trace.inputs[i] for i in wrt_indices]
    out = trace.outputs[out_index]
    seeds = {out: Tracer(builder, Lit(np.ones((), out.dtype)))} if isinstance(out, Var) else {}
    grads = [_zero_or(ct, v, env) for ct, v in zip(backward(builder, env, trace, seeds, wrt), wrt)]
    joint = builder.build([], name=f"{trace.name}_vjp")
    joint = Trace(joint.inputs, tuple(trace.outputs) + tuple(grads), joint.ops, joint.name)
    return dce(merge_taped_loops(joint))


def vjp_body(trace: Trace, wrt_indices) -> Trace:
    """The pullback of `trace` as a trace: inputs are `trace`'s inputs followed by one cotangent
    per output; outputs are the cotangents of inputs `wrt_indices` (zeros where none flows)."""
    builder = Builder(concrete=False)
    env = replay(builder, trace)
    seeds = {}
    for out in trace.outputs:
        ct = builder.new_input(out.aval if is_differentiable(out) else
                               type(out.aval)(out.shape, np.dtype(np.float64)))
        if isinstance(out, Var):
            seeds[out] = add(seeds[out], ct) if out in seeds else ct
    wrt = [trace.inputs[i] for i in wrt_indices]
    grads = [_zero_or(ct, v, env) for ct, v in zip(backward(builder, env, trace, seeds, wrt), wrt)]
    return dce(builder.build(grads, name=f"{trace.name}_pullback"))


def _fit(g, var, elementwise):
    """A cotangent shaped and typed like `var`."""
    if elementwise:
        g = unbroadcast(g, var.shape)
    if g.dtype != var.dtype:
        g = convert(g, dtype=var.dtype)
    return g
