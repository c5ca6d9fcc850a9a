"""TransportModel and AbsorbingChain: closed forms, dense and QuantEcon cross-checks, the API.

The closed forms are derived by hand on the rings of ``transport_bodies.py``: a cell in
``left_heart`` (outflow ``a = F / V_h``, death ``mu``) reaches the bed with probability
``s = a / (a + mu)``; in the bed (``q = F_blood / V_b``) it lodges with probability
``l = q p / (q + mu)`` per visit and returns with ``r = q (1 - p) / (q + mu)``; summing
over passes, ``P(lodged) = s l sum_k (r s)^k = s l / (1 - r s)``.
"""

from __future__ import annotations

import importlib
import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from transport_bodies import random_body, ring_body, ring_lymph_body
from transport_reference import dense_fate_matrix, dense_solution, quantecon_solution

import circnet
from circnet.transport import AbsorbingChain, SolverError

# ============================================================================ closed forms
RING_CELLS = dict(
    diameter_um=10.0,
    deformability=0.1,
    lodging_width_um=1.5,
    death_rate_blood=0.01,
    extravasation_probability=0.6,
    lodged_time_min=100.0,
    colonisation_probability=0.3,
    receptivity=2.0,
    tissue_time_min=500.0,
)


def _ring_hand(flow, heart_volume, bed_blood_out, bed_volume, diameter, c):
    """Hand-derived quantities of the blood ring."""
    p = 1.0 / (1.0 + math.exp(-(c.diameter_um * (1 - c.deformability) - diameter) / 1.5))
    mu = c.death_rate_blood
    a, q = flow / heart_volume, bed_blood_out / bed_volume
    s = a / (a + mu)
    lodge, back = q * p / (q + mu), q * (1 - p) / (q + mu)
    rho = back * s
    col = 2.0 * 0.3 / (2.0 * 0.3 + 0.7)  # receptivity 2 on the odds of c = 0.3
    return dict(p=p, a=a, q=q, s=s, lodge=lodge, rho=rho, col=col, mu=mu)


def test_ring_closed_form_fates_times_occupation():
    cells = circnet.CellProfile(**RING_CELLS)
    model = circnet.TransportModel(ring_body(flow=50.0, heart_volume=20.0, bed_volume=4.0), cells)
    h = _ring_hand(50.0, 20.0, 50.0, 4.0, 8.0, cells)
    p_lodged = h["s"] * h["lodge"] / (1 - h["rho"])
    # the same sum, pass by pass
    assert p_lodged == pytest.approx(
        sum(h["s"] * h["lodge"] * (h["rho"] ** k) for k in range(2000)), rel=1e-13
    )
    p_colony = p_lodged * 0.6 * h["col"]
    fates = model.fates("organ")
    assert list(fates.index) == ["dead", "colony:organ"]
    assert fates["colony:organ"] == pytest.approx(p_colony, rel=1e-12, abs=1e-12)
    assert fates["dead"] == pytest.approx(1 - p_colony, abs=1e-12)
    assert model.lodging_table()["organ"] == pytest.approx(h["p"], rel=1e-15)

    res = model.fate_result("organ")
    visits = 1.0 / (1 - h["rho"])
    occ = {
        "transit:left_heart": visits / (h["a"] + h["mu"]),
        "transit:organ_bed": visits * h["s"] / (h["q"] + h["mu"]),
        "lodged:organ_bed": p_lodged * 100.0,
        "tissue:organ": p_lodged * 0.6 * 500.0,
    }
    for label, x in occ.items():
        assert res.occupation[label] == pytest.approx(x, rel=1e-12)
    total = sum(occ.values())
    assert res.expected_time == pytest.approx(total, rel=1e-12)
    assert model.expected_time("organ") == pytest.approx(total, rel=1e-12)
    # given a colony: (K + 1) heart and bed visits, K ~ geometric(rho), then lodged, tissue
    t_col = visits * (1 / (h["a"] + h["mu"]) + 1 / (h["q"] + h["mu"])) + 100.0 + 500.0
    assert res.conditional_times["colony:organ"] == pytest.approx(t_col, rel=1e-12)
    t_dead = (total - p_colony * t_col) / (1 - p_colony)
    assert res.conditional_times["dead"] == pytest.approx(t_dead, rel=1e-12)
    frame = res.to_frame()
    assert list(frame.columns) == ["probability", "expected_time_min"]


def test_ring_started_in_the_bed():
    cells = circnet.CellProfile(**RING_CELLS)
    model = circnet.TransportModel(ring_body(), cells)
    h = _ring_hand(50.0, 20.0, 50.0, 4.0, 8.0, cells)
    fates = model.fates(initial={"transit:organ_bed": 1.0})
    assert fates["colony:organ"] == pytest.approx(
        h["lodge"] / (1 - h["rho"]) * 0.6 * h["col"], rel=1e-12
    )
    # a cell already lodged: extravasation then colonisation, nothing else
    fates = model.fates(initial={"lodged:organ_bed": 1.0})
    assert fates["colony:organ"] == pytest.approx(0.6 * h["col"], rel=1e-12)
    fates = model.fates(initial={"tissue:organ": 1.0})
    assert fates["colony:organ"] == pytest.approx(h["col"], rel=1e-12)
    assert model.expected_time(initial={"tissue:organ": 1.0}) == pytest.approx(500.0, rel=1e-12)


