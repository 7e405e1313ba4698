"""Per-entry straight-line Python for the checks and reads a cache entry needs on every call.

An entry's guards on outside state (and the outside arrays it reads as inputs) are paths like
`fn.__closure__[0].cell_contents.W`. Walking `Source` objects costs a method call per step; here
each entry gets one generated function that evaluates every path once (shared prefixes are
computed once) and checks every guard inline:

    def prepare(fn, leaves):
        g = 0
        try:
            v0 = fn.__code__
            if v0 is not K0: return 0
            ...
        except (AttributeError, KeyError, IndexError, TypeError):
            return g
        return [v3, v7]          # the outside arrays the trace reads, in input order

It returns the index of the first failing guard, or the list of sourced input values. Only
validated identifiers, generated names and integer indices appear in the source; every other
value (objects compared by identity, constants, dict keys, attribute names that are not plain
identifiers) is passed in through the function's globals.
"""
import keyword
from time import perf_counter

import numpy as np

from .. import tree
from ..ops.core import PYTHON_INT_BOUND
from ..frontend.sources import (ArgLeaf, ArrayOf, Attr, Equals, Is, Item, Length, ModuleGlobals,
                                NotIn, RootFn, TypeIs, delicate)


def leaf_key(leaf):
    """What a trace may assume about one argument leaf without looking at array contents.
    `_leaf_mismatch` below is the same test written out as source: change them together."""
    t = type(leaf)
    if isinstance(leaf, np.ndarray):             # subclasses too (memmap): a trace fixes shapes
        return (t, leaf.shape, leaf.dtype.str)
    if t is float or t is int and -PYTHON_INT_BOUND < leaf < PYTHON_INT_BOUND:
        return t                                 # a trace input (frontend.trace.leaf_is_input)
    if isinstance(leaf, np.generic):
        return (t,)
    if t in (int, bool, str, type(None), complex, bytes):
        return (t, leaf)
    if callable(leaf):
        return ("object", leaf)          # functions and classes: by identity
    return ("type", t)


class _Generator:
    def __init__(self, leaf_names=None):
        self.lines = []
        self.env = {"ndarray": np.ndarray, "sys": __import__("sys")}
        self.names = {}
        self.leaf_names = leaf_names      # locals holding the argument leaves, else `leaves[i]`
        self.reads_leaves = False         # some source needs the list of leaves itself

    def constant(self, value):
        name = f"K{len(self.env)}"
        self.env[name] = value
        return name

    def value(self, source):
        """The name of a local holding the value at `source` (computed once)."""
        name = self.names.get(source)
        if name is None:
            expr = self._expr(source)
            name = self.names[source] = f"v{len(self.names)}"
            self.lines.append(f"{name} = {expr}")
        return name

    def _expr(self, source):
        if isinstance(source, RootFn):
            return "fn"
        if isinstance(source, ArgLeaf):
            if self.leaf_names is not None:
                return self.leaf_names[int(source.index)]
            return f"leaves[{int(source.index)}]"
        if isinstance(source, Attr):
            base = self.value(source.base)
            name = source.name
            if name.isidentifier() and not keyword.iskeyword(name) and name.isascii():
                return f"{base}.{name}"
            return f"getattr({base}, {self.constant(name)})"
        if isinstance(source, Item):
            return f"{self.value(source.base)}[{self.constant(source.key)}]"
        if isinstance(source, Length):
            return f"len({self.value(source.base)})"
        if isinstance(source, ModuleGlobals):
            return f"sys.modules[{self.constant(source.module)}].__dict__"
        self.reads_leaves = True
        return f"{self.constant(source)}.get(fn, leaves)"     # any other kind of source

    def check(self, guard, on_failure):
        v = self.value(guard.source)
        self.lines.append(f"if {self.condition(guard.check, v)}: {on_failure}")

    def condition(self, check, v):
        """Python source that is true when `check` fails on the value named `v`."""
        if isinstance(check, Is):
            return f"{v} is not {self.constant(check.obj)}"
        if isinstance(check, TypeIs):
            return f"type({v}) is not {self.constant(check.type)}"
        if isinstance(check, Equals) and not delicate(check.value):
            return (f"type({v}) is not {self.constant(type(check.value))} or "
                    f"not ({v} == {self.constant(check.value)})")
        if isinstance(check, ArrayOf):
            return (f"type({v}) is not ndarray or {v}.shape != {self.constant(check.shape)} or "
                    f"{v}.dtype != {self.constant(check.dtype)}")
        if isinstance(check, NotIn):
            return f"{self.constant(check.key)} in {v}"
        return f"not {self.constant(check)}.holds({v})"


