"""The state of one tracing run: the builder, the guards collected, and values read from outside.

`TraceContext.read` is the one door through which outside state (globals, closure cells,
attributes, defaults, argument objects) enters the trace: arrays become trace inputs re-read at
call time, constants are guarded by value, other objects by identity (or by type when they came
from the arguments, which differ from call to call).
"""
from __future__ import annotations

import array
import collections
import collections.abc
import copy
import io
import operator
import types
from dataclasses import dataclass

import numpy as np

from ..errors import TracejitError, TracejitTypeError, UnsupportedError
from ..ir import Aval, Var
from ..ops.core import Builder, Tracer
from ..transforms.roll import merge_loops, roll_loop
from .loop_close import try_close
from .pystate import (TRACED, changed_slots, live_after, promote_changed, state_of,
                      state_of_value)
from .sources import (ArrayOf, Attr, Equals, Is, Item, Keys, Length, NotIn, PrintOptions,
                      SameItems, SourceGuard, TypeIs, items_of)

_CONSTANT_TYPES = (type(None), bool, int, float, complex, str, bytes, np.dtype, type(Ellipsis),
                   range, slice)
# modules whose attributes are taken to be immutable: reading np.sin guards nothing
TRUSTED_MODULES = ("numpy", "math", "builtins", "scipy", "tracejit", "operator", "functools",
                   "itertools", "collections")
# limits that turn runaway tracing into a clear error instead of a hang or a huge compile
MAX_DEPTH = 100                  # nested Python calls (each takes ~5 interpreter frames)
MAX_TRACE_OPS = 200_000          # ops in one trace (loops roll when they end, so unrolled
                                 # iterations of the running loop count too)
MAX_LOOP_ITERATIONS = 500_000    # loop iterations run while tracing one function
ROLL_EVERY = 16          # roll a loop's iterations every this many, not only at its exit
# a loop that ends before its first mid-way roll, having recorded at most this many ops, stays
# unrolled: straight-line code beats a loop op calling its body (small_chain's 10 iterations:
# numba build 0.35 s instead of 5.5 s, 4.5 µs per gradient instead of 6.9 µs)
UNROLL_OPS = 400
ROLL_LOOPS = True        # tests switch it off to compare rolled with unrolled traces


@dataclass
class LoopRecord:
    """A loop being executed: bytecode range [head, end], the op count at each back-edge since
    the last roll, how many iterations are already rolled, and the loop op holding them."""
    head: int
    end: int
    markers: list
    rolled: int = 0
    loop_op: object = None
    rollable: bool = True
    first: int | None = None   # op count where the first iteration began (None: unknown)
    branches: int = 0          # TraceContext.python_branches when it began
    bound: object = None       # a `for` loop: items of its iterator (-1 unknown); None: `while`
    state: dict = None         # the frame's Python state at the last back-edge (pystate)
    changed: set = None        # slots whose Python value an iteration changed
    own: frozenset = frozenset()   # a `for` loop's own iterator (its stack slot): the trip count

    def note_state(self, state):
        self.changed |= changed_slots(self.state, state) - self.own
        self.state = state

    def contains(self, pc):
        return self.head <= pc <= self.end


def is_constant(value):
    if isinstance(value, _CONSTANT_TYPES) or isinstance(value, np.generic):
        return True
    if type(value) in (tuple, frozenset):
        return all(is_constant(v) for v in value)
    return False


def _bound_on_access(value):
    """A method bound to an object (not a module's function, not an array's method)."""
    owner = getattr(value, "__self__", None)
    return isinstance(value, (types.MethodType, types.BuiltinMethodType)) and owner is not None \
        and not isinstance(owner, (types.ModuleType, type, np.ndarray))


def _flat(container):
    """A snapshot of `items_of(container)`, to compare by identity after native code ran."""
    return list(items_of(container))


def _rebuilt(container, items):
    """A container like `container` (its class, a dict's default factory, a deque's maxlen)
    holding `items` (a dict's: a dict)."""
    if isinstance(container, dict):
        new = copy.copy(container)
        new.clear()
        new.update(items)
        return new
    if isinstance(container, collections.deque):
        return collections.deque(items, container.maxlen)
    kind = type(container)
    return kind._make(items) if hasattr(kind, "_make") else kind(items)


def _restore(container, flat):
    if isinstance(container, dict):
        half = len(flat) // 2
        container.clear()
        container.update(zip(flat[:half], flat[half:]))
    else:
        container.clear()
        container.extend(flat)


