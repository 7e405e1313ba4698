"""Log categories under the standard `logging` tree "tracejit".

Each category is a child logger ("tracejit.recompiles", ...) whose messages are DEBUG records, so
they stay silent unless switched on: by `TRACEJIT_LOG=recompiles,guards,compile` (or "all") in
the environment when tracejit is imported, by `enable("recompiles")`, or by configuring the
loggers with `logging` directly. Messages are only emitted on slow paths (a trace, a guard
failure), never per successful call.
"""
from __future__ import annotations

import logging
import os
import sys

CATEGORIES = {
    "recompiles": "each new trace and why: first call, new signature, or the guard that failed",
    "guards": "every guard failure (side exit), and the guards of each new cache entry",
    "compile": "trace and compile times, trace size, and the trace itself",
}

root = logging.getLogger("tracejit")
recompiles = logging.getLogger("tracejit.recompiles")
guards = logging.getLogger("tracejit.guards")
compile = logging.getLogger("tracejit.compile")    # noqa: A001  (the category's name)

_handler = None


def enable(spec: str = "all", stream=None):
    """Switch categories on (a comma-separated string, or "all"); messages go to stderr unless
    the application already configured a handler for "tracejit" or the root logger."""
    global _handler
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if "all" in names:
        names = list(CATEGORIES)
    unknown = [n for n in names if n not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown TRACEJIT_LOG categories {unknown}; choose from "
                         f"{sorted(CATEGORIES)} or 'all'")
    for name in names:
        logging.getLogger(f"tracejit.{name}").setLevel(logging.DEBUG)
    if names and _handler is None and not root.handlers and not logging.getLogger().handlers:
        _handler = logging.StreamHandler(stream or sys.stderr)
        _handler.setFormatter(logging.Formatter("[%(name)s] %(message)s"))
        root.addHandler(_handler)
    return names


def enable_from_env():
    spec = os.environ.get("TRACEJIT_LOG", "")
    if not spec:
        return []
    try:
        return enable(spec)
    except ValueError as e:                 # a typo in an env var must not break the import
        root.warning("%s", e)
        return []
