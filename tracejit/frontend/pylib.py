"""Python versions of builtins that compare or add their items, run by the tracer (interpreted,
like user code) when the items are objects of user classes: the classes' `__lt__` and `__add__`
then run under the tracer too (`protocols`), as they cannot inside the C builtins.

Each follows CPython's documented behaviour: `sum` adds from the left starting at `start`;
`min`/`max` return the first extreme item, comparing `item < best` / `item > best`; `sorted`
is stable and compares with `<` only, `reverse=True` keeping equal items in their order.
"""

_MISSING = object()


def sum_(iterable, /, start=0):
    total = start
    for item in iterable:
        total = total + item
    return total


def _extreme(name, args, key, default, better):
    items = args[0] if len(args) == 1 else args
    best, best_key = _MISSING, None
    for item in items:
        item_key = item if key is None else key(item)
        if best is _MISSING or better(item_key, best_key):
            best, best_key = item, item_key
    if best is not _MISSING:
        return best
    if default is not _MISSING:
        return default
    raise ValueError(f"{name}() iterable argument is empty")


def min_(*args, key=None, default=_MISSING):
    return _extreme("min", args, key, default, lambda a, b: a < b)


def max_(*args, key=None, default=_MISSING):
    return _extreme("max", args, key, default, lambda a, b: a > b)


def sorted_(iterable, /, *, key=None, reverse=False):
    items = list(iterable)
    if reverse:
        items.reverse()              # sorting the reversed list stably, then reversing it back,
    keys = items if key is None else [key(item) for item in items]  # keeps equal items' order
    order = _merge_sort(list(range(len(items))), keys)
    result = [items[i] for i in order]
    if reverse:
        result.reverse()
    return result


def _merge_sort(positions, keys):
    if len(positions) <= 1:
        return positions
    middle = len(positions) // 2
    left, right = _merge_sort(positions[:middle], keys), _merge_sort(positions[middle:], keys)
    merged, i, j = [], 0, 0
    while i < len(left) and j < len(right):
        if keys[right[j]] < keys[left[i]]:   # only a strictly smaller right item goes first
            merged.append(right[j])
            j += 1
        else:
            merged.append(left[i])
            i += 1
    return merged + left[i:] + right[j:]


def sequence_items(sequence):
    """`iter(obj)` of a class with `__getitem__` and no `__iter__`: items 0, 1, ... until
    IndexError."""
    i = 0
    while True:
        try:
            item = sequence[i]
        except (IndexError, StopIteration):
            return
        yield item
        i += 1
