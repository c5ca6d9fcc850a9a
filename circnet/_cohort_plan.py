"""What every chunk of one cohort shares: the plan (:func:`make_plan`).

The fate matrix of every site (one factorisation of the transport model), the settings
of a cohort, the lymph-node groups removed at surgery and the organs grouped by their
tropism factor. Used by :mod:`circnet._cohort_engine`.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from ._clinical import ClinicalParams
from .errors import ParameterError, UnknownNameError
from .states import DEAD
from .transport import TransportModel

__all__ = ["Plan", "make_plan"]

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

    @property
    def node_awakening(self) -> np.ndarray:
        """Awakening rate of dormant cells in each lymph-node group: ``awakening_rate``
        times the group's tropism factor (law 7)."""
        n_nodes = len(self.sites) - self.n_organs
        tropism = np.ones(n_nodes) if self.node_tropism is None else self.node_tropism
        return self.cp.awakening_rate * np.asarray(tropism, dtype=float)


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
