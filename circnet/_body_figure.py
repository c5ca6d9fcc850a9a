"""A static figure of the body network (matplotlib), for papers: :func:`draw_body`.

The same drawing as the HTML view (:mod:`circnet._view_layout`): the same positions,
shapes, colours, labels (node names) and overlay scale. Shapes and labels are drawn in
data units (labels as text paths), so the figure keeps the view's proportions at any
size and its labels do not overlap, as on the page; edge widths are in points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from . import _view_layout as lay
from ._figure import figure_path, finish, target_axes
from ._format import fmt_number
from ._overlay import read_overlay
from ._validation import check_bool, check_int
from .body import validate

__all__ = ["draw_body"]

_LINE_POINTS = 0.55  # points of line width per canvas unit of edge width


def _shape(kind_shape: str, x: float, y: float, r: float, fill: str, edge: str) -> Any:
    from matplotlib.patches import Circle, Rectangle, RegularPolygon

    style: dict[str, Any] = {"facecolor": fill, "edgecolor": edge, "linewidth": 0.8, "zorder": 3}
    if kind_shape == "square":
        return Rectangle((x - r, y - r), 2 * r, 2 * r, **style)
    if kind_shape == "diamond":
        return RegularPolygon((x, y), 4, radius=r, orientation=0.0, **style)
    if kind_shape == "triangle":
        return RegularPolygon((x, y), 3, radius=r, orientation=0.0, **style)
    if kind_shape == "triangleDown":
        return RegularPolygon((x, y), 3, radius=r, orientation=math.pi, **style)
    return Circle((x, y), r, **style)


def _label(ax: Any, text: str, x: float, top: float, size: float) -> None:
    """``text`` centred on ``x``, its top at ``top`` (data units, y up), ``size`` high."""
    import matplotlib.patheffects as pe
    from matplotlib.patches import PathPatch
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    glyphs = TextPath((0, 0), text, size=size)
    xs = glyphs.vertices[:, 0] if len(glyphs.vertices) else np.zeros(1)
    x0, x1 = float(xs.min()), float(xs.max())  # control points: quick, close enough
    placed = glyphs.transformed(Affine2D().translate(x - (x0 + x1) / 2, top - 0.78 * size))
    patch = PathPatch(placed, facecolor="#212121", edgecolor="none", zorder=4)
    patch.set_path_effects([pe.Stroke(linewidth=1.6, foreground="white"), pe.Normal()])
    ax.add_artist(patch)  # not add_patch: the limits are set once, no extents to compute


def draw_body(
    body: nx.DiGraph,
    overlay: pd.Series | pd.DataFrame | Mapping[Any, float] | None = None,
    *,
    ax: Any = None,
    path: str | Path | None = None,
    frame: int = -1,
    title: str | None = None,
    node_labels: bool = True,
    legend: bool = True,
) -> Any:
    """Draw the body network as a static figure: the layout and colours of the HTML view.

    Parameters
    ----------
    body : networkx.DiGraph
        A valid body.
    overlay : pandas.Series, mapping or pandas.DataFrame, optional
        Values on the nodes, keyed as for :func:`circnet.render_html`: node area and
        colour grow with the value (legend with sample values).
    ax : matplotlib.axes.Axes, optional
        Draw on these Axes (default: a new figure).
    path : str or pathlib.Path, optional
        Write the figure here (``.png`` or ``.svg``), atomically.
    frame : int, default -1
        The row of a DataFrame overlay to draw (default: the last).
    title : str, optional
        Default: the body's ``name``.
    node_labels : bool, default True
        Label every node with its name.
    legend : bool, default True
        Node kinds, edge classes and the overlay's scale beside the drawing.

    Returns
    -------
    matplotlib.axes.Axes or pathlib.Path
        ``path`` when given, else the Axes drawn on.

    Examples
    --------
    >>> import circnet
    >>> from matplotlib.figure import Figure
    >>> from circnet.plots import draw_body
    >>> ax = Figure(figsize=(10, 8)).add_subplot()
    >>> body = circnet.default_body()
    >>> draw_body(body, {"colony:liver": 0.01, "colony:lung": 0.002}, ax=ax) is ax
    True
    >>> len(ax.patches) >= 2 * body.number_of_nodes()  # a shape and a label per node
    True
    """
    if path is not None:
        figure_path(path)
    validate(body)
    node_labels = check_bool(node_labels, "node_labels")
    legend = check_bool(legend, "legend")
    ov = None if overlay is None else read_overlay(body, overlay)
    values: dict[Any, float] = {}
    vmax = 0.0
    if ov is not None:
        n_rows = len(ov.table.index)
        frame = check_int(frame, "frame", low=-n_rows, high=n_rows - 1)
        values = {n: float(v) for n, v in ov.table.iloc[frame].items()}
        vmax = float(ov.table.to_numpy(dtype=float).max()) if values else 0.0
    radius = dict.fromkeys(values, lay.OVERLAY_RADIUS[1]) if ov is not None else None
    pos = lay.positions(body, radius, labels=node_labels)
    box = lay.boxes(body, pos, radius, labels=node_labels)
    b = np.array(list(box.values()), dtype=float).reshape(-1, 4)
    left, top, right, bottom = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    width = 11.0
    height = min(max(width * (bottom - top) / max(right - left, 1.0), 4.0), 14.0)
    ax = target_axes(ax, path, width + (2.6 if legend else 0.0), height)

    arterial = lay.arterial_pools(body)
    size = {}
    for n, d in body.nodes(data=True):
        s = lay.style(d.get("kind"))
        r, fill, edge = float(s["size"]), s["color"], s["border"]
        if n in values:
            r, fill = lay.overlay_style(values[n], vmax)
            edge = "#2d004b" if values[n] > 0 else "#9e9e9e"
        size[n] = r
        x, y = pos[n]
        ax.add_artist(_shape(s["shape"], x, -y, r, fill, edge))
        if node_labels:
            fs = lay.font_size()
            _label(ax, lay.node_label(n), x, -(y + r + fs / 2 + 4.0), fs)
    for u, v, d in body.edges(data=True):
        cls = lay.edge_class(body, u, v, arterial)
        (x0, y0), (x1, y1) = pos[u], pos[v]
        dx, dy = x1 - x0, y1 - y0
        dist = math.hypot(dx, dy) or 1.0
        shrink = size[v] / dist
        ax.annotate(
            "",
            xy=(x1 - dx * shrink, -(y1 - dy * shrink)),
            xytext=(x0, -y0),
            arrowprops={
                "arrowstyle": "-|>",
                "color": lay.EDGE_COLOURS[cls],
                "lw": lay.edge_width(float(d["flow"])) * _LINE_POINTS,
                "ls": "--" if cls == "filtration" else "-",
                "alpha": 0.8,
                "shrinkA": 0,
                "shrinkB": 0,
                "mutation_scale": 7,
            },
            zorder=2,
        )
    ax.set_xlim(left - 10, right + 10)
    ax.set_ylim(-(bottom + 10), -(top - 10))
    ax.set_aspect("equal")
    ax.set_axis_off()
    heading = title if title is not None else str(body.graph.get("name") or "circnet body")
    ax.set_title(heading, fontsize=11)
    if legend:
        _legend(ax, body, ov.name if ov is not None else None, vmax)
    return finish(ax, path)


def _legend(ax: Any, body: nx.DiGraph, name: str | None, vmax: float) -> None:
    from matplotlib.lines import Line2D

    markers = {"diamond": "D", "dot": "o", "square": "s", "triangle": "^", "triangleDown": "v"}
    present = {k for _, k in body.nodes(data="kind")}
    handles = []
    for kind in [k for k in lay.KIND_STYLES if k in present]:
        s = lay.style(kind)
        handles.append(
            Line2D(
                [],
                [],
                ls="",
                marker=markers[s["shape"]],
                ms=8,
                mfc=s["color"],
                mec=s["border"],
                label=lay.KIND_TEXT[kind],
            )  # fmt: skip
        )
    arterial = lay.arterial_pools(body)
    classes = {lay.edge_class(body, u, v, arterial) for u, v in body.edges}
    for cls in [c for c in lay.EDGE_COLOURS if c in classes]:
        text = "bed to its tissue" if cls == "filtration" else lay.EDGE_TEXT[cls]
        handles.append(
            Line2D(
                [],
                [],
                color=lay.EDGE_COLOURS[cls],
                lw=2,
                ls="--" if cls == "filtration" else "-",
                label=text,
            )  # fmt: skip
        )
    if name is not None and vmax > 0:
        for v in dict.fromkeys([vmax, float(f"{vmax / 4:.2g}"), float(f"{vmax / 16:.2g}")]):
            r, fill = lay.overlay_style(v, vmax)
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="",
                    marker="o",
                    ms=2 * r * 0.3,
                    mfc=fill,
                    mec="#2d004b",
                    label=f"{name} = {fmt_number(v)}",
                )  # fmt: skip
            )
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=8,
        frameon=False,
        title="labels: node names",
        title_fontsize=8,
    )
