"""Opcode coverage on the running CPython, and one user-style function per language construct.

Each construct record names the opcodes it is meant to exercise; `dis` confirms the running
CPython really emits them (names this version does not have are skipped), then tracejit's value
and gradient are compared with plain execution and central finite differences.
"""
import dis
import inspect
import sys
import types

import numpy as np
import pytest

import tracejit
from conftest import SUITE_BACKEND, numerical_grad
import construct_cases
from construct_cases import CASES, REFUSALS
from tracejit.frontend.decode import REWRITES, decode
from tracejit.frontend.frame import HANDLERS
from tracejit.frontend.opcodes import INSTRUMENTED_PREFIX, NOT_EMITTED, REFUSED

VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
INTERNAL = {"TRY_BEGIN"}          # the decoder's marker for a user's exception-handling region


def real_opcodes():
    """Opcodes that can appear in this version's code objects (pseudo-opcodes are >= 256)."""
    return {name for name, op in dis.opmap.items() if op < 256}


# ---- coverage ----------------------------------------------------------------------------------
def test_every_opcode_has_a_handler_a_rewrite_or_a_refusal():
    uncovered = sorted(name for name in real_opcodes()
                       if name not in HANDLERS and name not in REWRITES and name not in REFUSED
                       and name not in NOT_EMITTED and not name.startswith(INSTRUMENTED_PREFIX))
    assert uncovered == [], f"Python {VERSION}: opcodes with no handler and no refusal"


def test_tables_name_only_opcodes_of_this_python():
    known = set(dis.opmap) | INTERNAL      # handlers may serve pseudo-opcode names (LOAD_METHOD)
    assert sorted(set(HANDLERS) - known) == []
    assert sorted(set(REWRITES) - real_opcodes()) == []


def test_handled_opcodes_are_not_also_refused():
    assert sorted(set(HANDLERS) & (set(REFUSED) | set(NOT_EMITTED))) == []


def _refusal_frame(name):
    from tracejit.frontend.context import TraceContext
    from tracejit.frontend.decode import Instr
    from tracejit.frontend.frame import Frame
    ctx = TraceContext(_refusal_target)
    frame = Frame(ctx, _refusal_target, _refusal_target.__code__, globals(), None)
    line = _refusal_target.__code__.co_firstlineno + 1
    frame.instrs = (Instr(name, None, line),)
    return frame


def _refusal_target():
    return None


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_opcode_names_construct_opcode_version_and_line(name):
    from tracejit.frontend.frame import run_frame
    with pytest.raises(tracejit.UnsupportedError) as info:
        run_frame(_refusal_frame(name))
    message = str(info.value)
    line = _refusal_target.__code__.co_firstlineno + 1
    assert f"test_opcodes.py:{line}:" in message
    assert REFUSED[name] in message and f"opcode {name}" in message
    assert f"Python {VERSION}" in message


def test_a_newer_python_serves_no_handler_and_says_which_versions_are_supported(monkeypatch):
    from tracejit.frontend import versions
    monkeypatch.setattr(versions, "VERSION", (3, 14))
    assert not versions.serves(versions.FIRST, versions.LATEST)
    assert versions.describe() == "Python 3.14 (tracejit supports Python 3.11 to 3.13)"


REFUSED_INTRINSICS = ("INTRINSIC_IMPORT_STAR", "INTRINSIC_PRINT", "INTRINSIC_ASYNC_GEN_WRAP",
                      "INTRINSIC_TYPEVAR", "INTRINSIC_PARAMSPEC",
                      "INTRINSIC_TYPEVARTUPLE", "INTRINSIC_SUBSCRIPT_GENERIC", "INTRINSIC_TYPEALIAS")


@pytest.mark.skipif("CALL_INTRINSIC_1" not in dis.opmap, reason="intrinsics arrived in 3.12")
@pytest.mark.parametrize("name", REFUSED_INTRINSICS)
def test_refused_intrinsic_names_itself_version_and_line(name):
    import bytecode
    from tracejit.frontend.decode import Instr
    from tracejit.frontend.frame import run_frame
    frame = _refusal_frame("CALL_INTRINSIC_1")
    frame.instrs = (Instr("CALL_INTRINSIC_1", bytecode.Intrinsic1Op[name], frame.instrs[0].lineno),)
    frame.push(None)
    with pytest.raises(tracejit.UnsupportedError,
                       match=rf"test_opcodes.py:\d+: .*CALL_INTRINSIC_1 {name}.*Python {VERSION}"):
        run_frame(frame)


def test_unknown_opcode_names_opcode_version_and_line():
    from tracejit.frontend.frame import run_frame
    with pytest.raises(tracejit.UnsupportedError,
                       match=rf"test_opcodes.py:\d+: .*opcode FUTURE_OP .*Python {VERSION}"):
        run_frame(_refusal_frame("FUTURE_OP"))