def compile_prepare(guards, sourced):
    """The `prepare(fn, leaves)` function of an entry (see the module docstring)."""
    gen = _Generator()
    for k, guard in enumerate(guards):
        gen.lines.append(f"g = {k}")
        gen.check(guard, f"return {k}")
    gen.lines.append(f"g = {len(guards)}")
    inputs = [gen.value(s) for s in sourced]
    body = "\n".join("        " + line for line in gen.lines) or "        pass"
    source = ("def prepare(fn, leaves):\n    g = 0\n    try:\n" + body + "\n"
              "    except (AttributeError, KeyError, IndexError, TypeError):\n        return g\n"
              f"    return [{', '.join(inputs)}]\n")
    exec(source, gen.env)
    prepare = gen.env["prepare"]
    prepare.source = source
    return prepare


def _leaf_mismatch(gen, key, v):
    """Python source that is true when `leaf_key(v) != key` (for the value named `v`)."""
    if key is float:
        return f"type({v}) is not float"
    if key is int:
        return f"type({v}) is not int or not -{PYTHON_INT_BOUND} < {v} < {PYTHON_INT_BOUND}"
    if key[0] == "object":
        return f"not ({v} is {gen.constant(key[1])} or {v} == {gen.constant(key[1])})"
    if key[0] == "type" or len(key) == 1:
        return f"type({v}) is not {gen.constant(key[-1])}"
    if len(key) == 2:
        return f"type({v}) is not {gen.constant(key[0])} or not ({v} == {gen.constant(key[1])})"
    t, shape, dtype_str = key
    # a dtype compares by identity first: the builtin dtypes are singletons, so `.str` (slow:
    # it builds a string) is only consulted for an unusual dtype object
    return (f"type({v}) is not {gen.constant(t)} or {v}.shape != {gen.constant(shape)} or "
            f"({v}.dtype is not {gen.constant(np.dtype(dtype_str))} and "
            f"{v}.dtype.str != {gen.constant(dtype_str)})")


def _unpack(gen, treedef, v, leaf_names):
    """Lines checking that the value named `v` has the structure `treedef`, naming its leaves
    (in `flatten`'s order) l0, l1, ... Built-in containers, namedtuples and dataclasses are
    checked inline; other containers (defaultdicts, registered classes) are flattened and
    their structure compared."""
    kind = tree.kind(treedef)
    if kind == "leaf":
        name = f"l{len(leaf_names)}"
        leaf_names.append(name)
        gen.lines.append(f"{name} = {v}")
    elif kind == "none":
        gen.lines.append(f"if {v} is not None: return MISS")
    elif kind == "other":
        _unpack_flattened(gen, treedef, v, leaf_names)
    else:
        items = _CHECK_NODE[kind](gen, treedef, v)
        for item, child in zip(items, tree.children(treedef)):
            name = f"t{len(gen.lines)}"
            gen.lines.append(f"{name} = {item}")
            _unpack(gen, child, name, leaf_names)


def _check_sequence(gen, treedef, v):
    cls = treedef.type.__name__ if treedef.type in (list, tuple) else gen.constant(treedef.type)
    gen.lines.append(f"if type({v}) is not {cls} or len({v}) != {treedef.num_children}: "
                     "return MISS")
    return [f"{v}[{i}]" for i in range(treedef.num_children)]


def _check_dict(gen, treedef, v):
    keys = tree.dict_keys(treedef)
    if treedef.type is dict:          # any insertion order: keys are sorted
        gen.lines.append(f"if type({v}) is not dict or len({v}) != {len(keys)}: return MISS")
    else:                             # an OrderedDict's order is part of its structure
        gen.lines.append(f"if type({v}) is not {gen.constant(treedef.type)} or "
                         f"tuple({v}) != {gen.constant(keys)}: return MISS")
    return [f"{v}[{gen.constant(key)}]" for key in keys]


