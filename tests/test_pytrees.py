"""Pytrees (issue 21): every container kind as an argument, an `argnums` target (the gradient
has the argument's type and structure), a result and auxiliary data; values against plain
Python, gradients against central finite differences, on both backends; the cache re-traces
when the structure (container type, fields, keys, key order, static field values) changes."""
import collections
import dataclasses
import typing

import numpy as np
import pytest

import tracejit
from tracejit import tree_util
from conftest import numerical_grad


# ---- the container kinds ----------------------------------------------------------------------
class Pair(typing.NamedTuple):
    w: np.ndarray
    b: np.ndarray


@dataclasses.dataclass
class Params:
    w: np.ndarray
    b: np.ndarray


@dataclasses.dataclass(frozen=True)
class FrozenParams:
    w: np.ndarray
    b: np.ndarray
    scale: float = dataclasses.field(default=2.0, metadata={"static": True})


@dataclasses.dataclass
class Checked:
    """__post_init__ refuses anything but arrays: rebuilding (with traced values, gradients)
    must not run it."""
    w: np.ndarray
    b: np.ndarray

    def __post_init__(self):
        if not isinstance(self.w, np.ndarray):
            raise TypeError("w must be an array")


class Registered:
    def __init__(self, w, b, label):
        self.w, self.b, self.label = w, b, label

    def __eq__(self, other):
        return type(other) is Registered and self.label == other.label


tree_util.register_pytree_node(Registered, lambda r: ((r.w, r.b), r.label),
                               lambda label, children: Registered(*children, label))


@tree_util.register_pytree_node_class
class ByClass:
    def __init__(self, w, b):
        self.w, self.b = w, b

    def tree_flatten(self):
        return (self.w, self.b), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)


class Declared:
    """Not a dataclass: registered with explicit data and meta fields."""
    def __init__(self, w, b, name):
        self.w, self.b, self.name = w, b, name


tree_util.register_dataclass(Declared, data_fields=["w", "b"], meta_fields=["name"])


@dataclasses.dataclass
class Nested:
    layer: Pair
    extra: dict


def _dataclass_kind(cls):
    return (lambda w, b: cls(w, b), lambda p: (p.w, p.b))


# name: (make(w, b) -> container, read(container) -> (w, b)); read runs inside traced code
KINDS = {
    "dict": (lambda w, b: {"w": w, "b": b}, lambda p: (p["w"], p["b"])),
    "list": (lambda w, b: [w, b], lambda p: (p[0], p[1])),
    "tuple": (lambda w, b: (w, b), lambda p: (p[0], p[1])),
    "NamedTuple": (Pair, lambda p: (p.w, p.b)),
    "OrderedDict": (lambda w, b: collections.OrderedDict(w=w, b=b), lambda p: (p["w"], p["b"])),
    "OrderedDict reversed": (lambda w, b: collections.OrderedDict(b=b, w=w),
                             lambda p: (p["w"], p["b"])),
    "defaultdict": (lambda w, b: collections.defaultdict(list, w=w, b=b),
                    lambda p: (p["w"], p["b"])),
    "dataclass": _dataclass_kind(Params),
    "frozen dataclass": _dataclass_kind(FrozenParams),
    "dataclass with __post_init__": _dataclass_kind(Checked),
    "register_pytree_node": (lambda w, b: Registered(w, b, "r"), lambda p: (p.w, p.b)),
    "register_pytree_node_class": _dataclass_kind(ByClass),
    "register_dataclass": (lambda w, b: Declared(w, b, "d"), lambda p: (p.w, p.b)),
    "nested": (lambda w, b: Nested(Pair(w, b), {"none": None}),
               lambda p: (p.layer.w, p.layer.b)),
}


def _loss_of(read):
    def loss(params, x):
        w, b = read(params)
        return np.sum(np.sin(w) * x + b ** 2)
    return loss


def _w_b():
    return np.array([0.3, -1.2, 2.0]), np.array([0.5, 1.5, -0.7])


X = np.array([1.0, 2.0, -0.5])


def _same_structure(a, b):
    assert type(a) is type(b)
    assert tree_util.tree_structure(a) == tree_util.tree_structure(b)
    if type(a) is collections.OrderedDict:
        assert list(a) == list(b)              # its order is part of its structure
    if isinstance(a, collections.defaultdict):
        assert a.default_factory is b.default_factory


