"""Public entry points: jit, grad/jit_grad, value_and_grad, jvp, linearize, vjp, jacfwd,
jacrev/jacobian, hessian, hvp, make_trace.

Each returns (or uses) a `Transformed`: the user's function under one transformation from
`tracejit.transformations`. Called on data it traces the transformed function once per input
signature (and per value of its static arguments), compiles the trace and caches it, re-tracing
when a guard fails. Called inside a function that is itself being traced, it records into that
trace instead, which is how transformations nest (`grad(grad(f))`, `hessian`, `hvp`).
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from .backends.numba_backend import NumbaBackend
from .backends.numpy_exec import NumpyBackend
from . import transformations as T
from .errors import TracejitError, TracejitTypeError, TracejitValueError, UnsupportedError
from .frontend import trace_function
from .ir import verify
from .runtime import CompiledFunction
from .runtime.cache import DEFAULT_CACHE_LIMIT
from .transforms import cse, dce, inline_calls, prune_loops
from .transforms.tapes import merge_taped_loops
from .tree import flatten, unflatten_source
from .wrapper import FunctionWrapper

BACKENDS = {"numpy": NumpyBackend, "numba": NumbaBackend}
DEFAULT_BACKEND = "numba"


def _backend(name):
    try:
        return BACKENDS[name]()
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}") from None


def _call(ctx, fn, args, kwargs, fresh=False):
    return T.call_in_trace(ctx, fn, args, kwargs)


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


class Transformed(FunctionWrapper):
    """`fn` under a transformation `apply(ctx, fn, args, kwargs, fresh)`; see the module doc.
    Pickled, it carries the function and options, not its compiled traces (wrapper.py)."""

    def __init__(self, fn, apply, *, static_argnums=(), static_argnames=(), backend="numpy",
                 differentiates=True, cache_size=DEFAULT_CACHE_LIMIT):
        _backend(backend)                                   # reject unknown names early
        if not isinstance(cache_size, int) or cache_size < 1:
            raise TracejitValueError(f"cache_size must be a positive int, got {cache_size!r}")
        super().__init__(fn)
        self.cache_size = cache_size
        self.apply = apply
        self.differentiates = differentiates
        self.static_argnums = _as_tuple(static_argnums)
        self.static_argnames = _as_tuple(static_argnames)
        self.backend = backend
        self._compiled = {}                                 # static values -> CompiledFunction
        self._lock = threading.Lock()

    def __getstate__(self):
        state = super().__getstate__()
        del state["_compiled"], state["_lock"]
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._compiled, self._lock = {}, threading.Lock()

    def __call__(self, *args, **kwargs):
        ctx = T.tracing_context()
        if ctx is not None:
            return self.apply(ctx, T.read_fn(ctx, self, self.fn), args, kwargs, fresh=False)
        if self.static_argnums or self.static_argnames:
            key, statics, args, kwargs = self._split_static(args, kwargs)
        else:
            key, statics = (), ((), ())
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(key)
                if compiled is None:
                    compiled = self._compiled[key] = self._compile(statics)
        try:
            return compiled(*args, **kwargs)
        except TracejitError:
            self._refuse_complex(args, kwargs)
            raise

    def _refuse_complex(self, args, kwargs):
        """The frontend refuses complex inputs generally; say why when differentiating."""
        leaves = flatten((args, kwargs))[0]
        if self.differentiates and any(np.iscomplexobj(leaf) for leaf in leaves):
            from .runtime.explain import def_loc
            raise TracejitTypeError(f"{def_loc(self.fn)}: {T._name(self.fn)} was called with complex "
                                "inputs: tracejit differentiates real functions of float inputs "
                                "only (holomorphic=False); pass the real and imaginary parts as "
                                "two float arrays") from None

    def _split_static(self, args, kwargs):
        """Static arguments leave the traced call: they select a compiled function by value
        (their hash and equality) and are passed to the function as they are."""
        args, kwargs = list(args), dict(kwargs)
        by_position = tuple((i % len(args), args[i]) for i in self.static_argnums
                            if -len(args) <= i < len(args))
        by_name = tuple((k, kwargs.pop(k)) for k in self.static_argnames if k in kwargs)
        for i, _ in by_position:
            args[i] = None
        key = tuple((k, type(v), v) for k, v in by_position + by_name)
        try:
            hash(key)
        except TypeError:
            raise TracejitTypeError(f"static arguments of {T._name(self.fn)} must be hashable "
                                f"(got {[type(v).__name__ for _, v in by_position + by_name]})") from None
        return key, (by_position, by_name), args, kwargs

    def _compile(self, statics):
        entry = _Entry(self, *statics)

        def call(*args, **kwargs):
            return entry(*args, **kwargs)
        call.__name__ = getattr(self.fn, "__name__", "f")
        call.__qualname__ = getattr(self.fn, "__qualname__", call.__name__)
        call.__wrapped__ = self.fn          # argument names in messages come from fn's signature
        return CompiledFunction(call, entry.compile_transform, _backend(self.backend),
                                cache_limit=self.cache_size)

    def stats(self):
        """Counters and timings: calls, hits, traces and why, guard failures, time per phase
        (summed over the compiled functions of each set of static arguments)."""
        total = {}
        for compiled in self._compiled.values():
            for k, v in compiled.stats_dict().items():
                total[k] = _merge_stat(total.get(k), v)
        return total

    def explain(self):
        """A readable report: stats, then each cache entry's guards, generated code and trace."""
        from .runtime.explain import Report
        return Report("\n\n".join(compiled.explain() for compiled in self._compiled.values()))

    def traces(self):
        return [t for compiled in self._compiled.values() for t in compiled.traces()]

    def entries(self):
        """Every cache entry (trace, compiled program, guards, hit count)."""
        return [e for compiled in self._compiled.values()
                for bucket in compiled.entries.values() for e in bucket]


