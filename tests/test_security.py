"""Code injection: user-controlled text (function names, docstrings, file names, source lines,
pytree dict keys) never becomes code. Every payload here, if it ran, would set a flag on the
`builtins` module; the tests trace, run, differentiate, print and explain functions carrying the
payloads, and generate numba kernel source for them, and check that the flag is never set and that
the payloads appear only as validated identifiers or inside escaped one-line comments."""
import ast
import builtins

import numpy as np
import pytest

import tracejit
from tracejit.ir.printer import identifier, one_line

FLAG = "_tracejit_injection_ran"
PAYLOAD = f"__import__('builtins').__setattr__('{FLAG}', True)"
NASTY = [
    f"f(): pass\n{PAYLOAD}\ndef g",
    f"x'); {PAYLOAD}; ('",
    f'x"""; {PAYLOAD}; """',
    f"# \r{PAYLOAD}",
    f"a\u2028{PAYLOAD}",
    f"a\x0c{PAYLOAD}",
    f"{{{PAYLOAD}}}",
    "class",
]


@pytest.fixture(autouse=True)
def no_flag():
    if hasattr(builtins, FLAG):
        delattr(builtins, FLAG)
    yield
    ran = hasattr(builtins, FLAG)
    if ran:
        delattr(builtins, FLAG)
    assert not ran, "injected code ran"


def _function_from(filename, name, doc):
    """A real function whose name, docstring and file name are the payload."""
    source = ("def model(params, x):\n"
              f"    {doc!r}\n"
              "    h = np.tanh(x * params['w']) + params['b']\n"
              "    if np.sum(h) > 0.0:\n"
              "        h = h * 2.0\n"
              "    return np.sum(h * h)\n")
    namespace = {"np": np}
    exec(compile(source, filename, "exec"), namespace)
    fn = namespace["model"]
    fn.__name__ = fn.__qualname__ = name
    return fn


def _check_printed(text):
    """Printed traces: payloads only in comments, escaped so that each stays on one line."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            assert "\n" not in stripped and "\r" not in stripped
            continue
        assert PAYLOAD not in stripped and "__import__" not in stripped, line
        if stripped.startswith("def "):
            assert identifier(stripped[4:stripped.index("(")]) != "f" or stripped.startswith("def f(")
    assert len(text.splitlines()) == len(text.split("\n"))      # no \r, \u2028... line breaks


@pytest.mark.parametrize("nasty", NASTY, ids=range(len(NASTY)))
def test_names_docstrings_and_filenames_never_execute(nasty, backend):
    fn = _function_from(filename=f"<{nasty}>", name=nasty, doc=nasty)
    params = {nasty: np.ones(3), "w": np.full(3, 0.5), "b": np.zeros(3)}
    x = np.array([0.5, -1.0, 2.0])
    value, grad = tracejit.value_and_grad(fn, backend=backend)(params, x)
    assert value == pytest.approx(fn(params, x))
    assert set(grad) == set(params) and np.all(grad[nasty] == 0.0)
    compiled = tracejit.jit(fn, backend=backend)
    assert compiled(params, -x) == pytest.approx(fn(params, -x))
    for trace in [tracejit.make_trace(fn)(params, x), *compiled.traces()]:
        _check_printed(str(trace))
    str(compiled.explain())         # a report for people (not code): must not run anything


@pytest.mark.parametrize("nasty", NASTY, ids=range(len(NASTY)))
def test_error_messages_do_not_execute_payloads(nasty, backend):
    fn = _function_from(filename=f"<{nasty}>", name=nasty, doc=nasty)
    with pytest.raises(tracejit.TracejitError):
        tracejit.jit(fn, backend=backend)({nasty: np.array(["a"], dtype=object)}, np.ones(3))


def test_numba_kernel_source_holds_no_user_text():
    codegen = pytest.importorskip("tracejit.backends.numba_codegen")
    nasty = NASTY[0]
    fn = _function_from(filename=f"<{nasty}>", name=nasty, doc=nasty)
    trace = tracejit.make_trace(fn)({nasty: np.ones(3), "w": np.ones(3), "b": np.ones(3)},
                                    np.ones(3))
    source = codegen.generate(trace).source
    assert "__import__" not in source and FLAG not in source
    ast.parse(source)                                  # it is plain, well-formed Python


def test_printer_helpers():
    assert identifier("loss_fn") == "loss_fn"
    for bad in ["a b", "f(): pass", "class", "", "1x", "é", None, "a\nb"]:
        assert identifier(bad) == "f"
    for text in NASTY:
        assert len(one_line(text).splitlines()) == 1 and "\n" not in one_line(text)
