"""NumPy's aliasing, exactly: which operations give views and which copies, and writes through
any alias seen by every other (issue 18).

Every program here builds a local array, takes a view or copy of it with one operation of the
table, writes through the alias and/or into the base, and reads both; the compiled value must
equal plain NumPy's and the gradient central finite differences. The decisions themselves are
checked against np.shares_memory and NumPy's writeable flag on the concrete arrays.
"""
import numpy as np
import pytest

import tracejit
import tracejit.numpy as tnp
from conftest import numerical_grad
from tracejit.errors import UnsupportedError
from tracejit.ir import Aval
from tracejit.ops.alias import View
from tracejit.ops.core import Builder

X = np.array([0.3, -0.7, 1.1, 0.5, -0.2])

# name -> operation on a 3x4 float array (xp: numpy, or tracejit.numpy for the eager checks)
OPERATIONS = {
    "slice": lambda xp, y: y[1:],
    "strided": lambda xp, y: y[::2, 1:],
    "row": lambda xp, y: y[1],
    "column": lambda xp, y: y[:, 2],
    "newaxis": lambda xp, y: y[None, 1],
    "ellipsis": lambda xp, y: y[..., 1:3],
    "zero_d": lambda xp, y: y[1, 2, ...],
    "reversed": lambda xp, y: y[::-1],
    "chain": lambda xp, y: y[1:].T[::2],
    "reshape": lambda xp, y: y.reshape(4, 3),
    "np.reshape": lambda xp, y: xp.reshape(y, (2, 6)),
    "reshape_of_T": lambda xp, y: y.T.reshape(-1),
    "ravel": lambda xp, y: y.ravel(),
    "np.ravel": lambda xp, y: xp.ravel(y),
    "ravel_of_columns": lambda xp, y: y[:, 1:].ravel(),
    "ravel_of_rows": lambda xp, y: y[1:].ravel(),
    "reshape_of_strided": lambda xp, y: y[:, ::2].reshape(-1),
    "ravel_of_strided": lambda xp, y: y[:, ::2].ravel(),
    "T": lambda xp, y: y.T,
    "transpose": lambda xp, y: xp.transpose(y),
    "swapaxes": lambda xp, y: y.swapaxes(0, 1),
    "moveaxis": lambda xp, y: xp.moveaxis(y[None], 0, 2),
    "squeeze": lambda xp, y: y[None].squeeze(),
    "expand_dims": lambda xp, y: xp.expand_dims(y, 1),
    "atleast_3d": lambda xp, y: xp.atleast_3d(y),
    "flip": lambda xp, y: xp.flip(y, 1),
    "rot90": lambda xp, y: xp.rot90(y),
    "asarray": lambda xp, y: xp.asarray(y),
    "asanyarray": lambda xp, y: xp.asanyarray(y),
    "view": lambda xp, y: y.view(),
    "real": lambda xp, y: y.real,
    "imag": lambda xp, y: y.imag,
    "diagonal": lambda xp, y: y.diagonal(),
    "broadcast_to": lambda xp, y: xp.broadcast_to(y, (2, 3, 4)),
    "copy": lambda xp, y: y.copy(),
    "np.copy": lambda xp, y: xp.copy(y),
    "np.array": lambda xp, y: xp.array(y),
    "flatten": lambda xp, y: y.flatten(),
    "astype": lambda xp, y: y.astype(np.float64),
    "fancy": lambda xp, y: y[[0, 2]],
    "arithmetic": lambda xp, y: y * 1.0,
}


def _alias_write(kind, v, x):
    if kind == "item":
        v[(0,) * v.ndim] = x[0] * 3.0
    elif kind == "slice":
        v[:1] = x[1]
    elif kind == "augmented":
        v += x[2]
    elif kind == "fill":
        v.fill(x[4])
    return v


def _base_write(kind, y, x):
    if kind == "item":
        y[1, 2] = x[3] * 2.0
    elif kind == "augmented":
        y[1:] *= x[0]


