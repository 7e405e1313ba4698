"""The fuzzer's program families: what broke tracejit that the first fuzzer never generated
(issues 17 and 18), mixed with the first fuzzer's statements, and whole programs assembled.

  straight, branching   the first fuzzer's programs (no family statements)
  carries      ints/floats and loop indices carried through data-dependent `while` and
               `for`+`break` loops, read after the loop; state behind bound methods,
               closures, partials, list subclasses and local classes changed in such loops
  early_return helpers that `return` from inside a loop (the value depends on the loop index)
  containers   loops appending Python numbers to lists and setting dict entries, read after
  types        type tests on traced values deciding branches
  text         f-strings, repr/str, `%` of traced values deciding branches or parsed back
  impure       random.*, np.random.* and time.* calls: refused, or right on every call
  views        views, copies and writes through them and through their bases
  try_except   try/except/finally and with-blocks around code that raises on some data only
               (a user's raise, NumPy's LinAlgError and IndexError, Python's ZeroDivisionError)
  inplace      in-place updates of local arrays in loops, also through data-dependent and
               repeated indices and masks
  outside_state  global lists, dicts, user containers and mappings, lists of arrays and
               environment variables read by builtins, functools/itertools/operator,
               operators, text and NumPy, or by lookups that fail (KeyError, IndexError,
               AttributeError caught; getattr/hasattr), changed between calls
  user_classes objects of a user class whose operators test the other operand's type, mixed
               with traced Python floats, NumPy scalars and each other
  long_loops   `for` loops over ranges long enough to roll and close while recording, using
               the index affinely and in every way that must keep the loop open

Every family statement is a function (choices, program) that emits lines; names it makes for
Python values (counters, lists, texts) are not registered as arrays, so later statements do not
wrap them in array expressions, but the values are kept for the returned result.
"""
import math

import numpy as np
from hypothesis import strategies as st

from fuzz_programs import (FULL_SHAPES, UNARY, DrawChoices, Program, RandomChoices,
                           base_statement, condition, sub_shapes)


def _uses(prog, *names):
    """Values the returned result must read (so a wrong carry shows in the value)."""
    prog.keep.extend(names)


def _broadcasts_to(shape, full):
    try:
        return np.broadcast_shapes(shape, full) == full
    except ValueError:
        return False


# ---- carries: Python values changed by data-dependent loops, read after the loop -----------------
WHILE_STEPS = ["{0} * 0.5", "{0} * 0.6 + 0.05 * np.sin({0})", "np.tanh({0}) * 0.7"]
FLOAT_CARRIES = ["{t} = {t} * 2.0", "{t} += 0.5", "{t} = {t} * 1.5 + {n}",
                 "{t} = {t} + np.sum({acc})"]


def while_counter(ch, prog):
    """`while` on data with an int counter and a float accumulator used after the loop."""
    a = prog.pick_array(ch)
    acc, n, t = prog.new(prog.shapes[a]), prog.new(None, "n"), prog.new(None, "t")
    limit = f" and {n} < {ch.integer(2, 9)}" if ch.flip() else ""   # the steps contract anyway
    threshold = ch.pick(["0.01", "0.1", "0.5", "2.0"])
    prog.emit_block(f"{acc} = {a} * 1.0 + 0.2", f"{n} = 0", f"{t} = 1.0",
                    f"while np.sum({acc} * {acc}) > {threshold}{limit}:",
                    f"    {acc} = {ch.pick(WHILE_STEPS).format(acc)}", f"    {n} += 1",
                    "    " + ch.pick(FLOAT_CARRIES).format(t=t, n=n, acc=acc))
    out = prog.new(prog.shapes[a])
    prog.emit(f"{out} = " + ch.pick(["{a} * {t} + {n}", "{a} + {n} * 0.25 - {t} * 0.01",
                                     "{a} * ({n} + 1.0)"]).format(a=acc, t=t, n=n))
    _uses(prog, n, t, out)


# (exit test, body step): the test is reached by data, at a trip count that changes with scale
BREAK_TESTS = [("np.sum(np.abs({a})) * ({i} + 1.0) > {thr}", "{acc} * 0.9 + 0.1 * np.sin({acc})",
                ["2.0", "4.0", "8.0"]),
               ("np.sum({acc} * {acc}) < {thr}", "{acc} * 0.6", ["0.05", "0.3"]),
               ("np.max({acc}) > {thr}", "{acc} * 1.3 + 0.1", ["1.5", "3.0"])]


def for_break(ch, prog):
    """`for` left by `break` on data; the loop index (and a float) read after the loop."""
    a = prog.pick_array(ch)
    acc, i, s = prog.new(prog.shapes[a]), prog.new(None, "i"), prog.new(None, "s")
    test, step, thresholds = ch.pick(BREAK_TESTS)
    test = test.format(a=a, acc=acc, i=i, thr=ch.pick(thresholds))
    update = f"    {acc} = {step.format(acc=acc)}"
    exit_lines = [f"    if {test}:", "        break"]
    body = [update, *exit_lines] if ch.flip() else [*exit_lines, update]
    prog.emit_block(f"{acc} = {a} * 1.0", f"{s} = 0.0", *([f"{i} = -1"] if ch.flip() else []),
                    f"for {i} in range({ch.integer(3, 12)}):", *body, f"    {s} += 0.5 * ({i} + 1)")
    if ch.flip():
        prog.emit_block("else:", f"    {s} = {s} * 3.0")
    out = prog.new(prog.shapes[a])
    prog.emit(f"{out} = {acc} * ({i} + 1.0) + {s}")
    _uses(prog, i, out)


