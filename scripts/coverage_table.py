"""Generate docs/coverage.md: which NumPy/SciPy functions tracejit differentiates.

Nothing here is typed by hand as "supported": every name is probed by tracing a small function
that calls it, comparing the value with plain NumPy/SciPy and the gradient with central finite
differences. A name whose probe raises or disagrees is listed as not supported, with the reason.

    python scripts/coverage_table.py            # writes docs/coverage.md, prints the counts
"""
import importlib
import math
import os
import sys
import warnings

import numpy as np
import scipy.special as sc
import scipy.stats as st

import tracejit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the names autograd 1.9 differentiates (its own list, copied here so the script is self-contained)
AUTOGRAD_LIST = os.path.join(ROOT, "scripts", "autograd_names.txt")
# issue 4's 20 gap items, with `nan*` and `copy`/`.copy()` spelled out name by name
GAP = ["numpy.cumprod", "numpy.ptp", "numpy.take", "numpy.take_along_axis", "numpy.compress",
       "numpy.nansum", "numpy.nanmean", "numpy.nanmax", "numpy.nanmin", "numpy.nanprod",
       "numpy.nanstd", "numpy.nanvar", "numpy.average", "numpy.median", "numpy.flip",
       "numpy.meshgrid", "numpy.vdot", "numpy.cbrt", "numpy.interp", "numpy.polyval",
       "numpy.fmod", "numpy.float_power", "numpy.copy", "numpy.ndarray.copy", "numpy.trapezoid",
       "numpy.linalg.qr", "numpy.linalg.eigvalsh", "numpy.linalg.matrix_power",
       "numpy.ndarray.dot", "scipy.special.xlogy"]
EXTRA = ["numpy.nancumsum", "numpy.nancumprod", "numpy.nanmedian", "numpy.quantile",
         "numpy.percentile", "numpy.argsort", "numpy.argmax", "numpy.argmin", "numpy.round",
         "numpy.around", "numpy.rint", "numpy.trunc", "numpy.fix", "numpy.floor", "numpy.ceil",
         "numpy.sign", "numpy.floor_divide", "numpy.divmod", "numpy.heaviside", "numpy.positive",
         "numpy.zeros_like", "numpy.ones_like", "numpy.full_like", "numpy.broadcast_arrays",
         "numpy.any", "numpy.all", "numpy.count_nonzero", "numpy.dstack", "numpy.add.at",
         "numpy.add.reduce", "numpy.multiply.outer", "numpy.add.accumulate",
         "numpy.ndarray.sum", "numpy.ndarray.mean", "numpy.ndarray.prod", "numpy.ndarray.cumsum",
         "numpy.ndarray.max", "numpy.ndarray.reshape", "numpy.ndarray.sort",
         "numpy.ndarray.item", "numpy.ndarray.__setitem__", "numpy.ndarray.__iadd__",
         "math.sin", "math.exp", "math.log", "math.sqrt", "math.tanh", "math.erf",
         "math.lgamma", "builtins.float", "builtins.abs", "builtins.sum", "builtins.max",
         "builtins.min", "builtins.round", "scipy.special.psi", "numpy.convolve",
         "numpy.correlate", "numpy.linalg.eigvals", "scipy.special.jv", "scipy.special.yv",
         "numpy.signbit", "numpy.isinf", "numpy.nonzero", "numpy.flatnonzero", "numpy.argwhere"]

R = np.random.default_rng(7)
X = R.uniform(0.2, 0.9, (2, 3))                  # the default probe input: inside most domains
Y = R.uniform(0.2, 0.9, (2, 3))
SQ = R.standard_normal((3, 3)) + 3 * np.eye(3)
SPD = SQ @ SQ.T


def _spd(a):
    return a @ a.T + 3 * np.eye(a.shape[0])


