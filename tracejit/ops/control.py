"""Control primitives: `loop`, a loop whose body is itself a trace, and `sweep`, the reverse
pass of a loop that keeps its own tape.

`loop(*invariants, *carry_init, body, trip, n_inv, n_carry, tape, start)` runs
`carry = body(k, *invariants, *carry)[:n_carry]` for k = start .. start+trip-1 (k counts the
iterations of the Python loop, so pieces of one loop rolled separately share a body) and returns the body's
outputs of the last iteration (carries first, then values computed in the last iteration that code
after the loop reads). With `tape=True` it also returns, per carry, the stack of its values at the
start of every iteration: what the reverse loop reads.

The while form (`cond` a bool, `bound` None or an int) has a trip count decided at run time: the
body's last output is the exit test (a guard's predicate while tracing), and the loop runs the
body at least once and again while that output equals `cond`; it returns the body's other
outputs and the trip count it ran; `trip` is only the count seen while tracing. With `bound`
(a `for` loop left by `break`), reaching iteration `bound` first is a side exit.

Reverse mode of a counted loop recomputes the forward loop with a tape (the compiled trace lets
the primal loop record it: `merge_taped_loops`) and runs the body's pullback in a second loop
from the last iteration to the first. A while loop's tape has no static length, and a counted
loop's may not fit memory (CHECKPOINT_BYTES): their reverse pass is one `sweep` op that reruns
the loop for a trip count given at run time, checkpointing its carries, then runs the pullback
backwards. Forward mode of either is the same op on a tangent body.
"""
import math

import numpy as np

from ..ir import Aval, Trace
from ..transforms.dce import dce
from ..backends.numba_lower import Statement, call, literal
from .core import Builder, GuardFailure, Primitive
from .effects import without_prints
from .elementwise import add, eq, select, sub
from .index import take
from .shape import zeros_like

INDEX = Aval((), np.dtype(np.int64))
CHECKPOINT_BYTES = 64 << 20    # a reverse pass keeping more carries than this checkpoints them


def _loop_impl(*values, body, trip, n_inv, n_carry, tape, start=0, cond=None, bound=None):
    # the reference semantics of a body is a trace run (numpy_exec), once per iteration
    from ..backends.numpy_exec import iteration_runner
    invariants, carry = list(values[:n_inv]), list(values[n_inv:])
    if cond is not None:
        return _while_impl(invariants, carry, body, n_carry, start, cond, bound)
    history = [[] for _ in range(n_carry)]
    outs, run = carry, iteration_runner(body)
    for k in range(start, start + trip):
        for column, value in zip(history, carry):
            column.append(value)
        outs = run([np.int64(k), *invariants, *carry])
        carry = outs[:n_carry]
    result = list(outs)
    if tape:
        result += [np.stack(column) for column in history]
    return result


def _while_impl(invariants, carry, body, n_carry, start, cond, bound):
    """Run the body until its last output (the exit guard's predicate) differs from `cond`; at
    least once (the trace guarded the first test before the loop). A `for` loop whose iterator
    runs out first side-exits: the trace recorded the exit through the condition."""
    from ..backends.numpy_exec import iteration_runner
    k, run = start, iteration_runner(body)
    while True:
        if bound is not None and k >= bound:
            raise GuardFailure("the exit condition of a loop (its iterator ran out first)")
        outs = run([np.int64(k), *invariants, *carry])
        carry, k = outs[:n_carry], k + 1
        if bool(outs[-1]) != cond:
            return list(outs[:-1]) + [np.int64(k - start)]


def _loop_aval(*avals, body, trip, n_inv, n_carry, tape, start=0, cond=None, bound=None):
    if cond is not None:
        return [a.aval for a in body.outputs[:-1]] + [INDEX]
    outs = [a.aval for a in body.outputs]
    if tape:
        outs += [Aval((trip,) + a.shape, a.dtype) for a in avals[n_inv:]]
    return outs


def _float_aval(aval):
    return aval if aval.dtype.kind == "f" else Aval(aval.shape, np.dtype(np.float64))


