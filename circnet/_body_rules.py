"""The rules of a body graph: node kinds, channels, allowed edges, flow balance.

:func:`problems` lists every rule a graph breaks; :func:`validate` raises
:class:`~circnet.BodyError` listing them. Both are re-exported by :mod:`circnet.body`,
which documents the schema. Nodes are found by kind, never by name: the reference
pool of the reachability rules is the arterial pool (:func:`arterial_pool`), the pool
that feeds the most capillary beds.

Examples
--------
>>> from circnet.body import default_body
>>> problems(default_body())
[]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import networkx as nx

from .errors import BodyError

__all__ = [
    "NODE_KINDS",
    "CHANNELS",
    "FLOW_RTOL",
    "problems",
    "validate",
    "arterial_pool",
    "pool_feeding_most_beds",
]

NODE_KINDS = ("pool", "capillary_bed", "tissue", "lymph_node", "lymph_duct")
CHANNELS = ("blood", "lymph")
#: Relative tolerance of the flow balance at a node: ``|in - out| <= FLOW_RTOL * max(in, out)``.
FLOW_RTOL = 1e-9

_ALLOWED_EDGES = {
    # (source kind, target kind): allowed channels
    ("pool", "pool"): {"blood"},
    ("pool", "capillary_bed"): {"blood"},
    ("capillary_bed", "pool"): {"blood"},
    ("capillary_bed", "capillary_bed"): {"blood"},
    ("capillary_bed", "tissue"): {"lymph"},
    ("tissue", "lymph_node"): {"lymph"},
    ("tissue", "lymph_duct"): {"lymph"},
    ("lymph_node", "lymph_node"): {"lymph"},
    ("lymph_node", "lymph_duct"): {"lymph"},
    ("lymph_duct", "lymph_duct"): {"lymph"},
    ("lymph_duct", "pool"): {"lymph"},
}


def _flow_problem(u: Any, v: Any, data: Mapping[str, Any]) -> str | None:
    if "flow" not in data:
        return f"edge {u!r} -> {v!r}: missing `flow`"
    f = data["flow"]
    if isinstance(f, bool) or not isinstance(f, numbers.Real):
        return f"edge {u!r} -> {v!r}: `flow` must be a number in mL/min (got {f!r})"
    f = float(f)
    if math.isnan(f):
        return f"edge {u!r} -> {v!r}: `flow` is NaN"
    if math.isinf(f):
        return f"edge {u!r} -> {v!r}: `flow` is infinite"
    if f < 0:
        return f"edge {u!r} -> {v!r}: `flow` must not be negative (got {f!r})"
    return None


def _balance_problems(graph: nx.DiGraph, n: Any, kind: str | None) -> list[str]:
    """Flow balance at node ``n`` (valid flows only): sums that cannot overflow to NaN.

    The flows are summed exactly (``math.fsum``) after scaling by the largest, so a
    sum too large for a float is reported, never compared as ``inf - inf``.
    """
    fin = [float(d["flow"]) for _, _, d in graph.in_edges(n, data=True)]
    fout = [float(d["flow"]) for _, _, d in graph.out_edges(n, data=True)]
    scale = max(fin + fout, default=0.0)
    if scale == 0:
        isolated = kind != "tissue"
        return [f"node {n!r}: no flow reaches or leaves it (isolated)"] if isolated else []
    sin, sout = math.fsum(f / scale for f in fin), math.fsum(f / scale for f in fout)
    out = []
    for side, s in (("into", sin), ("out of", sout)):
        if math.isinf(s * scale):
            out.append(
                f"node {n!r}: the flows {side} it sum to more than the largest float "
                f"(about {s:.6g} x {scale:.6g} mL/min)"
            )
    if abs(sin - sout) > FLOW_RTOL * max(sin, sout):
        out.append(
            f"node {n!r}: flows do not balance: in {_shown(sin * scale, sout * scale)} mL/min, "
            f"out {_shown(sout * scale, sin * scale)} mL/min (relative tolerance {FLOW_RTOL:g})"
        )
    return out


def _shown(x: float, other: float) -> str:
    """``x`` rounded (no float noise: 6695, not 6694.999999999999), with the fewest significant
    digits, from 6 up to 12, that tell it apart from ``other``."""
    digits = next((d for d in range(6, 13) if f"{x:.{d}g}" != f"{other:.{d}g}"), 17)
    return f"{x:.{digits}g}"


def _site_problems(graph: nx.DiGraph, kinds: Mapping[Any, str | None]) -> list[str]:
    """The site attributes: a capillary bed belongs to an ``organ`` (and feeds its tissue) or
    to a lymph-node group (``node_group``, the blood bed of that node), never both; a
    tissue's ``serosal`` is a bool and its ``cavity`` names an organ with a serosal tissue."""
    out: list[str] = []
    serosal = {
        d.get("organ")
        for n, d in graph.nodes(data=True)
        if kinds.get(n) == "tissue" and d.get("serosal") is True
    }
    node_beds: dict[Any, list[Any]] = {}
    for n, d in graph.nodes(data=True):
        k = kinds.get(n)
        if k == "capillary_bed":
            organ, group = d.get("organ"), d.get("node_group")
            if organ is not None and group is not None:
                out.append(
                    f"node {n!r}: a capillary_bed carries either `organ` or `node_group` "
                    f"(the blood bed of a lymph node), not both (got {organ!r} and {group!r})"
                )
            elif group is None and not isinstance(organ, str):
                out.append(
                    f"node {n!r}: a capillary_bed must carry its `organ` as a string "
                    "(or `node_group`, the lymph node it supplies)"
                )
            elif organ is None and kinds.get(group) != "lymph_node":
                out.append(f"node {n!r}: `node_group` {group!r} is not a lymph_node of this body")
            elif organ is None:
                node_beds.setdefault(group, []).append(n)
                for v in graph.successors(n):
                    if kinds.get(v) == "tissue":
                        out.append(
                            f"edge {n!r} -> {v!r}: the blood bed of lymph node {group!r} "
                            "feeds no tissue (a cell arrested there enters the node)"
                        )
        for attr in ("serosal", "cavity"):
            if attr in d and k != "tissue":
                out.append(f"node {n!r}: `{attr}` belongs on a tissue node (this is a {k})")
        if k != "tissue":
            continue
        if "serosal" in d and not isinstance(d["serosal"], bool):
            out.append(f"node {n!r}: `serosal` must be True or False (got {d['serosal']!r})")
        if "cavity" in d:
            cavity = d["cavity"]
            if cavity == d.get("organ"):
                out.append(f"node {n!r}: organ {cavity!r} cannot lie in its own cavity")
            elif cavity not in serosal:
                out.append(
                    f"node {n!r}: `cavity` {cavity!r} must name an organ whose tissue "
                    "has serosal=True"
                )
    for group, ns in node_beds.items():
        if len(ns) > 1:
            out.append(f"lymph node {group!r} has more than one blood bed: {sorted(map(str, ns))}")
    return out


