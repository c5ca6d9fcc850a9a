"""Interactive HTML views of a body graph: one self-contained file, opened in a browser.

:func:`render_html` draws a body (see :mod:`circnet.body`) as a vis-network graph and
writes it as ONE HTML file that needs no network: the vis-network JavaScript and CSS
(shipped inside the pyvis package, dual Apache-2.0/MIT licensed, licence header kept)
are inlined, and a Content-Security-Policy forbids every request.

pyvis builds the network (nodes, edges, options); circnet owns the page. pyvis 0.3.2
has traps that this module steps around: it links Bootstrap from a CDN even with
``cdn_resources="in_line"``, writes ``lib/`` into the working directory with
``"local"``, shows node titles with ``innerHTML`` as soon as one contains "href",
inserts ``heading`` raw, and ``from_nx`` changes the caller's graph. So: no pyvis
template, no ``from_nx``, no ``heading``; the body is only read.

The drawing
    Nodes sit at fixed schematic positions from ``data/layout.csv`` (heart and lungs in
    the middle, organs around, lymph nodes near their organs); nodes that table does not
    know (user bodies) are placed next to their neighbours by a seeded spring layout.
    Shape and colour by ``kind``; blood edges red when arterial (to and from the left
    heart), blue when venous; lymph edges green (dashed from a bed to its tissue: the
    filtration and extravasation route); edge width grows with ``log10(flow)``.
    Hovering a node shows its numbers as plain text: kind, organ, flow in and out
    (mL/min), share of cardiac output, volume (mL), capillary diameter (um), overlay.

Overlays
    A :class:`pandas.Series` (or mapping) of non-negative values keyed by node names or
    by circnet state/fate labels ``prefix:name``: ``transit:<node>``, ``lodged:<bed or
    organ>``, ``trapped:<lymph node>``, ``node:<lymph node>``, ``tissue:<organ>`` and
    ``colony:<organ>`` (both on the organ's tissue node), and ``dead`` (shown as text in
    the legend). Values falling on one node are summed; node size and colour follow the
    square root of the value. A :class:`pandas.DataFrame` indexed by time (days, ...)
    with such labels as columns adds a time control (slider, play/pause, readout).

Safety
    Every user-supplied text (node names, labels, organ names, title, overlay labels) is
    HTML-escaped in the page, travels to JavaScript as JSON with ``<``, ``>`` and ``&``
    escaped, and reaches the screen as text only (canvas labels, ``textContent``, and
    vis-network >= 9 string tooltips, which it sets with ``innerText``).
"""

from __future__ import annotations

import csv
import html
import json
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from .body import tissue_of, validate
from .errors import CircnetError, ParameterError, UnknownNameError
from .io import atomic_write

__all__ = ["render_html", "LABEL_PREFIXES", "KIND_STYLES", "EDGE_COLOURS"]

#: Prefixes of circnet state and fate labels that an overlay may use (plus ``"dead"``).
LABEL_PREFIXES = ("transit", "lodged", "trapped", "tissue", "colony", "node")
_DEAD = "dead"
_DEAD_TARGET = object()  # where the label "dead" falls: the legend, not a node

