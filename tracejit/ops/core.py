"""Primitives, traced values and the builder that records them.

A `Primitive` carries every rule about one operation: its NumPy implementation, its shape/dtype
rule, its derivative rules and (filled in by the family file) its numba lowering. `bind` applies a
primitive: on plain values it just runs the NumPy implementation; when any argument is a `Tracer`
it records an `Op` in that tracer's `Builder` and, while tracing real data, also computes the
concrete result so that Python control flow downstream sees real numbers.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
import weakref

import numpy as np

from ..errors import TracejitTypeError, TracejitValueError, UnsupportedError
from ..backends.numba_lower import Statement, literal
from ..ir import Aval, Lit, Op, SourceLoc, Trace, Var, aval_of


# Primitives evaluate silently (a division by zero gives inf), as compiled kernels do, unless a
# call made under a caller's raising floating-point policy (np.errstate(divide="raise"),
# warnings as errors: runtime/fp_policy.py) is being traced or run on the numpy executor: then
# NumPy's error state is the caller's, and it raises where plain NumPy would.
_CALLER_FP_POLICY = contextvars.ContextVar("tracejit_caller_fp_policy", default=False)


@contextlib.contextmanager
def caller_fp_policy():
    """Let primitives raise on floating-point errors as the caller's NumPy error state says."""
    token = _CALLER_FP_POLICY.set(True)
    try:
        yield
    finally:
        _CALLER_FP_POLICY.reset(token)


def fp_errors_silenced():
    return not _CALLER_FP_POLICY.get()


class Primitive:
    """One operation of the IR and all of its rules.

    impl(*values, **params)               -> value | tuple of values (NumPy reference semantics)
    abstract_eval(*avals, **params)        -> list of output Avals
    vjp(cts, outs, ins, **params)          -> list of input cotangents (Tracer or None)
    jvp(tangents, outs, ins, **params)     -> list of output tangents (Tracer or None)
    `elementwise` prims broadcast their inputs NumPy-style; the reverse-mode pass sums their
    cotangents back to each input's shape in one place (`unbroadcast`) instead of in every rule.
    `effect` prims (guards) have no outputs and are never removed as dead code.
    `may_raise` prims (a singular matrix's inverse) are not removed either: plain Python raises
    there even when nothing reads the result. It is True, or a function of an op's params for
    a prim that raises only in some forms (a `for` loop left by `break` side-exits when its
    iterator runs out first).
    """

    def __init__(self, name, impl, abstract_eval, *, vjp=None, jvp=None, elementwise=False,
                 effect=False, multiple_results=False):
        self.name = name
        self.impl = impl
        self.abstract_eval = abstract_eval
        self.vjp = vjp
        self.jvp = jvp
        self.elementwise = elementwise
        self.effect = effect
        self.multiple_results = multiple_results
        self.may_raise = False
        self.numba = None          # lowering, set in the family file next to the other rules
        PRIMITIVES[name] = self

    def __call__(self, *args, **params):
        return bind(self, *args, **params)

    def __repr__(self):
        return f"<primitive {self.name}>"


PRIMITIVES: dict[str, Primitive] = {}


class GuardFailure(Exception):
    """A data guard saw a different outcome than the trace assumed: the caller must re-trace.
    Executors attach the failing `op` so the runtime can name the guard and its source line."""

    def __init__(self, reason, op=None):
        self.reason = reason
        self.op = op
        super().__init__(reason)

    def __str__(self):
        where = f" at {self.op.loc}" if self.op is not None and self.op.loc else ""
        return f"guard on {self.reason}{where} failed"


