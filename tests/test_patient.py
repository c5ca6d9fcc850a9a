"""Tests of circnet.patient: one patient of the clinical cohort engine, day by day."""

from __future__ import annotations

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


def test_bad_input_names_the_argument(model: circnet.TransportModel) -> None:
    with pytest.raises(ParameterError, match="`patient`"):
        simulate_patient(model, "lung", rng=1, patient=-1)
    with pytest.raises(ParameterError, match="`years`"):
        simulate_patient(model, "lung", rng=1, years=0)
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
