"""A disease-course report: one self-contained HTML file with the network, plots and tables.

:func:`course_report` writes the page of :func:`circnet.render_html` (the body with the
course as a time overlay: a slider and a play button step through the days) and adds,
below the network, the summary of the course, the plots of :mod:`circnet.plots`
(embedded as ``data:`` images, so the file needs nothing else and no network) and the
per-site and event tables. It asks :func:`circnet.render.render_page` for the page with
its own style (``data/templates/report.css``), sections and script
(``data/templates/report.js``: open at the last day). Every text that comes from the
data is HTML-escaped; the page keeps render_html's Content-Security-Policy, which
blocks every request. Numbers are written by :func:`circnet._format.fmt_number`.

:func:`course_overlay` turns a course into the overlay table: days x body nodes, the
cells of one stage at each site (by default the primary and the vascular metastases,
never the dormant disseminated cells; on a log scale by default: the primary outgrows
the metastases by orders of magnitude, and node size follows the square root of the
value). The report defines its words in a glossary (:data:`circnet.course.COURSE_TERMS`).

The course protocol: a result is a :class:`circnet.CourseResult` (the mechanistic course)
or a :class:`circnet.PatientCourse` (one patient of the clinical cohort engine), or any
object with ``primary``, ``params`` (its ``detection_cells``), ``timeseries`` (tidy:
``day, site`` and stage columns), ``events`` (``day, site, kind, count, cells``),
``daily`` (indexed by day) and ``summary``; optionally ``terms`` (the glossary, default
:data:`~circnet.course.COURSE_TERMS`), ``summary_words`` (words of the summary's keys)
and ``title``. A course with ``expected_dormant_cells`` instead of ``dormant_cells``
shows the expected number of dormant cells; one with ``ctc_per_7_5_ml`` in ``daily``
gets a CTC table.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._files import atomic_write, data_text
from ._format import fmt_number
from ._notebook import View
from ._validation import check_bool, check_choice, check_int, check_path
from ._version import __version__
from .body import organs, tissue_of
from .course import COURSE_TERMS
from .errors import OptionalDependencyError
from .plots import course_figure, fates_figure, figure_bytes, propagation_figure
from .render import render_page

__all__ = ["course_report", "course_overlay", "OVERLAY_STAGES"]

#: What :func:`course_overlay` can show: column of the time series, and its name.
OVERLAY_STAGES = {
    "metastases": (("primary_cells", "vascular_metastasis_cells"), "cells of the primary and "
                   "the vascular metastases"),
    "micrometastases": (("micrometastasis_cells",), "cells of avascular micrometastases"),
    "dormant": (("dormant_cells",), "dormant disseminated cells"),
    "all": (("total_cells",), "tumour cells"),
}  # fmt: skip
#: A patient course (:class:`circnet.PatientCourse`) gives the expected number of
#: dormant cells: the overlay's stage "dormant" reads this column when the other is absent.
_EXPECTED_DORMANT = ("expected_dormant_cells", "expected dormant disseminated cells")
_MISSING_PLOT = "plots need matplotlib, which is not installed: pip install 'circnet[plot]'"


# --------------------------------------------------------------------------- overlay
def course_overlay(
    result: Any,
    body: nx.DiGraph,
    *,
    max_frames: int = 400,
    log: bool = True,
    stage: str = "metastases",
) -> pd.DataFrame:
    """Tumour cells of one stage per site over a course, as a time overlay for :func:`render_html`.

    Parameters
    ----------
    result : CourseResult or PatientCourse
        (the course protocol of the module docstring).
    body : networkx.DiGraph
        The body of the course; an organ's cells fall on its tissue node, a lymph-node
        group's on its node.
    max_frames : int
        At most this many rows (days evenly subsampled; the last day is kept).
    log : bool
        ``log10(cells + 1)`` (default) instead of cells.
    stage : {"metastases", "micrometastases", "dormant", "all"}
        What is shown (words of :data:`circnet.course.COURSE_TERMS`): the cells of the
        primary and the vascular metastases (default: what imaging and a clinician would
        call tumour), of the avascular micrometastases, the number of dormant
        disseminated cells, or every tumour cell (all stages together).

    Returns
    -------
    pandas.DataFrame
        Index ``day``; one column per body node that ever held a tumour; the
        ``columns.name`` says what the values are.

    Examples
    --------
    >>> import circnet
    >>> from circnet.report import course_overlay
    >>> body = circnet.default_body()
    >>> res = circnet.simulate_course(body, "colon_rectum", 1, rng=1)
    >>> ov = course_overlay(res, body, max_frames=50)
    >>> len(ov) <= 50, ov.index.name, ov.columns.name
    (True, 'day', 'log10(cells of the primary and the vascular metastases + 1)')
    >>> bool(ov["colon_rectum"].iloc[-1] > 6)
    True
    >>> course_overlay(res, body, stage="dormant").columns.name
    'log10(dormant disseminated cells + 1)'
    """
    max_frames = check_int(max_frames, "max_frames", low=2)
    stage = check_choice(stage, "stage", tuple(OVERLAY_STAGES))
    columns_of, what = OVERLAY_STAGES[stage]
    ts = result.timeseries
    cols = [c for c in columns_of if c in ts.columns]
    if not cols and stage == "dormant" and _EXPECTED_DORMANT[0] in ts.columns:
        cols, what = [_EXPECTED_DORMANT[0]], _EXPECTED_DORMANT[1]
    if not cols:  # a result from before the stages were recorded
        cols, what = ["total_cells"], OVERLAY_STAGES["all"][1]
    values_of = ts[cols].sum(axis=1, min_count=1) if len(cols) > 1 else ts[cols[0]]
    frame = pd.DataFrame({"day": ts["day"], "site": ts["site"], "v": values_of})
    cells = frame.pivot_table(index="day", columns="site", values="v", observed=True)
    cells = cells.fillna(0.0)
    known = set(organs(body))
    columns = {}
    for site in cells.columns:
        node = tissue_of(body, site) if site in known else site
        columns[site] = node
    cells = cells.rename(columns=columns)
    cells = cells.T.groupby(level=0, sort=False).sum().T  # two sites on one node: summed
    n = len(cells.index)
    if n > max_frames:
        stride = math.ceil((n - 1) / (max_frames - 1))
        keep = list(range(0, n, stride))
        if keep[-1] != n - 1:
            keep.append(n - 1)
        if len(keep) > max_frames:
            keep = keep[: max_frames - 1] + [n - 1]
        cells = cells.iloc[keep]
    values = np.log10(cells.clip(lower=0.0) + 1.0) if log else cells.clip(lower=0.0)
    out = pd.DataFrame(values, index=pd.Index(cells.index, name="day"), columns=cells.columns)
    out.columns = pd.Index(list(out.columns), name=f"log10({what} + 1)" if log else what)
    return out


# --------------------------------------------------------------------------- helpers
def _cell(x: Any) -> str:
    numeric = isinstance(x, numbers.Number) and not isinstance(x, (bool, np.bool_))
    cls = ' class="num"' if numeric else ""
    return f"<td{cls}>{html.escape(fmt_number(x))}</td>"


def _table(header: list[str], rows: list[list[Any]], *, caption: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(_cell(x) for x in r) + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>"


def _figure_html(fig: Any, alt: str, caption: str) -> str:
    """A figure as an ``<img>`` with an SVG ``data:`` address (no file, no request)."""
    data = base64.b64encode(figure_bytes(fig, "svg")).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _figures(
    result: Any, body: nx.DiGraph, fates: pd.Series | None, propagation: pd.DataFrame | None
) -> list[str]:
    """The plot sections, or a note saying how to get them when matplotlib is missing."""
    primary = str(result.primary)
    try:
        parts = ["<h2>Tumour burden and events</h2>"]
        parts.append(
            _figure_html(
                course_figure(result),
                "tumour cells per site over time, and events per site",
                "Top: the primary and the metastatic burden (cells in vascular metastases) "
                "at the sites with the largest burden (log scale), the dotted line the "
                "detection threshold. Middle: what is not metastatic burden, kept apart: "
                "dormant disseminated cells and cells in avascular micrometastases, all "
                "sites together. Bottom: per site, the period in which cells disseminated "
                "there and the events.",
            )
        )
        if fates is not None:
            parts.append("<h2>Where a shed cell ends</h2>")
            parts.append(
                _figure_html(
                    fates_figure(fates),
                    f"fate probabilities of a cell shed by a tumour in {primary}",
                    "Probability of each fate of one cell shed by the primary "
                    "(most cells die; log scale).",
                )
            )
        if propagation is not None:
            parts.append("<h2>Where released cells are over time</h2>")
            parts.append(
                _figure_html(
                    propagation_figure(propagation, body=body, log_time=True),
                    "where released cells are over time",
                    "Share of the cells released at time 0 in each group of states.",
                )
            )
    except OptionalDependencyError:
        return [f'<p class="note">{html.escape(_MISSING_PLOT)}</p>']
    return parts


#: Words of the summary's keys in the report (others: the key with spaces).
_SUMMARY_WORDS = {
    "first_vascular_metastasis_day": "first vascular metastasis (day)",
    "first_vascular_metastasis_site": "first vascular metastasis (site)",
    "first_detectable_metastasis_day": "first detectable metastasis (day)",
    "first_detectable_metastasis_site": "first detectable metastasis (site)",
    "primary_cells_end": "cells of the primary at the end",
    "dormant_cells_end": "dormant disseminated cells at the end (not metastases)",
    "micrometastases_end": "avascular micrometastases at the end",
    "micrometastasis_cells_end": "cells in avascular micrometastases at the end",
    "vascular_metastases_end": "vascular metastases at the end",
    "vascular_metastasis_cells_end": "metastatic burden at the end (cells in vascular metastases)",
    "detectable_metastases_end": "detectable metastases at the end",
    "cells_disseminated_to_organs": "cells disseminated to organs (each a dormant cell at first)",
    "cells_disseminated_to_nodes": "cells disseminated to lymph nodes",
    "conserved": "cells conserved (shed = dead + disseminated)",
}


def _glossary(result: Any) -> str:
    """The words of the report, each defined (the result's ``terms``, else
    :data:`circnet.course.COURSE_TERMS`)."""
    terms = getattr(result, "terms", None) or COURSE_TERMS
    items = "".join(
        f"<dt>{html.escape(str(term))}</dt><dd>{html.escape(str(text))}</dd>"
        for term, text in terms.items()
    )
    return f'<h2 id="circnet-glossary">Words used here</h2>\n<dl class="glossary">{items}</dl>'


def _summary_rows(summary: pd.Series, words: dict[str, str] | None = None) -> list[list[Any]]:
    words = {**_SUMMARY_WORDS, **(words or {})}
    rows = []
    for k, v in summary.items():
        name = words.get(str(k), str(k).replace("_", " "))
        if isinstance(v, str) and v == "":
            v = "none"
        rows.append([name, v])
    return rows


def _site_rows(result: Any) -> list[list[Any]]:
    ts = result.timeseries
    ev = result.events
    end = ts[ts["day"] == ts["day"].max()].set_index("site")
    founded = ev[ev["kind"].astype(str) == "founded"]
    first = founded.groupby("site", observed=True)["day"].min()
    total = founded.groupby("site", observed=True)["count"].sum()
    lodged = not founded.empty or "largest_cells" in ts.columns
    rows = []
    for site, r in end.sort_values("total_cells", ascending=False).iterrows():
        row: list[Any] = [str(site) + (" (primary)" if str(site) == str(result.primary) else "")]
        if lodged:
            row += [float(first.get(site, math.nan)), int(total.get(site, 0))]
        row += [r[c] for c in _site_columns(ts)]
        if "largest_cells" in ts.columns:
            row.append(float(r["largest_cells"]))
        rows.append(row)
    return rows


def _shown_from(result: Any) -> list[str]:
    """The note of a course whose daily tables start after day 0 (``history_from_day``)."""
    start = int(getattr(result, "history_from_day", 0) or 0)
    if start <= 0:
        return []
    diag = result.summary.get("diagnosis_day", math.nan)
    years = (
        f" ({(float(diag) - start) / 365.25:.3g} years before diagnosis)"
        if isinstance(diag, numbers.Real) and math.isfinite(float(diag))
        else ""
    )
    return [
        f"The daily tables, the plots and the time control are shown from day {start}"
        f"{years}, not from day 0 (history_years); the events before it are in the event "
        "table all the same."
    ]


def _ctc_section(result: Any) -> list[str]:
    """CTC per 7.5 mL at diagnosis and once a year, when the course has them."""
    daily = result.daily
    if "ctc_per_7_5_ml" not in daily.columns or daily.empty:
        return []
    summary = result.summary
    diag = summary.get("diagnosis_day", math.nan)
    last = float(daily.index.max())
    start = float(daily.index.min())  # a patient course may be shown from a later day
    marks = {float(d): "" for d in np.arange(start, last + 1.0, 365.0)}
    marks[last] = "end of follow-up"
    if isinstance(diag, numbers.Real) and math.isfinite(float(diag)):
        marks[float(diag)] = "diagnosis"
    first = summary.get("first_distant_day", math.nan)
    if (
        isinstance(first, numbers.Real)
        and math.isfinite(float(first))
        and start <= float(first) <= last
    ):
        marks[float(first)] = "first distant metastasis"
    rows = []
    for day in sorted(marks):
        r = daily.loc[int(day)]
        rows.append([int(day), marks[day], int(r["ctc_per_7_5_ml"]), float(r["ctc_expected"])])
    return [
        "<h2>Circulating tumour cells (CTC per 7.5 mL)</h2>",
        '<p class="note">What a CellSearch test of one 7.5 mL tube would count on the day '
        "(a Poisson count around the expected number, from the cells shed that day by the "
        "primary and the vascular metastases); 5 or more is the usual threshold of a poor "
        "prognosis in metastatic breast cancer (Cristofanilli et al. 2004, N Engl J Med).</p>",
        _table(["day", "when", "CTC per 7.5 mL", "expected"], rows),
    ]


def _site_header(result: Any) -> list[str]:
    ts = result.timeseries
    lodged = (result.events["kind"].astype(str) == "founded").any() or "largest_cells" in ts
    head = ["site"] + (["first cell lodged (day)", "cells disseminated"] if lodged else [])
    head += [_STAGE_COLUMNS[c] for c in _site_columns(ts)]
    return head + (["largest tumour (cells)"] if "largest_cells" in ts.columns else [])


def _site_columns(ts: pd.DataFrame) -> list[str]:
    return [c for c in _STAGE_COLUMNS if c in ts.columns]


#: Stage columns of the per-site table, and their headers.
_STAGE_COLUMNS = {
    "primary_cells": "primary (cells)",
    "dormant_cells": "dormant disseminated cells",
    "expected_dormant_cells": "expected dormant disseminated cells",
    "micrometastases": "avascular micrometastases",
    "micrometastasis_cells": "cells in micrometastases",
    "vascular_metastases": "vascular metastases",
    "vascular_metastasis_cells": "cells in vascular metastases",
    "detectable_metastases": "detectable metastases",
}


def _event_rows(result: Any) -> list[list[Any]]:
    """Events grouped by kind and site: count, first and last day, cells at the first."""
    ev = result.events.copy()
    if ev.empty:
        return []
    ev["kind"] = ev["kind"].astype(str)
    ev["site"] = ev["site"].astype(str)
    ev = ev.sort_values("day", kind="stable")
    groups = ev.groupby(["kind", "site"], sort=False)
    table = groups.agg(
        events=("day", "size"),
        count=("count", "sum"),
        first=("day", "min"),
        last=("day", "max"),
        cells=("cells", "first"),
    ).reset_index()
    kinds = {k: i for i, k in enumerate(["founded", *dict.fromkeys(ev["kind"])])}
    table["order"] = table["kind"].map(kinds)
    table = table.sort_values(["order", "count"], ascending=[True, False], kind="stable")
    return [
        [
            str(r.kind).replace("_", " "),
            str(r.site),
            int(r.count),
            int(r.events),
            float(r.first),
            float(r.last),
        ]  # fmt: skip
        for r in table.itertuples(index=False)
    ]


# --------------------------------------------------------------------------- the report
def course_report(
    result: Any,
    body: nx.DiGraph,
    path: str | Path | None = None,
    *,
    fates: pd.Series | None = None,
    propagation: pd.DataFrame | None = None,
    title: str | None = None,
    notes: list[str] | None = None,
    plots: bool = True,
    max_frames: int = 400,
    max_events: int = 300,
) -> Path | View:
    """Write a disease-course report: network with a time control, plots and tables.

    One self-contained HTML file (no network needed, every request blocked): the page
    of :func:`circnet.render_html` with :func:`course_overlay` as its time overlay,
    followed by the course summary, the course plot (burden per site, events), the
    fates of a cell shed by the primary and where released cells are over time (when
    given), a per-site table and the events other than foundings.

    Parameters
    ----------
    result : CourseResult or PatientCourse
        From :func:`circnet.simulate_course` or :func:`circnet.simulate_patient` on
        ``body`` (or any object of the course protocol, see the module docstring).
    body : networkx.DiGraph
    path : str or pathlib.Path, optional
        The HTML file (written atomically). Without it, the report is returned as a
        :class:`~circnet.View` (shown inline by Jupyter; ``.save(path)`` writes it).
    fates : pandas.Series, optional
        Fates of a cell shed by the primary (``TransportModel.fates(primary)``).
    propagation : pandas.DataFrame, optional
        States over time after release (``TransportModel.propagate``), minutes.
    title : str, optional
    notes : list of str, optional
        Lines shown under the summary (how the course was made: command, seed, ...).
    plots : bool
        Embed the plots (needs matplotlib). Without matplotlib the report says so
        instead of failing.
    max_frames : int
        Frames of the time control (see :func:`course_overlay`).
    max_events : int
        Rows of the event table (events grouped by kind and site).

    Returns
    -------
    pathlib.Path or View
        ``path``, or the report as a :class:`~circnet.View` when no path is given.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import circnet
    >>> from circnet.report import course_report
    >>> body = circnet.default_body("female")
    >>> res = circnet.simulate_course(body, "breast", 1, rng=1)
    >>> out = course_report(res, body, pathlib.Path(tempfile.mkdtemp()) / "report.html")
    >>> text = out.read_text(encoding="utf-8")
    >>> "circnet-report" in text and "<script src=" not in text
    True
    """
    if path is not None:
        path = check_path(path, "path")
    plots = check_bool(plots, "plots")
    max_events = check_int(max_events, "max_events", low=0)
    primary = str(result.primary)
    if title is None:
        title = getattr(result, "title", None)
    if title is None:
        span = float(pd.to_numeric(result.timeseries["day"]).max())
        title = f"circnet disease course: primary in {primary}, {span / 365.25:.3g} years"
    overlay = course_overlay(result, body, max_frames=max_frames)

    parts: list[str] = ['<main id="circnet-report">']
    parts.append("<h2>Summary</h2>")
    parts.append(
        '<p class="note">The network above shows, at each site, the cells of the primary '
        "and of the vascular metastases (node size and colour: log10 of cells + 1) at the "
        "end of the course; dormant disseminated cells and avascular micrometastases are "
        "not drawn there (they are in the table of sites below). Move the slider or press "
        "Play to step through the days. Hover a node for its numbers.</p>"
    )
    for line in [*_shown_from(result), *(notes or [])]:
        parts.append(f'<p class="note">{html.escape(str(line))}</p>')
    words = getattr(result, "summary_words", None)
    parts.append(_table(["quantity", "value"], _summary_rows(result.summary, words)))
    parts.append(_glossary(result))
    parts.extend(_ctc_section(result))

    if plots:
        parts.extend(_figures(result, body, fates, propagation))

    if fates is not None:
        top = fates.sort_values(ascending=False).head(12)
        parts.append("<h2>Most likely fates of a shed cell</h2>")
        parts.append(_table(["fate", "probability"], [[str(k), float(v)] for k, v in top.items()]))

    parts.append("<h2>Sites at the end of the course</h2>")
    parts.append(_table(_site_header(result), _site_rows(result)))
    rows = _event_rows(result)
    parts.append("<h2>Events</h2>")
    shown = f"the {max_events} largest of {len(rows)} groups" if len(rows) > max_events else ""
    parts.append(
        '<p class="note">Events grouped by kind and site: how many (cells disseminated, '
        "colonies switched on angiogenesis, tumours detected or cleared), on how many days, "
        "the first and the last day" + (f" ({shown})" if shown else "") + ".</p>"
    )
    if rows:
        parts.append(
            _table(
                ["event", "site", "count", "days with it", "first day", "last day"],
                rows[:max_events],
            )
        )
    parts.append(
        f'<p class="note">Written by circnet {html.escape(__version__)}. The file is '
        "self-contained: it opens offline and makes no network request.</p>"
    )
    parts.append("</main>")
    page = render_page(
        body,
        overlay,
        title=title,
        extra_head=f"<style>\n{data_text('templates/report.css')}</style>\n",
        extra_body="\n".join(parts) + "\n",
        extra_script=data_text("templates/report.js"),  # open at the last day
    )
    if path is None:
        return View(page, 900, title)
    with atomic_write(path) as fh:
        fh.write(page)
    return path