# name -> (function of one float array, argument); unlisted names fall back to `default_probe`
PROBES = {
    "numpy.arccosh": (np.arccosh, X + 1), "numpy.acosh": (np.acosh, X + 1),
    "numpy.nan_to_num": (np.nan_to_num, X), "numpy.clip": (lambda x: np.clip(x, 0.3, 0.6), X),
    "numpy.real_if_close": (lambda x: np.real_if_close(np.fft.ifft(np.fft.fft(x))), X),
    "numpy.angle": (lambda x: np.angle(np.fft.fft(x)), X),
    "numpy.imag": (lambda x: np.imag(np.fft.fft(x)), X),
    "numpy.real": (lambda x: np.real(np.fft.fft(x)), X),
    "numpy.astype": (lambda x: np.astype(x, np.float64) ** 2, X),
    "numpy.where": (lambda x: np.where(x > 0.5, x, x ** 2), X),
    "numpy.cumsum": (lambda x: np.cumsum(x, axis=1), X),
    "numpy.matmul": (lambda x: np.matmul(x, x.T), X), "numpy.dot": (lambda x: np.dot(x, x.T), X),
    "numpy.tensordot": (lambda x: np.tensordot(x, x, axes=([1], [1])), X),
    "numpy.inner": (lambda x: np.inner(x, x), X), "numpy.outer": (lambda x: np.outer(x, x), X),
    "numpy.einsum": (lambda x: np.einsum("ij,kj->ik", x, x), X),
    "numpy.kron": (lambda x: np.kron(x, x[0]), X), "numpy.cross": (lambda x: np.cross(x[0], x[1]), X),
    "numpy.reshape": (lambda x: np.reshape(x, (3, 2)), X),
    "numpy.expand_dims": (lambda x: np.expand_dims(x, 1), X),
    "numpy.squeeze": (lambda x: np.squeeze(x[:, None]), X),
    "numpy.swapaxes": (lambda x: np.swapaxes(x, 0, 1), X),
    "numpy.moveaxis": (lambda x: np.moveaxis(x, 0, 1), X),
    "numpy.rollaxis": (lambda x: np.rollaxis(x, 1), X),
    "numpy.broadcast_to": (lambda x: np.broadcast_to(x, (2, 2, 3)), X),
    "numpy.concatenate": (lambda x: np.concatenate([x, x ** 2]), X),
    "numpy.append": (lambda x: np.append(x, x ** 2), X),
    "numpy.split": (lambda x: np.split(x, 3, axis=1)[1], X),
    "numpy.array_split": (lambda x: np.array_split(x, 2, axis=1)[1], X),
    "numpy.vsplit": (lambda x: np.vsplit(x, 2)[1], X), "numpy.hsplit": (lambda x: np.hsplit(x, 3)[2], X),
    "numpy.dsplit": (lambda x: np.dsplit(x[..., None] * np.ones(2), 2)[1], X),
    "numpy.repeat": (lambda x: np.repeat(x, 2, axis=0), X),
    "numpy.tile": (lambda x: np.tile(x, (2, 2)), X), "numpy.roll": (lambda x: np.roll(x, 1, 1), X),
    "numpy.diag": (lambda x: np.diag(x[0]), X), "numpy.diagonal": (lambda x: np.diagonal(x, 1), X),
    "numpy.pad": (lambda x: np.pad(x, 1, mode="edge"), X),
    "numpy.array": (lambda x: np.array([x[0, 0], x[1, 1]]), X),
    "numpy.full": (lambda x: np.full((2,), x[0, 0]), X),
    "numpy.linspace": (lambda x: np.linspace(x[0, 0], x[1, 1], 4), X),
    "numpy.diff": (lambda x: np.diff(x, axis=0), X), "numpy.gradient": (lambda x: np.gradient(x)[1], X),
    "numpy.partition": (lambda x: np.partition(x, 1, axis=1), X),
    "numpy.select": (lambda x: np.select([x > 0.5], [x ** 2], x), X),
    "numpy.ndarray.__getitem__": (lambda x: x[1:, ::-2][:, None], X),
    "numpy.ndarray.flatten": (lambda x: x.flatten(), X), "numpy.ndarray.T": (lambda x: x.T, X),
    "numpy.r_": (lambda x: np.r_[x[0], x[1]], X), "numpy.c_": (lambda x: np.c_[x[0], x[1]], X),
    "numpy.linalg.det": (np.linalg.det, SQ), "numpy.linalg.slogdet": (lambda a: np.linalg.slogdet(a)[1], SQ),
    "numpy.linalg.inv": (np.linalg.inv, SQ), "numpy.linalg.pinv": (np.linalg.pinv, X),
    "numpy.linalg.solve": (lambda a: np.linalg.solve(a, a[0]), SQ),
    "numpy.linalg.norm": (lambda a: np.linalg.norm(a, "nuc"), X),
    "numpy.linalg.eigh": (lambda a: np.linalg.eigh(_spd(a))[0], SQ),
    "numpy.linalg.eigvalsh": (np.linalg.eigvalsh, SPD),
    "numpy.linalg.eig": (lambda a: np.linalg.eig(_spd(a))[0], SQ),
    "numpy.linalg.cholesky": (lambda a: np.linalg.cholesky(_spd(a)), SQ),
    "numpy.linalg.svd": (lambda a: np.linalg.svd(a, full_matrices=False)[1], X),
    "numpy.linalg.qr": (lambda a: np.linalg.qr(a.T)[1], X),
    "numpy.linalg.matrix_power": (lambda a: np.linalg.matrix_power(a, 3), SQ),
    "numpy.fft.fftshift": (np.fft.fftshift, X), "numpy.fft.ifftshift": (np.fft.ifftshift, X),
    "numpy.take": (lambda x: np.take(x, [0, 4, 4]), X),
    "numpy.take_along_axis": (lambda x: np.take_along_axis(x, np.argsort(x, 1), 1), X),
    "numpy.compress": (lambda x: np.compress([False, True], x, axis=0), X),
    "numpy.average": (lambda x: np.average(x, axis=1, weights=[1.0, 2.0, 3.0]), X),
    "numpy.meshgrid": (lambda x: np.meshgrid(x[0], x[1, :2])[1], X),
    "numpy.vdot": (lambda x: np.vdot(x, x), X),
    "numpy.interp": (lambda y: np.interp([0.5, 1.5, 2.5], [0.0, 1.0, 2.0], y[0]), X),
    "numpy.polyval": (lambda p: np.polyval(p[0], p[1]), X),
    "numpy.ndarray.copy": (lambda x: x.copy(), X), "numpy.ndarray.dot": (lambda x: x.dot(x.T), X),
    "numpy.trapezoid": (lambda x: np.trapezoid(x, dx=0.5), X),
    "numpy.quantile": (lambda x: np.quantile(x, [0.25, 0.5], axis=1), X),
    "numpy.percentile": (lambda x: np.percentile(x, 40), X),
    "numpy.argsort": (lambda x: x[0][np.argsort(x[1])], X),
    "numpy.argmax": (lambda x: x[1][np.argmax(x[0])], X), "numpy.argmin": (lambda x: x[1][np.argmin(x[0])], X),
    "numpy.round": (lambda x: np.round(x, 1) * x, X), "numpy.around": (lambda x: np.around(x, 1) * x, X),
    "numpy.divmod": (lambda x: np.divmod(x, 0.3)[1], X),
    "numpy.heaviside": (lambda x: np.heaviside(x - 0.5, 0.5) * x, X),
    "numpy.zeros_like": (lambda x: np.zeros_like(x) + x, X), "numpy.ones_like": (lambda x: np.ones_like(x) * x, X),
    "numpy.full_like": (lambda x: np.full_like(x, 2.0) * x, X),
    "numpy.broadcast_arrays": (lambda x: np.broadcast_arrays(x, x[0])[1], X),
    "numpy.any": (lambda x: x * np.any(x > 0.5, axis=0), X), "numpy.all": (lambda x: x * np.all(x > 0.1), X),
    "numpy.count_nonzero": (lambda x: x * np.count_nonzero(x > 0.5), X),
    "numpy.dstack": (lambda x: np.dstack([x, x ** 2]), X),
    "numpy.nonzero": (lambda x: x[np.nonzero(x > 0.5)], X),
    "numpy.flatnonzero": (lambda x: np.ravel(x)[np.flatnonzero(x > 0.5)], X),
    "numpy.argwhere": (lambda x: x * np.sum(np.argwhere(x > 0.5)), X),
    "numpy.convolve": (lambda x: np.convolve(x[0], x[1, :2]), X),
    "numpy.correlate": (lambda x: np.correlate(x[0], x[1, :2], "same"), X),
    "numpy.linalg.eigvals": (lambda a: np.abs(np.linalg.eigvals(a)), SQ),
    "scipy.special.jv": (lambda x: sc.jv(1.5, x), X), "scipy.special.yv": (lambda x: sc.yv(0.5, x), X),
    "numpy.signbit": (lambda x: x * np.signbit(x - 0.5), X),
    "numpy.isinf": (lambda x: x * np.isinf(x / 0.0), X),
    "numpy.add.at": (lambda x: _add_at(x), X), "numpy.add.reduce": (lambda x: np.add.reduce(x, axis=1), X),
    "numpy.multiply.outer": (lambda x: np.multiply.outer(x[0], x[1]), X),
    "numpy.add.accumulate": (lambda x: np.add.accumulate(x, axis=1), X),
    "numpy.ndarray.sum": (lambda x: x.sum(axis=0), X), "numpy.ndarray.mean": (lambda x: x.mean(1), X),
    "numpy.ndarray.prod": (lambda x: x.prod(0), X), "numpy.ndarray.cumsum": (lambda x: x.cumsum(1), X),
    "numpy.ndarray.max": (lambda x: x.max(1), X), "numpy.ndarray.reshape": (lambda x: x.reshape(3, 2), X),
    "numpy.ndarray.sort": (lambda x: _sorted_copy(x), X),
    "numpy.ndarray.item": (lambda x: x[0, 1].item() * x, X),
    "numpy.ndarray.__setitem__": (lambda x: _setitem(x), X),
    "numpy.ndarray.__iadd__": (lambda x: _iadd(x), X),
    "math.sin": (lambda x: math.sin(x[0, 0]) * x, X), "math.exp": (lambda x: math.exp(x[0, 0]) * x, X),
    "math.log": (lambda x: math.log(x[0, 0]) * x, X), "math.sqrt": (lambda x: math.sqrt(x[0, 0]) * x, X),
    "math.tanh": (lambda x: math.tanh(x[0, 0]) * x, X), "math.erf": (lambda x: math.erf(x[0, 0]) * x, X),
    "math.lgamma": (lambda x: math.lgamma(x[0, 0]) * x, X),
    "builtins.float": (lambda x: float(x[0, 0]) * x, X), "builtins.abs": (lambda x: abs(x - 0.5), X),
    "builtins.sum": (lambda x: sum(x), X), "builtins.max": (lambda x: max(x[0, 0], x[1, 1]) * x, X),
    "builtins.min": (lambda x: min(x[0, 0], x[1, 1]) * x, X),
    "builtins.round": (lambda x: round(x[0, 0], 1) * x, X),
    "builtins.tuple.__getitem__": (lambda x: (x, x ** 2)[1], X),
    "builtins.list.__getitem__": (lambda x: [x, x ** 2][1], X),
    "builtins.dict.__getitem__": (lambda x: {"a": x, "b": x ** 2}["b"], X),
    "builtins.list": (lambda x: list(x)[1], X), "builtins.tuple": (lambda x: tuple(x)[1], X),
    "builtins.dict": (lambda x: dict(a=x)["a"], X),
    "scipy.special.polygamma": (lambda x: sc.polygamma(2, x), X),
    "scipy.special.multigammaln": (lambda x: sc.multigammaln(x + 2, 3), X),
    "scipy.special.logit": (sc.logit, X),
    "scipy.special.logsumexp": (lambda x: sc.logsumexp(x, axis=1), X),
    "scipy.special.gammainc": (lambda x: sc.gammainc(2.0, x), X),
    "scipy.special.gammaincc": (lambda x: sc.gammaincc(2.0, x), X),
    "scipy.special.betainc": (lambda x: sc.betainc(2.0, 3.0, x), X),
    "scipy.special.jn": (lambda x: sc.jn(2, x), X), "scipy.special.yn": (lambda x: sc.yn(2, x), X),
    "scipy.special.iv": (lambda x: sc.iv(1.5, x), X), "scipy.special.ive": (lambda x: sc.ive(1.5, x), X),
    "scipy.linalg.sqrtm": (lambda a: _scipy("linalg").sqrtm(_spd(a)), SQ),
    "scipy.linalg.solve_triangular": (lambda a: _scipy("linalg").solve_triangular(np.tril(a), a[0], lower=True), SQ),
    "scipy.linalg.solve_banded": (lambda a: _scipy("linalg").solve_banded((1, 1), a, a[0]), SQ),
    "scipy.linalg.solve_sylvester": (lambda a: _scipy("linalg").solve_sylvester(a, a.T, a), SQ),
    "scipy.signal.convolve": (lambda x: _scipy("signal").convolve(x[0], x[1]), X),
    "scipy.integrate.odeint": (lambda x: _scipy("integrate").odeint(lambda y, t: -y, x[0], [0.0, 1.0]), X),
    "scipy.stats.multivariate_normal.logpdf": (lambda x: st.multivariate_normal.logpdf(x[0], x[1], SPD), X),
    "scipy.stats.multivariate_normal.pdf": (lambda x: st.multivariate_normal.pdf(x[0], x[1], SPD), X),
    "scipy.stats.multivariate_normal.entropy": (lambda x: st.multivariate_normal.entropy(x[0], _spd(x.T)), X),
    "scipy.stats.dirichlet.logpdf": (lambda x: st.dirichlet.logpdf(x[0] / x[0].sum(), x[1] + 1), X),
    "scipy.stats.dirichlet.pdf": (lambda x: st.dirichlet.pdf(x[0] / x[0].sum(), x[1] + 1), X),
    "scipy.stats.poisson.cdf": (lambda x: st.poisson.cdf(3, x + 1), X),
    "scipy.stats.poisson.logpmf": (lambda x: st.poisson.logpmf(3, x + 1), X),
    "scipy.stats.poisson.pmf": (lambda x: st.poisson.pmf(3, x + 1), X),
}
TWO_ARGS = {"numpy.add", "numpy.subtract", "numpy.multiply", "numpy.divide", "numpy.true_divide",
            "numpy.power", "numpy.pow", "numpy.maximum", "numpy.minimum", "numpy.fmax",
            "numpy.fmin", "numpy.logaddexp", "numpy.logaddexp2", "numpy.mod", "numpy.remainder",
            "numpy.arctan2", "numpy.atan2", "numpy.hypot", "numpy.fmod", "numpy.float_power",
            "numpy.floor_divide", "scipy.special.xlogy", "scipy.special.beta",
            "scipy.special.betaln"}
