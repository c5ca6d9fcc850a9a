"""Sobol' sensitivity indices from the outputs of a Saltelli design.

The outputs of the ``n (d + 2)`` members of :func:`circnet.saltelli` (blocks A, B,
AB_1 ... AB_d of ``n`` members each) go to :func:`scipy.stats.sobol_indices`
(Saltelli et al. 2010 estimators: Table 2 (b) first order and (f) total). Bootstrap
intervals are BCa over the ``n`` base points, as ``SobolResult.bootstrap`` computes them,
but with the caller's generator (scipy's method draws from numpy's global state).

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

import warnings
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
        With ``n_resamples > 0``, BCa bootstrap 95 % intervals (``*_low``, ``*_high``).
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

    def indices(idx: np.ndarray) -> np.ndarray:
        # Saltelli et al. 2010, Table 2 (b) and (f): the estimators scipy uses, on a
        # resample of the base points (scipy's own call insists on a power of 2)
        fa, fb, fab = f_a[:, idx], f_b[:, idx], f_ab[..., idx]
        var = np.var([fa, fb], axis=(0, -1))
        first = np.mean(fb * (fab - fa), axis=-1) / var
        total = 0.5 * np.mean((fa - fab) ** 2, axis=-1) / var
        return np.concatenate([first.T.ravel(), total.T.ravel()])

    res = stats.sobol_indices(func={"f_A": f_a.copy(), "f_B": f_b.copy(), "f_AB": f_ab.copy()}, n=n)

    def grid2(x: Any) -> np.ndarray:  # scipy drops the outcome axis for one outcome
        return np.asarray(x, dtype=float).reshape(len(outcomes), k)

    cols = {"first_order": grid2(res.first_order), "total": grid2(res.total_order)}
    if n_resamples:
        # an index that every resample gives exactly (e.g. 0 for an unused parameter)
        # makes BCa's acceleration 0/0: its interval is then NaN, without a warning
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", stats.DegenerateDataWarning)
            boot = stats.bootstrap(
                [np.arange(n)],
                indices,
                method="BCa",
                n_resamples=n_resamples,
                vectorized=False,
                rng=check_rng(rng),
            )
        lo, hi = boot.confidence_interval
        half = len(outcomes) * k
        cols.update(
            first_order_low=grid2(lo[:half]),
            first_order_high=grid2(hi[:half]),
            total_low=grid2(lo[half:]),
            total_high=grid2(hi[half:]),
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
