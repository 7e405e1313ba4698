"""Closing a loop while recording (issue 23): once a `for` loop over a range has rolled, the
iterations left run from its rolled body instead of being interpreted.

Interpreting costs 0.4-1 ms per iteration (every op is bound, shape-checked and evaluated, every
16 iterations re-rolled); the loop op already holds the body every iteration computes. Running
that body on the numpy executor for the remaining items, and writing the results back to the
tracers the frame holds, gives the same trace and the same values, provided every later
iteration would have recorded exactly that body. Closing is allowed only where that follows
from what the tracer has seen and from the loop's bytecode:

- the loop is `for <name> in <range iterator>:` and its rolled op is the trace's last op, with
  no tape, no while form, no effect (print) in its body, no transformation recording values;
- since the loop began, no branch was decided on a Python value, and no Python state of the
  frame changed except the loop variable (`LoopRecord.changed`, which sees through objects,
  closures and bound methods: pystate.py): so Python-level control flow is the same in every
  iteration, and only the loop variable differs;
- the loop variable is used only affinely as an index or slice bound of arrays (`x[i + 1]`,
  `x[2 * i:2 * i + 2]`), checked on the bytecode by `_affine_uses`: any other use (a call
  argument, a branch, a Python list index, `i % 3`, `float(i)`) could change the body at an
  iteration the tracer has not seen, and prevents closing. The rolled body reads those indices
  as affine functions of the iteration number, which is then exact for every iteration.

Data guards in the body are checked as each iteration runs; the first iteration whose guard
fails (or that raises, such as an index past the end) is not run: the frame gets the state
before it, and interpretation resumes there, taking the other path as plain Python would.
"""
from __future__ import annotations

import inspect
import logging
import operator

import numpy as np

from ..ir import Lit, Op, Trace, Var
from ..ops.core import Tracer

CLOSE_LOOPS = True        # tests switch it off to compare closed with interpreted loops
MIN_REMAINING = 8         # fewer iterations left are cheaper to interpret than to set up
_RANGE_ITERATOR = type(iter(range(0)))
_GENERATOR = inspect.CO_GENERATOR
_REJECT = object()
log = logging.getLogger("tracejit")


def try_close(ctx, frame, record):
    """At a back-edge just after `record`'s loop rolled: run its remaining iterations from the
    rolled body (see the module docstring), leaving the frame at the loop head."""
    op = record.loop_op
    if not CLOSE_LOOPS or op is None or ctx.builder.recorders or not ctx.builder.ops or \
            ctx.builder.ops[-1] is not op or op.params.get("cond") is not None or \
            op.params["tape"] or ctx.python_branches != record.branches:
        return
    if frame.code.co_flags & _GENERATOR:  # a yield in the body: the consumer's ops interleave
        return
    iterator = frame.stack[-1] if frame.stack else None
    if type(iterator) is not _RANGE_ITERATOR or operator.length_hint(iterator) < MIN_REMAINING:
        return
    target = _loop_variable(frame, record.head)
    if target is None or record.changed - {target} or _has_effects(op.params["body"]):
        return
    containers = _affine_uses(frame.decoded, record.head, record.end, target)
    if containers is None or not all(_is_array(frame, c) for c in containers):
        return
    holders = _holders(ctx.builder, op)
    if holders is None:
        return
    from ..runtime.fp_policy import caller_raises
    if caller_raises():                    # errors would have to surface where Python meets them
        return
    _replay(ctx, frame, record, op, holders, iterator, target)


