"""Tests of the batched cohort engine (circnet.cohort, _cohort_engine, _cohort_random)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import circnet
from circnet._clinical import clinical_params, patient_seed
from circnet._cohort_plan import Plan
from circnet._cohort_random import patient_keys, philox_block, poisson_inverse, uniforms
from circnet.cohort import CohortResult, kaplan_meier, simulate_cohort
from circnet.errors import ParameterError, UnknownNameError


@pytest.fixture(scope="module")
def model() -> circnet.TransportModel:
    return circnet.TransportModel(circnet.default_body())


@pytest.fixture(scope="module")
def cohort(model: circnet.TransportModel) -> CohortResult:
    return simulate_cohort(model, "colon_rectum", 60, rng=11, years=5, keep_colonies=True)


# ---------------------------------------------------------------- randomness
def test_philox_matches_numpy_bit_for_bit() -> None:
    keys = patient_keys(3, np.arange(4))
    ours = philox_block((np.array([1, 5, 9, 2]), 7, 3, 2), keys)
    for j, c0 in enumerate([1, 5, 9, 2]):
        ref = np.random.Philox(key=keys[j], counter=[c0 - 1, 7, 3, 2]).random_raw(4)
        assert (ours[j] == ref).all()


def test_patient_keys_follow_the_seed_sequence_of_the_laws() -> None:
    key = patient_keys(5, np.array([3]))[0]
    assert (key == patient_seed(5, 3).generate_state(2, np.uint64)).all()


def test_uniforms_are_uniform_and_open() -> None:
    u = uniforms(patient_keys(1, np.arange(2000)), np.arange(2000) + 1, 0, 0, 0).ravel()
    assert 0.0 < u.min() and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 0.001


@pytest.mark.parametrize("mean", [0.003, 0.7, 4.0, 55.0, 3e4, 2e9])
def test_poisson_inverse_has_the_poisson_law(mean: float) -> None:
    rng = np.random.default_rng(2)
    k = poisson_inverse(rng.random(20_000), np.full(20_000, mean))
    assert k.dtype == np.int64 and (k >= 0).all()
    se = np.sqrt(mean / k.size)
    assert abs(k.mean() - mean) < 5 * se + 1e-9
    if mean > 1:
        assert k.var() / mean == pytest.approx(1.0, abs=0.05)


def test_poisson_inverse_is_the_quantile() -> None:
    u = np.array([0.05, 0.5, 0.95])
    assert poisson_inverse(u, np.full(3, 12.0)).tolist() == stats.poisson.ppf(u, 12.0).tolist()


# ---------------------------------------------------------------- seeds and batches
def test_a_patient_is_the_same_alone_in_a_batch_and_in_a_part(
    model: circnet.TransportModel, cohort: CohortResult
) -> None:
    rows = cohort.patients.set_index("patient")
    for i in (0, 37, 59):
        alone = simulate_cohort(model, "colon_rectum", 1, rng=11, years=5, first_patient=i)
        pd.testing.assert_series_equal(
            alone.patients.set_index("patient").loc[i], rows.loc[i], check_names=False
        )
    part = simulate_cohort(model, "colon_rectum", 30, rng=11, years=5, first_patient=20)
    pd.testing.assert_frame_equal(
        part.patients.set_index("patient"), rows.loc[20:49], check_like=False
    )


def test_seeds_reproduce_and_differ(model: circnet.TransportModel, cohort: CohortResult) -> None:
    again = simulate_cohort(model, "colon_rectum", 60, rng=11, years=5)
    pd.testing.assert_frame_equal(again.patients, cohort.patients)
    other = simulate_cohort(model, "colon_rectum", 5, rng=12, years=5)
    assert not other.patients["vdt_days"].equals(cohort.patients["vdt_days"].iloc[:5])
    assert cohort.entropy == 11
    seq = simulate_cohort(model, "colon_rectum", 5, rng=np.random.SeedSequence(11), years=5)
    pd.testing.assert_frame_equal(seq.patients, cohort.patients.iloc[:5])


# ---------------------------------------------------------------- conservation and laws
def test_every_shed_cell_is_accounted_for(cohort: CohortResult) -> None:
    p = cohort.patients
    assert (
        p["shed_by_diagnosis"]
        == p["dead_in_transport"] + p["colonies_founded"] + p["nodal_founded"]
    ).all()
    dormant = p["dormant_distant_at_diagnosis"] + p["dormant_nodal_at_diagnosis"]
    assert (
        p["colonies_founded"] + p["nodal_founded"]
        == dormant + p["dormant_died"] + p["awakened_by_diagnosis"]
    ).all()
    for c in ("shed_by_diagnosis", "colonies_founded", "awakened_by_diagnosis"):
        assert p[c].dtype.kind == "i"
    # the integer balance scatters around the expected shedding (Poisson)
    ratio = p["shed_by_diagnosis"].sum() / p["shed_expected"].sum()
    assert ratio == pytest.approx(1.0, rel=1e-3)
    # awakened colonies by diagnosis are the colonies listed
    c = cohort.colonies
    diag = p.set_index("patient")["diagnosis_day"]
    listed = (c["awakened"] <= diag.reindex(c["patient"]).to_numpy()).groupby(c["patient"]).sum()
    got = p.set_index("patient")["awakened_by_diagnosis"]
    assert (listed.reindex(got.index, fill_value=0) == got).all()


def test_diagnosis_follows_the_closed_form_growth(cohort: CohortResult) -> None:
    from circnet._clinical import gompertz_cells, gompertz_time

    p, cp = cohort.patients, cohort.params
    t = gompertz_time(cp.start_cells, p["diagnosis_cells"], p["growth_rate"], cp.ceiling_cells)
    by_primary = ~p["diagnosed_by_symptoms"]
    assert (p["diagnosis_day"] == np.maximum(np.ceil(t), 1))[by_primary].all()
    # diagnosed by symptoms: the primary's own size on that (earlier) day
    early = p[~by_primary]
    grown = gompertz_cells(
        early["diagnosis_day"], cp.start_cells, early["growth_rate"], cp.ceiling_cells
    )
    assert np.allclose(early["diagnosis_cells"], grown, rtol=1e-12)
    # log-normal VDT with the table's median and sigma
    z = np.log(p["vdt_days"] / cp.vdt_median_days) / cp.vdt_sigma
    assert stats.kstest(z, "norm").pvalue > 0.001


def test_events_are_consistent(cohort: CohortResult) -> None:
    p = cohort.patients
    sync = p[p["synchronous"]]
    assert (sync["first_distant_day"] <= sync["diagnosis_day"]).all()
    assert (sync["synchronous_sites"] != "").all()
    assert (p.loc[~p["synchronous"], "synchronous_sites"] == "").all()
    late = p[~p["synchronous"] & p["first_distant_day"].notna()]
    assert (late["first_distant_day"] > late["diagnosis_day"]).all()
    assert not p["first_distant_site"].isin(["colon_rectum"]).any()


def _colonies(res: CohortResult, plan: Plan) -> dict[str, np.ndarray]:
    c = res.colonies
    col = {k: c[k].to_numpy() for k in ("patient", "site", "awakened", "rate", "switch")}
    col["patient"] = col["patient"].astype(np.int64)
    col["site"] = pd.Index(plan.sites).get_indexer(c["site"]).astype(np.int64)
    return col


def test_diagnosis_by_symptoms_of_distant_metastases(model: circnet.TransportModel) -> None:
    """Law 3: diagnosed on the first day the primary's distant metastases hold
    ``symptomatic_burden_cells``, if before the primary reaches its size; metastatic at
    diagnosis, the primary stays; everyone else is operated at diagnosis."""
    from circnet._cohort_engine import make_plan
    from circnet._cohort_outcomes import _colony_cells

    res = simulate_cohort(model, "lung", 120, rng=3, years=2, keep_colonies=True)
    p, cp = res.patients, res.params
    sick = p["diagnosed_by_symptoms"].to_numpy()
    assert 10 < sick.sum() < len(p)  # 28 % of 1,000 lung patients
    assert p.loc[sick, "synchronous"].all()
    assert (p["primary_removed"] == ~p["diagnosed_by_symptoms"]).all()
    assert (p.loc[sick, "burden_at_diagnosis"] >= cp.symptomatic_burden_cells).all()
    # the first such day: the primary's own distant colonies (generation 0) hold the
    # burden on the diagnosis day and not the day before
    plan = make_plan(model, "lung", cp, surgery=True, follow_up=730.5, grid=8)
    col = _colonies(res, plan)
    own = (res.colonies["generation"].to_numpy() == 0) & (col["site"] < plan.n_organs)
    own &= col["site"] != plan.primary
    col = {k: v[own] for k, v in col.items()}
    d = p["diagnosis_day"].to_numpy(float)

    def held(at: np.ndarray) -> np.ndarray:
        return np.bincount(col["patient"], weights=_colony_cells(cp, col, at), minlength=len(p))

    assert (held(d)[sick] >= cp.symptomatic_burden_cells).all()
    assert (held(d - 1)[sick] < cp.symptomatic_burden_cells).all()
    # and nobody diagnosed by the primary had reached it by the day before
    assert (held(d - 1)[~sick] < cp.symptomatic_burden_cells).all()


def test_symptoms_can_be_switched_off(model: circnet.TransportModel) -> None:
    kw = dict(rng=3, years=2)
    off = simulate_cohort(model, "lung", 60, symptomatic_burden_cells=math.inf, **kw)
    on = simulate_cohort(model, "lung", 60, **kw)
    assert not off.patients["diagnosed_by_symptoms"].any()
    assert off.patients["primary_removed"].all()
    sick = on.patients["diagnosed_by_symptoms"]
    assert sick.any()
    # earlier diagnosis, same primary-size day for the others, and never a later one
    assert (on.patients["diagnosis_day"] <= off.patients["diagnosis_day"]).all()
    assert (on.patients["diagnosis_day"] < off.patients["diagnosis_day"])[sick].all()
    pd.testing.assert_series_equal(
        on.patients["diagnosis_day"][~sick], off.patients["diagnosis_day"][~sick]
    )
    # fewer patients are diagnosed with a lethal burden
    lethal = on.params.lethal_burden_cells
    assert (on.patients["burden_at_diagnosis"] >= lethal).sum() < (
        off.patients["burden_at_diagnosis"] >= lethal
    ).sum()


def test_symptomatic_burden_is_validated() -> None:
    with pytest.raises(ParameterError, match="symptomatic_burden_cells"):
        clinical_params("lung", symptomatic_burden_cells=1e6)
    with pytest.raises(ParameterError, match="symptomatic_burden_cells"):
        clinical_params("lung", symptomatic_burden_cells=float("nan"))


def test_no_awakening_means_no_metastases(model: circnet.TransportModel) -> None:
    res = simulate_cohort(model, "lung", 40, rng=3, years=5, awakening_rate=0.0)
    assert len(res.colonies) == 0 and res.patients["colonies_followed"].sum() == 0
    assert not res.patients["synchronous"].any() and not res.patients["node_positive"].any()
    assert res.figures().loc["synchronous distant metastases", "value"] == 0.0


@pytest.mark.slow
def test_natural_history_has_at_least_the_metastases_of_surgery(
    model: circnet.TransportModel,
) -> None:
    kw = dict(rng=5, years=2)
    surg = simulate_cohort(model, "lung", 30, scenario="surgery", **kw)
    nat = simulate_cohort(model, "lung", 30, scenario="natural", **kw)
    # the primary reaches its size on the same day; symptoms may come first in either
    same = ~nat.patients["diagnosed_by_symptoms"] & ~surg.patients["diagnosed_by_symptoms"]
    assert same.sum() > 10
    assert (nat.patients["diagnosis_day"] == surg.patients["diagnosis_day"])[same].all()
    assert not nat.patients["primary_removed"].any()
    assert (
        nat.patients["first_distant_day"].notna().sum()
        >= surg.patients["first_distant_day"].notna().sum()
    )


# ---------------------------------------------------------------- figures and outputs
def test_kaplan_meier_matches_a_hand_computation() -> None:
    km = kaplan_meier([2, 3, 3, 5, 8, 8], [True, True, False, True, False, False])
    assert km["survival"].round(6).tolist() == [1.0, 0.833333, 0.666667, 0.444444]
    assert (km["lower"] <= km["survival"]).all() and (km["survival"] <= km["upper"]).all()
    with pytest.raises(ParameterError, match="same length"):
        kaplan_meier([1, 2], [True])


def test_figures_table(cohort: CohortResult) -> None:
    f = cohort.figures()
    assert {"value", "low", "high", "n", "unit"} <= set(f.columns)
    sync = f.loc["synchronous distant metastases"]
    assert sync["value"] == pytest.approx(100 * cohort.patients["synchronous"].mean())
    assert sync["low"] <= sync["value"] <= sync["high"]
    assert cohort.first_sites().sum() == pytest.approx(1.0)
    km = cohort.survival()
    assert km["survival"].is_monotonic_decreasing


def test_save_writes_the_table(cohort: CohortResult, tmp_path) -> None:
    out = tmp_path / "cohort.csv"
    cohort.save(out)
    back = pd.read_csv(out)
    assert len(back) == len(cohort.patients)
    with pytest.raises(ParameterError, match="must end in .csv"):
        cohort.save(tmp_path / "cohort.txt")


def test_survival_plot(cohort: CohortResult, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    path = cohort.plot_survival(path=tmp_path / "km.svg")
    assert path.exists() and path.stat().st_size > 1000
    from circnet._cohort_figure import cohort_figure

    assert len(cohort_figure(cohort).axes) == 2


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ParameterError, "`n` must be >= 1"),
        ({"years": -1}, ParameterError, "`years` must be > 0"),
        ({"scenario": "chemo"}, ParameterError, "scenario"),
        ({"follow": "some"}, ParameterError, "follow"),
        ({"rng": -3}, ParameterError, "`rng` must be >= 0"),
        ({"rng": "x"}, ParameterError, "`rng` must be an int"),
        ({"primary": "spleenx"}, UnknownNameError, "unknown primary site"),
        ({"params": {"a": 1}}, ParameterError, "`params` must be ClinicalParams"),
        ({"body": 3}, ParameterError, "`body` must be a body graph"),
        ({"first_patient": -1}, ParameterError, "`first_patient` must be >= 0"),
        ({"keep_colonies": "yes"}, ParameterError, "`keep_colonies` must be True or False"),
        ({"no_such_law": 1.0}, ParameterError, "unknown clinical parameter"),
    ],
)
def test_validation(model: circnet.TransportModel, kwargs, error, match) -> None:
    args = {"body": model, "primary": "colon_rectum", "n": 2, "rng": 1, **kwargs}
    with pytest.raises(error, match=match):
        simulate_cohort(**args)


# ---------------------------------------------------------------- same laws as the course
PRIMARIES = (("colon_rectum", "male"), ("breast", "female"), ("lung", "male"), ("prostate", "male"))


def _patient_by_patient(primary: str, sex: str, n: int, seed: int, years: float):
    """The cohort of ``n`` patients and the same patients run one by one as courses."""
    from circnet.patient import simulate_patient

    model = circnet.TransportModel(circnet.default_body(sex))
    cohort = simulate_cohort(model, primary, n, rng=seed, years=years)
    alone = [simulate_patient(model, primary, rng=seed, years=years, patient=i) for i in range(n)]
    return cohort, alone


def _check_same_laws(cohort: CohortResult, alone: list) -> None:
    rows = pd.DataFrame([c.patient for c in alone]).reset_index(drop=True)
    rows = rows.astype(cohort.patients.dtypes.to_dict())
    # every column of every row is identical
    pd.testing.assert_frame_equal(rows, cohort.patients)
    # so the cohort figures computed from the patient-by-patient runs are the cohort's
    again = CohortResult(
        primary=cohort.primary,
        params=cohort.params,
        scenario=cohort.scenario,
        years=cohort.years,
        entropy=cohort.entropy,
        patients=rows,
        colonies=cohort.colonies,
    )
    pd.testing.assert_frame_equal(again.figures(), cohort.figures())
    # and each course's own summary and daily frame say the same as its row
    for c, (_, row) in zip(alone, cohort.patients.iterrows(), strict=True):
        assert c.summary["died_of_disease"] == row["died_of_disease"]
        assert c.summary["end_day"] == int(np.floor(row["followed_to_day"]))
        assert c.summary["node_positive"] == row["node_positive"]
        assert (c.events["kind"] == "death").sum() == int(row["died_of_disease"])


@pytest.mark.parametrize(("primary", "sex"), PRIMARIES)
def test_patient_course_and_cohort_share_their_laws(primary: str, sex: str) -> None:
    """Patient i of seed s run alone as a course is row i of the cohort (a few patients)."""
    cohort, alone = _patient_by_patient(primary, sex, 4, 31, 3.0)
    _check_same_laws(cohort, alone)


@pytest.mark.slow
@pytest.mark.parametrize(("primary", "sex"), PRIMARIES)
def test_fifty_patient_courses_are_the_cohort(primary: str, sex: str) -> None:
    """50 patients per primary, ten years: every column, and the figures, are the same."""
    cohort, alone = _patient_by_patient(primary, sex, 50, 8, 10.0)
    assert cohort.patients["died_of_disease"].any()  # death is exercised
    _check_same_laws(cohort, alone)


@pytest.mark.slow
@pytest.mark.parametrize(("primary", "sex"), PRIMARIES)
def test_follow_first_and_all_give_the_same_rows(primary: str, sex: str) -> None:
    """The horizon of each generation depends on the patient's own draws only."""
    model = circnet.TransportModel(circnet.default_body(sex))
    first = simulate_cohort(model, primary, 150, rng=2, years=10, follow="first")
    every = simulate_cohort(model, primary, 150, rng=2, years=10, follow="all")
    pd.testing.assert_frame_equal(first.patients, every.patients)


