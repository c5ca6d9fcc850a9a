"""Large synthetic absorbing chains for the transport benchmarks.

Two generators, both returning a :class:`SyntheticChain` (a sparse generator in the
layout :class:`circnet.AbsorbingChain` expects: transient states first, then the
absorbing fates, rows summing to zero, absorbing rows zero):

:func:`capillary_tree_body`
    The default body (:func:`circnet.default_body`) with each organ's capillary bed
    refined into vessel segments. The pools (venous return, right heart, left heart,
    portal vein) and their flows are kept; every organ bed becomes a ``branching``-ary
    arterial tree whose leaves are capillary segments, drained by a mirrored venous tree
    (each capillary drains mostly into its own venule and partly into the next one, a
    capillary mesh). A capillary segment arrests the cell with the organ's lodging
    probability per passage (:meth:`circnet.TransportModel.lodging_table`); a lodged cell
    extravasates into one tissue region of its organ or dies; a region's cells found a
    colony (fate ``colony:<organ>:<region>``) or die (fate ``dead``). Transit states die
    at the blood death rate. Residence times: pools keep ``volume / flow``; a bed's
    ``volume / flow`` is shared among the segments of an artery-capillary-vein path,
    jittered. Flows split between sibling branches with random shares. Lymph is left out.
    Tree-like, with one big cycle (heart - lung - heart - organs - veins) as in the body.

:func:`random_network`
    The hardest case for a direct solver: every transient state has ``out_degree``
    random transient out-neighbours with random rates (heterogeneous speeds) and a small
    absorption rate (a share ``absorption`` of its total rate) into one or two of
    ``n_fates`` absorbing fates.

Both are built directly as ``scipy.sparse`` arrays (no networkx graph): 1e6 states take
about a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["SyntheticChain", "capillary_tree_body", "random_network"]


@dataclass(frozen=True)
class SyntheticChain:
    """A labelled absorbing chain and one source.

    Attributes
    ----------
    name : str
    generator : scipy.sparse.csr_array (n, n)
        Rates per minute; transient states first; rows sum to zero.
    labels : tuple of str
    n_transient : int
    source : numpy.ndarray (n_transient,)
        Initial distribution of the benchmarked source (sums to 1).
    """

    name: str
    generator: sp.csr_array
    labels: tuple[str, ...]
    n_transient: int
    source: np.ndarray

    @property
    def n_states(self) -> int:
        return self.generator.shape[0]

    @property
    def n_fates(self) -> int:
        return self.n_states - self.n_transient

    @property
    def mean_out_degree(self) -> float:
        """Mean number of out-edges (off-diagonal rates) per transient state."""
        q = self.generator[: self.n_transient]
        return float((q.nnz - self.n_transient) / self.n_transient)


def _assemble(rows, cols, vals, n: int) -> sp.csr_array:
    rows = np.concatenate(rows).astype(np.int64)
    cols = np.concatenate(cols).astype(np.int64)
    vals = np.concatenate(vals).astype(float)
    keep = (vals > 0) & (rows != cols)
    off = sp.coo_array((vals[keep], (rows[keep], cols[keep])), shape=(n, n)).tocsr()
    off.sum_duplicates()
    out = np.asarray(off.sum(axis=1)).ravel()
    q = (off - sp.diags_array(out)).tocsr()
    q.sort_indices()
    return q


def _heap_tree(m: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A complete k-ary tree of m nodes in heap order: (parent, child) edges and leaves."""
    child = np.arange(1, m)
    parent = (child - 1) // k
    leaves = np.flatnonzero(k * np.arange(m) + 1 >= m)
    return parent, child, leaves


