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

from ..errors import TracejitTypeError, TracejitValueError, UnsupportedError
from ..backends.numba_lower import Statement, call
from ..ir import Aval, Trace, Var, aval_of
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


def split_leaves(args):
    """(dynamic leaves, template, treedef, owner): array and float leaves of the positional
    `args` are dynamic (op inputs); owner[k] is the argument dynamic leaf k belongs to."""
    leaves, treedef = flatten(args)
    owners = [i for i, arg in enumerate(args) for _ in flatten(arg)[0]]
    dynamic = [leaf for leaf in leaves if _is_dynamic(leaf)]
    template = tuple(DYNAMIC if _is_dynamic(leaf) else leaf for leaf in leaves)
    owner = tuple(i for leaf, i in zip(leaves, owners) if _is_dynamic(leaf))
    return dynamic, template, treedef, owner


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
    owner: tuple             # for each op input: the positional argument it belongs to
    nondiff: tuple = ()      # positional arguments not differentiated (nondiff_argnums)

    def args(self, dynamic):
        return fill(self.template, self.treedef, dynamic)

    def split(self, args):
        """(non-differentiated arguments, the others), as the user's rules take them."""
        return ([args[i] for i in self.nondiff],
                tuple(a for i, a in enumerate(args) if i not in self.nondiff))

    def differentiated(self, k):
        return self.owner[k] not in self.nondiff

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
        raise TracejitValueError(f"{what} returned shape {value.shape}, expected {aval.shape}")
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


def _wanted(grads, ins, spec):
    """Cotangents for the float inputs of differentiated arguments; None for the rest."""
    return [g if x.dtype.kind in "fc" and spec.differentiated(k) else None
            for k, (g, x) in enumerate(zip(grads, ins))]


def _custom_vjp_call_vjp(cts, outs, ins, **params):
    return _wanted(custom_vjp_bwd(*ins, *cts, **params), ins, params["spec"])


def _no_forward_mode(ts, outs, ins, *, fn, spec):
    raise UnsupportedError(f"forward-mode differentiation of custom_vjp function {fn.__name__} is "
                        "not supported (its rule is reverse-mode only); use tracejit.custom_jvp")


custom_vjp_call = Primitive("custom_vjp_call", _call_impl, _call_aval, vjp=_custom_vjp_call_vjp,
                            jvp=_no_forward_mode, multiple_results=True)


def _per_input(grads, spec, dynamic, what):
    """The gradient leaves for the op inputs, from one gradient per differentiated argument
    (None: zero), each structured like its argument."""
    args = spec.args(dynamic)
    grads = iter(grads)
    leaves = []
    for i, arg in enumerate(args):
        arg_leaves, arg_tree = flatten(arg)
        g = None if i in spec.nondiff else next(grads, None)
        g_leaves, g_tree = flatten(g)
        if g is not None and g_tree != arg_tree:
            raise TracejitValueError(f"{what} returned a gradient structured {g_tree} for argument "
                                f"{i}, which is structured {arg_tree}")
        leaves += g_leaves if g is not None else [None] * len(arg_leaves)
    slots = [g for g, leaf in zip(leaves, spec.template) if leaf is DYNAMIC]
    return tuple(np.zeros(np.shape(x), np.asarray(x).dtype) if g is None
                 else _value_like(g, aval_of(x), what) for g, x in zip(slots, dynamic))


def _bwd_impl(*values, fn, spec):
    n = len(values) - len(spec.out_avals)
    dynamic, cts = values[:n], values[n:]
    args = spec.args(dynamic)
    with native():
        residuals = fn.fwd(*args)[1]
        grads = fn.bwd(*spec.split(args)[0], residuals, unflatten(spec.out_tree, list(cts)))
    if not isinstance(grads, (tuple, list)) or len(grads) != len(args) - len(spec.nondiff):
        raise TracejitTypeError(f"bwd rule of {fn.__name__} must return a tuple with one gradient "
                            "per differentiated argument")
    return _per_input(grads, spec, dynamic, f"bwd rule of {fn.__name__}")


def _bwd_aval(*avals, fn, spec):
    return [Aval(a.shape, a.dtype, a.weak) for a in avals[:len(avals) - len(spec.out_avals)]]


def _no_second_order(cts, outs, ins, *, fn, spec):
    raise UnsupportedError(f"second derivatives through custom_vjp function {fn.__name__} are not "
                        "supported: its bwd rule runs natively")


custom_vjp_bwd = Primitive("custom_vjp_bwd", _bwd_impl, _bwd_aval, vjp=_no_second_order,
                           jvp=_no_second_order, multiple_results=True)


# ---- custom_jvp ----------------------------------------------------------------------------
def _rule_impl(*values, fn, spec):
    n = len(values) // 2
    nondiff, primals = spec.split(spec.args(values[:n]))
    tangents = spec.split(spec.tangents(values[n:]))[1]
    with native():
        _, tangent_out = fn.rule(*nondiff, primals, tangents)
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
        for j in range(x.size if x.dtype.kind in "fc" and spec.differentiated(k) else 0):
            tangents = [np.zeros_like(np.asarray(p)) for p in primals]
            tangents[k].reshape(-1)[j] = 1
            column = _rule_impl(*primals, *tangents, fn=fn, spec=spec)
            g.reshape(-1)[j] = sum(np.vdot(c, t) for c, t in zip(cts, column))
        grads.append(g)
    return tuple(grads)


custom_jvp_vjp = Primitive("custom_jvp_vjp", _transpose_impl, _bwd_aval, vjp=_no_second_order,
                           jvp=_no_second_order, multiple_results=True)


def _custom_jvp_call_vjp(cts, outs, ins, **params):
    return _wanted(custom_jvp_vjp(*ins, *cts, **params), ins, params["spec"])


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


for _prim in (custom_vjp_call, custom_vjp_bwd, custom_jvp_rule, custom_jvp_vjp, custom_jvp_call):
    _prim.pure = False                 # user code may have side effects: never merged (cse)
    # no numba lowering: the rules are arbitrary user Python, run by the numpy executor
    _prim.numba_note = "calls user Python (custom derivative rules)"

checkpoint_p = Primitive("checkpoint", _checkpoint_impl,
                         lambda *avals, body: [a.aval for a in body.outputs],
                         vjp=_checkpoint_vjp, jvp=_checkpoint_jvp, multiple_results=True)
checkpoint_p.call_body = True          # holds a sub-trace in params["body"] (see inline_calls)


def _lower_checkpoint(kb, op):
    """The body becomes a function of the kernel's module, called once (as `loop` calls its
    body); outputs the body computes come back from it, literal outputs are bound here."""
    body = op.params["body"]
    computed = [a for a in body.outputs if isinstance(a, Var)]
    sub = Trace(body.inputs, tuple(dict.fromkeys(computed)), body.ops, body.name)
    fn, extra = kb.subkernel(sub)
    args = [kb.operand(a) for a in op.inputs] + extra
    result, slot = kb.fresh("r"), {v: j for j, v in enumerate(sub.outputs)}
    kb.line(f"{result} = {call(fn, args)}")
    for var, atom in zip(op.outputs, body.outputs):
        if isinstance(atom, Var):
            value = f"{result}[{slot[atom]}]"
            if var.ndim == 0:
                kb.define_scalar(var, value)
            else:
                kb.define(var, value)
        elif kb.is_scalar(var):
            kb.rename(var, kb.scalar(atom))
        else:
            kb.define(var, kb.array(atom))


checkpoint_p.numba = Statement(_lower_checkpoint)
