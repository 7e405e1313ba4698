"""Loop rolling: the unrolled iterations of a Python loop become one `loop` op.

The frontend marks where each iteration of a loop ended (its back-edges). When the loop exits,
`roll_loop` compares iterations 2..N op by op. If they are the same computation — same
primitives, shapes and parameters, inputs that are either computed in the same iteration, carried
from the previous one, or loop-invariant, and literals/slice positions that vary affinely with the
iteration number — they are replaced by one `loop` op whose body is iteration 2 rewritten in terms
of the iteration counter. The first iteration stays unrolled (peeled). The loop op's outputs are
the very variables of the last iteration, so everything after the loop is untouched.

Anything else (a branch taken in some iterations only, values of middle iterations kept for later,
non-integer literals that change) leaves the iterations unrolled: correct, just longer.

When the first iteration matches the others too it joins the loop (start 0). At the loop's exit,
iterations that all end on the same data guard, which came out the other way in the last one
(`while err > tol:`, `if err < tol: break`), roll into the while form of the loop op: that
guard's predicate becomes the body's last output and the trip count is decided at run time (see
`tracejit.ops.control`). The frontend asks for that form only when no branch on Python values
steered the loop; constants that change with the iteration cap it at the traced iterations.
"""
from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field

import numpy as np

from ..ir import Lit, Op, Trace, Var
from ..ops import elementwise as ew
from ..ops import shape as sh
from ..ops.control import INDEX, loop
from ..ops.core import Builder, Tracer
from ..ops.index import take

log = logging.getLogger("tracejit")
MIN_ROLLED_ITERATIONS = 2


class NotRollable(Exception):
    """Why iterations differ; logged, and the loop stays unrolled."""


@dataclass
class Classified:
    """How the inputs of one op position relate across iterations: per input ("internal", pos),
    ("carry", pos), ("invariant", atom) or ("affine", a, d, aval); last, the varying params."""
    kinds: list = field(default_factory=list)


def roll_loop(ops, markers, end, alive_atoms, first_iteration=1, exit_bound=False,
              counted=True):
    """Try to roll `ops[markers[0]:end]`, whose first segment is iteration `first_iteration` of
    the Python loop (0-based); return the new op list or None (reason logged).

    `exit_bound` (at the loop's exit: None for a `while` loop, the number of items of a `for`
    loop's iterator, False otherwise) first tries the while form: the iterations since the
    last marker up to `end` are one more iteration whose last op, a data guard, came out the
    other way; it becomes the loop's exit condition, decided at run time. `counted=False`
    allows only that form."""
    if markers[0] >= end:                  # nothing recorded since the last roll (a closed loop)
        return None
    segments = [ops[a:b] for a, b in zip(markers, markers[1:])]
    if exit_bound is not False:
        try:
            op = _rolled_op(segments + [ops[markers[-1]:end]], [], alive_atoms,
                            first_iteration, exit_bound=exit_bound)
            return ops[:markers[0]] + [op]
        except NotRollable as why:
            log.info("loop at %s keeps its trip count: %s", ops[markers[0]].loc
                     if markers[0] < end else "?", why)
    if len(segments) < MIN_ROLLED_ITERATIONS or not counted:
        return None
    try:
        op = _rolled_op(segments, ops[markers[-1]:end], alive_atoms, first_iteration)
    except NotRollable as why:
        log.info("loop at %s left unrolled: %s", segments[0][0].loc if segments[0] else "?", why)
        return None
    return ops[:markers[0]] + [op] + ops[markers[-1]:]


def _homes(segments):
    """Each var defined in the segments -> (segment number, (op index, output index))."""
    return {v: (k, (p, i)) for k, segment in enumerate(segments)
            for p, op in enumerate(segment) for i, v in enumerate(op.outputs)}


def _exit_guard(segments):
    """The value of the exit guard's predicate that continues the loop: the last op of every
    iteration is the same data guard, expecting that value in all but the last iteration."""
    guards = [s[-1] if s else None for s in segments]
    if any(g is None or g.prim.name != "guard" for g in guards):
        raise NotRollable("the loop did not end on a data guard")
    keep = guards[0].params["expected"]
    if any(g.params != guards[0].params for g in guards[:-1]) or \
            guards[-1].params != {**guards[0].params, "expected": not keep}:
        raise NotRollable("the exit guard is not the same in every iteration")
    return keep