# ---- checks ------------------------------------------------------------------------------------
def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def emitted_opcodes(fn):
    """Opcodes in `fn` and code it calls that this module defines (helpers, methods)."""
    codes = list(_code_objects(fn.__code__))
    for name in fn.__code__.co_names:
        target = fn.__globals__.get(name)
        for f in vars(target).values() if isinstance(target, type) else [target]:
            if isinstance(f, (types.FunctionType, property)):
                code = (f.fget if isinstance(f, property) else f).__code__
                codes.extend(_code_objects(code))
    return {i.opname for code in codes for i in dis.get_instructions(code)}


INPUTS = [np.array([0.3, -0.7, 1.1, 0.4]), np.array([1.2, 0.5, -0.2, 0.9])]


def _expected(opcodes):
    """The opcodes of `opcodes` this CPython has; `NAME@3.12` only from that version on."""
    wanted = set()
    for op in opcodes:
        name, _, since = op.partition("@")
        if name in real_opcodes() and (not since or sys.version_info >= tuple(map(int, since.split(".")))):
            wanted.add(name)
    return wanted


@pytest.mark.parametrize("fn, opcodes", CASES)
def test_construct_opcodes_occur(fn, opcodes):
    expected = _expected(opcodes)
    assert expected, f"{fn.__name__} names no opcode of Python {VERSION}"
    assert sorted(expected - emitted_opcodes(fn)) == []


@pytest.mark.parametrize("fn, opcodes", CASES)
def test_construct_value_matches_python(fn, opcodes):
    compiled = tracejit.jit(fn, backend=SUITE_BACKEND)
    for x in INPUTS:
        np.testing.assert_allclose(compiled(x.copy()), fn(x.copy()), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn, opcodes", CASES)
def test_construct_gradient_matches_finite_differences(fn, opcodes):
    grad = tracejit.jit_grad(fn, backend=SUITE_BACKEND)
    for x in INPUTS:
        np.testing.assert_allclose(grad(x.copy()), numerical_grad(fn, x), rtol=1e-5, atol=1e-7)


def test_decoded_instructions_all_have_handlers_or_refusals():
    """What the rewrites produce is known: every decoded name is handled or refused (RERAISE
    stays in the unreachable cleanup code of inlined comprehensions)."""
    for param in CASES:
        fn = param.values[0]
        for code in _code_objects(fn.__code__):
            names = {i.name for i in decode(code).instrs}
            assert sorted(names - set(HANDLERS) - set(REFUSED)) == [], (fn.__name__, code.co_name)


@pytest.mark.parametrize("fn, construct, opcodes", REFUSALS)
def test_refused_construct_names_itself_and_the_users_line(fn, construct, opcodes):
    assert sorted(_expected(opcodes) - emitted_opcodes(fn)) == []
    with pytest.raises(tracejit.UnsupportedError) as info:
        tracejit.jit(fn, backend=SUITE_BACKEND)(np.array([0.5, 1.5, 2.5]))
    assert construct in str(info.value)
    assert f"construct_cases.py:{_refused_line(fn)}:" in str(info.value)


def _refused_line(fn):
    """The line marked `# refused` in `fn` or in the helper it calls."""
    for target in (fn, *[fn.__globals__.get(n) for n in fn.__code__.co_names]):
        if isinstance(target, types.FunctionType):
            lines, first = inspect.getsourcelines(target)
            for k, line in enumerate(lines):
                if line.rstrip().endswith("# refused"):
                    return first + k
    raise AssertionError(f"{fn.__name__} marks no line")


def _leaves_outer_unbound(x):
    squares = [i * i for i in range(3)]
    if x[0] > 100.0:
        i = 1.0
    return np.sum(x) * i + squares[0]


def test_comprehension_leaves_an_unbound_outer_variable_unbound():
    x = np.array([0.5, 1.5])
    with pytest.raises(UnboundLocalError):
        _leaves_outer_unbound(x)
    with pytest.raises(UnboundLocalError):
        tracejit.jit(_leaves_outer_unbound, backend=SUITE_BACKEND)(x)


def test_decoder_tells_user_handlers_from_compiler_cleanup():
    """Inlined comprehensions (3.12+) and generators carry exception-table regions that only
    clean up and re-raise; a user's try/except or with block is a handler of the user's."""
    def user_handlers(fn):
        return any(decode(code).user_handlers for code in _code_objects(fn.__code__))
    for fn in (construct_cases.list_comprehension, construct_cases.comprehension_of_closures,
               construct_cases.generator_expression):
        assert not user_handlers(fn)
    for fn in (construct_cases.try_except, construct_cases.try_finally,
               construct_cases.with_block):
        assert user_handlers(fn)


def _leaks_stop_iteration(x):
    empty = iter(())
    return sum(x[i] + next(empty) for i in range(len(x)))


def test_stop_iteration_inside_a_generator_becomes_runtime_error():
    x = np.array([0.5, 1.5])
    with pytest.raises(RuntimeError, match="generator raised StopIteration"):
        _leaks_stop_iteration(x)
    with pytest.raises(RuntimeError, match="generator raised StopIteration"):
        tracejit.jit(_leaks_stop_iteration, backend=SUITE_BACKEND)(x)
