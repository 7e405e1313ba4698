"""How the tracer performs a call: one lookaside table, then inlining, then native execution.

0. A question about a traced value (`isinstance`, `type`, `hasattr`, `str`, `hash`, ...) is
   answered by the one door for Python values (`pyvalues.py`); a draw from a NumPy random
   generator becomes a trace input drawn at call time (`draws.py`); any other call whose result
   changes from call to call (`IMPURE`: clocks, reseeding) is refused, as it would be
   frozen. A protocol builtin given an object of a user class (`len(obj)`, `float(obj)`) calls
   its Python special method (`protocols.py`).
1. A callable tracejit re-implements (NumPy functions; `float`, `int`, `math.*` in `pymath.py`)
   runs that implementation, which records primitives.
2. A Python function (or method, or class with a Python `__init__`) is inlined: its bytecode runs
   in a new interpreter frame, so branches and loops inside it are traced too.
3. Anything else runs natively on concrete values. What it reads of containers that live
   outside the trace is read through their sources first (`TraceContext.contents`), and Python
   functions it calls back run under the tracer. If a traced value would flow into it, the call
   is refused with the callee's name and the user's line, unless the callee only moves objects
   around or applies their operators (`len`, `zip`, `functools.reduce`, `operator.add`), in
   which case the traced values' own operators record whatever it does.
"""
from __future__ import annotations

import collections
import inspect
import io
import logging
import bisect
import functools
import heapq
import itertools
import operator
import types

from ..numpy._registry import IMPLEMENTATIONS, map_traced
from ..scipy import is_scipy_callable, load as load_scipy_shims
from ..numpy._ufunc_methods import lookup as ufunc_method
from ..ops import shape as sh
from ..ops.core import Tracer, as_numpy_scalar, concretize_int, python_type
from ..wrapper import FunctionWrapper
from .context import is_trusted
from .draws import draw, is_draw
from .printing import trace_print
from . import protocols, pylib
from .frame import Frame, Return, catchable, run_frame
from .pymath import LOOKASIDE
from .pyvalues import door, is_str_format, traced_among
from .sources import Attr, Equals, Is, Item, Keys, _sorted_keys as _keys

CO_GENERATOR = inspect.CO_GENERATOR



# natives that only move objects around, or apply the traced values' own operators (which
# record what they do): traced values may pass through them
_OPERATOR_FUNCTIONS = ("abs", "add", "and_", "concat", "contains", "countOf", "eq", "floordiv",
                       "ge", "getitem", "gt", "index", "indexOf", "inv", "invert", "is_",
                       "is_not", "le", "lshift", "lt", "matmul", "mod", "mul", "ne", "neg",
                       "not_", "or_", "pos", "pow", "rshift", "sub", "truediv", "truth", "xor")
_ITERTOOLS = ("accumulate", "chain", "combinations", "combinations_with_replacement", "compress",
              "count", "cycle", "dropwhile", "filterfalse", "groupby", "islice", "pairwise",
              "permutations", "product", "repeat", "starmap", "takewhile", "tee", "zip_longest")
SAFE_NATIVE = {id(f) for f in (
    len, zip, enumerate, list, tuple, dict, set, frozenset, sorted, reversed, iter, next,
    tuple.__new__,                                       # a namedtuple's __new__ calls it
    type.__new__,                  # a metaclass's __new__ calls it: the namespace is stored
    collections.OrderedDict, collections.defaultdict, collections.deque,
    getattr, min, max, sum, abs, all, any, map, filter, id, divmod, pow, round, range, slice,
    functools.reduce, functools.partial, functools.cmp_to_key,
    *(getattr(operator, name) for name in _OPERATOR_FUNCTIONS),
    *(getattr(itertools, name) for name in _ITERTOOLS if hasattr(itertools, name)),
    # only compare items with `<`: the traced values' comparisons guard their outcomes
    bisect.bisect_left, bisect.bisect_right, heapq.heappush, heapq.heappop, heapq.heapify,
    heapq.heapreplace, heapq.heappushpop, *(getattr(heapq, name) for name in (
        "_heapify_max", "_heappop_max", "_heapreplace_max") if hasattr(heapq, name)))}
