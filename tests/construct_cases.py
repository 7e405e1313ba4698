"""User-style functions, one per language construct, each naming the opcodes it exercises.

Kept out of the test module so that pytest's assertion rewriting leaves their bytecode as
CPython compiles it. An opcode written `NAME@3.12` is expected from that version on; a name the
running CPython does not have is skipped.
"""
import math

import numpy as np
import pytest

CASES = []


def case(*opcodes):
    """Register `fn` with the opcodes it must contain (where this CPython has them)."""
    def register(fn):
        CASES.append(pytest.param(fn, opcodes, id=fn.__name__))
        return fn
    return register


class Affine:
    offset = 0.0

    def __init__(self, w, b):
        self.w = w
        self.b = b

    def __call__(self, x):
        return self.apply(x)

    def apply(self, x):
        return self.w * x + self.b

    @property
    def scale(self):
        return self.w * 2.0


class Shifted(Affine):
    offset = 0.25

    def apply(self, x):
        return super().apply(x) + super().offset + super(Shifted, self).scale * 0.0


class Doubled(Shifted):
    def apply(self, x):
        base = super().apply
        again = lambda: self.w                           # noqa: E731  (self becomes a cell)
        return base(x) * 2.0 + super().scale * 0.0 + again() * 0.0 + super().apply(x=x) * 0.5


def _weighted(*terms, scale=1.0, **extra):
    total = 0.0
    for t in terms:
        total = total + t
    return scale * total + sum(extra.values())


def _coefficient(k):
    if k == 0:
        return 0.5
    if k is None:
        return None
    return 1.0 / k


@case("LIST_APPEND", "FOR_ITER", "LOAD_FAST_AND_CLEAR", "END_FOR", "GET_ITER",
      "STORE_FAST_LOAD_FAST")
def list_comprehension(x):
    squares = [x[i] * x[i] for i in range(len(x)) if i != 1]
    return sum(squares)


@case("MAP_ADD", "SET_ADD", "LOAD_FAST_AND_CLEAR", "BUILD_MAP")
def dict_and_set_comprehensions(x):
    parities = {i % 2 for i in range(len(x))}
    terms = {i: np.sin(x[i]) for i in range(len(x)) if i % 2 in parities}
    return terms[0] * terms[1] + terms[len(x) - 1]


@case("LOAD_FAST_AND_CLEAR", "STORE_FAST", "LOAD_FAST_CHECK")
def comprehension_restores_outer_variable(x):
    i = 3                                   # the comprehension's own i ends at 2
    rows = [[x[i] * x[j] for j in range(i)] for i in range(3)]
    return x[i] + sum(sum(r) for r in rows if r)


@case("MAKE_CELL", "LOAD_DEREF")
def comprehension_of_closures(x):
    fns = [lambda t: t * k for k in range(1, 4)]         # late binding: every k is 3
    return np.sum(fns[0](x)) + np.sum(fns[2](x) ** 2)


@case("RETURN_GENERATOR", "YIELD_VALUE", "END_FOR")
def generator_expression(x):
    return sum(np.exp(x[i]) for i in range(len(x))) + max(x[i] for i in (0, 1))


def _pairs(x):
    for i in range(len(x) - 1):
        yield x[i], x[i + 1]


@case("RETURN_GENERATOR", "YIELD_VALUE", "UNPACK_SEQUENCE")
def generator_function(x):
    total = 0.0
    for a, b in _pairs(x):
        total = total + a * b
    return total


@case("MAKE_CELL", "COPY_FREE_VARS", "LOAD_DEREF", "STORE_DEREF", "DELETE_DEREF", "LOAD_CLOSURE",
      "MAKE_FUNCTION", "SET_FUNCTION_ATTRIBUTE")
def closures_and_nonlocal(x):
    scale = 2.0
    calls = 0

    def term(v, power=2):
        nonlocal calls
        calls += 1
        return scale * v ** power        # noqa: F821  (deleted only after the calls)

    out = term(x[0]) + term(x[1], power=3)
    del scale
    return out * calls


@case("CALL_FUNCTION_EX", "LIST_EXTEND", "DICT_MERGE", "DICT_UPDATE", "KW_NAMES", "CALL_KW",
      "LIST_TO_TUPLE", "CALL_INTRINSIC_1", "BUILD_MAP")
def star_args_and_kwargs(x):
    parts = [x[0], x[1]]
    options = {"scale": 3.0}
    both = (*parts, *[x[2]])
    extra = {**{"a": x[3]}, "b": 1.0}
    return (_weighted(*parts, **options) + _weighted(*both, scale=0.5, **extra)
            + _weighted(x[0], scale=2.0))


