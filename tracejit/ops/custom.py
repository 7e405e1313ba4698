"""Primitives that call user code: custom derivative rules and checkpointed (recomputed) calls.

`custom_vjp_call` / `custom_jvp_call` run the user's function natively (NumPy, SciPy, C
extensions: anything) for the primal; their derivative rules call the user's rule natively too,
from ops of their own (`custom_vjp_bwd`, `custom_jvp_rule`, `custom_jvp_vjp`) placed in the
adjoint or tangent trace. These ops have no numba lowering: a backend runs them through their
NumPy implementation. `checkpoint` holds a sub-trace; its derivative rules re-run that sub-trace
(recomputation) instead of reading the primal's intermediates.
"""
from dataclasses import dataclass

import numpy as np

from ..errors import TracejitError
from ..ir import Aval, Var, aval_of
from ..tree import flatten, unflatten
from .core import Primitive, Tracer, _atom, _stack, bind
from .shape import zeros_like

DYNAMIC = type("DYNAMIC", (), {"__repr__": lambda self: "*"})()   # a traced slot of a template


class native:
    """Run user code with no trace being recorded, so its NumPy calls are plain NumPy."""

    def __enter__(self):
        _stack().append(None)

    def __exit__(self, *exc):
        _stack().pop()


def split_leaves(tree):
    """(dynamic leaves, template, treedef): array and float leaves are dynamic (ops inputs)."""
    leaves, treedef = flatten(tree)
    dynamic = [leaf for leaf in leaves if _is_dynamic(leaf)]
    template = tuple(DYNAMIC if _is_dynamic(leaf) else leaf for leaf in leaves)
    return dynamic, template, treedef


def _is_dynamic(leaf):
    return isinstance(leaf, (Tracer, np.ndarray, np.generic)) or type(leaf) is float


def fill(template, treedef, dynamic):
    it = iter(dynamic)
    return unflatten(treedef, [next(it) if leaf is DYNAMIC else leaf for leaf in template])


@dataclass(frozen=True, eq=False)
class CallSpec:
    """How a user function's arguments and results map to an op's inputs and outputs."""
    template: tuple          # argument leaves, DYNAMIC where an op input goes
    treedef: object          # structure of the positional arguments
    out_tree: object         # structure of the result
    out_avals: tuple         # one per result leaf

    def args(self, dynamic):
        return fill(self.template, self.treedef, dynamic)

    def tangents(self, dynamic):
        """Tangents structured like the arguments: None where an argument leaf is static."""
        template = tuple(None if s is not DYNAMIC else s for s in self.template)
        return fill(template, self.treedef, dynamic)

    def __repr__(self):
        n_in = sum(leaf is DYNAMIC for leaf in self.template)
        return f"<{n_in} inputs -> {len(self.out_avals)} outputs>"


def _value_like(value, aval, what):
    value = np.asarray(value)
    if value.shape != aval.shape:
        raise TracejitError(f"{what} returned shape {value.shape}, expected {aval.shape}")
    return value.astype(aval.dtype, copy=False)


def record_native(prim, args, params, values):
    """Record `prim` on `args` whose results `values` were already computed natively."""
    builder = next(a.builder for a in args if isinstance(a, Tracer))
    atoms = [_atom(builder, a) for a in args]
    out_avals = prim.abstract_eval(*[a.aval for a in atoms], **params)
    outs = builder.add(prim, atoms, params, out_avals)
    if builder.recorders:
        builder.record(args, atoms, outs, values)
    return [Tracer(builder, v, x) for v, x in zip(outs, values)]


# ---- custom_vjp ----------------------------------------------------------------------------
def _call_impl(*dynamic, fn, spec):
    with native():
        out = fn.fn(*spec.args(dynamic))
    leaves = flatten(out)[0]
    return tuple(_value_like(v, a, fn.__name__) for v, a in zip(leaves, spec.out_avals))


def _call_aval(*avals, fn, spec):
    return list(spec.out_avals)


def _custom_vjp_call_vjp(cts, outs, ins, **params):
    grads = custom_vjp_bwd(*ins, *cts, **params)
    return [g if x.dtype.kind in "fc" else None for g, x in zip(grads, ins)]


def _no_forward_mode(ts, outs, ins, *, fn, spec):
    raise TracejitError(f"forward-mode differentiation of custom_vjp function {fn.__name__} is "
                        "not supported (its rule is reverse-mode only); use tracejit.custom_jvp")


custom_vjp_call = Primitive("custom_vjp_call", _call_impl, _call_aval, vjp=_custom_vjp_call_vjp,
                            jvp=_no_forward_mode, multiple_results=True)


def _per_input(grads_tree, spec, dynamic, what):
    """The gradient leaves belonging to the dynamic slots of the arguments' template."""
    leaves, tree = flatten(grads_tree)
    if tree != spec.treedef:
        raise TracejitError(f"{what} must return one gradient per argument, structured like the "
                            f"arguments: got {tree}, expected {spec.treedef}")
    slots = [g for g, leaf in zip(leaves, spec.template) if leaf is DYNAMIC]
    return tuple(np.zeros(np.shape(x), np.asarray(x).dtype) if g is None
                 else _value_like(g, aval_of(x), what) for g, x in zip(slots, dynamic))


