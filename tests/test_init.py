"""The package namespace: names load on first use, and the two names shared by a function and
its module (``calibrate``, ``ensemble``) stay the functions."""

from __future__ import annotations

import subprocess
import sys

import pytest

import circnet


def _run(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return proc.stdout.strip()


def test_import_circnet_loads_no_model_module():
    out = _run(
        "import sys, circnet; print(sorted(m for m in sys.modules if m.startswith('circnet.')))"
    )
    for heavy in ("circnet.transport", "circnet.calibrate", "circnet.render", "circnet.course"):
        assert heavy not in out
    assert "circnet.errors" in out


def test_every_public_name_resolves():
    for name in circnet.__all__:
        assert getattr(circnet, name) is not None, name
    assert set(circnet.__all__) <= set(dir(circnet))


@pytest.mark.slow
def test_function_and_module_of_the_same_name():
    out = _run(
        "import circnet.calibrate, circnet.ensemble, circnet, sys\n"
        "print(callable(circnet.calibrate), callable(circnet.ensemble),\n"
        "      type(sys.modules['circnet.calibrate']).__name__)"
    )
    assert out == "True True module"


def test_unknown_name_is_an_attribute_error():
    try:
        circnet.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