def test_ring_without_death_every_cell_lodges():
    cells = circnet.CellProfile(**{**RING_CELLS, "death_rate_blood": 0.0})
    model = circnet.TransportModel(ring_body(), cells)
    assert model.fates("organ")["colony:organ"] == pytest.approx(0.6 * 2 * 0.3 / 1.3, rel=1e-12)


def test_ring_with_lymph_closed_form():
    lymph = dict(
        lymph_fraction=0.25,
        death_rate_lymph=0.02,
        trapping_probability=0.4,
        immune_kill_rate=0.001,
        nodal_growth_rate=0.0005,
        node_release_rate=0.002,
    )
    cells = circnet.CellProfile(**RING_CELLS, **lymph)
    body = ring_lymph_body(
        flow=50.0,
        lymph=2.0,
        heart_volume=20.0,
        bed_volume=4.0,
        node_volume=1.0,
        duct_volume=3.0,
    )
    model = circnet.TransportModel(body, cells)
    h = _ring_hand(50.0, 20.0, 48.0, 4.0, 8.0, cells)  # the bed's blood outflow is 48
    mu_l, lf = 0.02, 0.25
    qn, qd = 2.0 / 1.0, 2.0 / 3.0
    out_trapped = 0.001 + 0.0005 + 0.002
    trapped = qn * 0.4 / (qn + mu_l)
    passed = qn * 0.6 / (qn + mu_l)
    exit_node = passed + trapped * 0.002 / out_trapped
    to_heart = (1 - lf) + lf * exit_node * qd / (qd + mu_l)
    colony_from_heart = h["s"] * h["lodge"] / (1 - h["rho"]) * 0.6 * h["col"]
    p_node = lf * trapped * 0.0005 / out_trapped
    p_colony = to_heart * colony_from_heart

    p0 = model.release("organ")
    assert p0["transit:left_heart"] == pytest.approx(0.75, rel=1e-15)
    assert p0["transit:node"] == pytest.approx(0.25, rel=1e-15)
    assert p0.sum() == pytest.approx(1.0, abs=1e-15)

    fates = model.fates("organ")
    assert list(fates.index) == ["dead", "colony:organ", "node:node"]
    assert fates["node:node"] == pytest.approx(p_node, rel=1e-12)
    assert fates["colony:organ"] == pytest.approx(p_colony, rel=1e-12)
    assert fates["dead"] == pytest.approx(1 - p_node - p_colony, abs=1e-12)
    res = model.fate_result("organ")
    assert res.conditional_times["node:node"] == pytest.approx(
        1 / (qn + mu_l) + 1 / out_trapped, rel=1e-12
    )
    p_lodged = to_heart * h["s"] * h["lodge"] / (1 - h["rho"])
    visits = to_heart / (1 - h["rho"])
    occ = {
        "transit:left_heart": visits / (h["a"] + h["mu"]),
        "transit:organ_bed": visits * h["s"] / (h["q"] + h["mu"]),
        "lodged:organ_bed": p_lodged * 100.0,
        "tissue:organ": p_lodged * 0.6 * 500.0,
        "transit:node": lf / (qn + mu_l),
        "trapped:node": lf * trapped / out_trapped,
        "transit:duct": lf * exit_node / (qd + mu_l),
    }
    assert set(occ) == set(model.transient_states)
    for label, x in occ.items():
        assert res.occupation[label] == pytest.approx(x, rel=1e-12)
    assert res.expected_time == pytest.approx(sum(occ.values()), rel=1e-12)

    # the lymph node as a source: cells leave with its efferent lymph into the duct
    p0 = model.release("node")
    assert p0["transit:duct"] == 1.0 and p0.sum() == 1.0
    fates = model.fates("node")
    assert fates["node:node"] == 0.0
    assert fates["colony:organ"] == pytest.approx(qd / (qd + mu_l) * colony_from_heart, rel=1e-12)


def test_release_without_lymph_puts_every_cell_in_blood(male_body):
    model = circnet.TransportModel(male_body)
    assert model.body.out_degree("brain") == 0
    p0 = model.release("brain")
    assert p0.sum() == pytest.approx(1.0, abs=1e-15)
    assert set(p0[p0 > 0].index) == {"transit:venous_return"}
    # the lymph fraction does not matter for an organ with no lymph
    again = model.with_cells(lymph_fraction=0.9).release("brain")
    pd.testing.assert_series_equal(p0, again)
    # colon: the lymph fraction goes to its nodes, the rest to its veins (the portal
    # vein, and since issue 12 a share of the rectal blood to Batson's plexus)
    p0 = model.release("colon_rectum")
    lymph = sum(v for k, v in p0.items() if model.state_space.in_lymph(k))
    assert lymph == pytest.approx(model.cells.lymph_fraction, rel=1e-12)


