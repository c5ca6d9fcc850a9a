"""Per-patient outcomes of the cohort engine, from its colonies (vectorised over a chunk).

The day a colony reaches a size (:func:`reach`: detectable, node-positive), the first
distant metastasis, synchronous metastases, node-positive disease, CTC counts and the
integer balance of shed cells by diagnosis. See :mod:`circnet._cohort_engine` for the
model and :mod:`circnet.cohort` for the table these columns make.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._clinical import ClinicalParams, ctc_expected, gompertz_cells, gompertz_time
from ._cohort_random import poisson_inverse, uniforms

__all__ = [
    "reach",
    "first_distant",
    "burden",
    "death_day",
    "symptom_day",
    "outcomes",
    "PATIENT",
    "TOTALS",
]

#: Purposes (last counter word) of the patient's own blocks and of its totals.
PATIENT, TOTALS = 1, 4


def first_distant(plan: Any, col: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Earliest day a distant metastasis is detectable, per patient (inf: none yet)."""
    site = col["site"]
    distant = (site < plan.n_organs) & (site != plan.primary)
    out = np.full(n, np.inf)
    np.minimum.at(
        out,
        col["patient"][distant],
        np.ceil(reach(plan.cp, plan.cp.detection_cells, {k: v[distant] for k, v in col.items()})),
    )
    return out


def _colony_cells(cp: ClinicalParams, col: dict[str, np.ndarray], at: np.ndarray) -> np.ndarray:
    """Cells of each colony at its patient's time ``at``: an avascular micrometastasis
    (``awakened <= at < switch``, at most ``avascular_limit_cells``) or a vascular
    metastasis (``at >= switch``); 0 before it awakens."""
    t = at[col["patient"]]
    lim, big_k, r = cp.avascular_limit_cells, cp.ceiling_cells, col["rate"]
    aw, sw = col["awakened"], col["switch"]
    micro = np.minimum(_grown(t, aw, 1.0, r, big_k), lim)
    vasc = _grown(t, sw, lim, r, big_k)
    return np.nan_to_num(np.where(t >= sw, vasc, np.where(t >= aw, micro, 0.0)))


def burden(
    plan: Any,
    col: dict[str, np.ndarray],
    at: np.ndarray,
    d_day: np.ndarray,
    rate: np.ndarray,
    operated: np.ndarray,
) -> np.ndarray:
    """Total tumour burden of each patient at its time ``at`` (law 8 of :mod:`._clinical`).

    The primary while it is in place (up to and including the diagnosis day for a
    patient operated at diagnosis, ``operated``; always otherwise), every avascular
    micrometastasis and every vascular metastasis (:func:`_colony_cells`); colonies in
    the lymph-node groups removed at surgery are gone after the diagnosis day.
    """
    cp, n = plan.cp, at.size
    who = col["patient"]
    size = _colony_cells(cp, col, at)
    if plan.removed is not None and plan.removed.any():
        gone = operated[who] & plan.removed[col["site"]] & (at[who] > d_day[who])
        size = np.where(gone, 0.0, size)
    total = np.bincount(who, weights=size, minlength=n)
    present = (at <= d_day) | ~operated
    return total + np.where(
        present, _grown(at, np.zeros_like(at), cp.start_cells, rate, cp.ceiling_cells), 0.0
    )


def symptom_day(plan: Any, col: dict[str, np.ndarray], d_day: np.ndarray) -> np.ndarray:
    """First whole day before ``d_day`` on which the distant metastases of ``col``
    (colonies in organs other than the primary's) hold ``symptomatic_burden_cells``
    together (inf: none).

    Colonies only grow and only add before diagnosis, so their burden is non-decreasing
    and the day is found by bisection over the whole days ``1 .. d_day - 1``.
    """
    cp, n = plan.cp, d_day.size
    out = np.full(n, np.inf)
    limit = cp.symptomatic_burden_cells
    site = col["site"]
    distant = (site < plan.n_organs) & (site != plan.primary)
    if not np.isfinite(limit) or not distant.any():
        return out
    sub = {k: v[distant] for k, v in col.items()}

    def sick(at: np.ndarray) -> np.ndarray:
        held = np.bincount(sub["patient"], weights=_colony_cells(cp, sub, at), minlength=n)
        return held >= limit

    return _first_day(np.zeros(n), d_day.astype(float) - 1.0, sick)


def death_day(
    plan: Any,
    col: dict[str, np.ndarray],
    d_day: np.ndarray,
    rate: np.ndarray,
    upper: np.ndarray,
    operated: np.ndarray,
) -> np.ndarray:
    """First whole day after diagnosis with a lethal burden, per patient (inf: none).

    The burden is non-decreasing after the diagnosis day (tumours only grow; colonies
    only add), so the day is found by bisection over the whole days ``d_day + 1 ..
    floor(upper)`` (exact on the daily grid). With fewer colonies than the patient will
    have (an early generation), the day found is an upper bound of the true one.
    """
    lethal = plan.cp.lethal_burden_cells

    def dead(at: np.ndarray) -> np.ndarray:
        return burden(plan, col, at, d_day, rate, operated) >= lethal

    return _first_day(d_day.astype(float), np.floor(np.minimum(upper, 1e15)), dead)


