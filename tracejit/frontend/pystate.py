"""The Python state a loop's iterations change, and which of it is read after the loop.

A rolled loop whose trip count is decided at run time (the while form) runs iterations the tracer
never saw. Traced values are computed by its body; Python values (a counter `n += 1`, a float
`t *= 2.0`, a list grown with Python numbers) are not: the tracer saw them change only as many
times as the traced call looped. DESIGN.md invariant 7: such a value is carried by the loop op
(see `TraceContext.promote_changed`), or the loop keeps the trip count it was traced with, whose
guards re-trace a call that would loop a different number of times.

`state_of(frame)` summarises what Python code can observe in a frame — its local slots (the
contents of its cells), its value stack — as plain comparable data; traced values appear only as
a marker, since the loop op carries them. `live_after(frame)` is the set of those slots that code
after a loop exit may read: a counter that is dead after the loop may change freely.
"""
from __future__ import annotations

import operator
import types
import weakref

import numpy as np

from ..ir import Aval, Lit
from ..ops.core import FOLD_LIMIT, PYTHON_INT_BOUND, Tracer
from ..ops.elementwise import convert

TRACED = "<traced>"
_BUDGET = 4096          # elements summarised per frame; past it a state is taken to have changed
_SCALARS = (type(None), bool, int, float, complex, str, bytes, np.dtype, type(Ellipsis))
_ITERATORS = tuple(type(i) for i in (iter(range(0)), iter([]), iter(()), iter({}), iter(set()),
                                     iter({}.values()), iter({}.items()), iter(""), reversed([])))


class _Opaque:
    """A value whose state cannot be summarised: never equal to another summary."""
    __slots__ = ()

    def __eq__(self, other):
        return False

    __hash__ = object.__hash__


class _Summary:
    def __init__(self, created=frozenset(), own_cells=frozenset()):
        self.budget = _BUDGET
        self.seen = set()
        self.created = created          # ids of objects the traced function made (its classes)
        self.own_cells = own_cells      # ids of the frame's cells: summarised as its slots

    def of(self, value):
        self.budget -= 1
        if self.budget < 0:
            return _Opaque()
        if isinstance(value, Tracer):
            return ("lit", _array_key(value.atom.value)) if isinstance(value.atom, Lit) else TRACED
        if isinstance(value, _SCALARS) or isinstance(value, np.generic):
            return (type(value), value)
        if isinstance(value, np.ndarray):
            self.budget -= value.size
            return ("array", _array_key(value)) if self.budget >= 0 else _Opaque()
        if isinstance(value, types.CellType):          # a cell stands for its contents
            try:
                return self.of(value.cell_contents)
            except ValueError:
                return ("empty cell",)
        return self._composite(value)

    def _composite(self, value):
        if id(value) in self.seen:                 # a cycle, or an object met before: by identity
            return ("ref", id(value))
        self.seen.add(id(value))
        kind = type(value)
        if kind in (list, tuple):
            return (kind, id(value) if kind is list else None, tuple(self.of(v) for v in value))
        if kind is dict:
            return (dict, id(value), tuple((self.of(k), self.of(v)) for k, v in value.items()))
        if kind in (set, frozenset):
            return (kind, id(value), frozenset(self.of(v) for v in value))
        if kind in _ITERATORS:
            return ("iterator", id(value), operator.length_hint(value, -1))
        if isinstance(value, type) and id(value) in self.created:
            # a class the function made: its attributes are its state (`Counter.n += 1`); the
            # dunder entries are the class machinery's (descriptors with no state of their own)
            return ("class", id(value), tuple((k, self.of(v)) for k, v in vars(value).items()
                                              if not (k.startswith("__") and k.endswith("__"))))
        if isinstance(value, types.MethodType) or (
                isinstance(value, types.BuiltinMethodType) and
                not isinstance(value.__self__, (types.ModuleType, type(None)))):
            # a bound method stands for its object too (`bump = acc.bump; bump()`)
            return ("method", id(getattr(value, "__func__", value)), self.of(value.__self__))
        if isinstance(value, types.FunctionType) and value.__closure__:
            # so does a closure for its cells (`step = make_counter(); step()`)
            return ("function", id(value), tuple(("cell", id(c)) if id(c) in self.own_cells
                                                else self.of(c) for c in value.__closure__))
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.ModuleType,
                              type, range, slice)):
            return ("object", id(value))
        attrs = getattr(value, "__dict__", None)
        if not (isinstance(attrs, dict) or isinstance(value, (list, tuple, dict))) or \
                not _state_is_summarised(kind):
            return _Opaque()
        items = self._composite_items(value) if isinstance(value, (list, tuple, dict)) else ()
        return ("object", id(value), items,
                tuple((k, self.of(v)) for k, v in (attrs or {}).items()))

    def _composite_items(self, value):
        """The items of a list, tuple or dict subclass (a NamedTuple's fields)."""
        if isinstance(value, dict):
            return tuple((self.of(k), self.of(v)) for k, v in value.items())
        return tuple(self.of(v) for v in value)


_SUMMARISED_BASES = (object, list, tuple, dict)
# what a class statement adds to its instances' C layout (3.11: the dict and weakref pointers;
# 3.12+: nothing, they live before the object)
_CLASS_STATEMENT_SIZE = type("_Probe", (), {}).__basicsize__ - object.__basicsize__


_summarised_kinds = weakref.WeakKeyDictionary()    # class -> _state_is_summarised(class)