def test_release_reuses_routes_without_changing_them(female_body):
    """A model builds the node kinds, flow shares and state index once for all its
    releases; each release equals one built from scratch, in any order of sources."""
    from circnet import _generator

    model = circnet.TransportModel(female_body, circnet.CellPopulation.default(female_body))
    sources = _all_sources(model)
    first = {s: model.release(s) for s in reversed(sources)}
    for s in sources:
        fresh = _generator.release(
            model.body,
            model.state_space,
            model._blocks,
            model.organs,
            model.lymph_nodes,
            s,
            model.population.weights,
        )
        pd.testing.assert_series_equal(model.release(s), fresh)
        pd.testing.assert_series_equal(first[s], fresh)


# ============================================================================ cross-checks
def _all_sources(model):
    return list(model.organs) + list(model.lymph_nodes)


@pytest.mark.parametrize("seed", range(25))
def test_random_bodies_agree_with_dense_numpy_and_quantecon(seed):
    rng = np.random.default_rng(seed)
    cells = circnet.CellProfile(
        diameter_um=float(rng.uniform(8, 20)),
        death_rate_blood=float(rng.uniform(0.001, 0.05)),
        lymph_fraction=float(rng.uniform(0, 1)),
        receptivity=float(rng.uniform(0.5, 3)),
    )
    model = circnet.TransportModel(random_body(seed), cells)
    sources = _all_sources(model)
    table = model.fate_table(sources)
    assert np.abs(table.sum(axis=1) - 1).max() < 1e-12
    for src in sources:
        p0 = model.initial(src)
        res = model.fate_result(src)
        fd, xd = dense_solution(model, p0)
        fq, xq = quantecon_solution(model, p0)
        f = table.loc[src].to_numpy()
        np.testing.assert_allclose(f, fd, rtol=0, atol=1e-10)
        np.testing.assert_allclose(f, fq, rtol=0, atol=1e-10)
        np.testing.assert_allclose(res.probabilities.to_numpy(), f, rtol=0, atol=1e-13)
        np.testing.assert_allclose(res.occupation.to_numpy(), xd, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res.occupation.to_numpy(), xq, rtol=1e-10, atol=1e-12)
        assert res.expected_time == pytest.approx(xd.sum(), rel=1e-10)
        # conditional times from the dense fate matrix: E[T 1{a}] = sum_j x_j H_ja
        joint = xd @ dense_fate_matrix(model)
        cond = res.conditional_times.to_numpy()
        ok = fd > 1e-6
        np.testing.assert_allclose(cond[ok], joint[ok] / fd[ok], rtol=1e-9)
        assert np.isnan(cond[res.probabilities.to_numpy() == 0]).all()
    np.testing.assert_allclose(model.chain.fate_matrix, dense_fate_matrix(model), atol=1e-10)
    np.testing.assert_allclose(model.chain.fate_matrix.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_fates_from_arbitrary_distribution_match_dense():
    model = circnet.TransportModel(random_body(7))
    rng = np.random.default_rng(1)
    p0 = rng.dirichlet(np.ones(len(model.transient_states)))
    fd, _ = dense_solution(model, p0)
    np.testing.assert_allclose(model.fates(initial=p0).to_numpy(), fd, atol=1e-12)
    mapping = dict(zip(model.transient_states, p0, strict=True))
    np.testing.assert_allclose(model.fates(initial=mapping).to_numpy(), fd, atol=1e-12)
    series = pd.Series(mapping)
    np.testing.assert_allclose(model.fates(initial=series).to_numpy(), fd, atol=1e-12)
    # linearity: a mixture of sources has the mixture of their fates
    a, b = model.organs[:2] if len(model.organs) > 1 else (model.organs[0], model.organs[0])
    mix = 0.3 * model.release(a) + 0.7 * model.release(b)
    np.testing.assert_allclose(
        model.fates(initial=mix).to_numpy(),
        0.3 * model.fates(a).to_numpy() + 0.7 * model.fates(b).to_numpy(),
        atol=1e-13,
    )


def test_default_body_agrees_with_dense_and_quantecon(female_body):
    model = circnet.TransportModel(female_body)
    table = model.fate_table("all")
    assert list(table.index) == list(model.organs)
    assert np.abs(table.sum(axis=1) - 1).max() < 1e-12
    for src in ("colon_rectum", "breast", "lung", "brain"):
        p0 = model.initial(src)
        np.testing.assert_allclose(table.loc[src], dense_solution(model, p0)[0], atol=1e-12)
        np.testing.assert_allclose(table.loc[src], quantecon_solution(model, p0)[0], atol=1e-10)


# ============================================================================ the model
def test_state_labels_are_public_and_ordered(tiny_body):
    model = circnet.TransportModel(tiny_body)
    nt = len(model.transient_states)
    assert model.states == model.transient_states + model.fate_labels
    assert len(set(model.states)) == len(model.states)
    space = model.state_space
    assert space.labels == model.states and space.n_transient == nt
    assert {space.kind(s) for s in model.transient_states} == {
        "transit",
        "lodged",
        "tissue",
        "trapped",
    }
    assert model.fate_labels[0] == "dead"
    assert set(model.fate_labels[1:]) == {f"colony:{o}" for o in model.organs} | {
        f"node:{n}" for n in model.lymph_nodes
    }
    for i, s in enumerate(model.states):
        assert model.index(s) == i
    with pytest.raises(circnet.UnknownNameError, match="unknown state 'transit:nowhere'"):
        model.index("transit:nowhere")
    assert model.generator.shape == (len(model.states),) * 2
    assert model.chain._m.shape == (nt, nt)


@pytest.mark.parametrize("seed", range(5))
def test_generator_is_a_sparse_rate_matrix(seed):
    model = circnet.TransportModel(random_body(seed))
    q = model.generator
    assert sp.issparse(q) and q.format == "csr"
    nt = len(model.transient_states)
    rowsum = np.asarray(q.sum(axis=1)).ravel()
    scale = np.abs(q.diagonal()).max()
    assert np.abs(rowsum).max() <= 1e-12 * scale
    off = q - sp.diags_array(q.diagonal())
    assert off.min() >= 0
    assert (q.diagonal()[:nt] < 0).all()
    assert q[[nt + i for i in range(len(model.fate_labels))]].nnz == 0  # absorbing rows


def test_no_dense_square_matrix_is_formed(male_body, monkeypatch):
    n_holder = {}

    def guard(kind):
        original = kind.toarray

        def toarray(self, *args, **kwargs):
            n = n_holder.get("n")
            if n and self.shape[0] >= n and self.shape[1] >= n:
                raise AssertionError(f"dense {self.shape} matrix formed")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(kind, "toarray", toarray)
        monkeypatch.setattr(kind, "todense", toarray)

    model = circnet.TransportModel(male_body)
    n_holder["n"] = len(model.transient_states)
    for kind in (sp.csr_array, sp.csc_array, sp.coo_array, sp.csr_matrix, sp.csc_matrix):
        guard(kind)
    fresh = model.with_cells(diameter_um=16.0)
    fresh.fate_table("all")
    fresh.fate_result("colon_rectum")
    # propagation goes dense (Pade) only below DENSE_EXPM_MAX states, by design
    with monkeypatch.context() as m:
        m.setattr(importlib.import_module("circnet.propagate"), "DENSE_EXPM_MAX", 0)
        fresh.propagate("colon_rectum", [1.0, 10.0])
    assert sp.issparse(fresh.chain._m) and sp.issparse(fresh.chain._r)


def test_fates_shapes_and_names(tiny_body):
    model = circnet.TransportModel(tiny_body)
    one = model.fates("kidney")
    assert isinstance(one, pd.Series) and one.name == "kidney"
    assert list(one.index) == list(model.fate_labels)
    two = model.fate_table(["kidney", "node"])
    assert isinstance(two, pd.DataFrame) and list(two.index) == ["kidney", "node"]
    assert two.index.name == "primary"
    assert list(two.columns) == list(model.fate_labels)
    np.testing.assert_allclose(two.loc["kidney"], one, atol=1e-15)
    everything = model.fate_table("all")
    assert list(everything.index) == list(model.organs)
    pd.testing.assert_frame_equal(everything, model.fate_table())
    pd.testing.assert_frame_equal(model.fate_table("kidney"), two.loc[["kidney"]])
    for row in (one, two.loc["node"]):
        assert abs(row.sum() - 1) < 1e-12 and (row >= 0).all()


def test_fates_of_several_sources_still_works_with_a_future_warning(tiny_body):
    model = circnet.TransportModel(tiny_body)
    with pytest.warns(FutureWarning, match="fate_table"):
        two = model.fates(["kidney", "node"])
    pd.testing.assert_frame_equal(two, model.fate_table(["kidney", "node"]))
    for args in [("all",), ()]:
        with pytest.warns(FutureWarning, match="fate_table"):
            table = model.fates(*args)
        pd.testing.assert_frame_equal(table, model.fate_table("all"))


@pytest.mark.parametrize("sources", [[], [3], 3, None, ["kidney", None]])
def test_bad_fate_table_sources_raise(tiny_body, sources):
    model = circnet.TransportModel(tiny_body)
    with pytest.raises(circnet.ParameterError, match="`sources`"):
        model.fate_table(sources)


def test_model_keeps_its_own_copy_of_the_body(tiny_body):
    model = circnet.TransportModel(tiny_body)
    before = model.fates("kidney")
    q = model.generator.copy()
    # edits of the caller's graph afterwards: node and edge attributes, nodes, graph data
    tiny_body.nodes["kidney_bed"]["diameter"] = 2.0
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] *= 3
    tiny_body.add_node("stray", kind="pool", volume=1.0)
    tiny_body.graph["name"] = "edited"
    assert model.body is not tiny_body and "stray" not in model.body
    assert model.body.graph.get("name") != "edited"
    assert (model.generator != q).nnz == 0
    pd.testing.assert_series_equal(model.with_cells().fates("kidney"), before)
    pd.testing.assert_series_equal(model.fates("kidney"), before)


