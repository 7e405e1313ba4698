"""Exceptions and with-blocks under the tracer (issue 21).

Each case is a function and a sequence of calls on one compiled function: every call must give
what plain Python + NumPy gives — the same value, or an exception of the same class and message.
A sequence alternates inputs that raise and inputs that do not, so a trace taken on one path is
re-used (or must side-exit) on a call that takes the other: whatever in the try body could raise
on other data is guarded. Gradients through try bodies are checked against finite differences.
"""
import contextlib
import sys
import traceback

import numpy as np
import pytest

import tracejit
from conftest import numerical_grad


# ---- the cases -------------------------------------------------------------------------------
def else_finally(x):
    log = []
    try:
        y = np.sin(x)
        if y[0] > 0.5:
            raise ValueError("big")
    except ValueError:
        log.append(1)
        y = x * 2.0
    else:
        log.append(2)
        y = y + 1.0
    finally:
        log.append(3)
    return np.sum(y) * len(log) + log[0]


def nested_reraise_other(x):
    try:
        try:
            if np.sum(x) > 1.0:
                raise KeyError("inner")
            y = x * 3.0
        except KeyError:
            raise ValueError("outer") from None
    except ValueError as error:
        y = x * len(str(error))
    return np.sum(y)


def raise_from(x):
    try:
        try:
            if x[0] > 0.0:
                raise ValueError(x[0])
            value = np.sum(x)
        except ValueError as error:
            raise KeyError("wrapped") from error
    except KeyError as wrapped:
        cause = wrapped.__cause__
        value = cause.args[0] * 10.0 + isinstance(cause, ValueError)
    return value


def bare_reraise(x):
    state = [0.0]
    try:
        try:
            if x[1] < 0.0:
                raise ArithmeticError("negative")
            state[0] = np.sum(x)
        except ArithmeticError:
            state[0] = -1.0
            raise
        finally:
            state.append(1.0)
    except ArithmeticError:
        state[0] = state[0] * 2.0
    return state[0] + np.sum(x) * len(state)


def _checked_log(x):
    if np.min(x) <= 0.0:
        raise ValueError("nonpositive")
    return np.sum(np.log(x))


def _deep(x, n):
    return _checked_log(x) if n == 0 else _deep(x, n - 1) + 1.0


def callee_raises_caller_catches(x):
    try:
        return _deep(x, 2)
    except ValueError:
        return np.sum(x * x)


def tuple_of_classes(x):
    total = 0.0
    for k, err in enumerate((KeyError, IndexError, ZeroDivisionError)):
        try:
            if x[k] > 0.5:
                raise err(k)
            total = total + x[k]
        except (LookupError, ArithmeticError) as error:
            total = total + error.args[0] * x[k]
    return total


def uncaught_data_raise(x):
    scale = [2.0]
    try:
        return _checked_log(x) * scale[0]
    finally:                       # the error leaves through a finally block
        scale.append(1.0)


def loop_control(x):
    total, count = 0.0, 0
    for i in range(len(x)):
        try:
            if x[i] < 0.0:
                continue
            if x[i] > 2.0:
                break
            total = total + x[i]
        finally:
            count += 1
    return total * count


def _return_in_try(x, out):
    try:
        if x[0] > 0.0:
            return np.sum(x)
        return np.prod(x)
    finally:
        out.append(1)


def return_in_try(x):
    out = []
    return _return_in_try(x, out) + len(out)


def handler_inside_loop(x):
    total = 0.0
    for v in x:
        try:
            total = total + 1.0 / float(v)
        except ZeroDivisionError:
            total = total - 1.0
    return total


def exception_leaves_loop(x):
    total = 0.0
    try:
        for v in x:
            if v > 1.5:
                raise StopIteration
            total = total + v * v
    except StopIteration:
        total = -total
    return total


def singular_matrix(a):
    try:
        y = np.linalg.inv(a)
    except np.linalg.LinAlgError:
        y = a * 2.0
    return np.sum(y)


