"""The figure of a disease course: burden per site over time, and the events per site.

Top panel (:func:`draw_burden`): cells of the primary and the metastatic burden (cells in
vascular metastases) at the sites with the largest burden, log scale, with the total
metastatic burden and the detection threshold. Middle panel (:func:`draw_stages`): what is
*not* metastatic burden, in colours of its own: the number of dormant disseminated cells
and the cells in avascular micrometastases, all sites together (words of
:data:`circnet.course.COURSE_TERMS`). Bottom panel (:func:`draw_events`): one row per
site (the primary first, then the sites with the most cells disseminated); the foundings
as a strip whose colour gives the number of cells disseminated in each period (log colour
scale), so a site seeded all along reads differently from one seeded once; angiogenic
switches, detection and clearing as markers; the count of each kind of event per site at
the right end of its row; surgery and the start of an angiogenesis inhibitor as dashed
vertical lines. Used by :func:`circnet.plots.plot_course` and the course report.

A patient course (:class:`circnet.PatientCourse`) draws the same way: its expected
number of dormant cells in the middle panel, its awakened micrometastases as the strips,
diagnosis and surgery as vertical lines, and node-positive deposits and the first
distant metastasis as markers.

Examples
--------
>>> import circnet
>>> from circnet._course_figure import course_figure
>>> res = circnet.simulate_course(circnet.default_body(), "colon_rectum", 1, rng=1)
>>> fig = course_figure(res)
>>> fig.axes[1].get_title(loc="left")
'Not metastases: dormant disseminated cells and avascular micrometastases'
>>> fig.axes[2].get_title(loc="left")
'Events per site'
>>> [t.get_text() for t in fig.axes[2].get_yticklabels()][0]
'colon_rectum'

"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._figure import new_figure
from ._format import fmt_number
from ._validation import check_int
from .errors import ParameterError

__all__ = ["course_figure", "draw_burden", "draw_stages", "draw_events", "check_course"]

#: Colours of the stages (one each, used by every course picture).
STAGE_COLOURS = {
    "primary": "#000000",
    "vascular metastases": "#54278f",
    "avascular micrometastases": "#e6550d",
    "dormant disseminated cells": "#3182bd",
}

_EVENT_STYLE = {  # kind -> (marker, colour, legend text, counted as)
    "angiogenic_switch": (
        "^",
        "#d32f2f",
        "angiogenic switch (becomes vascular)",
        "angiogenic switches",
    ),
    "detectable": ("*", "#000000", "became detectable", "detected"),
    "cleared": ("x", "#616161", "tumour cleared", "cleared"),
    "node_positive": ("D", "#2e7d32", "nodal deposit > 0.2 mm (node-positive)", "node-positive"),
    "first_distant": ("P", "#c2185b", "first distant metastasis", "first distant"),
}
#: Kinds drawn as the strip of each site's row: cells disseminated (a mechanistic course)
#: or, when there are none, micrometastases awakened (a patient course).
_OPTIONAL_MARKERS = ("node_positive", "first_distant")  # in the legend only when present
_STRIP_KINDS = {"founded": "cells disseminated", "awakened": "micrometastases awakened"}
# site lines: tab10 without the colours of the stages (purple, orange, blue) and black
_SITE_COLOURS = ("#2ca02c", "#d62728", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_LINES = {
    "diagnosis": ("#616161", "diagnosis"),
    "surgery": ("#1e63c4", "surgery"),
    "inhibitor_start": ("#2e9d3a", "inhibitor from"),
}
_BINS = 80


def check_course(result: Any) -> None:
    """ParameterError unless ``result`` looks like a CourseResult."""
    for attr in ("timeseries", "events", "daily", "primary", "params"):
        if not hasattr(result, attr):
            raise ParameterError(
                f"`result` must be a CourseResult (got {type(result).__name__} without {attr!r})"
            )


def _start(result: Any) -> float:
    """First day shown (a patient course may start after day 0: ``history_from_day``)."""
    return float(getattr(result, "history_from_day", 0) or 0)


def _shown_from(result: Any) -> str:
    """`` (shown from day X, Y years before diagnosis)`` for a cut course, else ``""``."""
    start = _start(result)
    if start <= 0:
        return ""
    diag = getattr(result, "summary", {}).get("diagnosis_day", math.nan)
    try:
        years = (float(diag) - start) / 365.25
    except (TypeError, ValueError):
        years = math.nan
    before = f", {years:.3g} years before diagnosis" if math.isfinite(years) else ""
    return f" (shown from day {start:g}{before})"


def _time_scale(result: Any) -> tuple[float, str, float]:
    days = pd.to_numeric(result.timeseries["day"], errors="coerce")
    end = float(days.max()) if len(days) else 0.0
    scale, unit = (365.25, "years") if end > 730 else (1.0, "days")
    return scale, unit, end


def draw_burden(ax: Any, result: Any, *, top: int = 8, title: Any = None) -> Any:
    """Cells per site over time on ``ax`` (log scale); returns ``ax``."""
    top = check_int(top, "top", low=1)
    ts = result.timeseries
    primary = str(result.primary)
    staged = "vascular_metastasis_cells" in ts.columns
    value = "vascular_metastasis_cells" if staged else "total_cells"
    cells = ts.pivot_table(index="day", columns="site", values=value, observed=True)
    cells.columns = [str(c) for c in cells.columns]
    if staged:
        own = ts[ts["site"].astype(str) == primary]
        prim = own.set_index("day")["primary_cells"].reindex(cells.index)
    scale, unit, end_days = _time_scale(result)
    others = [c for c in cells.columns if c != primary]
    if staged:  # the primary's own site: its vascular metastases only
        others = list(cells.columns)
    ranked = cells[others].max(axis=0).sort_values(ascending=False) if others else pd.Series()
    shown = [c for c in ranked.index[: max(top - 1, 1)] if ranked[c] > 0]
    t = np.asarray(cells.index, dtype=float) / scale
    with np.errstate(divide="ignore", invalid="ignore"):
        v = None
        if staged:
            v = prim.to_numpy(dtype=float)
        elif primary in cells.columns:
            v = cells[primary].to_numpy(dtype=float)
        if v is not None:
            ax.plot(
                t,
                np.where(v > 0, v, np.nan),
                color=STAGE_COLOURS["primary"],
                lw=2.2,
                label=f"{primary} (primary)",
            )
        for i, site in enumerate(shown):
            v = cells[site].to_numpy(dtype=float)
            colour = _SITE_COLOURS[i % len(_SITE_COLOURS)]
            ax.plot(t, np.where(v > 0, v, np.nan), lw=1.4, color=colour, label=site)
        daily = result.daily
        total = "vascular_metastasis_cells" if staged else "metastatic_cells"
        if total in daily and len(daily):
            v = daily[total].to_numpy(dtype=float)
            ax.plot(
                np.asarray(daily.index, dtype=float) / scale,
                np.where(v > 0, v, np.nan),
                color=STAGE_COLOURS["vascular metastases"],
                lw=1.2,
                ls="--",
                label="metastatic burden, all sites",
            )
    det = float(getattr(result.params, "detection_cells", math.nan))
    if math.isfinite(det):
        ax.axhline(det, color="#616161", lw=0.9, ls=":")
        ax.annotate(
            f"detectable ({det:.0e} cells)",
            (0.005, det),
            xycoords=("axes fraction", "data"),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=7,
            color="#616161",
        )
    if ax.has_data():
        ax.set_yscale("log")
    what = "cells in vascular metastases" if staged else "tumour cells"
    ax.set_ylabel(f"{what} at the site\n(primary: its cells; log scale)", fontsize=8)
    ax.set_xlabel(f"time since the start ({unit})")
    ax.grid(alpha=0.3, which="major")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title is None:
        span = f"{end_days / 365.25:.3g} years" if unit == "years" else f"{end_days:g} days"
        title = f"Disease course from a primary in {primary}: {span}"
        title += _shown_from(result)
    ax.set_title(str(title), fontsize=10)
    _vertical_lines(ax, result, scale)
    ax.set_xlim(_start(result) / scale, max(end_days, 1.0) / scale)
    return ax


def draw_stages(ax: Any, result: Any) -> Any:
    """What is not metastatic burden, all sites together, on ``ax`` (log scale).

    The number of dormant disseminated cells and the cells in avascular micrometastases
    (``result.daily``), each in the colour of its stage; returns ``ax``.
    """
    scale, unit, end_days = _time_scale(result)
    daily = result.daily
    lines = (
        ("dormant_cells", "dormant disseminated cells", "dormant disseminated cells (number)"),
        (
            "expected_dormant_cells",
            "dormant disseminated cells",
            "dormant disseminated cells (expected number)",
        ),
        (
            "micrometastasis_cells",
            "avascular micrometastases",
            "cells in avascular micrometastases",
        ),
    )
    t = np.asarray(daily.index, dtype=float) / scale
    with np.errstate(invalid="ignore"):
        for column, stage, text in lines:
            if column not in daily or not len(daily):
                continue
            v = daily[column].to_numpy(dtype=float)
            colour = STAGE_COLOURS[stage]
            ax.plot(t, np.where(v > 0, v, np.nan), lw=1.4, color=colour, label=text)
    if ax.has_data():
        ax.set_yscale("log")
    ax.set_ylabel("all sites (log scale)", fontsize=8)
    ax.set_xlabel(f"time since the start ({unit})")
    ax.grid(alpha=0.3, which="major")
    ax.set_title(
        "Not metastases: dormant disseminated cells and avascular micrometastases",
        fontsize=9,
        loc="left",
    )
    if ax.has_data():
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _vertical_lines(ax, result, scale)
    ax.set_xlim(_start(result) / scale, max(end_days, 1.0) / scale)
    return ax


def _vertical_lines(ax: Any, result: Any, scale: float) -> None:
    ev = result.events
    kinds = ev["kind"].astype(str)
    for kind, (colour, text) in _LINES.items():
        for i, day in enumerate(pd.unique(ev.loc[kinds == kind, "day"])):
            ax.axvline(float(day) / scale, color=colour, lw=1.2, ls="--", label=None if i else text)


def draw_events(ax: Any, result: Any, *, rows: int = 12) -> Any:
    """The events per site on ``ax`` (see the module docstring); returns ``ax``."""
    from matplotlib.colors import LogNorm

    rows = check_int(rows, "rows", low=1)
    primary = str(result.primary)
    scale, unit, end_days = _time_scale(result)
    ev = result.events.copy()
    ev["site"] = ev["site"].astype(str)
    ev["kind"] = ev["kind"].astype(str)
    strip = next((k for k in _STRIP_KINDS if (ev["kind"] == k).any()), "founded")
    founded = ev[ev["kind"] == strip]
    per_site = founded.groupby("site")["count"].sum().sort_values(ascending=False)
    marked = ev[ev["kind"].isin(list(_EVENT_STYLE))]
    sites = list(dict.fromkeys([primary, *per_site.index, *marked["site"]]))
    hidden = max(len(sites) - rows, 0)
    sites = sites[:rows]
    row = {s: i for i, s in enumerate(sites)}
    span, start = max(end_days, 1.0), _start(result)
    edges = np.linspace(start, span, _BINS + 1)
    grid = np.zeros((len(sites), _BINS))
    sel = founded[founded["site"].isin(row) & (founded["day"] >= start)]
    if len(sel):
        b = np.clip(np.searchsorted(edges, sel["day"].to_numpy(float), side="right") - 1, 0, None)
        np.add.at(
            grid, (sel["site"].map(row).to_numpy(int), np.minimum(b, _BINS - 1)), sel["count"]
        )
    if grid.max() > 0:
        im = ax.imshow(
            np.ma.masked_less_equal(grid, 0),
            aspect="auto",
            interpolation="nearest",
            cmap="Purples",
            norm=LogNorm(vmin=1, vmax=max(grid.max(), 10)),
            extent=(start / scale, span / scale, len(sites) - 0.5, -0.5),
        )
        bar = ax.figure.colorbar(im, ax=ax, location="bottom", shrink=0.5, aspect=40, pad=0.02)
        bar.set_label(
            f"{_STRIP_KINDS[strip]} per {fmt_number((span - start) / _BINS, digits=2)} days",
            fontsize=7,
        )
        bar.ax.tick_params(labelsize=7)
    for kind, (marker, colour, text, _) in _EVENT_STYLE.items():
        if kind in _OPTIONAL_MARKERS and not (ev["kind"] == kind).any():
            continue
        e = marked[(marked["kind"] == kind) & marked["site"].isin(row)]
        n = int(e["count"].sum()) if len(e) else 0
        ax.scatter(
            e["day"].to_numpy(dtype=float) / scale,
            [row[s] for s in e["site"]],
            marker=marker,
            s=46,
            color=colour,
            label=f"{text} ({n})",
            zorder=3,
        )
    # counts per site at the right end of each row
    counts = ev[ev["site"].isin(row)].groupby(["site", "kind"])["count"].sum()
    for s, i in row.items():
        parts = []
        if (s, strip) in counts and counts[(s, strip)] > 0:
            word = "disseminated" if strip == "founded" else "awakened"
            parts.append(f"{fmt_number(int(counts[(s, strip)]))} {word}")
        for kind, (_, _, _, counted) in _EVENT_STYLE.items():
            if (s, kind) in counts and counts[(s, kind)] > 0:
                parts.append(f"{int(counts[(s, kind)])} {counted}")
        ax.annotate(
            ", ".join(parts) or "no events",
            (1.01, i),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=7,
        )
    _vertical_lines(ax, result, scale)
    ax.set_yticks(range(len(sites)), sites, fontsize=8)
    ax.set_ylim(len(sites) - 0.5, -0.5)
    ax.set_xlim(start / scale, span / scale)
    more = f"; {hidden} more sites with events not shown" if hidden else ""
    ax.set_xlabel(f"time since the start ({unit}){more}")
    ax.set_title("Events per site", fontsize=9, loc="left")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(
        fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4, frameon=False,
        handletextpad=0.2, columnspacing=1.0, borderaxespad=0.1,
    )  # fmt: skip
    return ax


def course_figure(result: Any, *, top: int = 8, title: Any = None, pyplot: bool = False) -> Any:
    """The figure of :func:`circnet.plots.plot_course` (same arguments but ``path``), unsaved
    (``pyplot``: made by pyplot, see :func:`circnet._figure.new_figure`)."""
    check_course(result)
    top = check_int(top, "top", low=1)
    fig = new_figure(9.5, 10.0, pyplot=pyplot)
    ax, mid, ax2 = fig.subplots(3, 1, sharex=True, height_ratios=[3, 1.4, 2])
    draw_burden(ax, result, top=top, title=title)
    ax.set_xlabel("")
    draw_stages(mid, result)
    mid.set_xlabel("")
    draw_events(ax2, result, rows=max(top * 2, 12))
    return fig