# callable objects of those modules that only look items or attributes up
_SAFE_CALLABLE_TYPES = (operator.itemgetter, operator.attrgetter, operator.methodcaller)
_CONTAINERS = (list, dict, set, tuple)
# where the natives above call back: the position of the callback among positional arguments
# (any callable there runs under the tracer: `map(float, xs)` as `map(lambda v: float(v), xs)`)
_CALLBACK_AT = {id(map): 0, id(filter): 0, id(functools.reduce): 0, id(functools.cmp_to_key): 0,
                id(itertools.starmap): 0, id(itertools.filterfalse): 0,
                id(itertools.takewhile): 0, id(itertools.dropwhile): 0,
                id(itertools.accumulate): 1, id(itertools.groupby): 1}
_CALLBACK_KEYWORDS = ("key", "func")
_MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault",
             "add", "discard", "sort", "reverse", "popitem", "__setitem__", "__delitem__"}


# callables that look at an object itself (its identity, type, attributes), not at the items
# of a container: given the container, not a copy of its contents
_ABOUT_THE_OBJECT = {id(f) for f in (isinstance, issubclass, type, id, callable, hasattr, getattr,
                                     setattr, delattr, vars, super, globals)}


def _interpreted(fn):
    """Whether `call` runs `fn`'s bytecode in the tracer (which reads outside containers
    through their sources item by item) rather than natively."""
    if isinstance(fn, types.MethodType):
        return True
    if isinstance(fn, (types.FunctionType, type)):
        return not is_trusted(fn)
    call_method = getattr(type(fn), "__call__", None)
    return isinstance(call_method, types.FunctionType) and not is_trusted(type(fn))


# functions that read the interpreter's own state, which the tracer keeps (sys.exc_info):
# id -> fn(ctx, *args, **kwargs)
INTERPRETER_STATE: dict = {}


def call(frame: Frame, fn, args, kwargs):
    ctx = frame.ctx
    state = INTERPRETER_STATE.get(id(fn))
    if state is not None:
        return state(ctx, *args, **kwargs)
    if builds_class(ctx, fn, args):
        return made_class(ctx, fn(*args, **kwargs))
    special = protocols.builtin(runner(frame), fn, args, kwargs)
    if special is not None:           # len(obj), float(obj) ... of a user class: its method
        return special[0]
    if id(fn) in _ABOUT_THE_OBJECT or _interpreted(fn):
        return _call(frame, fn, args, kwargs)
    if is_str_format(fn):          # "{:.2f}".format(obj): a user object's text, traced
        run = runner(frame)
        args = [protocols.for_text(run, a) for a in args]
        kwargs = {k: protocols.for_text(run, v) for k, v in kwargs.items()}
    copies = []
    args, kwargs = ctx.contents(args, copies), ctx.contents(kwargs, copies)
    args = _user_iterables_listed(frame, fn, args)
    polyfill = _POLYFILLS.get(id(fn))
    if polyfill is not None and _holds_user_objects(args):
        return inline(ctx, polyfill, args, kwargs)
    result = _call(frame, fn, args, kwargs)
    ctx.check_unchanged(copies, f"{_describe(fn)}()")
    return result


# The standard library's class factories (`dataclass`, NamedTuple's and Enum's metaclasses)
# build a class's methods with `exec` and set attributes on what `exec` made, which the tracer
# would take for objects from outside. Applied to a class the function made (or to the
# namespace of one it is making), holding no traced value, they only read its names, types and
# constants: they run natively, and the class they return is the function's own.
CLASS_FACTORY_MODULES = frozenset({"dataclasses", "typing", "enum"})


def builds_class(ctx, fn, args):
    if getattr(fn, "__module__", None) not in CLASS_FACTORY_MODULES or not args:
        return False
    made = args[0]
    if isinstance(made, type) and id(made) in ctx.created:
        return not _holds_tracer(list(vars(made).values()))
    return isinstance(fn, type) and len(args) == 3 and id(args[2]) in ctx.created and \
        not _holds_tracer(list(args[2].values()))         # a metaclass given a new namespace


def made_class(ctx, cls):
    if isinstance(cls, type):
        ctx.created.add(id(cls))
    return cls


# builtins that add or compare their items: interpreted Python versions when the items are
# objects of user classes, whose __add__ / __lt__ then run under the tracer
_POLYFILLS = {id(sum): pylib.sum_, id(min): pylib.min_, id(max): pylib.max_,
              id(sorted): pylib.sorted_}
# builtins that iterate over some of their positional arguments: the first one, or from `zip`
# (all) and `map` (all but the function) on; `min`/`max` only when given one argument
_ITERATE_FIRST = {id(f) for f in (list, tuple, set, frozenset, dict, sum, sorted, any, all,
                                  enumerate)}