def test_follow_first_and_all_agree_on_the_reported_patient(model: circnet.TransportModel):
    """Colorectal, rng=2, patient 2: once 3176 (first) against 3215 (all)."""
    kw = dict(rng=2, years=10, first_patient=2)
    a = simulate_cohort(model, "colon_rectum", 1, follow="first", **kw).patients
    b = simulate_cohort(model, "colon_rectum", 1, follow="all", **kw).patients
    pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------- death and the cap
def test_nothing_happens_after_death(model: circnet.TransportModel) -> None:
    res = simulate_cohort(model, "lung", 40, rng=9, years=10, keep_colonies=True)
    p, c = res.patients, res.colonies
    died = p[p["died_of_disease"]]
    assert len(died) > 5  # lung: most untreated metastatic patients die (seeded)
    assert (died["death_day"] > died["diagnosis_day"]).all()
    assert (died["followed_to_day"] == died["death_day"]).all()
    alive = p[~p["died_of_disease"]]
    assert alive["death_day"].isna().all()
    assert (alive["followed_to_day"] == alive["end_day"]).all()
    stop = p.set_index("patient")["followed_to_day"].reindex(c["patient"]).to_numpy()
    assert (c["awakened"].to_numpy() <= stop).all()  # no awakening after death
    assert (
        p["first_distant_day"].dropna() <= p.loc[p["first_distant_day"].notna(), "followed_to_day"]
    ).all()