def problems(graph: Any) -> list[str]:
    """List every rule of the body model that ``graph`` breaks (empty if valid).

    See :func:`validate` for the rules.

    Examples
    --------
    >>> from circnet.body import default_body
    >>> body = default_body()
    >>> problems(body)
    []
    >>> body.edges["left_heart", "brain_bed"]["flow"] = -1.0
    >>> problems(body)[0]
    "edge 'left_heart' -> 'brain_bed': `flow` must not be negative (got -1.0)"
    """
    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        return [f"a body must be a networkx.DiGraph (got {type(graph).__name__})"]
    out: list[str] = []
    if graph.number_of_nodes() == 0:
        return ["the graph has no nodes"]
    kinds: dict[Any, str | None] = {}
    for n, d in graph.nodes(data=True):
        k = d.get("kind")
        if k is None:
            out.append(f"node {n!r}: missing `kind` (one of {', '.join(NODE_KINDS)})")
        elif k not in NODE_KINDS:
            out.append(f"node {n!r}: unknown kind {k!r} (expected one of {', '.join(NODE_KINDS)})")
            k = None
        kinds[n] = k
        if k == "tissue" and not isinstance(d.get("organ"), str):
            out.append(f"node {n!r}: a {k} must carry its `organ` as a string")
        for attr in ("volume", "diameter"):
            if attr in d:
                x = d[attr]
                if (
                    isinstance(x, bool)
                    or not isinstance(x, numbers.Real)
                    or not math.isfinite(float(x))
                    or float(x) <= 0
                ):
                    out.append(f"node {n!r}: `{attr}` must be a positive finite number (got {x!r})")
        if k in ("pool", "capillary_bed", "lymph_node", "lymph_duct") and "volume" not in d:
            out.append(f"node {n!r}: a {k} needs a `volume` in mL (for residence times)")
        if k == "capillary_bed" and "diameter" not in d:
            out.append(f"node {n!r}: a capillary_bed needs a `diameter` in um")
    if not any(k == "pool" for k in kinds.values()):
        out.append("the graph has no `pool` node: blood has nowhere to mix")

    unsure: set[Any] = set()  # nodes with an edge of bad flow: their balance is unknown
    for u, v, d in graph.edges(data=True):
        if u == v:
            out.append(f"edge {u!r} -> {v!r}: a self-loop (an edge from a node to itself)")
        ch = d.get("channel")
        if ch not in CHANNELS:
            out.append(f"edge {u!r} -> {v!r}: unknown channel {ch!r} (expected 'blood' or 'lymph')")
        msg = _flow_problem(u, v, d)
        if msg:
            out.append(msg)
            unsure.update((u, v))
        ku, kv = kinds.get(u), kinds.get(v)
        if ku and kv and ch in CHANNELS:
            allowed = _ALLOWED_EDGES.get((ku, kv), set())
            if ch not in allowed:
                out.append(f"edge {u!r} -> {v!r}: a {ch} edge from a {ku} to a {kv} is not allowed")
            elif not msg and float(d["flow"]) == 0 and kv != "tissue":
                out.append(
                    f"edge {u!r} -> {v!r}: `flow` must be positive (got 0.0); "
                    "remove the edge instead"
                )
    # beds and tissues pair up by organ
    beds: dict[str, list[Any]] = {}
    tissues: dict[str, list[Any]] = {}
    for n, k in kinds.items():
        if k in ("capillary_bed", "tissue") and isinstance(graph.nodes[n].get("organ"), str):
            (beds if k == "capillary_bed" else tissues).setdefault(
                graph.nodes[n]["organ"], []
            ).append(n)
    for organ, ns in beds.items():
        if len(ns) > 1:
            out.append(f"organ {organ!r} has more than one capillary bed: {sorted(map(str, ns))}")
        for b in ns:
            linked = [v for v in graph.successors(b) if kinds.get(v) == "tissue"]
            if not linked:
                out.append(
                    f"node {b!r}: capillary bed without its tissue "
                    f"(no edge to a tissue of organ {organ!r})"
                )
            for v in linked:
                if graph.nodes[v].get("organ") != organ:
                    out.append(
                        f"edge {b!r} -> {v!r}: bed of organ {organ!r} feeds the tissue of "
                        f"organ {graph.nodes[v].get('organ')!r}"
                    )
    for organ, ns in tissues.items():
        if len(ns) > 1:
            out.append(f"organ {organ!r} has more than one tissue: {sorted(map(str, ns))}")
        for tnode in ns:
            if organ not in beds:
                out.append(f"node {tnode!r}: tissue of organ {organ!r} has no capillary bed")
            preds = list(graph.predecessors(tnode))
            if len(preds) != 1:
                out.append(
                    f"node {tnode!r}: a tissue is fed by exactly one capillary bed "
                    f"(got {len(preds)} in-edges)"
                )
    out.extend(_site_problems(graph, kinds))
    # balance, at every node whose flows are all valid numbers
    for n in graph.nodes:
        if n not in unsure:
            out.extend(_balance_problems(graph, n, kinds.get(n)))

    # reachability over positive-flow edges (an edge of bad flow counts as present)
    def flowing(d: Mapping[str, Any]) -> bool:
        return _flow_problem(None, None, d) is not None or float(d["flow"]) > 0

    pos = nx.DiGraph()
    pos.add_nodes_from(
        n
        for n in graph
        if not (
            kinds.get(n) == "tissue"
            and not any(flowing(d) for _, _, d in graph.in_edges(n, data=True))
        )
    )
    pos.add_edges_from(
        (u, v) for u, v, d in graph.edges(data=True) if flowing(d) and u in pos and v in pos
    )
    pools = [n for n, k in kinds.items() if k == "pool" and n in pos]
    if pools and pos.number_of_nodes():
        heart = pool_feeding_most_beds(graph, pools, kinds)
        downstream = nx.descendants(pos, heart) | {heart}
        upstream = nx.ancestors(pos, heart) | {heart}
        for n in pos:
            k = kinds.get(n)
            if n not in upstream:
                if k in ("tissue", "lymph_node", "lymph_duct"):
                    out.append(f"node {n!r}: lymph leaving it never returns to the blood")
                else:
                    out.append(f"node {n!r}: blood cannot leave it back to {heart!r}")
            if n not in downstream:
                out.append(f"node {n!r}: cannot be reached from {heart!r} by any flow")
    return out


