"""The result tables of a disease course, read from its engine (:mod:`circnet._day`).

:func:`tables` turns the records, rows and events of an :class:`~circnet._day.Engine`
into the pandas tables of :class:`~circnet.CourseResult`: the tidy per-site time series,
the events, the per-step counts and the summary.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from ._day import EVENT_KINDS, Engine
from ._rows import DAILY, STAGE_STATS
from .tumour import CELLS_PER_MM3

__all__ = ["tables", "Tables", "STAGE_COUNTS", "COURSE_TERMS", "BURDEN_STAGES"]

#: The words of a course's results, each defined once (the report shows them as its
#: glossary; the same definitions as :data:`circnet._clinical.TERMS` where they fit).
COURSE_TERMS = {
    "dormant disseminated cells": (
        "single tumour cells lodged in an organ or lymph node that have not completed a "
        "doubling (fewer than twice `colony_cells`: 2 cells by default); they are not "
        "metastases, cannot be imaged, and most die"
    ),
    "avascular micrometastases": (
        "colonies that divide without vessels of their own; they stall at about "
        "`avascular_limit_cells` (1e6 cells, 1 mm) and cannot be imaged"
    ),
    "vascular metastases": (
        "colonies that have switched on angiogenesis (the angiogenic switch): they grow "
        "past the avascular limit and shed cells; these are the metastases a clinician "
        "treats"
    ),
    "metastatic burden": (
        "the cells of the vascular metastases (dormant cells and micrometastases are counted apart)"
    ),
    "detectable metastasis": (
        "a metastasis of at least `detection_cells` cells (1e9 cells, about 1 cm^3 on imaging)"
    ),
    "cells disseminated": (
        "shed cells whose transport fate is a colony in an organ (or a tumour in a lymph "
        "node); each starts as a dormant disseminated cell"
    ),
}
#: What :meth:`~circnet.CourseResult.burden` can count: columns of the time series, and in words.
BURDEN_STAGES = {
    "metastases": (
        ("primary_cells", "vascular_metastasis_cells"),
        "cells of the primary and the vascular metastases",
    ),
    "micrometastases": (("micrometastasis_cells",), "cells in avascular micrometastases"),
    "dormant": (("dormant_cells",), "dormant disseminated cells"),
    "all": (("total_cells",), "tumour cells"),
}

#: Stage columns that count tumours (int64, unless a resumed old checkpoint left NaN).
STAGE_COUNTS = ("dormant_cells", "micrometastases", "vascular_metastases", "detectable_metastases")


def _counts(a: np.ndarray) -> np.ndarray:
    return a.astype(np.int64) if np.isfinite(a).all() else a


class Tables(NamedTuple):
    """What :func:`tables` returns (the fields of a :class:`~circnet.CourseResult`)."""

    days: float
    timeseries: pd.DataFrame
    events: pd.DataFrame
    daily: pd.DataFrame
    summary: pd.Series
    status: str
    message: str


def tables(engine: Engine) -> Tables:
    """The result tables of a course engine at its current step."""
    p = engine.params
    m = engine.step
    days = np.arange(m + 1) * engine.dt
    st = engine.records.stats[: m + 1]
    used = (st[:, 0, :].max(axis=0) > 0).nonzero()[0]
    ns = used.size
    sites = np.asarray(engine.sites, dtype=object)
    ts = pd.DataFrame(
        {
            "day": np.repeat(days, ns),
            "site": pd.Categorical(
                np.tile(sites[used], m + 1), categories=[engine.sites[i] for i in used]
            ),
            "n_tumours": st[:, 0, used].ravel().astype(np.int64),
            "n_vascular": st[:, 1, used].ravel().astype(np.int64),
            "total_cells": st[:, 2, used].ravel(),
            "largest_cells": st[:, 3, used].ravel(),
        }
    )
    ts["detectable"] = ts["largest_cells"] >= p.detection_cells
    sg = engine.records.stages[: m + 1]
    for j, name in enumerate(STAGE_STATS):
        col = sg[:, j, used].ravel()
        ts[name] = _counts(col) if name in STAGE_COUNTS else col
    ev = engine.event_arrays()
    events = pd.DataFrame(
        {
            "day": ev[0],
            "site": sites[ev[1]] if ev[1].size else [],
            "kind": pd.Categorical(
                np.asarray(EVENT_KINDS, dtype=object)[ev[2]] if ev[2].size else [],
                categories=list(EVENT_KINDS),
            ),
            "count": ev[3],
            "cells": ev[4],
            "primary": ev[5],
        }
    )
    events = events.sort_values(["day", "kind"], kind="stable").reset_index(drop=True)
    daily = pd.DataFrame(
        engine.records.daily[:m], columns=list(DAILY), index=pd.Index(days[1:], name="day")
    )
    daily["primary_cells"] = engine.records.daily_cells[:m, 0]
    daily["disseminated_tumour_cells"] = engine.records.daily_cells[:m, 1]
    ends = sg[1:].sum(axis=2)
    for name in ("dormant_cells", "micrometastasis_cells", "vascular_metastasis_cells"):
        col = ends[:, STAGE_STATS.index(name)]
        daily[name] = _counts(col) if name in STAGE_COUNTS else col
    end = float(days[-1])
    if m >= engine.n_steps:
        status, message = "finished", f"the course ran to day {end:g}"
    else:
        total = engine.n_steps * engine.dt
        status = "stopped"
        message = f"stopped at day {end:g} of {total:g} (`stop_day`); continue with resume_course"
    return Tables(end, ts, events, daily, _summary(engine, events, daily, end), status, message)


def _summary(engine: Engine, events: pd.DataFrame, daily: pd.DataFrame, end: float) -> pd.Series:
    met = events[~events["primary"]]

    def first(kind: str) -> tuple[float, str | None]:
        e = met[met["kind"] == kind]
        if e.empty:
            return math.nan, None
        return float(e["day"].iloc[0]), str(e["site"].iloc[0])

    sw_day, sw_site = first("angiogenic_switch")
    det_day, det_site = first("detectable")
    st = engine.records.stats[engine.step]
    rows = engine.rows
    n = rows.n
    alive = rows.count[:n] > 0
    met_rows = ~rows.primary[:n] & alive
    big = np.exp(rows.lnv[:n]) * CELLS_PER_MM3 >= engine.params.detection_cells
    det_sites = [engine.sites[i] for i in np.unique(rows.site[:n][met_rows & big])]
    last = len(daily) > 0
    sg = engine.records.stages[engine.step].sum(axis=1)

    def stage(name: str) -> float:
        return float(sg[STAGE_STATS.index(name)])

    def count(name: str) -> int | float:
        v = stage(name)
        return int(v) if math.isfinite(v) else v

    return pd.Series(
        {
            "primary": engine.primary_site,
            "days": end,
            "first_vascular_metastasis_day": sw_day,
            "first_vascular_metastasis_site": sw_site,
            "first_detectable_metastasis_day": det_day,
            "first_detectable_metastasis_site": det_site,
            "detectable_metastatic_sites": ", ".join(det_sites),
            "primary_cells_end": float(daily["primary_cells"].iloc[-1]) if last else 0.0,
            "dormant_cells_end": count("dormant_cells"),
            "micrometastases_end": count("micrometastases"),
            "micrometastasis_cells_end": stage("micrometastasis_cells"),
            "vascular_metastases_end": int(st[1].sum()) - int((rows.primary[:n] & alive).sum()),
            "vascular_metastasis_cells_end": stage("vascular_metastasis_cells"),
            "detectable_metastases_end": count("detectable_metastases"),
            "cells_shed": int(daily["shed"].sum()),
            "cells_disseminated_to_organs": int(daily["colonies"].sum()),
            "cells_disseminated_to_nodes": int(daily["nodal"].sum()),
            "conserved": bool(
                (daily["shed"] == daily[["dead", "colonies", "nodal"]].sum(axis=1)).all()
            ),
        },
        name="summary",
    )
