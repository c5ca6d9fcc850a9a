"""CellPopulation and the block-diagonal transport model of a population (issue 12)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sla
from bodies import tiny_body, tiny_portal_body
from bodies12 import tiny_serosal_body

import circnet
from circnet import CellPopulation, CellProfile, TransportModel
from circnet.population import population_table, site_table

SMALL = CellProfile(diameter_um=7.0, death_rate_blood=0.01)
LARGE = CellProfile(diameter_um=14.0, deformability=0.0, lymph_fraction=0.3)


def two(w: float = 0.3) -> CellPopulation:
    return CellPopulation(("small", "large"), (1.0 - w, w), (SMALL, LARGE))


# ----------------------------------------------------------------------------- the class
def test_weights_must_sum_to_one_and_be_non_negative():
    with pytest.raises(circnet.ParameterError, match="must sum to 1"):
        CellPopulation(("a", "b"), (0.5, 0.4), (SMALL, LARGE))
    with pytest.raises(circnet.ParameterError, match="weights\\['a'\\]"):
        CellPopulation(("a", "b"), (-0.5, 1.5), (SMALL, LARGE))


def test_names_and_profiles_are_checked():
    with pytest.raises(circnet.ParameterError, match="unique"):
        CellPopulation(("a", "a"), (0.5, 0.5), (SMALL, LARGE))
    with pytest.raises(circnet.ParameterError, match="subpopulation name"):
        CellPopulation(("a@b",), (1.0,), (SMALL,))
    with pytest.raises(circnet.ParameterError, match="same length"):
        CellPopulation(("a", "b"), (1.0,), (SMALL,))
    with pytest.raises(circnet.ParameterError, match="must be a CellProfile"):
        CellPopulation(("a",), (1.0,), ({"diameter_um": 3},))  # type: ignore[arg-type]
    with pytest.raises(circnet.ParameterError, match="at least one"):
        CellPopulation((), (), ())
    with pytest.raises(circnet.UnknownNameError, match="unknown subpopulation"):
        two().profile("medium")


def test_lognormal_classes_are_quantiles():
    pop = CellPopulation.lognormal(10.0, 0.3, 5, cluster_share=0.1, cluster_cells=8.0)
    d = [p.diameter_um for p in pop.profiles[:5]]
    assert d[2] == pytest.approx(10.0, rel=1e-12)  # the middle class is the median
    assert d[0] * d[4] == pytest.approx(100.0, rel=1e-12)  # symmetric in log
    assert pop.weights[:5] == pytest.approx((0.18,) * 5, rel=1e-12)
    assert pop.profile("cluster").diameter_um == pytest.approx(20.0, rel=1e-12)
    assert pop.profile("cluster").deformability == 0.0
    assert math.fsum(pop.weights) == pytest.approx(1.0, abs=1e-15)


def test_default_population_comes_from_the_tables():
    t = population_table()
    pop = CellPopulation.default()
    assert len(pop) == int(t.loc["n_classes", "value"]) + 1
    assert pop.weight("cluster") == pytest.approx(t.loc["cluster_share", "value"])
    assert all(p.deformability == t.loc["deformability", "value"] for p in pop.profiles[:-1])
    marrow = site_table().query("site == 'red_marrow' and parameter == 'adhesion_probability'")
    assert pop.profiles[0].site_value("adhesion_probability", "red_marrow") == float(
        marrow["value"].iloc[0]
    )


def test_every_default_value_has_a_source_and_its_range():
    src = CellPopulation.sources()
    assert (src["source"].str.len() > 20).all()
    assert set(src["kind"]) <= {"measured", "assumption", "calibrated", "derived"}
    for r in src.itertuples():
        lo = float(r.low) if r.low != "" else -math.inf
        hi = float(r.high) if r.high != "" else math.inf
        assert lo <= r.value <= hi, r.parameter


def test_default_population_for_a_body_keeps_its_sites():
    pop = CellPopulation.default(tiny_body())
    sites = set(pop.profiles[0].sites)
    assert sites <= {"lung", "kidney", "muscle", "node"}
    TransportModel(tiny_body(), pop)  # no unknown site
    with pytest.raises(circnet.UnknownNameError, match="subpopulation 'single_1'"):
        TransportModel(tiny_body(), CellPopulation.default())


def test_replace_and_with_site_apply_to_every_profile():
    pop = two().replace(death_rate_blood=0.02).with_site("lung", receptivity=3.0)
    assert all(p.death_rate_blood == 0.02 for p in pop.profiles)
    assert all(p.site_value("receptivity", "lung") == 3.0 for p in pop.profiles)
    frame = pop.to_frame()
    assert frame.loc["large", "weight"] == pytest.approx(0.3)


# ----------------------------------------------------------------------------- the model
@pytest.mark.parametrize("body", [tiny_body, tiny_portal_body, tiny_serosal_body])
def test_a_population_of_one_is_the_profile(body):
    g = body()
    a = TransportModel(g, SMALL)
    b = TransportModel(g, CellPopulation.single(SMALL, name="only"))
    assert a.states == b.states
    assert (a.generator != b.generator).nnz == 0
    pd.testing.assert_series_equal(a.fates("lung"), b.fates("lung"), check_exact=True)


@pytest.mark.parametrize("body", [tiny_body, tiny_portal_body, tiny_serosal_body])
def test_fates_of_a_mixture_are_the_mixture_of_fates(body):
    g = body()
    pop = two(0.3)
    mixed = TransportModel(g, pop)
    ms, ml = TransportModel(g, SMALL), TransportModel(g, LARGE)
    for src in circnet.organs(g):
        f = mixed.fates(src)
        expect = 0.7 * ms.fates(src) + 0.3 * ml.fates(src)
        assert np.abs(f.to_numpy() - expect.to_numpy()).max() < 1e-12
        assert abs(f.sum() - 1.0) < 1e-12


def test_tagged_states_and_shared_fates():
    m = TransportModel(tiny_body(), two())
    assert m.state_space.subpopulations == ("small", "large")
    assert "transit:lung_bed@small" in m.states and "lodged:kidney_bed@large" in m.states
    assert m.fate_labels == TransportModel(tiny_body()).fate_labels
    # block diagonal: no rate from one subpopulation to the other
    q = m.generator.tocoo()
    tags = m.state_space.tags
    cross = [
        (i, j)
        for i, j in zip(q.row, q.col, strict=True)
        if tags[i] and tags[j] and tags[i] != tags[j]
    ]
    assert cross == []
    p0 = m.release("kidney")
    small = [s for s in p0.index if s.endswith("@small")]
    assert p0[small].sum() == pytest.approx(0.7, rel=1e-14)


def test_propagate_and_simulate_conserve_cells():
    m = TransportModel(tiny_serosal_body(), two())
    dist = m.propagate("lung", [0.0, 5.0, 600.0])
    assert np.abs(dist.sum(axis=1) - 1.0).max() < 1e-12
    res = m.simulate("lung", 10**9, [1.0, 60.0, 1440.0], rng=3)
    assert (res.counts.sum(axis=1) == 10**9).all()
    paths = m.trajectories("lung", 3, rng=1)
    first = paths[paths["step"] == 0]["state"]
    assert all("@" in s for s in first)


def test_lodging_table_by_subpopulation():
    m = TransportModel(tiny_serosal_body(), two(0.25))
    table = m.lodging_table(by_subpopulation=True)
    assert list(table.columns) == ["small", "large", "population"]
    assert "node_hev" in table.index and "pleura" in table.index
    assert table.loc["lung", "small"] == SMALL.lodging(6.0)
    assert np.allclose(table["population"], 0.75 * table["small"] + 0.25 * table["large"])
    pd.testing.assert_series_equal(
        m.lodging_table(), table["population"].rename("lodging_probability"), check_names=False
    )


def _dense_blood(m: TransportModel, src: str) -> tuple[np.ndarray, np.ndarray]:
    kinds = m.state_space.kinds
    idx = [
        i
        for i, s in enumerate(m.transient_states)
        if kinds[i] == "transit" and m.state_space.node_kind(s) in ("pool", "capillary_bed")
    ]
    b = m.generator.toarray()[np.ix_(idx, idx)]
    p0 = m.release(src).to_numpy()[idx]
    return b, p0 / p0.sum()


def test_blood_residence_is_exact():
    m = TransportModel(tiny_portal_body(), two())
    res = m.blood_residence(["gut", "kidney"], times=[1.0, 10.0])
    for src in ("gut", "kidney"):
        b, p0 = _dense_blood(m, src)
        mean = p0 @ np.linalg.inv(-b) @ np.ones(len(p0))
        assert res.loc[src, "mean_min"] == pytest.approx(mean, rel=1e-10)
        for t in (1.0, 10.0):
            alive = p0 @ sla.expm(t * b) @ np.ones(len(p0))
            assert res.loc[src, f"in_blood_{t:g}min"] == pytest.approx(alive, rel=1e-8)
        med = res.loc[src, "median_min"]
        assert p0 @ sla.expm(med * b) @ np.ones(len(p0)) == pytest.approx(0.5, abs=1e-8)
        assert 0 < res.loc[src, "dies_in_blood"] < 1


@pytest.mark.slow
def test_blood_residence_without_arrest_is_the_blood_half_life():
    cells = CellProfile(diameter_um=1.0, lodging_width_um=0.1)  # no arrest above 1e-20
    m = TransportModel(tiny_body(), cells)
    res = m.blood_residence(["muscle"], times=[90.0])
    assert res.loc["muscle", "median_min"] == pytest.approx(90.0, rel=1e-3)
    assert res.loc["muscle", "dies_in_blood"] == pytest.approx(1.0, abs=1e-3)
