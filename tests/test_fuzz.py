"""Differential fuzzing: random NumPy programs (some reading an array through a global that is
changed in place and rebound between calls), written as Python source and compiled with `exec`
so the tracer sees real bytecode, are run plainly and through tracejit.

For every program: the compiled value equals plain execution, the gradient equals central finite
differences (float64), and a second call on inputs that flip data-dependent branches is still
right (the guards side-exit and re-trace). The program's structure comes from hypothesis (so a
failure shrinks to a small program); the input data comes from a seeded generator, so values are
generic (no exact ties or zeros that would put finite differences on a kink).

CI runs a fixed budget; `pytest -m fuzz --fuzz-examples 10000` is the long local mode.
"""
import itertools
import linecache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracejit
from conftest import numerical_grad

# short generated loops roll as long ones would (the machinery under test), see conftest
pytestmark = [pytest.mark.fuzz, pytest.mark.usefixtures("roll_short_loops")]

# programs per CI run; the numba backend builds a few kernels per program (~3 s), so it gets fewer
# — each of its calls is also checked against the numpy executor (see conftest's `backend`)
CI_EXAMPLES = {("straight", "numpy"): 120, ("branching", "numpy"): 180,
               ("straight", "numba"): 25, ("branching", "numba"): 35}

# ---- the program generator ----------------------------------------------------------------------
# elementwise templates that keep values bounded and smooth almost everywhere
UNARY = ["np.sin({0})", "np.cos({0})", "np.tanh({0})", "np.exp(np.tanh({0}))",
         "np.log1p({0} * {0})", "np.sqrt({0} * {0} + 1.0)", "np.arctan({0})", "np.square({0})",
         "-{0}", "np.abs({0})", "np.maximum({0}, 0.1)", "({0} * 0.5 + 0.25)",
         "np.clip({0}, -1.0, 1.0)", "{0} ** 2", "np.where({0} > 0.2, {0}, 0.5 * {0})"]
BINARY = ["({0} + {1})", "({0} - {1})", "({0} * {1})", "({0} / (1.0 + {1} * {1}))",
          "np.maximum({0}, {1})", "np.minimum({0}, {1})", "np.where({0} > {1}, {0}, {1} * 0.5)",
          "np.arctan2({0}, 1.5 + np.tanh({1}))", "np.add({0}, {1})"]
# candidate input shapes: all broadcast against the program's full shape
FULL_SHAPES = [(3,), (2, 3), (3, 1), (2, 2, 2)]


def _sub_shapes(full):
    """Shapes that broadcast to `full`: itself, trailing parts, and with axes set to 1."""
    shapes = {(), full}
    for k in range(1, len(full)):
        shapes.add(full[k:])
    for i in range(len(full)):
        shapes.add(full[:i] + (1,) + full[i + 1:])
    return sorted(shapes, key=lambda s: (len(s), s))


class Program:
    """Source text under construction, with the shape of every variable it defines."""

    def __init__(self, shapes):
        self.shapes = {f"x{i}": s for i, s in enumerate(shapes)}
        self.args = list(self.shapes)
        self.lines = []
        self.fresh = itertools.count()
        self.depth = 1

    def new(self, shape):
        name = f"v{next(self.fresh)}"
        self.shapes[name] = shape
        return name

    def emit(self, text):
        self.lines.append("    " * self.depth + text)

    def source(self, result):
        head = f"def prog({', '.join(self.args)}):"
        return "\n".join([head, *self.lines, f"    return {result}", ""])


@st.composite
def expressions(draw, prog, allow_shape_change=True):
    """(text, shape) of one expression over the program's variables."""
    names = sorted(prog.shapes)
    a = draw(st.sampled_from(names))
    sa = prog.shapes[a]
    kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce", "matmul", "index"]
                                if allow_shape_change else ["unary", "binary"]))
    if kind == "binary":
        b = draw(st.sampled_from(names))
        try:
            shape = np.broadcast_shapes(sa, prog.shapes[b])
        except ValueError:
            kind = "unary"
        else:
            return draw(st.sampled_from(BINARY)).format(a, b), shape
    if kind == "reduce" and sa:
        axis = draw(st.integers(0, len(sa) - 1))
        keep = draw(st.booleans())
        fn = draw(st.sampled_from(["np.sum", "np.mean", "np.max", "np.min"]))
        shape = sa[:axis] + ((1,) if keep else ()) + sa[axis + 1:]
        return f"{fn}({a}, axis={axis}, keepdims={keep})", shape
    if kind == "matmul" and len(sa) == 2:
        return f"({a} @ {a}.T)", (sa[0], sa[0])
    if kind == "index" and sa and sa[0] > 1:
        if draw(st.booleans()):
            return f"{a}[::-1]", sa
        return f"{a}[1]", sa[1:]
    return draw(st.sampled_from(UNARY)).format(a), sa