STATS_ARGS = {"t": (3.0,), "beta": (2.0, 3.0), "chi2": (3.0,), "gamma": (2.0,)}


def _scipy(module):
    return importlib.import_module(f"scipy.{module}")


def _add_at(x):
    y = np.zeros(4)
    np.add.at(y, [0, 0, 3], x[0])
    return y


def _sorted_copy(x):
    y = x.copy()
    y.sort(axis=1)
    return y


def _setitem(x):
    y = np.zeros((3, 3))
    y[1:, ::2] = x[:, :2]
    y[0, 0] = x[0, 0] * 2
    return y


def _iadd(x):
    y = x * 2
    y[0] += x[1]
    y += x
    return y


def resolve(name):
    """The callable a dotted name refers to, or None if this NumPy/SciPy does not have it."""
    parts = name.split(".")
    obj = importlib.import_module(parts[0])
    for k, part in enumerate(parts[1:], 1):
        if not hasattr(obj, part):
            try:
                obj = importlib.import_module(".".join(parts[:k + 1]))
            except ImportError:
                return None
        else:
            obj = getattr(obj, part)
    return obj


def default_probe(name):
    fn = resolve(name)
    if fn is None:
        return None
    if name.startswith("scipy.stats."):
        _, _, dist, method = name.split(".")
        shape = STATS_ARGS.get(dist, ())
        arg = X if dist != "beta" else X / 1.1
        return (lambda x: fn(x, *shape) if dist == "beta" else fn(x + (dist == "gamma"), *shape,
                                                                  loc=0.1, scale=1.3)), arg
    if name in TWO_ARGS:
        return (lambda x: fn(x, Y) + fn(Y, x)), X
    if name.startswith("numpy.fft."):
        return (lambda x: np.real(fn(x)) + np.imag(fn(x)) if "irfft" not in name else fn(x)), X
    return (lambda x: fn(x)), X