ALIAS_WRITES = ["none", "item", "slice", "augmented"]
BASE_WRITES = ["none", "item", "augmented"]


def _weighted(a):
    """A read that sees every element by position."""
    return np.sum(np.sin(a) * np.arange(1.0, a.size + 1.0).reshape(a.shape))


def make_program(operation, alias_write, base_write, alias_first=True):
    op = OPERATIONS[operation]

    def program(x):
        y = np.outer(x[:3], x[1:]) + 1.0
        v = op(np, y)
        if alias_first:
            v = _alias_write(alias_write, v, x)
            _base_write(base_write, y, x)
        else:
            _base_write(base_write, y, x)
            v = _alias_write(alias_write, v, x)
        return _weighted(v) + 2.0 * _weighted(y)
    return program


def check_program(program, backend, x=X):
    """Compiled value and gradient equal plain NumPy and finite differences; or both raise."""
    try:
        expected = program(x)
    except (ValueError, IndexError) as error:
        with pytest.raises(type(error), match="read-only" if isinstance(error, ValueError) else None):
            tracejit.value_and_grad(program, backend=backend)(x)
        return str(error)
    value, grad = tracejit.value_and_grad(program, backend=backend)(x)
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, numerical_grad(program, x), rtol=1e-6, atol=1e-7)
    return None


# ---- the table: operation x write through it x write to its base x read of both -----------------
@pytest.mark.parametrize("base_write", BASE_WRITES)
@pytest.mark.parametrize("alias_write", ALIAS_WRITES)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_table_numpy_backend(operation, alias_write, base_write):
    check_program(make_program(operation, alias_write, base_write), "numpy")
    if alias_write != "none" and base_write != "none":
        check_program(make_program(operation, alias_write, base_write, alias_first=False), "numpy")


def make_combined_program(operation):
    """Every kind of write of the table in one program (one kernel per operation on numba)."""
    op = OPERATIONS[operation]

    def program(x):
        y = np.outer(x[:3], x[1:]) + 1.0
        v = op(np, y)
        total = _weighted(v)
        v[(0,) * v.ndim] = x[0] * 3.0
        total = total + _weighted(y)
        y[1, 2] = x[3] * 2.0
        total = total + _weighted(v)
        v += x[2]
        y[1:] *= x[0]
        return total + _weighted(v) + 2.0 * _weighted(y)
    return program


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_table_every_backend(operation, backend):
    check_program(make_combined_program(operation), backend)


# ---- the decisions themselves, against NumPy on the concrete arrays ---------------------------
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_views_and_copies_follow_numpy(operation):
    op = OPERATIONS[operation]
    y = np.outer(X[:3], X[1:]) + 1.0
    expected = op(np, y)
    with Builder(concrete=True) as builder:
        traced = builder.new_input(Aval(y.shape, y.dtype), y)
        result = op(tnp, traced)
        shares = result is traced or (isinstance(result, View) and result.storage is traced.storage)
        assert shares == np.shares_memory(expected, y), operation
        assert (isinstance(result, View) and result.readonly) == (not expected.flags.writeable)
        np.testing.assert_array_equal(result.val, expected)


LAYOUTS = {"C": lambda y: y * 1.0, "F": lambda y: y.T * 1.0, "strided": lambda y: y[:, ::2]}
RESHAPES = {"ravel": lambda a: a.ravel(), "reshape": lambda a: a.reshape(a.shape[::-1]),
            "rows": lambda a: a[1:].reshape(-1), "T_ravel": lambda a: a.T.ravel()}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("reshape", sorted(RESHAPES))
def test_reshape_is_a_view_exactly_when_numpy_says(layout, reshape):
    """Reshape and ravel copy when the strides do not allow a view (F-ordered results of
    arithmetic on a transpose, strided slices): the layout is NumPy's own."""
    def program(x):
        y = np.outer(x, x[:4]) + 1.0
        a = LAYOUTS[layout](y)
        r = RESHAPES[reshape](a)
        r[1] = x[0] * 5.0
        return _weighted(a) + 2.0 * _weighted(r) + 3.0 * _weighted(y)
    check_program(program, "numpy")


