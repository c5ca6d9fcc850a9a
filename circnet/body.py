"""The body graph: a directed circulation of blood and lymph.

A body is a :class:`networkx.DiGraph`. Every node has a ``kind``:

==================  ==========================================================
``pool``            a well-mixed blood volume (venous return, right heart,
                    left heart / aorta, portal vein)
``capillary_bed``   the narrow vessels of one organ, where a cell can lodge;
                    carries ``organ`` and ``diameter`` (um)
``tissue``          the organ itself, where an extravasated cell may grow;
                    carries ``organ``
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
``left_heart``, ``portal_vein``; for each organ ``X`` a bed ``X_bed`` and a tissue
``X``; lymph node groups such as ``axillary_nodes``; ducts ``cisterna_chyli``,
``thoracic_duct``, ``right_lymphatic_duct``.
"""

from __future__ import annotations

import csv
import math
import numbers
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import yaml

from .errors import BodyError, UnknownNameError

__all__ = [
    "NODE_KINDS",
    "CHANNELS",
    "FLOW_RTOL",
    "POOLS",
    "default_body",
    "validate",
    "problems",
    "summary",
    "organs",
    "lymph_nodes",
    "bed_of",
    "tissue_of",
    "balance_flows",
    "scale_organ_flow",
    "data_tables",
]

NODE_KINDS = ("pool", "capillary_bed", "tissue", "lymph_node", "lymph_duct")
CHANNELS = ("blood", "lymph")
#: Relative tolerance of the flow balance at a node: ``|in - out| <= FLOW_RTOL * max(in, out)``.
FLOW_RTOL = 1e-9
POOLS = ("venous_return", "right_heart", "left_heart", "portal_vein")
UNITS = {"flow": "mL/min", "volume": "mL", "diameter": "um", "time": "min"}

_BLOOD_KINDS = {"pool", "capillary_bed"}
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


# --------------------------------------------------------------------------- data
def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files("circnet").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def _tables() -> dict[str, Any]:
    physiology = yaml.safe_load(
        resources.files("circnet").joinpath("data", "physiology.yaml").read_text("utf-8")
    )
    return {
        "blood_flow": _read_csv("blood_flow.csv"),
        "capillaries": _read_csv("capillaries.csv"),
        "lymph_nodes": _read_csv("lymph_nodes.csv"),
        "physiology": physiology,
    }


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
    return {k: pd.DataFrame(t[k]) for k in ("blood_flow", "capillaries", "lymph_nodes")}


def _split(spec: str) -> dict[str, float]:
    """Parse ``"a:0.75;b:0.25"`` (or a single name) into shares that sum to one."""
    spec = spec.strip()
    if not spec:
        return {}
    out: dict[str, float] = {}
    for part in spec.split(";"):
        name, _, share = part.partition(":")
        out[name.strip()] = float(share) if share else 1.0
    total = sum(out.values())
    return {k: v / total for k, v in out.items()}


