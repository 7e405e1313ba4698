"""Elementwise primitives: unary math, binary arithmetic, comparisons, select, dtype conversion.

Every elementwise primitive broadcasts its inputs NumPy-style and follows NumPy's type promotion
(including weak Python scalars). Derivatives are given as *linear* rules `lin(g, ans, *ins)`:
the contribution of one input's perturbation `g` to the output. Because an elementwise derivative
is a pointwise multiplier, the same rule serves reverse mode (g = output cotangent) and forward
mode (g = input tangent); the transforms broadcast or un-broadcast shapes centrally.
"""
from functools import lru_cache

import math
import re

import numpy as np

from ..ir import Aval, Lit
from ..backends.numba_lower import ByKind, NoLowering, Parametric, Scalar
from .core import Primitive, Tracer, fp_errors_silenced

_PROBE = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


@lru_cache(maxsize=None)
def _result_dtype(ufunc, in_types):
    """Output dtype of `ufunc` on inputs of `in_types` ((dtype, weak) pairs), asked of NumPy."""
    probes = [_PROBE[d.kind] if weak else np.zeros((), d) for d, weak in in_types]
    with np.errstate(all="ignore"):
        return np.asarray(ufunc(*probes)).dtype


def _elementwise_rule(ufunc, dtype=None):
    def abstract_eval(*avals, **_):
        shape = np.broadcast_shapes(*(a.shape for a in avals))
        out = dtype or _result_dtype(ufunc, tuple((a.dtype, a.weak) for a in avals))
        return [Aval(shape, np.dtype(out), all(a.weak for a in avals))]
    return abstract_eval


def _silent(ufunc):
    """NumPy implementation with floating-point warnings silenced: x/0 gives inf as in NumPy
    (unless the caller's error state is to be honoured: core.caller_fp_policy)."""
    def impl(*args, **_):
        if not fp_errors_silenced():
            return ufunc(*args)
        with np.errstate(all="ignore"):
            return ufunc(*args)
    impl.__name__ = ufunc.__name__
    return impl


class Elementwise(Primitive):
    """An elementwise primitive with one linear derivative rule per input (None: not
    differentiable with respect to that input)."""

    def __init__(self, name, ufunc, partials, dtype=None):
        super().__init__(name, _silent(ufunc), _elementwise_rule(ufunc, dtype),
                         vjp=self._vjp, jvp=self._jvp, elementwise=True)
        self.ufunc = ufunc
        self.partials = partials

    def _vjp(self, cts, outs, ins, **_):
        g = cts[0]
        return [None if rule is None else rule(g, outs[0], *ins) for rule in self.partials]

    def _jvp(self, tangents, outs, ins, **_):
        terms = [rule(t, outs[0], *ins) for rule, t in zip(self.partials, tangents)
                 if rule is not None and t is not None]
        total = terms[0] if terms else None
        for term in terms[1:]:
            total = add(total, term)
        return [total]


def unary(name, ufunc, lin=None):
    return Elementwise(name, ufunc, (lin,))


def binary(name, ufunc, lin_x, lin_y):
    return Elementwise(name, ufunc, (lin_x, lin_y))


def comparison(name, ufunc):
    return Elementwise(name, ufunc, (None, None), dtype=np.bool_)


# arithmetic
add = binary("add", np.add, lambda g, ans, x, y: g, lambda g, ans, x, y: g)
sub = binary("sub", np.subtract, lambda g, ans, x, y: g, lambda g, ans, x, y: neg(g))
mul = binary("mul", np.multiply, lambda g, ans, x, y: mul(g, y), lambda g, ans, x, y: mul(g, x))
div = binary("div", np.true_divide, lambda g, ans, x, y: div(g, y),
             lambda g, ans, x, y: neg(mul(g, div(ans, y))))
neg = unary("neg", np.negative, lambda g, ans, x: neg(g))


def _pow_lin_base(g, ans, x, y):
    # y * x**(y-1). x**0 is constant: its slope is 0 even at x == 0, where 0 * 0**-1 would be
    # NaN, so the base is 1 wherever y == 0 (a select on the result instead would still send
    # 0 * inf = NaN back through the branch not taken, in a second derivative)
    if not _nonzero_constant(y):
        x = select(eq(y, 0), 1, x)
    return mul(g, mul(y, pow(x, sub(y, 1))))