# ---- arguments, gradients, results ------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_argument_value(kind, backend):
    make, read = KINDS[kind]
    loss = _loss_of(read)
    f = tracejit.jit(loss, backend=backend)
    for scale in (1.0, 2.0):
        w, b = _w_b()
        params = make(w * scale, b)
        assert np.isclose(f(params, X), loss(params, X), rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_has_the_arguments_type(kind, backend):
    make, read = KINDS[kind]
    loss = _loss_of(read)
    w, b = _w_b()
    params = make(w, b)
    grad = tracejit.grad(loss, backend=backend)(params, X)
    _same_structure(grad, params)
    gw, gb = read(grad)
    np.testing.assert_allclose(gw, numerical_grad(lambda v: loss(make(v, b), X), w), rtol=1e-6)
    np.testing.assert_allclose(gb, numerical_grad(lambda v: loss(make(w, v), X), b), rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_result_has_the_containers_type(kind, backend):
    make, read = KINDS[kind]

    def step(params, x):
        w, b = read(params)
        return make(w - 0.1 * x, b * 2.0)
    w, b = _w_b()
    params = make(w, b)
    out = tracejit.jit(step, backend=backend)(params, X)
    expected = step(params, X)
    _same_structure(out, expected)
    for got, want in zip(read(out), read(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("kind", ["dataclass", "NamedTuple", "OrderedDict", "nested"])
def test_value_and_grad_with_aux(kind, backend):
    make, read = KINDS[kind]
    loss = _loss_of(read)

    def with_aux(params, x):
        w, b = read(params)
        return loss(params, x), make(w * 2.0, b + 1.0)
    w, b = _w_b()
    params = make(w, b)
    (value, aux), grad = tracejit.value_and_grad(with_aux, has_aux=True, backend=backend)(params, X)
    assert np.isclose(value, loss(params, X))
    _same_structure(aux, params)
    np.testing.assert_allclose(read(aux)[0], w * 2.0)
    _same_structure(grad, params)
    np.testing.assert_allclose(read(grad)[1], 2.0 * b, rtol=1e-12)


def test_argnums_tuple_of_containers(backend):
    def loss(p, q, x):
        return np.sum(p.w * q["s"] * x) + np.sum(p.b)
    w, b = _w_b()
    p, q = Params(w, b), collections.OrderedDict(s=np.array(2.0))
    gp, gq = tracejit.grad(loss, argnums=(0, 1), backend=backend)(p, q, X)
    assert type(gp) is Params and type(gq) is collections.OrderedDict
    np.testing.assert_allclose(gp.w, 2.0 * X)
    np.testing.assert_allclose(gq["s"], np.sum(w * X))


def test_jacobians_and_hessian_of_a_dataclass(backend):
    def f(p, x):
        return np.tanh(p.w * x) + p.b
    w, b = _w_b()
    p = Params(w, b)
    for jac in (tracejit.jacfwd, tracejit.jacrev):
        j = jac(f, backend=backend)(p, X)
        assert type(j) is Params
        np.testing.assert_allclose(j.w, np.diag((1 - np.tanh(w * X) ** 2) * X), rtol=1e-12)
        np.testing.assert_allclose(j.b, np.eye(3))
    h = tracejit.hessian(lambda p, x: np.sum(p.w ** 3 * x), backend=backend)(p, X)
    assert type(h) is Params and type(h.w) is Params
    np.testing.assert_allclose(h.w.w, np.diag(6 * w * X), rtol=1e-12)


def test_jvp_and_vjp_of_namedtuples(backend):
    def f(p):
        return Pair(p.w * p.b, np.sin(p.w))
    w, b = _w_b()
    p, t = Pair(w, b), Pair(np.ones(3), np.zeros(3))
    out, tangent = tracejit.jvp(f, (p,), (t,), backend=backend)
    assert type(out) is Pair and type(tangent) is Pair
    np.testing.assert_allclose(tangent.w, b)
    np.testing.assert_allclose(tangent.b, np.cos(w))
    out, pullback = tracejit.vjp(f, p, backend=backend)
    (ct,) = pullback(Pair(np.ones(3), np.zeros(3)))
    assert type(ct) is Pair
    np.testing.assert_allclose(ct.w, b)
    np.testing.assert_allclose(ct.b, w)


def test_none_is_an_empty_subtree(backend):
    def f(x, options, p):
        scale = 2.0 if options is None else options["scale"]
        return x * scale + p["w"]
    g = tracejit.jit(f, backend=backend)
    p = {"w": np.ones(3), "unused": None}
    np.testing.assert_allclose(g(X, None, p), f(X, None, p))
    np.testing.assert_allclose(g(X, {"scale": 3.0}, p), f(X, {"scale": 3.0}, p))
    grad = tracejit.grad(lambda p, x: np.sum(p["w"] * x), backend=backend)(p, X)
    assert grad == {"w": grad["w"], "unused": None}


# ---- the cache --------------------------------------------------------------------------------
def _misses(compiled):
    return compiled.stats()["misses"]


def test_same_structure_hits(backend):
    f = tracejit.jit(lambda p, x: p.w * x + p.b, backend=backend)
    w, b = _w_b()
    for k in range(3):
        np.testing.assert_allclose(f(Params(w + k, b), X), (w + k) * X + b)
    assert _misses(f) == 1


def _first_value(p):
    return list(p.values())[0] * 2.0


@pytest.mark.parametrize("first, second", [
    (collections.OrderedDict(a=1.0, b=5.0), collections.OrderedDict(b=5.0, a=1.0)),
    ({"a": 1.0, "b": 5.0}, collections.OrderedDict(b=5.0, a=1.0)),
    ({"a": 1.0, "b": 5.0}, {"a": 1.0, "c": 7.0}),
    ({"a": 1.0, "b": 5.0}, {"a": 1.0}),
    (Pair(1.0, 5.0), (1.0, 5.0)),
    (Params(1.0, 5.0), Pair(1.0, 5.0)),
    (collections.defaultdict(list, a=1.0), collections.defaultdict(dict, a=1.0)),
], ids=["OrderedDict order", "dict vs OrderedDict", "key set", "fewer keys",
        "NamedTuple vs tuple", "dataclass vs NamedTuple", "default factory"])
def test_a_different_structure_retraces(first, second, backend):
    def read(p):
        return _first_value(p) if isinstance(p, dict) else p[0] * 3.0 if isinstance(p, tuple) \
            else p.w * 4.0
    f = tracejit.jit(read, backend=backend)
    assert f(first) == read(first)
    assert f(second) == read(second)
    assert type(f(second)) is type(read(second))
    assert _misses(f) == 2


def test_a_static_field_value_retraces(backend):
    f = tracejit.jit(lambda p, x: p.w * x * p.scale, backend=backend)
    w, b = _w_b()
    np.testing.assert_allclose(f(FrozenParams(w, b, 2.0), X), w * X * 2.0)
    np.testing.assert_allclose(f(FrozenParams(w, b, 3.0), X), w * X * 3.0)
    np.testing.assert_allclose(f(FrozenParams(w, b, 2.0), X), w * X * 2.0)
    assert _misses(f) == 2


def test_a_registered_aux_value_retraces(backend):
    f = tracejit.jit(lambda r: r.w * (2.0 if r.label == "double" else 1.0), backend=backend)
    w, b = _w_b()
    np.testing.assert_allclose(f(Registered(w, b, "double")), 2.0 * w)
    np.testing.assert_allclose(f(Registered(w, b, "single")), w)
    assert _misses(f) == 2


def test_keyword_container_arguments(backend):
    f = tracejit.jit(lambda x, *, p: p.w * x, backend=backend)
    w, b = _w_b()
    np.testing.assert_allclose(f(X, p=Params(w, b)), w * X)
    np.testing.assert_allclose(f(X, p=Pair(w, b)), w * X)
    assert _misses(f) == 2


# ---- refusals ---------------------------------------------------------------------------------
@dataclasses.dataclass
class WithStep:
    w: np.ndarray
    step: int
    name: str = "layer"


def test_an_int_leaf_in_a_differentiated_tree_is_named():
    def loss(params, x):
        return np.sum(params.w * x) * params.step
    with pytest.raises(tracejit.TracejitError, match=r"params\.step .*it is int.*static"):
        tracejit.grad(loss)(WithStep(np.ones(3), 2), X)


def test_a_string_leaf_gets_no_gradient():
    def loss(params, x):
        return np.sum(params.w * x)
    grad = tracejit.grad(loss)(WithStep(np.ones(3), 2.0, "layer"), X)
    assert type(grad) is WithStep and grad.name is None
    np.testing.assert_allclose(grad.w, X)


def test_changing_a_dataclass_argument_is_refused():
    def f(p, x):
        p.w = p.w * x
        return p.w

    with pytest.raises(tracejit.UnsupportedError, match="attribute 'w' of a Params"):
        tracejit.jit(f)(Params(np.ones(3), np.ones(3)), X)


def test_changing_a_list_inside_a_dataclass_argument_is_refused():
    def f(p, x):
        p.extra["seen"] = x
        return p.layer.w * x

    with pytest.raises(tracejit.UnsupportedError, match="outside the traced function"):
        tracejit.jit(f)(Nested(Pair(np.ones(3), np.ones(3)), {}), X)


# ---- tree_util --------------------------------------------------------------------------------
def test_tree_util_functions():
    tree = {"b": Params(1.0, [2.0, None]), "a": Pair(3.0, (4.0,))}
    leaves, treedef = tree_util.tree_flatten(tree)
    assert leaves == [3.0, 4.0, 1.0, 2.0]           # dict keys sorted, None an empty subtree
    assert tree_util.tree_leaves(tree) == leaves
    assert tree_util.tree_structure(tree) == treedef
    assert tree_util.tree_unflatten(treedef, leaves) == tree
    doubled = tree_util.tree_map(lambda v: v * 2, tree)
    assert doubled == {"b": Params(2.0, [4.0, None]), "a": Pair(6.0, (8.0,))}
    assert tree_util.tree_map(lambda u, v: u + v, tree, doubled)["a"] == Pair(9.0, (12.0,))
    assert tree_util.tree_leaves(tree, is_leaf=lambda v: isinstance(v, Pair))[0] == tree["a"]


def test_registering_a_dataclass_seen_before_replaces_its_auto_registration():
    @dataclasses.dataclass
    class Late:
        w: np.ndarray
        tag: str

    assert tree_util.tree_leaves(Late(1.0, "x")) == [1.0, "x"]
    tree_util.register_dataclass(Late, data_fields=["w"], meta_fields=["tag"])
    assert tree_util.tree_leaves(Late(1.0, "x")) == [1.0]
    assert tree_util.tree_structure(Late(1.0, "x")) != tree_util.tree_structure(Late(1.0, "y"))


def test_tree_map_inside_a_traced_function_runs_its_callback_under_the_tracer(backend):
    """The callback branches on data and calls float(): traced, guarded, re-traced when the
    branch flips (run natively, float() of a traced value would be refused)."""
    def step(params, x):
        grads = tracejit.grad(_loss_of(lambda p: (p.w, p.b)))(params, x)
        return tree_util.tree_map(
            lambda p, g: p - 0.1 * g if float(np.sum(g)) > 0.0 else p + g, params, grads)
    compiled = tracejit.jit(step, backend=backend)
    w, b = _w_b()
    for x in (X, -X, 3.0 * X):
        got, want = compiled(Params(w, b), x), step(Params(w, b), x)
        assert type(got) is Params
        np.testing.assert_allclose(got.w, want.w, rtol=1e-12)
        np.testing.assert_allclose(got.b, want.b, rtol=1e-12)


def test_the_retrace_reason_names_the_changed_container():
    f = tracejit.jit(lambda p, x: p.w * x * p.scale)
    w, b = _w_b()
    f(FrozenParams(w, b, 2.0), X)
    f(FrozenParams(w, b, 3.0), X)
    reason = f.stats()["trace_reasons"][-1]
    assert "structure changed at p:" in reason and "2.0" in reason and "3.0" in reason


@dataclasses.dataclass
class Derived:
    """__post_init__ sets attributes that are not fields: the rebuilt object carries them."""
    w: np.ndarray

    def __post_init__(self):
        self.n = len(self.w)
        self.w_sum = np.sum(self.w)


def test_attributes_set_by_post_init_are_carried(backend):
    def f(p, x):
        return p.w * x * p.n + p.w_sum
    compiled = tracejit.jit(f, backend=backend)
    for w in (np.ones(3), np.arange(3.0), np.ones(4)):
        p = Derived(w)
        np.testing.assert_allclose(compiled(p, X[0]), f(p, X[0]))
        p.n = 7                                      # a static extra changed: re-traces
        np.testing.assert_allclose(compiled(p, X[0]), f(p, X[0]))
    grad = tracejit.grad(lambda p: np.sum(p.w * p.n), backend=backend)(Derived(np.ones(3)))
    assert type(grad) is Derived and grad.n == 3
    np.testing.assert_allclose(grad.w, 3.0)


def test_custom_vjp_and_checkpoint_with_a_dataclass(backend):
    @tracejit.custom_vjp
    def inner(p, x):
        return np.sum(p.w * x + p.b)

    def inner_fwd(p, x):
        return inner(p, x), (p, x)

    def inner_bwd(residuals, g):
        p, x = residuals
        return Params(g * x, g * np.ones_like(p.b)), g * p.w
    inner.defvjp(inner_fwd, inner_bwd)
    w, b = _w_b()
    grad = tracejit.grad(lambda p, x: 2.0 * inner(p, x), backend=backend)(Params(w, b), X)
    assert type(grad) is Params
    np.testing.assert_allclose(grad.w, 2.0 * X)
    np.testing.assert_allclose(grad.b, 2.0)
    loss = _loss_of(lambda p: (p.w, p.b))
    grad = tracejit.grad(lambda p, x: tracejit.checkpoint(loss)(p, x), backend=backend)(
        Params(w, b), X)
    np.testing.assert_allclose(grad.w, np.cos(w) * X, rtol=1e-12)


@dataclasses.dataclass(frozen=True, slots=True)
class Slotted:
    w: np.ndarray
    b: np.ndarray


@pytest.mark.parametrize("cls", [Params, FrozenParams, Slotted, Derived])
def test_dataclass_results_built_on_the_hot_path(cls, backend):
    make = (lambda w, b: cls(w)) if cls is Derived else cls
    f = tracejit.jit(lambda p, x: (p, p.w * x), backend=backend)
    w, b = _w_b()
    for _ in range(3):                              # the first call traces, the next are hot
        p = make(w, b)
        out, y = f(p, X)
        assert type(out) is cls and set(vars_of(out)) == set(vars_of(p))
        for name, value in vars_of(p).items():
            np.testing.assert_array_equal(getattr(out, name), value)
        np.testing.assert_allclose(y, w * X)


def vars_of(obj):
    return {k: getattr(obj, k) for k in dir(obj) if not k.startswith("__")
            and not callable(getattr(obj, k))}


def test_key_paths_as_jax_gives_them(backend):
    """tree_flatten_with_path / tree_leaves_with_path / tree_map_with_path / keystr, outside a
    trace and inside one (weight decay on every `.w`, none on biases)."""
    params = {"layers": [Params(np.ones(2), np.array(0.5)), Params(np.zeros(2), np.array(1.0))],
              "scale": 2.0}
    pairs, treedef = tree_util.tree_flatten_with_path(params)
    assert [tree_util.keystr(p) for p, _ in pairs] == [
        "['layers'][0].w", "['layers'][0].b", "['layers'][1].w", "['layers'][1].b", "['scale']"]
    rebuilt = tree_util.tree_unflatten(treedef, [leaf for _, leaf in pairs])
    assert rebuilt["scale"] == 2.0 and rebuilt["layers"][1].w is params["layers"][1].w
    assert [p for p, _ in tree_util.tree_leaves_with_path(params)] == [p for p, _ in pairs]

    def penalty(params):
        terms = tree_util.tree_map_with_path(
            lambda path, v: np.sum(v * v) if tree_util.keystr(path).endswith(".w") else 0.0,
            params)
        return sum(tree_util.tree_leaves(terms))
    grads = tracejit.grad(penalty, backend=backend)(params)
    np.testing.assert_array_equal(grads["layers"][0].w, 2 * params["layers"][0].w)
    assert grads["layers"][0].b == 0.0 and grads["scale"] == 0.0
