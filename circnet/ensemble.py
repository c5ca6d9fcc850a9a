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
Work goes out in chunks of members so that the overhead per member stays small; the
chunks are cut from the design alone (about :data:`TARGET_CHUNKS`), never from the workers
present, so a dask cluster that starts empty and scales up (``cluster.adapt``, as
dask-jobqueue, Kubernetes and dask-gateway clusters do) keeps every worker busy. The
``fixed`` arguments go to each worker once; results come back as columns
(:mod:`circnet._ensemble_result`), including per-member series (member x time x site) for a
task that returns DataFrames; each future is dropped as its chunk arrives; every chunk
checks that its worker runs the client's circnet version. A member whose task raises is
recorded as failed (with its error) and retried ``retries`` times; a chunk lost with its
worker is resubmitted. With
``checkpoint=DIR`` every finished chunk is written atomically to ``DIR`` as a circnet
checkpoint (kind ``"ensemble-chunk"``, see :mod:`circnet._files`); a later call with the
same task, design, seed and fixed arguments skips the members already done (resume
after an interruption, on any engine and any number of workers), and gives the table an
uninterrupted run gives. Job arrays without dask: ``part="i/N"`` runs one block of the
design into the checkpoint, and ``max_chunks=0`` merges the parts
(``circnet ensemble --chunk i/N`` and ``--merge``).

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
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import yaml

from ._designs import Design, as_design, grid, saltelli, sample
from ._ensemble_result import Chunk, EnsembleResult, member_table, merge_series
from ._ensemble_run import (
    TARGET_CHUNKS,
    chunk_path,
    default_chunk_size,
    design_rows,
    load_chunks,
    member_rng,
    parse_part,
    part_range,
    plan_chunks,
    resolve_task,
    root_of,
    run_chunk,
    run_fingerprint,
    timed_out,
)
from ._executors import engine_for, is_dask_client, run_jobs
from ._files import atomic_write
from ._progress import progress as make_progress
from ._tasks import TASKS, check_task_fixed, check_task_parameters
from ._tasks import course_task as course_task
from ._tasks import fates_task as fates_task
from ._tasks import simulate_task as simulate_task
from ._validation import check_bool, check_int, check_number, check_path
from ._version import __version__
from .body import default_body
from .errors import (
    BodyFileError,
    CircnetError,
    OptionalDependencyError,
    ParameterError,
)
from .io import SafeLoader

#: The run's fingerprint (kept under its old name for callers of the previous layout).
_fingerprint = run_fingerprint

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
    "TARGET_CHUNKS",
]