# ---- the reproducers of issue 18, and the copies that aliased ----------------------------------
def view_then_write_base(x):
    y = x * 1.0
    v = y[1:]
    y[1] = 0.0
    return np.sum(v)


def write_through_reshape(x):
    y = x * 1.0
    y.reshape(3, 1)[2, 0] = 0.0
    return np.sum(y)


def write_through_T(x):
    y = np.outer(x, x)
    y.T[0, 1] = 0.0
    return np.sum(y)


def copy_of_local(x):
    a = np.zeros(3)
    b = a.copy()
    b[0] = x[0]
    return np.sum(a) + 2.0 * b[0]


def flatten_of_local(x):
    y = x * 1.0
    f = y.flatten()
    f[0] = 5.0
    return np.sum(y) + np.sum(f * x)


def astype_of_local(x):
    y = x * 1.0
    f = y.astype(np.float64)
    f[0] = 5.0
    return np.sum(y * x) + np.sum(f)


@pytest.mark.parametrize("fn", [view_then_write_base, write_through_reshape, write_through_T,
                                copy_of_local, flatten_of_local, astype_of_local])
def test_issue_18_reproducers(fn, backend):
    check_program(fn, backend, X[:3])


# ---- read-only views, and writes that are refused ----------------------------------------------
def writes_broadcast(x):
    y = x * 1.0
    b = np.broadcast_to(y, (2, 5))
    b[0, 0] = 1.0
    return np.sum(b)


def augments_diagonal(x):
    y = np.outer(x, x)
    d = y.diagonal()
    d += 1.0
    return np.sum(d)


def writes_imag(x):
    y = x * 1.0
    y.imag[0] = 1.0
    return np.sum(y)


@pytest.mark.parametrize("fn", [writes_broadcast, augments_diagonal, writes_imag])
def test_read_only_views_refuse_writes_as_numpy_does(fn):
    with pytest.raises(ValueError, match="read-only"):
        fn(X)
    with pytest.raises(ValueError, match="read-only"):
        tracejit.jit(fn)(X)


def writes_view_of_argument(x):
    v = x.reshape(5, 1)
    v[0, 0] = 1.0
    return np.sum(v)


def test_writes_through_views_of_arguments_stay_refused():
    with pytest.raises(UnsupportedError, match="argument x"):
        tracejit.jit(writes_view_of_argument)(X)


def returns_copies(x):
    y = x * 1.0
    return x.copy(), y, y.copy(), np.array(y)


def test_returned_copies_share_nothing(backend):
    x = X.copy()
    outputs = tracejit.jit(returns_copies, backend=backend)(x)
    for out in outputs:
        assert not np.shares_memory(out, x)
    for k, out in enumerate(outputs[2:]):
        assert not np.shares_memory(out, outputs[1])
    outputs[0][0] = 99.0
    np.testing.assert_array_equal(x, X)


# ---- NumPy's writing functions --------------------------------------------------------------------
def copyto_into_view(x):
    y = np.outer(x, x[:3])
    np.copyto(y[1:3], x[:3] * 2.0)
    return _weighted(y)


def copyto_where(x):
    y = x * 1.0
    v = y[::-1]
    np.copyto(v, x * x, where=x > 0)
    return _weighted(y) + _weighted(v)


def put_into_local(x):
    y = np.outer(x[:3], x[:3])
    t = y.T
    np.put(y, [0, 4, 7], x[:3])
    return _weighted(t)


def fill_diagonal_local(x):
    y = np.outer(x, x)
    r = y[1]
    np.fill_diagonal(y, x[0] * 2.0)
    return _weighted(y) + _weighted(r)


def fill_view(x):
    y = np.outer(x[:3], x)
    y[:, 1:3].fill(x[2])
    return _weighted(y)


