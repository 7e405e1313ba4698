"""NumPy's aliasing for traced arrays: storages, views, and writes through either.

Functionalization, as PyTorch does it (FunctionalStorageImpl / ViewMeta). A traced array that
has been viewed or written owns a `Storage`: its `root` tracer holds the buffer's current value
(an SSA var; a write rebinds it to a new one) and its `version` counts the writes. A `View` is an
array read from its storage's root through a chain of `ViewStep`s; each step knows how to read
its output from its source (primitives), how to write a new output back into the source (the
step's inverse, as slice updates, reshapes, transposes), and how NumPy itself takes that view of
a concrete array (to ask NumPy whether an operation gives a view, and to reproduce layouts).

A write through any alias rebinds the root and bumps the version; every other view is then
stale, and re-derives itself from the root when next read. That refresh happens in one place,
the view's `atom` property, which every read goes through (`bind`, and the frontend's `.val`).
Reading a view that is up to date costs one comparison and adds no op; plain tracers pay nothing.
"""
from __future__ import annotations

import numpy as np

from .core import Tracer

# the slots of a plain tracer, which View's properties wrap
_ATOM = Tracer.atom
_VAL = Tracer.val
_get_atom, _set_atom, _get_val, _set_val = _ATOM.__get__, _ATOM.__set__, _VAL.__get__, _VAL.__set__


class Storage:
    """The buffer shared by an array and its views. `layout`: a concrete boolean array with the
    buffer's shape and strides, on which NumPy's own view operations are replayed."""
    __slots__ = ("root", "version", "layout")

    def __init__(self, root: Tracer, order="K"):
        self.root = root
        self.version = 0
        self.layout = _layout(root, order)
        root.storage = self


def _layout(t: Tracer, order="K"):
    value = t.val
    return np.empty_like(value, dtype=np.bool_, order=order) \
        if isinstance(value, np.ndarray) else np.empty(t.shape, np.bool_)


def storage_of(t: Tracer) -> Storage:
    return t.storage if t.storage is not None else Storage(t)


class ViewStep:
    """One step from a source array to a view of it; subclasses define the three methods."""
    __slots__ = ()

    def read(self, source: Tracer) -> Tracer:
        """The view's value, made of primitives."""
        raise NotImplementedError

    def write(self, source: Tracer, new: Tracer) -> Tracer:
        """The source's value after `new` was written into the view (the step's inverse); None
        for a read-only view."""
        raise NotImplementedError

    def numpy(self, array: np.ndarray) -> np.ndarray:
        """NumPy's own view of a concrete array of the source's shape and strides."""
        raise NotImplementedError


class View(Tracer):
    """A traced array that shares its storage with others: it re-derives itself from the
    storage's root when a write made it stale."""
    __slots__ = ("steps", "seen", "readonly")

    def __init__(self, value: Tracer, storage: Storage, steps: tuple, readonly: bool):
        builder = value.builder
        _set_atom(self, value.atom)             # `value` may be a view: brought up to date
        _set_val(self, value.val)
        self.builder, self.storage, self.steps, self.readonly = builder, storage, steps, readonly
        self.seen = storage.version
        if builder.alive is not None:
            builder.alive.add(self)

    def _refresh(self):
        value = self.storage.root
        for step in self.steps:
            value = step.read(value)
        self._hold(value)

    def _hold(self, value):
        _set_atom(self, value.atom)
        _set_val(self, value.val)
        self.seen = self.storage.version

    def _atom(self):
        if self.seen != self.storage.version:
            self._refresh()
        return _get_atom(self)

    def _val(self):
        if self.seen != self.storage.version:
            self._refresh()
        return _get_val(self)

    atom = property(_atom, _ATOM.__set__)
    val = property(_val, _VAL.__set__)
    # shape and dtype never change: asking for them must not re-derive the view
    aval = property(lambda self: _get_atom(self).aval)
    shape = property(lambda self: _get_atom(self).aval.shape)
    dtype = property(lambda self: _get_atom(self).aval.dtype)
    ndim = property(lambda self: _get_atom(self).aval.ndim)
    size = property(lambda self: _get_atom(self).aval.size)

    def held_atom(self):
        return _get_atom(self) if self.seen == self.storage.version else None

    def rebind(self, other):
        raise AssertionError("a view is written through alias.write, never rebound")


def make_view(source: Tracer, step: ViewStep, readonly=False) -> View:
    """The view `step` takes of `source`, sharing its storage."""
    if is_scalar(source):
        # NumPy views a new 0-d array made from the scalar, which nothing else can reach (a 0-d
        # result is a scalar again): a new value, unless read-only
        source = Tracer(source.builder, source.atom, source.val)
        if not readonly:
            value = step.read(source)
            return Tracer(value.builder, value.atom, value.val)
    value = step.read(source)
    if isinstance(source, View):
        return View(value, source.storage, source.steps + (step,), readonly or source.readonly)
    return View(value, storage_of(source), (step,), readonly)


def shadow(t: Tracer) -> np.ndarray:
    """NumPy's version of `t`'s memory: a boolean array of its shape and strides in its storage."""
    if not isinstance(t, View):
        return t.storage.layout if t.storage is not None else _layout(t)
    array = t.storage.layout
    for step in t.steps:
        array = step.numpy(array)
    return array


def would_view(t: Tracer, numpy_op) -> bool:
    """Whether NumPy's `numpy_op` returns a view of an array laid out as `t` is (reshape and
    ravel copy when the strides do not allow a view)."""
    t.builder.layout_read = True
    source = shadow(t)
    return np.may_share_memory(numpy_op(source), source)


def is_scalar(t: Tracer) -> bool:
    """Whether NumPy would hold this 0-d value as an immutable scalar (what indexing, reductions
    and arithmetic give), not as a 0-d array (a view, a copy, a created or written array)."""
    return t.ndim == 0 and t.storage is None and not (t.is_constant and
                                                      isinstance(t.val, np.ndarray))


def is_readonly(t: Tracer) -> bool:
    return isinstance(t, View) and t.readonly


def write(target: Tracer, new: Tracer):
    """`target` now holds `new` (same shape and dtype), as NumPy's in-place write would leave it:
    the root of its storage takes the new buffer value, and every other alias goes stale."""
    target.builder.wrote = True
    if not isinstance(target, View):
        storage = storage_of(target)    # before the write: NumPy writes keep the layout
        target.rebind(new)
        storage.version += 1
        return
    storage = target.storage
    sources = [storage.root]
    for step in target.steps[:-1]:
        sources.append(step.read(sources[-1]))
    value = new
    for step, source in zip(reversed(target.steps), reversed(sources)):
        value = step.write(source, value)
    storage.root.rebind(value)
    storage.version += 1
    target._hold(new)
