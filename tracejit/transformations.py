"""Transformations applied inside the trace being recorded.

Every transformation (grad, jvp, jacobians, ...) works the same way, whether the user called it
at top level or inside a function that is itself being traced: the transformed function is
traced *into the current trace* (through the frontend, so its branches, guards and outside reads
are handled as usual), then the derivative ops are appended right after it. Nested inside
another trace they are evaluated on the concrete values seen while tracing, as every traced op
is (the code that follows may branch on them); at top level (`tracejit.api`, which compiles and
caches the trace) they are only recorded. The result is an ordinary trace, so any
transformation can be applied to it again: `grad(grad(f))`, `jacfwd(jacrev(f))` and
`jvp(grad(f), ...)` simply nest.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import TracejitTypeError, TracejitValueError
from .frontend.sources import Attr
from .frontend.trace import argument_name, parameter_names
from .ir import Lit, Trace, Var, aval_of
from .ops import shape as sh
from .ops.core import Tracer, constant, current_builder
from .ops.custom import checkpoint_p
from .ops.elementwise import add, convert
from .transforms import Env, emit_jvp, emit_vjp
from .transforms.vjp import match_dtype
from .tree import flatten, unflatten


def tracing_context():
    """The frontend context recording the current trace, or None outside tracing."""
    builder = current_builder()
    return None if builder is None else builder.ctx


def read_fn(ctx, owner, fn):
    """`owner.fn`, read so that its globals and closures stay sourced (re-read on every call)."""
    source = ctx.source_of(owner)
    return fn if source is None else ctx.read(fn, Attr(source, "fn"))


def call_in_trace(ctx, fn, args, kwargs):
    from .frontend.calls import call
    return call(ctx.frame, fn, tuple(args), dict(kwargs))


# ---- the traced call ---------------------------------------------------------------------------
def argnums_tuple(argnums, n_args, fn):
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    for i in nums:
        if not -n_args <= i < n_args:       # JAX's TypeError: argnums count positional arguments
            raise TracejitTypeError(
                f"differentiating with respect to argnums={argnums} needs argument {i} passed by "
                f"position, but {_name(fn)} was called with {n_args} positional argument"
                f"{'' if n_args == 1 else 's'} (keyword arguments are not differentiated)")
    positions = tuple(i % n_args for i in nums)
    if len(set(positions)) < len(positions):
        raise TracejitValueError(f"argnums={argnums} names an argument of {_name(fn)} twice")
    return positions


def _name(fn):
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))


def check_leaf(leaf, where):
    """True for a leaf to differentiate, False for one to skip (str); refuses the rest, naming
    the leaf by `where()`."""
    dtype = leaf.dtype if isinstance(leaf, (Tracer, np.ndarray, np.generic)) else None
    if type(leaf) is float or (dtype is not None and dtype.kind == "f"):
        return True
    if leaf is None or isinstance(leaf, str):
        return False
    if type(leaf) is complex or (dtype is not None and dtype.kind == "c"):
        raise TracejitTypeError(f"cannot differentiate with respect to {where()}: it is complex, and "
                            "tracejit differentiates real functions only (holomorphic=False)")
    kind = getattr(dtype, "name", type(leaf).__name__)
    raise TracejitTypeError(f"cannot differentiate with respect to {where()}: it is {kind}; "
                        "gradients need float arrays or Python floats (pass other data as an "
                        "argument outside argnums, or make it a static field: "
                        "dataclasses.field(metadata={'static': True}) or "
                        "tracejit.tree_util.register_dataclass(cls, data_fields, meta_fields))")


def leaf_path(fn, args, i, k):
    """A readable name for leaf `k` of positional argument `i`: `params.step (argument 0 of
    loss)`."""
    paths = []
    flatten(args[i], paths=paths, path=argument_name(parameter_names(fn), i))
    return f"{paths[k]} (argument {i} of {_name(fn)})"


class Segment:
    """One call of `fn` recorded into the current trace, with the leaves of the positional
    arguments `argnums` given vars of their own (so that a value also reachable another way,
    e.g. through a closure, is not mistaken for the argument), and, when nested in another
    trace, the concrete value of every var its ops touch (the derivative ops appended after it
    are evaluated on them). `fresh`: the call made by a compiled transformation at top level,
    whose arguments are trace inputs nothing else reaches."""

    def __init__(self, ctx, fn, args, kwargs, argnums, fresh=False):
        self.builder = builder = ctx.builder
        self.values = {}
        args = list(args)
        self.argnums = argnums
        self.wrt_args = []          # per distinct argnum: (treedef, [Tracer | None per leaf])
        for i in dict.fromkeys(argnums):
            leaves, tree = flatten(args[i])
            slots = [self._own_var(leaf, fresh)
                     if check_leaf(leaf, lambda k=k, i=i: leaf_path(fn, args, i, k)) else None
                     for k, leaf in enumerate(leaves)]
            self.wrt_args.append((tree, slots))
            args[i] = unflatten(tree, [s if s is not None else leaf for s, leaf in zip(slots, leaves)])
        self.start = len(builder.ops)
        if fresh:
            self.out = call_in_trace(ctx, fn, args, kwargs)
            self._end_of_trace(builder)
        else:
            builder.recorders.append(self.values)
            try:
                self.out = call_in_trace(ctx, fn, args, kwargs)
            finally:
                builder.recorders.pop()
        self.ops = builder.ops[self.start:]
        for leaf in flatten(self.out)[0]:
            if isinstance(leaf, Tracer) and isinstance(leaf.atom, Var):
                self.values[leaf.atom] = leaf.val
        self.env = Env(builder, self.values)

    @staticmethod
    def _end_of_trace(builder):
        """At top level nothing after the derivative ops needs their values: they are only
        recorded (no intermediate is kept alive for them while tracing), and attributed to
        their primal's line rather than to a call site, which the top level lacks."""
        builder.concrete = False
        builder.loc = None

    def _own_var(self, leaf, fresh):
        if fresh and isinstance(leaf, Tracer) and isinstance(leaf.atom, Var):
            self.values[leaf.atom] = leaf.val     # a fresh trace input: nothing else reaches it
            return leaf
        atom = leaf.atom if isinstance(leaf, Tracer) else Lit(leaf)
        value = leaf.val if isinstance(leaf, Tracer) else leaf
        # an identity op recorded by hand: `bind` would fold it away when `leaf` is a constant
        (var,) = self.builder.add(sh.reshape, [atom], {"shape": tuple(atom.aval.shape)}, [atom.aval])
        self.builder.record([leaf], [atom], [var], [value])     # for enclosing transformations
        self.values[var] = value
        return Tracer(self.builder, var, value)

    @property
    def wrt(self):
        """The differentiated leaves, flat."""
        return [t for _, slots in self.wrt_args for t in slots if t is not None]

    def per_arg(self, flat):
        """Values for the flat `wrt` leaves, put back into the structure of each argument in
        `argnums` (an argument named twice gets the same values twice)."""
        it = iter(flat)
        by_arg = dict(zip(dict.fromkeys(self.argnums), (
            unflatten(tree, [None if t is None else next(it) for t in slots])
            for tree, slots in self.wrt_args)))
        return tuple(by_arg[i] for i in self.argnums)

    def vjp(self, seeds):
        """Cotangents of the `wrt` leaves given output cotangents `seeds` ({var: tracer})."""
        wrt = self.wrt
        grads = emit_vjp(self.builder, self.ops, self.env, seeds, [t.atom for t in wrt])
        return [_like_leaf(g, t) for g, t in zip(grads, wrt)]

    def jvp(self, seeds):
        return emit_jvp(self.builder, self.ops, self.env, seeds)


