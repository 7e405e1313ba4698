"""Red-team fuzzer: random user-style programs judged strictly against plain CPython + NumPy.

Designed apart from tests/fuzz_families.py. A program is a body of snippets drawn from one or
more attack families (Python numbers changed by loops, views and aliasing, type and dtype
corners, data-dependent exceptions, NaN/inf, state outside the function), working on a fixed
set of names:

    x    the float64 array argument (length 1..6)     k  a Python int argument
    s    a Python float argument                      y  a local copy of x, written in place
    acc  a Python float accumulator                   cnt  a Python int counter

It is run plainly and through tracejit on a sequence of calls chosen to flip branches and trip
counts (sign flips, zeros, NaN, ±inf, tiny and huge values, changing ints, then the first call
again). The plain run and the compiled run each get their own namespace, so state the program
changes (a global list it appends to) evolves separately on each side, as it would for a user.

Equal means: the same type (Python float vs np.float64 vs 0-d array vs int), the same dtype
and shape, values equal (floats to 1e-9 relative, NaN where NaN; ints and bools exactly), and
the same exception class when the plain call raises. A tracejit refusal (TracejitError) counts
as refused, not wrong.
"""
import contextlib
import dataclasses
import linecache
import math
import random
import textwrap

import numpy as np

import tracejit
from tracejit.frontend import context

OK, REFUSED, WRONG, CRASHED, SKIPPED = "ok", "refused", "wrong", "crashed", "skipped"

