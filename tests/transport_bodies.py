"""Small bodies for the transport tests: two hand-built rings and a seeded random body.

Plain functions returning valid ``networkx.DiGraph`` bodies (schema: ``circnet.body``);
each is checked with :func:`circnet.validate` before it is returned.

``ring_body``: one pool and one organ without lymph, the smallest body there is::

    left_heart --flow--> organ_bed --flow--> left_heart      (organ_bed --0--> organ)

``ring_lymph_body``: the same ring, with the organ's lymph through one node and one duct::

    left_heart --F--> organ_bed --(F - f)--> left_heart
    organ_bed --f--> organ --f--> node --f--> duct --f--> left_heart

``random_body(seed)``: venous return, right heart, lung, left heart, 1-6 systemic organs
(some draining to a portal vein and a liver, some to another organ's bed, some with
no lymph), 0-4 lymph-node groups in chains, 1-2 ducts; random splits, volumes and
diameters; balanced with :func:`circnet.balance_flows`.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

import circnet

__all__ = ["ring_body", "ring_lymph_body", "random_body"]


def _graph(name: str) -> nx.DiGraph:
    g = nx.DiGraph()
    g.graph.update(
        name=name,
        units={"flow": "mL/min", "volume": "mL", "diameter": "um"},
        sources=["hand-made for the transport tests"],
    )
    return g


def ring_body(
    *,
    flow: float = 50.0,
    heart_volume: float = 20.0,
    bed_volume: float = 4.0,
    diameter: float = 8.0,
    organ: str = "organ",
) -> nx.DiGraph:
    """One pool (``left_heart``) and one organ with no lymph, joined in a ring."""
    g = _graph("ring")
    g.graph["cardiac_output"] = float(flow)
    g.add_node("left_heart", kind="pool", volume=float(heart_volume))
    bed = f"{organ}_bed"
    g.add_node(bed, kind="capillary_bed", organ=organ, diameter=float(diameter), volume=bed_volume)
    g.add_node(organ, kind="tissue", organ=organ)
    g.add_edge("left_heart", bed, channel="blood", flow=float(flow))
    g.add_edge(bed, "left_heart", channel="blood", flow=float(flow))
    g.add_edge(bed, organ, channel="lymph", flow=0.0)
    return circnet.validate(g)


def ring_lymph_body(
    *,
    flow: float = 50.0,
    lymph: float = 2.0,
    heart_volume: float = 20.0,
    bed_volume: float = 4.0,
    node_volume: float = 1.0,
    duct_volume: float = 3.0,
    diameter: float = 8.0,
) -> nx.DiGraph:
    """The ring with the organ's lymph (``lymph`` mL/min) through ``node`` and ``duct``."""
    if not 0 < lymph < flow:
        raise ValueError("need 0 < lymph < flow")
    g = _graph("ring with lymph")
    g.graph["cardiac_output"] = float(flow)
    g.add_node("left_heart", kind="pool", volume=float(heart_volume))
    g.add_node(
        "organ_bed",
        kind="capillary_bed",
        organ="organ",
        diameter=float(diameter),
        volume=float(bed_volume),
    )
    g.add_node("organ", kind="tissue", organ="organ")
    g.add_node("node", kind="lymph_node", volume=float(node_volume))
    g.add_node("duct", kind="lymph_duct", volume=float(duct_volume))
    g.add_edge("left_heart", "organ_bed", channel="blood", flow=float(flow))
    g.add_edge("organ_bed", "left_heart", channel="blood", flow=float(flow - lymph))
    for u, v in (("organ_bed", "organ"), ("organ", "node"), ("node", "duct")):
        g.add_edge(u, v, channel="lymph", flow=float(lymph))
    g.add_edge("duct", "left_heart", channel="lymph", flow=float(lymph))
    return circnet.validate(g)


