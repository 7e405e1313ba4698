"""The CPython versions the frontend serves, and the one test every version-gated table uses.

Handlers (`frame.handler`) and decode-time rewrites (`decode.rewrite`) are registered with the
range of versions they serve; nothing else in the frontend looks at `sys.version_info`. The range
is closed: on a CPython newer than `LATEST` no opcode has a handler, so an unknown interpreter
fails loudly on its first instruction instead of tracing with rules written for older bytecode.
"""
import sys

FIRST = (3, 11)
LATEST = (3, 13)
VERSION = sys.version_info[:2]


def serves(since, until):
    return since <= VERSION <= until


def describe():
    supported = f"tracejit supports Python {FIRST[0]}.{FIRST[1]} to {LATEST[0]}.{LATEST[1]}"
    return f"Python {VERSION[0]}.{VERSION[1]}" + ("" if VERSION <= LATEST else f" ({supported})")