# ---- snippets, by family ---------------------------------------------------------------------------
# `{c}` is replaced by a small random constant; every snippet leaves x, k, s, y, acc, cnt with
# their documented kinds (y keeps its shape) so snippets compose in any order.
PYNUM = [
    """
    for i in range(len(x)):
        if x[i] > {c}:
            cnt += 1
        else:
            continue
        acc += float(x[i])
    """,
    """
    j = cnt % len(x)
    acc += float(y[j])
    """,
    """
    m = int(np.sum(x > 0))
    for i in range(m):
        acc += i * 0.5
        cnt += 1
    """,
    """
    i = 0
    while i < len(x) and x[i] < {c}:
        i += 1
    cnt += i
    """,
    """
    for i in range(len(x)):
        if x[i] > 1.0:
            break
    else:
        cnt += 100
    """,
    """
    q, r = divmod(cnt - {ci}, 3)
    cnt = q * 10 + r
    """,
    """
    cnt = (cnt - 5) // 2 + (cnt - 7) % 3 + (-k) // 4 + k % -3
    """,
    """
    acc += round(float(x[0]) * 3)
    """,
    """
    cnt += int(float(x[-1]) * 4)
    """,
    """
    cnt += math.floor(float(x[-1]) * 2) + math.ceil(s)
    """,
    """
    cnt += (x[0] > 0) + (x[-1] < 0)
    """,
    """
    if -1.0 < float(x[0]) < 1.0:
        cnt += 1
    """,
    """
    vals = [float(v) for v in x]
    acc += max(vals) - min(vals) + sum(vals) + abs(vals[0])
    """,
    """
    d = {{0: 1.5, 1: 2.5, 2: -1.0}}
    acc += d[cnt % 3]
    """,
    """
    counts = {{}}
    for v in x:
        key = int(v > 0)
        counts[key] = counts.get(key, 0) + 1
    cnt += counts.get(1, 0) * 10 + len(counts)
    """,
    """
    pos = [v for v in x if v > {c}]
    cnt += len(pos)
    """,
    """
    z = np.ones(cnt % 4 + 1)
    acc += float(np.sum(z * 2.0))
    """,
    """
    acc += float(np.sum(y[:cnt % len(y)]))
    """,
    """
    acc += float(x[0]) // 0.5 + float(x[-1]) % 0.7
    """,
    """
    acc += (-cnt) // 3 + (-cnt) % 3 + (cnt > 2) * 1.5
    """,
    """
    t = 0
    while t < 10 and float(np.sum(y)) < {c} * 10:
        y = y + 0.5
        t += 1
    cnt += t
    """,
    """
    for i in range(k % 5):
        for j in range(i):
            cnt += j
            acc += float(x[j % len(x)])
    """,
    """
    total = 0.0
    for v in y:
        total += float(v) * s
    acc += total
    """,
    """
    acc += math.sqrt(abs(float(x[0]))) + math.exp(min(float(x[-1]), 5.0))
    """,
    """
    acc += math.tanh(float(x[0]) * s) + math.hypot(float(x[-1]), s) + math.atan2(acc, 1.5)
    """,
    """
    acc += math.asinh(float(np.sum(y))) * math.cos(float(x[0])) + math.log1p(abs(acc))
    """,
    """
    acc += float(np.sum(x)) / (cnt + 1) if cnt != -1 else 0.0
    """,
    """
    cnt = cnt + k * k
    acc = acc * 0.5 + cnt
    """,
    """
    n2 = len(x) * 2 - cnt % 3
    acc += float(np.sum(np.arange(max(n2, 0)) * 0.5))
    """,
    """
    i = 0
    tot = 0.0
    while float(np.sum(y)) > -5.0 and i < 20:
        y = y - 0.3
        tot += float(y[0])
        i += 1
    cnt += i
    acc += tot
    """,
    """
    for it in range(k % 7 + 2):
        if float(y[it % len(y)]) > {c}:
            y = y * 0.9
            cnt += 2
        else:
            y = y + 0.1
            cnt -= 1
    """,
    """
    steps = 0
    z = float(x[0])
    while abs(z) > 0.01 and steps < 50:
        z = z / 2.0
        steps += 1
    cnt += steps
    acc += z
    """,
    """
    hist = []
    for v in x:
        if v > {c}:
            hist.append(float(v))
    acc += sum(hist) + len(hist)
    """,
    """
    j = 0
    for i in range(len(x)):
        j = i if x[i] > x[j] else j
    cnt += j
    acc += float(y[j])
    """,
    """
    n_pos = int(np.sum(x > {c}))
    z = np.zeros(n_pos + 1)
    z[n_pos] = 1.0
    acc += float(z @ np.arange(n_pos + 1.0))
    """,
    """
    cnt = (cnt * 1000003 + k) % 2 ** 31
    """,
    """
    e = 0
    while 2 ** e < abs(cnt) + 1:
        e += 1
    cnt += e
    """,
    """
    flag = False
    for v in y:
        if v != v:
            flag = True
    cnt += flag
    """,
    """
    b = [float(v) > {c} for v in x]
    cnt += sum(b) + any(b) + all(b)
    """,
    """
    acc += sum(float(v) ** 2 for v in x)
    """,
    """
    pairs = sorted(zip([float(v) for v in x], range(len(x))))
    cnt += pairs[0][1]
    """,
    """
    cnt += sorted(range(len(x)), key=lambda i: float(x[i]))[-1]
    """,
    """
    w = 1.0
    for i in range(len(x)):
        w = w * 0.5 + float(x[i])
        if w > 3.0:
            break
    acc += w
    """,
    """
    i = len(x) - 1
    while i >= 0:
        if x[i] < {c}:
            break
        i -= 1
    cnt += i
    """,
    """
    acc += float(x[0]) ** 2 + abs(float(x[-1])) ** 0.5 + 2.0 ** -cnt
    """,
    """
    cnt += pow(int(x[0] * 10), 2, 7) + abs(-int(x[0] * 5))
    """,
    """
    q, r = divmod(float(x[0]), 0.3)
    acc += q + r + float(x[-1]) % -0.7 + round(float(x[0]), 2)
    """,
]