# state a loop changes that no local of the loop's frame holds: reached through a bound method,
# a closure, a partial, a list subclass or a class made in the function (the summary of the
# frame's state must see it, or a data-dependent while loop runs with the traced count's value)
_HIDDEN_HELPERS = [
    "class Tally:", "    def __init__(self):", "        self.n = 0",
    "    def bump(self, by=1):", "        self.n += by", "        return self.n", "",
    "class Trail(list):", "    pass", "",
    "def make_counter():", "    n = [0, 0.0]", "    def step(v=1.0):", "        n[0] += 1",
    "        n[1] += v", "        return n[0] + n[1]", "    return step", ""]
HIDDEN_STATE = [  # (set-up lines, what an iteration calls, what reads the state after the loop)
    (["{h} = Tally().bump"], "{h}()", "{h}.__self__.n"),
    (["{h} = make_counter()"], "{h}(0.5)", "{h}(0.0)"),
    (["{h} = [0.5].append"], "{h}(1.5)", "sum({h}.__self__)"),
    (["{h} = functools.partial(Tally.bump, Tally(), 2)"], "{h}()", "{h}.args[0].n"),
    (["{h} = [Trail()][0]"], "{h}.append(0.25)", "len({h}) + sum({h})"),
    (["class {h}:", "    n = 0"], "setattr({h}, 'n', {h}.n + 1)", "{h}.n"),
    (["{h} = Tally()", "{h} = {h}.bump"], "{h}(3)", "{h}.__self__.n * 0.5"),
]


def while_hidden_state(ch, prog):
    """`while` on data calling something that changes state held behind an object the frame
    does not name; that state is read after the loop."""
    if _HIDDEN_HELPERS[0] not in prog.helpers:
        prog.helpers.extend(["import functools", *_HIDDEN_HELPERS])
    a = prog.pick_array(ch)
    acc, h = prog.new(prog.shapes[a]), prog.new(None, "H")
    setup, step, read = ch.pick(HIDDEN_STATE)
    threshold = ch.pick(["0.01", "0.1", "0.5", "2.0"])
    prog.emit_block(*(line.format(h=h) for line in setup), f"{acc} = {a} * 1.0 + 0.2",
                    f"while np.sum({acc} * {acc}) > {threshold}:",
                    f"    {acc} = {ch.pick(WHILE_STEPS).format(acc)}", f"    {step.format(h=h)}")
    out = prog.new(prog.shapes[a])
    prog.emit(f"{out} = {acc} + ({read.format(h=h)})")
    _uses(prog, out)


# ---- long loops over ranges: long enough to roll and close (frontend/loop_close.py) --------------
# uses of the loop index {i} on the array {L} (K + 8 long); the attacks (min, %, //, a Python
# list, a comparison, a helper or branch on the index, a late data guard, a break, an index
# off the end) change the body at an iteration the tracer may not have seen
LONG_LOOP_BODIES = [
    "{t} = {t} + {L}[{i}] * {L}[{i} + 1]",
    "{t} = {t} + np.sum({L}[{i}:{i} + 3]) * 0.5",
    "{t} = {t} + {L}[min({i}, {c})]",
    "{t} = {t} + {L}[{i} % {m}] * {L}[{i}]",
    "{t} = {t} + {L}[{i} // {m}]",
    "{t} = {t} + {L}[{i}] * {W}[{i}]",
    "if {i} == {c}:\n    {t} = {t} * 1.5",
    "{t} = {t} + ({L}[{i}] if {L}[{i}] > {thr} else -{L}[{i}])",
    "{t} = {t} + {L}[{i}] * {L}[{i}]\nif {t} > {big}:\n    break",
    "{t} = {t} + {L}[{i}] * {i} - {L}[{i} + 1] / ({i} + 1)",
    "{t} = {t} + {h}({L}, {i})",
    "{t} = {t} + {L}[{i}] * float({i})",
    "{t} = {t} + {L}[{i}] * ({i} < {c})",
    "{j} = {i} + 2\n{t} = {t} + {L}[{j}]",
    "{A}[{i} % 3] = {A}[{i} % 3] + {L}[{i}]",
    "{A}[{i}] = {L}[{i} + 1] * 2.0",
    "try:\n    {t} = {t} + {L}[{i}] * {L}[{i} + 9]\nexcept IndexError:\n    {t} = {t} * 2.0",
    "{n} += 1\n{t} = {t} + {L}[{i}] * {n}",
    "{t} = {t} + {L}[{i}] * np.sin({L}[{i} + 1])",
    "for {j} in range(2):\n    {t} = {t} + {L}[{i} + {j}] * 0.5",
]