def _iterated_positions(fn, args):
    if id(fn) in _ITERATE_FIRST or (fn in (min, max) and len(args) == 1):
        return range(min(len(args), 1))
    if fn is zip or fn is map or fn is filter:
        return range(0 if fn is zip else 1, len(args))
    return range(len(args)) if id(fn) in IMPLEMENTATIONS else range(0)


def _holds_user_objects(args):
    items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    return any(protocols.is_user_object(item) for item in items)


def _user_iterables_listed(frame, fn, args):
    """Objects of user classes that a builtin iterates over (or NumPy reads as a sequence),
    replaced by the list of their items, iterated under the tracer (their `__iter__` and
    `__next__`, or `__len__` and `__getitem__`, are Python code)."""
    positions = _iterated_positions(fn, args)
    if not positions:
        return args
    numpy_fn = id(fn) in IMPLEMENTATIONS
    run = runner(frame)

    def listed(value):
        if numpy_fn and type(value) in (list, tuple):
            items = [listed(v) for v in value]
            return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
        if not protocols.is_user_object(value):
            return value
        items = protocols.mapping_items(run, value) if fn is dict else None  # dict(mapping)
        if items is None:
            items = (protocols.sequence_items if numpy_fn else protocols.iterated)(run, value)
        return value if items is None else (
            [listed(v) for v in items] if numpy_fn else items)
    return tuple(listed(a) if i in positions else a for i, a in enumerate(args))


def runner(frame):
    """`run(fn, args)`: a call under the tracer from `frame` (for `protocols`)."""
    return lambda fn, args: call(frame, fn, args, {})


def _call(frame: Frame, fn, args, kwargs):
    ctx = frame.ctx
    answer = door(fn, args, kwargs)
    if answer is not None:
        return answer(*args, **kwargs)
    impl = LOOKASIDE.get(id(fn)) if traced_among(args, kwargs) else None
    if impl is not None or _is_ours(fn):
        return (impl or fn)(*args, **kwargs)
    impl = IMPLEMENTATIONS.get(id(fn)) or ufunc_method(fn)
    if impl is None and is_scipy_callable(fn) and load_scipy_shims():
        impl = IMPLEMENTATIONS.get(id(fn)) or ufunc_method(fn)
    if impl is not None:
        return numpy_result(impl(*args, **kwargs))
    if fn is super and not args:
        return _zero_arg_super(frame)
    if getattr(fn, "__name__", None) == "__new__" and args and isinstance(args[0], type) \
            and not isinstance(fn, types.FunctionType):
        obj = call_native(ctx, fn, args, kwargs)     # `super().__new__(cls)` in a user __new__:
        ctx.created.add(id(obj))                     # a new object, the trace's to change
        return obj
    if fn is print:
        return trace_print(ctx, args, kwargs)
    effect = _side_effect(fn)
    if effect is not None:
        raise ctx.unsupported(
            f"{effect} inside a traced function would run once, while tracing, and never on "
            "compiled calls", "Move it out of the function (return the values it needs), or call "
            "the original Python function (`compiled.__wrapped__`) to debug.")
    if is_draw(fn):
        return draw(ctx, fn, args, kwargs)
    impure = _impurity(fn)
    if impure is not None:
        raise ctx.unsupported(
            f"{_describe(fn)}() {impure} inside a traced function: it would run once, while "
            "tracing, and its result would be frozen into the compiled code",
            "Call it outside the function and pass the value in as an argument.")
    if fn is getattr:
        return _getattr(frame, *args)
    if fn is hasattr and len(args) == 2:
        return _hasattr(frame, *args)
    if fn is vars and args:
        return sourced_attr(ctx, args[0], "__dict__")
    if fn in (setattr, delattr):
        from .handlers import _DELETE, store_attr
        return store_attr(ctx, args[0], args[1], args[2] if fn is setattr else _DELETE,
                          "setattr() of" if fn is setattr else "delattr() of")
    if fn in (object.__setattr__, object.__delattr__):     # a frozen dataclass's __init__
        from .handlers import _DELETE, store_attr
        return store_attr(ctx, args[0], args[1], _DELETE if len(args) == 2 else args[2],
                          f"object.{fn.__name__}() of", base=object)
    if fn is globals:
        return ctx.read(frame.globals, frame.globals_source)
    if type(fn) is functools.partial:
        # looked through: its function called with its arguments first, as partial does
        func, bound = sourced_attr(ctx, fn, "func"), ctx.contents(sourced_attr(ctx, fn, "args"))
        keywords = ctx.contents(sourced_attr(ctx, fn, "keywords"))
        return call(frame, func, (*bound, *args), {**keywords, **kwargs})
    if isinstance(fn, functools._lru_cache_wrapper):
        # the cached function itself: a cache outliving the trace would hand later traces
        # values of this one (the function is assumed pure, as caching it does)
        return call(frame, sourced_attr(ctx, fn, "__wrapped__"), args, kwargs)
    if isinstance(fn, types.MethodType):
        # a bound method held outside the trace: its object's state is read through it
        return call(frame, sourced_attr(ctx, fn, "__func__"),
                    (sourced_attr(ctx, fn, "__self__"), *args), kwargs)
    if isinstance(fn, types.FunctionType) and (
            not is_trusted(fn) or (args and protocols.inherited_method(fn, args[0]))):
        return inline(ctx, fn, args, kwargs)
    if isinstance(fn, type) and (not is_trusted(fn) or issubclass(fn, BaseException)):
        return construct(frame, fn, args, kwargs)
    call_method = getattr(type(fn), "__call__", None)
    if isinstance(call_method, types.FunctionType) and not is_trusted(type(fn)):
        return inline(ctx, sourced_attr(ctx, fn, "__call__", type(fn)), (fn, *args), kwargs)
    return call_native(ctx, fn, args, kwargs)


