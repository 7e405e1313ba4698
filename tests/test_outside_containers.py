"""Lists, dicts, tuples and sets that live outside the traced function (globals, attributes,
closure cells) and change between calls.

Code the tracer does not interpret — NumPy functions, builtins, `operator`, text, the
interpreter's own operators on containers, `f(*xs)` — reads them through their sources
(`TraceContext.contents`): a later call sees the container as it is then, or re-traces. Before
this rule each consumer below returned the first call's value after the container changed.
"""
import copy
import heapq
import operator

import numpy as np
import pytest

import tracejit

G = [1.0, 2.0, 3.0]
D = {"a": 1.0, "b": 2.0}
S = {1.0, 2.0}
A = np.array([1.0, 2.0])
NESTED = [[1.0, 2.0], [3.0, 4.0]]


class Holder:
    pass


H = Holder()


def _reset():
    G[:] = [1.0, 2.0, 3.0]
    D.clear()
    D.update(a=1.0, b=2.0)
    S.clear()
    S.update({1.0, 2.0})
    A[:] = [1.0, 2.0]
    NESTED[:] = [[1.0, 2.0], [3.0, 4.0]]
    H.w = [1.0, 2.0]
    H.arrays = [A, A * 2.0]


def _change():
    G[:] = [5.0, 2.5, 3.0, 4.0]
    D["a"] = 7.0
    D["c"] = 1.0
    S.add(3.0)
    A[0] = 9.0
    NESTED[1][0] = -3.0
    H.w[0] = 4.0
    H.w.append(1.0)
    H.arrays.append(A)


CONSUMERS = {
    "len": lambda x: x * len(G),
    "itemgetter": lambda x: x * operator.itemgetter(0)(G),
    "operator.getitem": lambda x: x * operator.getitem(G, 0),
    "list.copy": lambda x: x * G.copy()[0],
    "list.count": lambda x: x * G.count(5.0),
    "copy.copy": lambda x: x * copy.copy(G)[0],
    "str": lambda x: x * float(str(G)[1:4]),
    "repr length": lambda x: x * len(repr(G)),
    "f-string": lambda x: x * float(f"{G}"[1:4]),
    "percent": lambda x: x * len("%s" % (G,)),
    "in": lambda x: x * (2.5 in G),
    "==": lambda x: x * (G == [1.0, 2.0, 3.0]),
    "+": lambda x: x * (G + [1.0])[0],
    "*": lambda x: x * len(G * 2),
    "max(*G)": lambda x: x * max(*G),
    "np.array": lambda x: x * np.array(G)[0],
    "np.asarray": lambda x: x * np.asarray(G)[0],
    "np.sum": lambda x: x * np.sum(G),
    "np.array nested": lambda x: x * np.array(NESTED)[1, 0],
    "[*G]": lambda x: x * [*G][0],
    "dict(**D)": lambda x: x * dict(**D)["a"],
    "{**D}": lambda x: x * len({**D}),
    "key in D": lambda x: x * ("c" in D),
    "len(D)": lambda x: x * len(D),
    "D.values order": lambda x: x * list(D.values())[0],
    "for k in D": lambda x: x * sum(D[k] for k in D),
    "str(D)": lambda x: x * len(str(D)),
    "set in": lambda x: x * (3.0 in S),
    "len(S)": lambda x: x * len(S),
    "attribute list": lambda x: x * np.array(H.w)[0],
    "attribute len": lambda x: x * len(H.w),
    "vars": lambda x: x * vars(H)["w"][0],
    "arrays in a list": lambda x: x * np.stack(H.arrays)[:, 0].sum(),
    "sorted": lambda x: x * sorted(G)[-1],
}


@pytest.mark.parametrize("name", list(CONSUMERS))
def test_outside_container_read_natively_follows_changes(name, backend):
    fn = CONSUMERS[name]
    x = np.array([1.0, 2.0])
    _reset()
    compiled = tracejit.jit(fn, backend=backend)
    np.testing.assert_array_equal(compiled(x), fn(x))
    _change()
    try:
        np.testing.assert_array_equal(compiled(x), fn(x))
        _reset()
        np.testing.assert_array_equal(compiled(x), fn(x))     # and back: the first trace again
    finally:
        _reset()


def test_dict_insertion_order_is_guarded(backend):
    """Same keys in another order: iteration order (not only the key set) decides the result."""
    table = {"a": 1.0, "b": 2.0}

    def first_value(x):
        return x * list(table.values())[0] + x * next(iter(table.items()))[1]
    compiled = tracejit.jit(first_value, backend=backend)
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(compiled(x), first_value(x))
    table.clear()
    table.update(b=2.0, a=1.0)
    np.testing.assert_array_equal(compiled(x), first_value(x))


