"""The reference executor: runs any trace op by op with each primitive's NumPy implementation."""
from ..ir import Lit
from ..ops.core import GuardFailure


def run_trace(trace, inputs):
    """Evaluate `trace` on `inputs`; raises GuardFailure (with the op) if a data guard fails."""
    env = dict(zip(trace.inputs, inputs))
    for op in trace.ops:
        args = [a.value if type(a) is Lit else env[a] for a in op.inputs]
        try:
            result = op.prim.impl(*args, **op.params)
        except GuardFailure as failure:
            failure.op = op
            raise
        if op.prim.multiple_results:
            env.update(zip(op.outputs, result))
        elif op.outputs:
            env[op.outputs[0]] = result
    return [a.value if type(a) is Lit else env[a] for a in trace.outputs]


class NumpyBackend:
    """Backend interface: `compile(trace)` returns a callable taking the list of input values."""
    name = "numpy"

    def compile(self, trace):
        return lambda inputs: run_trace(trace, inputs)
