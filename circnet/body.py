"""The body graph: a directed circulation of blood and lymph.

A body is a :class:`networkx.DiGraph`. Every node has a ``kind``:

==================  ==========================================================
``pool``            a well-mixed blood volume (venous return, right heart,
                    left heart / aorta, portal vein)
``capillary_bed``   the narrow vessels of one organ, where a cell can lodge;
                    carries ``organ`` and ``diameter`` (um); or the blood
                    vessels of a lymph-node group (its capillaries and high
                    endothelial venules), which carry ``node_group`` (the
                    ``lymph_node`` they supply) instead of ``organ``: a cell
                    arrested there enters the node, not a tissue
``tissue``          the organ itself, where an extravasated cell may grow;
                    carries ``organ``; optionally ``serosal=True`` (a lining
                    of a cavity: pleura, peritoneum, ...) and ``cavity`` (the
                    serosal organ whose cavity holds the organ)
``lymph_node``      a regional group of lymph nodes
``lymph_duct``      a collecting duct back to the blood (cisterna chyli,
                    thoracic duct, right lymphatic duct)
==================  ==========================================================

Pools, capillary beds, lymph nodes and ducts carry a ``volume`` (mL), from which
transport derives residence times. Every edge has a ``channel`` (``"blood"`` or
``"lymph"``) and a ``flow`` in mL/min. The edge from a capillary bed to its tissue
is the interstitial fluid filtered from the capillaries that leaves the tissue as
lymph (``channel="lymph"``); it is also the way an arrested cell extravasates.
It may carry zero flow (organs with no conventional lymphatics: marrow, brain).

Flows balance at every node (in = out, blood and lymph together) within a
relative tolerance of :data:`FLOW_RTOL`.

Node names of the default body: pools ``venous_return``, ``right_heart``,
``left_heart``, ``portal_vein``, ``vertebral_venous_plexus`` (Batson's plexus: part
of the pelvic and breast venous outflow, drained through the red-marrow bed); for each
organ ``X`` a bed ``X_bed`` and a tissue ``X`` (the serosal organs ``pleura``,
``peritoneum``, ``pericardium``, ``meninges`` among them); lymph node groups such as
``axillary_nodes``, each with its blood bed ``axillary_nodes_hev``; ducts
``cisterna_chyli``, ``thoracic_duct``, ``right_lymphatic_duct``. Nothing in circnet
relies on these names: code finds nodes by kind and attribute (:func:`bed_of`,
:func:`tissue_of`, :func:`node_beds`, :func:`cavity_of`, :func:`arterial_pool`), so a
user's body may name its nodes as it likes. The default body is built from the tables
by :mod:`circnet._body_build`.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from ._body_build import (
    TABLES,
    UNITS,
    build_reference_body,
    reference_cardiac_output,
)
from ._body_build import tables as _tables
from ._body_rules import (
    CHANNELS,
    FLOW_RTOL,
    NODE_KINDS,
    arterial_pool,
    pool_feeding_most_beds,
    problems,
    validate,
)
from ._validation import check_number
from .errors import BodyError, UnknownNameError

__all__ = [
    "NODE_KINDS",
    "CHANNELS",
    "FLOW_RTOL",
    "POOLS",
    "UNITS",
    "default_body",
    "validate",
    "problems",
    "summary",
    "organs",
    "lymph_nodes",
    "bed_of",
    "tissue_of",
    "node_beds",
    "cavity_of",
    "serosal_organs",
    "arterial_pool",
    "balance_flows",
    "scale_organ_flow",
    "data_tables",
]

#: Pool names of the default body (a user's body may name its pools as it likes).
POOLS = ("venous_return", "right_heart", "left_heart", "portal_vein")


# --------------------------------------------------------------------------- building
def data_tables() -> dict[str, pd.DataFrame]:
    """The sourced tables in ``circnet/data`` that the default body is built from.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``blood_flow``, ``capillaries`` and ``lymph_nodes``, each with a ``source`` column.

    Examples
    --------
    >>> tables = data_tables()
    >>> bool(tables["blood_flow"]["source"].str.len().gt(0).all())
    True
    """
    t = _tables()
    return {k: pd.DataFrame(t[k]) for k in TABLES}


def default_body(sex: str = "male", cardiac_output: float | None = None) -> nx.DiGraph:
    """Build the reference adult body from the sourced tables in ``circnet/data``.

    Parameters
    ----------
    sex : {"male", "female"}
        Selects the reference adult (ICRP Publication 89): blood-flow shares, cardiac
        output, blood volume, and the sex-specific organs (prostate and testes, or
        breast and ovaries).
    cardiac_output : float, optional
        Cardiac output in mL/min. Default: the ICRP 89 reference value (6500 male,
        5900 female). All flows scale with it; shares of cardiac output are kept.

    Returns
    -------
    networkx.DiGraph
        A valid body graph (see the module docstring for the schema). Graph
        attributes: ``name``, ``sex``, ``cardiac_output`` (mL/min), ``units``,
        ``sources``.

    Examples
    --------
    >>> body = default_body("female")
    >>> body.nodes["liver_bed"]["kind"]
    'capillary_bed'
    >>> round(body.graph["cardiac_output"])
    5900
    >>> into_lung = [d["flow"] for _, _, d in body.in_edges("lung_bed", data=True)]
    >>> round(sum(into_lung) - body.edges["lung", "hilar_nodes"]["flow"])
    5900
    """
    if not isinstance(sex, str) or sex not in ("male", "female"):
        raise UnknownNameError(f"`sex` must be 'male' or 'female' (got {sex!r})")
    if cardiac_output is None:
        co = reference_cardiac_output(sex)
    else:
        co = check_number(cardiac_output, "cardiac_output", low=0, low_open=True, unit="mL/min")
    return validate(build_reference_body(sex, co))


# --------------------------------------------------------------------------- queries
def organs(graph: nx.DiGraph) -> list[str]:
    """Organs of a body, in node order (each has a capillary bed and a tissue).

    Examples
    --------
    >>> "liver" in organs(default_body())
    True
    """
    return [
        d["organ"]
        for _, d in graph.nodes(data=True)
        if d.get("kind") == "capillary_bed" and "organ" in d
    ]


def node_beds(graph: nx.DiGraph) -> dict[Any, Any]:
    """The blood-side bed of each lymph-node group that has one: ``{group: bed}``.

    A lymph node's bed is a ``capillary_bed`` with ``node_group=<group>`` (its blood
    capillaries and high endothelial venules), in node order.

    Examples
    --------
    >>> node_beds(default_body())["axillary_nodes"]
    'axillary_nodes_hev'
    """
    return {
        d["node_group"]: n
        for n, d in graph.nodes(data=True)
        if d.get("kind") == "capillary_bed" and "node_group" in d
    }


def cavity_of(graph: nx.DiGraph, organ: str) -> str | None:
    """The serosal organ whose cavity holds ``organ`` (its tissue's ``cavity``), or None.

    Examples
    --------
    >>> body = default_body("female")
    >>> cavity_of(body, "ovaries"), cavity_of(body, "kidneys")
    ('peritoneum', None)
    """
    cavity = graph.nodes[tissue_of(graph, organ)].get("cavity")
    return None if cavity is None else str(cavity)


def serosal_organs(graph: nx.DiGraph) -> list[str]:
    """Organs whose tissue is a serosal lining (``serosal=True``), in node order.

    Examples
    --------
    >>> serosal_organs(default_body())
    ['pleura', 'peritoneum', 'pericardium', 'meninges']
    """
    return [
        str(d["organ"])
        for _, d in graph.nodes(data=True)
        if d.get("kind") == "tissue" and d.get("serosal") is True
    ]


def lymph_nodes(graph: nx.DiGraph) -> list[Any]:
    """Lymph-node groups of a body, in node order.

    Examples
    --------
    >>> "axillary_nodes" in lymph_nodes(default_body("female"))
    True
    """
    return [n for n, d in graph.nodes(data=True) if d.get("kind") == "lymph_node"]


def _organ_node(graph: nx.DiGraph, organ: str, kind: str) -> Any:
    for n, d in graph.nodes(data=True):
        if d.get("kind") == kind and d.get("organ") == organ:
            return n
    known = ", ".join(sorted(organs(graph)))
    raise UnknownNameError(f"unknown organ {organ!r}; this body has: {known}")


def bed_of(graph: nx.DiGraph, organ: str) -> Any:
    """The capillary-bed node of ``organ``; :class:`~circnet.UnknownNameError` if none.

    Examples
    --------
    >>> bed_of(default_body(), "liver")
    'liver_bed'
    """
    return _organ_node(graph, organ, "capillary_bed")


def tissue_of(graph: nx.DiGraph, organ: str) -> Any:
    """The tissue node of ``organ``; :class:`~circnet.UnknownNameError` if none.

    Examples
    --------
    >>> tissue_of(default_body(), "liver")
    'liver'
    """
    return _organ_node(graph, organ, "tissue")


def summary(graph: nx.DiGraph) -> pd.DataFrame:
    """Per-site table: each organ, then each lymph-node group, with its blood inflow, its
    share of cardiac output, its lymph outflow, and the first capillary bed that cells
    leaving it by blood meet.

    Parameters
    ----------
    graph : networkx.DiGraph
        A valid body.

    Returns
    -------
    pandas.DataFrame
        Indexed by site (organs in node order, then lymph-node groups), columns

        * ``kind``: ``"organ"`` or ``"lymph_node"``;
        * ``blood_inflow_ml_min``, ``pct_cardiac_output``: the blood entering the organ's
          capillary bed, or the node group's blood bed (``node_group``; 0 if it has none);
        * ``lymph_outflow_ml_min``: lymph leaving the organ's tissue, or the node group;
        * ``lymph_nodes``: where that lymph goes first (node groups or ducts);
        * ``first_bed_downstream``: the organ (or node group) whose capillary bed a cell
          leaving the bed by its veins meets next;
        * ``capillary_diameter_um``: of the organ's or node group's bed (NaN if none);
        * ``cavity``: the serosal organ whose cavity holds the organ (``""`` if none);
          ``serosal`` sites are those named in this column of other rows.

    Examples
    --------
    >>> table = summary(default_body())
    >>> table.loc["colon_rectum", "first_bed_downstream"]
    'liver'
    >>> table.loc["breast" if "breast" in table.index else "prostate", "first_bed_downstream"]
    'lung'
    >>> table.loc["axillary_nodes", ["kind", "first_bed_downstream"]].tolist()
    ['lymph_node', 'lung']
    """
    validate(graph)
    co = float(graph.graph.get("cardiac_output") or _arterial_output(graph))

    def blood_in(bed: Any) -> float:
        return sum(
            float(d["flow"])
            for _, _, d in graph.in_edges(bed, data=True)
            if d["channel"] == "blood"
        )

    def lymph_out(n: Any) -> tuple[float, str]:
        edges = [(v, float(d["flow"])) for _, v, d in graph.out_edges(n, data=True)]
        return sum(f for _, f in edges), ", ".join(str(v) for v, _ in edges)

    rows = []
    for organ in organs(graph):
        bed, tissue = bed_of(graph, organ), tissue_of(graph, organ)
        flow, nodes = lymph_out(tissue)
        rows.append(
            {
                "site": organ,
                "kind": "organ",
                "blood_inflow_ml_min": blood_in(bed),
                "pct_cardiac_output": 100.0 * blood_in(bed) / co,
                "lymph_outflow_ml_min": flow,
                "lymph_nodes": nodes,
                "first_bed_downstream": _first_bed(graph, bed),
                "capillary_diameter_um": float(graph.nodes[bed]["diameter"]),
                "cavity": str(graph.nodes[tissue].get("cavity", "")),
            }
        )
    beds = node_beds(graph)
    for group in lymph_nodes(graph):
        bed = beds.get(group)
        flow, nodes = lymph_out(group)
        inflow = blood_in(bed) if bed is not None else 0.0
        rows.append(
            {
                "site": group,
                "kind": "lymph_node",
                "blood_inflow_ml_min": inflow,
                "pct_cardiac_output": 100.0 * inflow / co,
                "lymph_outflow_ml_min": flow,
                "lymph_nodes": nodes,
                "first_bed_downstream": _first_bed(graph, bed) if bed is not None else "",
                "capillary_diameter_um": (
                    float(graph.nodes[bed]["diameter"]) if bed is not None else math.nan
                ),
                "cavity": "",
            }
        )
    return pd.DataFrame(rows).set_index("site")


def _arterial_output(graph: nx.DiGraph) -> float:
    """Blood put out by the arterial pool (mL/min): the cardiac output."""
    return sum(float(d["flow"]) for _, _, d in graph.out_edges(arterial_pool(graph), data=True))


def _first_bed(graph: nx.DiGraph, bed: Any) -> str:
    """Organ of the capillary bed reached first (by the largest venous flow) from ``bed``."""
    seen = {bed}
    frontier = [v for v in graph.successors(bed) if graph.edges[bed, v]["channel"] == "blood"]
    while frontier:
        frontier.sort(
            key=lambda v: (
                -sum(
                    float(graph.edges[u, v]["flow"])
                    for u in graph.predecessors(v)
                    if u in seen or u == bed
                )
            )
        )
        v = frontier.pop(0)
        if v in seen:
            continue
        seen.add(v)
        if graph.nodes[v]["kind"] == "capillary_bed":
            return str(graph.nodes[v].get("organ", graph.nodes[v].get("node_group")))
        frontier.extend(
            w
            for w in graph.successors(v)
            if graph.edges[v, w]["channel"] == "blood" and w not in seen
        )
    return ""


# --------------------------------------------------------------------------- editing
def balance_flows(graph: nx.DiGraph, cardiac_output: float | None = None) -> nx.DiGraph:
    """Return a copy of ``graph`` whose flows balance, keeping every node's split.

    Each node keeps the proportions in which its outflow divides among its out-edges;
    the node throughputs are the stationary flow of that routing (the Perron vector
    of the routing matrix), scaled so that the left heart puts out ``cardiac_output``
    (default: the graph's ``cardiac_output`` attribute, or its current left-heart
    output). Use it after editing an edge's flow by hand.

    Examples
    --------
    >>> body = default_body()
    >>> body.edges["left_heart", "liver_bed"]["flow"] *= 2
    >>> bool(problems(body))
    True
    >>> problems(balance_flows(body))
    []
    """
    g = graph.copy()
    nodes = [n for n in g if g.out_degree(n) > 0]
    index = {n: i for i, n in enumerate(nodes)}
    n = len(nodes)
    rows, cols, vals = [], [], []
    for u in nodes:
        total = sum(float(d["flow"]) for _, _, d in g.out_edges(u, data=True))
        if not math.isfinite(total) or total <= 0:
            raise BodyError(f"node {u!r}: cannot rebalance, its outflow is {total!r}")
        for _, v, d in g.out_edges(u, data=True):
            if v in index:
                rows.append(index[u])
                cols.append(index[v])
                vals.append(float(d["flow"]) / total)
    p = sp.csr_array((vals, (rows, cols)), shape=(n, n))
    pools = [u for u in nodes if g.nodes[u].get("kind") == "pool"]
    kinds = {u: d.get("kind") for u, d in g.nodes(data=True)}
    ref = pool_feeding_most_beds(g, pools, kinds) if pools else nodes[0]
    co = float(
        cardiac_output
        if cardiac_output is not None
        else g.graph.get("cardiac_output") or _arterial_output(g)
    )
    # x (I - P) = 0 with x[ref] = co: replace the ref equation by the normalisation
    a = (sp.eye_array(n, format="csr") - p).T.tolil()
    a[index[ref], :] = 0
    a[index[ref], index[ref]] = 1.0
    b = np.zeros(n)
    b[index[ref]] = co
    x = spsolve(a.tocsc(), b)
    for u in nodes:
        total = sum(float(d["flow"]) for _, _, d in g.out_edges(u, data=True))
        for _, _, d in g.out_edges(u, data=True):
            d["flow"] = float(x[index[u]] * float(d["flow"]) / total)
    g.graph["cardiac_output"] = co
    return g


def scale_organ_flow(graph: nx.DiGraph, organ: str, factor: float) -> nx.DiGraph:
    """Return a balanced copy in which ``organ`` receives ``factor`` times its arterial flow.

    The extra (or missing) flow is taken from (or given to) the other organs supplied
    by the arterial pool (:func:`arterial_pool`, the left heart in the default body) in
    proportion to their flows, so the cardiac output is kept.

    Examples
    --------
    >>> body = default_body()
    >>> more = scale_organ_flow(body, "brain", 1.5)
    >>> old = body.edges["left_heart", "brain_bed"]["flow"]
    >>> round(more.edges["left_heart", "brain_bed"]["flow"] / old, 6)
    1.5
    """
    validate(graph)
    factor = check_number(factor, "factor", low=0, low_open=True)
    bed = bed_of(graph, organ)
    heart = arterial_pool(graph)
    if not graph.has_edge(heart, bed):
        raise UnknownNameError(f"organ {organ!r} has no arterial supply from {heart!r}")
    g = graph.copy()
    out = [(v, float(d["flow"])) for _, v, d in g.out_edges(heart, data=True)]
    total = sum(f for _, f in out)
    old = float(g.edges[heart, bed]["flow"])
    new = old * factor
    rest = total - old
    if new >= total:
        raise BodyError(
            f"`factor` {factor!r} would give organ {organ!r} more than the cardiac output"
        )
    for v, f in out:
        g.edges[heart, v]["flow"] = new if v == bed else f * (total - new) / rest
    balanced = balance_flows(g)
    # balance_flows keeps splits, so the arterial shares set above are exact
    return validate(balanced)