def _merge_stat(old, new):
    if old is None:
        return new
    if isinstance(new, dict):
        return {**old, **{k: _merge_stat(old.get(k), v) for k, v in new.items()}}
    if isinstance(new, list):
        return old + new
    if isinstance(new, str):
        return old if old == new else f"{old}, {new}"
    return old + new


_OUT = type("OUT", (), {"__repr__": lambda self: "OUT"})()        # a traced slot in a layout


class _Entry:
    """What a compiled transformation traces: the transformed call, static arguments put back.
    It returns the flat list of traced outputs; other output leaves (None, strings) are kept in
    `layout` and put back by the compiled function's `finish`."""

    def __init__(self, transformed, by_position, by_name):
        self.fn = transformed.fn
        self.transformed = transformed
        self.by_position, self.by_name = by_position, dict(by_name)
        self.layout = None

    def __call__(self, *args, **kwargs):
        ctx = T.tracing_context()
        args = list(args)
        for i, value in self.by_position:
            args[i] = value
        kwargs = {**kwargs, **self.by_name}
        result = self.transformed.apply(ctx, T.read_fn(ctx, self, self.fn), args, kwargs,
                                        fresh=True)
        leaves, tree = flatten(result)
        self.layout = (tree, [_OUT if _is_output(leaf) else leaf for leaf in leaves])
        return [leaf for leaf in leaves if _is_output(leaf)]

    def compile_transform(self, result, args, kwargs):
        tree, template = self.layout          # set by the trace just made (under the cache lock)
        # a loop the adjoint reruns with a tape records it in the primal run instead
        trace = verify(prune_loops(inline_calls(merge_taped_loops(cse(dce(result.trace))))))
        return trace, _compile_finish(tree, template, result.out_types,
                                      [atom.aval for atom in trace.outputs])


def _compile_finish(tree, template, out_types, out_avals):
    """`finish(outputs, leaves)`, generated: the user-visible result from the flat list of
    traced outputs, the layout's other leaves put back as they were. A 0-d output comes back
    as the type the plain call returns: a Python scalar, a NumPy scalar or a 0-d array."""
    env = {"python_value": _python_value, "asarray": np.asarray}

    def constant(value):
        env[f"K{len(env)}"] = value
        return f"K{len(env) - 1}"
    slots = iter(range(len(out_types)))
    exprs = []
    for leaf in template:
        if leaf is _OUT:
            k = next(slots)
            exprs.append(_output_expr(f"o[{k}]", out_types[k], out_avals[k], constant))
        else:
            exprs.append(constant(leaf))
    source = f"def finish(o, leaves):\n    return {unflatten_source(tree, exprs, constant)}\n"
    exec(source, env)
    return env["finish"]


def _output_expr(slot, kind, aval, constant):
    if kind in (float, int, bool, complex):
        return f"python_value({slot})"
    if aval.ndim != 0:
        return slot
    if kind is np.ndarray:
        return f"asarray({slot})"
    return f"{constant(kind)}({slot})" if issubclass(kind, np.generic) else slot


def _is_output(leaf):
    return not (leaf is None or isinstance(leaf, str))


def _python_value(value):
    """A weak output stands for a Python scalar (e.g. the gradient of a Python float)."""
    return np.asarray(value).item()


def _decorator(make):
    """Let `make(fn, **options)` be used as `@make`, `@make(**options)` and `make(fn, ...)`."""
    @functools.wraps(make)
    def wrapper(fn=None, **options):
        if fn is None:
            return lambda f: wrapper(f, **options)
        return make(fn, **options)
    return wrapper


