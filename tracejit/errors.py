"""Errors tracejit raises at users. Each names the user's file and line when it is known."""


class TracejitError(Exception):
    """Base class: something tracejit cannot do with the user's code or arguments."""


class UnsupportedError(TracejitError):
    """A construct (opcode, callee, NumPy function) the tracer does not support."""

    def __init__(self, what, loc=None, hint=""):
        self.what, self.loc, self.hint = what, loc, hint
        where = f"{loc.filename}:{loc.lineno}: " if loc is not None else ""
        text = f"{where}{what}"
        if loc is not None and getattr(loc, "text", ""):
            text += f"\n    {loc.text.strip()}"
        super().__init__(text + (f"\n{hint}" if hint else ""))
