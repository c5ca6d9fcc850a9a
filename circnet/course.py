"""The disease course: tumours grow, shed cells, found metastases that shed in turn.

Time advances in steps of ``dt_days`` (one day by default). In each step, in order:

1. **treatment**: at ``surgery_day`` the primary tumour is removed; from
   ``inhibitor_from_day`` the angiogenesis inhibitor is given (``g = 1``);
2. **shedding**: each vascular tumour sheds ``Poisson(rate * dt)`` cells (rate from
   :func:`circnet.tumour.shedding_rate`, evaluated at the start of the step);
3. **transport**: the cells shed from each source site (an organ or a lymph-node group)
   go to their fates by one multinomial draw with the probabilities
   ``TransportModel.fates(source)`` (cached per source). Transport takes minutes to
   hours, growth days to years (design §4), so the cells reach their fates within the
   step;
4. **growth** of every tumour over the step (:func:`circnet.tumour.grow`);
5. **dormancy**: each avascular colony switches on angiogenesis with probability
   ``1 - exp(-switch_rate dt)`` (adjusted for competing loss), vanishes with rate
   ``dormant_death_rate``, or stays dormant at or below the avascular limit;
6. **founding**: every ``colony:<organ>`` and ``node:<group>`` fate founds a new
   avascular tumour of ``colony_cells`` cells (one cell by default) at that site;
7. **bookkeeping**: tumours crossing ``detection_cells`` are logged as detectable,
   tumours below one cell are cleared; per-site statistics are recorded.

Representation (structure of arrays): each row is a *group of identical tumours* with a
``count``: site, log volume, log carrying capacity, vascular flag, founding day. All
colonies founded at one site in one step start identical and follow the same
deterministic growth, so they share one row; random events (switch, loss) split a row
by exact binomial / multivariate hypergeometric draws. The cost of a step is
proportional to the number of rows, about (number of sites) x (lifetime of a dormant
cohort in steps) + (number of vascular groups), independent of the number of colonies
(millions). Switched colonies become their own rows; an avascular row that empties is
dropped.

Conservation: in every step ``shed = dead + colonies founded + nodal tumours founded``
exactly (integer counts), reported per step in :attr:`CourseResult.daily`.

Randomness only through ``rng`` (int, Generator or None; ``np.random.default_rng`` at the
entry). A course can be checkpointed (``checkpoint=path, checkpoint_every=days``: a
pickle-free ``.npz`` with the arrays, the records and a JSON header carrying the
generator state, written atomically) and resumed with :func:`resume_course`; the resumed
course is bit-identical to an uninterrupted one.

Units: time in days (a year is 365.25 days), sizes in cells (1e9 cells ~ 1 cm^3 ~ 1 g).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from .cells import CellProfile
from .errors import CheckpointError, CircnetError, ParameterError, UnknownNameError
from .io import atomic_write
from .transport import TransportModel
from .tumour import CELLS_PER_MM3, TumourParams, _constants, _step

__all__ = ["simulate_course", "resume_course", "CourseResult", "EVENT_KINDS", "DAYS_PER_YEAR"]

#: Days per year used to turn ``years`` into steps.
DAYS_PER_YEAR = 365.25
#: Kinds of event in :attr:`CourseResult.events`.
EVENT_KINDS = (
    "founded",
    "angiogenic_switch",
    "detectable",
    "cleared",
    "surgery",
    "inhibitor_start",
)
_K = {k: i for i, k in enumerate(EVENT_KINDS)}
_CHECKPOINT_VERSION = 1
#: numpy's hypergeometric draws need fewer than 1e9 items.
_MVHG_LIMIT = 1_000_000_000
_DAILY = (
    "shed",
    "shed_primary",
    "dead",
    "colonies",
    "nodal",
    "switched",
    "vanished",
    "cleared",
)
_SITE_STATS = ("n_tumours", "n_vascular", "total_cells", "largest_cells")


# ============================================================================ result
@dataclass(frozen=True)
class CourseResult:
    """Outcome of :func:`simulate_course` (frozen).

    Attributes
    ----------
    primary : str
        Site of the primary tumour.
    days : float
        Length of the course, days.
    params : TumourParams
        Tumour parameters used.
    timeseries : pandas.DataFrame
        Tidy: one row per (day, site) for every site that ever held a tumour; columns
        ``day, site, n_tumours, n_vascular, total_cells, largest_cells, detectable``
        (``largest_cells >= params.detection_cells``). The primary's site includes the
        primary.
    events : pandas.DataFrame
        ``day, site, kind, count, cells, primary``; kinds in :data:`EVENT_KINDS`
        (``founded`` counts the colonies founded at a site in a step; ``cells`` is the
        size of one tumour of the event).
    daily : pandas.DataFrame
        Per step (indexed by the step's end day): cells ``shed`` (of which
        ``shed_primary``), their fates ``dead``, ``colonies``, ``nodal``; colonies
        ``switched`` on, dormant colonies ``vanished``, tumours ``cleared``;
        ``primary_cells`` and ``metastatic_cells`` at the end of the step.
    summary : pandas.Series
        Headline numbers (first metastasis, first detectable metastasis, burden, totals).

    Examples
    --------
    >>> import circnet
    >>> res = circnet.simulate_course(circnet.default_body(), "colon_rectum", 1, rng=1)
    >>> bool((res.daily["shed"] == res.daily[["dead", "colonies", "nodal"]].sum(axis=1)).all())
    True
    >>> list(res.to_frame().columns)[:3]
    ['day', 'site', 'n_tumours']
    """

    primary: str
    days: float
    params: TumourParams
    timeseries: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)
    daily: pd.DataFrame = field(repr=False)
    summary: pd.Series = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The tidy per-site time series (a copy)."""
        return self.timeseries.copy()

    @property
    def first_detectable_metastasis(self) -> tuple[float, str] | None:
        """``(day, site)`` of the first metastasis to reach the detection threshold."""
        e = self.events
        e = e[(e["kind"] == "detectable") & ~e["primary"]]
        if e.empty:
            return None
        return float(e["day"].iloc[0]), str(e["site"].iloc[0])

    def burden(self, day: float) -> pd.Series:
        """Total tumour cells per site at the last record on or before ``day``."""
        ts = self.timeseries
        days = ts["day"].unique()
        sel = days[days <= day]
        if sel.size == 0:
            raise ParameterError(f"`day` {day} is before the course starts")
        at = ts[ts["day"] == sel.max()]
        return at.set_index("site")["total_cells"].rename(f"cells at day {sel.max():g}")


