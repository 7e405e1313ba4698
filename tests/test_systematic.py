"""Table-driven checks of tracejit's NumPy/SciPy coverage, in the spirit of autograd's
test_systematic.py: each record is one function; it is run over several shapes (scalar, 1-D, 2-D,
broadcasting pairs), axis/keepdims combinations and dtypes, and compared with plain NumPy (value)
and with central finite differences (gradient, float64, h=1e-6). Where the derivative rules are
themselves differentiable, a Hessian-vector product of the joint trace is compared with finite
differences of the gradient (second order).
"""
import itertools
from dataclasses import dataclass, field

import numpy as np
import pytest
import scipy.linalg as sl
import scipy.signal as ss
import scipy.special as sc
import scipy.stats as st

import tracejit
from tracejit.backends.numpy_exec import run_trace
from tracejit.frontend import trace_function
from tracejit.ir import Lit, Trace
from tracejit.ops.core import Builder
from tracejit.ops.elementwise import mul
from tracejit.ops.reduce import reduce_sum
from tracejit.transforms import vjp_trace
from tracejit.transforms.vjp import replay

H = 1e-6
# primitives (or dtypes) the numba backend leaves to the numpy executor, by the reason it gives:
# complex results (fft, eig, sqrtm), user Python (custom derivative rules) and argpartition (its
# order of the unselected entries is NumPy's introselect's); see docs/coverage.md
NO_NUMBA = ("primitive fft", "primitive eig", "primitive sqrtm", "primitive custom_",
            "dtype complex", "argpartition")


# `backend` (tests/conftest.py): every backend; numba kernels are built before the first call and
# every kernel call is checked against the numpy executor


def assert_kernels_served(backend, *compiled):
    """On numba, every call was served by a kernel, unless the trace holds something the numba
    backend leaves to the numpy executor (NO_NUMBA)."""
    if backend != "numba":
        return
    for fn in compiled:
        for entry in fn.entries():
            if entry.executor != "numba":
                reason = entry.fallback_reason or ""
                assert any(k in reason for k in NO_NUMBA), f"numpy executor served: {reason}"
            assert getattr(entry.program, "runtime_fallbacks", 0) == 0, "a kernel raised"


# ---- the table ---------------------------------------------------------------------------------
DOMAINS = {   # maps standard normals into each function's smooth domain
    "any": lambda z: z,
    "pos": lambda z: np.abs(z) + 0.5,
    "unit": lambda z: np.tanh(z) * 0.8,
    "gt1": lambda z: np.abs(z) + 1.5,
    "nonint": lambda z: np.abs(z) * 0.3 + 0.35,        # stays inside (0.35, ...) away from kinks
}
SCALAR, VEC, MAT = (), (4,), (2, 3)
UNARY = [SCALAR, VEC, MAT]
BINARY = [(SCALAR, VEC), (VEC, VEC), (MAT, (3,)), ((2, 1), (1, 3))]
AXES = [dict(axis=None), dict(axis=0), dict(axis=-1, keepdims=True), dict(axis=(0, 1))]
INITIAL = [dict(axis=0, initial=0.3), dict(axis=None, keepdims=True, initial=-0.2)]


@dataclass
class Rec:
    name: str
    fn: object
    shapes: list = field(default_factory=lambda: UNARY)
    domain: str = "any"
    kwargs: list = field(default_factory=lambda: [{}])
    second: bool = True          # check second derivatives
    wrt: tuple = (0,)            # arguments differentiated


def unary(name, fn, domain="any", second=True):
    return Rec(name, fn, UNARY, domain, second=second)


def binary(name, fn, domain="any", wrt=(0, 1), second=True):
    return Rec(name, fn, BINARY, domain, wrt=wrt, second=second)


def matrix(name, fn, shapes=((3, 3),), second=True):
    return Rec(name, fn, [s if isinstance(s[0], tuple) else (s,) for s in shapes], second=second)


def _stats(dist, method, args):
    fn = getattr(getattr(st, dist), method)
    return lambda x: fn(x, *args)


