"""Decode a code object once into a flat instruction list with resolved jump targets.

The `bytecode` package does the version-specific decoding (EXTENDED_ARG, caches, argument
decoding). This layer then normalises what differs between CPython versions only in *encoding*,
so that one handler serves each operation: flag bits packed into arguments are split off,
superinstructions are split, and the NULL that marks "no self" for a call is kept where CPython
<= 3.12 puts it. Each rewrite is registered with the versions it serves, like the handlers.

What `bytecode` gives as `Instr.arg`, where it is not a plain int or name: LOAD_GLOBAL
(push_null, name) on every version; LOAD_ATTR (method, name) and LOAD_SUPER_ATTR (method,
two_args, name) from 3.12; COMPARE_OP a `Compare` member (3.13 adds the *_CAST members);
3.13 superinstructions a pair of names; cell and free variables `CellVar`/`FreeVar` objects;
BINARY_OP, CALL_INTRINSIC_* and CONVERT_VALUE enum members; jumps a `Label`.

The exception table (`co_exceptiontable`, which `bytecode` turns into TryBegin/TryEnd pairs) is
kept as `DecodedCode.handlers`: for each instruction, the handler CPython would jump to when it
raises, as (target index, stack depth, push lasti), or None. `user_handlers` tells whether any
region is the user's (try, with) rather than the compiler's cleanup (inlined comprehensions,
PEP 709; a generator's StopIteration guard), which only restores state and re-raises.
"""
import dis
import itertools
import linecache
from dataclasses import dataclass, replace
from typing import Any

from ..ir import SourceLoc
from .versions import FIRST, LATEST, serves


@dataclass(frozen=True)
class Instr:
    name: str
    arg: Any
    lineno: int | None
    target: int | None = None      # instruction index of a jump target


@dataclass(frozen=True)
class ExceptHandler:
    """Where an exception raised by an instruction goes: CPython's exception-table entry."""
    target: int            # instruction index of the handler
    depth: int             # the value stack is cut to this many values ...
    push_lasti: bool       # ... then the raising instruction's index is pushed (if set), then
                           # the exception
    user: bool = True      # a try or with block's, not the compiler's cleanup (which re-raises)


@dataclass(frozen=True)
class DecodedCode:
    code: Any
    instrs: tuple
    heads: frozenset = frozenset()     # loop heads: targets of backward jumps
    handlers: tuple = ()               # per instruction: ExceptHandler or None
    user_handlers: bool = False        # a try or with region of the user's (not cleanup only)

    def loc(self, lineno):
        return source_loc(self.code.co_filename, lineno or self.code.co_firstlineno)


_decoded: dict = {}


def decode(code) -> DecodedCode:
    cached = _decoded.get(code)
    if cached is None:
        cached = _decoded[code] = _decode(code)
    return cached


def _decode(code):
    import bytecode                  # on the first trace: 13 ms that `import tracejit` need not pay
    items = list(bytecode.Bytecode.from_code(code))
    label_at = {item: i for i, item in enumerate(items) if isinstance(item, bytecode.Label)}
    # `bytecode` gives one TryBegin per exception-table entry, in the table's order, but not
    # the entry's stack depth: that comes from the table itself
    depths = iter(entry.depth for entry in dis._parse_exception_table(code))
    out, regions, region = [], [], None    # regions: per instruction, its ExceptHandler
    n_labels = 0
    for item in items:
        if isinstance(item, bytecode.Label):
            out.append(item)
            n_labels += 1
        elif isinstance(item, bytecode.TryBegin):
            region = (item, next(depths), not _is_cleanup_handler(items, label_at[item.target]))
        elif isinstance(item, bytecode.TryEnd):
            region = None
        elif isinstance(item, bytecode.Instr):
            fn = REWRITES.get(item.name)
            normalised = fn(item, out) if fn is not None else [(item.name, item.arg)]
            out.extend(Instr(name, arg, item.lineno) for name, arg in normalised)
            regions.extend([region] * (len(out) - n_labels - len(regions)))
    instrs, positions = _resolve_jumps(out)
    # `yield from` jumps back to its SEND (and, from 3.12, from its CLEANUP_THROW to END_SEND):
    # delegation to another iterator, not a loop of this frame's own
    heads = frozenset(i.target for k, i in enumerate(instrs) if i.target is not None and
                      i.target <= k and instrs[i.target].name not in _DELEGATION)
    handlers = tuple(None if r is None else
                     ExceptHandler(positions[r[0].target], r[1], r[0].push_lasti, r[2])
                     for r in regions)
    if next(depths, None) is not None:
        raise NotImplementedError(f"{code.co_name}: exception table entries and TryBegins differ")
    return DecodedCode(code, instrs, heads, handlers,
                       any(h is not None and h.user for h in handlers))


_DELEGATION = frozenset({"SEND", "END_SEND"})


def _resolve_jumps(out):
    import bytecode
    positions, instrs = {}, []
    for item in out:
        if isinstance(item, bytecode.Label):
            positions[item] = len(instrs)
        else:
            instrs.append(item)
    return tuple(replace(i, arg=None, target=positions[i.arg])
                 if isinstance(i.arg, bytecode.Label) else i for i in instrs), positions