def _loop_vjp(cts, outs, ins, *, body, trip, n_inv, n_carry, tape, start=0, cond=None,
              bound=None):
    from ..transforms.vjp import vjp_body
    invariants, init = ins[:n_inv], ins[n_inv:]
    if cond is not None or (not tape and trip * state_bytes(init) > CHECKPOINT_BYTES):
        return _sweep_vjp(cts, outs, ins, body, trip, n_inv, n_carry, start, cond)
    n_out = len(body.outputs)
    recorded = loop(*invariants, *init, body=body, trip=trip, n_inv=n_inv, n_carry=n_carry,
                    tape=True, start=start)
    tapes = recorded[n_out:]
    # a tape that is itself an output (the loop op of a joint trace, differentiated again) has
    # cotangents too: row r adds to the cotangent of the carries entering iteration r
    tape_cts = [ct if ct is not None else zeros_like(t) for ct, t in zip(cts[n_out:], outs[n_out:])]
    if not any(ct is not None for ct in cts[n_out:]):
        tape_cts = []
    pullback = vjp_body(body, range(1, 1 + n_inv + n_carry))
    reverse = _reverse_body(body, pullback, trip, start, n_inv, n_carry, [t.aval for t in tapes],
                            [t.aval for t in tape_cts])
    out_cts = [ct if ct is not None else zeros_like(o) for ct, o in zip(cts[:n_out], outs)]
    acc_init = [_zero_float(x) for x in invariants]
    result = loop(*invariants, *tapes, *out_cts[n_carry:], *tape_cts, *out_cts[:n_carry],
                  *acc_init, body=reverse, trip=trip,
                  n_inv=n_inv + n_carry + (n_out - n_carry) + len(tape_cts),
                  n_carry=n_carry + n_inv, tape=False)
    ct_init, ct_inv = result[:n_carry], result[n_carry:]
    return [g if x.dtype.kind == "f" else None for g, x in zip(ct_inv, invariants)] + \
        [g if x.dtype.kind == "f" else None for g, x in zip(ct_init, init)]


def _zero_float(x):
    from .core import constant
    from .shape import broadcast_to
    zero = constant(x, np.zeros((), x.dtype if x.dtype.kind == "f" else np.float64))
    return broadcast_to(zero, shape=x.shape) if x.shape else zero


def _reverse_body(body, pullback, trip, start, n_inv, n_carry, tape_avals, tape_ct_avals=()):
    """The body of the reverse loop: iteration j undoes forward iteration start+trip-1-j."""
    from ..transforms.inline import inline_trace
    from ..transforms.simplify import accumulate_scatters
    b = Builder(concrete=False)
    j = b.new_input(INDEX)
    invariants = [b.new_input(v.aval) for v in body.inputs[1:1 + n_inv]]
    tapes = [b.new_input(a) for a in tape_avals]
    extra_cts = [b.new_input(_float_aval(o.aval)) for o in body.outputs[n_carry:]]
    tape_cts = [b.new_input(a) for a in tape_ct_avals]
    carry_cts = [b.new_input(_float_aval(o.aval)) for o in body.outputs[:n_carry]]
    acc = [b.new_input(_float_aval(v.aval)) for v in body.inputs[1:1 + n_inv]]
    with b:
        row = sub(trip - 1, j)
        k = sub(start + trip - 1, j)
        carries = [take(t, row, axis=0) for t in tapes]
        first = eq(j, 0)                  # values read after the loop come from its last iteration
        extras_now = [select(first, ct, 0) for ct in extra_cts]
        grads = inline_trace(pullback, [k, *invariants, *carries, *carry_cts, *extras_now])
        new_acc = [add(a, g) for a, g in zip(acc, grads[:n_inv])]
        carry_grads = grads[n_inv:]
        if tape_cts:
            carry_grads = [add(g, take(t, row, axis=0)) for g, t in zip(carry_grads, tape_cts)]
        reverse = b.build([*carry_grads, *new_acc], name=f"{body.name}_reverse")
    return accumulate_scatters(reverse)


