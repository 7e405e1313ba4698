"""Where a value came from, so that it can be re-read and re-checked on every call.

A trace may read state outside its arguments: globals, closure cells, attributes of objects,
default arguments. Each such read is recorded with its `Source` (a path from the function or its
arguments) and a `Check` the runtime re-evaluates before reusing the trace. Arrays found this way
become trace inputs re-read at call time; everything else is guarded by identity or value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class Source:
    """A path to a value, evaluated against (root function, flattened argument leaves)."""

    def get(self, fn, leaves):
        raise NotImplementedError

    @property
    def from_args(self) -> bool:
        return False


@dataclass(frozen=True)
class RootFn(Source):
    def get(self, fn, leaves):
        return fn

    def __str__(self):
        return "fn"


@dataclass(frozen=True)
class ArgLeaf(Source):
    index: int
    label: str

    def get(self, fn, leaves):
        return leaves[self.index]

    @property
    def from_args(self):
        return True

    def __str__(self):
        return self.label


@dataclass(frozen=True)
class Attr(Source):
    base: Source
    name: str

    def get(self, fn, leaves):
        return getattr(self.base.get(fn, leaves), self.name)

    @property
    def from_args(self):
        return self.base.from_args

    def __str__(self):
        return f"{self.base}.{self.name}"


@dataclass(frozen=True)
class Item(Source):
    base: Source
    key: object

    def get(self, fn, leaves):
        return self.base.get(fn, leaves)[self.key]

    @property
    def from_args(self):
        return self.base.from_args

    def __str__(self):
        if isinstance(self.base, Attr) and self.base.name == "__globals__":
            return f"global {self.key}"
        return f"{self.base}[{self.key!r}]"


_MISSING = object()


class Check:
    """A condition on the value at a source; `holds` must be cheap."""
    def holds(self, value) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Is(Check):
    obj: object

    def holds(self, value):
        return value is self.obj

    def __str__(self):
        return f"is {type(self.obj).__name__} {getattr(self.obj, '__name__', '')}".rstrip()


def same_constant(a, b):
    """Whether constants `a` and `b` are the same to any code that reads them: of one type and
    equal, and for floats also of one sign (`1 / -0.0` is -inf, `0.0 == -0.0` notwithstanding);
    every NaN is the same as any other (`nan == nan` is False); tuples item by item."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (float, complex)):
        return all(x == y and math.copysign(1.0, x) == math.copysign(1.0, y) or x != x and y != y
                   for x, y in ((a.real, b.real), (a.imag, b.imag)))
    if type(a) is tuple:
        return len(a) == len(b) and all(map(same_constant, a, b))
    return a == b


def delicate(value):
    """Whether `==` alone would take `value` for another constant: a float zero (whose sign
    it ignores) or NaN (which it never matches), maybe inside a tuple."""
    if isinstance(value, (float, complex)):
        return any(x == 0 or x != x for x in (value.real, value.imag))
    return type(value) is tuple and any(map(delicate, value))


@dataclass(frozen=True)
class Equals(Check):
    value: object

    def holds(self, value):
        return same_constant(value, self.value)

    def __str__(self):
        return f"== {self.value!r}"


@dataclass(frozen=True, eq=False)
class SameItems(Check):
    """A container of numbers and strings equal to `container` item by item, types included
    (`[1, 2]` is not `[1.0, 2]`), in order; compared in C, one check for the whole of it (item
    by item when it holds a float zero or NaN, which `==` would confuse)."""
    container: object

    def __post_init__(self):
        items = items_of(self.container)
        object.__setattr__(self, "types", tuple(map(type, items)))
        object.__setattr__(self, "delicate", any(map(delicate, items)))

    def holds(self, value):
        if type(value) is not type(self.container):
            return False
        if self.delicate:
            mine, theirs = items_of(self.container), items_of(value)
            return len(mine) == len(theirs) and all(map(same_constant, theirs, mine))
        return value == self.container and tuple(map(type, items_of(value))) == self.types

    def __str__(self):
        return f"holds the {len(self.container)} items it held while tracing"


