"""Common-subexpression elimination: a pure op repeating an earlier one reuses its results.

Derivative passes repeat work by construction (every tangent sweep of `jacfwd` asks for
`cos(x)` again; reverse mode re-derives values the primal has), so compiled traces run this
before inlining call-like ops: a `checkpoint`'s recomputation, emitted as plain ops while the
forward copy is still one call op, is therefore never merged back into the forward pass.
"""
from dataclasses import replace

import numpy as np

from ..ir import Trace, Var

SMALL_LITERAL = 64     # literals up to this size are compared by value, larger ones by identity


def cse(trace: Trace, _bodies=None) -> Trace:
    """`trace` with repeated pure ops merged, in the traces ops hold (loop bodies) too. A body
    shared by several ops stays shared (`merge_taped_loops` matches loops by body)."""
    bodies = {} if _bodies is None else _bodies      # id(body) -> (body, its CSE'd copy)
    rename, seen, ops = {}, {}, []
    for op in trace.ops:
        inputs = tuple(rename.get(a, a) if isinstance(a, Var) else a for a in op.inputs)
        if inputs != op.inputs:
            op = replace(op, inputs=inputs)
        if any(isinstance(v, Trace) for v in op.params.values()):
            op = replace(op, params={k: _cse_body(v, bodies) if isinstance(v, Trace) else v
                                     for k, v in op.params.items()})
        key = _key(op)
        if key is not None and key in seen:
            rename.update(zip(op.outputs, seen[key].outputs))
            continue
        if key is not None:
            seen[key] = op
        ops.append(op)
    outputs = tuple(rename.get(a, a) if isinstance(a, Var) else a for a in trace.outputs)
    return Trace(trace.inputs, outputs, tuple(ops), trace.name)


def _cse_body(body, bodies):
    if id(body) not in bodies:
        bodies[id(body)] = (body, cse(body, bodies))    # the original kept alive: ids stay unique
    return bodies[id(body)][1]


def _key(op):
    """A hashable identity of what `op` computes, or None if it must not be merged."""
    prim = op.prim
    if prim.effect or getattr(prim, "call_body", False) or not getattr(prim, "pure", True):
        return None
    try:
        params = tuple(sorted(op.params.items()))
        hash(params)
    except TypeError:
        return None
    return prim, tuple(_atom_key(a) for a in op.inputs), params


def _atom_key(atom):
    if isinstance(atom, Var):
        return atom
    value = np.asarray(atom.value)
    if value.size > SMALL_LITERAL:
        return id(atom)
    return ("lit", type(atom.value), atom.aval, value.tobytes())
