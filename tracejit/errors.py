"""Errors tracejit raises at users. Each names the user's file and line when it is known."""


class TracejitError(Exception):
    """Base class: something tracejit cannot do with the user's code or arguments. Each error
    tracejit raises is also of a standard class (below), so `except TypeError` around a call
    catches a wrong argument as it would in plain Python. (Inside a traced function, a user's
    `except` never catches tracejit's own errors: the interpreter lets them through.)"""


class TracejitTypeError(TracejitError, TypeError):
    """An argument, a result or a declaration of the wrong kind (`grad` of a function returning
    an array, a leaf that is not a float, a value needed concrete)."""


class TracejitValueError(TracejitError, ValueError):
    """Arguments of the right kind that do not fit (argnums out of range, a cotangent of the
    wrong shape, a traced value used outside its trace)."""


class UnsupportedError(TracejitError, NotImplementedError):
    """A construct (opcode, callee, NumPy function) the tracer does not support."""

    def __init__(self, what, loc=None, hint=""):
        self.what, self.loc, self.hint = what, loc, hint
        where = f"{loc.filename}:{loc.lineno}: " if loc is not None else ""
        text = f"{where}{what}"
        if loc is not None and getattr(loc, "text", ""):
            text += f"\n    {loc.text.strip()}"
        super().__init__(text + (f"\n{hint}" if hint else ""))
