"""Ensembles: many fates, simulations or disease courses over a parameter design.

A *design* is a table of parameter values, one row per member: a full grid
(:func:`grid`), a space-filling sample of given distributions (:func:`sample`,
Latin hypercube or scrambled Sobol' from :mod:`scipy.stats.qmc`), or a Saltelli
design for variance-based sensitivity analysis (:func:`saltelli`).

:func:`ensemble` runs a *task* on every member. A task is a function
``task(params: dict, rng: numpy.random.Generator, **fixed) -> dict[str, float]``
(module-level, so that it can be sent to other processes); circnet ships
``"fates"``, ``"simulate"`` and ``"course"`` (see :data:`TASKS`).

Reproducibility: member ``i`` gets its own stream
``SeedSequence(root).spawn(n)[i]`` (rebuilt from the root entropy and the key
``(i,)``), so a member's result does not depend on the engine, the chunking, the
number of workers or the order in which work finishes: in-process, local
processes and a ``dask.distributed`` cluster give bit-identical tables.

Engines: ``"inprocess"`` (default, no set-up), ``"processes"`` (a local
:class:`concurrent.futures.ProcessPoolExecutor`), or a ``dask.distributed.Client``
(``pip install 'circnet[dask]'``). Work goes out in chunks of members so that the
overhead per member stays small. A member whose task raises is recorded as failed
(with its error) and retried ``retries`` times; a chunk lost with its worker is
resubmitted. With ``checkpoint=DIR`` every finished chunk is written atomically to
``DIR``; a later call with the same arguments skips the members already done
(resume after an interruption).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from .errors import CheckpointError, CircnetError, ParameterError, UnknownNameError

__all__ = [
    "Design",
    "grid",
    "sample",
    "saltelli",
    "ensemble",
    "EnsembleResult",
    "TASKS",
    "member_rng",
    "run_config",
]


# =========================================================================== designs
@dataclass(frozen=True)
class Design:
    """A parameter design: one row per member (``table``), and how it was made.

    Attributes
    ----------
    table : pandas.DataFrame
        Parameter values, one column per parameter, one row per member.
    kind : str
        ``"grid"``, ``"lhs"``, ``"sobol"``, ``"saltelli"`` or ``"table"``.
    saltelli_n : int
        For a Saltelli design, the base sample size ``n`` (members = ``n (d + 2)``).
    """

    table: pd.DataFrame
    kind: str = "table"
    saltelli_n: int = 0
    dists: tuple[Any, ...] = field(default=(), repr=False)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def parameters(self) -> list[str]:
        """Parameter names (columns of the design)."""
        return [str(c) for c in self.table.columns]


def _as_design(design: Any) -> Design:
    if isinstance(design, Design):
        return design
    if isinstance(design, pd.DataFrame):
        return Design(design.reset_index(drop=True), "table")
    if isinstance(design, Mapping):
        return grid(design)
    raise ParameterError(
        "`design` must be a Design, a DataFrame of parameter values, or a "
        "mapping of parameter to values (a grid)"
    )


def grid(values: Mapping[str, Sequence[Any]]) -> Design:
    """Full factorial design: every combination of the given values.

    Examples
    --------
    >>> d = grid({"diameter_um": [12.0, 15.0], "lymph_fraction": [0.1, 0.2, 0.3]})
    >>> len(d), d.parameters
    (6, ['diameter_um', 'lymph_fraction'])
    """
    if not values:
        raise ParameterError("`values` must name at least one parameter")
    names = list(values)
    for k, v in values.items():
        if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
            raise ParameterError(f"grid values of {k!r} must be a non-empty list")
    rows = list(itertools.product(*(values[k] for k in names)))
    return Design(pd.DataFrame(rows, columns=names), "grid")


def _dists(distributions: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    if not distributions:
        raise ParameterError("`distributions` must name at least one parameter")
    names, dists = [], []
    for k, d in distributions.items():
        if isinstance(d, tuple) and len(d) == 2:
            lo, hi = float(d[0]), float(d[1])
            if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                raise ParameterError(f"range of {k!r} must be (low, high) with high > low")
            d = stats.uniform(loc=lo, scale=hi - lo)
        if not hasattr(d, "ppf"):
            raise ParameterError(
                f"distribution of {k!r} must be a (low, high) range or a "
                "scipy.stats distribution with a ppf"
            )
        names.append(str(k))
        dists.append(d)
    return names, dists


def sample(
    distributions: Mapping[str, Any], n: int, *, method: str = "lhs", rng: Any = None
) -> Design:
    """Space-filling sample of ``n`` members from per-parameter distributions.

    Parameters
    ----------
    distributions : mapping
        Parameter name to a ``(low, high)`` uniform range or a frozen
        ``scipy.stats`` distribution (anything with ``ppf``).
    n : int
    method : {"lhs", "sobol"}
        Latin hypercube or scrambled Sobol' (``scipy.stats.qmc``).
    rng : int, Generator or None

    Examples
    --------
    >>> d = sample({"diameter_um": (10.0, 20.0)}, 8, rng=0)
    >>> bool(d.table["diameter_um"].between(10, 20).all())
    True
    """
    names, dists = _dists(distributions)
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"`n` must be a positive integer (got {n!r})")
    gen = np.random.default_rng(rng)
    if method == "lhs":
        u = qmc.LatinHypercube(d=len(names), rng=gen).random(n)
    elif method == "sobol":
        u = qmc.Sobol(d=len(names), rng=gen).random(n)
    else:
        raise ParameterError(f"`method` must be 'lhs' or 'sobol' (got {method!r})")
    table = pd.DataFrame(
        {k: d.ppf(u[:, j]) for j, (k, d) in enumerate(zip(names, dists, strict=True))}
    )
    return Design(table, method, dists=tuple(dists))


def saltelli(distributions: Mapping[str, Any], n: int, *, rng: Any = None) -> Design:
    """Saltelli (2010) design for Sobol' indices: ``n (d + 2)`` members.

    The members are, in order, the ``n`` columns of matrix A, the ``n`` of B, then
    for each parameter ``i`` the ``n`` of ``AB_i`` (A with row ``i`` from B), built
    exactly as :func:`scipy.stats.sobol_indices` builds them, so that
    :meth:`EnsembleResult.sensitivity` can hand the outputs to it.

    Examples
    --------
    >>> d = saltelli({"a": (0, 1), "b": (0, 1)}, 8, rng=0)
    >>> len(d)
    32
    """
    names, dists = _dists(distributions)
    if not isinstance(n, (int, np.integer)) or n < 2 or (n & (n - 1)):
        raise ParameterError(f"`n` must be a power of 2 (got {n!r})")
    d = len(names)
    gen = np.random.default_rng(rng)
    ab = qmc.Sobol(d=2 * d, rng=gen, bits=64).random(n).T.reshape(2, d, -1)
    for j, dist in enumerate(dists):
        ab[:, j] = dist.ppf(ab[:, j])
    a, b = ab
    mixed = np.tile(a, (d, 1, 1))
    mixed[np.arange(d), np.arange(d)] = b
    cols = np.concatenate([a, b] + [mixed[i] for i in range(d)], axis=1)
    return Design(
        pd.DataFrame(cols.T, columns=names), "saltelli", saltelli_n=int(n), dists=tuple(dists)
    )


# =========================================================================== tasks
def _split_params(
    params: Mapping[str, Any],
) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, float], dict[str, Any]]:
    """Split member parameters into cell globals, per-site values, organ flow factors, others.

    Names: ``diameter_um`` (a CellProfile field), ``liver.receptivity`` (per site),
    ``flow.liver`` (factor on the organ's arterial flow), anything else goes to the
    task (e.g. ``years``).
    """
    from .cells import PARAMETERS

    cells: dict[str, float] = {}
    sites: dict[str, dict[str, float]] = {}
    flows: dict[str, float] = {}
    other: dict[str, Any] = {}
    for k, v in params.items():
        if k in PARAMETERS:
            cells[k] = float(v)
        elif k.startswith("flow."):
            flows[k[5:]] = float(v)
        elif "." in k and k.rsplit(".", 1)[1] in PARAMETERS:
            site, name = k.rsplit(".", 1)
            sites.setdefault(site, {})[name] = float(v)
        else:
            other[k] = v
    return cells, sites, flows, other


@functools.lru_cache(maxsize=2)
def _default_body() -> Any:
    """The male reference body, built once per worker process (tasks never modify it)."""
    from .body import default_body

    return default_body()


def _member_setup(body: Any, params: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """A member's body (flow factors applied), its CellProfile (None if no cell or site
    parameter is set), and the parameters left for the task."""
    from .body import scale_organ_flow
    from .cells import CellProfile

    cells, sites, flows, other = _split_params(params)
    body = _default_body() if body is None else body
    for organ, factor in flows.items():
        body = scale_organ_flow(body, organ, factor)
    profile = CellProfile(**cells, sites=sites) if cells or sites else None
    return body, profile, other


def _model(body: Any, params: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    from .transport import TransportModel

    body, profile, other = _member_setup(body, params)
    return TransportModel(body, profile), other


def fates_task(
    params: Mapping[str, Any], rng: np.random.Generator, *, primary: str, body: Any = None
) -> dict[str, float]:
    """Task: exact fate probabilities of cells shed from ``primary`` (deterministic)."""
    model, other = _model(body, params)
    if other:
        raise UnknownNameError(f"unknown parameter(s) for the fates task: {sorted(other)}")
    f = model.fates(primary)
    out = {f"P({k})": float(v) for k, v in f.items()}
    out["expected_time_min"] = model.expected_time(primary)
    return out


def simulate_task(
    params: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    primary: str,
    n_cells: int,
    time_min: float,
    body: Any = None,
) -> dict[str, float]:
    """Task: integer counts per fate of ``n_cells`` shed from ``primary`` after ``time_min``."""
    model, other = _model(body, params)
    if other:
        raise UnknownNameError(f"unknown parameter(s) for the simulate task: {sorted(other)}")
    res = model.simulate(primary, n_cells, [time_min], rng=rng)
    final = res.final()
    return {f"n({k})": float(final[k]) for k in model.fate_labels}


def course_task(
    params: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    primary: str,
    years: float,
    body: Any = None,
    **fixed: Any,
) -> dict[str, float]:
    """Task: one disease course; outcomes from :func:`circnet.course` summaries.

    Member parameters other than cell parameters go to ``simulate_course`` as
    keyword arguments (e.g. ``shedding_rate``), after ``fixed``.
    """
    from .course import simulate_course

    body, profile, other = _member_setup(body, params)
    kwargs = {**fixed, **other}
    if profile is not None:
        kwargs["cells"] = profile
    result = simulate_course(body, primary, years, rng=rng, **kwargs)
    return _course_outcomes(result)


def _course_outcomes(result: Any) -> dict[str, float]:
    """The main outcomes of a course as numbers (NaN where undefined)."""
    out: dict[str, float] = {}
    summary = getattr(result, "summary", None)
    table = summary() if callable(summary) else summary
    if isinstance(table, pd.Series):
        items = table.items()
    elif isinstance(table, pd.DataFrame) and table.shape[1] == 1:
        items = table.iloc[:, 0].items()
    elif isinstance(table, Mapping):
        items = table.items()
    else:
        items = []
    for k, v in items:
        if k == "detectable_metastatic_sites":
            out["n_detectable_metastatic_sites"] = float(
                len([s for s in str(v).split(",") if s.strip()])
            )
            continue
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            continue
    return out


#: Tasks shipped with circnet, by name.
TASKS: Mapping[str, Callable[..., dict[str, float]]] = {
    "fates": fates_task,
    "simulate": simulate_task,
    "course": course_task,
}


# =========================================================================== running
def member_rng(root: np.random.SeedSequence, i: int) -> np.random.Generator:
    """The random stream of member ``i``: ``root.spawn(n)[i]``, rebuilt by its key.

    Examples
    --------
    >>> root = np.random.SeedSequence(42)
    >>> a = member_rng(root, 3).random()
    >>> b = np.random.default_rng(np.random.SeedSequence(42).spawn(4)[3]).random()
    >>> a == b
    True
    """
    child = np.random.SeedSequence(
        root.entropy, spawn_key=(*root.spawn_key, int(i)), pool_size=root.pool_size
    )
    return np.random.default_rng(child)


def _run_chunk(
    task: Callable[..., dict[str, float]],
    rows: list[tuple[int, dict[str, Any]]],
    entropy: int,
    spawn_key: tuple[int, ...],
    fixed: Mapping[str, Any],
    retries: int,
) -> list[dict[str, Any]]:
    """Run one chunk of members (in whatever process); never raises for a member."""
    root = np.random.SeedSequence(entropy, spawn_key=spawn_key)
    out = []
    for i, params in rows:
        record: dict[str, Any] = {"member": i}
        for attempt in range(retries + 1):
            try:
                outcome = task(dict(params), member_rng(root, i), **fixed)
                record.update({"status": "ok", "attempts": attempt + 1, "error": ""})
                record.update({f"out:{k}": v for k, v in outcome.items()})
                break
            except Exception as err:  # noqa: BLE001 - recorded, reported, retried
                record.update(
                    {
                        "status": "failed",
                        "attempts": attempt + 1,
                        "error": f"{type(err).__name__}: {err}".splitlines()[0],
                    }
                )
                record["traceback"] = traceback.format_exc(limit=3)
        out.append(record)
    return out


@dataclass(frozen=True)
class EnsembleResult:
    """Parameters and outcomes of every member.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per member: ``member``, the parameters, ``status`` (``ok`` /
        ``failed``), ``attempts``, ``error``, and one column per outcome.
    design : Design
    outcomes : list of str
    """

    table: pd.DataFrame
    design: Design
    outcomes: list[str]

    @property
    def failed(self) -> pd.DataFrame:
        """Members whose task failed after all retries, with their errors."""
        return self.table[self.table["status"] != "ok"]

    def to_frame(self) -> pd.DataFrame:
        """The member table."""
        return self.table

    def summary(self) -> pd.DataFrame:
        """Distribution of each outcome over the successful members.

        Columns: count, mean, std, min, 5 %, 25 %, 50 %, 75 %, 95 %, max.
        """
        ok = self.table[self.table["status"] == "ok"][self.outcomes]
        return ok.describe(percentiles=[0.05, 0.25, 0.5, 0.75, 0.95]).T

    def sensitivity(
        self, outcome: str | None = None, *, n_resamples: int = 0, rng: Any = None
    ) -> pd.DataFrame:
        """Sobol' first-order and total indices of outcomes, from a Saltelli design.

        Uses :func:`scipy.stats.sobol_indices` on the members' outputs (Saltelli
        2010 estimators). With ``n_resamples > 0``, bootstrap 95 % intervals.

        Returns
        -------
        pandas.DataFrame
            Rows (outcome, parameter); columns ``first_order``, ``total`` (and
            ``*_low``/``*_high`` with bootstrap). NaN for an outcome that does not vary
            over the design (relative spread below 1e-9).
        """
        d = self.design
        if d.kind != "saltelli":
            raise ParameterError("sensitivity indices need a saltelli() design")
        names = [outcome] if outcome else self.outcomes
        for nm in names:
            if nm not in self.outcomes:
                raise UnknownNameError(f"unknown outcome {nm!r}; known: {self.outcomes}")
        if len(self.failed):
            raise CircnetError(
                f"{len(self.failed)} member(s) failed; sensitivity indices need "
                "every member of a Saltelli design"
            )
        n, k = d.saltelli_n, len(d.parameters)
        y = self.table.sort_values("member")[names].to_numpy(dtype=float).T  # (s, N)
        if not np.all(np.isfinite(y)):
            raise CircnetError(
                "outcomes must be finite for sensitivity indices (an outcome is "
                "NaN or infinite for some member, e.g. no metastasis)"
            )
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

        res = stats.sobol_indices(
            func={"f_A": f_a.copy(), "f_B": f_b.copy(), "f_AB": f_ab.copy()}, n=n
        )

        def grid2(x: Any) -> np.ndarray:  # scipy drops the outcome axis for one outcome
            return np.asarray(x, dtype=float).reshape(len(names), k)

        cols = {"first_order": grid2(res.first_order), "total": grid2(res.total_order)}
        if n_resamples:
            # BCa bootstrap over the n base samples, as SobolResult.bootstrap does, but with
            # our own generator: scipy's method draws from numpy's global state
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
                    rng=np.random.default_rng(rng),
                )
            lo, hi = boot.confidence_interval
            half = len(names) * k
            cols.update(
                first_order_low=grid2(lo[:half]),
                first_order_high=grid2(hi[:half]),
                total_low=grid2(lo[half:]),
                total_high=grid2(hi[half:]),
            )
        # an outcome that does not vary (up to round-off) has no variance to apportion
        flat = np.ptp(y, axis=1) <= 1e-9 * np.maximum(1e-300, np.abs(y).max(axis=1))
        for v in cols.values():
            v[flat] = np.nan
        rows = [
            {"outcome": nm, "parameter": p, **{c: float(v[s, j]) for c, v in cols.items()}}
            for s, nm in enumerate(names)
            for j, p in enumerate(d.parameters)
        ]
        return pd.DataFrame(rows).set_index(["outcome", "parameter"])


def _fingerprint(task: Any, design: Design, entropy: int, fixed: Mapping[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(getattr(task, "__module__", "").encode())
    h.update(getattr(task, "__qualname__", repr(task)).encode())
    h.update(pd.util.hash_pandas_object(design.table, index=True).to_numpy().tobytes())
    h.update(json.dumps(list(design.table.columns)).encode())
    h.update(str(entropy).encode())
    h.update(
        json.dumps(
            {
                k: repr(v) if not isinstance(v, (int, float, str)) else v
                for k, v in sorted(fixed.items())
            },
            default=str,
        ).encode()
    )
    return h.hexdigest()


def _resolve_task(task: Any) -> Callable[..., dict[str, float]]:
    if isinstance(task, str):
        if task not in TASKS:
            raise UnknownNameError(
                f"unknown task {task!r}; circnet has {sorted(TASKS)} (or pass a function)"
            )
        return TASKS[task]
    if not callable(task):
        raise ParameterError("`task` must be a task name or a function(params, rng, **fixed)")
    return task


def ensemble(
    task: Any,
    design: Any,
    *,
    rng: Any = None,
    engine: Any = "inprocess",
    n_workers: int | None = None,
    chunk_size: int | None = None,
    retries: int = 1,
    checkpoint: str | os.PathLike[str] | None = None,
    max_chunks: int | None = None,
    progress: bool | None = None,
    **fixed: Any,
) -> EnsembleResult:
    """Run ``task`` on every member of ``design``, each with its own random stream.

    Parameters
    ----------
    task : str or callable
        ``"fates"``, ``"simulate"``, ``"course"`` (see :data:`TASKS`) or a module-level
        function ``task(params, rng, **fixed) -> dict[str, float]``.
    design : Design, DataFrame or mapping
        Parameter values per member (a mapping means a full grid).
    rng : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Root of the members' streams. A Generator contributes one draw of entropy.
    engine : "inprocess", "processes", or a dask.distributed.Client
    n_workers : int, optional
        Processes for ``"processes"`` (default: CPU count).
    chunk_size : int, optional
        Members per task sent to a worker (default: about 4 chunks per worker).
    retries : int
        Extra attempts for a member whose task raises, and for a chunk whose worker died.
    checkpoint : path, optional
        Directory where finished chunks are kept; rerunning with the same arguments
        resumes, skipping members already done.
    max_chunks : int, optional
        Process at most this many chunks in this call and return the partial result
        (the rest resumes from ``checkpoint``); for batch jobs with a time limit.
    progress : bool or None
        tqdm progress bar over chunks (default: only on a terminal).
    **fixed
        Keyword arguments passed to every call of the task (e.g. ``primary``, ``years``).

    Returns
    -------
    EnsembleResult

    Examples
    --------
    >>> import circnet
    >>> res = circnet.ensemble("fates", {"diameter_um": [12.0, 18.0]}, rng=0,
    ...                        primary="colon_rectum")
    >>> bool((res.table["status"] == "ok").all())
    True
    >>> bool(res.table.loc[1, "P(colony:liver)"] > res.table.loc[0, "P(colony:liver)"])
    True
    """
    fn = _resolve_task(task)
    d = _as_design(design)
    if isinstance(rng, np.random.SeedSequence):
        root = rng
    elif isinstance(rng, np.random.Generator):
        root = np.random.SeedSequence(int(rng.integers(2**63)))
    elif rng is None or (
        isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0
    ):
        root = np.random.SeedSequence(rng)
    else:
        raise ParameterError(
            f"`rng` must be a non-negative int, a SeedSequence, a Generator or None (got {rng!r})"
        )
    if not isinstance(retries, int) or retries < 0:
        raise ParameterError(f"`retries` must be a non-negative integer (got {retries!r})")
    n = len(d)
    params = d.table.to_dict(orient="records")
    if engine == "inprocess":
        workers = 1
    elif engine == "processes":
        workers = n_workers or os.cpu_count() or 1
    elif hasattr(engine, "submit") and hasattr(engine, "gather"):
        info = engine.scheduler_info() if hasattr(engine, "scheduler_info") else {}
        workers = max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))
    else:
        raise ParameterError(
            "`engine` must be 'inprocess', 'processes' or a "
            f"dask.distributed.Client (got {engine!r})"
        )
    size = chunk_size or max(1, math.ceil(n / (4 * workers)))
    if not isinstance(size, int) or size < 1:
        raise ParameterError(f"`chunk_size` must be a positive integer (got {chunk_size!r})")
    chunks = [list(range(s, min(s + size, n))) for s in range(0, n, size)]

    # ------------------------------------------------------------- checkpoint
    done: dict[int, list[dict[str, Any]]] = {}
    ckpt = Path(checkpoint) if checkpoint is not None else None
    entropy = root.entropy
    if ckpt is not None:
        fp = _fingerprint(fn, d, entropy, fixed)
        ckpt.mkdir(parents=True, exist_ok=True)
        manifest = ckpt / "manifest.json"
        if manifest.exists():
            try:
                meta = json.loads(manifest.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise CheckpointError(f"{str(manifest)!r}: unreadable ({err})") from err
            if meta.get("fingerprint") != fp or meta.get("chunk_size") != size:
                raise CheckpointError(
                    f"{str(ckpt)!r} holds another ensemble (different task, "
                    "design, seed, fixed arguments or chunk size)"
                )
            for f in sorted(ckpt.glob("chunk-*.json")):
                try:
                    done[int(f.stem.split("-")[1])] = json.loads(f.read_text())
                except (OSError, ValueError) as err:
                    raise CheckpointError(f"{str(f)!r}: unreadable chunk ({err})") from err
        else:
            from .io import atomic_write

            with atomic_write(manifest) as fh:
                json.dump({"fingerprint": fp, "chunk_size": size, "members": n}, fh)

    def keep(ci: int, records: list[dict[str, Any]]) -> None:
        done[ci] = records
        if ckpt is not None:
            from .io import atomic_write

            with atomic_write(ckpt / f"chunk-{ci:06d}.json") as fh:
                json.dump(records, fh, default=float)

    todo = [ci for ci in range(len(chunks)) if ci not in done]
    if max_chunks is not None:
        todo = todo[:max_chunks]
    spawn_key = tuple(root.spawn_key)
    args = {
        ci: ([(i, params[i]) for i in chunks[ci]], entropy, spawn_key, fixed, retries)
        for ci in todo
    }
    bar = None
    show = progress if progress is not None else (sys.stderr.isatty() and len(todo) > 1)
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="ensemble", unit="chunk", leave=False)

    def tick() -> None:
        if bar is not None:
            bar.update(1)

    if engine == "inprocess":
        for ci in todo:
            keep(ci, _run_chunk(fn, *args[ci]))
            tick()
    elif engine == "processes":
        pending = list(todo)
        for _attempt in range(retries + 1):
            if not pending:
                break
            try:
                with ProcessPoolExecutor(max_workers=workers) as pool:
                    futures = {pool.submit(_run_chunk, fn, *args[ci]): ci for ci in pending}
                    from concurrent.futures import as_completed

                    for fut in as_completed(futures):
                        ci = futures[fut]
                        keep(ci, fut.result())
                        tick()
                pending = []
            except BrokenProcessPool:
                pending = [ci for ci in pending if ci not in done]
        if pending:
            raise CircnetError(
                f"{len(pending)} chunk(s) lost with their worker processes "
                f"after {retries + 1} attempts"
            )
    else:  # dask.distributed
        from dask.distributed import as_completed as dask_completed

        futures = {
            engine.submit(_run_chunk, fn, *args[ci], retries=retries, pure=False): ci for ci in todo
        }
        for fut in dask_completed(list(futures)):
            ci = futures[fut]
            keep(ci, fut.result())
            tick()
    if bar is not None:
        bar.close()

    records = [r for ci in sorted(done) for r in done[ci]]
    table = pd.DataFrame(records)
    if table.empty:
        table = pd.DataFrame(columns=["member", "status", "attempts", "error"])
    table = table.drop(columns=["traceback"], errors="ignore")
    out_cols = [c for c in table.columns if c.startswith("out:")]
    table = table.rename(columns={c: c[4:] for c in out_cols})
    outcomes = [c[4:] for c in out_cols]
    table = table.sort_values("member").reset_index(drop=True)
    table = pd.concat(
        [
            table[["member"]],
            d.table.iloc[table["member"].to_numpy()].reset_index(drop=True),
            table[["status", "attempts", "error"] + outcomes],
        ],
        axis=1,
    )
    return EnsembleResult(table=table, design=d, outcomes=outcomes)


# =========================================================================== config files
def run_config(
    path: str | os.PathLike[str], *, engine: Any = None, progress: bool | None = None
) -> EnsembleResult:
    """Run an ensemble described by a YAML file (what ``circnet ensemble --config`` runs).

    The file (read with ``yaml.safe_load``) holds::

        task: course                   # fates | simulate | course
        fixed: {primary: breast, years: 5, sex: female}
        design:
          kind: lhs                    # grid | lhs | sobol | saltelli
          n: 64                        # members (lhs, sobol) or base size (saltelli)
          parameters:                  # ranges [low, high] (sampled) or value lists (grid)
            diameter_um: [10, 20]
            liver.receptivity: [0.5, 2]
        seed: 1
        engine: processes              # inprocess | processes | a scheduler address
        n_workers: 2
        checkpoint: sweep.ckpt         # optional: resume directory
        out: sweep.csv                 # optional: member table, written atomically

    ``fixed.sex`` builds the default body of that sex. ``engine`` may be a dask
    scheduler address such as ``tcp://10.0.0.1:8786`` (needs ``circnet[dask]``).
    """
    import yaml

    from .body import default_body
    from .errors import BodyFileError
    from .io import atomic_write

    p = Path(path)
    where = repr(str(p))
    try:
        cfg = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise BodyFileError(f"{where}: cannot read ({err.strerror})") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BodyFileError(f"{where}: malformed YAML{place}") from err
    if not isinstance(cfg, Mapping):
        raise BodyFileError(f"{where}: the config must be a mapping")
    if "task" not in cfg:
        raise BodyFileError(f"{where}: missing field 'task' (fates, simulate or course)")
    spec = cfg.get("design")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("parameters"), Mapping):
        raise BodyFileError(f"{where}: field 'design' must hold 'kind' and 'parameters'")
    kind = spec.get("kind", "grid")
    params = dict(spec["parameters"])
    seed = cfg.get("seed")
    if kind == "grid":
        design = grid(params)
    elif kind in ("lhs", "sobol", "saltelli"):
        ranges = {k: tuple(v) for k, v in params.items()}
        n = spec.get("n")
        if not isinstance(n, int):
            raise BodyFileError(f"{where}: design.n must be an integer for kind {kind!r}")
        design = (
            saltelli(ranges, n, rng=seed)
            if kind == "saltelli"
            else sample(ranges, n, method=kind, rng=seed)
        )
    else:
        raise BodyFileError(
            f"{where}: design.kind must be grid, lhs, sobol or saltelli (got {kind!r})"
        )
    fixed = dict(cfg.get("fixed") or {})
    sex = fixed.pop("sex", None)
    if sex is not None:
        fixed["body"] = default_body(sex)
    eng = engine if engine is not None else cfg.get("engine", "inprocess")
    client = None
    if isinstance(eng, str) and eng not in ("inprocess", "processes"):
        from dask.distributed import Client

        client = Client(eng)
        eng = client
    try:
        result = ensemble(
            cfg["task"],
            design,
            rng=seed,
            engine=eng,
            n_workers=cfg.get("n_workers"),
            chunk_size=cfg.get("chunk_size"),
            retries=int(cfg.get("retries", 1)),
            checkpoint=cfg.get("checkpoint"),
            progress=progress,
            **fixed,
        )
    finally:
        if client is not None:
            client.close()
    out = cfg.get("out")
    if out:
        with atomic_write(Path(out)) as fh:
            result.table.to_csv(fh, index=False)
    return result