def _nonzero_constant(x):
    """A constant operand (a Python number or a literal) with no zero entry."""
    if isinstance(x, Tracer):
        if not isinstance(x.atom, Lit):
            return False
        x = x.atom.value
    return bool(np.all(np.asarray(x) != 0))


def _pow_lin_exponent(g, ans, x, y):
    # d/dy x**y = x**y * log(x); NumPy's x**y is only real-differentiable in y for x > 0
    safe_x = select(gt(x, 0), x, 1)
    return mul(g, mul(ans, log(safe_x)))


def _c_pow(x, y):
    """C's pow, which Python floats and NumPy scalars use for `**`. np.power takes sqrt for
    an exponent of 0.5 broadcast over the base, which differs at -0.0 and -inf; the NumPy
    front end (numpy.power) asks for that shortcut explicitly."""
    result = np.power(x, y)
    if type(y) is int or (type(y) is float and y != 0.5):    # the common case, decided cheaply
        return result
    if np.ndim(y) == 0 or np.size(y) == 1:
        half = np.asarray(y == 0.5)
        if half.any() and np.result_type(result).kind == "f":
            fixed = np.where(np.asarray(x) == -np.inf, np.inf, np.abs(result))
            result = fixed if isinstance(result, np.ndarray) else fixed[()]
    return result


pow = binary("pow", _c_pow, _pow_lin_base, _pow_lin_exponent)


def _split_ties(win, tie):
    """1 where `win`, 1/2 where tied, 0 elsewhere: ties share the derivative (as JAX does)."""
    return add(convert_like(win), mul(convert_like(tie), 0.5))


def convert_like(mask):
    return convert(mask, dtype=np.dtype(np.float64), weak=True)


maximum = binary("maximum", np.maximum,
                 lambda g, ans, x, y: mul(g, _split_ties(gt(x, y), eq(x, y))),
                 lambda g, ans, x, y: mul(g, _split_ties(lt(x, y), eq(x, y))))
minimum = binary("minimum", np.minimum,
                 lambda g, ans, x, y: mul(g, _split_ties(lt(x, y), eq(x, y))),
                 lambda g, ans, x, y: mul(g, _split_ties(gt(x, y), eq(x, y))))
# d/dx log(e**x + e**y) = e**(x - ans): smooth everywhere, so exact at ties to every order (the
# composition max(x, y) + log1p(exp(-|x - y|)) has a kink in each term there). Where x is the
# result (an infinite x, or y = -inf) the difference is 0, not inf - inf.
def _logaddexp_lin(g, ans, x, y, power):
    return mul(g, power(select(eq(x, ans), 0, sub(x, ans))))


logaddexp = binary("logaddexp", np.logaddexp,
                   lambda g, ans, x, y: _logaddexp_lin(g, ans, x, y, exp),
                   lambda g, ans, x, y: _logaddexp_lin(g, ans, y, x, exp))
logaddexp2 = binary("logaddexp2", np.logaddexp2,
                    lambda g, ans, x, y: _logaddexp_lin(g, ans, x, y, exp2),
                    lambda g, ans, x, y: _logaddexp_lin(g, ans, y, x, exp2))
arctan2 = binary("arctan2", np.arctan2,
                 lambda g, ans, y, x: mul(g, div(x, add(mul(x, x), mul(y, y)))),
                 lambda g, ans, y, x: neg(mul(g, div(y, add(mul(x, x), mul(y, y))))))

