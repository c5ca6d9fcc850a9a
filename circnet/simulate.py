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
@dataclass(frozen=True)
class _Ell:
    """A row-stochastic sparse matrix in padded (ELLPACK) form for vectorised splitting.

    ``cols[i, k]`` and ``cond[i, k]``: the k-th move of row ``i`` and its probability
    *conditional on not having taken moves 0..k-1*; padding has ``cond = 0``.
    """

    cols: np.ndarray
    cond: np.ndarray
    n: int

    @classmethod
    def from_matrix(cls, p: Any) -> _Ell:
        p = sp.csr_array(p, dtype=float)
        p.sum_duplicates()
        n = p.shape[0]
        lengths = np.diff(p.indptr)
        width = int(lengths.max()) if n else 0
        cols = np.zeros((n, width), dtype=np.int64)
        probs = np.zeros((n, width))
        rows = np.repeat(np.arange(n), lengths)
        pos = np.arange(p.nnz) - np.repeat(p.indptr[:-1], lengths)
        # largest probabilities first: fewer, cheaper binomial draws with large counts
        order = np.lexsort((-p.data, rows))
        cols[rows, pos] = p.indices[order]
        probs[rows, pos] = p.data[order]
        cols[lengths == 0, 0] = np.flatnonzero(lengths == 0)  # empty row: stays put
        probs[lengths == 0, 0] = 1.0
        tail = np.cumsum(probs[:, ::-1], axis=1)[:, ::-1]  # mass of moves k..end
        with np.errstate(invalid="ignore", divide="ignore"):
            cond = np.where(tail > 0, probs / tail, 0.0)
        cond = np.clip(cond, 0.0, 1.0)
        last = np.maximum(lengths - 1, 0)
        cond[np.arange(n), last] = 1.0  # the last move takes all that remain
        return cls(cols, cond, n)


def split_counts(counts: np.ndarray, kernel: _Ell, rng: np.random.Generator) -> np.ndarray:
    """One step: split every state's count over its moves (exact multinomials)."""
    rem = counts.astype(np.int64, copy=True)
    out = np.zeros(kernel.n, dtype=np.float64)
    active = np.flatnonzero(rem)
    for k in range(kernel.cols.shape[1]):
        if active.size == 0:
            break
        p = kernel.cond[active, k]
        draw = rng.binomial(rem[active], p)
        out += np.bincount(kernel.cols[active, k], weights=draw, minlength=kernel.n)
        rem[active] -= draw
        active = active[rem[active] > 0]
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
