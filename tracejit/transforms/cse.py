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


def cse(trace: Trace) -> Trace:
    rename, seen, ops = {}, {}, []
    for op in trace.ops:
        inputs = tuple(rename.get(a, a) if isinstance(a, Var) else a for a in op.inputs)
        if inputs != op.inputs:
            op = replace(op, inputs=inputs)
        key = _key(op)
        if key is not None and key in seen:
            rename.update(zip(op.outputs, seen[key].outputs))
            continue
        if key is not None:
            seen[key] = op
        ops.append(op)
    outputs = tuple(rename.get(a, a) if isinstance(a, Var) else a for a in trace.outputs)
    return Trace(trace.inputs, outputs, tuple(ops), trace.name)


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