def _loop_jvp(ts, outs, ins, *, body, trip, n_inv, n_carry, tape, start=0, cond=None,
              bound=None):
    """The tangent loop runs alongside the primal: carries and invariants gain tangents, and the
    body becomes the body's forward-mode trace (a while loop's keeps its exit test last)."""
    floats = [i for i, x in enumerate(ins) if x.dtype.kind == "f"]
    float_inv = [i for i in floats if i < n_inv]
    float_carry = [i - n_inv for i in floats if i >= n_inv]
    tangent_body = _tangent_body(body, n_inv, n_carry, float_inv, float_carry, cond is not None)
    tangent = [ts[i] if ts[i] is not None else zeros_like(ins[i]) for i in floats]
    result = loop(*ins[:n_inv], *tangent[:len(float_inv)], *ins[n_inv:], *tangent[len(float_inv):],
                  body=tangent_body, trip=trip, n_inv=n_inv + len(float_inv),
                  n_carry=n_carry + len(float_carry), tape=tape, start=start,
                  **({} if cond is None else {"cond": cond, "bound": bound}))
    n_out, n_fc = len(body.outputs) - (cond is not None), len(float_carry)
    n_body = len(tangent_body.outputs) - (cond is not None)
    carry_tangents = dict(zip(float_carry, result[n_carry:n_carry + n_fc]))
    extra_tangents = result[n_carry + n_fc + (n_out - n_carry):n_body]
    out = [carry_tangents.get(j) for j in range(n_carry)] + list(extra_tangents)
    if cond is not None:
        return out + [None]                            # the trip count has no tangent
    if not tape:
        return out
    # the tape of a tangent loop holds the carries' tangents after the carries themselves
    tape_tangents = dict(zip(float_carry, result[n_body + n_carry:]))
    return out + [tape_tangents.get(j) for j in range(n_carry)]


def _tangent_body(body, n_inv, n_carry, float_inv, float_carry, cond=False):
    """body(k, inv, t_inv, carry, t_carry) -> (carry', t_carry', extras, t_extras[, test])."""
    from ..transforms.inline import inline_trace
    from ..transforms.jvp import jvp_trace
    wrt = [1 + i for i in float_inv] + [1 + n_inv + j for j in float_carry]
    forward = jvp_trace(without_prints(body), wrt)     # the primal loop prints
    b = Builder(concrete=False)
    k = b.new_input(INDEX)
    invariants = [b.new_input(v.aval) for v in body.inputs[1:1 + n_inv]]
    t_invariants = [b.new_input(body.inputs[1 + i].aval) for i in float_inv]
    carries = [b.new_input(v.aval) for v in body.inputs[1 + n_inv:]]
    t_carries = [b.new_input(body.inputs[1 + n_inv + j].aval) for j in float_carry]
    with b:
        res = inline_trace(forward, [k, *invariants, *carries, *t_invariants, *t_carries])
    n_out = len(body.outputs)
    primal, tangent = res[:n_out], res[n_out:]
    n_extra = n_out - cond                   # a while loop's exit test stays the last output
    outputs = [*primal[:n_carry], *[tangent[j] for j in float_carry], *primal[n_carry:n_extra],
               *tangent[n_carry:n_extra], *primal[n_extra:]]
    return dce(b.build(outputs, name=f"{body.name}_jvp"))


def without_test(body):
    """A while loop's body without its last output, the exit test."""
    return dce(Trace(body.inputs, body.outputs[:-1], body.ops, body.name))


loop = Primitive("loop", _loop_impl, _loop_aval, vjp=_loop_vjp, jvp=_loop_jvp,
                 multiple_results=True)
# a `for` loop left by `break` on data side-exits when its iterator runs out first (for ...
# else): it must run though nothing reads its trip count
loop.may_raise = lambda params: params.get("bound") is not None


# ---- sweep: the reverse pass of a loop whose tape is kept inside one op --------------------------
def state_bytes(carries):
    return sum(int(np.prod(c.shape, dtype=np.int64)) * c.dtype.itemsize for c in carries)


def checkpoint_stride(trip, nbytes):
    """Every how many iterations a sweep keeps the carries: 1 (a full tape) while the tape fits
    CHECKPOINT_BYTES, else about sqrt(trip), which holds ~2*sqrt(trip) states at most and runs
    the forward body about once more."""
    if trip * nbytes <= CHECKPOINT_BYTES:
        return 1
    return max(1, math.isqrt(trip - 1) + 1)


