"""Sobol' sensitivity indices from the outputs of a Saltelli design.

The outputs of the ``n (d + 2)`` members of :func:`circnet.saltelli` (blocks A, B,
AB_1 ... AB_d of ``n`` members each) go to :func:`scipy.stats.sobol_indices`
(Saltelli et al. 2010 estimators: Table 2 (b) first order and (f) total, Jansen's).
Bootstrap intervals are 95 % percentile intervals over resamples of the ``n`` base points
(rows of A, B and every AB_i drawn together), with the caller's generator: each resample
weights per-point terms by draw counts, so their cost is O(n_resamples x n), linear in the
design size (BCa's jackknife, used before, costs O(n^2)).

Examples
--------
>>> from circnet._designs import saltelli
>>> from circnet._sobol import sobol_table
>>> d = saltelli({"a": (0, 1), "b": (0, 1)}, 64, rng=0)
>>> y = d.table["a"].to_numpy()[None, :]            # one outcome, f(a, b) = a
>>> sobol_table(y, 64, ["f"], ["a", "b"]).round(2)
                   first_order  total
outcome parameter
f       a                  1.0    1.0
        b                  0.0    0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._validation import check_rng

__all__ = ["sobol_table"]


def sobol_table(
    y: np.ndarray,
    n: int,
    outcomes: Sequence[str],
    parameters: Sequence[str],
    *,
    n_resamples: int = 0,
    rng: Any = None,
) -> pd.DataFrame:
    """First-order and total Sobol' indices of each outcome for each parameter.

    Parameters
    ----------
    y : ndarray, shape (len(outcomes), n * (len(parameters) + 2))
        Finite outputs of the members of a Saltelli design, in member order.
    n : int
        Base sample size of the design.
    outcomes, parameters : sequence of str
        Row and column names of ``y``'s indices.
    n_resamples : int
        With ``n_resamples > 0``, percentile bootstrap 95 % intervals (``*_low``,
        ``*_high``) over ``n_resamples`` resamples of the base points.
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Generator of the bootstrap resamples (SPEC 7).

    Returns
    -------
    pandas.DataFrame
        Rows (outcome, parameter); NaN for an outcome that does not vary (relative spread
        below 1e-9): it has no variance to apportion.
    """
    k = len(parameters)
    f_a, f_b = y[:, :n], y[:, n : 2 * n]
    f_ab = np.stack([y[:, (2 + i) * n : (3 + i) * n] for i in range(k)])
    # centre on the mean output, as scipy.stats.sobol_indices does (Sobol' & Levitan
    # 1999): the bootstrap below must resample the same centred outputs
    mean = np.mean([f_a, f_b], axis=(0, -1)).reshape(-1, 1)
    f_a, f_b, f_ab = f_a - mean, f_b - mean, f_ab - mean

    res = stats.sobol_indices(func={"f_A": f_a.copy(), "f_B": f_b.copy(), "f_AB": f_ab.copy()}, n=n)

    def grid2(x: Any) -> np.ndarray:  # scipy drops the outcome axis for one outcome
        return np.asarray(x, dtype=float).reshape(len(outcomes), k)

    cols = {"first_order": grid2(res.first_order), "total": grid2(res.total_order)}
    if n_resamples:
        lo, hi = _percentile_intervals(f_a, f_b, f_ab, n_resamples, check_rng(rng))
        cols.update(
            first_order_low=lo[0].T,
            first_order_high=hi[0].T,
            total_low=lo[1].T,
            total_high=hi[1].T,
        )
    flat = np.ptp(y, axis=1) <= 1e-9 * np.maximum(1e-300, np.abs(y).max(axis=1))
    for v in cols.values():
        v[flat] = np.nan
    rows = [
        {"outcome": nm, "parameter": p, **{c: float(v[s, j]) for c, v in cols.items()}}
        for s, nm in enumerate(outcomes)
        for j, p in enumerate(parameters)
    ]
    return pd.DataFrame(rows).set_index(["outcome", "parameter"])


#: Elements of one block of bootstrap counts (resamples x base points): about 32 MiB.
_BLOCK_ELEMENTS = 1 << 22


def _percentile_intervals(
    f_a: np.ndarray, f_b: np.ndarray, f_ab: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """95 % percentile bootstrap intervals of the indices, resampling the base points.

    Each estimator is a ratio of means over the ``n`` base points, so a resample's
    estimate only needs the sums of a few per-point terms weighted by how often each
    point is drawn: ``counts @ terms``. Drawing the counts (``rng.integers`` and
    ``bincount``, in blocks of fixed size) and the product cost O(n_resamples x n),
    independent of the number of outcomes up to the product. Returns (low, high), each
    of shape (2, k, n_outcomes): first order, total.
    """
    k, m, n = f_ab.shape
    # per base point: sum and sum of squares of f_A and f_B (the variance over both
    # blocks, as np.var([fa, fb]) on the resample), Saltelli 2010 (b) and Jansen (f) terms
    terms = np.concatenate(
        [
            (f_a + f_b)[None],
            (f_a**2 + f_b**2)[None],
            f_b * (f_ab - f_a),
            0.5 * (f_a - f_ab) ** 2,
        ]
    )  # shape (2 + 2k, m, n)
    terms = terms.reshape(-1, n).T  # (n, (2 + 2k) m)
    block = max(1, min(n_resamples, _BLOCK_ELEMENTS // n))
    sums = np.empty((n_resamples, terms.shape[1]))
    for start in range(0, n_resamples, block):
        b = min(block, n_resamples - start)
        draws = rng.integers(0, n, size=(b, n))
        draws += np.arange(b)[:, None] * n
        counts = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n)
        sums[start : start + b] = counts @ terms
    sums = sums.reshape(n_resamples, 2 + 2 * k, m) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = 0.5 * sums[:, 1] - (0.5 * sums[:, 0]) ** 2
        est = np.stack([sums[:, 2 : 2 + k], sums[:, 2 + k :]], axis=1) / var[:, None, None]
    low, high = np.quantile(est, [0.025, 0.975], axis=0)
    return low, high
