"""The drawing of a body shared by the HTML view and the static figure: positions, styles, labels.

Both :func:`circnet.render_html` (vis-network on a canvas) and
:func:`circnet.plots.draw_body` (matplotlib) draw a body with what this module decides:

Positions
    Fixed schematic positions from ``data/layout.csv`` (heart and lungs in the middle,
    organs around, lymph nodes near their organs; chosen by circnet, not measured).
    Nodes that table does not know (user bodies, new nodes) start next to their placed
    neighbours (a seeded spring layout with the known nodes fixed). Then
    :func:`spread` moves nodes apart until no two *boxes* overlap, where a node's box
    holds its shape at its largest drawn size and its label below it, measured with the
    font size of the page: every label is drawn and no label covers another label or
    node. Canvas units, y down (as on the page).
Labels
    A node's label is its name: the name circnet's functions, overlay keys and the
    command line accept (``liver``, ``liver_bed``, ``celiac_nodes``).
Styles
    Shape, fill, border and size by node ``kind`` (:data:`KIND_STYLES`); blood edges red
    when arterial (to and from the left heart), blue when venous; lymph green (dashed
    from a bed to its tissue: the filtration and extravasation route)
    (:data:`EDGE_COLOURS`); edge width grows with ``log10(flow)``.
Overlay scale
    A value ``v >= 0`` of an overlay whose largest value is ``vmax`` is drawn with
    ``t = sqrt(v / vmax)`` (so the drawn area follows the value): radius
    ``OVERLAY_RADIUS[0] + (OVERLAY_RADIUS[1] - OVERLAY_RADIUS[0]) * t`` and colour
    ``CMAP`` at ``0.15 + 0.85 t``; a zero is a small grey dot (:func:`overlay_style`).
    ``data/templates/app.js`` follows the same rule.

Examples
--------
>>> from circnet import default_body
>>> from circnet._view_layout import positions, boxes, overlaps
>>> body = default_body()
>>> pos = positions(body)
>>> overlaps(boxes(body, pos))
[]
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

import networkx as nx
import numpy as np

from ._files import data_text, read_data_csv

__all__ = [
    "KIND_STYLES",
    "OTHER_STYLE",
    "KIND_TEXT",
    "EDGE_COLOURS",
    "EDGE_TEXT",
    "CMAP",
    "OVERLAY_RADIUS",
    "vis_options",
    "font_size",
    "node_label",
    "label_width",
    "positions",
    "boxes",
    "overlaps",
    "spread",
    "cardiac_output",
    "arterial_pools",
    "edge_class",
    "edge_width",
    "overlay_style",
    "colour_at",
]

#: Shape (vis-network name), fill, border and radius (canvas units) of each node kind.
KIND_STYLES: dict[str, dict[str, Any]] = {
    "pool": {"shape": "diamond", "color": "#c62828", "border": "#7f0000", "size": 24},
    "capillary_bed": {"shape": "dot", "color": "#f0964a", "border": "#a65314", "size": 15},
    "tissue": {"shape": "square", "color": "#f3d9b1", "border": "#8d6e63", "size": 11},
    "lymph_node": {"shape": "triangle", "color": "#81c784", "border": "#2e7d32", "size": 14},
    "lymph_duct": {"shape": "triangleDown", "color": "#388e3c", "border": "#1b5e20", "size": 14},
}
#: The style of a node of any other kind.
OTHER_STYLE: dict[str, Any] = {"shape": "dot", "color": "#bdbdbd", "border": "#616161", "size": 10}
#: Legend text of each node kind.
KIND_TEXT = {
    "pool": "blood pool",
    "capillary_bed": "capillary bed",
    "tissue": "tissue (organ)",
    "lymph_node": "lymph node group",
    "lymph_duct": "lymph duct",
}
#: Edge colours: arterial and venous blood, lymph, bed -> tissue (filtration/extravasation).
EDGE_COLOURS = {
    "arterial": "#d32f2f",
    "venous": "#1e63c4",
    "lymph": "#2e9d3a",
    "filtration": "#7cb342",
}
#: Legend text of each edge class.
EDGE_TEXT = {
    "arterial": "blood, arterial",
    "venous": "blood, venous",
    "lymph": "lymph",
    "filtration": "bed to its tissue (filtrate; the way out of a lodged cell)",
}
#: Sequential colour map of overlay values (light to dark purple; clear of red/blue/green).
CMAP = ("#efedf5", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f", "#3f007d")
#: Radius (canvas units) of an overlay node with the smallest and the largest value.
OVERLAY_RADIUS = (6.0, 30.0)
_ZERO_RADIUS = 5.0
_ZERO_FILL = "#eeeeee"

# Advance widths (em) of DejaVu Sans, the widest of the fonts the page may get
# ("Helvetica, Arial, sans-serif" falls back to it on Linux): a label measured with
# them is at least as wide as drawn.
_WIDTHS = dict(
    zip(
        "abcdefghijklmnopqrstuvwxyz",
        (0.62, 0.63, 0.56, 0.64, 0.62, 0.35, 0.64, 0.63, 0.28, 0.28, 0.58, 0.28, 0.97)
        + (0.63, 0.61, 0.63, 0.64, 0.42, 0.52, 0.39, 0.63, 0.59, 0.82, 0.59, 0.59, 0.52),
        strict=True,
    )
)
_WIDTHS.update({"_": 0.5, "-": 0.36, ".": 0.32, ":": 0.34, "(": 0.39, ")": 0.39, " ": 0.32})
_WIDTHS.update(dict.fromkeys("0123456789", 0.64))
_WIDE = 0.8  # capitals and anything else (a CJK glyph is ~1 em: the label is then wider)
_GAP = 10.0  # canvas units kept free around every box


# --------------------------------------------------------------------------- data
@lru_cache(maxsize=1)
def _layout_table() -> dict[str, tuple[float, float]]:
    return {r["node"]: (float(r["x"]), float(r["y"])) for r in read_data_csv("layout.csv")}


@cache
def _options_text() -> str:
    return data_text("templates/vis-options.json")


def vis_options() -> dict[str, Any]:
    """The vis-network options of the page (``data/templates/vis-options.json``), a new copy."""
    return dict(json.loads(_options_text()))


def font_size() -> float:
    """The label font size of the page (canvas units), from the vis-network options."""
    return float(vis_options()["nodes"]["font"]["size"])


def style(kind: Any) -> dict[str, Any]:
    """The style of a node kind (:data:`KIND_STYLES`, else :data:`OTHER_STYLE`)."""
    return KIND_STYLES.get(kind, OTHER_STYLE) if isinstance(kind, str) else OTHER_STYLE


# --------------------------------------------------------------------------- labels
def node_label(n: Any) -> str:
    """The drawn label of node ``n``: its name, as the API and the command line accept it."""
    return str(n)


def label_width(text: str, size: float) -> float:
    """Width (canvas units) of ``text`` drawn at font ``size``, an upper estimate.

    Examples
    --------
    >>> round(label_width("liver", 20.0), 1)
    46.8
    """
    em = sum(_WIDTHS.get(ch, _WIDE) for ch in text)
    return em * size + 3.0  # + the white stroke around the glyphs


# --------------------------------------------------------------------------- positions
def _anchors(body: nx.DiGraph, n: Any) -> list[list[Any]]:
    """The nodes ``n`` is drawn next to, best first: the tissue of its organ or its
    lymph-node group (``node_group``); else the nodes feeding it; else those it feeds
    (blood pools left out: a pool links to everything)."""
    d = body.nodes[n]
    own = [
        d[key]
        for key in ("organ", "node_group")
        if isinstance(d.get(key), str) and d[key] in body and d[key] != n
    ]

    def not_pool(nodes: Any) -> list[Any]:
        return [m for m in nodes if body.nodes[m].get("kind") != "pool" and m != n]

    return [own, not_pool(body.predecessors(n)), not_pool(body.successors(n))]


def _free_spot(
    anchor: np.ndarray, outward: np.ndarray, box: tuple[float, float, float, float],
    taken: list[tuple[float, float, float, float]],
) -> np.ndarray:  # fmt: skip
    """The first point on rings around ``anchor`` (outward first) where ``box`` (relative to
    its node) overlaps nothing taken."""
    a0 = math.atan2(outward[1], outward[0])
    steps = [0.0] + [s * k * math.pi / 8 for k in range(1, 9) for s in (1, -1)]
    t = np.array(taken, dtype=float).reshape(-1, 4)
    for r in (80.0, 120.0, 170.0, 230.0, 300.0, 380.0, 470.0):
        for da in steps:
            p = anchor + r * np.array([math.cos(a0 + da), math.sin(a0 + da)])
            b = np.array(box) + np.array([p[0], p[1], p[0], p[1]])
            g = _GAP
            hit = (
                (b[0] - g < t[:, 2]) & (t[:, 0] < b[2] + g) & (b[1] - g < t[:, 3])
                & (t[:, 1] < b[3] + g)
            )  # fmt: skip
            if not hit.any():
                return p
    return anchor + 80.0 * outward


def _initial(body: nx.DiGraph, radius: Mapping[Any, float] | None, labels: bool) -> dict[Any, Any]:
    """data/layout.csv; every node the table does not know goes to a free spot next to
    the nodes it belongs with (:func:`_anchors`), away from the middle of the drawing."""
    table = _layout_table()
    pos: dict[Any, tuple[float, float]] = {
        n: table[n] for n in body if isinstance(n, str) and n in table
    }
    missing = [n for n in body if n not in pos]
    if not missing:
        return pos
    if not pos:
        und = nx.Graph()
        und.add_nodes_from(body)
        und.add_edges_from(body.edges())
        sl = nx.spring_layout(und, seed=0, scale=650)
        return {n: (float(x), float(y)) for n, (x, y) in sl.items()}
    rel = {n: boxes(body, {n: (0.0, 0.0)}, radius, labels=labels)[n] for n in missing}
    taken = list(boxes(body, pos, radius, labels=labels).values())
    golden = math.pi * (3 - math.sqrt(5))
    anchors = {n: _anchors(body, n) for n in missing}
    for i in range(len(missing)):
        # next: the node with the most placed anchors (then: any placed neighbour)
        left = [n for n in missing if n not in pos]
        score = {n: sum(m in pos for tier in anchors[n] for m in tier) for n in left}
        n = max(left, key=lambda m: score[m])
        tiers = [[pos[m] for m in tier if m in pos] for tier in anchors[n]]
        near = next(
            (t for t in tiers if t), [pos[m] for m in nx.all_neighbors(body, n) if m in pos]
        )
        centre = np.mean(np.array(list(pos.values()), dtype=float), axis=0)
        anchor = np.mean(np.array(near, dtype=float), axis=0) if near else centre
        out = anchor - centre
        if np.hypot(*out) < 1e-9:
            out = np.array([math.cos(golden * (i + 1)), math.sin(golden * (i + 1))])
        p = _free_spot(anchor, out / np.hypot(*out), rel[n], taken)
        pos[n] = (float(p[0]), float(p[1]))
        taken.append(tuple(np.array(rel[n]) + np.array([p[0], p[1], p[0], p[1]])))
    return pos


def boxes(
    body: nx.DiGraph,
    pos: Mapping[Any, tuple[float, float]],
    radius: Mapping[Any, float] | None = None,
    *,
    labels: bool = True,
) -> dict[Any, tuple[float, float, float, float]]:
    """Box ``(left, top, right, bottom)`` of each node: its shape and its label below.

    ``radius`` gives a node's largest drawn radius (default: its kind's size). The
    label's place is vis-network's: top ``font/2 + 4`` below the shape, one font high.
    """
    fs = font_size()
    out = {}
    for n, (x, y) in pos.items():
        r = (
            float(radius[n])
            if radius is not None and n in radius
            else style(body.nodes[n].get("kind"))["size"]
        )
        half = max(r, label_width(node_label(n), fs) / 2) if labels else r
        bottom = y + r + 1.5 * fs + 4.0 if labels else y + r
        out[n] = (x - half, y - r, x + half, bottom)
    return out


def overlaps(box: Mapping[Any, tuple[float, float, float, float]]) -> list[tuple[Any, Any]]:
    """Pairs of nodes whose boxes overlap (in the order of ``box``)."""
    keys = list(box)
    a = np.array([box[k] for k in keys], dtype=float).reshape(-1, 4)
    hit = (
        (a[:, None, 0] < a[None, :, 2])
        & (a[None, :, 0] < a[:, None, 2])
        & (a[:, None, 1] < a[None, :, 3])
        & (a[None, :, 1] < a[:, None, 3])
    )
    i, j = np.nonzero(np.triu(hit, 1))
    return [(keys[p], keys[q]) for p, q in zip(i.tolist(), j.tolist(), strict=True)]


def spread(
    pos: Mapping[Any, tuple[float, float]],
    box: Mapping[Any, tuple[float, float, float, float]],
    *,
    gap: float = _GAP,
    max_rounds: int = 2000,
) -> dict[Any, tuple[float, float]]:
    """Move nodes apart until no two boxes (grown by ``gap``) overlap.

    Each round, every overlapping pair is pushed apart along the axis where it
    overlaps least, each node by half the overlap; deterministic. Nodes whose boxes
    overlap nothing do not move.
    """
    keys = list(pos)
    n = len(keys)
    if n < 2:
        return dict(pos)
    xy = np.array([pos[k] for k in keys], dtype=float)
    b = np.array([box[k] for k in keys], dtype=float)
    off = np.column_stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2]) - xy
    half = np.column_stack([(b[:, 2] - b[:, 0]) / 2, (b[:, 3] - b[:, 1]) / 2]) + gap / 2
    idx = np.arange(n)
    tie = np.sign(idx[:, None] - idx[None, :]).astype(float)[:, :, None]
    for _ in range(max_rounds):
        c = xy + off
        d = c[:, None, :] - c[None, :, :]  # i - j
        over = half[:, None, :] + half[None, :, :] - np.abs(d)
        hit = (over[:, :, 0] > 0) & (over[:, :, 1] > 0)
        np.fill_diagonal(hit, False)
        if not hit.any():
            break
        axis = np.where(over[:, :, 0] < over[:, :, 1], 0, 1)
        sign = np.where(d == 0, tie, np.sign(d))  # same centre: the later node goes right/down
        push = np.zeros((n, n, 2))
        for k in (0, 1):
            sel = hit & (axis == k)
            push[:, :, k] = np.where(sel, sign[:, :, k] * (over[:, :, k] / 2 + 0.5), 0.0)
        xy = xy + push.sum(axis=1)
    return {k: (float(x), float(y)) for k, (x, y) in zip(keys, xy, strict=True)}


def positions(
    body: nx.DiGraph, radius: Mapping[Any, float] | None = None, *, labels: bool = True
) -> dict[Any, tuple[float, float]]:
    """Position (canvas units, y down) of every node: schematic, spread so nothing overlaps.

    ``radius``: a node's largest drawn radius when an overlay makes it larger than its
    kind's size. ``labels``: leave room for the labels.
    """
    pos = _initial(body, radius, labels)
    pos = spread(pos, boxes(body, pos, radius, labels=labels))
    return {n: (round(x, 2), round(y, 2)) for n, (x, y) in pos.items()}


# --------------------------------------------------------------------------- edges and flows
def cardiac_output(body: nx.DiGraph) -> float:
    """The body's ``cardiac_output`` attribute, else the outflow of the left heart (mL/min)."""
    co = body.graph.get("cardiac_output")
    if isinstance(co, numbers.Real) and not isinstance(co, bool) and float(co) > 0:
        return float(co)
    if "left_heart" in body:
        return sum(float(d["flow"]) for _, _, d in body.out_edges("left_heart", data=True))
    return max(sum(float(d["flow"]) for _, _, d in body.out_edges(n, data=True)) for n in body)


