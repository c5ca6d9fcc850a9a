"""Dormant cells and their awakenings: the exact integrator of the cohort engine.

The expected number of dormant cells ``m(t)`` that one source puts at a destination
solves ``dm/dt = lambda(t) - kappa(t) m`` (``lambda``: the rate at which shed cells arrive
there; ``kappa``: the hazard of leaving dormancy, by death, immune kill or awakening).
:func:`_dormant` integrates it on a per-patient grid (columns are independent rows of a
``G x rows`` array) by the exponential integrator that is exact for a constant hazard
over an interval and ``lambda`` linear between grid points (:func:`_weights`; the nodal
kill may saturate in ``m`` itself, evaluated at the start of each interval).

Awakenings form a Poisson process of intensity ``alpha * m(t)`` (marking theorem), so
their count up to a horizon is Poisson with mean ``alpha`` times the integral of ``m``
(:func:`_cumulative`, trapezoid, exact for ``m`` linear between grid points;
:func:`_cum_at` evaluates it at any time), and their times follow by inverting the
cumulative intensity (:func:`_invert`). Every search is row-wise (:func:`_interval`): the
answer for one row never depends on the others, so a patient's course is the same alone
or in any batch. Used by :mod:`circnet._cohort_engine` and :mod:`circnet._patient_frame`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "_weights",
    "_dormant",
    "_cumulative",
    "_interval",
    "_invert",
    "_cum_at",
    "_integral_at",
    "_linear_at",
]


def _weights(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decay ``exp(-y)`` and the weights of ``lambda`` at both ends of an interval.

    ``m1 = decay m0 + h (c1 lambda0 + c2 lambda1)`` is exact for a constant hazard
    ``kappa`` and ``lambda`` linear over the interval of length ``h`` (``y = kappa h``).
    """
    decay = np.exp(-y)
    small = y < 1e-3
    ys = np.where(small, 1.0, y)
    c2 = np.where(small, 0.5 - y / 6.0 + y * y / 24.0, (ys - 1.0 + decay) / (ys * ys))
    c1 = np.where(small, 0.5 - y / 3.0 + y * y / 8.0, -np.expm1(-ys) / ys - c2)
    return decay, c1, c2


def _dormant(
    lam_r: np.ndarray, lam_l: np.ndarray, h: np.ndarray, kappa: Any, kill: Any = None
) -> np.ndarray:
    """Expected dormant cells ``m`` on the grid (``G x rows``) from shedding ``lam``.

    ``lam_r[q]`` / ``lam_l[q]``: rate just after / before grid point ``q``; ``h[q]``:
    length of interval ``q`` (``(G-1) x rows``). ``kappa``: constant hazard (per row);
    ``kill`` (optional): nodal kill rate, saturating in ``m`` itself when
    ``kill`` is a pair ``(rate, saturation)``, else a precomputed ``G x rows`` grid.
    """
    g, rows = lam_r.shape
    m = np.zeros((g, rows))
    const = kill is None
    if const:
        decay, c1, c2 = _weights(np.asarray(kappa) * h)
    for q in range(g - 1):
        if const:
            d, a, b = decay[q], c1[q], c2[q]
        else:
            if isinstance(kill, tuple):
                k = kill[0] / (1.0 + m[q] / kill[1])
            else:
                k = kill[q]
            d, a, b = _weights((kappa + k) * h[q])
        m[q + 1] = d * m[q] + h[q] * (a * lam_r[q] + b * lam_l[q + 1])
    return m


def _cumulative(m: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Cumulative integral of ``m`` (trapezoid; ``G x rows``, starting at 0)."""
    c = np.zeros_like(m)
    np.cumsum(0.5 * h * (m[:-1] + m[1:]), axis=0, out=c[1:])
    return c


def _interval(
    grid: np.ndarray, cols: np.ndarray, value: np.ndarray, *, inclusive: bool
) -> np.ndarray:
    """Row-wise binary search: the interval ``lo`` of each column with ``grid[lo] < value``
    (``<=`` if ``inclusive``) and ``grid[lo + 1]`` not (columns are searched together)."""
    lo = np.zeros(cols.size, dtype=np.int64)
    hi = np.full(cols.size, grid.shape[0] - 1, dtype=np.int64)
    while True:
        open_ = hi - lo > 1
        if not open_.any():
            return lo
        mid = (lo + hi) // 2
        below = grid[mid, cols] <= value if inclusive else grid[mid, cols] < value
        lo = np.where(open_ & below, mid, lo)
        hi = np.where(open_ & ~below, mid, hi)


def _invert(
    cum: np.ndarray,
    m: np.ndarray,
    h: np.ndarray,
    t: np.ndarray,
    rows: np.ndarray,
    target: np.ndarray,
) -> np.ndarray:
    """Times where ``cum[:, rows]`` reaches ``target`` (``m`` linear within intervals).

    A row-wise binary search (the answer for one row never depends on the others).
    """
    lo = _interval(cum, rows, target, inclusive=False)
    m0, m1, hq = m[lo, rows], m[lo + 1, rows], h[lo, rows]
    area = np.maximum(target - cum[lo, rows], 0.0)
    slope = (m1 - m0) / hq
    root = np.sqrt(np.maximum(m0 * m0 + 2.0 * slope * area, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(m0 + root > 0, 2.0 * area / (m0 + root), 0.0)
    return t[lo, rows] + np.clip(x, 0.0, hq)


def _cum_at(
    cum: np.ndarray, m: np.ndarray, h: np.ndarray, t: np.ndarray, cols: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """``cum[:, cols]`` at times ``at`` (``m`` linear within intervals; row-wise search)."""
    lo = _interval(t, cols, at, inclusive=True)
    hq = h[lo, cols]
    x = np.clip(at - t[lo, cols], 0.0, hq)
    m0, m1 = m[lo, cols], m[lo + 1, cols]
    return cum[lo, cols] + m0 * x + (m1 - m0) * x * x / (2.0 * hq)


def _integral_at(
    lam_r: np.ndarray, lam_l: np.ndarray, h: np.ndarray, t: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """Integral of ``lambda`` from 0 to ``at`` per column (linear between grid points)."""
    cols = np.arange(at.size)
    s = np.zeros_like(lam_r)
    np.cumsum(0.5 * h * (lam_r[:-1] + lam_l[1:]), axis=0, out=s[1:])
    lo = _interval(t, cols, at, inclusive=True)
    hq = h[lo, cols]
    x = np.clip(at - t[lo, cols], 0.0, hq)
    a, b = lam_r[lo, cols], lam_l[lo + 1, cols]
    return s[lo, cols] + a * x + (b - a) * x * x / (2.0 * hq)


def _linear_at(m: np.ndarray, h: np.ndarray, t: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``m`` at ``at`` per column, linear between grid points."""
    cols = np.arange(at.size)
    lo = _interval(t, cols, at, inclusive=True)
    hq = h[lo, cols]
    x = np.clip(at - t[lo, cols], 0.0, hq)
    return m[lo, cols] + (m[lo + 1, cols] - m[lo, cols]) * x / hq
