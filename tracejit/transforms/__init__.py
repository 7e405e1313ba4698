"""Trace-to-trace transformations: reverse mode, forward mode, dead-code elimination, inlining."""
from .dce import dce
from .inline import inline_calls
from .jvp import emit_jvp, jvp_trace
from .vjp import Env, emit_vjp, vjp_trace