def arterial_pools(body: nx.DiGraph) -> set[Any]:
    """The arterial pool: ``left_heart``, else the pool feeding the most capillary beds."""
    if "left_heart" in body and body.nodes["left_heart"].get("kind") == "pool":
        return {"left_heart"}
    pools = [n for n, d in body.nodes(data=True) if d.get("kind") == "pool"]
    if not pools:
        return set()

    def beds_fed(p: Any) -> int:
        return sum(1 for v in body.successors(p) if body.nodes[v].get("kind") == "capillary_bed")

    return {max(pools, key=beds_fed)}


def edge_class(body: nx.DiGraph, u: Any, v: Any, arterial: set[Any]) -> str:
    """``arterial``, ``venous``, ``lymph`` or ``filtration`` (a bed's lymph edge)."""
    d = body.edges[u, v]
    if d.get("channel") == "lymph":
        if body.nodes[u].get("kind") == "capillary_bed":
            return "filtration"
        return "lymph"
    return "arterial" if (u in arterial or v in arterial) else "venous"


def edge_width(flow: float) -> float:
    """Drawn width (canvas units) of an edge carrying ``flow`` mL/min."""
    return round(0.5 + 0.9 * math.log10(1.0 + max(flow, 0.0) / 0.01), 3)


# --------------------------------------------------------------------------- overlay scale
def colour_at(t: float) -> str:
    """The colour of :data:`CMAP` at ``t`` in [0, 1], as ``#rrggbb``."""
    t = min(max(float(t), 0.0), 1.0)
    x = t * (len(CMAP) - 1)
    i = min(int(math.floor(x)), len(CMAP) - 2)
    f = x - i
    a = [int(CMAP[i][k : k + 2], 16) for k in (1, 3, 5)]
    b = [int(CMAP[i + 1][k : k + 2], 16) for k in (1, 3, 5)]
    return "#" + "".join(f"{round(p + (q - p) * f):02x}" for p, q in zip(a, b, strict=True))


def overlay_style(value: float, vmax: float) -> tuple[float, str]:
    """(radius, fill) of a node showing ``value`` on an overlay whose largest value is
    ``vmax`` (the rule of the module docstring).

    Examples
    --------
    >>> overlay_style(4.0, 4.0), overlay_style(0.0, 4.0)
    ((30.0, '#3f007d'), (5.0, '#eeeeee'))
    """
    if value <= 0 or vmax <= 0:
        return _ZERO_RADIUS, _ZERO_FILL
    t = math.sqrt(min(value / vmax, 1.0))
    lo, hi = OVERLAY_RADIUS
    return lo + (hi - lo) * t, colour_at(0.15 + 0.85 * t)
