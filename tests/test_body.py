"""Tests of circnet.body: the default body, validation rules, summary and flow editing."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from bodies import TINY_ORGANS, tiny_body, tiny_serosal_body

import circnet
from circnet import BodyError, ParameterError, UnknownNameError
from circnet.body import FLOW_RTOL, NODE_KINDS, bed_of, data_tables, tissue_of

COMMON_ORGANS = {
    "lung", "liver", "brain", "red_marrow", "bone", "adrenals", "kidneys", "spleen", "pancreas",
    "stomach", "small_intestine", "colon_rectum", "skin", "skeletal_muscle", "heart", "thyroid",
    "adipose",
}  # fmt: skip
PORTAL_ORGANS = {"spleen", "pancreas", "stomach", "small_intestine", "colon_rectum", "gallbladder"}
SEROSAL = ["pleura", "peritoneum", "pericardium", "meninges"]


def inflow(g, n, channel=None):
    return sum(d["flow"] for _, _, d in g.in_edges(n, data=True) if channel in (None, d["channel"]))


def outflow(g, n, channel=None):
    return sum(
        d["flow"] for _, _, d in g.out_edges(n, data=True) if channel in (None, d["channel"])
    )


def problem_with(g, *words):
    """Assert that ``validate`` raises and one listed problem contains every word."""
    with pytest.raises(BodyError) as info:
        circnet.validate(g)
    hits = [p for p in info.value.problems if all(w in p for w in words)]
    assert hits, f"no problem mentions {words}: {info.value.problems}"
    return info.value


# --------------------------------------------------------------------------- default body
@pytest.fixture(params=["male", "female"])
def body(request, male_body, female_body):
    return male_body if request.param == "male" else female_body


def test_default_body_is_valid_digraph(body):
    assert type(body) is nx.DiGraph
    assert circnet.problems(body) == []
    assert circnet.validate(body) is body


def test_node_kinds_and_edge_channels(body):
    kinds = {d["kind"] for _, d in body.nodes(data=True)}
    assert kinds == set(NODE_KINDS)
    for _, d in body.nodes(data=True):
        if d["kind"] == "tissue":
            assert isinstance(d["organ"], str)
        if d["kind"] == "capillary_bed":
            assert d["diameter"] > 0
            # an organ's bed or a lymph node's blood bed, never both
            assert ("organ" in d) != ("node_group" in d)
    for _, _, d in body.edges(data=True):
        assert d["channel"] in ("blood", "lymph")
        assert math.isfinite(d["flow"]) and d["flow"] >= 0


def test_pools(body):
    for pool in ("venous_return", "right_heart", "left_heart", "portal_vein"):
        assert body.nodes[pool]["kind"] == "pool"
        assert body.nodes[pool]["volume"] > 0


def test_organs_each_with_bed_and_tissue(body):
    organs = circnet.organs(body)
    assert len(organs) >= 18
    assert len(set(organs)) == len(organs)
    assert COMMON_ORGANS <= set(organs)
    for organ in organs:
        bed, tissue = bed_of(body, organ), tissue_of(body, organ)
        assert body.nodes[bed]["kind"] == "capillary_bed"
        assert body.nodes[tissue]["kind"] == "tissue"
        assert body.has_edge(bed, tissue)
        assert body.edges[bed, tissue]["channel"] == "lymph"


def test_sex_specific_organs(male_body, female_body):
    male, female = set(circnet.organs(male_body)), set(circnet.organs(female_body))
    assert {"prostate", "testes"} <= male
    assert not {"breast", "ovaries"} & male
    assert {"breast", "ovaries"} <= female
    assert not {"prostate", "testes"} & female
    assert male - {"prostate", "testes"} == female - {"breast", "ovaries", "uterus"}
    assert "uterus" in female
    assert male_body.graph["sex"] == "male" and female_body.graph["sex"] == "female"


def test_unknown_sex():
    with pytest.raises(UnknownNameError, match="`sex` must be 'male' or 'female'.*'other'"):
        circnet.default_body("other")


def test_lymph_node_groups_and_drainage(body):
    groups = circnet.lymph_nodes(body)
    assert len(groups) >= 10
    expected = {
        "lung": "hilar_nodes",
        "liver": "hepatic_nodes",
        "small_intestine": "mesenteric_nodes",
        "colon_rectum": "mesenteric_nodes",
        "stomach": "celiac_nodes",
        "kidneys": "para_aortic_nodes",
        "skin": "inguinal_nodes",
        "thyroid": "cervical_nodes",
    }
    for organ, node in expected.items():
        assert body.has_edge(organ, node), (organ, node)
    if body.graph["sex"] == "female":
        assert body.has_edge("breast", "axillary_nodes")
        assert body.has_edge("breast", "parasternal_nodes")
    else:
        assert body.has_edge("prostate", "iliac_nodes")
    # pleural and peritoneal lymph reach the parasternal nodes in both sexes
    assert body.has_edge("pleura", "parasternal_nodes")
    assert body.has_edge("peritoneum", "parasternal_nodes")
    assert body.has_edge("meninges", "cervical_nodes")


def test_lymph_chains(body):
    for chain in (
        ["hilar_nodes", "mediastinal_nodes"],
        ["inguinal_nodes", "iliac_nodes", "para_aortic_nodes", "cisterna_chyli", "thoracic_duct"],
        ["mesenteric_nodes", "para_aortic_nodes"],
        ["hepatic_nodes", "celiac_nodes", "cisterna_chyli"],
    ):
        for u, v in zip(chain[:-1], chain[1:], strict=True):
            assert body.has_edge(u, v) and body.edges[u, v]["channel"] == "lymph", (u, v)


def test_ducts_return_to_venous_side(body):
    for duct in ("thoracic_duct", "right_lymphatic_duct"):
        assert body.nodes[duct]["kind"] == "lymph_duct"
        assert list(body.successors(duct)) == ["venous_return"]
    # every lymph-carrying node reaches the venous return through lymph edges only
    lymph = nx.DiGraph(
        (u, v) for u, v, d in body.edges(data=True) if d["channel"] == "lymph" and d["flow"] > 0
    )
    for n in lymph:
        if n != "venous_return" and body.nodes[n]["kind"] != "capillary_bed":
            assert nx.has_path(lymph, n, "venous_return"), n
    # all lymph returns: the ducts carry the total lymph flow (physiology.yaml: 2.0 mL/min)
    assert inflow(body, "venous_return", "lymph") == pytest.approx(2.0, rel=1e-12)


def test_whole_cardiac_output_through_lungs(body):
    co = body.graph["cardiac_output"]
    assert list(body.successors("right_heart")) == ["lung_bed"]
    assert list(body.predecessors("left_heart")) == ["lung_bed"]
    assert outflow(body, "left_heart") == pytest.approx(co, rel=1e-12)
    # all that the left heart pumps has come through the lung capillaries
    assert body.edges["lung_bed", "left_heart"]["flow"] == pytest.approx(co, rel=1e-12)


def test_portal_system(body):
    portal = {f"{o}_bed" for o in PORTAL_ORGANS | {"peritoneum"}}  # omentum and mesentery
    assert set(body.predecessors("portal_vein")) == portal
    assert list(body.successors("portal_vein")) == ["liver_bed"]
    assert set(body.predecessors("liver_bed")) == {"left_heart", "portal_vein"}
    assert body.edges["portal_vein", "liver_bed"]["flow"] == pytest.approx(
        inflow(body, "portal_vein"), rel=1e-12
    )
    table = circnet.summary(body)
    for organ in PORTAL_ORGANS:
        assert table.loc[organ, "first_bed_downstream"] == "liver"
    for organ in set(circnet.organs(body)) - PORTAL_ORGANS - {"lung", "peritoneum"}:
        assert table.loc[organ, "first_bed_downstream"] == "lung", organ


def test_balance_at_every_node(body):
    for n in body:
        fin, fout = inflow(body, n), outflow(body, n)
        assert abs(fin - fout) <= FLOW_RTOL * max(fin, fout), n


def test_flow_shares_follow_the_table(male_body, female_body):
    shares = data_tables()["blood_flow"].set_index("organ")
    for body, col in ((male_body, "male_pct_co"), (female_body, "female_pct_co")):
        co = body.graph["cardiac_output"]
        for organ in ("brain", "kidneys", "skeletal_muscle", "liver", "heart"):
            pct = 100 * body.edges["left_heart", f"{organ}_bed"]["flow"] / co
            assert pct == pytest.approx(float(shares.loc[organ, col]), rel=1e-12), organ
    assert male_body.graph["cardiac_output"] == 6500.0
    assert female_body.graph["cardiac_output"] == 5900.0


def test_graph_attributes(body):
    assert body.graph["units"]["flow"] == "mL/min"
    sources = body.graph["sources"]
    assert isinstance(sources, list) and len(sources) >= 3
    assert all(isinstance(s, str) and s.strip() for s in sources)
    assert any("ICRP" in s for s in sources)


@pytest.mark.parametrize("co", [3000.0, 5000, 9876.5])
def test_cardiac_output_scales_all_blood_flows(male_body, co):
    scaled = circnet.default_body("male", cardiac_output=co)
    assert circnet.problems(scaled) == []
    assert scaled.graph["cardiac_output"] == co
    assert outflow(scaled, "left_heart") == pytest.approx(co, rel=1e-12)
    ratio = co / 6500.0
    for u, v in (
        ("left_heart", "brain_bed"),
        ("left_heart", "kidneys_bed"),
        ("right_heart", "lung_bed"),
    ):
        assert scaled.edges[u, v]["flow"] == pytest.approx(
            male_body.edges[u, v]["flow"] * ratio, rel=1e-3
        )
    # shares of cardiac output are kept exactly on the arterial side
    for v in scaled.successors("left_heart"):
        assert scaled.edges["left_heart", v]["flow"] / co == pytest.approx(
            male_body.edges["left_heart", v]["flow"] / 6500.0, rel=1e-12
        )


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "6500", True])
def test_cardiac_output_must_be_positive_number(bad):
    with pytest.raises(ParameterError, match="`cardiac_output` must be (a number|finite|> 0)"):
        circnet.default_body(cardiac_output=bad)


# --------------------------------------------------------------------------- validation rules
def test_tiny_body_is_valid():
    g = tiny_body()
    assert circnet.problems(g) == []
    assert set(circnet.organs(g)) == set(TINY_ORGANS)
    assert circnet.lymph_nodes(g) == ["node"]


def test_tiny_portal_body_is_valid(tiny_portal_body):
    assert circnet.problems(tiny_portal_body) == []
    table = circnet.summary(tiny_portal_body)
    assert table.loc["gut", "first_bed_downstream"] == "liver"
    assert table.loc["liver", "first_bed_downstream"] == "lung"


def test_not_a_digraph():
    for g in (nx.Graph(), nx.MultiDiGraph(), {"a": 1}):
        with pytest.raises(BodyError, match="must be a networkx.DiGraph"):
            circnet.validate(g)


def test_empty_graph():
    with pytest.raises(BodyError, match="no nodes"):
        circnet.validate(nx.DiGraph())


def test_unknown_kind(tiny_body):
    tiny_body.nodes["node"]["kind"] = "gland"
    with pytest.raises(BodyError, match=r"node 'node': unknown kind 'gland' \(expected one of"):
        circnet.validate(tiny_body)


def test_missing_kind(tiny_body):
    del tiny_body.nodes["duct"]["kind"]
    with pytest.raises(BodyError, match="node 'duct': missing `kind`"):
        circnet.validate(tiny_body)


def test_unknown_channel(tiny_body):
    tiny_body.edges["kidney_bed", "venous_return"]["channel"] = "bile"
    with pytest.raises(
        BodyError, match="edge 'kidney_bed' -> 'venous_return': unknown channel 'bile'"
    ):
        circnet.validate(tiny_body)


def test_missing_channel(tiny_body):
    del tiny_body.edges["node", "duct"]["channel"]
    with pytest.raises(BodyError, match="edge 'node' -> 'duct': unknown channel None"):
        circnet.validate(tiny_body)


def test_missing_flow(tiny_body):
    del tiny_body.edges["left_heart", "muscle_bed"]["flow"]
    with pytest.raises(BodyError, match="edge 'left_heart' -> 'muscle_bed': missing `flow`"):
        circnet.validate(tiny_body)


@pytest.mark.parametrize(
    "value, message",
    [
        (-1.0, r"`flow` must not be negative \(got -1.0\)"),
        (float("nan"), "`flow` is NaN"),
        (float("inf"), "`flow` is infinite"),
        (float("-inf"), "`flow` is infinite"),
        ("60", r"`flow` must be a number in mL/min \(got '60'\)"),
        (None, "`flow` must be a number"),
        (True, "`flow` must be a number"),
        ([60.0], "`flow` must be a number"),
    ],
)
def test_bad_flow_values(tiny_body, value, message):
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = value
    with pytest.raises(BodyError, match="edge 'left_heart' -> 'kidney_bed': " + message):
        circnet.validate(tiny_body)


def test_numpy_and_int_flows_are_numbers(tiny_body):
    import numpy as np

    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = np.float64(60.0)
    tiny_body.edges["kidney_bed", "venous_return"]["flow"] = 59
    assert circnet.problems(tiny_body) == []


def test_zero_flow_only_into_tissue(tiny_body):
    # a zero bed -> tissue edge is allowed (organs without lymphatics)
    tiny_body.edges["kidney_bed", "kidney"]["flow"] = 0.0
    tiny_body.edges["kidney_bed", "venous_return"]["flow"] = 60.0
    tiny_body.remove_edge("kidney", "node")
    tiny_body.edges["node", "duct"]["flow"] = 3.0
    tiny_body.edges["duct", "venous_return"]["flow"] = 3.0
    tiny_body.edges["venous_return", "right_heart"]["flow"] = 101.0
    assert circnet.problems(tiny_body) == []
    tiny_body.edges["node", "duct"]["flow"] = 0.0
    with pytest.raises(BodyError, match=r"edge 'node' -> 'duct': `flow` must be positive"):
        circnet.validate(tiny_body)


def test_unbalanced_node(tiny_body):
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = 61.0
    err = problem_with(
        tiny_body, "node 'left_heart'", "flows do not balance", "in 100 mL/min", "out 101 mL/min"
    )
    problem_with(tiny_body, "node 'kidney_bed'", "flows do not balance")
    assert "relative tolerance 1e-09" in str(err)


def test_balance_tolerance(tiny_body):
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = 60.0 * (1 + 1e-12)
    assert not any("balance" in p for p in circnet.problems(tiny_body))
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = 60.0 * (1 + 1e-6)
    assert any("balance" in p for p in circnet.problems(tiny_body))


def test_node_that_blood_cannot_leave_or_reach(tiny_body):
    # a closed loop of two pools, balanced, but cut off from the heart
    tiny_body.add_node("a", kind="pool", volume=1.0)
    tiny_body.add_node("b", kind="pool", volume=1.0)
    tiny_body.add_edge("a", "b", channel="blood", flow=5.0)
    tiny_body.add_edge("b", "a", channel="blood", flow=5.0)
    problem_with(tiny_body, "node 'a'", "blood cannot leave it back to 'left_heart'")
    problem_with(tiny_body, "node 'b'", "cannot be reached from 'left_heart'")
    assert not any("balance" in p for p in circnet.problems(tiny_body))


def test_dead_end_node(tiny_body):
    tiny_body.add_node("sink", kind="pool", volume=1.0)
    tiny_body.add_edge("kidney_bed", "sink", channel="blood", flow=59.0)
    tiny_body.remove_edge("kidney_bed", "venous_return")
    problem_with(tiny_body, "node 'sink'", "blood cannot leave it")
    problem_with(tiny_body, "node 'sink'", "flows do not balance")


def test_isolated_node(tiny_body):
    tiny_body.add_node("alone", kind="lymph_node", volume=1.0)
    problem_with(tiny_body, "node 'alone'", "isolated")


def test_bed_without_tissue(tiny_body):
    tiny_body.remove_node("kidney")
    tiny_body.edges["kidney_bed", "venous_return"]["flow"] = 60.0
    tiny_body.edges["node", "duct"]["flow"] = 3.0
    tiny_body.edges["duct", "venous_return"]["flow"] = 3.0
    tiny_body.edges["venous_return", "right_heart"]["flow"] = 101.0
    assert circnet.problems(tiny_body) == [
        "node 'kidney_bed': capillary bed without its tissue "
        "(no edge to a tissue of organ 'kidney')"
    ]


def test_tissue_without_bed(tiny_body):
    tiny_body.add_node("spleen", kind="tissue", organ="spleen")
    problem_with(tiny_body, "node 'spleen'", "tissue of organ 'spleen' has no capillary bed")


def test_bed_feeds_tissue_of_other_organ(tiny_body):
    tiny_body.nodes["kidney"]["organ"] = "muscle"
    problem_with(tiny_body, "edge 'kidney_bed' -> 'kidney'", "feeds the tissue of organ 'muscle'")
    problem_with(tiny_body, "organ 'muscle' has more than one tissue")


def test_bed_and_tissue_need_organ(tiny_body):
    del tiny_body.nodes["kidney_bed"]["organ"]
    tiny_body.nodes["muscle"]["organ"] = 3
    problem_with(tiny_body, "node 'kidney_bed'", "must carry its `organ`")
    problem_with(tiny_body, "node 'muscle'", "must carry its `organ`")


def test_volume_and_diameter(tiny_body):
    del tiny_body.nodes["right_heart"]["volume"]
    del tiny_body.nodes["lung_bed"]["diameter"]
    tiny_body.nodes["node"]["volume"] = -1.0
    tiny_body.nodes["kidney_bed"]["diameter"] = float("nan")
    problem_with(tiny_body, "node 'right_heart'", "needs a `volume`")
    problem_with(tiny_body, "node 'lung_bed'", "needs a `diameter`")
    problem_with(tiny_body, "node 'node'", "`volume` must be a positive finite number (got -1.0)")
    problem_with(tiny_body, "node 'kidney_bed'", "`diameter` must be a positive finite number")


def test_edge_between_wrong_kinds(tiny_body):
    tiny_body.edges["duct", "venous_return"]["channel"] = "blood"
    problem_with(
        tiny_body, "edge 'duct' -> 'venous_return'", "a blood edge from a lymph_duct to a pool"
    )


def test_no_pool():
    g = nx.DiGraph()
    g.add_node("n", kind="lymph_node", volume=1.0)
    g.add_node("d", kind="lymph_duct", volume=1.0)
    g.add_edge("n", "d", channel="lymph", flow=1.0)
    g.add_edge("d", "n", channel="lymph", flow=1.0)
    problem_with(g, "no `pool` node")


def test_lymph_path_never_returning_to_blood(tiny_body):
    tiny_body.remove_edge("duct", "venous_return")
    tiny_body.edges["venous_return", "right_heart"]["flow"] = 97.0
    tiny_body.edges["right_heart", "lung_bed"]["flow"] = 97.0
    tiny_body.edges["lung_bed", "left_heart"]["flow"] = 96.0
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = 56.0
    tiny_body.edges["kidney_bed", "venous_return"]["flow"] = 55.0
    for n in ("duct", "node", "kidney", "muscle", "lung"):
        problem_with(tiny_body, f"node {n!r}", "lymph leaving it never returns to the blood")


def test_closed_lymph_loop_never_returns(tiny_body):
    tiny_body.add_node("n1", kind="lymph_node", volume=1.0)
    tiny_body.add_node("n2", kind="lymph_node", volume=1.0)
    tiny_body.add_edge("n1", "n2", channel="lymph", flow=1.0)
    tiny_body.add_edge("n2", "n1", channel="lymph", flow=1.0)
    problem_with(tiny_body, "node 'n1'", "lymph leaving it never returns to the blood")
    problem_with(tiny_body, "node 'n2'", "cannot be reached from 'left_heart'")


def test_reports_all_problems(tiny_body):
    tiny_body.nodes["node"]["kind"] = "gland"
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = -1.0
    tiny_body.edges["kidney_bed", "venous_return"]["channel"] = "bile"
    tiny_body.remove_edge("muscle_bed", "muscle")
    with pytest.raises(BodyError) as info:
        circnet.validate(tiny_body)
    found = info.value.problems
    assert len(found) >= 4
    text = str(info.value)
    assert text.startswith(f"invalid body graph: {len(found)} problems")
    for part in (
        "node 'node': unknown kind",
        "edge 'left_heart' -> 'kidney_bed': `flow` must not be negative",
        "edge 'kidney_bed' -> 'venous_return': unknown channel",
        "node 'muscle_bed': capillary bed without its tissue",
    ):
        assert part in text
    assert circnet.problems(tiny_body) == found


def test_body_error_is_value_error_and_circnet_error(tiny_body):
    tiny_body.nodes["node"]["kind"] = "gland"
    with pytest.raises(ValueError):
        circnet.validate(tiny_body)
    with pytest.raises(circnet.CircnetError):
        circnet.validate(tiny_body)


def test_validate_does_not_modify(male_body):
    before = nx.node_link_data(male_body, edges="edges")
    circnet.validate(male_body)
    assert nx.node_link_data(male_body, edges="edges") == before


# --------------------------------------------------------------------------- summary
def test_summary_table(male_body):
    table = circnet.summary(male_body)
    assert list(table.index) == circnet.organs(male_body) + circnet.lymph_nodes(male_body)
    assert list(table.columns) == [
        "kind",
        "blood_inflow_ml_min",
        "pct_cardiac_output",
        "lymph_outflow_ml_min",
        "lymph_nodes",
        "first_bed_downstream",
        "capillary_diameter_um",
        "cavity",
    ]
    nodes = table[table["kind"] == "lymph_node"]
    table = table[table["kind"] == "organ"]
    # each lymph-node group's blood supply: ICRP 89 'Lymphatic nodes' 1.7 %, shared equally
    assert nodes["pct_cardiac_output"].sum() == pytest.approx(1.7, rel=1e-12)
    assert nodes["pct_cardiac_output"].min() == pytest.approx(1.7 / len(nodes), rel=1e-12)
    assert nodes.loc["mesenteric_nodes", "lymph_nodes"] == "para_aortic_nodes"
    assert (nodes["first_bed_downstream"] == "lung").all()
    assert table.loc["lung", "cavity"] == "pleura" and table.loc["kidneys", "cavity"] == ""
    assert table.loc["brain", "blood_inflow_ml_min"] == pytest.approx(0.12 * 6500)
    assert table.loc["brain", "pct_cardiac_output"] == pytest.approx(12.0)
    assert table.loc["kidneys", "pct_cardiac_output"] == pytest.approx(19.0)
    # liver: hepatic artery 6.5 % + portal inflow (ICRP 89 total liver 25.5 %, less gut lymph)
    # plus the portal share of the carved-out gallbladder (0.0526 %) and peritoneum (0.1 %),
    # less the rectal share of the large intestine sent to the vertebral plexus (4 % x 0.019)
    expected = 25.5 + 0.0526 + 0.1 - 4.0 * 0.019
    assert table.loc["liver", "pct_cardiac_output"] == pytest.approx(expected, abs=0.01)
    # the lung bed takes the whole cardiac output (plus the bronchial circulation, less lymph)
    assert table.loc["lung", "pct_cardiac_output"] == pytest.approx(100.0, abs=0.01)
    assert table.loc["brain", "lymph_outflow_ml_min"] == 0.0
    assert table.loc["red_marrow", "lymph_outflow_ml_min"] == 0.0
    assert table["lymph_outflow_ml_min"].sum() == pytest.approx(2.0)
    assert table.loc["colon_rectum", "lymph_nodes"] == "mesenteric_nodes"
    assert table.loc["lung", "capillary_diameter_um"] == male_body.nodes["lung_bed"]["diameter"]
    assert table.loc["lung", "first_bed_downstream"] in circnet.organs(male_body)


def test_summary_tiny(tiny_body):
    table = circnet.summary(tiny_body)
    assert table.loc["kidney"].to_dict() == {
        "blood_inflow_ml_min": 60.0,
        "pct_cardiac_output": 60.0,
        "lymph_outflow_ml_min": 1.0,
        "lymph_nodes": "node",
        "first_bed_downstream": "lung",
        "capillary_diameter_um": 8.0,
        "cavity": "",
        "kind": "organ",
    }
    assert table.loc["lung", "blood_inflow_ml_min"] == 101.0


def test_summary_female_breast(female_body):
    table = circnet.summary(female_body)
    assert table.loc["breast", "lymph_nodes"] == "axillary_nodes, parasternal_nodes"
    assert table.loc["breast", "first_bed_downstream"] == "lung"


def test_summary_rejects_invalid_body(tiny_body):
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = -1.0
    with pytest.raises(BodyError, match="edge 'left_heart' -> 'kidney_bed'"):
        circnet.summary(tiny_body)


def test_bed_of_unknown_organ(tiny_body):
    with pytest.raises(UnknownNameError, match="unknown organ 'pancreas'; this body has: kidney"):
        bed_of(tiny_body, "pancreas")
    with pytest.raises(KeyError):
        tissue_of(tiny_body, "pancreas")


# --------------------------------------------------------------------------- editing
def splits(g):
    """Each node's outflow proportions."""
    out = {}
    for u in g:
        total = outflow(g, u)
        for _, v, d in g.out_edges(u, data=True):
            out[u, v] = d["flow"] / total if total else 0.0
    return out


