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

import numpy as np

from ..frontend.sources import (ArgLeaf, ArrayOf, Attr, Equals, Is, Item, Length, ModuleGlobals,
                                NotIn, RootFn, TypeIs)


class _Generator:
    def __init__(self):
        self.lines = []
        self.env = {"ndarray": np.ndarray, "sys": __import__("sys")}
        self.names = {}

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
        return f"{self.constant(source)}.get(fn, leaves)"     # any other kind of source

    def condition(self, check, v):
        """Python source that is true when `check` fails on the value named `v`."""
        if isinstance(check, Is):
            return f"{v} is not {self.constant(check.obj)}"
        if isinstance(check, TypeIs):
            return f"type({v}) is not {self.constant(check.type)}"
        if isinstance(check, Equals):
            return (f"type({v}) is not {self.constant(type(check.value))} or "
                    f"not ({v} == {self.constant(check.value)})")
        if isinstance(check, ArrayOf):
            return (f"type({v}) is not ndarray or {v}.shape != {self.constant(check.shape)} or "
                    f"{v}.dtype != {self.constant(check.dtype)}")
        if isinstance(check, NotIn):
            return f"{self.constant(check.name)} in {v}"
        return f"not {self.constant(check)}.holds({v})"


def compile_prepare(guards, sourced):
    """The `prepare(fn, leaves)` function of an entry (see the module docstring)."""
    gen = _Generator()
    for k, guard in enumerate(guards):
        gen.lines.append(f"g = {k}")
        v = gen.value(guard.source)
        gen.lines.append(f"if {gen.condition(guard.check, v)}: return {k}")
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
