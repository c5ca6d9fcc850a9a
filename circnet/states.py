"""The state space of a detached cell: labels, their kinds and sites, one owner.

A cell's state is named by a label ``"<kind>:<site>"`` (or the bare kind for a state
with no site, ``"dead"``). This module is the only place that builds or takes apart
such a label; every other module asks it (:func:`parse_label`, :class:`StateSpace`).

=============  ==========  ========  ==============================================
kind           absorbing   site is   meaning
=============  ==========  ========  ==============================================
``transit``    no          node      moving with the flow at a pool, capillary bed,
                                     lymph node or lymphatic duct
``lodged``     no          node      arrested in a capillary bed
``tissue``     no          organ     extravasated into an organ's tissue
``trapped``    no          node      retained in a lymph-node group
``dead``       yes         --        died (blood, lymph, tissue, immune kill)
``colony``     yes         organ     founded a micrometastasis in that organ
``node``       yes         node      founded a nodal tumour in that lymph-node group
=============  ==========  ========  ==============================================

A new kind of state is one new row of :data:`KINDS`; the transport model, the course,
the views and the calibration read kinds and sites from here and need no edit to parse it.

Subpopulations. A model of a heterogeneous population of cells
(:class:`~circnet.CellPopulation`) has one copy of every transient state per
subpopulation, tagged ``"<kind>:<site>@<subpopulation>"`` (``"transit:lung_bed@small"``);
the fates are shared and never tagged. :func:`parse_state` returns the three parts,
:func:`parse_label` keeps returning ``(kind, site)`` (so a reader that aggregates by
kind and site sums over subpopulations without knowing of them). A single
:class:`~circnet.CellProfile` has untagged labels. A site or tag must not contain ``@``.

Examples
--------
>>> from circnet.states import StateSpace, parse_label, state_label
>>> state_label("colony", "liver")
'colony:liver'
>>> parse_label("lodged:lung_bed")
('lodged', 'lung_bed')
>>> space = StateSpace(("transit:a", "lodged:a", "dead", "colony:liver"), n_transient=2)
>>> space.fates
('dead', 'colony:liver')
>>> space.kind("colony:liver"), space.site("colony:liver")
('colony', 'liver')
>>> space.select("colony")
('colony:liver',)
>>> parse_state("transit:lung_bed@small")
State(kind='transit', site='lung_bed', subpopulation='small')
>>> parse_label("transit:lung_bed@small")
('transit', 'lung_bed')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, NamedTuple

import numpy as np

from .errors import ParameterError, UnknownNameError

__all__ = [
    "StateKind",
    "KINDS",
    "TRANSIENT_KINDS",
    "FATE_KINDS",
    "DEAD",
    "StateSpace",
    "State",
    "state_label",
    "parse_label",
    "parse_state",
    "is_label",
    "check_tag",
]

SiteType = Literal["node", "organ", "none"]


@dataclass(frozen=True)
class StateKind:
    """One kind of state: whether it is absorbing and what its site names."""

    name: str
    absorbing: bool
    site: SiteType
    description: str


#: Every kind of state, in the order the transport model lists them.
KINDS: Mapping[str, StateKind] = {
    k.name: k
    for k in (
        StateKind("transit", False, "node", "moving with the flow at a body node"),
        StateKind("lodged", False, "node", "arrested in a capillary bed"),
        StateKind("tissue", False, "organ", "extravasated into an organ's tissue"),
        StateKind("trapped", False, "node", "retained in a lymph-node group"),
        StateKind("dead", True, "none", "died"),
        StateKind("colony", True, "organ", "founded a micrometastasis in an organ"),
        StateKind("node", True, "node", "founded a nodal tumour in a lymph-node group"),
    )
}
TRANSIENT_KINDS: tuple[str, ...] = tuple(k for k, v in KINDS.items() if not v.absorbing)
FATE_KINDS: tuple[str, ...] = tuple(k for k, v in KINDS.items() if v.absorbing)
#: The label of death, the one state without a site.
DEAD = "dead"
_SEP = ":"
_TAG = "@"


class State(NamedTuple):
    """The parts of a state label: kind, site (None for ``dead``) and subpopulation
    (None for an untagged state)."""

    kind: str
    site: str | None
    subpopulation: str | None


def check_tag(tag: Any) -> str:
    """``tag`` as a subpopulation name, else a :class:`~circnet.ParameterError`.

    A tag is a non-empty string without ``:`` or ``@`` (it ends a state label).

    Examples
    --------
    >>> check_tag("small")
    'small'
    """
    if not isinstance(tag, str) or not tag or _SEP in tag or _TAG in tag or tag != tag.strip():
        raise ParameterError(
            f"subpopulation name {tag!r} must be a non-empty string without ':', '@' "
            "or surrounding spaces"
        )
    return tag


def state_label(kind: str, site: Any = None, subpopulation: str | None = None) -> str:
    """The label of a state of ``kind`` at ``site`` (an organ or a body node), tagged
    with ``subpopulation`` if given (transient kinds only).

    Examples
    --------
    >>> state_label("transit", "liver_bed"), state_label("dead")
    ('transit:liver_bed', 'dead')
    >>> state_label("lodged", "lung_bed", "cluster")
    'lodged:lung_bed@cluster'
    """
    spec = KINDS.get(kind)
    if spec is None:
        raise UnknownNameError(f"unknown state kind {kind!r} (expected one of {', '.join(KINDS)})")
    if subpopulation is not None:
        if spec.absorbing:
            raise ParameterError(
                f"fate kind {kind!r} is shared by all subpopulations: it takes no "
                f"subpopulation (got {subpopulation!r})"
            )
        check_tag(subpopulation)
    if spec.site == "none":
        if site is not None:
            raise ParameterError(f"state kind {kind!r} has no site (got {site!r})")
        return kind
    if site is None or str(site) == "":
        raise ParameterError(f"state kind {kind!r} needs a site")
    label = f"{kind}{_SEP}{site}"
    return label if subpopulation is None else f"{label}{_TAG}{subpopulation}"


def parse_state(label: Any) -> State:
    """Split a state label into ``State(kind, site, subpopulation)``.

    Raises :class:`~circnet.UnknownNameError` for a label of no known kind (or a fate
    with a subpopulation tag).

    Examples
    --------
    >>> parse_state("lodged:liver_bed@large")
    State(kind='lodged', site='liver_bed', subpopulation='large')
    >>> parse_state("colony:liver").subpopulation is None
    True
    """
    text = str(label)
    kind, sep, rest = text.partition(_SEP)
    spec = KINDS.get(kind)
    site, tagged, tag = rest.rpartition(_TAG) if _TAG in rest else (rest, "", "")
    if (
        spec is None
        or (spec.site == "none") == bool(sep)
        or (sep and not site)
        or (tagged and (not tag or spec.absorbing))
    ):
        kinds = ", ".join(f"{k}:<site>" if v.site != "none" else k for k, v in KINDS.items())
        raise UnknownNameError(
            f"{text!r} is not a state label (expected one of {kinds}; transient states may "
            "end in @<subpopulation>)"
        )
    return State(kind, site if sep else None, tag if tagged else None)


def parse_label(label: Any) -> tuple[str, str | None]:
    """Split a state label into ``(kind, site)``; ``site`` is None for ``"dead"``.

    A subpopulation tag is dropped (see :func:`parse_state`). Raises
    :class:`~circnet.UnknownNameError` for a label of no known kind.

    Examples
    --------
    >>> parse_label("node:axillary_nodes")
    ('node', 'axillary_nodes')
    >>> parse_label("dead")
    ('dead', None)
    """
    kind, site, _ = parse_state(label)
    return kind, site


def is_label(label: Any) -> bool:
    """Whether ``label`` is a well-formed state label of a known kind."""
    try:
        parse_label(label)
    except UnknownNameError:
        return False
    return True


@dataclass(frozen=True)
class StateSpace:
    """The ordered states of a transport chain: transient first, then fates.

    Parameters
    ----------
    labels : sequence of str
        Every state label; the order fixes the matrix order.
    n_transient : int
        The first ``n_transient`` labels are transient states, the rest absorbing fates.
    node_kinds : mapping, optional
        The body kind (``pool``, ``capillary_bed``, ``lymph_node``, ``lymph_duct``, ...)
        of each node that is a site of a ``transit``/``lodged``/``trapped`` state, keyed
        by its name as it appears in the label; lets a reader tell blood from lymph.

    Examples
    --------
    >>> s = StateSpace(("transit:heart", "tissue:liver", "dead", "colony:liver"), 2)
    >>> s.index("tissue:liver"), s.n_fates
    (1, 2)
    >>> s.positions("colony").tolist()
    [3]
    """

    labels: tuple[str, ...]
    n_transient: int
    node_kinds: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        labels = tuple(str(x) for x in self.labels)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "node_kinds", dict(self.node_kinds))
        if not 0 <= self.n_transient <= len(labels):
            raise ParameterError(
                f"`n_transient` must lie in 0..{len(labels)} (got {self.n_transient})"
            )
        if len(set(labels)) != len(labels):
            seen: set[str] = set()
            dup = next(x for x in labels if x in seen or seen.add(x))  # type: ignore[func-returns-value]
            raise ParameterError(f"state label {dup!r} appears twice")
        tagged = set()
        for i, label in enumerate(labels):
            kind, _, tag = parse_state(label)
            if KINDS[kind].absorbing != (i >= self.n_transient):
                where = "fate" if i >= self.n_transient else "transient state"
                raise ParameterError(f"state {label!r} of kind {kind!r} cannot be a {where}")
            if i < self.n_transient:
                tagged.add(tag is not None)
        if len(tagged) > 1:
            raise ParameterError("either every transient state has a subpopulation tag or none has")

    @classmethod
    def build(
        cls,
        transient: Iterable[tuple[Any, ...]],
        fates: Iterable[tuple[str, Any]],
        node_kinds: Mapping[Any, str] | None = None,
    ) -> StateSpace:
        """A state space from ``(kind, site)`` pairs (or ``(kind, site, subpopulation)``
        triples for the transient states), transient ones first."""
        t = [state_label(*x) for x in transient]
        a = [state_label(k, s) for k, s in fates]
        nk = {str(k): v for k, v in (node_kinds or {}).items()}
        return cls(tuple(t + a), len(t), nk)

    # ------------------------------------------------------------------ shape
    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Any:
        return iter(self.labels)

    def __contains__(self, label: object) -> bool:
        return label in self._index

    @property
    def transient(self) -> tuple[str, ...]:
        """Transient state labels, in matrix order."""
        return self.labels[: self.n_transient]

    @property
    def fates(self) -> tuple[str, ...]:
        """Absorbing fate labels, in matrix order."""
        return self.labels[self.n_transient :]

    @property
    def n_fates(self) -> int:
        return len(self.labels) - self.n_transient

    # ------------------------------------------------------------------ lookups
    @cached_property
    def _index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.labels)}

    @cached_property
    def _states(self) -> tuple[State, ...]:
        return tuple(parse_state(s) for s in self.labels)

    @cached_property
    def _parsed(self) -> tuple[tuple[str, str | None], ...]:
        return tuple((k, s) for k, s, _ in self._states)

    @cached_property
    def subpopulations(self) -> tuple[str, ...]:
        """The subpopulation tags of the transient states, in order of first appearance
        (empty for an untagged space)."""
        return tuple(dict.fromkeys(t for _, _, t in self._states if t is not None))

    @cached_property
    def tags(self) -> np.ndarray:
        """The subpopulation of every state (None for untagged states and fates)."""
        return np.array([t for _, _, t in self._states], dtype=object)

    def subpopulation(self, label: str) -> str | None:
        """The subpopulation a state belongs to (None if untagged or a fate)."""
        return self._states[self.index(label)].subpopulation

    def state(self, label: str) -> State:
        """``State(kind, site, subpopulation)`` of a label of this space."""
        return self._states[self.index(label)]

    @cached_property
    def kinds(self) -> np.ndarray:
        """The kind of every state, in matrix order (array of str)."""
        return np.array([k for k, _ in self._parsed], dtype=object)

    @cached_property
    def sites(self) -> np.ndarray:
        """The site of every state (None for ``dead``), in matrix order."""
        return np.array([s for _, s in self._parsed], dtype=object)

    def index(self, label: str) -> int:
        """Position of ``label`` in :attr:`labels`."""
        try:
            return self._index[label]
        except (KeyError, TypeError):
            raise UnknownNameError(f"unknown state {label!r}") from None

    def _entry(self, label: str) -> tuple[str, str | None]:
        return self._parsed[self.index(label)]

    def kind(self, label: str) -> str:
        """The kind of a state (``"transit"``, ``"colony"``, ...)."""
        return self._entry(label)[0]

    def site(self, label: str) -> str | None:
        """The organ or node a state is at (None for ``"dead"``)."""
        return self._entry(label)[1]

    def is_fate(self, label: str) -> bool:
        """Whether a state is absorbing."""
        return self.index(label) >= self.n_transient

    def node_kind(self, label: str) -> str | None:
        """The body kind of the node a state sits at (None if not a node site)."""
        kind, site = self._entry(label)
        if KINDS[kind].site != "node" or site is None:
            return None
        return self.node_kinds.get(site)

    def in_lymph(self, label: str) -> bool:
        """Whether a state is in the lymphatic system (a lymph node or duct)."""
        return self.node_kind(label) in ("lymph_node", "lymph_duct")

    def select(self, *kinds: str) -> tuple[str, ...]:
        """Labels of the given kinds, in matrix order."""
        for k in kinds:
            if k not in KINDS:
                raise UnknownNameError(f"unknown state kind {k!r}")
        want = set(kinds)
        return tuple(s for s, (k, _) in zip(self.labels, self._parsed, strict=True) if k in want)

    def positions(self, *kinds: str) -> np.ndarray:
        """Positions (int array) of the states of the given kinds, in matrix order."""
        want = set(kinds)
        for k in want:
            if k not in KINDS:
                raise UnknownNameError(f"unknown state kind {k!r}")
        return np.array([i for i, (k, _) in enumerate(self._parsed) if k in want], dtype=np.int64)

    def fate_sites(self) -> dict[str, str | None]:
        """Each fate label with its site: organ for colonies, node group for nodal tumours."""
        return {s: self._parsed[self._index[s]][1] for s in self.fates}

    def block(self, subpopulation: str | None) -> np.ndarray:
        """Positions (int array) of the transient states of one subpopulation (None:
        all transient states of an untagged space)."""
        tags = self.tags[: self.n_transient]
        return np.flatnonzero(np.array([t == subpopulation for t in tags], dtype=bool))

    def group(self, labels: Sequence[str]) -> list[tuple[str, str | None]]:
        """``(kind, site)`` of each label (which need not belong to this space)."""
        return [parse_label(x) for x in labels]
