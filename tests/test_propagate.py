"""Propagation in time: expm_multiply and uniformisation against dense scipy.linalg.expm."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as la
import scipy.sparse as sp
from transport_bodies import random_body, ring_body, ring_lymph_body
from transport_reference import dense_fate_matrix

import circnet
from circnet.propagate import propagate, transition_matrix, uniformization

propagate_module = importlib.import_module("circnet.propagate")  # the module, not a function

TIMES = [0.0, 0.1, 1.0, 7.5, 60.0, 600.0, 1440.0]


def _dense(model, p0, times):
    q = model.generator.toarray()
    full = np.zeros(len(model.states))
    full[: len(p0)] = p0
    return np.array([full @ la.expm(q * t) for t in times])


def test_two_state_closed_form():
    q = sp.csr_array([[-0.7, 0.7], [0.0, 0.0]])
    t = np.array([0.0, 0.5, 3.0, 40.0])
    out = propagate(q, [1.0, 0.0], t)
    np.testing.assert_allclose(out[:, 0], np.exp(-0.7 * t), rtol=1e-13)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    for ti, row in zip(t, out, strict=True):
        p, bound = uniformization(q, [1.0, 0.0], ti, tol=1e-13)
        assert abs(p - row).sum() / 2 <= bound + 1e-14


def test_ring_closed_form_in_time():
    # without lodging (huge vessels) a cell alternates heart and bed and dies at rate mu:
    # P(alive at t) = exp(-mu t), whatever the alternation
    cells = circnet.CellProfile(diameter_um=5.0, lodging_width_um=0.2, death_rate_blood=0.03)
    model = circnet.TransportModel(ring_body(diameter=200.0), cells)
    assert model.lodging_table()["organ"] == 0.0
    dist = model.propagate("organ", [0.0, 1.0, 10.0, 100.0])
    alive = dist[["transit:left_heart", "transit:organ_bed"]].sum(axis=1)
    np.testing.assert_allclose(alive, np.exp(-0.03 * dist.index.to_numpy()), rtol=1e-12)
    # two-state alternation a = 50/20, q = 50/4: heart share -> q / (a + q) exponentially
    a, q = 2.5, 12.5
    t = dist.index.to_numpy()
    heart = (q / (a + q) + a / (a + q) * np.exp(-(a + q) * t)) * np.exp(-0.03 * t)
    np.testing.assert_allclose(dist["transit:left_heart"], heart, rtol=1e-12, atol=1e-15)


def _scaled_times(model, steps=(0.0, 0.5, 5.0, 50.0, 400.0)):
    """Times in units of the fastest residence time (stiff random bodies stay cheap)."""
    lam = float(np.abs(model.generator.diagonal()).max())
    return [x / lam for x in steps]


@pytest.fixture(params=["expm", "expm_multiply", "uniformization"])
def method(request, monkeypatch):
    """The three paths: dense Pade (small chains), sparse expm_multiply, uniformisation."""
    if request.param == "expm_multiply":
        monkeypatch.setattr(propagate_module, "DENSE_EXPM_MAX", 0)
        return "expm"
    return request.param


@pytest.mark.parametrize("seed", range(6))
def test_propagate_matches_dense_expm(seed, method):
    model = circnet.TransportModel(random_body(seed))
    src = model.organs[-1]
    times = _scaled_times(model)
    dist = model.propagate(src, times, method=method)
    assert isinstance(dist, pd.DataFrame)
    assert list(dist.columns) == list(model.states) and dist.index.name == "time_min"
    ref = _dense(model, model.initial(src), times)
    np.testing.assert_allclose(dist.to_numpy(), ref, rtol=0, atol=1e-12)
    assert np.abs(dist.sum(axis=1) - 1).max() <= 1e-12
    assert (dist.to_numpy() >= 0).all()


def test_default_body_propagation_matches_dense(male_body, method):
    model = circnet.TransportModel(male_body)
    times = [0.0, 1.0, 10.0, 30.0]
    dist = model.propagate("colon_rectum", times, method=method)
    ref = _dense(model, model.initial("colon_rectum"), times)
    np.testing.assert_allclose(dist.to_numpy(), ref, rtol=0, atol=1e-12)
    assert np.abs(dist.sum(axis=1) - 1).max() <= 1e-12


def test_default_body_one_day_conserves_probability(male_body):
    model = circnet.TransportModel(male_body)
    dist = model.propagate("colon_rectum", [0.0, 1.0, 1440.0])
    assert np.abs(dist.sum(axis=1) - 1).max() <= 1e-12
    ref = _dense(model, model.initial("colon_rectum"), [1440.0])
    np.testing.assert_allclose(dist.iloc[-1], ref[0], rtol=0, atol=1e-11)


@pytest.mark.slow
def test_default_body_one_day_conserves_probability_sparse(male_body, monkeypatch):
    # regression: expm_multiply drifted by 2.4e-12 over a day (stiff: 137/min next to
    # 1e-4/min) and propagate raised "probability not conserved". About 10 s.
    monkeypatch.setattr(propagate_module, "DENSE_EXPM_MAX", 0)
    model = circnet.TransportModel(male_body)
    dist = model.propagate("colon_rectum", [0.0, 1.0, 1440.0])
    assert np.abs(dist.sum(axis=1) - 1).max() <= 1e-12
    ref = _dense(model, model.initial("colon_rectum"), [1440.0])
    np.testing.assert_allclose(dist.iloc[-1], ref[0], rtol=0, atol=1e-11)


def test_ring_propagation_over_a_day_matches_dense():
    # slow tissue states (a week) next to fast pools: long horizons, probability conserved
    model = circnet.TransportModel(ring_lymph_body())
    times = [0.0, 60.0, 1440.0]
    dist = model.propagate("organ", times)
    ref = _dense(model, model.initial("organ"), times)
    np.testing.assert_allclose(dist.to_numpy(), ref, rtol=0, atol=1e-12)
    assert np.abs(dist.sum(axis=1) - 1).max() <= 1e-12


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tol", [1e-6, 1e-9, 1e-12])
def test_uniformization_error_within_its_bound(seed, tol):
    model = circnet.TransportModel(random_body(seed))
    p0 = np.zeros(len(model.states))
    p0[: len(model.transient_states)] = model.initial(model.organs[0])
    q = model.generator
    for t in _scaled_times(model, (0.3, 5.0, 80.0)):
        p, bound = uniformization(q, p0, t, tol=tol)
        ref = p0 @ la.expm(q.toarray() * t)
        assert 0 <= bound <= tol
        assert abs(p - ref).sum() / 2 <= bound + 1e-13  # total variation
        assert p.sum() == pytest.approx(1.0, abs=1e-13)


def test_uniformization_at_time_zero_is_the_start():
    q = circnet.TransportModel(ring_lymph_body()).generator
    p0 = np.zeros(q.shape[0])
    p0[1] = 1.0
    p, bound = uniformization(q, p0, 0.0)
    np.testing.assert_array_equal(p, p0)
    assert bound == 0.0


@pytest.mark.parametrize("seed", range(4))
def test_transition_matrix_powers_match_propagate(seed):
    model = circnet.TransportModel(random_body(seed))
    (dt,) = _scaled_times(model, (3.0,))
    p = model.transition_matrix(dt)
    assert sp.issparse(p)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert p.min() >= 0
    np.testing.assert_allclose(p.toarray(), la.expm(model.generator.toarray() * dt), atol=1e-12)
    nt = len(model.transient_states)
    np.testing.assert_array_equal(p.toarray()[nt:, nt:], np.eye(len(model.fate_labels)))
    src = model.organs[0]
    dist = model.propagate(src, [k * dt for k in range(0, 41, 10)])
    v = np.zeros(len(model.states))
    v[:nt] = model.initial(src)
    for k in range(41):
        if k % 10 == 0:
            np.testing.assert_allclose(v, dist.iloc[k // 10].to_numpy(), rtol=0, atol=1e-11)
        v = p.T @ v


@pytest.mark.parametrize("seed", [11, 12])
def test_propagation_is_consistent_with_fates(seed):
    # h = p_A(t) + p_T(t) H at every t (Markov property), so p_A(t) -> h as t grows
    model = circnet.TransportModel(random_body(seed))
    src = model.organs[0]
    fates = model.fates(src).to_numpy()
    nt = len(model.transient_states)
    h = dense_fate_matrix(model)
    dist = model.propagate(src, _scaled_times(model)).to_numpy()
    for row in dist:
        np.testing.assert_allclose(row[nt:] + row[:nt] @ h, fates, rtol=0, atol=1e-11)
        assert (row[nt:] <= fates + 1e-12).all()


def test_propagation_reaches_the_fates():
    # fast cells: every transient state is left within minutes, so by 1e4 min all is absorbed
    cells = circnet.CellProfile(
        lodged_time_min=1.0,
        tissue_time_min=2.0,
        death_rate_blood=0.05,
        death_rate_lymph=0.05,
        immune_kill_rate=0.5,
        nodal_growth_rate=0.1,
        node_release_rate=0.2,
        lymph_fraction=0.4,
    )
    model = circnet.TransportModel(ring_lymph_body(), cells)
    for src in ("organ", "node"):
        dist = model.propagate(src, [0.0, 10.0, 100.0, 1000.0])
        fates = model.fates(src)
        np.testing.assert_allclose(dist.iloc[-1][list(model.fate_labels)], fates, atol=1e-12)
        assert dist.iloc[-1][list(model.transient_states)].sum() < 1e-12
        # fate probabilities only grow in time
        assert (dist[list(model.fate_labels)].diff().iloc[1:] >= -1e-13).all().all()


def test_propagate_from_arbitrary_distribution():
    model = circnet.TransportModel(ring_lymph_body())
    dist = model.propagate(initial={"trapped:node": 1.0}, times=[0.0, 100.0])
    assert dist.iloc[0]["trapped:node"] == 1.0
    rate = sum(model.cells.site_value(k, "node") for k in ("immune_kill_rate", "nodal_growth_rate"))
    rate += model.cells.node_release_rate
    assert dist.iloc[1]["trapped:node"] == pytest.approx(math.exp(-rate * 100.0), rel=1e-12)


@pytest.mark.parametrize(
    ("times", "match"),
    [
        ([1.0, 0.5], "non-decreasing"),
        ([-1.0], "non-negative"),
        ([math.nan], "finite"),
        ([[1.0]], "`times`"),
    ],
)
def test_bad_times_raise(times, match):
    model = circnet.TransportModel(ring_body())
    with pytest.raises(circnet.ParameterError, match=match):
        model.propagate("organ", times)


def test_bad_method_and_dt_raise():
    model = circnet.TransportModel(ring_body())
    with pytest.raises(circnet.ParameterError, match="`method`"):
        model.propagate("organ", [1.0], method="euler")
    for dt in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(circnet.ParameterError, match="`dt`"):
            transition_matrix(model.generator, dt)