def add_at_through_view(x):
    y = np.outer(x[:3], x)
    v = y.T
    np.add.at(v, [0, 2], x[:3] * 2.0)
    return _weighted(y)


def scales_rows_while_iterating(x):
    y = np.outer(x[:3], x)
    for k, row in enumerate(y):
        row *= x[k] + 2.0
        row.sort()
    return _weighted(y)


@pytest.mark.parametrize("fn", [copyto_into_view, copyto_where, put_into_local,
                                fill_diagonal_local, fill_view, add_at_through_view,
                                scales_rows_while_iterating])
def test_writing_functions_write_through_aliases(fn, backend):
    check_program(fn, backend)


# ---- loops that write through views ---------------------------------------------------------------
def writes_held_views_in_loop(x, n):
    y = np.outer(x[:3], x) + 1.0
    col = y[:, 1]
    row = y[1]
    for i in range(n):
        row[1:] = row[:-1] * 0.5 + x[1:] * 0.25
        col *= 0.9
    return _weighted(y) + _weighted(col) + _weighted(row)


def writes_rows_through_views(x, n):
    y = np.outer(x[:3], x) + 1.0
    col = y[:, 1]
    for i in range(n):
        row = y[i % 3]
        row[1:] = row[:-1] * 0.5 + x[1:] * 0.25
        col *= 0.9
    return _weighted(y) + _weighted(col)


def reads_stale_view_in_loop(x, n):
    y = x * 1.0
    tail = y[1:]
    total = 0.0
    for i in range(n):
        y[0] = y[0] + np.sum(np.sin(tail))
        y[1:] = tail * 0.5 + y[0] * 0.1
        total = total + y[0]
    return total + _weighted(tail)


# (function, whether its loop rolls when rolling is on: `y[i % 3]` reads a different row in
# each iteration, which the rolled body cannot express, so it stays unrolled)
VIEW_LOOPS = [(writes_held_views_in_loop, True), (writes_rows_through_views, False),
              (reads_stale_view_in_loop, True)]


@pytest.mark.parametrize("fn, rolls", VIEW_LOOPS)
@pytest.mark.parametrize("rolled", [True, False])
def test_loops_writing_through_views(fn, rolls, rolled, backend, monkeypatch):
    import tracejit.frontend.context as context
    monkeypatch.setattr(context, "UNROLL_OPS", 0 if rolled else 10**9)
    monkeypatch.setattr(context, "ROLL_LOOPS", rolled)
    for n in (5, 7):
        trace = tracejit.make_trace(lambda x: fn(x, n))(X)
        assert any(op.prim.name == "loop" for op in trace.ops) == (rolled and rolls)
        check_program(lambda x: fn(x, n), backend)


# ---- a views fuzzer: random views, copies, writes through them and reads, against NumPy -------
# Statements are drawn at random and kept when plain NumPy runs them (so writes into read-only
# views and shape mismatches drop out); loops repeat a few of them. CI runs a fixed budget;
# `pytest -m fuzz --fuzz-examples N` runs N programs per backend (ALIAS_FUZZ_START: first seed).
ALIAS_OPS = ["{a}[1:]", "{a}[::2]", "{a}[::-1]", "{a}[0]", "{a}[..., 1:]", "{a}[None]",
             "{a}[1:, None]", "{a}.T", "{a}.reshape(-1)", "{a}.ravel()", "np.ravel({a})",
             "np.reshape({a}, {a}.shape[::-1])", "{a}.swapaxes(0, -1)", "np.expand_dims({a}, 0)",
             "{a}.squeeze()", "np.flip({a}, -1)", "np.asarray({a})", "np.moveaxis({a}, 0, -1)",
             "np.broadcast_to({a}, (2,) + {a}.shape)", "{a}.diagonal()", "{a}.copy()",
             "{a}.flatten()", "np.array({a})", "{a}.astype(np.float64)", "{a}[[0, -1]]",
             "{a} * 1.0", "np.copy({a})", "{a}.T.reshape(-1)", "{a}[:, ::2].ravel()",
             "np.atleast_2d({a})", "np.rot90({a})", "{a}.real", "np.transpose({a})",
             "{a}[:, 1]", "{a}[1, ...]", "{a}.T[::2]", "np.squeeze({a}[:1])"]
