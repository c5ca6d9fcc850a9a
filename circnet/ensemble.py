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

Engines: every engine is a :class:`concurrent.futures.Executor` —
``"inprocess"`` (default, no set-up: a synchronous executor), ``"processes"`` (a local
:class:`~concurrent.futures.ProcessPoolExecutor`), a ``dask.distributed.Client``
(its ``get_executor()``; ``pip install 'circnet[dask]'``), or any Executor you pass.
Work goes out in chunks of members so that the overhead per member stays small. A
member whose task raises is recorded as failed (with its error) and retried
``retries`` times; a chunk lost with its worker is resubmitted. With
``checkpoint=DIR`` every finished chunk is written atomically to ``DIR`` as a circnet
checkpoint (kind ``"ensemble-chunk"``, see :mod:`circnet._files`); a later call with the
same task, design, seed and fixed arguments skips the members already done (resume
after an interruption), and gives the table an uninterrupted run gives.

Timeouts: with ``timeout=SECONDS`` a member that runs longer is stopped and recorded as
failed with a ``TimeoutError`` (it is not retried). Within a task the limit is a
``SIGALRM`` timer (POSIX, main thread: the in-process engine called from the main
thread, and every worker of ``"processes"``), which interrupts Python code, including
sleeps and waits; code stuck inside one call of a C extension is interrupted only when
that call returns. The ``"processes"`` engine also keeps a deadline of its own for each
chunk (``timeout`` per member plus :data:`TIMEOUT_GRACE` seconds): a chunk that overruns
it has its worker processes killed, its members recorded as timed out, and the other
chunks go on in fresh workers, so that a run never hangs. A dask or user executor gets
the same deadline but its threads cannot be killed: the chunk is recorded as timed out
and left to finish in the background. The in-process engine has no such backstop (it
runs in the caller's thread): use ``engine="processes"`` for tasks that may hang in C
code.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import yaml

from ._designs import Design, as_design, grid, saltelli, sample
from ._ensemble_result import Chunk, EnsembleResult, Record, member_table
from ._executors import Deadline, engine_for, run_jobs, time_limit
from ._files import atomic_write, fingerprint
from ._progress import progress as make_progress
from ._tasks import TASKS, check_task_parameters, course_task, fates_task, simulate_task
from ._validation import check_bool, check_int, check_number, check_path, check_rng
from .body import default_body
from .errors import (
    BodyFileError,
    CheckpointError,
    OptionalDependencyError,
    ParameterError,
    UnknownNameError,
)
from .io import SafeLoader

logger = logging.getLogger(__name__)

__all__ = [
    "Design",
    "grid",
    "sample",
    "saltelli",
    "ensemble",
    "EnsembleResult",
    "TASKS",
    "fates_task",
    "simulate_task",
    "course_task",
    "member_rng",
    "run_config",
    "TIMEOUT_GRACE",
]

#: Seconds a chunk may overrun ``timeout`` x its members before its workers are killed.
TIMEOUT_GRACE = 5.0


# =========================================================================== members
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
    task: Callable[..., Mapping[str, Any]],
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    root: np.random.SeedSequence,
    fixed: Mapping[str, Any],
    retries: int,
    timeout: float | None = None,
) -> Chunk:
    """Run one chunk of members (in whatever process); never raises for a member."""
    records: list[Record] = []
    for i, params in rows:
        tries = 0
        while True:
            tries += 1
            timed_out = False
            try:
                with time_limit(timeout):
                    outcome = task(dict(params), member_rng(root, i), **fixed)
                values = {str(k): float(v) for k, v in outcome.items()}
                status, error = "ok", ""
            except Deadline:
                values, status, timed_out = {}, "failed", True
                error = _timeout_error(timeout)
            except Exception as err:  # noqa: BLE001 - recorded, reported, retried
                values, status = {}, "failed"
                error = f"{type(err).__name__}: {err}".splitlines()[0]
            if status == "ok" or timed_out or tries > retries:
                break
            logger.info("member %d failed (%s): retry %d of %d", i, error, tries, retries)
        records.append((i, status, tries, error, values))
    return Chunk.from_records(records)