def validate(graph: Any) -> nx.DiGraph:
    """Check that ``graph`` is a consistent body; raise :class:`~circnet.BodyError` if not.

    Rules: a ``networkx.DiGraph``; every node has a known ``kind``; beds and tissues
    carry their ``organ``, and each bed feeds exactly its own tissue, except the blood
    bed of a lymph node, which carries ``node_group`` (an existing ``lymph_node``)
    instead of ``organ`` and feeds no tissue (one per node group); a tissue's
    ``serosal`` is True or False, and its ``cavity`` names another organ whose tissue is
    ``serosal``; pools, beds,
    lymph nodes and ducts have a positive ``volume``, beds a ``diameter``; every edge
    has a known ``channel`` and a finite, non-negative ``flow`` (zero only on a
    bed-to-tissue edge) and joins kinds that the anatomy allows (blood between pools
    and beds, lymph from tissue through nodes and ducts to a pool); flows balance at
    every node within :data:`FLOW_RTOL`; every node is reached from the left heart
    and drains back to it.

    Parameters
    ----------
    graph : networkx.DiGraph

    Returns
    -------
    networkx.DiGraph
        The same graph, so that ``validate`` can be chained.

    Raises
    ------
    BodyError
        Listing every problem found (``err.problems``), each naming its node or edge.

    Examples
    --------
    >>> from circnet.body import default_body
    >>> body = default_body()
    >>> body.nodes["kidneys"]["kind"] = "kidney"
    >>> try:
    ...     validate(body)
    ... except BodyError as err:
    ...     print(err.problems[0])  # doctest: +NORMALIZE_WHITESPACE
    node 'kidneys': unknown kind 'kidney'
    (expected one of pool, capillary_bed, tissue, lymph_node, lymph_duct)
    """
    found = problems(graph)
    if found:
        raise BodyError(found)
    return graph