def is_trusted(value):
    module = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
    return isinstance(module, str) and module.split(".")[0] in TRUSTED_MODULES


class TraceContext:
    def __init__(self, root_fn):
        self.root_fn = root_fn
        self.builder = Builder(concrete=True)
        self.builder.ctx = self             # lets tracejit's transformations, called inside
                                            # the trace, trace the function they transform
        self.builder.max_ops = MAX_TRACE_OPS
        self.iterations = 0
        self.python_branches = 0            # branches decided on Python values, not traced data
        self.deepest = (0, None)            # (depth, call site) of the deepest call so far
        self.guards: list[SourceGuard] = []
        self.sourced_inputs = []            # (source, Var) for arrays read from outside
        self._input_by_source = {}
        self._sources = {}                  # id(obj) -> (obj, source) for tracked mutable objects
        self._guarded = set()
        self.created = set()                # ids of objects created while tracing (free to mutate)
        self.arg_containers = set()         # ids of the lists/dicts the arguments are made of
        self.depth = 0
        self.frame = None
        self.exc_info = None                # the exception being handled (sys.exception())
        self.protected = False              # the code traced has try or with blocks
        self.open_exits = []                # __exit__ of native context managers entered
        self.abandoned_cleanup = None       # where a generator with pending cleanup was dropped
        self.dropped_generators = []        # ... while tracing: closed at the next instruction

    # ---- locations ----------------------------------------------------------------------------
    def set_loc(self, frame):
        self.frame = frame
        self.builder.loc = frame.loc
        self.builder.reason = frame.loc.text

    @property
    def loc(self):
        return self.frame.loc if self.frame is not None else None

    def unsupported(self, what, hint=""):
        return UnsupportedError(what, self.loc, hint)

    # ---- reading outside state ----------------------------------------------------------------
    def source_of(self, obj):
        entry = self._sources.get(id(obj))
        return entry[1] if entry is not None and entry[0] is obj else None

    def guard(self, source, check):
        key = (source, str(check))
        if key not in self._guarded:
            self._guarded.add(key)
            self.guards.append(SourceGuard(source, check))

    def read(self, value, source):
        """`value`, found at `source` outside the trace, made safe to use in the trace."""
        if source is None or isinstance(value, Tracer):
            return value
        if isinstance(value, np.ndarray):
            return self._array_input(value, source)
        if is_constant(value):
            self.guard(source, Equals(value))
            return value
        if _bound_on_access(value):
            # `obj.method` is a new object on every access: guarded by what it is made of
            self.read(value.__self__, Attr(source, "__self__"))
            if isinstance(value, types.MethodType):
                self.guard(Attr(source, "__func__"), Is(value.__func__))
            self.track(value, source)
            return value
        if source.from_args:
            self.guard(source, TypeIs(type(value)))
        else:
            self.guard(source, Is(value))
        self.track(value, source)
        return value

    def contents(self, value, copies=None, seen=None):
        """`value` as code the tracer does not interpret (NumPy functions, builtins, operators,
        text) would read it. A list, tuple, dict (OrderedDict, defaultdict ...) or deque that
        lives outside the trace, or holds one, has its items read through their sources (its
        length and keys guarded, in order; arrays become inputs), so that code sees what a
        later call would see, or that call re-traces; `_guard_whole` covers sets, buffers and
        iterators. Anything else is returned as it is. Each outside container handed on, and
        each copy made, is added to `copies` with its items (`check_unchanged`)."""
        kind = type(value)
        if kind in _CONSTANT_TYPES or kind is Tracer:
            return value
        source = self.source_of(value)
        if not isinstance(value, (list, tuple, dict, collections.deque)):
            if source is not None:
                self._guard_whole(value, source)
            return value
        seen = seen if seen is not None else set()
        if id(value) in seen:
            return value
        seen.add(id(value))
        if source is not None and is_constant(tuple(value.values() if isinstance(value, dict)
                                                    else value)):
            # numbers and strings only: one guard compares the whole container (in order)
            self.guard(source, SameItems(copy.copy(value)))
            if isinstance(value, dict):
                self.guard(Keys(source, ordered=True), Equals(tuple(value)))
            if copies is not None and not isinstance(value, tuple):
                copies.append((value, _flat(value), True))
            return value
        if isinstance(value, dict):
            if source is not None:
                self.guard(Keys(source, ordered=True), Equals(tuple(value)))
            items = {k: self.contents(v if source is None else self.read(v, Item(source, k)),
                                      copies, seen) for k, v in value.items()}
            same = all(items[k] is v for k, v in value.items())
        else:
            if source is not None:
                self.guard(Length(source), Equals(len(value)))
            items = [self.contents(v if source is None else self.read(v, Item(source, i)),
                                   copies, seen) for i, v in enumerate(value)]
            same = all(new is old for new, old in zip(items, value))
        # the container itself when its items are (natives may return it: `d.get(k, default)`
        # is `default`), else a copy holding the traced items
        result = value if same else _rebuilt(value, items)
        if copies is not None and not isinstance(value, tuple) and (source is not None or not same):
            copies.append((result, _flat(result), source is not None))
        return result

    def _guard_whole(self, value, source):
        """An outside object native code reads that is not a list, tuple or dict: a set or a
        buffer of numbers guarded by value; an iterator (advanced by reading) refused. (Files
        are effects, refused where they are used.)"""
        if isinstance(value, (set, frozenset, array.array, bytearray)):
            self.guard(source, Equals(copy.copy(value)))
        elif hasattr(type(value), "__next__") and not isinstance(value, io.IOBase):
            raise self.unsupported(
                f"advancing a {type(value).__name__} iterator that exists outside the traced "
                "function: plain Python advances it on every call, a compiled call could not",
                "Pass the items in as an argument, or iterate outside the function.")

    def close_dropped(self):
        """Close the generators dropped (suspended in a try/with) by the instruction just run,
        as CPython does when their last reference goes: their cleanup runs under the tracer.
        An error it raises is reported and ignored by CPython, so here too; tracejit's own
        refusals end the trace."""
        while self.dropped_generators:
            generator = self.dropped_generators.pop()
            try:
                generator.close()
            except TracejitError:
                raise
            except Exception:       # noqa: BLE001 — CPython's "Exception ignored in" case
                pass

    def check_unchanged(self, copies, what):
        """Refuse when native code changed a copy `contents` made: plain Python would have
        changed the container the copy stands for."""
        for container, items, outside in copies:
            now = _flat(container)
            if len(now) != len(items) or any(a is not b for a, b in zip(now, items)):
                _restore(container, items)     # tracing leaves the user's objects as they were
                whose = "that exists" if outside else "holding containers that exist"
                raise self.unsupported(
                    f"{what} changes a {type(container).__name__} {whose} outside the traced "
                    "function", "Build a new one inside the function, or do it outside.")

    def is_outside(self, obj):
        """Whether `obj` exists outside the trace (a global, attribute, or a container passed
        as an argument): changing it would be a side effect compiled calls do not repeat."""
        return self.source_of(obj) is not None or id(obj) in self.arg_containers

    def track(self, obj, source):
        """Remember where `obj` lives outside the trace, without guarding it (its reads are)."""
        self._sources[id(obj)] = (obj, source)

    def read_print_options(self):
        """Text was made of a NumPy array or scalar: NumPy's print options are guarded."""
        self.guard(PrintOptions(), Equals(np.get_printoptions()))

    def read_missing(self, source, container, key):
        """A lookup `container[key]` that failed, on a container at `source` outside the trace:
        guarded to fail again (the key still absent; the sequence still no longer than it was),
        so that a call after the key appears re-traces (`try: d[k] except KeyError`, the
        `os.environ.get` inside `os.getenv`). A name missing from a module's globals is one."""
        if isinstance(container, collections.abc.Mapping):
            self.guard(source, NotIn(key))
        elif isinstance(container, collections.abc.Sequence):
            self.guard(Length(source), Equals(len(container)))
        else:
            raise self.unsupported(f"a failed lookup in an outside {type(container).__name__}",
                                   "Test for the key first (`in`).")

    def outside_arrays(self):
        """(source, input tracer) of every array the trace reads from outside state."""
        return list(self._input_by_source.items())

    def _array_input(self, array, source):
        tracer = self._input_by_source.get(source)
        if tracer is None:
            check_array_dtype(array, str(source), self.loc)
            self.guard(source, ArrayOf(array.shape, array.dtype, type(array)))
            tracer = self.builder.new_input(Aval(array.shape, array.dtype), array, label=str(source))
            self._input_by_source[source] = tracer
            self.sourced_inputs.append((source, tracer.atom))
        return tracer

    # ---- loops ----------------------------------------------------------------------------
    def back_edge(self, frame, head, edge):
        """A jump back to `head`: mark where the iteration ended in the op list."""
        self.iterations += 1
        if self.iterations > MAX_LOOP_ITERATIONS:
            raise self.unsupported(
                f"loops ran more than {MAX_LOOP_ITERATIONS} iterations while tracing (an "
                "unbounded loop?)", "Bound the loop, vectorise it, or raise "
                "tracejit.frontend.context.MAX_LOOP_ITERATIONS.")
        loops = frame.loops
        if loops and loops[-1].head == head:
            record = loops[-1]
            record.end = max(record.end, edge)
        else:
            first, branches, state = frame.head_ops.get(head, (None, self.python_branches, {}))
            bound = _iterator_bound(frame, head)
            record = LoopRecord(head, edge, [], first=first, branches=branches, bound=bound,
                                state=state, changed=set(),
                                own=frozenset() if bound is None else
                                {("stack", len(frame.stack) - 1)})
            loops.append(record)
        state = state_of(frame)
        if self._may_exit_on_data(record):
            state = promote_changed(frame, record.state, state, skip=_loop_targets(frame, head))
        record.markers.append(len(self.builder.ops))
        record.note_state(state)
        if len(record.markers) > ROLL_EVERY:           # keep long loops short while tracing
            self._roll(record)
            try_close(self, frame, record)             # and run the rest from the rolled body

    def _may_exit_on_data(self, record):
        """Whether the loop may become a while loop: no Python branch steered it, and the
        iteration just ended on a data guard (`while err > tol:`, `if done: break`)."""
        start = record.markers[-1] if record.markers else record.first
        ops = self.builder.ops
        return self.python_branches == record.branches and start is not None and \
            len(ops) > start and ops[-1].prim.name == "guard"

    def reach_head(self, frame, head):
        """The first iteration of the loop at `head` starts: remember where, and the state."""
        if not (frame.loops and frame.loops[-1].head == head):
            frame.head_ops[head] = (len(self.builder.ops), self.python_branches, state_of(frame))

    def leave_loops(self, frame, returned=None):
        """Loops the frame has left (by returning `returned.value`, if given): roll their
        iterations into loop ops."""
        while frame.loops and (returned is not None or not frame.loops[-1].contains(frame.pc)):
            record = frame.loops.pop()
            record.note_state(state_of(frame))
            self._roll(record, exiting=True, python_changed=_python_changed(record, frame, returned))

    def _roll(self, record, exiting=False, python_changed=False):
        """Roll the iterations since the last roll; extend the loop op of earlier ones. At the
        loop's exit, a last iteration ending in a data guard makes it a while loop."""
        ops = self.builder.ops
        if not (ROLL_LOOPS and record.rollable):
            return
        # a loop steered by Python values (`while err > tol and n < 10`) keeps its trip count:
        # the trace cannot tell when they would stop it; so does one whose iterations change
        # Python values read after it (invariant 7: they would keep the traced trip's values)
        steered = self.python_branches > record.branches or python_changed
        exit_bound = record.bound if exiting and record.bound != -1 and not steered else False
        # a stale view is re-derived when next read: its old atom need not survive
        alive = {a for a in (t.held_atom() for t in self.builder.alive) if isinstance(a, Var)}
        # a short counted loop stays straight-line code (UNROLL_OPS); a while loop rolls
        # whatever its length, so that one trace serves every trip count
        counted = not exiting or record.loop_op is not None or \
            len(ops) - record.markers[0] > UNROLL_OPS
        if not counted and exit_bound is False:
            return
        rolled, markers, first = None, record.markers, 0
        for markers, first in self._roll_starts(record):
            rolled = roll_loop(ops, markers, len(ops), alive, first, exit_bound, counted)
            if rolled is not None:
                break
        if rolled is None:
            record.rollable = False              # the iterations differ: leave them unrolled
            return
        at = markers[0]
        new = rolled[at]
        record.rolled = first + len(markers) - 2     # the next piece starts at rolled + 1
        if record.loop_op is not None and at > 0 and rolled[at - 1] is record.loop_op:
            merged = merge_loops(record.loop_op, new, alive)
            if merged is not None:
                rolled[at - 1:at + 1] = [merged]
                at, new = at - 1, merged
        ops[:] = rolled
        record.loop_op = new
        if new.params.get("cond") is not None:     # its trip count: a value nested
            for recorder in self.builder.recorders:  # transformations may read
                recorder[new.outputs[-1]] = np.int64(new.params["trip"])
        record.markers = [at + 1]
        record.first = None

    @staticmethod
    def _roll_starts(record):
        """(markers, number of the first iteration): from the loop's first iteration when it
        is known and nothing is rolled yet, else from the first back-edge (the first iteration
        peeled, as it often differs: `s = 0.0` makes it add to a constant)."""
        if record.rolled == 0 and record.loop_op is None and record.first is not None and \
                record.first < record.markers[0]:
            yield [record.first] + record.markers, 0
        yield record.markers, record.rolled + 1

    def enter_call(self):
        self.depth += 1
        if self.depth > self.deepest[0]:
            self.deepest = (self.depth, self.loc)
        if self.depth > MAX_DEPTH:
            raise self.too_deep()

    def too_deep(self):
        """The error for recursion deeper than MAX_DEPTH (or than Python's own stack allows)."""
        return UnsupportedError(
            f"calls nested deeper than {min(self.deepest[0], MAX_DEPTH)} levels (recursion?)",
            self.deepest[1], "tracejit inlines every Python call; rewrite deep recursion as a "
            "loop, or raise tracejit.frontend.context.MAX_DEPTH (and sys.setrecursionlimit).")

    def exit_call(self):
        self.depth -= 1


