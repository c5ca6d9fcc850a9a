"""Property tests: valid edits keep a body valid; corruptions are caught and named."""

from __future__ import annotations

import math
import re

import pytest
import strategies as cst
from hypothesis import given
from hypothesis import strategies as st

import circnet
from circnet import BodyError

# Examples per property and deadlines come from the Hypothesis profile loaded in conftest.py
# ("dev": 50 examples, no deadline; "ci": the same, derandomized; "thorough": 2000).


def left_heart_output(g):
    return sum(d["flow"] for _, _, d in g.out_edges("left_heart", data=True))


@given(cst.scaled_edge_bodies())
def test_scaled_edge_then_balance_is_valid(case):
    g, (u, v), factor = case
    balanced = circnet.balance_flows(g)
    assert circnet.problems(balanced) == []
    assert left_heart_output(balanced) == pytest.approx(g.graph["cardiac_output"], rel=1e-9)
    # the edited node keeps the split the edit gave it
    out = sum(d["flow"] for _, _, d in g.out_edges(u, data=True))
    out_b = sum(d["flow"] for _, _, d in balanced.out_edges(u, data=True))
    assert balanced.edges[u, v]["flow"] / out_b == pytest.approx(
        g.edges[u, v]["flow"] / out, rel=1e-9
    )


@given(cst.scaled_organ_bodies())
def test_scale_organ_flow_is_valid(case):
    g, organ, factor = case
    bed = circnet.body.bed_of(g, organ)
    scaled = circnet.scale_organ_flow(g, organ, factor)
    assert circnet.problems(scaled) == []
    assert scaled.edges["left_heart", bed]["flow"] == pytest.approx(
        factor * g.edges["left_heart", bed]["flow"], rel=1e-9
    )
    assert left_heart_output(scaled) == pytest.approx(left_heart_output(g), rel=1e-9)


@given(st.sampled_from(["male", "female"]), cst.cardiac_outputs)
def test_any_cardiac_output_gives_a_valid_body(sex, co):
    g = circnet.default_body(sex, cardiac_output=co)
    assert circnet.problems(g) == []
    assert left_heart_output(g) == pytest.approx(co, rel=1e-12)


@given(cst.bodies(), cst.cardiac_outputs)
def test_balance_to_new_cardiac_output(g, co):
    balanced = circnet.balance_flows(g, cardiac_output=co)
    assert circnet.problems(balanced) == []
    assert balanced.graph["cardiac_output"] == co
    ratio = co / g.graph["cardiac_output"]
    for u, v, d in g.edges(data=True):
        assert math.isclose(
            balanced.edges[u, v]["flow"], d["flow"] * ratio, rel_tol=1e-9, abs_tol=0
        )


def check_caught(g, expected):
    with pytest.raises(BodyError) as info:
        circnet.validate(g)
    found = info.value.problems
    assert found == circnet.problems(g)
    for want in expected:
        options = want if isinstance(want, list) else [want]
        assert any(o in p for p in found for o in options), (options, found)
    first = expected[0]
    if isinstance(first, str):
        assert re.search(re.escape(first), str(info.value))


@given(cst.negative_flow())
def test_negative_flow_is_caught(case):
    check_caught(*case)


@given(cst.nan_flow())
def test_nan_flow_is_caught(case):
    check_caught(*case)


@given(cst.removed_edge())
def test_removed_edge_is_caught(case):
    check_caught(*case)


@given(cst.unknown_kind())
def test_unknown_kind_is_caught(case):
    check_caught(*case)


@given(cst.deleted_tissue())
def test_deleted_tissue_is_caught(case):
    check_caught(*case)


@given(st.lists(cst.corruptions(), min_size=1, max_size=1))
def test_any_corruption_is_caught(cases):
    check_caught(*cases[0])
