"""Lookups that fail, and mixin methods, on state that lives outside the traced function.

`try: d[k] except KeyError`, `getattr(obj, "x", default)`, `hasattr`, `os.environ.get`: the
answer "absent" is as much a read of outside state as a value is, and must be guarded, or a
call after the key or attribute appears returns the first call's answer. Likewise the Python
methods a user class inherits from `collections.abc` (`Mapping.get`, `Sequence.__contains__`,
`Mapping.values()`'s view) and the unpacking of user objects (`[*seq]`, `f(*seq)`, `{**m}`,
`dict(m)`) read the user's `__getitem__`/`__iter__`, which must run under the tracer.

Each case is called, the outside state changed, and called again: the compiled result must equal
plain Python's every time, on both backends. Found in session 18 (every case below but the
`in` tests returned the first call's answer).
"""
import collections.abc
import math
import os
import types

import numpy as np
import pytest

import tracejit


class UserMapping(collections.abc.Mapping):
    def __init__(self):
        self._data = {}

    def __getitem__(self, key):
        return self._data[key]

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        return iter(self._data)


class UserSequence(collections.abc.Sequence):
    def __init__(self):
        self._items = [1.0]

    def __getitem__(self, i):
        return self._items[i]

    def __len__(self):
        return len(self._items)


class Plain:
    pass


def _scaled(x, s):
    return np.sum(x) * s


def _cases():
    """name -> factory returning (fn, change): fresh outside state for every test."""
    def dict_key_error():
        config = {}

        def fn(x):
            try:
                return _scaled(x, config["scale"])
            except KeyError:
                return _scaled(x, 1.0)
        return fn, lambda: config.update(scale=3.0)

    def dict_key_removed():
        config = {"scale": 3.0}

        def fn(x):
            try:
                return _scaled(x, config["scale"])
            except KeyError:
                return _scaled(x, 1.0)
        return fn, lambda: config.pop("scale")

    def list_index_error():
        values = [1.0]

        def fn(x):
            try:
                return _scaled(x, values[1])
            except IndexError:
                return _scaled(x, -1.0)
        return fn, lambda: values.append(4.0)

    def object_dict_key_error():
        holder = Plain()
        holder.table = {}

        def fn(x):
            try:
                return _scaled(x, holder.table[("a", 1)])
            except KeyError:
                return _scaled(x, 1.0)
        return fn, lambda: holder.table.update({("a", 1): 5.0})

    def getattr_default():
        obj = Plain()
        return (lambda x: _scaled(x, getattr(obj, "scale", 1.0)),
                lambda: setattr(obj, "scale", 4.0))

    def hasattr_false():
        obj = Plain()
        return (lambda x: _scaled(x, 2.0 if hasattr(obj, "scale") else 1.0),
                lambda: setattr(obj, "scale", 4.0))

    def attribute_error_caught():
        obj = types.SimpleNamespace()

        def fn(x):
            try:
                return _scaled(x, obj.scale)
            except AttributeError:
                return _scaled(x, 1.0)
        return fn, lambda: setattr(obj, "scale", 6.0)

    def attribute_deleted():
        obj = types.SimpleNamespace(scale=6.0)
        return (lambda x: _scaled(x, getattr(obj, "scale", 1.0)), lambda: delattr(obj, "scale"))

    def module_getattr_default():
        module = types.ModuleType("settings")
        return (lambda x: _scaled(x, getattr(module, "SCALE", 1.0)),
                lambda: setattr(module, "SCALE", 7.0))

    def environ_get():
        name = "TRACEJIT_TEST_LOOKUP_A"
        os.environ.pop(name, None)
        return (lambda x: _scaled(x, 2.0 if os.environ.get(name) else 1.0),
                lambda: os.environ.__setitem__(name, "1"))

    def getenv():
        name = "TRACEJIT_TEST_LOOKUP_B"
        os.environ.pop(name, None)
        return (lambda x: _scaled(x, float(os.getenv(name, "1.5"))),
                lambda: os.environ.__setitem__(name, "2.5"))

    def environ_subscript():
        name = "TRACEJIT_TEST_LOOKUP_C"
        os.environ[name] = "3"
        return (lambda x: _scaled(x, float(os.environ[name])),
                lambda: os.environ.__setitem__(name, "4"))

    def user_mapping_get():
        table = UserMapping()
        return (lambda x: _scaled(x, table.get("a", 1.0)),
                lambda: table._data.update(a=3.0))

    def user_mapping_values():
        table = UserMapping()
        return (lambda x: _scaled(x, sum(v for v in table.values()) + len(table)),
                lambda: table._data.update(a=3.0))

    def user_mapping_dict():
        table = UserMapping()
        return (lambda x: _scaled(x, dict(table).get("a", 1.0) + {**table}.get("a", 0.0)),
                lambda: table._data.update(a=3.0))

    def user_sequence_contains():
        seq = UserSequence()
        return (lambda x: _scaled(x, 2.0 if 3.0 in seq else 1.0),
                lambda: seq._items.append(3.0))

    def user_sequence_unpacked():
        seq = UserSequence()
        return (lambda x: _scaled(x, max([0.5, *seq]) + max(*seq, 0.25) + len({*seq})),
                lambda: seq._items.append(3.0))

    return {name: case for name, case in locals().items()}


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_answer_follows_outside_state(name, backend):
    fn, change = CASES[name]()
    compiled = tracejit.jit(fn, backend=backend)
    x = np.array([1.0, 2.0])
    assert compiled(x) == fn(x)
    assert compiled(x) == fn(x)           # a hit
    change()
    assert compiled(x) == fn(x)           # re-traced: the lookup's answer changed
    assert compiled(x) == fn(x)