def numpy_result(result):
    """What a NumPy function returned, typed as NumPy types it: a traced Python float given
    to `np.sin` comes back an np.float64, which no longer promotes as a Python scalar."""
    if isinstance(result, Tracer) and result.aval.weak:
        return as_numpy_scalar(sh.convert(result, dtype=result.dtype))
    if type(result) is tuple and any(isinstance(r, Tracer) and r.aval.weak for r in result):
        return tuple(numpy_result(r) for r in result)
    return result


def _zero_arg_super(frame):
    """`super()` in an inlined method: the `__class__` cell and the first argument, as CPython."""
    code = frame.code
    first = frame.locals[code.co_varnames[0]]
    if code.co_varnames[0] in code.co_cellvars:      # the first argument is captured: a cell
        first = first.cell_contents
    return super(frame.locals["__class__"].cell_contents, first)


# callables whose whole point is an effect on the world outside the trace
_EFFECTS = {id(input): "input()", id(open): "open()", id(breakpoint): "breakpoint()"}
_EFFECT_MODULES = ("logging", "warnings", "_warnings")


def _side_effect(fn):
    """A description of `fn` when calling it is a side effect a trace cannot repeat, else None."""
    if id(fn) in _EFFECTS:
        return _EFFECTS[id(fn)]
    module = getattr(fn, "__module__", None) or ""
    owner = getattr(fn, "__self__", None)
    if module.split(".")[0] in _EFFECT_MODULES or isinstance(owner, (io.IOBase, logging.Logger)):
        return f"{_describe(fn).lstrip('_')}()"
    return None


def sourced_attr(ctx, obj, name, owner=None):
    """`getattr(owner or obj, name)`, read through obj's source when obj lives outside the
    trace, so the value is guarded or re-read on every call like any other outside state."""
    value = getattr(obj if owner is None else owner, name)
    source = ctx.source_of(obj)
    if source is None:
        return value
    return ctx.read(value, Attr(Attr(source, "__class__") if owner is not None else source, name))


def _getattr(frame, obj, name, *default):
    """The builtin `getattr`, made to read through sources as the `obj.name` syntax does."""
    from .handlers import load_attr
    try:
        return load_attr(frame, obj, name)
    except AttributeError:
        if default:
            return default[0]
        raise


def _hasattr(frame, obj, name):
    """The builtin `hasattr`, whose False is guarded as a failed `obj.name` is."""
    try:
        _getattr(frame, obj, name)
    except AttributeError:
        return False
    return True


def _is_ours(fn):
    """tracejit's own functions (array methods of traced values) and the objects it wraps a
    user's function in (`grad(f)` called inside a trace) handle traced values."""
    if isinstance(fn, FunctionWrapper):   # named after the user's function, module included
        return True
    module = getattr(fn, "__module__", None) or ""
    return module == "tracejit" or module.startswith("tracejit.")