def pool_feeding_most_beds(
    graph: nx.DiGraph, pools: list[Any], kinds: Mapping[Any, str | None]
) -> Any:
    """The pool of ``pools`` feeding the most capillary beds by blood; among equals the one
    fed by a capillary bed (the left heart, fed by the lung bed, rather than the right heart,
    fed by venous return); then the most flow into beds."""

    def feeds(p: Any) -> tuple[int, bool, float]:
        into_beds = [
            d.get("flow", 0.0)
            for _, v, d in graph.out_edges(p, data=True)
            if kinds.get(v) == "capillary_bed" and d.get("channel") == "blood"
        ]
        fed_by_bed = any(
            kinds.get(u) == "capillary_bed" and d.get("channel") == "blood"
            for u, _, d in graph.in_edges(p, data=True)
        )
        flows = [float(f) for f in into_beds if isinstance(f, numbers.Real)]
        return len(into_beds), fed_by_bed, sum(f for f in flows if math.isfinite(f))

    return max(pools, key=feeds)  # max keeps the first of equals: node order breaks ties


def arterial_pool(graph: nx.DiGraph) -> Any:
    """The arterial pool of a body: the pool that feeds the most capillary beds.

    In the default body that is ``left_heart`` (the left heart and aorta, which supply
    every organ); in a user's body it is found by node kinds, whatever its name. Ties
    go to a pool fed by a capillary bed (pulmonary venous return), then to the pool with
    more blood flow into beds, then to the first in node order.

    Examples
    --------
    >>> from circnet.body import default_body
    >>> arterial_pool(default_body())
    'left_heart'
    """
    kinds = {n: d.get("kind") for n, d in graph.nodes(data=True)}
    pools = [n for n, k in kinds.items() if k == "pool"]
    if not pools:
        raise BodyError("the graph has no `pool` node: blood has nowhere to mix")
    return pool_feeding_most_beds(graph, pools, kinds)
