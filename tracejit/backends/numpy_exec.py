"""The reference executor: runs any trace op by op with each primitive's NumPy implementation."""
import weakref

import numpy as np

from ..ir import Lit
from ..ops.core import GuardFailure

_PYTHON_NUMBERS = (float, int, bool, complex)
_weak_positions = weakref.WeakKeyDictionary()     # op -> its inputs that are Python numbers


def _python_number_inputs(op):
    """Positions of `op`'s variables that stand for Python numbers (weak scalars). NumPy must
    get them as Python numbers, as tracing did: a Python float leaves a float32 array float32
    (NEP 50), an np.float64 of the same value would widen it."""
    found = _weak_positions.get(op)
    if found is None:
        found = _weak_positions[op] = tuple(
            i for i, a in enumerate(op.inputs) if type(a) is not Lit and a.aval.weak
            and not a.aval.shape)
    return found


_weak_arrays = weakref.WeakKeyDictionary()        # op -> (its weak array inputs, their dtype)


def _weak_array_inputs(op):
    """Positions of an elementwise op's weak array inputs and the dtype they take: the op's
    output dtype (a float64 mask meeting a float32 gradient stays float32, as in the trace's
    types and numba's kernels; NumPy would widen it)."""
    found = _weak_arrays.get(op)
    if found is None:
        out = op.outputs[0].aval.dtype if op.outputs else None
        positions = tuple(i for i, a in enumerate(op.inputs) if type(a) is not Lit
                          and a.aval.weak and a.aval.shape and a.aval.dtype != out) \
            if getattr(op.prim, "elementwise", False) and out is not None and out.kind in "fc" \
            else ()
        found = _weak_arrays[op] = (positions, out)
    return found


def run_trace(trace, inputs):
    """Evaluate `trace` on `inputs`; raises GuardFailure (with the op) if a data guard fails."""
    env = dict(zip(trace.inputs, inputs))
    for op in trace.ops:
        args = [a.value if type(a) is Lit else env[a] for a in op.inputs]
        for i in _python_number_inputs(op):
            if type(args[i]) not in _PYTHON_NUMBERS:
                args[i] = args[i].item()
        weak_arrays, dtype = _weak_array_inputs(op)
        for i in weak_arrays:
            args[i] = args[i].astype(dtype, copy=False)
        try:
            result = op.prim.impl(*args, **op.params)
        except GuardFailure as failure:
            failure.op = op
            raise
        except Exception as error:
            _name_user_line(error, op)
            raise
        if op.prim.multiple_results:
            env.update(zip(op.outputs, result))
        elif op.outputs:
            env[op.outputs[0]] = result
    return [a.value if type(a) is Lit else env[a] for a in trace.outputs]


_runners = weakref.WeakKeyDictionary()            # trace -> its `silenced_runner`


def silenced_runner(trace):
    """`run(*inputs) -> outputs`: `run_trace(trace, inputs)` as one generated Python function,
    for a caller that runs it many times with NumPy's floating-point errors ignored (it enters
    `np.errstate(all="ignore")` itself: elementwise ops call their ufunc directly, skipping
    the per-op error state). A failed guard raises GuardFailure, any other error NumPy's, but
    neither names the op or the user's line: callers that report them use `run_trace`."""
    runner = _runners.get(trace)
    if runner is None:
        runner = _runners[trace] = _generate(trace)
    return runner


def _generate(trace):
    names = {v: f"v{i}" for i, v in enumerate(trace.inputs)}
    namespace = {"_number": _python_number}
    lines = [f"def run({', '.join(names[v] for v in trace.inputs)}):"]

    def operand(op, i, a):
        if type(a) is Lit:
            namespace[f"c{len(namespace)}"] = a.value
            return f"c{len(namespace) - 1}"
        text = names[a]
        if i in _python_number_inputs(op):
            text = f"_number({text})"
        positions, dtype = _weak_array_inputs(op)
        if i in positions:
            namespace[f"d{len(namespace)}"] = dtype
            text = f"{text}.astype(d{len(namespace) - 1}, copy=False)"
        return text

    for k, op in enumerate(trace.ops):
        fn = op.prim.ufunc if not op.params and getattr(op.prim, "elementwise", False) and \
            hasattr(op.prim, "ufunc") else op.prim.impl
        namespace[f"f{k}"], namespace[f"p{k}"] = fn, op.params
        args = ", ".join(operand(op, i, a) for i, a in enumerate(op.inputs))
        call = f"f{k}({args}, **p{k})" if op.params and fn is op.prim.impl else f"f{k}({args})"
        outs = [names.setdefault(v, f"v{len(names)}") for v in op.outputs]
        if op.prim.multiple_results:
            lines.append(f"    {', '.join(outs)}{',' if len(outs) == 1 else ''} = {call}"
                         if outs else f"    {call}")
        else:
            lines.append(f"    {outs[0]} = {call}" if outs else f"    {call}")
    results = [f"c_out{i}" if type(a) is Lit else names[a] for i, a in enumerate(trace.outputs)]
    for i, a in enumerate(trace.outputs):
        if type(a) is Lit:
            namespace[f"c_out{i}"] = a.value
    lines.append(f"    return [{', '.join(results)}]")
    exec("\n".join(lines), namespace)            # noqa: S102 — our own generated code
    return namespace["run"]


def iteration_runner(trace):
    """`run(inputs) -> outputs` for a loop body run once per iteration: the generated runner
    (`silenced_runner`) where NumPy's floating-point errors are silenced and the body prints
    nothing, else `run_trace`. An error the generated runner meets is met again by `run_trace`
    on the same inputs, which names the op and the user's line (a body without prints is pure:
    running it again changes nothing)."""
    from ..ops.core import fp_errors_silenced
    from ..ops.effects import prints
    if not fp_errors_silenced() or prints(trace):
        return lambda inputs: run_trace(trace, inputs)
    fast = silenced_runner(trace)

    def run(inputs):
        try:
            with np.errstate(all="ignore"):
                return fast(*inputs)
        except Exception:                   # noqa: BLE001 — raised again, with its op named
            return run_trace(trace, inputs)
    return run


def _python_number(value):
    return value if type(value) in _PYTHON_NUMBERS else value.item()


def _name_user_line(error, op):
    """NumPy's error raised by a compiled call (an index out of range, say) names the user's
    line that made the op, as the same error raised by plain Python would in its traceback."""
    if op.loc is not None and hasattr(error, "add_note"):
        note = f"raised by a compiled call at {op.loc}"
        if note not in getattr(error, "__notes__", ()):
            error.add_note(note)


class NumpyBackend:
    """Backend interface: `compile(trace)` returns a program, whose `run(inputs)` takes the list
    of input values and returns the list of outputs. (`run` is looked up on every call: a
    program may replace it, as the numba backend's does when its kernel is ready.)"""
    name = "numpy"

    def compile(self, trace):
        return Program(trace)


class Program:
    """`executor` names what serves the calls; `fallback_reason` says why not the backend's
    compiled code, when a compiling backend handed the trace to this executor."""
    executor = "numpy"

    def __init__(self, trace, fallback_reason=None):
        self.trace = trace
        self.fallback_reason = fallback_reason
        self.executor_calls = 0

    def run(self, inputs):
        self.executor_calls += 1
        return run_trace(self.trace, inputs)

    __call__ = run