class Builder:
    """Records ops into a growing trace. `concrete` builders also evaluate each op."""

    def __init__(self, concrete=True):
        self.concrete = concrete
        self.ops: list[Op] = []
        self.inputs: list[Var] = []
        self.loc: SourceLoc | None = None
        self.reason: str = ""    # the user construct being traced, used to label guards
        self.outside: dict = {}  # id(input tracer) -> (tracer, label) for outside ndarrays
        self.max_ops: int | None = None   # set by the tracer: a clear error, not a hang
        # tracers the user's code may still hold: their vars must survive loop rolling
        self.alive = LiveTracers() if concrete else None
        self.ctx = None          # the frontend's TraceContext recording into this builder
        # open value recorders ({Var: value}): nested transformations applied while tracing
        # need the concrete value of every var their ops read or write
        self.recorders: list[dict] = []
        # NumPy's view-or-copy choice read off a memory layout (reshape, ravel), and an in-place
        # write: together, the layouts of the arrays read from outside decide what the write
        # reaches, so they are guarded (see alias.py, frontend/trace.py)
        self.layout_read = False
        self.wrote = False

    def record(self, args, atoms, outs, values):
        for recorder in self.recorders:
            recorder.update((a, t.val) for a, t in zip(atoms, args) if isinstance(t, Tracer))
            recorder.update(zip(outs, values))

    def new_input(self, aval: Aval, value=None, label=None) -> "Tracer":
        """A trace input. `label` names an ndarray that lives outside the trace (an argument
        or a global): writing into it in place would change the caller's array."""
        var = Var(aval)
        self.inputs.append(var)
        tracer = Tracer(self, var, value)
        if label is not None and isinstance(value, np.ndarray):
            self.outside[id(tracer)] = (tracer, label)
        return tracer

    def outside_label(self, tracer) -> str | None:
        """The name of the outside array `tracer` is (or is a view of), if any."""
        if tracer.storage is not None:
            tracer = tracer.storage.root
        entry = self.outside.get(id(tracer))
        return entry[1] if entry is not None and entry[0] is tracer else None

    def add(self, prim, atoms, params, out_avals):
        if self.max_ops is not None and len(self.ops) >= self.max_ops:
            raise UnsupportedError(
                f"the trace grew past {self.max_ops} operations (a long loop whose iterations "
                "differ, or an unbounded one?)", self.loc, "Vectorise the loop with NumPy, or "
                "raise tracejit.frontend.context.MAX_TRACE_OPS.")
        outs = tuple(Var(a) for a in out_avals)
        self.ops.append(Op(prim, tuple(atoms), outs, params, self.loc))
        return outs

    def build(self, outputs, name="f") -> Trace:
        return Trace(tuple(self.inputs), tuple(_atom(self, o) for o in outputs), tuple(self.ops), name)

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()


class LiveTracers:
    """A weak set of tracers keyed by identity: a tracer's own hash is its value's (a traced
    NumPy scalar hashes as the number it stands for), which must not be taken here. Plain
    weak references (no callback: CPython shares one per object) make `add` cheap; dead ones
    are dropped whenever the table has doubled."""

    def __init__(self):
        self._refs = {}
        self._purge_at = 1024

    def add(self, tracer):
        self._refs[id(tracer)] = weakref.ref(tracer)   # a reused id replaces a dead entry
        if len(self._refs) >= self._purge_at:
            self._refs = {k: r for k, r in self._refs.items() if r() is not None}
            self._purge_at = max(1024, 2 * len(self._refs))

    def __iter__(self):
        return iter([t for t in (r() for r in self._refs.values()) if t is not None])


class _Local(threading.local):
    def __init__(self):
        self.stack = []          # this thread's open builders, innermost last


_local = _Local()


def _stack():
    return _local.stack


def current_builder() -> Builder | None:
    stack = _local.stack
    return stack[-1] if stack else None


def _atom(builder, x):
    if isinstance(x, Tracer):
        if x.builder is not builder:
            raise TracejitValueError("a traced value from another trace was used here "
                                "(a value leaked out of a traced function?)")
        return x.atom
    if isinstance(x, (Var, Lit)):
        return x
    if isinstance(x, (np.ndarray, np.generic, bool, int, float, complex)):
        return Lit(x)
    raise TypeError(f"cannot use a {type(x).__name__} as an array operand")