def _sweep_vjp(cts, outs, ins, body, trip, n_inv, n_carry, start, cond):
    """The reverse pass of a while loop (or of a counted loop whose tape would pass
    CHECKPOINT_BYTES) as one `sweep` op: it reruns the loop for the trip count the primal
    loop returned, keeping checkpoints, and runs the pullback backwards."""
    from ..transforms.vjp import vjp_body
    forward = without_prints(without_test(body) if cond is not None else body)
    n_out = len(forward.outputs)
    invariants, init = ins[:n_inv], ins[n_inv:]
    pullback = vjp_body(forward, range(1, 1 + n_inv + n_carry))
    reverse = _sweep_reverse_body(forward, pullback, n_inv, n_carry)
    out_cts = [ct if ct is not None else zeros_like(o) for ct, o in zip(cts[:n_out], outs)]
    count = outs[-1] if cond is not None else trip
    result = sweep(*invariants, *init, *out_cts[n_carry:], *out_cts[:n_carry], count,
                   body=forward, reverse=reverse, n_inv=n_inv, n_carry=n_carry,
                   n_extra=n_out - n_carry, n_acc=n_inv, start=start)
    ct_init, ct_inv = result[:n_carry], result[n_carry:]
    return [g if x.dtype.kind == "f" else None for g, x in zip(ct_inv, invariants)] + \
        [g if x.dtype.kind == "f" else None for g, x in zip(ct_init, init)]


def _sweep_reverse_body(body, pullback, n_inv, n_carry):
    """reverse(k, last, *inv, *carries entering iteration k, *extra_cts, *carry_cts, *acc):
    undoes forward iteration k; `last` marks the loop's last iteration, whose values the code
    after the loop read."""
    from ..transforms.inline import inline_trace
    from ..transforms.simplify import accumulate_scatters
    b = Builder(concrete=False)
    k = b.new_input(INDEX)
    last = b.new_input(Aval((), np.dtype(bool)))
    invariants = [b.new_input(v.aval) for v in body.inputs[1:1 + n_inv]]
    carries = [b.new_input(v.aval) for v in body.inputs[1 + n_inv:]]
    extra_cts = [b.new_input(_float_aval(o.aval)) for o in body.outputs[n_carry:]]
    carry_cts = [b.new_input(_float_aval(o.aval)) for o in body.outputs[:n_carry]]
    acc = [b.new_input(_float_aval(v.aval)) for v in body.inputs[1:1 + n_inv]]
    with b:
        extras_now = [select(last, ct, 0) for ct in extra_cts]
        grads = inline_trace(pullback, [k, *invariants, *carries, *carry_cts, *extras_now])
        new_acc = [add(a, g) for a, g in zip(acc, grads[:n_inv])]
        reverse = b.build([*grads[n_inv:], *new_acc], name=f"{body.name}_reverse")
    return accumulate_scatters(reverse)


SWEEP_STATS = {"states": 0, "stride": 1}   # the numpy sweep's last run: most states held, stride


def _sweep_impl(*values, body, reverse, n_inv, n_carry, n_extra, n_acc, start):
    """sweep(*inv, *init, *extra_cts, *cts, trip): carries s_0 = init, s_r+1 = body(start + r,
    *inv, *s_r)[:n_carry]; then for r = trip-1 .. 0, (cts, acc) = reverse(start + r,
    r == trip-1, *inv, *s_r, *extra_cts, *cts, *acc), acc starting at zeros; returns
    (*cts, *acc)."""
    from ..backends.numpy_exec import iteration_runner
    forward, backward = iteration_runner(body), iteration_runner(reverse)
    invariants = list(values[:n_inv])
    state = list(values[n_inv:n_inv + n_carry])
    extra_cts = list(values[n_inv + n_carry:n_inv + n_carry + n_extra])
    cts = list(values[n_inv + n_carry + n_extra:-1])
    trip = int(values[-1])
    acc = [np.zeros(v.shape, v.dtype) for v in reverse.inputs[len(reverse.inputs) - n_acc:]]
    stride = checkpoint_stride(trip, sum(np.asarray(c).nbytes for c in state))

    def step(r, carries):
        return forward([np.int64(start + r), *invariants, *carries])[:n_carry]
    checkpoints = []
    for r in range(trip):
        if r % stride == 0:
            checkpoints.append(state)
        state = step(r, state)
    held = len(checkpoints)
    n_ct = len(cts)
    for segment in reversed(range(len(checkpoints))):
        lo = segment * stride
        hi = min(trip, lo + stride)
        states = [checkpoints.pop()]
        for r in range(lo, hi - 1):                      # recompute the segment's carries
            states.append(step(r, states[-1]))
        held = max(held, len(checkpoints) + len(states))
        for r in reversed(range(lo, hi)):
            outs = backward([np.int64(start + r), np.bool_(r == trip - 1), *invariants,
                             *states.pop(), *extra_cts, *cts, *acc])
            cts, acc = outs[:n_ct], outs[n_ct:]
    SWEEP_STATS.update(states=held, stride=stride)
    return list(cts) + list(acc)


