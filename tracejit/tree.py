"""Pytrees: nested containers of leaves, flattened to a list plus a hashable structure.

The engine is optree (C++; also PyTorch's), under tracejit's own registry namespace, and this
is the only module that imports it. Containers: tuple, list, dict, None (an empty subtree, as in
JAX), NamedTuple, OrderedDict, defaultdict, deque, dataclasses (registered on first sight: every
field is a child unless its metadata says `static`) and whatever users register through
`tracejit.tree_util`. Dict and defaultdict keys are visited in sorted order (JAX's), so two
dicts with the same keys flatten alike whatever their insertion order; an OrderedDict keeps its
order, which is part of its structure.
"""
import dataclasses
import threading

import optree
from optree import PyTreeKind, PyTreeSpec as TreeDef

NAMESPACE = "tracejit"

_lock = threading.Lock()
# Types seen as leaves by a flatten (and not registered since): the check that lets a call
# whose arguments are all such leaves skip flattening, and that finds new dataclasses.
_leaf_types = set()
_auto_registered = set()                 # dataclasses registered on first sight
_dataclasses = {}                        # registered dataclass -> _DataclassNode


# ---- flatten / unflatten -----------------------------------------------------------------------
def flatten(tree, paths=None, path=""):
    """(leaves, treedef); `paths` (a list) also receives a readable path for every leaf, e.g.
    `params.w` or `p['w'][0]`, each starting with `path`."""
    leaves, treedef = optree.tree_flatten(tree, namespace=NAMESPACE)
    if not _leaf_types.issuperset(map(type, leaves)) and _register_new_types(leaves):
        leaves, treedef = optree.tree_flatten(tree, namespace=NAMESPACE)
    if paths is not None:
        accessors = optree.tree_flatten_with_accessor(tree, namespace=NAMESPACE)[0]
        paths.extend(a.codify(path) for a in accessors)
    return leaves, treedef


def unflatten(treedef, leaves):
    return treedef.unflatten(leaves)


def are_leaves(values):
    """Whether every value is of a type flattening has already found to be a leaf: then
    `flatten(tuple(values))` is those values under `leaf_tuple(len(values))`."""
    return _leaf_types.issuperset(map(type, values))


def leaf_tuple(n):
    """The structure of a tuple of `n` leaves."""
    return optree.treespec_tuple([optree.treespec_leaf(namespace=NAMESPACE)] * n,
                                 namespace=NAMESPACE)


def _register_new_types(leaves):
    """Register the dataclasses among the leaves' types; True if any was (flatten again)."""
    registered = False
    with _lock:
        for t in set(map(type, leaves)) - _leaf_types:
            if t in _auto_registered:          # by another thread since its flatten
                registered = True
            elif dataclasses.is_dataclass(t):   # a leaf so far: not registered
                _register_dataclass(t, *_dataclass_fields(t))
                _auto_registered.add(t)
                registered = True
            else:
                _leaf_types.add(t)
    return registered


# ---- structure ---------------------------------------------------------------------------------
def kind(treedef):
    """"leaf", "none", "tuple", "list", "dict", "namedtuple", "ordereddict", "dataclass" for
    the kinds generated code handles inline; "other" for the rest (defaultdict, deque,
    user-registered types, ...)."""
    if treedef.kind is PyTreeKind.CUSTOM and treedef.type in _dataclasses:
        return "dataclass"
    return _KINDS.get(treedef.kind, "other")


_KINDS = {PyTreeKind.LEAF: "leaf", PyTreeKind.NONE: "none", PyTreeKind.TUPLE: "tuple",
          PyTreeKind.LIST: "list", PyTreeKind.DICT: "dict", PyTreeKind.NAMEDTUPLE: "namedtuple",
          PyTreeKind.ORDEREDDICT: "ordereddict"}


@dataclasses.dataclass(frozen=True)
class _DataclassNode:
    data_fields: tuple
    meta_fields: tuple
    unflatten: object                   # (metadata, children) -> instance


def dataclass_node(treedef):
    """For generated code: (declared field names, {meta field name: value}, (static extra
    attributes, dynamic extra attribute names) as `extra_attributes` gives them, children's
    attribute names, build(metadata, children), metadata) of a dataclass node."""
    node = _dataclasses[treedef.type]
    metadata = node_data(treedef)
    meta_values, static, dynamic = metadata
    return (frozenset(node.data_fields + node.meta_fields),
            dict(zip(node.meta_fields, meta_values)), (static, dynamic),
            node.data_fields + dynamic, node.unflatten, metadata)