def index_from_data(x):
    idx = (x * 2.0).astype(np.int64)
    try:
        y = x[idx]
    except IndexError:
        y = -x
    return np.sum(y)


def int_index(x):
    try:
        v = x[int(x[0])]
    except IndexError as error:
        v = np.sum(x) + len(str(error))
    return v


def python_division(x):
    try:
        r = 1.0 / float(x[0])
    except ZeroDivisionError:
        r = 0.0
    return r + np.sum(x)


_TABLE = {0: 1.0, 1: 2.0}


def traced_key(x):
    try:
        v = _TABLE[int(x[0])]
    except KeyError:
        v = -1.0
    return v * np.sum(x)


def context_chain(x):
    try:
        try:
            raise ValueError("first")
        except ValueError:
            if x[0] > 0.0:
                raise KeyError("second")
            return np.sum(x)
    except KeyError as error:
        return np.sum(x) * 10.0 + isinstance(error.__context__, ValueError)


def exc_info_in_handler(x):
    try:
        if x[0] > 0.0:
            raise IndexError("i")
        return np.sum(x)
    except IndexError:
        kind, value, _ = sys.exc_info()
        return np.sum(x) * (kind is IndexError) + len(value.args)


class Recorder:
    """A user's context manager: records its calls, suppresses ValueError."""

    def __init__(self, scale):
        self.scale = scale
        self.calls = []

    def __enter__(self):
        self.calls.append("enter")
        return self.scale

    def __exit__(self, kind, value, tb):
        self.calls.append("exit")
        return kind is not None and issubclass(kind, ValueError)


def user_context_manager(x):
    manager = Recorder(2.0)
    y = x
    with manager as scale:
        y = x * scale
        if y[0] > 1.0:
            raise ValueError("suppressed")
        y = y + 1.0
    return np.sum(y) + len(manager.calls)


@contextlib.contextmanager
def _scaled(log):
    log.append("enter")
    try:
        yield 3.0
    except KeyError:
        log.append("caught")
    finally:
        log.append("exit")


def generator_context_manager(x):
    log = []
    y = x
    with _scaled(log) as scale:
        y = x * scale
        if y[0] > 1.0:
            raise KeyError("into the generator")
    return np.sum(y) + len(log)


def generator_context_manager_propagates(x):
    log = []
    try:
        with _scaled(log):
            if x[0] > 0.0:
                raise IndexError("through the generator")
    except IndexError:
        log.append("outside")
    return np.sum(x) * len(log)


def suppress_and_null(x):
    y = x * 1.0
    with contextlib.suppress(ZeroDivisionError, KeyError):
        y = y * (1.0 / float(x[0]))
    with contextlib.nullcontext(4.0) as four:
        y = y * four
    return np.sum(y)