def _sweep_aval(*avals, body, reverse, n_inv, n_carry, n_extra, n_acc, start):
    return [v.aval for v in reverse.outputs]


def _sweep_jvp(ts, outs, ins, *, body, reverse, n_inv, n_carry, n_extra, n_acc, start):
    """A sweep's tangent is a sweep: the forward body carries the carries' tangents too (the
    tangent body of a loop), and the reverse body is the reverse body's forward-mode trace,
    reading those tangents as the reverse body reads the carries."""
    from ..transforms.inline import inline_trace
    from ..transforms.jvp import jvp_trace
    n_ct = len(reverse.outputs) - n_acc
    float_inv = [i for i in range(n_inv) if ins[i].dtype.kind == "f"]
    float_carry = [j for j in range(n_carry) if ins[n_inv + j].dtype.kind == "f"]
    forward = _tangent_body(body, n_inv, n_carry, float_inv, float_carry)
    groups = [(2 + i for i in float_inv), (2 + n_inv + j for j in float_carry)]
    tail = 2 + n_inv + n_carry                     # extra_cts, cts and acc are all float
    groups += [range(tail, tail + n_extra), range(tail + n_extra, tail + n_extra + n_ct),
               range(tail + n_extra + n_ct, len(reverse.inputs))]
    groups = [list(g) for g in groups]
    tangent = jvp_trace(reverse, [i for g in groups for i in g])
    b = Builder(concrete=False)
    k, last = b.new_input(INDEX), b.new_input(Aval((), np.dtype(bool)))
    primal, dual = {}, {}
    bounds = [(2, 2 + n_inv), (2 + n_inv, tail), (tail, tail + n_extra),
              (tail + n_extra, tail + n_extra + n_ct), (tail + n_extra + n_ct, len(reverse.inputs))]
    for (lo, hi), g in zip(bounds, groups):
        for i in range(lo, hi):
            primal[i] = b.new_input(reverse.inputs[i].aval)
        for i in g:
            dual[i] = b.new_input(reverse.inputs[i].aval)
    order = [i for g in groups for i in g]
    with b:
        res = inline_trace(tangent, [k, last, *[primal[i] for i in range(2, len(reverse.inputs))],
                                     *[dual[i] for i in order]])
    n_out = len(reverse.outputs)
    cts, dcts = res[:n_out], res[n_out:]
    tangent_reverse = dce(b.build([*cts[:n_ct], *dcts[:n_ct], *cts[n_ct:], *dcts[n_ct:]],
                                  name=f"{reverse.name}_jvp"))
    def tangent_of(i):
        return ts[i] if ts[i] is not None else zeros_like(ins[i])
    inv_part = [*ins[:n_inv], *[tangent_of(i) for i in float_inv]]
    carry_part = [*ins[n_inv:n_inv + n_carry], *[tangent_of(n_inv + j) for j in float_carry]]
    rest = range(n_inv + n_carry, len(ins) - 1)
    extra_part = [*ins[n_inv + n_carry:n_inv + n_carry + n_extra],
                  *[tangent_of(i) for i in rest[:n_extra]]]
    ct_part = [*ins[n_inv + n_carry + n_extra:-1], *[tangent_of(i) for i in rest[n_extra:]]]
    result = sweep(*inv_part, *carry_part, *extra_part, *ct_part, ins[-1], body=forward,
                   reverse=tangent_reverse, n_inv=len(inv_part), n_carry=len(carry_part),
                   n_extra=2 * n_extra, n_acc=2 * n_acc, start=start)
    n_ct2 = 2 * n_ct
    return [*result[n_ct:n_ct2], *result[n_ct2 + n_acc:]]


sweep = Primitive("sweep", _sweep_impl, _sweep_aval, jvp=_sweep_jvp, multiple_results=True)


