"""Control primitives: `loop`, a counted loop whose body is itself a trace.

`loop(*invariants, *carry_init, body, trip, n_inv, n_carry, tape)` runs
`carry = body(k, *invariants, *carry)[:n_carry]` for k = 0 .. trip-1 and returns the body's
outputs of the last iteration (carries first, then values computed in the last iteration that code
after the loop reads). With `tape=True` it also returns, per carry, the stack of its values at the
start of every iteration: what the reverse loop reads.

Reverse mode recomputes the forward loop with a tape (checkpoint style: the primal loop stays as
it was) and runs the body's pullback in a second loop from the last iteration to the first.
"""
import numpy as np

from ..ir import Aval
from .core import Builder, Primitive
from .elementwise import add, eq, select, sub
from .index import take
from .shape import zeros_like

INDEX = Aval((), np.dtype(np.int64))


def _loop_impl(*values, body, trip, n_inv, n_carry, tape):
    from ..backends.numpy_exec import run_trace   # the reference semantics of a body is a trace run
    invariants, carry = list(values[:n_inv]), list(values[n_inv:])
    history = [[] for _ in range(n_carry)]
    outs = carry
    for k in range(trip):
        for column, value in zip(history, carry):
            column.append(value)
        outs = run_trace(body, [np.int64(k), *invariants, *carry])
        carry = outs[:n_carry]
    result = list(outs)
    if tape:
        result += [np.stack(column) for column in history]
    return result


def _loop_aval(*avals, body, trip, n_inv, n_carry, tape):
    outs = [a.aval for a in body.outputs]
    if tape:
        outs += [Aval((trip,) + a.shape, a.dtype) for a in avals[n_inv:]]
    return outs


def _float_aval(aval):
    return aval if aval.dtype.kind == "f" else Aval(aval.shape, np.dtype(np.float64))


def _loop_vjp(cts, outs, ins, *, body, trip, n_inv, n_carry, tape):
    from ..transforms.vjp import vjp_body
    invariants, init = ins[:n_inv], ins[n_inv:]
    n_out = len(body.outputs)
    recorded = loop(*invariants, *init, body=body, trip=trip, n_inv=n_inv, n_carry=n_carry, tape=True)
    tapes = recorded[n_out:]
    pullback = vjp_body(body, range(1, 1 + n_inv + n_carry))
    reverse = _reverse_body(body, pullback, trip, n_inv, n_carry, [t.aval for t in tapes])
    out_cts = [ct if ct is not None else zeros_like(o) for ct, o in zip(cts[:n_out], outs)]
    acc_init = [_zero_float(x) for x in invariants]
    result = loop(*invariants, *tapes, *out_cts[n_carry:], *out_cts[:n_carry], *acc_init,
                  body=reverse, trip=trip, n_inv=n_inv + n_carry + (n_out - n_carry),
                  n_carry=n_carry + n_inv, tape=False)
    ct_init, ct_inv = result[:n_carry], result[n_carry:]
    return [g if x.dtype.kind == "f" else None for g, x in zip(ct_inv, invariants)] + \
        [g if x.dtype.kind == "f" else None for g, x in zip(ct_init, init)]


def _zero_float(x):
    from .core import constant
    from .shape import broadcast_to
    zero = constant(x, np.zeros((), x.dtype if x.dtype.kind == "f" else np.float64))
    return broadcast_to(zero, shape=x.shape) if x.shape else zero


def _reverse_body(body, pullback, trip, n_inv, n_carry, tape_avals):
    """The body of the reverse loop: iteration j undoes forward iteration trip-1-j."""
    from ..transforms.inline import inline_trace
    b = Builder(concrete=False)
    j = b.new_input(INDEX)
    invariants = [b.new_input(v.aval) for v in body.inputs[1:1 + n_inv]]
    tapes = [b.new_input(a) for a in tape_avals]
    extra_cts = [b.new_input(_float_aval(o.aval)) for o in body.outputs[n_carry:]]
    carry_cts = [b.new_input(_float_aval(o.aval)) for o in body.outputs[:n_carry]]
    acc = [b.new_input(_float_aval(v.aval)) for v in body.inputs[1:1 + n_inv]]
    with b:
        k = sub(trip - 1, j)
        carries = [take(t, k, axis=0) for t in tapes]
        first = eq(j, 0)                  # values read after the loop come from its last iteration
        extras_now = [select(first, ct, 0) for ct in extra_cts]
        grads = inline_trace(pullback, [k, *invariants, *carries, *carry_cts, *extras_now])
        new_acc = [add(a, g) for a, g in zip(acc, grads[:n_inv])]
        reverse = b.build([*grads[n_inv:], *new_acc], name=f"{body.name}_reverse")
    return reverse


loop = Primitive("loop", _loop_impl, _loop_aval, vjp=_loop_vjp, multiple_results=True)
