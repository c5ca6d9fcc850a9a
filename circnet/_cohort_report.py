"""A virtual cohort's report: one self-contained HTML file a clinician can read.

:func:`cohort_report` writes the page of a :class:`~circnet.cohort.CohortResult`
(:func:`circnet.simulate_cohort`): the cohort's clinical figures with their 95 %
intervals (beside clinical targets, when given), the metastasis-free survival curve
after diagnosis (Kaplan-Meier) with the number at risk, the distribution of the first
distant site, the CTC counts per 7.5 mL, what the patients carry at diagnosis (dormant
disseminated cells, avascular micrometastases and vascular metastases kept apart), a
glossary of the words (:data:`COHORT_TERMS`) and the provenance (circnet version, seed
entropy, command, every clinical parameter with its source).

The page follows the course report's conventions (:mod:`circnet.report`): the template
``data/templates/cohort.html`` with the style ``data/templates/report.css``, tables and
figures by the same helpers (figures as SVG ``data:`` images), numbers by
:func:`circnet._format.fmt_number`, every text from the data HTML-escaped, and a
Content-Security-Policy that blocks every request: the file opens offline.

The clinical figures circnet is calibrated against are not package data: they live in
the repository (``data/clinical/clinical_targets.csv``, sources in
``data/clinical/README.md``); the page names that file. Pass ``targets`` to show targets
beside the model's figures.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._clinical import TERMS
from ._files import atomic_write, data_text
from ._format import fmt_number
from ._notebook import View
from ._validation import check_bool, check_path
from ._version import __version__
from .errors import OptionalDependencyError, ParameterError
from .report import _figure_html, _table

__all__ = ["cohort_report", "COHORT_TERMS", "TARGETS_FILE", "CTC_BINS"]

#: Where the sourced clinical targets live (in the repository, not in the package).
TARGETS_FILE = "data/clinical/clinical_targets.csv"
#: Bins of the CTC table: (lowest count, highest count or None, label).
CTC_BINS = ((0, 0, "0"), (1, 4, "1-4"), (5, 49, "5-49"), (50, 499, "50-499"), (500, None, ">= 500"))
#: The words of the cohort report: those of the course (:data:`circnet._clinical.TERMS`)
#: and the words of a cohort's survival table.
COHORT_TERMS: dict[str, str] = {
    **TERMS,
    "metastasis-free survival": (
        "the share of patients without synchronous metastases who have no detectable distant "
        "metastasis yet, by years after diagnosis (Kaplan-Meier estimate; with surgery, the "
        "primary is removed at diagnosis)"
    ),
    "number at risk": (
        "patients still followed and still free of distant metastasis at that time (every "
        "virtual patient is followed for the whole follow-up: nobody is lost or dies of "
        "other causes)"
    ),
    "first distant site": "the organ of a patient's first detectable distant metastasis",
    "95 % interval": (
        "the range the figure would fall in for 95 of 100 cohorts of this size: Wilson "
        "intervals for shares, Greenwood (log-log) for the survival curve; it reflects the "
        "number of virtual patients only, not the uncertainty of the model's parameters"
    ),
}
_YEAR = 365.25
_MISSING_PLOT = "plots need matplotlib, which is not installed: pip install 'circnet[plot]'"
_NEEDS = ("primary", "scenario", "years", "entropy", "params", "patients", "figures", "survival")
_CARRIED = {
    "dormant_distant_at_diagnosis": "dormant disseminated cells in organs",
    "dormant_nodal_at_diagnosis": "dormant disseminated cells in lymph nodes",
    "micrometastases_at_diagnosis": "avascular micrometastases",
    "vascular_at_diagnosis": "vascular metastases (any size)",
}


def _esc(x: Any) -> str:
    return html.escape(str(x))


def _num(x: Any, digits: int = 3) -> str:
    return fmt_number(x, digits=digits)


def _r3(x: float) -> float:
    """``x`` to 3 significant digits (a number: the table writes and right-aligns it)."""
    return float(f"{x:.3g}") if math.isfinite(x) else x


def _check_result(result: Any) -> None:
    missing = [a for a in _NEEDS if not hasattr(result, a)]
    if missing:
        raise ParameterError(
            f"`result` must be a CohortResult from circnet.simulate_cohort (got "
            f"{type(result).__name__} without {', '.join(map(repr, missing))})"
        )


def _check_texts(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ParameterError(f"`{name}` must be a list of strings (got {type(value).__name__})")
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise ParameterError(f"`{name}` must hold strings only (got {bad[0]!r})")
    return list(value)


def _check_targets(targets: Any, figures: pd.DataFrame) -> pd.DataFrame | None:
    if targets is None:
        return None
    if isinstance(targets, Mapping):
        targets = pd.DataFrame.from_dict(dict(targets), orient="index")
    if not isinstance(targets, pd.DataFrame) or "clinic" not in targets.columns:
        raise ParameterError(
            "`targets` must be a DataFrame (or a dict of dicts) indexed by figure with a "
            "'clinic' column and optionally 'source'"
        )
    unknown = [str(f) for f in targets.index if f not in figures.index]
    if unknown:
        raise ParameterError(
            f"`targets` names figures the cohort does not have: {unknown}; its figures: "
            f"{list(figures.index)}"
        )
    return targets


# --------------------------------------------------------------------------- sections
def _figures_section(result: Any, targets: pd.DataFrame | None) -> list[str]:
    fig = result.figures()
    targets = _check_targets(targets, fig)
    header = ["figure", "model", "95 % interval", "n", "unit"]
    if targets is not None:
        header += ["clinic", "source"]
    rows = []
    for name, r in fig.iterrows():
        low, high = float(r["low"]), float(r["high"])
        interval = "-" if math.isnan(low) else f"{_num(low)} to {_num(high)}"
        row: list[Any] = [str(name), _r3(float(r["value"])), interval, int(r["n"]), str(r["unit"])]
        if targets is not None:
            t = targets.loc[name] if name in targets.index else None
            row += ["" if t is None else str(t["clinic"])]
            row += ["" if t is None else str(t.get("source", ""))]
        rows.append(row)
    note = (
        "Each figure of the virtual cohort with its 95 % interval and the number of patients "
        "it counts (n). The clinical figures circnet's laws were calibrated against, each "
        "with its source, are not shipped with the package: they are listed in the circnet "
        f"repository in <code>{_esc(TARGETS_FILE)}</code> (how they were used: "
        "<code>data/clinical/README.md</code>)."
    )
    return [
        "<h2>Clinical figures</h2>",
        f'<p class="note">{note}</p>',
        _table(header, rows),
    ]


def _at_risk(result: Any) -> tuple[list[str], list[list[Any]]]:
    """Number at risk and metastasis-free share at whole years after diagnosis."""
    km = result.survival()
    n0 = int(km["at_risk"].iloc[0])
    years = [float(y) for y in range(int(math.floor(result.years + 1e-9)) + 1)]
    rows_after_0 = km.iloc[1:]  # the first row is time 0 before any event
    at_risk, free, events = [], [], []
    for y in years:
        before = rows_after_0[rows_after_0["time"] < y]
        at_risk.append(n0 - int(before["events"].sum()))
        upto = km[km["time"] <= y]
        free.append(_r3(100 * float(upto["survival"].iloc[-1])))
        events.append(int(upto["events"].sum()))
    header = ["years after diagnosis", *(_num(y) for y in years)]
    rows: list[list[Any]] = [
        ["number at risk", *at_risk],
        ["metastasis-free (%)", *free],
        ["distant metastases so far", *events],
    ]
    return header, rows


def _survival_section(result: Any, plots: bool) -> list[str]:
    after = "surgery at diagnosis" if result.scenario == "surgery" else "diagnosis (untreated)"
    parts = [f"<h2>Metastasis-free survival after {_esc(after)}</h2>"]
    parts.append(
        '<p class="note">Patients without synchronous metastases, from diagnosis to their '
        "first detectable distant metastasis, followed for "
        f"{_esc(_num(result.years))} years (Kaplan-Meier; shaded: 95 % interval).</p>"
    )
    if plots:
        try:
            from ._cohort_figure import cohort_figure

            parts.append(
                _figure_html(
                    cohort_figure(result),
                    "metastasis-free survival curve and first distant sites",
                    "Left: metastasis-free survival after diagnosis (Kaplan-Meier, 95 % band). "
                    "Right: share of each site among the first distant metastases.",
                )
            )
        except OptionalDependencyError:
            parts.append(f'<p class="note">{_esc(_MISSING_PLOT)}</p>')
    header, rows = _at_risk(result)
    parts.append(_table(header, rows, caption="Number at risk"))
    return parts


def _sites_section(result: Any) -> list[str]:
    p = result.patients
    first = p["first_distant_site"][p["first_distant_site"] != ""]
    counts = first.value_counts()
    n = len(p)
    rows = [
        [str(site), int(k), _r3(100 * k / len(first)), _r3(100 * k / n)]
        for site, k in counts.items()
    ]
    parts = ["<h2>First distant site</h2>"]
    parts.append(
        f'<p class="note">{len(first)} of {n} patients had a detectable distant metastasis '
        "(synchronous or in the follow-up); the site of the first one.</p>"
    )
    if rows:
        header = ["site", "patients", "% of first sites", "% of all patients"]
        parts.append(_table(header, rows))
    return parts


def _ctc_section(result: Any) -> list[str]:
    p = result.patients
    diag = p["ctc_at_diagnosis"].to_numpy()
    first = p["ctc_at_first_distant"].to_numpy()
    first = first[first >= 0]
    rows = []
    for low, high, label in CTC_BINS:
        cells: list[Any] = [label]
        for x in (diag, first):
            inside = (x >= low) if high is None else ((x >= low) & (x <= high))
            k = int(inside.sum())
            cells += [k, _r3(100 * k / x.size) if x.size else math.nan]
        rows.append(cells)
    for q, label in ((0.25, "lower quartile"), (0.5, "median"), (0.75, "upper quartile")):
        cells = [label]
        for x in (diag, first):
            cells += [_r3(float(np.quantile(x, q))) if x.size else math.nan, ""]
        rows.append(cells)
    header = [
        "CTC per 7.5 mL",
        "at diagnosis (patients)",
        "%",
        "at first distant metastasis (patients)",
        "%",
    ]
    return [
        "<h2>Circulating tumour cells (CTC) per 7.5 mL</h2>",
        f'<p class="note">The count a CellSearch test would give in one 7.5 mL tube: at '
        f"diagnosis for all {diag.size} patients, and when the first distant metastasis "
        f"became detectable for the {first.size} patients who had one. Five or more is the "
        "usual prognostic cut-off in metastatic breast cancer.</p>",
        _table(header, rows),
    ]


def _carried_section(result: Any) -> list[str]:
    p = result.patients
    rows = []
    for col, words in _CARRIED.items():
        if col not in p.columns:
            continue
        x = p[col].to_numpy(dtype=float)
        rows.append([words, _r3(100 * float((x > 0).mean())), _r3(float(np.median(x)))])
    if not rows:
        return []
    return [
        "<h2>What the patients carry at diagnosis</h2>",
        '<p class="note">Kept apart on purpose: dormant disseminated cells and avascular '
        "micrometastases are not metastases (they cannot be imaged and most never grow); "
        "only vascular metastases grow on and can become detectable.</p>",
        _table(["at diagnosis", "% of patients with any", "median per patient"], rows),
    ]


def _glossary() -> str:
    items = "".join(f"<dt>{_esc(t)}</dt><dd>{_esc(d)}</dd>" for t, d in COHORT_TERMS.items())
    return f'<h2 id="circnet-glossary">Words used here</h2>\n<dl class="glossary">{items}</dl>'


def _provenance(result: Any, command: str | None) -> list[str]:
    parts = ["<h2>How this cohort was made</h2>"]
    lines = [
        f"circnet {__version__}",
        f"seed entropy {result.entropy} (simulate_cohort(..., rng={result.entropy}) repeats it)",
    ]
    if command:
        lines.append(f"command: {command}")
    parts.extend(f'<p class="note">{_esc(line)}</p>' for line in lines)
    describe = getattr(result.params, "describe", None)
    params = describe() if callable(describe) else None
    if isinstance(params, pd.DataFrame):
        cols = [c for c in ("value", "unit", "low", "high", "kind", "source") if c in params]
        rows = [
            [str(name), *(r[c] if c == "value" else _text(r[c]) for c in cols)]
            for name, r in params.iterrows()
        ]
        parts.append(
            f"<details><summary>Clinical parameters ({_esc(result.params.primary)}): value, "
            "unit, range, kind and source</summary>"
        )
        parts.append(_table(["parameter", *cols], rows))
        parts.append("</details>")
    return parts


def _text(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return str(x)


# --------------------------------------------------------------------------- the report
def cohort_report(
    result: Any,
    path: str | Path | None = None,
    *,
    title: str | None = None,
    notes: list[str] | None = None,
    command: str | None = None,
    targets: pd.DataFrame | Mapping[str, Mapping[str, str]] | None = None,
    plots: bool = True,
) -> Path | View:
    """Write the report of a virtual cohort: figures, survival, sites, CTCs and words.

    One self-contained HTML file (no network needed, every request blocked): the
    cohort's clinical figures with 95 % intervals, the metastasis-free survival curve
    after diagnosis (Kaplan-Meier) with the number at risk, the first distant sites,
    CTC counts per 7.5 mL at diagnosis and at the first distant metastasis, what the
    patients carry at diagnosis, a glossary (:data:`COHORT_TERMS`) and the provenance
    (circnet version, seed entropy, command, the clinical parameters with sources).

    Parameters
    ----------
    result : CohortResult
        From :func:`circnet.simulate_cohort`.
    path : str or pathlib.Path, optional
        The HTML file (written atomically). Without it, the report is returned as a
        :class:`~circnet.View` (shown inline by Jupyter; ``.save(path)`` writes it).
    title : str, optional
        The page heading (default: the primary, the number of patients, the scenario).
    notes : list of str, optional
        Lines shown under the heading (how the cohort was made, ...).
    command : str, optional
        The command that made the cohort, shown with the provenance.
    targets : pandas.DataFrame or dict, optional
        Clinical targets shown beside the figures: indexed by the names of
        ``result.figures()``, a ``clinic`` column (text, e.g. ``"15-25"``) and optionally
        ``source``. circnet's sourced targets are in the repository
        (:data:`TARGETS_FILE`), not in the package.
    plots : bool
        Embed the survival and first-site figure (needs matplotlib; without it the
        report says so instead of failing).

    Returns
    -------
    pathlib.Path or View
        ``path``, or the report as a :class:`~circnet.View` when no path is given.

    Raises
    ------
    ParameterError
        ``result`` is not a cohort result; bad ``title``, ``notes``, ``targets``, ``path``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import circnet
    >>> from circnet._cohort_report import cohort_report
    >>> res = circnet.simulate_cohort(circnet.default_body(), "colon_rectum", 20, rng=1,
    ...                               years=3)
    >>> out = cohort_report(res, pathlib.Path(tempfile.mkdtemp()) / "cohort.html", plots=False)
    >>> text = out.read_text(encoding="utf-8")
    >>> "Metastasis-free survival" in text and "<script" not in text
    True
    """
    _check_result(result)
    if path is not None:
        path = check_path(path, "path", writable=True)
    plots = check_bool(plots, "plots")
    if title is not None and not isinstance(title, str):
        raise ParameterError(f"`title` must be a string (got {type(title).__name__})")
    if command is not None and not isinstance(command, str):
        raise ParameterError(f"`command` must be a string (got {type(command).__name__})")
    lines = _check_texts(notes, "notes")
    n = len(result.patients)
    primary = str(result.primary)
    if title is None:
        scenario = "surgery at diagnosis" if result.scenario == "surgery" else "untreated"
        title = f"circnet virtual cohort: {n} patients, primary in {primary}, {scenario}"
    subtitle = (
        f"{n} virtual patients · primary in {primary} · scenario {result.scenario} · "
        f"follow-up {_num(result.years)} years after diagnosis · circnet {__version__}"
    )
    parts: list[str] = [
        '<p class="note">Virtual patients simulated by circnet\'s clinical laws (growth, '
        "diagnosis, shedding, dormancy, angiogenic switch); not data of real patients. "
        "Each patient is followed from the day its primary switched on angiogenesis to "
        f"{_esc(_num(result.years))} years after its diagnosis. Words are defined at the end "
        '(<a href="#circnet-glossary">glossary</a>).</p>'
    ]
    parts.extend(f'<p class="note">{_esc(line)}</p>' for line in lines)
    if getattr(result, "status", "finished") != "finished":
        parts.append(
            '<p class="warning">Some patients had more colonies than the engine follows '
            f"(status {_esc(result.status)}): their later colonies are not counted.</p>"
        )
    parts.extend(_figures_section(result, targets))
    parts.extend(_survival_section(result, plots))
    parts.extend(_sites_section(result))
    parts.extend(_ctc_section(result))
    parts.extend(_carried_section(result))
    parts.append(_glossary())
    parts.extend(_provenance(result, command))
    parts.append(
        f'<p class="note">Written by circnet {_esc(__version__)}. The file is '
        "self-contained: it opens offline and makes no network request.</p>"
    )
    slots = {
        "VERSION": _esc(__version__),
        "TITLE": _esc(title),
        "SUBTITLE": _esc(subtitle),
        "REPORT_CSS": data_text("templates/report.css"),
        "CONTENT": "\n".join(parts),
    }
    # one pass: text put in a slot is never searched for further slots
    page = re.sub(r"@@([A-Z_]+)@@", lambda m: slots[m.group(1)], data_text("templates/cohort.html"))
    if path is None:
        return View(page, 900, title)
    with atomic_write(path) as fh:
        fh.write(page)
    return path
