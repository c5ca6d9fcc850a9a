"""Stochastic simulation: exact integer counts of many cells, and single-cell paths.

Counts (design §5)
------------------
Cells move independently, so the cells in a state split over the state's moves in
one multinomial draw. circnet steps a discrete-time chain with transition matrix
``P = expm(dt Q)`` on a grid of step ``dt``: observed at the grid times, that chain
has *exactly* the law of the continuous-time chain (no time-discretisation error;
the only error is the floating-point rounding of ``P``, about 1e-16 per entry).
Requested times that are not multiples of ``dt`` get a step of their own. Each
multinomial is drawn as conditional binomials along the sparse row, vectorised
over all states, so the cost depends on the number of non-zeros of ``P`` and the
number of steps, not on the number of cells. Counts are ``int64``; ``n_cells``
may be up to ``2**53`` (about 9e15), so 1e12 cells are fine.

Continuous release at a rate ``lambda`` (cells per minute) is exact too: the cells
released during a step of length ``dt`` that are in state ``j`` at its end are
Poisson with mean ``lambda * dt * r_j``, ``r = p0 (1/dt) int_0^dt expm(sQ) ds``,
independent across states (Poisson thinning); ``r`` comes from one matrix
exponential of the augmented generator (Van Loan 1978).

Conservation is checked at every step: the total count equals the cells released
so far, exactly.

Paths
-----
:func:`trajectories` follows individual cells through the embedded jump chain
(exponential holding times, next state in proportion to the rates), all cells at
once, each to its fate.

Randomness: one keyword ``rng`` (int, ``numpy.random.Generator`` or None; SPEC 7).
The same seed gives bit-identical results, in any process.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .errors import CheckpointError, CircnetError, ParameterError

__all__ = [
    "SimulationResult",
    "simulate_counts",
    "split_counts",
    "trajectories",
    "release_kernel",
    "MAX_CELLS",
]

#: Largest number of cells accepted: counts stay exact in float64 scatter-adds.
MAX_CELLS = 2**53


def _rng(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng < 0:
            raise ParameterError(f"`rng` seed must be non-negative (got {rng})")
        return np.random.default_rng(rng)
    raise ParameterError(
        f"`rng` must be an int, a numpy.random.Generator or None (got {type(rng).__name__})"
    )


# =========================================================================== splitting
#: Rows with more cells in total than this use conditional binomials per row; fewer cells
#: are moved one by one (inverse CDF), which is cheaper when most rows hold a cell or two.
PER_CELL_FACTOR = 2
#: At least this many rows needing binomial draws: split them into :data:`CHUNKS` fixed
#: chunks, each with its own generator seeded from ``rng``, processed in threads (numpy's
#: ``Generator.binomial`` releases the GIL). The chunking depends only on the counts, never
#: on the number of threads or their timing, so results are reproducible.
PARALLEL_MIN_ROWS = 4096
CHUNKS = 2
_POOL: Any = None


def _pool() -> Any:
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=CHUNKS, thread_name_prefix="circnet-split")
    return _POOL


@dataclass(frozen=True)
class _Ell:
    """A row-stochastic sparse matrix in padded (ELLPACK) form for vectorised splitting.

    ``cols[i, k]`` and ``cond[i, k]``: the k-th move of row ``i`` (largest probabilities
    first) and its probability *conditional on not having taken moves 0..k-1*; padding
    repeats the row's last move with ``cond = 0``. ``length[i]``: moves of row ``i`` (the
    last one takes all cells that remain). ``key``/``flat``: the moves of all rows in one
    sorted array, ``row + cumulative probability``, for moving cells one by one.
    """

    cols: np.ndarray
    cond: np.ndarray
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
        # one by one: moves of row i occupy key[start[i]:start[i + 1]], keys in (i, i + 1]
        valid = ~pad
        flat = cols[valid]
        within = np.cumsum(probs, axis=1)
        within = within / within[np.arange(n), last][:, None]
        within[np.arange(n), last] = 1.0
        key = (np.arange(n)[:, None] + within)[valid]
        start = np.concatenate([[0], np.cumsum(length)])
        return cls(cols, cond, length, key, flat, start, n)


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


def split_counts(counts: np.ndarray, kernel: _Ell, rng: np.random.Generator) -> np.ndarray:
    """One step: split every state's count over its moves (exact multinomials).

    Three exact ways, chosen from the counts alone (so a seed fixes the result): rows
    with one move pass their cells on without a draw; if there are few cells
    (at most :data:`PER_CELL_FACTOR` per occupied row), each cell picks its move by
    inverse CDF; otherwise each row draws conditional binomials along its moves, in
    :data:`CHUNKS` fixed chunks with generators seeded from ``rng`` when at least
    :data:`PARALLEL_MIN_ROWS` rows need draws.
    """
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
    elif active.size < PARALLEL_MIN_ROWS:
        out += _split_rows(active, rem, kernel, rng)
    else:
        seeds = rng.integers(0, 2**63, size=CHUNKS, dtype=np.int64)
        bounds = np.linspace(0, active.size, CHUNKS + 1).astype(np.int64)
        jobs = [
            (active[a:b], rem[a:b], kernel, np.random.Generator(np.random.PCG64(int(sd))))
            for a, b, sd in zip(bounds[:-1], bounds[1:], seeds, strict=True)
        ]
        for part in _pool().map(lambda job: _split_rows(*job), jobs):
            out += part
    return out.astype(np.int64)


def release_kernel(generator: Any, p0: np.ndarray, dt: float) -> np.ndarray:
    """``r = p0 (1/dt) int_0^dt expm(s Q) ds``: where a cell released uniformly during a
    step of length ``dt`` is at the step's end (Van Loan's augmented exponential)."""
    from .propagate import DENSE_EXPM_MAX

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


# =========================================================================== results
@dataclass(frozen=True)
class SimulationResult:
    """Integer counts of cells in every state at the requested times.

    Attributes
    ----------
    times : numpy.ndarray
        Minutes after the start.
    states : tuple of str
        State labels (columns of ``counts``).
    counts : numpy.ndarray of int64, shape (len(times), len(states))
    released : numpy.ndarray of int64
        Cells released up to each time (the row sums of ``counts``).
    """

    times: np.ndarray
    states: tuple[str, ...]
    counts: np.ndarray
    released: np.ndarray

    def to_frame(self, tidy: bool = False) -> pd.DataFrame:
        """Counts as a wide table (time x state), or tidy (time, state, count) rows."""
        wide = pd.DataFrame(
            self.counts, index=pd.Index(self.times, name="time_min"), columns=list(self.states)
        )
        if not tidy:
            return wide
        return wide.reset_index().melt(id_vars="time_min", var_name="state", value_name="count")

    def final(self) -> pd.Series:
        """Counts at the last requested time."""
        return pd.Series(self.counts[-1], index=list(self.states), name="count")


# =========================================================================== counts
def _fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(part.tobytes())
            h.update(str(part.dtype).encode())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _progress(total: int, progress: bool | None, desc: str) -> Any:
    show = progress if progress is not None else (sys.stderr.isatty() and total >= 200)
    if not show:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, desc=desc, unit="step", leave=False)


def simulate_counts(
    generator: Any,
    states: Sequence[str],
    initial_counts: np.ndarray,
    times: Sequence[float],
    *,
    dt: float | None = None,
    rng: Any = None,
    release: np.ndarray | None = None,
    release_rate: float = 0.0,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 100,
    stop_after: int | None = None,
    progress: bool | None = None,
    transition: Any = None,
) -> SimulationResult:
    """Exact-in-distribution integer counts of independent cells at ``times``.

    Parameters
    ----------
    generator : sparse array (n, n)
        Rates per minute (rows sum to zero).
    states : sequence of str
        Labels of the n states.
    initial_counts : array of int (n,)
        Cells in each state at time 0 (a burst).
    times : sequence of float
        Sorted, non-negative times (minutes) at which to record counts.
    dt : float, optional
        Grid step (minutes). Results at the grid times are exact in distribution
        whatever ``dt``; a smaller ``dt`` only gives more steps (finer checkpoints and
        progress, sparser ``P``). Default: step only from one requested time to the next.
    rng : int, numpy.random.Generator or None
    release : array (n,), optional
        Distribution of a newly released cell (needed when ``release_rate > 0``).
    release_rate : float
        Cells released per minute (a Poisson process) from time 0 on.
    checkpoint : path, optional
        ``.npz`` file written atomically every ``checkpoint_every`` steps; if it
        exists and matches this run, the run resumes from it, with results identical
        to an uninterrupted run. Removed when the run completes.
    stop_after : int, optional
        Stop after this many steps in this call (the checkpoint is written); for
        splitting a long run into jobs. Raises ``StopIteration``-free: returns None.
    progress : bool or None
        Progress bar (tqdm); None: only on a terminal and for long runs.
    transition : sparse array, optional
        Use this row-stochastic matrix for every step instead of ``expm(dt Q)``
        (discrete-time chains); ``generator`` is then only used for labels.

    Returns
    -------
    SimulationResult or None (when stopped by ``stop_after``)
    """
    gen = _rng(rng)
    n = len(states)
    c0 = np.asarray(initial_counts)
    if c0.shape != (n,) or not np.issubdtype(c0.dtype, np.integer):
        if c0.shape == (n,) and np.all(np.isfinite(c0)) and np.all(np.mod(c0, 1) == 0):
            c0 = c0.astype(np.int64)
        else:
            raise ParameterError(f"`initial_counts` must be {n} integers (one per state)")
    c0 = c0.astype(np.int64)
    if np.any(c0 < 0):
        raise ParameterError("`initial_counts` must not be negative")
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if (
        t.ndim != 1
        or t.size == 0
        or not np.all(np.isfinite(t))
        or np.any(t < 0)
        or np.any(np.diff(t) < 0)
    ):
        raise ParameterError("`times` must be a non-empty sorted list of non-negative minutes")
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise ParameterError(f"`dt` must be a positive number of minutes (got {dt!r})")
    if not (np.isfinite(release_rate) and release_rate >= 0):
        raise ParameterError(f"`release_rate` must be a non-negative rate (got {release_rate!r})")
    if release_rate > 0 and release is None:
        raise ParameterError("`release_rate` needs `release`, the distribution of a new cell")
    expected_total = int(c0.sum()) + release_rate * float(t[-1])
    if expected_total > MAX_CELLS:
        raise ParameterError(
            f"at most {MAX_CELLS:.3g} cells can be counted exactly "
            f"(asked for about {expected_total:.3g})"
        )

    # the grid: multiples of dt, plus every requested time
    regular = np.arange(0.0, t[-1], dt) if dt is not None else np.zeros(0)
    grid = np.unique(np.concatenate([regular, t, [0.0]]))
    steps = np.diff(grid)
    from .propagate import transition_matrix

    kernels: dict[float, _Ell] = {}
    rel_vec: dict[float, np.ndarray] = {}

    def kernel(h: float) -> _Ell:
        key = round(h, 12)
        if key not in kernels:
            kernels[key] = _Ell.from_matrix(
                transition if transition is not None else transition_matrix(generator, h)
            )
        return kernels[key]

    def release_vector(h: float) -> np.ndarray:
        key = round(h, 12)
        if key not in rel_vec:
            rel_vec[key] = (
                np.asarray(release, dtype=float)
                if transition is not None
                else release_kernel(generator, release, h)
            )
        return rel_vec[key]

    fp = _fingerprint(
        np.asarray(sp.csr_array(generator).data),
        c0,
        t,
        None if dt is None else float(dt),
        float(release_rate),
        None if release is None else np.asarray(release),
        list(states),
    )
    record_at = {float(x): i for i, x in enumerate(t)}
    out = np.zeros((len(t), n), dtype=np.int64)
    released_out = np.zeros(len(t), dtype=np.int64)
    counts = c0.copy()
    released = int(c0.sum())
    start = 0
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["fingerprint"]) != fp:
                    raise CheckpointError(
                        f"{str(path)!r}: checkpoint belongs to another run "
                        "(different model, source, times or dt)"
                    )
                counts = z["counts"].copy()
                out = z["out"].copy()
                released_out = z["released_out"].copy()
                released = int(z["released"])
                start = int(z["step"])
                gen.bit_generator.state = json.loads(str(z["rng_state"]))
        except CheckpointError:
            raise
        except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as err:
            raise CheckpointError(f"{str(path)!r}: unreadable checkpoint ({err})") from err

    def save(step: int) -> None:
        from .io import atomic_write

        with atomic_write(path, "wb") as fh:
            np.savez(
                fh,
                fingerprint=np.str_(fp),
                counts=counts,
                out=out,
                released_out=released_out,
                released=np.int64(released),
                step=np.int64(step),
                rng_state=np.str_(json.dumps(gen.bit_generator.state, default=int)),
            )

    if start == 0 and 0.0 in record_at:
        out[record_at[0.0]] = counts
        released_out[record_at[0.0]] = released
    bar = _progress(len(steps) - start, progress, "simulating")
    done_here = 0
    for i in range(start, len(steps)):
        h = float(steps[i])
        counts = split_counts(counts, kernel(h), gen)
        if release_rate > 0:
            new = gen.poisson(release_rate * h * release_vector(h)).astype(np.int64)
            counts += new
            released += int(new.sum())
        if int(counts.sum()) != released:
            raise CircnetError(
                f"cell count not conserved at step {i}: {int(counts.sum())} != {released}"
            )
        ti = float(grid[i + 1])
        if ti in record_at:
            out[record_at[ti]] = counts
            released_out[record_at[ti]] = released
        if bar is not None:
            bar.update(1)
        done_here += 1
        if path is not None and (
            (i + 1) % checkpoint_every == 0 or (stop_after is not None and done_here >= stop_after)
        ):
            save(i + 1)
        if stop_after is not None and done_here >= stop_after and i + 1 < len(steps):
            if bar is not None:
                bar.close()
            return None
    if bar is not None:
        bar.close()
    if path is not None and path.exists():
        path.unlink()
    return SimulationResult(times=t, states=tuple(states), counts=out, released=released_out)


# =========================================================================== paths
def trajectories(
    generator: Any,
    states: Sequence[str],
    n_transient: int,
    initial: np.ndarray,
    n: int,
    *,
    rng: Any = None,
    max_steps: int = 100_000,
) -> pd.DataFrame:
    """Individual cells' paths through the chain, each followed to its fate.

    Parameters
    ----------
    generator : sparse array
        Rates per minute.
    states : sequence of str
    n_transient : int
        The first ``n_transient`` states are transient.
    initial : array (n_transient,) or (n_states,)
        Distribution of the starting state.
    n : int
        Number of cells.
    rng : int, Generator or None

    Returns
    -------
    pandas.DataFrame
        Tidy: ``cell`` (int), ``step`` (int, 0 = start), ``state`` (categorical over
        all state labels), ``time_min`` (entry time into the state). The last row
        of each cell is its fate.
    """
    gen = _rng(rng)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ParameterError(f"`n` must be a non-negative integer (got {n!r})")
    q = sp.csr_array(generator, dtype=float)
    ns = q.shape[0]
    p0 = np.zeros(ns)
    init = np.asarray(initial, dtype=float)
    p0[: init.size] = init
    if abs(p0.sum() - 1) > 1e-9 or np.any(p0 < 0):
        raise ParameterError("`initial` must be a probability distribution")
    # embedded jump chain: rates off the diagonal, keyed by row for a global searchsorted
    off = q.copy()
    off.setdiag(0.0)
    off.eliminate_zeros()
    off = sp.csr_array(off)
    exit_rate = np.asarray(off.sum(axis=1)).ravel()
    lengths = np.diff(off.indptr)
    rows = np.repeat(np.arange(ns), lengths)
    with np.errstate(invalid="ignore", divide="ignore"):
        within = off.data / exit_rate[rows]
    cum = np.cumsum(within)
    row_start = np.concatenate([[0.0], cum])[off.indptr[:-1]]
    key = rows + (cum - row_start[rows])  # in (row, row + 1]
    key[off.indptr[1:][lengths > 0] - 1] = np.flatnonzero(lengths > 0) + 1.0
    cells = np.arange(n)
    state = gen.choice(ns, size=n, p=p0 / p0.sum())
    time = np.zeros(n)
    rec_cell = [cells]
    rec_step = [np.zeros(n, dtype=np.int64)]
    rec_state = [state.copy()]
    rec_time = [time.copy()]
    active = np.flatnonzero(state < n_transient)
    step = 0
    while active.size:
        step += 1
        if step > max_steps:
            raise CircnetError(f"{active.size} cells still in transit after {max_steps} jumps")
        s = state[active]
        time[active] += gen.exponential(1.0 / exit_rate[s])
        u = gen.random(active.size)
        idx = np.searchsorted(key, s + u, side="right")
        idx = np.minimum(idx, off.indptr[s + 1] - 1)
        state[active] = off.indices[idx]
        rec_cell.append(active.copy())
        rec_step.append(np.full(active.size, step, dtype=np.int64))
        rec_state.append(state[active].copy())
        rec_time.append(time[active].copy())
        active = active[state[active] < n_transient]
    df = pd.DataFrame(
        {
            "cell": np.concatenate(rec_cell),
            "step": np.concatenate(rec_step),
            "state": pd.Categorical.from_codes(np.concatenate(rec_state), categories=list(states)),
            "time_min": np.concatenate(rec_time),
        }
    )
    return df.sort_values(["cell", "step"], kind="stable").reset_index(drop=True)


def counts_from(
    initial: Any, states: Sequence[str], n_transient: int, release: np.ndarray | None, n_cells: Any
) -> np.ndarray:
    """Initial integer counts from a mapping of state to count, an array, or a
    multinomial split of ``n_cells`` over ``release`` (done by the caller)."""
    n = len(states)
    index = {s: i for i, s in enumerate(states)}
    if isinstance(initial, Mapping):
        c = np.zeros(n, dtype=np.int64)
        for k, v in initial.items():
            if k not in index:
                from .errors import UnknownNameError

                raise UnknownNameError(f"unknown state {k!r}")
            if isinstance(v, bool) or int(v) != v or v < 0:
                raise ParameterError(f"count for state {k!r} must be a non-negative integer")
            c[index[k]] += int(v)
        return c
    c = np.asarray(initial)
    if c.shape == (n_transient,):
        c = np.concatenate([c, np.zeros(n - n_transient, dtype=c.dtype)])
    if c.shape != (n,):
        raise ParameterError(f"initial counts must have {n_transient} or {n} entries")
    return c