def test_balance_flows_after_edit(male_body):
    edited = male_body.copy()
    edited.edges["left_heart", "liver_bed"]["flow"] *= 2
    assert circnet.problems(edited)
    balanced = circnet.balance_flows(edited)
    assert circnet.problems(balanced) == []
    assert (
        edited.edges["left_heart", "liver_bed"]["flow"]
        == 2 * male_body.edges["left_heart", "liver_bed"]["flow"]
    )  # the input is not modified
    assert outflow(balanced, "left_heart") == pytest.approx(6500.0, rel=1e-12)
    s_edit, s_bal = splits(edited), splits(balanced)
    for key, value in s_edit.items():
        assert s_bal[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key


def test_balance_flows_of_balanced_body_is_identity(tiny_body):
    balanced = circnet.balance_flows(tiny_body)
    for u, v, d in tiny_body.edges(data=True):
        assert balanced.edges[u, v]["flow"] == pytest.approx(d["flow"], rel=1e-12)


def test_balance_flows_new_cardiac_output(tiny_body):
    balanced = circnet.balance_flows(tiny_body, cardiac_output=200.0)
    assert balanced.graph["cardiac_output"] == 200.0
    assert balanced.edges["left_heart", "kidney_bed"]["flow"] == pytest.approx(120.0)
    assert balanced.edges["duct", "venous_return"]["flow"] == pytest.approx(8.0)
    assert circnet.problems(balanced) == []


def test_balance_flows_rejects_bad_outflow(tiny_body):
    tiny_body.edges["node", "duct"]["flow"] = float("nan")
    with pytest.raises(BodyError, match="node 'node': cannot rebalance"):
        circnet.balance_flows(tiny_body)


def test_scale_organ_flow(male_body):
    more = circnet.scale_organ_flow(male_body, "brain", 1.5)
    assert circnet.problems(more) == []
    old = male_body.edges["left_heart", "brain_bed"]["flow"]
    assert more.edges["left_heart", "brain_bed"]["flow"] == pytest.approx(1.5 * old, rel=1e-12)
    assert outflow(more, "left_heart") == pytest.approx(6500.0, rel=1e-12)
    # the others give up flow in proportion
    k_old = male_body.edges["left_heart", "kidneys_bed"]["flow"]
    k_new = more.edges["left_heart", "kidneys_bed"]["flow"]
    expected = (6500.0 - 1.5 * old) / (6500.0 - old)
    assert k_new / k_old == pytest.approx(expected, rel=1e-12)
    # the input is untouched
    assert male_body.edges["left_heart", "brain_bed"]["flow"] == old


def test_scale_organ_flow_errors(tiny_body):
    with pytest.raises(UnknownNameError, match="unknown organ 'spleen'"):
        circnet.scale_organ_flow(tiny_body, "spleen", 2.0)
    with pytest.raises(UnknownNameError, match="organ 'lung' has no arterial supply"):
        circnet.scale_organ_flow(tiny_body, "lung", 2.0)
    for bad in (0.0, -1.0, float("nan"), float("inf"), "2"):
        with pytest.raises(ParameterError, match="`factor` must be (a number|finite|> 0)"):
            circnet.scale_organ_flow(tiny_body, "kidney", bad)
    with pytest.raises(BodyError, match="`factor` 2.0 would give organ 'kidney' more than"):
        circnet.scale_organ_flow(tiny_body, "kidney", 2.0)
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = -1.0
    with pytest.raises(BodyError, match="edge 'left_heart' -> 'kidney_bed'"):
        circnet.scale_organ_flow(tiny_body, "kidney", 1.1)


# --------------------------------------------------------------------------- names are free
#: The tiny body's nodes under other names: nothing may rely on the default body's names.
RENAMED = {
    "left_heart": "aorta",
    "right_heart": "pulmonary_trunk",
    "venous_return": "cavae",
    "kidney_bed": "glomeruli",
    "muscle_bed": "muscle_capillaries",
    "lung_bed": "alveoli",
    "kidney": "renal_tissue",
    "node": "hilum",
    "duct": "thoracic",
}


def renamed_body() -> nx.DiGraph:
    g = nx.relabel_nodes(tiny_body(), RENAMED)
    del g.graph["cardiac_output"]
    return g


def test_arterial_pool_is_found_by_kind(male_body, tiny_body):
    assert circnet.body.arterial_pool(male_body) == "left_heart"
    assert circnet.body.arterial_pool(tiny_body) == "left_heart"
    assert circnet.body.arterial_pool(renamed_body()) == "aorta"
    with pytest.raises(BodyError, match="no `pool` node"):
        circnet.body.arterial_pool(nx.DiGraph([("a", "b")]))


def test_queries_and_edits_on_other_node_names():
    g = renamed_body()
    assert circnet.problems(g) == []
    assert bed_of(g, "kidney") == "glomeruli" and tissue_of(g, "kidney") == "renal_tissue"
    table = circnet.summary(g)  # no cardiac_output attribute: the arterial pool's output
    assert table.loc["kidney", "pct_cardiac_output"] == pytest.approx(60.0)
    assert table.loc["kidney", "first_bed_downstream"] == "lung"
    more = circnet.scale_organ_flow(g, "kidney", 1.2)
    assert more.edges["aorta", "glomeruli"]["flow"] == pytest.approx(72.0)
    assert outflow(more, "aorta") == pytest.approx(100.0, rel=1e-12)
    with pytest.raises(UnknownNameError, match="organ 'lung' has no arterial supply from 'aorta'"):
        circnet.scale_organ_flow(g, "lung", 1.2)
    g.edges["aorta", "glomeruli"]["flow"] = 120.0
    balanced = circnet.balance_flows(g, cardiac_output=100.0)
    assert circnet.problems(balanced) == []
    assert outflow(balanced, "aorta") == pytest.approx(100.0, rel=1e-12)
    # problems name the arterial pool, whatever it is called
    g = renamed_body()
    g.add_node("stray", kind="pool", volume=1.0)
    g.add_edge("stray", "cavae", channel="blood", flow=1.0)
    g.edges["cavae", "pulmonary_trunk"]["flow"] += 1.0
    found = " ".join(circnet.problems(g))
    assert "node 'stray': cannot be reached from 'aorta'" in found


# --------------------------------------------------------------------------- issue 12
def test_serosal_organs_and_cavities(body):
    assert circnet.body.serosal_organs(body) == SEROSAL
    for organ in SEROSAL:
        tissue = tissue_of(body, organ)
        assert body.nodes[tissue]["serosal"] is True
        assert body.edges["left_heart", bed_of(body, organ)]["flow"] > 0
        assert any(body.nodes[v]["kind"] == "lymph_node" for v in body.successors(tissue))
    cavities = {o: circnet.body.cavity_of(body, o) for o in circnet.organs(body)}
    assert cavities["lung"] == "pleura" and cavities["heart"] == "pericardium"
    assert cavities["brain"] == "meninges"
    for organ in ("liver", "stomach", "small_intestine", "colon_rectum", "pancreas", "spleen"):
        assert cavities[organ] == "peritoneum", organ
    assert cavities["kidneys"] is None and cavities["pleura"] is None
    if body.graph["sex"] == "female":
        assert cavities["ovaries"] == cavities["uterus"] == "peritoneum"
        assert cavities["breast"] is None  # chest wall, outside the pleura


def test_lymph_node_blood_beds(body):
    beds = circnet.body.node_beds(body)
    assert set(beds) == set(circnet.lymph_nodes(body))
    co = body.graph["cardiac_output"]
    total = sum(body.edges["left_heart", b]["flow"] for b in beds.values())
    assert 100 * total / co == pytest.approx(1.7, rel=1e-12)  # ICRP 89 'Lymphatic nodes'
    for group, bed in beds.items():
        d = body.nodes[bed]
        assert bed == f"{group}_hev" and "organ" not in d and d["node_group"] == group
        assert d["diameter"] == 8.0 and d["volume"] > 0
        assert list(body.successors(bed)) == ["venous_return"]
        assert list(body.predecessors(bed)) == ["left_heart"]
        assert group not in circnet.organs(body)


def test_vertebral_venous_plexus(body):
    plexus = "vertebral_venous_plexus"
    assert body.nodes[plexus]["kind"] == "pool" and body.nodes[plexus]["volume"] == 100.0
    feeders = {"urinary_bladder", "colon_rectum"}
    feeders |= {"breast", "uterus"} if body.graph["sex"] == "female" else {"prostate"}
    assert set(body.predecessors(plexus)) == {f"{o}_bed" for o in feeders}
    assert list(body.successors(plexus)) == ["red_marrow_bed"]
    for organ in feeders - {"colon_rectum"}:
        out = outflow(body, f"{organ}_bed", "blood")
        assert body.edges[f"{organ}_bed", plexus]["flow"] == pytest.approx(0.1 * out, rel=1e-12)
    out = outflow(body, "colon_rectum_bed", "blood")
    assert body.edges["colon_rectum_bed", plexus]["flow"] == pytest.approx(0.019 * out, rel=1e-12)
    # the marrow bed passes the plexus blood on: arterial 3 % plus the plexus
    marrow_in = inflow(body, "red_marrow_bed")
    assert marrow_in == pytest.approx(
        body.edges["left_heart", "red_marrow_bed"]["flow"] + inflow(body, plexus), rel=1e-12
    )
    assert outflow(body, "red_marrow_bed") == pytest.approx(marrow_in, rel=1e-12)


def test_new_organs_flows(male_body, female_body):
    for body, col in ((male_body, "male_pct_co"), (female_body, "female_pct_co")):
        shares = data_tables()["blood_flow"].set_index("organ")[col]
        co = body.graph["cardiac_output"]
        for organ in (*SEROSAL, "gallbladder", "head_neck"):
            pct = 100 * body.edges["left_heart", f"{organ}_bed"]["flow"] / co
            assert pct == pytest.approx(float(shares[organ]), rel=1e-12), organ
    assert "uterus" not in circnet.organs(male_body)
    assert summary_first_bed(female_body, "gallbladder") == "liver"


def summary_first_bed(body, organ):
    return circnet.summary(body).loc[organ, "first_bed_downstream"]


def test_tiny_serosal_body_is_valid():
    g = tiny_serosal_body()
    assert circnet.problems(g) == []
    assert circnet.organs(g) == ["lung", "kidney", "muscle", "pleura"]
    assert circnet.body.node_beds(g) == {"node": "node_hev"}
    table = circnet.summary(g)
    assert table.loc["node", "blood_inflow_ml_min"] == 5.0
    assert table.loc["node", "first_bed_downstream"] == "lung"
    assert table.loc["lung", "cavity"] == "pleura"


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda g: g.nodes["node_hev"].update(organ="kidney"), ("'node_hev'", "not both")),
        (lambda g: g.nodes["node_hev"].update(node_group="duct"), ("'duct'", "not a lymph_node")),
        (lambda g: g.nodes["node_hev"].update(node_group=3), ("3", "not a lymph_node")),
        (lambda g: g.nodes["node_hev"].pop("node_group"), ("'node_hev'", "`organ` as a string")),
        (lambda g: g.nodes["lung"].update(cavity="kidney"), ("'lung'", "serosal=True")),
        (lambda g: g.nodes["lung"].update(cavity="lung"), ("'lung'", "its own cavity")),
        (lambda g: g.nodes["pleura"].update(serosal="yes"), ("'pleura'", "True or False")),
        (lambda g: g.nodes["pleura_bed"].update(cavity="x"), ("'pleura_bed'", "tissue node")),
        (lambda g: g.nodes["node"].update(serosal=True), ("'node'", "tissue node")),
    ],
)
def test_issue12_attribute_rules(edit, words):
    g = tiny_serosal_body()
    edit(g)
    problem_with(g, *words)