def test_death_is_the_first_day_of_a_lethal_burden(model: circnet.TransportModel) -> None:
    from circnet._cohort_engine import make_plan
    from circnet._cohort_outcomes import burden

    res = simulate_cohort(model, "lung", 30, rng=9, years=10, keep_colonies=True)
    p = res.patients
    plan = make_plan(model, "lung", res.params, surgery=True, follow_up=3652.5, grid=8)
    col = _colonies(res, plan)
    d, rate = p["diagnosis_day"].to_numpy(float), p["growth_rate"].to_numpy(float)
    lethal = res.params.lethal_burden_cells
    died = p["died_of_disease"].to_numpy()
    day = np.where(died, p["death_day"].to_numpy(float), d + 1)
    operated = p["primary_removed"].to_numpy()
    on = burden(plan, col, day, d, rate, operated)
    before = burden(plan, col, np.maximum(day - 1, d + 1), d, rate, operated)
    assert (on[died] >= lethal).all()
    first = died & (day - 1 > d)
    assert (before[first] < lethal).all()


def test_the_colony_cap_holds() -> None:
    from circnet._cohort_engine import MAX_COLONIES_PER_PATIENT

    female = circnet.TransportModel(circnet.default_body("female"))
    p = simulate_cohort(female, "breast", 60, rng=2, years=10).patients
    assert p["colonies_followed"].max() <= MAX_COLONIES_PER_PATIENT
    # the cap binds for a few (seeded); their colonies after death are not listed
    assert 0 < int(p["colonies_cut"].sum()) < len(p)