# ============================================================================ helpers
def _nz(mask: np.ndarray) -> np.ndarray:
    return mask.nonzero()[0]


def _fingerprint(body: nx.DiGraph) -> str:
    nodes = sorted(
        (str(n), json.dumps(d, sort_keys=True, default=str)) for n, d in body.nodes(data=True)
    )
    edges = sorted(
        (str(u), str(v), json.dumps(d, sort_keys=True, default=str))
        for u, v, d in body.edges(data=True)
    )
    return hashlib.sha256(json.dumps([nodes, edges]).encode()).hexdigest()


def _cells_dict(cells: CellProfile) -> dict[str, Any]:
    out = {k: getattr(cells, k) for k in cells.__dataclass_fields__ if k != "sites"}
    out["sites"] = {s: dict(v) for s, v in cells.sites.items()}
    return out


def _check_time(name: str, value: Any, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"`{name}` must be a number of days (got {value!r})")
    x = float(value)
    if not math.isfinite(x) or x < 0:
        raise ParameterError(f"`{name}` must be finite and not negative (got {x!r})")
    return x


def _model_for(body: Any, cells: CellProfile | None) -> TransportModel:
    if isinstance(body, TransportModel):
        if cells is not None and cells != body.cells:
            return body.with_cells(cells)
        return body
    if not isinstance(body, nx.DiGraph):
        raise ParameterError(
            f"`body` must be a body graph or a TransportModel (got {type(body).__name__})"
        )
    if cells is not None and not isinstance(cells, CellProfile):
        raise ParameterError(f"`cells` must be a CellProfile (got {type(cells).__name__})")
    return TransportModel(body, cells)