def test_model_is_immutable(tiny_body):
    model = circnet.TransportModel(tiny_body)
    for name in ("cells", "body", "generator", "new_attribute"):
        with pytest.raises(AttributeError, match="immutable"):
            setattr(model, name, None)
    with pytest.raises(AttributeError, match="immutable"):
        del model.cells
    changed = model.with_cells(diameter_um=20.0)
    assert changed.body is model.body  # shared: neither model changes it
    assert changed.cells.diameter_um == 20.0 and model.cells.diameter_um != 20.0


def test_lymph_node_source_matches_its_efferent_lymph(tiny_body):
    model = circnet.TransportModel(tiny_body)
    a = model.fates("node")
    b = model.fates(initial={"transit:duct": 1.0})
    np.testing.assert_allclose(a, b, atol=1e-15)
    assert a["node:node"] == 0.0


@pytest.mark.parametrize(
    ("initial", "error", "match"),
    [
        ({"transit:lung_bed": -0.5, "transit:kidney_bed": 1.5}, circnet.ParameterError, "non-neg"),
        ({"transit:lung_bed": 0.5}, circnet.ParameterError, "must sum to 1"),
        ({"dead": 1.0}, circnet.ParameterError, "'dead' is a fate"),
        ({"colony:lung": 1.0}, circnet.ParameterError, "is a fate"),
        ({"transit:nowhere": 1.0}, circnet.UnknownNameError, "unknown state 'transit:nowhere'"),
        ({"transit:lung_bed": math.nan}, circnet.ParameterError, "finite"),
        ([1.0, 0.0], circnet.ParameterError, "must have shape"),
        ("pancreas", circnet.UnknownNameError, "unknown primary site 'pancreas'"),
    ],
)
def test_bad_initial_distributions_raise(tiny_body, initial, error, match):
    model = circnet.TransportModel(tiny_body)
    with pytest.raises(error, match=match):
        model.fates(initial=initial)
    with pytest.raises(error, match=match):
        model.fate_result(initial=initial)
    with pytest.raises(error, match=match):
        model.propagate(initial=initial, times=[1.0])