VIEWS = [
    """
    v = y[::2]
    v += {c}
    """,
    """
    v = y.reshape(-1)
    v[0] = acc
    """,
    """
    y[1:] = y[:-1]
    """,
    """
    y[1:] += y[:-1]
    """,
    """
    rows = [y[i:i + 1] for i in range(len(y))]
    rows[0][0] = 5.0
    """,
    """
    t = y[::-1]
    t[0] = -1.0
    """,
    """
    z = y[...]
    z *= 2.0
    """,
    """
    z = y.copy()
    z *= 3.0
    acc += float(z[0])
    """,
    """
    a = np.asarray(y)
    a[0] += 1.0
    """,
    """
    a = np.array(y)
    a[0] += 1.0
    acc += float(a[0])
    """,
    """
    w = y[0, ...]
    w[...] = 3.0
    """,
    """
    for i in range(len(y)):
        v = y[i:]
        v *= 0.5
    """,
    """
    M = np.outer(y, y)
    M.T[0] += 1.0
    acc += float(M.sum())
    """,
    """
    r = y.ravel()
    r[-1] = 2.0
    """,
    """
    y.sort()
    """,
    """
    y[[0, 0]] += 1.0
    """,
    """
    M = np.stack([y, y])
    row = M[0]
    M[1] = row * 2.0
    row[:] = 0.0
    acc += float(M.sum())
    """,
    """
    u = y[:]
    y = y * 2.0
    u += 1.0
    acc += float(u.sum())
    """,
    """
    v = y.T
    v[-1] -= {c}
    """,
    """
    A = y.reshape(1, -1)
    B = A.T
    B[0, 0] = 7.0
    """,
    """
    w = y[-1:]
    np.multiply(w, 2.0, out=w)
    """,
    """
    z = y[1:].copy()
    y[1:] = 0.0
    acc += float(z.sum())
    """,
    """
    e = y[0:0]
    acc += float(e.sum()) + len(e)
    """,
    """
    for i in range(len(y) - 1):
        y[i + 1] += y[i]
    """,
    """
    z = y
    z += 1.0
    """,
    """
    z = y
    y = y + 1.0
    z[0] = 9.0
    acc += float(z[0])
    """,
    """
    m = np.zeros((2, len(y)))
    m[0] = y
    m[1, ::-1] = y
    y = m.sum(axis=0)
    """,
    """
    v = y[1:]
    y[:-1] = v
    """,
    """
    y[:] = y[::-1]
    """,
    """
    y[::-1] += y
    """,
    """
    t = y.reshape(-1, 1)
    t *= 2.0
    acc += float(t[0, 0])
    """,
    """
    q = y[y > {c}]
    q += 1.0
    acc += float(q.sum())
    """,
    """
    y = y[np.argsort(y)]
    """,
    """
    y += y.mean()
    """,
    """
    z0 = np.array(float(x[0]))
    z0 += 1.0
    acc += float(z0)
    """,
    """
    z0 = y.sum(keepdims=True)
    z0 *= 2.0
    acc += float(z0[0])
    """,
    """
    for i in range(len(y)):
        if y[i] < {c}:
            y[i] = -y[i]
    """,
    """
    parts = [y[i] for i in range(len(y))]
    y[0] = 100.0
    acc += float(parts[0])
    """,
    """
    rows = list(np.stack([y, y * 2.0]))
    rows[1][0] = -5.0
    acc += float(rows[1].sum())
    """,
]

TYPES = [
    """
    x32 = x.astype(np.float32)
    acc += float(np.sum(x32 * 2.5))
    z32 = x32[0] + 1.5
    if type(z32) is np.float32:
        cnt += 1
    """,
    """
    f = np.float32(x[0])
    g = f + 1.5
    h = f + np.float64(1.5)
    cnt += (type(g) is np.float32) * 2 + (type(h) is np.float64)
    acc += float(g) + float(h)
    """,
    """
    xi = (x * 10).astype(np.int64)
    acc += float(np.sum(xi // 3)) + float(np.sum(xi % -3)) + float(np.sum(xi / 2))
    """,
    """
    xi = (x * 10).astype(np.int64)
    cnt += int(xi[0] * 3 + xi[-1] // 2)
    """,
    """
    b = x > 0
    cnt += int(b.sum())
    bb = b + b
    cnt += int(bb.dtype == np.bool_)
    """,
    """
    if x.dtype == np.float64:
        cnt += x.ndim + len(x) + x.shape[0] * 2
    """,
    """
    if isinstance(acc, float):
        cnt += 1
    if isinstance(x[0], float):
        cnt += 2
    if isinstance(float(x[0]), np.floating):
        cnt += 4
    """,
    """
    u = (np.abs(np.nan_to_num(x)) * 50 % 256).astype(np.uint8)
    cnt += int(np.sum(u + 200))
    """,
    """
    u = (np.abs(np.nan_to_num(x)) * 50 % 256).astype(np.uint8)
    cnt += int(u[0] - 3)
    """,
    """
    xi = (x * 4).astype(np.int32)
    cnt += int(np.sum(xi * 1000))
    acc += float(np.mean(xi))
    """,
    """
    q = np.sum(x > 0) / len(x)
    acc += q
    cnt += type(q) is np.float64
    """,
    """
    m = np.max(x)
    acc = acc + m
    """,
    """
    if type(k) is int and k > 2:
        acc += k / 2
    """,
    """
    t = x[0].item()
    acc += t
    cnt += type(t) is float
    """,
    """
    w = np.int64(k) * 2 + cnt
    cnt = int(w)
    """,
    """
    xi = (x * 10).astype(np.int64)
    z = xi.sum() * 1.5
    acc += z
    """,
    """
    b = bool(x[0] > 0) + True
    cnt += b
    """,
    """
    acc += float(x[0]) + np.float32(1.5)
    """,
    """
    acc = acc + np.sum(x.astype(np.float32))
    """,
    """
    ci = cnt + np.int32(3)
    ci = ci * 100000 * 100000
    cnt += int(ci % 1000)
    """,
    """
    cnt += int(np.uint8(200) + np.uint8(int(x[0] > 0) * 100))
    """,
    """
    if isinstance(cnt, int):
        cnt += 1
    else:
        acc += 1.0
    """,
    """
    acc += round(x[0], 2) + round(x[-1])
    """,
    """
    acc += np.sum(x > 0) // 2 + np.sum(x > 0, dtype=np.int32) + x.mean(dtype=np.float32)
    """,
    """
    acc += True / 2 + (x[0] > 0) / 2 + len(x) // 2 * 1.0
    """,
    """
    r = np.float64(x[0]) ** 2 + np.float32(x[-1]) * 2
    acc += r
    cnt += type(r) is np.float64
    """,
]