@case("MAKE_FUNCTION", "SET_FUNCTION_ATTRIBUTE", "KW_NAMES", "CALL_KW")
def lambdas_with_defaults(x):
    square = lambda t: t * t                              # noqa: E731
    shift = lambda t, by=1.5: t + by                      # noqa: E731

    def keyword_only(t, *, power=3):
        return t ** power
    return np.sum(square(shift(x))) + keyword_only(x[0]) + shift(x[1], by=-1.0)


@case("FORMAT_VALUE", "BUILD_STRING", "CONVERT_VALUE", "FORMAT_SIMPLE", "FORMAT_WITH_SPEC")
def f_strings(x):
    weights = {"w0": 1.0, "w1": -2.0, "'b'": 0.5, "  3": 4.0}
    total = 0.0
    for i in range(2):
        total = total + weights[f"w{i}"] * x[i]
    name = "b"
    return total + weights[f"{name!r}"] * x[2] + weights[f"{3:>3}"] * x[3]


@case("POP_JUMP_IF_FALSE", "JUMP_BACKWARD", "JUMP_FORWARD", "POP_JUMP_FORWARD_IF_FALSE",
      "POP_JUMP_BACKWARD_IF_TRUE", "FOR_ITER", "END_FOR")
def while_for_break_continue(x):
    y = x * 1.0
    steps = 0
    while np.sum(y * y) < 50.0:
        y = y * 1.5
        steps += 1
        if steps > 20:
            break
    total = 0.0
    for i in range(len(x)):
        if x[i] < 0:
            continue
        if i == 3:
            break
        total = total + y[i]
    return total + np.sum(y)


@case("COPY@3.12", "POP_JUMP_IF_TRUE", "JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP", "COMPARE_OP",
      "UNARY_NOT", "TO_BOOL")
def and_or_not(x):
    a = x[0] > 0 and x[1] < 1
    b = x[2] > 10 or x[3]
    c = not (x[0] > 5)
    if a or b and c:
        return np.sum(x ** 2) * (2.0 if c else 1.0)
    return np.sum(x)


@case("RETURN_VALUE", "RETURN_CONST", "POP_JUMP_IF_NONE", "POP_JUMP_IF_NOT_NONE", "IS_OP",
      "POP_JUMP_FORWARD_IF_NOT_NONE", "POP_JUMP_FORWARD_IF_NONE")
def early_returns(x):
    total = 0.0
    for k in (0, 2, None):
        c = _coefficient(k)
        if c is not None:
            total = total + c * np.sum(x ** (k + 1))
        last = c is None
        if c is None:
            return total * (2.0 if last else 1.0)
    return total * 0.0


@case("UNPACK_SEQUENCE", "UNPACK_EX", "SWAP", "STORE_FAST_STORE_FAST", "LOAD_FAST_LOAD_FAST")
def unpacking(x):
    a, b = x[0], x[1]
    a, b = b, a
    first, *middle, last = [x[0], x[1], x[2], x[3]]
    (p, q), r = (a, b), last
    return a * 2.0 + b + first * last + sum(middle) + p * q * r


@case("BUILD_LIST", "BUILD_TUPLE", "BUILD_MAP", "BUILD_CONST_KEY_MAP", "BUILD_SET",
      "STORE_SUBSCR", "DELETE_SUBSCR", "BINARY_SUBSCR", "CONTAINS_OP", "LIST_EXTEND", "SET_UPDATE")
def containers(x):
    pair = (x[0], x[1])
    items = [x[2], x[3]]
    table = {"a": x[0], "b": x[1]}
    empty = {}
    names = {"a", "b", *("c",)}
    table["c"] = pair[0] * items[1]
    del table["a"]
    more = [1.0, *items]
    return table["c"] + ("b" in table) * table["b"] + ("a" in names) * more[2] + len(empty)


@case("LOAD_ATTR", "LOAD_METHOD", "STORE_ATTR", "CALL", "CALL_KW", "KW_NAMES", "CALL_FUNCTION_EX")
def methods_on_user_objects(x):
    layer = Affine(x[0], x[1])
    other = Affine(2.0, -1.0)
    return (layer(x[2]) + layer.apply(x[3]) + layer.scale + other.w * other(x[0])
            + layer.apply(x=x[1]) + layer.apply(*[x[2]]) + np.sum(layer.apply(**{"x": x})))


@case("LOAD_SUPER_ATTR", "PRECALL")
def super_calls(x):
    return Shifted(x[0], 0.5).apply(x[1]) + Doubled(x[2], x[3])(1.5)


@case("BINARY_SLICE", "STORE_SLICE", "BUILD_SLICE")
def slicing(x):
    buf = np.zeros(4)
    buf[1:3] = x[:2] * 2.0
    head = [x[0], x[1], x[2]][1:]
    return np.sum(buf[0:3] * x[1:]) + head[0] + np.sum(x[::2])


