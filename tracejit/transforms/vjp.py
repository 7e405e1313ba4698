"""Reverse mode: a trace becomes a joint primal + adjoint trace.

The joint trace replays the primal ops (guards included), then walks them backwards applying
each primitive's VJP rule. Rules are written with primitives, so the adjoint is an ordinary trace
that can itself be differentiated. Cotangents of elementwise ops are summed back to each input's
shape here, once, rather than in every rule.

`emit_vjp` is the pass itself, working on any list of ops inside any builder: the trace-level
`vjp_trace` uses it on a fresh symbolic builder, and the nested transformations of
`tracejit.transformations` use it directly inside the trace being recorded.
"""
import numpy as np

from ..errors import UnsupportedError
from ..ir import Lit, Trace, Var
from ..ops.core import Builder, Tracer
from ..ops.effects import without_prints
from ..ops.elementwise import add, convert
from ..ops.shape import unbroadcast, zeros_like
from .dce import dce
from .tapes import merge_taped_loops


def is_differentiable(var):
    return isinstance(var, Var) and var.dtype.kind in "fc"


def active_vars(ops, wrt):
    """Vars whose value depends on a differentiable var in `wrt`."""
    active = {v for v in wrt if is_differentiable(v)}
    for op in ops:
        if any(a in active for a in op.inputs if isinstance(a, Var)):
            active.update(v for v in op.outputs if is_differentiable(v))
    return active


class Env:
    """Var -> Tracer in `builder`. Values (for concrete builders) come from `values`."""

    def __init__(self, builder, values=None):
        self.builder = builder
        self.values = values
        self.tracers = {}

    def __call__(self, atom):
        if isinstance(atom, Lit):
            return Tracer(self.builder, atom, atom.value)
        tracer = self.tracers.get(atom)
        if tracer is None:
            value = None
            if self.builder.concrete:
                if atom not in self.values:
                    raise AssertionError(f"no recorded value for {atom}")
                value = self.values[atom]
            tracer = self.tracers[atom] = Tracer(self.builder, atom, value)
        return tracer


def is_zero(t):
    """A derivative known to be zero while tracing (a folded constant): dropped, so that sparse
    seeds (the unit vectors of Jacobian sweeps) only touch the ops they reach."""
    return isinstance(t.atom, Lit) and not np.any(t.atom.value)


def replay(builder, trace):
    """Copy `trace`'s inputs and ops into symbolic `builder`; return the Env of its vars."""
    builder.inputs.extend(trace.inputs)
    builder.ops.extend(trace.ops)
    return Env(builder)


def emit_vjp(builder, ops, env, seeds, wrt):
    """Append to `builder` the adjoint of `ops` (already recorded there): cotangents start at
    `seeds` ({var: tracer}) and flow back; returns the cotangent of each var in `wrt`."""
    active = active_vars(ops, wrt)
    cts = {v: g for v, g in seeds.items() if v in active}
    saved_loc = builder.loc
    for op in reversed(ops):
        if not any(v in cts for v in op.outputs) or not any(a in active for a in op.inputs):
            continue
        if op.prim.vjp is None:
            raise UnsupportedError(f"{op.prim.name} has no reverse-mode rule"
                                + (f" (used at {op.loc})" if op.loc else ""))
        builder.loc = op.loc
        out_cts = [cts[v] if v in cts else zeros_like(env(v)) for v in op.outputs]
        in_cts = op.prim.vjp(out_cts, [env(v) for v in op.outputs],
                             [env(a) for a in op.inputs], **op.params)
        for a, g in zip(op.inputs, in_cts):
            if g is None or a not in active or is_zero(g):
                continue
            g = fit(g, a.aval, op.prim.elementwise)
            cts[a] = add(cts[a], g) if a in cts else g
    builder.loc = saved_loc
    return [cts[v] if v in cts else zeros_like(env(v)) for v in wrt]


def _gradient_atoms(builder, ops, env, seeds, wrt):
    """The adjoint's result for each var of `wrt`: zeros of float64 for non-float inputs."""
    return [g.atom if is_differentiable(v) else Lit(np.zeros(v.shape, np.float64))
            for v, g in zip(wrt, emit_vjp(builder, ops, env, seeds, wrt))]


def vjp_trace(trace: Trace, wrt_indices, out_index=0) -> Trace:
    """Joint trace computing `trace`'s outputs, then d(outputs[out_index])/d(inputs[wrt])."""
    builder = Builder(concrete=False)
    env = replay(builder, trace)
    wrt = [trace.inputs[i] for i in wrt_indices]
    out = trace.outputs[out_index]
    seeds = {out: Tracer(builder, Lit(np.ones((), out.dtype)))} if isinstance(out, Var) else {}
    grads = _gradient_atoms(builder, trace.ops, env, seeds, wrt)
    joint = builder.build([], name=f"{trace.name}_vjp")
    joint = Trace(joint.inputs, tuple(trace.outputs) + tuple(grads), joint.ops, joint.name)
    return dce(merge_taped_loops(joint))


def vjp_body(trace: Trace, wrt_indices) -> Trace:
    """The pullback of `trace` as a trace: inputs are `trace`'s inputs followed by one cotangent
    per output; outputs are the cotangents of inputs `wrt_indices` (zeros where none flows).
    It runs the primal again: without its prints."""
    trace = without_prints(trace)
    builder = Builder(concrete=False)
    env = replay(builder, trace)
    seeds = {}
    for out in trace.outputs:
        ct = builder.new_input(out.aval if is_differentiable(out) else
                               type(out.aval)(out.shape, np.dtype(np.float64)))
        if isinstance(out, Var):
            seeds[out] = add(seeds[out], ct) if out in seeds else ct
    wrt = [trace.inputs[i] for i in wrt_indices]
    grads = _gradient_atoms(builder, trace.ops, env, seeds, wrt)
    return dce(builder.build(grads, name=f"{trace.name}_pullback"))


def fit(g, aval, elementwise):
    """A cotangent shaped and typed like `aval` (the input it belongs to)."""
    if elementwise:
        g = unbroadcast(g, aval.shape)
    return match_dtype(g, aval)


def match_dtype(g, aval):
    return g if g.dtype == aval.dtype else convert(g, dtype=aval.dtype)
