"""The trace IR: abstract values, variables, literals, operations and traces.

A trace is a linear SSA program: every `Var` is defined once, either as a trace input or as the
output of exactly one `Op`. Ops are immutable records; passes build new traces rather than editing
old ones, so any intermediate trace can be printed, verified, saved and run.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Aval:
    """What a value is, without its data: shape, dtype and NumPy's "weak" flag.

    `weak` marks values that behave like Python scalars in NumPy's promotion rules (NEP 50): a
    Python float times a float32 array stays float32. Traced values made by `float(x)` or
    `x.item()` are weak, exactly as the Python floats they stand for.
    """
    shape: tuple
    dtype: np.dtype
    weak: bool = False

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def __str__(self):
        short = _SHORT_DTYPE.get(self.dtype.name, self.dtype.name)
        return f"{short}[{','.join(map(str, self.shape))}]" + ("~" if self.weak else "")


_SHORT_DTYPE = {"float64": "f64", "float32": "f32", "int64": "i64", "int32": "i32", "bool": "bool",
                "int8": "i8", "int16": "i16", "uint8": "u8", "complex128": "c128"}


def aval_of(value) -> Aval:
    """The abstract value of a concrete Python or NumPy value."""
    if isinstance(value, (bool, int, float, complex)) and not isinstance(value, np.generic):
        return Aval((), np.result_type(type(value)) if not isinstance(value, bool)
                    else np.dtype(bool), weak=True)
    value = np.asarray(value)
    return Aval(tuple(value.shape), value.dtype)


_var_ids = itertools.count()


class Var:
    """An SSA variable. Identity is the object itself; `uid` only orders and names it."""
    __slots__ = ("aval", "uid")

    def __init__(self, aval: Aval):
        self.aval = aval
        self.uid = next(_var_ids)

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)

    def __repr__(self):
        return f"Var({self.uid}: {self.aval})"


class Lit:
    """A constant operand: a Python/NumPy scalar or a NumPy array baked into the trace.

    Only values the trace derived from static information are literals (numbers written in the
    source, arrays built from them). Arrays read from globals, closures or attributes are trace
    inputs instead, so a mutated global is seen on the next call.
    """
    __slots__ = ("value", "aval")

    def __init__(self, value):
        if isinstance(value, np.ndarray):
            value = value.copy()
            value.flags.writeable = False
        self.value = value
        self.aval = aval_of(value)

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)

    def __repr__(self):
        return f"Lit({self.value!r})"


Atom = Var | Lit


@dataclass(frozen=True)
class SourceLoc:
    """Where in the user's code an op came from."""
    filename: str
    lineno: int
    text: str = ""

    def __str__(self):
        return f"{self.filename}:{self.lineno}"


@dataclass(frozen=True, eq=False)
class Op:
    """One primitive application: `outputs = prim(*inputs, **params)`."""
    prim: Any                     # tracejit.ops.core.Primitive
    inputs: tuple                 # of Atom
    outputs: tuple                # of Var
    params: dict = field(default_factory=dict)
    loc: SourceLoc | None = None


@dataclass(frozen=True, eq=False)
class Trace:
    """A straight-line program over `inputs` producing `outputs`."""
    inputs: tuple                 # of Var
    outputs: tuple                # of Atom
    ops: tuple                    # of Op
    name: str = "f"

    def __str__(self):
        from .printer import format_trace
        return format_trace(self)

    def __len__(self):
        return len(self.ops)

    def __repr__(self):            # short: a trace held in an op's params prints on one line
        return f"<trace {self.name}: {len(self.inputs)} inputs, {len(self.ops)} ops>"
