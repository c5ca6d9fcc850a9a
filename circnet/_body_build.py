"""Building the reference adult body from the sourced tables in ``circnet/data``.

:func:`build_reference_body` turns the tables (blood-flow shares, capillary diameters,
lymph-node groups and their drainage, ``physiology.yaml``) into a body graph; the
public :func:`circnet.body.default_body` checks its arguments, calls it and validates
the result. The node names made here (``left_heart``, ``X_bed`` ...) are those of the
default body only: no other module relies on them (see :mod:`circnet.body`).

Examples
--------
>>> g = build_reference_body("male", 6500.0)
>>> g.nodes["liver_bed"]["kind"], round(g.graph["cardiac_output"])
('capillary_bed', 6500)
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import networkx as nx
import yaml

from ._files import data_text, read_data_csv

__all__ = [
    "UNITS",
    "TABLES",
    "PLEXUS",
    "tables",
    "reference_cardiac_output",
    "build_reference_body",
]

UNITS = {"flow": "mL/min", "volume": "mL", "diameter": "um", "time": "min"}
#: The CSV tables the default body is built from (each row carries a ``source``).
TABLES = ("blood_flow", "capillaries", "lymph_nodes")
#: Name of the vertebral venous plexus pool (Batson) in the default body.
PLEXUS = "vertebral_venous_plexus"


@lru_cache(maxsize=1)
def tables() -> dict[str, Any]:
    """The sourced tables (rows as dicts of strings) and ``physiology`` (parsed YAML)."""
    out: dict[str, Any] = {name: read_data_csv(f"{name}.csv") for name in TABLES}
    out["physiology"] = yaml.safe_load(data_text("physiology.yaml"))
    return out


def reference_cardiac_output(sex: str) -> float:
    """The ICRP 89 reference cardiac output of ``sex`` in mL/min."""
    return float(tables()["physiology"]["cardiac_output_ml_min"][sex])


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


def _sources() -> list[str]:
    t = tables()
    seen: list[str] = []
    for table in TABLES:
        for r in t[table]:
            if r["source"] not in seen:
                seen.append(r["source"])
    for v in t["physiology"].values():
        if isinstance(v, Mapping) and "source" in v and v["source"] not in seen:
            seen.append(v["source"])
    return seen


def build_reference_body(sex: str, co: float) -> nx.DiGraph:
    """The reference body of ``sex`` ("male" or "female") with cardiac output ``co`` (mL/min).

    Arguments are taken as checked; the graph is returned unvalidated.
    """
    t = tables()
    phys = t["physiology"]
    blood_volume = float(phys["blood_volume_ml"][sex])
    col = f"{sex}_pct_co"
    node_share = float(phys["lymph_node_blood_flow_pct_co"][sex]) / 100.0
    plexus = phys["vertebral_venous_plexus"]

    # organ shares of cardiac output; the remainder row takes what the named rows and the
    # lymph-node beds leave
    rows = [r for r in t["blood_flow"] if r[col].strip()]
    shares: dict[str, float] = {}
    for r in rows:
        if r[col].strip() != "remainder":
            shares[r["organ"]] = float(r[col]) / 100.0
    for r in rows:
        if r[col].strip() == "remainder":
            shares[r["organ"]] = 1.0 - node_share - sum(shares.values())
    diam = {r["organ"]: float(r["diameter_um"]) for r in t["capillaries"]}
    row_of = {r["organ"]: r for r in rows}
    venous = {o: _split(r["venous_drainage"]) for o, r in row_of.items()}

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
    if any(PLEXUS in v for v in venous.values()):
        g.add_node(
            PLEXUS,
            kind="pool",
            label="Vertebral venous plexus (Batson)",
            volume=float(plexus["volume_ml"]),
        )

    # arterial flows and bed throughput
    arterial = {o: s * co for o, s in shares.items()}
    portal_in = sum(arterial[o] * venous[o].get("portal_vein", 0.0) for o in row_of)
    through = dict(arterial)
    through["liver"] = arterial["liver"] + portal_in
    # lymph per organ, apportioned by blood flow through the bed (assumption documented in data/)
    no_lymph = set(phys["lymph_apportionment"]["no_lymphatics"])
    lymph_total = float(phys["total_lymph_flow_ml_min"]["value"])
    with_lymph = [o for o in shares if o not in no_lymph and row_of[o]["lymph_nodes"].strip()]
    denom = sum(through[o] for o in with_lymph)
    lymph = {o: (lymph_total * through[o] / denom if o in with_lymph else 0.0) for o in shares}
    # the plexus takes its share of each organ's venous outflow and drains through a marrow bed
    to_plexus = {o: (through[o] - lymph[o]) * venous[o].get(PLEXUS, 0.0) for o in row_of}
    plexus_bed = str(plexus["drains_to"])
    if PLEXUS in g:
        through[plexus_bed] += sum(to_plexus.values())

    systemic_cap = bvf["systemic_capillaries"] * blood_volume
    systemic_through = sum(v for o, v in through.items() if o != "lung") + node_share * co
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
        if r.get("serosal", "").strip().lower() == "true":
            g.nodes[tissue]["serosal"] = True
        if r.get("cavity", "").strip():
            g.nodes[tissue]["cavity"] = r["cavity"].strip()
        g.add_edge("left_heart", bed, channel="blood", flow=arterial[organ])
        g.add_edge(bed, tissue, channel="lymph", flow=lymph[organ])
    # venous drainage: the gut's, spleen's and pancreas's veins join in the portal vein,
    # which feeds the liver sinusoids together with the hepatic artery
    for organ in row_of:
        if organ in ("lung", "liver"):
            continue
        out = through[organ] - lymph[organ]
        for target, share in venous[organ].items():
            g.add_edge(f"{organ}_bed", target, channel="blood", flow=out * share)
    if PLEXUS in g:
        g.add_edge(PLEXUS, f"{plexus_bed}_bed", channel="blood", flow=sum(to_plexus.values()))
    portal = sum(d["flow"] for _, _, d in g.in_edges("portal_vein", data=True))
    g.add_edge("portal_vein", "liver_bed", channel="blood", flow=portal)
    g.add_edge(
        "liver_bed",
        row_of["liver"]["venous_drainage"],
        channel="blood",
        flow=arterial["liver"] + portal - lymph["liver"],
    )
    _add_lymphatics(g, t, phys, row_of, lymph)
    _add_node_beds(g, t, node_share * co, systemic_cap / systemic_through)

    # close the circulation through the heart and lungs
    vr = sum(d["flow"] for _, _, d in g.in_edges("venous_return", data=True))
    g.add_edge("venous_return", "right_heart", channel="blood", flow=vr)
    g.add_edge("right_heart", "lung_bed", channel="blood", flow=vr)
    lung_out = vr + arterial["lung"] - lymph["lung"]
    g.add_edge("lung_bed", "left_heart", channel="blood", flow=lung_out)
    return g


def _add_node_beds(
    g: nx.DiGraph, t: Mapping[str, Any], flow: float, volume_per_flow: float
) -> None:
    """A blood-side bed ``<group>_hev`` for each lymph-node group of ``g``, sharing ``flow``
    (mL/min) by the groups' ``hev_weight``: left heart -> bed -> venous return."""
    phys = t["physiology"]
    weight = {r["node"]: float(r["hev_weight"]) for r in t["lymph_nodes"] if r["node"] in g}
    total = sum(weight.values())
    diameter = float(phys["lymph_node_capillary_diameter_um"]["value"])
    for group, w in weight.items():
        bed, f = f"{group}_hev", flow * w / total
        g.add_node(
            bed,
            kind="capillary_bed",
            node_group=group,
            label=f"{g.nodes[group]['label']}: blood capillaries and HEVs",
            diameter=diameter,
            volume=volume_per_flow * f,
        )
        g.add_edge("left_heart", bed, channel="blood", flow=f)
        g.add_edge(bed, "venous_return", channel="blood", flow=f)


def _add_lymphatics(
    g: nx.DiGraph,
    t: Mapping[str, Any],
    phys: Mapping[str, Any],
    row_of: Mapping[str, Mapping[str, str]],
    lymph: Mapping[str, float],
) -> None:
    """Lymph nodes and ducts, and the lymph flowing from the tissues through them."""
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