# transcendental and other unary functions
exp = unary("exp", np.exp, lambda g, ans, x: mul(g, ans))
log = unary("log", np.log, lambda g, ans, x: div(g, x))
log1p = unary("log1p", np.log1p, lambda g, ans, x: div(g, add(x, 1)))
expm1 = unary("expm1", np.expm1, lambda g, ans, x: mul(g, add(ans, 1)))
# their own primitives, not log(x) / log(2) and the like: int(np.log10(1000.0)) is 3 in NumPy
# and would be 2 through the composition (one ulp below)
_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))
log2 = unary("log2", np.log2, lambda g, ans, x: div(g, mul(x, _LN2)))
log10 = unary("log10", np.log10, lambda g, ans, x: div(g, mul(x, _LN10)))
exp2 = unary("exp2", np.exp2, lambda g, ans, x: mul(g, mul(ans, _LN2)))
cbrt = unary("cbrt", np.cbrt, lambda g, ans, x: div(g, mul(mul(ans, ans), 3)))
hypot = binary("hypot", np.hypot, lambda g, ans, x, y: mul(g, div(x, ans)),   # no overflow
               lambda g, ans, x, y: mul(g, div(y, ans)))
sin = unary("sin", np.sin, lambda g, ans, x: mul(g, cos(x)))
cos = unary("cos", np.cos, lambda g, ans, x: neg(mul(g, sin(x))))
tan = unary("tan", np.tan, lambda g, ans, x: mul(g, add(mul(ans, ans), 1)))
tanh = unary("tanh", np.tanh, lambda g, ans, x: mul(g, sub(1, mul(ans, ans))))
sqrt = unary("sqrt", np.sqrt, lambda g, ans, x: div(mul(g, 0.5), ans))
abs = unary("abs", np.absolute, lambda g, ans, x: mul(g, sign(x)))
sign = unary("sign", np.sign, lambda g, ans, x: mul(g, 0))
floor = unary("floor", np.floor, lambda g, ans, x: mul(g, 0))
ceil = unary("ceil", np.ceil, lambda g, ans, x: mul(g, 0))
sinh = unary("sinh", np.sinh, lambda g, ans, x: mul(g, cosh(x)))
cosh = unary("cosh", np.cosh, lambda g, ans, x: mul(g, sinh(x)))
arcsin = unary("arcsin", np.arcsin, lambda g, ans, x: div(g, sqrt(sub(1, mul(x, x)))))
arccos = unary("arccos", np.arccos, lambda g, ans, x: neg(div(g, sqrt(sub(1, mul(x, x))))))
arctan = unary("arctan", np.arctan, lambda g, ans, x: div(g, add(mul(x, x), 1)))
arcsinh = unary("arcsinh", np.arcsinh, lambda g, ans, x: div(g, sqrt(add(mul(x, x), 1))))
arccosh = unary("arccosh", np.arccosh, lambda g, ans, x: div(g, sqrt(sub(mul(x, x), 1))))
arctanh = unary("arctanh", np.arctanh, lambda g, ans, x: div(g, sub(1, mul(x, x))))

# comparisons and logic: boolean results, no derivative
lt = comparison("lt", np.less)
le = comparison("le", np.less_equal)
gt = comparison("gt", np.greater)
ge = comparison("ge", np.greater_equal)
eq = comparison("eq", np.equal)
ne = comparison("ne", np.not_equal)
logical_and = comparison("logical_and", np.logical_and)
logical_or = comparison("logical_or", np.logical_or)
logical_xor = comparison("logical_xor", np.logical_xor)
logical_not = Elementwise("logical_not", np.logical_not, (None,), dtype=np.bool_)
isnan = Elementwise("isnan", np.isnan, (None,), dtype=np.bool_)
isfinite = Elementwise("isfinite", np.isfinite, (None,), dtype=np.bool_)


def _where(c, a, b):
    return np.where(c, a, b)


select = Elementwise("select", _where, (
    None,
    lambda g, ans, c, a, b: select(c, g, 0),
    lambda g, ans, c, a, b: select(c, 0, g)))
select.abstract_eval = lambda c, a, b, **_: [Aval(
    np.broadcast_shapes(c.shape, a.shape, b.shape),
    _result_dtype(np.add, ((a.dtype, a.weak), (b.dtype, b.weak))), a.weak and b.weak)]


# dtype conversion (astype); `weak` keeps Python-scalar-like promotion for masks turned to numbers
def _convert_impl(x, *, dtype, weak=False):
    if np.iscomplexobj(x) and np.dtype(dtype).kind != "c":
        x = np.real(x)       # complex -> real keeps the real part (a cotangent reaching a real input)
    return np.asarray(x).astype(dtype) if np.ndim(x) else np.asarray(x, dtype=dtype)[()]