# ============================================================================ engine
class _Engine:
    """Mutable state of one course; the public API wraps it."""

    _ROW_FIELDS = (
        "site",
        "count",
        "lnv",
        "lnk",
        "vascular",
        "primary",
        "born",
        "detected",
        "nodal",
        "kill",
    )

    def __init__(
        self,
        model: TransportModel,
        primary: str,
        n_steps: int,
        dt: float,
        params: TumourParams,
        rng: np.random.Generator,
        *,
        surgery_day: float | None,
        inhibitor_from_day: float | None,
        primary_cells: float,
        primary_capacity_cells: float,
    ) -> None:
        self.model = model
        self.params = params
        self.rng = rng
        self.dt = dt
        self.n_steps = n_steps
        self.primary_site = primary
        self.surgery_day = surgery_day
        self.inhibitor_from_day = inhibitor_from_day
        self.primary_cells = primary_cells
        self.primary_capacity_cells = primary_capacity_cells
        self.sites = tuple(model.organs) + tuple(model.lymph_nodes)
        self.site_index = {s: i for i, s in enumerate(self.sites)}
        if primary not in self.site_index:
            raise UnknownNameError(
                f"unknown primary site {primary!r}: expected an organ ({', '.join(model.organs)})"
                f" or a lymph-node group ({', '.join(model.lymph_nodes)})"
            )
        ns = len(self.sites)
        self.is_node = np.zeros(ns, dtype=bool)
        self.is_node[len(model.organs) :] = True
        # fate label -> site index (dead: -1)
        fl = model.fate_labels
        self.fate_site = np.array(
            [-1 if f == "dead" else self.site_index[f.split(":", 1)[1]] for f in fl], dtype=np.int64
        )
        self.fate_is_node = np.array([f.startswith("node:") for f in fl])
        self._fates: dict[int, np.ndarray] = {}
        # per-row arrays
        self.n = 0
        self._cap = 0
        self._grow_capacity(64)
        self.step = 0
        self.surgery_done = False
        self.inhibitor_logged = False
        # records
        self.daily = np.zeros((n_steps, len(_DAILY)), dtype=np.int64)
        self.daily_cells = np.zeros((n_steps, 2))  # primary, metastatic
        self.stats = np.zeros((n_steps + 1, len(_SITE_STATS), ns))
        self.events: list[tuple[np.ndarray, ...]] = []
        self._raw_events: list[tuple[Any, ...]] = []
        self.founder_site = self.site_index[primary]
        self._q = math.exp(-params.rate("lambda1") * dt)
        self._ln_one = math.log(1.0 / CELLS_PER_MM3) - 1e-9
        self._av_undetectable = params.avascular_limit_cells < params.detection_cells
        self._c = (_constants(params, 0.0), _constants(params, 1.0))
        self._has_kill = params.immune_kill_rate > 0
        self._hahnfeldt = params.growth_model == "hahnfeldt"
        self._founded: list[tuple[float, np.ndarray, np.ndarray]] = []

    # ------------------------------------------------------------------ rows
    def _grow_capacity(self, need: int) -> None:
        if need <= self._cap:
            return
        cap = max(need, 2 * self._cap, 64)
        dtypes = {
            "site": np.int64,
            "count": np.int64,
            "lnv": float,
            "lnk": float,
            "vascular": bool,
            "primary": bool,
            "born": float,
            "detected": bool,
            "nodal": bool,
            "kill": float,
        }
        for f in self._ROW_FIELDS:
            new = np.zeros(cap, dtype=dtypes[f])
            if self._cap:
                new[: self.n] = getattr(self, f)[: self.n]
            setattr(self, f, new)
        self._cap = cap

    def _append(self, **cols: Any) -> None:
        k = len(cols["site"])
        if k == 0:
            return
        self._grow_capacity(self.n + k)
        sl = slice(self.n, self.n + k)
        for f in self._ROW_FIELDS[:-2]:
            getattr(self, f)[sl] = cols[f]
        site = np.asarray(cols["site"], dtype=np.int64)
        nodal = self.is_node[site] & (self.params.immune_kill_rate > 0)
        self.nodal[sl] = nodal
        self.kill[sl] = np.where(nodal, self.params.immune_kill_rate, 0.0)
        self.n += k

    def _compact(self) -> None:
        n = self.n
        keep = self.count[:n] > 0
        m = int(keep.sum())
        if n > 256 and m < (3 * n) // 4:
            for f in self._ROW_FIELDS:
                a = getattr(self, f)
                a[:m] = a[:n][keep]
            self.n = m

    def _event(
        self, day: float, site: Any, kind: str, count: Any, cells: Any, primary: Any
    ) -> None:
        # stored raw; broadcast to columns once, in _event_arrays
        self._raw_events.append((day, site, _K[kind], count, cells, primary))

    def start(self) -> None:
        p = self.params
        lnk = math.log(self.primary_capacity_cells / CELLS_PER_MM3)
        if p.growth_model == "gompertz":
            lnk = math.log(p.gompertz_capacity_cells / CELLS_PER_MM3)
        self._append(
            site=[self.founder_site],
            count=[1],
            lnv=[math.log(self.primary_cells / CELLS_PER_MM3)],
            lnk=[lnk],
            vascular=[True],
            primary=[True],
            born=[0.0],
            detected=[self.primary_cells >= p.detection_cells],
        )
        if self.primary_cells >= p.detection_cells:
            self._event(0.0, self.founder_site, "detectable", 1, self.primary_cells, True)
        self._record(0)

    def fates(self, site: int) -> np.ndarray:
        f = self._fates.get(site)
        if f is None:
            f = self.model.fates(self.sites[site]).to_numpy(dtype=float)
            f = np.maximum(f, 0.0)
            f = f / f.sum()
            self._fates[site] = f
        return f

    # ------------------------------------------------------------------ one step
    def advance(self) -> None:
        p, rng, dt, n = self.params, self.rng, self.dt, self.n
        t0 = self.step * dt
        t1 = t0 + dt
        rec = self.daily[self.step]
        count = self.count[:n]
        site = self.site[:n]
        lnv, lnk = self.lnv[:n], self.lnk[:n]
        vascular = self.vascular[:n]
        # 1. treatment
        if self.surgery_day is not None and not self.surgery_done and t0 >= self.surgery_day:
            prim = _nz(self.primary[:n] & (count > 0))
            cells = float(np.exp(lnv[prim]).sum() * CELLS_PER_MM3) if prim.size else 0.0
            count[prim] = 0
            self.surgery_done = True
            self._event(t0, self.founder_site, "surgery", prim.size, cells, True)
        g = 0.0
        if self.inhibitor_from_day is not None and t0 >= self.inhibitor_from_day:
            g = 1.0
            if not self.inhibitor_logged:
                self.inhibitor_logged = True
                self._event(t0, self.founder_site, "inhibitor_start", 0, 0.0, False)
        # 2. shedding (sizes at the start of the step)
        if p.avascular_shedding > 0:
            src = _nz(count > 0)
        else:
            src = _nz(vascular & (count > 0))
        new_fates = None
        if src.size and p.shedding_rate > 0:
            factor = np.where(vascular[src], 1.0, p.avascular_shedding)
            lam = (p.shedding_rate * 1e-9 * CELLS_PER_MM3 * dt) * np.exp(lnv[src]) * factor
            lam = lam * count[src]
            shed = rng.poisson(lam)
            total = int(shed.sum())
            rec[0] = total
            rec[1] = int(shed[self.primary[src]].sum())
            if total:
                by_site = np.bincount(site[src], weights=shed, minlength=len(self.sites))
                new_fates = np.zeros(len(self.fate_site), dtype=np.int64)
                for s in _nz(by_site):
                    new_fates += rng.multinomial(int(by_site[s]), self.fates(int(s)))
                rec[2] = new_fates[0]
                rec[3] = new_fates[~self.fate_is_node].sum() - new_fates[0]
                rec[4] = new_fates[self.fate_is_node].sum()
        # 3. growth: exact for plain avascular rows, RK4 for vascular and nodal ones
        ode = _nz(vascular | self.nodal[:n]) if n else np.zeros(0, np.int64)
        if ode.size:
            u0, w0, vas = lnv[ode], lnk[ode], vascular[ode]
        np.subtract(lnv, lnk, out=lnv)
        lnv *= self._q
        lnv += lnk
        if ode.size:
            kill = self.kill[ode] if self._has_kill else None
            hahn = None
            if self._hahnfeldt and vas.any():
                hahn = vas.astype(float)
            lnv[ode], lnk[ode] = _step(u0, w0, dt, self._c[g > 0], hahn, kill)
        # 4. clear tumours below one cell (only the ODE rows can shrink)
        if ode.size:
            gone = ode[(lnv[ode] < self._ln_one) & (count[ode] > 0)]
            if gone.size:
                self._event(
                    t1,
                    site[gone],
                    "cleared",
                    count[gone],
                    np.exp(lnv[gone]) * CELLS_PER_MM3,
                    self.primary[gone],
                )
                rec[7] = int(count[gone].sum())
                count[gone] = 0
        # 5. dormancy: switch or vanish (avascular rows)
        hazard = p.switch_rate + p.dormant_death_rate
        if n and hazard > 0:
            dorm = _nz(~vascular)
            if dorm.size:
                p_event = -math.expm1(-hazard * dt)
                p_switch = p_event * p.switch_rate / hazard
                p_die = p_event * p.dormant_death_rate / hazard
                if p_switch > 0:
                    self._switch(dorm, p_switch, t1, rec)
                if p_die > 0:
                    count = self.count[:n]  # _switch may have reallocated the arrays
                    c = count[dorm]
                    died = rng.binomial(c, min(1.0, p_die / (1.0 - p_switch)))
                    count[dorm] = c - died
                    rec[6] = int(died.sum())
        # 6. founding
        if new_fates is not None:
            hit = _nz(new_fates[1:]) + 1
            if hit.size:
                sites = self.fate_site[hit]
                lnv0 = math.log(p.colony_cells / CELLS_PER_MM3)
                lnk0 = math.log(p.avascular_limit_cells / CELLS_PER_MM3)
                k = hit.size
                self._append(
                    site=sites,
                    count=new_fates[hit],
                    lnv=np.full(k, lnv0),
                    lnk=np.full(k, lnk0),
                    vascular=np.zeros(k, bool),
                    primary=np.zeros(k, bool),
                    born=np.full(k, t1),
                    detected=np.zeros(k, bool),
                )
                self._founded.append((t1, sites, new_fates[hit]))
        # 7. detection (an avascular colony cannot pass the detection threshold unless
        # the avascular limit is above it)
        n = self.n
        cells = np.exp(self.lnv[:n]) * CELLS_PER_MM3
        cand = _nz(self.vascular[:n]) if self._av_undetectable else np.arange(n)
        new = cand[
            (cells[cand] >= p.detection_cells) & ~self.detected[cand] & (self.count[cand] > 0)
        ]
        if new.size:
            self.detected[new] = True
            self._event(
                t1, self.site[new], "detectable", self.count[new], cells[new], self.primary[new]
            )
        self.step += 1
        self._record(self.step, cells)
        self._compact()

    def _switch(self, dorm: np.ndarray, p_switch: float, t1: float, rec: np.ndarray) -> None:
        """Switch dormant colonies on, exactly: independent Binomial(count, p) per row.

        Drawn per site as a total Binomial(N, p) split over the rows by a multivariate
        hypergeometric draw (same joint law, one draw per site when nothing switches);
        numpy's hypergeometric needs N < 1e9, so larger sites draw per row.
        """
        rng = self.rng
        sites = self.site[dorm]
        c = self.count[dorm]
        per_site = np.bincount(sites, weights=c, minlength=len(self.sites)).astype(np.int64)
        large = per_site >= _MVHG_LIMIT
        totals = rng.binomial(np.where(large, 0, per_site), p_switch)
        takes = []
        for s in _nz(large):
            rows = dorm[sites == s]
            takes.append((rows, rng.binomial(self.count[rows], p_switch)))
        for s in _nz(totals):
            rows = dorm[sites == s]
            takes.append((rows, rng.multivariate_hypergeometric(self.count[rows], int(totals[s]))))
        p = self.params
        switched = 0
        for rows, take in takes:
            sel = _nz(take)
            if not sel.size:
                continue
            r = rows[sel]
            k = take[sel]
            switched += int(k.sum())
            self.count[r] -= k
            lnk = self.lnk[r].copy()
            if p.growth_model == "gompertz":
                lnk[:] = math.log(p.gompertz_capacity_cells / CELLS_PER_MM3)
            self._append(
                site=self.site[r],
                count=k,
                lnv=self.lnv[r].copy(),
                lnk=lnk,
                vascular=np.ones(r.size, bool),
                primary=np.zeros(r.size, bool),
                born=self.born[r].copy(),
                detected=np.zeros(r.size, bool),
            )
            self._event(
                t1, self.site[r], "angiogenic_switch", k, np.exp(self.lnv[r]) * CELLS_PER_MM3, False
            )
        rec[5] = switched

    def _record(self, i: int, cells: np.ndarray | None = None) -> None:
        n = self.n
        if cells is None:
            cells = np.exp(self.lnv[:n]) * CELLS_PER_MM3
        c = self.count[:n]
        site = self.site[:n]
        ns = len(self.sites)
        alive = c > 0
        st = self.stats[i]
        st[0] = np.bincount(site, weights=c, minlength=ns)
        st[1] = np.bincount(site, weights=c * self.vascular[:n], minlength=ns)
        st[2] = np.bincount(site, weights=c * cells, minlength=ns)
        big = np.zeros(ns)
        np.maximum.at(big, site[alive], cells[alive])
        st[3] = big
        if i > 0:
            prim = self.primary[:n] & alive
            pc = float((cells[prim] * c[prim]).sum())
            self.daily_cells[i - 1] = pc, float(st[2].sum()) - pc

    # ------------------------------------------------------------------ result
    def result(self) -> CourseResult:
        p = self.params
        m = self.step
        days = np.arange(m + 1) * self.dt
        st = self.stats[: m + 1]
        used = _nz(st[:, 0, :].max(axis=0) > 0)
        ns = used.size
        ts = pd.DataFrame(
            {
                "day": np.repeat(days, ns),
                "site": pd.Categorical(
                    np.tile(np.asarray(self.sites, dtype=object)[used], m + 1),
                    categories=[self.sites[i] for i in used],
                ),
                "n_tumours": st[:, 0, used].ravel().astype(np.int64),
                "n_vascular": st[:, 1, used].ravel().astype(np.int64),
                "total_cells": st[:, 2, used].ravel(),
                "largest_cells": st[:, 3, used].ravel(),
            }
        )
        ts["detectable"] = ts["largest_cells"] >= p.detection_cells
        ev = self._event_arrays()
        events = pd.DataFrame(
            {
                "day": ev[0],
                "site": np.asarray(self.sites, dtype=object)[ev[1]] if ev[1].size else [],
                "kind": pd.Categorical(
                    np.asarray(EVENT_KINDS, dtype=object)[ev[2]] if ev[2].size else [],
                    categories=list(EVENT_KINDS),
                ),
                "count": ev[3],
                "cells": ev[4],
                "primary": ev[5],
            }
        )
        events = events.sort_values(["day", "kind"], kind="stable").reset_index(drop=True)
        daily = pd.DataFrame(
            self.daily[:m], columns=list(_DAILY), index=pd.Index(days[1:], name="day")
        )
        daily["primary_cells"] = self.daily_cells[:m, 0]
        daily["metastatic_cells"] = self.daily_cells[:m, 1]
        summary = self._summary(events, daily, days[-1])
        return CourseResult(
            primary=self.primary_site,
            days=float(days[-1]),
            params=p,
            timeseries=ts,
            events=events,
            daily=daily,
            summary=summary,
        )

    def _summary(self, events: pd.DataFrame, daily: pd.DataFrame, end: float) -> pd.Series:
        met = events[~events["primary"]]

        def first(kind: str) -> tuple[float, str | None]:
            e = met[met["kind"] == kind]
            if e.empty:
                return math.nan, None
            return float(e["day"].iloc[0]), str(e["site"].iloc[0])

        sw_day, sw_site = first("angiogenic_switch")
        det_day, det_site = first("detectable")
        st = self.stats[self.step]
        n = self.n
        met_rows = ~self.primary[:n] & (self.count[:n] > 0)
        big = np.exp(self.lnv[:n]) * CELLS_PER_MM3 >= self.params.detection_cells
        det_sites = [self.sites[i] for i in np.unique(self.site[:n][met_rows & big])]
        return pd.Series(
            {
                "primary": self.primary_site,
                "days": end,
                "first_vascular_metastasis_day": sw_day,
                "first_vascular_metastasis_site": sw_site,
                "first_detectable_metastasis_day": det_day,
                "first_detectable_metastasis_site": det_site,
                "detectable_metastatic_sites": ", ".join(det_sites),
                "primary_cells_end": float(daily["primary_cells"].iloc[-1]) if len(daily) else 0.0,
                "metastatic_cells_end": float(daily["metastatic_cells"].iloc[-1])
                if len(daily)
                else 0.0,
                "vascular_metastases_end": int(st[1].sum())
                - int((self.primary[: self.n] & (self.count[: self.n] > 0)).sum()),
                "cells_shed": int(daily["shed"].sum()),
                "colonies_founded": int(daily["colonies"].sum()),
                "nodal_tumours_founded": int(daily["nodal"].sum()),
                "conserved": bool(
                    (daily["shed"] == daily[["dead", "colonies", "nodal"]].sum(axis=1)).all()
                ),
            },
            name="summary",
        )

    def _event_arrays(self) -> tuple[np.ndarray, ...]:
        chunks = list(self.events)
        for day, site, kind, count, cells, primary in self._raw_events:
            site = np.atleast_1d(np.asarray(site, dtype=np.int64))
            k = site.size
            if k == 0:
                continue
            chunks.append(
                (
                    np.full(k, float(day)),
                    site,
                    np.full(k, kind, dtype=np.int64),
                    np.broadcast_to(np.asarray(count, dtype=np.int64), (k,)),
                    np.broadcast_to(np.asarray(cells, dtype=float), (k,)),
                    np.broadcast_to(np.asarray(primary, dtype=bool), (k,)),
                )
            )
        self._raw_events = []
        if self._founded:
            lens = [len(f[1]) for f in self._founded]
            k = sum(lens)
            chunks.append(
                (
                    np.repeat([f[0] for f in self._founded], lens),
                    np.concatenate([f[1] for f in self._founded]),
                    np.full(k, _K["founded"], dtype=np.int64),
                    np.concatenate([f[2] for f in self._founded]),
                    np.full(k, self.params.colony_cells),
                    np.zeros(k, bool),
                )
            )
            self._founded = []
        if not chunks:
            out = (
                np.zeros(0),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros(0),
                np.zeros(0, bool),
            )
        else:
            out = tuple(np.concatenate(c) for c in zip(*chunks, strict=True))
        self.events = [out]
        return out

    # ------------------------------------------------------------------ checkpoint
    def save(self, path: str | os.PathLike[str], meta: dict[str, Any]) -> None:
        n, m = self.n, self.step
        ev = self._event_arrays()
        state = self.rng.bit_generator.state
        header = dict(
            meta,
            version=_CHECKPOINT_VERSION,
            step=m,
            n_steps=self.n_steps,
            surgery_done=self.surgery_done,
            inhibitor_logged=self.inhibitor_logged,
            rng=state,
            sites=list(self.sites),
        )
        arrays = {f"row_{f}": getattr(self, f)[:n] for f in self._ROW_FIELDS}
        arrays.update(
            daily=self.daily[:m],
            daily_cells=self.daily_cells[:m],
            stats=self.stats[: m + 1],
            ev_day=ev[0],
            ev_site=ev[1],
            ev_kind=ev[2],
            ev_count=ev[3],
            ev_cells=ev[4],
            ev_primary=ev[5],
            header=np.array(json.dumps(header)),
        )
        with atomic_write(path, "wb") as fh:
            np.savez(fh, **arrays)

    def load_arrays(self, data: Any, header: dict[str, Any]) -> None:
        m = int(header["step"])
        n = int(data["row_site"].shape[0])
        self._grow_capacity(n)
        for f in self._ROW_FIELDS:
            getattr(self, f)[:n] = data[f"row_{f}"]
        self.n = n
        self.step = m
        self.daily[:m] = data["daily"]
        self.daily_cells[:m] = data["daily_cells"]
        self.stats[: m + 1] = data["stats"]
        self.events = [
            tuple(
                np.asarray(data[k])
                for k in ("ev_day", "ev_site", "ev_kind", "ev_count", "ev_cells", "ev_primary")
            )
        ]
        self.surgery_done = bool(header["surgery_done"])
        self.inhibitor_logged = bool(header["inhibitor_logged"])