#: Seconds a chunk may overrun ``timeout`` x its members before its workers are killed.
TIMEOUT_GRACE = 5.0


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
    part: str | tuple[int, int] | None = None,
    progress: bool | None = None,
    timeout: float | None = None,
    **fixed: Any,
) -> EnsembleResult:
    """Run ``task`` on every member of ``design``, each with its own random stream.

    Parameters
    ----------
    task : str or callable
        ``"fates"``, ``"simulate"``, ``"course"`` (see :data:`TASKS`) or a module-level
        function ``task(params, rng, **fixed) -> dict``: each value a number (an
        outcome) or a DataFrame indexed by time with one column per site (a series,
        kept member x time x site: :meth:`EnsembleResult.to_dataset`).
    design : Design, DataFrame or mapping
        Parameter values per member (a mapping means a full grid). For ``"fates"`` and
        ``"simulate"`` a parameter that the task does not know is refused up front.
    rng : int, numpy.random.SeedSequence, numpy.random.Generator or None
        Root of the members' streams. A Generator contributes one draw of entropy.
    engine : "inprocess", "processes", a dask.distributed.Client or an Executor
        Where chunks run (any :class:`concurrent.futures.Executor` is used as given).
        A dask cluster may start with no worker and scale up (``cluster.adapt``).
    n_workers : int, optional
        Processes for ``"processes"`` (default: CPU count).
    chunk_size : int, optional
        Members per task sent to a worker. Default: the size a checkpoint being
        resumed was cut with, else ``ceil(n / TARGET_CHUNKS)`` (about 256 chunks,
        whatever the workers present).
    retries : int
        Extra attempts for a member whose task raises, and for a chunk whose worker died.
    checkpoint : path, optional
        Directory where finished chunks are kept; rerunning with the same task,
        design, seed and fixed arguments resumes, skipping members already done, with
        any engine and any number of workers.
    max_chunks : int, optional
        Process at most this many chunks in this call and return the partial result
        (``status`` 1; the rest resumes from ``checkpoint``); for batch jobs with a
        time limit. ``max_chunks=0`` runs nothing: it assembles what ``checkpoint``
        holds (the merge step of a job array).
    part : "i/N" or (i, N), optional
        Run only part ``i`` (``0 <= i < N``) of the design's members, for task ``i``
        of a job array without dask (``--array=0-{N-1}`` on SLURM); every part writes
        into the same ``checkpoint``. Then merge with ``max_chunks=0``.
    progress : bool or None
        tqdm progress bar over chunks (default: only on a terminal).
    timeout : float, optional
        Seconds a member may run; one that runs longer is recorded as failed with a
        ``TimeoutError`` (not retried). See the module docstring for how each engine
        enforces it (the ``"processes"`` engine kills a worker that hangs).
    **fixed
        Keyword arguments passed to every call of the task (e.g. ``primary``, ``years``).
        They go to each worker once (not with every chunk).

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
    fn = resolve_task(task)
    d = as_design(design)
    if isinstance(task, str):
        check_task_parameters(task, d.parameters)
        check_task_fixed(task, fixed)
    root = root_of(rng)
    retries = check_int(retries, "retries", low=0)
    n = len(d)
    size = None if chunk_size is None else check_int(chunk_size, "chunk_size", low=1)
    limit = None if max_chunks is None else check_int(max_chunks, "max_chunks", low=0)
    block = parse_part(part)
    seconds = (
        None
        if timeout is None
        else check_number(timeout, "timeout", low=0.0, low_open=True, unit="s")
    )
    if not is_dask_client(engine):
        engine_for(engine, n_workers)  # check the arguments before any file is touched

    done: dict[int, Chunk] = {}
    ckpt = None if checkpoint is None else check_path(checkpoint, "checkpoint")
    fp = ""
    if ckpt is not None:
        if ckpt.exists() and not ckpt.is_dir():
            raise ParameterError(f"`checkpoint` {str(ckpt)!r} must be a directory, not a file")
        ckpt.mkdir(parents=True, exist_ok=True)
        fp = run_fingerprint(fn, d, root, fixed)
        within = None if block is None or limit == 0 else part_range(n, block)
        done, stored = load_chunks(ckpt, fp, n, within)
        if done:
            logger.info("resuming from %s: %d chunk(s) already done", ckpt, len(done))
        size = size or stored
    size = size or default_chunk_size(n)
    finished = {int(i) for c in done.values() for i in c.member}
    chunks = plan_chunks(n, size, part=block, finished=finished)[:limit]

    eng = engine_for(engine, n_workers, retries, shared=dict(fixed)) if chunks else None
    shared = None if eng is None else eng.shared
    jobs = {
        int(c[0]): (fn, design_rows(d, c), root, shared, retries, seconds, __version__)
        for c in chunks
    }
    meta = {"chunk_size": size, "circnet": __version__}

    enabled = check_bool(progress, "progress") if progress is not None else None
    bar = make_progress(len(jobs), "ensemble", enabled, unit="chunk", min_total=2)

    def keep(first: int, chunk: Chunk) -> None:
        done[first] = chunk
        if ckpt is not None:
            chunk.save(chunk_path(ckpt, chunk), fp, meta)
        if bar is not None:
            bar.update(1)

    try:
        if eng is None:
            pass
        elif seconds is None:
            run_jobs(eng, run_chunk, jobs, keep, retries=retries)
        else:
            run_jobs(
                eng,
                run_chunk,
                jobs,
                keep,
                retries=retries,
                deadline=lambda first: len(jobs[first][1][0]) * seconds + TIMEOUT_GRACE,
                on_timeout=lambda first: timed_out(jobs[first][1], seconds),
            )
    finally:
        if bar is not None:
            bar.close()
        jobs.clear()  # with ``eng`` and ``shared``: releases the shared input on dask
        eng = shared = None

    table, outcomes = member_table(d, list(done.values()))
    ran = len(table)
    lo, hi = part_range(n, block)
    if ran == n:
        status, message = 0, f"every member ran ({ran} of {n})"
    elif block is not None and limit is None and set(range(lo, hi)) <= set(table["member"]):
        status = 1
        message = (
            f"part {block[0]}/{block[1]} done (members {lo} to {hi - 1}); {ran} of {n} "
            "members in the checkpoint: merge when every part is done (max_chunks=0)"
        )
    else:
        status = 1
        message = f"{ran} of {n} members ran{_stopped_by(limit, block)}; {_missing(table, n)}"
    series = merge_series(list(done.values()))
    return EnsembleResult(table, d, outcomes, status=status, message=message, series=series)


def _stopped_by(limit: int | None, block: tuple[int, int] | None) -> str:
    if limit == 0:
        return " (max_chunks=0: only the checkpoint was read)"
    if limit is not None:
        return f" (stopped after max_chunks={limit}: rerun with the same checkpoint to go on)"
    return f" (part {block[0]}/{block[1]})" if block else ""


def _missing(table: Any, n: int) -> str:
    """The members not in ``table``, as ranges (``members 3-9, 20-29 missing``)."""
    have = np.zeros(n, dtype=bool)
    have[table["member"].to_numpy(dtype=np.int64)] = True
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (~have).astype(np.int8), [0]])))
    spans = [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans[:8])
    return f"members {text}{', ...' if len(spans) > 8 else ''} missing"


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
    path: str | os.PathLike[str],
    *,
    engine: Any = None,
    progress: bool | None = None,
    part: str | tuple[int, int] | None = None,
    merge: bool = False,
) -> EnsembleResult:
    """Run an ensemble described by a YAML file (what ``circnet ensemble --config`` runs).

    ``part="i/N"`` runs part ``i`` of ``N`` of the design into the config's checkpoint
    (one task of a job array; ``out`` is not written), ``merge=True`` runs nothing and
    assembles the checkpoint, written by every part, into the result (and ``out``); it
    raises :class:`~circnet.CircnetError` naming the members still missing.

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
    merge = check_bool(merge, "merge")
    if (part is not None or merge) and not cfg.get("checkpoint"):
        raise BodyFileError(
            f"{where}: a job array (part or merge) needs field 'checkpoint' (the directory "
            "every part writes to)"
        )
    if part is not None and merge:
        raise ParameterError("`part` and `merge` exclude each other: run the parts, then merge")
    eng = engine if engine is not None else cfg.get("engine", "inprocess")
    if merge:
        eng = "inprocess"  # nothing runs
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
            max_chunks=0 if merge else None,
            part=part,
            progress=progress,
            **fixed,
        )
    finally:
        if client is not None:
            client.close()
    if merge and result.status != 0:
        raise CircnetError(
            f"{where}: cannot merge yet: {result.message.split('; ', 1)[-1]} (run their "
            "parts, then merge again)"
        )
    if out_path is not None and part is None:
        with atomic_write(out_path) as fh:
            result.table.to_csv(fh, index=False)
    return result