def test_bad_arguments_raise(tiny_body):
    with pytest.raises(circnet.ParameterError, match="`cells` must be a CellProfile"):
        circnet.TransportModel(tiny_body, {"diameter_um": 10.0})
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = -1.0
    with pytest.raises(circnet.BodyError, match="must not be negative"):
        circnet.TransportModel(tiny_body)
    with pytest.raises(circnet.ParameterError, match="`method`"):
        circnet.TransportModel(ring_body(), method="magic").chain  # noqa: B018
    model = circnet.TransportModel(ring_body())
    with pytest.raises(circnet.UnknownNameError, match="unknown fate 'colony:liver'"):
        model.sensitivity("colony:liver", "organ")
    with pytest.raises(circnet.ParameterError, match="`dt`"):
        model.transition_matrix(0.0)


def test_a_state_no_rate_leaves_is_named():
    cells = circnet.CellProfile(immune_kill_rate=0.0, nodal_growth_rate=0.0, node_release_rate=0.0)
    with pytest.raises(circnet.ParameterError, match=r"can never leave.*trapped:node"):
        circnet.TransportModel(ring_lymph_body(), cells)


def test_cells_that_never_reach_a_fate_raise_a_circnet_error():
    # no death and (numerically) no lodging: cells circulate for ever; M is singular
    cells = circnet.CellProfile(death_rate_blood=0.0, diameter_um=1.0, lodging_width_um=0.01)
    model = circnet.TransportModel(ring_body(), cells)
    with pytest.raises(circnet.CircnetError, match="singular|never"):
        model.fates("organ")


STIFF_CELLS = dict(
    diameter_um=5.0,
    deformability=0.0,
    lodging_width_um=0.5,
    death_rate_lymph=0.0,
    lymph_fraction=0.0,
    extravasation_probability=0.0,
    lodged_time_min=1.0,
    colonisation_probability=0.0,
    tissue_time_min=1.0,
    trapping_probability=0.0,
    immune_kill_rate=0.0078125,
    nodal_growth_rate=0.0,
    node_release_rate=0.0,
)