def _state_is_summarised(kind):
    known = _summarised_kinds.get(kind)
    if known is None:
        known = _summarised_kinds[kind] = _reads_as_its_dict(kind)
    return known


def _reads_as_its_dict(kind):
    """Whether an instance's state is its __dict__ (and its items, for a subclass of list,
    tuple or dict): every class in its MRO is one of those bases or adds nothing to their C
    layout, as a class statement without __slots__ does. A native class keeps state where
    Python cannot see it (functools.partial's function and arguments: 48 bytes more than
    object's), and so does a slot."""
    base = next(c for c in kind.__mro__ if c in _SUMMARISED_BASES)
    return all(c in _SUMMARISED_BASES or (
        "__slots__" not in vars(c) and
        c.__basicsize__ - base.__basicsize__ in (0, _CLASS_STATEMENT_SIZE))
        for c in kind.__mro__)


def _array_key(value):
    value = np.asarray(value)
    return value.dtype.str, value.shape, value.tobytes()


def state_of(frame) -> dict:
    """slot -> summary for the frame's locals (by name) and value stack (by depth)."""
    cells = frozenset(id(v) for v in frame.locals.values() if isinstance(v, types.CellType))
    summary = _Summary(frame.ctx.created, cells)
    state = {name: summary.of(value) for name, value in frame.locals.items()}
    state.update((("stack", depth), summary.of(value)) for depth, value in enumerate(frame.stack))
    return state


def state_of_value(value):
    return _Summary().of(value)


def changed_slots(before: dict, after: dict) -> set:
    """Slots whose Python value differs between two states. A slot that now holds a traced value
    is not counted (the loop op computes it), nor one that only one state has."""
    return {slot for slot, now in after.items()
            if slot in before and now is not TRACED and not before[slot] == now}


def promote_changed(frame, before: dict, after: dict, skip=()) -> dict:
    """Make the Python numbers of `frame` that changed between the two states traced values, so
    that the iterations after this one compute them in the trace and a rolled loop carries them
    (`n += 1`, `t *= 2.0` in a `while` loop on data). Returns the state after promotion. Stack
    slots and the names in `skip` (a `for` loop's targets) are left alone."""
    promoted = dict(after)
    for slot in changed_slots(before, after):
        if isinstance(slot, tuple) or slot in skip:
            continue
        holder = frame.locals[slot]
        cell = isinstance(holder, types.CellType)
        value = holder.cell_contents if cell else holder
        traced = _promoted(frame.ctx.builder, value)
        if traced is None:
            continue
        if cell:
            holder.cell_contents = traced
        else:
            frame.locals[slot] = traced
        promoted[slot] = TRACED
    return promoted


def _promoted(builder, value):
    """`value` as a traced value standing for the same Python or NumPy number, or None."""
    if isinstance(value, Tracer):
        constant = value.atom.value if isinstance(value.atom, Lit) else None
        if constant is None or np.asarray(constant).dtype.kind not in "iuf" or \
                np.size(constant) > FOLD_LIMIT:
            return None
        aval = value.aval
    elif type(value) is float or (type(value) is int and abs(value) < PYTHON_INT_BOUND):
        constant, aval = value, Aval((), np.dtype(type(value)), weak=True)
    else:
        return None
    var, = builder.add(convert, [Lit(constant)], dict(dtype=aval.dtype, weak=aval.weak), [aval])
    return Tracer(builder, var, convert.impl(constant, dtype=aval.dtype))


def live_after(frame, returned=False) -> set:
    """The slots code after the current point may read: the locals live at `frame.pc` (none when
    the frame returns), every cell (inner functions read them), the stack as it stands, and the
    returned value."""
    cells = {name for name, value in frame.locals.items() if isinstance(value, types.CellType)}
    stack = {("stack", depth) for depth in range(len(frame.stack))}
    if returned:
        return cells | {"return"}
    return cells | stack | _liveness(frame.decoded)[frame.pc]


# ---- liveness of local names over a code object's control-flow graph ------------------------------
_USES = {"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR"}
_DEFS = {"STORE_FAST", "DELETE_FAST", "STORE_FAST_MAYBE_NULL"}
_NO_FALLTHROUGH = {"JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT", "JUMP",
                   "JUMP_NO_INTERRUPT", "RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS",
                   "RERAISE"}
_live_in: dict = {}


def _liveness(decoded) -> list:
    """live_in per instruction index (the locals that may be read before being written), by the
    usual backward fixpoint; computed once per code object."""
    cached = _live_in.get(decoded.code)
    if cached is not None:
        return cached
    instrs = decoded.instrs
    n = len(instrs)
    succ = [_successors(k, instr, n) for k, instr in enumerate(instrs)]
    live = [frozenset()] * (n + 1)
    changed = True
    while changed:
        changed = False
        for k in range(n - 1, -1, -1):
            instr = instrs[k]
            out = frozenset().union(*(live[s] for s in succ[k]))
            name = getattr(instr.arg, "name", instr.arg)
            if instr.name in _DEFS:
                out = out - {name}
            elif instr.name in _USES:
                out = out | {name}
            if out != live[k]:
                live[k], changed = out, True
    _live_in[decoded.code] = live
    return live


def _successors(k, instr, n):
    succ = [] if instr.name in _NO_FALLTHROUGH else [k + 1]
    if instr.target is not None:
        succ.append(instr.target)
    return [s for s in succ if s <= n]
