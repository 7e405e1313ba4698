"""Pieces of random NumPy programs for differential fuzzing, written as Python source text.

A program is built from decisions taken through a `Choices` object: hypothesis's `draw` in the
test suite (so a failure shrinks to a small program), or a seeded `random.Random` in
scripts/fuzz_campaign.py (so a campaign of thousands of programs is cheap and reproducible by
seed). This module holds the first fuzzer's statements (elementwise expressions, reductions,
data-dependent `if`/`for`/`while`); tests/fuzz_families.py adds the families of issues 17/18
and assembles whole programs.
"""
import itertools
import random

import numpy as np
from hypothesis import strategies as st


# ---- where decisions come from -------------------------------------------------------------------
class DrawChoices:
    """Decisions drawn by hypothesis: a failing program shrinks."""

    def __init__(self, draw):
        self.draw = draw

    def pick(self, options):
        return self.draw(st.sampled_from(list(options)))

    def integer(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def flip(self):
        return self.draw(st.booleans())


class RandomChoices:
    """Decisions from a seeded generator: campaigns reproduce a program from its seed."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def pick(self, options):
        return self.rng.choice(list(options))

    def integer(self, lo, hi):
        return self.rng.randint(lo, hi)

    def flip(self):
        return self.rng.random() < 0.5


# ---- the program under construction --------------------------------------------------------------
# elementwise templates that keep values bounded and smooth almost everywhere
UNARY = ["np.sin({0})", "np.cos({0})", "np.tanh({0})", "np.exp(np.tanh({0}))",
         "np.log1p({0} * {0})", "np.sqrt({0} * {0} + 1.0)", "np.arctan({0})", "np.square({0})",
         "-{0}", "np.abs({0})", "np.maximum({0}, 0.1)", "({0} * 0.5 + 0.25)",
         "np.clip({0}, -1.0, 1.0)", "{0} ** 2", "np.where({0} > 0.2, {0}, 0.5 * {0})"]
BINARY = ["({0} + {1})", "({0} - {1})", "({0} * {1})", "({0} / (1.0 + {1} * {1}))",
          "np.maximum({0}, {1})", "np.minimum({0}, {1})", "np.where({0} > {1}, {0}, {1} * 0.5)",
          "np.arctan2({0}, 1.5 + np.tanh({1}))", "np.add({0}, {1})"]
# candidate input shapes: all broadcast against the program's full shape
FULL_SHAPES = [(3,), (2, 3), (3, 1), (2, 2, 2)]


def sub_shapes(full):
    """Shapes that broadcast to `full`: itself, trailing parts, and with axes set to 1."""
    shapes = {(), full}
    for k in range(1, len(full)):
        shapes.add(full[k:])
    for i in range(len(full)):
        shapes.add(full[:i] + (1,) + full[i + 1:])
    return sorted(shapes, key=lambda s: (len(s), s))


class Program:
    """Source text under construction, with the shape of every array variable it defines
    (shape () also stands for NumPy and Python scalars)."""

    def __init__(self, shapes, full):
        self.shapes = {f"x{i}": s for i, s in enumerate(shapes)}
        self.args = list(self.shapes)
        self.full = full
        self.lines, self.helpers = [], []
        self.fresh = itertools.count()
        self.depth = 1
        self.keep = []            # values a family statement made that the result must read
        self.mutations = []       # statements run on the module between calls (outside state)

    def new(self, shape, prefix="v"):
        name = f"{prefix}{next(self.fresh)}"
        if shape is not None:
            self.shapes[name] = shape
        return name

    def emit(self, text):
        self.lines.append("    " * self.depth + text)

    def emit_block(self, *lines):
        for line in lines:
            self.emit(line)

    def pick_array(self, ch, min_ndim=0):
        names = sorted(n for n, s in self.shapes.items() if len(s) >= min_ndim)
        return ch.pick(names) if names else None

    def source(self, result):
        head = f"def prog({', '.join(self.args)}):"
        return "\n".join([*self.helpers, head, *self.lines, f"    return {result}", ""])


def expression(ch, prog, allow_shape_change=True):
    """(text, shape) of one expression over the program's variables."""
    names = sorted(prog.shapes)
    a = ch.pick(names)
    sa = prog.shapes[a]
    kind = ch.pick(["unary", "binary", "binary", "reduce", "matmul", "index"]
                   if allow_shape_change else ["unary", "binary"])
    if kind == "binary":
        b = ch.pick(names)
        try:
            shape = np.broadcast_shapes(sa, prog.shapes[b])
        except ValueError:
            kind = "unary"
        else:
            return ch.pick(BINARY).format(a, b), shape
    if kind == "reduce" and sa:
        axis = ch.integer(0, len(sa) - 1)
        keep = ch.flip()
        fn = ch.pick(["np.sum", "np.mean", "np.max", "np.min"])
        shape = sa[:axis] + ((1,) if keep else ()) + sa[axis + 1:]
        return f"{fn}({a}, axis={axis}, keepdims={keep})", shape
    if kind == "matmul" and len(sa) == 2:
        return f"({a} @ {a}.T)", (sa[0], sa[0])
    if kind == "index" and sa and sa[0] > 1:
        if ch.flip():
            return f"{a}[::-1]", sa
        return f"{a}[1]", sa[1:]
    return ch.pick(UNARY).format(a), sa


def assign(ch, prog, allow_shape_change=True):
    text, shape = expression(ch, prog, allow_shape_change)
    name = prog.new(shape)
    prog.emit(f"{name} = {text}")
    return name


def condition(ch, prog):
    """A data-dependent test on a scalar derived from a variable."""
    a = ch.pick(sorted(prog.shapes))
    threshold = ch.pick([0.0, 0.3, -0.3])
    form = ch.pick(["np.sum({0}) > {1}", "float(np.mean({0})) < {1}",
                    "np.max({0}) > {1} and np.min({0}) < {1} + 1.0",
                    "np.sum({0}).item() >= {1}", "not np.mean({0}) > {1}"])
    return form.format(a, threshold)


# ---- the first fuzzer's statements ---------------------------------------------------------------
def if_statement(ch, prog):
    cond = condition(ch, prog)
    a = ch.pick(sorted(prog.shapes))
    out = prog.new(prog.shapes[a])
    then_expr = ch.pick(UNARY).format(a)
    else_expr = ch.pick(UNARY).format(a)
    if ch.flip():
        prog.emit_block(f"if {cond}:", f"    {out} = {then_expr}", "else:",
                        f"    {out} = {else_expr}")
    else:
        prog.emit_block(f"{out} = {a} * 1.0", f"if {cond}:", f"    {out} = {then_expr}")


def for_loop(ch, prog):
    a = ch.pick(sorted(prog.shapes))
    acc = prog.new(prog.shapes[a])
    trips = ch.integer(1, 5)
    step = ch.pick(UNARY).format(acc)
    prog.emit_block(f"{acc} = {a} * 1.0", f"for i in range({trips}):")
    if ch.flip():
        prog.emit(f"    {acc} = {acc} * 0.5 + {step} * (i + 1.0) * 0.1")
    else:
        prog.emit(f"    {acc} += {step} * 0.3")


def while_loop(ch, prog):
    a = ch.pick(sorted(prog.shapes))
    acc = prog.new(prog.shapes[a])
    limit = ch.integer(1, 6)
    threshold = ch.pick([0.0, 0.5, 1.0])
    prog.emit_block(f"{acc} = {a} * 1.0", "n = 0",
                    f"while np.sum({acc} * {acc}) > {threshold} and n < {limit}:",
                    f"    {acc} = {acc} * 0.7 + 0.1 * np.sin({acc})", "    n += 1")


def scalar_history(ch, prog):
    """Augmented assignment to a scalar kept in a list: `+=` must not alias the old value."""
    a = ch.pick(sorted(prog.shapes))
    out = prog.new(())
    prog.emit_block("total = 0.0", "history = []", f"for i in range({ch.integer(2, 4)}):",
                    f"    total += np.sum(np.sin({a})) * (i + 1.0)",
                    "    history.append(total)", f"{out} = history[0] - 0.5 * history[-1]")


BASE_STATEMENTS = {"if": if_statement, "for": for_loop, "while": while_loop,
                   "history": scalar_history}


def base_statement(ch, prog, branching):
    if branching and ch.integer(0, 2) == 0:
        BASE_STATEMENTS[ch.pick(sorted(BASE_STATEMENTS))](ch, prog)
    else:
        assign(ch, prog)