def _rolled_op(segments, tail, alive_atoms, first_iteration, exit_bound=False):
    cond = None if exit_bound is False else _exit_guard(segments)
    if len(segments) < MIN_ROLLED_ITERATIONS:
        raise NotRollable("too few iterations")
    first, last = segments[0], segments[-1]
    length = len(first)
    if any(len(s) != length for s in segments) or length == 0:
        raise NotRollable("iterations have different numbers of operations")
    home = _homes(segments)
    carry_init, invariants, classes = {}, [], []
    for p in range(length):
        classes.append(_classify_position(segments, home, p, carry_init, invariants,
                                          first_iteration, exit_guard=cond is not None and
                                          p == length - 1))
    if cond is not None and any(_varies(c) for c in classes):
        # constants that changed with the iteration fit a line over the traced iterations only
        # (`min(n, 3)` does too): the loop may not run past them
        end = first_iteration + len(segments)
        exit_bound = end if exit_bound is None else min(exit_bound, end)
    carried = sorted(carry_init)
    live, prev = _live_outputs(len(segments), home, tail, alive_atoms, carried)
    body = _build_body(first, classes, invariants, carried, live, prev, cond is not None)
    outputs = tuple(last[p].outputs[i] for p, i in carried + live) + \
        tuple(segments[-2][p].outputs[i] for p, i in prev)
    inputs = tuple(invariants) + tuple(carry_init[pos] for pos in carried)
    params = dict(body=body, trip=len(segments), n_inv=len(invariants), n_carry=len(carried),
                  tape=False, start=first_iteration)
    if cond is not None:
        params.update(cond=cond, bound=exit_bound)
        outputs += (Var(INDEX),)
    return Op(loop, inputs, outputs, params, first[0].loc)


def _varies(classified):
    """Whether an op position reads the iteration number (affine constants, moving slices)."""
    return classified.kinds[-1] is not None or any(k[0] == "affine" for k in classified.kinds[:-1])


def _same_params(a, b):
    if a.keys() != b.keys():
        return False
    return all(trace_key(a[k]) == trace_key(b[k]) if isinstance(a[k], Trace) else a[k] == b[k]
               for k in a)


def _classify_position(segments, home, p, carry_init, invariants, first, exit_guard=False):
    ops = [s[p] for s in segments]
    head = ops[0]
    for op in ops[1:]:
        if op.prim is not head.prim or len(op.inputs) != len(head.inputs) or \
                [v.aval for v in op.outputs] != [v.aval for v in head.outputs]:
            raise NotRollable(f"operation {p} differs between iterations ({head.prim.name} vs "
                              f"{op.prim.name})")
    varying = None if exit_guard else _varying_params(ops, first)
    kinds = [_classify_input(segments, home, p, j, carry_init, invariants, first)
             for j in range(len(head.inputs))]
    return Classified(kinds + [varying])


def _varying_params(ops, first):
    """None if all params agree, else ("slice", per-axis start (a, d)) for slices moving with k."""
    head = ops[0]
    if all(_same_params(op.params, head.params) for op in ops[1:]):
        return None
    if head.prim.name != "slice":
        raise NotRollable(f"parameters of {head.prim.name} change between iterations")
    specs = [op.params["spec"] for op in ops]
    starts = []
    for axis in range(len(specs[0])):
        column = [spec[axis] for spec in specs]
        if any(c[1:] != column[0][1:] for c in column):
            raise NotRollable("slice sizes change between iterations")
        starts.append(_affine([c[0] for c in column], first))
    return ("slice", starts)


def _affine(values, first):
    """(a, d) with values[j] == a + d*(first + j) for integer values, else NotRollable: `a` is
    the value at iteration 0, so bodies of the same loop rolled in pieces are identical."""
    values = [np.asarray(v) for v in values]
    if any(v.dtype.kind not in "iu" for v in values):      # a bool that changes is no line either
        raise NotRollable("a non-integer constant changes between iterations")
    a, d = values[0].astype(np.int64), (values[1] - values[0]).astype(np.int64) if len(values) > 1 else 0
    for k, v in enumerate(values):
        if not np.array_equal(v, a + d * k):
            raise NotRollable("a constant changes between iterations, but not linearly")
    return a - d * first, d