def _timeout_error(timeout: float | None, killed: bool = False) -> str:
    how = "; its worker was stopped" if killed else ""
    return f"TimeoutError: the member ran longer than timeout={timeout:g} s{how}"


def _timed_out(rows: Sequence[tuple[int, Mapping[str, Any]]], timeout: float) -> Chunk:
    """The chunk of members whose worker overran the deadline: every member failed."""
    error = _timeout_error(timeout, killed=True)
    return Chunk.from_records([(i, "failed", 1, error, {}) for i, _ in rows])


# =========================================================================== running
def _root(rng: Any) -> np.random.SeedSequence:
    """The root of the members' streams (SPEC 7 types; a Generator gives one draw)."""
    gen = check_rng(rng)
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence(int(gen.integers(2**63)))
    if isinstance(rng, np.random.SeedSequence):
        return rng
    return np.random.SeedSequence(None if rng is None else int(rng))


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


def _stable(x: Any) -> Any:
    """A JSON-able, process-independent stand-in for a fixed argument (for fingerprints)."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return {"dtype": str(x.dtype), "array": x.tolist()}
    if isinstance(x, nx.Graph):
        return {
            "nodes": sorted(
                ([str(n), _stable(dict(d))] for n, d in x.nodes(data=True)), key=lambda t: t[0]
            ),
            "edges": sorted(
                ([str(u), str(v), _stable(dict(d))] for u, v, d in x.edges(data=True)),
                key=lambda t: (t[0], t[1]),
            ),
        }
    if is_dataclass(x) and not isinstance(x, type):
        return {type(x).__name__: {f.name: _stable(getattr(x, f.name)) for f in fields(x)}}
    if isinstance(x, Mapping):
        return {str(k): _stable(v) for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))}
    if isinstance(x, (list, tuple)):
        return [_stable(v) for v in x]
    return repr(x)


def _fingerprint(
    task: Any, design: Design, root: np.random.SeedSequence, fixed: Mapping[str, Any]
) -> str:
    """What defines an ensemble's results: task, design, seed and fixed arguments."""
    return fingerprint(
        "ensemble",
        getattr(task, "__module__", ""),
        getattr(task, "__qualname__", repr(task)),
        [str(c) for c in design.table.columns],
        pd.util.hash_pandas_object(design.table, index=True).to_numpy(),
        {"entropy": root.entropy, "spawn_key": list(root.spawn_key), "pool": root.pool_size},
        _stable(dict(fixed)),
    )


def _chunk_path(ckpt: Path, first: int) -> Path:
    return ckpt / f"chunk-{first:06d}.npz"


