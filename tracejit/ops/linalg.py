"""Linear algebra primitives: batched matmul, solve, inv, slogdet.

Operands follow NumPy's stacked-matrix convention: the last two axes are the matrix, leading axes
broadcast. 1-D operands are promoted to matrices by `tracejit.numpy`, never here.
"""
import numpy as np

from ..errors import UnsupportedError
from ..ir import Aval
from ..backends.numba_lower import NoLowering, Statement, cast
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


def float_dtype(*dtypes):
    """NumPy's linalg result type: integers become float64, float32 stays float32."""
    t = np.result_type(*dtypes)
    return np.dtype(np.float64) if t.kind in "biu" else np.result_type(t, np.float32)


def _square(a, what):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{what}: last two dimensions must be square (got {a.shape})")


def _solve_aval(a, b):
    _square(a, "solve")
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return [Aval(batch + b.shape[-2:], float_dtype(a.dtype, b.dtype))]


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
    return [Aval(a.shape, float_dtype(a.dtype))]


inv = Primitive(
    "inv", np.linalg.inv, _inv_aval,
    vjp=lambda cts, outs, ins: [neg(matmul(swap_last(outs[0]), matmul(cts[0], swap_last(outs[0]))))],
    jvp=lambda ts, outs, ins: [neg(matmul(outs[0], matmul(ts[0], outs[0])))])


def _slogdet_aval(a):
    _square(a, "slogdet")
    dtype = float_dtype(a.dtype)
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


# numba lowering of matmul: np.dot (BLAS) per matrix (the other routines: at the end of this file)
def _lower_matmul(kb, op):
    (a, b), out = op.inputs, op.outputs[0]
    if out.dtype.kind in "iu":
        return _lower_integer_matmul(kb, op)
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


def _lower_integer_matmul(kb, op):
    """Integer matmul as loops (numba's np.dot is BLAS, floats only); integer sums are exact
    (wrapping as NumPy's), so the order of the additions does not matter."""
    (a, b), out = op.inputs, op.outputs[0]
    x, y, target = kb.array(a), kb.array(b), kb.alloc(out, fill="0")
    batch = out.shape[:-2]
    with kb.loops(out.shape) as i:
        row = ", ".join(kb.index(a.shape[:-2], batch) + [i[-2], "k"])
        col = ", ".join(kb.index(b.shape[:-2], batch) + ["k", i[-1]])
        left = cast(f"{x}[{row}]", a.dtype, out.dtype)
        right = cast(f"{y}[{col}]", b.dtype, out.dtype)
        with kb.block(f"for k in range({int(a.shape[-1])}):"):
            kb.line(f"{target}[{', '.join(i)}] += {left} * {right}")


matmul.numba = Statement(_lower_matmul)

# ---- helpers for the factorizations below ----------------------------------------------------
def _eye(x, n):
    from .core import constant
    return constant(x, np.eye(n, dtype=x.dtype))


def _tril(x, k=0):
    from .core import constant
    from .elementwise import select
    n, m = x.shape[-2:]
    return select(constant(x, np.tri(n, m, k, dtype=bool)), x, 0)


def _row(v):
    """A stack of vectors (..., n) as row vectors (..., 1, n), to scale columns by broadcasting."""
    return reshape(v, shape=v.shape[:-1] + (1, v.shape[-1]))


def _col(v):
    return reshape(v, shape=v.shape + (1,))


def _diag_matrix(v, like):
    return mul(_row(v), _eye(like, v.shape[-1]))


def _diagonal(x):
    from .reduce import reduce_sum
    return reduce_sum(mul(x, _eye(x, x.shape[-1])), axes=(x.ndim - 1,), keepdims=False)


def _lower_grad(s):
    """The gradient with respect to a matrix of which only the lower triangle is read (as in
    LAPACK's eigh and cholesky), given `s`, the gradient with respect to the symmetric matrix."""
    return sub(_tril(add(s, swap_last(s))), mul(s, _eye(s, s.shape[-1])))


def _lower_tangent(t):
    """The symmetric matrix a lower-triangle-reading routine sees when its input moves by `t`."""
    low = _tril(t, -1)
    return add(add(low, swap_last(low)), mul(t, _eye(t, t.shape[-1])))


def _gap_inverse(w, squared=False):
    """F[i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it (the eigen/singular value gaps)."""
    from .elementwise import div, select
    from .core import constant
    w = mul(w, w) if squared else w
    gaps = sub(_row(w), _col(w))
    off = constant(w, ~np.eye(w.shape[-1], dtype=bool))
    return select(off, div(1, select(off, gaps, 1)), 0)