def central_difference(f, x, h=1e-6):
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[k] += h
        down[k] -= h
        g[k] = (f(up) - f(down)) / (2 * h)
    return g


def probe(name):
    """('supported' | 'not supported' | 'not in this NumPy/SciPy', detail)."""
    entry = PROBES.get(name) or default_probe(name)
    if entry is None:
        return "not in this NumPy/SciPy", ""
    fn, x = entry

    def loss(x):
        out = np.real(np.asarray(fn(x), dtype=complex))
        return np.sum(out * np.cos(np.arange(1, out.size + 1)).reshape(out.shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = fn(x.copy())
            value = tracejit.jit(lambda x: fn(x))(x.copy())
            if not np.allclose(value, expected, rtol=1e-9, atol=1e-12):
                return "not supported", "value differs from plain NumPy/SciPy"
            grad = tracejit.jit_grad(lambda x: _scalar(fn(x)))(x.copy())
            if not np.allclose(grad, central_difference(loss, x), rtol=1e-4, atol=1e-6):
                return "not supported", "gradient differs from finite differences"
        except Exception as e:     # the reason is reported in the table
            first = str(e).strip().splitlines()
            reason = next((ln for ln in first if "is not supported" in ln or "cannot" in ln),
                          first[0] if first else type(e).__name__)
            return "not supported", f"{type(e).__name__}: {reason.split(': ', 1)[-1][:110]}"
    return "supported", ""


def _scalar(out):
    """The same weighted sum as `loss`, traced (complex outputs contribute their real part)."""
    out = np.real(out) if np.iscomplexobj(out) else out
    return np.sum(out * np.cos(np.arange(1, np.size(out) + 1)).reshape(np.shape(out)))


def runs_on(name):
    """"numba" when numba kernels serve the probe's value and gradient (built before the first
    call, each call checked against the numpy executor), else why the numpy executor did."""
    entry = PROBES.get(name) or default_probe(name)
    fn, x = entry
    reasons = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for wrapped in (tracejit.jit(lambda x: fn(x), backend="numba"),
                        tracejit.jit_grad(lambda x: _scalar(fn(x)), backend="numba")):
            try:
                wrapped(x.copy())
            except Exception as e:
                return f"numba: {type(e).__name__}"
            for e in wrapped.entries():
                if e.executor != "numba":
                    reasons.add(e.fallback_reason or "numpy executor")
                elif getattr(e.program, "runtime_fallbacks", 0):
                    reasons.add("a kernel raised; numpy executor")
    return "numba" if not reasons else "numpy: " + "; ".join(sorted(reasons)).replace(
        "no numba lowering for ", "")


def primitive_table():
    """Every primitive by family, with whether the numba backend lowers it (else the numpy
    executor runs that op) and the limits of its lowering."""
    from tracejit.ops.core import PRIMITIVES
    rows = sorted((_family(p), name, p.numba is not None, getattr(p, "numba_note", ""))
                  for name, p in PRIMITIVES.items())
    lowered = sum(r[2] for r in rows)
    lines = ["## Primitives", "", f"{len(rows)} primitives, {lowered} with a numba lowering; the "
             "public functions above are compositions of these.", "",
             "| family | primitive | numba lowering | note |", "|---|---|---|---|"]
    return lines + [f"| {fam} | `{name}` | {'yes' if ok else 'no (numpy executor)'} | {note} |"
                    for fam, name, ok, note in rows] + [""]


def _family(prim):
    """The ops module that declares `prim` (where its rules live)."""
    for module in ("elementwise", "reduce", "shape", "index", "linalg", "fft", "special", "core",
                   "control", "custom", "effects"):
        mod = importlib.import_module(f"tracejit.ops.{module}")
        if any(v is prim for v in vars(mod).values()):
            return module
    return "?"


def main():
    os.environ["TRACEJIT_NUMBA_TIERING"] = "sync"        # kernels, not the executor, serve calls
    os.environ["TRACEJIT_NUMBA_CROSSCHECK"] = "1"
    autograd = [ln.strip() for ln in open(AUTOGRAD_LIST) if ln.strip()]
    sections = [("Differentiated by autograd 1.9", autograd),
                ("Beyond autograd: functions autograd rejects (issue 4's gap list)", GAP),
                ("More NumPy, Python and SciPy functions tracejit differentiates", EXTRA)]
    lines = ["# tracejit coverage", "",
             "Generated by `python scripts/coverage_table.py`: each name is probed by tracing a "
             "function that calls it; *supported* means the traced value equals plain "
             "NumPy/SciPy and the gradient matches central finite differences. *Runs on* says "
             "whether the numba backend's compiled kernels serve the value and the gradient "
             "(each kernel call checked against the numpy executor), or why the numpy "
             "executor runs them.", ""]
    tables, counts, seen = [], [], set()
    for title, names in sections:
        rows = [(n, *probe(n)) for n in names if n not in seen]
        rows = [(n, s, runs_on(n) if s == "supported" else "", d) for n, s, d in rows]
        seen.update(names)
        ok = sum(r[1] == "supported" for r in rows)
        counts.append((title, ok, len(rows)))
        tables += [f"## {title} — {ok} of {len(rows)} supported", "",
                   "| name | status | runs on | detail |", "|---|---|---|---|"]
        tables += [f"| `{n}` | {s} | {r.replace('|', '/')} | {d.replace('|', '/')} |"
                   for n, s, r, d in rows] + [""]
    total = sum(c[1] for c in counts)
    lines += [f"**{total} names supported** ({' + '.join(str(c[1]) for c in counts)} in the "
              f"sections below); autograd's list has {len(autograd)} names, the gap list "
              f"{len(GAP)} (issue 4's 20 items, name by name).", ""] + tables
    lines += primitive_table()
    with open(os.path.join(ROOT, "docs", "coverage.md"), "w") as f:
        f.write("\n".join(lines))
    for title, ok, n in counts:
        print(f"{ok:4d} / {n:4d}  {title}")
    print(f"{total:4d} supported in total")


if __name__ == "__main__":
    sys.exit(main())
