"""Tests of circnet.sitemodel: exact access, links, gradients, recovery, held-out scoring."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import circnet
from circnet import _site_access as sa
from circnet import _site_profiles as sm_profiles
from circnet import sitemodel as sm
from circnet.errors import BodyError, ParameterError, UnknownNameError
from circnet.scoring import soil_only_prediction

PRIMARIES = ["colon_rectum", "lung", "kidneys", "stomach"]
SITES = ["liver", "lung", "bone+red_marrow", "brain", "adrenals", "kidneys", "regional_nodes"]


@pytest.fixture(scope="module")
def male():
    return circnet.default_body("male")


@pytest.fixture(scope="module")
def table():
    t = circnet.load_autopsy()
    return t[t["primary"].isin(PRIMARIES) & t["site"].isin(SITES)].reset_index(drop=True)


@pytest.fixture(scope="module")
def access(male, table):
    return sm.site_access(table, body=male)


def test_access_is_the_transport_fates(male, table, access):
    model = circnet.TransportModel(male, circnet.CellPopulation.default(male))
    fates = model.fate_table(PRIMARIES)
    assert access.loc["colon_rectum", "liver"] == pytest.approx(
        fates.loc["colon_rectum", "colony:liver"], rel=1e-12
    )
    bone = fates.loc["lung", ["colony:bone", "colony:red_marrow"]].sum()
    assert access.loc["lung", "bone+red_marrow"] == pytest.approx(bone, rel=1e-12)
    # portal primaries reach the liver far more than a caval one
    assert access.loc["colon_rectum", "liver"] > 10 * access.loc["kidneys", "liver"]


def test_cascade_matches_a_dense_second_generation(male, table):
    kappa = 0.7
    two = sm.site_access(table, body=male, kappa=kappa, generations=2)
    model = circnet.TransportModel(male, circnet.CellPopulation.default(male))
    sources = circnet.organs(male)
    f = model.fate_table(sources)
    m = np.zeros((f.shape[1], f.shape[1]))
    for j, c in enumerate(f.columns):
        if c.startswith("colony:") and c[len("colony:") :] in f.index:
            m[j] = f.loc[c[len("colony:") :]].to_numpy()
    dense = f.to_numpy() + kappa * f.to_numpy() @ m
    full = pd.DataFrame(dense, index=f.index, columns=f.columns)
    assert two.loc["lung", "liver"] == pytest.approx(full.loc["lung", "colony:liver"], rel=1e-12)
    one = sm.site_access(table, body=male, kappa=kappa, generations=1)
    assert two.loc["lung", "liver"] > one.loc["lung", "liver"]


@pytest.mark.parametrize("link", ["saturating", "power"])
def test_link_derivative(link):
    a = np.array([[1e-6, 1e-3, 0.2, 0.9]])
    for eta in (0.3, 2.0, 9.0):
        _, d = sa._link(link, a, eta)
        h = 1e-6
        num = (sa._link(link, a, eta + h)[0] - sa._link(link, a, eta - h)[0]) / (2 * h)
        np.testing.assert_allclose(d, num, rtol=1e-5, atol=1e-9)


def test_loglik_gradient():
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 30, size=(3, 5)).astype(float)
    counts[0, 2] = np.nan
    lw = rng.normal(size=(3, 5))
    ll, g = sa._loglik(counts, lw)
    h = 1e-6
    for i, j in [(0, 0), (1, 3), (2, 4)]:
        e = np.zeros_like(lw)
        e[i, j] = h
        num = (sa._loglik(counts, lw + e)[0] - sa._loglik(counts, lw - e)[0]) / (2 * h)
        assert g[i, j] == pytest.approx(num, rel=1e-5, abs=1e-6)
    assert g[0, 2] == 0.0


def test_saturating_link_limits():
    a = np.array([[1e-9, 1e-4, 0.5]])
    small, _ = sa._link("saturating", a, math.log(1e-3))
    np.testing.assert_allclose(np.exp(small), 1e-3 * a, rtol=1e-3)  # linear for small Lambda a
    big, _ = sa._link("saturating", a, math.log(1e12))
    np.testing.assert_allclose(np.exp(big)[0, 1:], 1.0)  # saturated: every reachable site


def test_power_link_at_zero_is_soil_only():
    a = np.array([[1e-5, 0.3, 0.01]])
    logg, _ = sa._link("power", a, 0.0)
    assert np.all(logg == 0.0)


def _synthetic(access, beta, soil, n, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for p in access.index:
        a = access.loc[p].to_numpy()
        w = np.exp(soil) * a**beta
        y = rng.multinomial(n, w / w.sum())
        rows += [
            {"primary": p, "site": s, "count": int(c)}
            for s, c in zip(access.columns, y, strict=True)
        ]
    return pd.DataFrame(rows)


def test_power_fit_recovers_known_exponent(male, access):
    soil = np.linspace(-1.0, 1.0, access.shape[1])
    counts = _synthetic(access, 0.25, soil, 20000, seed=11)
    fit = sm.fit_sites(counts, body=male, link="power", ridge=1e-3)
    row = fit.parameters.loc["beta"]
    assert row["identified"] and not row["at_bound"]
    # true value inside a 4-SE band (SEs scaled by the estimated overdispersion, >= 1)
    assert abs(row["estimate"] - 0.25) < 4 * row["se"]
    assert row["se"] < 0.05  # and the exponent is well determined by 80,000 involvements
    p = fit.predict(counts)
    assert np.abs(p.sum(axis=1) - 1.0).max() < 1e-12


def test_power_fit_of_soil_only_data_finds_no_anatomy(male, access):
    soil = np.linspace(-1.0, 1.0, access.shape[1])
    counts = _synthetic(access, 0.0, soil, 5000, seed=5)
    fit = sm.fit_sites(counts, body=male, link="power", ridge=1e-3)
    assert fit.parameters.loc["beta", "estimate"] < 0.05


def test_fit_reports_counts_flags_and_criteria(male, table):
    fit = sm.fit_sites(table, body=male, link="saturating")
    assert fit.n_parameters == len(fit.soil) + 1
    assert fit.n_involvements == int(table["count"].sum())
    assert fit.bic > fit.aic  # ln(n) > 2
    lam = fit.parameters.loc["Lambda"]
    if lam["at_bound"]:  # saturated: no interval printed as a result
        assert not lam["identified"] and math.isnan(lam["low"])
    text = fit.summary()
    assert "parameters" in text and "AIC" in text


def test_score_sites_has_baselines_on_the_same_rows(male, table):
    fit = sm.fit_sites(table, body=male, link="power")
    s = sm.score_sites(fit, table, table)
    assert {"dev_uniform", "dev_soil", "dev_anatomy", "dev_calibrated"} <= set(s.columns)
    assert s.loc["total", "n"] == int(table["count"].sum())
    # in sample, the fitted model nests soil-only (beta = 0, delta = 0): up to the prior,
    # it cannot be much worse
    assert s.loc["total", "dev_calibrated"] < s.loc["total", "dev_soil"] + 5.0


@pytest.mark.slow
def test_cross_validation_never_sees_the_held_out_primary(male, table):
    cv = sm.cross_validate_sites(table, body=male, link="power")
    assert list(cv.index) == [*sorted(PRIMARIES), "total"]
    # change the held-out primary's counts: its held-out prediction must not move
    other = table.copy()
    mask = other["primary"] == "lung"
    other.loc[mask, "count"] = other.loc[mask, "count"][::-1].to_numpy()
    tidy = other[other["primary"] != "lung"]
    fit_a = sm.fit_sites(table[table["primary"] != "lung"], body=male, link="power")
    fit_b = sm.fit_sites(tidy, body=male, link="power")
    pa = fit_a.predict(table[table["primary"] == "lung"])
    pb = fit_b.predict(other[other["primary"] == "lung"])
    np.testing.assert_allclose(pa.to_numpy(), pb.to_numpy(), rtol=1e-12)
    # and the fold's soil baseline is the other primaries' pooled counts
    rest = table[table["primary"] != "lung"]
    base = soil_only_prediction(
        rest.pivot_table(index="primary", columns="site", values="count", aggfunc="sum"),
        list(pa.columns),
        missing="zero",
        smoothing="jeffreys",
    )
    held = sm.baselines(rest, table[table["primary"] == "lung"], body=male)["soil"]
    np.testing.assert_allclose(held.reindex(base.index).to_numpy(), base.to_numpy(), rtol=1e-12)


def test_bad_input_is_named(male, table):
    with pytest.raises(ParameterError, match="link"):
        sm.fit_sites(table, body=male, link="logistic")
    with pytest.raises(ParameterError, match="generations"):
        sm.fit_sites(table, body=male, fit_cascade=True, generations=1)
    with pytest.raises(ParameterError, match="ridge"):
        sm.fit_sites(table, body=male, ridge=0.0)
    bad = pd.DataFrame({"primary": ["atlantis"], "site": ["liver"], "count": [3]})
    with pytest.raises(UnknownNameError, match="atlantis"):
        sm.site_access(bad, body=male)
    with pytest.raises(BodyError, match="node 1"):
        sm.site_access(table, body=nx.DiGraph([(1, 2)]))


def test_validation_series_are_shipped():
    series = sm.validation_series()
    assert set(series) == {"budczies2015", "schlageter2016"}
    assert all(len(t) > 0 for t in series.values())


def test_calibrated_profile_loads_with_provenance():
    fit = sm.calibrated("disibio2008")
    assert fit.link in sm.LINKS
    assert fit.parameters["identified"].dtype == bool
    text = (Path(circnet.__file__).parent / "data" / "calibrated_disibio2008.csv").read_text()
    assert "DiSibio" in text and "circnet" in text
    p = fit.predict(circnet.load_autopsy().query("primary in ['prostate', 'breast']"))
    assert np.abs(p.sum(axis=1) - 1.0).max() < 1e-12
    with pytest.raises(ParameterError, match="name"):
        sm.calibrated("abrams1950")


def test_calibrated_population_carries_the_fitted_soil():
    body = circnet.default_body("female")
    pop = sm.calibrated_population("disibio2008", body)
    fit = sm.calibrated("disibio2008")
    single = pop.profile("single_1")
    liver, lung = (
        single.site_value("receptivity", "liver"),
        single.site_value("receptivity", "lung"),
    )
    assert liver / lung == pytest.approx(math.exp(fit.soil["liver"] - fit.soil["lung"]), rel=1e-12)
    if fit.deformability is not None:
        assert single.deformability == pytest.approx(fit.deformability)
    fates = circnet.TransportModel(body, pop).fates("breast")
    assert abs(float(fates.sum()) - 1.0) < 1e-12


def test_write_then_load_round_trip(tmp_path, male, table, monkeypatch):
    fit = sm.fit_sites(table, body=male, link="power", unseen="typical", soil_weight=0.2)
    path = sm.write_calibrated(fit, "disibio2008", tmp_path / "p.csv")
    monkeypatch.setattr(sm_profiles, "_profile_path", lambda name: path)
    back = sm.calibrated("disibio2008", body=male)
    np.testing.assert_allclose(back.soil.to_numpy(), fit.soil.to_numpy(), rtol=1e-12)
    shares = fit.parameters.loc[[f"soil:{s}" for s in fit.soil.index], "estimate"]
    assert float(shares.sum()) == pytest.approx(1.0, abs=1e-12)
    assert back.link_parameter == fit.link_parameter
    assert (back.unseen, back.soil_weight, back.rho) == ("typical", 0.2, fit.rho)
    np.testing.assert_allclose(
        back.predict(table).to_numpy(), fit.predict(table).to_numpy(), rtol=1e-12
    )


@pytest.mark.slow
def test_shipped_profile_is_reproducible():
    shipped = sm.calibrated("disibio2008")
    val = sm.validation_series()
    extra = sorted(set().union(*[set(v["site"]) for v in val.values()]))
    refit = sm.fit_sites(
        circnet.load_autopsy(),
        link=shipped.link,
        fit_cascade="kappa" in shipped.fitted,
        fit_arrest="deformability" in shipped.fitted,
        generations=shipped.generations,
        ridge=shipped.ridge,
        extra_sites=extra,
        dispersion="primary" if shipped.rho > 0 else "none",
        unseen=shipped.unseen,
        soil_weight=shipped.soil_weight,
    )
    assert refit.log_likelihood == pytest.approx(shipped.log_likelihood, abs=0.5)
    np.testing.assert_allclose(
        refit.soil.reindex(shipped.soil.index).to_numpy(), shipped.soil.to_numpy(), atol=0.05
    )
    counts = val["budczies2015"]
    np.testing.assert_allclose(
        refit.predict(counts).to_numpy(), shipped.predict(counts).to_numpy(), atol=2e-3
    )


# --------------------------------------------------------------------------- wave 4 options
def test_weighted_loglik_gradient_and_unit_weights():
    rng = np.random.default_rng(8)
    counts = rng.integers(0, 40, size=(3, 5)).astype(float)
    counts[1, 0] = np.nan
    lw = rng.normal(size=(3, 5))
    w = np.array([0.2, 1.0, 0.5])
    assert sa._loglik(counts, lw, np.ones(3))[0] == pytest.approx(sa._loglik(counts, lw)[0])
    ll, g = sa._loglik(counts, lw, w)
    h = 1e-6
    for i, j in [(0, 1), (2, 4)]:
        e = np.zeros_like(lw)
        e[i, j] = h
        num = (sa._loglik(counts, lw + e, w)[0] - sa._loglik(counts, lw - e, w)[0]) / (2 * h)
        assert g[i, j] == pytest.approx(num, rel=1e-5, abs=1e-6)
    # a weight scales its primary's contribution
    ll0 = sa._loglik(counts[:1], lw[:1])[0]
    assert sa._loglik(counts[:1], lw[:1], np.array([0.2]))[0] == pytest.approx(0.2 * ll0)


def test_primary_weights_recover_dirichlet_multinomial_correlation():
    rng = np.random.default_rng(21)
    k, alpha0 = 8, 49.0  # rho = 1 / (alpha0 + 1) = 0.02
    p = rng.dirichlet(np.ones(k))
    n = rng.integers(50, 400, size=300)
    dm = np.array([rng.multinomial(m, rng.dirichlet(alpha0 * p)) for m in n], dtype=float)
    w, rho = sa.primary_weights(dm, np.tile(p, (len(n), 1)))
    assert rho == pytest.approx(0.02, rel=0.25)
    assert w[np.argmax(n)] < w[np.argmin(n)]
    mult = np.array([rng.multinomial(m, p) for m in n], dtype=float)
    assert sa.primary_weights(mult, np.tile(p, (len(n), 1)))[1] < 0.002


def test_primary_dispersion_fit(male, table):
    plain = sm.fit_sites(table, body=male, link="power")
    weighted = sm.fit_sites(table, body=male, link="power", dispersion="primary")
    assert plain.rho == 0.0 and weighted.rho > 0.0
    # the reported log-likelihood is the unweighted one, comparable across options
    assert weighted.log_likelihood <= plain.log_likelihood + 1e-6
    assert "rho" in weighted.summary()


def test_unseen_site_rules_and_soil_blend(male, table):
    train = table[table["site"] != "brain"]
    fit = sm.fit_sites(train, body=male, link="power", extra_sites=["brain"])
    soil = sm.baselines(train, table, body=male)["soil"]
    q = soil.reindex(fit.predict(table).columns)
    q = q / q.sum()
    for rule in sm.UNSEEN:
        p = dataclasses.replace(fit, unseen=rule).predict(table)
        assert np.abs(p.sum(axis=1) - 1.0).max() < 1e-12
    p_soil = dataclasses.replace(fit, unseen="soil").predict(table)
    np.testing.assert_allclose(p_soil["brain"], q["brain"], rtol=1e-12)  # the soil-only share
    access = sm.site_access(table, body=male)
    p_typ = dataclasses.replace(fit, unseen="typical").predict(table)
    beta = fit.link_parameter
    ratio = p_typ["brain"] / p_typ["liver"]
    expect = (
        np.exp(fit.soil.mean() - fit.soil["liver"]) * (access["brain"] / access["liver"]) ** beta
    )
    np.testing.assert_allclose(ratio, expect.loc[ratio.index], rtol=1e-9)
    # a full blend is soil-only; a partial blend is the mixture
    p1 = dataclasses.replace(fit, soil_weight=1.0).predict(table)
    np.testing.assert_allclose(p1.to_numpy(), np.tile(q.to_numpy(), (len(p1), 1)), rtol=1e-12)
    p0 = fit.predict(table)
    ph = dataclasses.replace(fit, soil_weight=0.25).predict(table)
    np.testing.assert_allclose(ph.to_numpy(), 0.75 * p0.to_numpy() + 0.25 * p1.to_numpy())


@pytest.mark.slow
def test_soil_weight_path_matches_cross_validation(male, table):
    path = sm.soil_weight_path(table, weights=(0.0, 0.5, 1.0), body=male, link="power")
    cv = sm.cross_validate_sites(table, body=male, link="power")
    assert path.loc[0.0, "dev"] == pytest.approx(cv.loc["total", "dev_calibrated"], rel=1e-9)
    assert path.loc[1.0, "dev"] == pytest.approx(cv.loc["total", "dev_soil"], rel=1e-9)
    assert path.loc[0.0, "wins"] == int(
        (cv.drop(index="total").eval("dev_calibrated < dev_soil")).sum()
    )
    with pytest.raises(ParameterError, match="soil_weight"):
        sm.soil_weight_path(table, body=male, soil_weight=0.1)


@pytest.mark.slow
def test_unseen_site_path_drops_each_site(male, table):
    out = sm.unseen_site_path(table, body=male, link="power")
    assert list(out.index) == [*sorted(set(table["site"])), "total"]
    assert np.isfinite(out.to_numpy()).all()
    with pytest.raises(ParameterError, match="unseen"):
        sm.unseen_site_path(table, body=male, unseen="soil")


def test_new_options_are_checked(male, table):
    with pytest.raises(ParameterError, match="dispersion"):
        sm.fit_sites(table, body=male, dispersion="dirichlet")
    with pytest.raises(ParameterError, match="unseen"):
        sm.fit_sites(table, body=male, unseen="zero")
    with pytest.raises(ParameterError, match="soil_weight"):
        sm.fit_sites(table, body=male, soil_weight=1.5)


def test_shipped_profile_beats_both_soil_baselines_on_the_validation_series():
    """Issue 13's done-when, as a regression test of the shipped profile (fitted to DiSibio
    only): total deviance below soil-only's (either rule for unseen sites), wins for at
    least two thirds of the validation primaries, lung no worse than anatomy alone."""
    fit = sm.calibrated("disibio2008")
    train = circnet.load_autopsy()
    held = pd.concat(
        sm.score_sites(fit, v, train).drop(index="total") for v in sm.validation_series().values()
    )
    for base in ("soil", "soil_typical"):
        assert held["dev_calibrated"].sum() < held[f"dev_{base}"].sum(), base
        assert 3 * (held["dev_calibrated"] < held[f"dev_{base}"]).sum() >= 2 * len(held), base
    assert held.loc["lung", "dev_calibrated"] <= held.loc["lung", "dev_anatomy"]
