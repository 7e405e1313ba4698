"""Random draws inside a traced function: trace inputs drawn at call time.

A draw from a NumPy generator — NumPy's global RandomState (`np.random.normal(size=3)`,
`np.random.rand(2)`) or a `Generator`/`RandomState` the function reads from its arguments or
from outside (`rng.standard_normal(3)`) — or from Python's `random` module (its global
generator, or a `random.Random` from outside) is not frozen into the trace. Python's generator
draws in two C methods, `random()` and `getrandbits(k)`; `uniform`, `normalvariate`,
`expovariate`, `triangular` ... are Python code on top of them, which the tracer runs (so
their parameters may be traced values); `gauss` (which keeps a second value on the generator)
and the integer draws `randrange`, `randint`, `choice` are drawn whole. It becomes a trace input
whose source, a `Draw`, calls the same method of the same generator with the same arguments
every time the entry runs: after the entry's guards passed, before its kernel, in the order of
the trace's inputs, which is the order the function drew in. The stream of numbers is therefore
plain Python's, call after call, and gradients treat the draws as constants.

Two things would draw twice for one call: a run that side-exits (a data guard failed after the
inputs were drawn) and is served by another entry or a new trace, and a new trace, whose tracer
drew while tracing, followed by the run of its entry. So the state of every generator before a
call's first draw is kept (per thread) and `rewind` puts it back before the call is served again.
Keeping it costs little for a `Generator` (4 us) but 120 us for NumPy's global RandomState
(MT19937's 624 words), so an entry whose trace cannot side-exit (no data guard) does not keep it.
"""
from __future__ import annotations

import random
import threading
import types
from dataclasses import dataclass

import numpy as np

from ..ir import Aval
from ..ops.core import Tracer
from .context import check_array_dtype
from .sources import Source

GENERATORS = (np.random.Generator, np.random.RandomState, random.Random)
# the generators a function may draw from without reading them through a source
GLOBAL_GENERATORS = (np.random.mtrand._rand, random._inst)
# methods of a generator that are no draws: they set or read its state, or shuffle an argument
NOT_DRAWS = frozenset({"seed", "set_state", "get_state", "shuffle", "spawn", "jumped", "bytes",
                       "getstate", "setstate", "__getstate__", "__setstate__", "__reduce__"})


class _Log(threading.local):
    def __init__(self):
        self.states = {}                   # id(generator) -> (generator, state before drawing)


_log = _Log()


def _state(generator):
    if isinstance(generator, random.Random):
        return generator.getstate()
    if isinstance(generator, np.random.RandomState):
        return generator.get_state()
    return generator.bit_generator.state


def _set_state(generator, state):
    if isinstance(generator, random.Random):
        generator.setstate(state)
    elif isinstance(generator, np.random.RandomState):
        generator.set_state(state)
    else:
        generator.bit_generator.state = state


def _remember(generator, first):
    """Keep `generator`'s state before this call's first draw from it (`first`: a call begins)."""
    states = _log.states
    if first:
        states.clear()
    if id(generator) not in states:
        states[id(generator)] = (generator, _state(generator))


def rewind():
    """Put the generators the last call (or trace) drew from back as they were before it."""
    for generator, state in _log.states.values():
        _set_state(generator, state)
    _log.states.clear()


# Python-level methods of random.Random drawn as a whole: gauss keeps its second value on the
# generator (`gauss_next`), a change compiled calls could not repeat; the integer draws reject
# and redraw (a trace per number of redraws) and their results are mostly used as indices
_WHOLE_PYTHON_DRAWS = frozenset({"gauss", "randrange", "randint", "choice"})


def is_draw(fn):
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", "")
    if isinstance(owner, random.Random) and not isinstance(fn, types.BuiltinMethodType) and \
            name not in _WHOLE_PYTHON_DRAWS:
        return False                     # Python code drawing through random()/getrandbits()
    return isinstance(owner, GENERATORS) and name not in NOT_DRAWS


@dataclass(eq=False)
class Draw(Source):
    """A trace input drawn at call time: `method(*args, **kwargs)` of the generator found at
    `owner` (or `held`, NumPy's global RandomState, which no source reaches)."""
    owner: Source | None
    held: object
    method: str
    args: tuple
    kwargs: dict
    first: bool                              # the trace's first draw: a new call begins
    rewinds: bool = True                     # its entry may side-exit: keep the state

    def get(self, fn, leaves):
        generator = self.held if self.owner is None else self.owner.get(fn, leaves)
        if self.rewinds:
            _remember(generator, self.first)
        return getattr(generator, self.method)(*self.args, **self.kwargs)

    def __str__(self):
        held = "random" if isinstance(self.held, random.Random) else "numpy.random"
        return f"{self.owner or held}.{self.method}(...)"


def has_draws(sources):
    return any(isinstance(s, Draw) for s in sources)


def rewinds(sources):
    """Whether some draws among `sources` keep their generators' states (`keep_states`)."""
    return any(isinstance(s, Draw) and s.rewinds for s in sources)


def keep_states(sources, needed):
    """Whether the draws among `sources` keep their generators' states for `rewind`."""
    for source in sources:
        if isinstance(source, Draw):
            source.rewinds = needed


def draw(ctx, fn, args, kwargs):
    """`fn(*args, **kwargs)`, a draw (`is_draw`), as a trace input drawn again at every call."""
    generator, name = fn.__self__, fn.__name__
    owner = ctx.source_of(generator)
    if owner is None and not any(generator is g for g in GLOBAL_GENERATORS):
        raise ctx.unsupported(
            f"{name}() of a random generator made inside the traced function: compiled calls "
            "could not draw from it again", "Make the generator outside the function (a global "
            "or an argument) and draw from it inside.")
    if kwargs.get("out") is not None:
        raise ctx.unsupported(f"{name}(out=...): a draw written into an array",
                              "Use the returned array: eps = rng.standard_normal(shape).")
    args, kwargs = _constant(ctx, name, args), {k: _constant(ctx, name, v) for k, v in kwargs.items()}
    first = not has_draws(s for s, _ in ctx.sourced_inputs)
    _remember(generator, first)
    value = fn(*args, **kwargs)
    source = Draw(owner, generator if owner is None else None, name, args, kwargs, first)
    tracer = ctx.builder.new_input(_aval(ctx, name, value), value)
    ctx.sourced_inputs.append((source, tracer.atom))
    return tracer


def _constant(ctx, name, value):
    """A draw's argument as a plain value: its parameters are fixed by the trace."""
    if isinstance(value, (tuple, list)):
        return type(value)(_constant(ctx, name, v) for v in value)
    if not isinstance(value, Tracer):
        return value
    if value.is_constant:
        return value.val
    raise ctx.unsupported(
        f"{name}() with a parameter computed from traced values",
        "Draw with constant parameters and transform the draw, e.g. "
        "mu + sigma * rng.standard_normal(shape): the gradient then flows through mu and sigma.")


def _aval(ctx, name, value):
    if type(value) is float:
        return Aval((), np.dtype(np.float64), weak=True)
    if type(value) is int:
        return Aval((), np.dtype(np.int64), weak=True)
    if isinstance(value, (np.ndarray, np.generic)):
        check_array_dtype(value, f"the result of {name}()", ctx.loc)
        return Aval(np.shape(value), value.dtype)
    raise ctx.unsupported(f"{name}() returning a {type(value).__name__}",
                          "Draw arrays or numbers (e.g. indices rather than the items).")