def long_loop(ch, prog):
    """A `for` loop over a range long enough to roll and close, using its index in ways that
    are affine (closing is exact) and ways that are not (closing must be refused)."""
    a = prog.pick_array(ch)
    k = ch.integer(30, 90)
    L, t, i, j, n, A, W, h = (prog.new(None, "L"), prog.new(None, "t"), prog.new(None, "i"),
                              prog.new(None, "j"), prog.new(None, "n"), prog.new(None, "A"),
                              prog.new(None, "W"), prog.new(None, "h"))
    c, m = ch.integer(5, k), ch.integer(2, 9)
    prog.helpers.extend([f"def {h}(arr, k):", f"    return arr[k] * (2.0 if k > {c} else 1.0)",
                         ""])
    start, step = ch.pick([(0, 1), (1, 1), (k - 1, -1), (0, 2), (k - 1, -3)])
    stop = k if step > 0 else 0
    fill = dict(t=t, L=L, i=i, j=j, n=n, A=A, W=W, h=h, c=c, m=m,
                thr=ch.pick(["-0.9", "0.0", "0.7"]), big=ch.pick(["5.0", "20.0"]))
    body = [line for _ in range(ch.integer(1, 2))
            for line in ch.pick(LONG_LOOP_BODIES).format(**fill).split("\n")]
    prog.emit_block(f"{L} = np.linspace(-1.0, 1.0, {k + 8}) * (np.sum({a}) * 0.1 + 1.0)",
                    f"{W} = [1.0] * {c} + [-2.0] * {k + 8 - c}", f"{A} = {L} * 0.5",
                    f"{t} = 0.0", f"{n} = 0", f"for {i} in range({start}, {stop}, {step}):",
                    *("    " + line for line in body))
    out = prog.new(())
    prog.emit(f"{out} = {t} + np.sum({A}) * 0.25 + {n}")
    _uses(prog, out)


# ---- early return from inside a loop of a helper -------------------------------------------------
def _for_return_helper(ch, name):
    ret = ch.pick(["j", "a * (j + 1.0)", "j * 0.5 + np.sum(a)", "float(j)", "np.sin(a) * j"])
    return [f"def {name}(a):", f"    for j in range({ch.integer(2, 12)}):",
            f"        if np.sum(np.abs(a)) * (j + 1.0) > {ch.pick(['1.0', '3.0', '6.0'])}:",
            f"            return {ret}",
            f"    return {ch.pick(['-1', 'a * 0.0', 'np.sum(a) * 2.0'])}", ""]


def _while_return_helper(ch, name):
    ret = ch.pick(["j", "s * j", "j + np.sum(s)", "s + a * j"])
    return [f"def {name}(a):", "    s = a * 1.0 + 0.2", "    j = 0", "    while True:",
            f"        s = {ch.pick(WHILE_STEPS).format('s')}", "        j += 1",
            f"        if np.sum(s * s) < {ch.pick(['0.01', '0.1', '0.5'])}:",
            f"            return {ret}", ""]


def early_return(ch, prog):
    name = prog.new(None, "h")
    make = ch.pick([_for_return_helper, _while_return_helper])
    prog.helpers.extend(make(ch, name))
    a, b = prog.pick_array(ch), prog.pick_array(ch)
    second = f" + np.sum({name}({prog.pick_array(ch)})) * 0.5" if ch.flip() else ""
    out = prog.new(prog.shapes[b])
    prog.emit(f"{out} = np.sum({name}({a})) * {b}{second}")
    _uses(prog, out)


# ---- Python containers changed in loops ----------------------------------------------------------
LIST_ITEMS = ["{i} * 0.5", "1.0", "float({i})", "np.sum({acc})", "{i}"]
DICT_ENTRIES = [("{i} % 2", "{i} + 1.0"), ("'last'", "np.mean({acc})"), ("{i}", "len({lst})"),
                ("'n'", "{d}.get('n', 0) + 1")]
CONTAINER_READS = ["sum({lst})", "len({lst}) * 0.5", "({lst}[-1] if {lst} else 0.0)",
                   "sum({d}.values())", "len({d})", "max({lst}, default=0.0)"]


def container_loop(ch, prog):
    a = prog.pick_array(ch)
    acc, lst, d, i = (prog.new(prog.shapes[a]), prog.new(None, "L"), prog.new(None, "D"),
                      prog.new(None, "i"))
    key, value = ch.pick(DICT_ENTRIES)
    names = dict(i=i, acc=acc, lst=lst, d=d)
    body = [f"    {lst}.append({ch.pick(LIST_ITEMS).format(**names)})",
            f"    {d}[{key.format(**names)}] = {value.format(**names)}",
            f"    {acc} = {acc} * 0.6 + 0.1 * np.cos({acc})"]
    limit, thr = ch.integer(2, 8), ch.pick(["0.05", "0.3", "1.0"])
    prog.emit_block(f"{acc} = {a} * 1.0 + 0.3", f"{lst} = []", f"{d} = {{}}")
    if ch.flip():            # data-dependent while: the containers' lengths change between calls
        prog.emit_block(f"{i} = 0", f"while np.sum({acc} * {acc}) > {thr} and {i} < {limit}:",
                        *body, f"    {i} += 1")
    else:
        prog.emit_block(f"for {i} in range({limit}):", *body,
                        f"    if np.sum({acc} * {acc}) < {thr}:", "        break")
    out = prog.new(prog.shapes[a])
    reads = [ch.pick(CONTAINER_READS).format(**names) for _ in range(2)]
    prog.emit(f"{out} = {acc} * ({reads[0]}) + {reads[1]}")
    _uses(prog, out)


# ---- type tests on traced values -----------------------------------------------------------------
TYPE_TESTS = ["isinstance({s}, np.ndarray)", "type({s}) is float", "type({s}) is np.ndarray",
              "isinstance({s}, float)", "isinstance({s}, np.floating)", "hasattr({s}, 'shape')",
              "np.ndim({s}) == 0", "np.isscalar({s})", "isinstance({s}, (int, float))",
              "type({s}).__name__ == 'float64'", "{s}.__class__ is np.ndarray",
              "isinstance({s}, list)", "np.asarray({s}) is {s}", "callable({s})",
              "issubclass(type({s}), np.generic)"]
TYPE_VALUES = ["np.ndim({s})", "float(np.isscalar({s}))", "float(isinstance({s}, float))",
               "len(np.shape({s}))", "float(type({s}) is np.float64)"]