# ---- exception-table regions -------------------------------------------------------------------
# A compiler cleanup handler only restores saved locals (inlined comprehensions) or turns a
# StopIteration into RuntimeError (generators, 3.12+), then re-raises: it never catches.
_CLEANUP_OPS = {"SWAP", "POP_TOP", "NOP", "STORE_FAST", "STORE_FAST_STORE_FAST",
                "STORE_FAST_MAYBE_NULL"}


def _is_cleanup_handler(items, start):
    """Whether the handler at `items[start]` is compiler cleanup that only re-raises."""
    import bytecode
    handler = (i for i in itertools.islice(items, start, None) if isinstance(i, bytecode.Instr))
    for instr in handler:
        if instr.name == "RERAISE":
            return True
        if not _is_cleanup(instr):
            return False
    return False


def _is_cleanup(instr):
    return instr.name in _CLEANUP_OPS or (
        instr.name == "CALL_INTRINSIC_1" and instr.arg.name == "INTRINSIC_STOPITERATION_ERROR")


# ---- normalising rewrites ----------------------------------------------------------------------
REWRITES: dict = {}            # opcode name -> fn(bytecode.Instr, out so far) -> [(name, arg)]


def rewrite(*names, since=FIRST, until=LATEST):
    """Register a decode-time rewrite of opcodes `names` on Python versions since..until."""
    def register(fn):
        if serves(since, until):
            for name in names:
                REWRITES[name] = fn
        return fn
    return register


@rewrite("LOAD_GLOBAL")
def _load_global(instr, out):
    # The flag asks for a NULL beside the callable; it goes below, where <= 3.12 keeps it.
    push_null, name = instr.arg
    return [("PUSH_NULL", None), ("LOAD_GLOBAL", name)] if push_null else [("LOAD_GLOBAL", name)]


@rewrite("PUSH_NULL", since=(3, 13))
def _null_below_callable(instr, out):
    # 3.13 pushes the NULL just after the callable ([callable, NULL, args]); swapping it below
    # gives the <= 3.12 layout [NULL, callable, args]. A pair [callable, self] reads the same.
    return [("PUSH_NULL", None), ("SWAP", 2)]


@rewrite("LOAD_ATTR", since=(3, 12))
def _load_attr_method_flag(instr, out):
    # 3.12 folded LOAD_METHOD into LOAD_ATTR as a flag; the compiler still calls it LOAD_METHOD.
    method, name = instr.arg
    return [("LOAD_METHOD" if method else "LOAD_ATTR", name)]


@rewrite("LOAD_SUPER_ATTR", since=(3, 12))
def _load_super_attr_flags(instr, out):
    # Named after the compiler's own pseudo-opcodes for the four flag combinations.
    method, two_args, name = instr.arg
    return [(("LOAD_SUPER_" if two_args else "LOAD_ZERO_SUPER_") + ("METHOD" if method else "ATTR"),
             name)]


@rewrite("COMPARE_OP")
def _compare_op(instr, out):
    # 3.13 marks a comparison whose result feeds a branch with _CAST: CPython makes it a bool.
    name = instr.arg.name
    if name.endswith("_CAST"):
        return [("COMPARE_OP", name.removesuffix("_CAST")), ("TO_BOOL", None)]
    return [("COMPARE_OP", name)]


_SUPERINSTRUCTIONS = {"LOAD_FAST_LOAD_FAST": ("LOAD_FAST", "LOAD_FAST"),
                      "STORE_FAST_LOAD_FAST": ("STORE_FAST", "LOAD_FAST"),
                      "STORE_FAST_STORE_FAST": ("STORE_FAST", "STORE_FAST")}


@rewrite(*_SUPERINSTRUCTIONS, since=(3, 13))
def _split_superinstruction(instr, out):
    return list(zip(_SUPERINSTRUCTIONS[instr.name], instr.arg))


@rewrite("MAKE_FUNCTION", since=(3, 13))
def _make_bare_function(instr, out):
    return [("MAKE_FUNCTION", 0)]


@rewrite("SET_FUNCTION_ATTRIBUTE", since=(3, 13))
def _fold_function_attribute(instr, out):
    # 3.13 moved MAKE_FUNCTION's flags into SET_FUNCTION_ATTRIBUTEs emitted right after it. The
    # values sit below the function in the order <= 3.12 MAKE_FUNCTION pops them, so folding
    # the flag back restores that instruction (a closure cannot be attached after creation).
    made = out[-1]
    if not (isinstance(made, Instr) and made.name == "MAKE_FUNCTION"):
        raise NotImplementedError("SET_FUNCTION_ATTRIBUTE not right after MAKE_FUNCTION")
    out[-1] = replace(made, arg=made.arg | int(instr.arg))
    return []


_locs: dict = {}


def source_loc(filename, lineno):
    key = (filename, lineno)
    loc = _locs.get(key)
    if loc is None:
        loc = _locs[key] = SourceLoc(filename, lineno, linecache.getline(filename, lineno).strip())
    return loc