def test_survival_curves_run_to_the_end_of_follow_up(cohort: CohortResult) -> None:
    for km in (cohort.survival(), cohort.disease_specific_survival()):
        assert km["time"].iloc[-1] == pytest.approx(cohort.years)
        assert km["survival"].is_monotonic_decreasing
    assert kaplan_meier([1.0, 2.0], [True, False], until=3.0)["time"].tolist() == [0.0, 1.0, 3.0]
    f = cohort.figures()
    assert "disease-specific survival at 5 y (KM)" in f.index
    assert f.loc["CTC >= 5 per 7.5 mL in metastatic disease", "unit"] == (
        "% of patients with a distant metastasis"
    )


def test_metastatic_ctc_day_lies_between_first_detection_and_the_end(cohort: CohortResult):
    p = cohort.patients
    m = p[p["first_distant_day"].notna()]
    assert len(m) > 3
    assert (m["metastatic_sample_day"] >= m["first_distant_day"]).all()
    assert (m["metastatic_sample_day"] <= m["followed_to_day"]).all()
    assert (m["ctc_metastatic"] >= 0).all()
    assert (p.loc[p["first_distant_day"].isna(), "ctc_metastatic"] == -1).all()


@pytest.mark.slow
def test_node_dissection_changes_only_what_follows_surgery():
    model = circnet.TransportModel(circnet.default_body("female"))
    # 10 years: with met_rate_sigma 0.5 the nodal seeding shows later (5 y: 45 vs 44)
    kept = simulate_cohort(model, "breast", 300, rng=11, years=10, node_dissection=False)
    cut = simulate_cohort(model, "breast", 300, rng=11, years=10)
    # the primary's course is the same; figures at diagnosis follow the same law (the
    # streams couple events before and after diagnosis, so a few patients differ)
    pd.testing.assert_series_equal(kept.patients["diagnosis_day"], cut.patients["diagnosis_day"])
    for col in ("synchronous", "node_positive"):  # two draws of one law: 4 sd of a difference
        a, b = int(kept.patients[col].sum()), int(cut.patients[col].sum())
        share = (a + b) / 600
        assert abs(a - b) <= 4 * np.sqrt(2 * 300 * share * (1 - share)) + 1

    # metachronous: a distant metastasis first detected after diagnosis
    def later(res):
        p = res.patients
        return int(((p["first_distant_day"] > p["diagnosis_day"]) & ~p["synchronous"]).sum())

    assert later(cut) <= later(kept)
    assert later(cut) < later(kept)  # 300 breast patients: nodal seeding matters (seeded)
    natural = simulate_cohort(model, "breast", 20, rng=11, years=1, scenario="natural")
    same = simulate_cohort(
        model, "breast", 20, rng=11, years=1, scenario="natural", node_dissection=False
    )
    pd.testing.assert_frame_equal(natural.patients, same.patients)  # no surgery, no dissection