EXCEPTIONS = [
    """
    idx = int(np.sum(x > {c}))
    acc += float(x[idx])
    """,
    """
    c0 = int(np.sum(x > {c}))
    cnt += 10 // c0
    """,
    """
    dd = {{0: 1.0, 1: 2.0, 2: 4.0}}
    acc += dd[int(np.sum(x > 1.0))]
    """,
    """
    A = np.diag(np.floor(x))
    acc += float(np.linalg.inv(A)[0, 0])
    """,
    """
    acc += check(float(x[0]))
    """,
    """
    lst = [1.0, 2.0, 3.0]
    acc += lst[int(np.sum(x < 0))]
    """,
    """
    cnt += int(x[0] * 3)
    """,
    """
    z = np.empty(int(float(x[0]) * 3) + 1)
    acc += len(z)
    """,
    """
    assert x[0] < 1.5
    """,
    """
    cnt += round(float(x[-1]))
    """,
    """
    acc += float(np.linalg.solve(np.outer(x, x) + np.diag(np.floor(x)), x)[0])
    """,
    """
    if np.sum(x) > 3.0:
        raise RuntimeError("too big")
    """,
    """
    p = x[0] / float(np.sum(x > 5.0))
    acc += p
    """,
    """
    acc += [1.0, 2.0, 3.0][int(np.argmax(x)) - 5]
    """,
    """
    acc += {{0.5: 1.0}}[float(x[0])]
    """,
    """
    acc += float(x[0]) // float(x[-1] * 0)
    """,
    """
    acc += float(np.array([1.0, 2.0])[int(np.sum(x > {c}))])
    """,
    """
    acc += float(np.linalg.cholesky(np.outer(x, x) + np.diag(x))[0, 0])
    """,
    """
    z = y.reshape(int(np.sum(x > {c})), -1)
    acc += float(z.sum())
    """,
    """
    acc += float(x[0]) ** -1
    """,
    """
    acc += math.log(abs(float(x[0])) + 1.0) + math.pow(abs(float(x[-1])), 0.5)
    """,
]

