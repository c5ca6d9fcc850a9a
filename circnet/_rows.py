"""The row store of a disease course: typed columns of tumour groups, and the event log.

A row is a *group of identical tumours* with a ``count`` (see :mod:`circnet.course`).
:class:`Rows` holds one typed numpy column per attribute, with spare capacity that
doubles as rows are added; only the first :attr:`Rows.n` entries are live. Its
checkpoint arrays are ``row_<column>``. :class:`EventLog` gathers events as they
happen and concatenates them into columns once (``ev_<column>`` in a checkpoint).

Both stores only hold data; what a day does to them is :mod:`circnet._day`.

Examples
--------
>>> import numpy as np
>>> rows = Rows()
>>> rows.append(site=[2], count=[5], lnv=[0.0], lnk=[1.0], vascular=[True],
...             primary=[True], born=[0.0], detected=[False], nodal=[False], kill=[0.0])
>>> rows.n, rows.count[: rows.n].tolist()
(1, [5])
>>> Rows.from_arrays(rows.to_arrays(), "demo").site[:1].tolist()
[2]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import CheckpointError, ParameterError

__all__ = [
    "Rows",
    "EventLog",
    "Records",
    "ROW_COLUMNS",
    "EVENT_COLUMNS",
    "DAILY",
    "SITE_STATS",
    "STAGE_STATS",
    "MAX_RECORD_BYTES",
]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

#: Columns of a row, with their dtypes (the checkpoint stores ``row_<name>``).
ROW_COLUMNS: Mapping[str, type] = {
    "site": np.int64,
    "count": np.int64,
    "lnv": np.float64,
    "lnk": np.float64,
    "vascular": np.bool_,
    "primary": np.bool_,
    "born": np.float64,
    "detected": np.bool_,
    "nodal": np.bool_,
    "kill": np.float64,
}
#: Columns of an event, with their dtypes (the checkpoint stores ``ev_<name>``).
EVENT_COLUMNS: Mapping[str, type] = {
    "day": np.float64,
    "site": np.int64,
    "kind": np.int64,
    "count": np.int64,
    "cells": np.float64,
    "primary": np.bool_,
}
#: Per-step counts in :attr:`Records.daily` (cells shed and their fates, colony events).
DAILY = ("shed", "shed_primary", "dead", "colonies", "nodal", "switched", "vanished", "cleared")
#: Per-site statistics in :attr:`Records.stats`.
SITE_STATS = ("n_tumours", "n_vascular", "total_cells", "largest_cells")
#: Per-site counts by stage in :attr:`Records.stages` (words of :mod:`circnet.course`):
#: dormant disseminated cells, avascular micrometastases (number and cells), vascular
#: metastases (number and cells), detectable metastases, and the primary's cells.
STAGE_STATS = (
    "dormant_cells",
    "micrometastases",
    "micrometastasis_cells",
    "vascular_metastases",
    "vascular_metastasis_cells",
    "detectable_metastases",
    "primary_cells",
)
_MIN_CAPACITY = 64
#: Most memory the per-step records of one course may take (bytes), checked before they
#: are allocated: about 117,000 steps (320 years of daily steps) of the reference body.
MAX_RECORD_BYTES = 384 * 2**20
#: Compact only stores larger than this, and only when a quarter of the rows are empty.
_COMPACT_ABOVE = 256


def _resized(a: npt.NDArray[Any], capacity: int, n: int) -> npt.NDArray[Any]:
    out = np.zeros(capacity, dtype=a.dtype)
    out[:n] = a[:n]
    return out


def _column(arrays: Mapping[str, np.ndarray], key: str, dtype: type, where: str) -> np.ndarray:
    """A 1-d checkpoint array of a safe dtype, cast to ``dtype``."""
    if key not in arrays:
        raise CheckpointError(f"checkpoint {where} lacks the array {key!r}")
    a = np.asarray(arrays[key])
    target = np.dtype(dtype)
    if a.ndim != 1 or not np.can_cast(a.dtype, target, casting="same_kind"):
        raise CheckpointError(
            f"checkpoint {where}: array {key!r} has shape {a.shape} and dtype {a.dtype} "
            f"(expected 1-d {target})"
        )
    return a.astype(target, copy=True)


class Rows:
    """Typed columns of tumour groups (structure of arrays) with growing capacity.

    Attributes
    ----------
    site : int64
        Index of the site (organ or lymph-node group) of each group.
    count : int64
        Number of identical tumours in the group (0: empty, dropped by :meth:`compact`).
    lnv, lnk : float64
        Log volume and log carrying capacity (mm^3) of one tumour of the group.
    vascular, primary, detected, nodal : bool
        Angiogenic; the primary; logged as detectable; under nodal immune kill.
    born : float64
        Founding day.
    kill : float64
        Per-cell immune kill rate at small size (1/day; 0 unless ``nodal``).
    n : int
        Number of live rows (the first ``n`` entries of every column).
    """

    def __init__(self, capacity: int = _MIN_CAPACITY) -> None:
        cap = max(int(capacity), _MIN_CAPACITY)
        self.n = 0
        self.site: Ints = np.zeros(cap, dtype=np.int64)
        self.count: Ints = np.zeros(cap, dtype=np.int64)
        self.lnv: Floats = np.zeros(cap)
        self.lnk: Floats = np.zeros(cap)
        self.vascular: Bools = np.zeros(cap, dtype=bool)
        self.primary: Bools = np.zeros(cap, dtype=bool)
        self.born: Floats = np.zeros(cap)
        self.detected: Bools = np.zeros(cap, dtype=bool)
        self.nodal: Bools = np.zeros(cap, dtype=bool)
        self.kill: Floats = np.zeros(cap)

    @property
    def capacity(self) -> int:
        """Rows the columns can hold before they grow."""
        return int(self.site.shape[0])

    def columns(self) -> tuple[np.ndarray, ...]:
        """Every column (full capacity), in the order of :data:`ROW_COLUMNS`."""
        return (
            self.site,
            self.count,
            self.lnv,
            self.lnk,
            self.vascular,
            self.primary,
            self.born,
            self.detected,
            self.nodal,
            self.kill,
        )

    def reserve(self, need: int) -> None:
        """Grow every column (at least doubling) so that it holds ``need`` rows."""
        cap = self.capacity
        if need <= cap:
            return
        cap, n = max(need, 2 * cap, _MIN_CAPACITY), self.n
        self.site = _resized(self.site, cap, n)
        self.count = _resized(self.count, cap, n)
        self.lnv = _resized(self.lnv, cap, n)
        self.lnk = _resized(self.lnk, cap, n)
        self.vascular = _resized(self.vascular, cap, n)
        self.primary = _resized(self.primary, cap, n)
        self.born = _resized(self.born, cap, n)
        self.detected = _resized(self.detected, cap, n)
        self.nodal = _resized(self.nodal, cap, n)
        self.kill = _resized(self.kill, cap, n)

    def append(
        self,
        *,
        site: Any,
        count: Any,
        lnv: Any,
        lnk: Any,
        vascular: Any,
        primary: Any,
        born: Any,
        detected: Any,
        nodal: Any,
        kill: Any,
    ) -> None:
        """Add rows (every argument array-like of the same length, or broadcastable)."""
        k = len(site)
        if k == 0:
            return
        self.reserve(self.n + k)
        sl = slice(self.n, self.n + k)
        self.site[sl] = site
        self.count[sl] = count
        self.lnv[sl] = lnv
        self.lnk[sl] = lnk
        self.vascular[sl] = vascular
        self.primary[sl] = primary
        self.born[sl] = born
        self.detected[sl] = detected
        self.nodal[sl] = nodal
        self.kill[sl] = kill
        self.n += k

    def compact(self) -> None:
        """Drop empty rows (in place, keeping the order) once a quarter of them are empty."""
        n = self.n
        keep = self.count[:n] > 0
        m = int(keep.sum())
        if n > _COMPACT_ABOVE and m < (3 * n) // 4:
            for a in self.columns():
                a[:m] = a[:n][keep]
            self.n = m

    # ------------------------------------------------------------------ checkpoint
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The live rows as checkpoint arrays ``row_<column>``."""
        n = self.n
        return {f"row_{name}": a[:n] for name, a in zip(ROW_COLUMNS, self.columns(), strict=True)}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], where: str, *, n_sites: int | None = None
    ) -> Rows:
        """Rows from checkpoint arrays; :class:`~circnet.CheckpointError` if they do not fit."""
        cols = [_column(arrays, f"row_{k}", dt, where) for k, dt in ROW_COLUMNS.items()]
        n = cols[0].shape[0]
        if any(c.shape[0] != n for c in cols):
            raise CheckpointError(f"checkpoint {where}: the row arrays differ in length")
        site, count = cols[0], cols[1]
        if n and (count.min() < 0 or site.min() < 0):
            raise CheckpointError(f"checkpoint {where}: negative row site or count")
        if n and n_sites is not None and site.max() >= n_sites:
            raise CheckpointError(f"checkpoint {where}: a row names a site the body lacks")
        rows = cls(n)
        rows.append(**dict(zip(ROW_COLUMNS, cols, strict=True)))
        return rows


