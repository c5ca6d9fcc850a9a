"""Expected dormant disseminated cells of one patient, day by day (the daily frame's).

The expected number of dormant cells ``m`` at a site solves the engine's law
``dm/dt = lambda(t) - kappa(t) m`` (:mod:`circnet._cohort_engine`): ``lambda`` is the
cells reaching the site per day from the shedding of the primary and of the vascular
metastases the engine let seed; ``kappa`` is awakening plus death in an organ, and
awakening plus the saturating immune kill in a lymph node, the kill
``nodal_kill_rate / (1 + m_own / nodal_kill_saturation)`` set by the primary's own
seeding ``m_own`` as in the engine (mean field, explicit: held over a step at its value
at the start). Both are integrated by the engine's exponential integrator
(:func:`circnet._cohort_dormancy._weights`: exact for a constant hazard over a step and
``lambda`` linear between grid points):

* on the **days shown** (``first .. end``) with steps of one day, from ``m(first)``;
* **before them** (``0 .. first``, when the daily tables are cut by ``history_years``)
  on the coarse grid of :func:`history_grid`: whole days, steps of one day next to
  ``first`` growing by :data:`HISTORY_RATIO` per step into the past (about 800 intervals
  for 900 years), ``lambda`` sampled on its points (the primary and every seeding
  vascular metastasis, exact Gompertz sizes). Only ``m(first)`` is kept. The dormancy
  hazard (0.1 per day in an organ, 0.004-0.1 in a node) forgets the far past, where the
  steps are long; on the days shown ``m`` then agrees with the one integrated daily from
  day 0 to about 1e-7 relative (tests/test_patient.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ._clinical import ClinicalParams, gompertz_cells
from ._cohort_dormancy import _weights
from ._cohort_engine import Plan

__all__ = ["expected_dormant", "history_grid", "HISTORY_RATIO"]

#: Growth of the steps of the coarse grid before the first day shown (:func:`history_grid`).
HISTORY_RATIO = 1.01


def expected_dormant(
    plan: Plan,
    row: pd.Series,
    first: int,
    prim: np.ndarray,
    vasc: np.ndarray,
    seeding: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Expected dormant cells (days x sites) on the days ``first .. first + n - 1``.

    ``prim``: cells of the primary per day shown; ``vasc``: cells of the seeding vascular
    metastases (sites x days shown); ``seeding``: site, switch day and growth rate of
    every seeding colony (for the days before ``first``).
    """
    m0, m0_own = np.zeros(len(plan.sites)), None
    if first > 0:  # m(first) from the coarse grid of the days before
        t = history_grid(first).astype(float)
        cp = plan.cp
        prim_t = gompertz_cells(t, cp.start_cells, float(row["growth_rate"]), cp.ceiling_cells)
        m, m0_own = _integrate(plan, prim_t, _vascular(plan, t, seeding), m0, None, np.diff(t))
        m0 = m[-1]
    return _integrate(plan, prim, vasc.T, m0, m0_own)[0]


