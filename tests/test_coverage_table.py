"""The coverage table's probe tells supported from unsupported names (so docs/coverage.md, which
it generates, cannot claim support that is not there)."""
import importlib.util
import os

import pytest

_PATH = os.path.join(os.path.dirname(__file__), os.pardir, "scripts", "coverage_table.py")
_spec = importlib.util.spec_from_file_location("coverage_table", _PATH)
coverage_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(coverage_table)


@pytest.mark.parametrize("name", ["numpy.sin", "numpy.linalg.svd", "numpy.fft.rfft2",
                                  "numpy.add.at", "scipy.stats.norm.logcdf", "builtins.round"])
def test_supported_names_pass_their_probe(name):
    assert coverage_table.probe(name) == ("supported", "")


def test_unsupported_and_missing_names_are_reported():
    status, detail = coverage_table.probe("scipy.integrate.odeint")
    assert status == "not supported" and "odeint" in detail
    assert coverage_table.probe("numpy.make_diagonal")[0] == "not in this NumPy/SciPy"


def test_gradient_disagreement_is_caught(monkeypatch):
    """A function whose derivative rule is wrong is reported, not counted."""
    from tracejit.ops import elementwise as ew
    monkeypatch.setattr(ew.sin, "partials", (lambda g, ans, x: g,))
    assert coverage_table.probe("numpy.sin") == ("not supported",
                                                 "gradient differs from finite differences")