def _like_leaf(g, leaf):
    """A derivative typed like `leaf`: weak (a Python float at top level) if the leaf was."""
    if leaf.aval.weak and not g.aval.weak:
        return convert(g, dtype=leaf.dtype, weak=True)
    return g


def _shape(x):
    return tuple(x.shape) if isinstance(x, Tracer) else np.shape(x)


def as_tracer(like, value):
    return value if isinstance(value, Tracer) else constant(like, np.asarray(value))


def split_aux(out, has_aux, fn):
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TracejitTypeError(f"{_name(fn)} was declared has_aux=True, so it must return a pair "
                            "(output, auxiliary data)")
    return out[0], out[1]


def _select(per_arg, argnums):
    return per_arg if isinstance(argnums, tuple) else per_arg[0]


def _var_of(leaf):
    """The differentiable var behind an output leaf, or None for constants and non-floats."""
    if isinstance(leaf, Tracer) and isinstance(leaf.atom, Var) and leaf.dtype.kind in "fc":
        return leaf.atom
    return None


# ---- reverse mode ------------------------------------------------------------------------------
def grad_apply(ctx, fn, args, kwargs, *, argnums, has_aux, with_value, summed=False,
               fresh=False):
    """The gradient of `fn`'s (scalar) output; `summed`: of the sum of its outputs, whatever
    their shape (autograd's elementwise_grad)."""
    seg = Segment(ctx, fn, args, kwargs, argnums_tuple(argnums, len(args), fn), fresh)
    value, aux = split_aux(seg.out, has_aux, fn)
    if value is None:
        raise TracejitTypeError(f"{_name(fn)} returned None; it must return a float scalar to be "
                            "differentiated (did the function forget a `return`?)")
    aval = value.aval if isinstance(value, Tracer) else aval_of(value)
    # a size-1 array (shape (1,), (1, 1)...) is a scalar too, as autograd takes it; JAX refuses it
    if (math.prod(aval.shape) != 1 and not summed) or aval.dtype.kind != "f":
        raise TracejitTypeError(f"{_name(fn)} must return a float scalar (or an array of one "
                                f"element) to be differentiated, but returned {aval}"
                                + (" as its first output (has_aux=True)" if has_aux else ""))
    var = _var_of(value)
    seeds = {var: constant(value, np.ones(aval.shape, var.dtype))} if var is not None else {}
    g = _select(seg.per_arg(seg.vjp(seeds)), argnums)
    if has_aux:
        return ((value, aux), g) if with_value else (g, aux)
    return (value, g) if with_value else g