# --------------------------------------------------------------------------- building
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
    if sex not in ("male", "female"):
        raise UnknownNameError(f"`sex` must be 'male' or 'female' (got {sex!r})")
    t = _tables()
    phys = t["physiology"]
    co_ref = float(phys["cardiac_output_ml_min"][sex])
    if cardiac_output is None:
        co = co_ref
    else:
        co = _positive_number(cardiac_output, "cardiac_output")
    blood_volume = float(phys["blood_volume_ml"][sex])
    col = f"{sex}_pct_co"

    # organ shares of cardiac output
    rows = [r for r in t["blood_flow"] if r[col].strip()]
    shares: dict[str, float] = {}
    for r in rows:
        if r[col].strip() != "remainder":
            shares[r["organ"]] = float(r[col]) / 100.0
    for r in rows:
        if r[col].strip() == "remainder":
            shares[r["organ"]] = 1.0 - sum(shares.values())
    diam = {r["organ"]: float(r["diameter_um"]) for r in t["capillaries"]}
    row_of = {r["organ"]: r for r in rows}

    g = nx.DiGraph()
    g.graph.update(
        name=f"circnet reference adult {sex}",
        sex=sex,
        cardiac_output=co,
        units=dict(UNITS),
        sources=_sources(),
    )
    bvf = phys["blood_volume_fraction"]
    g.add_node(
        "venous_return",
        kind="pool",
        label="Venous return (venae cavae)",
        volume=bvf["venous_return"] * blood_volume,
    )
    g.add_node(
        "right_heart", kind="pool", label="Right heart", volume=bvf["right_heart"] * blood_volume
    )
    g.add_node(
        "left_heart",
        kind="pool",
        label="Left heart and aorta",
        volume=bvf["left_heart"] * blood_volume,
    )
    g.add_node(
        "portal_vein",
        kind="pool",
        label="Portal vein",
        volume=float(phys["portal_vein_volume_ml"]["value"]),
    )

    # arterial flows and bed throughput
    arterial = {o: s * co for o, s in shares.items()}
    portal_in = sum(arterial[o] for o, r in row_of.items() if r["venous_drainage"] == "portal_vein")
    through = dict(arterial)
    through["liver"] = arterial["liver"] + portal_in
    # lymph per organ, apportioned by blood flow through the bed (assumption documented in data/)
    no_lymph = set(phys["lymph_apportionment"]["no_lymphatics"])
    lymph_total = float(phys["total_lymph_flow_ml_min"]["value"])
    with_lymph = [o for o in shares if o not in no_lymph and row_of[o]["lymph_nodes"].strip()]
    denom = sum(through[o] for o in with_lymph)
    lymph = {o: (lymph_total * through[o] / denom if o in with_lymph else 0.0) for o in shares}

    systemic_cap = bvf["systemic_capillaries"] * blood_volume
    systemic_through = sum(v for o, v in through.items() if o != "lung")
    for organ, r in row_of.items():
        bed, tissue = f"{organ}_bed", organ
        if organ == "lung":
            vol = bvf["pulmonary_capillaries"] * blood_volume
        else:
            vol = systemic_cap * through[organ] / systemic_through
        g.add_node(
            bed,
            kind="capillary_bed",
            organ=organ,
            label=f"{r['label']}: capillaries",
            diameter=diam[organ],
            volume=vol,
        )
        g.add_node(tissue, kind="tissue", organ=organ, label=r["label"])
        g.add_edge("left_heart", bed, channel="blood", flow=arterial[organ])
        g.add_edge(bed, tissue, channel="lymph", flow=lymph[organ])
    # venous drainage: the gut's, spleen's and pancreas's veins join in the portal vein,
    # which feeds the liver sinusoids together with the hepatic artery
    for organ, r in row_of.items():
        if organ in ("lung", "liver"):
            continue
        g.add_edge(
            f"{organ}_bed",
            r["venous_drainage"],
            channel="blood",
            flow=through[organ] - lymph[organ],
        )
    portal = sum(d["flow"] for _, _, d in g.in_edges("portal_vein", data=True))
    g.add_edge("portal_vein", "liver_bed", channel="blood", flow=portal)
    g.add_edge(
        "liver_bed",
        row_of["liver"]["venous_drainage"],
        channel="blood",
        flow=arterial["liver"] + portal - lymph["liver"],
    )

    # lymph nodes and ducts
    node_vol = float(phys["lymph_node_volume_ml"]["value"])
    duct_vol = float(phys["lymph_duct_volume_ml"]["value"])
    for r in t["lymph_nodes"]:
        g.add_node(r["node"], kind="lymph_node", label=r["label"], volume=node_vol)
    for name, label in (
        ("cisterna_chyli", "Cisterna chyli"),
        ("thoracic_duct", "Thoracic duct"),
        ("right_lymphatic_duct", "Right lymphatic duct"),
    ):
        g.add_node(name, kind="lymph_duct", label=label, volume=duct_vol)
    for organ, r in row_of.items():
        if lymph[organ] > 0:
            for node, share in _split(r["lymph_nodes"]).items():
                g.add_edge(organ, node, channel="lymph", flow=lymph[organ] * share)
    drains = {r["node"]: _split(r["drains_to"]) for r in t["lymph_nodes"]}
    drains["cisterna_chyli"] = {"thoracic_duct": 1.0}
    drains["thoracic_duct"] = {"venous_return": 1.0}
    drains["right_lymphatic_duct"] = {"venous_return": 1.0}
    lymph_sub = nx.DiGraph((u, v) for u, d in drains.items() for v in d)
    fed = set()
    for organ in row_of:
        for node in g.successors(organ):
            fed |= {node} | nx.descendants(lymph_sub, node)
    # lymph-node groups that no organ of this body drains into (parasternal nodes in a
    # body without breast) are left out rather than given zero flow
    g.remove_nodes_from([r["node"] for r in t["lymph_nodes"] if r["node"] not in fed])
    for node in nx.topological_sort(lymph_sub):
        if node not in drains or node not in g:
            continue
        inflow = sum(d["flow"] for _, _, d in g.in_edges(node, data=True))
        for target, share in drains[node].items():
            g.add_edge(node, target, channel="lymph", flow=inflow * share)
    # close the circulation through the heart and lungs
    vr = sum(d["flow"] for _, _, d in g.in_edges("venous_return", data=True))
    g.add_edge("venous_return", "right_heart", channel="blood", flow=vr)
    g.add_edge("right_heart", "lung_bed", channel="blood", flow=vr)
    lung_out = vr + arterial["lung"] - lymph["lung"]
    g.add_edge("lung_bed", "left_heart", channel="blood", flow=lung_out)
    validate(g)
    return g


