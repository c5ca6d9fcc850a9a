"""Stochastic simulation: exact integer counts of many cells, and single-cell paths.

Counts (design §5)
------------------
Cells move independently, so the cells in a state split over the state's moves in
one multinomial draw. circnet steps a discrete-time chain with transition matrix
``P = expm(dt Q)`` on a grid of step ``dt``: observed at the grid times, that chain
has *exactly* the law of the continuous-time chain (no time-discretisation error).
``P`` comes from :func:`circnet._chain.transition_kernel`: a dense Pade exponential up to
3 000 states (rounding only, about 1e-16 per entry); above, uniformisation with scaling
and squaring, whose rows lose at most ``1e-12`` of their probability to truncation and
dropped entries before they are renormalised (the result's ``message`` says how much).
Requested times that are not multiples of ``dt`` get a step of their own. Rows with many
moves are drawn by :meth:`numpy.random.Generator.multinomial` over the padded rows,
short rows as conditional binomials vectorised over all states (:mod:`circnet._split`),
so the cost depends on the number of non-zeros of ``P`` and the number of steps, not on
the number of cells. While the cells sit in few states (a burst from one site: at most
:data:`~circnet._split.JUMP_MAX_SOURCES`), they jump straight to the next requested time:
one multinomial per occupied state over its row of the product of the steps' matrices,
exact in law at that time (:func:`circnet._split.jump_counts`). Not with a release, and
not with a checkpoint file: a run that can be stopped and resumed draws every step of
the grid, so that its stopped and resumed parts draw what it draws uninterrupted (the
same law as a run without a file, but other draws from the same seed). Counts are
``int64``; ``n_cells`` may be up to ``2**53`` (about 9e15), so 1e12 cells are fine.

Continuous release at a rate ``lambda`` (cells per minute) is exact too: the cells
released during a step of length ``dt`` that are in state ``j`` at its end are
Poisson with mean ``lambda * dt * r_j``, ``r = p0 (1/dt) int_0^dt expm(sQ) ds``,
independent across states (Poisson thinning); ``r`` comes from one matrix
exponential of the augmented generator (Van Loan 1978).

Conservation is checked at every step: the total count equals the cells released
so far, exactly.

Work and memory are bounded before anything is allocated: a run takes at most
:data:`MAX_STEPS` steps (the grid of ``dt`` plus the requested times) and its result
holds at most :data:`MAX_RESULT_ENTRIES` counts (times x states); a run beyond either
raises :class:`~circnet.ParameterError` naming the limit (a larger ``dt``, fewer times,
or a run split by ``stop_after``).

Paths
-----
:func:`trajectories` follows individual cells through the embedded jump chain
(exponential holding times, next state in proportion to the rates), all cells at
once, each to its fate.

Randomness: one keyword ``rng`` (int, ``numpy.random.Generator``, ``SeedSequence`` or
None; SPEC 7). The same seed gives bit-identical results, in any process.

Checkpoints use the one format of :mod:`circnet._files` (kind ``"simulate"``); their
fingerprint covers the chain, the start, the times, ``dt``, the release and the seed, so
a run never resumes another's checkpoint. A call stopped by ``stop_after`` returns a
result with ``status="stopped"``; the same call again goes on from the checkpoint.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._chain import transition_kernel
from ._files import fingerprint, load_checkpoint, save_checkpoint
from ._progress import progress as make_progress
from ._split import _Ell, can_jump, jump_counts, release_kernel, split_counts
from ._validation import check_int, check_number, check_path, check_rng, check_times
from .errors import CircnetError, ParameterError, UnknownNameError

logger = logging.getLogger(__name__)

__all__ = [
    "SimulationResult",
    "simulate_counts",
    "split_counts",
    "trajectories",
    "release_kernel",
    "MAX_CELLS",
    "MAX_STEPS",
    "MAX_RESULT_ENTRIES",
]

#: Largest number of cells accepted: counts stay exact in float64 scatter-adds.
MAX_CELLS = 2**53
#: Most steps of one run (multiples of ``dt`` up to the last time, plus the requested times).
MAX_STEPS = 100_000
#: Most counts in a result (requested times x states): 400 MB of int64.
MAX_RESULT_ENTRIES = 50_000_000


# =========================================================================== results
@dataclass(frozen=True)
class SimulationResult:
    """Integer counts of cells in every state at the requested times.

    Attributes
    ----------
    times : numpy.ndarray
        Minutes after the start (when stopped early: the times reached so far).
    states : tuple of str
        State labels (columns of ``counts``).
    counts : numpy.ndarray of int64, shape (len(times), len(states))
    released : numpy.ndarray of int64
        Cells released up to each time (the row sums of ``counts``).
    status : {"finished", "stopped"}
        ``"stopped"`` when ``stop_after`` ended the call before the last time; the
        checkpoint holds the state, and the same call again goes on from it.
    message : str
        What happened, in words.
    """

    times: np.ndarray
    states: tuple[str, ...]
    counts: np.ndarray
    released: np.ndarray
    status: str = "finished"
    message: str = "reached the last requested time"

    @property
    def finished(self) -> bool:
        """Whether the run reached the last requested time."""
        return self.status == "finished"

    def to_frame(self, tidy: bool = False) -> pd.DataFrame:
        """Counts as a wide table (time x state), or tidy (time, state, count) rows."""
        wide = pd.DataFrame(
            self.counts, index=pd.Index(self.times, name="time_min"), columns=list(self.states)
        )
        if not tidy:
            return wide
        return wide.reset_index().melt(id_vars="time_min", var_name="state", value_name="count")

    def final(self) -> pd.Series:
        """Counts at the last time reached."""
        if len(self.times) == 0:
            raise CircnetError(f"no requested time was reached ({self.message})")
        return pd.Series(self.counts[-1], index=list(self.states), name="count")


# =========================================================================== counts
def _check_counts(initial_counts: Any, n: int) -> np.ndarray:
    """``n`` non-negative whole counts with a sum of at most MAX_CELLS, as int64."""
    try:
        c0 = np.asarray(initial_counts)
    except (TypeError, ValueError, OverflowError) as err:
        raise ParameterError(f"`initial_counts` must be {n} integers ({err})") from None
    if c0.shape != (n,) or c0.dtype == bool or c0.dtype.kind not in "iuf":
        raise ParameterError(f"`initial_counts` must be {n} integers (one per state)")
    x = c0.astype(float)
    if not np.all(np.isfinite(x)) or np.any(np.mod(x, 1) != 0):
        raise ParameterError("`initial_counts` must be whole numbers")
    if np.any(x < 0):
        raise ParameterError("`initial_counts` must not be negative")
    total = math.fsum(x.tolist())
    if total > MAX_CELLS:
        raise ParameterError(
            f"`initial_counts` sum to {total:.4g}; at most {MAX_CELLS:.3g} cells can be "
            "counted exactly"
        )
    return c0.astype(np.int64)


def _check_size(t: np.ndarray, step: float | None, n_states: int) -> None:
    """Refuse a run of more than MAX_STEPS steps or MAX_RESULT_ENTRIES counts, up front."""
    if step is None:
        if t.size > MAX_STEPS:
            raise ParameterError(
                f"`times` has {t.size:,} entries, one step each; at most {MAX_STEPS:,} steps "
                "are allowed"
            )
    else:
        n_steps = math.ceil(float(t[-1]) / step) + t.size
        if n_steps > MAX_STEPS:
            raise ParameterError(
                f"the run would take about {n_steps:.4g} steps (times up to {t[-1]:g} min in "
                f"steps of `dt` = {step:g} min); at most {MAX_STEPS:,} are allowed: take a "
                "larger `dt` (results at the grid times are exact whatever its size)"
            )
    entries = t.size * n_states
    if entries > MAX_RESULT_ENTRIES:
        raise ParameterError(
            f"the result would hold {t.size:,} times x {n_states:,} states = {entries:,} "
            f"counts; at most {MAX_RESULT_ENTRIES:,} are allowed: ask for fewer `times`"
        )


def _matrix_parts(m: Any) -> list[np.ndarray]:
    """The arrays that define a sparse matrix, for a fingerprint."""
    a = sp.csr_array(m, dtype=float)
    return [a.data, a.indices.astype(np.int64), a.indptr.astype(np.int64), np.array(a.shape)]


def simulate_counts(
    generator: Any,
    states: Sequence[str],
    initial_counts: np.ndarray,
    times: Any,
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
        Strictly increasing, non-negative times (minutes) at which to record counts.
    dt : float, optional
        Grid step (minutes). Results at the grid times are exact in distribution
        whatever ``dt``; a smaller ``dt`` only gives more steps (finer checkpoints and
        progress, sparser ``P``). Default: step only from one requested time to the next.
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
    release : array (n,), optional
        Distribution of a newly released cell (needed when ``release_rate > 0``).
    release_rate : float
        Cells released per minute (a Poisson process) from time 0 on.
    checkpoint : path, optional
        Checkpoint file (:mod:`circnet._files` format, kind ``"simulate"``), written
        atomically every ``checkpoint_every`` steps. If it exists and belongs to this
        run (same generator, counts, times, ``dt``, release and seed: for a Generator,
        its state on entry; ``rng=None`` resumes any stream), the run resumes from it,
        with results identical to an uninterrupted run. Removed when the run completes.
    checkpoint_every : int
        Steps between checkpoints (>= 1).
    stop_after : int, optional
        Stop after this many steps in this call (needs ``checkpoint``, which is
        written); for splitting a long run into jobs. The result then has
        ``status="stopped"`` and the times reached so far.
    progress : bool or None
        Progress bar (tqdm); None: only on a terminal and for long runs.
    transition : sparse array, optional
        Use this row-stochastic matrix for every step instead of ``expm(dt Q)``
        (discrete-time chains); ``generator`` is then only used for labels.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> q = sp.csr_array([[-1.0, 1.0], [0.0, 0.0]])
    >>> res = simulate_counts(q, ["a", "b"], [1000, 0], [0.0, 50.0], rng=1)
    >>> res.counts.tolist(), res.status
    ([[1000, 0], [0, 1000]], 'finished')
    """
    gen = check_rng(rng)
    seed = None if rng is None else gen.bit_generator.state  # the stream this run starts on
    n = len(states)
    c0 = _check_counts(initial_counts, n)
    t = check_times(times)
    step = None if dt is None else check_number(dt, "dt", low=0.0, low_open=True, unit="min")
    rate = check_number(release_rate, "release_rate", low=0.0, unit="cells/min")
    every = check_int(checkpoint_every, "checkpoint_every", low=1)
    stop = None if stop_after is None else check_int(stop_after, "stop_after", low=1)
    path = None if checkpoint is None else check_path(checkpoint, "checkpoint")
    if stop is not None and path is None:
        raise ParameterError("`stop_after` needs a `checkpoint` (the work done would be lost)")
    if rate > 0 and release is None:
        raise ParameterError("`release_rate` needs `release`, the distribution of a new cell")
    expected_total = float(c0.sum(dtype=float)) + rate * float(t[-1])
    if expected_total > MAX_CELLS:
        raise ParameterError(
            f"at most {MAX_CELLS:.3g} cells can be counted exactly "
            f"(asked for about {expected_total:.3g})"
        )
    _check_size(t, step, n)

    # the grid: multiples of dt, plus every requested time
    regular = np.arange(0.0, t[-1], step) if step is not None else np.zeros(0)
    grid = np.unique(np.concatenate([regular, t, [0.0]]))
    steps = np.diff(grid)
    if step is not None:
        # a step between two multiples of dt is dt (np.diff of the grid rounds)
        steps[np.isclose(steps, step, rtol=1e-9, atol=0.0)] = step
    kernels: dict[float, _Ell] = {}
    rel_vec: dict[float, np.ndarray] = {}
    lost = [0.0]  # largest row mass dropped by a uniformised kernel (renormalised)

    matrices: dict[float, Any] = {}

    def matrix(h: float) -> Any:
        key = round(h, 12)
        if key not in matrices:
            if transition is not None:
                matrices[key] = sp.csr_array(transition, dtype=float)
            else:
                p, missing = transition_kernel(generator, h)
                lost[0] = max(lost[0], missing)
                if missing > 0:
                    logger.info("simulate: kernel of step %g lost %.2e of a row", h, missing)
                matrices[key] = sp.csr_array(p)
        return matrices[key]

    def kernel(h: float) -> _Ell:
        key = round(h, 12)
        if key not in kernels:
            kernels[key] = _Ell.from_matrix(matrix(h))
        return kernels[key]

    # without a checkpoint file (a run that can stop and resume steps through the grid) and
    # without release, cells in few states jump to the next recorded time
    may_jump = path is None and rate == 0
    recorded_steps = np.flatnonzero(np.isin(grid[1:], t))

    def release_vector(h: float) -> np.ndarray:
        key = round(h, 12)
        if key not in rel_vec:
            rel_vec[key] = (
                np.asarray(release, dtype=float)
                if transition is not None
                else release_kernel(generator, np.asarray(release), h)
            )
        return rel_vec[key]

    fp = fingerprint(
        "simulate",
        *_matrix_parts(generator),
        *(_matrix_parts(transition) if transition is not None else ["no transition"]),
        c0,
        t,
        step,
        rate,
        None if release is None else np.asarray(release, dtype=float),
        list(states),
        seed,
    )
    record_at = {float(x): i for i, x in enumerate(t)}
    out = np.zeros((len(t), n), dtype=np.int64)
    released_out = np.zeros(len(t), dtype=np.int64)
    counts = c0.copy()
    released = int(c0.sum())
    start = 0
    if path is not None and path.exists():
        ck = load_checkpoint(path, "simulate", fp)
        counts, out = ck.arrays["counts"].copy(), ck.arrays["out"].copy()
        released_out = ck.arrays["released_out"].copy()
        released, start = int(ck.meta["released"]), int(ck.meta["step"])
        gen = ck.generator()
        logger.info("simulate: resuming from %s at step %d", path, start)

    def save(target: Path, done: int) -> None:
        arrays = {"counts": counts, "out": out, "released_out": released_out}
        meta = {"step": done, "released": released, "steps": len(steps)}
        save_checkpoint(target, "simulate", fp, arrays, rng=gen, meta=meta)

    if start == 0 and 0.0 in record_at:
        out[record_at[0.0]] = counts
        released_out[record_at[0.0]] = released
    bar = make_progress(len(steps) - start, "simulating", progress, min_total=200)
    done_here = 0
    jumped_to = start  # counts are already those after step jumped_to - 1
    for i in range(start, len(steps)):
        h = float(steps[i])
        if i >= jumped_to:
            last = i
            if may_jump and can_jump(counts):
                last = int(recorded_steps[np.searchsorted(recorded_steps, i)])
            if last > i:
                counts = jump_counts(counts, [matrix(float(x)) for x in steps[i : last + 1]], gen)
                jumped_to = last + 1
            else:
                counts = split_counts(counts, kernel(h), gen)
        if rate > 0:
            new = gen.poisson(rate * h * release_vector(h)).astype(np.int64)
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
        stopping = stop is not None and done_here >= stop and i + 1 < len(steps)
        if path is not None and ((i + 1) % every == 0 or stopping):
            save(path, i + 1)
        if stopping:
            if bar is not None:
                bar.close()
            k = int(np.searchsorted(t, ti, side="right"))
            return SimulationResult(
                times=t[:k],
                states=tuple(states),
                counts=out[:k],
                released=released_out[:k],
                status="stopped",
                message=(
                    f"stopped after step {i + 1} of {len(steps)} (stop_after={stop}); the state "
                    f"is in {str(path)!r}: call again with the same arguments to go on"
                ),
            )
    if bar is not None:
        bar.close()
    if path is not None and path.exists():
        path.unlink()
    message = "reached the last requested time"
    if lost[0] > 0:
        message += (
            f"; the one-step matrices (uniformisation, {n:,} states) left out at most "
            f"{lost[0]:.1e} of a row's probability, renormalised"
        )
    return SimulationResult(
        times=t, states=tuple(states), counts=out, released=released_out, message=message
    )


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
    gen = check_rng(rng)
    n = check_int(n, "n", low=0)
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