def items_of(container):
    """A list's items, or a dict's keys then values (what comparing two of them reads)."""
    return [*container, *container.values()] if isinstance(container, dict) else container


@dataclass(frozen=True)
class TypeIs(Check):
    type: type

    def holds(self, value):
        return type(value) is self.type

    def __str__(self):
        return f"type is {self.type.__name__}"


@dataclass(frozen=True)
class ArrayOf(Check):
    shape: tuple
    dtype: np.dtype
    kind: type = np.ndarray          # the exact class: a memmap stays a memmap from call to call

    def holds(self, value):
        return type(value) is self.kind and value.shape == self.shape and value.dtype == self.dtype

    def __str__(self):
        return f"ndarray {self.dtype.name}{list(self.shape)}"


@dataclass(frozen=True)
class StridesAre(Check):
    """The array's memory layout: where NumPy's choice between a view and a copy (reshape,
    ravel) was read off it, an array laid out otherwise must re-trace."""
    strides: tuple

    def holds(self, value):
        return value.strides == self.strides

    def __str__(self):
        return f"strides {self.strides}"


@dataclass(frozen=True)
class NotIn(Check):
    """The key is absent from a mapping: a lookup failed there (a name missing from a module's
    globals, so the builtin of that name is what was read)."""
    key: object

    def holds(self, value):
        return self.key not in value

    def __str__(self):
        return f"has no key {self.key!r}"


@dataclass(frozen=True)
class Lacks(Check):
    """The object has no attribute `name`: reading it failed (`getattr(obj, name, default)`,
    `hasattr`, `try: obj.name`), so a call after it is set re-traces."""
    name: str

    def holds(self, value):
        return not hasattr(value, self.name)

    def __str__(self):
        return f"has no attribute {self.name!r}"


@dataclass(frozen=True)
class SourceGuard:
    source: Source
    check: Check

    def holds(self, fn, leaves):
        try:
            value = self.source.get(fn, leaves)
        except (AttributeError, KeyError, IndexError, TypeError):
            return False
        return self.check.holds(value)

    def __str__(self):
        return f"{self.source} {self.check}"


def _sorted_keys(d):
    try:
        return tuple(sorted(d))
    except TypeError:
        return tuple(d)


@dataclass(frozen=True)
class Keys(Source):
    """The keys of a dict: sorted when sortable (what a lookup depends on), or in insertion
    order (what code iterating over the dict sees)."""
    base: Source
    ordered: bool = False

    def get(self, fn, leaves):
        d = self.base.get(fn, leaves)
        return tuple(d) if self.ordered else _sorted_keys(d)

    @property
    def from_args(self):
        return self.base.from_args

    def __str__(self):
        return f"keys of {self.base}"


@dataclass(frozen=True)
class Length(Source):
    base: Source

    def get(self, fn, leaves):
        return len(self.base.get(fn, leaves))

    @property
    def from_args(self):
        return self.base.from_args

    def __str__(self):
        return f"len({self.base})"


@dataclass(frozen=True)
class ImportedModule(Source):
    """A module an `import` statement in traced code gives, found by its name."""
    module: str

    def get(self, fn, leaves):
        import sys
        return sys.modules[self.module]

    def __str__(self):
        return f"module {self.module}"


@dataclass(frozen=True)
class PrintOptions(Source):
    """NumPy's print options (np.set_printoptions, np.printoptions): the text of an array or
    a NumPy scalar depends on them as much as on its values."""

    def get(self, fn, leaves):
        return np.get_printoptions()

    def __str__(self):
        return "numpy print options"


@dataclass(frozen=True)
class ModuleGlobals(Source):
    """The globals dict of an imported module, found by its name."""
    module: str

    def get(self, fn, leaves):
        import sys
        return sys.modules[self.module].__dict__

    def __str__(self):
        return f"module {self.module}"