# ---- constants that `==` confuses: a zero's sign, NaN ------------------------------------------
def _zero_cases():
    def global_float():
        box = types.SimpleNamespace(z=0.0)
        return (lambda x: x / box.z), lambda: setattr(box, "z", -0.0)

    def tuple_item():
        box = types.SimpleNamespace(t=(0.0, 1.0))
        return (lambda x: x / box.t[0]), lambda: setattr(box, "t", (-0.0, 1.0))

    def list_read_by_numpy():
        values = [0.0, 1.0]
        return (lambda x: x / np.array(values)[0]), lambda: values.__setitem__(0, -0.0)

    def whole_tuple_by_native_code():
        box = types.SimpleNamespace(t=(1.0, 0.0))
        return (lambda x: x / min(box.t, key=abs)), lambda: setattr(box, "t", (1.0, -0.0))

    def default_argument():
        def fn(x, z=0.0):
            return x / z
        return fn, lambda: setattr(fn, "__defaults__", (-0.0,))

    def copysign_of_a_global():
        box = types.SimpleNamespace(z=0.0)
        return (lambda x: x * math.copysign(1.0, box.z)), lambda: setattr(box, "z", -0.0)
    return {name: case for name, case in locals().items()}


ZERO_CASES = _zero_cases()


@pytest.mark.parametrize("name", list(ZERO_CASES))
def test_a_zeros_sign_is_part_of_a_constant(name, backend):
    fn, change = ZERO_CASES[name]()
    compiled = tracejit.jit(fn, backend=backend)
    x = np.array([1.0, -2.0])
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(compiled(x), fn(x))
        change()
        np.testing.assert_array_equal(compiled(x), fn(x))        # inf became -inf


def test_a_nan_constant_does_not_retrace_every_call(backend):
    box = types.SimpleNamespace(missing=float("nan"), values=[float("nan"), 1.0])
    compiled = tracejit.jit(lambda x: x + box.missing + np.nansum(np.array(box.values)),
                            backend=backend)
    for _ in range(4):
        assert np.isnan(compiled(np.ones(2))).all()
    box.missing = float("nan")                               # another NaN object: the same
    compiled(np.ones(2))
    assert compiled.stats()["misses"] == 1
