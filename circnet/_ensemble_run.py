"""How an ensemble's members are cut into chunks, run in a worker, and kept on disk.

Chunks follow the design, never the workers present: with ``chunk_size`` unset, a
design of ``n`` members is cut into chunks of ``ceil(n / TARGET_CHUNKS)`` consecutive
members (chunk ``k`` holds members ``k size`` to ``(k + 1) size - 1``). A cluster that
starts empty and scales up (dask-jobqueue, Kubernetes, dask-gateway) therefore gets the
same few hundred chunks as a fixed one, and a checkpoint resumes on an allocation of any
size. Each finished chunk records its chunk size and circnet version; a resume without
``chunk_size`` reuses the stored size, and a chunk of another circnet version is refused.

A *part* ``i/N`` (``0 <= i < N``, one task of a job array) is the block of members
``floor(i n / N)`` to ``floor((i + 1) n / N) - 1``, cut at the same chunk boundaries; the
parts of a job array write their chunks into one checkpoint directory, and a merge
(:func:`circnet.ensemble` with ``max_chunks=0``) assembles them.

A chunk travels as its member indices and the design's columns for them (not one
parameter dict per member); the arguments every member shares (``fixed``) go out once
per worker (see :mod:`circnet._executors`).

Examples
--------
>>> from circnet._ensemble_run import plan_chunks, part_range
>>> [c.tolist() for c in plan_chunks(7, 3)]
[[0, 1, 2], [3, 4, 5], [6]]
>>> part_range(10, (1, 3)), [c.tolist() for c in plan_chunks(10, 2, part=(1, 3))]
((3, 6), [[3], [4, 5]])
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._designs import Design
from ._ensemble_result import Chunk, Record
from ._executors import Deadline, check_version, resolve_shared, time_limit
from ._files import fingerprint
from ._tasks import TASKS
from ._validation import check_int, check_rng
from ._version import __version__
from .errors import CheckpointError, ParameterError, UnknownNameError

logger = logging.getLogger("circnet.ensemble")  # the public module's logger: users configure it

__all__ = [
    "TARGET_CHUNKS",
    "Rows",
    "member_rng",
    "design_rows",
    "run_chunk",
    "timed_out",
    "root_of",
    "resolve_task",
    "run_fingerprint",
    "chunk_path",
    "load_chunks",
    "parse_part",
    "part_range",
    "plan_chunks",
    "default_chunk_size",
]

#: Chunks an automatic chunk size aims at, whatever the workers: enough to keep a few
#: hundred worker threads busy and to balance the load, few enough that the overhead
#: per chunk (about a millisecond on a process pool, a few on dask) stays small.
TARGET_CHUNKS = 256

#: A chunk's members as they travel: indices, parameter names, one column per name.
Rows = tuple[np.ndarray, tuple[str, ...], tuple[np.ndarray, ...]]


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


def design_rows(design: Design, members: np.ndarray) -> Rows:
    """The members' rows of the design, column by column (what a chunk carries)."""
    table = design.table
    names = tuple(str(c) for c in table.columns)
    columns = tuple(table.iloc[:, j].to_numpy()[members] for j in range(len(names)))
    return np.asarray(members, dtype=np.int64), names, columns


def _params(rows: Rows, r: int) -> dict[str, Any]:
    """Member ``r`` of a chunk as a parameter dict of Python scalars."""
    _, names, columns = rows
    out: dict[str, Any] = {}
    for name, col in zip(names, columns, strict=True):
        v = col[r]
        out[name] = v.item() if isinstance(v, np.generic) else v
    return out


