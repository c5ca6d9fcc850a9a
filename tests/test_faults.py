"""Fault injection: ``kill -9`` a process in the middle of each kind of write circnet does.

A child process does the write; a hook on ``os.fsync`` (called by
:func:`circnet._files.atomic_write` once the new content is written, before the rename)
tells the parent that a write is under way and stops there, and the parent kills the
child with SIGKILL. Then the target must be the old complete file (never half a file),
a run that checkpoints must resume from what was saved and give the result of an
uninterrupted run, and the temporary file left behind must be removed by the next write
once it is stale. A last test kills a writer at random moments.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from bodies import tiny_body

import circnet
from circnet._files import STALE_TEMP_SECONDS, load_checkpoint

TESTS = Path(__file__).resolve().parent

PRELUDE = """
import os, sys, time
sys.path.insert(0, {tests!r})
import numpy as np, circnet
from bodies import tiny_body
calls = 0
real_fsync = os.fsync
def hooked(fd):
    global calls
    calls += 1
    if calls == {stop_at}:
        print("WRITING", flush=True)
        time.sleep(120)
    real_fsync(fd)
os.fsync = hooked
"""


def kill_during_write(code: str, stop_at: int, cwd: Path) -> None:
    """Run ``code`` in a child; SIGKILL it during its ``stop_at``-th atomic write."""
    script = PRELUDE.format(tests=str(TESTS), stop_at=stop_at) + textwrap.dedent(code)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # blocks until the hook fires (or the child ends)
        assert line.strip() == "WRITING", (line, proc.stderr.read()[-2000:])
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def age(paths: list[Path]) -> None:
    long_ago = time.time() - STALE_TEMP_SECONDS - 60
    for p in paths:
        os.utime(p, (long_ago, long_ago))


@pytest.mark.parametrize(
    "suffix",
    [
        ".json",
        pytest.param(".graphml", marks=pytest.mark.slow),
        pytest.param(".yaml", marks=pytest.mark.slow),
    ],
)
def test_kill_during_write_body(tmp_path, suffix):
    target = tmp_path / f"body{suffix}"
    kill_during_write(
        f"""
        g = tiny_body()
        circnet.write_body(g, {str(target)!r})
        g.graph["name"] = "new"
        circnet.write_body(g, {str(target)!r})
        """,
        stop_at=2,
        cwd=tmp_path,
    )
    assert circnet.read_body(target).graph["name"] == "tiny"  # the old file, complete
    left = temps(tmp_path)
    assert len(left) == 1 and left[0].name.startswith(f".{target.name}.")
    changed = tiny_body()
    changed.graph["name"] = "new"
    circnet.write_body(changed, target)
    assert temps(tmp_path) == left  # a young temporary file may be another write's
    age(left)
    circnet.write_body(changed, target)
    assert temps(tmp_path) == [] and circnet.read_body(target).graph["name"] == "new"


@pytest.mark.slow
def test_kill_during_render_html(tmp_path):
    target = tmp_path / "view.html"
    kill_during_write(
        f"""
        circnet.render_html(tiny_body(), {str(target)!r}, title="old view")
        circnet.render_html(tiny_body(), {str(target)!r}, title="new view")
        """,
        stop_at=2,
        cwd=tmp_path,
    )
    text = target.read_text(encoding="utf-8")
    assert "old view" in text and text.rstrip().endswith("</html>")
    age(temps(tmp_path))
    circnet.render_html(tiny_body(), target, title="new view")
    assert temps(tmp_path) == [] and "new view" in target.read_text(encoding="utf-8")


SIMULATE = "model.simulate('lung', 10**6, [60.0, 120.0, 180.0, 240.0], rng=4, dt=30.0, "
SIMULATE += "shed_rate=100.0, checkpoint={ck!r}, checkpoint_every=1)"


@pytest.mark.slow
def test_kill_during_simulation_checkpoint(tmp_path):
    ck = tmp_path / "sim.npz"
    model = circnet.TransportModel(tiny_body())
    kill_during_write(
        "model = circnet.TransportModel(tiny_body())\n" + SIMULATE.format(ck=str(ck)),
        stop_at=3,
        cwd=tmp_path,
    )
    assert load_checkpoint(ck, "simulate").meta["step"] == 2  # the second checkpoint, whole
    resumed = eval(SIMULATE.format(ck=str(ck)))  # noqa: S307 - the same call, resumed
    whole = model.simulate(
        "lung", 10**6, [60.0, 120.0, 180.0, 240.0], rng=4, dt=30.0, shed_rate=100.0
    )
    assert np.array_equal(resumed.counts, whole.counts)
    assert not ck.exists()  # removed when the run completes


@pytest.mark.slow
def test_kill_during_course_checkpoint(tmp_path):
    ck = tmp_path / "course.npz"
    body = tiny_body()
    call = f"circnet.simulate_course(tiny_body(), 'lung', 0.1, rng=5, checkpoint={str(ck)!r}, "
    call += "checkpoint_every=1.0)"
    kill_during_write(call, stop_at=4, cwd=tmp_path)
    assert load_checkpoint(ck, "course").meta["step"] == 3
    whole = circnet.simulate_course(body, "lung", 0.1, rng=5)
    assert circnet.resume_course(ck, body).timeseries.equals(whole.timeseries)
    again = circnet.simulate_course(body, "lung", 0.1, rng=5, checkpoint=ck)
    assert again.timeseries.equals(whole.timeseries)


@pytest.mark.slow
def test_kill_during_ensemble_chunk(tmp_path):
    ckdir = tmp_path / "sweep"
    call = "circnet.ensemble('fates', {'diameter_um': [10.0, 12.0, 14.0, 16.0]}, rng=6, "
    call += f"chunk_size=1, primary='lung', body=tiny_body(), checkpoint={str(ckdir)!r})"
    kill_during_write(call, stop_at=3, cwd=tmp_path)
    assert len(list(ckdir.glob("chunk-*.npz"))) == 2
    design = {"diameter_um": [10.0, 12.0, 14.0, 16.0]}
    whole = circnet.ensemble("fates", design, rng=6, chunk_size=1, primary="lung", body=tiny_body())
    resumed = circnet.ensemble(
        "fates", design, rng=6, chunk_size=1, primary="lung", body=tiny_body(), checkpoint=ckdir
    )
    assert resumed.table.equals(whole.table)


@pytest.mark.slow
def test_kill_at_random_moments_leaves_old_or_new_file(tmp_path):
    """A writer alternating two bodies, killed at random: the file is always one of them."""
    target = tmp_path / "body.graphml"
    versions = []
    for name in ("A", "B"):
        g = tiny_body()
        g.graph["name"] = name
        versions.append(circnet.write_body(g, tmp_path / f"{name}.graphml").read_bytes())
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        import circnet
        from bodies import tiny_body
        g = tiny_body()
        print("READY", flush=True)
        i = 0
        while True:
            g.graph["name"] = "AB"[i % 2]
            circnet.write_body(g, {str(target)!r})
            i += 1
    """)
    rnd = random.Random(16)
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(rnd.uniform(0.05, 0.4))
        proc.kill()
        proc.wait()
        proc.stdout.close()
        if target.exists():
            assert target.read_bytes() in versions
    age(temps(tmp_path))
    circnet.write_body(tiny_body(), target)
    assert temps(tmp_path) == []