def capillary_tree_body(
    n_states: int = 10_000,
    *,
    n_fates: int | None = None,
    branching: int = 3,
    source: str = "colon_rectum",
    rng=None,
) -> SyntheticChain:
    """The default body with every organ bed refined into a tree of vessel segments.

    Parameters
    ----------
    n_states : int
        Approximate number of states (transient + fates); organs get segments in
        proportion to their blood inflow.
    n_fates : int, optional
        Number of fates (``dead`` + one colony per tissue region); default one region
        per organ. Regions are spread over organs in proportion to their capillaries.
    branching : int
        Children per arterial segment.
    source : str
        Organ whose venous outflow releases the benchmarked cells.
    rng : int, numpy.random.Generator or None
    """
    import circnet

    rng = np.random.default_rng(rng)
    body = circnet.default_body()
    model = circnet.TransportModel(body)
    cells = model.cells
    lodging = model.lodging_table()
    # a lymph node's blood bed (issue 12) has no organ: keyed by its node name
    beds = {d.get("organ", n): n for n, d in body.nodes(data=True) if d["kind"] == "capillary_bed"}
    pools = [n for n, d in body.nodes(data=True) if d["kind"] == "pool"]
    organs = list(beds)
    inflow = np.array(
        [
            sum(
                float(e["flow"])
                for _, _, e in body.in_edges(beds[o], data=True)
                if e.get("channel", "blood") == "blood"
            )
            for o in organs
        ]
    )
    n_regions_total = (n_fates - 1) if n_fates is not None else len(organs)
    if n_regions_total < len(organs):
        raise ValueError(f"`n_fates` must be at least {len(organs) + 1} (got {n_fates})")
    k = branching
    budget = n_states - len(pools) - 1 - n_regions_total
    per_node = 2.0 + (k - 1) / k  # arterial + venous + lodged per arterial node
    m_org = np.maximum((inflow / inflow.sum() * budget / per_node).astype(int), 2)

    # ---- layout of the transient states: pools, then per organ art | ven | lodged | tissue
    index: dict[str, int] = {p: i for i, p in enumerate(pools)}
    labels: list[str] = [f"transit:{p}" for p in pools]
    pos = len(pools)
    trees = {}
    leaves_count = {}
    for o, m in zip(organs, m_org, strict=True):
        parent, child, leaves = _heap_tree(int(m), k)
        trees[o] = (int(m), parent, child, leaves)
        leaves_count[o] = len(leaves)
    lc = np.array([leaves_count[o] for o in organs], dtype=float)
    regions = np.ones(len(organs), dtype=int)
    extra = n_regions_total - len(organs)
    if extra > 0:
        add = np.floor(lc / lc.sum() * extra).astype(int)
        add[np.argmax(lc)] += extra - add.sum()
        regions += add
    regions = np.minimum(regions, lc.astype(int))
    offsets = {}
    for o, r in zip(organs, regions, strict=True):
        m, _, _, leaves = trees[o]
        nl = len(leaves)
        offsets[o] = (pos, pos + m, pos + 2 * m, pos + 2 * m + nl, int(r))
        labels += [f"art:{o}:{i}" for i in range(m)]
        labels += [f"ven:{o}:{i}" for i in range(m)]
        labels += [f"lodged:{o}:{i}" for i in range(nl)]
        labels += [f"tissue:{o}:{i}" for i in range(r)]
        pos += 2 * m + nl + r
    n_transient = pos
    fate_labels = ["dead"] + [
        f"colony:{o}:{i}" for o, r in zip(organs, regions, strict=True) for i in range(r)
    ]
    dead = n_transient
    n = n_transient + len(fate_labels)
    colony0 = {}
    c = dead + 1
    for o, r in zip(organs, regions, strict=True):
        colony0[o] = c
        c += int(r)

    rows, cols, vals = [], [], []

    def add(r, c, v):
        r, c, v = np.broadcast_arrays(np.atleast_1d(r), np.atleast_1d(c), np.atleast_1d(v))
        rows.append(r.copy())
        cols.append(c.copy())
        vals.append(v.astype(float))

    def entry(node) -> int:
        if node in index:
            return index[node]
        organ = body.nodes[node].get("organ", node)
        return offsets[organ][0]  # arterial root of the bed

    death = cells.death_rate_blood
    # pools: volume / flow, out-edges in proportion to flow
    for p in pools:
        out = [(v, float(e["flow"])) for _, v, e in body.out_edges(p, data=True)]
        fout = sum(f for _, f in out)
        rate = fout / float(body.nodes[p]["volume"])
        for v, f in out:
            add(index[p], entry(v), rate * f / fout)
        add(index[p], dead, death)
    # organ beds
    for o in organs:
        m, parent, child, leaves = trees[o]
        a0, v0, l0, t0, r = offsets[o]
        d = body.nodes[beds[o]]
        outs = [
            (v, float(e["flow"]))
            for _, v, e in body.out_edges(beds[o], data=True)
            if e.get("channel", "blood") == "blood"
        ]
        fout = sum(f for _, f in outs)
        t_bed = float(d["volume"]) / fout  # minutes
        depth = int(np.floor(np.log(max(m, 1) * (k - 1) + 1) / np.log(k)))
        t_seg = t_bed / (2 * depth + 1)
        jitter = rng.lognormal(0.0, 0.3, size=m)
        # arterial: parent -> children with random shares
        w = rng.uniform(0.5, 1.5, size=m - 1)
        wsum = np.bincount(parent, weights=w, minlength=m)
        rate_a = 1.0 / (t_seg * jitter)
        add(a0 + parent, a0 + child, rate_a[parent] * w / wsum[parent])
        # capillaries (arterial leaves): lodge, or pass into the capillary mesh: own
        # venule (0.6) or either neighbouring one (0.2 each)
        p_l = float(lodging[o])
        rl = rate_a[leaves]
        add(a0 + leaves, l0 + np.arange(len(leaves)), rl * p_l)
        add(a0 + leaves, v0 + leaves, rl * (1 - p_l) * 0.6)
        add(a0 + leaves, v0 + np.roll(leaves, -1), rl * (1 - p_l) * 0.2)
        add(a0 + leaves, v0 + np.roll(leaves, 1), rl * (1 - p_l) * 0.2)
        add(a0 + np.arange(m), dead, death)
        # venous: child -> parent (0.85) or a collateral into the parent's neighbour on
        # the same level (0.15); root -> the bed's blood outflow targets
        rate_v = 1.0 / (t_seg * rng.lognormal(0.0, 0.3, size=m))
        lvl = np.floor(np.log(np.arange(m) * (k - 1) + 1) / np.log(k) + 1e-9).astype(int)
        first = (k**lvl - 1) // (k - 1)
        width = np.minimum(k**lvl, m - first)
        nb = first[parent] + (parent - first[parent] + 1) % width[parent]
        add(v0 + child, v0 + parent, rate_v[child] * 0.85)
        add(v0 + child, v0 + nb, rate_v[child] * 0.15)
        for tgt, f in outs:
            add(v0, entry(tgt), rate_v[0] * f / fout)
        add(v0 + np.arange(m), dead, death)
        # lodged -> tissue region / dead; region -> colony / dead
        t_l = cells.site_value("lodged_time_min", o)
        p_ex = cells.site_value("extravasation_probability", o)
        reg = (np.arange(len(leaves)) * r) // len(leaves)
        # a lodged cell extravasates (p_ex), dies, or (1 in 10 of the survivors of
        # arrest) deforms and is released into its venule
        add(l0 + np.arange(len(leaves)), t0 + reg, p_ex / t_l)
        add(l0 + np.arange(len(leaves)), dead, (1 - p_ex) / t_l)
        add(l0 + np.arange(len(leaves)), v0 + leaves, 0.1 * p_ex / t_l)
        t_t = cells.site_value("tissue_time_min", o)
        p_c = cells.colonisation(o)
        add(t0 + np.arange(r), colony0[o] + np.arange(r), p_c / t_t)
        add(t0 + np.arange(r), dead, (1 - p_c) / t_t)

    q = _assemble(rows, cols, vals, n)
    p0 = np.zeros(n_transient)
    p0[offsets[source][1]] = 1.0  # the venous root of the source organ
    return SyntheticChain(
        name=f"tree body {n:,}",
        generator=q,
        labels=tuple(labels + fate_labels),
        n_transient=n_transient,
        source=p0,
    )