def pullback_apply(ctx, fn, args, kwargs, *, has_aux, fresh=False):
    """(primals, cotangent) -> the cotangent of each primal: the function `vjp` hands back."""
    primals, ct = args
    primals = tuple(primals)
    seg = Segment(ctx, fn, primals, kwargs, tuple(range(len(primals))), fresh)
    out = split_aux(seg.out, has_aux, fn)[0]
    out_leaves, out_tree = flatten(out)
    ct_leaves, ct_tree = flatten(ct)
    if ct_tree != out_tree:
        raise TracejitValueError(f"the cotangent passed to the vjp of {_name(fn)} must be structured "
                            f"like its output: got {ct_tree}, expected {out_tree}")
    seeds = {}
    for o, c in zip(out_leaves, ct_leaves):
        var = _var_of(o)
        if var is None:
            continue
        if _shape(c) != var.shape:
            raise TracejitValueError(f"cotangent of shape {_shape(c)} for an output of shape "
                                f"{var.shape} in the vjp of {_name(fn)}")
        c = match_dtype(as_tracer(o, c), var.aval)
        seeds[var] = add(seeds[var], c) if var in seeds else c
    return seg.per_arg(seg.vjp(seeds))


# ---- forward mode ------------------------------------------------------------------------------
def jvp_apply(ctx, fn, args, kwargs, *, has_aux, fresh=False):
    """(primals, tangents) -> (output, output tangent[, aux])."""
    primals, tangents = tuple(args[0]), tuple(args[1])
    if len(primals) != len(tangents):
        raise TracejitValueError(f"jvp of {_name(fn)}: {len(primals)} primals but {len(tangents)} "
                            "tangents")
    seg = Segment(ctx, fn, primals, kwargs, tuple(range(len(primals))), fresh)
    seeds = {}
    for (tree, slots), tangent in zip(seg.wrt_args, tangents):
        t_leaves, t_tree = flatten(tangent)
        if t_tree != tree:
            raise TracejitValueError(f"jvp of {_name(fn)}: a tangent is structured {t_tree}, its "
                                f"primal {tree}")
        for slot, t in zip(slots, t_leaves):
            if slot is not None:
                if _shape(t) != slot.shape:
                    raise TracejitValueError(f"jvp of {_name(fn)}: tangent of shape {_shape(t)} "
                                        f"for a primal of shape {slot.shape}")
                seeds[slot.atom] = match_dtype(as_tracer(slot, t), slot.aval)
    tangents_of = seg.jvp(seeds)
    out, aux = split_aux(seg.out, has_aux, fn)
    out_leaves, out_tree = flatten(out)
    tangent_out = unflatten(out_tree, [_tangent_of(o, tangents_of) for o in out_leaves])
    return (out, tangent_out, aux) if has_aux else (out, tangent_out)


def _tangent_of(leaf, tangents):
    var = _var_of(leaf)
    if var is not None and var in tangents:
        return _like_leaf(tangents[var], leaf)
    return np.zeros(_shape(leaf), np.result_type(leaf)) if not isinstance(leaf, Tracer) \
        else sh.zeros_like(leaf)


# ---- Jacobians ---------------------------------------------------------------------------------
def _one_hot(like, j):
    e = np.zeros(like.shape, like.dtype)
    e.reshape(-1)[j] = 1
    return constant(like, e)