ALIAS_WRITES = ["{a}[0] = {e}", "{a}[-1:] = {e}", "{a}[..., :1] = {e}", "{a} += {e}",
                "{a}[::2] *= {e}", "{a}.fill({e})", "np.copyto({a}, {e})", "{a}[...] = {a} * {e}",
                "{a}[i % {a}.shape[0]] = {e}", "{a}[i % {a}.shape[0]] += {e}",
                "{a}[i % {a}.shape[0]:] *= {e}", "np.put({a}, [0, 1], {e})",
                "np.fill_diagonal({a}, {e})", "np.add.at({a}, [0, 0], {e})"]
# bounded factors: repeated `*=` in loops must not overflow finite differences
VALUES = ["x[{k}]", "np.sin(x[{k}])", "x[{k}] * 0.25 + 0.75", "np.tanh(np.sum({b}))",
          "np.tanh({b}[0])"]
PROGRAM = """\
def prog(x):
    a0 = np.outer(x[:3], x[1:5]) + 1.0
    a1 = x * 1.0
    a2 = np.zeros((2, 3, 2))
    total = 0.0
    i = 1
{body}
    return total + {result}
"""


def _weights_read(a):
    return np.sum(np.sin(a) * np.arange(1.0, a.size + 1.0).reshape(a.shape))


class _ViewsProgram:
    def __init__(self, rng, x):
        self.rng, self.names, self.lines = rng, ["a0", "a1", "a2"], []
        self.env = {"np": np, "x": x.copy(), "_r": _weights_read, "total": 0.0,
                    "a0": np.outer(x[:3], x[1:5]) + 1.0, "a1": x * 1.0, "a2": np.zeros((2, 3, 2)), "i": 1}

    def pick_name(self):
        """Mostly one of the latest arrays: views of views, and writes through them."""
        recent = self.names[-4:] if self.rng.random() < 0.6 else self.names
        return self.rng.choice(recent)

    def statement(self):
        pick = self.rng.choice
        a, b = self.pick_name(), self.pick_name()
        kind = self.rng.random()
        if kind < 0.35:
            return f"a{len(self.names)} = " + pick(ALIAS_OPS).format(a=a)
        target = self.env.get(a)
        # NumPy's ufunc.at writes through read-only views (diagonal) where every other write
        # raises; tracejit raises for all of them (tested above), so none is drawn here
        if kind < 0.8 and (not isinstance(target, np.ndarray) or target.flags.writeable):
            value = pick(VALUES).format(k=self.rng.integers(6), b=b)
            return pick(ALIAS_WRITES).format(a=a, e=value)
        return f"total = total + _r({a})"

    def add(self, lines, indent="    "):
        """Keep `lines` when plain NumPy runs them."""
        trial = {k: (v.copy() if isinstance(v, np.ndarray) and k == "x" else v)
                 for k, v in self.env.items()}
        try:
            exec("\n".join(lines), trial)
        except (ValueError, IndexError, TypeError, ZeroDivisionError, AttributeError):
            return
        self.env = trial
        self.lines += [indent + line for line in lines]
        self.names += [line.split(" = ")[0] for line in lines
                       if line.split(" = ")[0] not in self.names and line[:1] == "a" and
                       line.split(" = ")[0].isidentifier()]

    def build(self, n_statements):
        while len(self.lines) < n_statements:
            if self.rng.random() < 0.15:
                body = [self.statement() for _ in range(self.rng.integers(1, 4))]
                self.add([f"for i in range({self.rng.integers(2, 5)}):"] +
                         ["    " + line for line in body])
            else:
                self.add([self.statement()])
        result = " + ".join(f"{k + 1.0} * _r({n})" for k, n in enumerate(self.names))
        return PROGRAM.format(body="\n".join(self.lines), result=result)