def random_network(
    n_states: int = 10_000,
    *,
    out_degree: int = 4,
    n_fates: int = 10,
    absorption: float = 0.01,
    rng=None,
) -> SyntheticChain:
    """A random ``out_degree``-out chain with a small absorption into a few fates.

    Each transient state has ``out_degree`` random transient out-neighbours (self-loops
    moved to the next state) with rates ``speed_i * Exp(1)``, ``speed_i`` log-normal
    (sigma 1), and leaks a share ``absorption * U(0.5, 1.5)`` of its total rate into one
    or two random fates. The source is state 0.
    """
    rng = np.random.default_rng(rng)
    nt = n_states - n_fates
    if nt < out_degree + 1:
        raise ValueError("`n_states` too small for the out-degree and fates")
    src = np.repeat(np.arange(nt), out_degree)
    dst = rng.integers(0, nt, size=nt * out_degree)
    dst = np.where(dst == src, (dst + 1) % nt, dst)
    speed = rng.lognormal(0.0, 1.0, size=nt)
    rate = rng.exponential(1.0, size=nt * out_degree) * speed[src]
    total = np.bincount(src, weights=rate, minlength=nt)
    leak = total * absorption * rng.uniform(0.5, 1.5, size=nt)
    two = rng.random(nt) < 0.5
    f1 = rng.integers(0, n_fates, size=nt)
    f2 = rng.integers(0, n_fates, size=nt)
    share = np.where(two, rng.uniform(0.2, 0.8, size=nt), 1.0)
    states = np.arange(nt)
    q = _assemble(
        [src, states, states[two]],
        [dst, nt + f1, nt + f2[two]],
        [rate, leak * share, (leak * (1 - share))[two]],
        n_states,
    )
    labels = tuple(f"s{i}" for i in range(nt)) + tuple(f"fate{j}" for j in range(n_fates))
    p0 = np.zeros(nt)
    p0[0] = 1.0
    return SyntheticChain(
        name=f"random 4-out {n_states:,}", generator=q, labels=labels, n_transient=nt, source=p0
    )