def _convert_lin(g, ans, x, *, dtype=None, weak=False):
    return g


def _convert_vjp(cts, outs, ins, *, dtype, weak=False):
    x = ins[0]
    return [convert(cts[0], dtype=x.dtype, weak=x.aval.weak) if x.dtype.kind in "fc" else None]


def _convert_jvp(tangents, outs, ins, *, dtype, weak=False):
    t = tangents[0]
    if t is None or np.dtype(dtype).kind not in "fc":
        return [None]
    return [convert(t, dtype=dtype, weak=weak)]


convert = Primitive(
    "convert", _convert_impl,
    lambda x, *, dtype, weak=False: [Aval(x.shape, np.dtype(dtype), weak)],
    vjp=_convert_vjp, jvp=_convert_jvp)


# numba lowerings: each primitive as a scalar expression; the code generator fuses them into loops
_NUMBA = {
    add: "({0} + {1})", sub: "({0} - {1})", mul: "({0} * {1})", div: "({0} / {1})",
    neg: "(-{0})",
    # NumPy's rule, which also decides the sign of an equal zero: the second operand unless the
    # first is greater (smaller) or NaN (numba's np.maximum(-0.0, 0.0) gives -0.0, NumPy 0.0)
    maximum: "({0} if {0} > {1} or {0} != {0} else {1})",
    minimum: "({0} if {0} < {1} or {0} != {0} else {1})",
    arctan2: "math.atan2({0}, {1})",
    exp: "math.exp({0})", log: "math.log({0})", log1p: "math.log1p({0})", expm1: "math.expm1({0})",
    sin: "math.sin({0})", cos: "math.cos({0})", tan: "math.tan({0})", tanh: "math.tanh({0})",
    sqrt: "math.sqrt({0})", abs: "abs({0})", sign: "(np.sign({0}) + 0)",      # + 0: NumPy's sign of -0.0 is 0.0
    floor: "np.floor({0})", ceil: "np.ceil({0})",        # math.floor would return an int
    sinh: "math.sinh({0})", cosh: "math.cosh({0})", arcsin: "math.asin({0})",
    arccos: "math.acos({0})", arctan: "math.atan({0})", arcsinh: "math.asinh({0})",
    arccosh: "math.acosh({0})", arctanh: "math.atanh({0})",
    log2: "math.log2({0})", log10: "math.log10({0})", exp2: "np.exp2({0})", cbrt: "np.cbrt({0})",
    hypot: "math.hypot({0}, {1})",
    logaddexp: "np.logaddexp({0}, {1})", logaddexp2: "np.logaddexp2({0}, {1})",
    convert: "{0}",                                      # the operand cast does the conversion
}
for _prim, _template in _NUMBA.items():
    _prim.numba = Scalar(_template)
# in loops, calls to the C library (no SVML here) keep LLVM from vectorizing: branch-free
# versions from backends/numba_math; sin and cos fall back to the C library for huge arguments
# NumPy adds booleans as a logical or (True + True is True); Python's + would give 2
add.numba = ByKind({kind: _NUMBA[add] for kind in "iufc"} | {"b": "({0} | {1})"})
exp.numba = Scalar(_NUMBA[exp], vector="exp")
log.numba = Scalar(_NUMBA[log], vector="log")
tanh.numba = Scalar(_NUMBA[tanh], vector="tanh")
sin.numba = Scalar(_NUMBA[sin], vector="sin", outside="trig_outside")
cos.numba = Scalar(_NUMBA[cos], vector="cos", outside="trig_outside")


