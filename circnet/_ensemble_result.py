"""The result of an ensemble, and the chunks it is assembled from.

A *chunk* is the records of a few members, column by column (:class:`Chunk`): member
index, status (``ok`` / ``failed``), attempts, the error of a failed member, one float
column per outcome (NaN where a member has none), and the members' time series
(:class:`Series`: a block member x time x site per series outcome, for a task that
returns DataFrames). A finished chunk is what a worker sends back and what a checkpoint
directory keeps (one circnet checkpoint of kind ``"ensemble-chunk"`` per chunk, written
atomically, see :mod:`circnet._files`). :func:`member_table` puts the chunks together
into the member table of an :class:`EnsembleResult`, in member order, so that the table
does not depend on how the members were chunked; :meth:`Series.merge` does the same for
the series, and :meth:`EnsembleResult.to_dataset` returns them as an ``xarray.Dataset``
(member x time x site).

Examples
--------
>>> import pandas as pd
>>> from circnet._designs import Design
>>> from circnet._ensemble_result import Chunk, member_table
>>> design = Design(pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
>>> a = Chunk.from_records([(2, "ok", 1, "", {"y": 3.0})])
>>> b = Chunk.from_records([(0, "ok", 1, "", {"y": 1.0}), (1, "failed", 2, "ValueError: no", {})])
>>> table, outcomes = member_table(design, [a, b])
>>> print(table[["member", "x", "status", "y"]].to_string(index=False))
 member   x status   y
      0 1.0     ok 1.0
      1 2.0 failed NaN
      2 3.0     ok 3.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._designs import Design
from ._files import load_checkpoint, save_checkpoint
from ._sobol import sobol_table
from ._validation import check_int
from .errors import (
    CheckpointError,
    CircnetError,
    OptionalDependencyError,
    ParameterError,
    UnknownNameError,
)

__all__ = [
    "CHUNK_KIND",
    "Chunk",
    "Record",
    "Series",
    "member_table",
    "merge_series",
    "EnsembleResult",
]

#: Checkpoint kind of a finished chunk (one file per chunk, see :mod:`circnet._files`).
CHUNK_KIND = "ensemble-chunk"

#: One member's record: index, status, attempts, error, outcomes and optionally its
#: series (name -> DataFrame indexed by time, one column per site).
Record = (
    tuple[int, str, int, str, Mapping[str, float]]
    | tuple[int, str, int, str, Mapping[str, float], Mapping[str, pd.DataFrame]]
)


@dataclass(frozen=True)
class Series:
    """One series outcome of some members: ``values[member, time, site]`` (NaN: none).

    Examples
    --------
    >>> a = pd.DataFrame({"liver": [1.0, 2.0]}, index=[0.0, 1.0])
    >>> b = pd.DataFrame({"lung": [5.0]}, index=[1.0])
    >>> s = Series.merge([Series.from_frames([0], [a]), Series.from_frames([1], [b])])
    >>> s.time.tolist(), s.site.tolist(), s.values.shape
    ([0.0, 1.0], ['liver', 'lung'], (2, 2, 2))
    """

    member: np.ndarray  # int64 (m,)
    time: np.ndarray  # float64 (t,), increasing
    site: np.ndarray  # str (s,)
    values: np.ndarray  # float64 (m, t, s)

    @classmethod
    def from_frames(cls, members: Sequence[int], frames: Sequence[pd.DataFrame]) -> Series:
        """One block from each member's frame (index: time; columns: sites)."""
        times = np.unique(np.concatenate([np.asarray(f.index, dtype=float) for f in frames]))
        sites = list(dict.fromkeys(str(c) for f in frames for c in f.columns))
        out = np.full((len(frames), len(times), len(sites)), np.nan)
        col = {s: j for j, s in enumerate(sites)}
        for r, f in enumerate(frames):
            ti = np.searchsorted(times, np.asarray(f.index, dtype=float))
            si = np.array([col[str(c)] for c in f.columns], dtype=np.intp)
            out[r][np.ix_(ti, si)] = f.to_numpy(dtype=float)
        return cls(np.asarray(members, dtype=np.int64), times, np.array(sites, dtype=str), out)

    @classmethod
    def merge(cls, blocks: Sequence[Series]) -> Series:
        """The blocks of several chunks on the union of their times and sites, by member."""
        times = np.unique(np.concatenate([b.time for b in blocks]))
        sites = list(dict.fromkeys(str(s) for b in blocks for s in b.site))
        members = np.concatenate([b.member for b in blocks])
        order = np.argsort(members, kind="stable")
        out = np.full((len(members), len(times), len(sites)), np.nan)
        col = {s: j for j, s in enumerate(sites)}
        start = 0
        for b in blocks:
            rows = np.arange(start, start + len(b.member))
            ti = np.searchsorted(times, b.time)
            si = np.array([col[str(s)] for s in b.site], dtype=np.intp)
            out[np.ix_(rows, ti, si)] = b.values
            start += len(b.member)
        return cls(members[order], times, np.array(sites, dtype=str), out[order])