def bind(prim: Primitive, *args, **params):
    """Apply `prim` to `args`: run it on plain values, or record it when any arg is traced."""
    builder = next((a.builder for a in args if isinstance(a, Tracer)), None)
    if builder is None:
        return prim.impl(*args, **params)
    atoms = [_atom(builder, a) for a in args]
    if all(isinstance(a, Lit) for a in atoms):       # constant folding at trace time
        out = prim.impl(*[a.value for a in atoms], **params)
        if prim.effect or all(np.size(o) <= FOLD_LIMIT for o in
                              (out if prim.multiple_results else (out,))):
            return _wrap_constants(builder, prim, out, [a.aval for a in atoms], params)
    out_avals = prim.abstract_eval(*[a.aval for a in atoms], **params)
    outs = builder.add(prim, atoms, params, out_avals)
    values = [None] * len(outs)
    if builder.concrete:
        values = _evaluate(builder, prim, args, params)
        values = values if prim.multiple_results else (values,)
        _check_rule(prim, out_avals, values)
        if builder.recorders:
            builder.record(args, atoms, outs, values)
    tracers = [Tracer(builder, v, x) for v, x in zip(outs, values)]
    if prim.effect:
        return None
    return tracers if prim.multiple_results else tracers[0]


def _evaluate(builder, prim, args, params):
    """The op just recorded, run on the concrete values. If NumPy raises (a singular matrix,
    an index out of bounds), the user's code may catch it: the op becomes a guard that it
    raises the same way again, so a call on which it would not raise re-traces."""
    try:
        return prim.impl(*[_value(a) for a in args], **params)
    except Exception as error:
        op = builder.ops[-1]
        builder.ops[-1] = Op(raises, op.inputs, (), {"prim": prim.name, "params": params,
                                                     "error": type(error)}, op.loc)
        raise


FOLD_LIMIT = 4096   # larger constant results stay ops (e.g. zeros broadcast to a big shape)


def constant(like: "Tracer", value) -> "Tracer":
    """`value` as a constant tracer of the same builder as `like`."""
    return Tracer(like.builder, Lit(value), value)


def _wrap_constants(builder, prim, out, in_avals, params):
    """Folded results as constant tracers; one the rule makes weak (a Python number, such as
    `float()` of a constant) becomes a Python number, as its Lit must be to stay weak."""
    if prim.effect:
        return None
    outs = out if prim.multiple_results else (out,)
    if any(isinstance(o, (np.ndarray, np.generic)) and np.ndim(o) == 0 for o in outs):
        avals = prim.abstract_eval(*in_avals, **params)
        outs = [np.asarray(o).item() if aval.weak else o for o, aval in zip(outs, avals)]
    tracers = [Tracer(builder, Lit(o), o) for o in outs]
    return tracers if prim.multiple_results else tracers[0]


def _value(x):
    if not isinstance(x, Tracer):
        return x
    if x.atom.aval.weak and x.ndim == 0 and x.val is not None:
        return stand_in(x)        # a Python scalar: NumPy promotes it as the shape rule does
    return x.val


def _check_rule(prim, avals, values):
    """The concrete result must match the shape rule: a mismatch is a bug in the rule."""
    for aval, value in zip(avals, values):
        got = aval_of(value)
        if got.shape != aval.shape or got.dtype != aval.dtype:
            raise AssertionError(f"shape rule of {prim.name} gives {aval}, NumPy gives {got}")