def run_views_program(seed, backend):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, size=6)
    source = _ViewsProgram(rng, x).build(int(rng.integers(4, 16)))
    namespace = {"np": np, "_r": _weights_read}
    from test_fuzz import compile_program
    program = compile_program(source, namespace)
    compiled = tracejit.value_and_grad(program, backend=backend)
    for call, inputs in enumerate((x, rng.uniform(-1.5, 1.5, size=6))):
        expected = program(inputs.copy())
        value, grad = compiled(inputs.copy())
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-9), f"seed {seed}\n{source}"
        if call == 0:
            np.testing.assert_allclose(grad, numerical_grad(program, inputs), rtol=1e-5,
                                       atol=1e-6 * max(1.0, abs(expected)),
                                       err_msg=f"seed {seed}\n{source}")


VIEWS_FUZZ_CI = {"numpy": 120, "numba": 6}


@pytest.mark.fuzz
@pytest.mark.usefixtures("roll_short_loops")
def test_views_fuzz(backend, fuzz_examples):
    import os
    n, _ = fuzz_examples
    start = int(os.environ.get("ALIAS_FUZZ_START", "0"))
    for seed in range(start, start + (n or VIEWS_FUZZ_CI[backend])):
        try:
            run_views_program(seed, backend)
        except Exception as error:
            raise AssertionError(f"views fuzz program of seed {seed}") from error


def _scalar_made_array_written(x0):
    s = np.mean(x0 * 1.0) * 2.0
    a = np.asarray(s)                        # NumPy: a new 0-d array, not the scalar itself
    a[()] = a * 3.0
    return a + s + (0.5 if np.asarray(s) is s else 2.0)


def _zero_d_array_stays_an_array(x0):
    c = np.zeros(())
    c += np.sum(x0)                          # 0-d arithmetic gives a scalar; `c` stays an array
    c *= 2.0
    b = np.array(float(np.sum(x0)))
    b[...] = 1.5 * b
    return c * isinstance(c, np.ndarray) + b * type(b).__name__.count("n")


@pytest.mark.parametrize("fn", [_scalar_made_array_written, _zero_d_array_stays_an_array])
@pytest.mark.parametrize("make", [np.array, np.float64], ids=["0-d array", "float64"])
def test_zero_d_arrays_and_scalars_keep_their_kind_through_writes(fn, make, backend):
    compiled = tracejit.jit(fn, backend=backend)
    for value in (0.2, -0.3, 1.7):
        x = make(value)
        assert np.allclose(compiled(x), fn(x), rtol=1e-13)
        assert np.allclose(tracejit.grad(fn, backend=backend)(x), numerical_grad(fn, np.array(x)))


def _write_through_reshape_of_derived(x):
    y = x * 1.0                 # keeps x's memory order: reshape views a C array, copies an F one
    v = y.reshape(-1)
    v[0] = 100.0
    return np.sum(y)


def test_view_or_copy_follows_the_argument_layout_of_each_call(backend):
    compiled = tracejit.jit(_write_through_reshape_of_derived, backend=backend)
    c = np.arange(6.0).reshape(2, 3)
    layouts = [c, np.asfortranarray(c), c[:, ::-1], c, np.asfortranarray(c)]
    for x in layouts:
        assert compiled(x) == _write_through_reshape_of_derived(x)
    assert compiled.stats()["misses"] == 3          # one trace per layout, then cache hits


def test_traces_that_read_no_layout_do_not_guard_strides():
    compiled = tracejit.jit(lambda x: np.sum(x.reshape(-1) * 2.0), backend="numpy")
    c = np.arange(6.0).reshape(2, 3)
    for x in (c, np.asfortranarray(c), c[:, ::-1]):
        compiled(x)
    assert compiled.stats()["misses"] == 1
