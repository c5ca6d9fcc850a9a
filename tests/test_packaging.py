"""Packaging: the licence (PEP 639), the vis-network licence shipped with its inlined copy,
CITATION.cff, one source for the version, py.typed, and the wheel that carries them."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import yaml

import circnet

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VIS_LICENCE = "circnet/data/templates/LICENSE-vis-network.txt"


def _floor(requirement: str) -> tuple[str, tuple[int, ...]]:
    m = re.fullmatch(r"([A-Za-z0-9_.\[\]-]+)>=([0-9.]+)", requirement.split(";")[0].strip())
    assert m, f"{requirement!r} has no >= floor"
    return m.group(1), tuple(int(x) for x in m.group(2).split("."))


def test_version_has_one_source():
    """pyproject.toml holds the version; circnet reads it from the installed metadata."""
    assert circnet.__version__ == PYPROJECT["project"]["version"] == metadata.version("circnet")
    typed = [
        p.name
        for p in (ROOT / "circnet").rglob("*.py")
        if re.search(
            r"""__version__\s*(:\s*str\s*)?=\s*["']\d+\.\d""", p.read_text(encoding="utf-8")
        )
    ]
    assert typed == [], f"a version typed into {typed}"


def test_licence_metadata_is_pep_639():
    project = PYPROJECT["project"]
    assert project["license"] == "BSD-3-Clause"  # an SPDX expression, not a table
    assert set(project["license-files"]) == {"LICENSE", VIS_LICENCE}
    for name in project["license-files"]:
        assert (ROOT / name).is_file(), name
    (setuptools,) = [r for r in PYPROJECT["build-system"]["requires"] if "setuptools" in r]
    assert _floor(setuptools)[1] >= (77,)  # license-files (PEP 639) needs setuptools 77
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder" in text


def test_vis_network_licence_matches_the_inlined_copy():
    from circnet.render import _vis_assets

    version, js, _ = _vis_assets()
    text = (ROOT / VIS_LICENCE).read_text(encoding="utf-8")
    assert text.startswith(f"vis-network {version}:")
    assert f"@version {version}" in js[:1000] and "dual licensed" in js[:1000]
    assert "Permission is hereby granted, free of charge" in text  # MIT
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "npm pack vis-network@" in text  # where the texts come from


def test_citation_cff():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert cff[key], key
    assert all("name" in a or "family-names" in a for a in cff["authors"])
    assert str(cff["version"]) == PYPROJECT["project"]["version"]
    assert cff["license"] == PYPROJECT["project"]["license"]


def test_dependency_floors():
    """Every runtime dependency has a floor; scipy's is the first with ``qmc.*(rng=...)``."""
    floors = dict(_floor(r) for r in PYPROJECT["project"]["dependencies"])
    assert floors["scipy"] >= (1, 15)
    assert set(floors) >= {"networkx", "numpy", "scipy", "pandas", "pyyaml", "pyvis"}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert _floor(extras["sbml"][0])[0] == "python-libsbml"
    assert _floor(extras["parquet"][0])[0] == "pyarrow"


def test_minimum_versions_job_installs_the_declared_floors():
    """The CI job at the minimum versions pins exactly the floors pyproject declares."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for req in PYPROJECT["project"]["dependencies"]:
        name, floor = _floor(req)
        assert f"'{name}=={'.'.join(map(str, floor))}" in ci, f"{name} floor not tested in CI"


def test_py_typed_is_declared():
    assert (ROOT / "circnet" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["circnet"]


@pytest.mark.slow
def test_wheel_carries_licences_and_py_typed(tmp_path):
    pytest.importorskip("build")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = tmp_path.glob("circnet-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = z.read(info).decode()
    dist = info.rsplit("/", 1)[0]
    assert {"circnet/py.typed", VIS_LICENCE, f"{dist}/licenses/LICENSE"} <= names
    assert f"{dist}/licenses/{VIS_LICENCE}" in names
    assert "License-Expression: BSD-3-Clause" in meta
    assert f"Version: {PYPROJECT['project']['version']}" in meta