@pytest.mark.parametrize("death", [0.00390625, 1e-4])
def test_stiff_chain_fates_sum_to_one_and_solve_without_error(death):
    # random_body(0) has residence times of ~0.1 s; these small cells barely lodge, so a
    # cell circulates for days: rates 900/min next to 1e-4/min. Regression: the fates summed
    # to 1 + 1.2e-12 (round-off, now rescaled away) and the residual check, relative to
    # |b| alone, raised SolverError at 1.7e-10 (now the normwise backward error)
    model = circnet.TransportModel(
        random_body(0), circnet.CellProfile(**STIFF_CELLS, death_rate_blood=death)
    )
    sources = _all_sources(model)
    table = model.fate_table(sources)
    assert np.abs(table.sum(axis=1) - 1).max() <= 1e-12
    p0 = np.random.default_rng(0).dirichlet(np.full(len(model.transient_states), 0.3))
    for v in [model.initial(s) for s in sources] + [p0]:
        res = model.fate_result(initial=v)
        assert abs(res.probabilities.sum() - 1) <= 1e-12
        fd, xd = dense_solution(model, v)
        np.testing.assert_allclose(res.probabilities, fd, rtol=0, atol=1e-10)
        np.testing.assert_allclose(res.occupation, xd, rtol=1e-9)


def test_with_cells_and_with_body_match_a_fresh_model(male_body):
    model = circnet.TransportModel(male_body)
    model.fate_table("all")  # fill the caches of the old model first
    cells = model.cells.replace(diameter_um=18.0, death_rate_blood=0.02)
    changed = model.with_cells(diameter_um=18.0, death_rate_blood=0.02)
    fresh = circnet.TransportModel(male_body, cells)
    pd.testing.assert_frame_equal(
        changed.fate_table("all"), fresh.fate_table("all"), atol=1e-15, rtol=0
    )
    assert changed.cells == cells
    by_profile = model.with_cells(cells)
    pd.testing.assert_frame_equal(
        by_profile.fate_table("all"), fresh.fate_table("all"), atol=1e-15, rtol=0
    )
    # the old model is unchanged
    pd.testing.assert_frame_equal(
        model.fate_table("all"),
        circnet.TransportModel(male_body).fate_table("all"),
        atol=1e-15,
        rtol=0,
    )
    body = circnet.scale_organ_flow(male_body, "liver", 1.3)
    other = model.with_body(body)
    pd.testing.assert_frame_equal(
        other.fate_table("all"), circnet.TransportModel(body).fate_table("all"), atol=1e-15, rtol=0
    )
    assert (other.generator != model.generator).nnz > 0


def test_with_body_validates():
    model = circnet.TransportModel(ring_body())
    bad = ring_body()
    bad.edges["left_heart", "organ_bed"]["flow"] = 10.0
    with pytest.raises(circnet.BodyError, match="do not balance"):
        model.with_body(bad)


def test_receptivity_raises_colonisation_of_that_organ_only(male_body):
    model = circnet.TransportModel(male_body)
    base = model.fates("colon_rectum")
    more = model.with_cells(model.cells.with_site("liver", receptivity=2.0)).fates("colon_rectum")
    assert more["colony:liver"] > base["colony:liver"]
    others = [f for f in model.fate_labels if f not in ("colony:liver", "dead")]
    np.testing.assert_allclose(more[others], base[others], rtol=1e-12, atol=1e-15)
    assert more["dead"] < base["dead"]


def test_sensitivity_signs_and_closed_form_elasticities(male_body):
    model = circnet.TransportModel(male_body)
    e = model.sensitivity(
        "colony:liver",
        "colon_rectum",
        parameters=[
            "death_rate_blood",
            "receptivity",
            "extravasation_probability",
            "colonisation_probability",
        ],
        flows=[],
    )
    assert e["death_rate_blood"] < 0
    # P(colony:liver) = P(reach liver tissue) * rc / (rc + 1 - c): d ln P / d ln r = 1 - c at r=1
    c = model.cells.colonisation_probability
    assert e["receptivity"] == pytest.approx(1 - c, rel=1e-6)
    assert e["extravasation_probability"] == pytest.approx(1.0, rel=1e-6)
    assert e["colonisation_probability"] == pytest.approx(1.0, rel=1e-6)
    flows = model.sensitivity("colony:brain", "lung", parameters=[], flows=["brain"])
    assert flows["flow:brain"] > 0
    # since issue 12 blood reaches every node of the default body (node blood beds):
    # a fate of probability 0 is a node of the tiny body, whose tissues keep their cells
    from bodies import tiny_body

    tiny = circnet.TransportModel(tiny_body(), circnet.CellProfile(lymph_fraction=0.0))
    with pytest.raises(circnet.ParameterError, match="probability 0"):
        tiny.sensitivity("node:node", "muscle", flows=[])


@pytest.mark.slow
def test_sensitivity_needs_no_default_node_names(male_body):
    # every node renamed (organ attributes kept): beds and the arterial pool are found by
    # node kinds, so the elasticities are those of the default names
    names = {n: f"N{i}" for i, n in enumerate(male_body)}
    renamed = nx.relabel_nodes(male_body, names)
    for _, d in renamed.nodes(data=True):  # a node blood bed names its lymph node
        if "node_group" in d:
            d["node_group"] = names[d["node_group"]]
    assert "left_heart" not in renamed and "liver_bed" not in renamed
    kw = dict(parameters=["death_rate_blood"], flows=None)
    a = circnet.TransportModel(male_body).sensitivity("colony:liver", "colon_rectum", **kw)
    b = circnet.TransportModel(renamed).sensitivity("colony:liver", "colon_rectum", **kw)
    # by default: every organ whose bed the left heart feeds
    fed = [o for o in circnet.organs(male_body) if male_body.has_edge("left_heart", f"{o}_bed")]
    assert list(a.index) == ["death_rate_blood"] + [f"flow:{o}" for o in fed]
    pd.testing.assert_series_equal(a, b, rtol=1e-9)