def _stack(parts, shape):
    """Stack same-shaped tracers along a new leading axis."""
    rows = [sh.reshape(p, shape=(1,) + tuple(shape)) for p in parts]
    return rows[0] if len(rows) == 1 else sh.concatenate(*rows, axis=0)


def _zero_block(out_leaf, leaf):
    return np.zeros(_shape(out_leaf) + tuple(leaf.shape), leaf.dtype)


def _jac_result(seg, out_leaves, out_tree, blocks, argnums):
    """blocks[o][k]: d out_leaves[o] / d wrt[k]; structured as out tree of argument trees."""
    return unflatten(out_tree, [_select(seg.per_arg(row), argnums) for row in blocks])


def jacfwd_apply(ctx, fn, args, kwargs, *, argnums, has_aux, fresh=False):
    seg = Segment(ctx, fn, args, kwargs, argnums_tuple(argnums, len(args), fn), fresh)
    out, aux = split_aux(seg.out, has_aux, fn)
    out_leaves, out_tree = flatten(out)
    blocks = [[None] * len(seg.wrt) for _ in out_leaves]
    for k, leaf in enumerate(seg.wrt):
        columns = [seg.jvp({leaf.atom: _one_hot(leaf, j)}) for j in range(leaf.size)]
        for o, out_leaf in enumerate(out_leaves):
            var = _var_of(out_leaf)
            if var is None or leaf.size == 0:
                blocks[o][k] = _zero_block(out_leaf, leaf)
                continue
            stacked = _stack([c[var] if var in c else sh.zeros_like(out_leaf) for c in columns],
                             var.shape)
            moved = sh.transpose(stacked, perm=tuple(range(1, var.ndim + 1)) + (0,))
            blocks[o][k] = sh.reshape(moved, shape=tuple(var.shape) + tuple(leaf.shape))
    jac = _jac_result(seg, out_leaves, out_tree, blocks, argnums)
    return (jac, aux) if has_aux else jac


def jacrev_apply(ctx, fn, args, kwargs, *, argnums, has_aux, fresh=False):
    seg = Segment(ctx, fn, args, kwargs, argnums_tuple(argnums, len(args), fn), fresh)
    out, aux = split_aux(seg.out, has_aux, fn)
    out_leaves, out_tree = flatten(out)
    blocks = []
    for out_leaf in out_leaves:
        var = _var_of(out_leaf)
        if var is None or var.aval.size == 0:
            blocks.append([_zero_block(out_leaf, leaf) for leaf in seg.wrt])
            continue
        rows = [seg.vjp({var: _one_hot(out_leaf, i)}) for i in range(var.aval.size)]
        blocks.append([sh.reshape(_stack([r[k] for r in rows], leaf.shape),
                                  shape=tuple(var.shape) + tuple(leaf.shape))
                       for k, leaf in enumerate(seg.wrt)])
    jac = _jac_result(seg, out_leaves, out_tree, blocks, argnums)
    return (jac, aux) if has_aux else jac


# ---- checkpoint --------------------------------------------------------------------------------
def checkpoint_apply(ctx, fn, args, kwargs):
    """Record `fn`'s call as one `checkpoint` op holding its ops as a sub-trace, so that
    derivatives recompute its intermediates instead of keeping them."""
    seg = Segment(ctx, fn, args, kwargs, ())
    out_leaves, out_tree = flatten(seg.out)
    outputs = list(dict.fromkeys(leaf.atom for leaf in out_leaves
                                 if isinstance(leaf, Tracer) and isinstance(leaf.atom, Var)))
    if not seg.ops or not outputs:
        return seg.out
    free = _free_vars(seg.ops, outputs)
    body = Trace(tuple(free), tuple(outputs), tuple(seg.ops), name=f"{_name(fn)}_checkpoint")
    del seg.builder.ops[seg.start:]
    replaced = dict(zip(outputs, checkpoint_p(*[seg.env(v) for v in free], body=body)))
    return unflatten(out_tree, [replaced.get(getattr(leaf, "atom", None), leaf)
                                if isinstance(leaf, Tracer) else leaf for leaf in out_leaves])


def _free_vars(ops, outputs):
    """Vars read by `ops` (or returned) but defined outside them, in order of first use."""
    defined, free = set(), {}
    for op in ops:
        for a in op.inputs:
            if isinstance(a, Var) and a not in defined:
                free.setdefault(a, None)
        defined.update(op.outputs)
    for a in outputs:
        if a not in defined:
            free.setdefault(a, None)
    return list(free)
