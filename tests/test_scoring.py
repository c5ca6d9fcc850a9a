"""Tests of circnet.scoring: multinomial scores of site distributions and the baselines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import gammaln

from circnet.errors import ParameterError
from circnet.scoring import (
    FLOOR,
    count_matrix,
    score_predictions,
    soil_only_prediction,
    uniform_prediction,
)

DATA = Path(__file__).resolve().parents[1] / "circnet" / "data"


@pytest.fixture
def obs() -> pd.DataFrame:
    return pd.DataFrame(
        {"liver": [30.0, 4.0], "lung": [10.0, 12.0], "bone": [0.0, 20.0], "brain": [5.0, np.nan]},
        index=pd.Index(["colon", "breast"], name="primary"),
    )


def _freq(obs: pd.DataFrame) -> pd.DataFrame:
    return obs.div(obs.sum(axis=1), axis=0).fillna(0.0)


# ------------------------------------------------------------------ deviance
def test_true_distribution_has_minimal_deviance(obs):
    exact = score_predictions(obs, _freq(obs), floor=1e-12)
    assert np.allclose(exact["deviance"], 0.0, atol=1e-9)
    rng = np.random.default_rng(1)
    for _ in range(50):
        other = pd.DataFrame(
            rng.dirichlet(np.ones(4), size=2), index=obs.index, columns=obs.columns
        )
        s = score_predictions(obs, other, floor=1e-12)
        assert (s["deviance"] > exact["deviance"]).all()
        assert (s["log_likelihood"] < exact["log_likelihood"]).all()


@given(
    counts=st.lists(st.integers(0, 50), min_size=2, max_size=8).filter(lambda c: sum(c) > 0),
    data=st.data(),
)
def test_deviance_is_twice_the_loglik_gap_to_the_saturated_model(counts, data):
    k = len(counts)
    sites = [f"s{i}" for i in range(k)]
    o = pd.DataFrame([counts], index=["p"], columns=sites, dtype=float)
    w = data.draw(st.lists(st.floats(0.01, 10), min_size=k, max_size=k))
    pred = pd.DataFrame([w], index=["p"], columns=sites)
    s = score_predictions(o, pred, floor=1e-12).loc["p"]
    sat = score_predictions(o, _freq(o), floor=1e-12).loc["p"]
    assert s["deviance"] >= -1e-9
    assert math.isclose(
        s["deviance"], 2 * (sat["log_likelihood"] - s["log_likelihood"]), rel_tol=1e-7, abs_tol=1e-7
    )


def test_uniform_equals_closed_form(obs):
    s = score_predictions(obs, uniform_prediction(obs.columns))
    for primary in obs.index:
        y = obs.loc[primary].dropna().to_numpy()
        n, k = y.sum(), len(y)
        pos = y > 0
        dev = 2 * np.sum(y[pos] * np.log(y[pos] * k / n))
        ll = gammaln(n + 1) - gammaln(y + 1).sum() - n * np.log(k)
        assert math.isclose(s.loc[primary, "deviance"], dev, rel_tol=1e-12)
        assert math.isclose(s.loc[primary, "log_likelihood"], ll, rel_tol=1e-12)
        assert s.loc[primary, "n_sites"] == k
        assert s.loc[primary, "n_involvements"] == n
    # breast has no brain entry (NaN): scored on 3 sites, uniform renormalised to 1/3
    assert s.loc["breast", "n_sites"] == 3


def test_predictions_renormalised_over_scored_sites(obs):
    pred = _freq(obs).assign(extra=5.0)  # mass on a site the series does not score
    a = score_predictions(obs, pred)
    b = score_predictions(obs, _freq(obs))
    pd.testing.assert_frame_equal(a, b)
    # scaling a primary's prediction changes nothing
    pd.testing.assert_frame_equal(score_predictions(obs, 7 * _freq(obs)), b)


def test_spearman_and_top3(obs):
    s = score_predictions(obs, _freq(obs))
    assert s.loc["colon", "spearman"] == pytest.approx(1.0)
    assert s.loc["colon", "top3_overlap"] == 3
    reverse = 1.0 / (_freq(obs) + 0.01)
    r = score_predictions(obs, reverse)
    assert r.loc["colon", "spearman"] == pytest.approx(-1.0)
    assert r.loc["colon", "top3_overlap"] == 2  # 4 sites: the top 3 of each share 2
    assert math.isnan(
        score_predictions(obs, uniform_prediction(obs.columns)).loc["colon", "spearman"]
    )


# ------------------------------------------------------------------ zeros
def test_zero_prediction_uses_renormalised_floor():
    o = pd.DataFrame({"a": [10.0], "b": [0.0], "c": [5.0]}, index=["p"])
    pred = pd.DataFrame({"a": [1.0], "b": [1.0], "c": [0.0]}, index=["p"])
    floor = 1e-4
    s = score_predictions(o, pred, floor=floor).loc["p"]
    p = np.array([0.5, 0.5, floor])
    p /= p.sum()
    y = np.array([10.0, 0.0, 5.0])
    expected = 2 * (10 * np.log(10 / (15 * p[0])) + 5 * np.log(5 / (15 * p[2])))
    assert math.isfinite(s["deviance"])
    assert math.isclose(s["deviance"], expected, rel_tol=1e-12)
    ll = gammaln(16) - gammaln(y + 1).sum() + 10 * np.log(p[0]) + 5 * np.log(p[2])
    assert math.isclose(s["log_likelihood"], ll, rel_tol=1e-12)
    # a smaller floor punishes the zero more
    assert score_predictions(o, pred).loc["p", "deviance"] > s["deviance"]
    assert FLOOR < floor


def test_all_zero_predictions_raise():
    o = pd.DataFrame({"a": [1.0], "b": [2.0]}, index=["p"])
    with pytest.raises(ParameterError, match="all zero"):
        score_predictions(o, pd.DataFrame({"a": [0.0], "b": [0.0]}, index=["p"]))


# ------------------------------------------------------------------ soil only
def test_soil_only_uses_only_training_rows():
    train = pd.DataFrame(
        {"liver": [6.0, 2.0], "lung": [2.0, 2.0], "bone": [0.0, 4.0]}, index=["colon", "breast"]
    )
    p = soil_only_prediction(train, ["liver", "lung", "bone"])
    assert p.to_dict() == pytest.approx({"liver": 0.5, "lung": 0.25, "bone": 0.25})
    # the series being scored never enters: same prediction whatever is observed
    val1 = pd.DataFrame({"liver": [0.0], "lung": [100.0], "bone": [0.0]}, index=["x"])
    val2 = pd.DataFrame({"liver": [100.0], "lung": [0.0], "bone": [0.0]}, index=["x"])
    s1 = score_predictions(val1, p)
    s2 = score_predictions(val2, p)
    assert math.isclose(s1.loc["x", "deviance"], 2 * 100 * math.log(1 / 0.25))
    assert math.isclose(s2.loc["x", "deviance"], 2 * 100 * math.log(1 / 0.5))
    # changing a training row changes the prediction
    train2 = train.copy()
    train2.loc["breast", "bone"] = 40.0
    assert soil_only_prediction(train2, ["bone"]).iloc[0] == 1.0
    assert soil_only_prediction(train2, ["liver", "bone"])["bone"] > p["bone"]
    # NaN training cells count as zero
    train3 = train.copy()
    train3.loc["colon", "bone"] = np.nan
    pd.testing.assert_series_equal(soil_only_prediction(train3, ["liver", "lung", "bone"]), p)


def test_soil_only_on_disibio_pools_every_primary():
    table = pd.read_csv(DATA / "autopsy_disibio2008.csv")
    wide = count_matrix(table[["primary", "site", "count"]])
    p = soil_only_prediction(wide, ["Liver", "Lung", "Bone"])
    totals = table.groupby("site")["count"].sum()[["Liver", "Lung", "Bone"]]
    assert np.allclose(p.to_numpy(), (totals / totals.sum()).to_numpy())


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "obs_, pred_, match",
    [
        ([[1.0, -1.0]], [[0.5, 0.5]], "non-negative integers"),
        ([[1.5, 1.0]], [[0.5, 0.5]], "non-negative integers"),
        ([[1.0, 1.0]], [[0.5, -0.5]], "finite and non-negative"),
        ([[1.0, 1.0]], [[0.5, np.inf]], "finite and non-negative"),
    ],
)
def test_bad_values_raise(obs_, pred_, match):
    o = pd.DataFrame(obs_, index=["p"], columns=["a", "b"])
    q = pd.DataFrame(pred_, index=["p"], columns=["a", "b"])
    with pytest.raises(ParameterError, match=match):
        score_predictions(o, q)


def test_bad_input_raises(obs):
    with pytest.raises(ParameterError, match="DataFrame"):
        score_predictions(obs.to_numpy(), _freq(obs))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="no prediction for site"):
        score_predictions(obs, _freq(obs).drop(columns="bone"))
    with pytest.raises(ParameterError, match="no prediction for primary"):
        score_predictions(obs, _freq(obs).drop(index="breast"))
    with pytest.raises(ParameterError, match="floor"):
        score_predictions(obs, _freq(obs), floor=0.0)
    with pytest.raises(ParameterError, match="floor"):
        score_predictions(obs, _freq(obs), floor=0.4)
    with pytest.raises(ParameterError, match="not in the training"):
        soil_only_prediction(obs, ["spleen"])
    with pytest.raises(ParameterError, match="empty"):
        uniform_prediction([])
    with pytest.raises(ParameterError, match="duplicated"):
        uniform_prediction(["a", "a"])
    with pytest.raises(ParameterError, match="more than one row"):
        count_matrix(pd.DataFrame({"primary": ["p", "p"], "site": ["a", "a"], "count": [1, 2]}))
    assert issubclass(ParameterError, ValueError)


# ------------------------------------------------------------------ shipped series
@pytest.mark.parametrize("name", ["budczies2015", "schlageter2016"])
def test_validation_series_columns_and_sources(name):
    t = pd.read_csv(DATA / f"autopsy_{name}.csv")
    ref = pd.read_csv(DATA / "autopsy_disibio2008.csv", nrows=1)
    assert list(t.columns) == list(ref.columns)
    assert (t["series"] == name).all()
    assert (t["count"] >= 0).all() and (t["count"] <= t["n_patients"]).all()
    assert t["source"].str.contains("transcription: CTC-model").all()
    assert not t.duplicated(["primary", "site"]).any()


def test_budczies_patients_sum_to_the_published_cohort():
    t = pd.read_csv(DATA / "autopsy_budczies2015.csv")
    assert int(t.groupby("primary")["n_patients"].first().sum()) == 1008


def test_fontclos_rows_are_distributions():
    m = pd.read_csv(DATA / "fontclos2020_model.csv")
    wide = m.pivot(index="origin", columns="site", values="probability")
    assert wide.shape == (13, 13)
    assert np.allclose(wide.sum(axis=1), 1.0, atol=1e-9)


def test_soil_only_gives_zero_to_a_site_absent_from_training_when_asked():
    train = pd.DataFrame({"liver": [6.0, 2.0], "lung": [2.0, 2.0]}, index=["colon", "breast"])
    with pytest.raises(ParameterError, match="not in the training counts"):
        soil_only_prediction(train, ["liver", "meninges"])
    p = soil_only_prediction(train, ["liver", "lung", "meninges"], missing="zero")
    assert p.to_dict() == {"liver": 8 / 12, "lung": 4 / 12, "meninges": 0.0}
    with pytest.raises(ParameterError, match="missing"):
        soil_only_prediction(train, ["liver"], missing="drop")


def test_soil_only_jeffreys_smoothing_adds_half_a_count_to_every_site():
    train = pd.DataFrame({"liver": [6.0, 2.0], "lung": [2.0, 2.0]}, index=["colon", "breast"])
    p = soil_only_prediction(
        train, ["liver", "lung", "meninges"], missing="zero", smoothing="jeffreys"
    )
    # pooled 8, 4, 0 plus 0.5 each: 8.5, 4.5, 0.5 over 13.5
    np.testing.assert_allclose(p.to_numpy(), [8.5 / 13.5, 4.5 / 13.5, 0.5 / 13.5])
    assert p.sum() == pytest.approx(1.0)
    # unsmoothed is the default and unchanged
    assert soil_only_prediction(train, ["liver", "lung"]).to_dict() == {
        "liver": 8 / 12,
        "lung": 4 / 12,
    }
    with pytest.raises(ParameterError, match="`smoothing` must be one of"):
        soil_only_prediction(train, ["liver"], smoothing="laplace")


def test_jeffreys_soil_only_beats_uniform_where_zero_soil_loses_to_it():
    # training knows liver and lung; the scored series also records meninges
    train = pd.DataFrame({"liver": [60.0, 20.0], "lung": [20.0, 20.0]}, index=["a", "b"])
    obs = pd.DataFrame({"liver": [30.0], "lung": [12.0], "meninges": [3.0]}, index=["c"])
    sites = list(obs.columns)
    uni = score_predictions(obs, uniform_prediction(sites)).loc["c", "deviance"]
    zero = soil_only_prediction(train, sites, missing="zero")
    jeff = soil_only_prediction(train, sites, missing="zero", smoothing="jeffreys")
    assert score_predictions(obs, zero).loc["c", "deviance"] > uni  # the floor's penalty
    assert score_predictions(obs, jeff).loc["c", "deviance"] < uni


def test_typical_smoothing_gives_unseen_sites_the_mean_training_count():
    train = pd.DataFrame({"liver": [6, 2], "lung": [2, 2]}, index=["colon", "breast"])
    out = soil_only_prediction(
        train, ["liver", "lung", "brain"], missing="zero", smoothing="typical"
    )
    # pooled + 1/2: liver 8.5, lung 4.5; brain gets their mean 6.5
    np.testing.assert_allclose(out.to_numpy(), np.array([8.5, 4.5, 6.5]) / 19.5, rtol=1e-12)
    seen = soil_only_prediction(train, ["liver", "lung"], missing="zero", smoothing="typical")
    jeff = soil_only_prediction(train, ["liver", "lung"], missing="zero", smoothing="jeffreys")
    pd.testing.assert_series_equal(seen, jeff)  # nothing unseen: the Jeffreys baseline
    with pytest.raises(ParameterError, match="smoothing"):
        soil_only_prediction(train, ["liver"], smoothing="mean")
