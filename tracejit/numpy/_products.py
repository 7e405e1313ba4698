"""Tensor products as transposes, reshapes and one batched matmul.

`einsum` handles any subscripts (without '...') by summing each operand's private axes, then
contracting two operands at a time with one batched matmul.
"""
import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
from ..ops.core import as_numpy_scalar
from . import _funcs as F
from ._funcs import asarray, refuse
from ._registry import implements


@implements(np.tensordot)
def tensordot(a, b, axes=2):
    a, b = asarray(a), asarray(b)
    if isinstance(axes, (int, np.integer)):
        axes = (list(range(F.ndim(a) - axes, F.ndim(a))), list(range(axes)))
    ax_a = [int(i) % F.ndim(a) for i in np.atleast_1d(axes[0])]
    ax_b = [int(i) % F.ndim(b) for i in np.atleast_1d(axes[1])]
    free_a = [i for i in range(F.ndim(a)) if i not in ax_a]
    free_b = [i for i in range(F.ndim(b)) if i not in ax_b]
    shape_a, shape_b = F.shape(a), F.shape(b)
    k = int(np.prod([shape_a[i] for i in ax_a]))
    left = F.reshape(F.transpose(a, free_a + ax_a), (-1, k))
    right = F.reshape(F.transpose(b, ax_b + free_b), (k, -1))
    return F.reshape(F.matmul(left, right),
                     tuple(shape_a[i] for i in free_a) + tuple(shape_b[i] for i in free_b))


@implements(np.vdot)
def vdot(a, b):
    a = asarray(a)
    conj = ew.conj(a) if a.dtype.kind == "c" else a
    return F.sum(ew.mul(F.ravel(conj), F.ravel(asarray(b))))


@implements(np.kron)
def kron(a, b):
    a, b = asarray(a), asarray(b)
    nd = max(F.ndim(a), F.ndim(b))
    a = F.reshape(a, (1,) * (nd - F.ndim(a)) + F.shape(a))
    b = F.reshape(b, (1,) * (nd - F.ndim(b)) + F.shape(b))
    inter_a = tuple(x for n in F.shape(a) for x in (n, 1))
    inter_b = tuple(x for n in F.shape(b) for x in (1, n))
    out = ew.mul(F.reshape(a, inter_a), F.reshape(b, inter_b))
    return F.reshape(out, tuple(m * n for m, n in zip(F.shape(a), F.shape(b))))


@implements(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    from ._shapes import moveaxis
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(asarray(a), axisa, -1), moveaxis(asarray(b), axisb, -1)
    if F.shape(a)[-1] != 3 or F.shape(b)[-1] != 3:
        raise UnsupportedError("numpy.cross of 2-vectors")
    ax = [a[..., i] for i in range(3)]
    bx = [b[..., i] for i in range(3)]
    parts = [ew.sub(ew.mul(ax[(i + 1) % 3], bx[(i + 2) % 3]), ew.mul(ax[(i + 2) % 3], bx[(i + 1) % 3]))
             for i in range(3)]
    return moveaxis(F.stack(parts, axis=-1), -1, axisc)


def inner_nd(a, b):
    a, b = asarray(a), asarray(b)
    if F.ndim(a) == 0 or F.ndim(b) == 0:
        return ew.mul(a, b)
    return tensordot(a, b, axes=([-1], [-1]))


def dot_nd(a, b):
    """np.dot for b of 3 or more dims: a sum over a's last and b's second-to-last axis."""
    return tensordot(a, b, axes=([-1], [F.ndim(b) - 2]))


# ---- einsum ----------------------------------------------------------------------------------
def _parse(subscripts, operands):
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(operands):
        raise ValueError("einsum: number of subscripts does not match the number of operands")
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in subscripts]
    inputs, broadcast = _expand_ellipses(inputs, operands, spare)
    if arrow:
        output = output.replace("...", broadcast)
    else:
        letters = "".join(inputs)
        output = broadcast + "".join(sorted(c for c in set(letters) - set(broadcast)
                                            if letters.count(c) == 1))
    return inputs, output


def _expand_ellipses(inputs, operands, spare):
    """'...' replaced by letters naming the broadcast axes, right-aligned across operands."""
    widths = [F.ndim(x) - len(s.replace("...", "")) if "..." in s else 0
              for s, x in zip(inputs, operands)]
    broadcast = "".join(spare[:max(widths, default=0)])
    expanded = [s.replace("...", broadcast[len(broadcast) - w:] if w else "")
                for s, w in zip(inputs, widths)]
    return expanded, broadcast


def _diagonalize(x, labels):
    """Repeated labels in one operand (np.einsum('ii->i')) take that operand's diagonal."""
    from ._shapes import diagonal
    while len(set(labels)) < len(labels):
        c = next(c for c in labels if labels.count(c) > 1)
        i = labels.index(c)
        j = labels.index(c, i + 1)
        x = diagonal(x, 0, i, j)
        labels = labels[:i] + labels[i + 1:j] + labels[j + 1:] + c
    return x, labels