def _first_day(lo: np.ndarray, hi: np.ndarray, reached: Any) -> np.ndarray:
    """First whole day in ``(lo, hi]`` on which ``reached(day)`` holds, per patient (inf:
    none), for a condition that, once reached, holds on every later day: bisection
    (``reached`` takes an array of days, one per patient)."""
    out = np.full(lo.size, np.inf)
    ok = hi > lo
    if not ok.any():
        return out
    hit = ok & reached(np.where(ok, hi, lo))
    if not hit.any():
        return out
    lo, hi = np.where(hit, lo, 0.0), np.where(hit, hi, 0.0)
    while True:
        open_ = hi - lo > 1
        if not open_.any():
            break
        mid = np.floor((lo + hi) / 2)
        big = reached(mid)
        hi = np.where(open_ & big, mid, hi)
        lo = np.where(open_ & ~big, mid, lo)
    out[hit] = hi[hit]
    return out


def reach(cp: ClinicalParams, cells: float, col: dict[str, np.ndarray]) -> np.ndarray:
    """Day each colony reaches ``cells`` (avascular growth, then vascular after the switch)."""
    lim, big_k, r = cp.avascular_limit_cells, cp.ceiling_cells, col["rate"]
    if cells <= lim:
        return col["awakened"] + gompertz_time(1.0, cells, r, big_k)
    return col["switch"] + gompertz_time(lim, cells, r, big_k)


def _vascular_cells(
    plan: Any,
    col: dict[str, np.ndarray],
    when: np.ndarray,
    d_day: np.ndarray,
    operated: np.ndarray,
) -> np.ndarray:
    """Cells in vascular metastases of each patient at its time ``when``.

    Colonies in the lymph-node groups removed at surgery (``plan.removed``) are gone
    after the diagnosis day.
    """
    cp, n, who = plan.cp, when.size, col["patient"]
    at = when[who]
    on = col["switch"] <= at
    if plan.removed is not None and plan.removed.any():
        on &= ~(operated[who] & plan.removed[col["site"]] & (at > d_day[who]))
    size = np.where(
        on, _grown(at, col["switch"], cp.avascular_limit_cells, col["rate"], cp.ceiling_cells), 0.0
    )
    return np.bincount(who, weights=np.nan_to_num(size), minlength=n)


