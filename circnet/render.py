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
    Values keyed by node names or by state/fate labels (``colony:liver``, ``dead``, ...;
    see :mod:`circnet._overlay`); a DataFrame indexed by time adds a time control
    (slider, play/pause, readout). :func:`render_page` returns the page as text, with
    room for more content (the course report of :mod:`circnet.report` uses it).

Templates
    The page, its script and the vis-network options are package data in
    ``circnet/data/templates`` (``page.html``, ``app.js``, ``vis-options.json``); the
    page's ``@@SLOTS@@`` are filled in one pass, each with escaped text or JSON.

Safety
    Every user-supplied text (node names, labels, organ names, title, overlay labels) is
    HTML-escaped in the page, travels to JavaScript as JSON with ``<``, ``>`` and ``&``
    escaped, and reaches the screen as text only (canvas labels, ``textContent``, and
    vis-network >= 9 string tooltips, which it sets with ``innerText``). The extras of
    :func:`render_page` go in as they are: its callers escape the text they put there.
"""

from __future__ import annotations

import html
import json
import math
import numbers
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._files import atomic_write, data_text, read_data_csv
from ._format import fmt_number
from ._overlay import LABEL_PREFIXES, read_overlay
from ._validation import check_bool, check_path
from ._version import __version__
from .body import validate
from .errors import CircnetError, ParameterError

__all__ = ["render_html", "render_page", "LABEL_PREFIXES", "KIND_STYLES", "EDGE_COLOURS"]

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
    return {r["node"]: (float(r["x"]), float(r["y"])) for r in read_data_csv("layout.csv")}


@cache
def _template(name: str) -> str:
    """A file of ``circnet/data/templates`` (the page, its script, the report's style)."""
    return data_text(f"templates/{name}")


@lru_cache(maxsize=1)
def _vis_assets() -> tuple[str, str, str]:
    """(version, minified JS, CSS) of the newest vis-network >= 9 shipped with pyvis."""
    lib = resources.files("pyvis") / "templates" / "lib"
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
    if isinstance(co, numbers.Real) and not isinstance(co, bool) and float(co) > 0:
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
        text = f"flow {side}: {fmt_number(total)} mL/min"
        if by["blood"] > 0 and by["lymph"] > 0:
            text += f" (blood {fmt_number(by['blood'])}, lymph {fmt_number(by['lymph'])})"
        elif total > 0:
            text += " (blood)" if by["blood"] > 0 else " (lymph)"
        lines.append(text)
    fin = sum(float(e["flow"]) for _, _, e in body.in_edges(n, data=True))
    lines.append(f"share of cardiac output: {100.0 * fin / co:.3g} %")
    if "volume" in d:
        lines.append(f"volume: {fmt_number(d['volume'])} mL")
    if "diameter" in d:
        lines.append(f"capillary diameter: {fmt_number(d['diameter'])} um")
    return "\n".join(lines)


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
            title=f"{u} -> {v}\n{_EDGE_TEXT[cls]}\nflow: {fmt_number(flow)} mL/min",
            channel=str(d.get("channel")),
            flow=flow,
            cls=cls,
        )
    options = json.loads(_template("vis-options.json"))  # vis-network options
    options["physics"]["enabled"] = bool(physics)
    nodes, edges = net.get_network_data()[:2]
    # pyvis replaces an empty label by the node id: set the drawn labels here
    for item, n in zip(nodes, body.nodes, strict=True):
        item["label"] = _display_label(body, n) if node_labels else ""
    return list(nodes), list(edges), options, ids


# --------------------------------------------------------------------------- the page
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


def render_page(
    body: nx.DiGraph,
    overlay: pd.Series | pd.DataFrame | Mapping[Any, float] | None = None,
    *,
    title: str | None = None,
    physics: bool = False,
    node_labels: bool = True,
    extra_head: str = "",
    extra_body: str = "",
    extra_script: str = "",
) -> str:
    """The HTML text of :func:`render_html`'s page, with room for more content.

    ``body``, ``overlay``, ``title``, ``physics`` and ``node_labels`` are those of
    :func:`render_html`. The three extras are inserted as they are (trusted text:
    escape any user text in them first); the page's Content-Security-Policy still
    forbids every request, so they may not load anything either.

    Parameters
    ----------
    extra_head : str
        HTML at the end of ``<head>`` (e.g. a ``<style>`` element).
    extra_body : str
        HTML after the network and its time control.
    extra_script : str
        JavaScript run after the page's own script (``window.circnet`` is set).

    Returns
    -------
    str
        The whole page.

    Examples
    --------
    >>> from circnet import default_body
    >>> from circnet.render import render_page
    >>> page = render_page(default_body(), extra_body="<main><h2>More</h2></main>")
    >>> page.index("<h2>More</h2>") < page.index('id="circnet-data"')
    True
    """
    validate(body)
    physics = check_bool(physics, "physics")
    node_labels = check_bool(node_labels, "node_labels")
    if title is not None and not isinstance(title, str):
        raise ParameterError(f"`title` must be a string (got {type(title).__name__})")
    extras = {"extra_head": extra_head, "extra_body": extra_body, "extra_script": extra_script}
    for name, extra in extras.items():
        if not isinstance(extra, str):
            raise ParameterError(f"`{name}` must be a string (got {type(extra).__name__})")
    ov = None if overlay is None else read_overlay(body, overlay)
    nodes, edges, options, ids = _network_data(body, physics, node_labels)

    ov_data = None if ov is None else ov.page_data(ids)
    data: dict[str, Any] = {"nodes": nodes, "edges": edges, "options": options}
    data.update(overlay=ov_data, cmap=list(_CMAP))

    g = body.graph
    heading = title if title is not None else str(g.get("name") or "circnet body")
    sub = [f"{body.number_of_nodes()} nodes, {body.number_of_edges()} edges"]
    if g.get("name") and title is not None:
        sub.insert(0, str(g["name"]))
    sub.append(f"cardiac output {fmt_number(_cardiac_output(body))} mL/min")
    if g.get("sex"):
        sub.append(f"sex: {g['sex']}")
    kinds = [k for k in KIND_STYLES if any(d.get("kind") == k for _, d in body.nodes(data=True))]
    classes = [c for c in EDGE_COLOURS if any(e.get("cls") == c for e in edges)]

    vis_version, vis_js, vis_css = _vis_assets()
    script = f"<script>\n{_inline_script(extra_script)}</script>\n" if extra_script else ""
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
        "APP_JS": _inline_script(_template("app.js")),
        "EXTRA_HEAD": extra_head,
        "EXTRA_BODY": extra_body,
        "EXTRA_SCRIPT": script,
    }
    # one pass: text put in a slot is never searched for further slots
    return re.sub(r"@@([A-Z_]+)@@", lambda m: parts[m.group(1)], _template("page.html"))


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
    path = check_path(path, "path")
    page = render_page(body, overlay, title=title, physics=physics, node_labels=node_labels)
    with atomic_write(path) as fh:
        fh.write(page)
    return path
