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
    The layout, styles and labels are those of :mod:`circnet._view_layout` (shared with
    the static figure of :func:`circnet.plots.draw_body`): fixed schematic positions
    from ``data/layout.csv``, nodes it does not know placed next to their neighbours,
    then nodes moved apart until no node or label overlaps another; every node is
    labelled with its name, as circnet's functions and command line take it
    (``liver``, ``liver_bed``, ``celiac_nodes``). Shape and colour by ``kind``; blood
    edges red when arterial, blue when venous; lymph edges green (dashed from a bed to
    its tissue); edge width grows with ``log10(flow)``. Hovering a node shows its name
    and numbers as plain text: kind, organ, flow in and out (mL/min), share of cardiac
    output, volume (mL), capillary diameter (um), overlay.

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
import re
from collections.abc import Mapping
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd

from . import _view_layout as lay
from ._files import atomic_write, data_text
from ._format import fmt_number
from ._overlay import LABEL_PREFIXES, Overlay, read_overlay
from ._validation import check_bool, check_path
from ._version import __version__
from ._view_layout import EDGE_COLOURS, KIND_STYLES
from .body import validate
from .errors import CircnetError, ParameterError

__all__ = ["render_html", "render_page", "LABEL_PREFIXES", "KIND_STYLES", "EDGE_COLOURS"]


# --------------------------------------------------------------------------- data
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


def _node_title(body: nx.DiGraph, n: Any, co: float) -> str:
    """Tooltip: the node's name first (as the API takes it), then its numbers."""
    d = body.nodes[n]
    kind = d.get("kind")
    lines = [str(n)]
    if d.get("label") is not None and str(d["label"]) != str(n):
        lines.append(str(d["label"]))
    lines.append(f"kind: {lay.KIND_TEXT.get(kind, kind)}")
    if d.get("organ") is not None:
        lines.append(f"organ: {d['organ']}")
    if d.get("node_group") is not None:
        lines.append(f"lymph node group: {d['node_group']}")
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
    body: nx.DiGraph, physics: bool, node_labels: bool, ov: Overlay | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any], dict[Any, str]]:
    from pyvis.network import Network  # the only pyvis import in circnet

    ids = _vis_ids(body)
    # room for the largest size an overlay gives a node, and for every label
    radius = None if ov is None else dict.fromkeys(ov.table.columns, lay.OVERLAY_RADIUS[1])
    pos = lay.positions(body, radius, labels=node_labels)
    co = lay.cardiac_output(body)
    arterial = lay.arterial_pools(body)
    net = Network(directed=True, height="100%", width="100%")
    for n, d in body.nodes(data=True):
        style = lay.style(d.get("kind"))
        x, y = pos[n]
        net.add_node(
            ids[n],
            label=lay.node_label(n),
            shape=style["shape"],
            color={
                "background": style["color"],
                "border": style["border"],
                "highlight": {"background": style["color"], "border": "#000000"},
                "hover": {"background": style["color"], "border": "#000000"},
            },
            size=style["size"],
            x=x,
            y=y,
            title=_node_title(body, n, co),
            kind=str(d.get("kind")),
            name=str(n),
            physics=bool(physics),
        )
    for i, (u, v, d) in enumerate(body.edges(data=True)):
        cls = lay.edge_class(body, u, v, arterial)
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
            width=lay.edge_width(flow),
            dashes=cls == "filtration" or flow == 0,
            title=f"{u} -> {v}\n{lay.EDGE_TEXT[cls]}\nflow: {fmt_number(flow)} mL/min",
            channel=str(d.get("channel")),
            flow=flow,
            cls=cls,
        )
    options = lay.vis_options()
    options["physics"]["enabled"] = bool(physics)
    nodes, edges = net.get_network_data()[:2]
    # pyvis replaces an empty label by the node id: set the drawn labels here
    for item, n in zip(nodes, body.nodes, strict=True):
        item["label"] = lay.node_label(n) if node_labels else ""
    return list(nodes), list(edges), options, ids


# --------------------------------------------------------------------------- the legend
_SVG_SHAPES = {
    "diamond": '<polygon points="8,1 15,8 8,15 1,8"',
    "dot": '<circle cx="8" cy="8" r="6"',
    "square": '<rect x="2" y="2" width="12" height="12"',
    "triangle": '<polygon points="8,2 15,14 1,14"',
    "triangleDown": '<polygon points="1,2 15,2 8,14"',
}


def _legend_nodes(body: nx.DiGraph, kinds: list[str]) -> str:
    rows = []
    for kind in kinds:
        s = lay.style(kind)
        example = next(str(n) for n, k in body.nodes(data="kind") if k == kind)
        rows.append(
            f'<div class="row"><svg width="16" height="16" aria-hidden="true">'
            f'{_SVG_SHAPES[s["shape"]]} fill="{s["color"]}" stroke="{s["border"]}" '
            f'stroke-width="1.5"/></svg><span>{html.escape(lay.KIND_TEXT.get(kind, kind))} '
            f"<code>{html.escape(example)}</code></span></div>"
        )
    return "\n".join(rows)