NANS = [
    """
    acc += float(np.max(x)) + float(np.min(y))
    """,
    """
    cnt += int(np.argmax(x)) + int(np.argmin(x))
    """,
    """
    if x[0] > 0:
        cnt += 1
    elif x[0] <= 0:
        cnt += 2
    else:
        cnt += 4
    """,
    """
    cnt += int((x != x).sum())
    """,
    """
    y = y + np.sign(x)
    """,
    """
    y = np.where(x > 0, x, 0.0)
    """,
    """
    y = np.sort(x)
    """,
    """
    acc += max(float(x[0]), float(x[-1])) + min(float(x[-1]), float(x[0]))
    """,
    """
    acc += float(max(x)) + float(min(x))
    """,
    """
    n0 = float('nan') if x[0] < -1.0 else 0.0
    acc += n0
    """,
    """
    acc += math.copysign(1.0, float(x[0] * 0.0)) + 1.0 / (float(x[-1]) * 0.0 + 1.0)
    """,
    """
    y = np.maximum(y, 0.0) + np.fmax(x, -1.0)
    """,
    """
    y = np.clip(y, -1.0, 1.0)
    """,
    """
    acc += float(np.nanmax(x)) if not np.all(np.isnan(x)) else 0.0
    """,
    """
    if not (x[0] == x[0]):
        cnt += 1000
    """,
    """
    acc += float(np.median(x)) + float(np.mean(x))
    """,
    """
    cnt += int(np.isinf(x).sum()) + int(np.isposinf(y).any())
    """,
    """
    acc += float(x[0] * 0.0)
    """,
    """
    if float(x[0]) > float('nan'):
        cnt += 1
    """,
    """
    acc += float(np.nanmin(x)) + float(np.nansum(x))
    """,
    """
    srt = sorted([float(v) for v in x])
    acc += srt[0] - srt[-1]
    """,
    """
    y = np.floor(y * 0.1) + np.round(y * 0.1) + np.trunc(y * 0.3)
    """,
    """
    y = x / np.abs(x)
    """,
    """
    y = np.exp(y) / np.sum(np.exp(y))
    """,
    """
    y = np.arctan2(x * 0.0, -1.0)
    """,
    """
    cnt += int(x.max() == x.min()) + int(np.any(x == np.inf))
    """,
    """
    acc += abs(float(x[0]) * -0.0)
    """,
    """
    m = float(x[0])
    for v in x:
        if v > m:
            m = float(v)
    acc += m
    """,
]

# state: (setup at module level, snippet, change made between calls); the change runs in each
# side's namespace before every call but the first
STATE = [
    ("SCALE = 1.5\n", """
    acc += SCALE * float(x[0])
    """, "SCALE = SCALE * -2.0"),
    ("HIST = []\n", """
    HIST.append(float(x[0]))
    cnt += len(HIST)
    """, ""),
    ("", """
    acc += defaulted(float(x[0]))
    """, ""),
    ("PARAMS = Params(2.0, 3)\n", """
    acc += PARAMS.w * float(x[0])
    cnt += PARAMS.n
    """, "PARAMS.w = -PARAMS.w * 1.5\nPARAMS.n = PARAMS.n + 1"),
    ("TABLE = {0: 1.0, 1: -1.0}\n", """
    acc += TABLE[cnt % 2]
    """, "TABLE[0] = TABLE[0] + 2.0"),
    ("", """
    acc += CLOSED(float(x[0]))
    """, "CELL[0] = CELL[0] + 1.0; set_closed(CELL[0])"),
    ("GARR = np.array([1.0, 2.0, 3.0])\n", """
    acc += float(GARR[cnt % 3])
    """, "GARR = GARR.astype(np.float32) if GARR.dtype == np.float64 else GARR * 2"),
    ("FLAG = True\n", """
    if FLAG:
        acc += 1.0
    """, "FLAG = not FLAG"),
    ("N_ITER = 2\n", """
    for i in range(N_ITER):
        acc += float(x[i % len(x)])
    """, "N_ITER = N_ITER + 1"),
    ("GS = np.float64(2.0)\n", """
    acc += GS * float(x[0])
    """, "GS = GS * -1.5"),
    ("COEF = [1.0, 2.0]\n", """
    acc += sum(COEF) * float(x[0])
    """, "COEF[0] = COEF[0] * -1.0"),
    ("HOLDER = Params(np.ones(3), 1)\n", """
    acc += float(np.sum(HOLDER.w))
    """, "HOLDER.w = np.ones(HOLDER.w.shape[0] + 1) * 0.5"),
    ("", """
    acc += next_tick()
    """, ""),
]

FAMILIES = {"pynum": PYNUM, "views": VIEWS, "types": TYPES, "exceptions": EXCEPTIONS,
            "nans": NANS, "state": STATE}

PRELUDE = '''
import math
import numpy as np


@dataclasses.dataclass
class Params:
    w: float
    n: int


def check(v):
    if v > 1.5:
        raise ValueError("too big")
    return v * 2.0


def defaulted(v, seen=[]):
    seen.append(v)
    return v * len(seen)


CELL = [1.0]


def _make_closed(c):
    def closed(v):
        return v * c
    return closed


CLOSED = _make_closed(1.0)


def _make_ticker():
    ticks = 0

    def tick():
        nonlocal ticks
        ticks += 1
        return ticks * 1.0
    return tick


next_tick = _make_ticker()


def set_closed(c):
    global CLOSED
    CLOSED = _make_closed(c)
'''


