"""CellPopulation: a heterogeneous population of detached cells, as weighted profiles.

A population is a list of named subpopulations, each a :class:`~circnet.CellProfile`
and a weight (the share of shed cells, or CTC events, that belong to it; the weights
sum to 1): single cells in diameter classes, clusters as large stiff particles. A
:class:`~circnet.TransportModel` of a population has one block of transient states per
subpopulation (labels tagged ``@<name>``, :mod:`circnet.states`) and shared fates, so its
fates are exactly the weighted mixture of the subpopulations' fates, and propagation and
simulation stay exact.

The default population (:meth:`CellPopulation.default`) is built from two sourced
tables in ``circnet/data``: ``cell_population.csv`` (the size distribution of CTCs
measured in patients, the cluster share and size, the tissue-lymph exit) and
``site_parameters.csv`` (per-organ host values: intrapulmonary shunt, marrow adhesion,
transcoelomic shedding), every value with its source or labelled an assumption with a
range (``CellPopulation.sources()``).

Examples
--------
>>> from circnet import CellPopulation, CellProfile
>>> pop = CellPopulation.lognormal(10.0, 0.25, 3, cluster_share=0.05)
>>> pop.names
('single_1', 'single_2', 'single_3', 'cluster')
>>> round(sum(pop.weights), 12)
1.0
>>> bool(pop.profile("cluster").diameter_um > pop.profile("single_3").diameter_um)
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import pandas as pd
from scipy import stats

from ._files import read_data_csv
from ._validation import check_int, check_number
from .body import lymph_nodes, organs
from .cells import PARAMETERS, CellProfile
from .errors import ParameterError, UnknownNameError
from .states import check_tag

__all__ = ["CellPopulation", "population_table", "site_table"]

#: Largest distance of the weights' sum from 1 accepted (they are then rescaled).
WEIGHT_TOL = 1e-9


def population_table() -> pd.DataFrame:
    """The default population's parameters (``circnet/data/cell_population.csv``).

    Examples
    --------
    >>> population_table().loc["median_diameter_um", "kind"]
    'measured'
    """
    df = pd.DataFrame(read_data_csv("cell_population.csv")).set_index("parameter")
    df["value"] = df["value"].astype(float)
    return df


def site_table() -> pd.DataFrame:
    """Per-organ host values of the default population (``circnet/data/site_parameters.csv``).

    Examples
    --------
    >>> t = site_table()
    >>> float(t.query("site == 'lung' and parameter == 'shunt_fraction'")["value"].iloc[0])
    0.03
    """
    df = pd.DataFrame(read_data_csv("site_parameters.csv"))
    df["value"] = df["value"].astype(float)
    return df


@dataclass(frozen=True)
class CellPopulation:
    """Named subpopulations of detached cells, each a :class:`CellProfile` and a weight.

    Parameters
    ----------
    names : sequence of str
        Subpopulation names (they tag the transient states: no ``:`` or ``@``).
    weights : sequence of float
        Share of the cells in each subpopulation; non-negative, summing to 1 (within
        1e-9; they are rescaled to sum to 1 exactly).
    profiles : sequence of CellProfile
        The parameters of each subpopulation.

    Examples
    --------
    >>> from circnet import CellPopulation, CellProfile
    >>> pop = CellPopulation(("small", "large"), (0.7, 0.3),
    ...                      (CellProfile(diameter_um=8.0), CellProfile(diameter_um=16.0)))
    >>> pop.weight("large"), len(pop)
    (0.3, 2)
    >>> CellPopulation(("a",), (0.5,), (CellProfile(),))
    Traceback (most recent call last):
    ...
    circnet.errors.ParameterError: `weights` must sum to 1 (got 0.5)
    """

    names: tuple[str, ...]
    weights: tuple[float, ...]
    profiles: tuple[CellProfile, ...]

    def __post_init__(self) -> None:
        names = tuple(self.names) if not isinstance(self.names, str) else (self.names,)
        weights = tuple(self.weights)
        profiles = tuple(self.profiles)
        if not names:
            raise ParameterError("a CellPopulation needs at least one subpopulation")
        if not len(names) == len(weights) == len(profiles):
            raise ParameterError(
                f"`names`, `weights` and `profiles` must have the same length "
                f"(got {len(names)}, {len(weights)}, {len(profiles)})"
            )
        for n in names:
            check_tag(n)
        if len(set(names)) != len(names):
            raise ParameterError(f"subpopulation names must be unique (got {list(names)})")
        w = [
            check_number(x, f"weights[{n!r}]", low=0.0) for n, x in zip(names, weights, strict=True)
        ]
        total = math.fsum(w)
        if abs(total - 1.0) > WEIGHT_TOL:
            raise ParameterError(f"`weights` must sum to 1 (got {total!r})")
        for n, p in zip(names, profiles, strict=True):
            if not isinstance(p, CellProfile):
                raise ParameterError(
                    f"profile of subpopulation {n!r} must be a CellProfile (got {type(p).__name__})"
                )
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "weights", tuple(x / total for x in w))
        object.__setattr__(self, "profiles", profiles)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def single(cls, profile: CellProfile | None = None, name: str = "cells") -> CellPopulation:
        """A population of one profile (its model is the profile's model, untagged).

        Examples
        --------
        >>> CellPopulation.single().names
        ('cells',)
        """
        return cls((name,), (1.0,), (profile or CellProfile(),))

    @classmethod
    def from_dict(cls, parts: Mapping[str, tuple[float, CellProfile]]) -> CellPopulation:
        """A population from ``{name: (weight, profile)}``.

        Examples
        --------
        >>> pop = CellPopulation.from_dict({"a": (0.25, CellProfile()), "b": (0.75, CellProfile())})
        >>> pop.weights
        (0.25, 0.75)
        """
        if not isinstance(parts, Mapping):
            raise ParameterError("`parts` must be a mapping of name to (weight, profile)")
        return cls(
            tuple(parts), tuple(w for w, _ in parts.values()), tuple(p for _, p in parts.values())
        )

    @classmethod
    def lognormal(
        cls,
        median_um: float,
        sigma: float,
        n_classes: int = 4,
        *,
        base: CellProfile | None = None,
        cluster_share: float = 0.0,
        cluster_cells: float = 4.0,
        cluster_deformability: float = 0.0,
    ) -> CellPopulation:
        """Single cells with log-normal diameters, plus clusters.

        The single cells (weight ``1 - cluster_share``) are cut into ``n_classes`` equal
        classes, class ``i`` (1-based) at the diameter of quantile ``(i - 0.5) / n`` of
        a log-normal of median ``median_um`` and log-sd ``sigma``. Clusters (weight
        ``cluster_share``, omitted if 0) are one stiff particle of ``cluster_cells``
        cells packed in a sphere: diameter ``median_um * cluster_cells ** (1/3)``,
        deformability ``cluster_deformability``. Every other parameter from ``base``.

        Examples
        --------
        >>> pop = CellPopulation.lognormal(10.0, 0.25, 2)
        >>> [round(p.diameter_um, 2) for p in pop.profiles]
        [8.45, 11.84]
        """
        base = base or CellProfile()
        med = check_number(median_um, "median_um", low=0.0, low_open=True, unit="um")
        sd = check_number(sigma, "sigma", low=0.0)
        n = check_int(n_classes, "n_classes", low=1)
        share = check_number(cluster_share, "cluster_share", low=0.0, high=1.0, high_open=True)
        k = check_number(cluster_cells, "cluster_cells", low=1.0)
        names, weights, profiles = [], [], []
        for i in range(1, n + 1):
            d = med * math.exp(sd * float(stats.norm.ppf((i - 0.5) / n)))
            names.append(f"single_{i}")
            weights.append((1.0 - share) / n)
            profiles.append(base.replace(diameter_um=d))
        if share > 0:
            names.append("cluster")
            weights.append(share)
            profiles.append(
                base.replace(
                    diameter_um=med * k ** (1.0 / 3.0), deformability=cluster_deformability
                )
            )
        return cls(tuple(names), tuple(weights), tuple(profiles))

    @classmethod
    def default(cls, body: nx.DiGraph | None = None) -> CellPopulation:
        """The default population, from ``cell_population.csv`` and ``site_parameters.csv``.

        Single CTCs with log-normal diameters (median and spread of CTCs measured in
        patients), clusters, and the host values per organ (shunt, adhesion,
        transcoelomic shedding). With ``body``, only the per-organ values of organs that
        body has are kept (a model checks that every site it is given exists).

        Examples
        --------
        >>> import circnet
        >>> pop = CellPopulation.default(circnet.default_body("female"))
        >>> pop.names[-1], round(pop.weight("cluster"), 3)
        ('cluster', 0.03)
        >>> pop.profile("single_1").site_value("shunt_fraction", "lung")
        0.03
        """
        t = population_table()["value"]
        base = CellProfile(
            deformability=t["deformability"],
            tissue_lymph_exit_probability=t["tissue_lymph_exit_probability"],
        )
        keep = None if body is None else set(organs(body)) | {str(n) for n in lymph_nodes(body)}
        for r in site_table().itertuples():
            if keep is None or r.site in keep:
                base = base.with_site(r.site, **{r.parameter: r.value})
        return cls.lognormal(
            t["median_diameter_um"],
            t["sigma_log"],
            int(t["n_classes"]),
            base=base,
            cluster_share=t["cluster_share"],
            cluster_cells=t["cluster_cells"],
            cluster_deformability=t["cluster_deformability"],
        )

    @staticmethod
    def sources() -> pd.DataFrame:
        """Every value behind :meth:`default`, with its kind, range and source.

        Examples
        --------
        >>> set(CellPopulation.sources()["kind"]) <= {"measured", "assumption", "calibrated"}
        True
        """
        a = population_table().reset_index()
        a.insert(0, "site", "")
        b = site_table()
        cols = ["site", "parameter", "value", "low", "high", "kind", "source"]
        return pd.concat([a[cols], b[cols]], ignore_index=True)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[tuple[str, float, CellProfile]]:
        return iter(zip(self.names, self.weights, self.profiles, strict=True))

    def _pos(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise UnknownNameError(
                f"unknown subpopulation {name!r} (known: {', '.join(self.names)})"
            ) from None

    def profile(self, name: str) -> CellProfile:
        """The profile of one subpopulation."""
        return self.profiles[self._pos(name)]

    def weight(self, name: str) -> float:
        """The weight of one subpopulation."""
        return self.weights[self._pos(name)]

    def replace(self, **changes: Any) -> CellPopulation:
        """A copy with global parameters changed in every subpopulation.

        Examples
        --------
        >>> CellPopulation.single().replace(death_rate_blood=0.01).profiles[0].death_rate_blood
        0.01
        """
        PARAMETERS.check_names(changes, extra=("sites",))
        return dataclasses.replace(
            self, profiles=tuple(p.replace(**changes) for p in self.profiles)
        )

    def with_site(self, site: str, **params: float) -> CellPopulation:
        """A copy with per-site values set at ``site`` in every subpopulation."""
        return dataclasses.replace(
            self, profiles=tuple(p.with_site(site, **params) for p in self.profiles)
        )

    def check_sites(self, organs: set[str], nodes: set[str]) -> None:
        """Raise :class:`~circnet.UnknownNameError` for a site a body lacks."""
        for name, p in zip(self.names, self.profiles, strict=True):
            try:
                p.check_sites(organs, nodes)
            except UnknownNameError as err:
                raise UnknownNameError(f"subpopulation {name!r}: {err}") from None

    def to_frame(self) -> pd.DataFrame:
        """One row per subpopulation: weight, diameter, deformability, effective diameter.

        Examples
        --------
        >>> CellPopulation.single().to_frame().columns.tolist()
        ['weight', 'diameter_um', 'deformability', 'effective_diameter_um']
        """
        return pd.DataFrame(
            {
                "weight": self.weights,
                "diameter_um": [p.diameter_um for p in self.profiles],
                "deformability": [p.deformability for p in self.profiles],
                "effective_diameter_um": [p.effective_diameter_um for p in self.profiles],
            },
            index=pd.Index(self.names, name="subpopulation"),
        )

    def blocks(self) -> list[tuple[str | None, CellProfile]]:
        """``(tag, profile)`` per block of a model: one untagged block for one profile."""
        if len(self.names) == 1:
            return [(None, self.profiles[0])]
        return list(zip(self.names, self.profiles, strict=True))


def as_population(cells: Any) -> CellPopulation:
    """``cells`` (None, a CellProfile or a CellPopulation) as a CellPopulation."""
    if cells is None:
        return CellPopulation.single()
    if isinstance(cells, CellProfile):
        return CellPopulation.single(cells)
    if isinstance(cells, CellPopulation):
        return cells
    raise ParameterError(
        f"`cells` must be a CellProfile or a CellPopulation (got {type(cells).__name__})"
    )


def mixture(parts: Iterable[pd.Series], weights: Sequence[float]) -> pd.Series:
    """The weighted sum of Series on the same index (for tests and reports)."""
    out: pd.Series | None = None
    for s, w in zip(parts, weights, strict=True):
        out = s * w if out is None else out + s * w
    if out is None:
        raise ParameterError("`parts` is empty")
    return out
