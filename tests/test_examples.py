"""Every script in examples/ runs: in a subprocess, in a temporary working directory.

Each must exit with status 0 within the timeout; the files the scripts say they write
must exist afterwards. The plain run uses each script's quick mode
(``CIRCNET_EXAMPLE_QUICK=1``: fewer iterations, same code paths); the scripts with a
long full mode also run in full, marked slow (CI runs them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
TIMEOUT = 300  # seconds; each takes a few seconds on an idle machine

#: Files a script writes, in ``out/`` under its working directory (matplotlib is a test
#: dependency); nothing else may appear there.
WRITES = {
    "fates.py": ["out/fates.png"],
    "simulation.py": ["out/simulation.png"],
    "course.py": ["out/course_report.html"],
    "custom_body.py": ["out/tiny_body.html"],
    "what_if.py": ["out/what_if.png"],
    "cohort.py": ["out/cohort_km.png", "out/cohort_patients.csv"],
}


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert set(WRITES) <= names, f"missing examples: {sorted(set(WRITES) - names)}"
    assert (ROOT / "examples" / "data" / "tiny_body.yaml").is_file()


#: Scripts whose full mode takes long (about 100 s for the calibration): run in full only
#: with the slow tests.
FULL_IS_SLOW = {"calibrate_autopsy.py", "site_model.py"}
#: Scripts whose quick mode still takes a few seconds (a subprocess importing circnet and running
#: courses or fits): run with the slow tests, so that the plain `pytest` stays under two minutes.
QUICK_IS_SLOW = {
    "calibrate_autopsy.py",
    "cohort.py",
    "course.py",
    "course_colon_breast.py",
    "custom_body.py",
    "ensemble.py",
    "fates.py",
    "simulation.py",
    "site_model.py",
    "what_if.py",
}


def _params():
    for p in EXAMPLES:
        quick_marks = [pytest.mark.slow] if p.name in QUICK_IS_SLOW else []
        yield pytest.param(p, True, id=f"{p.name}-quick", marks=quick_marks)
        if p.name in FULL_IS_SLOW:
            yield pytest.param(p, False, id=f"{p.name}-full", marks=[pytest.mark.slow])


@pytest.mark.parametrize(("script", "quick"), list(_params()))
def test_example_runs(script, quick, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("CIRCNET_EXAMPLE_QUICK", None)
    if quick:
        env["CIRCNET_EXAMPLE_QUICK"] = "1"
    # the tests may run against the source tree without an installed circnet
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    for name in WRITES.get(script.name, []):
        out = tmp_path / name
        assert out.is_file() and out.stat().st_size > 0, f"{script.name} did not write {name}"
    # run from the repository root, an example leaves nothing there but the git-ignored out/
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left in ([], ["out"]), f"{script.name} left {left} in its working directory"
