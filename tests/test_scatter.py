"""Writes through data-dependent and repeated indices (`y[idx] = v`): the `scatter` primitive.

One table, every index kind: each case is a function of a float64 array `x` (and sometimes an int
array argument `idx`), checked on both backends for its value against plain NumPy, its gradient
against central finite differences, and a second call with other data (other indices) that must
be right without tracing again, unless the case says its trace depends on the index values (a
mask's count is guarded).
"""
import numpy as np
import pytest

import tracejit
from conftest import numerical_grad

W = np.arange(1.0, 7.0)
W2 = np.arange(1.0, 21.0).reshape(4, 5)


def _argsort_write(x):
    y = np.zeros(6)
    y[np.argsort(x)[:3]] = x[:3] * 2.0
    return np.sum(y * W)


def _argmax_write(x):
    y = x * 1.0
    y[np.argmax(x)] = np.sin(x[0])
    return np.sum(y * y * W)


def _nonzero_write(x):
    y = x ** 2
    y[np.nonzero(x > 0.0)] = 0.5 * x[x > 0.0]
    return np.sum(y * W)


def _where_positions(x):
    y = np.ones(6)
    pos = np.where(x < 0.2)[0]
    y[pos] = np.cos(x[pos]) * x[0]
    return np.sum(y * W)


def _argument_index(x, idx):
    y = np.zeros(6)
    y[idx] = x[:3] ** 2
    return np.sum(y * W)


def _repeated_constant(x):
    y = x * 1.0
    y[[0, 2, 0, 5]] = x[1:5] ** 2          # index 0 twice: the last write (x[3]**2) stays
    return np.sum(y * y * W)


def _repeated_data(x):
    y = x * 0.5
    y[np.argsort(x) % 3] = np.sin(x)        # every position written twice: the later stays
    return np.sum(y * W)


def _negative_data(x):
    y = x * 1.0
    y[np.argmax(x) - 6] = x[1] * x[2]       # negative: counts from the end
    return np.sum(y * W)


def _mask_values(x):
    y = x * 1.0
    y[y > 0.25] = np.sin(y[y > 0.25]) * 2.0  # non-scalar value of mask.sum() elements
    return np.sum(y * y * W)


def _mask_2d(x):
    y = np.outer(x[:4], x[1:6])
    mask = y > 0.1
    y[mask] = np.exp(y[mask]) * 0.5
    return np.sum(y * W2)


def _row_and_slice(x):
    y = np.zeros((4, 5))
    y[np.argmax(x[:4]), 1:3] = x[:2] * x[3]
    return np.sum(y * W2)


def _column_index(x):
    y = np.ones((4, 5)) * x[0]
    y[:, np.argsort(x)[:2]] = x[:4, None] * x[1]
    return np.sum(y ** 2 * W2)


def _two_arrays(x):
    y = np.zeros((4, 5))
    rows, cols = np.argsort(x)[:3] % 4, np.argsort(-x)[:3] % 5
    y[rows, cols] = x[:3] * 3.0
    return np.sum(y * W2)


def _mask_rows(x):
    y = np.outer(x[:4], x[:5])
    y[x[:4] > 0.0, 1:4] = x[1:4] ** 2       # a row mask with a slice
    return np.sum(y * W2)


def _through_view(x):
    y = np.zeros(6)
    tail = y[2:]
    y[np.argsort(x)[:2]] = x[:2] + 1.0      # seen through the view taken before the write
    return np.sum(tail * W[2:]) + np.sum(y)


def _into_view(x):
    y = np.zeros((4, 5))
    row = y[1]
    row[np.argsort(x)[:3] % 5] = x[:3]      # a write through a view reaches its base
    return np.sum(y * W2)


def _put_data(x):
    y = np.zeros(6)
    np.put(y, np.argsort(x)[:4], x[:2] * 2.0)    # the values repeat along the indices
    return np.sum(y * W)


def _add_at_data(x):
    y = np.zeros(6)
    np.add.at(y, np.argsort(x) % 4, x ** 2)      # repeated indices accumulate
    return np.sum(y * W)


def _add_at_column(x):
    y = np.zeros((4, 5))
    np.add.at(y, (slice(None), np.argsort(x)[:3] % 5), x[:4, None] * x[1])
    return np.sum(y * W2)


def _separated_indices(x):
    y = np.zeros((2, 3, 4))
    order = np.argsort(x)[:2]
    y[order % 2, :, order % 4] = x[:3]      # advanced indices apart: NumPy puts them first
    return np.sum(y * np.arange(24.0).reshape(2, 3, 4))


def _augmented_repeated(x):
    y = x * 1.0
    y[np.argsort(x) % 2] += x[::-1]         # y[i] = y[i] + v: the last write of each stays
    return np.sum(y * y * W)