def spd(x):
    return x @ np.swapaxes(x, -1, -2) + 3.0 * np.eye(x.shape[-1])


UNARY_ANY = ["negative", "abs", "fabs", "exp", "exp2", "expm1", "sin", "cos", "tan", "arctan",
             "sinh", "cosh", "tanh", "arcsinh", "rad2deg", "degrees", "deg2rad", "radians",
             "square", "sinc", "cbrt", "positive", "conjugate", "real", "nan_to_num"]
UNARY_POS = ["log", "log2", "log10", "log1p", "sqrt", "reciprocal"]
UNARY_UNIT = ["arcsin", "arccos", "arctanh"]
BINARY_ANY = ["add", "subtract", "multiply", "maximum", "minimum", "fmax", "fmin",
              "logaddexp", "logaddexp2", "arctan2", "hypot", "copysign"]
BINARY_POS = ["divide", "true_divide", "power", "float_power", "mod", "fmod", "remainder"]

RECORDS = (
    [unary(n, getattr(np, n)) for n in UNARY_ANY]
    + [unary(n, getattr(np, n), "pos") for n in UNARY_POS]
    + [unary(n, getattr(np, n), "unit") for n in UNARY_UNIT]
    + [unary("arccosh", np.arccosh, "gt1"), unary("clip", lambda x: np.clip(x, -0.5, 0.7))]
    + [binary(n, getattr(np, n)) for n in BINARY_ANY]
    + [binary(n, getattr(np, n), "pos") for n in BINARY_POS]
    + [binary("where", lambda x, y: np.where(x > 0.1, x, y))]
    + [Rec(n, getattr(np, n), [VEC, MAT], kwargs=AXES) for n in
       ("sum", "mean", "var", "std", "prod", "max", "min", "amax", "amin", "ptp", "nansum",
        "nanmean", "nanvar", "nanstd", "nanmax", "nanmin", "nanprod", "median", "average")]
    + [Rec(f"{n}_initial", getattr(np, n), [VEC, MAT], kwargs=INITIAL)
       for n in ("sum", "prod", "max", "min", "nansum", "nanmax")]
    + [Rec(n, getattr(np, n), [VEC, MAT], kwargs=[dict(axis=None), dict(axis=0), dict(axis=-1)])
       for n in ("cumsum", "cumprod", "nancumsum", "nancumprod", "sort")]
    + [Rec("cumprod_with_zeros", lambda x: np.cumprod(x * (np.abs(x) > 0.5), axis=-1), [VEC, MAT]),
       Rec("quantile", lambda x: np.quantile(x, [0.2, 0.7], axis=-1), [VEC, MAT]),
       Rec("percentile", lambda x: np.percentile(x, 30), [VEC, MAT]),
       Rec("partition", lambda x: np.partition(x, 1, axis=-1), [VEC, MAT]),
       Rec("diff", np.diff, [VEC, MAT], kwargs=[{}, dict(n=2), dict(axis=0, prepend=0.0)]),
       Rec("gradient", lambda x: np.gradient(x, 0.5, axis=-1), [VEC, MAT]),
       Rec("trapezoid", np.trapezoid, [VEC, MAT], kwargs=[{}, dict(dx=0.3)]),
       Rec("interp", lambda y: np.interp([0.3, 1.7, 2.5, -1.0], [0., 1., 2., 3.], y),
           [VEC], second=False),
       Rec("interp_x", lambda x: np.interp(x, [-3., -1., 0.5, 1., 3.], [1., 3., 2., 5., 0.]),
           [VEC], second=False),
       Rec("polyval", lambda p, x: np.polyval(p, x), [(VEC, MAT)], wrt=(0, 1)),
       Rec("average_weights", lambda x, w: np.average(x, axis=-1, weights=w),
           [(MAT, (3,))], "pos", wrt=(0, 1))]
    + [Rec(n, f, [VEC, MAT]) for n, f in [
        ("reshape", lambda x: np.reshape(x, (-1, 2))), ("ravel", np.ravel),
        ("flatten", lambda x: x.flatten()), ("T", lambda x: x.T),
        ("expand_dims", lambda x: np.expand_dims(x, 0)), ("squeeze", lambda x: np.squeeze(x[None])),
        ("transpose", np.transpose), ("permute_dims", np.permute_dims),
        ("moveaxis", lambda x: np.moveaxis(x, 0, -1)), ("swapaxes", lambda x: np.swapaxes(x, 0, -1)),
        ("rollaxis", lambda x: np.rollaxis(x, -1)),
        ("broadcast_to", lambda x: np.broadcast_to(x, (2,) + x.shape)),
        ("atleast_1d", np.atleast_1d), ("atleast_2d", np.atleast_2d), ("atleast_3d", np.atleast_3d),
        ("concatenate", lambda x: np.concatenate([x, 2 * x], axis=-1)),
        ("stack", lambda x: np.stack([x, x ** 2], axis=-1)), ("vstack", lambda x: np.vstack([x, x])),
        ("hstack", lambda x: np.hstack([x, x])), ("row_stack", lambda x: np.vstack([x, 3 * x])),
        ("column_stack", lambda x: np.column_stack([x, x])), ("dstack", lambda x: np.dstack([x, x])),
        ("append", lambda x: np.append(x, x ** 2)), ("split", lambda x: np.split(x, 2, axis=-1)[1]
                                                     if x.shape[-1] % 2 == 0 else x),
        ("array_split", lambda x: np.array_split(x, 2, axis=-1)[1]),
        ("repeat", lambda x: np.repeat(x, 2, axis=-1)), ("tile", lambda x: np.tile(x, (2, 1))),
        ("roll", lambda x: np.roll(x, 1, axis=-1)), ("flip", np.flip), ("flipud", np.flipud),
        ("pad", lambda x: np.pad(x, 1)), ("pad_reflect", lambda x: np.pad(x, 2, mode="reflect")),
        ("take", lambda x: np.take(x, [0, -1, 1])), ("copy", np.copy),
        ("take_along_axis", lambda x: np.take_along_axis(x, np.argsort(x, axis=-1), axis=-1)),
        ("compress", lambda x: np.compress([True, False], x, axis=0)),
        ("select", lambda x: np.select([x > 0.5, x < -0.5], [x ** 2, x ** 3], x)),
        ("getitem", lambda x: x[..., ::-1][None, ..., 1:]), ("fancy", lambda x: x[[0, 0, 1]]),
        ("mask", lambda x: x[x > 0]), ("astype", lambda x: np.astype(x, np.float64) * x.astype(int)),
        ("array", lambda x: np.array([x, 2 * x])), ("fftshift", np.fft.fftshift),
        ("ifftshift", np.fft.ifftshift), ("full", lambda x: np.full(x.shape, x[0]) * x),
        ("linspace", lambda x: np.linspace(x[0], x[-1], 5)), ("r_", lambda x: np.r_[x, x[:1]]),
        ("meshgrid", lambda x: np.meshgrid(np.ravel(x), np.ravel(x)[:2])[0])]]
    + [Rec(n, f, [MAT, (3, 4)]) for n, f in [
        ("fliplr", np.fliplr), ("rot90", np.rot90), ("diagonal", np.diagonal),
        ("diag", lambda x: np.diag(x, 1)), ("diag_vector", lambda x: np.diag(x[0], -1)),
        ("triu", np.triu), ("tril", lambda x: np.tril(x, -1)), ("trace", np.trace),
        ("vsplit", lambda x: np.vsplit(np.vstack([x, x]), 2)[1]),
        ("hsplit", lambda x: np.hsplit(x, [1])[1]), ("dsplit", lambda x: np.dsplit(x[..., None], 1)[0]),
        ("c_", lambda x: np.c_[x[0], x[1]])]]
    + [Rec(n, f, [(VEC, VEC), (MAT, (3, 2))], wrt=(0, 1)) for n, f in [
        ("dot", np.dot), ("matmul", np.matmul), ("inner", lambda a, b: np.inner(a, b.T)),
        ("outer", np.outer), ("vdot", lambda a, b: np.vdot(a[..., :2], b.T[..., :2])),
        ("tensordot", lambda a, b: np.tensordot(a, b, 1)), ("kron", np.kron),
        ("dot_method", lambda a, b: a.dot(b))]]
    + [Rec(f"einsum[{sub}]", lambda a, b, sub=sub: np.einsum(sub, a, b), [shapes], wrt=(0, 1))
       for sub, shapes in [("ij,jk->ik", ((2, 3), (3, 4))), ("ij,ij->i", ((2, 3), (2, 3))),
                           ("ij,kl->ijkl", ((2, 3), (2, 2))), ("ii,ij", ((3, 3), (3, 2))),
                           ("bij,bjk->bik", ((2, 2, 3), (2, 3, 2))), ("ij,jk", ((2, 3), (3, 2))),
                           ("i,i", ((4,), (4,))), ("ijk,k->ji", ((2, 3, 4), (4,))),
                           ("...ij,...jk->...ik", ((2, 2, 3), (2, 3, 2))),
                           ("...i,i", ((2, 3), (3,)))]]
    + [Rec("einsum[ij,jk,ki]", lambda a, b, c: np.einsum("ij,jk,ki", a, b, c),
           [((2, 3), (3, 4), (4, 2))], wrt=(0, 1, 2)),
       Rec("einsum[iij->j]", lambda a: np.einsum("iij->j", a), [(3, 3, 2)])]
    + [Rec("cross", np.cross, [((3,), (3,)), ((2, 3), (3,))], wrt=(0, 1)),
       Rec("matmul_batched", np.matmul, [((2, 2, 3), (3, 2))], wrt=(0, 1))]
    + [matrix(n, f) for n, f in [
        ("det", np.linalg.det), ("slogdet", lambda a: np.linalg.slogdet(a)[1]),
        ("inv", np.linalg.inv), ("solve", lambda a: np.linalg.solve(a, a[0])),
        ("cholesky", lambda a: np.linalg.cholesky(spd(a))),
        ("eigh_values", lambda a: np.linalg.eigh(spd(a))[0]),
        ("eigh_vectors", lambda a: np.linalg.eigh(spd(a))[1] ** 2),
        ("eigvalsh", lambda a: np.linalg.eigvalsh(a)),
        # a non-symmetric input: each UPLO reads only its own triangle (issue 25)
        ("eigvalsh_upper", lambda a: np.linalg.eigvalsh(a, UPLO="U")),
        ("eigh_upper_vectors", lambda a: np.linalg.eigh(spd(a) + np.triu(a, 1), UPLO="U")[1] ** 2),
        ("eigh_lower_vectors", lambda a: np.linalg.eigh(spd(a) + np.tril(a, -1), UPLO="L")[1] ** 2),
        ("matrix_power", lambda a: np.linalg.matrix_power(a, 3)),
        ("matrix_power_neg", lambda a: np.linalg.matrix_power(a, -1)),
        ("norm", np.linalg.norm), ("norm_nuc", lambda a: np.linalg.norm(a, "nuc")),
        ("norm_2", lambda a: np.linalg.norm(a, 2)), ("norm_1", lambda a: np.linalg.norm(a, 1)),
        ("norm_inf_axis", lambda a: np.linalg.norm(a, np.inf, axis=1)),
        ("norm_3_axis", lambda a: np.linalg.norm(a, 3, axis=0, keepdims=True))]]
    + [matrix(n, f, shapes=((2, 3, 3),)) for n, f in [
        ("eigh_batched_upper", lambda a: np.linalg.eigh(spd(a) + np.triu(a, 1), UPLO="U")[1] ** 2),
        ("eigvalsh_batched_upper", lambda a: np.linalg.eigvalsh(a, UPLO="U"))]]
    + [matrix(n, f, shapes=((4, 3), (3, 3))) for n, f in [
        ("svd_s", lambda a: np.linalg.svd(a, compute_uv=False)),
        ("svd_u", lambda a: np.abs(np.linalg.svd(a, full_matrices=False)[0])),
        ("svd_vh", lambda a: np.abs(np.linalg.svd(a, full_matrices=False)[2])),
        ("qr", lambda a: np.linalg.qr(a)[0] + np.linalg.qr(a)[1][0]),
        ("pinv", np.linalg.pinv)]]
    + [matrix(n, f, shapes=((3, 3),)) for n, f in [
        ("eig_values", lambda a: np.abs(np.linalg.eig(a)[0])),
        ("eig_vectors", lambda a: np.abs(np.linalg.eig(a)[1])),
        ("eig_symmetric", lambda a: np.linalg.eig(a + a.T)[0]),
        ("sqrtm", lambda a: sl.sqrtm(spd(a))), ("sqrtm_complex", lambda a: np.abs(sl.sqrtm(a))),
        ("solve_triangular", lambda a: sl.solve_triangular(a, a[0], lower=True, trans=1)),
        ("solve_triangular_unit", lambda a: sl.solve_triangular(a, a, unit_diagonal=True)),
        ("solve_banded", lambda a: sl.solve_banded((1, 1), a + np.array([[0], [3], [0]]), a[0])),
        ("solve_sylvester", lambda a: sl.solve_sylvester(a + 3 * np.eye(3), a.T[:2, :2] + 2 * np.eye(2),
                                                         a[:, :2]))]]
    + [Rec(n, f, [(VEC, (3,)), ((3,), VEC)], wrt=(0, 1)) for n, f in [
        ("convolve", np.convolve), ("convolve_same", lambda a, v: np.convolve(a, v, "same")),
        ("correlate", lambda a, v: np.correlate(a, v, "full")),
        ("signal_convolve", lambda a, v: ss.convolve(a, v, "same"))]]
    + [Rec(n, f, [VEC, MAT], second=(n != "rfft_abs")) for n, f in [
        ("fft", lambda x: np.abs(np.fft.fft(x)) ** 2), ("ifft", lambda x: np.fft.ifft(x).imag),
        ("fft_n", lambda x: np.fft.fft(x, n=6).real), ("rfft_abs", lambda x: np.abs(np.fft.rfft(x))),
        ("rfft", lambda x: np.fft.rfft(x).imag),
        ("irfft", lambda x: np.fft.irfft(x * (1 + 2j))), ("irfft_n", lambda x: np.fft.irfft(x, n=7)),
        ("fftn", lambda x: np.fft.fftn(x).real), ("ifftn", lambda x: np.fft.ifftn(x).real),
        ("rfftn", lambda x: np.fft.rfftn(x).imag), ("irfftn", lambda x: np.fft.irfftn(x + 0j)),
        ("angle", lambda x: np.angle(np.fft.fft(x) + 1.0)),
        ("conj", lambda x: np.real(np.conj(np.fft.fft(x)) * np.fft.fft(x ** 2))),
        ("real_if_close", lambda x: np.real_if_close(np.fft.ifft(np.fft.fft(x))))]]
    + [Rec(n, f, [MAT]) for n, f in [
        ("fft2", lambda x: np.fft.fft2(x).imag), ("ifft2", lambda x: np.fft.ifft2(x).real),
        ("rfft2", lambda x: np.fft.rfft2(x).real), ("irfft2", lambda x: np.fft.irfft2(x))]]
    + [unary(n, f, d) for n, f, d in [
        ("expit", sc.expit, "any"), ("logit", sc.logit, "unit_pos"), ("erf", sc.erf, "any"),
        ("erfc", sc.erfc, "any"), ("erfinv", sc.erfinv, "unit"), ("gammaln", sc.gammaln, "pos"),
        ("digamma", sc.digamma, "pos"), ("psi", sc.psi, "pos"), ("gamma", sc.gamma, "pos"),
        ("rgamma", sc.rgamma, "pos"), ("polygamma", lambda x: sc.polygamma(1, x), "pos"),
        ("multigammaln", lambda x: sc.multigammaln(x + 2, 2), "pos"),
        ("j0", sc.j0, "any"), ("j1", sc.j1, "any"), ("y0", sc.y0, "pos"), ("y1", sc.y1, "pos"),
        ("i0", sc.i0, "any"), ("i1", sc.i1, "any"), ("erfcinv", sc.erfcinv, "unit_pos"),
        ("jv", lambda x: sc.jv(1.5, x), "pos"), ("jn", lambda x: sc.jn(2, x), "any"),
        ("yv", lambda x: sc.yv(0.5, x), "pos"), ("yn", lambda x: sc.yn(2, x), "pos"),
        ("iv", lambda x: sc.iv(2.5, x), "pos"), ("ive", lambda x: sc.ive(1.0, x), "pos"),
        ("gammainc", lambda x: sc.gammainc(2.5, x), "pos"),
        ("gammaincc", lambda x: sc.gammaincc(1.5, x), "pos"),
        ("betainc", lambda x: sc.betainc(2.0, 3.5, x), "unit_pos")]]
    + [binary(n, f, "pos") for n, f in [("xlogy", sc.xlogy), ("beta", sc.beta),
                                         ("betaln", sc.betaln)]]
    + [unary(f"stats.{d}.{m}", _stats(d, m, args), dom) for d, args, dom, methods in [
        ("norm", (0.3, 1.7), "any", ("pdf", "cdf", "sf", "logpdf", "logcdf", "logsf")),
        ("t", (4.5, 0.2, 1.3), "any", ("pdf", "cdf", "logpdf", "logcdf")),
        ("beta", (2.0, 3.0), "unit_pos", ("pdf", "cdf", "logpdf")),
        ("chi2", (3.0,), "pos", ("pdf", "cdf", "logpdf")),
        ("gamma", (2.5, 0.1, 1.2), "pos", ("pdf", "cdf", "logpdf"))] for m in methods]
    + [unary(f"stats.poisson.{m}", lambda mu, m=m: getattr(st.poisson, m)(3, mu), "pos")
       for m in ("pmf", "logpmf", "cdf")]
    + [Rec("stats.dirichlet.logpdf", lambda x: st.dirichlet.logpdf(x / np.sum(x), x + 1.0),
           [VEC], "pos"),
       Rec("stats.multivariate_normal.logpdf",
           lambda x, m: st.multivariate_normal.logpdf(x, m, spd(np.outer(m, m))),
           [(VEC, VEC), ((2, 4), VEC)], wrt=(0, 1)),
       Rec("stats.multivariate_normal.entropy",
           lambda a: st.multivariate_normal.entropy(None, spd(a)), [(3, 3)])]
    + [Rec("logsumexp", sc.logsumexp, [VEC, MAT], kwargs=AXES[:3]),
       Rec("logsumexp_b", lambda x: sc.logsumexp(x, b=np.arange(1.0, x.shape[-1] + 1), axis=-1),
           [VEC, MAT])]
)
DOMAINS["unit_pos"] = lambda z: 0.5 + 0.4 * np.tanh(z)


