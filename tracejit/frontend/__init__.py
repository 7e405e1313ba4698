"""The bytecode tracer: runs a function's bytecode on concrete values and records a trace."""
from . import handlers  # noqa: F401  (fills the opcode table)
from .trace import TraceResult, python_entry, trace_function
