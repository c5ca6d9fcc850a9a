"""Tests for circnet.course: conservation, shedding off, dormancy, immunity, surgery,
reproducibility, checkpoint/resume, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import circnet
from circnet.course import EVENT_KINDS


@pytest.fixture(scope="module")
def model():
    """One transport model of the default male body (factorised once for the module)."""
    return circnet.TransportModel(circnet.default_body("male"))


def _tables_equal(a: circnet.CourseResult, b: circnet.CourseResult) -> None:
    assert a.timeseries.equals(b.timeseries)
    assert a.events.equals(b.events)
    assert a.daily.equals(b.daily)
    assert a.summary.equals(b.summary)


def test_result_tables_have_the_documented_shape(model):
    res = circnet.simulate_course(model, "colon_rectum", 1, rng=5)
    ts = res.to_frame()
    assert list(ts.columns) == [
        "day",
        "site",
        "n_tumours",
        "n_vascular",
        "total_cells",
        "largest_cells",
        "detectable",
    ]
    assert ts["day"].max() == res.days == 365.0
    assert set(res.events["kind"].cat.categories) == set(EVENT_KINDS)
    assert len(res.daily) == 365
    assert res.summary["primary"] == "colon_rectum"
    # the primary is there from day 0 and is its site's largest tumour
    prim = ts[ts["site"] == "colon_rectum"]
    assert (prim["n_vascular"] >= 1).all()
    assert prim["largest_cells"].iloc[-1] == pytest.approx(res.daily["primary_cells"].iloc[-1])


def test_shed_cells_are_conserved_every_day(model):
    res = circnet.simulate_course(model, "lung", 2, rng=11)
    d = res.daily
    assert d["shed"].sum() > 0
    np.testing.assert_array_equal(d["shed"], d["dead"] + d["colonies"] + d["nodal"])
    assert res.summary["conserved"]
    # founded events account for every colony and nodal tumour
    founded = res.events[res.events["kind"] == "founded"]["count"].sum()
    assert founded == d["colonies"].sum() + d["nodal"].sum()


def test_no_shedding_no_metastasis(model):
    res = circnet.simulate_course(model, "colon_rectum", 3, rng=1, shedding_rate=0.0)
    assert res.daily["shed"].sum() == 0
    assert set(res.timeseries["site"]) == {"colon_rectum"}
    assert not (res.events["kind"].isin(["founded", "angiogenic_switch"])).any()
    assert res.first_detectable_metastasis is None


def test_dormancy_forever_keeps_colonies_at_or_below_the_avascular_limit(model):
    p = circnet.TumourParams(switch_rate=0.0, dormant_death_rate=0.0)
    res = circnet.simulate_course(model, "colon_rectum", 2, rng=2, params=p)
    ts = res.timeseries
    mets = ts[ts["site"] != "colon_rectum"]
    assert mets["n_tumours"].max() > 0
    assert mets["largest_cells"].max() <= p.avascular_limit_cells
    assert mets["n_vascular"].max() == 0
    assert res.daily["switched"].sum() == 0 and res.daily["vanished"].sum() == 0
    # and some colonies have stalled near the limit
    assert mets["largest_cells"].max() > 0.5 * p.avascular_limit_cells


def _nodal_largest(res: circnet.CourseResult, model) -> float:
    ts = res.timeseries
    return float(ts[ts["site"].isin(model.lymph_nodes)]["largest_cells"].max())


def test_immune_kill_holds_nodal_tumours(model):
    # dormant colonies never vanish nor switch: without immunity nodal ones reach the limit
    kw = dict(switch_rate=0.0, dormant_death_rate=0.0)
    limit = circnet.TumourParams().avascular_limit_cells
    free = circnet.simulate_course(model, "colon_rectum", 3, rng=4, immune_kill_rate=0.0, **kw)
    held = circnet.simulate_course(model, "colon_rectum", 3, rng=4, **kw)  # default kill
    strong = circnet.simulate_course(model, "colon_rectum", 3, rng=4, immune_kill_rate=1.0, **kw)
    assert _nodal_largest(free, model) > 0.5 * limit
    assert _nodal_largest(held, model) < 0.25 * limit
    assert _nodal_largest(strong, model) <= 1.0 + 1e-9  # cleared the day after founding
    assert strong.daily["cleared"].sum() == strong.daily["nodal"].iloc[:-1].sum()


def test_surgery_stops_the_primary_shedding(model):
    res = circnet.simulate_course(model, "colon_rectum", 2, rng=8, surgery_day=300)
    d = res.daily
    assert d.loc[d.index <= 300, "shed_primary"].sum() > 0
    assert d.loc[d.index > 300, "shed_primary"].sum() == 0
    assert (d.loc[d.index > 300, "primary_cells"] == 0).all()
    ev = res.events[res.events["kind"] == "surgery"]
    assert len(ev) == 1 and ev["day"].iloc[0] == 300


def test_inhibitor_slows_the_primary(model):
    base = circnet.simulate_course(model, "lung", 3, rng=9)
    treated = circnet.simulate_course(model, "lung", 3, rng=9, inhibitor_from_day=365)
    assert treated.daily["primary_cells"].iloc[-1] < 0.5 * base.daily["primary_cells"].iloc[-1]
    assert (treated.events["kind"] == "inhibitor_start").sum() == 1


def test_same_seed_same_course(model):
    a = circnet.simulate_course(model, "colon_rectum", 2, rng=123)
    b = circnet.simulate_course(model, "colon_rectum", 2, rng=np.random.default_rng(123))
    _tables_equal(a, b)
    c = circnet.simulate_course(model, "colon_rectum", 2, rng=124)
    assert not a.daily["shed"].equals(c.daily["shed"])


def test_body_or_model_give_the_same_course(model):
    a = circnet.simulate_course(model, "kidneys", 1, rng=3)
    b = circnet.simulate_course(model.body, "kidneys", 1, rng=3)
    _tables_equal(a, b)


def test_resume_equals_uninterrupted(model, tmp_path):
    kw = dict(rng=77, surgery_day=500, inhibitor_from_day=600, switch_rate=1e-8)
    full = circnet.simulate_course(model, "colon_rectum", 3, **kw)
    ck = tmp_path / "course.npz"
    part = circnet.simulate_course(
        model, "colon_rectum", 3, checkpoint=ck, checkpoint_every=100, stop_day=450, **kw
    )
    assert part.days == 450
    again = circnet.resume_course(ck, model.body, checkpoint_every=200)
    _tables_equal(full, again)
    # the final checkpoint resumes to the same result again
    _tables_equal(full, circnet.resume_course(ck, model))


def test_checkpoint_is_pickle_free(model, tmp_path):
    ck = tmp_path / "c.npz"
    circnet.simulate_course(model, "lung", 1, rng=1, checkpoint=ck, stop_day=100)
    with np.load(ck, allow_pickle=False) as data:
        assert "header" in data and "row_lnv" in data


def test_resume_rejects_foreign_or_broken_files(model, tmp_path):
    with pytest.raises(circnet.CheckpointError, match="does not exist"):
        circnet.resume_course(tmp_path / "missing.npz", model.body)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(circnet.CheckpointError, match="is not a circnet course"):
        circnet.resume_course(bad, model.body)
    ck = tmp_path / "c.npz"
    circnet.simulate_course(model, "lung", 1, rng=1, checkpoint=ck, stop_day=10)
    other = circnet.scale_organ_flow(model.body, "liver", 1.5)
    with pytest.raises(circnet.CheckpointError, match="another body"):
        circnet.resume_course(ck, other)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(primary="spleeen"), circnet.UnknownNameError, "unknown primary site 'spleeen'"),
        (dict(years=-1), circnet.ParameterError, "`years` must be finite and not negative"),
        (dict(years="ten"), circnet.ParameterError, "`years` must be a number"),
        (dict(dt_days=0), circnet.ParameterError, "`dt_days` must be positive"),
        (dict(surgery_day=-5), circnet.ParameterError, "`surgery_day` must be finite"),
        (dict(switch_rate=-1.0), circnet.ParameterError, "`switch_rate` must not be negative"),
        (dict(speed=2.0), circnet.ParameterError, "unknown tumour parameter 'speed'"),
        (dict(params={"b": 1}), circnet.ParameterError, "`params` must be TumourParams"),
        (dict(primary_cells=0), circnet.ParameterError, "`primary_cells` must be a positive"),
        (dict(stop_day=10), circnet.ParameterError, "`stop_day` needs a `checkpoint`"),
        (dict(checkpoint_every=0), circnet.ParameterError, "`checkpoint_every` must be positive"),
        (dict(cells="big"), circnet.ParameterError, "`cells` must be a CellProfile"),
    ],
)
def test_bad_input_raises_circnet_errors(model, kwargs, error, match):
    args = dict(primary="lung", years=0.1)
    args.update(kwargs)
    primary, years = args.pop("primary"), args.pop("years")
    body = model.body if "cells" in args else model
    with pytest.raises(error, match=match):
        circnet.simulate_course(body, primary, years, rng=1, **args)


def test_first_detectable_metastasis_matches_the_events(model):
    res = circnet.simulate_course(
        model,
        "colon_rectum",
        4,
        rng=3,
        switch_rate=1e-7,
        primary_cells=1e8,
        primary_capacity_cells=1e9,
    )
    first = res.first_detectable_metastasis
    assert first is not None
    day, site = first
    assert res.summary["first_detectable_metastasis_day"] == day
    assert res.summary["first_detectable_metastasis_site"] == site
    ts = res.timeseries
    assert ts[(ts["day"] == day) & (ts["site"] == site)]["detectable"].all()
    assert res.burden(day)[site] >= res.params.detection_cells


@pytest.mark.slow
def test_example_course_colon_breast_runs(capsys):
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "course_colon_breast.py"
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "colon_rectum primary" in out and "breast primary" in out
