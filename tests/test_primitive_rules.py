"""Each primitive added for NumPy coverage, checked rule by rule: its JVP against central finite
differences of its NumPy implementation, and its VJP against its JVP by the dot-product identity
<vjp(ct), t> = Re <ct, jvp(t)> (the VJP is the transpose of the JVP)."""
import numpy as np
import pytest

from tracejit.ir import aval_of
from tracejit.ops import elementwise as ew
from tracejit.ops import fft, index, linalg, reduce, special
from tracejit.ops.core import Builder, bind

R = np.random.default_rng(3)
POS = np.abs(R.standard_normal((2, 3))) + 0.5
UNIT = np.tanh(R.standard_normal((2, 3))) * 0.8
ANY = R.standard_normal((2, 3))
SQ = R.standard_normal((3, 3)) + 2 * np.eye(3)
SPD = SQ @ SQ.T
TALL = R.standard_normal((4, 3))

# (label, primitive, inputs, index of the differentiable inputs, params)
CASES = [
    ("trunc", ew.trunc, [ANY * 3], [0], {}), ("rint", ew.rint, [ANY * 3], [0], {}),
    ("floor_divide", ew.floor_divide, [POS * 3.3, POS + 0.1], [0, 1], {}),
    ("mod", ew.mod, [ANY * 3, POS], [0, 1], {}), ("fmod", ew.fmod, [ANY * 3, POS], [0, 1], {}),
    ("real", ew.real, [ANY + 1j * POS], [0], {}), ("imag", ew.imag, [ANY + 1j * POS], [0], {}),
    ("conj", ew.conj, [ANY + 1j * POS], [0], {}), ("pyround", ew.pyround, [ANY], [0], {"ndigits": 1}),
    ("expit", special.expit, [ANY], [0], {}), ("erf", special.erf, [ANY], [0], {}),
    ("erfc", special.erfc, [ANY], [0], {}), ("erfinv", special.erfinv, [UNIT], [0], {}),
    ("erfcinv", special.erfcinv, [UNIT + 1], [0], {}), ("gammaln", special.gammaln, [POS], [0], {}),
    ("polygamma", special.polygamma, [np.array(1), POS], [1], {}),
    ("jv", special.jv, [np.array(1.5), POS], [1], {}), ("yv", special.yv, [np.array(0.5), POS], [1], {}),
    ("iv", special.iv, [np.array(2.0), POS], [1], {}), ("ive", special.ive, [np.array(1.0), POS], [1], {}),
    ("yn", special.yn, [np.array(2), POS], [1], {}),
    ("j0", special.j0, [ANY], [0], {}), ("j1", special.j1, [ANY], [0], {}),
    ("y0", special.y0, [POS], [0], {}), ("y1", special.y1, [POS], [0], {}),
    ("i0", special.i0, [ANY], [0], {}), ("i1", special.i1, [ANY], [0], {}),
    ("gammainc", special.gammainc, [np.array(2.0), POS], [1], {}),
    ("gammaincc", special.gammaincc, [np.array(2.0), POS], [1], {}),
    ("betainc", special.betainc, [np.array(2.0), np.array(3.0), UNIT * 0.5 + 0.5], [2], {}),
    ("reduce_prod", reduce.reduce_prod, [ANY], [0], {"axes": (1,), "keepdims": False}),
    ("reduce_prod_zero", reduce.reduce_prod, [ANY * np.array([1, 0, 1])], [0],
     {"axes": (0, 1), "keepdims": True}),
    ("scatter", index.scatter, [ANY, np.array([2, 0, 2]), TALL[:2]], [0, 2], {"axis": 1}),
    ("scatter_rows", index.scatter, [ANY, np.array([[1], [1]]), TALL[:2, None]], [0, 2],
     {"axis": 0}),
    ("cumsum", reduce.cumsum, [ANY], [0], {"axis": 1}),
    ("cumprod", reduce.cumprod, [ANY], [0], {"axis": 0}),
    ("eigh", linalg.eigh, [SPD], [0], {}), ("cholesky", linalg.cholesky, [SPD], [0], {}),
    ("svd", linalg.svd, [TALL], [0], {"compute_uv": True}),
    ("svd_wide", linalg.svd, [TALL.T.copy()], [0], {"compute_uv": True}),
    ("svd_values", linalg.svd, [TALL], [0], {"compute_uv": False}),
    ("qr", linalg.qr, [TALL], [0], {}), ("eig", linalg.eig, [SQ], [0], {}),
    ("sqrtm", linalg.sqrtm, [SPD], [0], {}),
    ("fft", fft.fft, [ANY], [0], {"kind": "fft", "axes": (1,), "norm": None}),
    ("ifft", fft.fft, [ANY + 1j * POS], [0], {"kind": "ifft", "axes": (0, 1), "norm": "ortho"}),
    ("rfft", fft.fft, [ANY], [0], {"kind": "rfft", "axes": (1,), "norm": None}),
    ("irfft", fft.fft, [ANY + 1j * POS], [0], {"kind": "irfft", "axes": (1,), "norm": None, "n": 4}),
    ("irfft_odd", fft.fft, [ANY + 1j * POS], [0],
     {"kind": "irfft", "axes": (0, 1), "norm": "forward", "n": 5}),
]
H = 1e-6


