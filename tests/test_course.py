"""Tests for circnet.course: conservation, shedding off, dormancy, immunity, surgery,
reproducibility, checkpoint/resume, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import circnet
from circnet._files import load_checkpoint, save_checkpoint
from circnet._rows import Rows
from circnet.course import EVENT_KINDS, _run_fingerprint


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
        "dormant_cells",
        "micrometastases",
        "micrometastasis_cells",
        "vascular_metastases",
        "vascular_metastasis_cells",
        "detectable_metastases",
        "primary_cells",
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_inhibitor_slows_the_primary(model):
    base = circnet.simulate_course(model, "lung", 3, rng=9)
    treated = circnet.simulate_course(model, "lung", 3, rng=9, inhibitor_from_day=365)
    assert treated.daily["primary_cells"].iloc[-1] < 0.5 * base.daily["primary_cells"].iloc[-1]
    assert (treated.events["kind"] == "inhibitor_start").sum() == 1


@pytest.mark.slow
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
        assert "__header__" in data and "row_lnv" in data


def test_resume_rejects_foreign_or_broken_files(model, tmp_path):
    with pytest.raises(circnet.CheckpointError, match="does not exist"):
        circnet.resume_course(tmp_path / "missing.npz", model.body)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(circnet.CheckpointError, match="is unreadable"):
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
        (dict(years=-1), circnet.ParameterError, "`years` must be >= 0 years"),
        (dict(years="ten"), circnet.ParameterError, "`years` must be a number"),
        (dict(dt_days=0), circnet.ParameterError, "`dt_days` must be >= 0.001 days"),
        (dict(surgery_day=-5), circnet.ParameterError, "`surgery_day` must be >= 0 days"),
        (
            dict(switch_rate=-1.0),
            circnet.ParameterError,
            "`switch_rate` must (not be negative|be >= 0)",
        ),
        (dict(speed=2.0), circnet.ParameterError, "unknown tumour parameter 'speed'"),
        (dict(params={"b": 1}), circnet.ParameterError, "`params` must be TumourParams"),
        (dict(primary_cells=0), circnet.ParameterError, "`primary_cells` must be > 0 cells"),
        (dict(stop_day=10), circnet.ParameterError, "`stop_day` needs a `checkpoint`"),
        (dict(checkpoint_every=0), circnet.ParameterError, "`checkpoint_every` must be > 0 days"),
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


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rng="x"), "`rng` must be an int >= 0"),
        (dict(rng=-1), "`rng` seed must be non-negative"),
        (dict(rng=True), "`rng` must be an int >= 0"),
        (dict(rng=1.5), "`rng` must be an int >= 0"),
        (dict(years=float("nan")), "`years` must be finite"),
        (dict(years=True), "`years` must be a number"),
        (dict(dt_days=1e-4), r"`dt_days` must be >= 0.001 days"),
        (dict(years=3000), r"at most 1,000,000 are allowed"),
        (dict(years=1e308), r"at most 1,000,000 are allowed"),
        (dict(primary_capacity_cells=-1.0), "`primary_capacity_cells` must be > 0 cells"),
        (dict(primary_cells=float("inf")), "`primary_cells` must be finite"),
        (dict(inhibitor_from_day="soon"), "`inhibitor_from_day` must be a number"),
        (dict(stop_day=-1, checkpoint="x.npz"), "`stop_day` must be >= 0 days"),
        (dict(checkpoint=3), "`checkpoint` must be a file path"),
    ],
)
def test_validation_limits(model, kwargs, match):
    args = dict(years=0.1, rng=1)
    args.update(kwargs)
    years = args.pop("years")
    with pytest.raises(circnet.ParameterError, match=match):
        circnet.simulate_course(model, "lung", years, **args)


def test_growth_too_fast_for_the_step_is_refused_not_run(model):
    # a primary 1e9 times above its capacity: RK4 would need ~1e8 sub-steps a day
    with pytest.raises(circnet.ParameterError, match=r"at most 10000 are allowed"):
        circnet.simulate_course(
            model.body, "liver", 0.1, primary_cells=1e9, primary_capacity_cells=1.0
        )
    with pytest.raises(circnet.ParameterError, match="RK4 sub-steps"):
        circnet.simulate_course(model, "lung", 0.1, rng=1, lambda1=1e6)


def test_result_is_frozen_and_says_how_it_ended(model, tmp_path):
    res = circnet.simulate_course(model, "lung", 0.1, rng=1)
    assert res.status == "finished" and "day 37" in res.message
    with pytest.raises(AttributeError):
        res.days = 1.0  # type: ignore[misc]
    part = circnet.simulate_course(model, "lung", 0.1, rng=1, checkpoint=tmp_path / "c", stop_day=9)
    assert part.status == "stopped" and part.days == 9.0 and "stopped at day 9" in part.message


def test_checkpoint_fingerprint_covers_seed_and_run(model, tmp_path):
    ck = tmp_path / "c.npz"
    kw = dict(rng=5, surgery_day=20)
    full = circnet.simulate_course(model, "lung", 0.2, **kw)
    circnet.simulate_course(model, "lung", 0.2, checkpoint=ck, stop_day=30, **kw)
    before = ck.read_bytes()
    for other in (
        dict(rng=6, surgery_day=20),
        dict(rng=5, surgery_day=21),
        dict(rng=5, surgery_day=20, switch_rate=1e-8),
        dict(rng=5, surgery_day=20, primary_cells=2e6),
    ):
        with pytest.raises(circnet.CheckpointError, match="belongs to another run"):
            circnet.simulate_course(model, "lung", 0.2, checkpoint=ck, **other)
    with pytest.raises(circnet.CheckpointError, match="belongs to another run"):
        circnet.simulate_course(model, "kidneys", 0.2, checkpoint=ck, **kw)
    with pytest.raises(circnet.CheckpointError, match="belongs to another run"):
        circnet.simulate_course(model, "lung", 0.3, checkpoint=ck, **kw)
    with pytest.raises(circnet.CheckpointError, match="belongs to another run"):
        circnet.simulate_course(model, "lung", 0.2, checkpoint=ck, dt_days=0.5, **kw)
    assert ck.read_bytes() == before  # a foreign checkpoint is never overwritten
    # the same run (same seed, from an int or a Generator) resumes from it
    again = circnet.simulate_course(
        model, "lung", 0.2, checkpoint=ck, rng=np.random.default_rng(5), surgery_day=20
    )
    _tables_equal(full, again)
    assert again.status == "finished"


def test_corrupt_truncated_or_foreign_checkpoints_raise_checkpoint_error(model, tmp_path):
    ck = tmp_path / "c.npz"
    circnet.simulate_course(model, "lung", 0.2, rng=1, checkpoint=ck, stop_day=30)
    data = ck.read_bytes()
    cases = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "tail": data[:-20],
        "garbage": b"PK\x03\x04" + bytes(200),
        "flipped": data[:200] + bytes([data[200] ^ 0xFF]) + data[201:],
    }
    for name, content in cases.items():
        bad = tmp_path / f"{name}.npz"
        bad.write_bytes(content)
        with pytest.raises(circnet.CheckpointError):
            circnet.resume_course(bad, model.body)
        with pytest.raises(circnet.CheckpointError):
            circnet.simulate_course(model, "lung", 0.2, rng=1, checkpoint=bad)
    # a plain npz, and a checkpoint of another kind
    plain = tmp_path / "plain.npz"
    np.savez(plain, row_lnv=np.zeros(3))
    with pytest.raises(circnet.CheckpointError, match="not a circnet checkpoint"):
        circnet.resume_course(plain, model.body)
    other = tmp_path / "other.npz"
    save_checkpoint(other, "simulate", "x", {"a": np.zeros(2)})
    with pytest.raises(circnet.CheckpointError, match="not by 'course'"):
        circnet.resume_course(other, model.body)
    # a course checkpoint whose arrays do not fit, with a valid digest
    ck2 = load_checkpoint(ck, "course")
    for key, value in (
        ("row_site", np.zeros(7, dtype=np.int64)),
        ("stats", np.zeros((2, 2))),
        ("stages", np.zeros((2, 2))),
        ("ev_kind", np.full(ck2.arrays["ev_kind"].shape, 99)),
        ("daily", np.zeros((3, 8), dtype=complex)),
    ):
        arrays = dict(ck2.arrays, **{key: value})
        forged = tmp_path / f"forged_{key}.npz"
        save_checkpoint(forged, "course", ck2.meta["fingerprint"], arrays, meta=ck2.meta,
                        rng=ck2.generator())  # fmt: skip
        with pytest.raises(circnet.CheckpointError):
            circnet.resume_course(forged, model.body)
    # an edited header, also one whose run definition is rehashed
    run = dict(ck2.meta["run"], surgery_day="soon")
    rehashed = dict(ck2.meta, run=run, fingerprint=_run_fingerprint(run))
    for meta in (
        dict(ck2.meta, step=10**9),
        dict(ck2.meta, step=True),
        dict(ck2.meta, run=dict(ck2.meta["run"], years=50)),
        dict(ck2.meta, surgery_done="yes"),
        rehashed,
    ):
        forged = tmp_path / "forged_meta.npz"
        save_checkpoint(forged, "course", ck2.meta["fingerprint"], ck2.arrays, meta=meta,
                        rng=ck2.generator())  # fmt: skip
        with pytest.raises(circnet.CheckpointError):
            circnet.resume_course(forged, model.body)


def test_row_store_grows_compacts_and_round_trips():
    rows = Rows()
    k = 300
    cols = dict(
        count=np.arange(k) % 2, lnv=np.linspace(0, 1, k), lnk=np.ones(k), born=np.zeros(k),
        vascular=np.zeros(k, bool), primary=np.zeros(k, bool), detected=np.zeros(k, bool),
        nodal=np.zeros(k, bool), kill=np.zeros(k),
    )  # fmt: skip
    rows.append(site=np.arange(k) % 5, **cols)
    assert rows.n == k and rows.capacity >= k
    rows.compact()  # half the rows are empty: dropped, order kept
    assert rows.n == k // 2 and (rows.count[: rows.n] == 1).all()
    np.testing.assert_array_equal(rows.lnv[: rows.n], np.linspace(0, 1, k)[1::2])
    back = Rows.from_arrays(rows.to_arrays(), "test", n_sites=5)
    for a, b in zip(rows.columns(), back.columns(), strict=True):
        np.testing.assert_array_equal(a[: rows.n], b[: back.n])
    with pytest.raises(circnet.CheckpointError, match="names a site the body lacks"):
        Rows.from_arrays(rows.to_arrays(), "test", n_sites=3)


def test_resume_refuses_bad_arguments(model, tmp_path):
    with pytest.raises(circnet.ParameterError, match="`path` must be a file path"):
        circnet.resume_course(None, model.body)
    ck = tmp_path / "c.npz"
    circnet.simulate_course(model, "lung", 0.1, rng=1, checkpoint=ck, stop_day=5)
    with pytest.raises(circnet.ParameterError, match="`checkpoint_every` must be > 0 days"):
        circnet.resume_course(ck, model.body, checkpoint_every=-1)
    with pytest.raises(circnet.ParameterError, match="`body` must be a body graph"):
        circnet.resume_course(ck, "body")


@pytest.mark.slow
def test_example_course_colon_breast_runs(capsys):
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "course_colon_breast.py"
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "colon_rectum primary" in out and "breast primary" in out


def test_resume_expecting_other_arguments_is_refused(model, tmp_path):
    ck = tmp_path / "c.npz"
    circnet.simulate_course(model, "lung", 0.1, rng=3, checkpoint=ck, stop_day=5)
    same = {"primary": "lung", "years": 0.1, "rng": 3, "surgery_day": None}
    assert circnet.resume_course(ck, model, expect=same).status == "finished"
    circnet.simulate_course(model, "lung", 0.1, rng=3, checkpoint=ck, stop_day=5)
    for key, value in [("rng", 4), ("years", 0.2), ("primary", "liver"), ("surgery_day", 3)]:
        with pytest.raises(circnet.CheckpointError, match="holds another course"):
            circnet.resume_course(ck, model, expect={key: value})
    with pytest.raises(circnet.ParameterError, match="unknown key 'colour'"):
        circnet.resume_course(ck, model, expect={"colour": 1})


def test_records_and_cells_are_bounded(model):
    with pytest.raises(circnet.ParameterError, match="MiB of records"):
        circnet.simulate_course(circnet.default_body(), "lung", 1000)
    with pytest.raises(circnet.ParameterError, match="primary_cells"):
        circnet.simulate_course(model, "lung", 0.1, primary_cells=1e17)


# --------------------------------------------------------------------------- words (stages)
@pytest.mark.slow
def test_stages_partition_the_tumours_and_keep_dormant_cells_out_of_the_burden(model):
    res = circnet.simulate_course(model, "lung", 4, rng=2, switch_rate=1e-6)
    ts, d, s = res.timeseries, res.daily, res.summary
    end = ts[ts["day"] == res.days]
    # every tumour is in exactly one stage: dormant, micrometastasis, vascular, primary
    prim = (ts["primary_cells"] > 0).astype(int)
    np.testing.assert_array_equal(
        ts["n_tumours"],
        ts["dormant_cells"] + ts["micrometastases"] + ts["vascular_metastases"] + prim,
    )
    np.testing.assert_array_equal(ts["n_vascular"], ts["vascular_metastases"] + prim)
    assert ts["dormant_cells"].dtype == np.int64 and ts["micrometastases"].dtype == np.int64
    # dormant disseminated cells (below 2 cells) are never counted as cells of the burden
    assert s["dormant_cells_end"] == int(end["dormant_cells"].sum()) > 0
    assert s["micrometastases_end"] == int(end["micrometastases"].sum()) > 0
    assert s["vascular_metastases_end"] == int(end["vascular_metastases"].sum()) > 0
    burden = float(end["vascular_metastasis_cells"].sum())
    assert s["vascular_metastasis_cells_end"] == pytest.approx(burden)
    assert burden < d["disseminated_tumour_cells"].iloc[-1]
    assert s["micrometastasis_cells_end"] >= 2 * s["micrometastases_end"]
    below = d["disseminated_tumour_cells"] - d["vascular_metastasis_cells"]
    below = below - d["micrometastasis_cells"]
    # what is left is the dormant cells' own cells: between 1 and 2 each
    assert (below >= 0.99 * d["dormant_cells"] - 1e-6 * d["disseminated_tumour_cells"]).all()
    assert (below <= 2.0 * d["dormant_cells"] + 1e-6 * d["disseminated_tumour_cells"]).all()
    np.testing.assert_allclose(
        ts["primary_cells"][ts["site"] == "lung"].to_numpy()[1:], d["primary_cells"]
    )
    # detectable: metastases of at least detection_cells
    assert s["detectable_metastases_end"] == int(end["detectable_metastases"].sum())
    assert (ts["detectable_metastases"] <= ts["n_tumours"]).all()
    assert s["cells_disseminated_to_organs"] == int(d["colonies"].sum())
    assert s["cells_disseminated_to_nodes"] == int(d["nodal"].sum())
    for old in ("metastatic_cells_end", "colonies_founded", "nodal_tumours_founded"):
        assert old not in s.index


def test_dormant_threshold_follows_colony_cells(model):
    # colonies founded as 4 cells are dormant until they reach 8
    kw = dict(switch_rate=0.0, dormant_death_rate=0.0)
    res = circnet.simulate_course(model, "colon_rectum", 1, rng=4, colony_cells=4.0, **kw)
    ts = res.timeseries
    mets = ts[ts["site"] != "colon_rectum"]
    assert mets["dormant_cells"].sum() > 0 and mets["micrometastases"].sum() > 0
    small = mets[mets["micrometastases"] == 0]
    assert (small["largest_cells"][small["n_tumours"] > 0] < 8.0).all()
    assert circnet.course.DORMANT_BELOW_DOUBLINGS == 1.0
    assert set(circnet.course.COURSE_TERMS) >= {
        "dormant disseminated cells",
        "avascular micrometastases",
        "vascular metastases",
        "detectable metastasis",
    }


def test_checkpoint_without_stages_still_resumes(model, tmp_path):
    kw = dict(rng=6)
    full = circnet.simulate_course(model, "lung", 1, **kw)
    ck = tmp_path / "old.npz"
    circnet.simulate_course(model, "lung", 1, checkpoint=ck, stop_day=100, **kw)
    old = load_checkpoint(ck, "course")
    arrays = {k: v for k, v in old.arrays.items() if k != "stages"}  # as before the stages
    save_checkpoint(ck, "course", old.meta["fingerprint"], arrays, meta=old.meta,
                    rng=old.generator())  # fmt: skip
    again = circnet.resume_course(ck, model.body)
    cols = list(full.timeseries.columns[:7])
    assert again.timeseries[cols].equals(full.timeseries[cols])
    ts = again.timeseries
    assert ts.loc[ts["day"] <= 100, "dormant_cells"].isna().all()
    late = ts[ts["day"] > 100]
    np.testing.assert_array_equal(
        late["dormant_cells"], full.timeseries.loc[late.index, "dormant_cells"]
    )