def node_data(treedef):
    """The auxiliary data a node's flatten function returned (its metadata)."""
    return treedef.one_level().walk([None] * treedef.num_children, lambda _, data, __: data,
                                    None)


def children(treedef):
    return treedef.children()


def dict_keys(treedef):
    """A dict node's keys, in flattening order."""
    return tuple(treedef.entries())


def containers(tree):
    """Every container node of `tree` (outer first): the objects a function given the tree
    could mutate."""
    if optree.tree_is_leaf(tree, namespace=NAMESPACE):
        return
    yield tree
    for child in optree.tree_flatten_one_level(tree, namespace=NAMESPACE).children:
        yield from containers(child)


def first_difference(old, new, path=()):
    """(path of entries, old node, new node) where two structures first differ, the nodes
    shown one level deep; None if they are equal."""
    if old.is_leaf() or new.is_leaf():
        return None if old.is_leaf() and new.is_leaf() else (path, old, new)
    if old.one_level() != new.one_level():
        return path, old.one_level(), new.one_level()
    for entry, a, b in zip(old.entries(), old.children(), new.children()):
        found = first_difference(a, b, path + (entry,))
        if found is not None:
            return found
    return None


def unflatten_source(treedef, leaf_exprs, constant):
    """Python source of an expression that builds `treedef` from the expressions `leaf_exprs`
    (one per leaf, in order): `unflatten` written out, for generated hot paths. `constant(x)`
    returns the name under which the generated code can read the value x (dict keys, the
    one-level structures of other containers)."""
    return _source(treedef, iter(leaf_exprs), constant)


def _source(treedef, exprs, constant):
    k = kind(treedef)
    if k == "leaf":
        return next(exprs)
    if k == "none":
        return "None"
    parts = [_source(c, exprs, constant) for c in treedef.children()]
    if k == "dict":
        return "{" + ", ".join(f"{constant(key)}: {c}"
                               for key, c in zip(treedef.entries(), parts)) + "}"
    if k == "tuple":
        return "(" + "".join(c + ", " for c in parts) + ")"
    if k == "list":
        return "[" + ", ".join(parts) + "]"
    if k == "namedtuple":
        return f"{constant(treedef.type)}({', '.join(parts)})"
    if k == "ordereddict":
        return f"{constant(treedef.type)}((" + "".join(
            f"({constant(key)}, {c}), " for key, c in zip(treedef.entries(), parts)) + "))"
    if k == "dataclass":
        return f"{constant(_instance_builder(treedef))}([{', '.join(parts)}])"
    return f"{constant(treedef.one_level())}.unflatten([{', '.join(parts)}])"


def _instance_builder(treedef):
    """`build(children)` for a dataclass node: the node's unflatten, specialised to its
    metadata (the result hot path builds one per call)."""
    _, meta, (static, _), child_names, unflatten_fn, metadata = dataclass_node(treedef)
    cls = treedef.type
    if not cls.__dictoffset__:               # __slots__: no __dict__ to fill at once
        return lambda children: unflatten_fn(metadata, children)
    fixed = {**meta, **dict(static)}

    def build(children):
        obj = object.__new__(cls)
        attrs = obj.__dict__
        attrs.update(fixed)
        attrs.update(zip(child_names, children))
        return obj
    return build


# ---- registration ------------------------------------------------------------------------------
def register_node(cls, flatten_fn, unflatten_fn, entry_type=optree.AutoEntry, dataclass=None):
    """Make `cls` a container: `flatten_fn(obj) -> (children, aux)` with `aux` hashable,
    `unflatten_fn(aux, children) -> obj`. A class registered before (by tracejit itself, as a
    dataclass seen earlier) is registered anew. `dataclass`: its _DataclassNode, if it is one."""
    with _lock:
        if cls in _auto_registered:
            optree.unregister_pytree_node(cls, namespace=NAMESPACE)
            _auto_registered.discard(cls)
        _dataclasses.pop(cls, None)
        if dataclass is not None:
            _dataclasses[cls] = dataclass
        optree.register_pytree_node(cls, flatten_fn, unflatten_fn, path_entry_type=entry_type,
                                    namespace=NAMESPACE)
        _leaf_types.discard(cls)
    return cls