def errstate_ignore(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(x * x)
    return np.sum(np.where(np.isfinite(y), y, 0.0))


A = np.array

# ---- yield from: delegation, with send, throw and close passed through ----------------------
def _inner(x, log):
    try:
        total = yield x[0] * 2.0
        if total is not None and total > 3.0:
            raise OverflowError("sent too much")
        yield x[1]
    except KeyError:
        log.append("inner caught")
        return -1.0
    finally:
        log.append("inner exit")
    return x[0] + x[1]


def _outer(x, log):
    got = yield from _inner(x, log)
    log.append(got)
    yield got * 3.0
    yield from [x[1], 4.0]


def yield_from_values(x):
    log = []
    values = list(_outer(x, log))
    return sum(values) * np.sum(x) + len(log)


def yield_from_send(x):
    log = []
    gen = _outer(x, log)
    first = next(gen)
    try:
        second = gen.send(first + x[1])    # raises OverflowError out of the inner generator
    except OverflowError:
        second = 10.0
    return first * second + len(log)


def _inner_once(x, log):
    try:
        yield x[0] * 2.0
    except KeyError:
        return -1.0
    finally:
        log.append("inner exit")
    return 1.0


@contextlib.contextmanager
def _delegating_manager(x, log):
    got = yield from _inner_once(x, log)
    log.append(got)


def yield_from_throw(x):
    log = []
    with _delegating_manager(x, log) as value:
        if value > 1.0:
            raise KeyError("thrown through the delegation")    # the inner generator returns
    return value * np.sum(x) + len(log)


def _resuming_inner(x):
    try:
        yield x[0]
    except KeyError:
        yield -x[1]                        # the delegate handles the error and yields again
    yield 2.0


def _resuming_outer(x):
    yield from _resuming_inner(x)
    yield 5.0


def yield_from_throw_resumes(x):
    gen = _resuming_outer(x)
    first = next(gen)
    second = gen.throw(KeyError("k")) if first > 0.5 else next(gen)
    try:
        third = gen.throw(ValueError("not handled")) if first > 1.0 else next(gen)
    except ValueError:
        third = 7.0
    return first + second * x[1] + third * np.sum(x)


def yield_from_close(x):
    log = []
    total = 0.0
    for v in _outer(x, log):
        total = total + v
        if total > 2.0:
            break                          # closes _outer, which closes _inner
    return total * x[0] + len(log)



# ---- except*: exception groups split among the clauses -----------------------------------------
def _maybe_group(x):
    if x[0] > 0:
        raise ExceptionGroup("both", [ValueError("v"), KeyError("k")])
    if x[1] > 0:
        raise ValueError("naked")
    return x * 2.0


def except_star_both_clauses(x):
    log = []
    try:
        y = _maybe_group(x)
    except* ValueError as group:
        log.append(len(group.exceptions))
        y = x * 3.0
    except* KeyError:
        log.append(10)
        y = x * 5.0
    return np.sum(y) + sum(log)


def except_star_reraises_the_rest(x):
    try:
        y = _maybe_group(x)
    except* KeyError:
        y = x * 0.5
    return np.sum(y)


def except_star_raises_new(x):
    try:
        try:
            y = _maybe_group(x)
        except* ValueError:
            raise RuntimeError("new")
    except* (RuntimeError, KeyError) as group:
        y = x * len(group.exceptions)
    return np.sum(y)


CASES = {
    else_finally: [A([0.1, 2.0]), A([1.0, 2.0]), A([0.2, 1.0]), A([2.0, 0.0])],
    nested_reraise_other: [A([0.1, 0.2]), A([1.0, 2.0]), A([0.3, 0.1])],
    raise_from: [A([-1.0, 2.0]), A([1.5, 2.0]), A([-0.5, 1.0])],
    bare_reraise: [A([1.0, 2.0]), A([1.0, -2.0]), A([3.0, 2.0])],
    callee_raises_caller_catches: [A([1.0, 2.0]), A([-1.0, 2.0]), A([0.5, 3.0])],
    tuple_of_classes: [A([0.1, 0.2, 0.3]), A([0.9, 0.2, 0.8]), A([0.1, 0.7, 0.3]),
                       A([0.2, 0.1, 0.4])],
    uncaught_data_raise: [A([1.0, 2.0]), A([-1.0, 2.0]), A([0.5, 3.0])],
    loop_control: [A([1.0, -1.0, 0.5, 3.0, 1.0]), A([1.0, 1.0, 0.5, 1.0, 1.0]),
                   A([-1.0, -1.0, 3.0, 1.0, 1.0])],
    return_in_try: [A([1.0, 2.0]), A([-1.0, 2.0]), A([2.0, 2.0])],
    handler_inside_loop: [A([1.0, 2.0, 4.0]), A([1.0, 0.0, 4.0]), A([0.0, 0.0, 0.5])],
    exception_leaves_loop: [A([1.0, 0.5, 0.2]), A([1.0, 2.0, 0.2]), A([0.1, 0.2, 0.3])],
    singular_matrix: [np.eye(2), np.ones((2, 2)), A([[1.0, 2.0], [3.0, 4.0]]), np.zeros((2, 2))],
    index_from_data: [A([0.1, 0.6, 0.2]), A([0.1, 5.6, 0.2]), A([0.3, 0.9, 0.2])],
    int_index: [A([1.0, 2.0, 3.0]), A([7.0, 2.0, 3.0]), A([2.0, 2.0, 3.0])],
    python_division: [A([2.0, 1.0]), A([0.0, 1.0]), A([-4.0, 1.0])],
    traced_key: [A([1.0, 2.0]), A([5.0, 2.0]), A([0.0, 2.0])],
    context_chain: [A([-1.0, 2.0]), A([1.0, 2.0]), A([-2.0, 1.0])],
    exc_info_in_handler: [A([1.0, 2.0]), A([-1.0, 2.0]), A([2.0, 2.0])],
    user_context_manager: [A([0.1, 2.0]), A([1.0, 2.0]), A([0.2, 1.0])],
    generator_context_manager: [A([0.1, 2.0]), A([1.0, 2.0]), A([0.2, 1.0])],
    generator_context_manager_propagates: [A([-1.0, 2.0]), A([1.0, 2.0]), A([-0.5, 1.0])],
    suppress_and_null: [A([2.0, 1.0]), A([0.0, 1.0]), A([4.0, 1.0])],
    errstate_ignore: [A([1.0, 2.0]), A([0.0, 2.0]), A([3.0, 0.5])],
    yield_from_values: [A([0.5, 2.0]), A([1.5, -1.0])],
    yield_from_send: [A([0.5, 0.25]), A([1.0, 2.0]), A([0.25, 0.5])],
    yield_from_throw: [A([0.25, 2.0]), A([1.0, 2.0]), A([0.1, 1.0])],
    yield_from_throw_resumes: [A([0.25, 2.0]), A([0.75, 2.0]), A([1.5, 2.0]), A([0.4, 1.0])],
    yield_from_close: [A([0.5, 0.5]), A([2.0, 1.0]), A([0.25, 0.25]), A([-1.0, 3.0])],
    except_star_both_clauses: [A([1.0, -1.0]), A([-1.0, 1.0]), A([-1.0, -1.0]), A([1.0, 1.0])],
    except_star_reraises_the_rest: [A([1.0, -1.0]), A([-1.0, 1.0]), A([-1.0, -1.0])],
    except_star_raises_new: [A([1.0, -1.0]), A([-1.0, 1.0]), A([-1.0, -1.0])],
}


def _outcome(fn, x):
    try:
        return "value", fn(x.copy())
    except Exception as error:          # noqa: BLE001 (the class and message are compared)
        return "raises", type(error), str(error)


def _same(got, expected):
    assert got[0] == expected[0], (got, expected)
    if got[0] == "raises":
        assert got[1:] == expected[1:]
    else:
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-12)