def _assign(draw, prog, allow_shape_change=True):
    text, shape = draw(expressions(prog, allow_shape_change))
    name = prog.new(shape)
    prog.emit(f"{name} = {text}")
    return name


def _condition(draw, prog):
    """A data-dependent test on a scalar derived from a variable."""
    a = draw(st.sampled_from(sorted(prog.shapes)))
    threshold = draw(st.sampled_from([0.0, 0.3, -0.3]))
    form = draw(st.sampled_from(["np.sum({0}) > {1}", "float(np.mean({0})) < {1}",
                                 "np.max({0}) > {1} and np.min({0}) < {1} + 1.0",
                                 "np.sum({0}).item() >= {1}", "not np.mean({0}) > {1}"]))
    return form.format(a, threshold)


def _if_statement(draw, prog):
    cond = _condition(draw, prog)
    a = draw(st.sampled_from(sorted(prog.shapes)))
    out = prog.new(prog.shapes[a])
    then_expr = draw(st.sampled_from(UNARY)).format(a)
    else_expr = draw(st.sampled_from(UNARY)).format(a)
    prog.emit(f"if {cond}:")
    prog.emit(f"    {out} = {then_expr}")
    if draw(st.booleans()):
        prog.emit("else:")
        prog.emit(f"    {out} = {else_expr}")
    else:
        prog.lines.insert(len(prog.lines) - 2, "    " * prog.depth + f"{out} = {a} * 1.0")


def _for_loop(draw, prog):
    a = draw(st.sampled_from(sorted(prog.shapes)))
    acc = prog.new(prog.shapes[a])
    trips = draw(st.integers(1, 5))
    step = draw(st.sampled_from(UNARY)).format(acc)
    prog.emit(f"{acc} = {a} * 1.0")
    prog.emit(f"for i in range({trips}):")
    if draw(st.booleans()):
        prog.emit(f"    {acc} = {acc} * 0.5 + {step} * (i + 1.0) * 0.1")
    else:
        prog.emit(f"    {acc} += {step} * 0.3")


def _while_loop(draw, prog):
    a = draw(st.sampled_from(sorted(prog.shapes)))
    acc = prog.new(prog.shapes[a])
    limit = draw(st.integers(1, 6))
    threshold = draw(st.sampled_from([0.0, 0.5, 1.0]))
    prog.emit(f"{acc} = {a} * 1.0")
    prog.emit("n = 0")
    prog.emit(f"while np.sum({acc} * {acc}) > {threshold} and n < {limit}:")
    prog.emit(f"    {acc} = {acc} * 0.7 + 0.1 * np.sin({acc})")
    prog.emit("    n += 1")


def _scalar_history(draw, prog):
    """Augmented assignment to a scalar kept in a list: `+=` must not alias the old value."""
    a = draw(st.sampled_from(sorted(prog.shapes)))
    out = prog.new(())
    prog.emit("total = 0.0")
    prog.emit("history = []")
    prog.emit(f"for i in range({draw(st.integers(2, 4))}):")
    prog.emit(f"    total += np.sum(np.sin({a})) * (i + 1.0)")
    prog.emit("    history.append(total)")
    prog.emit(f"{out} = history[0] - 0.5 * history[-1]")


STATEMENTS = {"if": _if_statement, "for": _for_loop, "while": _while_loop,
              "history": _scalar_history}


@st.composite
def programs(draw, branching):
    full = draw(st.sampled_from(FULL_SHAPES))
    n_args = draw(st.integers(1, 3))
    shapes = [draw(st.sampled_from(_sub_shapes(full))) for _ in range(n_args)]
    prog = Program(shapes)
    global_shape = draw(st.sampled_from([None, *_sub_shapes(full)]))
    if global_shape is not None:          # an array read through a global, changed between calls
        prog.shapes["G"] = global_shape
    for _ in range(draw(st.integers(1, 7))):
        if branching and draw(st.integers(0, 2)) == 0:
            STATEMENTS[draw(st.sampled_from(sorted(STATEMENTS)))](draw, prog)
        else:
            _assign(draw, prog)
    made = sorted((n for n in prog.shapes if n.startswith("v")), key=lambda n: -int(n[1:]))
    used = (made + [n for n in sorted(prog.shapes) if not n.startswith("v")])[:3]
    result = " + ".join(f"{w} * np.sum({n})" for w, n in zip((1.0, 0.5, 0.25), used))
    seed = draw(st.integers(0, 2**32 - 1))
    return prog.source(result), shapes, seed, global_shape