#: vis-network shape, fill, border and size of each node kind.
KIND_STYLES: dict[str, dict[str, Any]] = {
    "pool": {"shape": "diamond", "color": "#c62828", "border": "#7f0000", "size": 24},
    "capillary_bed": {"shape": "dot", "color": "#f0964a", "border": "#a65314", "size": 15},
    "tissue": {"shape": "square", "color": "#f3d9b1", "border": "#8d6e63", "size": 11},
    "lymph_node": {"shape": "triangle", "color": "#81c784", "border": "#2e7d32", "size": 14},
    "lymph_duct": {"shape": "triangleDown", "color": "#388e3c", "border": "#1b5e20", "size": 14},
}
_OTHER_STYLE = {"shape": "dot", "color": "#bdbdbd", "border": "#616161", "size": 10}
_KIND_TEXT = {
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
_EDGE_TEXT = {
    "arterial": "blood, arterial",
    "venous": "blood, venous",
    "lymph": "lymph",
    "filtration": "bed to its tissue (filtrate; the way out of a lodged cell)",
}
# sequential colour map of overlay values (light to dark purple; clear of red/blue/green)
_CMAP = ("#efedf5", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f", "#3f007d")


# --------------------------------------------------------------------------- data
@lru_cache(maxsize=1)
def _layout_table() -> dict[str, tuple[float, float]]:
    text = resources.files("circnet").joinpath("data", "layout.csv").read_text("utf-8")
    return {r["node"]: (float(r["x"]), float(r["y"])) for r in csv.DictReader(text.splitlines())}


@lru_cache(maxsize=1)
def _vis_assets() -> tuple[str, str, str]:
    """(version, minified JS, CSS) of the newest vis-network >= 9 shipped with pyvis."""
    lib = resources.files("pyvis").joinpath("templates", "lib")
    found = []
    try:
        for d in lib.iterdir():
            m = re.fullmatch(r"vis-(\d+)\.(\d+)\.(\d+)", d.name)
            if m and int(m.group(1)) >= 9 and d.joinpath("vis-network.min.js").is_file():
                found.append((tuple(int(x) for x in m.groups()), d))
    except (FileNotFoundError, NotADirectoryError):
        pass
    if not found:
        raise CircnetError(
            "render_html needs the vis-network files that pyvis ships in "
            "pyvis/templates/lib/vis-9.x/; none found (is pyvis >= 0.3.2 installed?)"
        )
    version, d = max(found)
    js = d.joinpath("vis-network.min.js").read_text("utf-8")
    css = d.joinpath("vis-network.css").read_text("utf-8")
    return ".".join(map(str, version)), js, css


# --------------------------------------------------------------------------- helpers
def _fmt(x: float) -> str:
    """Short human number: 6,500 / 123.4 / 0.04929 / 1.234e-05."""
    x = float(x)
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 1e-3:
        return format(x, ".4g")
    return f"{x:.3e}"


def _json_for_script(obj: Any) -> str:
    """JSON that is safe inside a <script> element: no '<', '>' or '&' characters."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for ch, esc in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return text


def _inline_script(js: str) -> str:
    # a literal "</script" (or "<!--") would end or confuse the element; "<\/" means "</" in JS
    return re.sub(r"<(/script|!--)", r"<\\\1", js, flags=re.IGNORECASE)


def _vis_ids(body: nx.DiGraph) -> dict[Any, str]:
    ids = {n: str(n) for n in body}
    if len(set(ids.values())) < len(ids):  # e.g. nodes 1 and "1"
        ids = {n: f"{i}:{n}" for i, n in enumerate(body)}
    return ids


def _positions(body: nx.DiGraph) -> dict[Any, tuple[float, float]]:
    """Schematic position of every node: data/layout.csv, else near its neighbours."""
    table = _layout_table()
    pos: dict[Any, tuple[float, float]] = {
        n: table[n] for n in body if isinstance(n, str) and n in table
    }
    missing = [n for n in body if n not in pos]
    if not missing:
        return pos
    und = nx.Graph()
    und.add_nodes_from(body)
    und.add_edges_from(body.edges())
    if not pos:
        sl = nx.spring_layout(und, seed=0, scale=650)
        return {n: (float(x), float(y)) for n, (x, y) in sl.items()}
    golden = math.pi * (3 - math.sqrt(5))
    init = {n: np.array(p, dtype=float) for n, p in pos.items()}
    for i, n in enumerate(missing):
        near = [pos[m] for m in und.neighbors(n) if m in pos]
        a = golden * (i + 1)
        if near:
            cx, cy = np.mean(near, axis=0)
            r = 70.0
        else:
            cx, cy, r = 0.0, 0.0, 900.0 + 15.0 * i
        init[n] = np.array([cx + r * math.cos(a), cy + r * math.sin(a)])
    sl = nx.spring_layout(und, pos=init, fixed=list(pos), k=110.0, iterations=100, seed=0)
    for n in missing:
        pos[n] = (float(sl[n][0]), float(sl[n][1]))
    return pos


def _cardiac_output(body: nx.DiGraph) -> float:
    co = body.graph.get("cardiac_output")
    if isinstance(co, numbers.Real) and not isinstance(co, bool) and co > 0:
        return float(co)
    if "left_heart" in body:
        return sum(float(d["flow"]) for _, _, d in body.out_edges("left_heart", data=True))
    return max(sum(float(d["flow"]) for _, _, d in body.out_edges(n, data=True)) for n in body)


def _arterial_pools(body: nx.DiGraph) -> set[Any]:
    if "left_heart" in body and body.nodes["left_heart"].get("kind") == "pool":
        return {"left_heart"}
    pools = [n for n, d in body.nodes(data=True) if d.get("kind") == "pool"]
    if not pools:
        return set()

    def beds_fed(p: Any) -> int:
        return sum(1 for v in body.successors(p) if body.nodes[v].get("kind") == "capillary_bed")

    return {max(pools, key=beds_fed)}


def _edge_class(body: nx.DiGraph, u: Any, v: Any, arterial: set[Any]) -> str:
    d = body.edges[u, v]
    if d.get("channel") == "lymph":
        if body.nodes[u].get("kind") == "capillary_bed":
            return "filtration"
        return "lymph"
    return "arterial" if (u in arterial or v in arterial) else "venous"


def _edge_width(flow: float) -> float:
    return round(0.5 + 0.9 * math.log10(1.0 + max(flow, 0.0) / 0.01), 3)


def _short(text: str) -> str:
    return re.sub(r"\s*\([^)]*\)", "", text).strip() or text


def _display_label(body: nx.DiGraph, n: Any) -> str:
    """Drawn label: organ name on the bed, none on its tissue, short names elsewhere."""
    d = body.nodes[n]
    kind, organ = d.get("kind"), d.get("organ")
    if kind == "tissue" and any(
        body.nodes[u].get("kind") == "capillary_bed" for u in body.predecessors(n)
    ):
        return ""
    if kind == "capillary_bed" and isinstance(organ, str):
        tissue = next(
            (v for v in body.successors(n) if body.nodes[v].get("kind") == "tissue"), None
        )
        text = _short(str(body.nodes[tissue].get("label", ""))) if tissue is not None else ""
        if not text or len(text) > 24:
            text = organ.replace("_", " ").capitalize()
        return text
    return _short(str(d.get("label", n)))


def _node_title(body: nx.DiGraph, n: Any, co: float) -> str:
    d = body.nodes[n]
    kind = d.get("kind")
    lines = [str(d.get("label", n))]
    lines.append(f"id: {n}")
    lines.append(f"kind: {_KIND_TEXT.get(kind, kind)}")
    if d.get("organ") is not None:
        lines.append(f"organ: {d['organ']}")
    for side, edges in (("in", body.in_edges(n, data=True)), ("out", body.out_edges(n, data=True))):
        by = {"blood": 0.0, "lymph": 0.0}
        for _, _, e in edges:
            by[e.get("channel", "blood")] = by.get(e.get("channel", "blood"), 0.0) + float(
                e["flow"]
            )
        total = sum(by.values())
        text = f"flow {side}: {_fmt(total)} mL/min"
        if by["blood"] > 0 and by["lymph"] > 0:
            text += f" (blood {_fmt(by['blood'])}, lymph {_fmt(by['lymph'])})"
        elif total > 0:
            text += " (blood)" if by["blood"] > 0 else " (lymph)"
        lines.append(text)
    fin = sum(float(e["flow"]) for _, _, e in body.in_edges(n, data=True))
    lines.append(f"share of cardiac output: {100.0 * fin / co:.3g} %")
    if "volume" in d:
        lines.append(f"volume: {_fmt(d['volume'])} mL")
    if "diameter" in d:
        lines.append(f"capillary diameter: {_fmt(d['diameter'])} um")
    return "\n".join(lines)


# --------------------------------------------------------------------------- overlays
def _label_target(body: nx.DiGraph, label: Any) -> Any:
    """The node an overlay label falls on, or ``_DEAD_TARGET``; UnknownNameError if none."""
    if label in body:  # nx.Graph.__contains__ is False for unhashable labels
        return label
    if isinstance(label, str) and label == _DEAD:
        return _DEAD_TARGET
    why = (
        "it is neither a node of the body nor a state/fate label "
        f"({', '.join(p + ':<name>' for p in LABEL_PREFIXES)}, or 'dead')"
    )
    if isinstance(label, str) and ":" in label:
        prefix, name = label.split(":", 1)
        kind = body.nodes[name].get("kind") if name in body else None
        if prefix in ("tissue", "colony"):
            if kind == "tissue":
                return name
            try:
                return tissue_of(body, name)
            except UnknownNameError as err:
                raise UnknownNameError(f"overlay label {label!r}: {err}") from err
        if prefix == "lodged":
            if kind == "capillary_bed":
                return name
            for m, dm in body.nodes(data=True):
                if dm.get("kind") == "capillary_bed" and dm.get("organ") == name:
                    return m
            why = f"{name!r} is not a capillary bed or an organ of the body"
        elif prefix in ("trapped", "node"):
            if kind == "lymph_node":
                return name
            why = f"{name!r} is not a lymph node of the body"
        elif prefix == "transit":
            if kind is not None:
                return name
            why = f"{name!r} is not a node of the body"
    raise UnknownNameError(f"unknown overlay label {label!r}: {why}")


@dataclass(frozen=True)
class _Overlay:
    name: str
    table: pd.DataFrame  # rows: frames; columns: body nodes (summed values)
    labels: dict[Any, list[str]]  # node -> overlay labels that fell on it
    dead: list[float] | None
    times: list[str] | None  # readout text per frame (None for a single snapshot)
    time_label: str


def _overlay(body: nx.DiGraph, overlay: Any) -> _Overlay:
    if isinstance(overlay, Mapping) and not isinstance(overlay, pd.Series):
        overlay = pd.Series(dict(overlay), dtype=float)
    if isinstance(overlay, pd.Series):
        name = "value" if overlay.name is None else str(overlay.name)
        frame = overlay.to_frame().T
        timed = False
    elif isinstance(overlay, pd.DataFrame):
        name = "value" if overlay.columns.name is None else str(overlay.columns.name)
        frame = overlay
        timed = True
        if len(frame.index) == 0:
            raise ParameterError("`overlay` DataFrame has no rows (one row per time expected)")
    else:
        raise ParameterError(
            "`overlay` must be None, a pandas.Series (or mapping) of values by label, or a "
            "pandas.DataFrame indexed by time with labels as columns "
            f"(got {type(overlay).__name__})"
        )
    targets = [_label_target(body, c) for c in frame.columns]
    try:
        values = frame.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ParameterError(f"`overlay` values must be numbers ({err})") from err
    for j, label in enumerate(frame.columns):
        col = values[:, j]
        bad = ~np.isfinite(col) | (col < 0)
        if bad.any():
            raise ParameterError(
                f"`overlay` value of {label!r} must be a finite number >= 0 (got {col[bad][0]!r})"
            )
    node_cols: dict[Any, np.ndarray] = {}
    labels: dict[Any, list[str]] = {}
    dead = None
    for j, (label, target) in enumerate(zip(frame.columns, targets, strict=True)):
        if target is _DEAD_TARGET:
            dead = values[:, j] if dead is None else dead + values[:, j]
            continue
        node_cols[target] = node_cols.get(target, 0.0) + values[:, j]
        labels.setdefault(target, []).append(str(label))
    table = pd.DataFrame(node_cols, index=range(len(frame.index)), columns=list(node_cols))
    times = None
    time_label = "time"
    if timed:
        time_label = "time" if frame.index.name is None else str(frame.index.name)
        times = [_fmt(t) if isinstance(t, numbers.Real) else str(t) for t in frame.index]
    return _Overlay(
        name=name,
        table=table,
        labels=labels,
        dead=None if dead is None else [float(x) for x in dead],
        times=times,
        time_label=time_label,
    )


# --------------------------------------------------------------------------- the network
def _network_data(
    body: nx.DiGraph, physics: bool, node_labels: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any], dict[Any, str]]:
    from pyvis.network import Network  # the only pyvis import in circnet

    ids = _vis_ids(body)
    pos = _positions(body)
    co = _cardiac_output(body)
    arterial = _arterial_pools(body)
    net = Network(directed=True, height="100%", width="100%")
    for n, d in body.nodes(data=True):
        style = KIND_STYLES.get(d.get("kind"), _OTHER_STYLE)
        x, y = pos[n]
        label = _display_label(body, n) if node_labels else ""
        net.add_node(
            ids[n],
            label=label,
            shape=style["shape"],
            color={
                "background": style["color"],
                "border": style["border"],
                "highlight": {"background": style["color"], "border": "#000000"},
                "hover": {"background": style["color"], "border": "#000000"},
            },
            size=style["size"],
            x=round(float(x), 2),
            y=round(float(y), 2),
            title=_node_title(body, n, co),
            kind=str(d.get("kind")),
            name=str(n),
            physics=bool(physics),
        )
    for i, (u, v, d) in enumerate(body.edges(data=True)):
        cls = _edge_class(body, u, v, arterial)
        flow = float(d["flow"])
        net.add_edge(
            ids[u],
            ids[v],
            id=f"e{i}",
            color={
                "color": EDGE_COLOURS[cls],
                "highlight": "#000000",
                "hover": "#000000",
                "opacity": 0.8,
            },
            width=_edge_width(flow),
            dashes=cls == "filtration" or flow == 0,
            title=f"{u} -> {v}\n{_EDGE_TEXT[cls]}\nflow: {_fmt(flow)} mL/min",
            channel=str(d.get("channel")),
            flow=flow,
            cls=cls,
        )
    net.options = {
        "autoResize": True,
        "physics": {
            "enabled": bool(physics),
            "solver": "barnesHut",
            "barnesHut": {"springLength": 90, "avoidOverlap": 0.2},
            "stabilization": {"enabled": True, "iterations": 300},
        },
        "layout": {"randomSeed": 0, "improvedLayout": False},
        "interaction": {
            "hover": True,
            "tooltipDelay": 100,
            "dragNodes": True,
            "navigationButtons": False,
            "keyboard": False,
        },
        "nodes": {
            "borderWidth": 1.5,
            "font": {
                "size": 19,
                "face": "Helvetica, Arial, sans-serif",
                "color": "#212121",
                "strokeWidth": 3,
                "strokeColor": "#ffffff",
            },
        },
        "edges": {
            "smooth": False,
            "arrows": {"to": {"enabled": True, "scaleFactor": 0.4}},
            "selectionWidth": 1.5,
            "hoverWidth": 0.8,
        },
    }
    nodes, edges, _heading, _h, _w, options = net.get_network_data()
    # pyvis replaces an empty label by the node id: set the drawn labels here
    for item, n in zip(nodes, body.nodes, strict=True):
        item["label"] = _display_label(body, n) if node_labels else ""
    return list(nodes), list(edges), json.loads(options), ids


# --------------------------------------------------------------------------- the page
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="circnet @@VERSION@@ (vis-network @@VIS_VERSION@@)">
<title>@@TITLE@@</title>
<style>
@@VIS_CSS@@
</style>
<style>
html, body { margin: 0; height: 100%; font-family: Helvetica, Arial, sans-serif; color: #212121; }
body { display: flex; flex-direction: column; background: #fbfaf8; }
header { padding: 8px 16px 6px; border-bottom: 1px solid #ddd; background: #fff; }
header h1 { font-size: 20px; margin: 0; font-weight: 600; }
header p { margin: 2px 0 0; font-size: 13px; color: #555; }
#circnet-main { display: flex; flex: 1; min-height: 300px; }
#circnet-canvas { position: relative; flex: 1; }
#circnet-network { position: absolute; inset: 0; }
#circnet-legend { flex: none; width: 250px; box-sizing: border-box; overflow-y: auto;
  font-size: 12px; background: #fff; border-right: 1px solid #ddd; padding: 10px 12px;
  line-height: 1.5; }
#circnet-legend h2 { font-size: 12px; margin: 4px 0 2px; font-weight: 600; }
#circnet-legend h2:first-child { margin-top: 0; }
#circnet-legend .row { display: flex; align-items: flex-start; gap: 6px; }
#circnet-legend .row svg { margin-top: 3px; }
#circnet-legend svg { flex: none; }
#circnet-colourbar { height: 10px; width: 160px; border: 1px solid #999;
  background: linear-gradient(to right, @@CMAP@@); }
#circnet-colourscale { display: flex; justify-content: space-between; width: 162px; }
#circnet-dead { font-weight: 600; }
#circnet-time { display: flex; align-items: center; gap: 10px; padding: 6px 16px;
  border-top: 1px solid #ddd; background: #fff; font-size: 14px; }
#circnet-time[hidden] { display: none; }
#circnet-slider { flex: 1; }
#circnet-play { min-width: 70px; font-size: 14px; }
div.vis-tooltip { font-family: Helvetica, Arial, sans-serif; font-size: 13px; line-height: 1.4;
  background: #fffef6; border: 1px solid #999; box-shadow: 2px 2px 6px rgba(0,0,0,0.2);
  white-space: pre; }
</style>
</head>
<body>
<header>
<h1 id="circnet-title">@@TITLE@@</h1>
<p id="circnet-subtitle">@@SUBTITLE@@</p>
</header>
<div id="circnet-main">
<aside id="circnet-legend">
<h2>Nodes</h2>
@@LEGEND_NODES@@
<h2>Edges (width: log of flow)</h2>
@@LEGEND_EDGES@@
<div id="circnet-overlay-legend" @@OVERLAY_HIDDEN@@>
<h2 id="circnet-overlay-name">@@OVERLAY_NAME@@</h2>
<div>size and colour: square root of the value</div>
<div id="circnet-colourbar"></div>
<div id="circnet-colourscale"><span>0</span><span id="circnet-vmax"></span></div>
<div id="circnet-dead"></div>
</div>
<p style="margin-top:8px;color:#666">Hover a node or edge for its numbers; drag to move,
wheel to zoom. Positions are schematic.</p>
</aside>
<div id="circnet-canvas"><div id="circnet-network"></div></div>
</div>
<div id="circnet-time" @@TIME_HIDDEN@@>
<button id="circnet-play" type="button">Play</button>
<input id="circnet-slider" type="range" min="0" max="0" step="1" value="0"
  aria-label="time">
<span id="circnet-readout"></span>
</div>
<script type="application/json" id="circnet-data">@@DATA@@</script>
<script>
@@VIS_JS@@
</script>
<script>
@@APP_JS@@
</script>
</body>
</html>
"""

_APP_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("circnet-data").textContent);
  var CMAP = data.cmap;
  var nodes = new vis.DataSet(data.nodes);
  var edges = new vis.DataSet(data.edges);
  var base = {};
  data.nodes.forEach(function (n) {
    base[n.id] = { size: n.size, color: n.color, title: n.title };
  });
  var ov = data.overlay;
  var current = 0;

  function fmt(v) {
    if (v === 0) { return "0"; }
    var a = Math.abs(v);
    if (a >= 1000) { return Math.round(v).toLocaleString("en-US"); }
    if (a >= 1e-3) { return String(parseFloat(v.toPrecision(4))); }
    return v.toExponential(3);
  }
  function hex(c) { return [1, 3, 5].map(function (i) { return parseInt(c.substr(i, 2), 16); }); }
  function colour(t) {
    t = Math.max(0, Math.min(1, t));
    var x = t * (CMAP.length - 1), i = Math.min(Math.floor(x), CMAP.length - 2), f = x - i;
    var a = hex(CMAP[i]), b = hex(CMAP[i + 1]);
    var c = a.map(function (ai, k) { return Math.round(ai + (b[k] - ai) * f); });
    return "rgb(" + c.join(",") + ")";
  }
  function setFrame(i) {
    if (!ov) { return; }
    i = Math.max(0, Math.min(ov.values.length - 1, i | 0));
    current = i;
    var row = ov.values[i], upd = [];
    ov.nodes.forEach(function (id, j) {
      var v = row[j], b = base[id];
      var t = ov.vmax > 0 ? Math.sqrt(v / ov.vmax) : 0;
      var lines = [b.title, "", ov.name + ": " + fmt(v)];
      var from = ov.labels[j];
      if (from.length > 1 || from[0] !== id) { lines.push("  (from " + from.join(" + ") + ")"); }
      if (ov.times) { lines.push(ov.time_label + ": " + ov.times[i]); }
      var fill = v > 0 ? colour(0.15 + 0.85 * t) : "#eeeeee";
      upd.push({
        id: id,
        size: v > 0 ? 7 + 28 * t : 5,
        color: {
          background: fill, border: v > 0 ? "#2d004b" : "#9e9e9e",
          highlight: { background: fill, border: "#000000" },
          hover: { background: fill, border: "#000000" }
        },
        title: lines.join("\n")
      });
    });
    nodes.update(upd);
    var dead = document.getElementById("circnet-dead");
    dead.textContent = ov.dead ? "dead: " + fmt(ov.dead[i]) : "";
    if (ov.times) {
      document.getElementById("circnet-slider").value = String(i);
      document.getElementById("circnet-readout").textContent =
        ov.time_label + ": " + ov.times[i];
    }
  }

  if (ov) {
    document.getElementById("circnet-vmax").textContent = fmt(ov.vmax);
    setFrame(0);
  }
  var container = document.getElementById("circnet-network");
  var network = new vis.Network(container, { nodes: nodes, edges: edges }, data.options);
  network.once("afterDrawing", function () { network.fit({ animation: false }); });

  var timer = null;
  if (ov && ov.times) {
    var slider = document.getElementById("circnet-slider");
    var play = document.getElementById("circnet-play");
    var n = ov.values.length;
    var step = Math.max(1, Math.ceil(n / 150));
    slider.max = String(n - 1);
    slider.addEventListener("input", function () { stop(); setFrame(Number(slider.value)); });
    function stop() {
      if (timer !== null) { clearInterval(timer); timer = null; }
      play.textContent = "Play";
    }
    play.addEventListener("click", function () {
      if (timer !== null) { stop(); return; }
      if (current >= n - 1) { setFrame(0); }
      play.textContent = "Pause";
      timer = setInterval(function () {
        if (current >= n - 1) { stop(); return; }
        setFrame(Math.min(n - 1, current + step));
      }, 100);
    });
  }
  window.network = network;
  window.circnet = {
    network: network, nodes: nodes, edges: edges, setFrame: setFrame,
    frame: function () { return current; }, overlay: ov
  };
})();
"""


def _legend_nodes(kinds: list[str]) -> str:
    svg = {
        "diamond": '<polygon points="8,1 15,8 8,15 1,8"',
        "dot": '<circle cx="8" cy="8" r="6"',
        "square": '<rect x="2" y="2" width="12" height="12"',
        "triangle": '<polygon points="8,2 15,14 1,14"',
        "triangleDown": '<polygon points="1,2 15,2 8,14"',
    }
    rows = []
    for kind in kinds:
        s = KIND_STYLES.get(kind, _OTHER_STYLE)
        shape = svg[s["shape"]]
        rows.append(
            f'<div class="row"><svg width="16" height="16" aria-hidden="true">{shape} '
            f'fill="{s["color"]}" stroke="{s["border"]}" stroke-width="1.5"/></svg>'
            f"{html.escape(_KIND_TEXT.get(kind, str(kind)))}</div>"
        )
    return "\n".join(rows)


def _legend_edges(classes: list[str]) -> str:
    rows = []
    for cls in classes:
        dash = ' stroke-dasharray="4,3"' if cls == "filtration" else ""
        rows.append(
            f'<div class="row"><svg width="28" height="10" aria-hidden="true">'
            f'<line x1="1" y1="5" x2="27" y2="5" stroke="{EDGE_COLOURS[cls]}" '
            f'stroke-width="3"{dash}/></svg>{html.escape(_EDGE_TEXT[cls])}</div>'
        )
    return "\n".join(rows)


def render_html(
    body: nx.DiGraph,
    path: str | Path,
    overlay: pd.Series | pd.DataFrame | Mapping[Any, float] | None = None,
    *,
    title: str | None = None,
    physics: bool = False,
    node_labels: bool = True,
) -> Path:
    """Write an interactive, self-contained HTML view of a body graph.

    The page works offline from a ``file://`` address: vis-network is inlined and a
    Content-Security-Policy blocks every request. Nodes sit at fixed schematic
    positions (``data/layout.csv``; other nodes next to their neighbours), shaped and
    coloured by kind; blood edges are red (arterial) or blue (venous), lymph edges
    green, widths grow with the log of the flow. Hovering a node shows its numbers.

    Parameters
    ----------
    body : networkx.DiGraph
        A valid body (see :mod:`circnet.body`); it is only read, never changed.
    path : str or pathlib.Path
        The HTML file to write (atomically; parent folders are created).
    overlay : pandas.Series, mapping, pandas.DataFrame or None
        Values to show on the nodes, keyed by node name or by state/fate label:
        ``transit:<node>``, ``lodged:<bed or organ>``, ``trapped:<lymph node>``,
        ``node:<lymph node>``, ``tissue:<organ>`` / ``colony:<organ>`` (the organ's
        tissue node), and ``dead`` (shown as text in the legend). Values landing on
        one node are summed; node size and colour follow their square root; the
        tooltip shows them. A Series' ``name`` names the values. A DataFrame indexed
        by time (its index name, e.g. ``"day"``, labels the readout) with labels as
        columns adds a slider and a play button that step through its rows; its
        ``columns.name`` names the values.
    title : str, optional
        Page heading (shown as text). Default: the body's ``name`` graph attribute.
    physics : bool, default False
        Let vis-network's physics move the nodes from their schematic positions.
    node_labels : bool, default True
        Draw node labels (tooltips are always there).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    BodyError
        ``body`` is not a valid body.
    UnknownNameError
        An overlay label is neither a node nor a state/fate label of this body.
    ParameterError
        An overlay of the wrong type, or a value that is negative or not finite.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import pandas as pd
    >>> from circnet import default_body, render_html
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> out = render_html(default_body("female"), folder / "body.html")
    >>> text = out.read_text(encoding="utf-8")
    >>> "<script src=" in text, "new vis.Network" in text
    (False, True)
    >>> fates = pd.Series({"colony:liver": 0.002, "colony:lung": 0.001, "dead": 0.997},
    ...                   name="probability")
    >>> render_html(default_body(), folder / "fates.html", fates, title="Colon cells").name
    'fates.html'
    >>> course = pd.DataFrame(
    ...     {"colony:liver": [0.0, 2.0, 9.0], "node:mesenteric_nodes": [1.0, 3.0, 4.0]},
    ...     index=pd.Index([0, 30, 60], name="day"),
    ... )
    >>> render_html(default_body(), folder / "course.html", course).exists()
    True
    """
    validate(body)
    if not isinstance(physics, bool) or not isinstance(node_labels, bool):
        raise ParameterError("`physics` and `node_labels` must be True or False")
    if title is not None and not isinstance(title, str):
        raise ParameterError(f"`title` must be a string (got {type(title).__name__})")
    ov = None if overlay is None else _overlay(body, overlay)
    nodes, edges, options, ids = _network_data(body, physics, node_labels)

    ov_data = None
    if ov is not None:
        values = ov.table.to_numpy(dtype=float)
        vmax = float(values.max()) if values.size else 0.0
        ov_data = {
            "name": ov.name,
            "nodes": [ids[n] for n in ov.table.columns],
            "labels": [ov.labels[n] for n in ov.table.columns],
            "values": values.tolist(),
            "vmax": vmax,
            "dead": ov.dead,
            "times": ov.times,
            "time_label": ov.time_label,
        }
    data = {
        "nodes": nodes,
        "edges": edges,
        "options": options,
        "overlay": ov_data,
        "cmap": list(_CMAP),
    }

    g = body.graph
    heading = title if title is not None else str(g.get("name") or "circnet body")
    sub = [f"{body.number_of_nodes()} nodes, {body.number_of_edges()} edges"]
    if g.get("name") and title is not None:
        sub.insert(0, str(g["name"]))
    sub.append(f"cardiac output {_fmt(_cardiac_output(body))} mL/min")
    if g.get("sex"):
        sub.append(f"sex: {g['sex']}")
    kinds = [k for k in KIND_STYLES if any(d.get("kind") == k for _, d in body.nodes(data=True))]
    classes = [c for c in EDGE_COLOURS if any(e.get("cls") == c for e in edges)]

    from . import __version__

    vis_version, vis_js, vis_css = _vis_assets()
    parts = {
        "VERSION": html.escape(__version__),
        "VIS_VERSION": html.escape(vis_version),
        "TITLE": html.escape(heading),
        "SUBTITLE": html.escape(" · ".join(sub)),
        "CMAP": ", ".join(_CMAP),
        "LEGEND_NODES": _legend_nodes(kinds),
        "LEGEND_EDGES": _legend_edges(classes),
        "OVERLAY_HIDDEN": "" if ov is not None else "hidden",
        "OVERLAY_NAME": html.escape(ov.name if ov is not None else ""),
        "TIME_HIDDEN": "" if (ov is not None and ov.times) else "hidden",
        "DATA": _json_for_script(data),
        "VIS_CSS": re.sub(r"</(style)", r"<\\/\1", vis_css, flags=re.IGNORECASE),
        "VIS_JS": _inline_script(vis_js),
        "APP_JS": _APP_JS,
    }
    page = re.sub(r"@@([A-Z_]+)@@", lambda m: parts[m.group(1)], _PAGE)
    path = Path(path)
    with atomic_write(path) as fh:
        fh.write(page)
    return path
