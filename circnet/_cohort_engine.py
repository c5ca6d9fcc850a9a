"""The batched cohort engine: many virtual patients at once, exact in continuous time.

:func:`run_chunk` advances a chunk of patients together (arrays over patients, source
tumours and colonies) under the laws of :mod:`circnet._clinical`, the same laws as the
single course of :mod:`circnet._day`. It is event driven: nothing is stepped day by day.

The model, per patient (vectorised over the chunk):

* the **primary** grows by the closed-form Gompertz law from ``start_cells`` at day 0;
  diagnosis at the first whole day ``d_D`` on which it has reached the patient's size at
  diagnosis (the daily grid of the single course); with surgery it sheds on
  ``[0, d_D]``, untreated on ``[0, H]`` (``H`` = ``d_D`` + follow-up);
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

from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
from scipy import special

from ._clinical import (
    ClinicalParams,
    _draw,
    gompertz_cells,
    gompertz_time,
    metastasis_rate,
)
from ._cohort_dormancy import _cum_at, _cumulative, _dormant, _invert
from ._cohort_outcomes import PATIENT, death_day, outcomes
from ._cohort_random import patient_keys, poisson_inverse, uniforms
from .errors import ParameterError, UnknownNameError
from .states import DEAD
from .transport import TransportModel

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
#: classes of colonies per source site in a stream: 0 organs (factor 1), 2.. node
#: groups, 31, 30, ... organs with another tropism factor
_CLASSES = 32


# ============================================================================ the plan
@dataclass(frozen=True)
class Plan:
    """What every chunk of one cohort shares (built once per primary).

    ``dest[s, k]``: probability that a cell shed at site ``s`` becomes a colony (an
    organ ``k``) or a nodal cell (a node group ``k``); ``dead[s]``: that it dies in
    transport. Sites are the model's organs, then its lymph-node groups.
    """

    cp: ClinicalParams
    sites: tuple[str, ...]
    n_organs: int
    primary: int
    dest: np.ndarray
    dead: np.ndarray
    surgery: bool
    follow_up: float
    grid: int
    follow_all: bool = False
    #: sites removed with the primary at surgery (its regional lymph-node groups when the
    #: nodes are dissected): cells and colonies there are gone from the diagnosis day on
    removed: np.ndarray | None = None
    #: organs grouped by their tropism factor: ``(class, factor, organ indices)``; the
    #: organs of factor 1 are class 0 (one group of every organ without tropism)
    organ_groups: tuple[tuple[int, float, np.ndarray], ...] = ()
    #: tropism factor of each lymph-node group (None: all 1)
    node_tropism: np.ndarray | None = None


def make_plan(
    model: TransportModel,
    primary: str,
    cp: ClinicalParams,
    *,
    surgery: bool,
    follow_up: float,
    grid: int,
    follow_all: bool = False,
    node_dissection: bool = True,
) -> Plan:
    """The fate matrix of every site (one factorisation) and the settings of a cohort.

    With ``surgery`` and ``node_dissection``, the primary's regional lymph-node groups
    (those its tissue drains to first) are removed with it at diagnosis. The sites of
    ``cp.tropism`` must be organs or lymph-node groups of the model
    (:class:`UnknownNameError` names one that is not).
    """
    sites = tuple(model.organs) + tuple(model.lymph_nodes)
    groups = _organ_groups(cp, sites, len(model.organs))
    index = {s: i for i, s in enumerate(sites)}
    table = model.fate_table(list(sites)).to_numpy(dtype=float)
    table = np.maximum(table, 0.0)
    table /= table.sum(axis=1, keepdims=True)
    space = model.state_space
    at = space.fate_sites()
    fate_site = np.array([-1 if at[f] is None else index[str(at[f])] for f in space.fates])
    dead_col = space.positions(DEAD) - space.n_transient
    dest = np.zeros((len(sites), len(sites)))
    for j, k in enumerate(fate_site):
        if k >= 0:
            dest[:, k] += table[:, j]
    removed = np.zeros(len(sites), dtype=bool)
    if surgery and node_dissection:
        g = model.body
        kinds = nx.get_node_attributes(g, "kind")
        for tissue, d in g.nodes(data=True):
            if d.get("kind") == "tissue" and d.get("organ") == primary:
                for v in g.successors(tissue):
                    if kinds.get(v) == "lymph_node" and str(v) in index:
                        removed[index[str(v)]] = True
    return Plan(
        cp=cp,
        sites=sites,
        n_organs=len(model.organs),
        primary=index[primary],
        dest=dest,
        dead=table[:, dead_col].sum(axis=1),
        surgery=surgery,
        follow_up=follow_up,
        grid=grid,
        follow_all=follow_all,
        removed=removed,
        organ_groups=groups,
        node_tropism=np.array([cp.tropism_factor(v) for v in model.lymph_nodes]),
    )


def _organ_groups(
    cp: ClinicalParams, sites: tuple[str, ...], n_organs: int
) -> tuple[tuple[int, float, np.ndarray], ...]:
    """Organs grouped by tropism factor; class 0 for factor 1, then 31, 30, ... down."""
    organs, n_nodes = sites[:n_organs], len(sites) - n_organs
    unknown = sorted(set(cp.tropism) - set(sites))
    if unknown:
        raise UnknownNameError(
            f"`tropism` names {unknown[0]!r}, which is not an organ or lymph-node group of "
            f"the model (organs: {', '.join(organs)}; lymph-node groups: "
            f"{', '.join(sites[len(organs) :])})"
        )
    factor = np.array([cp.tropism_factor(o) for o in organs])
    values = sorted(set(factor.tolist()), key=lambda v: (v != 1.0, v))
    others = [v for v in values if v != 1.0]
    if len(others) > _CLASSES - 2 - n_nodes:
        raise ParameterError(
            f"`tropism` has {len(others)} distinct factors other than 1; at most "
            f"{_CLASSES - 2 - n_nodes} with {n_nodes} lymph-node groups"
        )
    classes = {1.0: 0} | {v: _CLASSES - 1 - k for k, v in enumerate(others)}
    return tuple((classes[v], float(v), np.flatnonzero(factor == v)) for v in values)


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
        death = death_day(plan, so_far, d_day, rate, stop)
        stop = np.minimum(stop, death)
        own_stop = stop[new["patient"]]
        if plan.removed is not None and plan.removed.any():  # dissected nodes stop shedding
            own_stop = np.where(
                plan.removed[new["site"]], np.minimum(own_stop, d_day[new["patient"]]), own_stop
            )
        vascular = (new["switch"] < own_stop) & ~cut[new["patient"]]
        who = new["patient"][vascular]
        src = {
            "patient": who,
            "site": new["site"][vascular],
            "t0": new["switch"][vascular],
            "n0": np.full(who.size, lim),
            "rate": new["rate"][vascular],
            "t1": own_stop[vascular],
        }
        gen += 1
    col = {k: _cat(v, k) for k, v in cols.items()}
    keep = col["awakened"] <= stop[col["patient"]]
    col = {k: v[keep] for k, v in col.items()}
    return {
        "patients": {
            **outcomes(plan, keys, draw, d_day, end, col, tot, death),
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
        size = _sizes(tt, t0, part["n0"][sl], part["rate"][sl], cp.ceiling_cells)
        size *= cp.shedding_per_cell_day
        np.add.at(lam_r, inv[sl], (size * ((tt >= t0) & (tt < t1))).T)
        np.add.at(lam_l, inv[sl], (size * ((tt > t0) & (tt <= t1))).T)
    return lam_r.T.copy(), lam_l.T.copy()


def _pairs(
    ctx: tuple[Any, ...], pairs: np.ndarray, part: dict[str, np.ndarray], inv: np.ndarray
) -> dict[str, np.ndarray]:
    """One block of (patient, source site) pairs of a generation: dormancy and awakenings."""
    plan, keys, gen, t, h, tot, kill_grid, rate, stop, d_day = ctx
    cp, ns = plan.cp, len(plan.sites)
    p_pat, p_site = pairs // ns, pairs % ns
    organs, nodes = np.arange(plan.n_organs), np.arange(plan.n_organs, ns)
    alpha = cp.awakening_rate
    lam_r, lam_l = _shedding(part, inv, pairs.size, t, cp)
    hp, tp = h[:, p_pat], t[:, p_pat]
    g = plan.grid
    shed = (0.5 * hp[:g] * (lam_r[:g] + lam_l[1 : g + 1])).sum(axis=0)  # by diagnosis
    every = np.arange(pairs.size)
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
        _add(tot, p_pat, org_wake=a * pi * cum[g], org_diag=pi * m[g])
        blocks.append((cls, a * pi * c_stop, every, every, (m, cum, hp, tp, c_stop), group))
    # nodes: one row per (pair, node group); no death there but the immune kill
    ng = nodes.size
    share = plan.dest[p_site][:, nodes].ravel()  # rows: (pair, node group)
    r_pair = np.repeat(every, ng)
    lr, ll, hn = lam_r[:, r_pair] * share, lam_l[:, r_pair] * share, hp[:, r_pair]
    where = p_pat[r_pair] * ng + np.tile(np.arange(ng), pairs.size)
    node_alpha = alpha * (np.ones(ng) if plan.node_tropism is None else plan.node_tropism)
    a_rows = np.tile(node_alpha, pairs.size)  # awakening rate of each row (tropism)
    if gen == 0:  # mean-field kill from the primary's own seeding
        mn = _dormant(lr, ll, hn, a_rows, (cp.nodal_kill_rate, cp.nodal_kill_saturation))
        kill_grid[:, where] = cp.nodal_kill_rate / (1.0 + mn / cp.nodal_kill_saturation)
    else:
        mn = _dormant(lr, ll, hn, a_rows, kill_grid[:, where])
    cn = _cumulative(mn, hn)
    tn = tp[:, r_pair]
    n_stop = stop[p_pat[r_pair]]
    if plan.removed is not None and plan.removed[nodes].any():  # dissected at diagnosis
        gone = np.tile(plan.removed[nodes], pairs.size)
        n_stop = np.where(gone, np.minimum(n_stop, d_day[p_pat[r_pair]]), n_stop)
    cn_stop = _cum_at(cn, mn, hn, tn, np.arange(r_pair.size), n_stop)
    _add(tot, p_pat[r_pair], node=share * shed[r_pair], node_wake=a_rows * cn[g], node_diag=mn[g])
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
        r = metastasis_rate(rate[pe], cp, special.ndtri(ue[:, 2]))
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