def _python_changed(record, frame, returned):
    """Whether Python values the loop's iterations changed may be read after its exit: a live
    local or stack slot; on a return, any changed slot if the returned value holds Python data."""
    if returned is None:
        shared = {slot for slot in record.changed if _is_mutable(frame, slot)}
        return bool(record.changed & (live_after(frame) | shared))
    value = state_of_value(returned.value)
    return bool(record.changed) and value is not TRACED or \
        bool(record.changed & live_after(frame, returned=True))


def _is_mutable(frame, slot):
    """A local holding a mutable object: other names (a caller's) may see its changes, so local
    liveness does not tell whether they are read."""
    if isinstance(slot, tuple):
        return False
    value = frame.locals.get(slot)
    if isinstance(value, types.CellType):
        return True                                    # cells are always live anyway
    return not (is_constant(value) or isinstance(value, Tracer))


def _loop_targets(frame, head):
    """The names a `for` loop at `head` assigns its items to: FOR_ITER stores a new Python value
    in them every iteration, so making them traced values would not carry them."""
    instrs, names = frame.instrs, set()
    if instrs[head].name != "FOR_ITER":
        return names
    for instr in instrs[head + 1:]:
        if instr.name in ("STORE_FAST", "STORE_DEREF"):
            names.add(getattr(instr.arg, "name", instr.arg))
        elif instr.name not in ("UNPACK_SEQUENCE", "UNPACK_EX"):
            return names
    return names


