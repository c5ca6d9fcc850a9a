"""circnet.states: labels, subpopulation tags, the state space."""

from __future__ import annotations

import pytest

import circnet
from circnet.states import (
    DEAD,
    State,
    StateSpace,
    check_tag,
    is_label,
    parse_label,
    parse_state,
    state_label,
)


def test_labels_round_trip_with_and_without_tags():
    for kind, site, tag in [
        ("transit", "lung_bed", None),
        ("lodged", "liver_bed", "small"),
        ("tissue", "pleura", "cluster"),
        ("trapped", "axillary_nodes", "single_1"),
        ("colony", "liver", None),
        ("dead", None, None),
    ]:
        label = state_label(kind, site, tag)
        assert parse_state(label) == State(kind, site, tag)
        assert parse_label(label) == (kind, site)
        assert is_label(label)


def test_tagged_label_text():
    assert state_label("transit", "lung_bed", "small") == "transit:lung_bed@small"
    assert parse_label("transit:lung_bed@small") == ("transit", "lung_bed")


@pytest.mark.parametrize("label", ["colony:liver@small", "dead@x", "transit:lung_bed@", "x:y"])
def test_bad_labels_are_rejected(label):
    assert not is_label(label)
    with pytest.raises(circnet.UnknownNameError, match="not a state label"):
        parse_state(label)


def test_fates_take_no_tag():
    with pytest.raises(circnet.ParameterError, match="shared by all subpopulations"):
        state_label("colony", "liver", "small")


@pytest.mark.parametrize("tag", ["", "a:b", "a@b", " a", 3])
def test_bad_tags(tag):
    with pytest.raises(circnet.ParameterError, match="subpopulation name"):
        check_tag(tag)


def test_state_space_with_subpopulations():
    space = StateSpace.build(
        [("transit", "a", "s"), ("lodged", "a", "s"), ("transit", "a", "c"), ("lodged", "a", "c")],
        [("dead", None), ("colony", "liver")],
    )
    assert space.subpopulations == ("s", "c")
    assert space.subpopulation("lodged:a@c") == "c"
    assert space.subpopulation(DEAD) is None
    assert space.state("transit:a@s") == State("transit", "a", "s")
    assert space.block("c").tolist() == [2, 3]
    assert space.site("lodged:a@c") == "a" and space.kind("lodged:a@c") == "lodged"
    assert space.select("lodged") == ("lodged:a@s", "lodged:a@c")


def test_untagged_space_has_no_subpopulations():
    space = StateSpace(("transit:a", "dead"), 1)
    assert space.subpopulations == ()
    assert space.block(None).tolist() == [0]


def test_mixed_tagging_is_rejected():
    with pytest.raises(circnet.ParameterError, match="every transient state"):
        StateSpace(("transit:a@s", "transit:b", "dead"), 2)