def _run_sequence(fn, calls, backend):
    compiled = tracejit.jit(fn, backend=backend)
    for x in calls:
        _same(_outcome(compiled, x), _outcome(fn, x))


@pytest.mark.parametrize("fn", list(CASES), ids=lambda fn: fn.__name__)
def test_calls_match_python(fn, backend):
    _run_sequence(fn, CASES[fn], backend)


@pytest.mark.parametrize("fn", list(CASES), ids=lambda fn: fn.__name__)
def test_calls_match_python_in_reverse(fn, backend):
    """The other path first: a trace that raised must side-exit on a call that does not."""
    _run_sequence(fn, CASES[fn][::-1], backend)


_SMOOTH = [else_finally, nested_reraise_other, bare_reraise, callee_raises_caller_catches,
           tuple_of_classes, return_in_try, user_context_manager, generator_context_manager,
           suppress_and_null, singular_matrix, yield_from_values, yield_from_send,
           yield_from_throw, yield_from_throw_resumes, yield_from_close,
           except_star_both_clauses, except_star_raises_new]


@pytest.mark.parametrize("fn", _SMOOTH, ids=lambda fn: fn.__name__)
def test_gradient_through_try_matches_finite_differences(fn, backend):
    grad = tracejit.jit_grad(fn, backend=backend)
    for x in CASES[fn]:
        # no derivative where a call raises, nor at a path's edge (a zero divisor, a
        # singular matrix): finite differences would straddle two paths
        if _outcome(fn, x)[0] == "raises" or np.any(x == 0.0) or (
                fn is singular_matrix and abs(np.linalg.det(x)) < 1e-9):
            continue
        np.testing.assert_allclose(grad(x.copy()), numerical_grad(fn, x), rtol=1e-5,
                                   atol=1e-7)