def test_sensitivity_rejects_bad_arguments(male_body):
    model = circnet.TransportModel(male_body)
    with pytest.raises(circnet.UnknownNameError, match="unknown cell parameter 'size'"):
        model.sensitivity("colony:liver", "colon_rectum", parameters=["size"], flows=[])
    for bad in (0.0, 0.7, math.nan):
        with pytest.raises(circnet.ParameterError, match="`rel_step`"):
            model.sensitivity("colony:liver", "colon_rectum", rel_step=bad)
    with pytest.raises(circnet.ParameterError, match="`primary`"):
        model.sensitivity("colony:liver", ["colon_rectum"])


# ============================================================================ AbsorbingChain
def _random_chain(n_transient, n_absorbing, seed):
    rng = np.random.default_rng(seed)
    k = 4
    rows = np.repeat(np.arange(n_transient), k)
    cols = rng.integers(0, n_transient, size=rows.size)
    vals = rng.lognormal(0.0, 1.0, size=rows.size)
    # every state leaks to a random fate at a smaller rate
    rows = np.concatenate([rows, np.arange(n_transient)])
    cols = np.concatenate([cols, n_transient + rng.integers(0, n_absorbing, size=n_transient)])
    vals = np.concatenate([vals, rng.uniform(0.01, 0.3, size=n_transient)])
    n = n_transient + n_absorbing
    off = sp.coo_array((vals, (rows, cols)), shape=(n, n)).tocsr()
    off.setdiag(0.0)
    off.eliminate_zeros()
    q = off - sp.diags_array(np.asarray(off.sum(axis=1)).ravel())
    labels = [f"t{i}" for i in range(n_transient)] + [f"a{j}" for j in range(n_absorbing)]
    return q.tocsr(), labels


@pytest.mark.slow
def test_iterative_solver_matches_direct_on_a_few_thousand_states():
    q, labels = _random_chain(3000, 6, seed=3)
    direct = AbsorbingChain(q, labels, 3000, method="direct")
    iterative = AbsorbingChain(q, labels, 3000, method="iterative")
    rng = np.random.default_rng(0)
    p0 = np.column_stack([np.eye(3000)[0], np.eye(3000)[1234], rng.dirichlet(np.ones(3000))])
    a, b = direct.absorption(p0), iterative.absorption(p0)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose(a.sum(axis=0), 1.0, rtol=0, atol=1e-12)
    x_direct, x_iterative = direct.occupation(p0), iterative.occupation(p0)
    # times to 1e-10 of the largest (normwise, as the solvers' residual checks are)
    np.testing.assert_allclose(x_direct, x_iterative, rtol=0, atol=1e-10 * x_direct.max())
    np.testing.assert_allclose(direct.fate_matrix, iterative.fate_matrix, rtol=0, atol=1e-10)
    t1, c1 = direct.expected_times(p0[:, 2])
    t2, c2 = iterative.expected_times(p0[:, 2])
    assert t1 == pytest.approx(t2, rel=1e-10)
    np.testing.assert_allclose(c1, c2, rtol=1e-10)


def test_absorbing_chain_small_closed_form():
    q = sp.csr_array(
        [[-3.0, 1.0, 2.0, 0.0], [0.5, -1.0, 0.0, 0.5], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=float
    )
    chain = AbsorbingChain(q, ["x", "y", "a", "b"], 2)
    # from x: a with 2/3 directly, or y (1/3) which returns to x (1/2) or goes to b (1/2)
    # h_x(a) = 2/3 + 1/3 * 1/2 * h_x(a)  =>  h_x(a) = (2/3) / (5/6) = 4/5
    np.testing.assert_allclose(chain.absorption([1.0, 0.0]), [0.8, 0.2], rtol=1e-14)
    np.testing.assert_allclose(chain.fate_matrix, [[0.8, 0.2], [0.4, 0.6]], rtol=1e-14)
    # time from x: T_x = 1/3 + 1/3 T_y, T_y = 1 + 1/2 T_x  =>  T_x = (1/3 + 1/3) / (5/6) = 0.8
    total, _ = chain.expected_times([1.0, 0.0])
    assert total == pytest.approx(0.8, rel=1e-14)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((sp.csr_array(np.zeros((2, 3))), ["a", "b"], 1), "square"),
        ((sp.csr_array(np.zeros((2, 2))), ["a"], 1), "one label per state"),
        ((sp.csr_array(np.zeros((2, 2))), ["a", "b"], 0), "`n_transient`"),
        ((sp.csr_array(np.zeros((2, 2))), ["a", "b"], 3), "`n_transient`"),
        ((sp.csr_array([[-np.inf, np.inf], [0, 0]]), ["a", "b"], 1), "non-finite"),
    ],
)
def test_absorbing_chain_rejects_bad_input(args, match):
    with pytest.raises(circnet.ParameterError, match=match):
        AbsorbingChain(*args)


