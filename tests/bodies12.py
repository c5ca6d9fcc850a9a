"""Small hand-built bodies with the issue-12 conventions (serosal organ, cavity, a lymph
node's blood bed), for the transport tests.

:func:`tiny_serosal_body` is :func:`bodies.tiny_body` plus (flows in mL/min)::

    left_heart --5--> pleura_bed --4--> venous_return;  pleura_bed --1--> pleura --1--> node
    left_heart --3--> node_hev --3--> venous_return      (node_hev: node_group="node")
    lung tissue: cavity="pleura";  pleura tissue: serosal=True

The lung carries 109 (108 to the left heart, 1 lymph); the node and duct carry 5.
"""

from __future__ import annotations

import networkx as nx
from bodies import tiny_body

__all__ = ["tiny_serosal_body"]


def tiny_serosal_body() -> nx.DiGraph:
    """The tiny body with a pleura (serosal organ around the lung) and a node blood bed."""
    g = tiny_body()
    g.graph["name"] = "tiny serosal"
    g.add_node("pleura_bed", kind="capillary_bed", organ="pleura", diameter=8.0, volume=1.0)
    g.add_node("pleura", kind="tissue", organ="pleura", serosal=True)
    g.add_node("node_hev", kind="capillary_bed", node_group="node", diameter=8.0, volume=0.5)
    g.nodes["lung"]["cavity"] = "pleura"
    for u, v, ch, f in (
        ("left_heart", "pleura_bed", "blood", 5.0),
        ("pleura_bed", "venous_return", "blood", 4.0),
        ("pleura_bed", "pleura", "lymph", 1.0),
        ("pleura", "node", "lymph", 1.0),
        ("left_heart", "node_hev", "blood", 3.0),
        ("node_hev", "venous_return", "blood", 3.0),
    ):
        g.add_edge(u, v, channel=ch, flow=f)
    g.edges["lung_bed", "left_heart"]["flow"] = 108.0
    g.edges["right_heart", "lung_bed"]["flow"] = 109.0
    g.edges["venous_return", "right_heart"]["flow"] = 109.0
    g.edges["node", "duct"]["flow"] = 5.0
    g.edges["duct", "venous_return"]["flow"] = 5.0
    return g
