"""The daily course of one patient, rebuilt in closed form from the cohort engine's events.

:func:`build` takes the row and the colonies of one patient of
:func:`circnet.simulate_cohort` (``follow="all"``, ``keep_colonies=True``) and the
engine's plan, and returns the tables of :class:`circnet.PatientCourse`. Nothing is
simulated again: every size is the Gompertz law of :mod:`circnet._clinical` evaluated
at whole days (day ``d`` is the state at the end of that day; an event belongs to the
first whole day on which it has happened, as in the cohort):

* the **primary** has ``gompertz_cells(d, start_cells, growth_rate, ceiling_cells)``
  cells up to and including the diagnosis day, and none after it with surgery;
* a colony is an **avascular micrometastasis** on days ``awakened <= d < switch``, of
  ``min(gompertz_cells(d - awakened, 1, rate), avascular_limit_cells)`` cells, and a
  **vascular metastasis** on days ``d >= switch``, of
  ``gompertz_cells(d - switch, avascular_limit_cells, rate)`` cells; it is
  **detectable** from the first whole day it reaches ``detection_cells``
  (:func:`circnet._cohort_outcomes.reach`, the cohort's own rule); colonies in the
  lymph-node groups removed with the primary are gone from the day after diagnosis;
* the **expected dormant disseminated cells** at a site solve the engine's law
  ``dm/dt = lambda(t) - kappa(t) m`` (``lambda``: the cells reaching the site per day
  from the shedding of the primary and of the vascular metastases the engine let seed;
  ``kappa``: awakening plus death in an organ, awakening plus the saturating immune
  kill in a lymph node, the kill set by the primary's own seeding as in the engine), on
  the daily grid by the engine's exponential integrator (exact for ``lambda`` linear
  within a day; :mod:`circnet._patient_dormancy`). It is a mean, not a count: the
  engine never draws single dormant cells, only their awakenings;
* the frame ends on the day of **death** of disease (law 8 of :mod:`circnet._clinical`:
  the total burden reaches ``lethal_burden_cells``) or at the end of the follow-up;
* **CTC per 7.5 mL** on day ``d``: a Poisson count (inversion of a uniform of the
  patient's own counter-based stream, purpose :data:`CTC_PURPOSE`, counter ``d + 1``)
  around :func:`circnet._clinical.ctc_expected` of that day's shedding by the primary
  and every vascular metastasis; on the diagnosis day it is the cohort row's own draw.

The days shown: ``first .. end`` (``first`` from ``history_years`` of
:func:`circnet.simulate_patient`; 0 by default here). Everything above is exact on each
day shown, whatever ``first`` is: the sizes and counts are closed forms of the event
times (colonies awakened or switched before ``first`` are counted from it on), the CTC
draw of day ``d`` is counter ``d + 1`` of the stream, and the events keep their exact
days, also those before ``first``. Only the expected dormant cells need the days before
``first``: their value on day ``first`` is integrated on a coarse grid (steps of one day
next to ``first``, growing geometrically into the past; :mod:`circnet._patient_dormancy`)
and carried into the daily recurrence, to about 1e-7 relative of the daily one.

Cost: the cell sums take one Gompertz evaluation per colony and day it grows (counts
are exact from event days in any case). When a patient's colonies would need more than
:data:`EXACT_EVALUATIONS` evaluations (thousands of metastases seeding metastases), the
sums are exact on the days that are multiples of ``stride`` (and on the first and the
last day shown, the diagnosis and the first-distant day) and interpolated geometrically
in between; ``stride`` is reported (a frame cut at ``first`` is exact on ``first`` too, so
its interpolated days just after ``first`` may differ from the full frame's by the
interpolation error, about 1e-6 relative).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ._clinical import (
    cells_to_diameter,
    ctc_expected,
    gompertz_cells,
    gompertz_time,
)
from ._cohort_engine import MAX_GENERATIONS, Plan
from ._cohort_outcomes import reach
from ._cohort_random import poisson_inverse, uniforms
from ._patient_dormancy import expected_dormant

__all__ = ["build", "Frames", "EVENT_KINDS", "CTC_PURPOSE", "EXACT_EVALUATIONS"]

#: Kinds of event of a patient course, in order.
EVENT_KINDS = (
    "diagnosis",
    "surgery",
    "awakened",
    "angiogenic_switch",
    "node_positive",
    "detectable",
    "first_distant",
    "death",
)
#: Purpose word (last counter word) of the daily CTC draws in the patient's stream
#: (the engine uses 1-4, :mod:`circnet._cohort_engine`, :mod:`circnet._cohort_outcomes`).
CTC_PURPOSE = 5
#: Gompertz evaluations of the exact daily cell sums (per stage) before striding.
EXACT_EVALUATIONS = 500_000
_CHUNK = 500_000


class Frames(NamedTuple):
    """What :func:`build` returns (fields of :class:`circnet.PatientCourse`)."""

    days: np.ndarray
    timeseries: pd.DataFrame
    daily: pd.DataFrame
    events: pd.DataFrame
    summary: pd.Series
    colonies: pd.DataFrame
    stride: int


# ============================================================================ cell sums
def _day_index(x: np.ndarray, n_days: int) -> np.ndarray:
    """First whole day at or after ``x`` (clipped to ``0 .. n_days``)."""
    with np.errstate(invalid="ignore"):
        return np.clip(np.ceil(np.nan_to_num(x, nan=np.inf, posinf=np.inf)), 0, n_days).astype(
            np.int64
        )


def _window_counts(
    group: np.ndarray, lo: np.ndarray, hi: np.ndarray, shape: tuple[int, int], first: int = 0
) -> np.ndarray:
    """Per (group, day): how many intervals ``[lo, hi)`` (whole days) hold the day.

    ``lo`` and ``hi`` are absolute days; the columns are the days ``first .. first + n - 1``.
    """
    rows, n_days = shape
    lo, hi = np.clip(lo - first, 0, n_days), np.clip(hi - first, 0, n_days)
    keep = hi > lo
    diff = np.bincount(group[keep] * (n_days + 1) + lo[keep], minlength=rows * (n_days + 1))
    diff = diff - np.bincount(group[keep] * (n_days + 1) + hi[keep], minlength=rows * (n_days + 1))
    return np.cumsum(diff.reshape(rows, n_days + 1)[:, :n_days], axis=1)


def _curve_sums(
    group: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    n0: float,
    rate: np.ndarray,
    cap: float,
    shape: tuple[int, int],
    ceiling: float,
    anchors: list[int],
    first: int = 0,
) -> tuple[np.ndarray, int]:
    """Per (group, day) sums of ``min(G(d - t0; n0, rate), cap)`` over days ``t0 <= d < t1``.

    The columns are the days ``first .. first + n - 1``. Returns the sums and the stride
    (1: exact on every day; else exact on the days that are multiples of it, on the
    first and the last day and on the ``anchors``).
    """
    rows, n_days = shape
    end = first + n_days
    lo, stop = _day_index(t0, end), _day_index(t1, end)
    out = np.zeros(shape)
    if math.isfinite(cap):  # the plateau at the cap: exact, by differences
        full = t0 + np.asarray(gompertz_time(n0, cap, rate, ceiling))
        g_stop = np.minimum(stop, _day_index(full, end))
        out += cap * _window_counts(group, np.maximum(lo, g_stop), stop, shape, first)
    else:
        g_stop = stop
    lo = np.maximum(lo, first)
    length = np.maximum(g_stop - lo, 0)
    total = int(length.sum())
    stride = max(1, math.ceil(total / EXACT_EVALUATIONS))
    grid = np.arange(first, end)
    if stride > 1:
        extra = [a for a in anchors if first <= a < end]
        grid = np.unique(
            np.concatenate([grid[grid % stride == 0], [first, end - 1], extra]).astype(np.int64)
        )
    gi0 = np.searchsorted(grid, lo, side="left")
    gi1 = np.searchsorted(grid, g_stop, side="left")
    count = np.maximum(gi1 - gi0, 0)
    sums = np.zeros(rows * grid.size)
    ends = np.cumsum(count)
    start = 0
    while start < count.size:  # chunks of about _CHUNK evaluations
        stop_c = int(np.searchsorted(ends, (ends[start - 1] if start else 0) + _CHUNK, "right"))
        stop_c = max(stop_c, start + 1)
        c = count[start:stop_c]
        owner = np.repeat(np.arange(start, stop_c), c)
        if owner.size:
            offset = np.cumsum(c) - c
            idx = gi0[owner] + np.arange(owner.size) - offset[owner - start]
            age = grid[idx] - t0[owner]
            v = np.minimum(gompertz_cells(age, n0, rate[owner], ceiling), cap)
            sums += np.bincount(group[owner] * grid.size + idx, weights=v, minlength=sums.size)
        start = stop_c
    table = sums.reshape(rows, grid.size)
    if stride == 1:
        return out + table, 1
    days = np.arange(first, end)
    j = np.clip(np.searchsorted(grid, days, side="right") - 1, 0, grid.size - 2)
    w = (days - grid[j]) / (grid[j + 1] - grid[j])
    va, vb = table[:, j], table[:, j + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        geo = va * np.power(vb / va, w)
    both = (va > 0) & (vb > 0)
    return out + np.where(both, geo, va + (vb - va) * w), stride


# ============================================================================ the frames
def build(
    plan: Plan, row: pd.Series, colonies: pd.DataFrame, keys: np.ndarray, first: int = 0
) -> Frames:
    """The daily tables of one patient on days ``first .. end`` (see the module docstring)."""
    cp, sites = plan.cp, plan.sites
    n_sites = len(sites)
    d_day = int(row["diagnosis_day"])
    # the daily frame ends at death of disease (law 8) or at the end of the follow-up
    end = int(math.floor(float(row["followed_to_day"]))) + 1  # absolute days 0 .. end - 1
    first = int(min(max(first, 0), d_day, end - 1))
    days = np.arange(first, end)
    n_days = days.size
    c = colonies.reset_index(drop=True)
    site = pd.Index(sites).get_indexer(c["site"].astype(object)).astype(np.int64)
    aw, sw = c["awakened"].to_numpy(float), c["switch"].to_numpy(float)
    rate, gen = c["rate"].to_numpy(float), c["generation"].to_numpy(np.int64)
    operated = bool(row["primary_removed"])  # surgery, unless diagnosed by symptoms
    removed = plan.removed if plan.removed is not None else np.zeros(n_sites, dtype=bool)
    removed = removed & operated
    gone = np.where(removed[site], d_day + 1.0, np.inf)  # dissected with the primary
    lim, big_k = cp.avascular_limit_cells, cp.ceiling_cells
    first_day = float(row["first_distant_day"])
    anchors = [d_day] + ([int(first_day)] if math.isfinite(first_day) else [])
    shape = (n_sites, n_days)
    # generations the engine let seed (a cut patient's last one does not)
    # (the cap of MAX_COLONIES_PER_PATIENT was reached in the patient's last generation)
    last_gen = int(gen.max()) if gen.size else 0
    seeds = (gen + 1 < MAX_GENERATIONS) & ~(bool(row["colonies_cut"]) & (gen == last_gen))
    avasc_cells, s1 = _curve_sums(
        site, aw, np.minimum(sw, gone), 1.0, rate, lim, shape, big_k, anchors, first
    )
    vgroup = site + n_sites * (~seeds)
    v2, s2 = _curve_sums(
        vgroup, sw, gone, lim, rate, np.inf, (2 * n_sites, n_days), big_k, anchors, first
    )
    vasc_cells = v2[:n_sites] + v2[n_sites:]
    det = np.asarray(reach(cp, cp.detection_cells, {"awakened": aw, "switch": sw, "rate": rate}))
    npos = np.asarray(
        reach(cp, cp.node_positive_cells, {"awakened": aw, "switch": sw, "rate": rate})
    )
    d_aw, d_sw, d_det = (_day_index(x, end) for x in (aw, sw, det))
    d_gone = _day_index(gone, end)
    n_avasc = _window_counts(site, d_aw, np.minimum(d_sw, d_gone), shape, first)
    n_vasc = _window_counts(site, d_sw, d_gone, shape, first)
    n_det = _window_counts(site, np.maximum(d_det, d_sw), d_gone, shape, first)
    # the primary
    present = days <= d_day if operated else np.ones(n_days, dtype=bool)
    prim = np.where(
        present, gompertz_cells(days, cp.start_cells, float(row["growth_rate"]), big_k), 0.0
    )
    # shedding, CTCs
    shed = cp.shedding_per_cell_day * (prim + vasc_cells.sum(axis=0))
    ctc_mean = np.asarray(ctc_expected(shed, cp), dtype=float)
    u = uniforms(np.repeat(keys, n_days, axis=0), days + 1, 0, 0, CTC_PURPOSE)[:, 0]
    ctc = poisson_inverse(u, ctc_mean)
    if d_day < end:  # first <= d_day
        ctc[d_day - first] = int(row["ctc_at_diagnosis"])
    # expected dormant disseminated cells, from m(first) (0 on day 0)
    seeding = (site[seeds], sw[seeds], rate[seeds])
    dormant = expected_dormant(plan, row, first, prim, v2[:n_sites], seeding)
    if operated:
        dormant[d_day + 1 - first :, removed] = 0.0
    c = c.assign(detectable_day=np.where(np.isfinite(det), np.ceil(det), np.inf))
    stride = max(s1, s2)
    stage = _Stage(prim, dormant.T, n_avasc, avasc_cells, n_vasc, vasc_cells, n_det)
    ts = _timeseries(sites, plan.primary, days, stage)
    daily = _daily(days, stage, shed, ctc_mean, ctc)
    total = prim + avasc_cells.sum(axis=0) + vasc_cells.sum(axis=0)
    when = (d_aw, d_sw, d_det, d_gone)
    events = _events(plan, row, days, site, when, npos, (prim, total), end)
    summary = _summary(plan, row, stage, ctc_mean, ctc, d_day, days, stride)
    return Frames(days, ts, daily, events, summary, c, stride)


class _Stage(NamedTuple):
    primary: np.ndarray  # days
    dormant: np.ndarray  # sites x days (expected)
    n_micro: np.ndarray
    micro_cells: np.ndarray
    n_vascular: np.ndarray
    vascular_cells: np.ndarray
    n_detectable: np.ndarray


def _timeseries(sites: tuple[str, ...], primary: int, days: np.ndarray, st: _Stage) -> pd.DataFrame:
    held: np.ndarray = np.asarray(
        (st.dormant > 0).any(axis=1)
        | (st.n_micro > 0).any(axis=1)
        | (st.n_vascular > 0).any(axis=1)
    )
    held[primary] = True
    which = np.flatnonzero(held)
    n, k = days.size, which.size
    prim = np.zeros((len(sites), n))
    prim[primary] = st.primary

    def flat(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a[which].T).ravel()

    codes = np.tile(np.arange(k), n)
    frame = pd.DataFrame(
        {
            "day": np.repeat(days, k),
            "site": pd.Categorical.from_codes(codes, [sites[i] for i in which]),
            "primary_cells": flat(prim),
            "expected_dormant_cells": flat(st.dormant),
            "micrometastases": flat(st.n_micro).astype(np.int64),
            "micrometastasis_cells": flat(st.micro_cells),
            "vascular_metastases": flat(st.n_vascular).astype(np.int64),
            "vascular_metastasis_cells": flat(st.vascular_cells),
            "detectable_metastases": flat(st.n_detectable).astype(np.int64),
        }
    )
    frame["total_cells"] = (
        frame["primary_cells"] + frame["micrometastasis_cells"] + frame["vascular_metastasis_cells"]
    )
    return frame


def _daily(
    days: np.ndarray, st: _Stage, shed: np.ndarray, ctc_mean: np.ndarray, ctc: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "primary_cells": st.primary,
            "expected_dormant_cells": st.dormant.sum(axis=0),
            "micrometastases": st.n_micro.sum(axis=0).astype(np.int64),
            "micrometastasis_cells": st.micro_cells.sum(axis=0),
            "vascular_metastases": st.n_vascular.sum(axis=0).astype(np.int64),
            "vascular_metastasis_cells": st.vascular_cells.sum(axis=0),
            "detectable_metastases": st.n_detectable.sum(axis=0).astype(np.int64),
            "shed_per_day": shed,
            "ctc_expected": ctc_mean,
            "ctc_per_7_5_ml": ctc.astype(np.int64),
        },
        index=pd.Index(days, name="day"),
    )


def _events(
    plan: Plan,
    row: pd.Series,
    days: np.ndarray,
    site: np.ndarray,
    when: tuple[np.ndarray, ...],
    npos: np.ndarray,
    cells: tuple[np.ndarray, np.ndarray],
    n_days: int,
) -> pd.DataFrame:
    """Events on their exact days ``0 .. n_days - 1`` (also before the first day shown)."""
    cp, sites = plan.cp, plan.sites
    prim, total = cells  # on the days shown
    day0 = int(days[0])
    d_aw, d_sw, d_det, d_gone = when
    d_np = _day_index(npos, n_days)
    nodal = site >= plan.n_organs
    parts = []

    def colony_events(kind: str, day: np.ndarray, keep: np.ndarray, cells: float) -> None:
        ok = keep & (day < np.minimum(d_gone, n_days))
        if ok.any():
            key = day[ok] * len(sites) + site[ok]
            count = np.bincount(key - key.min())
            uniq = np.flatnonzero(count) + key.min()
            count = count[count > 0]
            parts.append(
                pd.DataFrame(
                    {
                        "day": uniq // len(sites),
                        "site": np.asarray(sites, dtype=object)[uniq % len(sites)],
                        "kind": kind,
                        "count": count,
                        "cells": cells,
                        "primary": False,
                    }
                )
            )

    d_day = int(row["diagnosis_day"])
    at_d = float(prim[min(d_day, n_days - 1) - day0])
    head = [(d_day, sites[plan.primary], "diagnosis", 1, at_d, True)]
    if bool(row["primary_removed"]):
        head.append((d_day, sites[plan.primary], "surgery", 1, at_d, True))
    parts.append(pd.DataFrame(head, columns=["day", "site", "kind", "count", "cells", "primary"]))
    every = np.ones(site.size, dtype=bool)
    colony_events("awakened", d_aw, every, 1.0)
    colony_events("angiogenic_switch", d_sw, every, cp.avascular_limit_cells)
    colony_events("node_positive", d_np, nodal, cp.node_positive_cells)
    colony_events("detectable", np.maximum(d_det, d_sw), every, cp.detection_cells)
    first = float(row["first_distant_day"])
    if math.isfinite(first) and first < n_days:
        parts.append(
            pd.DataFrame(
                [
                    (
                        int(first),
                        str(row["first_distant_site"]),
                        "first_distant",
                        1,
                        cp.detection_cells,
                        False,
                    )
                ],
                columns=["day", "site", "kind", "count", "cells", "primary"],
            )
        )
    death = float(row["death_day"])
    if math.isfinite(death) and death < n_days:
        at_death = float(total[int(death) - day0])
        parts.append(
            pd.DataFrame(
                [(int(death), sites[plan.primary], "death", 1, at_death, False)],
                columns=["day", "site", "kind", "count", "cells", "primary"],
            )
        )
    ev = pd.concat(parts, ignore_index=True)
    kind = pd.Categorical(ev["kind"], categories=list(EVENT_KINDS))
    order = np.lexsort((kind.codes, ev["day"].to_numpy(np.int64)))
    return pd.DataFrame(
        {
            "day": ev["day"].to_numpy(np.int64)[order],
            "site": ev["site"].to_numpy(object)[order],
            "kind": kind[order],
            "count": ev["count"].to_numpy(np.int64)[order],
            "cells": ev["cells"].to_numpy(float)[order],
            "primary": ev["primary"].to_numpy(bool)[order],
        }
    )


def _summary(
    plan: Plan,
    row: pd.Series,
    st: _Stage,
    ctc_mean: np.ndarray,
    ctc: np.ndarray,
    d_day: int,
    days: np.ndarray,
    stride: int,
) -> pd.Series:
    last = days.size - 1  # an index into the days shown
    first = float(row["first_distant_day"])
    diag = int(min(d_day - int(days[0]), last))
    out: dict[str, Any] = {
        "patient": int(row["patient"]),
        "primary": str(row["primary"]),
        "scenario": "surgery" if plan.surgery else "natural",
        "vdt_days": float(row["vdt_days"]),
        "diagnosis_day": d_day,
        "diagnosis_cells": float(row["diagnosis_cells"]),
        "diagnosis_diameter_cm": float(cells_to_diameter(row["diagnosis_cells"])),
        "surgery_day": d_day if bool(row["primary_removed"]) else math.nan,
        "diagnosed_by_symptoms": bool(row["diagnosed_by_symptoms"]),
        "synchronous": bool(row["synchronous"]),
        "synchronous_sites": str(row["synchronous_sites"]),
        "node_positive": bool(row["node_positive"]),
        "metachronous": bool(math.isfinite(first) and first > d_day),
        "first_distant_site": str(row["first_distant_site"]),
        "first_distant_day": first,
        "months_to_first_distant": float(row["months_to_first_distant"]),
        "ctc_at_diagnosis": int(ctc[diag]),
        "ctc_expected_at_diagnosis": float(ctc_mean[diag]),
        "died_of_disease": bool(row["died_of_disease"]),
        "death_day": float(row["death_day"]),
        "end_day": int(days[-1]),
        "primary_cells_end": float(st.primary[last]),
        "expected_dormant_cells_end": float(st.dormant[:, last].sum()),
        "micrometastases_end": int(st.n_micro[:, last].sum()),
        "micrometastasis_cells_end": float(st.micro_cells[:, last].sum()),
        "vascular_metastases_end": int(st.n_vascular[:, last].sum()),
        "vascular_metastasis_cells_end": float(st.vascular_cells[:, last].sum()),
        "detectable_metastases_end": int(st.n_detectable[:, last].sum()),
        "ctc_at_end": int(ctc[last]),
        "colonies_followed": int(row["colonies_followed"]),
        "colonies_cut": bool(row["colonies_cut"]),
        "cell_sums_exact_every_days": int(stride),
        "history_from_day": int(days[0]),
    }
    return pd.Series(out, dtype=object, name=f"patient {int(row['patient'])}")