def _bwd_impl(*values, fn, spec):
    n = len(values) - len(spec.out_avals)
    dynamic, cts = values[:n], values[n:]
    with native():
        residuals = fn.fwd(*spec.args(dynamic))[1]
        grads = fn.bwd(residuals, unflatten(spec.out_tree, list(cts)))
    return _per_input(tuple(grads), spec, dynamic, f"bwd rule of {fn.__name__}")


def _bwd_aval(*avals, fn, spec):
    return [Aval(a.shape, a.dtype, a.weak) for a in avals[:len(avals) - len(spec.out_avals)]]


def _no_second_order(cts, outs, ins, *, fn, spec):
    raise TracejitError(f"second derivatives through custom_vjp function {fn.__name__} are not "
                        "supported: its bwd rule runs natively")


custom_vjp_bwd = Primitive("custom_vjp_bwd", _bwd_impl, _bwd_aval, vjp=_no_second_order,
                           jvp=_no_second_order, multiple_results=True)


# ---- custom_jvp ----------------------------------------------------------------------------
def _rule_impl(*values, fn, spec):
    n = len(values) // 2
    with native():
        _, tangent_out = fn.rule(tuple(spec.args(values[:n])), tuple(spec.tangents(values[n:])))
    leaves = flatten(tangent_out)[0]
    return tuple(_value_like(t, a, f"jvp rule of {fn.__name__}")
                 for t, a in zip(leaves, spec.out_avals))


custom_jvp_rule = Primitive("custom_jvp_rule", _rule_impl, _call_aval, vjp=_no_second_order,
                            jvp=_no_second_order, multiple_results=True)


def _custom_jvp_call_jvp(ts, outs, ins, **params):
    tangents = [t if t is not None else zeros_like(x) for t, x in zip(ts, ins)]
    return custom_jvp_rule(*ins, *tangents, **params)


def _transpose_impl(*values, fn, spec):
    """cotangent . J, with J's columns from the (linear) jvp rule on one-hot tangents."""
    n = len(values) - len(spec.out_avals)
    primals, cts = values[:n], values[n:]
    grads = []
    for k, x in enumerate(primals):
        x = np.asarray(x)
        g = np.zeros(x.shape, x.dtype)
        for j in range(x.size if x.dtype.kind in "fc" else 0):
            tangents = [np.zeros_like(np.asarray(p)) for p in primals]
            tangents[k].reshape(-1)[j] = 1
            column = _rule_impl(*primals, *tangents, fn=fn, spec=spec)
            g.reshape(-1)[j] = sum(np.vdot(c, t) for c, t in zip(cts, column))
        grads.append(g)
    return tuple(grads)


custom_jvp_vjp = Primitive("custom_jvp_vjp", _transpose_impl, _bwd_aval, vjp=_no_second_order,
                           jvp=_no_second_order, multiple_results=True)


def _custom_jvp_call_vjp(cts, outs, ins, **params):
    grads = custom_jvp_vjp(*ins, *cts, **params)
    return [g if x.dtype.kind in "fc" else None for g, x in zip(grads, ins)]


custom_jvp_call = Primitive("custom_jvp_call", _call_impl, _call_aval, vjp=_custom_jvp_call_vjp,
                            jvp=_custom_jvp_call_jvp, multiple_results=True)


# ---- checkpoint ----------------------------------------------------------------------------
def _checkpoint_impl(*values, body):
    from ..backends.numpy_exec import run_trace
    return tuple(run_trace(body, list(values)))


def rebind_body(body, inputs):
    """Re-record `body`'s ops (not its guards, already checked) on `inputs`: returns the
    var -> tracer map of the recomputed values."""
    env = dict(zip(body.inputs, inputs))
    for op in body.ops:
        if op.prim.effect:
            continue
        args = [env[a] if isinstance(a, Var) else a for a in op.inputs]
        outs = bind(op.prim, *args, **op.params)
        env.update(zip(op.outputs, outs if op.prim.multiple_results else [outs]))
    return env


def _body_env(env, builder):
    def lookup(atom):
        return env[atom] if isinstance(atom, Var) else Tracer(builder, atom, atom.value)
    return lookup


def _checkpoint_vjp(cts, outs, ins, *, body):
    from ..transforms.vjp import emit_vjp
    env = rebind_body(body, ins)
    seeds = {}
    for a, g in zip(body.outputs, cts):
        if isinstance(a, Var) and a.dtype.kind in "fc":
            seeds[a] = g if a not in seeds else seeds[a] + g
    return emit_vjp(ins[0].builder, body.ops, _body_env(env, ins[0].builder), seeds,
                    list(body.inputs))


def _checkpoint_jvp(ts, outs, ins, *, body):
    from ..transforms.jvp import emit_jvp
    env = rebind_body(body, ins)
    seeds = {v: t for v, t in zip(body.inputs, ts) if t is not None}
    tangents = emit_jvp(ins[0].builder, body.ops, _body_env(env, ins[0].builder), seeds)
    return [tangents.get(a) for a in body.outputs]


checkpoint_p = Primitive("checkpoint", _checkpoint_impl,
                         lambda *avals, body: [a.aval for a in body.outputs],
                         vjp=_checkpoint_vjp, jvp=_checkpoint_jvp, multiple_results=True)
checkpoint_p.call_body = True          # holds a sub-trace in params["body"] (see inline_calls)