class EventLog:
    """Events as they happen, concatenated into columns on demand.

    Each event is ``(day, site, kind, count, cells, primary)``; ``site``, ``count``,
    ``cells`` and ``primary`` may be arrays (one event per site) or scalars broadcast
    over them. ``kind`` is an index into the caller's list of kinds.
    """

    def __init__(self) -> None:
        self._done: list[tuple[np.ndarray, ...]] = []
        self._raw: list[tuple[float, Any, int, Any, Any, Any]] = []
        self._founded: list[tuple[float, Ints, Ints]] = []

    def add(self, day: float, site: Any, kind: int, count: Any, cells: Any, primary: Any) -> None:
        """Log one event per site (stored raw; broadcast once, in :meth:`arrays`)."""
        self._raw.append((day, site, kind, count, cells, primary))

    def add_founded(self, day: float, sites: Ints, counts: Ints) -> None:
        """Log the foundings of a step: ``counts[i]`` tumours at ``sites[i]``."""
        self._founded.append((day, sites, counts))

    def arrays(self, founded_kind: int, founded_cells: float) -> tuple[np.ndarray, ...]:
        """Every event so far as six columns (:data:`EVENT_COLUMNS`), in logging order."""
        chunks = list(self._done)
        for day, site, kind, count, cells, primary in self._raw:
            s = np.atleast_1d(np.asarray(site, dtype=np.int64))
            k = s.size
            if k == 0:
                continue
            chunks.append(
                (
                    np.full(k, float(day)),
                    s,
                    np.full(k, kind, dtype=np.int64),
                    np.broadcast_to(np.asarray(count, dtype=np.int64), (k,)),
                    np.broadcast_to(np.asarray(cells, dtype=float), (k,)),
                    np.broadcast_to(np.asarray(primary, dtype=bool), (k,)),
                )
            )
        self._raw = []
        if self._founded:
            lens = [len(f[1]) for f in self._founded]
            k = sum(lens)
            chunks.append(
                (
                    np.repeat([f[0] for f in self._founded], lens),
                    np.concatenate([f[1] for f in self._founded]),
                    np.full(k, founded_kind, dtype=np.int64),
                    np.concatenate([f[2] for f in self._founded]),
                    np.full(k, founded_cells),
                    np.zeros(k, bool),
                )
            )
            self._founded = []
        out: tuple[np.ndarray, ...]
        if not chunks:
            out = tuple(np.zeros(0, dtype=dt) for dt in EVENT_COLUMNS.values())
        else:
            out = tuple(np.concatenate(c) for c in zip(*chunks, strict=True))
        self._done = [out]
        return out

    # ------------------------------------------------------------------ checkpoint
    def to_arrays(self, founded_kind: int, founded_cells: float) -> dict[str, np.ndarray]:
        """The events as checkpoint arrays ``ev_<column>``."""
        cols = self.arrays(founded_kind, founded_cells)
        return {f"ev_{name}": a for name, a in zip(EVENT_COLUMNS, cols, strict=True)}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], where: str, *, n_sites: int, n_kinds: int
    ) -> EventLog:
        """An event log from checkpoint arrays; :class:`~circnet.CheckpointError` if bad."""
        cols = tuple(_column(arrays, f"ev_{k}", dt, where) for k, dt in EVENT_COLUMNS.items())
        k = cols[0].shape[0]
        if any(c.shape[0] != k for c in cols):
            raise CheckpointError(f"checkpoint {where}: the event arrays differ in length")
        site, kind = cols[1], cols[2]
        if k and not (0 <= site.min() and site.max() < n_sites):
            raise CheckpointError(f"checkpoint {where}: an event names a site the body lacks")
        if k and not (0 <= kind.min() and kind.max() < n_kinds):
            raise CheckpointError(f"checkpoint {where}: an event has an unknown kind")
        log = cls()
        log._done = [cols]
        return log


