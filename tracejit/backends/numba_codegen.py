"""Lower a trace to the Python source of one numba `@njit` kernel.

The kernel takes the trace inputs, then the trace's literal arrays (never pasted into source), and
returns the values of the trace outputs that ops compute. Layout of the generated code:

- Values of size 1 are numba scalars; values of up to ELEMENT_MAX elements are *held*: one
  scalar per element, their fused loops unrolled, loop carries passed element by element; larger
  values are arrays (C-contiguous unless a view). A held value an array-only rule reads is
  stored into a buffer once (`array`).
- Elementwise ops of one shape, and reductions over that shape, are *fused*: they wait in a
  pending group and are emitted together as one loop nest computing scalars, storing only the
  results something outside the loop reads. numba compiles scalar loops ~50x faster than array
  expressions, and fusion removes the temporaries.
- In loops long enough for LLVM to vectorize, exp/log/sin/cos/tanh are numba_math's branch-free
  versions rather than C library calls (which stop vectorization); such a loop accumulates its
  reductions in a second loop, and reruns with the C library if a sin/cos argument was too large
  for the vector reduction (see `flush`).
- A pending group is emitted ("flushed") as late as possible: when something outside it needs
  one of its results, or at the end. Delaying pure code is safe around guards.
- Other ops are statements, written by their primitive's `Statement` rule in its family file.
- A failing guard or a runtime error raises `KernelExit(k)`; the Python side maps `k` back to
  the op (a guard becomes a GuardFailure and the runtime re-traces).
"""
from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..ir import Lit, Var
from .numba_lower import (MAX_CALL_ARGS, NoLowering, cast, dtype_name, literal, packed,
                          python_slices, slice_positions)


def _version(module, extra=""):
    """A digest of a helper module's source. numba's cache of a kernel holds the helper functions
    inlined (or, for numba_scipy, linked by symbol name), but checks only the kernel file's
    timestamp; the digest is part of the kernel's source, hence of its content-hashed file name,
    so editing a helper module makes new kernel files."""
    text = Path(__file__).with_name(f"{module}.py").read_bytes() + extra.encode()
    return hashlib.sha256(text).hexdigest()[:16]


HEADER = f"""import math
import numpy as np
from numba import njit
from tracejit.backends.numba_runtime import KernelExit
from tracejit.backends import numba_math as vm   # numba_math {_version("numba_math")}
from tracejit.backends import numba_scalar as sm   # numba_scalar {_version("numba_scalar")}

"""


def _scipy_import():
    """The header line of kernels calling SciPy's compiled special functions (only those
    import numba_scipy, which loads scipy.special.cython_special)."""
    import scipy
    digest = _version("numba_scipy", scipy.__version__)
    return f"from tracejit.backends import numba_scipy as sp   # numba_scipy {digest}\n"

# Fused loops whose innermost trip count is at least this use numba_math's vector functions
# instead of the C library's. LLVM does not vectorize loops known to run fewer than 16 times, and
# run one element at a time the branch-free functions (which compute sin and cos both, and every
# special case) are slower than the C library: measured 28 vs 18 ns for a sin and a cos at n=10,
# 9 vs 23 ns at n=16, 6 vs 22 ns at n=64.
VECTOR_MIN_TRIP = 16

# Loop bodies are inlined into their loop (numba's inline='always'): a call per iteration passes
# and returns arrays through reference counts and a result tuple, which cost Euler's gradient
# 3.4x (1.03 ms against 0.30 ms for 10,000 steps); it also compiled faster (1.0 s against 2.9 s).
# A long body is called instead: numba's inlining deep-copies the callee's IR and rebuilds SSA
# over the whole caller, which grows faster than the code (a 31-carry loop body of 4,300 lines
# built in 98 s inlined, 33 s called), while a call's cost shrinks against a long body's work.
# So does inlining many bodies: a Hessian of a 20-step loop (26 bodies of 114 lines) took 118 s.
INLINE_BODIES = True
INLINE_MAX_LINES = 200
INLINE_BUDGET_LINES = 600

# Arrays of at most this many elements are held as scalars: fused loops over them are unrolled,
# reshapes/slices/concatenations just rename elements, and a loop carries them in registers. In
# memory, every small temporary is an allocation (outside loop bodies) or a store and a load that
# LLVM cannot forward (any two arrays may alias), and a carry is a store-to-load chain through
# each iteration: Euler's gradient (a state of 2) ran at 2.9x a hand-written adjoint with arrays,
# 1.4x held; 15 unrolled steps of it took 3.30 us a call with arrays, 2.55 us held.
ELEMENT_MAX = 8


def small(aval):
    """Whether a value of `aval` is held as separate scalars (see ELEMENT_MAX)."""
    return 1 < aval.size <= ELEMENT_MAX


def pairwise_blocks(op, shape):
    """(k, block) for a float sum whose order of additions in NumPy differs from adding the
    elements one by one in C order, else None. NumPy sums a C-contiguous operand by blocks: the
    trailing axes from `k` on, all reduced, are one contiguous block of `block` elements, added
    pairwise (`numba_scalar.pairwise_sum`); each output adds its blocks in C order of the other
    axes, starting from 0. One by one is the same when blocks are single elements, or when one
    block of fewer than 8 is all there is."""
    if op.prim.name != "reduce_sum" or op.outputs[0].dtype.kind != "f":
        return None
    axes = {a % len(shape) for a in op.params["axes"]}
    k = len(shape)
    while k > 0 and (k - 1 in axes or shape[k - 1] == 1):   # NumPy drops one-element axes
        k -= 1
    block = int(np.prod(shape[k:]))
    blocks = int(np.prod([shape[d] for d in axes if d < k]))
    if block == 1 or (blocks == 1 and block < 8):
        return None
    return k, block