def _unsigned_index(x):
    y = x * 1.0
    y[np.argsort(x).astype(np.uint32)[:2]] = x[4] * x[5]
    return np.sum(y * W)


def _empty_mask(x):
    y = x * 2.0
    y[x > 100.0] = x[:0]                    # no true entry: nothing written
    return np.sum(y * y)


def _second_order(x):
    y = x * 1.0
    y[np.argsort(x)[:3]] = x[3:] ** 3
    return np.sum(y ** 2 * W)


# (function, takes an index argument, its trace depends on the index values)
CASES = [
    (_argsort_write, False, False), (_argmax_write, False, False),
    (_nonzero_write, False, True), (_where_positions, False, True),
    (_argument_index, True, False), (_repeated_constant, False, False),
    (_repeated_data, False, False), (_negative_data, False, False),
    (_mask_values, False, True), (_mask_2d, False, True), (_row_and_slice, False, False),
    (_column_index, False, False), (_two_arrays, False, False), (_mask_rows, False, True),
    (_through_view, False, False), (_into_view, False, False), (_put_data, False, False),
    (_add_at_data, False, False), (_add_at_column, False, False),
    (_separated_indices, False, False), (_augmented_repeated, False, False),
    (_unsigned_index, False, False), (_empty_mask, False, False), (_second_order, False, False),
]

X1 = np.array([0.3, -1.2, 0.8, 0.5, -0.4, 1.1])
X2 = np.array([-0.7, 0.9, 0.15, -1.3, 1.6, 0.45])    # other order, other signs: other indices
I1, I2 = np.array([4, 0, 2]), np.array([-1, 3, -6])


def _args(x, with_index, idx):
    return (x, idx) if with_index else (x,)


@pytest.mark.parametrize("fn, with_index, value_dependent", CASES,
                         ids=[c[0].__name__.lstrip("_") for c in CASES])
def test_scatter_value_and_gradient(backend, fn, with_index, value_dependent):
    compiled = tracejit.value_and_grad(fn, backend=backend)
    for x, idx in ((X1, I1), (X2, I2), (X1, I1)):
        args = _args(x.copy(), with_index, idx)
        want = fn(*[a.copy() for a in args])
        value, grad = compiled(*args)
        assert np.isclose(value, want, rtol=1e-12, atol=1e-12), (value, want)
        expected = numerical_grad(lambda xi: fn(*_args(xi, with_index, idx)), x)
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-7)
    if not value_dependent:
        assert compiled.stats()["misses"] == 1, compiled.explain()


@pytest.mark.parametrize("fn", [_second_order, _repeated_data, _column_index],
                         ids=lambda f: f.__name__)
def test_scatter_hessian_vector_product(fn):
    """Forward over reverse: the scatter's JVP and VJP rules compose (second order)."""
    v = np.linspace(-1.0, 1.0, 6)
    got = tracejit.hvp(fn)(X1, v)
    grad = tracejit.jit_grad(fn)
    h = 1e-5
    want = (grad(X1 + h * v) - grad(X1 - h * v)) / (2 * h)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_last_write_wins_and_gets_the_gradient(backend):
    def f(x):
        y = np.zeros(3)
        y[[1, 1, 1]] = x
        return y[1] * 10.0 + np.sum(y)
    value, grad = tracejit.value_and_grad(f, backend=backend)(np.array([1.0, 2.0, 3.0]))
    assert value == f(np.array([1.0, 2.0, 3.0])) == 33.0
    np.testing.assert_array_equal(grad, [0.0, 0.0, 11.0])


def test_overwritten_elements_of_the_base_get_no_gradient(backend):
    def f(x):
        y = x * 2.0
        y[np.argsort(x)[:2]] = 0.0
        return np.sum(y * W)
    x = X1.copy()
    _, grad = tracejit.value_and_grad(f, backend=backend)(x)
    written = np.argsort(x)[:2]
    assert np.all(grad[written] == 0.0)
    np.testing.assert_allclose(grad, numerical_grad(f, x), rtol=1e-6, atol=1e-7)


# ---- out of range: NumPy's IndexError, when traced and on a later call ---------------------------
def _write_at(x, idx):
    y = np.zeros(4)
    y[idx] = x[:2]
    return np.sum(y * W[:4])


def _write_at_column(x, idx):
    y = np.zeros((3, 4))
    y[:, idx] = x[:3, None]
    return np.sum(y)


def _read_at_data(x):
    return x[np.argmax(x) - 7] * 2.0        # -7 and below: out of range for 6 elements


def _numpy_error(fn, *args):
    with pytest.raises(IndexError) as info:
        fn(*[a.copy() for a in args])
    return str(info.value)


