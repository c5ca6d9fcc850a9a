"""Hypothesis strategies for body graphs: valid bodies, valid edits and corruptions.

Each corruption strategy returns ``(graph, expected)``: the corrupted graph and the
strings that some problem reported by ``circnet.problems`` must contain.
"""

from __future__ import annotations

from functools import cache

import networkx as nx
from bodies import tiny_body, tiny_portal_body
from hypothesis import strategies as st

import circnet
from circnet.body import NODE_KINDS, bed_of, tissue_of

__all__ = [
    "bodies",
    "factors",
    "cardiac_outputs",
    "scaled_edge_bodies",
    "scaled_organ_bodies",
    "negative_flow",
    "nan_flow",
    "removed_edge",
    "unknown_kind",
    "deleted_tissue",
    "corruptions",
]


@cache
def _default(sex: str) -> nx.DiGraph:
    return circnet.default_body(sex)


_BUILDERS = {
    "tiny": tiny_body,
    "tiny_portal": tiny_portal_body,
    "male": lambda: _default("male").copy(),
    "female": lambda: _default("female").copy(),
}


def bodies() -> st.SearchStrategy[nx.DiGraph]:
    """A fresh valid body: one of the tiny bodies or a default body (a copy)."""
    return st.sampled_from(sorted(_BUILDERS)).map(lambda name: _BUILDERS[name]())


#: multiplicative factors spanning two orders of magnitude
factors = st.floats(min_value=0.1, max_value=10.0, allow_nan=False, allow_infinity=False)
#: cardiac outputs from a small child's to an athlete's at exercise (mL/min)
cardiac_outputs = st.floats(min_value=500.0, max_value=40000.0)


def _positive_edges(g):
    return sorted((u, v) for u, v, d in g.edges(data=True) if d["flow"] > 0)


@st.composite
def scaled_edge_bodies(draw):
    """A body with one positive edge flow scaled by a random factor (not yet rebalanced).

    Returns ``(graph, (u, v), factor)``.
    """
    g = draw(bodies())
    edge = draw(st.sampled_from(_positive_edges(g)))
    factor = draw(factors)
    g.edges[edge]["flow"] *= factor
    return g, edge, factor


@st.composite
def scaled_organ_bodies(draw):
    """``(body, organ, factor)`` such that ``scale_organ_flow`` can give the organ that much."""
    g = draw(bodies())
    supplied = [o for o in circnet.organs(g) if g.has_edge("left_heart", bed_of(g, o))]
    organ = draw(st.sampled_from(supplied))
    bed = bed_of(g, organ)
    old = g.edges["left_heart", bed]["flow"]
    total = sum(d["flow"] for _, _, d in g.out_edges("left_heart", data=True))
    top = min(10.0, 0.95 * total / old)
    factor = draw(st.floats(min_value=0.1, max_value=top))
    return g, organ, factor


# --------------------------------------------------------------------------- corruptions
def _edge_name(u, v):
    return f"edge {u!r} -> {v!r}"


@st.composite
def negative_flow(draw):
    g = draw(bodies())
    u, v = draw(st.sampled_from(sorted(g.edges)))
    x = draw(st.floats(max_value=-1e-300, allow_infinity=False, allow_nan=False))
    g.edges[u, v]["flow"] = x
    return g, [_edge_name(u, v), "`flow` must not be negative"]


@st.composite
def nan_flow(draw):
    g = draw(bodies())
    u, v = draw(st.sampled_from(sorted(g.edges)))
    g.edges[u, v]["flow"] = float("nan")
    return g, [_edge_name(u, v), "`flow` is NaN"]


@st.composite
def removed_edge(draw):
    """A body without one of its edges; some problem names one of the edge's ends."""
    g = draw(bodies())
    u, v = draw(st.sampled_from(sorted(g.edges)))
    g.remove_edge(u, v)
    return g, [[f"node {u!r}", f"node {v!r}"]]


_KIND_TEXT = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=0, max_size=12
)


@st.composite
def unknown_kind(draw):
    g = draw(bodies())
    node = draw(st.sampled_from(sorted(g.nodes)))
    kind = draw(
        st.one_of(_KIND_TEXT, st.integers(), st.just("Pool"), st.just("capillary bed")).filter(
            lambda k: k not in NODE_KINDS
        )
    )
    g.nodes[node]["kind"] = kind
    return g, [f"node {node!r}: unknown kind {kind!r}"]


@st.composite
def deleted_tissue(draw):
    g = draw(bodies())
    organ = draw(st.sampled_from(sorted(circnet.organs(g))))
    bed, tissue = bed_of(g, organ), tissue_of(g, organ)
    g.remove_node(tissue)
    return g, [f"node {bed!r}: capillary bed without its tissue"]


def corruptions():
    """Any one of the corruptions above."""
    return st.one_of(negative_flow(), nan_flow(), removed_edge(), unknown_kind(), deleted_tissue())
