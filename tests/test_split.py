"""Tests for circnet._split: exact multinomial splitting by each of its paths.

Every statistical test uses fixed seeds and a tolerance from the exact sampling law; a test
function making ``k`` comparisons fails when a p-value is below ``ALPHA / k`` (Bonferroni),
so its false-alarm rate is at most ``ALPHA`` whatever the seeds.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

import circnet
import circnet._split as split
from circnet._split import _Ell, split_counts
from circnet.errors import ParameterError

ALPHA = 1e-4
#: One row of ten moves (enough for the multinomial path under ``auto``), plus an empty row.
ROW = np.array([0.31, 0.2, 0.15, 0.1, 0.08, 0.06, 0.05, 0.03, 0.015, 0.005])
PATHS = [
    ("auto", "serial"),
    ("auto", "threaded"),
    ("binomial", "serial"),
    ("binomial", "threaded"),
    ("multinomial", "serial"),
    ("multinomial", "threaded"),
]


def _blocks(copies: int) -> sp.csr_array:
    """``copies`` independent copies of an 11-state chain: state 0 moves to 1..10 with
    :data:`ROW`; states 1..10 have empty rows (they keep their cells)."""
    base = 11 * np.arange(copies)
    rows = np.repeat(base, 10)
    cols = (base[:, None] + np.arange(1, 11)[None, :]).ravel()
    vals = np.tile(ROW, copies)
    return sp.csr_array((vals, (rows, cols)), shape=(11 * copies, 11 * copies))


def _regime(monkeypatch: pytest.MonkeyPatch, regime: str) -> None:
    if regime == "serial":
        monkeypatch.setattr(split, "PARALLEL_MIN_ROWS", 10**9)
    else:
        monkeypatch.setattr(split, "PARALLEL_MIN_ROWS", 16)


@pytest.mark.parametrize(("method", "regime"), PATHS)
def test_counts_are_conserved_integers_and_reproducible(method, regime, monkeypatch):
    _regime(monkeypatch, regime)
    kernel = _Ell.from_matrix(_blocks(500))
    counts = np.zeros(kernel.n, dtype=np.int64)
    counts[::11] = np.arange(500) * 10**9 + 7  # large counts: no cell-by-cell path
    counts[5::11] = 3  # cells in the empty rows stay put
    out = split_counts(counts, kernel, np.random.default_rng(11), method)
    assert out.dtype == np.int64
    per_copy = out.reshape(500, 11)
    np.testing.assert_array_equal(per_copy.sum(axis=1), np.arange(500) * 10**9 + 10)
    assert np.all(per_copy[:, 0] == 0) and np.all(per_copy[:, 5] >= 3)
    again = split_counts(counts, kernel, np.random.default_rng(11), method)
    np.testing.assert_array_equal(out, again)


def test_auto_uses_numpy_multinomial_for_long_rows_and_binomials_for_short_ones(monkeypatch):
    kernel = _Ell.from_matrix(_blocks(3))
    counts = np.zeros(kernel.n, dtype=np.int64)
    counts[::11] = 10**6
    seen = []
    real_multi, real_rows = split._multinomial_rows, split._split_rows
    monkeypatch.setattr(
        split, "_multinomial_rows", lambda r, *a: seen.append(("m", r.size)) or real_multi(r, *a)
    )
    monkeypatch.setattr(
        split, "_split_rows", lambda r, *a: seen.append(("b", r.size)) or real_rows(r, *a)
    )
    split_counts(counts, kernel, np.random.default_rng(0))
    assert seen == [("m", 3), ("b", 0)]
    seen.clear()
    monkeypatch.setattr(split, "MULTINOMIAL_MIN_MOVES", 11)
    split_counts(counts, kernel, np.random.default_rng(0))
    assert seen == [("m", 0), ("b", 3)]


@pytest.mark.parametrize(("method", "regime"), PATHS)
def test_marginals_of_huge_counts_are_binomial(method, regime, monkeypatch):
    """2 000 copies of 1e12 cells: the cells reaching move j in a copy are Binomial(1e12,
    p_j); z-tests of the mean and of the variance (chi-square, moment matched) of each
    move over the copies. Bonferroni over 10 moves x 2 statistics."""
    _regime(monkeypatch, regime)
    copies, cells = 2000, 10**12
    kernel = _Ell.from_matrix(_blocks(copies))
    counts = np.zeros(kernel.n, dtype=np.int64)
    counts[::11] = cells
    seed = 1000 + PATHS.index((method, regime))
    out = split_counts(counts, kernel, np.random.default_rng(seed), method)
    x = out.reshape(copies, 11)[:, 1:].astype(float)
    pvalues = []
    for j, p in enumerate(ROW):
        var = cells * p * (1 - p)
        z = (x[:, j].mean() - cells * p) / math.sqrt(var / copies)
        pvalues.append(2 * stats.norm.sf(abs(z)))
        d = copies - 1  # the binomial is normal to ~1e-6 here: chi-square with n - 1 df
        s2 = x[:, j].var(ddof=1)
        pvalues.append(2 * min(stats.chi2.cdf(d * s2 / var, d), stats.chi2.sf(d * s2 / var, d)))
    assert min(pvalues) > ALPHA / len(pvalues), pvalues


def _outcome_law(n: int) -> dict[tuple[int, ...], float]:
    """Every way of splitting ``n`` cells over the 10 moves, with its multinomial pmf."""
    law = {}
    for cut in itertools.combinations_with_replacement(range(10), n):
        x = tuple(np.bincount(np.array(cut, dtype=np.int64), minlength=10).tolist())
        law[x] = float(stats.multinomial.pmf(x, n, ROW / ROW.sum()))
    return law


@pytest.mark.parametrize(("method", "regime"), PATHS)
def test_joint_outcome_of_a_few_cells_has_the_multinomial_law(method, regime, monkeypatch):
    """20 000 copies of 4 cells (cell-by-cell path switched off): chi-square of the joint
    outcome (715 possible splits, small bins pooled) against the multinomial pmf."""
    _regime(monkeypatch, regime)
    monkeypatch.setattr(split, "PER_CELL_FACTOR", 0)
    copies, cells = 20_000, 4
    kernel = _Ell.from_matrix(_blocks(copies))
    counts = np.zeros(kernel.n, dtype=np.int64)
    counts[::11] = cells
    seed = 2000 + PATHS.index((method, regime))
    out = split_counts(counts, kernel, np.random.default_rng(seed), method)
    law = _outcome_law(cells)
    keys = list(law)
    index = {k: i for i, k in enumerate(keys)}
    observed = np.zeros(len(keys))
    for row in map(tuple, out.reshape(copies, 11)[:, 1:].tolist()):
        observed[index[row]] += 1  # a KeyError would be an impossible outcome
    expected = copies * np.array([law[k] for k in keys])
    big = expected >= 5
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    stat = float(((obs - exp) ** 2 / exp).sum())
    assert len(obs) > 50
    assert stats.chi2.sf(stat, len(obs) - 1) > ALPHA, stat


def test_per_cell_path_has_the_multinomial_law():
    """Few cells (one per row) go cell by cell: 50 000 rows of one cell, counts per move
    against Multinomial(50 000, ROW) by chi-square."""
    copies = 50_000
    kernel = _Ell.from_matrix(_blocks(copies))
    counts = np.zeros(kernel.n, dtype=np.int64)
    counts[::11] = 1
    out = split_counts(counts, kernel, np.random.default_rng(5))
    per_move = out.reshape(copies, 11)[:, 1:].sum(axis=0)
    assert per_move.sum() == copies
    assert stats.chisquare(per_move, copies * ROW).pvalue > ALPHA


def _numpy_law(pvals: np.ndarray) -> np.ndarray:
    """The law numpy's multinomial draws from, for one cell: its own recursion
    ``p_j / (1 - p_0 - ... - p_j-1)`` in floating point, the last column the rest."""
    out = np.zeros_like(pvals)
    remaining_p, reach = 1.0, 1.0
    for j in range(pvals.size - 1):
        cond = min(max(pvals[j] / remaining_p, 0.0), 1.0) if remaining_p > 0 else 1.0
        out[j] = reach * cond
        reach *= 1.0 - cond
        remaining_p -= pvals[j]
    out[-1] = reach
    return out


@pytest.mark.parametrize("dt", [0.01, 60.0, 288_000.0])
def test_numpy_multinomial_recursion_keeps_the_rows_of_the_default_body(dt):
    """Rounding in numpy's running remainder must not bias the law: on every row of the
    default body's ``P`` (up to 166 moves, entries down to 1e-300), the law numpy's
    recursion implies differs from the row by at most 1e-13 in total variation."""
    model = circnet.TransportModel(circnet.default_body())
    kernel = _Ell.from_matrix(model.transition_matrix(dt))
    worst = 0.0
    for i in range(kernel.n):
        row = np.zeros(kernel.n)
        np.add.at(row, kernel.cols[i], kernel.pvals[i])
        implied = np.zeros(kernel.n)
        np.add.at(implied, kernel.cols[i], _numpy_law(kernel.pvals[i]))
        worst = max(worst, 0.5 * float(np.abs(implied - row).sum()))
    assert worst < 1e-13, worst


def test_unknown_method_is_refused():
    kernel = _Ell.from_matrix(_blocks(1))
    with pytest.raises(ParameterError, match="`method`"):
        split_counts(np.ones(11, np.int64), kernel, np.random.default_rng(0), "fast")


# ------------------------------------------------------------------- jumps over several steps
def _chain3() -> sp.csr_array:
    """Two transient states and one absorbing state."""
    return sp.csr_array(np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.0, 0.0, 1.0]]))


@pytest.mark.slow
def test_jump_of_one_source_has_the_multinomial_law_of_the_product():
    """6 000 draws of 5 cells from state 0 over 4 steps: chi-square of the joint outcome
    against Multinomial(5, row 0 of P^4)."""
    p = _chain3()
    row = np.linalg.matrix_power(p.toarray(), 4)[0]
    rng = np.random.default_rng(11)
    reps, cells = 6_000, 5
    start = np.array([cells, 0, 0])
    out = np.array([split.jump_counts(start, [p] * 4, rng) for _ in range(reps)])
    assert (out.sum(axis=1) == cells).all() and out.dtype == np.int64
    keys = [(a, b, cells - a - b) for a in range(cells + 1) for b in range(cells + 1 - a)]
    expected = reps * np.array([stats.multinomial.pmf(k, cells, row) for k in keys])
    observed = np.array([np.all(out == k, axis=1).sum() for k in keys])
    assert observed.sum() == reps
    stat = float(((observed - expected) ** 2 / expected).sum())
    assert stats.chi2.sf(stat, len(keys) - 1) > ALPHA, stat


def test_jump_of_several_sources_sums_their_multinomials():
    """Cells in states 0 and 1: mean counts after 3 steps are n P^3, with a z-test per
    state from the exact variance of the sum of two multinomials (Bonferroni over 3)."""
    p = _chain3()
    p3 = np.linalg.matrix_power(p.toarray(), 3)
    start = np.array([700, 300, 0])
    rng = np.random.default_rng(12)
    reps = 4000
    out = np.array([split.jump_counts(start, [p] * 3, rng) for _ in range(reps)])
    assert (out.sum(axis=1) == 1000).all()
    mean = start @ p3
    var = (start[:, None] * p3 * (1 - p3)).sum(axis=0)
    z = (out.mean(axis=0) - mean) / np.sqrt(var / reps)
    assert (2 * stats.norm.sf(np.abs(z)) > ALPHA / 3).all(), z


def test_only_few_occupied_states_may_jump():
    assert split.can_jump(np.array([0, 5, 0, 1]))
    assert not split.can_jump(np.zeros(4, dtype=np.int64))
    assert not split.can_jump(np.ones(split.JUMP_MAX_SOURCES + 1, dtype=np.int64))