# ---- symmetric eigendecomposition (lower triangle read) ---------------------------------------
def _eigh_vjp(cts, outs, ins):
    (gw, gv), (w, v) = cts, outs
    inner = add(_diag_matrix(gw, v), mul(_gap_inverse(w), matmul(swap_last(v), gv)))
    return [_lower_grad(matmul(v, matmul(inner, swap_last(v))))]


def _eigh_jvp(ts, outs, ins):
    w, v = outs
    rotated = matmul(swap_last(v), matmul(_lower_tangent(ts[0]), v))
    return [_diagonal(rotated), matmul(v, mul(_gap_inverse(w), rotated))]


def _eigh_aval(a):
    _square(a, "eigh")
    dtype = float_dtype(a.dtype)
    return [Aval(a.shape[:-1], dtype), Aval(a.shape, dtype)]


eigh = Primitive("eigh", lambda a: tuple(np.linalg.eigh(a)), _eigh_aval,
                 vjp=_eigh_vjp, jvp=_eigh_jvp, multiple_results=True)


# ---- Cholesky factor (lower triangle read) -----------------------------------------------------
def _phi(x):
    """The lower triangle with the diagonal halved."""
    return sub(_tril(x), mul(x, mul(_eye(x, x.shape[-1]), 0.5)))


def _cholesky_vjp(cts, outs, ins):
    low = outs[0]
    low_inv = inv(low)
    s = matmul(swap_last(low_inv), matmul(_phi(matmul(swap_last(low), cts[0])), low_inv))
    return [_lower_grad(mul(add(s, swap_last(s)), 0.5))]


def _cholesky_jvp(ts, outs, ins):
    low = outs[0]
    low_inv = inv(low)
    return [matmul(low, _phi(matmul(low_inv, matmul(_lower_tangent(ts[0]), swap_last(low_inv)))))]


def _cholesky_aval(a):
    _square(a, "cholesky")
    return [Aval(a.shape, float_dtype(a.dtype))]


cholesky = Primitive("cholesky", np.linalg.cholesky, _cholesky_aval,
                     vjp=_cholesky_vjp, jvp=_cholesky_jvp)


# ---- thin singular value decomposition: (u, s, vh), or s alone ---------------------------------
def _svd_impl(a, *, compute_uv):
    if compute_uv:
        return tuple(np.linalg.svd(a, full_matrices=False))
    return (np.linalg.svd(a, compute_uv=False),)


def _svd_aval(a, *, compute_uv):
    m, n = a.shape[-2:]
    k, batch = min(m, n), a.shape[:-2]
    dtype = float_dtype(a.dtype)
    s = Aval(batch + (k,), dtype)
    return [Aval(batch + (m, k), dtype), s, Aval(batch + (k, n), dtype)] if compute_uv else [s]


def _projector_complement(u):
    """I - u u^T: projects onto the orthogonal complement of u's columns."""
    return sub(_eye(u, u.shape[-2]), matmul(u, swap_last(u)))


def _svd_vjp(cts, outs, ins, *, compute_uv):
    from .elementwise import div
    if not compute_uv:
        u, s, vh = svd(ins[0], compute_uv=True)
        return [matmul(u, matmul(_diag_matrix(cts[0], u), vh))]
    (gu, gs, gvh), (u, s, vh) = cts, outs
    v, gv = swap_last(vh), swap_last(gvh)
    f = _gap_inverse(s, squared=True)
    j = mul(f, sub(matmul(swap_last(u), gu), matmul(swap_last(gu), u)))
    k = mul(f, sub(matmul(vh, gv), matmul(swap_last(gv), v)))
    core = add(add(mul(j, _row(s)), _diag_matrix(gs, u)), mul(_col(s), k))
    out = matmul(u, matmul(core, vh))
    out = add(out, matmul(_projector_complement(u), matmul(div(gu, _row(s)), vh)))
    return [add(out, matmul(div(u, _row(s)), matmul(swap_last(gv), _projector_complement(v))))]


def _svd_jvp(ts, outs, ins, *, compute_uv):
    from .elementwise import div
    if not compute_uv:
        u, s, vh = svd(ins[0], compute_uv=True)
        return [_diagonal(matmul(swap_last(u), matmul(ts[0], swap_last(vh))))]
    (u, s, vh), t, v = outs, ts[0], swap_last(outs[2])
    ds_mat = matmul(swap_last(u), matmul(t, v))
    f = _gap_inverse(s, squared=True)
    ds_s, s_ds = mul(ds_mat, _row(s)), mul(_col(s), ds_mat)
    du = matmul(u, mul(f, add(ds_s, swap_last(ds_s))))
    dv = matmul(v, mul(f, add(s_ds, swap_last(s_ds))))
    du = add(du, div(matmul(_projector_complement(u), matmul(t, v)), _row(s)))
    dv = add(dv, div(matmul(_projector_complement(v), matmul(swap_last(t), u)), _row(s)))
    return [du, _diagonal(ds_mat), swap_last(dv)]