@dataclasses.dataclass
class Program:
    family: str
    source: str
    change: str           # statements run in each side's namespace before every call but the first
    for_grad: bool        # returns one scalar, for value_and_grad
    roll: bool            # roll short loops as long ones are (context.UNROLL_OPS = 0)
    setups: tuple = ()    # module-level statements the snippets need
    body: tuple = ()      # the snippets, instantiated
    ret: str = "acc"

    def without(self, index):
        """The same program with snippet `index` left out (for shrinking)."""
        body = self.body[:index] + self.body[index + 1:]
        return dataclasses.replace(self, body=body, source=assemble(self.setups, body, self.ret))

    @property
    def text(self):
        """The function alone, for reports (the prelude is the same in every program)."""
        return "def prog" + self.source.split("def prog", 1)[1]


def assemble(setups, body, ret):
    lines = "\n".join(list(body) + [f"return {ret}"])
    return (PRELUDE + "".join(setups) + "\n\ndef prog(x, k, s):\n"
            "    y = x.copy()\n    acc = 0.0\n    cnt = 0\n" + textwrap.indent(lines, "    ") + "\n")


RETURNS = ["acc, cnt, y", "acc", "cnt", "y", "(acc, y[0])", "[cnt, acc]", "y[1:]", "np.sum(y) + acc"]


def _instantiate(snippet, rng):
    c = rng.choice(["0.0", "0.5", "-0.5", "1.0", "-1.2"])
    return textwrap.dedent(snippet).strip("\n").format(c=c, ci=rng.randint(-4, 4))


def generate(seed, families=None, for_grad=None):
    """One program as a Program: 2..5 snippets from the chosen families (mixed, mostly one)."""
    rng = random.Random(seed)
    names = families or list(FAMILIES)
    family = rng.choice(names)
    for_grad = rng.random() < 0.3 if for_grad is None else for_grad
    setups, changes, body = [], [], []
    for _ in range(rng.randint(2, 5)):
        mixed = rng.choice([name for name in names if name != "state"] or names)
        pool = FAMILIES[family if rng.random() < 0.75 else mixed]
        item = rng.choice(pool)
        if isinstance(item, tuple):
            setup, snippet, change = item
            if setup not in setups:
                setups.append(setup)
            if change and change not in changes:
                changes.append(change)
        else:
            snippet = item
        body.append(_instantiate(snippet, rng))
    ret = "np.sum(y * y) + acc" if for_grad else rng.choice(RETURNS)
    return Program(family, assemble(setups, body, ret), "\n".join(changes), for_grad,
                   rng.random() < 0.5, tuple(setups), tuple(body), ret)