# ---------------------------------------------------------------- organotropism and CTCs
def test_tropism_of_one_changes_nothing(model: circnet.TransportModel, cohort: CohortResult):
    ones = simulate_cohort(
        model,
        "colon_rectum",
        60,
        rng=11,
        years=5,
        keep_colonies=True,
        tropism={"bone": 1.0, "liver": 1.0, "mesenteric_nodes": 1.0},
    )
    pd.testing.assert_frame_equal(ones.patients, cohort.patients)
    pd.testing.assert_frame_equal(ones.colonies, cohort.colonies)


@pytest.mark.slow
def test_raising_bone_tropism_raises_bone_first() -> None:
    model = circnet.TransportModel(circnet.default_body("male"))
    kw = dict(rng=4, years=10)
    firsts = {}
    for factor in (1.0, 1e4, 5e4):
        res = simulate_cohort(model, "prostate", 300, tropism={"bone": factor}, **kw)
        p = res.patients
        firsts[factor] = int((p["first_distant_site"] == "bone").sum())
        if factor == 1.0:
            base = p
        else:  # the primary's own course does not depend on the soil
            same = ~p["diagnosed_by_symptoms"] & ~base["diagnosed_by_symptoms"]
            pd.testing.assert_series_equal(p["diagnosis_day"][same], base["diagnosis_day"][same])
    assert firsts[1.0] == 0 < firsts[1e4] < firsts[5e4]  # 0, 2, 18 of 300 (seeded)
    default = simulate_cohort(model, "prostate", 300, **kw)  # the calibrated factor
    assert default.params.tropism_factor("bone") > 1.0
    assert (default.patients["first_distant_site"] == "bone").sum() > firsts[1.0]


