"""Tests of ``python -m circnet`` (circnet/__main__.py)."""

from __future__ import annotations

import subprocess
import sys

import networkx as nx
import pytest

import circnet
from circnet.__main__ import format_summary, main


def test_main_prints_summary(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "circnet reference adult male" in out
    assert "cardiac output 6500 mL/min" in out
    for organ in circnet.organs(circnet.default_body()):
        assert f"\n{organ} " in out
    assert "arterial total       6500.0   100.00     2.0000" in out
    assert "sourced entries in circnet/data" in out


def test_main_options(capsys):
    assert main(["--sex", "female", "--cardiac-output", "5000"]) == 0
    out = capsys.readouterr().out
    assert "adult female" in out and "cardiac output 5000 mL/min" in out
    assert "\nbreast " in out


def test_main_rejects_bad_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--sex", "other"])
    assert info.value.code == 2
    with pytest.raises(circnet.ParameterError, match="`cardiac_output` must be > 0"):
        main(["--cardiac-output", "-5"])


def test_format_summary_of_tiny_body(tiny_body):
    text = format_summary(tiny_body)
    assert "cardiac output 100 mL/min" in text
    assert "3 organs, 1 lymph-node groups" in text


def test_python_dash_m():
    done = subprocess.run(
        [sys.executable, "-m", "circnet"], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.startswith("circnet reference adult male (circnet ")


def test_format_summary_of_a_body_with_other_node_names(tiny_body):
    """The summary finds the arterial pool by kind, not by the default body's names."""
    names = {"left_heart": "aorta", "kidney_bed": "glomeruli", "node": "hilum"}
    body = nx.relabel_nodes(tiny_body, names)
    del body.graph["cardiac_output"]  # taken from the arterial pool's output
    text = format_summary(body)
    assert "cardiac output 100 mL/min" in text and "3 organs, 1 lymph-node groups" in text
    assert "\nkidney " in text and "hilum" in text
    assert "arterial total        100.0   100.00     4.0000" in text