class Records:
    """What a course records per step and per site, preallocated for ``n_steps`` steps.

    Attributes
    ----------
    daily : int64 (n_steps, len(DAILY))
        Counts of step ``i`` (:data:`DAILY`).
    daily_cells : float64 (n_steps, 2)
        Primary and metastatic cells at the end of step ``i``.
    stats : float64 (n_steps + 1, len(SITE_STATS), n_sites)
        Per-site statistics at the start (index 0) and the end of every step.
    stages : float64 (n_steps + 1, len(STAGE_STATS), n_sites)
        Per-site counts by stage, at the same times (NaN for the steps of a checkpoint
        written before circnet recorded them).
    """

    def __init__(self, n_steps: int, n_sites: int) -> None:
        need = self.nbytes(n_steps, n_sites)
        if need > MAX_RECORD_BYTES:
            raise ParameterError(
                f"a course of {n_steps:,} steps over {n_sites} sites needs {need / 2**20:,.0f} "
                f"MiB of records; at most {MAX_RECORD_BYTES / 2**20:.0f} MiB are allowed "
                "(a shorter course or a larger `dt_days`)"
            )
        self.daily: Ints = np.zeros((n_steps, len(DAILY)), dtype=np.int64)
        self.daily_cells: Floats = np.zeros((n_steps, 2))
        self.stats: Floats = np.zeros((n_steps + 1, len(SITE_STATS), n_sites))
        self.stages: Floats = np.zeros((n_steps + 1, len(STAGE_STATS), n_sites))

    @staticmethod
    def nbytes(n_steps: int, n_sites: int) -> int:
        """Bytes the records of ``n_steps`` steps over ``n_sites`` sites take."""
        per_step = (len(SITE_STATS) + len(STAGE_STATS)) * n_sites
        return 8 * (n_steps * (len(DAILY) + 2) + (n_steps + 1) * per_step)

    def to_arrays(self, steps: int) -> dict[str, np.ndarray]:
        """The records of the first ``steps`` steps as checkpoint arrays."""
        return {
            "daily": self.daily[:steps],
            "daily_cells": self.daily_cells[:steps],
            "stats": self.stats[: steps + 1],
            "stages": self.stages[: steps + 1],
        }

    def load(self, arrays: Mapping[str, np.ndarray], steps: int, where: str) -> None:
        """Fill the first ``steps`` steps from checkpoint arrays (CheckpointError if bad).

        A checkpoint without ``stages`` (written by an earlier circnet) still resumes:
        its steps get NaN stage counts.
        """
        expect = {
            "daily": (self.daily, (steps, len(DAILY))),
            "daily_cells": (self.daily_cells, (steps, 2)),
            "stats": (self.stats, (steps + 1, *self.stats.shape[1:])),
            "stages": (self.stages, (steps + 1, *self.stages.shape[1:])),
        }
        for key, (target, shape) in expect.items():
            a = arrays.get(key)
            if a is None and key == "stages":
                target[: shape[0]] = np.nan
                continue
            if a is None:
                raise CheckpointError(f"checkpoint {where} lacks the array {key!r}")
            if a.shape != shape or not np.can_cast(a.dtype, target.dtype, casting="same_kind"):
                raise CheckpointError(
                    f"checkpoint {where}: array {key!r} has shape {a.shape} and dtype "
                    f"{a.dtype} (expected {shape} of {target.dtype})"
                )
            target[: shape[0]] = a
