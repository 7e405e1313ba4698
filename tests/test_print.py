"""`print` inside a traced function prints the real values on every call, in order, as plain
Python does (tracejit/ops/effects.py) — also on calls that side-exit and re-trace, which must not
print twice, and in loops (rolled or not)."""
import numpy as np
import pytest

import tracejit


def _values(x):
    y = np.sin(x)
    print("y =", y, "sum", np.sum(y), float(y[0]), x.shape, None)
    return np.sum(y ** 2)


def _branches(x):
    print("start")
    s = np.sum(x)
    if s > 0.0:                                     # calls that go the other way side-exit
        print("positive", s)
        return s * 2.0
    print("negative", s, sep=": ", end=" !\n")
    return s * s


def _loop(x):
    total = 0.0
    for i in range(4):
        total = total + np.sum(x * i)
        print("step", total)
    return total


def _while(x):
    s = np.sum(x * x)
    while s > 0.1:                                  # the trip count changes from call to call
        s = s * 0.5
        print(s)
    return s


def _int_and_scalars(x):
    k = int(np.argmax(x))
    print(k, x[k], np.float32(x[0]), x[0] > 0.0, x.astype(np.int64))
    return x[k] * 1.0


def _draw_and_print(x):
    eps = np.random.standard_normal(2)
    print("eps", eps)
    return np.sum(x * eps) if np.sum(eps) > 0.0 else np.sum(x * x)


CASES = [_values, _branches, _loop, _while, _int_and_scalars, _draw_and_print]
INPUTS = [np.array([0.5, 1.0]), np.array([-0.5, -1.0]), np.array([0.25, -0.125]),
          np.array([1.5, 0.5]), np.array([-2.0, 0.75])]


def _output(capsys, fn, transform):
    np.random.seed(0)
    for x in INPUTS:
        value = transform(fn)(x)
        print("->", value[0] if isinstance(value, tuple) else value)
    return capsys.readouterr().out


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__.lstrip("_"))
@pytest.mark.parametrize("transform", ["jit", "value_and_grad"])
def test_prints_as_plain_python(capsys, backend, fn, transform, roll_short_loops):
    compiled = getattr(tracejit, transform)(fn, backend=backend)
    want = _output(capsys, fn, lambda f: f)
    if transform == "value_and_grad":
        want = _output(capsys, fn, lambda f: (lambda x: (f(x),)))
    assert _output(capsys, fn, lambda f: compiled) == want


def test_a_rolled_loop_prints_every_iteration(capsys, roll_short_loops):
    compiled = tracejit.jit(_loop)
    compiled(np.ones(2))
    capsys.readouterr()
    assert any(op.prim.name == "loop" for op in compiled.traces()[0].ops)
    compiled(np.full(2, 2.0))
    assert capsys.readouterr().out == "".join(f"step {4.0 * sum(range(i + 1))}\n"
                                              for i in range(4))


@pytest.mark.parametrize("fn", [_loop, _while, _values], ids=lambda f: f.__name__.lstrip("_"))
def test_second_order_prints_once(capsys, fn, roll_short_loops):
    """Forward over reverse runs the primal once: the tangent and adjoint loops do not print."""
    x = np.array([0.75, -1.25])
    fn(x)
    want = capsys.readouterr().out
    tracejit.hvp(fn)(x, np.ones(2))
    assert capsys.readouterr().out == want


def test_an_error_after_a_print_keeps_the_print(capsys):
    def f(x, idx):
        print("before", x[0])
        return x[idx]
    compiled = tracejit.jit(f)
    compiled(np.ones(3), np.array([0]))
    capsys.readouterr()
    with pytest.raises(IndexError):
        compiled(np.ones(3), np.array([5]))
    assert capsys.readouterr().out == "before 1.0\n"


@pytest.mark.parametrize("call, match", [
    ("print(x, file=sys.stderr)", "file="),
    ("print(object())", "print\\(\\) of a object"),
    ("print([x[0]])", "print\\(\\) of a list"),
])
def test_what_print_refuses(call, match):
    namespace = {"np": np, "sys": __import__("sys")}
    exec(f"def f(x):\n    {call}\n    return np.sum(x)\n", namespace)
    with pytest.raises(tracejit.UnsupportedError, match=match):
        tracejit.jit(namespace["f"])(np.ones(2))