def _pairwise_expr(terms, zero):
    """NumPy's pairwise sum of at most 8 `terms`, as one expression."""
    if len(terms) < 8:
        expr = zero
        for term in terms:
            expr = f"({expr} + {term})"
        return expr
    t = terms
    return f"((({t[0]} + {t[1]}) + ({t[2]} + {t[3]})) + (({t[4]} + {t[5]}) + ({t[6]} + {t[7]})))"


@dataclass
class Group:
    """Ops waiting to be emitted as one loop nest over `shape`."""
    shape: tuple
    ops: list = field(default_factory=list)
    members: set = field(default_factory=set)     # elementwise results, readable inside the loop
    reduced: set = field(default_factory=set)     # reduction results, ready after the loop
    op_ids: set = field(default_factory=set)


@dataclass
class Kernel:
    """The generated source and what the Python side needs to call it."""
    source: str
    lit_args: list          # arrays passed after the trace inputs
    returned: list          # trace outputs the kernel returns (Vars), in order
    exits: list             # exit code k -> (op, "guard" | "error")


def is_scalar(atom):
    return atom.aval.size == 1


class KernelBuilder:
    """Builds one kernel. Statement rules (in the family files) use: `scalar`, `array`,
    `contiguous`, `blas`, `define`, `define_scalar`, `rename`, `alloc`, `writable_copy`,
    `copy_loop`, `copy_array`, `alias`, `fresh`, `line`, `block`, `loops`, `index`, `exit`,
    `dtype` and `is_scalar`; for small values held as scalars `small`, `hold`, `elements_of`
    and `store_elements`; `is_zeros` and `used` describe a value."""

    def __init__(self, trace, parent=None):
        self.trace = trace
        # sub-kernels (loop bodies) are functions of the root kernel's module; guard exits are
        # numbered across all of them so the Python side maps any code back to its op
        self.root = parent.root if parent is not None else self
        self.functions: list[str] = []
        self.lines: list[str] = []
        self.depth = 1
        self.names: dict = {}            # Var -> name of its scalar or array in the kernel
        self.views: dict = {}            # Var -> "A" or "F": its array is a view, maybe strided
        self.owned: set = set()          # Vars whose buffer the kernel allocated, unaliased
        self.materialized: dict = {}     # scalar or held Var -> name of an array holding it
        self.elements: dict = {}         # held Var -> its elements in C order (names, literals)
        self._unsealed: dict = {}
        self.lit_args: list = []
        self._lit_names: dict = {}
        self._uniform: dict = {}
        self.exits: list = self.root.exits if parent is not None else []
        self.inlined_lines = 0           # (root) lines of loop bodies inlined so far
        # a sub-kernel runs once per loop iteration: its arrays live in scratch buffers the
        # caller allocates once, before the loop (shape, dtype per parameter s0, s1, ...)
        self.parent = parent
        self.scratch: list = []
        self.uses_scipy = False          # the root kernel's module imports numba_scipy
        self.sparse: dict = {}           # Var -> deferred slice_update of zeros (see _defer_sparse)
        self.zeros: set = set()          # zero broadcasts not yet in memory (see `visit`)
        self.groups: dict = {}           # shape -> pending Group
        self.pending: dict = {}          # Var -> pending Group computing it
        self.pairwise: dict = {}         # a sum's Var -> the buffer of what it adds (pairwise_blocks)
        self._count = 0
        self.outputs = {a for a in trace.outputs if isinstance(a, Var)}
        self.consumers: dict = {}
        self.produced_at: dict = {}      # Var -> position of the op computing it
        for index, op in enumerate(trace.ops):
            for a in op.inputs:
                if isinstance(a, Var):
                    self.consumers.setdefault(a, []).append(index)
            self.produced_at.update(dict.fromkeys(op.outputs, index))
        self.carry_of: dict = {}         # a loop body's output Var -> the carry input it replaces
        self.position = 0

    # ---- the statement-rule interface -----------------------------------------------------------
    def fresh(self, prefix="t"):
        self._count += 1
        return f"{prefix}{self._count}"

    def line(self, text):
        self.lines.append("    " * self.depth + text)

    @contextlib.contextmanager
    def block(self, header):
        self.line(header)
        self.depth += 1
        yield
        self.depth -= 1

    def dtype(self, dtype):
        return dtype_name(dtype)

    is_scalar = staticmethod(is_scalar)

    @contextlib.contextmanager
    def loops(self, shape):
        """A loop nest over `shape`; yields the index names (i0, i1, ...)."""
        depth = self.depth
        for d, n in enumerate(shape):
            if n != 1:                      # a one-trip loop only costs compile time
                self.line(f"for i{d} in range({int(n)}):")
                self.depth += 1
        yield self.loop_index(shape)
        self.depth = depth

    @staticmethod
    def loop_index(shape):
        """The index names inside `loops(shape)`: a one-trip axis has no loop, so its index is 0."""
        return ["0" if n == 1 else f"i{d}" for d, n in enumerate(shape)]

    @staticmethod
    def index(shape, loop_shape):
        """Index expressions reading an operand of `shape` broadcast over a loop of `loop_shape`."""
        lead = len(loop_shape) - len(shape)
        return ["0" if n == 1 else f"i{lead + j}" for j, n in enumerate(shape)]

    def copy_loop(self, target, source, shape, place, assign="="):
        """Loops writing `source` (read with broadcasting over `shape`) into `target` at the
        index `place(i)` for the loop indices `i`. Explicit loops, because numba takes seconds
        to compile array-to-slice assignment and general transposes."""
        value = self.scalar(source) if is_scalar(source) else self.array(source)
        with self.loops(shape) as i:
            read = "" if is_scalar(source) else f"[{', '.join(self.index(source.shape, shape))}]"
            self.line(f"{target}[{', '.join(place(i)) or '0'}] {assign} {value}{read}")

    def copy_array(self, target, source, shape, row=None):
        """`target[row] = source` (or `target[...] = source`) for C arrays of static `shape`, as
        explicit loops: numba's whole-array assignment goes through a generic broadcasting
        setitem that costs more than the copy itself on small arrays (4 ns for two elements,
        measured on a loop body's carries)."""
        if not shape:
            self.line(f"{target}[{'...' if row is None else row}] = {source}[...]")
            return
        with self.loops(shape) as i:
            lead = [] if row is None else [row]
            self.line(f"{target}[{', '.join(lead + i) or '0'}] = {source}[{', '.join(i) or '0'}]")

    def store_elements(self, target, shape, elements, row=None):
        """`target[row] = ` (or `target[...] = `) the scalars `elements`, in C order over `shape`."""
        lead = [] if row is None else [row]
        for index, e in zip(np.ndindex(*shape), elements):
            self.line(f"{target}[{', '.join(lead + list(map(str, index))) or '0'}] = {e}")

    small = staticmethod(small)

    def used(self, var):
        """Whether anything reads `var` (an op of this trace, or its caller)."""
        return var in self.consumers or var in self.outputs

    def hold(self, var, exprs):
        """Bind `var` to scalar expressions, one per element in C order."""
        names = []
        for expr in exprs:
            if not _is_name_or_literal(expr):
                names.append(self.fresh("x"))
                self.line(f"{names[-1]} = {expr}")
            else:
                names.append(expr)
        self.elements[var] = names

    def elements_of(self, atom):
        """Scalar expressions of `atom`'s elements in C order: a held value's own, a literal's
        values, else loads from its array (into locals: the array may be updated later)."""
        if isinstance(atom, Lit):
            return [self._lit_element(atom, index) for index in np.ndindex(*atom.shape)]
        self.ready(atom)
        if atom in self.elements:
            return self.elements[atom]
        if is_scalar(atom):
            return [self.scalar(atom)]
        name, loads = self.array(atom), []
        for index in np.ndindex(*atom.shape):
            loads.append(self.fresh("x"))
            self.line(f"{loads[-1]} = {name}[{', '.join(map(str, index))}]")
        return loads

    def _rearrange(self, op):
        """Emit a `rearranges` op on small values by renaming elements: its result's elements
        are found by running the primitive on arrays of element numbers. False if it does not
        apply (large operands, or nothing held involved)."""
        out = op.outputs[0]
        if len(op.outputs) != 1 or out.aval.size > ELEMENT_MAX or \
                any(a.aval.size > ELEMENT_MAX for a in op.inputs):
            return False
        if not (small(out.aval) or
                is_scalar(out) and any(a in self.elements for a in op.inputs)):
            return False
        numbers, sources, first = [], [], 0
        for a in op.inputs:
            numbers.append(np.arange(first, first + a.aval.size, dtype=np.int64).reshape(a.shape))
            sources += [(e, a.dtype) for e in self.elements_of(a)]
            first += a.aval.size
        places = np.asarray(op.prim.impl(*numbers, **op.params)).reshape(-1)
        exprs = [cast(*sources[k], out.dtype) for k in places]
        if not is_scalar(out):
            self.hold(out, exprs)
        elif _is_name_or_literal(exprs[0]):
            self.rename(out, exprs[0])
        else:
            self.define_scalar(out, exprs[0])
        return True

    def alias(self, atom):
        """`atom`'s buffer is now shared with a view, so it may no longer be updated in place."""
        self.owned.discard(atom)

    def blas(self, atom, dtype):
        """An operand for np.dot: C- or F-contiguous (transposes are free), of `dtype`."""
        name = self.array(atom)
        if atom.dtype != dtype:
            return f"np.ascontiguousarray({name}).astype({self.dtype(dtype)})"
        if isinstance(atom, Var) and self.views.get(atom) == "F":
            return name
        return self.contiguous(atom)

    def writable_copy(self, base, out):
        """Bind `out` to an array holding `base` that may be written: `base`'s own buffer when
        nothing else needs it, else a copy."""
        if self.reusable(base):
            self.names[out] = self.array(base)
            self.owned.add(out)
            return self.names[out]
        dt = self.dtype(out.dtype)
        value = self.uniform(base) if isinstance(base, Lit) else None
        if value is not None:
            name = self.names[out] = self.buffer(out.shape, out.dtype, literal(value, out.dtype))
        elif self.parent is None:
            name = self.define(out, f"{self.array(base)}.astype({dt})")   # a fresh C copy
        else:
            name = self.names[out] = self.buffer(out.shape, out.dtype)
            self.copy_array(name, self.array(base), out.shape)
        self.owned.add(out)
        return name

    def scalar(self, atom):
        """Expression for a size-1 atom as a scalar."""
        if isinstance(atom, Lit):
            return literal(np.asarray(atom.value).reshape(-1)[0], atom.dtype)
        self.ready(atom)
        return self.names[atom]

    def array(self, atom):
        """Name of an array holding `atom` (a literal array becomes an extra kernel argument)."""
        if isinstance(atom, Lit):
            return self.lit_arg(atom)
        self.ready(atom)
        if atom in self.elements:                 # held as scalars: stored into a buffer once
            if atom not in self.materialized:
                name = self.materialized[atom] = self.buffer(atom.shape, atom.dtype)
                self.owned.add(atom)              # the buffer is the kernel's, unaliased
                self.store_elements(name, atom.shape, self.elements[atom])
            return self.materialized[atom]
        if not is_scalar(atom):
            return self.names[atom]
        if atom not in self.materialized:
            name = self.buffer(atom.shape if atom.ndim else (1,), atom.dtype, self.names[atom])
            self.materialized[atom] = name if atom.ndim else f"{name}.reshape(())"
        return self.materialized[atom]

    def contiguous(self, atom):
        """Name of a C-contiguous array holding `atom`."""
        name = self.array(atom)
        if isinstance(atom, Var) and self.views.get(atom, "C") != "C":
            contiguous = self.fresh()
            self.line(f"{contiguous} = np.ascontiguousarray({name})")
            return contiguous
        return name

    def define(self, var, expr, *, view="C", owned=False):
        """Bind `var` to the array expression `expr` (a scalar Var takes its single element);
        `view` is the layout numba will see ("A" for strided views, "F" for 2-D transposes)."""
        name = self.fresh("v")
        if is_scalar(var):
            self.line(f"{name} = ({expr})[{', '.join(['0'] * max(var.ndim, 1))}]")
        else:
            self.line(f"{name} = {expr}")
            if view != "C":
                self.views[var] = view
            if owned:
                self.owned.add(var)
        self.names[var] = name
        return name

    def rename(self, var, expr):
        """`var` is the scalar `expr` (a name or literal): no statement, nothing to compile."""
        self.names[var] = expr

    def define_scalar(self, var, expr):
        name = self.names[var] = self.fresh("v")
        self.line(f"{name} = {expr}")
        return name

    def alloc(self, var, fill=None):
        """A fresh C array shaped like `var`, bound to it (uninitialised unless `fill` given).
        For a scalar Var it is a temporary of shape (1,)*ndim, read back after the op (`seal`)."""
        name = self.buffer(tuple(var.shape) or (1,), var.dtype, fill)
        self.names[var] = name
        if is_scalar(var):
            self._unsealed[var] = name
        else:
            self.owned.add(var)
        return name

    def buffer(self, shape, dtype, fill=None):
        """Name of a C array of static `shape` the emitted code may overwrite (uninitialised
        unless `fill` given): allocated here in a kernel, a scratch parameter in a sub-kernel
        (a loop body would otherwise allocate on every iteration, which costs more than the
        arithmetic on small arrays)."""
        dt = self.dtype(dtype)
        if self.parent is None:
            name = self.fresh("v")
            init = "np.empty({0!r}, {1})" if fill is None else "np.full({0!r}, " + fill + ", {1})"
            self.line(f"{name} = " + init.format(tuple(shape), dt))
            return name
        name = f"s{len(self.scratch)}"
        self.scratch.append((tuple(shape), np.dtype(dtype)))
        if fill is not None:
            self.line(f"{name}.fill({fill})")
        return name

    def seal(self, var):
        array = self._unsealed.pop(var, None)
        if array is not None:
            self.materialized[var] = array if var.ndim else f"{array}.reshape(())"
            self.define_scalar(var, f"{array}[{', '.join(['0'] * max(var.ndim, 1))}]")

    def reusable(self, atom, position=None):
        """Whether `atom`'s buffer may be overwritten in place by the op being emitted (or the op
        at `position`): the kernel owns it, no later op reads it and it is not returned."""
        if not isinstance(atom, Var) or atom not in self.owned or atom in self.outputs:
            return False
        position = self.position if position is None else position
        if any(i > position for i in self.consumers.get(atom, ())):
            return False
        if any(atom in op.inputs for op in self.sparse.values()):
            return False
        for group in list(self.groups.values()):     # earlier readers still waiting to run
            if any(atom in op.inputs for op in group.ops):
                self.flush(group)
        return True

    def exit(self, op, kind="error"):
        """The statement leaving the kernel because `op` failed (kind "guard" or "error")."""
        self.exits.append((op, kind))
        return f"raise KernelExit({len(self.exits) - 1})"

    # ---- literals --------------------------------------------------------------------------------
    def lit_arg(self, lit):
        name = self._lit_names.get(id(lit))
        if name is None:
            name = self._lit_names[id(lit)] = f"c{len(self.lit_args)}"
            self.lit_args.append(np.ascontiguousarray(lit.value))
        return name

    def uniform(self, lit):
        """The single value of a literal array whose entries are all equal, else None."""
        key = id(lit)
        if key not in self._uniform:
            flat = np.asarray(lit.value).reshape(-1)
            same = flat.size > 0 and np.array_equal(flat, np.full_like(flat, flat[0]),
                                                    equal_nan=True)
            self._uniform[key] = flat[0] if same else None
        return self._uniform[key]

    # ---- scheduling ------------------------------------------------------------------------------
    def ready(self, var):
        if var in self.zeros:
            self.zeros.discard(var)
            zero = literal(0, var.dtype)
            if small(var.aval):
                self.hold(var, [zero] * var.aval.size)
            else:
                self.alloc(var, fill=zero)
        if var in self.sparse:
            self._statement(self.sparse.pop(var))
        group = self.pending.get(var)
        if group is not None:
            self.flush(group)

    def build(self) -> Kernel:
        returned = list(dict.fromkeys(a for a in self.trace.outputs if isinstance(a, Var)))
        main = self.function("kernel", returned)
        header = HEADER + (_scipy_import() + "\n" if self.uses_scipy else "")
        source = header + "".join(self.root.functions) + main
        return Kernel(source, self.lit_args, returned, self.exits)

    def function(self, name, returned, carried=None, held=()):
        """The source of one @njit function computing `returned` from the trace inputs, then
        the literal arrays. Returned arrays are C-contiguous, so loop carries keep one type.

        `carried` ({input position: output position}) makes a loop body: the caller hands it
        carry buffers it may update in place, and each returned array is a buffer the caller may
        hand back next iteration — fresh, or that same carry's — else a copy. A carry whose
        input position is in `held` is passed and returned as its elements instead, one scalar
        each (parameters a<i>_0, a<i>_1, ...)."""
        params = []
        for i, v in enumerate(self.trace.inputs):
            if i in held:
                params += [f"a{i}_{k}" for k in range(v.aval.size)]
                self.elements[v] = params[-v.aval.size:]
            else:
                params.append(f"a{i}")
                self._bind_input(i, v)
        carried = carried or {}
        held_out = {carried[i] for i in held}
        for i, j in carried.items():
            if self.trace.inputs[i].ndim and i not in held:
                self.owned.add(self.trace.inputs[i])
                self.carry_of.setdefault(returned[j], self.trace.inputs[i])
        for self.position, op in enumerate(self.trace.ops):
            self.visit(op)
        for group in list(self.groups.values()):
            self.flush(group)
        into_carry = {j for i, j in carried.items()       # held: stored straight into the carry
                      if returned[j] in self.elements and returned[j] not in self.materialized}
        values = [None if j in held_out or j in into_carry else self.scalar(v) if v.ndim == 0
                  else self.contiguous(v) for j, v in enumerate(returned)]
        if carried:
            values = self._handed_back(returned, values, carried, held_out)
        values = [", ".join(self.elements_of(v)) if j in held_out else values[j]
                  for j, v in enumerate(returned)]
        self.line("return (" + "".join(f"{v}, " for v in values) + ")")
        params += [f"c{i}" for i in range(len(self.lit_args))] + \
            [f"s{i}" for i in range(len(self.scratch))]
        lines = self.lines
        if self.parent is not None and len(params) > MAX_CALL_ARGS:   # called through `call`
            groups = packed(params)
            params = [f"g{k}" for k in range(len(groups))]
            lines = [f"    {', '.join(groups)}, = {', '.join(params)},"] + lines
        inline = ", inline='always'" if self._inlined(len(lines)) else ""
        return (f"\n@njit(cache=True, error_model='numpy'{inline})\n"
                f"def {name}({', '.join(params)}):\n" + "\n".join(lines) + "\n")

    def _inlined(self, size):
        """Whether this loop body of `size` lines is inlined into its caller: short bodies
        are, while the whole kernel's inlined code stays within INLINE_BUDGET_LINES."""
        root = self.root
        if self.parent is None or not INLINE_BODIES or size > INLINE_MAX_LINES or \
                root.inlined_lines + size > INLINE_BUDGET_LINES:
            return False
        root.inlined_lines += size
        return True

    def _handed_back(self, returned, values, carried, held_out):
        """What a loop body returns. The caller hands each carry's buffer back next iteration,
        and the body's scratch buffers are overwritten then: a carry computed elsewhere is
        copied into the carry's own buffer; an extra output (read after the last iteration only)
        returns its buffer as it is. Anything another output's update could overwrite (inputs,
        views of them, buffers shared with a carry) is copied first."""
        own_input = {j: self.trace.inputs[i] for i, j in carried.items()}
        stores = []
        carry_buffers = {self.names[v] for j, v in own_input.items()
                         if v.ndim and j not in held_out}
        inputs = set(self.trace.inputs)
        out, updates, seen = list(values), [], set()
        for j, (var, value) in enumerate(zip(returned, values)):
            mine = own_input.get(j)
            first, seen = var not in seen, seen | {var}
            if j in held_out or var.ndim == 0 or (mine is not None and value == self.names[mine]):
                continue                                       # a scalar; updated in place
            if value is None:                                  # a held value: its elements
                stores.append((self.names[mine], var))
                out[j] = self.names[mine]
                continue
            if var in self.owned and var not in inputs and value not in carry_buffers:
                if mine is not None:
                    updates.append(((self.names[mine], value), var))  # scratch -> carry buffer
                    out[j] = self.names[mine]
                elif not first:
                    out[j] = f"{value}.copy()"
                continue
            out[j] = self.fresh("h")
            self.line(f"{out[j]} = {value}.copy()")
        for (carry, value), var in updates:
            self.copy_array(carry, value, var.shape)
        for carry, var in stores:
            self.store_elements(carry, var.shape, self.elements[var])
        return out

    def subkernel(self, trace, carried=None, held=()):
        """Emit `trace` as a separate function of this module (a loop body when `carried` maps
        carry inputs to outputs; those in `held` passed as elements, see `function`); returns its
        name and the arguments to pass after its inputs: its literal arrays and its scratch
        buffers, allocated here (before the caller's loop)."""
        sub = KernelBuilder(trace, parent=self)
        name = self.root.fresh("sub")
        returned = list(trace.outputs)
        if any(not isinstance(a, Var) for a in returned):
            raise NoLowering("a sub-trace returning a literal")
        self.root.functions.append(sub.function(name, returned, carried, held))
        return name, [self.lit_array(array) for array in sub.lit_args] + \
            [self.buffer(shape, dtype) for shape, dtype in sub.scratch]

    def lit_array(self, array):
        """Name of this kernel's parameter holding `array` (passed on to a sub-kernel)."""
        name = f"c{len(self.lit_args)}"
        self.lit_args.append(array)
        return name

    def operand(self, atom):
        """An argument for a sub-kernel: a scalar for 0-d atoms, else a C-contiguous array."""
        return self.scalar(atom) if atom.ndim == 0 else self.contiguous(atom)

    def _bind_input(self, i, var):
        dtype_name(var.dtype)                      # refuse unsupported dtypes early
        if var.ndim == 0:
            self.names[var] = f"a{i}"              # the Python side passes a scalar
        elif is_scalar(var):
            self.materialized[var] = f"a{i}"
            self.define_scalar(var, f"a{i}[{', '.join(['0'] * var.ndim)}]")
        else:
            self.names[var] = f"a{i}"
            self.line(f"a{i} = np.ascontiguousarray(a{i})")   # free when numba knows it is C

    def visit(self, op):
        if self._defer_sparse(op) or self._sparse_add(op):
            return
        if op.prim.name == "broadcast_to" and not is_scalar(op.outputs[0]) and \
                self.is_zeros(op.outputs[0]):
            # in memory only if something needs the array: fused loops read it as 0, sparse
            # updates add into their accumulator, a loop carry starts from a zero fill
            self.zeros.add(op.outputs[0])
            return
        rule = op.prim.numba
        if rule is None:
            raise NoLowering(f"primitive {op.prim.name}")
        kind = rule.kind
        if kind == "scalar" and not is_scalar(op.outputs[0]):
            self.join(op, op.outputs[0].shape)
        elif kind == "reduce" and not is_scalar(op.inputs[0]):
            self.join(op, op.inputs[0].shape)
        elif kind == "scalar":
            self.define_scalar(op.outputs[0], self.scalar_expr(op, self.scalar))
        elif kind == "reduce":
            x = op.inputs[0]
            self.define_scalar(op.outputs[0], cast(self.scalar(x), x.dtype, op.outputs[0].dtype))
        else:
            for a in op.inputs:
                if isinstance(a, Var) and a not in self.zeros:    # zeros: when a rule reads them
                    self.ready(a)
            self._statement(op)

    def _statement(self, op):
        if not (op.prim.numba.rearranges and self._rearrange(op)):
            op.prim.numba.emit(self, op)
        for v in op.outputs:
            self.seal(v)

    def scalar_expr(self, op, operand, vector=False):
        rule, out = op.prim.numba, op.outputs[0]
        if hasattr(rule, "specialize"):              # a rule depending on the op's params
            rule = rule.specialize(op.params)
        if getattr(rule, "scipy", False):
            self.root.uses_scipy = True
        args, avals = [operand(a) for a in op.inputs], [a.aval for a in op.inputs]
        # only rules with a vector version take `vector` (Scalar subclasses need not know of it)
        expr = rule.expr(args, avals, out.dtype, vector=True) if vector and \
            rule.has_vector(out.dtype) else rule.expr(args, avals, out.dtype)
        # numba may compute in a wider type (float32 math, int64 floor): keep the trace's dtype
        return expr if out.dtype in (np.float64, np.bool_) else f"{self.dtype(out.dtype)}({expr})"

    def join(self, op, shape):
        group = self.groups.get(shape)
        for a in op.inputs:
            producer = self.pending.get(a) if isinstance(a, Var) else None
            if producer is not None and not (producer is group and a in group.members):
                self.flush(producer)
        group = self.groups.get(shape)
        if group is None:
            group = self.groups[shape] = Group(shape)
        group.ops.append(op)
        group.op_ids.add(self.position)
        out = op.outputs[0]
        (group.members if op.prim.numba.kind == "scalar" else group.reduced).add(out)
        self.pending[out] = group

    # ---- sparse accumulation ---------------------------------------------------------------------
    def _defer_sparse(self, op):
        """Defer `d = slice_update(zeros, u)` whose one reader is `add(acc, d)`: that add becomes
        `acc[slice] += u`. Reverse mode of indexing in a Python loop builds long chains of these;
        dense, each would cost a full-size array and a full-size add."""
        if op.prim.name != "slice_update" or not self.is_zeros(op.inputs[0]):
            return False
        out, users = op.outputs[0], self.consumers.get(op.outputs[0], ())
        if out in self.outputs or len(users) != 1:
            return False
        user = self.trace.ops[users[0]]
        if user.prim.name != "add" or user.inputs[0] is user.inputs[1] or \
                user.outputs[0].aval.shape != out.shape or user.outputs[0].dtype != out.dtype:
            return False
        self.sparse[out] = op
        return True

    def is_zeros(self, atom):
        """Whether `atom` is all zeros: a literal, or zero broadcast by an op (constants larger
        than FOLD_LIMIT stay ops)."""
        if isinstance(atom, Var) and atom in self.produced_at:
            op = self.trace.ops[self.produced_at[atom]]
            if op.prim.name != "broadcast_to":
                return False
            atom = op.inputs[0]
        return isinstance(atom, Lit) and self.uniform(atom) == 0

    def _sparse_add(self, op):
        deltas = [a for a in op.inputs if a in self.sparse]
        if op.prim.name != "add" or not deltas:
            return False
        delta = deltas[-1]
        acc = op.inputs[0] if op.inputs[1] is delta else op.inputs[1]
        if isinstance(acc, Lit) or acc.aval.shape != delta.aval.shape or is_scalar(delta) or \
                acc.dtype != op.outputs[0].dtype:
            self.ready(delta)
            return False
        self.ready(acc)
        update = self.sparse.pop(delta)
        (_, u), spec = update.inputs, update.params["spec"]
        out = op.outputs[0]
        if acc in self.elements or small(out.aval):      # held: add to some elements
            sums = list(self.elements_of(acc))
            places = np.arange(out.aval.size).reshape(out.shape)[python_slices(spec)]
            updates = np.broadcast_to(np.asarray(self.elements_of(u), object).reshape(u.shape),
                                      places.shape)
            for k, e in zip(places.reshape(-1), updates.reshape(-1)):
                sums[k] = f"{sums[k]} + {cast(e, u.dtype, out.dtype)}"
            self.hold(out, sums)
            return True
        target = self.writable_copy(acc, op.outputs[0])
        self.copy_loop(target, u, tuple(size for _, size, _ in spec),
                       lambda i: slice_positions(spec, i), assign="+=")
        return True

    # ---- fused loops -----------------------------------------------------------------------------
    def flush(self, group):
        del self.groups[group.shape]
        for v in group.members | group.reduced:
            del self.pending[v]
        stored = {v for v in group.members if self._read_outside(v, group)}
        if 1 < int(np.prod(group.shape)) <= ELEMENT_MAX:
            self._emit_unrolled(group, stored)
            return
        for a in {a for op in group.ops for a in op.inputs if a in self.elements}:
            self.array(a)                     # stored before the loop that reads it
        vector = self._vectorizable(group)
        reductions = [op for op in group.ops if op.outputs[0] in group.reduced]
        if vector and reductions:
            # a float accumulation in the loop would keep LLVM from vectorizing it (that needs
            # reassociation, which changes results); so the vector loop stores what is reduced
            # and a second loop accumulates it in the same order, giving the same sums
            stored |= {op.inputs[0] for op in reductions if op.inputs[0] in group.members}
        one_pass = not vector or not reductions and not any(
            op.prim.numba.outside is not None for op in group.ops)
        for op in group.ops:
            out = op.outputs[0]
            if out in group.reduced:
                self._init_accumulator(op)
                if pairwise_blocks(op, group.shape) is not None:
                    self.pairwise[out] = self.buffer(group.shape, out.dtype)
            elif out in stored and not (one_pass and self._into_carry(out)):
                self.alloc(out)
        if not vector:
            self._emit_loop(group, group.ops, stored, vector=False)
            self._sum_pairwise(group, reductions)
            return
        members = [op for op in group.ops if op.outputs[0] in group.members]
        # the vector loop counts the elements where a vector function cannot be trusted (sin or
        # cos of a huge argument); if there were any, the loop runs again with the C library.
        # It only stores, so running it again is safe; rare inputs pay twice, common ones stay SIMD
        if any(op.prim.numba.outside is not None for op in members):
            count = self.fresh("n")
            self.line(f"{count} = 0")
            self._emit_loop(group, members, stored, vector=True, count=count)
            with self.block(f"if {count}:"):
                self._emit_loop(group, members, stored, vector=False)
        else:
            self._emit_loop(group, members, stored, vector=True)
        if reductions:
            self._emit_loop(group, reductions, stored, vector=False)
            self._sum_pairwise(group, reductions)

    def _sum_pairwise(self, group, reductions):
        """The sums `pairwise_blocks` names, from the buffers the loop filled: each output adds
        its blocks' pairwise sums in C order, as NumPy does."""
        for op in reductions:
            out = op.outputs[0]
            buffer = self.pairwise.pop(out, None)
            if buffer is None:
                continue
            k, block = pairwise_blocks(op, group.shape)
            flat = self.fresh("f")
            self.line(f"{flat} = {buffer}.reshape(-1)")
            acc = self.names[out]
            if not is_scalar(out):
                acc += f"[{', '.join(self._reduced_index(op, group.shape))}]"
            prefix = group.shape[:k]
            with self.loops(prefix) as index:
                start = " + ".join(f"{i} * {int(np.prod(prefix[d + 1:])) * block}"
                                   for d, i in enumerate(index) if i != "0") or "0"
                self.line(f"{acc} += sm.pairwise_sum({flat}, {start}, {block}, "
                          f"{literal(0, out.dtype)})")

    def _vectorizable(self, group):
        """Whether the group's loop is to use numba_math's vector functions: it has some, and
        an innermost trip count LLVM vectorizes."""
        inner = [n for n in group.shape if n != 1]     # the loops `loops()` writes
        return bool(inner) and inner[-1] >= VECTOR_MIN_TRIP and any(
            op.outputs[0] in group.members and op.prim.numba.has_vector(op.outputs[0].dtype)
            for op in group.ops)

    def _emit_loop(self, group, ops, stored, vector, count=None):
        """One loop nest computing `ops` of the group, with numba_math's vector functions if
        `vector`, adding their `outside` predicates to the integer `count` if given."""
        local = {}
        with self.loops(group.shape):
            for op in ops:
                self._emit_member(op, group, local, stored, vector, count)

    def _into_carry(self, out):
        """Bind `out`, a loop body's next value of a carry, to that carry's buffer when its fused
        loop may write there: element i is read (at i) before it is written, and nothing reads
        the carry after `out`'s op. Saves a scratch buffer and the copy back (`_handed_back`)."""
        carry = self.carry_of.get(out)
        if carry is None or carry.aval != out.aval or \
                not self.reusable(carry, self.produced_at[out]):
            return False
        self.names[out] = self.names[carry]
        self.owned.add(out)
        return True

    def _emit_unrolled(self, group, stored):
        """A small group (ELEMENT_MAX), element by element: its results that something outside
        reads are held (`hold`), its reductions accumulate in scalars."""
        accumulators, blocks = {}, {}
        for op in group.ops:
            out = op.outputs[0]
            if out in group.reduced:
                init = op.prim.numba.init(out.dtype)
                accumulators[out] = [self.fresh("r") for _ in range(out.aval.size)]
                for name in accumulators[out]:
                    self.line(f"{name} = {init}")
                if pairwise_blocks(op, group.shape) is not None:
                    blocks[out] = {}             # (accumulator, block number) -> its terms
        held = {v: [None] * v.aval.size for v in stored}
        for flat, index in enumerate(np.ndindex(*group.shape)):
            local, place = {}, dict(zip(self.loop_index(group.shape), map(str, index)))

            def operand(a, index=index, local=local):
                return self._element_operand(a, index, group.shape, local)
            for op in group.ops:
                out = op.outputs[0]
                if out in group.members:
                    name = local[out] = self.fresh("e")
                    self.line(f"{name} = {self.scalar_expr(op, operand)}")
                    if out in held:
                        held[out][flat] = name
                    continue
                x, where = op.inputs[0], self._reduced_index(op, group.shape)
                at = [int(place.get(w, w)) for w in where]
                acc = accumulators[out][int(np.ravel_multi_index(at, out.shape)) if at else 0]
                value = cast(operand(x), x.dtype, out.dtype)
                if out in blocks:
                    _, size = pairwise_blocks(op, group.shape)
                    blocks[out].setdefault((acc, flat // size), []).append(value)
                    continue
                for text in op.prim.numba.update.format(acc=acc, x=value).split("\n"):
                    self.line(text)
        for out, terms in blocks.items():
            for (acc, _), values in terms.items():      # in C order, as NumPy adds blocks
                self.line(f"{acc} += {_pairwise_expr(values, literal(0, out.dtype))}")
        for var, names in [*held.items(), *accumulators.items()]:
            if is_scalar(var):
                self.rename(var, names[0])
            else:
                self.elements[var] = names

    def _element_operand(self, atom, index, loop_shape, local):
        """`atom`'s element read at `index` of an unrolled loop over `loop_shape` (broadcast)."""
        if isinstance(atom, Var) and atom in local:
            return local[atom]
        if atom in self.zeros:
            return literal(0, atom.dtype)
        lead = len(loop_shape) - atom.ndim
        at = tuple(0 if n == 1 else index[lead + j] for j, n in enumerate(atom.shape))
        if isinstance(atom, Lit):
            return self._lit_element(atom, at)
        if is_scalar(atom):
            return self.scalar(atom)
        self.ready(atom)
        if atom in self.elements:
            return self.elements[atom][int(np.ravel_multi_index(at, atom.shape))]
        return f"{self.array(atom)}[{', '.join(map(str, at))}]"

    def _lit_element(self, lit, index):
        """A literal's element: a number in the source when the literal is one number (or all
        its entries are equal), else read from the literal's kernel argument."""
        value = np.asarray(lit.value).reshape(-1)[0] if is_scalar(lit) else self.uniform(lit)
        if value is not None:
            return literal(value, lit.dtype)
        return f"{self.lit_arg(lit)}[{', '.join(map(str, index)) or '0'}]"

    def _read_outside(self, var, group):
        readers = self.consumers.get(var, ())
        return var in self.outputs or any(i not in group.op_ids for i in readers)

    def _init_accumulator(self, op):
        out, init = op.outputs[0], op.prim.numba.init(op.outputs[0].dtype)
        if is_scalar(out):
            self.define_scalar(out, init)
        else:
            self.alloc(out, fill=init)

    def _emit_member(self, op, group, local, stored, vector=False, count=None):
        out = op.outputs[0]
        operand = lambda a: self.loop_operand(a, group.shape, local)  # noqa: E731
        if out in group.members:
            name = local[out] = self.fresh("e")
            self.line(f"{name} = {self.scalar_expr(op, operand, vector)}")
            outside = count and op.prim.numba.outside_expr(
                [operand(a) for a in op.inputs], [a.aval for a in op.inputs], out.dtype)
            if outside:
                self.line(f"{count} += {outside}")
            if out in stored:
                where = ", ".join(self.index(out.shape, group.shape))
                self.line(f"{self.names[out]}[{where}] = {name}")
            return
        x = op.inputs[0]
        value = cast(operand(x), x.dtype, out.dtype)
        if out in self.pairwise:
            self.line(f"{self.pairwise[out]}[{', '.join(self.loop_index(group.shape))}] = {value}")
            return
        acc = self.names[out]
        if not is_scalar(out):
            acc += f"[{', '.join(self._reduced_index(op, group.shape))}]"
        for text in op.prim.numba.update.format(acc=acc, x=value).split("\n"):
            self.line(text)

    def loop_operand(self, atom, loop_shape, local):
        if atom in self.zeros:
            return literal(0, atom.dtype)
        if isinstance(atom, Lit):
            return self._lit_element(atom, self.index(atom.shape, loop_shape))
        if atom in local:
            return local[atom]
        if is_scalar(atom):
            return self.scalar(atom)
        return f"{self.array(atom)}[{', '.join(self.index(atom.shape, loop_shape))}]"

    @staticmethod
    def _reduced_index(op, loop_shape):
        axes, keepdims = op.params["axes"], op.params["keepdims"]
        axes = {a % len(loop_shape) for a in axes}
        index = KernelBuilder.loop_index(loop_shape)
        if keepdims:
            return ["0" if d in axes else i for d, i in enumerate(index)]
        return [i for d, i in enumerate(index) if d not in axes]


_NAME_OR_LITERAL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\(?-?[0-9.e+\-]+\)?|True|False")


def _is_name_or_literal(expr):
    return _NAME_OR_LITERAL.fullmatch(expr) is not None


def generate(trace) -> Kernel:
    """The kernel for `trace`; NoLowering if some op or dtype has no numba lowering."""
    return KernelBuilder(trace).build()