@pytest.mark.parametrize("site", ["spleenx", "nodes_of_nowhere"])
def test_unknown_tropism_site_is_named(model: circnet.TransportModel, site: str) -> None:
    with pytest.raises(UnknownNameError, match=site):
        simulate_cohort(model, "colon_rectum", 2, rng=1, tropism={site: 2.0})


@pytest.mark.slow
def test_ctc_counts_match_their_clinical_targets() -> None:
    """Breast: >= 5 CTC in metastatic disease (a random day after the first distant
    detection) in 49 % (Cristofanilli 2004) and >= 1 CTC per 7.5 mL in 24 % of
    non-metastatic patients (Lucci 2012); colorectal: >= 1 CTC per 30 mL in 24 % of
    non-metastatic patients (van Dalum 2015). Binomial tests against the clinical share;
    p > 0.001 allows the calibration's own miss of a few points (the results table)."""
    female = circnet.TransportModel(circnet.default_body("female"))
    p = simulate_cohort(female, "breast", 400, rng=21, years=10).patients
    ctc = p.loc[p["ctc_metastatic"] >= 0, "ctc_metastatic"]
    assert len(ctc) >= 50  # 58 metastatic patients of 400 (de novo 4-5 %)
    assert stats.binomtest(int((ctc >= 5).sum()), len(ctc), 0.49).pvalue > 0.001
    early = p.loc[~p["synchronous"], "ctc_at_diagnosis"]
    assert stats.binomtest(int((early >= 1).sum()), len(early), 0.24).pvalue > 0.001
    male = circnet.TransportModel(circnet.default_body("male"))
    c = simulate_cohort(male, "colon_rectum", 400, rng=22, years=1).patients
    early = c.loc[~c["synchronous"], "ctc_30ml_at_diagnosis"]
    assert stats.binomtest(int((early >= 1).sum()), len(early), 0.24).pvalue > 0.001
    assert c["ctc_at_diagnosis"].median() == 0