# ---- checking ----------------------------------------------------------------------------------
def cases():
    for rec in RECORDS:
        for shapes, kwargs in itertools.product(rec.shapes, rec.kwargs):
            shapes = shapes if shapes and isinstance(shapes[0], tuple) else (shapes,)
            if kwargs.get("axis") is not None and np.size(kwargs["axis"]) > len(shapes[0]):
                continue        # more axes than the array has
            label = f"{rec.name}-{'x'.join(map(str, shapes))}-{kwargs or ''}"
            yield pytest.param(rec, shapes, kwargs, id=label)


def make_args(rec, shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [np.asarray(DOMAINS[rec.domain](rng.standard_normal(s))) for s in shapes]


def scalarized(rec, kwargs):
    """sum(weights * f(*args)) with fixed pseudo-random weights: one scalar depending on every
    output entry. The weights are made inside, so a trace of `loss` has only `args` as inputs."""
    def loss(*args):
        out = np.real(rec.fn(*args, **kwargs))
        weights = np.cos(np.arange(1, np.size(out) + 1)).reshape(np.shape(out))
        return np.sum(out * weights)
    return loss


def central_difference(f, args, i):
    x = np.array(args[i], dtype=np.float64)
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        for sign in (1, -1):
            shifted = x.copy()
            shifted[k] += sign * H
            g[k] += sign * f(*[shifted if j == i else a for j, a in enumerate(args)]) / (2 * H)
    return g


@pytest.mark.parametrize("rec,shapes,kwargs", list(cases()))
def test_value_and_gradient(rec, shapes, kwargs, backend):
    args = make_args(rec, shapes)
    expected = rec.fn(*args, **kwargs)
    value = tracejit.jit(lambda *a: rec.fn(*a, **kwargs), backend=backend)
    got = value(*args)
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    loss = scalarized(rec, kwargs)
    wrt = tuple(i for i in rec.wrt if i < len(args))
    grad = tracejit.jit_grad(loss, argnums=wrt, backend=backend)
    grads = grad(*args)
    for i, g in zip(wrt, grads):
        np.testing.assert_allclose(g, central_difference(loss, args, i), rtol=1e-5, atol=1e-6)
    assert_kernels_served(backend, value, grad)


def hessian_vector_product(loss, args, v):
    """d/dx (grad(x) . v) from the joint trace, differentiated once more."""
    joint = vjp_trace(trace_function(loss, tuple(args), {}).trace, [0])
    grad_atom = joint.outputs[1]
    if isinstance(grad_atom, Lit):
        return np.zeros_like(args[0])
    builder = Builder(concrete=False)
    env = replay(builder, joint)
    directional = reduce_sum(mul(env(grad_atom), v), axes=tuple(range(np.ndim(v))), keepdims=False)
    second = Trace(joint.inputs, (directional.atom,), tuple(builder.ops))
    hvp = vjp_trace(second, [0])
    return run_trace(hvp, list(args))[1]


SECOND = [p for p in cases() if p.values[0].second and p.values[1][0] != SCALAR]


@pytest.mark.parametrize("rec,shapes,kwargs", SECOND)
def test_second_derivative(rec, shapes, kwargs):
    args = make_args(rec, shapes, seed=1)
    loss = scalarized(rec, kwargs)
    v = np.sin(np.arange(1.0, args[0].size + 1)).reshape(args[0].shape)
    got = hessian_vector_product(loss, args, v)
    grad = tracejit.jit_grad(loss)

    def directional(*a):
        return float(np.sum(grad(*a) * v))
    np.testing.assert_allclose(got, central_difference(directional, args, 0), rtol=1e-4, atol=1e-5)


FIRST_SHAPES = {}
for _p in cases():
    FIRST_SHAPES.setdefault(_p.values[0].name, _p)


@pytest.mark.parametrize("rec,shapes,kwargs", list(FIRST_SHAPES.values()))
def test_float32_inputs(rec, shapes, kwargs, backend):
    """float32 inputs give NumPy's result dtype and (to float32 precision) its values."""
    args = [a.astype(np.float32) for a in make_args(rec, shapes)]
    expected = rec.fn(*args, **kwargs)
    value = tracejit.jit(lambda *a: rec.fn(*a, **kwargs), backend=backend)
    got = value(*args)
    assert np.asarray(got).dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6)
    assert_kernels_served(backend, value)


@pytest.mark.parametrize("rec,shapes,kwargs", list(FIRST_SHAPES.values()))
def test_integer_inputs(rec, shapes, kwargs, backend):
    """Integer inputs (not differentiated) give NumPy's result dtype and values."""
    args = [np.round(a * 3).astype(np.int64) for a in make_args(rec, shapes)]
    with np.errstate(all="ignore"):
        try:
            expected = rec.fn(*args, **kwargs)
        except (TypeError, ValueError, np.linalg.LinAlgError) as e:
            pytest.skip(f"NumPy/SciPy itself rejects integer input here: {e}")
        value = tracejit.jit(lambda *a: rec.fn(*a, **kwargs), backend=backend)
        got = value(*args)
    assert np.asarray(got).dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(got, expected, rtol=1e-10, equal_nan=True)
    assert_kernels_served(backend, value)