def _type_subject(ch, prog):
    """A value whose Python type differs by how it was made: ndarray, np.float64, float, list."""
    a = prog.pick_array(ch)
    forms = ["{a}", "{a} * 1.0", "np.sum({a})", "float(np.sum({a}))", "np.sum({a}).item()",
             "np.mean({a}) * 2.0", "{a}.tolist()"]
    if prog.shapes[a]:
        forms.append("{a}[0]")
    return ch.pick(forms).format(a=a)


def type_test(ch, prog):
    s = prog.new(None, "s")
    prog.emit(f"{s} = {_type_subject(ch, prog)}")
    b = prog.pick_array(ch)
    out = prog.new(prog.shapes[b])
    if ch.integer(0, 3) == 0:            # the answer used as a number
        prog.emit(f"{out} = {b} * ({ch.pick(TYPE_VALUES).format(s=s)} + 1.0)")
    else:
        test = ch.pick(TYPE_TESTS).format(s=s)
        if ch.flip():
            test += f" and np.sum({b}) > 0.0"
        then_expr, else_expr = ch.pick(UNARY).format(b), ch.pick(UNARY).format(b)
        prog.emit_block(f"if {test}:", f"    {out} = {then_expr}", "else:",
                        f"    {out} = {else_expr}")
    _uses(prog, out)


# ---- text made from traced values ----------------------------------------------------------------
# "@" stands for the value; rounded texts parse back to a locally constant number (FD: zero)
ROUNDED_TEXTS = ['f"{@:.2f}"', '"%.3f" % @', 'format(@, ".1e")', 'f"{@:+.1f}"',
                 '"{:.2f}".format(@)', 'str(round(@, 2))']
FULL_TEXTS = ['f"{@}"', "repr(@)", "str(@)", 'f"val={@:.3g}"', '"%s" % @']
TEXT_TESTS = ['{t}.startswith("-")', '"5" in {t}', "len({t}) > 5", '{t} < "0.5"',
              '{t}.endswith("0")', '{t}.count("1") >= 1']


def text_use(ch, prog):
    a = prog.pick_array(ch)
    scalar = ch.pick(["np.sum({a})", "float(np.mean({a}))", "np.max({a})",
                      "np.sum({a}).item()"]).format(a=a)
    b = prog.pick_array(ch)
    out, t = prog.new(prog.shapes[b]), prog.new(None, "t")
    if ch.flip():                        # parsed back into a number
        prog.emit_block(f"{t} = {ch.pick(ROUNDED_TEXTS).replace('@', scalar)}",
                        f"{out} = {b} * float({t})")
    else:                                # deciding a branch
        prog.emit_block(f"{t} = {ch.pick(ROUNDED_TEXTS + FULL_TEXTS).replace('@', scalar)}",
                        f"if {ch.pick(TEXT_TESTS).format(t=t)}:",
                        f"    {out} = {ch.pick(UNARY).format(b)}", "else:",
                        f"    {out} = {ch.pick(UNARY).format(b)}")
    _uses(prog, out)


# ---- impure calls --------------------------------------------------------------------------------
RANDOM_CALLS = ["random.random()", "random.uniform(0.5, 1.5)", "random.gauss(0.0, 1.0)",
                "random.randint(0, 3)", "random.choice([0.5, 1.0, 2.0])",
                "random.normalvariate(0.0, 1.0)", "random.expovariate(2.0)",
                "random.triangular(0.0, 1.0)", "random.randrange(5)", "random.getrandbits(3)",
                # NumPy's global state: drawn at call time, the same numbers as plain Python
                "np.random.rand()", "np.random.normal(0.0, 1.0)", "np.random.uniform(0.5, 1.5)",
                "np.random.randint(0, 3)"]
# each clock with the global that holds its reading when the program was made: the program's
# value grows with time, so a right answer lies between plain calls made before and after it
CLOCKS = [("time.time()", "T_TIME"), ("time.perf_counter()", "T_PERF"),
          ("time.monotonic()", "T_MONO")]


def impure_call(ch, prog):
    b = prog.pick_array(ch)
    out, r = prog.new(None), prog.new(None, "r")
    if ch.flip():
        clock, start = ch.pick(CLOCKS)
        prog.emit(f"{out} = {b} + ({clock} - {start}) * 1000.0")
    elif ch.flip():
        prog.emit_block(f"{r} = {ch.pick(RANDOM_CALLS)}", f"{out} = {b} * {r}")
    else:
        prog.emit_block(f"if {ch.pick(RANDOM_CALLS)} < 0.5:",
                        f"    {out} = {ch.pick(UNARY).format(b)}", "else:",
                        f"    {out} = {ch.pick(UNARY).format(b)}")
    _uses(prog, out)


# ---- views, copies and writes through them -------------------------------------------------------
def _size(s):
    return math.prod(s)