def _classify_input(segments, home, p, j, carry_init, invariants, first):
    atoms = [s[p].inputs[j] for s in segments]
    if all(isinstance(a, Lit) for a in atoms):
        if all(_same_literal(a, atoms[0]) for a in atoms):
            return ("invariant", atoms[0])
        a, d = _affine([lit.value for lit in atoms], first)
        return ("affine", a, d, atoms[0].aval)
    if any(isinstance(a, Lit) for a in atoms):
        raise NotRollable("an input is a constant in some iterations only")
    homes = [home.get(a) for a in atoms]
    if homes[0] is not None and all(h == (k, homes[0][1]) for k, h in enumerate(homes)):
        return ("internal", homes[0][1])
    if homes[0] is None and homes[1] is not None:        # iteration k reads iteration k-1's value
        carried = homes[1][1]
        if all(h == (k - 1, carried) for k, h in enumerate(homes) if k > 0):
            if carry_init.setdefault(carried, atoms[0]) is not atoms[0]:
                raise NotRollable("a carried value starts from two different values")
            return ("carry", carried)
    if homes[0] is None and all(a is atoms[0] for a in atoms):
        if atoms[0] not in invariants:
            invariants.append(atoms[0])
        return ("invariant", atoms[0])
    raise NotRollable("an input comes from an earlier iteration than the previous one")


def _same_literal(a, b):
    return a.aval == b.aval and np.array_equal(np.asarray(a.value), np.asarray(b.value))


def _live_outputs(n_segments, home, tail, alive_atoms, carried):
    """Positions of the last iteration read after the loop, and carried positions whose value
    entering the last iteration is (`y_prev = y` before `y = f(y)`); middle iterations must be
    dead otherwise."""
    used_after = {a for op in tail for a in op.inputs if isinstance(a, Var)} | alive_atoms
    live, prev = set(), set()
    for var in used_after:
        k, pos = home.get(var, (None, None))
        if k is None:
            continue
        if k == n_segments - 2 and pos in carried:
            prev.add(pos)
        elif k < n_segments - 1:
            raise NotRollable("a value computed in a middle iteration is used after the loop")
        elif pos not in carried:
            live.add(pos)
    return sorted(live), sorted(prev)


def _build_body(segment, classes, invariants, carried, live, prev=(), cond=False):
    """The body: iteration `segment` in terms of the counter, invariants and carries; returns
    carries, live values, carries as they entered (`prev`), then for a while loop the exit
    guard's predicate (the guard itself, the segment's last op, is left out)."""
    b = Builder(concrete=False)
    k = b.new_input(INDEX)
    inv = {a: (b.new_input(a.aval) if isinstance(a, Var) else Tracer(b, a, a.value)) for a in invariants}
    carry = {pos: b.new_input(segment[pos[0]].outputs[pos[1]].aval) for pos in carried}
    env = {}
    ops = segment[:-1] if cond else segment
    with b:
        for p, (op, cls) in enumerate(zip(ops, classes)):
            b.loc = op.loc
            args = [_body_input(kind, k, inv, carry, env, b) for kind in cls.kinds[:-1]]
            result = _emit(op, args, cls.kinds[-1], k)
            results = result if op.prim.multiple_results else [result]
            for i, r in enumerate(results if op.outputs else []):
                env[(p, i)] = r
        outputs = [env[pos] for pos in carried + live] + [carry[pos] for pos in prev]
        if cond:
            outputs.append(_body_input(classes[-1].kinds[0], k, inv, carry, env, b))
        return b.build(outputs, name="body")


def _body_input(kind, k, inv, carry, env, builder):
    tag = kind[0]
    if tag == "internal":
        return env[kind[1]]
    if tag == "carry":
        return carry[kind[1]]
    if tag == "invariant":
        atom = kind[1]
        return inv[atom] if isinstance(atom, Var) else Tracer(builder, atom, atom.value)
    _, a, d, aval = kind
    value = ew.add(Tracer(builder, Lit(np.asarray(a, dtype=aval.dtype))),
                   _times(k, d if np.ndim(d) else int(d)))
    # the literals were Python ints (weak) when the iterations used them as such: the body's
    # value must be one too, or promotion with it differs from the traced iterations'
    return value if value.aval == aval else sh.convert(value, dtype=aval.dtype, weak=aval.weak)