def _describe(fn):
    module = getattr(fn, "__module__", None) or type(getattr(fn, "__self__", None)).__module__
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{name}" if module and module != "builtins" else name


# callables whose result differs from call to call (a trace would freeze the first one):
# module -> (the names concerned, None for all of them; what they do)
IMPURE = {
    "random": (("seed", "setstate"), "sets the state of Python's random numbers"),
    "numpy.random": (None, "draws random numbers"),
    "secrets": (None, "draws random numbers"),
    "scipy.stats": (("rvs",), "draws random numbers"),
    "os": (("urandom", "getrandom"), "draws random bytes"),
    "uuid": (("uuid1", "uuid4"), "makes a new unique id"),
    "time": (("time", "time_ns", "perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns",
              "process_time", "process_time_ns", "thread_time", "thread_time_ns", "localtime",
              "gmtime", "ctime", "asctime", "strftime"), "reads the clock"),
    "datetime": (("now", "utcnow", "today"), "reads the clock"),
}
_MODULE_ALIASES = {"posix": "os", "nt": "os", "_random": "random", "_datetime": "datetime"}


def _module_of(fn):
    """The module a callable belongs to; a bound method's is its object's (or class's)."""
    module = getattr(fn, "__module__", None)
    if not isinstance(module, str):
        owner = getattr(fn, "__self__", None)
        module = getattr(owner if isinstance(owner, type) else type(owner), "__module__", "")
    return _MODULE_ALIASES.get(module, module)


def _impurity(fn):
    """What makes `fn`'s result change from call to call (an IMPURE entry), or None."""
    module = _module_of(fn)
    for prefix, (names, what) in IMPURE.items():
        if (module == prefix or module.startswith(prefix + ".")) and \
                (names is None or getattr(fn, "__name__", None) in names):
            return what
    return None


def call_native(ctx, fn, args, kwargs):
    owner = getattr(fn, "__self__", None)
    container_method = isinstance(fn, types.BuiltinMethodType) and isinstance(owner, _CONTAINERS)
    if container_method and ctx.is_outside(owner):
        return _call_outside_container(ctx, owner, fn.__name__, args, kwargs)
    safe = id(fn) in SAFE_NATIVE or container_method or isinstance(fn, _SAFE_CALLABLE_TYPES) \
        or owner is itertools.chain                      # chain.from_iterable
    args, kwargs = _traced_callbacks(ctx, fn, safe, args, kwargs)
    if (not safe or (fn is pow and len(args) == 3)) and \
            _only_traced_ints((*args, *kwargs.values())):
        # math.factorial(n), math.comb(n, k), pow(n, e, m), int.to_bytes ...: native code
        # reads a traced Python int by value, which is guarded (a call with another re-traces)
        args, kwargs = map_traced(args, concretize_int), map_traced(kwargs, concretize_int)
    if not safe and _holds_tracer((*args, *kwargs.values())):
        numpy_fn = (getattr(fn, "__module__", None) or "").startswith(("numpy", "scipy"))
        raise ctx.unsupported(
            f"{_describe(fn)} is not supported on traced values" if numpy_fn else
            f"a traced value is passed to {_describe(fn)}, which tracejit cannot look inside",
            "Express it with supported NumPy functions, or give it a derivative with "
            "tracejit.custom_vjp.")
    return fn(*args, **kwargs)


def _only_traced_ints(values):
    """Whether traced values are among `values` (or in containers among them), all of them
    Python ints or bools."""
    traced = []
    map_traced(list(values), traced.append)
    return bool(traced) and all(python_type(t) in (int, bool) for t in traced)


def _holds_tracer(values):
    """Whether a traced value is among `values` or inside the containers among them."""
    return any(isinstance(v, Tracer) or (type(v) in (list, tuple, set, frozenset) and
                                         _holds_tracer(v)) or
               (type(v) is dict and _holds_tracer(v.values())) for v in values)