def _iterator_bound(frame, head):
    """How many items the iterator of the `for` loop at `head` yields in all (-1 if unknown);
    None for a `while` loop."""
    if frame.instrs[head].name != "FOR_ITER":
        return None
    remaining = operator.length_hint(frame.stack[-1], -1) if frame.stack else -1
    return -1 if remaining < 0 or type(frame.stack[-1]) not in _COUNTED else 1 + remaining


_COUNTED = (type(iter(range(0))), type(iter([])), type(iter(())))


def check_array_dtype(array, name, loc=None):
    where = f"{loc}: " if loc is not None else ""
    if isinstance(array, (np.ma.MaskedArray, np.matrix)):
        # their operators mean something else (masking, `*` as matmul): tracing them as plain
        # arrays would silently change the result
        raise TracejitTypeError(f"{where}{name} is a {type(array).__name__}, whose operators differ "
                            "from ndarray's; tracejit traces plain ndarrays: pass numpy.asarray("
                            "...) instead (for a masked array, .filled(value))")
    if array.dtype.kind in "biuf":
        return
    kind = {"c": "complex", "O": "object"}.get(array.dtype.kind, array.dtype.name)
    hint = {"c": "pass the real and imaginary parts as two float arrays",
            "O": "convert it with numpy.asarray(..., dtype=float) (ragged or mixed data cannot "
                 "be traced)"}.get(array.dtype.kind, "convert it to a float array")
    raise TracejitTypeError(f"{where}{name} is a {kind} array ({array.dtype}); tracejit supports "
                        f"float, integer and boolean arrays: {hint}")