def _run(
    engine: _Engine,
    checkpoint: Any,
    every_steps: int | None,
    meta: dict[str, Any],
    stop_step: int | None = None,
) -> None:
    last = engine.n_steps if stop_step is None else min(stop_step, engine.n_steps)
    while engine.step < last:
        engine.advance()
        if checkpoint is not None and every_steps and engine.step % every_steps == 0:
            engine.save(checkpoint, meta)
    if checkpoint is not None:
        engine.save(checkpoint, meta)


# ============================================================================ public API
def simulate_course(
    body: nx.DiGraph | TransportModel,
    primary: str,
    years: float,
    rng: Any = None,
    *,
    cells: CellProfile | None = None,
    params: TumourParams | None = None,
    dt_days: float = 1.0,
    primary_cells: float = 1.0e6,
    primary_capacity_cells: float | None = None,
    surgery_day: float | None = None,
    inhibitor_from_day: float | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: float | None = None,
    stop_day: float | None = None,
    **param_changes: Any,
) -> CourseResult:
    """Simulate the disease course from a primary tumour over ``years``.

    Parameters
    ----------
    body : networkx.DiGraph or TransportModel
        A body graph, or a transport model of one (reuses its factorisation: cheaper
        for many courses).
    primary : str
        Organ (or lymph-node group) of the primary tumour.
    years : float
        Length of the course (365.25 days a year).
    rng : int, numpy.random.Generator or None
        Source of randomness (``np.random.default_rng(rng)``).
    cells : CellProfile, optional
        Parameters of the shed cells (transport); default ``CellProfile()``.
    params : TumourParams, optional
        Tumour parameters; ``**param_changes`` override single fields
        (``switch_rate=0.0``, ...).
    dt_days : float
        Step, days (1).
    primary_cells : float
        Size of the primary at day 0, cells (default 1e6 = 1 mm^3: the day it
        switches on angiogenesis).
    primary_capacity_cells : float, optional
        Its carrying capacity at day 0 (default ``primary_cells``).
    surgery_day : float, optional
        Day on which the primary is removed (it sheds no more).
    inhibitor_from_day : float, optional
        Day from which an angiogenesis inhibitor is given (Hahnfeldt term ``e K g``).
    checkpoint : path, optional
        Where to save the state (``.npz``), every ``checkpoint_every`` days and at the end.
    checkpoint_every : float, optional
        Interval between checkpoints, days.
    stop_day : float, optional
        Stop early at this day (with ``checkpoint``: to split a long run; continue it with
        :func:`resume_course`). The result covers the days simulated.

    Returns
    -------
    CourseResult

    Raises
    ------
    UnknownNameError
        Unknown primary site.
    ParameterError
        Negative or non-finite times, bad tumour parameters.

    Examples
    --------
    >>> import circnet
    >>> body = circnet.default_body()
    >>> res = circnet.simulate_course(body, "colon_rectum", 2, rng=7)
    >>> res.summary["conserved"]
    True
    >>> off = circnet.simulate_course(body, "colon_rectum", 2, rng=7, shedding_rate=0.0)
    >>> int(off.summary["colonies_founded"])
    0
    """
    years_f = _check_time("years", years, allow_none=False)
    dt = _check_time("dt_days", dt_days, allow_none=False)
    if dt <= 0:
        raise ParameterError(f"`dt_days` must be positive (got {dt})")
    surgery_day = _check_time("surgery_day", surgery_day)
    inhibitor_from_day = _check_time("inhibitor_from_day", inhibitor_from_day)
    if params is None:
        params = TumourParams()
    if not isinstance(params, TumourParams):
        raise ParameterError(f"`params` must be TumourParams (got {type(params).__name__})")
    if param_changes:
        params = params.replace(**param_changes)
    for name, v in (
        ("primary_cells", primary_cells),
        ("primary_capacity_cells", primary_capacity_cells),
    ):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v < math.inf):
            raise ParameterError(f"`{name}` must be a positive number of cells (got {v!r})")
    every = None
    if checkpoint_every is not None:
        ce = _check_time("checkpoint_every", checkpoint_every, allow_none=False)
        if ce <= 0:
            raise ParameterError(f"`checkpoint_every` must be positive (got {ce})")
        every = max(1, int(round(ce / dt)))
    stop_day = _check_time("stop_day", stop_day)
    if stop_day is not None and checkpoint is None:
        raise ParameterError("`stop_day` needs a `checkpoint` to resume from")
    if not isinstance(primary, str):
        raise UnknownNameError(f"`primary` must be a site name (got {primary!r})")
    model = _model_for(body, cells)
    rng = np.random.default_rng(rng)
    n_steps = int(round(years_f * DAYS_PER_YEAR / dt))
    engine = _Engine(
        model,
        primary,
        n_steps,
        dt,
        params,
        rng,
        surgery_day=surgery_day,
        inhibitor_from_day=inhibitor_from_day,
        primary_cells=float(primary_cells),
        primary_capacity_cells=float(primary_capacity_cells or primary_cells),
    )
    engine.start()
    meta = {
        "primary": primary,
        "dt_days": dt,
        "params": params.to_dict(),
        "cells": _cells_dict(model.cells),
        "body": _fingerprint(model.body),
        "surgery_day": surgery_day,
        "inhibitor_from_day": inhibitor_from_day,
        "primary_cells": float(primary_cells),
        "primary_capacity_cells": float(primary_capacity_cells or primary_cells),
    }
    stop = None if stop_day is None else int(round(stop_day / dt))
    _run(engine, checkpoint, every, meta, stop)
    return engine.result()


