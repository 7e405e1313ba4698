"""Loop-aware dead-code elimination, the last pass before a trace is compiled.

Plain `dce` keeps or drops whole ops. A loop op is one op whose parts can be dead on their own:
reverse mode passes the reverse loop every tape and invariant the pullback *might* read, and the
primal loop records a tape per carry (`merge_taped_loops`) though the pullback of, say, a running
sum never reads the sum. Each dead part costs every iteration: a store per iteration for a tape,
work in the body for a value computed only to be returned. So a loop op here sheds
- values its body computes for after the loop (`extras`) that nothing after the loop reads,
- its tapes, when nothing reads any of them,
- invariants its (pruned) body does not read,
and its body is pruned the same way, nested loops included.

It runs after `merge_taped_loops`, which finds the primal loop a tape can come from by the
identity of the body; pruning makes new bodies.
"""
from ..ir import Op, Trace, Var
from .dce import dce, has_effect


def prune_loops(trace: Trace) -> Trace:
    live = {a for a in trace.outputs if isinstance(a, Var)}
    kept = []
    for op in reversed(trace.ops):
        if op.prim.name == "loop":
            op = _pruned_loop(op, live)
        if any(v in live for v in op.outputs) or has_effect(op):
            kept.append(op)
            live.update(a for a in op.inputs if isinstance(a, Var))
    return Trace(trace.inputs, trace.outputs, tuple(reversed(kept)), trace.name)


def _pruned_loop(op, live):
    p = op.params
    body, n_inv, n_carry = p["body"], p["n_inv"], p["n_carry"]
    cond = p.get("cond") is not None
    n_body = len(body.outputs)
    # body output j is op output j, but a while loop's exit test (the body's last output), whose
    # place in the op's outputs the trip count takes
    kept = [j for j in range(n_body)
            if j < n_carry or j >= n_body - cond or op.outputs[j] in live]
    tape = p["tape"] and any(v in live for v in op.outputs[n_body:])
    outputs = [op.outputs[j] for j in kept if j < n_body - cond]
    outputs += op.outputs[n_body - 1:] if cond else op.outputs[n_body:] if tape else []
    new_body = prune_loops(dce(Trace(body.inputs, tuple(body.outputs[j] for j in kept),
                                     body.ops, body.name)))
    read = {a for o in new_body.ops for a in o.inputs} | set(new_body.outputs)
    invariants = [i for i in range(n_inv) if body.inputs[1 + i] in read]
    new_body = Trace((body.inputs[0], *(body.inputs[1 + i] for i in invariants),
                      *body.inputs[1 + n_inv:]), new_body.outputs, new_body.ops, body.name)
    inputs = tuple(op.inputs[i] for i in invariants) + op.inputs[n_inv:]
    return Op(op.prim, inputs, tuple(outputs),
              {**p, "body": new_body, "n_inv": len(invariants), "tape": tape}, op.loc)
