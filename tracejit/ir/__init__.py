"""Trace IR: `Var`, `Lit`, `Op`, `Trace`, the builder that records ops, printing and verification."""
from .core import Atom, Aval, Lit, Op, SourceLoc, Trace, Var, aval_of
from .printer import format_trace
from .verify import VerificationError, verify
