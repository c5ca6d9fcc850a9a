"""The batched cohort engine: many virtual patients at once, exact in continuous time.

:func:`run_chunk` advances a chunk of patients together (arrays over patients, source
tumours and colonies) under the laws of :mod:`circnet._clinical`, the same laws as the
single course of :mod:`circnet._day`. It is event driven: nothing is stepped day by day.

The model, per patient (vectorised over the chunk):

* the **primary** grows by the closed-form Gompertz law from ``start_cells`` at day 0;
  it reaches the patient's size at diagnosis on the first whole day ``d_P`` (the daily
  grid of the single course); with surgery it sheds on ``[0, d_P]``, untreated on
  ``[0, H]`` (``H`` = diagnosis + follow-up);
* **diagnosis by symptoms** (law 3): after generation 0, a patient whose distant
  colonies of generation 0 hold ``symptomatic_burden_cells`` on a day ``d_S < d_P`` is
  diagnosed on ``d_S`` (:func:`_symptoms`; :func:`circnet._cohort_outcomes.symptom_day`),
  else on ``d_D = d_P``. Such a patient keeps the primary: with surgery, the primary's
  shedding after ``d_P`` is a further source, over the disjoint window ``[d_P, H]``,
  drawn with generation 1 (its colonies carry generation 1: ``generation`` is the
  round of the engine that drew a colony). The follow-up counts from the diagnosis day,
  and the tallies by diagnosis are taken at ``d_S`` (between grid points, ``lambda``
  and ``m`` linear there);
* **shed cells** take the transport model's fates (:meth:`TransportModel.fate_table` of
  every site, computed once per primary): dead, a colony in an organ, or a cell in a
  lymph-node group. Cells shed at rate ``lambda(t)`` by a source form a Poisson process,
  so (thinning) the cells reaching each fate are independent Poisson processes;
* a **dormant disseminated cell** awakens at ``awakening_rate`` times the tropism factor
  of its organ or node group (``ClinicalParams.tropism``, a calibrated seed-and-soil
  factor, 1 unless set; organs are grouped by factor, one dormancy grid per group, so
  factor 1 everywhere gives the same patients as no tropism); in an organ it dies at
  ``dormant_death_rate``, in a lymph node instead by immune kill at
  ``nodal_kill_rate / (1 + n / saturation)`` (``n``: dormant cells there). The expected
  number of dormant cells ``m(t)`` from one source solves
  ``dm/dt = lambda(t) - kappa(t) m``, and the awakenings are a Poisson process of
  intensity ``awakening_rate * m(t)`` (marking theorem: each cell's fate is independent
  of the others). ``m`` is integrated on a per-patient grid of ``2 * grid`` intervals
  (``grid`` before diagnosis, ``grid`` after) by the exponential integrator that is
  exact for ``lambda`` linear between grid points; awakening times are drawn by
  inverting the cumulative intensity (exact for ``m`` linear between grid points; both
  in :mod:`circnet._cohort_dormancy`);
* each **awakened cell** is an avascular micrometastasis of one cell growing by the
  Gompertz law at its own rate (``metastasis_rate``) up to ``avascular_limit_cells``,
  which it reaches after a closed-form time; it then switches on angiogenesis after an
  exponential time (``switch_rate``) and grows on as a **vascular metastasis**; the days
  it becomes detectable (``detection_cells``) and node-positive
  (``node_positive_cells``) follow in closed form;
* vascular metastases **shed** in turn: generation ``g + 1`` of colonies is seeded by
  the vascular metastases of generation ``g`` (at most :data:`MAX_GENERATIONS`; at most
  :data:`MAX_COLONIES_PER_PATIENT` colonies per patient);
* colonies in the regional lymph-node groups of an operated patient that awaken after
  the diagnosis day are dropped (dissected; a restriction of their Poisson process to
  the days before, exact in law), and those nodes' metastases stop shedding then;
* **death** (law 8 of :mod:`circnet._clinical`): the first whole day after diagnosis on
  which the total burden (primary while in place, micrometastases, vascular
  metastases) reaches ``lethal_burden_cells``, found by bisection on the daily grid
  (:func:`circnet._cohort_outcomes.death_day`; the burden does not decrease after
  diagnosis). After each generation the death day is recomputed from every colony
  found so far (an upper bound, since later generations only add burden) and the
  patient's horizon is cut to it: the next generation sheds and awakens only up to it.
  Colonies awakened after the final death day are dropped. Every patient is followed
  to its death or the end of its follow-up (``follow_all`` is kept for compatibility
  and changes nothing: the death day needs every colony up to it).

Why the horizon matters for exactness: the number of colonies a source makes up to the
horizon ``s`` is a Poisson draw of mean ``Lambda(s)`` and their times are found by
inverting ``u Lambda(s)``, so the same uniform numbers give other colonies for another
horizon. The horizon of each generation is therefore a function of the patient's own
draws only (its death day and follow-up), never of how it is run; a patient's colonies
are put in one canonical order (patient, awakening, site) after each generation so
that every sum over them is bit-identical alone or in any batch.

Approximations beyond the grid: the saturating nodal kill uses the expected number of
dormant cells the primary puts in the node group (mean field; thousands to millions of
cells, so the relative noise is below a per cent); a metastasis's shedding starts at the
first grid point after its switch.

Conservation, per patient, in integers, by diagnosis: ``shed = dead + colonies +
nodal`` and ``colonies + nodal = dormant + died + awakened``; each term is an
independent Poisson count of the marked process (exact in law), and ``awakened`` is the
number of colonies listed. Random numbers come from :mod:`circnet._cohort_random` (one
counter-based stream per patient: a patient's course is the same alone, in any batch,
on any worker).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from ._clinical import (
    ClinicalParams,
    _draw,
    gompertz_cells,
    gompertz_time,
    metastasis_rate,
)
from ._cohort_dormancy import (
    _cum_at,
    _cumulative,
    _dormant,
    _integral_at,
    _invert,
    _linear_at,
)
from ._cohort_outcomes import PATIENT, death_day, outcomes, symptom_day
from ._cohort_plan import Plan, make_plan
from ._cohort_random import patient_keys, poisson_inverse, uniforms

__all__ = [
    "MAX_GENERATIONS",
    "MAX_COLONIES_PER_PATIENT",
    "Plan",
    "make_plan",
    "patient_keys",
    "run_chunk",
]

#: Generations of colonies followed (primary seeds generation 0).
MAX_GENERATIONS = 12
#: Work arrays hold about this many numbers (grid points x rows) at a time.
_CELLS = 2_000_000
#: Most colonies followed per patient (the cap holds). In the generation that would pass
#: it, the patient keeps its earliest-awakening colonies up to the cap; its later ones
#: are dropped and its colonies seed no further generation (its row says
#: ``colonies_cut``; its burden is then a lower bound and its death day an upper bound).
MAX_COLONIES_PER_PATIENT = 2_000
# purposes (third counter word); the second names the generation / source / class
_COUNT, _EVENT = 2, 3


# ============================================================================ a chunk
def _grid(d_day: np.ndarray, end: np.ndarray, n: int) -> np.ndarray:
    """Per-patient grid (``(2n+1) x B``): ``n`` intervals to diagnosis, ``n`` after."""
    f = np.linspace(0.0, 1.0, n + 1)[:, None]
    before = f * d_day
    after = d_day + f[1:] * (end - d_day)
    return np.concatenate([before, after], axis=0)


def _sizes(t: np.ndarray, t0: np.ndarray, n0: Any, rate: np.ndarray, k: float) -> np.ndarray:
    return np.asarray(gompertz_cells(np.maximum(t - t0, 0.0), n0, rate, k))


def run_chunk(plan: Plan, keys: np.ndarray) -> dict[str, Any]:
    """Simulate the patients of ``keys`` (one row each); per-patient arrays and colonies.

    Returns a dict: ``patients`` (column -> array over the chunk), ``colonies`` (column ->
    array over every awakened colony, ``patient`` = row in the chunk) and
    ``generations`` (the largest generation reached).
    """
    cp, n = plan.cp, keys.shape[0]
    rows = np.arange(n)
    lim = cp.avascular_limit_cells
    u_pat = uniforms(keys, 1, 0, 0, PATIENT)
    draw = _draw(cp, special.ndtri(u_pat[:, 0]), special.ndtri(u_pat[:, 1]))
    rate = np.asarray(draw.rate, float)
    d_day = np.maximum(np.ceil(np.asarray(draw.diagnosis_day, float)), 1.0)
    end = d_day + plan.follow_up
    t = _grid(d_day, end, plan.grid)  # G x B
    h = np.diff(t, axis=0)
    nodes = np.arange(plan.n_organs, len(plan.sites))
    # sources of generation 0: the primary
    src = {
        "patient": rows,
        "site": np.full(n, plan.primary),
        "born": np.zeros(n),
        "t0": np.zeros(n),
        "n0": np.full(n, cp.start_cells),
        "rate": rate,
        "t1": d_day if plan.surgery else end,
    }
    tot = {
        k: np.zeros(n)
        for k in ("shed", "dead", "org", "node", "org_wake", "node_wake", "org_diag", "node_diag")
    }
    stop = end.copy()
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("patient", "generation", "site", "awakened", "rate", "switch")
    }
    gen = 0
    found = np.zeros(n, dtype=np.int64)
    cut = np.zeros(n, dtype=bool)
    death = np.full(n, np.inf)
    operated = np.full(n, plan.surgery)
    d_primary, extend = d_day, np.zeros(n, dtype=bool)
    ctx0 = (plan, keys, t, h, rate, d_day, src)
    kill_grid = np.zeros((t.shape[0], n * nodes.size))  # nodal kill, mean field
    while src["patient"].size and gen < MAX_GENERATIONS:
        key = src["patient"] * len(plan.sites) + src["site"]
        order = np.argsort(key, kind="stable")
        src = {k: v[order] for k, v in src.items()}
        pairs, first, inv = np.unique(key[order], return_index=True, return_inverse=True)
        width = max(1, _CELLS // (t.shape[0] * nodes.size))
        new_parts = []
        for lo in range(0, pairs.size, width):
            hi = min(lo + width, pairs.size)
            s_lo = first[lo]
            s_hi = first[hi] if hi < pairs.size else key.size
            part = {k: v[s_lo:s_hi] for k, v in src.items()}
            ctx = (plan, keys, gen, t, h, tot, kill_grid, rate, stop, d_day)
            new_parts.append(_pairs(ctx, pairs[lo:hi], part, inv[s_lo:s_hi] - lo))
        new = {k: np.concatenate([p[k] for p in new_parts]) for k in new_parts[0]}
        # one order whatever the batch: sums over a patient's colonies are bit-identical
        order = np.lexsort((new["site"], new["awakened"], new["patient"]))
        new = {k: v[order] for k, v in new.items()}
        if gen == 0:  # diagnosis by symptoms of the primary's own distant metastases
            d_day, operated, extend = _symptoms(ctx0, new, tot, kill_grid)
            end = d_day + plan.follow_up  # the follow-up counts from diagnosis
            stop = np.minimum(stop, end)
            new = {k: v[new["awakened"] <= stop[new["patient"]]] for k, v in new.items()}
        if plan.removed is not None and plan.removed.any():  # dissected at diagnosis
            gone = operated[new["patient"]] & plan.removed[new["site"]]
            gone &= new["awakened"] > d_day[new["patient"]]
            new = {k: v[~gone] for k, v in new.items()}
        # the cap holds: a patient keeps its earliest-awakening colonies up to the cap
        per = np.bincount(new["patient"], minlength=n)
        rank = np.arange(new["patient"].size) - (np.cumsum(per) - per)[new["patient"]]
        room = MAX_COLONIES_PER_PATIENT - found
        cut |= per > room
        fits = rank < room[new["patient"]]
        new = {k: v[fits] for k, v in new.items()}
        found += np.bincount(new["patient"], minlength=n)
        for k in cols:
            cols[k].append(new[k])
        # death (law 8) from every colony found so far: an upper bound of the death day
        # until the last generation; nothing is shed, awakens or is detected after it
        so_far = {k: _cat(v, k) for k, v in cols.items()}
        death = death_day(plan, so_far, d_day, rate, stop, operated)
        stop = np.minimum(stop, death)
        own_stop = stop[new["patient"]]
        if plan.removed is not None and plan.removed.any():  # dissected nodes stop shedding
            gone = operated[new["patient"]] & plan.removed[new["site"]]
            own_stop = np.where(gone, np.minimum(own_stop, d_day[new["patient"]]), own_stop)
        vascular = (new["switch"] < own_stop) & ~cut[new["patient"]]
        who = new["patient"][vascular]
        src = {
            "patient": who,
            "site": new["site"][vascular],
            "born": new["switch"][vascular],
            "t0": new["switch"][vascular],
            "n0": np.full(who.size, lim),
            "rate": new["rate"][vascular],
            "t1": own_stop[vascular],
        }
        if gen == 0 and extend.any():  # a primary left in place sheds on after its old day
            who = np.flatnonzero(extend & (stop > d_primary))
            more = {
                "patient": who,
                "site": np.full(who.size, plan.primary),
                "born": np.zeros(who.size),
                "t0": d_primary[who],
                "n0": np.full(who.size, cp.start_cells),
                "rate": rate[who],
                "t1": stop[who],
            }
            src = {k: np.concatenate([src[k], more[k]]) for k in src}
        gen += 1
    col = {k: _cat(v, k) for k, v in cols.items()}
    keep = col["awakened"] <= stop[col["patient"]]
    col = {k: v[keep] for k, v in col.items()}
    return {
        "patients": {
            **outcomes(plan, keys, draw, d_day, end, col, tot, death, operated, d_primary),
            "followed_to_day": stop,
            "colonies_cut": cut,
        },
        "colonies": col,
        "generations": gen,
        "truncated": bool(src["patient"].size) or bool(cut.any()),
    }


def _shedding(
    part: dict[str, np.ndarray], inv: np.ndarray, n_pairs: int, t: np.ndarray, cp: ClinicalParams
) -> tuple[np.ndarray, np.ndarray]:
    """Shedding rates just after / before each grid point, summed per pair (``G x pairs``)."""
    g = t.shape[0]
    lam_r = np.zeros((n_pairs, g))
    lam_l = np.zeros((n_pairs, g))
    step = max(1, _CELLS // g)
    for lo in range(0, inv.size, step):
        sl = slice(lo, lo + step)
        tt = t[:, part["patient"][sl]]
        t0, t1 = part["t0"][sl], part["t1"][sl]
        size = _sizes(tt, part["born"][sl], part["n0"][sl], part["rate"][sl], cp.ceiling_cells)
        size *= cp.shedding_per_cell_day
        np.add.at(lam_r, inv[sl], (size * ((tt >= t0) & (tt < t1))).T)
        np.add.at(lam_l, inv[sl], (size * ((tt > t0) & (tt <= t1))).T)
    return lam_r.T.copy(), lam_l.T.copy()


def _pairs(
    ctx: tuple[Any, ...],
    pairs: np.ndarray,
    part: dict[str, np.ndarray],
    inv: np.ndarray,
    tally_only: bool = False,
) -> dict[str, Any]:
    """One block of (patient, source site) pairs of a generation: dormancy and awakenings.

    The tallies by diagnosis (``tot``) are taken at each patient's diagnosis day
    ``d_day``: on the grid's diagnosis point, or between grid points (``lambda`` and
    ``m`` linear there) for a patient diagnosed by symptoms. ``tally_only``: only the
    tallies (no awakenings, the nodal mean-field kill grid left as it is).
    """
    plan, keys, gen, t, h, tot, kill_grid, rate, stop, d_day = ctx
    cp, ns = plan.cp, len(plan.sites)
    p_pat, p_site = pairs // ns, pairs % ns
    organs, nodes = np.arange(plan.n_organs), np.arange(plan.n_organs, ns)
    alpha = cp.awakening_rate
    lam_r, lam_l = _shedding(part, inv, pairs.size, t, cp)
    hp, tp = h[:, p_pat], t[:, p_pat]
    g = plan.grid
    every = np.arange(pairs.size)
    at = d_day[p_pat].astype(float)  # the tallies are by each patient's diagnosis day
    on_grid = at == tp[g]
    shed = (0.5 * hp[:g] * (lam_r[:g] + lam_l[1 : g + 1])).sum(axis=0)  # by diagnosis
    if not on_grid.all():
        shed = np.where(on_grid, shed, _integral_at(lam_r, lam_l, hp, tp, at))

    def by_diagnosis(m: np.ndarray, cum: np.ndarray, rows: np.ndarray) -> tuple[Any, Any]:
        """``m`` and its integral at the diagnosis day of each row."""
        if on_grid[rows].all():
            return m[g], cum[g]
        x = at[rows]
        m_at = np.where(on_grid[rows], m[g], _linear_at(m, hp[:, rows], tp[:, rows], x))
        c_at = _cum_at(cum, m, hp[:, rows], tp[:, rows], np.arange(rows.size), x)
        return m_at, np.where(on_grid[rows], cum[g], c_at)

    pi_org = plan.dest[p_site][:, organs].sum(axis=1)
    _add(tot, p_pat, shed=shed, dead=plan.dead[p_site] * shed, org=pi_org * shed)
    blocks = []
    groups = plan.organ_groups or ((0, 1.0, organs),)
    for cls, factor, group in groups:  # organs by tropism factor: own awakening rate
        a = alpha * factor
        m = _dormant(lam_r, lam_l, hp, cp.dormant_death_rate + a)
        cum = _cumulative(m, hp)  # integral of m; awakenings are ``a`` times it
        c_stop = _cum_at(cum, m, hp, tp, every, stop[p_pat])
        pi = plan.dest[p_site][:, group].sum(axis=1)
        m_d, c_d = by_diagnosis(m, cum, every)
        _add(tot, p_pat, org_wake=a * pi * c_d, org_diag=pi * m_d)
        blocks.append((cls, a * pi * c_stop, every, every, (m, cum, hp, tp, c_stop), group))
    # nodes: one row per (pair, node group); no death there but the immune kill
    ng = nodes.size
    share = plan.dest[p_site][:, nodes].ravel()  # rows: (pair, node group)
    r_pair = np.repeat(every, ng)
    lr, ll, hn = lam_r[:, r_pair] * share, lam_l[:, r_pair] * share, hp[:, r_pair]
    where = p_pat[r_pair] * ng + np.tile(np.arange(ng), pairs.size)
    node_alpha = plan.node_awakening
    a_rows = np.tile(node_alpha, pairs.size)  # awakening rate of each row (tropism)
    if gen == 0:  # mean-field kill from the primary's own seeding
        mn = _dormant(lr, ll, hn, a_rows, (cp.nodal_kill_rate, cp.nodal_kill_saturation))
        if not tally_only:
            kill_grid[:, where] = cp.nodal_kill_rate / (1.0 + mn / cp.nodal_kill_saturation)
    else:
        mn = _dormant(lr, ll, hn, a_rows, kill_grid[:, where])
    cn = _cumulative(mn, hn)
    tn = tp[:, r_pair]
    mn_d, cn_d = by_diagnosis(mn, cn, r_pair)
    _add(tot, p_pat[r_pair], node=share * shed[r_pair], node_wake=a_rows * cn_d, node_diag=mn_d)
    if tally_only:
        return {}
    # colonies in dissected nodes awakened after diagnosis are dropped by the caller
    # (whether a patient is operated is known only after generation 0)
    cn_stop = _cum_at(cn, mn, hn, tn, np.arange(r_pair.size), stop[p_pat[r_pair]])
    grids = (mn, cn, hn, tn, cn_stop)
    for j in range(ng):
        col = every * ng + j
        blocks.append((2 + j, node_alpha[j] * cn_stop[col], every, col, grids, nodes[j : j + 1]))
    return _awaken(plan, keys, gen, p_pat, p_site, blocks, rate)


def _add(tot: dict[str, np.ndarray], who: np.ndarray, **values: np.ndarray) -> None:
    for k, v in values.items():
        np.add.at(tot[k], who, v)


def _awaken(
    plan: Plan,
    keys: np.ndarray,
    gen: int,
    p_pat: np.ndarray,
    p_site: np.ndarray,
    blocks: list[Any],
    rate: np.ndarray,
) -> dict[str, np.ndarray]:
    """Awakened colonies of one generation: counts, sites, times, rates, switch days.

    A block is ``(class, mean count per row, pair of each row, its column in the grids,
    (m, cumulative, h, t) grids, destination sites)``.
    """
    cp = plan.cp
    names = ("patient", "generation", "site", "awakened", "rate", "switch")
    out: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for cls, mean, pair, column, (m, cum, hg, tg, c_stop), dest_sites in blocks:
        pat, src_site = p_pat[pair], p_site[pair]
        stream = src_site * 32 + cls
        count = poisson_inverse(uniforms(keys[pat], 1, stream, gen, _COUNT)[:, 0], mean)
        if not count.any():
            continue
        owner = np.repeat(np.arange(count.size), count)
        index = np.arange(owner.size) - (np.cumsum(count) - count)[owner]
        pe = pat[owner]
        ue = uniforms(keys[pe], index + 1, stream[owner], gen, _EVENT)
        # destination among the class's sites, in proportion to the fates
        site = np.empty(owner.size, dtype=np.int64)
        for s in np.unique(src_site[owner]):
            here = src_site[owner] == s
            cdf = np.cumsum(plan.dest[s, dest_sites])
            pick = np.searchsorted(cdf, ue[here, 0] * cdf[-1], side="right")
            site[here] = dest_sites[np.minimum(pick, dest_sites.size - 1)]
        col = column[owner]
        when = _invert(cum, m, hg, tg, col, ue[:, 1] * c_stop[col])
        r = metastasis_rate(rate[pe], cp, special.ndtri(ue[:, 2]), site >= plan.n_organs)
        t_lim = gompertz_time(1.0, cp.avascular_limit_cells, r, cp.ceiling_cells)
        with np.errstate(divide="ignore"):
            wait = -np.log(ue[:, 3]) / cp.switch_rate if cp.switch_rate > 0 else np.inf
        values = (pe, np.full(pe.size, gen), site, when, r, when + t_lim + wait)
        for k, v in zip(names, values, strict=True):
            out[k].append(np.asarray(v))
    return {k: _cat(v, k) for k, v in out.items()}


def _cat(parts: list[np.ndarray], name: str) -> np.ndarray:
    """Concatenate colony columns (integers for patient, generation and site)."""
    kind = np.int64 if name in ("patient", "generation", "site") else np.float64
    return np.concatenate(parts).astype(kind) if parts else np.zeros(0, dtype=kind)


# ============================================================================ symptoms
def _symptoms(
    ctx0: tuple[Any, ...],
    first: dict[str, np.ndarray],
    tot: dict[str, np.ndarray],
    kill_grid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diagnosis by symptoms (law 3 of :mod:`circnet._clinical`), after generation 0.

    ``first``: the colonies of generation 0 (the primary's own). A patient whose distant
    metastases (colonies in organs other than the primary's) hold
    ``symptomatic_burden_cells`` before the primary reaches its size at diagnosis is
    diagnosed that day, with metastatic disease: the primary stays (no curative
    surgery), so with surgery it sheds on after the day it would have been removed (a
    new source over a disjoint window, returned as ``extend``). Returns the diagnosis
    day, whether the primary is removed at diagnosis and ``extend``. The tallies by
    diagnosis of generation 0 (``tot``, so far only generation 0's) are taken again at
    the new day for those patients.

    Exact in law: the diagnosis day depends only on colonies awakened before it (a
    stopping time of their process), generation 0 was drawn with the primary in place
    up to its old day, and independent Poisson increments make the later window a
    source of its own.
    """
    plan, keys, t, h, rate, d_day, src = ctx0
    n, ns = d_day.size, len(plan.sites)
    operated = np.full(n, plan.surgery)
    day = symptom_day(plan, first, d_day)
    symp = day < d_day
    if not symp.any():
        return d_day, operated, np.zeros(n, dtype=bool)
    new_day = np.where(symp, day, d_day)
    who = np.flatnonzero(symp)
    fresh = {k: np.zeros(n) for k in tot}
    ctx = (plan, keys, 0, t, h, fresh, kill_grid, rate, np.full(n, np.inf), new_day)
    width = max(1, _CELLS // (t.shape[0] * max(1, ns - plan.n_organs)))
    for lo in range(0, who.size, width):
        rows = who[lo : lo + width]
        part = {k: v[rows] for k, v in src.items()}
        _pairs(ctx, rows * ns + plan.primary, part, np.arange(rows.size), tally_only=True)
    for k in tot:
        tot[k][who] = fresh[k][who]
    return new_day, operated & ~symp, symp & plan.surgery