def _outputs(prim, values):
    return values if prim.multiple_results else [values]


def _tangent_direction(x, seed):
    rng = np.random.default_rng(seed)
    t = rng.standard_normal(np.shape(x))
    return t + 1j * rng.standard_normal(np.shape(x)) if np.iscomplexobj(x) else t


def _phase_free(label, outs):
    """Eigenvectors' phase (or sign) is arbitrary: compare what does not depend on it."""
    if label in ("eigh", "eig", "svd", "svd_wide"):
        return [np.abs(o) if o.ndim == 2 else o for o in outs]
    return outs


@pytest.mark.parametrize("label,prim,inputs,diff,params", CASES, ids=[c[0] for c in CASES])
def test_jvp_matches_finite_differences_and_vjp_is_its_transpose(label, prim, inputs, diff,
                                                                 params):
    builder = Builder(concrete=True)
    with builder:
        ins = [builder.new_input(aval_of(np.asarray(x)), np.asarray(x)) for x in inputs]
        outs = _outputs(prim, bind(prim, *ins, **params))
        dirs = {i: _tangent_direction(inputs[i], i) for i in diff}
        tangents = [builder.new_input(aval_of(dirs[i]), dirs[i]) if i in dirs else None
                    for i in range(len(inputs))]
        jvp = prim.jvp(tangents, outs, ins, **params)

        def shifted(sign):
            moved = [x + sign * H * dirs[i] if i in dirs else x for i, x in enumerate(inputs)]
            return _outputs(prim, prim.impl(*moved, **params))
        numeric = [(u - d) / (2 * H) for u, d in zip(shifted(1), shifted(-1))]
        if label in ("eigh", "eig", "svd", "svd_wide"):   # compare |V| through its derivative
            numeric = [(a - b) / (2 * H) for a, b in zip(_phase_free(label, shifted(1)),
                                                          _phase_free(label, shifted(-1)))]
            jvp = [j if o.ndim == 1 else _abs_tangent(o, j) for o, j in zip(outs, jvp)]
        for j, n, o in zip(jvp, numeric, outs):
            if o.dtype.kind in "fc":
                np.testing.assert_allclose(_val(j, o), n, rtol=1e-5, atol=1e-6)

        cts = [_tangent_direction(o.val, 10 + k) if o.dtype.kind in "fc" else None
               for k, o in enumerate(outs)]
        ct_tracers = [builder.new_input(aval_of(c), c) if c is not None else None for c in cts]
        vjp = prim.vjp(ct_tracers, outs, ins, **params)
        lhs = sum(np.real(np.sum(_val(vjp[i], ins[i]) * dirs[i])) for i in diff)
        rhs = sum(np.real(np.sum(c * _val(j, o))) for c, j, o in zip(cts, prim.jvp(
            tangents, outs, ins, **params), outs) if c is not None)
        np.testing.assert_allclose(lhs, rhs, rtol=1e-7, atol=1e-9)


def _val(t, like):
    return np.zeros(np.shape(like.val)) if t is None else np.asarray(t.val)


def _abs_tangent(o, j):
    """The tangent of |o| given the tangent j of o: Re(conj(o) j) / |o|."""
    class Value:
        val = np.real(np.conj(o.val) * j.val) / np.abs(o.val)
    return Value()