def _replay(ctx, frame, record, op, holders, iterator, target):
    from ..backends.numpy_exec import silenced_runner
    p = op.params
    n_inv, n_carry = p["n_inv"], p["n_carry"]
    invariants = [_value(a, holders) for a in op.inputs[:n_inv]]
    outs = [_value(v, holders) if v in holders else None for v in op.outputs]
    run, k = silenced_runner(p["body"]), p["start"] + p["trip"]
    done = 0
    with np.errstate(all="ignore"):
        for item in _remaining(iterator):
            try:
                new = run(np.int64(k + done), *invariants, *outs[:n_carry])
            except Exception:               # noqa: BLE001 — a guard or an error: interpret it
                break
            outs, done, last = new, done + 1, item
    if done == 0:
        return
    log.info("loop at %s closed after %d iterations: %d run from its rolled body%s", op.loc,
             p["start"] + p["trip"], done, "" if done == len(_remaining(iterator)) else
             ", then interpreted from the first whose guard failed or that raised")
    for _ in range(done):                   # the items the replayed iterations took
        next(iterator)
    frame.locals[target] = last
    new_op = Op(op.prim, op.inputs, op.outputs, {**p, "trip": p["trip"] + done}, op.loc)
    ctx.builder.ops[-1] = record.loop_op = new_op
    record.rolled += done
    ctx.iterations += done
    for var, value in zip(op.outputs, outs):
        for tracer in holders.get(var, ()):
            tracer.val = _like(tracer.val, value)


def _remaining(iterator):
    """The items a range iterator has left, without taking them (3.11 reduces it to its range
    and a position, 3.12+ to the range of what is left)."""
    _, (whole,), *position = iterator.__reduce__()
    return whole[position[0] or 0:] if position else whole


def _like(old, new):
    """`new` in the form the tracer held `old` (a 0-d array, a NumPy or a Python scalar)."""
    if isinstance(old, np.ndarray):
        return np.asarray(new, dtype=old.dtype).reshape(old.shape)
    if isinstance(old, (bool, int, float, np.generic)):
        return type(old)(new)
    return new


def _value(atom, holders):
    return atom.value if isinstance(atom, Lit) else holders[atom][0].val


def _holders(builder, op):
    """Var -> the live tracers holding it, for the loop's invariant inputs and its outputs;
    None when an invariant or a carry has none (its value is gone), when a tracer's value is
    stale (a view re-derives it when read), or when an output has views (a value written
    into it here would not reach them)."""
    invariants = {a for a in op.inputs[:op.params["n_inv"]] if isinstance(a, Var)}
    outputs = set(op.outputs)
    needed = invariants | set(op.outputs[:op.params["n_carry"]])
    holders = {}
    for tracer in builder.alive:
        atom = tracer.atom
        if atom in invariants or atom in outputs:
            if tracer.held_atom() is not atom or (atom in outputs and tracer.storage is not None):
                return None
            holders.setdefault(atom, []).append(tracer)
    return holders if needed <= holders.keys() else None


def _has_effects(trace):
    """Whether `trace` prints (guards are effects too, but checked as the body runs)."""
    return any(op.prim.name == "print" or any(_has_effects(v) for v in op.params.values()
                                              if isinstance(v, Trace))
               for op in trace.ops)


def _loop_variable(frame, head):
    """The plain local a `for` loop at `head` stores its items in, else None."""
    instrs = frame.instrs
    store = instrs[head + 1] if head + 1 < len(instrs) else None
    if store is None or store.name != "STORE_FAST" or frame.code.co_cellvars and \
            store.arg in frame.code.co_cellvars:
        return None
    name = getattr(store.arg, "name", store.arg)
    return name if type(frame.locals.get(name)) is int else None


def _is_array(frame, container):
    kind, name = container
    if kind == "fast":
        value = frame.locals.get(name)
    elif kind == "global":
        value = frame.globals.get(name)
    else:
        cell = frame.locals.get(name)
        value = getattr(cell, "cell_contents", None)
    return isinstance(value, (Tracer, np.ndarray))


# ---- the loop variable's uses, on the bytecode ---------------------------------------------------
_AFFINE_OPS = {"ADD", "SUBTRACT", "MULTIPLY", "TRUE_DIVIDE", "INPLACE_ADD", "INPLACE_SUBTRACT",
               "INPLACE_MULTIPLY", "INPLACE_TRUE_DIVIDE"}
_affine_cache: dict = {}