def _argnums(argnums):
    """`argnums` as JAX takes it: an int, or a tuple or list of ints (a tuple then)."""
    if isinstance(argnums, (tuple, list)):
        if all(isinstance(i, int) and not isinstance(i, bool) for i in argnums):
            return tuple(argnums)
    elif isinstance(argnums, int) and not isinstance(argnums, bool):
        return argnums
    raise TracejitTypeError(f"argnums must be an int or a tuple/list of ints, got {argnums!r}")


def _no_holomorphic(holomorphic):
    if holomorphic:
        raise UnsupportedError("holomorphic=True is not supported: tracejit differentiates real "
                            "functions of real (float) inputs")


# ---- compilation and gradients -----------------------------------------------------------------
@_decorator
def jit(fn, *, static_argnums=(), static_argnames=(), backend=DEFAULT_BACKEND,
        cache_size=DEFAULT_CACHE_LIMIT):
    """Compile `fn` (the primal alone): traced once per signature, guarded, re-traced as needed;
    at most `cache_size` traces are kept per set of static arguments (the oldest go first)."""
    return Transformed(fn, _call, static_argnums=static_argnums, static_argnames=static_argnames,
                       backend=backend, differentiates=False, cache_size=cache_size)


def _grad_like(fn, with_value, argnums, has_aux, static_argnums, static_argnames, holomorphic,
               backend, cache_size):
    _no_holomorphic(holomorphic)
    apply = functools.partial(T.grad_apply, argnums=_argnums(argnums), has_aux=has_aux,
                              with_value=with_value)
    return Transformed(fn, apply, static_argnums=static_argnums, static_argnames=static_argnames,
                       backend=backend, cache_size=cache_size)


@_decorator
def jit_grad(fn, *, argnums=0, has_aux=False, static_argnums=(), static_argnames=(),
             holomorphic=False, backend=DEFAULT_BACKEND, cache_size=DEFAULT_CACHE_LIMIT):
    """The gradient of scalar `fn` with respect to positional argument(s) `argnums`, compiled.
    With has_aux=True, `fn` returns (value, aux) and the result is (gradient, aux)."""
    return _grad_like(fn, False, argnums, has_aux, static_argnums, static_argnames, holomorphic,
                      backend, cache_size)


grad = jit_grad


@_decorator
def value_and_grad(fn, *, argnums=0, has_aux=False, static_argnums=(), static_argnames=(),
                   holomorphic=False, backend=DEFAULT_BACKEND, cache_size=DEFAULT_CACHE_LIMIT):
    """`(fn(*args), gradient)` in one compiled call ((value, aux), gradient with has_aux)."""
    return _grad_like(fn, True, argnums, has_aux, static_argnums, static_argnames, holomorphic,
                      backend, cache_size)


@_decorator
def elementwise_grad(fn, *, argnums=0, backend=DEFAULT_BACKEND, cache_size=DEFAULT_CACHE_LIMIT):
    """autograd's `elementwise_grad`: the gradient of the sum of `fn`'s outputs, in one reverse
    pass. For a function acting elementwise it is the derivative at each element (the
    Jacobian's diagonal); in general each column of the Jacobian summed."""
    apply = functools.partial(T.grad_apply, argnums=_argnums(argnums), has_aux=False,
                              with_value=False, summed=True)
    return Transformed(fn, apply, backend=backend, cache_size=cache_size)


@_decorator
def jacfwd(fn, *, argnums=0, has_aux=False, static_argnums=(), static_argnames=(),
           holomorphic=False, backend=DEFAULT_BACKEND):
    """The Jacobian of `fn` by forward mode (one tangent sweep per input element); each output
    leaf's block has shape output.shape + input.shape."""
    _no_holomorphic(holomorphic)
    return Transformed(fn, functools.partial(T.jacfwd_apply, argnums=_argnums(argnums),
                                             has_aux=has_aux),
                       static_argnums=static_argnums, static_argnames=static_argnames,
                       backend=backend)


@_decorator
def jacrev(fn, *, argnums=0, has_aux=False, static_argnums=(), static_argnames=(),
           holomorphic=False, backend=DEFAULT_BACKEND):
    """The Jacobian of `fn` by reverse mode (one adjoint sweep per output element, one primal)."""
    _no_holomorphic(holomorphic)
    return Transformed(fn, functools.partial(T.jacrev_apply, argnums=_argnums(argnums),
                                             has_aux=has_aux),
                       static_argnums=static_argnums, static_argnames=static_argnames,
                       backend=backend)


jacobian = jacrev


