"""Trace-to-trace transformations: reverse mode, forward mode, dead-code and common-subexpression
elimination (loop-aware: `prune_loops`), inlining of call-like ops."""
from .cse import cse
from .dce import dce
from .inline import inline_calls
from .jvp import emit_jvp, jvp_trace
from .prune import prune_loops
from .vjp import Env, emit_vjp, vjp_trace

__all__ = ["cse", "dce", "inline_calls", "emit_jvp", "jvp_trace", "Env", "emit_vjp", "vjp_trace",
           "prune_loops"]