def _affine_uses(decoded, head, end, target):
    """The containers the loop variable `target` indexes if every use of it in the loop's body
    (instructions head+2 .. end) is an affine index or slice bound of a local, global or
    closure variable, else None. An abstract interpretation of the value stack: tags say what a
    slot holds (an affine function of the variable, a slice with such a bound, a named
    variable, anything else); control flow is followed to its joins; an instruction this does
    not model may only run while no affine or slice slot is on the stack, and leaves a stack of
    unknown depth (only the slots pushed after it are known)."""
    key = (decoded.code, head, end, target)
    if key not in _affine_cache:
        _affine_cache[key] = _analyse(decoded, head, end, target)
    return _affine_cache[key]


def _analyse(decoded, head, end, target):
    instrs, containers = decoded.instrs, set()
    states = {head + 2: ()}
    work = [head + 2]
    while work:
        index = work.pop()
        stack = list(states[index])
        instr = instrs[index]
        if not _step(instr, stack, target, containers):
            return None
        handler = decoded.handlers[index]
        flows = [(s, tuple(stack)) for s in _successors(instr, index)]
        if handler is not None:
            flows.append((handler.target, ()))
        for succ, state in flows:
            if not head < succ <= end:          # the back-edge, a break, a return: left the body
                continue
            known = states.get(succ)
            if known is None:
                states[succ] = state
                work.append(succ)
            elif known != state:
                if _tagged(known) or _tagged(state):
                    return None
                if known != ():
                    states[succ] = ()
                    work.append(succ)
    return containers


def _tagged(stack):
    return any(tag[0] in ("aff", "slice") for tag in stack)


_OTHER = ("other",)
_NO_FLOW = {"RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS", "RERAISE"}
_UNCONDITIONAL = {"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT"}


def _successors(instr, index):
    if instr.name in _NO_FLOW:
        return []
    if instr.name in _UNCONDITIONAL:
        return [instr.target]
    return [index + 1] if instr.target is None else [index + 1, instr.target]


def _pop(stack, n=1):
    popped = [stack.pop() if stack else _OTHER for _ in range(n)]
    return popped[::-1]


def _step(instr, stack, target, containers):
    """Apply `instr` to the abstract `stack`; False if it uses the loop variable otherwise
    than affinely."""
    rule = _RULES.get(instr.name)
    if rule is None:                                    # unmodelled: only on untagged stacks
        untagged = not _tagged(stack)
        stack.clear()
        return untagged
    return rule(stack, instr.arg, target, containers) is not _REJECT


def _push_load(stack, arg, target, containers):
    local = getattr(arg, "name", arg)
    stack.append(("aff",) if local == target else ("fast", local))


def _binary_op(stack, arg, target, containers):
    """An affine function of the loop variable, `i` plus, minus or times anything not derived
    from it, or divided by it, stays one: a Python int that is exactly affine in the iteration
    number, or a float or traced value (which a rolled body cannot hold as a changing
    constant). `//`, `%`, `**`, shifts and the rest are not affine: rejected."""
    a, b = _pop(stack, 2)
    kinds = {a[0], b[0]}
    if not kinds & {"aff", "slice"}:
        stack.append(_OTHER)
        return None
    if "slice" in kinds or getattr(arg, "name", str(arg)) not in _AFFINE_OPS:
        return _REJECT
    stack.append(("aff",))
    return None


def _subscript(stack, arg, target, containers):
    container, index = _pop(stack, 2)
    return _indexed(stack, container, [index], containers)


def _slice_subscript(stack, arg, target, containers):
    container, start, stop = _pop(stack, 3)
    return _indexed(stack, container, [start, stop], containers)


def _indexed(stack, container, indices, containers):
    if container[0] in ("aff", "slice"):
        return _REJECT
    if any(i[0] in ("aff", "slice") for i in indices):
        if container[0] not in ("fast", "global", "deref"):
            return _REJECT
        containers.add(container)
    stack.append(_OTHER)
    return None


def _build_slice(stack, arg, target, containers):
    parts = _pop(stack, arg)
    stack.append(("slice",) if any(p[0] == "aff" for p in parts) else _OTHER)
    return _REJECT if any(p[0] == "slice" for p in parts) else None