# (template, shape of the result or None where it does not apply); views first, then copies
ALIASES = [("{y}[1:]", lambda s: (s[0] - 1,) + s[1:] if s and s[0] >= 2 else None),
           ("{y}[::-1]", lambda s: s if s else None),
           ("{y}[::2]", lambda s: ((s[0] + 1) // 2,) + s[1:] if s else None),
           ("{y}[0]", lambda s: s[1:] if len(s) >= 2 else None),
           ("{y}[:, 0]", lambda s: (s[0],) + s[2:] if len(s) >= 2 else None),
           ("{y}[..., 1:]", lambda s: s[:-1] + (s[-1] - 1,) if s and s[-1] >= 2 else None),
           ("{y}.T", lambda s: s[::-1]), ("np.transpose({y})", lambda s: s[::-1]),
           ("{y}.reshape(-1)", lambda s: (_size(s),)), ("{y}.ravel()", lambda s: (_size(s),)),
           ("np.ravel({y})", lambda s: (_size(s),)),
           ("{y}.reshape(1, -1)", lambda s: (1, _size(s))),
           ("np.asarray({y})", lambda s: s), ("{y}[None]", lambda s: (1,) + s),
           ("{y}[...]", lambda s: s), ("np.squeeze({y})", lambda s: tuple(d for d in s if d != 1)),
           ("{y}.swapaxes(0, -1)", lambda s: s[-1:] + s[1:-1] + s[:1] if len(s) >= 2 else None),
           ("{y}.copy()", lambda s: s), ("{y}.flatten()", lambda s: (_size(s),)),
           ("{y}.astype(np.float64)", lambda s: s), ("np.array({y})", lambda s: s),
           ("np.copy({y})", lambda s: s), ("{y}[[0]]", lambda s: (1,) + s[1:] if s else None)]
WRITES = [("{w}[0] = {c}", 1), ("{w}[...] = np.cos({w})", 0), ("{w} += {c}", 0),
          ("{w} *= 2.0", 0), ("{w} -= 0.5 * np.sin({w})", 0), ("{w}[1:] *= 2.0", 1),
          ("{w}[-1] += {w}[0]", 1)]
BASES = ["{a} + np.zeros({full})", "np.ones({full}) * np.tanh({a})",
         "np.zeros({full}) + np.sum({a})"]


def _take_alias(ch, prog, aliases):
    src = ch.pick(sorted(aliases))
    options = [(t, rule(aliases[src])) for t, rule in ALIASES]
    template, shape = ch.pick([(t, s) for t, s in options if s is not None])
    name = prog.new(shape)
    prog.emit(f"{name} = {template.format(y=src)}")
    aliases[name] = shape


def _write(ch, prog, aliases):
    w = ch.pick(sorted(aliases))
    template = ch.pick([t for t, min_ndim in WRITES if len(aliases[w]) >= min_ndim])
    if template == "{w}[1:] *= 2.0" and aliases[w][0] < 2:
        template = "{w} *= 2.0"
    c = ch.pick(["0.0", "1.5", "np.sum({b}) * 0.1", "np.mean({b})"]).format(b=prog.pick_array(ch))
    prog.emit(template.format(w=w, c=c))


def view_writes(ch, prog):
    """A local array, views and copies of it (and of them), writes through any, then reads."""
    a = ch.pick(sorted(n for n, s in prog.shapes.items() if _broadcasts_to(s, prog.full)))
    y = prog.new(prog.full)
    prog.emit(f"{y} = " + ch.pick(BASES).format(a=a, full=prog.full))
    aliases = {y: prog.full}
    _take_alias(ch, prog, aliases)
    for _ in range(ch.integer(1, 4)):
        ch.pick([_take_alias, _write, _write])(ch, prog, aliases)
    _write(ch, prog, aliases)                 # at least one write after a view was taken
    out = prog.new(())
    weights = (1.0, 0.7, 0.4, 0.3, 0.2, 0.1)
    prog.emit(f"{out} = " + " + ".join(f"{w} * np.sum(np.sin({n}))"
                                       for w, n in zip(weights, sorted(aliases))))
    _uses(prog, out)


# ---- try/except around data; in-place updates of local arrays in loops ---------------------------
def _try_raise(ch, prog, a, out):
    return ["try:", f"    {out} = {ch.pick(UNARY).format(a)}", f"    if {condition(ch, prog)}:",
            "        raise ValueError('data')", f"    {out} = {out} * 2.0",
            "except ValueError:", f"    {out} = {ch.pick(UNARY).format(a)}"]


def _try_zero_division(ch, prog, a, out):
    return ["try:", f"    {out} = {a} * (1.0 / float(np.sum({a}) > {ch.pick(['0.0', '0.5'])}))",
            "except ZeroDivisionError:", f"    {out} = {a} * -1.0"]


def _try_index(ch, prog, a, out):
    return ["try:", f"    {out} = {a} * [0.5, 1.5, 2.5][int(np.sum(np.abs({a})))]",
            "except IndexError:", f"    {out} = {a} * 3.5"]


def _try_in_loop(ch, prog, a, out):
    return [f"{out} = {a} * 1.0", "try:", f"    for j in range({ch.integer(2, 8)}):",
            f"        {out} = {out} * 1.5 + 0.1",
            f"        if np.max({out}) > {ch.pick(['1.0', '2.0', '4.0'])}:",
            "            raise OverflowError('big')", "except OverflowError:",
            f"    {out} = {out} * 0.5"]


def _try_helper(ch, prog, a, out):
    name = prog.new(None, "h")
    prog.helpers.extend([f"def {name}(a):", f"    if np.max(a) > {ch.pick(['0.0', '0.5', '1.0'])}:",
                         "        raise ArithmeticError('big')", "    return np.sin(a)", ""])
    return ["try:", f"    {out} = {name}({a})", "except ArithmeticError:",
            f"    {out} = np.cos({a})"]


def _try_singular(ch, prog, a, out):
    # a 2x2 matrix that is singular exactly when the data's sum is positive
    return ["try:", f"    s = float(np.sum({a}) > {ch.pick(['0.0', '0.3'])})",
            f"    m = np.linalg.inv(np.array([[1.0, s], [s, 1.0]]) * (1.0 + np.mean({a}) ** 2))",
            f"    {out} = {a} * np.sum(m)",
            "except np.linalg.LinAlgError:", f"    {out} = {a} * -2.0"]


def _try_gather(ch, prog, a, out):
    # indices computed from the data: out of bounds on some inputs only
    return ["flat = np.ravel(" + a + ")", "try:",
            f"    {out} = np.reshape(flat[(np.abs(flat) * {ch.pick(['1.0', '2.0'])})"
            f".astype(np.int64)], np.shape({a}))",
            "except IndexError:", f"    {out} = {a} * 0.5"]


def _try_finally(ch, prog, a, out):
    name = prog.new(None, "h")
    prog.helpers.extend([f"def {name}(a, log):", "    try:",
                         f"        if np.min(a) < {ch.pick(['0.0', '-0.5'])}:",
                         "            return np.cos(a)", "        raise KeyError('k')",
                         "    finally:", "        log.append(1.5)", ""])
    return [f"log_{out} = []", "try:", f"    {out} = {name}({a}, log_{out}) * 2.0",
            "except KeyError:", f"    {out} = {a} * 3.0",
            f"{out} = {out} * len(log_{out}) + log_{out}[0]"]


_SUPPRESSOR = ["class Suppress:", "    def __init__(self, *kinds):", "        self.kinds = kinds",
               "    def __enter__(self):", "        return 0.5",
               "    def __exit__(self, kind, value, tb):",
               "        return kind is not None and issubclass(kind, self.kinds)", ""]


def _try_with(ch, prog, a, out):
    if _SUPPRESSOR[0] not in prog.helpers:
        prog.helpers.extend(_SUPPRESSOR)
    return [f"{out} = {a} * 1.0", "with Suppress(ArithmeticError, LookupError) as half:",
            f"    {out} = {a} * half", f"    if {condition(ch, prog)}:",
            "        raise ArithmeticError('big')", f"    {out} = np.cos({out})"]


def try_except(ch, prog):
    a = prog.pick_array(ch)
    out = prog.new(None)             # registered once assigned: the try body must not read it
    make = ch.pick([_try_raise, _try_zero_division, _try_index, _try_in_loop, _try_helper,
                    _try_singular, _try_gather, _try_finally, _try_with])
    prog.emit_block(*make(ch, prog, a, out))
    prog.shapes[out] = prog.shapes[a]
    _uses(prog, out)


INPLACE_OPS = [("{buf}[{j} % {n0}] += {c}", 1),
               ("{buf}[{j} % {n0}] = np.sin({buf}[{j} % {n0}])", 1),
               ("{buf} *= 0.9", 0), ("{buf} += 0.1 * np.sin({buf})", 0),
               ("{buf}[1:] -= 0.5 * {buf}[:-1]", 1), ("{buf}[{buf} > 1.0] *= 0.5", 1),
               ("{buf}[0] = np.sum({buf}) * 0.3", 1),
               # data-dependent and repeated indices (a scatter): the last write stays
               ("{buf}[np.argmax({buf}, axis=0)] *= 0.5", 1),
               ("{buf}[np.argsort({buf}, axis=0) % {n0}] = np.cos({buf}[0]) * 0.5", 1),
               ("{buf}[{buf} < 0.0] = np.sin({buf}[{buf} < 0.0]) * 0.9", 1)]


def inplace_loop(ch, prog):
    a = prog.pick_array(ch, min_ndim=1) or prog.pick_array(ch)
    shape = prog.shapes[a]
    buf, j = prog.new(shape), prog.new(None, "j")
    usable = [t for t, m in INPLACE_OPS if len(shape) >= m and not ("[1:]" in t and shape[0] < 2)]
    names = dict(buf=buf, j=j, n0=shape[0] if shape else 1,
                 c=ch.pick(["0.5", "0.1 * np.sum({0})", "np.mean({0})"]).format(
                     prog.pick_array(ch)))
    body = ["    " + ch.pick(usable).format(**names) for _ in range(ch.integer(1, 2))]
    prog.emit(f"{buf} = {a} * 1.0")
    if ch.flip():
        prog.emit_block(f"for {j} in range({ch.integer(2, 6)}):", *body)
    else:
        prog.emit_block(f"{j} = 0", f"while np.sum({buf} * {buf}) > {ch.pick(['0.1', '0.5'])} "
                                    f"and {j} < {ch.integer(2, 6)}:",
                        f"    {buf} *= 0.7", *body, f"    {j} += 1")
    _uses(prog, buf)


# ---- outside state: globals read by natives, operators, text, changed between calls ---------------
OUTSIDE_OBJECTS = {   # kind: (module-level definition, consumers, changes made between calls)
    "list": ("{n} = [0.5, 1.5, -0.25]",
             ["len({n})", "sum({n})", "max({n})", "sorted({n})[0]", "np.sum({n})",
              "np.array({n})[-1]", "float(str({n}[0]))", "float({n}.count(0.5))",
              "float(0.5 in {n})", "float({n} == [0.5, 1.5, -0.25])", "({n} + [1.0])[0]",
              "functools.reduce(lambda p, q: p * 0.5 + q, {n}, 0.0)",
              "sum(itertools.accumulate({n}))", "operator.itemgetter(-1)({n})",
              "len(repr({n})) * 0.1", "len(f'{{{n}}}') * 0.1", "max(*{n})", "[*{n}][1]",
              "min({n}, key=abs)", "float(np.mean(np.asarray({n})))", "_at({n}, 3, 0.25)",
              "_at({n}, -4, -0.5)"],
             ["{n}.append(0.75)", "{n}[0] = -0.5", "{n}.reverse()", "{n}.insert(1, 2.0)"]),
    "dict": ("{n} = {{'a': 0.5, 'b': -1.0}}",
             ["len({n})", "sum({n}.values())", "list({n}.values())[0]", "float('c' in {n})",
              "dict(**{n})['a']", "sum({n}[k] for k in {n})", "len(str({n})) * 0.1",
              "max({n}.items())[1]", "np.sum(list({n}.values()))", "_lookup({n}, 'c', 0.25)",
              "{n}.get('c', -0.75)"],
             ["{n}['a'] = 2.0", "{n}['c'] = 0.3", "{n}.pop('b')", "{n}.update(b=-2.0)"]),
    "object": ("{n} = Bag([0.5, -1.5])",
               ["len({n})", "sum({n})", "list({n})[-1]", "np.array({n})[0]", "max({n})",
                "{n}.total()", "float({n})", "len(repr({n})) * 0.1", "sorted({n})[0]",
                "getattr({n}, 'extra', 0.25)", "float(hasattr({n}, 'extra'))",
                "_attribute({n}, 'extra', -0.5)", "max([0.0, *{n}])"],
               ["{n}.items[0] = 1.25", "{n}.items.append(-0.5)", "{n}.items.reverse()",
                "{n}.extra = 1.5"]),
    "mapping": ("{n} = Table({{'a': 0.5, 'b': -1.0}})",
                ["{n}.get('c', 0.25)", "float('c' in {n})", "sum({n}.values())", "len({n})",
                 "dict({n}).get('a', 0.0)", "{{**{n}}}.get('c', 0.1)", "_lookup({n}, 'c', 0.5)",
                 "max({n}.items())[1]"],
                ["{n}.data['c'] = 0.3", "{n}.data['a'] = 2.0", "{n}.data.pop('b')"]),
    "environ": ("os.environ.pop('TRACEJIT_FUZZ_{n}', None)",
                ["float(os.environ.get('TRACEJIT_FUZZ_{n}', '0.25'))",
                 "float(os.getenv('TRACEJIT_FUZZ_{n}') is None)",
                 "float('TRACEJIT_FUZZ_{n}' in os.environ)"],
                ["os.environ['TRACEJIT_FUZZ_{n}'] = '1.5'"]),
    "arrays": ("{n} = [np.linspace(-1.0, 1.0, 3), np.linspace(0.5, 2.0, 3)]",
               ["float(np.sum(np.stack({n})))", "float(np.sum({n}[0] * {n}[-1]))",
                "float(sum(np.sum(w) for w in {n}))", "float(np.sum(np.concatenate({n})))"],
               ["{n}[0] *= -1.0", "{n}.append(np.ones(3))", "{n}[1] = {n}[1] + 0.5"]),
}
_BAG = ["class Bag:", "    def __init__(self, items):", "        self.items = list(items)",
        "    def __len__(self):", "        return len(self.items)",
        "    def __iter__(self):", "        return iter(self.items)",
        "    def __getitem__(self, i):", "        return self.items[i]",
        "    def __repr__(self):", "        return f'Bag({self.items})'",
        "    def __float__(self):", "        return float(sum(self.items))",
        "    def total(self):", "        return sum(v * v for v in self.items)"]


_LOOKUPS = ["def _lookup(d, k, default):", "    try:", "        return d[k]",
            "    except KeyError:", "        return default",
            "def _at(seq, i, default):", "    try:", "        return seq[i]",
            "    except IndexError:", "        return default",
            "def _attribute(obj, name, default):", "    try:", "        return getattr(obj, name)",
            "    except AttributeError:", "        return default"]
_TABLE = ["class Table(collections.abc.Mapping):", "    def __init__(self, data):",
          "        self.data = dict(data)", "    def __getitem__(self, k):",
          "        return self.data[k]", "    def __len__(self):", "        return len(self.data)",
          "    def __iter__(self):", "        return iter(self.data)"]
_KIND_HELPERS = {"object": _BAG, "mapping": _TABLE}


def outside_state(ch, prog):
    """A global list/dict/object/mapping or an environment variable, read through code the
    tracer does not interpret (builtins, functools, operators, text, NumPy) or by lookups that
    fail (a KeyError, IndexError or AttributeError caught), changed between calls."""
    kind = ch.pick(sorted(OUTSIDE_OBJECTS))
    definition, consumers, changes = OUTSIDE_OBJECTS[kind]
    name = prog.new(None, "S")
    for helper in (_LOOKUPS, _KIND_HELPERS.get(kind)):
        if helper and helper[0] not in prog.helpers:
            prog.helpers.extend(helper)
    prog.helpers.append(definition.format(n=name))
    prog.mutations.append(ch.pick(changes).format(n=name))
    a = prog.pick_array(ch)
    out = prog.new(prog.shapes[a])
    reads = [ch.pick(consumers).format(n=name) for _ in range(2)]
    prog.emit(f"{out} = {a} * ({reads[0]}) + np.tanh({reads[1]})")
    _uses(prog, out)


# ---- user classes: special methods with type tests, called by operators and builtins -------------
_VEC = ["class Vec:", "    def __init__(self, a):", "        self.a = a",
        "    def __add__(self, other):",
        "        if isinstance(other, Vec):", "            return Vec(self.a + other.a)",
        "        return Vec(self.a + other)",
        "    __radd__ = __add__",
        "    def __mul__(self, other):",
        "        if isinstance(other, (int, float)) and not isinstance(other, np.generic):",
        "            return Vec(self.a * (other + 1.0))",
        "        if isinstance(other, Vec):", "            return Vec(self.a * other.a)",
        "        return Vec(self.a * other)",
        "    __rmul__ = __mul__",
        "    def __neg__(self):", "        return Vec(-self.a)",
        "    def __lt__(self, other):", "        return np.sum(self.a) < np.sum(other.a)",
        "    def __bool__(self):", "        return bool(np.max(self.a) > 0.3)",
        "    def __float__(self):", "        return float(np.sum(self.a))",
        "    def __len__(self):", "        return int(np.size(self.a))",
        "    def __repr__(self):", "        return f'Vec({float(np.sum(self.a)):.3f})'",
        "    @property", "    def scale(self):",
        "        first = self.a if np.ndim(self.a) == 0 else np.ravel(self.a)[0]",
        "        return 2.0 if isinstance(first, float) else 0.5"]
VEC_STEPS = ["{v} * float({s})", "float({s}) * {v}", "{v} * {w}", "{v} + {w}", "-{v} + 0.5",
             "{v} * 2", "2.5 * {v} + {w}", "{v} * {s}", "sum([{v}, {w}], Vec(0.0))",
             "min({v}, {w})", "max([{v}, {w}])", "sorted([{w}, {v}])[0]",
             "({v} if {v} else {w})", "Vec({v}.a * len({w}))", "Vec({v}.a * float({w}))",
             "Vec({v}.a + float(repr({w})[4:-1]))", "Vec({v}.a * {w}.scale)"]


def user_classes(ch, prog):
    """Objects of a user class whose operators test the other operand's type, combined with
    traced Python floats, NumPy scalars and each other."""
    if _VEC[0] not in prog.helpers:
        prog.helpers.extend(_VEC)
    a, b = prog.pick_array(ch), prog.pick_array(ch)
    scalar = f"np.sum({prog.pick_array(ch)})"
    v, w = prog.new(None, "V"), prog.new(None, "V")
    prog.emit_block(f"{v} = Vec({a} * 1.0)", f"{w} = Vec(np.tanh({b}))")
    for _ in range(ch.integer(1, 3)):
        step = ch.pick(VEC_STEPS).format(v=v, w=w, s=scalar)
        prog.emit(f"{v} = {step}")
    out = prog.new(())
    prog.emit(f"{out} = np.sum({v}.a) * 0.5 + float({w}) * 0.1")
    _uses(prog, out)


FAMILY_STATEMENTS = {
    "carries": {"while": while_counter, "for_break": for_break, "hidden": while_hidden_state},
    "early_return": {"helper": early_return},
    "containers": {"loop": container_loop},
    "types": {"test": type_test},
    "text": {"text": text_use},
    "impure": {"call": impure_call},
    "views": {"views": view_writes},
    "try_except": {"try": try_except},
    "inplace": {"loop": inplace_loop},
    "outside_state": {"read": outside_state},
    "user_classes": {"vec": user_classes},
    "long_loops": {"range": long_loop},
}
FAMILIES = ["straight", "branching", *FAMILY_STATEMENTS]


# ---- assembling a program ------------------------------------------------------------------------
class Case:
    """One generated program with what it takes to run it: argument shapes, data seed, and the
    shape of the array it reads through the global G (None: no global)."""

    def __init__(self, family, source, shapes, seed, global_shape, mutations=()):
        self.family, self.source, self.shapes = family, source, shapes
        self.seed, self.global_shape, self.mutations = seed, global_shape, tuple(mutations)

    def with_source(self, source):
        return Case(self.family, source, self.shapes, self.seed, self.global_shape,
                    self.mutations)

    def __repr__(self):
        return (f"Case({self.family!r}, shapes={self.shapes}, seed={self.seed}, "
                f"global_shape={self.global_shape})")


def _result(prog):
    """The returned scalar: reads what the family statements kept, then the newest arrays."""
    made = sorted((n for n in prog.shapes if n[0] == "v"), key=lambda n: -int(n[1:]))
    others = [n for n in sorted(prog.shapes) if n[0] != "v"]
    used = list(dict.fromkeys([*prog.keep[-3:], *made, *others]))[:4]
    weights = (1.0, 0.5, 0.25, 0.125)
    return " + ".join(f"{w} * np.sum({n})" for w, n in zip(weights, used))


def build(ch, family):
    """A Case of the given family, every decision taken through `ch`."""
    full = ch.pick(FULL_SHAPES)
    shapes = [ch.pick(sub_shapes(full)) for _ in range(ch.integer(1, 3))]
    prog = Program(shapes, full)
    global_shape = ch.pick([None, *sub_shapes(full)])
    if global_shape is not None:          # an array read through a global, changed between calls
        prog.shapes["G"] = global_shape
    own = FAMILY_STATEMENTS.get(family)
    n_statements = ch.integer(1, 7) if own is None else ch.integer(2, 6)
    placed = ch.integer(0, n_statements - 1)       # at least one statement of the family
    for k in range(n_statements):
        if own is not None and (k == placed or ch.integer(0, 2) == 0):
            own[ch.pick(sorted(own))](ch, prog)
        else:
            base_statement(ch, prog, branching=family != "straight")
    seed = ch.integer(0, 2**32 - 1)
    return Case(family, prog.source(_result(prog)), shapes, seed, global_shape, prog.mutations)


@st.composite
def cases(draw, family):
    """Hypothesis strategy: programs of one family."""
    return build(DrawChoices(draw), family)


def random_case(family, seed):
    return build(RandomChoices(f"{family}-{seed}"), family)