def register_dataclass(cls, data_fields=None, meta_fields=None):
    """Register a dataclass (or any class with these attributes): `data_fields` are children,
    `meta_fields` static data, part of the structure (compared by equality, hashed). Left out,
    both come from the dataclass's fields: those whose metadata has `static=True` are meta."""
    if data_fields is None or meta_fields is None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"register_dataclass({cls.__name__}): give data_fields and "
                            "meta_fields for a class that is not a dataclass")
        data, meta = _dataclass_fields(cls)
        data_fields = data if data_fields is None else data_fields
        meta_fields = meta if meta_fields is None else meta_fields
    data_fields, meta_fields = tuple(data_fields), tuple(meta_fields)
    flatten_fn, unflatten_fn = _dataclass_functions(cls, data_fields, meta_fields)
    return register_node(cls, flatten_fn, unflatten_fn, optree.GetAttrEntry,
                         _DataclassNode(data_fields, meta_fields, unflatten_fn))


def _register_dataclass(cls, data_fields, meta_fields):
    """Auto-registration, under `_lock` already held."""
    flatten_fn, unflatten_fn = _dataclass_functions(cls, data_fields, meta_fields)
    optree.register_pytree_node(cls, flatten_fn, unflatten_fn,
                                path_entry_type=optree.GetAttrEntry, namespace=NAMESPACE)
    _dataclasses[cls] = _DataclassNode(data_fields, meta_fields, unflatten_fn)


def _dataclass_fields(cls):
    """(data field names, meta field names): meta are the fields marked `static`."""
    fields = dataclasses.fields(cls)
    meta = tuple(f.name for f in fields if f.metadata.get("static", False))
    return tuple(f.name for f in fields if f.name not in meta), meta


def _dataclass_functions(cls, data_fields, meta_fields):
    """flatten and unflatten for a dataclass-like class. Instance attributes that are not
    declared fields (set by `__post_init__`, say) are carried too, so the rebuilt object has
    them: constants (ints, strings, ...) as static data, anything else as children."""
    declared = frozenset(data_fields + meta_fields)

    def flatten_fn(obj):
        static, dynamic = extra_attributes(obj, declared)
        names = data_fields + dynamic
        meta = (tuple(getattr(obj, name) for name in meta_fields), static, dynamic)
        return [getattr(obj, name) for name in names], meta, names

    def unflatten_fn(meta, children):
        # set directly, as copy.copy would: rebuilding a value (with traced leaves, gradients,
        # None for skipped leaves) must not run the user's __init__/__post_init__, and
        # frozen classes are rebuilt too
        meta_values, static, dynamic = meta
        obj = object.__new__(cls)
        for name, value in (*zip(meta_fields, meta_values), *static,
                            *zip(data_fields + dynamic, children)):
            object.__setattr__(obj, name, value)
        return obj
    return flatten_fn, unflatten_fn


def extra_attributes(obj, declared):
    """The attributes of `obj` beyond the `declared` fields, sorted by name: ((name, value)
    of the constants, names of the others)."""
    attrs = getattr(obj, "__dict__", None)
    if not attrs or attrs.keys() <= declared:
        return (), ()
    names = sorted(attrs.keys() - declared)
    return (tuple((name, attrs[name]) for name in names if _is_constant(attrs[name])),
            tuple(name for name in names if not _is_constant(attrs[name])))


def _is_constant(value):
    if type(value) is tuple:
        return all(map(_is_constant, value))
    return type(value) in (int, bool, str, bytes, type(None))


# ---- the public functions (tracejit.tree_util) -------------------------------------------------
def tree_flatten(tree, is_leaf=None):
    if is_leaf is None:
        return flatten(tree)
    flatten(tree)                                   # registers the dataclasses it holds
    return optree.tree_flatten(tree, is_leaf, namespace=NAMESPACE)


def tree_map(f, tree, *rest, is_leaf=None):
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = [treedef.flatten_up_to(r) for r in rest]
    return treedef.unflatten([f(*xs) for xs in zip(leaves, *others)])


def tree_flatten_with_path(tree, is_leaf=None):
    """([(path, leaf), ...], treedef): each path a tuple of entries (a dict key, a sequence
    index, a dataclass field), as JAX's key paths; `keystr(path)` is its text."""
    flatten(tree)                                   # registers the dataclasses it holds
    paths, leaves, treedef = optree.tree_flatten_with_accessor(tree, is_leaf, namespace=NAMESPACE)
    return list(zip(paths, leaves)), treedef


def tree_map_with_path(f, tree, *rest, is_leaf=None):
    pairs, treedef = tree_flatten_with_path(tree, is_leaf)
    others = [treedef.flatten_up_to(r) for r in rest]
    return treedef.unflatten([f(path, leaf, *xs) for (path, leaf), *xs in zip(pairs, *others)])


def keystr(path):
    """A key path as the code that reads it: "['layers'][0].w"."""
    return path.codify("")
