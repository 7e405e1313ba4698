"""The vocabulary of numba lowerings: what a primitive's `numba` attribute holds.

Family files (`tracejit/ops/*.py`) describe each primitive's lowering with one of three rule
kinds; the code generator (`numba_codegen`) decides where the code goes:

- `Scalar`    an elementwise primitive as a scalar expression; fused into loops with its neighbours
- `Reduction` an accumulation, fused into the loop over its input
- `Statement` anything else: a function that emits statements through the kernel builder

Generated source may contain only identifiers chosen here and `repr` of numbers, never text taken
from a trace; `literal` and `dtype_name` are the only ways values enter source text.

This module imports neither numba nor the ops, so family files can import it cheaply.
"""
import math

import numpy as np

_DTYPES = {np.dtype(n): f"np.{n}" for n in (
    "float64", "float32", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8")}
_DTYPES[np.dtype(bool)] = "np.bool_"


class NoLowering(Exception):
    """The trace holds something the numba backend cannot compile; the numpy executor runs it."""


def dtype_name(dtype):
    """Source text naming `dtype`, for the dtypes numba handles; NoLowering otherwise."""
    try:
        return _DTYPES[np.dtype(dtype)]
    except KeyError:
        raise NoLowering(f"dtype {np.dtype(dtype).name}") from None


def literal(value, dtype):
    """Source text for the number `value` as a scalar of `dtype` (float32 stays float32)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return repr(bool(value))
    if dtype.kind in "iu":
        text = repr(int(value))
        return text if dtype == np.int64 else f"{dtype_name(dtype)}({text})"
    if dtype.kind != "f":
        raise NoLowering(f"literal of dtype {dtype.name}")
    number = float(value)
    if math.isnan(number):
        text = "np.nan"
    elif math.isinf(number):
        text = "np.inf" if number > 0 else "(-np.inf)"
    else:
        text = f"({number!r})" if number < 0 else repr(number)
    return text if dtype == np.float64 else f"{dtype_name(dtype)}({text})"


def cast(expr, from_dtype, to_dtype):
    """`expr` (a scalar of `from_dtype`) converted to `to_dtype`, NumPy's astype semantics."""
    from_dtype, to_dtype = np.dtype(from_dtype), np.dtype(to_dtype)
    if from_dtype == to_dtype:
        return expr
    if to_dtype.kind == "b":
        return f"({expr} != 0)"
    return f"{dtype_name(to_dtype)}({expr})"


def python_slices(spec):
    """The NumPy index tuple for a slicing spec ((start, size, step) per axis)."""
    out = []
    for start, size, step in spec:
        stop = start + size * step
        out.append(slice(start, None if stop < 0 else stop, step) if size else slice(0, 0))
    return tuple(out)


def slice_positions(spec, loop_index):
    """Index expressions of the elements a slicing spec ((start, size, step) per axis) selects,
    given loop indices over the slice's shape."""
    return [f"{int(start)} + {int(step)} * {k}" for (start, _, step), k in zip(spec, loop_index)]


_VECTOR_SUFFIX = {np.dtype(np.float64): "", np.dtype(np.float32): "32"}


class Scalar:
    """An elementwise primitive as a scalar expression over its operands `{0}`, `{1}`, ...

    `operands` says which dtype the operands are converted to before the expression sees them:
    "out" (the result dtype: arithmetic), "common" (the promoted input dtype: comparisons),
    "bool" (logic), None (as they are), or a tuple of these, one per operand. The code generator
    converts the result to the output dtype.

    `vector` names a function of `numba_math` (imported as `vm` by kernels) computing the same
    unary function without calls or branches, so that a loop using it vectorizes; `vm.<vector>`
    serves float64 results, `vm.<vector>32` float32 ones. `outside` names a `numba_math`
    predicate (1 or 0) on the operand saying the vector function's result is not to be trusted
    there, so the loop must be run again with `template`.
    """
    kind = "scalar"

    def __init__(self, template, operands="out", vector=None, outside=None):
        self.template = template
        self.operands = operands
        self.vector = vector
        self.outside = outside

    def has_vector(self, out_dtype):
        return self.vector is not None and np.dtype(out_dtype) in _VECTOR_SUFFIX

    def expr(self, args, in_avals, out_dtype, vector=False):
        specs = self.operands if isinstance(self.operands, tuple) else (self.operands,) * len(args)
        targets = {"out": out_dtype, "bool": np.dtype(bool), "common": promoted(in_avals),
                   None: None}
        args = [a if targets[s] is None else cast(a, v.dtype, targets[s])
                for a, v, s in zip(args, in_avals, specs)]
        if vector and self.has_vector(out_dtype):
            return f"vm.{self.vector}{_VECTOR_SUFFIX[np.dtype(out_dtype)]}({args[0]})"
        return self.template.format(*args)

    def outside_expr(self, args, in_avals, out_dtype):
        """The predicate's call on the (converted) operand, or None when there is none."""
        if self.outside is None or not self.has_vector(out_dtype):
            return None
        operand = Scalar("{0}", self.operands).expr(args, in_avals, out_dtype)
        return f"vm.{self.outside}({operand})"


class ByKind(Scalar):
    """A `Scalar` whose template depends on the kind of the result dtype ("f", "i", "u", "b"):
    integer and float versions of a function differ (a zero divisor, say). `scipy` says the
    templates call `sp.` (numba_scipy), which the kernel module then imports."""

    def __init__(self, templates, operands="out", scipy=False):
        super().__init__(None, operands)
        self.templates = templates
        self.scipy = scipy

    def expr(self, args, in_avals, out_dtype, vector=False):
        template = self.templates.get(np.dtype(out_dtype).kind)
        if template is None:
            raise NoLowering(f"{np.dtype(out_dtype).name} result of {self.templates}")
        return Scalar(template, self.operands).expr(args, in_avals, out_dtype)


class Parametric(Scalar):
    """A `Scalar` depending on the op's params: `make(params)` gives the rule for one op (a
    Scalar, or raises NoLowering)."""

    def __init__(self, make):
        super().__init__(None)
        self.specialize = make


_KIND_ORDER = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}


def promoted(avals):
    """NumPy's (NEP 50) common dtype: weak (Python-scalar-like) operands only raise the kind."""
    strong = [a.dtype for a in avals if not a.weak]
    if not strong:
        return np.result_type(*[a.dtype for a in avals])
    dtype = np.result_type(*strong)
    for a in avals:
        if a.weak and _KIND_ORDER[a.dtype.kind] > _KIND_ORDER[dtype.kind]:
            dtype = np.result_type(dtype, a.dtype)
    return dtype


class Reduction:
    """An accumulation `acc <- update(acc, x)` starting from `init(dtype)`.

    `update` is a template over `{acc}` and `{x}` giving the statement(s) of one step.
    """
    kind = "reduce"

    def __init__(self, init, update):
        self.init = init
        self.update = update


class Statement:
    """Anything else: `emit(kb, op)` writes statements through the kernel builder `kb`
    (see `numba_codegen.KernelBuilder`) and defines the op's outputs.

    `rearranges`: every output element is one of the inputs' elements, at a place the op's params
    fix (reshape, slice, concatenate...). The generator may then work out the places by running
    the primitive on arrays of element numbers, and keep small results as scalars."""
    kind = "statement"

    def __init__(self, emit, rearranges=False):
        self.emit = emit
        self.rearranges = rearranges


# CPython compiles a call with more arguments than this (or a tuple display with more items)
# through a list and `*args`, which numba's inlining pass rejects: a body with more parameters
# takes them in nested tuples of at most this many (`packed`), and its callers pass them so
MAX_CALL_ARGS = 30


def packed(items):
    """`items` (source text) grouped into nested tuple displays so that no call or display
    has more than MAX_CALL_ARGS of them; the same text unpacks them as an assignment target."""
    items = list(items)
    while len(items) > MAX_CALL_ARGS:
        items = ["(" + "".join(f"{item}, " for item in items[k:k + MAX_CALL_ARGS]) + ")"
                 for k in range(0, len(items), MAX_CALL_ARGS)]
    return items


def call(fn, args):
    """Source of a call of the generated function `fn` (see `packed`)."""
    return f"{fn}({', '.join(packed(args))})"