svd = Primitive("svd", _svd_impl, _svd_aval, vjp=_svd_vjp, jvp=_svd_jvp, multiple_results=True)


# ---- reduced QR of a tall (m >= n) matrix ------------------------------------------------------
def _copy_lower_to_upper(x):
    low = _tril(x, -1)
    return add(_tril(x), swap_last(low))


def _qr_vjp(cts, outs, ins):
    (gq, gr), (q, r) = cts, outs
    m = sub(matmul(r, swap_last(gr)), matmul(swap_last(gq), q))
    b = add(gq, matmul(q, _copy_lower_to_upper(m)))
    return [swap_last(solve(r, swap_last(b)))]          # b @ inv(r)^T


def _qr_jvp(ts, outs, ins):
    q, r = outs
    t_rinv = swap_last(solve(swap_last(r), swap_last(ts[0])))    # t @ inv(r)
    qt_t_rinv = matmul(swap_last(q), t_rinv)
    low = _tril(qt_t_rinv, -1)
    omega = sub(low, swap_last(low))
    return [add(matmul(q, sub(omega, qt_t_rinv)), t_rinv), matmul(sub(qt_t_rinv, omega), r)]


def _qr_aval(a):
    m, n = a.shape[-2:]
    if m < n:
        raise UnsupportedError(f"qr: tracejit differentiates QR of tall or square matrices "
                               f"(got {a.shape})")
    dtype = float_dtype(a.dtype)
    return [Aval(a.shape, dtype), Aval(a.shape[:-2] + (n, n), dtype)]


qr = Primitive("qr", lambda a: tuple(np.linalg.qr(a)), _qr_aval, vjp=_qr_vjp, jvp=_qr_jvp,
               multiple_results=True)


# ---- general eigendecomposition, always complex (NumPy's real result is chosen by the caller) ----
# Eigenvectors are normalized to unit length, so a tangent keeps each eigenvector's norm: the
# part of dV along each v_i is removed (its phase is arbitrary and only phase-invariant uses of V
# have a derivative).
def _eig_impl(a):
    w, v = np.linalg.eig(a)
    dtype = np.result_type(float_dtype(a.dtype), np.complex64)
    return w.astype(dtype), v.astype(dtype)


def _eig_aval(a):
    _square(a, "eig")
    dtype = np.result_type(float_dtype(a.dtype), np.complex64)
    return [Aval(a.shape[:-1], dtype), Aval(a.shape, dtype)]


def _eig_vjp(cts, outs, ins):
    from .elementwise import conj, real
    (gw, gv), (w, v) = cts, outs
    s = real(_diagonal(matmul(swap_last(gv), v)))
    g = mul(_gap_inverse(w), matmul(swap_last(v), sub(gv, mul(conj(v), _row(s)))))
    inner = add(_diag_matrix(gw, v), g)
    return [matmul(swap_last(inv(v)), matmul(inner, swap_last(v)))]


def _eig_jvp(ts, outs, ins):
    from .elementwise import conj, real
    (w, v), t = outs, ts[0]
    rotated = matmul(inv(v), matmul(t, v))
    dv = matmul(v, mul(_gap_inverse(w), rotated))
    along = real(_diagonal(matmul(swap_last(conj(v)), dv)))
    return [_diagonal(rotated), sub(dv, mul(v, _row(along)))]


eig = Primitive("eig", _eig_impl, _eig_aval, vjp=_eig_vjp, jvp=_eig_jvp, multiple_results=True)


# ---- principal matrix square root, always complex (SciPy's real result is chosen by the caller) --
def _sylvester(a, b, q):
    """X with a X + X b = q for square 2-D a (n, n), b (m, m): the Kronecker system
    (a kron I + I kron b^T) vec(X) = vec(q), row-major vec."""
    from .core import constant
    n, m = a.shape[-1], b.shape[-1]
    left = mul(reshape(a, shape=(n, 1, n, 1)), constant(a, np.eye(m).reshape(1, m, 1, m)))
    right = mul(constant(b, np.eye(n).reshape(n, 1, n, 1)),
                reshape(swap_last(b), shape=(1, m, 1, m)))
    system = reshape(add(left, right), shape=(n * m, n * m))
    return reshape(solve(system, reshape(q, shape=(n * m, 1))), shape=(n, m))


def _sqrtm_impl(a):
    import scipy.linalg as sl
    return np.asarray(sl.sqrtm(a), dtype=np.result_type(float_dtype(a.dtype), np.complex64))


def _sqrtm_aval(a):
    _square(a, "sqrtm")
    if a.ndim != 2:
        raise ValueError("sqrtm: a single square matrix is required")
    return [Aval(a.shape, np.result_type(float_dtype(a.dtype), np.complex64))]