def test_raising_path_is_a_guard_in_the_trace():
    trace = tracejit.make_trace(singular_matrix)(np.ones((2, 2)))
    assert "raises" in str(trace)


def test_escaping_exception_shows_the_users_line():
    compiled = tracejit.jit(uncaught_data_raise)
    with pytest.raises(ValueError) as info:
        compiled(A([-1.0, 2.0]))
    entries = traceback.extract_tb(info.value.__traceback__)
    assert [(e.filename, e.name) for e in entries[-2:]] == \
        [(__file__, "uncaught_data_raise"), (__file__, "_checked_log")]
    assert entries[-1].line == 'raise ValueError("nonpositive")'
    assert entries[-2].line == "return _checked_log(x) * scale[0]"     # not the finally's
    assert all("tracejit" not in e.filename for e in entries[-2:])


def _errstate_raise(x):
    with np.errstate(divide="raise"):
        y = 1.0 / x
    return np.sum(y)


def test_errstate_raise_is_refused_and_restored():
    before = np.geterr()
    with pytest.raises(tracejit.UnsupportedError, match="floating-point errors"):
        tracejit.jit(_errstate_raise)(A([1.0, 2.0]))
    assert np.geterr() == before


def _refused_inside_with(x):
    with np.errstate(all="ignore"):
        global _SOME_GLOBAL
        _SOME_GLOBAL = 1
    return x


def test_a_trace_that_fails_inside_a_with_block_exits_native_managers():
    before = np.geterr()
    with pytest.raises(tracejit.UnsupportedError, match="global variable"):
        tracejit.jit(_refused_inside_with)(A([1.0, 2.0]))
    assert np.geterr() == before


def _catches_everything(x):
    try:
        global _SOME_GLOBAL
        _SOME_GLOBAL = 2
    except Exception:
        pass
    return x


def test_tracer_refusals_are_not_caught_by_user_handlers():
    with pytest.raises(tracejit.UnsupportedError, match="global variable"):
        tracejit.jit(_catches_everything)(A([1.0, 2.0]))


def _stop_iteration_in_generator(x):
    def items():
        yield x[0]
        raise StopIteration     # PEP 479: a RuntimeError leaves the generator
    try:
        return sum(items())
    except RuntimeError as error:
        return np.sum(x) * isinstance(error.__cause__, StopIteration)


def test_stop_iteration_leaving_a_generator_is_a_runtime_error():
    x = A([1.0, 2.0])
    assert tracejit.jit(_stop_iteration_in_generator)(x) == _stop_iteration_in_generator(x)


# ---- loops: a handler inside a rolled loop, with-blocks left by return and break --------------
def _rolled_loop_with_try(x):
    total = 0.0
    for i in range(len(x)):
        try:
            total = total + 1.0 / float(x[i])
        except ZeroDivisionError:
            total = total - 1.0
    return total