def _traced_callbacks(ctx, fn, safe, args, kwargs):
    """Python code that native code calls back (`functools.reduce(lambda ...)`, `map`,
    `sorted(key=)`, a SciPy routine's objective) runs under the tracer, as if called from the
    user's line: its type tests, text and branches on traced values go through the same doors
    as the user's own code, and values it closes over stay traced. The natives above get any
    callable at their callback positions; other natives, the Python functions and methods
    among their arguments (not classes or callable objects, which are more often stored or
    looked at than called: `defaultdict(list)`, `super(C, self)`)."""
    frame = ctx.frame

    def traced(callback):
        def run(*a, **k):
            if ctx.depth == 0:                  # called after tracing ended: plain Python
                return callback(*a, **k)
            return call(frame, callback, a, k)
        return run

    if safe:
        at = _CALLBACK_AT.get(id(fn))
        args = [traced(a) if i == at and callable(a) else a for i, a in enumerate(args)]
        kwargs = {k: traced(v) if k in _CALLBACK_KEYWORDS and callable(v) else v
                  for k, v in kwargs.items()}
        return args, kwargs

    def python_code(a):
        return isinstance(a, (types.FunctionType, types.MethodType)) and _interpreted(a)
    return ([traced(a) if python_code(a) else a for a in args],
            {k: traced(v) if python_code(v) else v for k, v in kwargs.items()})


def _call_outside_container(ctx, owner, name, args, kwargs):
    """Methods of a list/dict that exists outside the trace: reads stay sourced, writes refused."""
    source = ctx.source_of(owner)
    if name in _MUTATORS:
        raise ctx.unsupported(f"{type(owner).__name__}.{name}() changes a {type(owner).__name__} "
                              "that exists outside the traced function",
                              "Build a new one inside the function, or do it outside.")
    if isinstance(owner, dict) and name in ("get", "__getitem__"):
        ctx.guard(Keys(source), Equals(_keys(owner)))
        key = args[0]
        if key not in owner:
            return args[1] if len(args) > 1 else kwargs.get("default")
        return ctx.read(owner[key], Item(source, key))
    # anything else reads the items natively: from a copy read through their sources
    return getattr(ctx.contents(owner), name)(*args, **kwargs)




def construct(frame, cls, args, kwargs):
    """`cls(...)` for a user class: object creation natively, `__init__` traced."""
    ctx = frame.ctx
    new = cls.__new__
    if isinstance(new, types.FunctionType):
        obj = inline(ctx, new, (cls, *args), kwargs)
    elif new is object.__new__:
        obj = object.__new__(cls)
    elif issubclass(cls, BaseException):    # an exception only stores its arguments, traced
        obj = new(cls, *args, **kwargs)     # ones too, until something reads them
    else:
        return call_native(ctx, cls, args, kwargs)
    ctx.created.add(id(obj))
    init = getattr(type(obj), "__init__", None)
    if isinstance(obj, cls) and isinstance(init, types.FunctionType):
        inline(ctx, init, (obj, *args), kwargs)
    elif isinstance(obj, BaseException):
        init(obj, *args, **kwargs)
    return obj


# ---- inlining ----------------------------------------------------------------------------------
def inline(ctx, fn, args, kwargs):
    from .handlers import globals_source
    fn_source = ctx.source_of(fn)
    if fn_source is not None:      # the same function object may be given new code
        ctx.guard(Attr(fn_source, "__code__"), Is(fn.__code__))
    frame = Frame(ctx, fn, fn.__code__, fn.__globals__, globals_source(ctx, fn, fn_source))
    bind_arguments(ctx, frame, fn, fn_source, args, kwargs)
    if fn.__code__.co_flags & CO_GENERATOR:
        return InterpretedGenerator(frame)
    return run_call(ctx, frame).value


def run_call(ctx, frame, throw=None):
    caller = ctx.frame
    ctx.enter_call()
    ctx.set_loc(frame)         # a frame starting (or resuming) on its current line reports it
    try:
        return run_frame(frame, throw)
    finally:
        ctx.exit_call()
        if caller is not None:
            ctx.set_loc(caller)


def bind_arguments(ctx, frame, fn, fn_source, args, kwargs):
    signature = inspect.signature(fn, follow_wrapped=False)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as e:
        code = getattr(inspect.unwrap(fn), "__code__", fn.__code__)
        raise TypeError(f"{fn.__qualname__}() (defined at {code.co_filename}:"
                        f"{code.co_firstlineno}): {e}") from None
    n_positional = fn.__code__.co_argcount
    defaults = fn.__defaults__ or ()
    for position, (name, param) in enumerate(signature.parameters.items()):
        if name in bound.arguments:
            value = bound.arguments[name]
        elif param.kind is param.VAR_POSITIONAL:
            value = ()
        elif param.kind is param.VAR_KEYWORD:
            value = {}
        else:
            value = param.default
            if fn_source is not None:
                source = (Item(Attr(fn_source, "__kwdefaults__"), name) if param.kind is param.KEYWORD_ONLY
                          else Item(Attr(fn_source, "__defaults__"), position - (n_positional - len(defaults))))
                value = ctx.read(value, source)
        frame.locals[_slot_name(fn.__code__, name)] = value


