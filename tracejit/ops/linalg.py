"""Linear algebra primitives: batched matmul, solve, inv, slogdet.

Operands follow NumPy's stacked-matrix convention: the last two axes are the matrix, leading axes
broadcast. 1-D operands are promoted to matrices by `tracejit.numpy`, never here.
"""
import numpy as np

from ..ir import Aval
from ..backends.numba_lower import NoLowering, Statement
from .core import Primitive
from .elementwise import add, mul, neg, sub
from .shape import reshape, transpose, unbroadcast


def swap_last(x):
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return transpose(x, perm=perm)


def _matmul_aval(a, b):
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: mismatch in core dimension ({a.shape} @ {b.shape})")
    dtype = np.result_type(a.dtype, b.dtype)
    return [Aval(batch + (a.shape[-2], b.shape[-1]), dtype, a.weak and b.weak)]


def _matmul_vjp(cts, outs, ins):
    g, (a, b) = cts[0], ins
    return [unbroadcast(matmul(g, swap_last(b)), a.shape),
            unbroadcast(matmul(swap_last(a), g), b.shape)]


def _matmul_jvp(ts, outs, ins):
    (ta, tb), (a, b) = ts, ins
    terms = ([matmul(ta, b)] if ta is not None else []) + ([matmul(a, tb)] if tb is not None else [])
    return [terms[0] if len(terms) == 1 else add(*terms)]


matmul = Primitive("matmul", np.matmul, _matmul_aval, vjp=_matmul_vjp, jvp=_matmul_jvp)


def _square(a, what):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{what}: last two dimensions must be square (got {a.shape})")


def _solve_aval(a, b):
    _square(a, "solve")
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return [Aval(batch + b.shape[-2:], np.result_type(a.dtype, b.dtype, np.float64))]


def _solve_vjp(cts, outs, ins):
    (a, b), x = ins, outs[0]
    gb = solve(swap_last(a), cts[0])
    return [unbroadcast(neg(matmul(gb, swap_last(x))), a.shape), unbroadcast(gb, b.shape)]


def _solve_jvp(ts, outs, ins):
    (ta, tb), (a, b), x = ts, ins, outs[0]
    rhs = tb if ta is None else (neg(matmul(ta, x)) if tb is None else sub(tb, matmul(ta, x)))
    return [solve(a, rhs)]


solve = Primitive("solve", np.linalg.solve, _solve_aval, vjp=_solve_vjp, jvp=_solve_jvp)


def _inv_aval(a):
    _square(a, "inv")
    return [Aval(a.shape, np.result_type(a.dtype, np.float64))]


inv = Primitive(
    "inv", np.linalg.inv, _inv_aval,
    vjp=lambda cts, outs, ins: [neg(matmul(swap_last(outs[0]), matmul(cts[0], swap_last(outs[0]))))],
    jvp=lambda ts, outs, ins: [neg(matmul(outs[0], matmul(ts[0], outs[0])))])


def _slogdet_aval(a):
    _square(a, "slogdet")
    dtype = np.result_type(a.dtype, np.float64)
    return [Aval(a.shape[:-2], dtype), Aval(a.shape[:-2], dtype)]


def _slogdet_vjp(cts, outs, ins):
    g = cts[1]                         # the sign is piecewise constant
    a = ins[0]
    g = reshape(g, shape=g.shape + (1, 1))
    return [mul(g, swap_last(inv(a)))]


def _slogdet_jvp(ts, outs, ins):
    from .reduce import reduce_sum
    t, a = ts[0], ins[0]
    inner = mul(swap_last(inv(a)), t)
    return [mul(outs[0], 0), reduce_sum(inner, axes=(a.ndim - 2, a.ndim - 1), keepdims=False)]


slogdet = Primitive("slogdet", lambda a: tuple(np.linalg.slogdet(a)), _slogdet_aval,
                    vjp=_slogdet_vjp, jvp=_slogdet_jvp, multiple_results=True)


# numba lowering of matmul: np.dot (BLAS) per matrix; solve, inv and slogdet have none, so traces
# using them run on the numpy executor
def _lower_matmul(kb, op):
    (a, b), out = op.inputs, op.outputs[0]
    if out.dtype.kind != "f":
        raise NoLowering("matmul of non-float arrays")       # numba's np.dot is BLAS-only
    x, y = kb.blas(a, out.dtype), kb.blas(b, out.dtype)
    if a.ndim == 2 and b.ndim == 2:
        kb.define(out, f"np.dot({x}, {y})", owned=True)
        return
    batch = out.shape[:-2]
    target = kb.alloc(out)
    with kb.loops(batch) as i:
        ia, ib = kb.index(a.shape[:-2], batch), kb.index(b.shape[:-2], batch)
        x_i = f"{x}[{', '.join(ia)}]" if ia else x
        y_i = f"{y}[{', '.join(ib)}]" if ib else y
        product = kb.fresh()
        kb.line(f"{product} = np.dot({x_i}, {y_i})")
        # element loops: numba compiles `target[i] = matrix` ~10x slower
        with kb.block(f"for r in range({out.shape[-2]}):"):
            with kb.block(f"for c in range({out.shape[-1]}):"):
                kb.line(f"{target}[{', '.join(i + ['r', 'c'])}] = {product}[r, c]")


matmul.numba = Statement(_lower_matmul)