@pytest.mark.slow
def test_few_patients_are_diagnosed_with_a_lethal_burden() -> None:
    """Share of patients with >= lethal_burden_cells at diagnosis (they die the next day).

    The accepted threshold is < 2 % (benchmarks/results/cohort_figures.md); prostate
    meets it, breast does not (5.6 % at 1,000 patients with met_rate_sigma 0.7, chosen
    for the de novo range), nor colorectal (8.9 %, was 17.5 % before met_rate_sigma 0.3
    and the diagnosis cap). The bounds are about three binomial standard deviations
    above those figures at 300 patients, so the test fails if the calibration slides
    back (breast was 8.3 %, colorectal 17.5 %).
    """
    male = circnet.TransportModel(circnet.default_body("male"))
    female = circnet.TransportModel(circnet.default_body("female"))
    for model, primary, bound in (
        (male, "prostate", 0.02),
        (female, "breast", 0.096),
        (male, "colon_rectum", 0.13),
    ):
        res = simulate_cohort(model, primary, 300, rng=31, years=2)
        p = res.patients
        lethal = p["burden_at_diagnosis"] >= res.params.lethal_burden_cells
        assert lethal.mean() < bound, (primary, lethal.mean())
        assert (p["diagnosis_cells"] < res.params.lethal_burden_cells).all()