def test_a_serosal_flag_must_be_true_to_hold_a_cavity():
    g = tiny_serosal_body()
    g.nodes["pleura"]["serosal"] = False
    problem_with(g, "'lung'", "`cavity` 'pleura'", "serosal=True")


def test_a_node_bed_feeds_no_tissue_and_is_single():
    g = tiny_serosal_body()
    g.add_edge("node_hev", "kidney", channel="lymph", flow=0.0)
    problem_with(g, "'node_hev' -> 'kidney'", "feeds no tissue")
    g = tiny_serosal_body()
    g.add_node("node_hev2", kind="capillary_bed", node_group="node", diameter=8.0, volume=1.0)
    g.edges["left_heart", "node_hev"]["flow"] = 4.0
    g.edges["node_hev", "venous_return"]["flow"] = 4.0
    g.add_edge("left_heart", "node_hev2", channel="blood", flow=1.0)
    g.add_edge("node_hev2", "venous_return", channel="blood", flow=1.0)
    problem_with(g, "lymph node 'node'", "more than one blood bed")


@pytest.mark.parametrize("suffix", [".graphml", ".json", ".yaml"])
def test_issue12_attributes_round_trip(tmp_path, female_body, suffix):
    path = circnet.write_body(female_body, tmp_path / f"body{suffix}")
    back = circnet.read_body(path)
    for n, d in female_body.nodes(data=True):
        for attr in ("node_group", "serosal", "cavity", "organ"):
            assert back.nodes[n].get(attr) == d.get(attr), (n, attr)
            if attr in d:
                assert type(back.nodes[n][attr]) is type(d[attr]), (n, attr)
    assert circnet.body.node_beds(back) == circnet.body.node_beds(female_body)
    assert circnet.body.serosal_organs(back) == SEROSAL
    assert (
        back.edges["vertebral_venous_plexus", "red_marrow_bed"]["flow"]
        == (female_body.edges["vertebral_venous_plexus", "red_marrow_bed"]["flow"])
    )


def test_sex_that_is_not_a_string_is_refused():
    # found by the fuzz (tests/test_fuzz.py): an array compared against the names
    with pytest.raises(circnet.UnknownNameError, match="`sex` must be"):
        circnet.default_body(np.array([0, 1, 2]))
