"""The "circnet" logger: silent by default (NullHandler), and it reports solver choices,
refinement steps, retries and resumes."""

from __future__ import annotations

import logging

import pytest

import circnet
import circnet._chain

_CALLS: dict[int, int] = {}


def flaky(params, rng, **fixed):
    """A task that fails the first time it runs for each member."""
    i = int(params["i"])
    _CALLS[i] = _CALLS.get(i, 0) + 1
    if _CALLS[i] == 1:
        raise RuntimeError("first try fails")
    return {"x": float(i)}


def messages(caplog, logger):
    return [r.getMessage() for r in caplog.records if r.name == logger]


def test_the_library_logger_has_a_null_handler():
    handlers = logging.getLogger("circnet").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_solver_choice_is_logged(caplog):
    caplog.set_level(logging.DEBUG, logger="circnet")
    circnet.TransportModel(circnet.default_body()).fates("lung")
    (msg,) = {m for m in messages(caplog, "circnet._chain") if "solver" in m}
    assert "direct solver (chosen by structure)" in msg or "iterative solver" in msg


def test_refinement_steps_are_logged(caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="circnet")
    monkeypatch.setattr(circnet._chain, "RESIDUAL_TOL", 0.0)  # no solve is ever good enough
    with pytest.raises(circnet.SolverError, match="did not converge"):
        circnet.TransportModel(circnet.default_body()).fates("lung")
    refined = [m for m in messages(caplog, "circnet._chain") if "refining" in m]
    assert len(refined) == 3 and "relative residual" in refined[0]


def test_simulation_resume_is_logged(caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="circnet")
    model = circnet.TransportModel(circnet.default_body())
    ck = tmp_path / "run.npz"
    args = ("lung", 1000, [10.0, 20.0, 30.0])
    first = model.simulate(*args, rng=1, dt=10, checkpoint=ck, stop_after=1)
    assert first.status == "stopped" and not messages(caplog, "circnet.simulate")
    model.simulate(*args, rng=1, dt=10, checkpoint=ck)
    (msg,) = messages(caplog, "circnet.simulate")
    assert msg == f"simulate: resuming from {ck} at step 1"


def test_course_resume_is_logged(caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="circnet")
    body = circnet.default_body()
    ck = tmp_path / "course.npz"
    circnet.simulate_course(body, "lung", 0.1, rng=3, checkpoint=ck, stop_day=10)
    assert not messages(caplog, "circnet.course")
    circnet.simulate_course(body, "lung", 0.1, rng=3, checkpoint=ck)
    assert messages(caplog, "circnet.course") == [f"course: resuming from {ck}"]


def test_ensemble_retries_and_resume_are_logged(caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="circnet")
    _CALLS.clear()
    design = circnet.grid({"i": [0, 1, 2, 3]})
    res = circnet.ensemble(flaky, design, rng=1, retries=1)
    assert (res.table["status"] == "ok").all()
    retried = [m for m in messages(caplog, "circnet.ensemble") if "retry" in m]
    assert len(retried) == 4 and "first try fails" in retried[0]
    caplog.clear()
    ckpt = tmp_path / "sweep.ckpt"
    part = circnet.ensemble(flaky, design, rng=1, checkpoint=ckpt, chunk_size=1, max_chunks=2)
    assert part.status == 1 and not [
        m for m in messages(caplog, "circnet.ensemble") if "resum" in m
    ]
    circnet.ensemble(flaky, design, rng=1, checkpoint=ckpt, chunk_size=1)
    (msg,) = [m for m in messages(caplog, "circnet.ensemble") if "resum" in m]
    assert msg == f"resuming from {ckpt}: 2 chunk(s) already done"
