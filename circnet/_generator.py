"""The chain of a body: its state space, its generator ``Q`` and release distributions.

Body level, one job: from a validated body graph and the cells (a list of
``(subpopulation, CellProfile)``; one untagged profile for a plain
:class:`~circnet.CellProfile`), build the :class:`~circnet.states.StateSpace`
(transient states per body node in node order, one block per subpopulation, then the
shared fates: death, a colony per organ and a nodal tumour per lymph-node group) and the
sparse rate matrix ``Q`` over it (per minute, rows sum to zero; block-diagonal in the
transient states, since a cell never changes subpopulation). The rates:

* a pool, duct or lymph node of volume ``V`` and outflow ``F`` is left at ``F / V``,
  shared among its out-edges in proportion to flow; cells die there at the blood or
  lymph death rate;
* a capillary bed is left at ``F_blood / V``, a share ``p`` (the arrest probability of
  one passage, :meth:`~circnet.CellProfile.arrest`: size, adhesion and shunt) lodging;
  a lodged cell extravasates or dies after ``lodged_time_min``; it extravasates into
  the bed's organ tissue, or, for a lymph node's blood bed (a bed with ``node_group``
  instead of ``organ``: high endothelial venules), into that node (``trapped``), with the
  global lodging parameters;
* a cell in tissue leaves with the organ's lymph (``tissue_lymph_exit_probability``,
  organs with lymph outflow only), else colonises (probability from the cells'
  colonisation and the organ's receptivity) or dies, after ``tissue_time_min``;
* a lymph node traps a share of the cells passing; trapped cells are killed, grow into a
  nodal tumour or are released, at their per-node rates.

Labels are built with :func:`circnet.states.state_label` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .body import bed_of, tissue_of
from .cells import CellProfile
from .errors import CircnetError, ParameterError, UnknownNameError
from .states import DEAD, StateSpace, state_label

__all__ = ["state_space", "generator", "release", "initial_vector", "FLOW_KINDS", "Profiles"]

#: The cells of a chain: ``(subpopulation tag or None, profile)`` per block.
Profiles = Sequence[tuple[str | None, CellProfile]]

#: Body node kinds that flow carries a cell into (each has a ``transit`` state).
FLOW_KINDS = ("pool", "capillary_bed", "lymph_node", "lymph_duct")


def _moves(
    g: nx.DiGraph,
    kinds: Mapping[Any, str],
    node: Any,
    channel: str | None,
    tag: str | None = None,
    cache: dict[tuple[Any, str | None], list[tuple[Any, float]]] | None = None,
) -> list[tuple[str, float]]:
    """Where flow carries a cell leaving ``node``: (entry state, share by flow) per out-edge
    of ``channel`` (any if None); the bed-to-tissue filtration edge carries no cells.
    ``cache`` keeps the shares per ``(node, channel)`` across subpopulations."""
    return [
        (state_label("transit", v, tag), share)
        for v, share in _shares(g, kinds, node, channel, cache)
    ]


def _shares(
    g: nx.DiGraph,
    kinds: Mapping[Any, str],
    node: Any,
    channel: str | None,
    cache: dict[tuple[Any, str | None], list[tuple[Any, float]]] | None = None,
) -> list[tuple[Any, float]]:
    """(next node, share by flow) per out-edge of ``node`` in ``channel``; see :func:`_moves`."""
    shares = None if cache is None else cache.get((node, channel))
    if shares is None:
        out = [
            (v, float(d["flow"]))
            for _, v, d in g.out_edges(node, data=True)
            if (channel is None or d["channel"] == channel) and kinds[v] != "tissue"
        ]
        total = sum(f for _, f in out)
        shares = []
        for v, f in out:
            if kinds[v] not in FLOW_KINDS:
                raise CircnetError(f"flow cannot carry a cell into {kinds[v]} node {v!r}")
            shares.append((v, f / total))
        if cache is not None:
            cache[node, channel] = shares
    return shares


def state_space(
    g: nx.DiGraph,
    organ_names: Sequence[str],
    nodes: Sequence[Any],
    tags: Sequence[str | None] = (None,),
) -> StateSpace:
    """The states of a body: per subpopulation, per node in node order; then death,
    colonies, nodal tumours (shared)."""
    per_node: list[tuple[str, Any]] = []
    for n, d in g.nodes(data=True):
        k = d["kind"]
        if k in ("pool", "lymph_duct"):
            per_node.append(("transit", n))
        elif k == "capillary_bed":
            per_node += [("transit", n), ("lodged", n)]
        elif k == "tissue":
            per_node.append(("tissue", d["organ"]))
        elif k == "lymph_node":
            per_node += [("transit", n), ("trapped", n)]
    transient = [(k, s, t) for t in tags for k, s in per_node]
    fates = [("dead", None)] + [("colony", o) for o in organ_names] + [("node", n) for n in nodes]
    return StateSpace.build(transient, fates, dict(g.nodes(data="kind")))


def generator(g: nx.DiGraph, cells: CellProfile | Profiles, space: StateSpace) -> sp.csr_array:
    """The rate matrix ``Q`` (per minute) of a cell in body ``g`` over ``space``.

    ``cells`` is one profile (untagged states) or ``(tag, profile)`` pairs, one block each.
    """
    profiles: Profiles = [(None, cells)] if isinstance(cells, CellProfile) else cells
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    index = space.index

    def add(src: int, dst: int, rate: float) -> None:  # positions in ``space``
        if rate > 0:
            rows.append(src)
            cols.append(dst)
            vals.append(rate)

    kinds = nx.get_node_attributes(g, "kind")
    outflows = {
        (n, ch): sum(
            float(e["flow"])
            for _, _, e in g.out_edges(n, data=True)
            if ch is None or e["channel"] == ch
        )
        for n in g.nodes
        for ch in (None, "blood")
    }
    cache: dict[tuple[Any, str | None], list[tuple[Any, float]]] = {}
    for tag, c in profiles:
        _block(g, kinds, outflows, c, tag, add, cache, index)
    n_states = len(space)
    off = sp.coo_array((vals, (rows, cols)), shape=(n_states, n_states)).tocsr()
    off.sum_duplicates()
    diag = np.asarray(off.sum(axis=1)).ravel()
    # a transient state no rate leaves would make M singular: name it
    stuck = [s for s, r in zip(space.transient, diag[: space.n_transient], strict=True) if r <= 0]
    if stuck:
        raise ParameterError(
            f"cells can never leave state(s) {stuck}: give them a positive death or exit rate"
        )
    return sp.csr_array((off - sp.diags_array(diag)).tocsr())


def _block(
    g: nx.DiGraph,
    kinds: Mapping[Any, str],
    outflows: Mapping[tuple[Any, str | None], float],
    cells: CellProfile,
    tag: str | None,
    add: Any,
    cache: dict[tuple[Any, str | None], list[tuple[Any, float]]],
    index: Any,
) -> None:
    """The rates of one subpopulation (its transient block and its exits to the fates);
    ``add(src, dst, rate)`` takes positions in the state space, ``index`` gives them."""
    positions: dict[tuple[str, Any], int] = {}
    dead = index(DEAD)

    def at(kind: str, site: Any) -> int:  # each label is built and looked up once per block
        i = positions.get((kind, site))
        if i is None:
            fate = kind in ("colony", "node")
            i = positions[kind, site] = index(state_label(kind, site, None if fate else tag))
        return i

    def spread(src: int, node: Any, rate: float, channel: str | None) -> None:
        for v, share in _shares(g, kinds, node, channel, cache):
            add(src, at("transit", v), rate * share)

    for n, d in g.nodes(data=True):
        k = d["kind"]
        if k in ("pool", "lymph_duct"):
            s = at("transit", n)
            spread(s, n, outflows[n, None] / float(d["volume"]), None)
            add(s, dead, cells.death_rate_blood if k == "pool" else cells.death_rate_lymph)
        elif k == "capillary_bed":
            s, lodged = at("transit", n), at("lodged", n)
            organ = d.get("organ")
            q = outflows[n, "blood"] / float(d["volume"])
            p = cells.arrest(float(d["diameter"]), organ)
            add(s, lodged, q * p)
            spread(s, n, q * (1.0 - p), "blood")
            add(s, dead, cells.death_rate_blood)
            if organ is None:  # a lymph node's blood bed: extravasation into the node
                t_l, p_ex = cells.lodged_time_min, cells.extravasation_probability
                into = at("trapped", d["node_group"])
            else:
                t_l = cells.site_value("lodged_time_min", organ)
                p_ex = cells.site_value("extravasation_probability", organ)
                into = at("tissue", organ)
            add(lodged, into, p_ex / t_l)
            add(lodged, dead, (1.0 - p_ex) / t_l)
        elif k == "tissue":
            organ = d["organ"]
            s = at("tissue", organ)
            t_t = cells.site_value("tissue_time_min", organ)
            p_c = cells.colonisation(organ)
            e = cells.site_value("tissue_lymph_exit_probability", organ)
            if e > 0 and outflows[n, None] > 0:
                spread(s, n, e / t_t, None)
                stay = 1.0 - e
                add(s, at("colony", organ), p_c * stay / t_t)
                add(s, dead, (1.0 - p_c) * stay / t_t)
            else:
                add(s, at("colony", organ), p_c / t_t)
                add(s, dead, (1.0 - p_c) / t_t)
        elif k == "lymph_node":
            s, trapped = at("transit", n), at("trapped", n)
            q = outflows[n, None] / float(d["volume"])
            p = cells.site_value("trapping_probability", n)
            add(s, trapped, q * p)
            spread(s, n, q * (1.0 - p), None)
            add(s, dead, cells.death_rate_lymph)
            add(trapped, dead, cells.site_value("immune_kill_rate", n))
            add(trapped, at("node", n), cells.site_value("nodal_growth_rate", n))
            spread(trapped, n, cells.site_value("node_release_rate", n), None)


def release(
    g: nx.DiGraph,
    space: StateSpace,
    cells: CellProfile | Profiles,
    organ_names: Sequence[str],
    nodes: Sequence[Any],
    primary: str,
    weights: Sequence[float] = (1.0,),
    *,
    kinds: Mapping[Any, str] | None = None,
    cache: dict[tuple[Any, str | None], list[tuple[Any, float]]] | None = None,
    labels: pd.Index | None = None,
) -> pd.Series:
    """Where a cell shed at ``primary`` (an organ or a lymph-node group) enters the chain.

    From an organ, a share ``transcoelomic_fraction`` enters its serosal cavity (the
    tissue of the organ named by its tissue's ``cavity`` attribute; none without one),
    of the rest a share ``lymph_fraction`` enters its afferent lymph (none if the organ
    has no lymph flow) and the rest its venous outflow; from a lymph-node group, cells
    leave with its efferent lymph. With several subpopulations, subpopulation ``i`` gets
    ``weights[i]`` of the cells, in its own block. A Series over the transient states.

    A caller that releases from many sources of one body passes the same ``kinds`` (node
    kinds), ``cache`` (flow shares per node) and ``labels`` (the transient states as an
    Index) each time, so that they are built once.
    """
    profiles: Profiles = [(None, cells)] if isinstance(cells, CellProfile) else cells
    if kinds is None:
        kinds = nx.get_node_attributes(g, "kind")
    if cache is None:
        cache = {}
    p = np.zeros(space.n_transient)
    index = space.index
    if primary not in organ_names and primary not in nodes:
        raise UnknownNameError(
            f"unknown primary site {primary!r}: expected an organ "
            f"({', '.join(organ_names)}) or a lymph-node group"
        )
    if primary in organ_names:
        bed, tissue = bed_of(g, primary), tissue_of(g, primary)
        has_lymph = sum(float(d["flow"]) for _, _, d in g.out_edges(tissue, data=True)) > 0
        cavity = g.nodes[tissue].get("cavity")
    for (tag, c), w in zip(profiles, weights, strict=True):

        def pour(node: Any, share: float, channel: str | None, tag: str | None = tag) -> None:
            for dst, part in _moves(g, kinds, node, channel, tag, cache):
                p[index(dst)] += share * part

        if primary not in organ_names:  # a lymph-node group
            pour(primary, w, None)
            continue
        lf = c.lymph_fraction if has_lymph else 0.0
        tc = c.site_value("transcoelomic_fraction", primary) if cavity else 0.0
        if tc > 0:
            p[index(state_label("tissue", cavity, tag))] += w * tc
            rest = w * (1.0 - tc)
        else:
            rest = w
        pour(bed, rest * (1.0 - lf), "blood")
        if lf > 0:
            pour(tissue, rest * lf, None)
    index_ = pd.Index(space.transient) if labels is None else labels
    return pd.Series(p, index=index_, name=f"release:{primary}")


def initial_vector(space: StateSpace, initial: Any) -> np.ndarray:
    """A mapping (or Series) of transient state label to probability, or an array over
    the transient states, as a checked probability vector over the transient states."""
    nt = space.n_transient
    try:
        if isinstance(initial, (Mapping, pd.Series)):
            v = np.zeros(nt)
            for k, x in dict(initial).items():
                if space.is_fate(k):
                    raise ParameterError(f"initial state {k!r} is a fate, not a transient state")
                v[space.index(k)] += float(x)
        else:
            v = np.asarray(initial, dtype=float)
    except (TypeError, ValueError, OverflowError) as err:
        if isinstance(err, CircnetError):
            raise
        raise ParameterError(f"`initial` must be probabilities by state ({err})") from None
    if not isinstance(initial, (Mapping, pd.Series)):
        if v.shape != (nt,):
            raise ParameterError(f"`initial` array must have shape ({nt},) (got {v.shape})")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ParameterError("`initial` must be finite and non-negative")
    if abs(v.sum() - 1.0) > 1e-9:
        raise ParameterError(f"`initial` must sum to 1 (got {v.sum()!r})")
    return v
