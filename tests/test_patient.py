"""Tests of circnet.patient: one patient of the clinical cohort engine, day by day."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import circnet
from circnet.cohort import simulate_cohort
from circnet.errors import ParameterError, UnknownNameError
from circnet.patient import PATIENT_TERMS, PatientCourse, simulate_patient

YEARS = 3.0


@pytest.fixture(scope="module")
def model() -> circnet.TransportModel:
    return circnet.TransportModel(circnet.default_body())


@pytest.fixture(scope="module")
def course(model: circnet.TransportModel) -> PatientCourse:
    # colon_rectum, seed 5, patient 3: a few thousand colonies, vascular metastases
    return simulate_patient(model, "colon_rectum", rng=5, years=YEARS, patient=3)


@pytest.fixture(scope="module")
def cohort(model: circnet.TransportModel) -> circnet.CohortResult:
    return simulate_cohort(
        model, "colon_rectum", 4, rng=5, years=YEARS, follow="all", keep_colonies=True
    )


@pytest.mark.parametrize("who", [0, 2])
def test_patient_is_the_cohort_row(
    model: circnet.TransportModel, cohort: circnet.CohortResult, who: int
) -> None:
    alone = simulate_patient(model, "colon_rectum", rng=5, years=YEARS, patient=who)
    row = cohort.patients.iloc[who]
    pd.testing.assert_series_equal(alone.patient, row, check_names=False)
    mine = cohort.colonies[cohort.colonies["patient"] == who].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.colonies[list(mine.columns)], mine)


@pytest.mark.slow
def test_same_seed_same_course_other_seed_differs(model: circnet.TransportModel) -> None:
    a = simulate_patient(model, "lung", rng=11, years=0.5)
    b = simulate_patient(model, "lung", rng=11, years=0.5)
    c = simulate_patient(model, "lung", rng=12, years=0.5)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    assert a.summary.equals(b.summary)
    assert a.summary["diagnosis_day"] != c.summary["diagnosis_day"]


def test_patient_3_is_the_cohort_row(course: PatientCourse, cohort: circnet.CohortResult) -> None:
    pd.testing.assert_series_equal(course.patient, cohort.patients.iloc[3], check_names=False)


def test_primary_and_surgery(course: PatientCourse) -> None:
    d = int(course.summary["diagnosis_day"])
    prim = course.daily["primary_cells"]
    assert prim.loc[d] >= course.patient["diagnosis_cells"] * (1 - 1e-9)
    assert prim.loc[d - 1] < course.patient["diagnosis_cells"]
    assert (prim.loc[d + 1 :] == 0).all()
    assert (np.diff(prim.loc[:d].to_numpy()) > 0).all()  # Gompertz: growing
    kinds = course.events.set_index("kind")["day"]
    assert kinds["diagnosis"] == d and kinds["surgery"] == d


def test_natural_history_keeps_the_primary(model: circnet.TransportModel) -> None:
    c = simulate_patient(model, "lung", rng=3, years=1, scenario="natural")
    assert c.daily["primary_cells"].iloc[-1] > c.summary["diagnosis_cells"]
    assert "surgery" not in set(c.events["kind"].astype(str))


def test_daily_frame_agrees_with_events(course: PatientCourse) -> None:
    cols, days = course.colonies, course.days
    organ = ~cols["site"].str.endswith("_nodes")  # the regional nodes may be dissected
    det = cols.loc[organ, "detectable_day"].to_numpy()
    expected = (det[None, :] <= days[:, None]).sum(axis=1)
    ts = course.timeseries
    organs_ts = ts[~ts["site"].astype(str).str.endswith("_nodes")]
    got = organs_ts.groupby("day")["detectable_metastases"].sum().to_numpy()
    np.testing.assert_array_equal(got, expected)
    assert expected[-1] > 0  # the case has detectable metastases
    # every detectable event is on its colony's detection day, and counted from then on
    ev = course.events[course.events["kind"] == "detectable"]
    for day, site in ev[["day", "site"]].head(20).itertuples(index=False):
        here = ts[(ts["site"] == site)].set_index("day")["detectable_metastases"]
        assert here.loc[day] > (here.loc[day - 1] if day > 0 else 0)


def test_counts_are_conserved_integers(course: PatientCourse) -> None:
    ts = course.timeseries
    for col in ("micrometastases", "vascular_metastases", "detectable_metastases"):
        assert ts[col].dtype == np.int64 and (ts[col] >= 0).all()
    assert course.daily["ctc_per_7_5_ml"].dtype == np.int64
    assert (course.daily["ctc_per_7_5_ml"] >= 0).all()
    # organs: every awakened colony is a micrometastasis or a vascular metastasis
    cols = course.colonies
    organ = ~cols["site"].str.endswith("_nodes")
    woke = (cols.loc[organ, "awakened"].to_numpy()[None, :] <= course.days[:, None]).sum(axis=1)
    o = ts[~ts["site"].astype(str).str.endswith("_nodes")].groupby("day")
    alive = (o["micrometastases"].sum() + o["vascular_metastases"].sum()).to_numpy()
    np.testing.assert_array_equal(alive, woke)
    assert (ts["vascular_metastases"] >= ts["detectable_metastases"]).all()


def test_sizes_monotone_under_gompertz(course: PatientCourse) -> None:
    # exact on grid days, geometric in between (1: every day): monotone either way
    assert course.summary["cell_sums_exact_every_days"] >= 1
    ts = course.timeseries
    for _site, g in ts[~ts["site"].astype(str).str.endswith("_nodes")].groupby("site"):
        v = g.sort_values("day")["vascular_metastasis_cells"].to_numpy()
        assert (np.diff(v) >= -1e-6 * np.maximum(v[1:], 1.0)).all()
    lim = course.params.avascular_limit_cells
    exact = ts[ts["day"] % course.summary["cell_sums_exact_every_days"] == 0]
    assert (exact["micrometastasis_cells"] <= exact["micrometastases"] * lim * (1 + 1e-12)).all()


def test_ctc_and_dormant(course: PatientCourse) -> None:
    d = int(course.summary["diagnosis_day"])
    row = course.patient
    assert course.daily.loc[d, "ctc_per_7_5_ml"] == row["ctc_at_diagnosis"]
    assert course.daily.loc[d, "ctc_expected"] == pytest.approx(
        row["ctc_expected_at_diagnosis"], rel=1e-9
    )
    dormant = course.timeseries["expected_dormant_cells"]
    assert (dormant >= 0).all() and course.daily["expected_dormant_cells"].iloc[0] == 0
    # the dissected regional nodes hold nothing after diagnosis
    ts = course.timeseries
    after = ts[(ts["day"] > d) & (ts["site"] == "mesenteric_nodes")]
    assert (after[["expected_dormant_cells", "micrometastases", "vascular_metastases"]] == 0).all(
        axis=None
    )


def test_summary_words(course: PatientCourse) -> None:
    s = course.summary
    for key in (
        "diagnosis_day",
        "synchronous",
        "node_positive",
        "first_distant_site",
        "ctc_at_diagnosis",
        "vascular_metastases_end",
        "micrometastases_end",
    ):
        assert key in s.index and key in course.summary_words
    assert {"synchronous", "metachronous", "node-positive", "CTC per 7.5 mL"} <= set(PATIENT_TERMS)
    assert "diagnosed on day" in course.message
    assert course.burden(int(s["diagnosis_day"]))["colon_rectum"] > 0


def test_report_accepts_a_patient(course: PatientCourse, tmp_path) -> None:
    from circnet.report import course_overlay, course_report

    body = circnet.default_body()
    out = course_report(course, body, tmp_path / "p.html", title="patient <3>", plots=False)
    text = out.read_text(encoding="utf-8")
    for word in (
        "diagnosis",
        "surgery",
        "synchronous",
        "metachronous",
        "node-positive",
        "dormant disseminated cells",
        "avascular micrometastases",
        "vascular metastases",
        "CTC per 7.5 mL",
    ):
        assert word in text, word
    assert "patient &lt;3&gt;" in text and "patient <3>" not in text
    ov = course_overlay(course, body, stage="dormant", max_frames=20)
    assert ov.columns.name == "log10(expected dormant disseminated cells + 1)"


@pytest.mark.slow
def test_plot_and_report_with_plots_accept_a_patient(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from circnet.plots import plot_course
    from circnet.report import course_report

    body = circnet.default_body()
    short = simulate_patient(circnet.TransportModel(body), "lung", rng=3, years=0.5)
    assert plot_course(short, tmp_path / "p.png").stat().st_size > 1000
    fig_text = course_report(short, body, plots=True).html  # type: ignore[union-attr]
    assert "data:image/svg+xml;base64" in fig_text


# ------------------------------------------------------------------ history_years
@pytest.fixture(scope="module")
def long_pair(model: circnet.TransportModel) -> tuple[PatientCourse, PatientCourse]:
    # lung, seed 1, patient 12: diagnosed after 15-19 years; the window starts 60 days
    # after the first angiogenic switch, so a vascular metastasis sheds before it too
    full = simulate_patient(model, "lung", rng=1, years=1, patient=12, history_years=None)
    d = int(full.summary["diagnosis_day"])
    first_switch = float(full.colonies["switch"].min())
    years = (d - math.ceil(first_switch) - 60) / 365.25
    cut = simulate_patient(model, "lung", rng=1, years=1, patient=12, history_years=years)
    return full, cut


def test_history_window_is_cut(long_pair: tuple[PatientCourse, PatientCourse]) -> None:
    full, cut = long_pair
    d = int(full.summary["diagnosis_day"])
    assert full.history_from_day == 0 and full.days[0] == 0
    assert 0 < cut.history_from_day == cut.days[0] < d - 365
    assert cut.summary["history_from_day"] == cut.history_from_day
    assert int(cut.timeseries["day"].min()) == cut.history_from_day == cut.daily.index[0]
    assert (cut.colonies["switch"] < cut.history_from_day).sum() > 0  # shed before it
    assert "shown from day" in cut.message and "shown from day" not in full.message
    with pytest.raises(ParameterError, match="`day`"):
        cut.burden(cut.history_from_day - 1)
    assert cut.burden(cut.history_from_day, stage="dormant").sum() > 0


def test_history_window_is_the_same_on_common_days(
    long_pair: tuple[PatientCourse, PatientCourse],
) -> None:
    full, cut = long_pair
    start = cut.history_from_day
    exact = [c for c in full.daily.columns if c != "expected_dormant_cells"]
    pd.testing.assert_frame_equal(full.daily.loc[start:, exact], cut.daily[exact], check_exact=True)
    ts_full = full.timeseries[full.timeseries["day"] >= start].reset_index(drop=True)
    ts_cut = cut.timeseries.reset_index(drop=True)
    cols = [c for c in ts_full.columns if c != "expected_dormant_cells"]
    pd.testing.assert_frame_equal(ts_full[cols], ts_cut[cols], check_exact=True)
    # events (on their exact days, also before the window), summary and colonies: the same
    pd.testing.assert_frame_equal(full.events, cut.events)
    assert (cut.events["day"] < start).any()
    pd.testing.assert_frame_equal(full.colonies, cut.colonies)
    keys = [
        k for k in full.summary.index if k not in ("history_from_day", "expected_dormant_cells_end")
    ]
    assert full.summary[keys].equals(cut.summary[keys])
    # expected dormant cells: m(first) integrated on the coarse grid (exact for lambda
    # linear between its points; steps of 1 day next to the window): measured 1e-7
    # relative on the first day, decaying with the dormancy hazard after it. 1e-5 is
    # 100 times that and far below the engine's own grid (8 intervals to diagnosis).
    np.testing.assert_allclose(
        cut.timeseries["expected_dormant_cells"],
        ts_full["expected_dormant_cells"],
        rtol=1e-5,
        atol=1e-9,
    )
    assert cut.daily["expected_dormant_cells"].iloc[0] > 0  # carried in, not restarted


def test_report_of_a_cut_course(long_pair: tuple[PatientCourse, PatientCourse], tmp_path) -> None:
    from circnet.report import course_overlay, course_report

    _, cut = long_pair
    body = circnet.default_body()
    text = course_report(cut, body, tmp_path / "cut.html", plots=False).read_text("utf-8")
    years = (cut.summary["diagnosis_day"] - cut.history_from_day) / 365.25
    assert f"shown from day {cut.history_from_day} ({years:.3g} years before diagnosis)" in text
    ov = course_overlay(cut, body, max_frames=20)
    assert ov.index[0] == cut.history_from_day and ov.index[-1] == cut.days[-1]


@pytest.mark.slow
def test_plot_of_a_cut_course(long_pair: tuple[PatientCourse, PatientCourse], tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from circnet.plots import plot_course

    _, cut = long_pair
    axes = plot_course(cut, None)
    lo, hi = axes[0].get_xlim()
    assert lo == pytest.approx(cut.history_from_day / 365.25) and hi > lo
    assert f"shown from day {cut.history_from_day}, " in axes[0].get_title()
    assert plot_course(cut, tmp_path / "cut.png").stat().st_size > 1000


def test_bad_input_names_the_argument(model: circnet.TransportModel) -> None:
    with pytest.raises(ParameterError, match="`patient`"):
        simulate_patient(model, "lung", rng=1, patient=-1)
    with pytest.raises(ParameterError, match="`years`"):
        simulate_patient(model, "lung", rng=1, years=0)
    for bad in (0, -1.0, "25", float("nan"), True):
        with pytest.raises(ParameterError, match="`history_years`"):
            simulate_patient(model, "lung", rng=1, history_years=bad)
    with pytest.raises(ParameterError, match="`scenario`"):
        simulate_patient(model, "lung", rng=1, scenario="chemo")
    with pytest.raises(ParameterError, match="`body`"):
        simulate_patient("body", "lung", rng=1)
    with pytest.raises(ParameterError, match="`cells`"):
        simulate_patient(model, "lung", rng=1, cells=3)
    with pytest.raises(ParameterError, match="`rng`"):
        simulate_patient(model, "lung", rng="seed")
    with pytest.raises(UnknownNameError, match="heart_of_gold"):
        simulate_patient(model, "heart_of_gold", rng=1)


def test_a_patient_diagnosed_by_symptoms_keeps_the_primary(
    model: circnet.TransportModel,
) -> None:
    # lung, seed 3, patient 7: distant metastases reach the symptomatic burden first
    c = simulate_patient(model, "lung", rng=3, years=2, patient=7)
    row = simulate_cohort(model, "lung", 8, rng=3, years=2).patients.iloc[7]
    assert bool(row["diagnosed_by_symptoms"]) and not bool(row["primary_removed"])
    assert c.patient.equals(row)
    s = c.summary
    assert s["diagnosed_by_symptoms"] and s["synchronous"] and math.isnan(s["surgery_day"])
    assert "surgery" not in set(c.events["kind"])
    d = int(s["diagnosis_day"])
    after = c.daily[c.daily.index > d]
    assert len(after) and (after["primary_cells"] > s["diagnosis_cells"]).all()


def test_expected_dormant_cells_follow_the_tropism(model: circnet.TransportModel) -> None:
    """Dormant cells awaken faster where the tropism factor is larger (law 7): the
    expected dormant count there falls, elsewhere it stays (no angiogenic switch: only
    the primary seeds, so nothing else changes)."""
    kw = dict(rng=5, years=1, patient=0, switch_rate=0.0)
    base = simulate_patient(model, "colon_rectum", **kw)
    fast = simulate_patient(model, "colon_rectum", tropism={"lung": 1e4}, **kw)
    d = int(base.summary["diagnosis_day"])
    b, f = (x.burden(d, stage="dormant") for x in (base, fast))
    assert f["lung"] < 0.9 * b["lung"]
    assert f["liver"] == pytest.approx(b["liver"], rel=1e-9)
