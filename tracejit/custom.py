"""User-defined derivatives and checkpointing: `custom_vjp`, `custom_jvp`, `checkpoint`.

A `custom_vjp`/`custom_jvp` function runs natively (its body is not traced: it may call SciPy, a
C extension, anything); inside a trace it becomes one op whose derivative is the user's rule.
`checkpoint(f)` traces `f` as usual but keeps its ops together, so that derivatives recompute
them rather than keep every intermediate alive until the backward pass.
"""
from __future__ import annotations

import inspect

import numpy as np

from . import transformations as T
from .errors import TracejitTypeError, UnsupportedError
from .ir import aval_of
from .ops.core import Tracer
from .ops.custom import (CallSpec, custom_jvp_call, custom_vjp_call, fill, native,
                         record_native, split_leaves)
from .tree import flatten, unflatten
from .wrapper import FunctionWrapper


class _CustomDerivative(FunctionWrapper):
    prim = None

    def __init__(self, fn, nondiff_argnums=()):
        super().__init__(fn)
        self.nondiff_argnums = tuple(nondiff_argnums)

    def _check_rule(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self._check_rule()
        if kwargs:                            # the rules take positional arguments (as in JAX)
            bound = inspect.signature(self.fn).bind(*args, **kwargs)
            if bound.kwargs:
                raise UnsupportedError(f"{self.__name__}: keyword-only arguments of custom-"
                                    "derivative functions are not supported")
            args = bound.args
        dynamic, template, treedef, owner = split_leaves(tuple(args))
        if not any(isinstance(d, Tracer) for d in dynamic):
            with native():
                return self.fn(*args)
        concrete = [d.val if isinstance(d, Tracer) else d for d in dynamic]
        with native():
            out = self.fn(*fill(template, treedef, concrete))
        leaves, out_tree = flatten(out)
        for leaf in leaves:
            if not (isinstance(leaf, (np.ndarray, np.generic)) or type(leaf) is float):
                raise TracejitTypeError(f"{self.__name__} returned a {type(leaf).__name__}; a "
                                    "custom-derivative function must return arrays or floats")
        spec = CallSpec(template, treedef, out_tree, tuple(aval_of(leaf) for leaf in leaves),
                        owner, self.nondiff_argnums)
        params = dict(fn=self, spec=spec)
        return unflatten(out_tree, record_native(self.prim, dynamic, params, leaves))


class custom_vjp(_CustomDerivative):
    """A function with a user-given reverse-mode rule (JAX's convention):

        @tracejit.custom_vjp
        def f(x, y): ...
        def f_fwd(x, y): return f(x, y), residuals
        def f_bwd(residuals, g): return (grad_x, grad_y)    # one entry per argument
        f.defvjp(f_fwd, f_bwd)

    With `nondiff_argnums`, those arguments are not differentiated: `bwd` receives them first,
    `bwd(*nondiff_args, residuals, g)`, and returns gradients for the other arguments only.
    The body, `fwd` and `bwd` run natively. `fwd` runs again in the backward pass to produce the
    residuals (so they may be any Python objects, e.g. a factorization). Gradients of second
    order and forward mode through `f` are refused.
    """
    prim = custom_vjp_call
    fwd = bwd = None

    def defvjp(self, fwd, bwd):
        self.fwd, self.bwd = fwd, bwd
        return self

    def _check_rule(self):
        if self.bwd is None:
            raise TracejitTypeError(f"custom_vjp function {self.__name__} has no rule: call "
                                f"{self.__name__}.defvjp(fwd, bwd) first")


class custom_jvp(_CustomDerivative):
    """A function with a user-given forward-mode rule (JAX's convention):

        @tracejit.custom_jvp
        def f(x): ...
        @f.defjvp
        def f_jvp(primals, tangents): return f(*primals), tangent_out   # linear in tangents

    With `nondiff_argnums`, the rule is `rule(*nondiff_args, primals, tangents)` where primals
    and tangents leave those arguments out. The body and the rule run natively. Reverse mode through `f` applies the rule to one unit
    tangent per input element (it builds the Jacobian), so it suits small inputs.
    """
    prim = custom_jvp_call
    rule = None

    def defjvp(self, rule):
        self.rule = rule
        return rule

    def _check_rule(self):
        if self.rule is None:
            raise TracejitTypeError(f"custom_jvp function {self.__name__} has no rule: call "
                                f"{self.__name__}.defjvp(rule) first")


class checkpoint(FunctionWrapper):
    """`checkpoint(f)`: derivatives of `f`'s result recompute `f`'s intermediates in the
    backward pass instead of keeping them from the forward pass (memory for time)."""

    def __call__(self, *args, **kwargs):
        ctx = T.tracing_context()
        if ctx is None:
            return self.fn(*args, **kwargs)
        return T.checkpoint_apply(ctx, T.read_fn(ctx, self, self.fn), args, kwargs)


remat = checkpoint
