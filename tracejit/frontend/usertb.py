"""Tracebacks that show the user's code, not the tracer's.

An exception raised while tracing passes through the interpreter's own Python frames; CPython
would have shown the user's functions and lines instead. As the error leaves each interpreted
frame, the tracer's entries are dropped from its traceback (a library's, such as NumPy's, stay)
and an entry for the user's function and line is put in front, so `traceback.print_exc()` and
debuggers point at the line that raised. An entry needs a real frame object: one frame per user
code object is taken from a stand-in generator under the user's file and name (a generator not
yet started has a frame with no caller, so the frame keeps nothing of the tracer alive).
"""
import types

_PACKAGE = __name__.split(".")[0]
_STAND_IN_GLOBALS = {"__name__": "<traced>"}
_stand_ins: dict = {}             # user code object -> (its stand-in generator, whose frame)


def _stand_in():
    yield


def _stand_in_frame(code):
    entry = _stand_ins.get(code)
    if entry is None:
        stand_in = _stand_in.__code__.replace(
            co_filename=code.co_filename, co_name=code.co_name, co_qualname=code.co_qualname,
            co_firstlineno=code.co_firstlineno)
        generator = types.FunctionType(stand_in, _STAND_IN_GLOBALS)()
        entry = _stand_ins[code] = (generator, generator.gi_frame)
    return entry[1]


def _is_tracer_entry(tb):
    name = tb.tb_frame.f_globals.get("__name__") or ""
    return name == _PACKAGE or name.startswith(_PACKAGE + ".")


def without_tracer(tb):
    """The traceback `tb` without the tracer's own entries."""
    entries = []
    while tb is not None:
        if not _is_tracer_entry(tb):
            entries.append(tb)
        tb = tb.tb_next
    kept = None
    for entry in reversed(entries):
        kept = types.TracebackType(kept, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return kept


def user_traceback(frame, lineno, tb):
    """`tb` as it leaves the interpreted `frame`: the user's line `lineno` of that frame, then
    the entries of what it called."""
    lineno = lineno or frame.code.co_firstlineno
    # lasti -1: no column information, which the stand-in's code could not give
    return types.TracebackType(without_tracer(tb), _stand_in_frame(frame.code), -1, lineno)
