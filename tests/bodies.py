"""Tiny hand-built bodies for the tests, as plain functions (importable from any test module).

The tiny body, with flows in mL/min (cardiac output 100)::

    left_heart --60--> kidney_bed --59--> venous_return --101--> right_heart --101--> lung_bed
               --40--> muscle_bed --38--> venous_return                                |
    kidney_bed --1--> kidney --1--> node --4--> duct --4--> venous_return             |
    muscle_bed --2--> muscle --2--> node                                               |
    lung_bed --1--> lung --1--> node;  lung_bed --100--> left_heart <------------------'

Every flow is a small integer stored as a float, so the balance is exact.
"""

from __future__ import annotations

import networkx as nx

__all__ = ["tiny_body", "tiny_portal_body", "tiny_serosal_body", "TINY_ORGANS"]

TINY_ORGANS = ("lung", "kidney", "muscle")


def tiny_body() -> nx.DiGraph:
    """A valid body with 3 pools, 3 organs (lung, kidney, muscle), one lymph node, one duct."""
    g = nx.DiGraph()
    g.graph.update(
        name="tiny",
        sex="none",
        cardiac_output=100.0,
        units={"flow": "mL/min", "volume": "mL", "diameter": "um"},
        sources=["hand-made for tests"],
    )
    for pool in ("venous_return", "right_heart", "left_heart"):
        g.add_node(pool, kind="pool", volume=100.0)
    for organ, diameter in (("lung", 6.0), ("kidney", 8.0), ("muscle", 7.0)):
        g.add_node(f"{organ}_bed", kind="capillary_bed", organ=organ, diameter=diameter, volume=5.0)
        g.add_node(organ, kind="tissue", organ=organ)
    g.add_node("node", kind="lymph_node", volume=1.0)
    g.add_node("duct", kind="lymph_duct", volume=2.0)
    blood = [
        ("left_heart", "kidney_bed", 60.0),
        ("left_heart", "muscle_bed", 40.0),
        ("kidney_bed", "venous_return", 59.0),
        ("muscle_bed", "venous_return", 38.0),
        ("venous_return", "right_heart", 101.0),
        ("right_heart", "lung_bed", 101.0),
        ("lung_bed", "left_heart", 100.0),
    ]
    lymph = [
        ("kidney_bed", "kidney", 1.0),
        ("muscle_bed", "muscle", 2.0),
        ("lung_bed", "lung", 1.0),
        ("kidney", "node", 1.0),
        ("muscle", "node", 2.0),
        ("lung", "node", 1.0),
        ("node", "duct", 4.0),
        ("duct", "venous_return", 4.0),
    ]
    for u, v, f in blood:
        g.add_edge(u, v, channel="blood", flow=f)
    for u, v, f in lymph:
        g.add_edge(u, v, channel="lymph", flow=f)
    return g


def tiny_portal_body() -> nx.DiGraph:
    """The tiny body plus a gut draining by a portal vein into a liver (cardiac output 100).

    The muscle's arterial flow is cut to 20; the other 20 go to the gut (10) and the
    hepatic artery (10). Gut: 1 lymph, 9 to the portal vein; liver: 10 + 9 in, 1 lymph,
    18 to the venous return.
    """
    g = tiny_body()
    g.add_node("portal_vein", kind="pool", volume=10.0)
    for organ in ("gut", "liver"):
        g.add_node(f"{organ}_bed", kind="capillary_bed", organ=organ, diameter=10.0, volume=5.0)
        g.add_node(organ, kind="tissue", organ=organ)
    g.edges["left_heart", "muscle_bed"]["flow"] = 20.0
    g.edges["muscle_bed", "venous_return"]["flow"] = 18.0
    for u, v, ch, f in (
        ("left_heart", "gut_bed", "blood", 10.0),
        ("left_heart", "liver_bed", "blood", 10.0),
        ("gut_bed", "portal_vein", "blood", 9.0),
        ("portal_vein", "liver_bed", "blood", 9.0),
        ("liver_bed", "venous_return", "blood", 17.0),
        ("gut_bed", "gut", "lymph", 1.0),
        ("liver_bed", "liver", "lymph", 2.0),
        ("gut", "node", "lymph", 1.0),
        ("liver", "node", "lymph", 2.0),
    ):
        g.add_edge(u, v, channel=ch, flow=f)
    # the node now carries 4 + 3 = 7
    g.edges["node", "duct"]["flow"] = 7.0
    g.edges["duct", "venous_return"]["flow"] = 7.0
    # venous return: 59 + 18 + 17 + 7 = 101
    return g


def tiny_serosal_body() -> nx.DiGraph:
    """The tiny body with the issue-12 conventions (cardiac output 100): a serosal organ
    ``pleura`` (tissue ``serosal=True``) holding the lung (``cavity="pleura"``), and the
    lymph node's blood bed ``node_hev`` (``node_group="node"``, no tissue).

    The muscle's arterial flow is cut to 30; the other 10 go to the pleura (5: 1 lymph, 4
    to the venous return) and to the node's bed (5, all to the venous return).
    """
    g = tiny_body()
    g.add_node("pleura_bed", kind="capillary_bed", organ="pleura", diameter=8.0, volume=1.0)
    g.add_node("pleura", kind="tissue", organ="pleura", serosal=True)
    g.nodes["lung"]["cavity"] = "pleura"
    g.add_node("node_hev", kind="capillary_bed", node_group="node", diameter=8.0, volume=1.0)
    g.edges["left_heart", "muscle_bed"]["flow"] = 30.0
    g.edges["muscle_bed", "venous_return"]["flow"] = 28.0
    for u, v, ch, f in (
        ("left_heart", "pleura_bed", "blood", 5.0),
        ("pleura_bed", "venous_return", "blood", 4.0),
        ("pleura_bed", "pleura", "lymph", 1.0),
        ("pleura", "node", "lymph", 1.0),
        ("left_heart", "node_hev", "blood", 5.0),
        ("node_hev", "venous_return", "blood", 5.0),
    ):
        g.add_edge(u, v, channel=ch, flow=f)
    # the node now carries 4 + 1 = 5; venous return: 59 + 28 + 4 + 5 + 5 = 101
    g.edges["node", "duct"]["flow"] = 5.0
    g.edges["duct", "venous_return"]["flow"] = 5.0
    return g