# ---- inputs ----------------------------------------------------------------------------------------
def call_sequence(seed):
    """(x, k, s) for each call: flips of sign, zeros, NaN, inf, tiny, huge, ints that change."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 7))
    base = rng.uniform(-2.0, 2.0, n)
    with_nan, with_inf = base.copy(), base.copy()
    with_nan[int(rng.integers(0, n))] = np.nan
    with_inf[int(rng.integers(0, n))] = -np.inf if rng.random() < 0.5 else np.inf
    calls = [(base, 3, 0.5), (-base, 0, -1.25), (base * 0.0, -2, 0.0), (-base * 0.0, 1, -0.0),
             (with_nan, 5, 2.0), (base * 1e-300, 1, 1e-300), (with_inf, 7, -3.0),
             (base * 1e6, 2 ** 40, 1e300), (base * 3.0, -7, 0.25),
             (base.astype(np.float32), 3, 2), ((base * 3).astype(np.int64), True, 0.5),
             (base, 3, 0.5)]
    return calls


# ---- judging -------------------------------------------------------------------------------------
def same(want, got, path="result", zero_signs=True, rtol=1e-9):
    """None when got is what plain Python gave (type, dtype, shape, value), else the difference."""
    if type(want) is not type(got):
        return f"{path}: type {type(got).__name__}, plain {type(want).__name__}"
    if isinstance(want, (tuple, list)):
        if len(want) != len(got):
            return f"{path}: length {len(got)}, plain {len(want)}"
        for i, (w, g) in enumerate(zip(want, got)):
            diff = same(w, g, f"{path}[{i}]", zero_signs, rtol)
            if diff:
                return diff
        return None
    if isinstance(want, (np.ndarray, np.generic)):
        if want.dtype != got.dtype or np.shape(want) != np.shape(got):
            return f"{path}: {got.dtype}{np.shape(got)}, plain {want.dtype}{np.shape(want)}"
    if isinstance(want, (bool, int, np.integer, np.bool_)) or (
            isinstance(want, np.ndarray) and want.dtype.kind in "biu"):
        return None if np.array_equal(want, got) else f"{path}: {got!r}, plain {want!r}"
    if isinstance(want, (float, np.floating, np.ndarray)):
        w, g = np.asarray(want, dtype=np.float64), np.asarray(got, dtype=np.float64)
        if np.allclose(w, g, rtol=rtol, atol=1e-300, equal_nan=True) and (not zero_signs or np.array_equal(
                np.signbit(w[w == 0]), np.signbit(g[w == 0]))) and np.array_equal(
                np.isinf(w), np.isinf(g)):
            return None
        return f"{path}: {got!r}, plain {want!r}"
    return None if want == got else f"{path}: {got!r}, plain {want!r}"


def _run(fn, args):
    try:
        with np.errstate(all="ignore"):
            return fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args]), None
    except Exception as error:          # noqa: BLE001 — the plain error is what we compare with
        return None, error


def _namespace(program):
    import dataclasses as dc
    filename = f"<redteam-{id(program)}-{random.random()}>"
    linecache.cache[filename] = (len(program.source), None,
                                 program.source.splitlines(True), filename)
    namespace = {"dataclasses": dc, "__name__": "redteam"}
    exec(compile(program.source, filename, "exec"), namespace)
    return namespace


@dataclasses.dataclass
class Result:
    kind: str
    detail: str = ""
    calls: int = 0


@contextlib.contextmanager
def _rolling(roll):
    """Short loops roll as long ones would (the loop machinery is then what runs)."""
    old = context.UNROLL_OPS
    context.UNROLL_OPS = 0 if roll else old
    try:
        yield
    finally:
        context.UNROLL_OPS = old


def _fd_gradient(fn, args, h):
    x, rest = args[0], args[1:]
    grad = np.zeros_like(x)
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (float(fn(up, *rest)) - float(fn(down, *rest))) / (2 * h)
    return grad


def _generic(x):
    """No zeros, ties (of values or magnitudes), non-finite or huge entries: finite
    differences are then not on a kink of max/sort/abs (a subgradient is a valid answer)."""
    if not np.all(np.isfinite(x)) or np.any(np.abs(x) > 1e3) or np.any(np.abs(x) < 1e-3):
        return False
    apart = ~np.eye(x.size, dtype=bool)
    return all(np.all(np.abs(np.subtract.outer(v, v))[apart] > 1e-3) for v in (x, np.abs(x)))


def _gradient_diff(program, fn, args, got):
    """None, or how the compiled gradient differs from central differences where the program
    is smooth at x (two step sizes agree); state-changing programs are not differentiated."""
    if program.family == "state" or "float32" in program.source or \
            args[0].dtype != np.float64 or not _generic(args[0]):
        return None
    try:
        with np.errstate(all="ignore"):
            fine, coarse = _fd_gradient(fn, args, 1e-6), _fd_gradient(fn, args, 1e-5)
    except Exception:                   # noqa: BLE001 — not differentiable around x
        return None
    if not np.all(np.isfinite(fine)) or not np.allclose(fine, coarse, rtol=1e-3, atol=1e-4):
        return None
    if np.shape(got) != np.shape(fine) or not np.allclose(got, fine, rtol=1e-4, atol=1e-4):
        return f"gradient {np.asarray(got).tolist()} != finite differences {fine.tolist()}"
    return None


def judge(program, seed, mode="jit", backend="numpy"):
    """Run the program plainly and compiled (jit or value_and_grad) over the call sequence."""
    with _rolling(program.roll):
        return _judge(program, seed, mode, backend)


def _judge(program, seed, mode, backend):
    plain_ns, compiled_ns = _namespace(program), _namespace(program)
    if mode == "jit":
        compiled = tracejit.jit(compiled_ns["prog"], backend=backend)
    else:
        compiled = tracejit.value_and_grad(compiled_ns["prog"], backend=backend)
    refused = None
    # float32 sums may associate differently (one float32 ulp), as documented
    for number, args in enumerate(call_sequence(seed)):
        if mode != "jit" and args[0].dtype.kind != "f":
            continue                     # gradients need float inputs (refused otherwise)
        rtol = 1e-5 if "float32" in program.source or args[0].dtype != np.float64 else 1e-9
        if number and program.change:
            for ns in (plain_ns, compiled_ns):
                exec(program.change, ns)
        want, plain_error = _run(plain_ns["prog"], args)
        out, error = _run(compiled, args)
        label = f"{mode} call {number + 1} args={args!r}"
        if isinstance(error, tracejit.TracejitError):
            refused = refused or f"{label}: {type(error).__name__}: {str(error)[:300]}"
            return Result(REFUSED, refused, number)
        if plain_error is not None:
            if error is None:
                return Result(WRONG, f"{label}: returned {out!r}, plain raised "
                                     f"{type(plain_error).__name__}: {plain_error}", number)
            if type(error) is not type(plain_error):
                return Result(WRONG, f"{label}: raised {type(error).__name__}: {error}, plain "
                                     f"raised {type(plain_error).__name__}: {plain_error}",
                              number)
            continue
        if error is not None:
            return Result(CRASHED, f"{label}: {type(error).__name__}: {error}", number)
        if mode != "jit":
            out, grad = out
            if not isinstance(want, (float, np.floating, int)):
                return Result(SKIPPED, "not a scalar", number)
            diff = same(float(want), float(out), "value", rtol=rtol) or _gradient_diff(
                program, plain_ns["prog"], args, grad)
        else:
            # sorting equal zeros leaves either sign (NumPy's SIMD sort): not a difference
            diff = same(want, out, zero_signs=not any(
                word in program.source for word in ("sort", "median")), rtol=rtol)
        if diff:
            return Result(WRONG, f"{label}: {diff}", number)
    return Result(OK, "", number + 1)


def run(seed, families=None, backend="numpy"):
    """Result of one generated program (jit, or value_and_grad for scalar programs)."""
    program = generate(seed, families)
    mode = "grad" if program.for_grad else "jit"
    try:
        return program, judge(program, seed, mode, backend)
    except Exception as error:          # noqa: BLE001 — an error out of the harness itself
        return program, Result(CRASHED, f"harness: {type(error).__name__}: {error}")


def shrink(program, seed, backend="numpy"):
    """A smaller program failing the same way (same outcome, same first word of the detail's
    error), by leaving snippets out one at a time while the failure stays."""
    mode = "grad" if program.for_grad else "jit"
    want = _signature(judge(program, seed, mode, backend))
    changed = True
    while changed and len(program.body) > 1:
        changed = False
        for index in range(len(program.body)):
            smaller = program.without(index)
            try:
                result = judge(smaller, seed, mode, backend)
            except Exception:              # noqa: BLE001 — a harness error is another failure
                continue
            if _signature(result) == want:
                program, changed = smaller, True
                break
    return program


def _signature(result):
    return result.kind, result.detail.split(": ")[-1].split("(")[0][:40] if result.kind != OK else ""


def campaign(programs, start=0, families=None, backend="numpy", budget=240.0, show=3,
             minimise=True, out=print):
    """Run programs seed by seed within `budget` seconds; print the first `show` failures of
    each outcome (shrunk), and return the tally {(family, outcome): count}."""
    import collections
    import time
    began = time.time()
    tally, shown = collections.Counter(), collections.Counter()
    for seed in range(start, start + programs):
        if time.time() - began > budget:
            break
        program, result = run(seed, families, backend)
        tally[(program.family, result.kind)] += 1
        if result.kind in (WRONG, CRASHED, REFUSED) and shown[result.kind] < show:
            shown[result.kind] += 1
            if minimise and result.kind != REFUSED:
                program = shrink(program, seed, backend)
            out(f"=== seed {seed} {program.family} {result.kind} (roll={program.roll})\n"
                f"{result.detail}\n{program.text}")
    return tally


if __name__ == "__main__":
    import argparse
    import warnings
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--programs", type=int, default=50)
    parser.add_argument("--family", action="append")
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--budget", type=float, default=240.0)
    parser.add_argument("--show", type=int, default=3)
    options = parser.parse_args()
    counts = campaign(options.programs, options.start, options.family, options.backend,
                      options.budget, options.show)
    for key in sorted(counts):
        print(key, counts[key])