def _times(k, d):
    """k * d for the affine parts of a rolled loop (k itself when d == 1)."""
    if np.ndim(d) == 0 and d == 1:
        return k
    return ew.mul(k, d if np.ndim(d) == 0 else Tracer(k.builder, Lit(np.asarray(d, np.int64))))


def _emit(op, args, varying, k):
    if varying is None:
        return op.prim(*args, **op.params)
    _, starts = varying
    x = args[0]
    spec = op.params["spec"]
    static = tuple((start if np.all(d == 0) else 0, size if np.all(d == 0) else n, step if np.all(d == 0) else 1)
                   for (start, size, step), (a, d), n in zip(spec, starts, x.shape))
    x = sh.static_slice(x, spec=static) if any(s != (0, n, 1) for s, n in zip(static, x.shape)) else x
    for axis, ((start, size, step), (a, d)) in enumerate(zip(spec, starts)):
        if np.all(d == 0):
            continue
        offsets = Tracer(x.builder, Lit(np.asarray(a + np.arange(size) * step, np.int64)))
        x = take(x, ew.add(offsets, _times(k, int(d))), axis=axis)
    return x


def merge_loops(first, second, alive_atoms):
    """One loop op running `first`'s iterations then `second`'s, when `second` continues
    `first` (same body, same invariants, carries starting from `first`'s results) and nothing
    else reads `first`'s results; else None. A counted `first` continues into a while loop
    `second` when its body is `second`'s with the exit guard still a guard."""
    p, q = first.params, second.params
    n_inv, n_carry = p["n_inv"], p["n_carry"]
    if p.get("cond") is not None or (q["n_inv"], q["n_carry"], q["start"]) != \
            (n_inv, n_carry, p["start"] + p["trip"]):
        return None
    body = p["body"] if q.get("cond") is None else guard_as_output(p["body"], q["cond"])
    if body is None or trace_key(body) != trace_key(q["body"]):
        return None
    if any(a is not b for a, b in zip(first.inputs[:n_inv], second.inputs[:n_inv])) or \
            any(a is not b for a, b in zip(second.inputs[n_inv:], first.outputs[:n_carry])):
        return None
    if any(v in alive_atoms for v in first.outputs):
        return None
    return Op(loop, first.inputs, second.outputs, {**q, "trip": p["trip"] + q["trip"],
                                                   "start": p["start"]}, first.loc)


def guard_as_output(body, cond):
    """`body` whose last op, a guard expecting `cond`, becomes its last output instead."""
    if not body.ops or body.ops[-1].prim.name != "guard" or \
            body.ops[-1].params["expected"] != cond:
        return None
    return Trace(body.inputs, body.outputs + (body.ops[-1].inputs[0],), body.ops[:-1], body.name)


_keys = weakref.WeakKeyDictionary()      # trace -> its fingerprint; dies with the trace


def trace_key(trace):
    """A structural fingerprint of a trace: equal for traces that compute the same thing."""
    key = _keys.get(trace)
    if key is None:
        names = {v: i for i, v in enumerate(trace.inputs)}
        parts = [tuple(v.aval for v in trace.inputs)]
        for op in trace.ops:
            for v in op.outputs:
                names[v] = len(names)
            parts.append((op.prim.name, tuple(names[a] if isinstance(a, Var) else _lit_key(a)
                                              for a in op.inputs),
                          tuple((n, trace_key(v) if isinstance(v, Trace) else repr(v))
                                for n, v in op.params.items()),
                          tuple(v.aval for v in op.outputs)))
        parts.append(tuple(names.get(a, -1) if isinstance(a, Var) else _lit_key(a)
                           for a in trace.outputs))
        key = _keys[trace] = tuple(parts)
    return key


def _lit_key(lit):
    value = np.asarray(lit.value)
    return ("lit", lit.aval, value.tobytes())
