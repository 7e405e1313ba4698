"""Human-readable accounts of a compiled function: why it traced, what each entry assumes.

Everything here runs on slow paths only (a new trace, a guard failure, `.explain()`), so it may
walk frames and format freely.
"""
from __future__ import annotations

import inspect
import os
import sys

import numpy as np

from ..tree import first_difference, flatten
from . import logs
from .stats import Retrace, format_stats

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Report(str):
    """A string that shows as itself at a prompt, so `g.explain()` reads well in a REPL."""

    def __repr__(self):
        return str(self)


def name(fn):
    fn = inspect.unwrap(fn)             # the user's function, not a transformation's wrapper
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def def_loc(fn):
    """file:line of the function's definition (input guards have no finer location)."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else name(fn)


def caller_loc():
    """file:line of the innermost frame outside tracejit: where the user made the call."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else ""


def leaf_labels(fn, args, kwargs):
    from ..frontend.trace import arg_labels
    return arg_labels(fn, args, kwargs)


def format_leaf_key(k):
    """A readable form of `cache.leaf_key(...)`."""
    if k is float:
        return "float"
    if isinstance(k, tuple) and k and k[0] is np.ndarray:
        shape = ",".join(map(str, k[1]))
        return f"ndarray {np.dtype(k[2]).name}[{shape}]"
    if isinstance(k, tuple) and len(k) == 1:
        return f"{k[0].__name__} scalar"
    if isinstance(k, tuple) and k[0] == "object":
        return f"object {name(k[1])}"
    if isinstance(k, tuple) and k[0] == "type":
        return f"{k[1].__name__} object"
    if isinstance(k, tuple) and len(k) == 2 and isinstance(k[0], type):
        return f"{k[0].__name__} = {k[1]!r}"
    return repr(k)


def signature_change(fn, key, entries, args, kwargs):
    """Why a call found no usable bucket: first call, or which argument leaves changed."""
    if not entries:
        return Retrace("first", "first call", caller_loc())
    treedef, leaf_keys = key
    labels = leaf_labels(fn, args, kwargs)
    same_tree = [k for k in entries if k[0] == treedef and len(k[1]) == len(leaf_keys)]
    if not same_tree:
        return Retrace("new signature", _structure_change(fn, entries, treedef), caller_loc())
    # the most recently added compatible signature is the likeliest "previous" one
    old = same_tree[-1][1]
    diffs = [f"{labels[i]}: {format_leaf_key(a)} -> {format_leaf_key(b)}"
             for i, (a, b) in enumerate(zip(old, leaf_keys)) if a != b]
    return Retrace("new signature", "; ".join(diffs), caller_loc())


def _structure_change(fn, entries, treedef):
    """Where the argument structure differs from the latest signature traced before:
    `params: PyTreeSpec(CustomTreeNode(Params[(2.0,)], [*, *])) -> ...`."""
    found = first_difference(list(entries)[-1][0], treedef)
    if not found or len(found[0]) < 2:         # the number of arguments or the keywords
        return "the argument structure changed (number of arguments or keywords)"
    (where, index, *rest), old, new = found
    from ..frontend.trace import argument_name, parameter_names
    name = argument_name(parameter_names(fn), index) if where == 0 else str(index)
    path = name + "".join(f"[{e!r}]" for e in rest)
    return f"the argument structure changed at {path}: {old} -> {new}"


def data_guards(trace):
    """(reason, expected, loc) of every guard op that a trace checks while it runs."""
    return [(op.params.get("reason", ""), op.params.get("expected"), op.loc)
            for op in trace.ops if op.prim.name == "guard"]


def code_location(program, backend):
    """Where the backend's generated code is, if it reports it."""
    for attr in ("source_path", "path", "filename"):
        where = getattr(program, attr, None)
        if isinstance(where, (str, os.PathLike)):
            return os.fspath(where)
    source = getattr(program, "source", None)
    if isinstance(source, str):
        return f"in memory ({source.count(chr(10)) + 1} lines; `program.source`)"
    if getattr(backend, "name", "") == "numpy":
        return "none: the numpy backend runs the trace op by op"
    return "not reported by the backend"


def log_new_entry(compiled, entry, why):
    fn = compiled.fn
    if why.kind != "first":
        logs.recompiles.debug("re-tracing %s (%s): %s; %d entries cached", name(fn), def_loc(fn),
                              why, sum(len(b) for b in compiled.entries.values()))
    if logs.guards.isEnabledFor(10):
        guards = [str(g) for g in entry.guards] + [
            f"{r} is {e} ({loc})" for r, e, loc in data_guards(entry.result.trace)]
        logs.guards.debug("%s: new entry guards: %s", name(fn), "; ".join(guards) or "none")
    if logs.compile.isEnabledFor(10):
        logs.compile.debug("%s: traced in %.2f ms (%d ops), compiled in %.2f ms (%d ops, "
                           "backend %s)\n%s", name(fn), entry.trace_time * 1e3,
                           len(entry.result.trace.ops), entry.compile_time * 1e3,
                           len(entry.joint.ops), compiled.stats.backend, entry.joint)


def _entry_lines(i, entry, backend):
    lines = [f"  entry {i}: {entry.hits} hits; traced in {entry.trace_time * 1e3:.2f} ms, "
             f"compiled in {entry.compile_time * 1e3:.2f} ms; made because {entry.why}"]
    lines += [f"    input guard: {g}" for g in entry.guards] or ["    input guards: none"]
    for reason, expected, loc in data_guards(entry.result.trace):
        lines.append(f"    data guard: {reason} is {expected} ({loc})")
    lines.append(f"    generated code: {code_location(entry.program, backend)}")
    lines.append(f"    trace ({len(entry.result.trace.ops)} ops forward, "
                 f"{len(entry.joint.ops)} ops compiled):")
    lines += ["      " + line for line in str(entry.joint).splitlines()]
    return lines


def explain(compiled):
    """The full account behind `.explain()`: stats, then every cache entry."""
    fn = compiled.fn
    d = compiled.stats_dict()
    total = sum(len(b) for b in compiled.entries.values())
    lines = [f"tracejit: {name(fn)} ({def_loc(fn)})", format_stats(d),
             f"cache: {total} entries in {len(compiled.entries)} signatures "
             f"(limit {compiled.cache_limit})"]
    for (_, leaf_keys), bucket in compiled.entries.items():
        labels = bucket[0].labels or [f"leaf {i}" for i in range(len(leaf_keys))]
        sig = ", ".join(f"{lab}: {format_leaf_key(k)}" for lab, k in zip(labels, leaf_keys))
        lines.append(f"signature ({sig or 'no arguments'}):")
        for i, entry in enumerate(bucket):
            lines += _entry_lines(i, entry, compiled.backend)
    return Report("\n".join(lines))