class Tracer:
    """A traced value: an IR atom plus (while tracing real data) the concrete value it stands for.

    A tracer whose atom is a `Lit` is a constant: it does not depend on any input. Array methods
    and operators are attached by `tracejit.numpy`, which defines them in terms of primitives.
    """
    __slots__ = ("builder", "atom", "val", "storage", "__weakref__")
    __array_priority__ = 1000     # make ndarray op Tracer defer to Tracer's reflected operators

    def __init__(self, builder, atom, val=None):
        self.builder = builder
        self.atom = atom
        self.val = val
        self.storage = None       # the buffer it shares with its views, once it has any (alias.py)
        if builder.alive is not None:
            builder.alive.add(self)

    aval = property(lambda self: self.atom.aval)
    shape = property(lambda self: self.atom.aval.shape)
    dtype = property(lambda self: self.atom.aval.dtype)
    ndim = property(lambda self: self.atom.aval.ndim)
    size = property(lambda self: self.atom.aval.size)
    is_constant = property(lambda self: isinstance(self.atom, Lit))

    def rebind(self, other: "Tracer"):
        """Point this tracer at a new value: how in-place updates are made functional. The
        object keeps its kind: a 0-d array written in place stays an array, though the NumPy
        arithmetic that computed the new value gives a scalar."""
        val = other.val
        if isinstance(self.val, np.ndarray) and val is not None and not isinstance(val, np.ndarray):
            val = np.asarray(val)
        self.atom, self.val = other.atom, val

    def held_atom(self):
        """The atom this tracer holds without bringing it up to date (None: it would re-derive
        it when next read, see alias.View): what loop rolling must keep alive."""
        return self.atom

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __bool__(self):
        return concretize_bool(self)

    def __index__(self):
        return concretize_index(self)

    def __int__(self):
        return concretize_int(self)

    def __float__(self):
        raise UnsupportedError(
            "float() of a traced value was called from code tracejit does not trace, which would "
            "hide the value from differentiation", self.builder.loc,
            "Call float() in your traced function instead.")

    def __hash__(self):
        # as NumPy: arrays are unhashable, scalars hash as their value (guarded: `d[x[0]]`,
        # `x[0] in {1.0, 2.0}` look the value up)
        if python_type(self) is np.ndarray:
            raise TypeError("unhashable type: 'numpy.ndarray'")
        return hash(concretize_exact(self))

    # Text of a traced value is NumPy's text of the value, guarded (`concretize_exact`): user
    # code that formats, parses or branches on it re-traces when the value changes. Outside
    # its trace (debugging tracejit itself), a tracer shows what it is instead.
    def __repr__(self):
        return self._text(repr)

    def __str__(self):
        return self._text(str)

    def __format__(self, spec):
        return self._text(lambda value: format(value, spec))

    def _text(self, convert):
        if self.builder is current_builder():       # user code being traced (symbolic: refused)
            return convert(concretize_exact(self))
        if self.val is None:
            return f"Tracer<{self.aval}>"
        return f"Tracer<{self.aval}>({np.array2string(np.asarray(self.val), threshold=6)})"


def _require_concrete(t, what):
    if t.val is None:
        raise TracejitTypeError(f"{what} needs a concrete value, but this value is symbolic "
                            "(inside a transformation, control flow cannot depend on it)")


def concretize_bool(t: Tracer) -> bool:
    """Decide a branch on traced data: record a guard that the outcome stays the same."""
    from .elementwise import ne
    _require_concrete(t, "a branch")
    if t.size != 1:
        raise ValueError("The truth value of an array with more than one element is ambiguous. "
                         "Use a.any() or a.all()")
    pred = t if t.dtype == np.bool_ else ne(t, 0)
    outcome = bool(pred.val)
    guard(pred, expected=outcome, reason=t.builder.reason or "bool")
    return outcome


def concretize_int(t: Tracer) -> int:
    """An integer made from traced data steers shapes or loops: guard its exact value."""
    from .elementwise import eq
    _require_concrete(t, "int()")
    if t.size != 1 or t.dtype.kind not in "biuf":
        raise TypeError(f"only integer scalar arrays can be converted to a scalar index (got {t.aval})")
    if t.dtype.kind == "f":
        return _float_to_int(t)
    value = int(np.asarray(t.val).reshape(()))
    guard(eq(t, value), expected=True, reason=t.builder.reason or "int")
    return value


def _float_to_int(t: Tracer) -> int:
    """`int()` of a float as Python computes it: truncated, exact at any size (no 64-bit cast),
    and NaN or ±inf raise Python's ValueError or OverflowError. The guard compares in the
    float's own type, which NaN and inf never pass: a call where it is one re-traces, and
    raises there."""
    from .elementwise import eq, trunc
    value = int(float(np.asarray(t.val).reshape(())))        # raises as Python does
    guard(eq(trunc(t), float(value)), expected=True, reason=t.builder.reason or "int")
    return value


def concretize_index(t: Tracer) -> int:
    """`operator.index` of a traced value: integers only, as NumPy's scalars accept."""
    if t.dtype.kind not in "biu":
        raise TypeError(f"'{python_type(t).__name__}' object cannot be interpreted as an integer")
    return concretize_int(t)