# ---- the math module's functions on Python floats: the C library's answer, not NumPy's ---------
# CPython's math.tanh(x) is libm's tanh; np.tanh is NumPy's own (SIMD) code, which differs in the
# last bit for 30% of arguments here (on AVX-512 machines exp, log, sin and cos too). The
# frontend records `math.f(x)` of a traced float as f's libm twin: the same derivative rules,
# computed by the math module on the numpy executor and by the C library in kernels (numba
# lowers math.f to it), so a compiled call returns CPython's float exactly. math.hypot is
# CPython's own algorithm (1 in 2,000 differs from C's hypot): numba_scalar.py_hypot.
def libm_twin(math_fn, prim, numba=None):
    def compute(*args):
        try:
            return math_fn(*args)
        except (ValueError, OverflowError):    # CPython raises where IEEE gives nan or inf:
            return float(prim.ufunc(*args))    # the IEEE value (the frontend raises CPython's)
    each = np.vectorize(compute, otypes=[np.float64])

    def libm(*args):
        if all(np.ndim(a) == 0 for a in args):
            return np.float64(compute(*(float(a) for a in args)))
        return each(*args)
    libm.__name__ = f"libm_{math_fn.__name__}"
    twin = Elementwise(libm.__name__, libm, prim.partials, dtype=np.float64)
    twin.numba = Scalar(numba or _NUMBA[prim])
    return twin


LIBM = {name: libm_twin(getattr(math, name), prim) for name, prim in {
    "exp": exp, "log": log, "log1p": log1p, "expm1": expm1, "sin": sin, "cos": cos, "tan": tan,
    "tanh": tanh, "sqrt": sqrt, "sinh": sinh, "cosh": cosh, "asin": arcsin, "acos": arccos,
    "atan": arctan, "asinh": arcsinh, "acosh": arccosh, "atanh": arctanh, "log2": log2,
    "log10": log10, "hypot": hypot, "atan2": arctan2}.items()}
LIBM["hypot"].numba = Scalar("sm.py_hypot({0}, {1})")   # CPython's own, not the C library's


class _Power(Scalar):
    """x ** 2 written in the source is x * x, as NumPy's own fast path computes it (square);
    every other float power is pow, as NumPy's is: x * x * x differs from pow(x, 3) in the
    last bit for a quarter of the arguments. The exponent is converted to the float result
    type first, since numba raises a float to an int power by repeated multiplication."""
    _SQUARE = re.compile(r"^(?:np\.float(?:64|32)\()?\(?2(?:\.0)?\)?\)?$")

    def expr(self, args, in_avals, out_dtype):
        base = super().expr(args, in_avals, out_dtype)
        if self._SQUARE.match(args[1]) is None or in_avals[0].dtype.kind != "f" or \
                out_dtype.kind != "f":
            return base
        x = Scalar("{0}").expr(args[:1], in_avals[:1], out_dtype)
        return f"({x} * {x})"


pow.numba = _Power("({0} ** {1})")
for _prim, _template in {lt: "({0} < {1})", le: "({0} <= {1})", gt: "({0} > {1})",
                         ge: "({0} >= {1})", eq: "({0} == {1})", ne: "({0} != {1})"}.items():
    _prim.numba = Scalar(_template, operands="common")   # compare in NumPy's promoted dtype
for _prim, _template in {logical_and: "({0} & {1})", logical_or: "({0} | {1})",
                         logical_xor: "({0} != {1})", logical_not: "(not {0})"}.items():
    _prim.numba = Scalar(_template, operands="bool")
isnan.numba = Scalar("math.isnan({0})", operands=None)
isfinite.numba = Scalar("math.isfinite({0})", operands=None)
select.numba = Scalar("({1} if {0} else {2})", operands=("bool", "out", "out"))

# ---- integer-valued and remainder functions: piecewise constant or linear ---------------------
trunc = unary("trunc", np.trunc, lambda g, ans, x: mul(g, 0))
rint = unary("rint", np.rint, lambda g, ans, x: mul(g, 0))
floor_divide = binary("floor_divide", np.floor_divide,
                      lambda g, ans, x, y: mul(g, 0), lambda g, ans, x, y: mul(g, 0))
# x mod y = x - floor(x / y) * y, so d/dy = -floor(x / y); same for fmod with trunc
mod = binary("mod", np.remainder, lambda g, ans, x, y: g,
             lambda g, ans, x, y: neg(mul(g, floor_divide(x, y))))
fmod = binary("fmod", np.fmod, lambda g, ans, x, y: g,
              lambda g, ans, x, y: neg(mul(g, trunc(div(x, y)))))

