"""Reuse the primal loop for the reverse pass's tape.

The VJP of a loop op runs the loop again with `tape=True`. When the joint trace already runs the
same loop (same body, same inputs) for the primal, that run can record the tape instead: the
primal op gains the tape outputs and the recomputation disappears.
"""
from ..ir import Op, Trace, Var


def merge_taped_loops(trace: Trace) -> Trace:
    primal = {}
    for op in trace.ops:
        if op.prim.name == "loop" and not op.params["tape"]:
            primal.setdefault((id(op.params["body"]), op.inputs), op)
    replaced, rename = {}, {}
    for op in trace.ops:
        if op.prim.name != "loop" or not op.params["tape"]:
            continue
        first = primal.get((id(op.params["body"]), op.inputs))
        if first is None or first in replaced:
            continue
        n_out = len(first.outputs)
        replaced[first] = Op(first.prim, first.inputs, first.outputs + op.outputs[n_out:],
                             {**first.params, "tape": True}, first.loc)
        rename.update(zip(op.outputs[:n_out], first.outputs))
        replaced[op] = None
    if not replaced:
        return trace

    def renamed(atoms):
        return tuple(rename.get(a, a) if isinstance(a, Var) else a for a in atoms)
    ops = []
    for op in trace.ops:
        op = replaced.get(op, op)
        if op is not None:
            ops.append(Op(op.prim, renamed(op.inputs), op.outputs, op.params, op.loc))
    return Trace(trace.inputs, renamed(trace.outputs), tuple(ops), trace.name)