def _vascular(
    plan: Plan, t: np.ndarray, seeding: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    """Cells of the seeding vascular metastases per site at the times ``t`` (before
    ``first``: none has been removed yet), points x sites."""
    cp, site, sw, rate = plan.cp, *seeding
    out = np.zeros((t.size, len(plan.sites)))
    early = np.flatnonzero(sw < t[-1])
    for lo in range(0, early.size, 2048):
        k = early[lo : lo + 2048]
        age = t[:, None] - sw[k][None, :]
        g = gompertz_cells(
            np.maximum(age, 0.0), cp.avascular_limit_cells, rate[k], cp.ceiling_cells
        )
        out += np.where(age >= 0, g, 0.0) @ np.eye(len(plan.sites))[site[k]]
    return out


def _integrate(
    plan: Plan,
    prim: np.ndarray,
    vasc: np.ndarray,
    m0: np.ndarray,
    m0_own: np.ndarray | None,
    h: Any = 1.0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``m`` (points x sites) from ``m0``, and the nodal ``m`` of the primary's own seeding
    at the last point when the steps ``h`` are given (the coarse grid), else None."""
    cp, n_sites, n_org = plan.cp, len(plan.sites), plan.n_organs
    lam_p = cp.shedding_per_cell_day * prim
    primary = np.outer(lam_p, np.eye(n_sites)[plan.primary])
    inflow = (cp.shedding_per_cell_day * vasc + primary) @ plan.dest
    m = np.tile(m0, (prim.size, 1))
    own_end = None
    if prim.size < 2:
        return m, own_end
    step = h if np.isscalar(h) else np.asarray(h, dtype=float)[:, None]
    organs, nodes = np.arange(n_org), np.arange(n_org, n_sites)
    wake_org, wake_node = _awakening(plan)
    kappa_org = cp.dormant_death_rate + wake_org
    m[:, organs] = _dormant(inflow[:, organs], kappa_org, m0[organs], step)
    if nodes.size:
        own = np.outer(lam_p, plan.dest[plan.primary, nodes])
        kill = _nodal_kill(own, cp, wake_node, m0_own, step)
        m[:, nodes] = _dormant(inflow[:, nodes], wake_node + kill, m0[nodes], step)
        if not np.isscalar(h):
            own_end = _dormant(own, wake_node + kill, m0_own, step)[-1]
    return m, own_end


def _awakening(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """Awakening rate of dormant cells in each organ and each lymph-node group: the
    engine's ``awakening_rate`` times the tropism factor there (law 7)."""
    cp, n_org = plan.cp, plan.n_organs
    wake_org = np.full(n_org, cp.awakening_rate)
    for _, factor, group in plan.organ_groups:
        wake_org[group] = cp.awakening_rate * factor
    return wake_org, plan.node_awakening


def _recurrence(a: np.ndarray, b: np.ndarray, m0: np.ndarray | None = None) -> np.ndarray:
    """``m[0] = m0`` (default 0), ``m[q + 1] = a[q] m[q] + b[q]`` (columns at once, blocks)."""
    steps, cols = a.shape
    m = np.zeros((steps + 1, cols))
    if m0 is not None:
        m[0] = m0
    worst = float(-np.log(np.maximum(a.min(initial=1.0), 1e-300)))
    block = int(max(1, min(256, 500.0 // max(worst, 1e-12))))
    if block < 16:  # strong decay per step (the long steps of the coarse grid): one by one
        for q in range(steps):
            m[q + 1] = a[q] * m[q] + b[q]
        return m
    for lo in range(0, steps, block):
        hi = min(lo + block, steps)
        p = np.cumprod(a[lo:hi], axis=0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            acc = np.cumsum(b[lo:hi] / p, axis=0)
            part = p * (m[lo] + acc)
        m[lo + 1 : hi + 1] = np.where(p > 0, part, b[lo:hi])
    return m


def _dormant(lam: np.ndarray, kappa: Any, m0: np.ndarray | None = None, h: Any = 1.0) -> np.ndarray:
    """Expected dormant cells on a grid from inflow ``lam`` (points x cols), from ``m0``.

    ``kappa``: hazard per column, or per interval and column; ``h``: interval lengths
    (days; a column ``(points - 1) x 1`` for a variable grid).
    """
    decay, c1, c2 = _weights(np.asarray(kappa, dtype=float) * h)
    steps = (lam.shape[0] - 1, lam.shape[1])
    b = h * (c1 * lam[:-1] + c2 * lam[1:])
    return _recurrence(np.broadcast_to(decay, steps), np.broadcast_to(b, steps), m0)


def _nodal_kill(
    lam: np.ndarray,
    cp: ClinicalParams,
    wake: np.ndarray,
    m0: np.ndarray | None = None,
    h: Any = 1.0,
) -> np.ndarray:
    """The engine's saturating nodal kill, set by the primary's own seeding (fixed point).

    Per interval: ``nodal_kill_rate / (1 + m / nodal_kill_saturation)`` at its start
    (the explicit scheme of the engine; ``m`` from ``m0`` at the first point).
    """
    kill = np.full((lam.shape[0] - 1, lam.shape[1]), cp.nodal_kill_rate)
    for _ in range(50):
        m = _dormant(lam, wake + kill, m0, h)
        new = cp.nodal_kill_rate / (1.0 + m[:-1] / cp.nodal_kill_saturation)
        done = np.allclose(new, kill, rtol=1e-12, atol=0.0)
        kill = new
        if done:
            break
    return kill


def history_grid(first: int, ratio: float = HISTORY_RATIO) -> np.ndarray:
    """Whole days ``0 = t_0 < ... < t_G = first``: steps of one day next to ``first``,
    growing by ``ratio`` per step into the past (about ``ln(first (ratio - 1)) / ln(ratio)``
    intervals: 815 for 911 years)."""
    if first <= 0:
        return np.zeros(1, dtype=np.int64)
    k = math.ceil(math.log(first * (ratio - 1.0) + 1.0) / math.log(ratio)) + 1
    back = np.floor((ratio ** np.arange(k + 1) - 1.0) / (ratio - 1.0)).astype(np.int64)
    return np.unique(np.clip(first - back, 0, first))
