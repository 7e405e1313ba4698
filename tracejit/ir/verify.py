"""Structural checks run after every pass: SSA form, and each op's avals match its shape rule."""
from .core import Lit, Var


class VerificationError(AssertionError):
    pass


def verify(trace):
    """Raise VerificationError if `trace` is not well-formed SSA with consistent avals."""
    defined = set()
    for v in trace.inputs:
        _define(v, defined, "input")
    for i, op in enumerate(trace.ops):
        where = f"op {i} ({op.prim.name})"
        for a in op.inputs:
            if isinstance(a, Var) and a not in defined:
                raise VerificationError(f"{where} uses {a} before it is defined")
            if not isinstance(a, (Var, Lit)):
                raise VerificationError(f"{where} has a non-atom input {a!r}")
        expected = op.prim.abstract_eval(*[a.aval for a in op.inputs], **op.params)
        got = [v.aval for v in op.outputs]
        if list(expected) != got:
            raise VerificationError(f"{where}: outputs {got} but the shape rule gives {list(expected)}")
        for v in op.outputs:
            _define(v, defined, where)
    for a in trace.outputs:
        if isinstance(a, Var) and a not in defined:
            raise VerificationError(f"trace output {a} is never defined")
    return trace


def _define(v, defined, where):
    if v in defined:
        raise VerificationError(f"{v} defined twice (at {where})")
    defined.add(v)
