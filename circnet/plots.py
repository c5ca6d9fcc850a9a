"""Static plots of circnet results with matplotlib (the optional extra ``plot``).

Install with ``pip install 'circnet[plot]'``; matplotlib is imported inside the
functions only, so ``import circnet`` never needs it. Each ``plot_*`` function takes a
result object (fates, a distribution over time, a disease course, a body) and

- with ``ax=`` (a :class:`matplotlib.axes.Axes`), draws on it and returns it: for
  figures of your own (``fig, ax = plt.subplots()``);
- with ``path=``, writes the figure atomically as PNG or SVG, chosen by the suffix,
  and returns the path (a figure made with :class:`matplotlib.figure.Figure` directly:
  no pyplot, no global state, any backend); the path is checked before any drawing;
- with neither, draws on a new pyplot figure (shown inline in a notebook) and returns
  its Axes.

========================  ==========================================================
:func:`plot_fates`        bar chart of fate probabilities, one or several primaries
:func:`plot_propagation`  where released cells are over time, by state group
:func:`plot_course`       a disease course: metastatic burden per site, dormant cells and
                          micrometastases apart (log scale), event timeline
:func:`draw_body`         the body network: same layout and colours as the HTML view
:func:`group_states`      sum a time x state table into the state groups below
========================  ==========================================================

The same figures, unsaved, come from :func:`fates_figure`, :func:`propagation_figure`
and :func:`course_figure` (a :class:`matplotlib.figure.Figure` each); :func:`new_figure`,
:func:`figure_bytes` and :func:`save_figure` (from :mod:`circnet._figure`) are the
plumbing every figure of circnet shares (reproducible SVG, text as paths, atomic writes).

State groups (:data:`STATE_GROUPS`), by the kind of each state (:mod:`circnet.states`):
``in blood`` (``transit`` at a pool or capillary bed), ``lodged``, ``in tissue``,
``in lymph`` (``transit`` at a lymph node or duct, and ``trapped``), ``dead``,
``colonised`` (``colony`` and ``node`` fates).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._body_figure import draw_body
from ._calibration_figure import calibration_figure, plot_calibration
from ._course_figure import check_course, course_figure, draw_burden, draw_events, draw_stages
from ._figure import (
    PLOT_FORMATS,
    figure_bytes,
    figure_path,
    finish,
    new_figure,
    save_figure,
    target_axes,
)
from ._format import fmt_number
from ._validation import check_int
from .body import default_body
from .errors import OptionalDependencyError, ParameterError
from .states import KINDS, StateSpace, is_label, parse_label
from .transport import FateResult

__all__ = [
    "plot_fates",
    "plot_propagation",
    "plot_course",
    "draw_body",
    "group_states",
    "fates_figure",
    "propagation_figure",
    "course_figure",
    "calibration_figure",
    "plot_calibration",
    "new_figure",
    "figure_bytes",
    "save_figure",
    "STATE_GROUPS",
    "PLOT_FORMATS",
    "OptionalDependencyError",
]

#: State groups of :func:`group_states`, in drawing order.
STATE_GROUPS = ("in blood", "lodged", "in tissue", "in lymph", "dead", "colonised")

_GROUP_COLOURS = {
    "in blood": "#d32f2f",
    "lodged": "#f0964a",
    "in tissue": "#c8a27a",
    "in lymph": "#2e9d3a",
    "dead": "#9e9e9e",
    "colonised": "#54278f",
}
#: The group of each kind of state (``transit`` is split into blood and lymph).
_KIND_GROUPS = {
    "lodged": "lodged",
    "tissue": "in tissue",
    "trapped": "in lymph",
    "dead": "dead",
    "colony": "colonised",
    "node": "colonised",
}


# --------------------------------------------------------------------------- fates
def _fate_table(fates: Any) -> pd.DataFrame:
    """Rows: primaries; columns: fates."""
    if isinstance(fates, FateResult):
        fates = fates.probabilities
    if isinstance(fates, pd.Series):
        name = "fates" if fates.name in (None, "probability") else str(fates.name)
        table = fates.to_frame(name).T
    elif isinstance(fates, pd.DataFrame):
        table = fates
    elif isinstance(fates, Mapping):
        rows = {}
        for k, v in fates.items():
            if isinstance(v, FateResult):
                v = v.probabilities
            rows[str(k)] = pd.Series(v, dtype=float)
        table = pd.DataFrame(rows).T.fillna(0.0)
    else:
        raise ParameterError(
            "`fates` must be a pandas Series (one primary), a DataFrame (rows: primaries), "
            f"a FateResult or a mapping of primary to fates (got {type(fates).__name__})"
        )
    try:
        values = table.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ParameterError(f"`fates` must hold probabilities ({err})") from err
    if table.empty:
        raise ParameterError("`fates` is empty")
    if not np.all(np.isfinite(values)) or (values < 0).any() or (values > 1 + 1e-9).any():
        raise ParameterError("`fates` must hold probabilities in [0, 1]")
    return table.astype(float)


def _fates_size(table: pd.DataFrame, top: int, include_dead: bool) -> tuple[float, float]:
    n_fates = min(top, table.shape[1] - (0 if include_dead or "dead" not in table else 1))
    return 7.5, 1.2 + 0.32 * max(n_fates, 1) * max(1, min(table.shape[0], 3))


def fates_figure(
    fates: Any,
    *,
    top: int = 10,
    include_dead: bool = False,
    log: bool = True,
    title: Any = None,
    ax: Any = None,
) -> Any:
    """The figure of :func:`plot_fates` (same arguments but ``path``), unsaved."""
    table = _fate_table(fates)
    top = check_int(top, "top", low=1)
    if ax is None:
        ax = new_figure(*_fates_size(table, top, include_dead)).add_subplot()
    _draw_fates(ax, table, top=top, include_dead=include_dead, log=log, title=title)
    return ax.figure


def _draw_fates(
    ax: Any, table: pd.DataFrame, *, top: int, include_dead: bool, log: bool, title: Any
) -> None:
    shown = table.drop(columns=["dead"], errors="ignore") if not include_dead else table
    order = shown.max(axis=0).sort_values(ascending=False)
    order = order[order > 0].index[:top].tolist() or list(shown.columns[:top])
    data = shown[order]
    n_rows, n_fates = data.shape
    height = 0.8 / n_rows
    y = np.arange(n_fates)
    colours = [f"C{i % 10}" for i in range(n_rows)]
    for i, (primary, row) in enumerate(data.iterrows()):
        pos = y - 0.4 + height * (i + 0.5)
        vals = row.to_numpy()
        bars = ax.barh(pos, vals, height=height * 0.92, color=colours[i], label=str(primary))
        for b, v in zip(bars, vals, strict=True):
            if v > 0:
                ax.annotate(
                    fmt_number(v, digits=3),
                    (b.get_width(), b.get_y() + b.get_height() / 2),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=7,
                )
    ax.set_yticks(y, [str(c) for c in order])
    ax.invert_yaxis()
    positive = data.to_numpy()[data.to_numpy() > 0]
    if log and positive.size:
        ax.set_xscale("log")
        ax.set_xlim(positive.min() / 3, min(positive.max() * 8, 3))
    ax.set_xlabel(
        "probability that a shed cell ends in this fate" + (" (log scale)" if log else "")
    )
    ax.grid(axis="x", alpha=0.3)
    if n_rows > 1:
        ax.legend(title="primary", fontsize=8, loc="lower right")
    if title is None:
        names = ", ".join(str(p) for p in data.index[:4]) + ("..." if n_rows > 4 else "")
        title = f"Fates of cells shed by a tumour: {names}"
        if not include_dead and "dead" in table.columns:
            dead = ", ".join(fmt_number(v, digits=3) for v in table["dead"].iloc[:4])
            title += f"\n(dead: {dead}; top {len(order)} other fates shown)"
    ax.set_title(str(title), fontsize=10)


def plot_fates(
    fates: Any,
    path: str | Path | None = None,
    *,
    ax: Any = None,
    top: int = 10,
    include_dead: bool = False,
    log: bool = True,
    title: str | None = None,
) -> Any:
    """Bar chart of fate probabilities of shed cells, for one or several primaries.

    Parameters
    ----------
    fates : pandas.Series, pandas.DataFrame, FateResult or mapping
        :meth:`TransportModel.fates` (a Series for one primary, its ``name`` the
        primary) or :meth:`TransportModel.fate_table` (a DataFrame, one row per
        primary); also a :class:`~circnet.FateResult` or a mapping of primary to either.
    path : str or pathlib.Path, optional
        File to write, ``.png`` or ``.svg`` (atomically).
    ax : matplotlib.axes.Axes, optional
        Draw on these Axes (default: a new figure).
    top : int
        Show the ``top`` most likely fates (by their largest probability over the
        primaries).
    include_dead : bool
        Draw ``dead`` as a bar too (by default its probability is in the title: it is
        close to 1 and would dwarf the rest).
    log : bool
        Logarithmic probability axis.
    title : str, optional

    Returns
    -------
    pathlib.Path or matplotlib.axes.Axes
        ``path`` when given, else the Axes drawn on.

    Raises
    ------
    OptionalDependencyError
        matplotlib is not installed (``pip install 'circnet[plot]'``).
    ParameterError
        Bad ``fates``, ``top``, ``ax`` or suffix.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import circnet
    >>> from circnet.plots import plot_fates
    >>> model = circnet.TransportModel(circnet.default_body())
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> out = plot_fates(model.fate_table(["colon_rectum", "lung"]), folder / "fates.png")
    >>> out.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().add_subplot()
    >>> plot_fates(model.fates("lung"), ax=ax) is ax
    True
    """
    if path is not None:
        figure_path(path)  # checked before any drawing
    table = _fate_table(fates)
    top = check_int(top, "top", low=1)
    ax = target_axes(ax, path, *_fates_size(table, top, include_dead))
    _draw_fates(ax, table, top=top, include_dead=include_dead, log=log, title=title)
    return finish(ax, path)


# --------------------------------------------------------------------------- propagation
@lru_cache(maxsize=1)
def _default_node_kinds() -> dict[str, str]:
    """Node kinds of the reference bodies (both sexes): the guess without a body."""
    kinds: dict[str, str] = {}
    for sex in ("female", "male"):
        kinds.update({str(n): str(k) for n, k in default_body(sex).nodes(data="kind")})
    return kinds


def _state_groups(labels: list[str], node_kinds: Mapping[str, str]) -> list[str]:
    """The group of each label; ``"other"`` for a column that is no state label."""
    known = [x for x in dict.fromkeys(labels) if is_label(x)]
    transient = [x for x in known if not KINDS[parse_label(x)[0]].absorbing]
    fates = [x for x in known if KINDS[parse_label(x)[0]].absorbing]
    space = StateSpace((*transient, *fates), len(transient), node_kinds)
    groups = []
    for x in labels:
        kind = space.kind(x) if x in space else None
        if kind == "transit":
            groups.append("in lymph" if space.in_lymph(x) else "in blood")
        else:
            groups.append(_KIND_GROUPS.get(kind or "", "other"))
    return groups


def group_states(table: Any, body: nx.DiGraph | StateSpace | None = None) -> pd.DataFrame:
    """Sum the columns of a time x state table into the groups of :data:`STATE_GROUPS`.

    Parameters
    ----------
    table : pandas.DataFrame or SimulationResult
        Columns are state labels (``transit:<node>``, ``lodged:<bed>``, ...), e.g. the
        output of :meth:`TransportModel.propagate` or ``SimulationResult.to_frame()``.
    body : networkx.DiGraph or StateSpace, optional
        The body (or a model's ``state_space``): its node kinds tell lymph nodes and
        ducts from blood nodes for ``transit`` states. Without it, the node kinds of
        the reference bodies (:func:`circnet.default_body`) are used, and the site of
        a ``trapped`` state is a lymph node: pass ``body`` for any other body.

    Returns
    -------
    pandas.DataFrame
        Same index, one column per group (groups with no state are left out; columns
        that are not state labels go to ``"other"``).

    Examples
    --------
    >>> import circnet
    >>> from circnet.plots import group_states
    >>> model = circnet.TransportModel(circnet.default_body())
    >>> groups = group_states(model.propagate("colon_rectum", [0.0, 600.0]), model.body)
    >>> list(groups.columns)
    ['in blood', 'lodged', 'in tissue', 'in lymph', 'dead', 'colonised']
    >>> bool(abs(groups.sum(axis=1) - 1).max() < 1e-12)
    True
    """
    if hasattr(table, "to_frame") and hasattr(table, "counts"):
        table = table.to_frame()
    if not isinstance(table, pd.DataFrame):
        raise ParameterError(
            "`table` must be a DataFrame of states over time or a SimulationResult "
            f"(got {type(table).__name__})"
        )
    cols = [str(c) for c in table.columns]
    if isinstance(body, StateSpace):
        node_kinds = dict(body.node_kinds)
    elif body is not None:
        node_kinds = {str(n): str(k) for n, k in body.nodes(data="kind")}
    else:
        node_kinds = dict(_default_node_kinds())
        for x in cols:
            kind, site = parse_label(x) if is_label(x) else (None, None)
            if kind == "trapped" and site is not None:
                node_kinds[site] = "lymph_node"
    groups = _state_groups(cols, node_kinds)
    out = table.T.groupby(pd.Index(groups), sort=False).sum().T
    order = [g for g in (*STATE_GROUPS, "other") if g in out.columns]
    return out[order]


def _time_axis(minutes: np.ndarray) -> tuple[np.ndarray, str]:
    top = float(np.max(minutes)) if minutes.size else 0.0
    if top >= 3 * 1440:
        return minutes / 1440.0, "days"
    if top >= 180:
        return minutes / 60.0, "hours"
    return minutes, "minutes"


def propagation_figure(
    dist: Any,
    *,
    body: nx.DiGraph | StateSpace | None = None,
    stacked: bool = True,
    log_time: bool = False,
    title: Any = None,
    ax: Any = None,
) -> Any:
    """The figure of :func:`plot_propagation` (same arguments but ``path``), unsaved."""
    if ax is None:
        ax = new_figure(7.5, 4.2).add_subplot()
    _draw_propagation(ax, dist, body=body, stacked=stacked, log_time=log_time, title=title)
    return ax.figure


def _draw_propagation(
    ax: Any, dist: Any, *, body: Any, stacked: bool, log_time: bool, title: Any
) -> None:
    counts = hasattr(dist, "counts")
    groups = group_states(dist, body)
    if log_time:
        groups = groups[np.asarray(groups.index, dtype=float) > 0]
    if len(groups.index) == 0:
        raise ParameterError("`dist` has no rows (one row per time, after 0 with `log_time`)")
    minutes = np.asarray(groups.index, dtype=float)
    t, unit = _time_axis(minutes)
    values = groups.to_numpy(dtype=float)
    colours = [_GROUP_COLOURS.get(g, "#000000") for g in groups.columns]
    if stacked:
        ax.stackplot(t, values.T, labels=list(groups.columns), colors=colours, alpha=0.85)
        ax.set_ylim(0, max(float(values.sum(axis=1).max()), 1e-300))
    else:
        for j, g in enumerate(groups.columns):
            ax.plot(t, values[:, j], label=g, color=colours[j], lw=1.8)
    ax.set_xlim(float(t.min()), float(t.max()) if t.max() > t.min() else float(t.min()) + 1)
    if log_time:
        ax.set_xscale("log")
    ax.set_xlabel(f"time after release ({unit}{', log scale' if log_time else ''})")
    ax.set_ylabel("cells" if counts else "probability")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.set_title(str(title) if title is not None else "Where the released cells are", fontsize=10)


def plot_propagation(
    dist: Any,
    path: str | Path | None = None,
    *,
    ax: Any = None,
    body: nx.DiGraph | StateSpace | None = None,
    stacked: bool = True,
    log_time: bool = False,
    title: str | None = None,
) -> Any:
    """Where released cells are over time: in blood, lodged, in tissue, in lymph, dead,
    colonised.

    Parameters
    ----------
    dist : pandas.DataFrame or SimulationResult
        States over time, indexed by minutes: :meth:`TransportModel.propagate`
        (probabilities) or :meth:`TransportModel.simulate` (counts).
    path : str or pathlib.Path, optional
        ``.png`` or ``.svg`` (written atomically).
    ax : matplotlib.axes.Axes, optional
        Draw on these Axes (default: a new figure).
    body : networkx.DiGraph or StateSpace, optional
        The body, to tell lymph from blood nodes (see :func:`group_states`).
    stacked : bool
        Stacked areas (default) or one line per group.
    log_time : bool
        Logarithmic time axis (rows at time 0 are left out): shows minutes and days
        in one picture.
    title : str, optional

    Returns
    -------
    pathlib.Path or matplotlib.axes.Axes
        ``path`` when given, else the Axes drawn on.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import circnet
    >>> from circnet.plots import plot_propagation
    >>> model = circnet.TransportModel(circnet.default_body())
    >>> dist = model.propagate("colon_rectum", [0.0, 10.0, 60.0, 600.0, 1440.0])
    >>> out = plot_propagation(dist, pathlib.Path(tempfile.mkdtemp()) / "p.svg", body=model.body)
    >>> b"<svg" in out.read_bytes()[:500]
    True
    """
    if path is not None:
        figure_path(path)
    ax = target_axes(ax, path, 7.5, 4.2)
    _draw_propagation(ax, dist, body=body, stacked=stacked, log_time=log_time, title=title)
    return finish(ax, path)


# --------------------------------------------------------------------------- course
def plot_course(
    result: Any,
    path: str | Path | None = None,
    *,
    ax: Any = None,
    top: int = 8,
    title: str | None = None,
) -> Any:
    """The disease course: tumour burden per site over time, and the events per site.

    Top panel: cells of the primary and the metastatic burden (cells in vascular
    metastases) at the ``top - 1`` sites with the largest burden, on a log scale, with
    the total metastatic burden and the detection threshold. Middle panel: what is not
    metastatic burden, in colours of its own: the number of dormant disseminated cells
    and the cells in avascular micrometastases (all sites). Bottom panel: one row per
    site; a strip whose colour gives the number of cells disseminated there in each
    period, markers for angiogenic switches, detection and clearing, and the count of
    each kind of event per site at the row's right end; surgery and the start of an
    angiogenesis inhibitor as dashed vertical lines. The words are defined in
    :data:`circnet.course.COURSE_TERMS`.

    Parameters
    ----------
    result : CourseResult or PatientCourse
        From :func:`circnet.simulate_course` or :func:`circnet.simulate_patient` (the
        course protocol of :mod:`circnet.report`).
    path : str or pathlib.Path, optional
        ``.png`` or ``.svg`` (written atomically).
    ax : matplotlib.axes.Axes, or two or three Axes, optional
        One Axes: the burden panel only; two (e.g. from ``plt.subplots(2, 1)``): the
        burden and the events panels; three: the burden, the dormant cells and
        micrometastases, and the events panels. Default: a new figure with all three.
    top : int
        Number of sites drawn in the top panel (the primary included).
    title : str, optional

    Returns
    -------
    pathlib.Path, matplotlib.axes.Axes or tuple of Axes
        ``path`` when given, else what was drawn on (the three Axes of a new figure).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import circnet
    >>> from circnet.plots import plot_course
    >>> res = circnet.simulate_course(circnet.default_body(), "colon_rectum", 1, rng=1)
    >>> out = plot_course(res, pathlib.Path(tempfile.mkdtemp()) / "course.png")
    >>> out.stat().st_size > 1000
    True
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().add_subplot()
    >>> plot_course(res, ax=ax).get_yscale()
    'log'
    """
    if path is not None:
        figure_path(path)
    check_course(result)
    top = check_int(top, "top", low=1)
    if ax is None:  # pyplot's figure when it is not saved: notebooks show it
        fig = course_figure(result, top=top, title=title, pyplot=path is None)
        return save_figure(fig, path) if path is not None else tuple(fig.axes[:3])
    pair = isinstance(ax, (tuple, list)) or (hasattr(ax, "shape") and hasattr(ax, "ravel"))
    axes = list(np.ravel(ax)) if pair else [ax]
    if len(axes) not in (1, 2, 3):
        raise ParameterError(f"`ax` must be one Axes, two or three (got {len(axes)})")
    for a in axes:
        target_axes(a, path, 0, 0)
    draw_burden(axes[0], result, top=top, title=title)
    if len(axes) == 3:
        draw_stages(axes[1], result)
    if len(axes) >= 2:
        draw_events(axes[-1], result, rows=max(top * 2, 12))
    if path is not None:
        return save_figure(axes[0].figure, path)
    return axes[0] if len(axes) == 1 else tuple(axes)