def _load_chunks(ckpt: Path, fp: str, n: int) -> dict[int, Chunk]:
    """The finished chunks in a checkpoint directory, by first member (checked)."""
    if (ckpt / "manifest.json").exists() or any(ckpt.glob("chunk-*.json")):
        raise CheckpointError(
            f"{str(ckpt)!r} holds an ensemble checkpoint of an older circnet (JSON chunks); "
            "resume it with that version, or start again in a new directory"
        )
    done: dict[int, Chunk] = {}
    seen: set[int] = set()
    for path in sorted(ckpt.glob("chunk-*.npz")):
        chunk = Chunk.load(path, fp)
        members = set(chunk.member.tolist())
        if members & seen or not members <= set(range(n)):
            raise CheckpointError(
                f"checkpoint {str(path)!r} holds members outside the design or already "
                "held by another chunk"
            )
        seen |= members
        done[int(chunk.member[0])] = chunk
    return done


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
    timeout: float | None = None,
    **fixed: Any,
) -> EnsembleResult:
    """Run ``task`` on every member of ``design``, each with its own random stream.

    Parameters
    ----------
    task : str or callable
        ``"fates"``, ``"simulate"``, ``"course"`` (see :data:`TASKS`) or a module-level
        function ``task(params, rng, **fixed) -> dict[str, float]``.
    design : Design, DataFrame or mapping
        Parameter values per member (a mapping means a full grid). For ``"fates"`` and
        ``"simulate"`` a parameter that the task does not know is refused up front.
    rng : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Root of the members' streams. A Generator contributes one draw of entropy.
    engine : "inprocess", "processes", a dask.distributed.Client or an Executor
        Where chunks run (any :class:`concurrent.futures.Executor` is used as given).
    n_workers : int, optional
        Processes for ``"processes"`` (default: CPU count).
    chunk_size : int, optional
        Members per task sent to a worker (default: about 4 chunks per worker).
    retries : int
        Extra attempts for a member whose task raises, and for a chunk whose worker died.
    checkpoint : path, optional
        Directory where finished chunks are kept; rerunning with the same task,
        design, seed and fixed arguments resumes, skipping members already done.
    max_chunks : int, optional
        Process at most this many chunks in this call and return the partial result
        (``status`` 1; the rest resumes from ``checkpoint``); for batch jobs with a
        time limit.
    progress : bool or None
        tqdm progress bar over chunks (default: only on a terminal).
    timeout : float, optional
        Seconds a member may run; one that runs longer is recorded as failed with a
        ``TimeoutError`` (not retried). See the module docstring for how each engine
        enforces it (the ``"processes"`` engine kills a worker that hangs).
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
    d = as_design(design)
    if isinstance(task, str):
        check_task_parameters(task, d.parameters)
    root = _root(rng)
    retries = check_int(retries, "retries", low=0)
    eng = engine_for(engine, n_workers, retries)
    n = len(d)
    if chunk_size is None:
        size = max(1, math.ceil(n / (4 * eng.workers)))
    else:
        size = check_int(chunk_size, "chunk_size", low=1)
    limit = None if max_chunks is None else check_int(max_chunks, "max_chunks", low=0)
    seconds = (
        None
        if timeout is None
        else check_number(timeout, "timeout", low=0.0, low_open=True, unit="s")
    )

    done: dict[int, Chunk] = {}
    ckpt = None if checkpoint is None else check_path(checkpoint, "checkpoint")
    fp = ""
    if ckpt is not None:
        if ckpt.exists() and not ckpt.is_dir():
            raise ParameterError(f"`checkpoint` {str(ckpt)!r} must be a directory, not a file")
        ckpt.mkdir(parents=True, exist_ok=True)
        fp = _fingerprint(fn, d, root, fixed)
        done = _load_chunks(ckpt, fp, n)
        if done:
            logger.info("resuming from %s: %d chunk(s) already done", ckpt, len(done))
    finished = {int(i) for c in done.values() for i in c.member}
    todo = [i for i in range(n) if i not in finished]
    chunks = [todo[s : s + size] for s in range(0, len(todo), size)][:limit]
    params = d.table.to_dict(orient="records")
    jobs = {c[0]: (fn, [(i, params[i]) for i in c], root, fixed, retries, seconds) for c in chunks}

    enabled = check_bool(progress, "progress") if progress is not None else None
    bar = make_progress(len(jobs), "ensemble", enabled, unit="chunk", min_total=2)

    def keep(first: int, chunk: Chunk) -> None:
        done[first] = chunk
        if ckpt is not None:
            chunk.save(_chunk_path(ckpt, first), fp)
        if bar is not None:
            bar.update(1)

    try:
        if seconds is None:
            run_jobs(eng, _run_chunk, jobs, keep, retries=retries)
        else:
            run_jobs(
                eng,
                _run_chunk,
                jobs,
                keep,
                retries=retries,
                deadline=lambda first: len(jobs[first][1]) * seconds + TIMEOUT_GRACE,
                on_timeout=lambda first: _timed_out(jobs[first][1], seconds),
            )
    finally:
        if bar is not None:
            bar.close()

    table, outcomes = member_table(d, list(done.values()))
    ran = len(table)
    status = 0 if ran == n else 1
    message = (
        f"every member ran ({ran} of {n})"
        if status == 0
        else f"stopped after max_chunks={limit}: {ran} of {n} members ran; rerun with the "
        "same checkpoint to go on"
    )
    return EnsembleResult(table, d, outcomes, status=status, message=message)


# =========================================================================== config files
_CONFIG_FIELDS = (
    "task",
    "fixed",
    "design",
    "seed",
    "engine",
    "n_workers",
    "chunk_size",
    "retries",
    "checkpoint",
    "out",
)
_DESIGN_FIELDS = ("kind", "n", "parameters")


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
    Optional fields: ``chunk_size``, ``retries``. An unknown field is refused.
    """
    p = check_path(path, "path")
    where = repr(str(p))
    try:
        cfg = yaml.load(p.read_text(encoding="utf-8"), Loader=SafeLoader)  # noqa: S506
    except OSError as err:
        raise BodyFileError(f"{where}: cannot read ({err.strerror})") from err
    except UnicodeDecodeError as err:
        raise BodyFileError(f"{where}: not UTF-8 text (byte {err.start})") from err
    except RecursionError as err:
        raise BodyFileError(f"{where}: the YAML is nested too deeply") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BodyFileError(f"{where}: malformed YAML{place}") from err
    if not isinstance(cfg, Mapping):
        raise BodyFileError(f"{where}: the config must be a mapping")
    unknown = sorted(str(k) for k in cfg if k not in _CONFIG_FIELDS)
    if unknown:
        raise BodyFileError(f"{where}: unknown field(s) {unknown}; known: {list(_CONFIG_FIELDS)}")
    if "task" not in cfg:
        raise BodyFileError(f"{where}: missing field 'task' (fates, simulate or course)")
    spec = cfg.get("design")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("parameters"), Mapping):
        raise BodyFileError(f"{where}: field 'design' must hold 'kind' and 'parameters'")
    unknown = sorted(str(k) for k in spec if k not in _DESIGN_FIELDS)
    if unknown:
        raise BodyFileError(
            f"{where}: unknown field(s) {unknown} in 'design'; known: {list(_DESIGN_FIELDS)}"
        )
    kind = spec.get("kind", "grid")
    params = dict(spec["parameters"])
    if not all(isinstance(k, str) for k in params):
        raise BodyFileError(f"{where}: the names in design.parameters must be strings")
    seed = cfg.get("seed")
    design: Design
    if kind == "grid":
        design = grid(params)
    elif kind in ("lhs", "sobol", "saltelli"):
        n = spec.get("n")
        if not isinstance(n, int) or isinstance(n, bool):
            raise BodyFileError(f"{where}: design.n must be an integer for kind {kind!r}")
        design = (
            saltelli(params, n, rng=seed)
            if kind == "saltelli"
            else sample(params, n, method=kind, rng=seed)
        )
    else:
        raise BodyFileError(
            f"{where}: design.kind must be grid, lhs, sobol or saltelli (got {kind!r})"
        )
    fixed_spec = cfg.get("fixed") or {}
    if not isinstance(fixed_spec, Mapping) or not all(isinstance(k, str) for k in fixed_spec):
        raise BodyFileError(f"{where}: field 'fixed' must be a mapping of argument names")
    fixed = dict(fixed_spec)
    if not isinstance(cfg["task"], str):
        raise BodyFileError(f"{where}: field 'task' must be fates, simulate or course")
    out = cfg.get("out")
    out_path = None if not out else check_path(out, "out", writable=True)
    sex = fixed.pop("sex", None)
    if sex is not None:
        fixed["body"] = default_body(sex)
    eng = engine if engine is not None else cfg.get("engine", "inprocess")
    client = None
    if isinstance(eng, str) and eng not in ("inprocess", "processes"):
        try:
            from dask.distributed import Client
        except ImportError as err:
            raise OptionalDependencyError(
                f"engine {eng!r} (a dask scheduler address) needs dask.distributed: "
                "pip install 'circnet[dask]'"
            ) from err
        try:
            client = Client(eng)
        except (OSError, ValueError, TypeError) as err:
            raise ParameterError(
                f"{where}: engine {eng!r} is neither 'inprocess', 'processes' nor a dask "
                f"scheduler that answers ({str(err).splitlines()[0] if str(err) else err!r})"
            ) from err
        eng = client
    try:
        result = ensemble(
            cfg["task"],
            design,
            rng=seed,
            engine=eng,
            n_workers=cfg.get("n_workers"),
            chunk_size=cfg.get("chunk_size"),
            retries=cfg.get("retries", 1),
            checkpoint=cfg.get("checkpoint"),
            progress=progress,
            **fixed,
        )
    finally:
        if client is not None:
            client.close()
    if out_path is not None:
        with atomic_write(out_path) as fh:
            result.table.to_csv(fh, index=False)
    return result