# numba: backends/numba_scalar's versions follow NumPy where numba's `//` and `%` do not (a zero
# divisor gives inf/nan for floats and 0 for integers; floats use npy_divmod's rounding; MIN // -1
# wraps); float32 is computed in float64 and rounded (the quotient is snapped to an integer)
_F64 = "np.float64({0}), np.float64({1})"
trunc.numba = Scalar("np.trunc({0})")
rint.numba = Scalar("np.rint({0})")                      # half to even
floor_divide.numba = ByKind({"f": f"sm.floor_divide({_F64})", "i": "sm.int_floor_divide({0}, {1})",
                             "u": "sm.uint_floor_divide({0}, {1})"})
mod.numba = ByKind({"f": f"sm.remainder({_F64})", "i": "sm.int_remainder({0}, {1})",
                    "u": "sm.uint_remainder({0}, {1})"})
fmod.numba = ByKind({"f": "np.fmod({0}, {1})", "i": "sm.int_fmod({0}, {1})",
                     "u": "sm.uint_remainder({0}, {1})"})


# ---- complex parts ------------------------------------------------------------------------------
# A complex value's cotangent `ct` stands for the real linear map dz -> Re(ct * dz) (JAX's
# convention, no conjugation), so holomorphic rules above hold unchanged for complex values; only
# the non-holomorphic parts below need rules of their own, which differ between the two modes.
def _complex_part(name, ufunc, vjp_rule, jvp_rule, to_real=False):
    def vjp(cts, outs, ins, **_):
        return [vjp_rule(cts[0], ins[0])]

    def jvp(ts, outs, ins, **_):
        return [None if ts[0] is None else jvp_rule(ts[0])]
    def out_dtype(d):        # complex64 -> float32, complex128 -> float64
        return np.dtype(d.char.lower()) if to_real and d.kind == "c" else d
    return Primitive(name, _silent(ufunc),
                     lambda x, **_: [Aval(x.shape, out_dtype(x.dtype), x.weak)],
                     vjp=vjp, jvp=jvp, elementwise=True)


def _is_complex(x):
    return x.dtype.kind == "c"


real = _complex_part("real", np.real, lambda g, x: g, lambda t: real(t), to_real=True)
imag = _complex_part("imag", np.imag,
                     lambda g, x: mul(g, -1j) if _is_complex(x) else mul(g, 0),
                     lambda t: imag(t), to_real=True)
conj = _complex_part("conj", np.conjugate, lambda g, x: conj(g), lambda t: conj(t))


# Python's round(x, ndigits) on a float rounds the exact decimal value, which NumPy's
# scale-rint-unscale does not always reproduce (round(0.45, 1) is 0.5, np.round gives 0.4)
def _pyround_impl(x, *, ndigits):
    out = np.vectorize(lambda v: round(float(v), ndigits), otypes=[np.float64])(x)
    return out.astype(np.asarray(x).dtype) if np.ndim(x) else np.asarray(x).dtype.type(out[()])


pyround = Primitive(
    "pyround", _pyround_impl, lambda x, *, ndigits: [Aval(x.shape, x.dtype, x.weak)],
    vjp=lambda cts, outs, ins, **_: [mul(cts[0], 0)],
    jvp=lambda ts, outs, ins, **_: [None if ts[0] is None else mul(ts[0], 0)], elementwise=True)


# numba: the complex parts of real operands (complex dtypes have no lowering at all)
real.numba = Scalar("{0}")
conj.numba = Scalar("{0}")
imag.numba = ByKind({"f": "0.0", "i": "0", "u": "0", "b": "False"})


def _lower_pyround(params):
    ndigits = int(params["ndigits"])
    if not -22 <= ndigits <= 22:         # 10**ndigits must be exact (see numba_scalar.pyround)
        raise NoLowering(f"round(x, {ndigits})")
    return Scalar(f"sm.pyround(np.float64({{0}}), {ndigits}, {10.0 ** abs(ndigits)!r})")


pyround.numba = Parametric(_lower_pyround)
pyround.numba_note = "ndigits outside -22..22 runs on numpy"