def test_solver_error_is_a_circnet_error():
    assert issubclass(SolverError, circnet.CircnetError)


# ============================================================================ issue 12 routes
def _serosal():
    from bodies12 import tiny_serosal_body

    return tiny_serosal_body()


def _rate(model, src, dst):
    return float(model.generator[model.index(src), model.index(dst)])


def test_a_cell_lodged_in_a_node_blood_bed_enters_the_node():
    cells = circnet.CellProfile(extravasation_probability=0.4, lodged_time_min=200.0)
    m = circnet.TransportModel(_serosal(), cells)
    assert "lodged:node_hev" in m.states and "tissue:node_hev" not in m.states
    assert _rate(m, "lodged:node_hev", "trapped:node") == pytest.approx(0.4 / 200.0, rel=1e-15)
    assert _rate(m, "lodged:node_hev", "dead") == pytest.approx(0.6 / 200.0, rel=1e-15)
    q = 3.0 / 0.5
    p = cells.lodging(8.0)
    assert _rate(m, "transit:node_hev", "lodged:node_hev") == pytest.approx(q * p, rel=1e-15)
    # blood-borne cells now reach the node: nodal tumours from a primary with no lymph
    f = m.fates(initial={"transit:left_heart": 1.0})
    assert f["node:node"] > 0


def test_shunt_and_adhesion_set_the_arrest_of_one_passage():
    cells = circnet.CellProfile(
        sites={"lung": {"shunt_fraction": 0.1}, "kidney": {"adhesion_probability": 0.5}}
    )
    m = circnet.TransportModel(_serosal(), cells)
    p_lung, p_kid = cells.lodging(6.0), cells.lodging(8.0)
    q_lung, q_kid = 108.0 / 5.0, 59.0 / 5.0
    got = _rate(m, "transit:lung_bed", "lodged:lung_bed")
    assert got == pytest.approx(q_lung * 0.9 * p_lung, rel=1e-14)
    passing = _rate(m, "transit:lung_bed", "transit:left_heart")
    assert passing == pytest.approx(q_lung * (1 - 0.9 * p_lung), rel=1e-14)
    got = _rate(m, "transit:kidney_bed", "lodged:kidney_bed")
    assert got == pytest.approx(q_kid * (1 - (1 - p_kid) * 0.5), rel=1e-14)
    table = m.lodging_table()
    assert table["lung"] == pytest.approx(0.9 * p_lung) and table["muscle"] == cells.lodging(7.0)


def test_tissue_lymph_exit_leaves_with_the_organs_lymph():
    cells = circnet.CellProfile(tissue_lymph_exit_probability=0.25)
    m = circnet.TransportModel(_serosal(), cells)
    t = cells.tissue_time_min
    assert _rate(m, "tissue:kidney", "transit:node") == pytest.approx(0.25 / t, rel=1e-15)
    p_c = cells.colonisation("kidney")
    assert _rate(m, "tissue:kidney", "colony:kidney") == pytest.approx(0.75 * p_c / t, rel=1e-15)
    off = circnet.TransportModel(_serosal())
    assert _rate(off, "tissue:kidney", "transit:node") == 0.0


def test_transcoelomic_release_enters_the_cavity():
    cells = circnet.CellProfile(sites={"lung": {"transcoelomic_fraction": 0.2}}, lymph_fraction=0.1)
    m = circnet.TransportModel(_serosal(), cells)
    p0 = m.release("lung")
    assert p0["tissue:pleura"] == pytest.approx(0.2, rel=1e-15)
    assert p0["transit:node"] == pytest.approx(0.8 * 0.1, rel=1e-15)
    assert p0["transit:left_heart"] == pytest.approx(0.8 * 0.9, rel=1e-15)
    assert p0.sum() == pytest.approx(1.0, abs=1e-15)
    assert (
        m.fates("lung")["colony:pleura"]
        > circnet.TransportModel(_serosal()).fates("lung")["colony:pleura"]
    )
    # an organ outside any cavity ignores the parameter
    kid = circnet.TransportModel(
        _serosal(), circnet.CellProfile(sites={"kidney": {"transcoelomic_fraction": 0.5}})
    )
    assert kid.release("kidney")["tissue:pleura"] == 0.0


def test_new_parameters_at_zero_leave_the_model_unchanged():
    g = _serosal()
    a = circnet.TransportModel(g)
    b = circnet.TransportModel(
        g,
        circnet.CellProfile(
            shunt_fraction=0.0,
            adhesion_probability=0.0,
            tissue_lymph_exit_probability=0.0,
            transcoelomic_fraction=0.0,
        ),
    )
    assert (a.generator != b.generator).nnz == 0