@pytest.mark.slow
def test_lung_first_sites_lead_with_brain_bone_and_liver() -> None:
    """Lung primaries: brain, bone and liver lead the first distant sites (Riihimaki
    2014; Li 2019), through the calibrated tropism rows; without them the anatomy puts
    kidneys and skeletal muscle first."""
    male = circnet.TransportModel(circnet.default_body("male"))
    res = simulate_cohort(male, "lung", 300, rng=32, years=5)
    first = res.first_sites()
    assert set(first.index[:3]) == {"brain", "bone", "liver"}, first.head(5)
    assert first.iloc[:3].sum() > 0.6
    plain = simulate_cohort(male, "lung", 300, rng=32, years=5, tropism={})
    assert set(plain.first_sites().index[:2]) <= {"kidneys", "skeletal_muscle", "brain"}


def test_nodal_deposits_grow_at_their_own_factor(model: circnet.TransportModel) -> None:
    """Law 2: a colony's rate is the patient's rate times ``met_rate_factor`` in an organ
    and ``nodal_rate_factor`` in a lymph node, times exp(met_rate_sigma Z)."""
    res = simulate_cohort(model, "colon_rectum", 40, rng=4, years=3, keep_colonies=True)
    cp, c = res.params, res.colonies
    assert cp.nodal_rate_factor != cp.met_rate_factor
    patient_rate = res.patients["growth_rate"].to_numpy()[c["patient"].to_numpy(int)]
    nodal = c["site"].isin(circnet.lymph_nodes(model.body)).to_numpy()
    factor = np.where(nodal, cp.nodal_rate_factor, cp.met_rate_factor)
    z = np.log(c["rate"].to_numpy() / (patient_rate * factor)) / cp.met_rate_sigma
    for part in (z[nodal], z[~nodal]):
        assert part.size > 50
        # awakening draws the rate independently of when and where: z ~ N(0, 1)
        assert abs(part.mean()) < 4.0 / np.sqrt(part.size)