def _consume(n, push=1):
    """A rule popping `n` untagged values and pushing `push` others."""
    def rule(stack, arg, target, containers):
        if any(v[0] in ("aff", "slice") for v in _pop(stack, n)):
            return _REJECT
        stack.extend([_OTHER] * push)
        return None
    return rule


def _store_fast(stack, arg, target, containers):
    """Storing an affine value is allowed: a Python number stored changes with the iteration,
    which `LoopRecord.changed` sees (and closing refuses); a traced one is computed by the
    body. Later loads of the name are untagged for that reason. The loop variable itself may
    not be assigned."""
    value, = _pop(stack)
    return _REJECT if value[0] == "slice" or getattr(arg, "name", arg) == target else None


def _store_attr(stack, arg, target, containers):
    value, owner = _pop(stack, 2)
    return _REJECT if owner[0] in ("aff", "slice") or value[0] == "slice" else None


def _store_subscript(stack, arg, target, containers):
    value, container, index = _pop(stack, 3)
    if value[0] == "slice" or _indexed(stack, container, [index], containers) is _REJECT:
        return _REJECT
    stack.pop()                            # _indexed pushed the read's result: a store has none
    return None


def _copy(stack, arg, target, containers):
    stack.append(stack[-arg] if arg <= len(stack) else _OTHER)


def _swap(stack, arg, target, containers):
    if arg > len(stack):
        if _tagged(stack):
            return _REJECT
        stack.clear()
        return None
    stack[-1], stack[-arg] = stack[-arg], stack[-1]
    return None


def _negative(stack, arg, target, containers):
    value, = _pop(stack)
    stack.append(value if value[0] == "aff" else _OTHER)
    return _REJECT if value[0] == "slice" else None


def _nothing(stack, arg, target, containers):
    return None


_RULES = {
    "LOAD_FAST": _push_load, "LOAD_FAST_CHECK": _push_load,
    "LOAD_CONST": lambda s, a, t, c: s.append(_OTHER),
    "LOAD_GLOBAL": lambda s, a, t, c: s.append(("global", a)),
    "LOAD_DEREF": lambda s, a, t, c: s.append(("deref", getattr(a, "name", a))),
    "PUSH_NULL": lambda s, a, t, c: s.append(_OTHER),
    "LOAD_ATTR": _consume(1), "LOAD_METHOD": _consume(1, 2),
    "BINARY_OP": _binary_op, "BINARY_SUBSCR": _subscript, "BINARY_SLICE": _slice_subscript,
    "BUILD_SLICE": _build_slice, "UNARY_NEGATIVE": _negative,
    "STORE_FAST": _store_fast, "STORE_ATTR": _store_attr, "STORE_SUBSCR": _store_subscript,
    "POP_TOP": _consume(1, 0),
    "COPY": _copy, "SWAP": _swap,
    "NOP": _nothing, "RESUME": _nothing, "PRECALL": _nothing, "KW_NAMES": _nothing,
    "COMPARE_OP": _consume(2), "TO_BOOL": _consume(1),
    "POP_JUMP_IF_TRUE": _consume(1, 0), "POP_JUMP_IF_FALSE": _consume(1, 0),
    "POP_JUMP_FORWARD_IF_TRUE": _consume(1, 0), "POP_JUMP_FORWARD_IF_FALSE": _consume(1, 0),
    "POP_JUMP_BACKWARD_IF_TRUE": _consume(1, 0), "POP_JUMP_BACKWARD_IF_FALSE": _consume(1, 0),
    "POP_JUMP_IF_NONE": _consume(1, 0), "POP_JUMP_IF_NOT_NONE": _consume(1, 0),
    "POP_JUMP_FORWARD_IF_NONE": _consume(1, 0), "POP_JUMP_FORWARD_IF_NOT_NONE": _consume(1, 0),
    "JUMP_FORWARD": _nothing, "JUMP_BACKWARD": _nothing, "JUMP_BACKWARD_NO_INTERRUPT": _nothing,
    "RETURN_VALUE": _consume(1, 0), "RETURN_CONST": _nothing,
}