@pytest.mark.parametrize("fn, good, bad", [
    (_write_at, np.array([1, -4]), np.array([0, 4])),
    (_write_at, np.array([3, 0]), np.array([-5, 1])),
    (_write_at_column, np.array([0, 3]), np.array([2, 9])),
], ids=["past-end", "before-start", "column"])
def test_out_of_range_index_raises_numpy_error(backend, fn, good, bad):
    x = X1.copy()
    compiled = tracejit.value_and_grad(fn, backend=backend)
    message = _numpy_error(fn, x, bad)
    with pytest.raises(IndexError, match=message):       # when tracing
        compiled(x, bad)
    value, _ = compiled(x, good)
    assert value == fn(x, good)
    for _ in range(2):                                   # a re-call of the traced entry
        with pytest.raises(IndexError, match=message) as info:
            compiled(x, bad)
        assert any("test_scatter.py" in note for note in getattr(info.value, "__notes__", ()))
    assert compiled(x, good)[0] == fn(x, good)


def test_data_dependent_read_out_of_range_raises(backend):
    compiled = tracejit.jit(_read_at_data, backend=backend)
    ok = np.array([0.1, 0.2, 0.9, 0.3, 0.0, 0.4])      # argmax 2: index -5
    assert compiled(ok) == _read_at_data(ok)
    bad = np.array([0.9, 0.2, 0.1, 0.3, 0.0, 0.4])     # argmax 0: index -7
    message = _numpy_error(_read_at_data, bad)
    with pytest.raises(IndexError, match=message):
        compiled(bad)


def test_mask_write_with_the_wrong_count_raises_numpy_error(backend):
    def f(x):
        y = x * 1.0
        y[x > 0.0] = x[:2]                  # right only when two entries are positive
        return np.sum(y)
    compiled = tracejit.jit(f, backend=backend)
    two = np.array([1.0, -1.0, 2.0, -3.0])
    assert compiled(two) == f(two)
    three = np.array([1.0, 1.0, 2.0, -3.0])
    with pytest.raises(ValueError) as plain:
        f(three)
    with pytest.raises(ValueError, match="shape mismatch|could not broadcast") as got:
        compiled(three)
    assert type(got.value) is type(plain.value)


def _loop_through_index_argument(x, idx):
    y = np.zeros(4)
    for i in range(6):
        y[idx[i]] = y[idx[i]] * 0.5 + x[i]      # repeated and negative indices, from data
    return np.sum(y * W[:4])


def _loop_at_argmax(x):
    y = x * 1.0
    for _ in range(5):
        k = np.argmax(y)
        y[k] = y[k] * 0.3 - 0.1
    return np.sum(y ** 2)


def test_writes_in_rolled_loops(backend, roll_short_loops):
    """One rolled loop serves every index sequence: no new trace for other indices."""
    write = tracejit.value_and_grad(_loop_through_index_argument, backend=backend)
    for idx in (np.array([0, 1, 1, 3, -1, 0]), np.array([2, 2, 2, 0, 1, 3])):
        value, grad = write(X1, idx)
        assert np.isclose(value, _loop_through_index_argument(X1, idx), rtol=1e-12)
        np.testing.assert_allclose(
            grad, numerical_grad(lambda x: _loop_through_index_argument(x, idx), X1),
            rtol=1e-6, atol=1e-7)
    argmax = tracejit.value_and_grad(_loop_at_argmax, backend=backend)
    for x in (X1, X2, X1[::-1].copy()):
        value, grad = argmax(x)
        assert np.isclose(value, _loop_at_argmax(x), rtol=1e-12)
        np.testing.assert_allclose(grad, numerical_grad(_loop_at_argmax, x), rtol=1e-6, atol=1e-7)
    for compiled in (write, argmax):
        assert compiled.stats()["misses"] == 1
        assert any(op.prim.name == "loop" for op in compiled.traces()[0].ops)


def _read_around_argmax(x):
    k = np.argmax(x)
    return np.sum(x * x[k]) + x[k - 1] * x[(k + 1) % x.shape[0]]


def test_data_dependent_reads_add_no_guard_and_run_as_a_kernel(backend):
    """`x[k]` at a traced k once compared k with Ellipsis (`in`): a guard on an object literal
    that kept the numba backend off the whole trace."""
    grad = tracejit.jit_grad(_read_around_argmax, backend=backend)
    for x in (X1, X2):
        np.testing.assert_allclose(grad(x), numerical_grad(_read_around_argmax, x),
                                   rtol=1e-6, atol=1e-7)
    assert not any(op.prim.name == "guard" for op in grad.traces()[0].ops)
    assert grad.entries()[0].executor == backend
