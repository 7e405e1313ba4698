"""Tensor products as transposes, reshapes and one batched matmul.

`einsum` handles any subscripts by reducing each operand's private axes, then contracting two
operands at a time with a broadcast multiply and a sum (simple, differentiable, and exact; not
BLAS-fast for big contractions).
"""
import numpy as np

from ..errors import UnsupportedError
from ..ops import elementwise as ew
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


# ---- einsum --------------------------------------------------------------------------------------
def _parse(subscripts, operands):
    subscripts = subscripts.replace(" ", "")
    if "." in subscripts:
        raise UnsupportedError("numpy.einsum with '...' (ellipsis) subscripts")
    if "->" in subscripts:
        inputs, output = subscripts.split("->")
    else:
        inputs = subscripts
        letters = inputs.replace(",", "")
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    inputs = inputs.split(",")
    if len(inputs) != len(operands):
        raise ValueError("einsum: number of subscripts does not match the number of operands")
    return inputs, output


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


def _align(x, labels, order):
    """x transposed and reshaped so its axes follow `order` (size-1 where it lacks a label)."""
    present = [c for c in order if c in labels]
    x = F.transpose(x, [labels.index(c) for c in present])
    shape = dict(zip(present, F.shape(x)))
    return F.reshape(x, tuple(shape.get(c, 1) for c in order))


@implements(np.einsum)
def einsum(subscripts, *operands, out=None, optimize=False, **kwargs):
    refuse("einsum", out=out)
    if not isinstance(subscripts, str):
        raise UnsupportedError("numpy.einsum in the interleaved (operand, sublist) form")
    inputs, output = _parse(subscripts, operands)
    order = output + "".join(sorted(set("".join(inputs)) - set(output)))
    total = None
    for x, labels in zip(operands, inputs):
        x, labels = _diagonalize(asarray(x), labels)
        aligned = _align(x, labels, order)
        total = aligned if total is None else ew.mul(total, aligned)
    summed = tuple(range(len(output), len(order)))
    result = F.sum(total, axis=summed) if summed else total
    return F.reshape(result, F.shape(result)[:len(output)])
