"""Pytrees: nested dicts, lists and tuples of leaves, flattened to a list plus a hashable shape.

Dict keys are visited in sorted order (as JAX does), so two dicts with the same keys flatten
alike whatever their insertion order.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TreeDef:
    kind: str                  # "leaf", "dict", "list", "tuple"
    keys: tuple = ()           # dict keys, sorted
    children: tuple = ()
    # part of every cache key, hashed on every call: computed once
    _hash: int = field(default=None, compare=False, repr=False)

    def __hash__(self):
        if self._hash is None:
            object.__setattr__(self, "_hash", hash((self.kind, self.keys, self.children)))
        return self._hash

    @property
    def num_leaves(self):
        return 1 if self.kind == "leaf" else sum(c.num_leaves for c in self.children)


LEAF = TreeDef("leaf")


def _sorted_keys(d):
    try:
        return tuple(sorted(d))
    except TypeError:
        return tuple(d)


def flatten(tree, leaves=None, paths=None, path=""):
    """(leaves, treedef); `paths` (a list) also receives a readable path for every leaf."""
    leaves = [] if leaves is None else leaves
    if type(tree) is dict:
        keys = _sorted_keys(tree)
        children = tuple(flatten(tree[k], leaves, paths, f"{path}[{k!r}]")[1] for k in keys)
        return leaves, TreeDef("dict", keys, children)
    if type(tree) in (list, tuple):
        children = tuple(flatten(v, leaves, paths, f"{path}[{i}]")[1] for i, v in enumerate(tree))
        return leaves, TreeDef(type(tree).__name__, (), children)
    leaves.append(tree)
    if paths is not None:
        paths.append(path)
    return leaves, LEAF


def unflatten(treedef, leaves):
    it = iter(leaves)
    return _build(treedef, it)


def _build(treedef, it):
    if treedef.kind == "leaf":
        return next(it)
    children = [_build(c, it) for c in treedef.children]
    if treedef.kind == "dict":
        return dict(zip(treedef.keys, children))
    return tuple(children) if treedef.kind == "tuple" else children


def unflatten_source(treedef, leaf_exprs, constant):
    """Python source of an expression that builds `treedef` from the expressions `leaf_exprs`
    (one per leaf, in order): `unflatten` written out, for generated hot paths. `constant(x)`
    returns the name under which the generated code can read the value x (dict keys)."""
    return _source(treedef, iter(leaf_exprs), constant)


def _source(treedef, exprs, constant):
    if treedef.kind == "leaf":
        return next(exprs)
    children = [_source(c, exprs, constant) for c in treedef.children]
    if treedef.kind == "dict":
        return "{" + ", ".join(f"{constant(k)}: {c}" for k, c in zip(treedef.keys, children)) + "}"
    if treedef.kind == "tuple":
        return "(" + "".join(c + ", " for c in children) + ")"
    return "[" + ", ".join(children) + "]"