def _check_dataclass(gen, treedef, v):
    declared, meta, extras, children, _, _ = tree.dataclass_node(treedef)
    gen.env["extra_attributes"] = tree.extra_attributes
    gen.lines.append(f"if type({v}) is not {gen.constant(treedef.type)}: return MISS")
    gen.lines.append(f"if extra_attributes({v}, {gen.constant(declared)}) != "
                     f"{gen.constant(extras)}: return MISS")
    for name, value in meta.items():
        field, value = _attr(gen, v, name), gen.constant(value)
        gen.lines.append(f"if not ({field} is {value} or {field} == {value}): return MISS")
    return [_attr(gen, v, name) for name in children]


def _attr(gen, v, name):
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"{v}.{name}"
    return f"getattr({v}, {gen.constant(name)})"


_CHECK_NODE = {"tuple": _check_sequence, "list": _check_sequence,
               "namedtuple": _check_sequence, "dict": _check_dict,
               "ordereddict": _check_dict, "dataclass": _check_dataclass}


def _unpack_flattened(gen, treedef, v, leaf_names):
    flat = f"t{len(gen.lines)}"
    gen.env["flatten"] = tree.flatten
    gen.lines.append(f"{flat}, structure = flatten({v})")
    gen.lines.append(f"if structure != {gen.constant(treedef)}: return MISS")
    for i in range(treedef.num_leaves):
        gen.lines.append(f"l{len(leaf_names)} = {flat}[{i}]")
        leaf_names.append(f"l{len(leaf_names)}")


def compile_fast_call(key, entry, program, finish, counts, lock, miss):
    """`fast(fn, args)`: the whole hot path of one cache entry for a call without keyword
    arguments — the cache key's structure and leaf checks, the entry's guards, the run, the
    counters (`counts`, a stats.HotPathCounts), the result — or `miss` when anything differs, for the general path to sort out.
    A data guard failing inside the run raises `GuardFailure` to the caller. None for an entry
    traced with keyword arguments."""
    treedef, leaf_keys = key
    args_tree, kwargs_tree = tree.children(treedef)
    if kwargs_tree.num_children:
        return None                       # keyword arguments take the general path
    gen = _Generator(leaf_names=[])
    gen.env.update(MISS=miss, program=program, finish=finish, lock=lock, counts=counts,
                   hits=counts.hits, attempts=counts.attempts, SAMPLE_EVERY=counts.SAMPLE_EVERY,
                   perf_counter=perf_counter)
    gen.lines.append(f"if len(args) != {args_tree.num_children}: return MISS")
    for i, child in enumerate(tree.children(args_tree)):
        _unpack(gen, child, f"args[{i}]", gen.leaf_names)
    for name, leaf in zip(gen.leaf_names, leaf_keys):
        gen.lines.append(f"if {_leaf_mismatch(gen, leaf, name)}: return MISS")
    unpacked = len(gen.lines)
    for guard in entry.guards:
        gen.check(guard, "return MISS")
    inputs = [gen.leaf_names[i] for i in entry.arg_leaves] + [gen.value(s) for s in entry.sourced]
    if gen.reads_leaves:
        gen.lines.insert(unpacked, f"leaves = [{', '.join(gen.leaf_names)}]")
    body = "\n".join("        " + line for line in gen.lines)
    copies = "".join(f"    outputs[{j}] = outputs[{j}].copy()\n" for j in entry.constant_slots)
    call = f"program.run([{', '.join(inputs)}])"
    source = ("def fast(fn, args):\n"
              "    if next(attempts) % SAMPLE_EVERY:\n"
              "        timed = False\n"
              "    else:\n"
              "        timed = True\n        started = perf_counter()\n"
              "    try:\n" + body + "\n"
              "    except (AttributeError, KeyError, IndexError, TypeError):\n"
              "        return MISS\n"
              "    if timed:\n"
              "        checked = perf_counter()\n"
              f"        outputs = {call}\n"
              "        ran = perf_counter()\n"
              "        with lock:\n"
              "            counts.timed += 1\n"
              "            counts.guard_time += checked - started\n"
              "            counts.run_time += ran - checked\n"
              "    else:\n"
              f"        outputs = {call}\n" + copies +
              "    next(hits)\n"
              "    return finish(outputs, None)\n")
    exec(source, gen.env)
    fast = gen.env["fast"]
    fast.source = source
    return fast
