"""Algebraic simplification of adjoint traces: accumulate scatters in place.

Reverse mode of `x[i]` gives `scatter_add(zeros, i, g)`, and the cotangent of `x` sums many of
them: `acc + scatter_add(zeros, i, g)`. Summing whole arrays costs O(size) per read of `x[i]`, which
makes a loop over `x` quadratic. The rewrite

    add(a, scatter_add(b, i, u))  ->  scatter_add(add(a, b), i, u)      add(a, zeros) -> a

turns such sums into a chain of scatters into one buffer, which backends update in place: O(1)
per read. It applies when the scatter's result has no other use and all shapes and dtypes agree.
"""
import numpy as np

from ..ir import Lit, Trace, Var
from ..ops.core import Builder, Tracer
from ..ops.elementwise import add
from ..ops.index import scatter_add
from .dce import dce


def _use_counts(trace):
    counts = {}
    for op in trace.ops:
        for a in op.inputs:
            if isinstance(a, Var):
                counts[a] = counts.get(a, 0) + 1
    for a in trace.outputs:
        if isinstance(a, Var):
            counts[a] = counts.get(a, 0) + 1
    return counts


def accumulate_scatters(trace: Trace) -> Trace:
    if not any(op.prim is scatter_add for op in trace.ops):
        return trace
    builder = Builder(concrete=False)
    uses = _use_counts(trace)
    env = {v: builder.new_input(v.aval) for v in trace.inputs}
    scatters = {}      # new atom -> (base, idx, update, axis) of a single-use scatter_add
    zeros = set()      # new atoms known to be all zeros

    def value(atom):
        return env[atom] if isinstance(atom, Var) else Tracer(builder, atom, atom.value)

    def is_zero(t):
        return t.atom in zeros or (isinstance(t.atom, Lit) and not np.any(t.atom.value))

    def accumulate(x, y, single_use):
        """x + y, pushing x into y's scatter chain when y is one; the result is again a chain
        (that later sums may extend) when it has no other use."""
        if is_zero(y):
            return x
        if is_zero(x):
            return y
        chain = scatters.get(y.atom)
        if chain is None or x.aval != y.aval:
            return add(x, y)
        base, idx, update, axis = chain
        new_base = accumulate(x, base, True)
        result = scatter_add(new_base, idx, update, axis=axis)
        if single_use:
            scatters[result.atom] = (new_base, idx, update, axis)
        return result

    with builder:
        for op in trace.ops:
            builder.loc = op.loc
            args = [value(a) for a in op.inputs]
            if op.prim is add and args[0].aval == args[1].aval == op.outputs[0].aval:
                single = uses.get(op.outputs[0], 0) == 1
                result = accumulate(args[0], args[1], single) if args[1].atom in scatters \
                    else accumulate(args[1], args[0], single)
            else:
                result = op.prim(*args, **op.params)
            results = result if op.prim.multiple_results else [result]
            for v, r in zip(op.outputs, results):
                env[v] = r
            if op.prim is scatter_add and uses.get(op.outputs[0], 0) == 1:
                scatters[result.atom] = (*args, op.params["axis"])
            if op.prim.name == "broadcast_to" and is_zero(args[0]):
                zeros.add(result.atom)
        outputs = [value(a) for a in trace.outputs]
    simplified = builder.build(outputs, name=trace.name)
    return dce(Trace(simplified.inputs, simplified.outputs, simplified.ops, trace.name))
