"""Trace-to-trace transformations: reverse mode, dead-code elimination."""
from .dce import dce
from .vjp import vjp_trace