def _lower_sweep(kb, op):
    """The forward loop keeps the carries every `stride` iterations (`stride` as
    checkpoint_stride, computed at run time from the trip count); the reverse loop walks the
    segments backwards, recomputing each one's carries into a buffer of `stride` rows."""
    p = op.params
    body, n_inv, n_carry, start = p["body"], p["n_inv"], p["n_carry"], int(p["start"])
    n_extra = p["n_extra"]
    fwd, fwd_lits = kb.subkernel(body, carried={1 + n_inv + j: j for j in range(n_carry)})
    first_ct = 2 + n_inv + n_carry + n_extra
    rev, rev_lits = kb.subkernel(p["reverse"], carried={
        first_ct + j: j for j in range(len(p["reverse"].outputs))})
    ins = op.inputs
    inv = [kb.operand(a) for a in ins[:n_inv]]
    state = [name for (name,) in _carry_copies(kb, ins[n_inv:n_inv + n_carry])]
    extra = [kb.operand(a) for a in ins[n_inv + n_carry:n_inv + n_carry + n_extra]]
    cts = [name for (name,) in _carry_copies(kb, ins[n_inv + n_carry + n_extra:-1])]
    acc = []
    for v in op.outputs[len(cts):]:
        acc.append(kb.fresh("acc"))
        kb.line(f"{acc[-1]} = " + (f"np.zeros({tuple(v.shape)!r}, {kb.dtype(v.dtype)})"
                                   if v.ndim else "0.0"))
    trip, stride, n_cp, r, seg, lo, hi, res = (kb.fresh(n) for n in (
        "trip", "stride", "ncp", "r", "seg", "lo", "hi", "res"))
    kb.line(f"{trip} = int({kb.scalar(ins[-1])})")
    nbytes = state_bytes(ins[n_inv:n_inv + n_carry])
    kb.line(f"{stride} = 1")
    with kb.block(f"if {trip} * {nbytes} > {CHECKPOINT_BYTES}:"):     # isqrt(trip - 1) + 1
        kb.line(f"{stride} = int(math.sqrt({trip} - 1))")
        with kb.block(f"while {stride} * {stride} > {trip} - 1:"):
            kb.line(f"{stride} -= 1")
        with kb.block(f"while ({stride} + 1) * ({stride} + 1) <= {trip} - 1:"):
            kb.line(f"{stride} += 1")
        kb.line(f"{stride} += 1")
    kb.line(f"{n_cp} = ({trip} + {stride} - 1) // {stride}")
    cps, bufs = [], []
    for a in ins[n_inv:n_inv + n_carry]:
        cps.append(kb.fresh("cp"))
        bufs.append(kb.fresh("buf"))
        dt = kb.dtype(a.dtype)
        kb.line(f"{cps[-1]} = np.empty(({n_cp},) + {tuple(a.shape)!r}, {dt})")
        kb.line(f"{bufs[-1]} = np.empty(({stride},) + {tuple(a.shape)!r}, {dt})")

    def step(index):
        kb.line(f"{res} = {call(fwd, [index] + inv + state + fwd_lits)}")
        for j, name in enumerate(state):
            kb.line(f"{name} = {res}[{j}]")
    with kb.block(f"for {r} in range({trip}):"):
        with kb.block(f"if {r} % {stride} == 0:"):
            for cp, name, a in zip(cps, state, ins[n_inv:]):
                _store_row(kb, cp, f"{r} // {stride}", [name], a)
        step(f"{start} + {r}")
    with kb.block(f"for {seg} in range({n_cp} - 1, -1, -1):"):
        kb.line(f"{lo} = {seg} * {stride}")
        kb.line(f"{hi} = min({trip}, {lo} + {stride})")
        for cp, name, a in zip(cps, state, ins[n_inv:]):
            kb.line(f"{name} = {cp}[{seg}]" + (".copy()" if a.ndim else ""))
        with kb.block(f"for {r} in range({lo}, {hi}):"):
            for buf, name, a in zip(bufs, state, ins[n_inv:]):
                _store_row(kb, buf, f"{r} - {lo}", [name], a)
            with kb.block(f"if {r} + 1 < {hi}:"):
                step(f"{start} + {r}")
        with kb.block(f"for {r} in range({hi} - 1, {lo} - 1, -1):"):
            carried = [f"{buf}[{r} - {lo}]" for buf in bufs]
            args = [f"{start} + {r}", f"{r} == {trip} - 1"] + inv + carried + extra + cts + \
                acc + rev_lits
            kb.line(f"{res}r = {call(rev, args)}")
            for j, name in enumerate(cts + acc):
                kb.line(f"{name} = {res}r[{j}]")
    for var, name in zip(op.outputs, cts + acc):
        if var.ndim == 0:
            kb.define_scalar(var, name)
        else:
            kb.define(var, name, owned=True)


sweep.numba = Statement(_lower_sweep)