def outcomes(
    plan: Any,
    keys: np.ndarray,
    draw: Any,
    d_day: np.ndarray,
    end: np.ndarray,
    col: dict[str, np.ndarray],
    tot: dict[str, np.ndarray],
    death: np.ndarray,
    operated: np.ndarray,
    d_primary: np.ndarray,
) -> dict[str, Any]:
    """Per-patient outcomes from the colonies (vectorised over the chunk).

    ``death``: the day of death of each patient (inf: alive at ``end``); the follow-up
    ends at ``min(end, death)``. ``operated``: primary removed at diagnosis;
    ``d_primary``: the day the primary reached its size at diagnosis (later than the
    diagnosis day for a patient diagnosed by symptoms of metastases).
    """
    cp, n = plan.cp, keys.shape[0]
    stop = np.minimum(end, death)
    who, site = col["patient"], col["site"]
    nodal = site >= plan.n_organs
    distant = ~nodal & (site != plan.primary)
    det = reach(cp, cp.detection_cells, col)
    det_day = np.ceil(det)
    np_day = np.ceil(reach(cp, cp.node_positive_cells, col))
    before = det_day <= d_day[who]
    n_sync = np.bincount(who, weights=distant & before, minlength=n).astype(np.int64)
    by_symptoms = d_day < d_primary  # of distant metastases: metastatic at diagnosis
    node_pos = np.bincount(who, weights=nodal & (np_day <= d_day[who]), minlength=n) > 0
    # first distant metastasis detectable within the follow-up (and before death)
    seen = distant & (det_day <= stop[who])
    first_day = np.full(n, np.nan)
    first_site = np.full(n, -1, dtype=np.int64)
    if seen.any():
        idx = np.flatnonzero(seen)
        order = idx[np.lexsort((det[idx], who[idx]))]
        lead = order[np.r_[True, who[order][1:] != who[order][:-1]]]
        first_day[who[lead]] = det_day[lead]
        first_site[who[lead]] = site[lead]
    u = uniforms(keys, 1, 0, 0, TOTALS)
    u2 = uniforms(keys, 2, 0, 0, TOTALS)
    u_pat = uniforms(keys, 1, 0, 0, PATIENT)
    u_tube = uniforms(keys, 2, 0, 0, PATIENT)  # the four-tube (30 mL) count
    rate = np.asarray(draw.rate, float)

    def ctc_at(t: np.ndarray) -> np.ndarray:
        """Expected CTCs per 7.5 mL at day ``t``: the primary (until surgery) and the
        vascular metastases shed."""
        prim = np.where(
            operated & (t > d_day),
            0.0,
            gompertz_cells(t, cp.start_cells, rate, cp.ceiling_cells),
        )
        shed = cp.shedding_per_cell_day * (prim + _vascular_cells(plan, col, t, d_day, operated))
        return ctc_expected(shed, cp)

    ctc_diag = ctc_at(d_day)
    ctc_first = ctc_at(np.where(np.isnan(first_day), d_day, first_day))
    ctc_first = np.where(np.isnan(first_day), np.nan, ctc_first)
    # metastatic disease as the trials sampled it: a day drawn uniformly between the
    # first distant detection and death or the end of the follow-up
    u_met = uniforms(keys, 3, 0, 0, PATIENT)
    t_met = np.where(np.isnan(first_day), np.nan, first_day + u_met[:, 0] * (stop - first_day))
    ctc_met = ctc_at(np.nan_to_num(t_met, nan=0.0))
    ctc_met = np.where(np.isnan(first_day), np.nan, ctc_met)
    on_diag = col["switch"] <= d_day[who]
    woke_diag = col["awakened"] <= d_day[who]
    woke_org = np.bincount(who, weights=woke_diag & ~nodal, minlength=n).astype(np.int64)
    woke_node = np.bincount(who, weights=woke_diag & nodal, minlength=n).astype(np.int64)
    died_org = np.maximum(tot["org"] - tot["org_diag"] - tot["org_wake"], 0.0)
    died_node = np.maximum(tot["node"] - tot["node_diag"] - tot["node_wake"], 0.0)
    draws = poisson_inverse(
        np.concatenate([u, u2[:, :1]], axis=1),
        np.stack([tot["dead"], tot["org_diag"], died_org, tot["node_diag"], died_node], axis=1),
    )
    dead, org_diag, org_died, node_diag, node_died = draws.T
    colonies = org_diag + org_died + woke_org
    nodal_cells = node_diag + node_died + woke_node
    primary_cells = np.asarray(draw.diagnosis_cells, float)
    if by_symptoms.any():  # the primary's own size on the (earlier) diagnosis day
        grown = gompertz_cells(d_day.astype(float), cp.start_cells, rate, cp.ceiling_cells)
        primary_cells = np.where(by_symptoms, grown, primary_cells)
    return {
        "vdt_days": np.asarray(draw.vdt_days, float),
        "growth_rate": rate,
        "diagnosis_cells": primary_cells,
        "diagnosis_day": d_day,
        "diagnosed_by_symptoms": by_symptoms,
        "primary_removed": operated,
        "end_day": end,
        "synchronous": (n_sync > 0) | by_symptoms,
        "n_synchronous": n_sync,
        "node_positive": node_pos,
        "first_distant_site": first_site,
        "first_distant_day": first_day,
        "ctc_expected_at_diagnosis": ctc_diag,
        "ctc_at_diagnosis": poisson_inverse(u_pat[:, 2], ctc_diag),
        "ctc_30ml_at_diagnosis": poisson_inverse(u_tube[:, 0], 4.0 * ctc_diag),
        "ctc_expected_at_first_distant": ctc_first,
        "metastatic_sample_day": t_met,
        "ctc_expected_metastatic": ctc_met,
        "ctc_metastatic": np.where(
            np.isnan(ctc_met), -1, poisson_inverse(u_met[:, 1], np.nan_to_num(ctc_met))
        ),
        "ctc_at_first_distant": np.where(
            np.isnan(ctc_first), -1, poisson_inverse(u_pat[:, 3], np.nan_to_num(ctc_first))
        ),
        "dormant_distant_at_diagnosis": org_diag,
        "dormant_nodal_at_diagnosis": node_diag,
        "micrometastases_at_diagnosis": np.bincount(
            who, weights=woke_diag & ~on_diag, minlength=n
        ).astype(np.int64),
        "vascular_at_diagnosis": np.bincount(who, weights=on_diag, minlength=n).astype(np.int64),
        "shed_by_diagnosis": dead + colonies + nodal_cells,
        "dead_in_transport": dead,
        "colonies_founded": colonies,
        "nodal_founded": nodal_cells,
        "dormant_died": org_died + node_died,
        "awakened_by_diagnosis": woke_org + woke_node,
        "shed_expected": tot["shed"],
        "colonies_followed": np.bincount(who, minlength=n).astype(np.int64),
        "burden_at_diagnosis": burden(plan, col, d_day.astype(float), d_day, rate, operated),
        "death_day": np.where(np.isfinite(death), death, np.nan),
        "died_of_disease": np.isfinite(death),
    }


def _grown(t: np.ndarray, t0: np.ndarray, n0: Any, rate: np.ndarray, k: float) -> np.ndarray:
    return np.asarray(gompertz_cells(np.maximum(t - t0, 0.0), n0, rate, k))
