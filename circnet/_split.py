"""Exact multinomial splitting of integer counts over a sparse stochastic matrix.

Index level, one job: given the counts of independent cells in each state and a
row-stochastic matrix ``P``, draw where they are one step later, exactly (each row's
cells split over its moves by one multinomial). Also the release kernel of a Poisson
source over one step (Van Loan's augmented exponential). :mod:`circnet.simulate` drives
these over a time grid.

Three exact ways of drawing a row's multinomial, all on :class:`_Ell` (a padded ELLPACK
form of ``P``, moves sorted by probability, largest first):

* cell by cell by inverse CDF, when there are few cells (at most :data:`PER_CELL_FACTOR`
  per occupied row);
* dense rows (at least :data:`MULTINOMIAL_MIN_MOVES` moves):
  :meth:`numpy.random.Generator.multinomial` over the padded rows, one C loop of
  conditional binomials per row (numpy's own; its last category takes the remainder,
  which is the row's last move or its padding, so counts are conserved exactly);
* sparse rows: conditional binomials along the moves, vectorised over the rows
  (:func:`_split_rows`).

Cells in few states (at most :data:`JUMP_MAX_SOURCES`) can instead take several steps at
once (:func:`jump_counts`): where ``k`` steps of independent cells take a cell from state
``i`` is row ``i`` of the product ``P_1 ... P_k``, so the counts after the ``k`` steps are
one multinomial per occupied state over that row, exactly (the law of the counts at the
end; the counts in between are not drawn). The rows come from ``k`` sparse products of a
dense block (occupied states x states), so the cost does not grow with the number of
cells and, for few occupied states, far less with the number of steps than stepping.

Rows needing draws are split into :data:`CHUNKS` fixed chunks with generators seeded from
``rng`` and processed in threads when there are at least :data:`PARALLEL_MIN_ROWS` of them
(numpy's binomial and multinomial release the GIL). Every choice depends on the counts and
the matrix only, never on timing or the number of threads, so a seed fixes the result.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ._validation import check_choice
from .propagate import DENSE_EXPM_MAX

__all__ = [
    "split_counts",
    "release_kernel",
    "PER_CELL_FACTOR",
    "PARALLEL_MIN_ROWS",
    "CHUNKS",
    "MULTINOMIAL_MIN_MOVES",
    "SPLIT_METHODS",
    "JUMP_MAX_SOURCES",
    "JUMP_MAX_ENTRIES",
    "jump_counts",
    "can_jump",
]

#: Rows with more cells in total than this use conditional binomials per row; fewer cells
#: are moved one by one (inverse CDF), which is cheaper when most rows hold a cell or two.
PER_CELL_FACTOR = 2
#: At least this many rows needing binomial draws: split them into :data:`CHUNKS` fixed
#: chunks, each with its own generator seeded from ``rng``, processed in threads (numpy's
#: ``Generator.binomial`` releases the GIL). The chunking depends only on the counts, never
#: on the number of threads or their timing, so results are reproducible.
PARALLEL_MIN_ROWS = 4096
CHUNKS = 2
#: Rows with at least this many moves are drawn by :meth:`numpy.random.Generator.multinomial`
#: (one C loop per row); shorter rows by vectorised conditional binomials. Measured on the
#: default body (rows of ~80 moves): multinomial 0.4-0.8 ms per step against 1.6-7 ms.
MULTINOMIAL_MIN_MOVES = 8
#: Ways :func:`split_counts` may split rows that need draws: ``"auto"`` (by row length, see
#: :data:`MULTINOMIAL_MIN_MOVES`), ``"binomial"`` (every row by conditional binomials: the
#: random streams of circnet 0.x before the multinomial path), ``"multinomial"`` (every row).
SPLIT_METHODS = ("auto", "binomial", "multinomial")
#: Cells in at most this many states may jump over several steps (:func:`jump_counts`): the
#: dense block of rows costs ``sources x non-zeros of P`` per step, against at least one draw
#: per occupied row and move per step when stepping (measured on a 1e4-state chain with 5
#: moves a row: a 64-row block costs about as much per step as stepping all 1e4 rows).
JUMP_MAX_SOURCES = 64
#: ... and the block (occupied states x states) holds at most this many numbers (32 MiB).
JUMP_MAX_ENTRIES = 2**22
_POOL: Any = None


def _pool() -> Any:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=CHUNKS, thread_name_prefix="circnet-split")
    return _POOL


@dataclass(frozen=True)
class _Ell:
    """A row-stochastic sparse matrix in padded (ELLPACK) form for vectorised splitting.

    ``cols[i, k]`` and ``cond[i, k]``: the k-th move of row ``i`` (largest probabilities
    first) and its probability *conditional on not having taken moves 0..k-1*; padding
    repeats the row's last move with ``cond = 0``. ``pvals[i, k]``: the same move's
    probability (the row normalised to sum 1, padding 0), for numpy's multinomial.
    ``length[i]``: moves of row ``i`` (the last one takes all cells that remain).
    ``key``/``flat``: the moves of all rows in one sorted array, ``row + cumulative
    probability``, for moving cells one by one.
    """

    cols: np.ndarray
    cond: np.ndarray
    pvals: np.ndarray
    length: np.ndarray
    key: np.ndarray
    flat: np.ndarray
    start: np.ndarray
    n: int

    @classmethod
    def from_matrix(cls, p: Any) -> _Ell:
        p = sp.csr_array(p, dtype=float)
        p.sum_duplicates()
        p.eliminate_zeros()
        n = p.shape[0]
        lengths = np.diff(p.indptr)
        width = max(int(lengths.max()), 1) if n else 1
        cols = np.zeros((n, width), dtype=np.int64)
        probs = np.zeros((n, width))
        rows = np.repeat(np.arange(n), lengths)
        pos = np.arange(p.nnz) - np.repeat(p.indptr[:-1], lengths)
        # largest probabilities first: fewer, cheaper binomial draws with large counts
        order = np.lexsort((-p.data, rows))
        cols[rows, pos] = p.indices[order]
        probs[rows, pos] = p.data[order]
        empty = lengths == 0
        cols[empty, 0] = np.flatnonzero(empty)  # empty row: stays put
        probs[empty, 0] = 1.0
        length = np.maximum(lengths, 1)
        last = length - 1
        pad = np.arange(width)[None, :] > last[:, None]
        cols = np.where(pad, cols[np.arange(n), last][:, None], cols)
        tail = np.cumsum(probs[:, ::-1], axis=1)[:, ::-1]  # mass of moves k..end
        with np.errstate(invalid="ignore", divide="ignore"):
            cond = np.where(tail > 0, probs / tail, 0.0)
        cond = np.clip(cond, 0.0, 1.0)
        cond[np.arange(n), last] = 1.0  # the last move takes all that remain
        # numpy's multinomial takes p_k / (1 - p_0 - ... - p_{k-1}) and gives the last
        # column the remainder; a row sums to 1 within rounding (its sum is checked by
        # numpy to 1 + 1e-12), and the remainder lands on the row's last move or its
        # padding, which repeats that move
        pvals = probs / tail[:, :1]
        # one by one: moves of row i occupy key[start[i]:start[i + 1]], keys in (i, i + 1]
        valid = ~pad
        flat = cols[valid]
        within = np.cumsum(probs, axis=1)
        within = within / within[np.arange(n), last][:, None]
        within[np.arange(n), last] = 1.0
        key = (np.arange(n)[:, None] + within)[valid]
        start = np.concatenate([[0], np.cumsum(length)])
        return cls(cols, cond, pvals, length, key, flat, start, n)


def _split_rows(
    rows: np.ndarray, rem: np.ndarray, kernel: _Ell, rng: np.random.Generator
) -> np.ndarray:
    """Conditional binomials along the moves of ``rows`` (holding ``rem`` cells); returns
    the counts arriving in each state (float64, exact below 2**53)."""
    out = np.zeros(kernel.n)
    rem = rem.copy()
    length = kernel.length[rows]
    for k in range(kernel.cols.shape[1]):
        if rows.size == 0:
            break
        final = length == k + 1
        if final.any():  # the last move takes what remains: no draw
            out += np.bincount(kernel.cols[rows[final], k], weights=rem[final], minlength=kernel.n)
            keep = ~final
            rows, rem, length = rows[keep], rem[keep], length[keep]
            if rows.size == 0:
                break
        draw = rng.binomial(rem, kernel.cond[rows, k])
        out += np.bincount(kernel.cols[rows, k], weights=draw, minlength=kernel.n)
        rem -= draw
        keep = rem > 0
        rows, rem, length = rows[keep], rem[keep], length[keep]
    return out


def _multinomial_rows(
    rows: np.ndarray, rem: np.ndarray, kernel: _Ell, rng: np.random.Generator
) -> np.ndarray:
    """numpy's multinomial over the padded moves of ``rows`` (holding ``rem`` cells);
    returns the counts arriving in each state (float64, exact below 2**53)."""
    if rows.size == 0:
        return np.zeros(kernel.n)
    width = int(kernel.length[rows].max())  # columns beyond every row's length: padding
    draw = rng.multinomial(rem, kernel.pvals[rows, :width])
    return np.bincount(
        kernel.cols[rows, :width].ravel(), weights=draw.ravel(), minlength=kernel.n
    ).astype(float)


def _split_job(
    dense: np.ndarray,
    dense_rem: np.ndarray,
    sparse: np.ndarray,
    sparse_rem: np.ndarray,
    kernel: _Ell,
    rng: np.random.Generator,
) -> np.ndarray:
    """One chunk: the multinomial rows first, then the binomial rows, on one generator."""
    return _multinomial_rows(dense, dense_rem, kernel, rng) + _split_rows(
        sparse, sparse_rem, kernel, rng
    )


def split_counts(
    counts: np.ndarray, kernel: _Ell, rng: np.random.Generator, method: str = "auto"
) -> np.ndarray:
    """One step: split every state's count over its moves (exact multinomials).

    Exact ways, chosen from the counts and the matrix alone (so a seed fixes the result):
    rows with one move pass their cells on without a draw; if there are few cells (at
    most :data:`PER_CELL_FACTOR` per occupied row), each cell picks its move by inverse
    CDF; otherwise rows with at least :data:`MULTINOMIAL_MIN_MOVES` moves are drawn by
    :meth:`numpy.random.Generator.multinomial` and shorter rows by conditional binomials
    (``method="auto"``; ``"binomial"`` or ``"multinomial"`` uses one way for every row,
    ``"binomial"`` giving the random streams of earlier versions). When at least
    :data:`PARALLEL_MIN_ROWS` rows need draws they are split into :data:`CHUNKS` fixed
    chunks with generators seeded from ``rng``, processed in threads.
    """
    check_choice(method, "method", SPLIT_METHODS)
    c = np.asarray(counts, dtype=np.int64)
    active = np.flatnonzero(c)
    if active.size == 0:
        return np.zeros(kernel.n, dtype=np.int64)
    single = kernel.length[active] == 1
    out = np.zeros(kernel.n)
    if single.any():
        moved = active[single]
        out += np.bincount(kernel.cols[moved, 0], weights=c[moved], minlength=kernel.n)
        active = active[~single]
    if active.size == 0:
        return out.astype(np.int64)
    rem = c[active]
    total = int(rem.sum())
    if total <= PER_CELL_FACTOR * active.size:
        cell_rows = np.repeat(active, rem)
        idx = np.searchsorted(kernel.key, cell_rows + rng.random(total), side="right")
        idx = np.minimum(idx, kernel.start[cell_rows + 1] - 1)
        out += np.bincount(kernel.flat[idx], minlength=kernel.n)
        return out.astype(np.int64)
    if method == "binomial":
        by_multinomial = np.zeros(active.size, dtype=bool)
    elif method == "multinomial":
        by_multinomial = np.ones(active.size, dtype=bool)
    else:
        by_multinomial = kernel.length[active] >= MULTINOMIAL_MIN_MOVES
    dense, sparse = active[by_multinomial], active[~by_multinomial]
    dense_rem, sparse_rem = rem[by_multinomial], rem[~by_multinomial]
    if active.size < PARALLEL_MIN_ROWS:
        out += _split_job(dense, dense_rem, sparse, sparse_rem, kernel, rng)
    else:
        seeds = rng.integers(0, 2**63, size=CHUNKS, dtype=np.int64)
        cut_d = np.linspace(0, dense.size, CHUNKS + 1).astype(np.int64)
        cut_s = np.linspace(0, sparse.size, CHUNKS + 1).astype(np.int64)
        jobs = [
            (
                dense[cut_d[j] : cut_d[j + 1]],
                dense_rem[cut_d[j] : cut_d[j + 1]],
                sparse[cut_s[j] : cut_s[j + 1]],
                sparse_rem[cut_s[j] : cut_s[j + 1]],
                kernel,
                np.random.Generator(np.random.PCG64(int(seeds[j]))),
            )
            for j in range(CHUNKS)
        ]
        for part in _pool().map(lambda job: _split_job(*job), jobs):
            out += part
    return out.astype(np.int64)


def can_jump(counts: np.ndarray) -> bool:
    """Whether the cells sit in few enough states for :func:`jump_counts`."""
    occupied = int(np.count_nonzero(counts))
    return 0 < occupied <= JUMP_MAX_SOURCES and occupied * counts.size <= JUMP_MAX_ENTRIES


def jump_counts(counts: np.ndarray, matrices: list[Any], rng: np.random.Generator) -> np.ndarray:
    """Several steps at once: the counts after the steps ``matrices`` (each ``P``, in order).

    The cells of each occupied state ``i`` split over row ``i`` of ``P_1 ... P_k`` in one
    multinomial draw (independent cells: exact in law for the counts after the last step).
    Rows are renormalised to sum 1 (rounding only: each ``P`` is row-stochastic).
    """
    c = np.asarray(counts, dtype=np.int64)
    sources = np.flatnonzero(c)
    rows = np.zeros((sources.size, c.size))
    rows[np.arange(sources.size), sources] = 1.0
    for p in matrices:
        # (P^T rows^T)^T: one sparse-times-dense product per step
        rows = np.asarray(p.T @ rows.T).T
    rows = np.maximum(rows, 0.0)
    rows /= rows.sum(axis=1, keepdims=True)
    moved = rng.multinomial(c[sources], rows)
    return moved.sum(axis=0).astype(np.int64)


def release_kernel(generator: Any, p0: np.ndarray, dt: float) -> np.ndarray:
    """``r = p0 (1/dt) int_0^dt expm(s Q) ds``: where a cell released uniformly during a
    step of length ``dt`` is at the step's end (Van Loan's augmented exponential)."""
    q = sp.csr_array(generator, dtype=float)
    n = q.shape[0]
    if n <= DENSE_EXPM_MAX:
        # expm([[Q, I], [0, 0]] dt) = [[expm(dt Q), int_0^dt expm(sQ) ds], [0, I]]: dense Pade
        # scaling and squaring costs log(dt |Q|) products, where expm_multiply's cost grows
        # with dt |Q| itself (minutes for a step of a day on the default body)
        aug = np.zeros((2 * n, 2 * n))
        aug[:n, :n] = q.toarray() * dt
        aug[:n, n:] = np.eye(n) * dt
        x = np.asarray(p0, dtype=float) @ scipy.linalg.expm(aug)[:n, n:] / dt
    else:
        # d/dt [x, y] = [x Q + y, 0] with y = p0 gives x(dt) = p0 int_0^dt expm(sQ) ds
        aug = sp.block_array([[q.T, sp.eye_array(n)], [None, sp.csr_array((n, n))]]).tocsr()
        v = np.concatenate([np.zeros(n), np.asarray(p0, dtype=float)])
        x = spla.expm_multiply(aug * dt, v)[:n] / dt
    x = np.maximum(x, 0.0)
    return x / x.sum()