def _split_outcome(outcome: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Scalar outcomes (floats) and series (DataFrames: time x site) of one member."""
    values: dict[str, float] = {}
    series: dict[str, pd.DataFrame] = {}
    for k, v in outcome.items():
        if isinstance(v, pd.DataFrame):
            series[str(k)] = v
        else:
            values[str(k)] = float(v)
    return values, series


def run_chunk(
    task: Callable[..., Mapping[str, Any]],
    rows: Rows,
    root: np.random.SeedSequence,
    fixed: Any,
    retries: int,
    timeout: float | None = None,
    version: str | None = None,
) -> Chunk:
    """Run one chunk of members (in whatever process); never raises for a member.

    Raises :class:`~circnet.CircnetError` before any member runs if this worker's
    circnet is not ``version`` (the client's).
    """
    if version is not None:
        check_version(version)
    shared = resolve_shared(fixed)
    records: list[Record] = []
    for r, i in enumerate(rows[0].tolist()):
        params = _params(rows, r)
        tries = 0
        while True:
            tries += 1
            timed = False
            series: dict[str, pd.DataFrame] = {}
            try:
                with time_limit(timeout):
                    outcome = task(dict(params), member_rng(root, i), **shared)
                values, series = _split_outcome(outcome)
                status, error = "ok", ""
            except Deadline:
                values, status, timed = {}, "failed", True
                error = timeout_error(timeout)
            except Exception as err:  # noqa: BLE001 - recorded, reported, retried
                values, status = {}, "failed"
                error = f"{type(err).__name__}: {err}".splitlines()[0]
            if status == "ok" or timed or tries > retries:
                break
            logger.info("member %d failed (%s): retry %d of %d", i, error, tries, retries)
        records.append((i, status, tries, error, values, series))
    return Chunk.from_records(records)


def timeout_error(timeout: float | None, killed: bool = False) -> str:
    """The error recorded for a member that ran longer than ``timeout``."""
    how = "; its worker was stopped" if killed else ""
    return f"TimeoutError: the member ran longer than timeout={timeout:g} s{how}"


def timed_out(rows: Rows, timeout: float) -> Chunk:
    """The chunk of members whose worker overran the deadline: every member failed."""
    error = timeout_error(timeout, killed=True)
    return Chunk.from_records([(int(i), "failed", 1, error, {}) for i in rows[0]])


def root_of(rng: Any) -> np.random.SeedSequence:
    """The root of the members' streams (SPEC 7 types; a Generator gives one draw)."""
    gen = check_rng(rng)
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence(int(gen.integers(2**63)))
    if isinstance(rng, np.random.SeedSequence):
        return rng
    return np.random.SeedSequence(None if rng is None else int(rng))


def resolve_task(task: Any) -> Callable[..., dict[str, Any]]:
    """The task function of a task name or function."""
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


def run_fingerprint(
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


_CHUNK_NAME = re.compile(r"chunk-(\d+)(?:-(\d+))?\.npz")


def chunk_path(ckpt: Path, chunk: Chunk) -> Path:
    """``chunk-FIRST-LAST.npz``: the file of a finished chunk, named by its members."""
    return ckpt / f"chunk-{int(chunk.member.min()):06d}-{int(chunk.member.max()):06d}.npz"


def load_chunks(
    ckpt: Path, fp: str, n: int, within: tuple[int, int] | None = None
) -> tuple[dict[int, Chunk], int | None]:
    """The finished chunks of a checkpoint directory by first member, and their chunk size.

    With ``within=(lo, hi)`` only the chunks whose file name says they hold members in
    ``lo .. hi - 1`` are read (a part of a job array need not read every other part's).
    """
    if (ckpt / "manifest.json").exists() or any(ckpt.glob("chunk-*.json")):
        raise CheckpointError(
            f"{str(ckpt)!r} holds an ensemble checkpoint of an older circnet (JSON chunks); "
            "resume it with that version, or start again in a new directory"
        )
    done: dict[int, Chunk] = {}
    seen: set[int] = set()
    sizes: Counter[int] = Counter()
    for path in sorted(ckpt.glob("chunk-*.npz")):
        m = _CHUNK_NAME.fullmatch(path.name)
        if within is not None and m is not None and m.group(2) is not None:
            first, last = int(m.group(1)), int(m.group(2))
            if last < within[0] or first >= within[1]:
                continue
        chunk = Chunk.load(path, fp)
        written = chunk.meta.get("circnet")
        if written is not None and written != __version__:
            raise CheckpointError(
                f"checkpoint {str(path)!r} was written by circnet {written}, this is "
                f"circnet {__version__}: results would mix versions; finish the run with "
                f"circnet {written}, or start again in a new directory"
            )
        members = set(chunk.member.tolist())
        if members & seen or not members <= set(range(n)):
            raise CheckpointError(
                f"checkpoint {str(path)!r} holds members outside the design or already "
                "held by another chunk"
            )
        seen |= members
        done[int(chunk.member.min())] = chunk
        if isinstance(chunk.meta.get("chunk_size"), int):
            sizes[int(chunk.meta["chunk_size"])] += 1
    return done, (sizes.most_common(1)[0][0] if sizes else None)


def parse_part(part: Any) -> tuple[int, int] | None:
    """``"i/N"`` or ``(i, N)`` with ``0 <= i < N`` as a tuple (None stays None).

    Examples
    --------
    >>> parse_part("3/10"), parse_part((0, 1)), parse_part(None)
    ((3, 10), (0, 1), None)
    """
    if part is None:
        return None
    rule = "`part` must be 'i/N' or (i, N) with 0 <= i < N, e.g. '3/10'"
    if isinstance(part, str):
        pieces = part.split("/")
        if len(pieces) != 2 or not all(p.strip().isdigit() for p in pieces):
            raise ParameterError(f"{rule} (got {part!r})")
        i, k = (int(p) for p in pieces)
    elif isinstance(part, Sequence) and len(part) == 2:
        i = check_int(part[0], "part[0]", low=0)
        k = check_int(part[1], "part[1]", low=1)
    else:
        raise ParameterError(f"{rule} (got {part!r})")
    if k < 1 or not 0 <= i < k:
        raise ParameterError(f"{rule} (got {i}/{k})")
    return i, k


def part_range(n: int, part: tuple[int, int] | None) -> tuple[int, int]:
    """Members ``lo .. hi - 1`` of part ``(i, N)`` of ``n`` members (all for None)."""
    if part is None:
        return 0, n
    i, k = part
    return i * n // k, (i + 1) * n // k


def default_chunk_size(n: int) -> int:
    """Members per chunk when ``chunk_size`` is not given: the design alone decides.

    Examples
    --------
    >>> default_chunk_size(100), default_chunk_size(1000), default_chunk_size(10**6)
    (1, 4, 3907)
    """
    return max(1, math.ceil(n / TARGET_CHUNKS))


def plan_chunks(
    n: int,
    size: int,
    *,
    part: tuple[int, int] | None = None,
    finished: set[int] | None = None,
) -> list[np.ndarray]:
    """The chunks still to run: the fixed grid of ``size`` members, cut to ``part``,
    without the ``finished`` members."""
    lo, hi = part_range(n, part)
    done = finished or set()
    out = []
    for start in range(lo - lo % size, hi, size):
        members = [i for i in range(max(start, lo), min(start + size, hi)) if i not in done]
        if members:
            out.append(np.array(members, dtype=np.int64))
    return out
