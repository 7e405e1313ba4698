"""Pytree utilities with JAX's names, on the structures tracejit flattens arguments and results
into (tracejit/tree.py).

    @dataclass
    class Params:
        w: np.ndarray
        b: np.ndarray
        name: str = field(default="layer", metadata={"static": True})

A plain dataclass needs no registration: its fields are children, but those marked `static`,
which are part of the structure (a new value re-traces). Other classes are registered with
`register_pytree_node(cls, flatten, unflatten)`, `@register_pytree_node_class` (methods
`tree_flatten()` and classmethod `tree_unflatten(aux, children)`) or
`register_dataclass(cls, data_fields, meta_fields)`.
"""
from . import tree as _tree
from .transformations import call_in_trace, tracing_context
from .tree import TreeDef as PyTreeDef, register_dataclass


def tree_map(f, tree, *rest, is_leaf=None):
    """`f` applied to the leaves of `tree` (and the matching leaves of `rest`), in a tree of
    the same structure."""
    return _tree.tree_map(_under_tracer(f), tree, *rest, is_leaf=_under_tracer(is_leaf))


def tree_flatten(tree, is_leaf=None):
    return _tree.tree_flatten(tree, _under_tracer(is_leaf))


def tree_flatten_with_path(tree, is_leaf=None):
    """([(key path, leaf), ...], treedef), as JAX's; `keystr(path)` gives "['w'][0]"."""
    return _tree.tree_flatten_with_path(tree, _under_tracer(is_leaf))


def tree_leaves_with_path(tree, is_leaf=None):
    return tree_flatten_with_path(tree, is_leaf)[0]


def tree_map_with_path(f, tree, *rest, is_leaf=None):
    """`f(path, leaf, *other_leaves)` over the leaves, in a tree of the same structure."""
    return _tree.tree_map_with_path(_under_tracer(f), tree, *rest,
                                    is_leaf=_under_tracer(is_leaf))


keystr = _tree.keystr


def register_pytree_node(nodetype, flatten_func, unflatten_func):
    """`flatten_func(obj) -> (children, aux_data)`, `unflatten_func(aux_data, children) -> obj`;
    `aux_data` must be hashable and comparable: it is part of the cache key."""
    return _tree.register_node(nodetype, flatten_func, unflatten_func)


def register_pytree_node_class(cls):
    return _tree.register_node(cls, lambda obj: obj.tree_flatten(), cls.tree_unflatten)


def tree_unflatten(treedef, leaves):
    return _tree.unflatten(treedef, list(leaves))


def tree_leaves(tree, is_leaf=None):
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree, is_leaf=None):
    return tree_flatten(tree, is_leaf)[1]


def _under_tracer(fn):
    """Inside a traced function, the user's callbacks run under the tracer like the rest of
    their code (branches guarded, values traced), not natively."""
    ctx = tracing_context()
    if fn is None or ctx is None:
        return fn
    return lambda *args: call_in_trace(ctx, fn, args, {})


__all__ = ["PyTreeDef", "register_pytree_node", "register_pytree_node_class",
           "register_dataclass", "tree_flatten", "tree_unflatten", "tree_map", "tree_leaves",
           "tree_structure", "tree_flatten_with_path", "tree_leaves_with_path",
           "tree_map_with_path", "keystr"]