def _sum_private(x, labels, needed):
    """Sum out the labels no other operand or the output needs."""
    axes = tuple(i for i, c in enumerate(labels) if c not in needed)
    if not axes:
        return x, labels
    return F.sum(x, axis=axes), "".join(c for c in labels if c in needed)


def _contract(a, la_, b, lb, keep):
    """Contract two labelled operands with one batched matmul: labels in both and in `keep` are
    batch axes, labels in both but not kept are summed, the rest stay on their side."""
    batch = [c for c in la_ if c in lb and c in keep]
    summed = [c for c in la_ if c in lb and c not in keep]
    left = [c for c in la_ if c not in lb]
    right = [c for c in lb if c not in la_]
    size = dict(zip(la_, F.shape(a))) | dict(zip(lb, F.shape(b)))

    def prod(cs):
        return int(np.prod([size[c] for c in cs]))
    a2 = F.reshape(F.transpose(a, [la_.index(c) for c in batch + left + summed]),
                   (prod(batch), prod(left), prod(summed)))
    b2 = F.reshape(F.transpose(b, [lb.index(c) for c in batch + summed + right]),
                   (prod(batch), prod(summed), prod(right)))
    out = F.reshape(F.matmul(a2, b2), tuple(size[c] for c in batch + left + right))
    return out, "".join(batch + left + right)


@implements(np.einsum)
def einsum(subscripts, *operands, out=None, optimize=False, **kwargs):
    """Operands are contracted left to right, each pair by one batched matmul (so BLAS does the
    work and no broadcast product of all operands is ever formed)."""
    refuse("einsum", out=out)
    if not isinstance(subscripts, str):
        raise UnsupportedError("numpy.einsum in the interleaved (operand, sublist) form")
    inputs, output = _parse(subscripts, operands)
    terms = [_diagonalize(asarray(x), labels) for x, labels in zip(operands, inputs)]
    for k in range(len(terms)):
        needed = set(output).union(*[set(lbl) for _, lbl in terms[:k] + terms[k + 1:]])
        terms[k] = _sum_private(*terms[k], needed)
    acc, acc_labels = terms[0]
    for k, (x, labels) in enumerate(terms[1:], 1):
        keep = set(output).union(*[set(lbl) for _, lbl in terms[k + 1:]])
        acc, acc_labels = _contract(acc, acc_labels, x, labels, keep)
        acc, acc_labels = _sum_private(acc, acc_labels, keep)
    if not output:
        return as_numpy_scalar(acc)            # a full contraction gives a NumPy scalar
    return F.transpose(acc, [acc_labels.index(c) for c in output])


# ---- 1-D convolution: a gather builds the Toeplitz matrix of one operand, a matmul applies it ----
def convolve_full(a, v):
    """The full discrete convolution of 1-D a and v (length n + m - 1)."""
    from ._shapes import _gather
    a, v = asarray(a), asarray(v)
    n, m = F.shape(a)[0], F.shape(v)[0]
    k, j = np.arange(n + m - 1)[:, None], np.arange(n)[None, :]
    lag = k - j
    index = np.where((lag >= 0) & (lag < m), lag, m)         # m points at an appended zero
    padded = F.concatenate([v, np.zeros(1, np.result_type(F.asarray(v).dtype))], axis=0)
    return F.matmul(_gather(padded, index), a)


def convolve_mode(full, n, m, mode, centre_on_first=False):
    """Crop a full convolution to NumPy's (or, centre_on_first, SciPy's) 'same'/'valid'."""
    if mode == "full":
        return full
    if mode == "same":
        size = n if centre_on_first else max(n, m)
        start = (n + m - 1 - size) // 2
    elif mode == "valid":
        size, start = max(n, m) - min(n, m) + 1, min(n, m) - 1
    else:
        raise ValueError(f"mode must be 'full', 'same' or 'valid', not {mode!r}")
    return F._take_range(full, 0, start, start + size)


@implements(np.convolve)
def convolve(a, v, mode="full"):
    a, v = F.atleast_1d(asarray(a)), F.atleast_1d(asarray(v))
    n, m = F.shape(a)[0], F.shape(v)[0]
    return convolve_mode(convolve_full(a, v), n, m, mode)


@implements(np.correlate)
def correlate(a, v, mode="valid"):
    v = F.atleast_1d(asarray(v))
    flipped = v[::-1] if not isinstance(v, np.ndarray) else v[::-1].copy()
    if F.asarray(flipped).dtype.kind == "c":
        flipped = ew.conj(flipped)
    return convolve(a, flipped, mode)