def _lower_loop(kb, op):
    """The body becomes a function of the kernel's module, called in a counted loop (a `while`
    loop testing the body's last output, for the cond form); the first iteration runs before
    the loop so every result is defined for numba's type inference. Small array carries travel
    as scalars, one per element (`KernelBuilder.small`), so the loop keeps them in registers."""
    body, trip, n_inv, n_carry, tape = (op.params[k] for k in
                                        ("body", "trip", "n_inv", "n_carry", "tape"))
    start, cond = int(op.params.get("start", 0)), op.params.get("cond")
    atoms = op.inputs[n_inv:]
    held = {j for j, a in enumerate(atoms) if kb.small(a.aval)}
    fn, lits = kb.subkernel(body, carried={1 + n_inv + j: j for j in range(n_carry)},
                            held={1 + n_inv + j for j in held})
    invariants = [kb.operand(a) for a in op.inputs[:n_inv]]
    carries = _carry_copies(kb, atoms, held)
    n_body = len(body.outputs)
    tapes = [(kb.buffer((trip,) + tuple(a.shape), a.dtype), j)
             for j, (a, v) in enumerate(zip(atoms, op.outputs[n_body:])) if kb.used(v)] \
        if tape else []
    # where each body output starts in the tuple a call returns
    at = np.cumsum([0] + [len(carries[j]) if j < n_carry else 1 for j in range(n_body)])
    result, k = kb.fresh("r"), kb.fresh("k")

    def iteration(row, index):
        for name, j in tapes:
            _store_row(kb, name, row, carries[j], atoms[j], j in held)
        args = [index] + invariants + [name for names in carries for name in names] + lits
        kb.line(f"{result} = {call(fn, args)}")
        for j, names in enumerate(carries):
            for e, name in enumerate(names):
                kb.line(f"{name} = {result}[{at[j] + e}]")
    iteration("0", str(start))
    n_out = n_body
    if cond is None:
        with kb.block(f"for {k} in range({start + 1}, {start + int(trip)}):"):
            iteration(f"{k} - {start}", k)
    else:
        n_out -= 1
        kb.line(f"{k} = {start + 1}")
        with kb.block(f"while {result}[{at[n_out]}] == {cond}:"):
            if op.params.get("bound") is not None:
                with kb.block(f"if {k} >= {int(op.params['bound'])}:"):
                    kb.line(kb.exit(op))       # the numpy executor side-exits
            iteration("", k)
            kb.line(f"{k} += 1")
        kb.define_scalar(op.outputs[-1], f"{k} - {start}")
    for j, var in enumerate(op.outputs[:n_out]):
        if j in held:
            kb.hold(var, carries[j])
        elif var.ndim == 0:
            kb.define_scalar(var, f"{result}[{at[j]}]")
        else:
            kb.define(var, f"{result}[{at[j]}]", owned=True)
    for name, j in tapes:
        kb.define(op.outputs[n_out + j], name, owned=True)


def _store_row(kb, table, row, names, atom, held=False):
    """`table[row] = ` a carry like `atom` held in `names` (one array or scalar, or with
    `held` one scalar per element)."""
    if held:
        kb.store_elements(table, atom.shape, names, row=row)
    elif atom.ndim:
        kb.copy_array(table, names[0], atom.shape, row=row)
    else:
        kb.line(f"{table}[{row}] = {names[0]}")


def _carry_copies(kb, atoms, held=()):
    """Per carry, the names holding it: an array copied into a buffer of its own (a body
    updates its carries in place), a scalar, or for a carry in `held` a scalar per element."""
    names = []
    for j, a in enumerate(atoms):
        if j in held:
            names.append([kb.fresh("carry") for _ in range(a.aval.size)])
            for name, e in zip(names[-1], kb.elements_of(a)):
                kb.line(f"{name} = {e}")
        elif a.ndim and kb.is_zeros(a):                     # accumulators start from zeros
            names.append([kb.buffer(a.shape, a.dtype, literal(0, a.dtype))])
        elif a.ndim:
            names.append([kb.buffer(a.shape, a.dtype)])    # once, before an enclosing loop
            kb.copy_array(names[-1][0], kb.array(a), a.shape)
        else:
            names.append([kb.fresh("carry")])
            kb.line(f"{names[-1][0]} = {kb.operand(a)}")
    return names


loop.numba = Statement(_lower_loop)