@case("BINARY_OP", "UNARY_NEGATIVE", "UNARY_INVERT", "UNARY_POSITIVE", "CALL_INTRINSIC_1")
def operators(x):
    acc = x * 1.0
    acc += 2.0
    acc *= x
    acc -= +x
    n = ~len(x)
    return np.sum(-acc) / n + np.sum(x @ x) + np.sum(x ** 3 / 3.0) + (len(x) // 3) * np.sum(x)


@case("IMPORT_NAME", "IMPORT_FROM", "LOAD_GLOBAL", "LOAD_ASSERTION_ERROR", "DELETE_FAST")
def imports_asserts_del(x):
    import math as m
    from math import pi
    assert x.shape == (4,), "expected four values"
    tmp = x * pi
    del tmp
    return np.sum(np.cos(x)) * m.e + math.sqrt(4.0)


@case("COMPARE_OP", "SWAP", "COPY")
def chained_comparison(x):
    if -10.0 < x[0] < 10.0 and 0 <= len(x) <= 4:
        return np.sum(x * x)
    return np.sum(x)




# ---- refused constructs: each names what is refused; `# refused` marks the line reported ------
REFUSALS = []


def refused(construct, *opcodes):
    def register(fn):
        REFUSALS.append(pytest.param(fn, construct, opcodes, id=fn.__name__))
        return fn
    return register


@case("PUSH_EXC_INFO", "CHECK_EXC_MATCH", "POP_EXCEPT", "RAISE_VARARGS")
def try_except(x):
    try:
        if x[0] > 100.0:
            raise ValueError("large")
        y = np.sin(x)
    except (ValueError, KeyError) as error:
        y = x * len(str(error))
    return np.sum(y)


@case("PUSH_EXC_INFO", "RERAISE")
def try_finally(x):
    total = 0.0
    try:
        total = np.sum(x)
    finally:
        total = total * 2.0
    return total


@case("BEFORE_WITH", "WITH_EXCEPT_START")
def with_block(x):
    with np.errstate(all="ignore"):
        y = np.log(x * x + 1.0)
    return np.sum(y)


@case("MATCH_SEQUENCE", "GET_LEN", "MATCH_MAPPING", "MATCH_KEYS", "MATCH_CLASS")
def match_statement(x):
    match (x[0], x[1]):
        case (a, b, *rest):
            y = a * b + len(rest)
    match {"scale": 2.0}:
        case {"scale": s}:
            y = y * s
    match x[0]:
        case np.float64(real=r):
            y = y + r
    return y + np.sum(x)


@case("LOAD_BUILD_CLASS", "LOAD_NAME", "STORE_NAME", "SETUP_ANNOTATIONS", "LOAD_CLASSDEREF@3.11",
      "LOAD_FROM_DICT_OR_DEREF@3.12", "LOAD_LOCALS@3.12")
def class_statement(x):
    first = x[0]

    class Local(Affine):
        scale_by: float = 2.0
        shift = first * 3.0              # a traced value in the class body, read from a cell
        del scale_by
        scale_by = 2.5

        def apply(self, v):
            return super().apply(v) * self.scale_by + self.shift

    local = Local(x[1], 0.5)
    return np.sum(local(x)) + len(Local.__annotations__) + Local.__name__.count("L")


def _delegated(x):
    sent = yield x[0]
    return x[1] * (1.0 if sent is None else sent)


def _delegating(x):
    last = yield from _delegated(x)
    yield from (last, x[1])


@case("GET_YIELD_FROM_ITER", "SEND", "END_SEND@3.12", "CLEANUP_THROW@3.12")
def yield_from(x):
    return sum(_delegating(x)) + np.sum(x)


async def _coroutine(x):  # refused
    return np.sum(x)


@refused("async functions", "RETURN_GENERATOR")
def async_call(x):
    return _coroutine(x)


_counter = 0


@refused("assignment to global variable '_counter'", "STORE_GLOBAL")
def global_store(x):
    global _counter
    _counter = 1  # refused
    return np.sum(x)


_OUTSIDE_LAYER = Affine(1.0, 2.0)


@refused("del of attribute 'b' of a Affine that exists outside", "DELETE_ATTR")
def delete_attribute(x):
    del _OUTSIDE_LAYER.b  # refused
    return np.sum(x)


@case("CHECK_EG_MATCH", "PREP_RERAISE_STAR", "CALL_INTRINSIC_2@3.12")
def except_star(x):
    try:
        y = np.sum(x)
        raise ExceptionGroup("both", [ValueError("v"), KeyError("k")])
    except* ValueError:
        y = y * 2.0
    except* KeyError as group:
        y = y + len(group.exceptions)
    return y