def _slot_name(code, name):
    """inspect calls the hidden iterator argument `.0` of a generator expression (or a <= 3.11
    comprehension) `implicit0`; the bytecode reads the slot `.0`."""
    return name if name in code.co_varnames else "." + name.removeprefix("implicit")


class InterpretedGenerator:
    """A generator whose frame runs under the tracer, resumed by `next()`."""

    def __init__(self, frame):
        self.frame = frame
        self.done = False

    def __iter__(self):
        return self

    def __next__(self):
        return self._resume()

    def send(self, value):
        if value is not None and self.frame.pc == 0:
            raise TypeError("can't send non-None value to a just-started generator")
        if self.frame.stack:
            self.frame.stack[-1] = value        # what YIELD_VALUE left for the resumed frame
        return self._resume()

    def throw(self, typ, value=None, traceback=None):
        """Raise an exception where the generator is suspended (`contextlib` calls this when a
        with-block's body raised)."""
        error = typ if isinstance(typ, BaseException) else \
            value if isinstance(value, BaseException) else typ(*(() if value is None else (value,)))
        if self.done or self.frame.pc == 0:     # not started: nothing there can catch it
            self.done = True
            raise error
        delegate = self._delegate()
        if delegate is not None:
            return self._throw_into(delegate, error)
        return self._resume(error)

    def _delegate(self):
        """The iterator a suspended `yield from` delegates to, or None: CPython's rule is the
        RESUME after the YIELD_VALUE, which marks a yield from with an argument of 2 or more."""
        frame = self.frame
        resume = frame.instrs[frame.pc]
        if resume.name == "RESUME" and resume.arg & 3 >= 2:
            return frame.stack[-2]
        return None

    def _throw_into(self, delegate, error):
        """CPython's throw into a generator suspended in `yield from`: GeneratorExit closes
        the delegate, then is raised here; another error goes to the delegate's `throw`, whose
        next value is ours, whose return ends the delegation, and whose error is raised here."""
        from .handlers import delegation_returned
        frame = self.frame
        method = getattr(delegate, "close" if isinstance(error, GeneratorExit) else "throw", None)
        if method is None:
            return self._resume(error)
        try:
            value = call(frame, method, [] if isinstance(error, GeneratorExit) else [error], {})
        except StopIteration as stop:
            if isinstance(error, GeneratorExit):
                return self._resume(stop)
            frame.pop()                          # the value YIELD_VALUE left for a send
            delegation_returned(frame, frame.instrs[frame.instrs[frame.pc + 1].target], stop.value)
            return self._resume()
        except BaseException as raised:
            if not catchable(raised):
                raise
            return self._resume(raised)
        return self._resume(error) if isinstance(error, GeneratorExit) else value

    def close(self):
        if self.done or self.frame.pc == 0:
            self.done = True
            return
        try:
            self.throw(GeneratorExit)
        except (GeneratorExit, StopIteration):
            return
        raise RuntimeError("generator ignored GeneratorExit")

    def __del__(self):
        # CPython closes a dropped generator where its last reference goes (a `for` loop left
        # by `break`), running its `finally` and `__exit__` code: so does the tracer while the
        # traced code runs. After it, or if the cleanup needs what tracejit refuses, the trace
        # is refused (trace.py checks `abandoned_cleanup`).
        frame = self.frame
        handler = frame.decoded.handlers[frame.pc - 1] if frame.pc > 0 else None
        if self.done or handler is None or not handler.user:
            return
        ctx = frame.ctx
        if ctx.depth > 0:           # closed after the instruction that dropped it (frame.py)
            ctx.dropped_generators.append(self)
        elif ctx.abandoned_cleanup is None:
            ctx.abandoned_cleanup = frame.loc

    def _resume(self, throw=None):
        if self.done:
            raise StopIteration
        try:
            result = run_call(self.frame.ctx, self.frame, throw)
        except StopIteration as e:      # PEP 479, which CPython applies to every generator
            self.done = True
            raise RuntimeError("generator raised StopIteration") from e
        except BaseException:
            self.done = True
            raise
        if type(result) is Return:
            self.done = True
            raise StopIteration(result.value)
        return result.value
