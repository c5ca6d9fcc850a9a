"""The chain of a body: its state space, its generator ``Q`` and release distributions.

Body level, one job: from a validated body graph and a :class:`~circnet.CellProfile`,
build the :class:`~circnet.states.StateSpace` (transient states per body node in node
order, then death, a colony per organ and a nodal tumour per lymph-node group) and the
sparse rate matrix ``Q`` over it (per minute, rows sum to zero). The rates:

* a pool, duct or lymph node of volume ``V`` and outflow ``F`` is left at ``F / V``,
  shared among its out-edges in proportion to flow; cells die there at the blood or
  lymph death rate;
* a capillary bed is left at ``F_blood / V``, a share ``p`` (the lodging probability of
  its diameter) lodging; a lodged cell extravasates or dies after ``lodged_time_min``;
* a cell in tissue colonises (probability from the cells' colonisation and the organ's
  receptivity) or dies after ``tissue_time_min``;
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

__all__ = ["state_space", "generator", "release", "FLOW_KINDS"]

#: Body node kinds that flow carries a cell into (each has a ``transit`` state).
FLOW_KINDS = ("pool", "capillary_bed", "lymph_node", "lymph_duct")


def _moves(
    g: nx.DiGraph, kinds: Mapping[Any, str], node: Any, channel: str | None
) -> list[tuple[str, float]]:
    """Where flow carries a cell leaving ``node``: (entry state, share by flow) per out-edge
    of ``channel`` (any if None); the bed-to-tissue filtration edge carries no cells."""
    out = [
        (v, float(d["flow"]))
        for _, v, d in g.out_edges(node, data=True)
        if (channel is None or d["channel"] == channel) and kinds[v] != "tissue"
    ]
    total = sum(f for _, f in out)
    moves = []
    for v, f in out:
        if kinds[v] not in FLOW_KINDS:
            raise CircnetError(f"flow cannot carry a cell into {kinds[v]} node {v!r}")
        moves.append((state_label("transit", v), f / total))
    return moves


def state_space(g: nx.DiGraph, organ_names: Sequence[str], nodes: Sequence[Any]) -> StateSpace:
    """The states of a body: per node in node order, then death, colonies, nodal tumours."""
    transient: list[tuple[str, Any]] = []
    for n, d in g.nodes(data=True):
        k = d["kind"]
        if k in ("pool", "lymph_duct"):
            transient.append(("transit", n))
        elif k == "capillary_bed":
            transient += [("transit", n), ("lodged", n)]
        elif k == "tissue":
            transient.append(("tissue", d["organ"]))
        elif k == "lymph_node":
            transient += [("transit", n), ("trapped", n)]
    fates = [("dead", None)] + [("colony", o) for o in organ_names] + [("node", n) for n in nodes]
    return StateSpace.build(transient, fates, dict(g.nodes(data="kind")))


def generator(g: nx.DiGraph, cells: CellProfile, space: StateSpace) -> sp.csr_array:
    """The rate matrix ``Q`` (per minute) of a cell in body ``g`` over ``space``."""
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []

    def add(src: str, dst: str, rate: float) -> None:
        if rate > 0:
            rows.append(space.index(src))
            cols.append(space.index(dst))
            vals.append(rate)

    kinds = nx.get_node_attributes(g, "kind")

    def spread(src: str, node: Any, rate: float, channel: str | None) -> None:
        for dst, share in _moves(g, kinds, node, channel):
            add(src, dst, rate * share)

    def outflow(node: Any, channel: str | None = None) -> float:
        return sum(
            float(e["flow"])
            for _, _, e in g.out_edges(node, data=True)
            if channel is None or e["channel"] == channel
        )

    for n, d in g.nodes(data=True):
        k = d["kind"]
        if k in ("pool", "lymph_duct"):
            s = state_label("transit", n)
            spread(s, n, outflow(n) / float(d["volume"]), None)
            add(s, DEAD, cells.death_rate_blood if k == "pool" else cells.death_rate_lymph)
        elif k == "capillary_bed":
            s, lodged = state_label("transit", n), state_label("lodged", n)
            organ = d["organ"]
            q = outflow(n, "blood") / float(d["volume"])
            p = cells.lodging(float(d["diameter"]))
            add(s, lodged, q * p)
            spread(s, n, q * (1.0 - p), "blood")
            add(s, DEAD, cells.death_rate_blood)
            t_l = cells.site_value("lodged_time_min", organ)
            p_ex = cells.site_value("extravasation_probability", organ)
            add(lodged, state_label("tissue", organ), p_ex / t_l)
            add(lodged, DEAD, (1.0 - p_ex) / t_l)
        elif k == "tissue":
            organ = d["organ"]
            s = state_label("tissue", organ)
            t_t = cells.site_value("tissue_time_min", organ)
            p_c = cells.colonisation(organ)
            add(s, state_label("colony", organ), p_c / t_t)
            add(s, DEAD, (1.0 - p_c) / t_t)
        elif k == "lymph_node":
            s, trapped = state_label("transit", n), state_label("trapped", n)
            q = outflow(n) / float(d["volume"])
            p = cells.site_value("trapping_probability", n)
            add(s, trapped, q * p)
            spread(s, n, q * (1.0 - p), None)
            add(s, DEAD, cells.death_rate_lymph)
            add(trapped, DEAD, cells.site_value("immune_kill_rate", n))
            add(trapped, state_label("node", n), cells.site_value("nodal_growth_rate", n))
            spread(trapped, n, cells.site_value("node_release_rate", n), None)
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


def release(
    g: nx.DiGraph,
    space: StateSpace,
    cells: CellProfile,
    organ_names: Sequence[str],
    nodes: Sequence[Any],
    primary: str,
) -> pd.Series:
    """Where a cell shed at ``primary`` (an organ or a lymph-node group) enters the chain.

    From an organ, a share ``cells.lymph_fraction`` enters its afferent lymph (none if
    the organ has no lymph flow) and the rest its venous outflow; from a lymph-node
    group, cells leave with its efferent lymph. A Series over the transient states.
    """
    kinds = nx.get_node_attributes(g, "kind")
    p = dict.fromkeys(space.transient, 0.0)

    def pour(node: Any, share: float, channel: str | None) -> None:
        for dst, part in _moves(g, kinds, node, channel):
            p[dst] += share * part

    if primary in organ_names:
        bed, tissue = bed_of(g, primary), tissue_of(g, primary)
        has_lymph = sum(float(d["flow"]) for _, _, d in g.out_edges(tissue, data=True)) > 0
        lf = cells.lymph_fraction if has_lymph else 0.0
        pour(bed, 1.0 - lf, "blood")
        if lf > 0:
            pour(tissue, lf, None)
    elif primary in nodes:
        pour(primary, 1.0, None)
    else:
        raise UnknownNameError(
            f"unknown primary site {primary!r}: expected an organ "
            f"({', '.join(organ_names)}) or a lymph-node group"
        )
    return pd.Series(p, name=f"release:{primary}")