@_decorator
def hessian(fn, *, argnums=0, has_aux=False, static_argnums=(), static_argnames=(),
            holomorphic=False, backend=DEFAULT_BACKEND):
    """The Hessian of scalar `fn`: forward over reverse, `jacfwd(jacrev(fn))`."""
    _no_holomorphic(holomorphic)
    argnums = _argnums(argnums)
    return Transformed(jacrev(fn, argnums=argnums, has_aux=has_aux),
                       functools.partial(T.jacfwd_apply, argnums=argnums, has_aux=has_aux),
                       static_argnums=static_argnums, static_argnames=static_argnames,
                       backend=backend)


def _hvp_apply(ctx, fn, args, kwargs, fresh=False):
    x, v = args
    return T.jvp_apply(ctx, jit_grad(fn), ((x,), (v,)), kwargs, has_aux=False, fresh=fresh)[1]


def hvp(fn=None, primals=None, tangents=None, *, backend=DEFAULT_BACKEND):
    """`hvp(f)(x, v)`: the Hessian of scalar `f` at `x` times `v` (forward over reverse),
    without forming the Hessian. Also called as JAX's documentation writes it,
    `hvp(f, (x,), (v,))`, which returns the product."""
    if fn is None:
        return lambda f: hvp(f, backend=backend)
    product = _cached(fn, "hvp", _hvp_apply, backend=backend)
    if primals is None:
        return product
    (x,), (v,) = primals, tangents
    return product(x, v)


# ---- jvp and vjp: JAX's calling conventions ------------------------------------------------------
@functools.lru_cache(maxsize=256)
def _transformed_for(fn, kind, apply, options):
    options = dict(options)
    backend = options.pop("backend")
    return Transformed(fn, functools.partial(apply, **options), backend=backend)


def _cached(fn, kind, apply, **options):
    """One Transformed per (function, transformation, options), so that repeated `jvp`/`vjp`
    calls on the same function reuse its traces. A bounded cache: it keeps the most recent
    functions alive, not all of them."""
    key = tuple(sorted(options.items()))
    try:
        return _transformed_for(fn, kind, apply, key)
    except TypeError:                                       # an unhashable callable
        return _transformed_for.__wrapped__(fn, kind, apply, key)


def jvp(fn, primals, tangents, *, has_aux=False, backend=DEFAULT_BACKEND):
    """Forward mode: `(fn(*primals), d fn(primals) . tangents)` (and aux with has_aux=True)."""
    return _cached(fn, "jvp", T.jvp_apply, has_aux=has_aux, backend=backend)(
        tuple(primals), tuple(tangents))


def linearize(fn, *primals, has_aux=False, backend=DEFAULT_BACKEND):
    """JAX's `linearize`: `(fn(*primals), f_jvp)` where `f_jvp(*tangents)` is the derivative of
    `fn` at `primals` applied to `tangents` (`(out, f_jvp, aux)` with has_aux). `f_jvp` is the
    compiled forward mode, which recomputes the primal inside its trace."""
    out = _cached(fn, "jit", _call, backend=backend)(*primals)

    def f_jvp(*tangents):
        return jvp(fn, primals, tangents, has_aux=has_aux, backend=backend)[1]
    if has_aux:
        value, aux = T.split_aux(out, True, fn)
        return value, f_jvp, aux
    return out, f_jvp


def vjp(fn, *primals, has_aux=False, backend=DEFAULT_BACKEND):
    """Reverse mode: `(fn(*primals), vjp_fn)` where `vjp_fn(cotangent)` returns one cotangent
    per primal (a tuple). With has_aux=True: `(output, vjp_fn, aux)`. `vjp_fn` is compiled once
    per signature and recomputes the primal inside its trace."""
    out = _cached(fn, "jit", _call, backend=backend)(*primals)
    pullback = _cached(fn, "pullback", T.pullback_apply, has_aux=has_aux, backend=backend)

    def vjp_fn(cotangent):
        return pullback(primals, cotangent)
    if has_aux:
        value, aux = T.split_aux(out, True, fn)
        return value, vjp_fn, aux
    return out, vjp_fn


# ---- inspection --------------------------------------------------------------------------------
def make_trace(fn):
    """`make_trace(f)(*args)` returns the trace of `f` on those arguments (like make_jaxpr);
    `f` may be a transformed function (`make_trace(grad(f))`)."""
    @functools.wraps(fn)
    def traced(*args, **kwargs):
        return verify(trace_function(_traceable(fn), args, kwargs).trace)
    return traced


def _traceable(fn):
    """`fn` itself, or for a transformed function the entry its compiled form traces."""
    if not isinstance(fn, Transformed):
        return fn
    entry = _Entry(fn, (), ())

    def target(*args, **kwargs):
        return entry(*args, **kwargs)
    target.__name__ = getattr(fn, "__name__", "f")
    return target