# A Python int is traced (as a weak int64) only below this magnitude: then + - * ** of two such
# ints cannot wrap unseen (numpy/_array.py checks each result against its float64 shadow)
PYTHON_INT_BOUND = 1 << 62

_PYTHON_SCALARS = {"b": bool, "i": int, "u": int, "f": float, "c": complex}


def python_type(t: Tracer) -> type:
    """The Python type of the object `t` stands for, as CPython would see it: a Python scalar
    for a weak value, a NumPy scalar type or `ndarray` otherwise (as `t.val` is, which every
    producer of a traced value makes the object NumPy itself returns). It follows from the
    ops and input types of the trace, which the trace's guards fix, so it is a constant."""
    if t.aval.weak:
        return _PYTHON_SCALARS[t.dtype.kind]
    if t.val is not None:
        return type(t.val)
    return t.dtype.type if t.ndim == 0 else np.ndarray


def stand_in(t: Tracer):
    """An object of `python_type(t)` holding `t`'s value at trace time. Only what depends on
    its type may be read from it unguarded (`isinstance`, `hasattr`, `np.ndim`)."""
    kind = python_type(t)
    if t.val is None:
        zero = np.zeros((), t.dtype)
        return np.broadcast_to(zero, t.shape) if kind is np.ndarray else kind(zero)
    if t.aval.weak:
        return kind(np.asarray(t.val).reshape(()))
    return t.val


def as_numpy_scalar(t: Tracer) -> Tracer:
    """`t` (0-d) as NumPy returns it from indexing, dot products, reductions: a NumPy scalar
    such as `np.float64` rather than a 0-d array."""
    if isinstance(t.val, np.ndarray) and t.ndim == 0 and not t.aval.weak:
        return Tracer(t.builder, t.atom, t.val[()])
    return t


def concretize_exact(t: Tracer):
    """The object `t` stands for, with a guard that the value stays exactly the same (NaN
    and the sign of zero included): for what reads every digit, such as text or a hash."""
    from .elementwise import eq, isnan, logical_and, logical_or, lt, div
    _require_concrete(t, "the text or hash of a traced value")
    value = np.asarray(t.val)
    same = eq(t, value)
    if value.dtype.kind == "f" and np.any(value == 0):      # 0.0 and -0.0 print differently
        same = logical_and(same, eq(lt(div(1, t), 0), np.signbit(value)))
    if value.dtype.kind in "fc" and np.any(np.isnan(value)):
        same = logical_or(same, logical_and(isnan(t), np.isnan(value)))
    if same.ndim:
        from .reduce import reduce_min
        same = reduce_min(same, axes=tuple(range(same.ndim)), keepdims=False)
    guard(same, expected=True, reason=t.builder.reason or "exact value", exact=True)
    return stand_in(t)


def _guard_impl(pred, *, expected, reason, exact=False):
    """`exact` marks a guard on every bit of a float computed in the trace: a compiled kernel
    that sums in another order may fail it where NumPy passes, so backends settle it with
    NumPy's own arithmetic (see the numba backend's `on_exit`)."""
    if bool(np.asarray(pred).reshape(())) != expected:
        raise GuardFailure(reason)


guard = Primitive("guard", _guard_impl, lambda pred, **_: [], effect=True)


def _lower_guard(kb, op):
    pred = kb.scalar(op.inputs[0])
    kb.line(f"if {pred} != {literal(op.params['expected'], bool)}:")
    kb.line("    " + kb.exit(op, "guard"))


guard.numba = Statement(_lower_guard)


def _raises_impl(*values, prim, params, error):
    """The guard an op that raised while tracing leaves in its place: the trace went on in the
    user's exception handler, which is right only while the op raises the same error."""
    try:
        PRIMITIVES[prim].impl(*values, **params)
    except error:
        return
    except Exception:
        pass
    raise GuardFailure(f"{prim} raising {error.__name__}")


raises = Primitive("raises", _raises_impl, lambda *avals, **_: [], effect=True)
# kernels do not re-run NumPy's error checks: the numpy executor decides such a call
raises.numba = Statement(lambda kb, op: kb.line(kb.exit(op)))