def counts_from(initial: Any, states: Sequence[str], n_transient: int, *unused: Any) -> np.ndarray:
    """Initial integer counts from a mapping of state label to count, or an array over
    the transient states (or all states).

    (Two more arguments, ``release`` and ``n_cells``, were never used; passing them
    still works but warns.)

    Examples
    --------
    >>> counts_from({"b": 3}, ["a", "b", "c"], 2).tolist()
    [0, 3, 0]
    """
    if unused:
        warnings.warn(
            "counts_from() takes (initial, states, n_transient): its `release` and "
            "`n_cells` arguments were never used and will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
    n = len(states)
    index = {s: i for i, s in enumerate(states)}
    if isinstance(initial, Mapping):
        c = np.zeros(n, dtype=np.int64)
        total = 0
        for k, v in initial.items():
            if not isinstance(k, str) or k not in index:
                raise UnknownNameError(f"unknown state {k!r}")
            count = check_int(v, f"count of state {k!r}", low=0, high=MAX_CELLS)
            total += count
            if total > MAX_CELLS:
                raise ParameterError(
                    f"the counts sum to more than {MAX_CELLS:.3g}, the most cells that can "
                    "be counted exactly"
                )
            c[index[k]] += count
        return c
    if isinstance(initial, (str, bytes)) or initial is None:
        raise ParameterError(
            "initial counts must be a mapping of state label to count, or an array of counts"
        )
    try:
        c = np.asarray(initial)
    except (TypeError, ValueError, OverflowError) as err:
        raise ParameterError(f"initial counts must be an array of counts ({err})") from None
    if c.shape == (n_transient,):
        c = np.concatenate([c, np.zeros(n - n_transient, dtype=c.dtype)])
    if c.shape != (n,):
        raise ParameterError(f"initial counts must have {n_transient} or {n} entries")
    return _check_counts(c, n)
