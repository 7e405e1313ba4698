"""The systems `tracejit.compare` measures, each able to run an unmodified NumPy function.

A peer's `prepare(fn, args, argnum, options)` returns a zero-argument callable computing the
gradient (or, for plain NumPy, the forward value); it raises `Unavailable` when the peer is not
installed, and any other exception when it cannot handle the function (the table shows why).
autograd, JAX and PyTorch see the function through `rebind`: a copy whose globals map NumPy to
the peer's NumPy-compatible module, so the user's code and module stay untouched.
"""
from __future__ import annotations

import types

import numpy as np

NAMES = ["numpy", "tracejit", "autograd", "jax", "torch"]


class Unavailable(Exception):
    """The peer is not installed."""


# ---- rebinding numpy in a copy of the function -------------------------------------------------
def _copy_function(fn, globals_):
    new = types.FunctionType(fn.__code__, globals_, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__ = fn.__qualname__
    return new


def _swap(value, modules):
    """The peer's counterpart of a NumPy module or function, or None if `value` is neither."""
    if isinstance(value, types.ModuleType):
        return modules.get(value.__name__)
    name = getattr(value, "__name__", None)
    if isinstance(name, str) and getattr(np, name, None) is value and not isinstance(value, type):
        return getattr(modules["numpy"], name, None)
    return None


def rebind(fn, modules):
    """A copy of `fn` whose global names for NumPy (`np`, `np.linalg`, `from numpy import sin`)
    refer to the peer's modules (`modules`: NumPy module name -> replacement). Python functions
    of the same module are copied along with it, so helpers it calls see the peer too."""
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"needs a Python function to rebind numpy, got {type(fn).__name__}")
    old = fn.__globals__
    new = dict(old)
    for name, value in old.items():
        swapped = _swap(value, modules)
        if swapped is not None:
            new[name] = swapped
        elif isinstance(value, types.FunctionType) and value.__globals__ is old:
            new[name] = _copy_function(value, new)
    return _copy_function(fn, new)


def _submodules(root, names=("linalg", "fft", "random")):
    mods = {"numpy": root}
    for n in names:
        if hasattr(root, n):
            mods[f"numpy.{n}"] = getattr(root, n)
    return mods


def to_numpy(value):
    """A peer's array as a NumPy array (torch tensors need detaching first)."""
    tensor = getattr(value, "tensor", value)              # torch._numpy.ndarray wraps a tensor
    if hasattr(tensor, "detach"):
        return tensor.detach().cpu().numpy()
    return np.asarray(value)


def _is_array(a):
    return isinstance(a, (np.ndarray, np.generic, float))


# ---- the peers ---------------------------------------------------------------------------------
def executed_ops(trace):
    """Primitive ops a trace runs: a rolled loop counts its body once per iteration."""
    total = 0
    for op in trace.ops:
        bodies = [v for v in op.params.values() if hasattr(v, "ops") and hasattr(v, "inputs")]
        total += 1 + sum(executed_ops(b) for b in bodies) * int(op.params.get("trip", 1))
    return total


class Peer:
    name = ""
    what = "gradient"

    def settle(self, call):
        """Called after the first call; returns seconds spent waiting for background work."""
        return 0.0

    def counts(self, call):
        """(forward ops, forward+adjoint ops) if this peer can tell, else None."""
        return None

    def note(self, call):
        return ""


class NumpyForward(Peer):
    name, what = "numpy", "forward"

    def prepare(self, fn, args, argnum, options):
        return lambda: fn(*args)


class Tracejit(Peer):
    def __init__(self, backend):
        self.backend = backend
        self.name = f"tracejit[{backend}]"

    def prepare(self, fn, args, argnum, options):
        from .api import jit_grad
        handle = jit_grad(fn, argnums=argnum, backend=self.backend)
        call = lambda: handle(*args)
        call.handle, call.fn, call.args = handle, fn, args
        return call

    def counts(self, call):
        entries = call.handle.entries()
        if not entries:
            return None
        from .api import make_trace
        entry = max(entries, key=lambda e: e.hits)
        forward = make_trace(call.fn)(*call.args)
        return executed_ops(forward), executed_ops(entry.joint)

    def settle(self, call):
        """Wait for a backend's background compile (numba tiering) so that the steady state is
        timed on the compiled code; returns the seconds waited."""
        import sys
        from time import perf_counter
        from .api import BACKENDS
        module = sys.modules.get(BACKENDS[self.backend].__module__)
        wait = getattr(module, "wait_for_builds", None)
        started = perf_counter()
        if wait is not None:
            wait()
        return perf_counter() - started

    def note(self, call):
        s = call.handle.stats()
        notes = []
        if s["misses"] > 1:
            notes.append(f"traced {s['misses']} times")
        if s["side_exits"]:
            notes.append(f"{s['side_exits']} side exits")
        return "; ".join(notes)


class Autograd(Peer):
    name = "autograd"

    def prepare(self, fn, args, argnum, options):
        try:
            import autograd
            import autograd.numpy as anp
        except ImportError:
            raise Unavailable("autograd is not installed (pip install autograd)") from None
        g = autograd.grad(rebind(fn, _submodules(anp)), argnum)
        return lambda: g(*args)


class Jax(Peer):
    name = "jax"

    def prepare(self, fn, args, argnum, options):
        try:
            import jax
            import jax.numpy as jnp
        except ImportError:
            raise Unavailable("jax is not installed (pip install jax jaxlib)") from None
        jax.config.update("jax_enable_x64", True)    # compare in float64, as NumPy computes
        static = tuple(i for i, a in enumerate(args) if not _is_array(a) and i != argnum)
        g = jax.jit(jax.grad(rebind(fn, _submodules(jnp, ("linalg", "fft"))), argnums=argnum),
                    static_argnums=static)
        return lambda: jax.block_until_ready(g(*args))


class Torch(Peer):
    """PyTorch eager through `torch._numpy` (the NumPy layer TorchDynamo uses): every array
    argument becomes a tensor-backed array, the one differentiated requires grad."""
    name = "torch"

    def prepare(self, fn, args, argnum, options):
        try:
            import torch
            import torch._numpy as tnp
        except ImportError:
            raise Unavailable("torch is not installed (pip install torch)") from None
        f = rebind(fn, _submodules(tnp, ("linalg", "fft")))

        def call():
            leaf = torch.as_tensor(np.asarray(args[argnum])).requires_grad_(True)
            targs = [tnp.ndarray(leaf) if i == argnum else
                     (tnp.asarray(a) if isinstance(a, np.ndarray) else a)
                     for i, a in enumerate(args)]
            out = f(*targs)
            (g,) = torch.autograd.grad(getattr(out, "tensor", out), [leaf])
            return g
        return call


def select(names=None, backends=None):
    from .api import BACKENDS
    # the numpy executor is the reference, so it comes first
    backs = backends or sorted(BACKENDS, key=lambda b: (b != "numpy", b))
    peers = [NumpyForward(), *(Tracejit(b) for b in backs), Autograd(), Jax(), Torch()]
    if not names:
        return peers
    unknown = [n for n in names if n not in NAMES and not n.startswith("tracejit[")]
    if unknown:
        raise ValueError(f"unknown peers {unknown}; choose from {NAMES}")
    return [p for p in peers if p.name in names or
            (p.name.startswith("tracejit[") and "tracejit" in names)]


def share_op_counts(rows):
    """Give every row the op count of tracejit's trace of the same computation."""
    counts = next((r.counts for r in rows if getattr(r, "counts", None)), None)
    if counts is None:
        return
    for r in rows:
        r.ops = counts[0] if r.what == "forward" else counts[1]
