"""What a day of a disease course does to the rows: treatment, shedding, growth, fates.

:class:`Engine` holds the mutable state of one course (the :class:`~circnet._rows.Rows`,
the :class:`~circnet._rows.Records`, the :class:`~circnet._rows.EventLog`, the
generator and the step) and :meth:`Engine.advance` does one step, in the order of
:mod:`circnet.course`'s docstring: treatment, shedding and transport, growth, clearing,
dormancy (switch or vanish), founding, detection, records. The public functions and the
result live in :mod:`circnet.course`; this module knows nothing of files.

Fates are read by kind and site from the model's
:attr:`~circnet.TransportModel.state_space`, never from label text.

Work is bounded: a step whose growth would need more than :data:`MAX_SUBSTEPS` RK4
sub-steps (a rate too fast for ``dt_days``), or whose tumours would shed more than
:data:`~circnet.simulate.MAX_CELLS` cells, raises :class:`~circnet.ParameterError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._rows import EventLog, Floats, Ints, Records, Rows
from .errors import ParameterError, UnknownNameError
from .simulate import MAX_CELLS
from .states import DEAD
from .transport import TransportModel
from .tumour import CELLS_PER_MM3, RK4_H, TumourParams, _constants, _step

__all__ = ["Engine", "EVENT_KINDS", "MAX_SUBSTEPS", "DORMANT_BELOW_DOUBLINGS"]

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
#: A disseminated tumour below ``2 ** DORMANT_BELOW_DOUBLINGS`` times its founding size
#: (``colony_cells``, one cell by default) counts as a *dormant disseminated cell*: it has
#: not completed a doubling. Above that, an avascular colony is an *avascular
#: micrometastasis* (see :mod:`circnet.course`). Presentation only: the laws do not read it.
DORMANT_BELOW_DOUBLINGS = 1.0
#: Largest number of RK4 sub-steps of growth in one step of the course.
MAX_SUBSTEPS = 10_000
#: numpy's hypergeometric draws need fewer than 1e9 items.
_MVHG_LIMIT = 1_000_000_000


def _nz(mask: np.ndarray) -> Ints:
    return mask.nonzero()[0]


def _check_substeps(
    lnv: Floats,
    lnk: Floats,
    dt: float,
    c: tuple[float, ...],
    hahn: Floats | None,
    kill: Floats | None,
) -> None:
    """Refuse a step of growth that needs more than :data:`MAX_SUBSTEPS` RK4 sub-steps.

    The count is the one :func:`circnet.tumour._step` takes: the fastest rate over the
    tumours times ``dt`` over ``RK4_H``.
    """
    lam1, loss, b, d, _ = c
    fast = lam1
    if kill is not None:
        fast += float(kill.max())
    if hahn is not None:
        rates = b * np.exp(lnv - lnk) + d * np.exp(lnv * (2.0 / 3.0))
        fast += float((rates * hahn).max()) + loss
    need = fast * dt / RK4_H
    if not need <= MAX_SUBSTEPS:
        raise ParameterError(
            f"growth over one step of `dt_days` = {dt:g} would need {need:.3g} RK4 sub-steps "
            f"(at most {MAX_SUBSTEPS} are allowed): the fastest growth rate is {fast:.3g} per "
            "day; check the tumour parameters and `primary_cells` / `primary_capacity_cells` "
            "(a primary far above its capacity), or take a smaller `dt_days`"
        )


class Engine:
    """Mutable state of one course and what a step does to it."""

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
        self.sites: tuple[str, ...] = tuple(model.organs) + tuple(model.lymph_nodes)
        self.site_index = {s: i for i, s in enumerate(self.sites)}
        if primary not in self.site_index:
            raise UnknownNameError(
                f"unknown primary site {primary!r}: expected an organ ({', '.join(model.organs)})"
                f" or a lymph-node group ({', '.join(model.lymph_nodes)})"
            )
        ns = len(self.sites)
        self.is_node: np.ndarray = np.zeros(ns, dtype=bool)
        self.is_node[len(model.organs) :] = True
        # fates by kind and site, from the state space (positions among the fates)
        space = model.state_space
        at = space.fate_sites()
        self.fate_site: Ints = np.array(
            [-1 if at[f] is None else self.site_index[str(at[f])] for f in space.fates],
            dtype=np.int64,
        )
        self.fate_dead: Ints = space.positions(DEAD) - space.n_transient
        self.fate_colony: Ints = space.positions("colony") - space.n_transient
        self.fate_node: Ints = space.positions("node") - space.n_transient
        self.fate_founds: Ints = np.sort(np.concatenate([self.fate_colony, self.fate_node]))
        self._fates: dict[int, Floats] = {}
        self.rows = Rows()
        self.log = EventLog()
        self.records = Records(n_steps, ns)
        self.step = 0
        self.surgery_done = False
        self.inhibitor_logged = False
        self.founder_site = self.site_index[primary]
        self._q = math.exp(-params.rate("lambda1") * dt)
        self._ln_one = math.log(1.0 / CELLS_PER_MM3) - 1e-9
        self._av_undetectable = params.avascular_limit_cells < params.detection_cells
        self._c = (_constants(params, 0.0), _constants(params, 1.0))
        self._has_kill = params.immune_kill_rate > 0
        self._hahnfeldt = params.growth_model == "hahnfeldt"
        self.dormant_below_cells = params.colony_cells * 2.0**DORMANT_BELOW_DOUBLINGS

    # ------------------------------------------------------------------ rows
    def _add(self, site: Ints, **cols: Any) -> None:
        """Add rows; the nodal immune kill follows from the site."""
        site = np.asarray(site, dtype=np.int64)
        nodal = self.is_node[site] & self._has_kill
        kill = np.where(nodal, self.params.immune_kill_rate, 0.0)
        self.rows.append(site=site, nodal=nodal, kill=kill, **cols)

    def _event(
        self, day: float, site: Any, kind: str, count: Any, cells: Any, primary: Any
    ) -> None:
        self.log.add(day, site, _K[kind], count, cells, primary)

    def event_arrays(self) -> tuple[np.ndarray, ...]:
        """Every event so far as columns ``day, site, kind, count, cells, primary``."""
        return self.log.arrays(_K["founded"], self.params.colony_cells)

    def start(self) -> None:
        """Place the primary tumour at day 0 and record the start."""
        p = self.params
        lnk = math.log(self.primary_capacity_cells / CELLS_PER_MM3)
        if p.growth_model == "gompertz":
            lnk = math.log(p.gompertz_capacity_cells / CELLS_PER_MM3)
        detected = self.primary_cells >= p.detection_cells
        self._add(
            np.array([self.founder_site]),
            count=[1],
            lnv=[math.log(self.primary_cells / CELLS_PER_MM3)],
            lnk=[lnk],
            vascular=[True],
            primary=[True],
            born=[0.0],
            detected=[detected],
        )
        if detected:
            self._event(0.0, self.founder_site, "detectable", 1, self.primary_cells, True)
        self._record(0)

    def fates(self, site: int) -> Floats:
        """Fate probabilities of a cell shed at ``site`` (cached per site)."""
        f = self._fates.get(site)
        if f is None:
            f = np.asarray(self.model.fates(self.sites[site]), dtype=float).ravel()
            f = np.maximum(f, 0.0)
            f = f / f.sum()
            self._fates[site] = f
        return f

    # ------------------------------------------------------------------ one step
    def advance(self) -> None:
        """One step of ``dt`` days (see :mod:`circnet.course` for the order)."""
        t0 = self.step * self.dt
        t1 = t0 + self.dt
        rec = self.records.daily[self.step]
        n = self.rows.n
        g = self._treat(t0, n)
        new_fates = self._shed(n, rec)
        ode = self._grow(n, g)
        self._clear(ode, t1, rec)
        self._dormancy(n, t1, rec)
        if new_fates is not None:
            self._found(new_fates, t1)
        cells = self._detect(t1)
        self.step += 1
        self._record(self.step, cells)
        self.rows.compact()

    def _treat(self, t0: float, n: int) -> float:
        """Surgery and the angiogenesis inhibitor; returns the exposure ``g`` (0 or 1)."""
        rows = self.rows
        if self.surgery_day is not None and not self.surgery_done and t0 >= self.surgery_day:
            count, lnv = rows.count[:n], rows.lnv[:n]
            prim = _nz(rows.primary[:n] & (count > 0))
            cells = float(np.exp(lnv[prim]).sum() * CELLS_PER_MM3) if prim.size else 0.0
            count[prim] = 0
            self.surgery_done = True
            self._event(t0, self.founder_site, "surgery", prim.size, cells, True)
        if self.inhibitor_from_day is not None and t0 >= self.inhibitor_from_day:
            if not self.inhibitor_logged:
                self.inhibitor_logged = True
                self._event(t0, self.founder_site, "inhibitor_start", 0, 0.0, False)
            return 1.0
        return 0.0

    def _shed(self, n: int, rec: Ints) -> Ints | None:
        """Shedding (sizes at the start of the step) and the fates of the shed cells."""
        p, rng, rows = self.params, self.rng, self.rows
        count, vascular = rows.count[:n], rows.vascular[:n]
        if p.avascular_shedding > 0:
            src = _nz(count > 0)
        else:
            src = _nz(vascular & (count > 0))
        if not (src.size and p.shedding_rate > 0):
            return None
        factor = np.where(vascular[src], 1.0, p.avascular_shedding)
        lam = (p.shedding_rate * 1e-9 * CELLS_PER_MM3 * self.dt) * np.exp(rows.lnv[src]) * factor
        lam = lam * count[src]
        expected = float(lam.sum())
        if not expected <= MAX_CELLS:
            big = int(np.argmax(np.nan_to_num(lam, nan=np.inf)))
            raise ParameterError(
                f"the tumours would shed about {expected:.3g} cells in one step (the largest, "
                f"at {self.sites[int(rows.site[src[big]])]!r}, has "
                f"{math.exp(min(float(rows.lnv[src[big]]), 709.0)) * CELLS_PER_MM3:.3g} cells); "
                f"at most {MAX_CELLS:.3g} cells can be counted exactly: check `primary_cells`, "
                "`primary_capacity_cells` and the growth parameters"
            )
        shed = rng.poisson(lam)
        total = int(shed.sum())
        rec[0] = total
        rec[1] = int(shed[rows.primary[src]].sum())
        if not total:
            return None
        by_site = np.bincount(rows.site[src], weights=shed, minlength=len(self.sites))
        new_fates = np.zeros(len(self.fate_site), dtype=np.int64)
        for s in _nz(by_site):
            new_fates += rng.multinomial(int(by_site[s]), self.fates(int(s)))
        rec[2] = new_fates[self.fate_dead].sum()
        rec[3] = new_fates[self.fate_colony].sum()
        rec[4] = new_fates[self.fate_node].sum()
        return new_fates

    def _grow(self, n: int, g: float) -> Ints:
        """Growth: exact for plain avascular rows, RK4 for vascular and nodal ones."""
        rows = self.rows
        lnv, lnk, vascular = rows.lnv[:n], rows.lnk[:n], rows.vascular[:n]
        ode = _nz(vascular | rows.nodal[:n]) if n else np.zeros(0, np.int64)
        if ode.size:
            u0, w0, vas = lnv[ode], lnk[ode], vascular[ode]
        np.subtract(lnv, lnk, out=lnv)
        lnv *= self._q
        lnv += lnk
        if ode.size:
            kill = rows.kill[ode] if self._has_kill else None
            hahn = None
            if self._hahnfeldt and vas.any():
                hahn = vas.astype(float)
            c = self._c[g > 0]
            _check_substeps(u0, w0, self.dt, c, hahn, kill)
            lnv[ode], lnk[ode] = _step(u0, w0, self.dt, c, hahn, kill)
        return ode

    def _clear(self, ode: Ints, t1: float, rec: Ints) -> None:
        """Clear tumours below one cell (only the ODE rows can shrink)."""
        if not ode.size:
            return
        rows = self.rows
        count, lnv = rows.count, rows.lnv
        gone = ode[(lnv[ode] < self._ln_one) & (count[ode] > 0)]
        if gone.size:
            self._event(
                t1,
                rows.site[gone],
                "cleared",
                count[gone],
                np.exp(lnv[gone]) * CELLS_PER_MM3,
                rows.primary[gone],
            )
            rec[7] = int(count[gone].sum())
            count[gone] = 0

    def _dormancy(self, n: int, t1: float, rec: Ints) -> None:
        """Each avascular colony switches on angiogenesis, vanishes, or stays dormant."""
        p = self.params
        hazard = p.switch_rate + p.dormant_death_rate
        if not (n and hazard > 0):
            return
        dorm = _nz(~self.rows.vascular[:n])
        if not dorm.size:
            return
        p_event = -math.expm1(-hazard * self.dt)
        p_switch = p_event * p.switch_rate / hazard
        p_die = p_event * p.dormant_death_rate / hazard
        if p_switch > 0:
            self._switch(dorm, p_switch, t1, rec)
        if p_die > 0:
            count = self.rows.count  # _switch may have reallocated the columns
            c = count[dorm]
            died = self.rng.binomial(c, min(1.0, p_die / (1.0 - p_switch)))
            count[dorm] = c - died
            rec[6] = int(died.sum())

    def _switch(self, dorm: Ints, p_switch: float, t1: float, rec: Ints) -> None:
        """Switch dormant colonies on, exactly: independent Binomial(count, p) per row.

        Drawn per site as a total Binomial(N, p) split over the rows by a multivariate
        hypergeometric draw (same joint law, one draw per site when nothing switches);
        numpy's hypergeometric needs N < 1e9, so larger sites draw per row.
        """
        rng, rows, p = self.rng, self.rows, self.params
        sites = rows.site[dorm]
        c = rows.count[dorm]
        per_site = np.bincount(sites, weights=c, minlength=len(self.sites)).astype(np.int64)
        large = per_site >= _MVHG_LIMIT
        totals = rng.binomial(np.where(large, 0, per_site), p_switch)
        takes = []
        for s in _nz(large):
            r = dorm[sites == s]
            takes.append((r, rng.binomial(rows.count[r], p_switch)))
        for s in _nz(totals):
            r = dorm[sites == s]
            takes.append((r, rng.multivariate_hypergeometric(rows.count[r], int(totals[s]))))
        switched = 0
        for group, take in takes:
            sel = _nz(take)
            if not sel.size:
                continue
            r = group[sel]
            k = take[sel]
            switched += int(k.sum())
            rows.count[r] -= k
            lnk = rows.lnk[r].copy()
            if p.growth_model == "gompertz":
                lnk[:] = math.log(p.gompertz_capacity_cells / CELLS_PER_MM3)
            self._add(
                rows.site[r],
                count=k,
                lnv=rows.lnv[r].copy(),
                lnk=lnk,
                vascular=np.ones(r.size, bool),
                primary=np.zeros(r.size, bool),
                born=rows.born[r].copy(),
                detected=np.zeros(r.size, bool),
            )
            self._event(
                t1, rows.site[r], "angiogenic_switch", k, np.exp(rows.lnv[r]) * CELLS_PER_MM3, False
            )
        rec[5] = switched

    def _found(self, new_fates: Ints, t1: float) -> None:
        """Every colony and nodal fate founds an avascular tumour at its site."""
        hit = self.fate_founds[new_fates[self.fate_founds] > 0]
        if not hit.size:
            return
        p = self.params
        sites = self.fate_site[hit]
        k = hit.size
        self._add(
            sites,
            count=new_fates[hit],
            lnv=np.full(k, math.log(p.colony_cells / CELLS_PER_MM3)),
            lnk=np.full(k, math.log(p.avascular_limit_cells / CELLS_PER_MM3)),
            vascular=np.zeros(k, bool),
            primary=np.zeros(k, bool),
            born=np.full(k, t1),
            detected=np.zeros(k, bool),
        )
        self.log.add_founded(t1, sites, new_fates[hit])

    def _detect(self, t1: float) -> Floats:
        """Log tumours crossing the detection threshold; returns the cells of every row.

        An avascular colony cannot pass the threshold unless the avascular limit is
        above it.
        """
        rows, p = self.rows, self.params
        n = rows.n
        cells = np.exp(rows.lnv[:n]) * CELLS_PER_MM3
        cand = _nz(rows.vascular[:n]) if self._av_undetectable else np.arange(n)
        new = cand[
            (cells[cand] >= p.detection_cells) & ~rows.detected[cand] & (rows.count[cand] > 0)
        ]
        if new.size:
            rows.detected[new] = True
            self._event(
                t1, rows.site[new], "detectable", rows.count[new], cells[new], rows.primary[new]
            )
        return cells

    def _record(self, i: int, cells: Floats | None = None) -> None:
        rows = self.rows
        n = rows.n
        if cells is None:
            cells = np.exp(rows.lnv[:n]) * CELLS_PER_MM3
        c = rows.count[:n]
        site = rows.site[:n]
        ns = len(self.sites)
        alive = c > 0
        st = self.records.stats[i]
        st[0] = np.bincount(site, weights=c, minlength=ns)
        st[1] = np.bincount(site, weights=c * rows.vascular[:n], minlength=ns)
        st[2] = np.bincount(site, weights=c * cells, minlength=ns)
        big = np.zeros(ns)
        np.maximum.at(big, site[alive], cells[alive])
        st[3] = big
        self._record_stages(i, site, c, cells)
        if i > 0:
            prim = rows.primary[:n] & alive
            pc = float((cells[prim] * c[prim]).sum())
            self.records.daily_cells[i - 1] = pc, float(st[2].sum()) - pc

    def _record_stages(self, i: int, site: Ints, c: Ints, cells: Floats) -> None:
        """Per-site counts by stage (:data:`~circnet._rows.STAGE_STATS`) at record ``i``."""
        rows = self.rows
        n = rows.n
        ns = len(self.sites)
        vas, prim = rows.vascular[:n], rows.primary[:n]
        # 0 dormant disseminated cell, 1 avascular micrometastasis, 2 vascular metastasis,
        # 3 the primary
        stage = np.where(vas, 2 + prim, (cells >= self.dormant_below_cells).astype(np.int64))
        at = site * 4 + stage
        number = np.bincount(at, weights=c, minlength=4 * ns).reshape(ns, 4)
        mass = np.bincount(at, weights=c * cells, minlength=4 * ns).reshape(ns, 4)
        seen = (cells >= self.params.detection_cells) & ~prim
        sg = self.records.stages[i]
        sg[0] = number[:, 0]
        sg[1] = number[:, 1]
        sg[2] = mass[:, 1]
        sg[3] = number[:, 2]
        sg[4] = mass[:, 2]
        sg[5] = np.bincount(site, weights=c * seen, minlength=ns)
        sg[6] = mass[:, 3]

    # ------------------------------------------------------------------ run
    def run(
        self, last: int, save: Callable[[], None] | None = None, every: int | None = None
    ) -> None:
        """Advance to step ``last`` (at most ``n_steps``); ``save()`` every ``every`` steps."""
        last = min(last, self.n_steps)
        while self.step < last:
            self.advance()
            if save is not None and every and self.step % every == 0:
                save()