sqrtm = Primitive(
    "sqrtm", _sqrtm_impl, _sqrtm_aval,
    vjp=lambda cts, outs, ins: [_sylvester(swap_last(outs[0]), swap_last(outs[0]), cts[0])],
    jvp=lambda ts, outs, ins: [_sylvester(outs[0], outs[0], ts[0])])


# ---- numba: np.linalg per matrix (numba calls LAPACK), looping over leading axes. numba's
# routines raise where NumPy's may return (NaN or infinite entries) and raise as NumPy's do on a
# singular matrix; a kernel that raises reruns that call on the numpy executor (numba_backend)
def _linalg_operand(kb, atom, dtype, batched):
    if not batched:
        return kb.blas(atom, dtype)
    name = kb.contiguous(atom)
    return name if atom.dtype == dtype else f"{name}.astype({kb.dtype(dtype)})"


def _lower_per_matrix(call, batch_of):
    """A Statement rule: `call(*operand names)` is source giving the op's results (a tuple when
    the primitive has several) for one matrix (stack); `batch_of(op)` is the leading shape."""
    def emit(kb, op):
        dtype = op.outputs[0].dtype
        if dtype.kind != "f" or any(a.dtype.kind not in "biuf" for a in op.inputs):
            raise NoLowering(f"{op.prim.name} of complex arrays")
        batch = batch_of(op)
        names = [_linalg_operand(kb, a, dtype, bool(batch)) for a in op.inputs]
        result, many = kb.fresh("r"), op.prim.multiple_results
        if not batch:
            kb.line(f"{result} = {call(*names)}")
            for j, var in enumerate(op.outputs):
                value = f"{result}[{j}]" if many else result
                if var.ndim == 0:
                    kb.define_scalar(var, value)
                else:
                    kb.define(var, f"np.ascontiguousarray({value})", owned=True)
            return
        targets = [kb.alloc(var) for var in op.outputs]
        with kb.loops(batch) as i:
            picked = [f"{name}[{', '.join(kb.index(a.shape[:-2], batch))}]" if a.ndim > 2 else name
                      for name, a in zip(names, op.inputs)]
            kb.line(f"{result} = {call(*picked)}")
            for j, (var, target) in enumerate(zip(op.outputs, targets)):
                _copy_into(kb, target, i, f"{result}[{j}]" if many else result,
                           var.shape[len(batch):])
    return Statement(emit)


def _copy_into(kb, target, lead, value, shape):
    """`target[lead..., :, :] = value`, as element loops (numba compiles slice assignment slowly)."""
    inner = [kb.fresh("q") for _ in shape]
    depth = kb.depth
    for q, n in zip(inner, shape):
        kb.line(f"for {q} in range({int(n)}):")
        kb.depth += 1
    read = f"[{', '.join(inner)}]" if inner else ""
    kb.line(f"{target}[{', '.join(list(lead) + inner) or '0'}] = {value}{read}")
    kb.depth = depth


def _batch(op):
    return op.inputs[0].shape[:-2]


solve.numba = _lower_per_matrix(lambda a, b: f"np.linalg.solve({a}, {b})",
                                lambda op: op.outputs[0].shape[:-2])
inv.numba = _lower_per_matrix(lambda a: f"np.linalg.inv({a})", _batch)
slogdet.numba = _lower_per_matrix(lambda a: f"np.linalg.slogdet({a})", _batch)
cholesky.numba = _lower_per_matrix(lambda a: f"np.linalg.cholesky({a})", _batch)
eigh.numba = _lower_per_matrix(lambda a: f"np.linalg.eigh({a})", _batch)
qr.numba = _lower_per_matrix(lambda a: f"np.linalg.qr({a})", _batch)


# numba's svd takes no compute_uv: the singular values alone come from the thin decomposition
_svd_uv = _lower_per_matrix(lambda a: f"np.linalg.svd({a}, False)", _batch)
_svd_s = _lower_per_matrix(lambda a: f"(np.linalg.svd({a}, False)[1],)", _batch)
svd.numba = Statement(lambda kb, op: (_svd_uv if op.params["compute_uv"] else _svd_s).emit(kb, op))

# eig and sqrtm give complex results (numba kernels handle real dtypes only): numpy executor
eig.numba_note = sqrtm.numba_note = "complex results (numba kernels handle real dtypes only)"
for _prim in (solve, inv, slogdet, cholesky, eigh, svd, qr):
    _prim.numba_note = "a call numba's LAPACK wrapper raises on (NaN, singular) reruns on numpy"


# NumPy raises LinAlgError here (a singular or not positive-definite matrix, no convergence):
# kept in the trace even when nothing reads the result, so a compiled call raises as plain does
for _prim in (solve, inv, cholesky, eigh, eig, svd):
    _prim.may_raise = True