# ---- running and checking a program --------------------------------------------------------------
_counter = itertools.count()


def compile_program(source, namespace):
    """A real Python function from source text; linecache lets tracebacks show its lines."""
    filename = f"<fuzz-{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace["prog"]


def make_inputs(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.5, 1.5, size=s) for s in shapes]


def _fd_grads(fn, inputs):
    grads = []
    for i, x in enumerate(inputs):
        def along(xi, i=i):
            return fn(*inputs[:i], xi, *inputs[i + 1:])
        grads.append(numerical_grad(along, x))
    return grads


def check_call(compiled, fn, inputs, source):
    expected = float(fn(*[x.copy() for x in inputs]))
    value, grads = compiled(*[x.copy() for x in inputs])
    scale = max(1.0, abs(expected))
    assert np.isclose(float(value), expected, rtol=1e-9, atol=1e-11 * scale), \
        f"value {value!r} != plain {expected!r}\n{source}"
    for i, (got, want) in enumerate(zip(grads, _fd_grads(fn, inputs))):
        assert np.shape(got) == np.shape(want), f"gradient shape of x{i}\n{source}"
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale,
                                   err_msg=f"gradient of x{i}\n{source}")


def check_program(source, shapes, seed, backend, global_shape=None):
    namespace = {"np": np}
    if global_shape is not None:
        namespace["G"] = make_inputs([global_shape], seed + 1)[0]
    fn = compile_program(source, namespace)
    inputs = make_inputs(shapes, seed)
    with np.errstate(all="ignore"):
        if not np.isfinite(fn(*inputs)):
            return None                               # overflow: nothing smooth to compare
        compiled = tracejit.value_and_grad(fn, argnums=tuple(range(len(inputs))),
                                           backend=backend)
        check_call(compiled, fn, inputs, source)
        flipped = [-0.8 * x for x in inputs]      # flips sign-based branches of most programs
        if np.isfinite(fn(*flipped)):
            check_call(compiled, fn, flipped, source)
        check_call(compiled, fn, inputs, source)      # the first entry is still right
        if global_shape is not None:
            namespace["G"] *= -1.3                     # in place: read again at call time
            check_call(compiled, fn, inputs, source)
            namespace["G"] = namespace["G"] * 0.5 + 0.2   # rebound
            check_call(compiled, fn, inputs, source)
        primal = tracejit.jit(fn, backend=backend)
        np.testing.assert_allclose(primal(*flipped), fn(*flipped), rtol=1e-9, atol=1e-12)
    return compiled.stats()


def _run(kind, fuzz_examples, backend):
    n, long_mode = fuzz_examples
    budget = settings(max_examples=n or CI_EXAMPLES[kind, backend], deadline=None,
                      derandomize=not long_mode,
                      suppress_health_check=list(HealthCheck), database=None)
    seen = []

    @budget
    @given(programs(branching=kind == "branching"))
    def run(case):
        stats = check_program(*case[:3], backend, case[3])
        if stats is not None:
            seen.append(stats["side_exits"] > 0)
    run()
    return seen


def test_fuzz_straight_line_programs(fuzz_examples, backend):
    _run("straight", fuzz_examples, backend)


def test_fuzz_branching_programs(fuzz_examples, backend):
    retraced = _run("branching", fuzz_examples, backend)
    # the flipped second call must really exercise side exits, not only replay the first trace
    assert sum(retraced) >= 0.1 * len(retraced), f"{sum(retraced)} of {len(retraced)} re-traced"


def test_flipped_branch_side_exits_and_retraces(backend):
    source = ("def prog(x0):\n"
              "    if np.sum(x0) > 0.0:\n"
              "        v0 = np.sin(x0)\n"
              "    else:\n"
              "        v0 = np.cos(x0)\n"
              "    return np.sum(v0)\n")
    seed = next(s for s in range(100) if make_inputs([(3,)], s)[0].sum() > 0)
    stats = check_program(source, [(3,)], seed, backend)
    assert stats["side_exits"] >= 1 and stats["misses"] == 2