def _heap_push(x):
    heapq.heappush(G, 0.5)
    return x * G[0]


def _list_append_descriptor(x):
    list.append(G, 1.0)
    return x * len(G)


def _inplace_add_alias(x):
    alias = G
    alias += [2.0]
    return x * len(G)


def _inplace_or_dict(x):
    alias = D
    alias |= {"z": 1.0}
    return x * len(D)


@pytest.mark.parametrize("fn", [_heap_push, _list_append_descriptor, _inplace_add_alias,
                                _inplace_or_dict])
def test_native_change_of_an_outside_container_is_refused(fn):
    """Plain Python changes the global on every call; a compiled call could not: refused with
    the user's line, and the global is left as it was."""
    _reset()
    before = (list(G), dict(D))
    with pytest.raises(tracejit.UnsupportedError, match="exists outside the traced function") \
            as info:
        tracejit.jit(fn)(np.array([1.0]))
    assert __file__ in str(info.value)
    assert (G, D) == before


def test_native_change_of_a_local_list_holding_an_outside_list(backend):
    """The local list is handed to the native itself (its items unchanged by reading), so the
    change is kept; the outside list in it is untouched, as in plain Python."""
    def push(x):
        heap = [G]
        heapq.heappush(heap, [0.0])
        return x * len(heap) + x * heap[0][0]
    _reset()
    compiled = tracejit.jit(push, backend=backend)
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(compiled(x), push(x))
    assert G == [1.0, 2.0, 3.0]


def test_gradient_through_arrays_read_from_an_outside_list(backend):
    """Arrays in an outside list reach NumPy as trace inputs (re-read on every call), not as
    constants of the first call."""
    weights = [np.array([1.0, 2.0]), np.array([0.5, -1.0])]

    def loss(x):
        return np.sum(np.stack(weights) @ x) ** 2
    grad = tracejit.grad(loss, backend=backend)
    x = np.array([0.3, -0.7])
    for _ in range(2):
        expected = 2 * np.sum(np.stack(weights) @ x) * np.stack(weights).sum(axis=0)
        np.testing.assert_allclose(grad(x), expected, rtol=1e-12)
        weights[0][0] = 3.0                      # in place: the same trace, new values


def test_methods_of_outside_objects_do_not_retrace():
    """`G.count` and `box.total` are new objects on every access: guarded by their object and
    function, not their identity (which failed on every call and re-traced every time)."""
    class Box:
        def __init__(self):
            self.items = [1.0, 2.0]

        def total(self):
            return sum(self.items)
    box = Box()

    def f(x):
        return x * G.count(2.0) + x * box.total() + x * len(G.copy())
    _reset()
    compiled = tracejit.jit(f)
    x = np.array([1.0, 2.0])
    for _ in range(5):
        np.testing.assert_array_equal(compiled(x), f(x))
    assert compiled.stats()["misses"] == 1 and compiled.stats()["retraces"] == 0
    box.items.append(3.0)                       # and a change still re-traces
    np.testing.assert_array_equal(compiled(x), f(x))


def test_module_imported_inside_the_function_is_outside_state(backend, monkeypatch):
    """`import config` inside the function: the module's attributes are read through sources
    like a global's (they were read once, at trace time)."""
    import sys
    import types
    config = types.ModuleType("tracejit_test_config")
    config.scale, config.weights = 2.0, [1.0]
    monkeypatch.setitem(sys.modules, "tracejit_test_config", config)

    def f(x):
        import tracejit_test_config
        from tracejit_test_config import weights
        return x * tracejit_test_config.scale + x * sum(weights)
    compiled = tracejit.jit(f, backend=backend)
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(compiled(x), f(x))
    config.scale = 4.0
    config.weights.append(3.0)
    np.testing.assert_array_equal(compiled(x), f(x))


def test_an_int_turned_float_in_an_outside_list_retraces():
    """A container of numbers is compared whole, types included: 2 and 2.0 are equal, but
    `str(G)` and `type(G[1])` are not the same for them."""
    table = [1.0, 2, 3.0]

    def f(x):
        return x * len(str(table)) + x * float(type(table[1]) is int)
    compiled = tracejit.jit(f)
    x = np.array([1.0])
    np.testing.assert_array_equal(compiled(x), f(x))
    table[1] = 2.0
    np.testing.assert_array_equal(compiled(x), f(x))