@pytest.mark.usefixtures("roll_short_loops")
def test_handler_inside_a_rolled_loop(backend):
    clean = np.linspace(1.0, 2.0, 40)
    with_zero = clean.copy()
    with_zero[17] = 0.0
    _run_sequence(_rolled_loop_with_try, [clean, with_zero, clean * 2.0, with_zero], backend)
    trace = tracejit.make_trace(_rolled_loop_with_try)(clean)
    assert "loop" in str(trace)          # the try body did not keep the loop from rolling


def _leave_with_blocks(x):
    manager = Recorder(1.5)
    total = 0.0
    for v in x:
        with manager:
            if v > 1.0:
                break
            total = total + v
    with manager as scale:
        if total > 0.5:
            return total * scale + len(manager.calls)
    return total - len(manager.calls)


def test_with_blocks_left_by_break_and_return(backend):
    _run_sequence(_leave_with_blocks, [A([0.1, 0.2, 2.0, 0.3]), A([0.1, 0.1, 0.1, 0.1]),
                                       A([0.4, 0.5, 0.6, 1.5])], backend)


# ---- what leaves the trace -------------------------------------------------------------------
def _raises_with_data(x):
    if x[0] > 0.0:
        raise ValueError(x[0] * 2.0, float(x[1]))
    return np.sum(x)


def test_an_escaping_exception_holds_plain_values():
    with pytest.raises(ValueError) as plain:
        _raises_with_data(A([1.0, 2.0]))
    with pytest.raises(ValueError) as traced:
        tracejit.jit(_raises_with_data)(A([1.0, 2.0]))
    assert traced.value.args == plain.value.args
    assert [type(a) for a in traced.value.args] == [type(a) for a in plain.value.args]


def _cleanup_generator(log):
    try:
        yield 1.0
        yield 2.0
    finally:
        log.append(1.0)


def _breaks_out_of_generator(x):
    log = []
    for v in _cleanup_generator(log):
        break
    return x * len(log)


def _breaks_on_data(x):
    log = []
    total = 0.0
    for v in _cleanup_generator(log):
        if v * x[0] > 1.0:
            break
        total = total + v * x[1]
    return total + len(log) * x[0]


@pytest.mark.parametrize("fn", [_breaks_out_of_generator, _breaks_on_data])
def test_a_generator_dropped_by_break_runs_its_finally(fn, backend):
    """CPython closes the generator when `break` drops the loop's iterator, running its
    `finally` there; the tracer does the same after the instruction that dropped it (it
    refused these before), and which way the loop went is guarded as usual."""
    compiled = tracejit.jit(fn, backend=backend)
    for x in (A([1.0, 2.0]), A([0.75, -1.0]), A([0.25, 3.0])):
        np.testing.assert_array_equal(compiled(x), fn(x))


def _closing_generator(log):
    try:
        yield 1.0
    except GeneratorExit:
        log.append(2.0)
        raise
    finally:
        log.append(1.0)


def _closes_a_generator(x):
    log = []
    gen = _closing_generator(log)
    first = next(gen)
    gen.close()
    try:
        raise KeyError("after")
    except KeyError:
        handled = sys.exc_info()[0] is KeyError
    return x * (first + sum(log) + handled)


def test_closing_a_generator_runs_its_handlers(backend):
    _run_sequence(_closes_a_generator, [A([1.0, 2.0])], backend)


def _raise_leaves_long_loop(x):
    total = 0.0
    count = 0
    try:
        for v in x:
            if v > 1.5:
                raise StopIteration
            total = total + v * v
            count += 1
    except StopIteration:
        total = -total
    return total * count


@pytest.mark.usefixtures("roll_short_loops")
def test_an_exception_leaving_a_rolled_loop(backend):
    base = np.linspace(0.1, 1.0, 40)
    late, early = base.copy(), base.copy()
    late[30], early[5] = 2.0, 3.0
    _run_sequence(_raise_leaves_long_loop, [late, base, early, late, base * 1.2], backend)
    _run_sequence(_raise_leaves_long_loop, [base, late, early, base], backend)