def _sources() -> list[str]:
    t = _tables()
    seen: list[str] = []
    for table in ("blood_flow", "capillaries", "lymph_nodes"):
        for r in t[table]:
            if r["source"] not in seen:
                seen.append(r["source"])
    for v in t["physiology"].values():
        if isinstance(v, Mapping) and "source" in v and v["source"] not in seen:
            seen.append(v["source"])
    return seen


def _positive_number(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise BodyError(f"`{name}` must be a positive number (got {x!r})")
    x = float(x)
    if not math.isfinite(x) or x <= 0:
        raise BodyError(f"`{name}` must be a positive finite number (got {x!r})")
    return x


# --------------------------------------------------------------------------- validation
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


def problems(graph: Any) -> list[str]:
    """List every rule of the body model that ``graph`` breaks (empty if valid).

    See :func:`validate` for the rules.

    Examples
    --------
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
        if k in ("capillary_bed", "tissue") and not isinstance(d.get("organ"), str):
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

    flows_ok = True
    for u, v, d in graph.edges(data=True):
        ch = d.get("channel")
        if ch not in CHANNELS:
            out.append(f"edge {u!r} -> {v!r}: unknown channel {ch!r} (expected 'blood' or 'lymph')")
        msg = _flow_problem(u, v, d)
        if msg:
            out.append(msg)
            flows_ok = False
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
    if not flows_ok:
        return out
    # balance
    for n in graph.nodes:
        fin = sum(float(d["flow"]) for _, _, d in graph.in_edges(n, data=True))
        fout = sum(float(d["flow"]) for _, _, d in graph.out_edges(n, data=True))
        if abs(fin - fout) > FLOW_RTOL * max(fin, fout):
            out.append(
                f"node {n!r}: flows do not balance: in {fin!r} mL/min, out {fout!r} mL/min "
                f"(relative tolerance {FLOW_RTOL:g})"
            )
        if fin == 0 and fout == 0 and kinds.get(n) != "tissue":
            out.append(f"node {n!r}: no flow reaches or leaves it (isolated)")
    # reachability over positive-flow edges
    pos = nx.DiGraph()
    pos.add_nodes_from(
        n
        for n in graph
        if not (kinds.get(n) == "tissue" and graph.in_degree(n, weight="flow") == 0)
    )
    pos.add_edges_from(
        (u, v)
        for u, v, d in graph.edges(data=True)
        if float(d["flow"]) > 0 and u in pos and v in pos
    )
    pools = [n for n, k in kinds.items() if k == "pool"]
    if pools and pos.number_of_nodes():
        heart = "left_heart" if "left_heart" in pos else pools[0]
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
    carry their ``organ``, and each bed feeds exactly its own tissue; pools, beds,
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


# --------------------------------------------------------------------------- queries
def organs(graph: nx.DiGraph) -> list[str]:
    """Organs of a body, in node order (each has a capillary bed and a tissue).

    Examples
    --------
    >>> "liver" in organs(default_body())
    True
    """
    return [d["organ"] for _, d in graph.nodes(data=True) if d.get("kind") == "capillary_bed"]


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
    """Per-organ table: blood inflow, its share of cardiac output, lymph outflow, and
    the first capillary bed that cells leaving the organ by blood meet.

    Parameters
    ----------
    graph : networkx.DiGraph
        A valid body.

    Returns
    -------
    pandas.DataFrame
        Indexed by organ, columns ``blood_inflow_ml_min``, ``pct_cardiac_output``,
        ``lymph_outflow_ml_min``, ``lymph_nodes`` (first regional nodes),
        ``first_bed_downstream``, ``capillary_diameter_um``.

    Examples
    --------
    >>> table = summary(default_body())
    >>> table.loc["colon_rectum", "first_bed_downstream"]
    'liver'
    >>> table.loc["breast" if "breast" in table.index else "prostate", "first_bed_downstream"]
    'lung'
    """
    validate(graph)
    co = float(graph.graph.get("cardiac_output") or _left_heart_output(graph))
    rows = []
    for organ in organs(graph):
        bed = bed_of(graph, organ)
        tissue = tissue_of(graph, organ)
        inflow = sum(
            float(d["flow"])
            for _, _, d in graph.in_edges(bed, data=True)
            if d["channel"] == "blood"
        )
        lymph_out = sum(float(d["flow"]) for _, _, d in graph.out_edges(tissue, data=True))
        rows.append(
            {
                "organ": organ,
                "blood_inflow_ml_min": inflow,
                "pct_cardiac_output": 100.0 * inflow / co,
                "lymph_outflow_ml_min": lymph_out,
                "lymph_nodes": ", ".join(str(v) for v in graph.successors(tissue)),
                "first_bed_downstream": _first_bed(graph, bed),
                "capillary_diameter_um": float(graph.nodes[bed]["diameter"]),
            }
        )
    return pd.DataFrame(rows).set_index("organ")


def _left_heart_output(graph: nx.DiGraph) -> float:
    if "left_heart" in graph:
        return sum(float(d["flow"]) for _, _, d in graph.out_edges("left_heart", data=True))
    return max(sum(float(d["flow"]) for _, _, d in graph.out_edges(n, data=True)) for n in graph)


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
            return str(graph.nodes[v]["organ"])
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
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

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
    ref = "left_heart" if "left_heart" in index else nodes[0]
    co = float(
        cardiac_output
        if cardiac_output is not None
        else g.graph.get("cardiac_output") or _left_heart_output(g)
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
    by the left heart in proportion to their flows, so the cardiac output is kept.

    Examples
    --------
    >>> body = default_body()
    >>> more = scale_organ_flow(body, "brain", 1.5)
    >>> old = body.edges["left_heart", "brain_bed"]["flow"]
    >>> round(more.edges["left_heart", "brain_bed"]["flow"] / old, 6)
    1.5
    """
    validate(graph)
    factor = _positive_number(factor, "factor")
    bed = bed_of(graph, organ)
    if not graph.has_edge("left_heart", bed):
        raise UnknownNameError(f"organ {organ!r} has no arterial supply from 'left_heart'")
    g = graph.copy()
    out = [(v, float(d["flow"])) for _, v, d in g.out_edges("left_heart", data=True)]
    total = sum(f for _, f in out)
    old = float(g.edges["left_heart", bed]["flow"])
    new = old * factor
    rest = total - old
    if new >= total:
        raise BodyError(
            f"`factor` {factor!r} would give organ {organ!r} more than the cardiac output"
        )
    for v, f in out:
        g.edges["left_heart", v]["flow"] = new if v == bed else f * (total - new) / rest
    balanced = balance_flows(g)
    # balance_flows keeps splits, so the arterial shares set above are exact
    return validate(balanced)