@dataclass(frozen=True)
class Chunk:
    """The records of one chunk of members, column by column (what a checkpoint holds)."""

    member: np.ndarray  # int64
    status: np.ndarray  # str: "ok" or "failed"
    attempts: np.ndarray  # int64
    error: np.ndarray  # str: "" or the first line of the last error
    outcomes: tuple[str, ...]
    values: np.ndarray  # float64 (members, outcomes); NaN where a member has none
    series: Mapping[str, Series] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)  # as read from a checkpoint

    def __len__(self) -> int:
        return len(self.member)

    @classmethod
    def from_records(cls, records: Sequence[Record]) -> Chunk:
        """Columns from member records; outcomes in order of first appearance."""
        names = tuple(dict.fromkeys(k for r in records for k in r[4]))
        table = np.full((len(records), len(names)), np.nan)
        for r, rec in enumerate(records):
            for j, k in enumerate(names):
                table[r, j] = rec[4].get(k, np.nan)
        frames: dict[str, tuple[list[int], list[pd.DataFrame]]] = {}
        for rec in records:
            for k, frame in (rec[5] if len(rec) > 5 else {}).items():
                frames.setdefault(k, ([], []))
                frames[k][0].append(rec[0])
                frames[k][1].append(frame)
        return cls(
            np.array([r[0] for r in records], dtype=np.int64),
            np.array([r[1] for r in records], dtype=str),
            np.array([r[2] for r in records], dtype=np.int64),
            np.array([r[3] for r in records], dtype=str),
            names,
            table,
            {k: Series.from_frames(m, f) for k, (m, f) in frames.items()},
        )

    def save(self, path: Path, fp: str, meta: Mapping[str, Any] | None = None) -> None:
        """Write the chunk as a checkpoint of kind :data:`CHUNK_KIND`, atomically."""
        arrays = {
            "member": self.member,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "values": self.values,
        }
        for j, s in enumerate(self.series.values()):
            for part in ("member", "time", "site", "values"):
                arrays[f"series{j}_{part}"] = getattr(s, part)
        info = {**dict(meta or {}), "outcomes": list(self.outcomes), "series": list(self.series)}
        save_checkpoint(path, CHUNK_KIND, fp, arrays, meta=info)

    @classmethod
    def load(cls, path: Path, fp: str) -> Chunk:
        """Read a chunk written by :meth:`save` for the run with fingerprint ``fp``.

        :func:`~circnet._files.load_checkpoint` refuses another kind, another run and
        edited arrays; a chunk whose columns do not fit together is refused here.
        """
        ck = load_checkpoint(path, CHUNK_KIND, fp)
        where = repr(str(path))
        try:
            a = ck.arrays
            series = {
                str(name): Series(
                    *(
                        a[f"series{j}_{part}"].astype(t)
                        for part, t in (
                            ("member", np.int64),
                            ("time", float),
                            ("site", str),
                            ("values", float),
                        )
                    )
                )
                for j, name in enumerate(ck.meta.get("series", []))
            }
            chunk = cls(
                a["member"].astype(np.int64),
                a["status"].astype(str),
                a["attempts"].astype(np.int64),
                a["error"].astype(str),
                tuple(str(o) for o in ck.meta["outcomes"]),
                a["values"].astype(float),
                series,
                dict(ck.meta),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {where} is malformed ({err})") from err
        m = len(chunk)
        lengths = {len(chunk.status), len(chunk.attempts), len(chunk.error)}
        if m == 0 or lengths != {m} or chunk.values.shape != (m, len(chunk.outcomes)):
            raise CheckpointError(f"checkpoint {where} is malformed (array lengths)")
        for s in series.values():
            shape = (len(s.member), len(s.time), len(s.site))
            if s.values.shape != shape or not set(s.member.tolist()) <= set(chunk.member.tolist()):
                raise CheckpointError(f"checkpoint {where} is malformed (series shapes)")
        return chunk


@dataclass(frozen=True)
class EnsembleResult:
    """Parameters and outcomes of every member that ran.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per member: ``member``, the parameters, ``status`` (``ok`` /
        ``failed``), ``attempts``, ``error``, and one column per outcome.
    design : Design
    outcomes : list of str
    status : int
        0: every member of the design ran; 1: stopped early by ``max_chunks`` (the
        table holds the members done so far; rerun with the same ``checkpoint`` to go on).
    message : str
        What ``status`` means for this run.
    series : mapping of str to Series
        The per-member time series a task returned as DataFrames (e.g. the course task
        with ``series=True``), member x time x site; see :meth:`to_dataset` and
        :meth:`series_frame`. Empty for tasks that return numbers only.

    Examples
    --------
    >>> import circnet
    >>> res = circnet.ensemble("fates", {"diameter_um": [12.0]}, rng=0, primary="lung")
    >>> res.status, res.message
    (0, 'every member ran (1 of 1)')
    """

    table: pd.DataFrame
    design: Design
    outcomes: list[str]
    status: int = 0
    message: str = ""
    series: Mapping[str, Series] = field(default_factory=dict)

    @property
    def failed(self) -> pd.DataFrame:
        """Members whose task failed after all retries, with their errors."""
        return self.table[self.table["status"] != "ok"]

    def to_frame(self) -> pd.DataFrame:
        """The member table."""
        return self.table

    def series_frame(self, name: str) -> pd.DataFrame:
        """One series outcome as a tidy table: ``member``, ``time``, ``site``, ``name``.

        Rows only where a value exists (a member that failed has none).
        """
        if name not in self.series:
            raise UnknownNameError(
                f"unknown series {name!r}; this result has {sorted(self.series) or 'none'} "
                "(a task keeps series when it returns DataFrames, e.g. the course task "
                "with series=True)"
            )
        s = self.series[name]
        m, t, k = np.meshgrid(s.member, s.time, s.site, indexing="ij")
        frame = pd.DataFrame(
            {"member": m.ravel(), "time": t.ravel(), "site": k.ravel(), name: s.values.ravel()}
        )
        return frame[np.isfinite(frame[name].to_numpy())].reset_index(drop=True)

    def to_dataset(self) -> Any:
        """Everything as an ``xarray.Dataset``: series over (member, time, site), outcomes
        over member, parameters and ``status`` as coordinates of member.

        Needs xarray (``pip install xarray``); raises
        :class:`~circnet.OptionalDependencyError` without it.
        """
        try:
            import xarray as xr
        except ImportError as err:
            raise OptionalDependencyError(
                "EnsembleResult.to_dataset needs xarray: pip install xarray"
            ) from err
        t = self.table
        member = t["member"].to_numpy(dtype=np.int64)
        coords: dict[str, Any] = {"member": member}
        for c in [*self.design.parameters, "status"]:
            coords[c] = ("member", t[c].to_numpy())
        data: dict[str, Any] = {o: ("member", t[o].to_numpy(dtype=float)) for o in self.outcomes}
        ds = xr.Dataset(data, coords=coords)
        for name, s in self.series.items():
            arr = xr.DataArray(
                s.values,
                dims=("member", "time", "site"),
                coords={"member": s.member, "time": s.time, "site": s.site.astype(object)},
                name=name,
            )
            ds[name] = arr.reindex(member=member)
        return ds

    def summary(self) -> pd.DataFrame:
        """Distribution of each outcome over the successful members.

        Columns: count, mean, std, min, 5 %, 25 %, 50 %, 75 %, 95 %, max.
        """
        ok = self.table[self.table["status"] == "ok"][self.outcomes]
        if not self.outcomes:  # no member succeeded: an empty table, not an error
            columns = ["count", "mean", "std", "min", "5%", "25%", "50%", "75%", "95%", "max"]
            return pd.DataFrame(columns=columns, dtype=float)
        return ok.astype(float).describe(percentiles=[0.05, 0.25, 0.5, 0.75, 0.95]).T

    def sensitivity(
        self, outcome: str | None = None, *, n_resamples: int = 0, rng: Any = None
    ) -> pd.DataFrame:
        """Sobol' first-order and total indices of outcomes, from a Saltelli design.

        Uses :func:`scipy.stats.sobol_indices` on the members' outputs (Saltelli
        2010 estimators). With ``n_resamples > 0``, bootstrap 95 % intervals drawn
        with ``rng``.

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
        n_resamples = check_int(n_resamples, "n_resamples", low=0)
        names = [outcome] if outcome else self.outcomes
        for nm in names:
            if nm not in self.outcomes:
                raise UnknownNameError(f"unknown outcome {nm!r}; known: {self.outcomes}")
        if len(self.failed) or len(self.table) != len(d):
            missing = len(d) - int((self.table["status"] == "ok").sum())
            raise CircnetError(
                f"{missing} member(s) failed or did not run; sensitivity indices need "
                "every member of a Saltelli design"
            )
        y = self.table.sort_values("member")[names].to_numpy(dtype=float).T  # (s, N)
        if not np.all(np.isfinite(y)):
            raise CircnetError(
                "outcomes must be finite for sensitivity indices (an outcome is "
                "NaN or infinite for some member, e.g. no metastasis)"
            )
        return sobol_table(y, d.saltelli_n, names, d.parameters, n_resamples=n_resamples, rng=rng)


def member_table(design: Design, chunks: Sequence[Chunk]) -> tuple[pd.DataFrame, list[str]]:
    """The member table from finished chunks (the same whatever the chunking)."""
    outcomes = list(dict.fromkeys(o for c in sorted(chunks, key=_first) for o in c.outcomes))
    parts = []
    for c in chunks:
        frame = pd.DataFrame(c.values, columns=list(c.outcomes))
        frame.insert(0, "member", c.member)
        frame.insert(1, "status", c.status.tolist())
        frame.insert(2, "attempts", c.attempts)
        frame.insert(3, "error", c.error.tolist())
        parts.append(frame)
    columns = ["member", "status", "attempts", "error", *outcomes]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    table = table.reindex(columns=columns).sort_values("member").reset_index(drop=True)
    member = table["member"].to_numpy(dtype=np.int64)
    table = pd.concat(
        [
            table[["member"]],
            design.table.iloc[member].reset_index(drop=True),
            table[["status", "attempts", "error", *outcomes]],
        ],
        axis=1,
    )
    return table, outcomes


def merge_series(chunks: Sequence[Chunk]) -> dict[str, Series]:
    """The series of all chunks, one :class:`Series` per name (members in order)."""
    names = dict.fromkeys(k for c in sorted(chunks, key=_first) for k in c.series)
    return {k: Series.merge([c.series[k] for c in chunks if k in c.series]) for k in names}


def _first(chunk: Chunk) -> int:
    return int(chunk.member.min())