def _legend_edges(classes: list[str]) -> str:
    rows = []
    for cls in classes:
        dash = ' stroke-dasharray="4,3"' if cls == "filtration" else ""
        rows.append(
            f'<div class="row"><svg width="28" height="10" aria-hidden="true">'
            f'<line x1="1" y1="5" x2="27" y2="5" stroke="{EDGE_COLOURS[cls]}" '
            f'stroke-width="3"{dash}/></svg>{html.escape(lay.EDGE_TEXT[cls])}</div>'
        )
    return "\n".join(rows)


def _nice(v: float) -> float:
    """``v`` rounded to two significant digits."""
    return float(f"{v:.2g}")


def _legend_overlay(ov: Overlay) -> str:
    """What node size and colour mean, in the overlay's own values."""
    values = ov.table.to_numpy(dtype=float)
    vmax = float(values.max()) if values.size else 0.0
    name = html.escape(ov.name)
    rows = [f'<h2 id="circnet-overlay-name">{name}</h2>']
    rows.append(
        f"<div>Node size and colour show the {name} at the node: larger and darker is "
        "more (the area grows in proportion).</div>"
    )
    samples = [vmax] + [_nice(vmax * f) for f in (0.25, 1 / 16)] if vmax > 0 else []
    samples = [v for v in dict.fromkeys(samples) if v > 0]
    for v in [*samples, 0.0]:
        r, fill = lay.overlay_style(v, vmax)
        px = round(r * 0.45, 1)
        box = round(2 * lay.OVERLAY_RADIUS[1] * 0.45 + 2)
        border = "#2d004b" if v > 0 else "#9e9e9e"
        text = f"{name} = {html.escape(fmt_number(v))}" + (" (largest)" if v == vmax else "")
        rows.append(
            f'<div class="row sample"><svg width="{box}" height="{box}" aria-hidden="true">'
            f'<circle cx="{box / 2}" cy="{box / 2}" r="{px}" fill="{fill}" stroke="{border}"/>'
            f'</svg><span class="value" data-value="{v!r}">{text}</span></div>'
        )
    rows.append("<div>Nodes without a value keep their kind's shape and colour.</div>")
    rows.append('<div id="circnet-dead"></div>')
    return "\n".join(rows)


# --------------------------------------------------------------------------- the page
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
    if title is not None and any("\ud800" <= c <= "\udfff" for c in title):
        raise ParameterError("`title` must be valid Unicode text (it holds a lone surrogate)")
    extras = {"extra_head": extra_head, "extra_body": extra_body, "extra_script": extra_script}
    for name, extra in extras.items():
        if not isinstance(extra, str):
            raise ParameterError(f"`{name}` must be a string (got {type(extra).__name__})")
    ov = None if overlay is None else read_overlay(body, overlay)
    nodes, edges, options, ids = _network_data(body, physics, node_labels, ov)

    ov_data = None if ov is None else ov.page_data(ids)
    data: dict[str, Any] = {"nodes": nodes, "edges": edges, "options": options}
    scale = {"radius": list(lay.OVERLAY_RADIUS), "zero_radius": lay.overlay_style(0, 1)[0]}
    data.update(overlay=ov_data, cmap=list(lay.CMAP), scale=scale)

    g = body.graph
    heading = title if title is not None else str(g.get("name") or "circnet body")
    sub = [f"{body.number_of_nodes()} nodes, {body.number_of_edges()} edges"]
    if g.get("name") and title is not None:
        sub.insert(0, str(g["name"]))
    sub.append(f"cardiac output {fmt_number(lay.cardiac_output(body))} mL/min")
    if g.get("sex"):
        sub.append(f"sex: {g['sex']}")
    present = {d.get("kind") for _, d in body.nodes(data=True)}
    kinds = [k for k in KIND_STYLES if k in present]
    classes = [c for c in EDGE_COLOURS if any(e.get("cls") == c for e in edges)]

    vis_version, vis_js, vis_css = _vis_assets()
    script = f"<script>\n{_inline_script(extra_script)}</script>\n" if extra_script else ""
    parts = {
        "VERSION": html.escape(__version__),
        "VIS_VERSION": html.escape(vis_version),
        "TITLE": html.escape(heading),
        "SUBTITLE": html.escape(" · ".join(sub)),
        "LEGEND_NODES": _legend_nodes(body, kinds),
        "LEGEND_EDGES": _legend_edges(classes),
        "OVERLAY_HIDDEN": "" if ov is not None else "hidden",
        "OVERLAY_LEGEND": _legend_overlay(ov) if ov is not None else "",
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
        one node are summed; a node's drawn area and the darkness of its colour grow
        with its value, and the legend shows sample sizes and colours with their
        values; the tooltip shows each value. A Series' ``name`` names the values.
        A DataFrame indexed by time (its index name, e.g. ``"day"``, labels the
        readout) with labels as columns adds a slider and a play button that step
        through its rows; its ``columns.name`` names the values.
    title : str, optional
        Page heading (shown as text). Default: the body's ``name`` graph attribute.
    physics : bool, default False
        Let vis-network's physics move the nodes from their schematic positions.
    node_labels : bool, default True
        Draw node labels, the node names (tooltips are always there).

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