def resume_course(
    path: str | os.PathLike[str],
    body: nx.DiGraph | TransportModel,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: float | None = None,
) -> CourseResult:
    """Continue a course from a checkpoint written by :func:`simulate_course`.

    The result is bit-identical to the uninterrupted course.

    Parameters
    ----------
    path : path
        The checkpoint (``.npz``).
    body : networkx.DiGraph or TransportModel
        The same body as the original run (checked by fingerprint); the cell profile
        and tumour parameters come from the checkpoint.
    checkpoint, checkpoint_every :
        Keep checkpointing (to ``checkpoint``, default ``path``) every so many days.

    Raises
    ------
    CheckpointError
        Missing, unreadable or foreign file; a body that differs from the original.

    Examples
    --------
    >>> import circnet, tempfile, pathlib
    >>> body = circnet.default_body()
    >>> ck = pathlib.Path(tempfile.mkdtemp()) / "course.npz"
    >>> full = circnet.simulate_course(body, "lung", 1, rng=3)
    >>> part = circnet.simulate_course(body, "lung", 1, rng=3, checkpoint=ck, stop_day=200)
    >>> part.days
    200.0
    >>> again = circnet.resume_course(ck, body)
    >>> again.timeseries.equals(full.timeseries)
    True
    """
    try:
        data = np.load(path, allow_pickle=False)
        header = json.loads(str(data["header"]))
    except FileNotFoundError as err:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist") from err
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a circnet course: {err}") from err
    with data:
        if header.get("version") != _CHECKPOINT_VERSION:
            raise CheckpointError(
                f"checkpoint {str(path)!r} has version {header.get('version')!r}, "
                f"expected {_CHECKPOINT_VERSION}"
            )
        graph = body.body if isinstance(body, TransportModel) else body
        if not isinstance(graph, nx.DiGraph):
            raise ParameterError(f"`body` must be a body graph (got {type(body).__name__})")
        if _fingerprint(graph) != header["body"]:
            raise CheckpointError(
                f"checkpoint {str(path)!r} was written for another body (fingerprints differ)"
            )
        try:
            cd = dict(header["cells"])
            cells = CellProfile(**cd)
            params = TumourParams(**header["params"])
        except (TypeError, CircnetError) as err:
            raise CheckpointError(f"checkpoint {str(path)!r} has bad parameters: {err}") from err
        model = _model_for(body, cells)
        state = header["rng"]
        try:
            bg = getattr(np.random, state["bit_generator"])()
            bg.state = state
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {str(path)!r}: bad generator state") from err
        engine = _Engine(
            model,
            header["primary"],
            int(header["n_steps"]),
            float(header["dt_days"]),
            params,
            np.random.Generator(bg),
            surgery_day=header["surgery_day"],
            inhibitor_from_day=header["inhibitor_from_day"],
            primary_cells=header["primary_cells"],
            primary_capacity_cells=header["primary_capacity_cells"],
        )
        if list(engine.sites) != header["sites"]:
            raise CheckpointError(f"checkpoint {str(path)!r}: the body's sites differ")
        engine.load_arrays(data, header)
    meta = {
        k: header[k]
        for k in (
            "primary",
            "dt_days",
            "params",
            "cells",
            "body",
            "surgery_day",
            "inhibitor_from_day",
            "primary_cells",
            "primary_capacity_cells",
        )
    }
    every = None
    if checkpoint_every is not None:
        ce = _check_time("checkpoint_every", checkpoint_every, allow_none=False)
        every = max(1, int(round(ce / engine.dt))) if ce > 0 else None
    target = checkpoint if checkpoint is not None else (path if every else None)
    _run(engine, target, every, meta)
    return engine.result()
