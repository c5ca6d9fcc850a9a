"""Tests of circnet._clinical: the per-primary clinical laws shared by the cohort engine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from circnet import _clinical as cl
from circnet.errors import CircnetError, ParameterError


@pytest.mark.parametrize("primary", ["colorectal", "breast", "lung", "prostate", "other"])
def test_every_primary_has_sourced_parameters(primary):
    cp = cl.clinical_params(primary)
    table = cl.clinical_table().reset_index()
    rows = table[table["primary"].isin([primary, "all"])]
    assert rows["source"].str.strip().astype(bool).all()
    for name in ("vdt_median_days", "diagnosis_diameter_cm"):
        row = table[(table["primary"] == primary) & (table["name"] == name)]
        assert float(getattr(cp, name)) == pytest.approx(float(row["value"].iloc[0]))
    described = cp.describe()
    assert {"value", "unit", "kind", "source"} <= set(described.columns)


def test_body_sites_map_to_primary_types():
    assert cl.primary_type("colon_rectum") == "colorectal"
    assert cl.primary_type("breast") == "breast"
    assert cl.primary_type("kidneys") == "other"


def test_gompertz_time_inverts_gompertz_cells():
    k = 1e13
    rate = cl.growth_rate(np.array([100.0, 211.0]), 1e10, k)
    t = cl.gompertz_time(1e6, 1e10, rate, k)
    np.testing.assert_allclose(cl.gompertz_cells(t, 1e6, rate, k), 1e10, rtol=1e-10)
    assert np.all(cl.gompertz_time(1e6, k, rate, k) == np.inf)
    assert np.all(cl.gompertz_time(1e6, 1e5, rate, k) == 0.0)


@pytest.mark.parametrize("vdt", [60.0, 211.0, 2557.0])
def test_doubling_time_holds_at_the_reference_size(vdt):
    k, ref = 1e13, 3e10
    rate = cl.growth_rate(vdt, ref, k)
    t0 = cl.gompertz_time(1e6, ref, rate, k)
    # local doubling time at the reference size: d ln N / dt = rate ln(K / N)
    assert math.log(2) / (rate * math.log(k / ref)) == pytest.approx(vdt, rel=1e-12)
    n1 = cl.gompertz_cells(t0 + 1e-3, 1e6, rate, k)
    slope = (math.log(n1) - math.log(ref)) / 1e-3
    assert math.log(2) / slope == pytest.approx(vdt, rel=1e-5)


def test_no_three_centimetre_ceiling():
    cp = cl.clinical_params("breast")
    assert cl.cells_to_diameter(cp.ceiling_cells) > 20.0  # cm: far above clinical sizes
    assert cl.diameter_to_cells(cl.cells_to_diameter(3.3e9)) == pytest.approx(3.3e9)


def test_patient_streams_depend_only_on_root_and_index():
    a = cl.sample_patient(cl.clinical_params("lung"), np.random.default_rng(cl.patient_seed(7, 3)))
    b = cl.sample_patient(cl.clinical_params("lung"), np.random.default_rng(cl.patient_seed(7, 3)))
    c = cl.sample_patient(cl.clinical_params("lung"), np.random.default_rng(cl.patient_seed(7, 4)))
    assert a == b and a != c


def test_doubling_times_are_lognormal_across_patients():
    cp = cl.clinical_params("colorectal")
    draws = cl.sample_patients(cp, 20000, np.random.default_rng(1))
    logs = np.log(draws.vdt_days)
    # mean of 20000 normal draws: standard error sigma / sqrt(n)
    assert abs(logs.mean() - math.log(cp.vdt_median_days)) < 5 * cp.vdt_sigma / math.sqrt(20000)
    assert logs.std() == pytest.approx(cp.vdt_sigma, rel=0.05)


def test_ctc_expectation_is_linear_in_shedding():
    cp = cl.clinical_params("breast")
    one = cl.ctc_expected(1e4, cp)
    assert cl.ctc_expected(2e4, cp) == pytest.approx(2 * one)
    expected = cp.ctc_recovery * 1e4 * cp.ctc_residence_days / cp.blood_volume_ml * 7.5
    assert one == pytest.approx(expected)


def test_bad_parameter_is_named():
    with pytest.raises(CircnetError, match="vdt_median_days"):
        cl.clinical_params("breast", vdt_median_days=-1.0)


# ---------------------------------------------------------------- organotropism (seed and soil)
def test_tropism_comes_from_the_table_with_target_and_source():
    table = cl.clinical_table().reset_index()
    rows = table[table["name"].str.startswith(cl.TROPISM_PREFIX)]
    assert set(rows["primary"]) >= {"breast", "prostate"}
    assert (rows["kind"] == "calibrated").all()
    assert rows["source"].str.contains("NOT ANATOMY").all()
    assert rows["source"].str.contains(r"\(\d{4}\)|\d{4} ").all()  # a cited year
    cp = cl.clinical_params("breast")
    assert cp.tropism_factor("bone") == float(
        rows[(rows["primary"] == "breast") & (rows["name"] == "tropism:bone")]["value"].iloc[0]
    )
    assert cp.tropism_factor("liver") == 1.0
    assert cl.clinical_params("colorectal").tropism == {}
    described = cp.describe()
    assert described.loc["tropism:bone", "kind"] == "calibrated"
    given = cp.replace(tropism={"liver": 2.0}).describe()
    assert given.loc["tropism:liver", "source"] == "set by the caller"
    assert "tropism:bone" not in given.index  # replace sets the whole mapping


def test_every_calibrated_row_states_a_target_and_a_source():
    t = cl.clinical_table().reset_index()
    cal = t[t["kind"] == "calibrated"]
    assert len(cal) >= 10
    assert cal["source"].str.strip().astype(bool).all()
    target = cal["source"] + " " + cal["notes"].fillna("")
    assert target.str.contains("%").all()  # the clinical share it was calibrated to


@pytest.mark.parametrize(
    ("tropism", "match"),
    [
        ({"bone": -1.0}, r"tropism\['bone'\].* must be >= 0"),
        ({"bone": float("nan")}, r"tropism\['bone'\].* must be finite"),
        ({"bone": "high"}, r"tropism\['bone'\].* must be a number"),
        ({3: 1.0}, "keys must be organ names"),
        ([("bone", 2.0)], "`tropism` must be a mapping"),
    ],
)
def test_bad_tropism_is_named(tropism, match):
    with pytest.raises(ParameterError, match=match):
        cl.clinical_params("breast", tropism=tropism)


def test_shedding_and_awakening_are_rescaled_together():
    # only their product sets the colonies: each primary calibrated to CTC counts sheds
    # less than the shared (uncalibrated) value, and the shared awakening rate (an
    # assumption) keeps the product of shedding and awakening in the calibrated range;
    # awakening, tropism included, stays slower than dormant death
    shared = cl.clinical_params("kidneys")  # no row of its own
    product = {}
    for primary in ("colorectal", "breast", "lung", "prostate"):
        cp = cl.clinical_params(primary)
        assert cp.shedding_per_cell_day < shared.shedding_per_cell_day
        assert cp.awakening_rate * max([1.0, *cp.tropism.values()]) < cp.dormant_death_rate
        product[primary] = cp.shedding_per_cell_day * cp.awakening_rate
    own = shared.shedding_per_cell_day * shared.awakening_rate
    assert min(product.values()) / 10 < own < 10 * max(product.values())


@pytest.mark.parametrize("primary", ["colon_rectum", "lung"])
def test_no_primary_is_lethal_at_diagnosis(primary):
    """The diameter at diagnosis is log-normal; its top is capped at half the lethal
    burden (a living patient), where a 12 cm sphere would otherwise hold 1e12 cells."""
    cp = cl.clinical_params(primary)
    draw = cl._draw(cp, np.zeros(3), np.array([0.0, 3.0, 6.0]))
    assert (draw.diagnosis_cells <= 0.5 * cp.lethal_burden_cells).all()
    assert draw.diagnosis_cells[2] == 0.5 * cp.lethal_burden_cells
    assert np.isfinite(draw.diagnosis_day).all()
