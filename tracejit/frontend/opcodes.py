"""Opcodes the tracer deliberately has no handler for, each with the reason.

`REFUSED` names the user construct behind each opcode, so that reaching one fails with a message
a user can act on. `NOT_EMITTED` lists opcodes that `dis.opmap` knows but that never appear in a
function's decoded instructions. Together with the handlers and the decode-time rewrites they
cover every opcode of each supported CPython (checked by tests/test_opcodes.py).
"""

_ASYNC = "async functions, await, async for and async with"
_MODULE_LEVEL = "code outside a function body (module level)"

REFUSED = {
    **dict.fromkeys(("GET_AWAITABLE", "GET_AITER", "GET_ANEXT", "END_ASYNC_FOR",
                     "BEFORE_ASYNC_WITH", "ASYNC_GEN_WRAP"), _ASYNC),
    **dict.fromkeys(("IMPORT_STAR", "PRINT_EXPR"), _MODULE_LEVEL),
}

_PSEUDO = "a compiler pseudo-opcode, replaced before the bytecode is written"
NOT_EMITTED = {
    "CACHE": "inline cache entries, skipped by the decoder",
    "EXTENDED_ARG": "argument prefix, merged into the argument by the decoder",
    "RESERVED": "reserved number, never emitted",
    "INTERPRETER_EXIT": "only in the interpreter's own entry trampoline",
    "ENTER_EXECUTOR": "placed by the JIT optimiser at run time; co_code shows the original",
    "EXIT_INIT_CHECK": "only in the interpreter's shim frame for specialised class calls",
    **dict.fromkeys(("JUMP", "JUMP_NO_INTERRUPT", "POP_BLOCK", "SETUP_CLEANUP", "SETUP_FINALLY",
                     "SETUP_WITH", "STORE_FAST_MAYBE_NULL"), _PSEUDO),
}
INSTRUMENTED_PREFIX = "INSTRUMENTED_"   # sys.monitoring variants; co_code shows the base opcode
