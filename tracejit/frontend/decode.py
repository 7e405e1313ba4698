"""Decode a code object once into a flat instruction list with resolved jump targets.

The `bytecode` package does the version-specific decoding (EXTENDED_ARG, caches, argument
decoding); this layer turns its labels into instruction indices and marks exception-handling
regions, which the interpreter refuses rather than misinterprets.
"""
import linecache
from dataclasses import dataclass
from typing import Any

import bytecode

from ..ir import SourceLoc


@dataclass(frozen=True)
class Instr:
    name: str
    arg: Any
    lineno: int | None
    target: int | None = None      # instruction index of a jump target


@dataclass(frozen=True)
class DecodedCode:
    code: Any
    instrs: tuple

    def loc(self, lineno):
        return source_loc(self.code.co_filename, lineno or self.code.co_firstlineno)


_decoded: dict = {}


def decode(code) -> DecodedCode:
    cached = _decoded.get(code)
    if cached is None:
        cached = _decoded[code] = _decode(code)
    return cached


def _decode(code):
    items = list(bytecode.Bytecode.from_code(code))
    positions, n = {}, 0
    for item in items:
        if isinstance(item, bytecode.Label):
            positions[item] = n
        elif isinstance(item, (bytecode.Instr, bytecode.TryBegin)):
            n += 1
    instrs = []
    for item in items:
        if isinstance(item, bytecode.TryBegin):
            instrs.append(Instr("TRY_BEGIN", None, None))
        elif isinstance(item, bytecode.Instr):
            arg = item.arg
            target = positions[arg] if isinstance(arg, bytecode.Label) else None
            instrs.append(Instr(item.name, None if target is not None else arg, item.lineno, target))
    return DecodedCode(code, tuple(instrs))


_locs: dict = {}


def source_loc(filename, lineno):
    key = (filename, lineno)
    loc = _locs.get(key)
    if loc is None:
        loc = _locs[key] = SourceLoc(filename, lineno, linecache.getline(filename, lineno).strip())
    return loc