def random_body(seed: int | np.random.Generator | None = None) -> nx.DiGraph:
    """A random valid body (see the module docstring); the same seed gives the same body."""
    rng = np.random.default_rng(seed)

    def w() -> float:  # a random positive split weight
        return float(rng.uniform(0.1, 1.0))

    def vol(lo: float = 0.5, hi: float = 50.0) -> float:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    g = _graph(f"random body {seed!r}")
    for pool in ("venous_return", "right_heart", "left_heart"):
        g.add_node(pool, kind="pool", volume=vol(5.0, 500.0))
    n_organs = int(rng.integers(1, 7))
    portal = n_organs >= 2 and rng.random() < 0.5
    organs = ["lung"] + [f"organ{i}" for i in range(n_organs)]
    if portal:
        organs.append("liver")
        g.add_node("portal_vein", kind="pool", volume=vol(1.0, 50.0))
    for organ in organs:
        g.add_node(
            f"{organ}_bed",
            kind="capillary_bed",
            organ=organ,
            diameter=float(rng.uniform(4.0, 16.0)),
            volume=vol(),
        )
        g.add_node(organ, kind="tissue", organ=organ)
    # blood
    g.add_edge("venous_return", "right_heart", channel="blood", flow=1.0)
    g.add_edge("right_heart", "lung_bed", channel="blood", flow=1.0)
    g.add_edge("lung_bed", "left_heart", channel="blood", flow=1.0)
    drained_to_pool: list[str] = []
    for i in range(n_organs):
        bed = f"organ{i}_bed"
        g.add_edge("left_heart", bed, channel="blood", flow=w())
        targets = ["venous_return"]
        if portal and i < 2:  # at least one organ feeds the portal vein
            targets = ["portal_vein"]
        elif portal and rng.random() < 0.3:
            targets = ["portal_vein"]
        if drained_to_pool and rng.random() < 0.25:  # a bed downstream of another bed
            targets = [f"{rng.choice(drained_to_pool)}_bed"]
        if rng.random() < 0.2:  # a second venous route
            targets = list(dict.fromkeys(targets + ["venous_return"]))
        for t in targets:
            g.add_edge(bed, t, channel="blood", flow=w())
        if targets[0] in ("venous_return", "portal_vein"):
            drained_to_pool.append(f"organ{i}")
    if portal:
        g.add_edge("left_heart", "liver_bed", channel="blood", flow=w())
        g.add_edge("portal_vein", "liver_bed", channel="blood", flow=1.0)
        g.add_edge("liver_bed", "venous_return", channel="blood", flow=w())
    # lymph: ducts, node chains, tissues
    n_ducts = int(rng.integers(1, 3))
    ducts = [f"duct{j}" for j in range(n_ducts)]
    for j, d in enumerate(ducts):
        g.add_node(d, kind="lymph_duct", volume=vol(0.5, 10.0))
        target = ducts[j + 1] if j + 1 < n_ducts and rng.random() < 0.5 else "venous_return"
        g.add_edge(d, target, channel="lymph", flow=1.0)
    n_nodes = int(rng.integers(0, 5))
    nodes = [f"node{k}" for k in range(n_nodes)]
    for k, n in enumerate(nodes):
        g.add_node(n, kind="lymph_node", volume=vol(0.1, 5.0))
        later = nodes[k + 1 :]
        targets = [str(rng.choice(later))] if later and rng.random() < 0.6 else []
        if not targets or rng.random() < 0.3:
            targets.append(str(rng.choice(ducts)))
        for t in targets:
            g.add_edge(n, t, channel="lymph", flow=w())
    for organ in organs:
        bed = f"{organ}_bed"
        if rng.random() < 0.75:
            out = sum(d["flow"] for _, _, d in g.out_edges(bed, data=True))
            g.add_edge(bed, organ, channel="lymph", flow=out * float(rng.uniform(0.002, 0.05)))
            k = int(rng.integers(1, 3))
            for t in rng.choice(nodes + ducts, size=min(k, len(nodes + ducts)), replace=False):
                g.add_edge(organ, str(t), channel="lymph", flow=w())
        else:
            g.add_edge(bed, organ, channel="lymph", flow=0.0)
    # lymph-node groups and ducts no lymph reaches are left out (a valid body has none)
    while True:
        dry = [n for n in nodes + ducts if n in g and g.in_degree(n) == 0]
        if not dry:
            break
        g.remove_nodes_from(dry)
    g.graph["cardiac_output"] = float(rng.uniform(1000.0, 8000.0))
    return circnet.validate(circnet.balance_flows(g))
