"""CellProfile: the parameters of a detached tumour cell and of its hosts.

Every parameter has a unit, a domain and a default with its source, one row each in
``circnet/data/cell_parameters.csv`` (see :data:`PARAMETERS` and
``CellProfile.describe()``). Some defaults are measurements (CTC half-life, metastatic
inefficiency) or derived from them (the row says how); others are modelling
assumptions where no direct human measurement exists, and say so: vary them.

The model of a cell (design §2), with rates per minute:

* in a pool or duct it dies at ``death_rate_blood`` (``death_rate_lymph`` in lymph);
* on each passage through a capillary bed of diameter ``d_v`` it lodges with
  probability :func:`lodging_probability` ``(d_cell * (1 - deformability), d_v)``,
  a logistic curve that rises with the cell's effective diameter, combined with the
  organ's size-independent ``adhesion_probability`` ``a`` as ``1 - (1 - p)(1 - a)``;
  a share ``shunt_fraction`` of the bed's blood bypasses the capillaries, and a cell in
  it passes without arrest (:meth:`CellProfile.arrest`);
* a cell in an organ's tissue may re-enter its lymphatics and leave with its afferent
  lymph (``tissue_lymph_exit_probability``) before its fate there;
* a primary in an organ inside a serosal cavity sheds a share ``transcoelomic_fraction``
  of its cells straight into the cavity;
* a lodged cell extravasates with probability ``extravasation_probability`` (else
  dies), after a mean ``lodged_time_min``;
* an extravasated cell founds a micrometastasis with probability
  ``r * c / (r * c + 1 - c)``, ``c = colonisation_probability`` and ``r`` the organ's
  ``receptivity`` ("soil", 1 = anatomy alone), else dies, after a mean
  ``tissue_time_min``;
* on each passage through a lymph-node group a cell is trapped with probability
  ``trapping_probability``; a trapped cell is killed by immune cells at
  ``immune_kill_rate``, founds a nodal tumour at ``nodal_growth_rate``, or leaves
  with efferent lymph at ``node_release_rate``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

from ._params import ParamTable, checked_keywords, class_or_instance, load_table
from .errors import ParameterError, UnknownNameError

__all__ = ["CellProfile", "PARAMETERS", "lodging_probability", "SITE_PARAMETERS"]

#: Unit, domain, kind and source of every parameter of :class:`CellProfile`, read from
#: ``circnet/data/cell_parameters.csv``.
PARAMETERS: ParamTable = load_table("cell_parameters.csv", what="parameter")
#: The parameters that can be set per organ or per lymph-node group.
SITE_PARAMETERS: tuple[str, ...] = PARAMETERS.site_names
_D = PARAMETERS.defaults


def lodging_probability(
    cell_diameter_um: float, vessel_diameter_um: float, width_um: float = 1.0
) -> float:
    """Probability that a cell of effective diameter ``cell_diameter_um`` lodges on one
    passage through a capillary of diameter ``vessel_diameter_um``.

    A logistic curve, ``1 / (1 + exp(-(d_cell - d_vessel) / width))``: one half when the
    cell is as wide as the vessel, rising monotonically with the cell's diameter and
    falling with the vessel's. A documented modelling choice in the spirit of the
    radius-dependent arrest of Font-Clos, Zapperi & La Porta (2020) iScience 23:101073.

    Examples
    --------
    >>> lodging_probability(8.0, 8.0)
    0.5
    >>> lodging_probability(12.0, 6.5) > lodging_probability(9.0, 6.5) > 0.5
    True
    """
    z = (float(cell_diameter_um) - float(vessel_diameter_um)) / float(width_um)
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@checked_keywords(PARAMETERS, extra=("sites",))
@dataclass(frozen=True)
class CellProfile:
    """Parameters of a detached cell and of its hosts (frozen; change with ``replace``).

    Parameters
    ----------
    diameter_um, deformability, lodging_width_um, death_rate_blood, death_rate_lymph,
    lymph_fraction, extravasation_probability, lodged_time_min, colonisation_probability,
    tissue_time_min, receptivity, trapping_probability, immune_kill_rate,
    nodal_growth_rate, node_release_rate, shunt_fraction, adhesion_probability,
    tissue_lymph_exit_probability, transcoelomic_fraction : float
        Global values; see :data:`PARAMETERS` (``CellProfile.describe()``) for units,
        domains and sources.
    sites : mapping, optional
        Per-organ or per-lymph-node values: ``{"liver": {"receptivity": 2.0},
        "axillary_nodes": {"trapping_probability": 0.8}}``. Organ parameters are
        ``extravasation_probability``, ``lodged_time_min``, ``colonisation_probability``,
        ``tissue_time_min``, ``receptivity``, ``shunt_fraction``,
        ``adhesion_probability``, ``tissue_lymph_exit_probability``,
        ``transcoelomic_fraction``; node parameters ``trapping_probability``,
        ``immune_kill_rate``, ``nodal_growth_rate``, ``node_release_rate``. Names are
        checked against the body when a :class:`~circnet.TransportModel` is built.

    Examples
    --------
    >>> import circnet
    >>> cells = CellProfile(diameter_um=18.0, sites={"liver": {"receptivity": 2.0}})
    >>> cells.site_value("receptivity", "liver"), cells.site_value("receptivity", "lung")
    (2.0, 1.0)
    >>> try:
    ...     CellProfile(lymph_fraction=1.5)
    ... except circnet.ParameterError as err:
    ...     print(err)
    `lymph_fraction` must be <= 1 (got 1.5)
    """

    diameter_um: float = _D["diameter_um"]
    deformability: float = _D["deformability"]
    lodging_width_um: float = _D["lodging_width_um"]
    death_rate_blood: float = _D["death_rate_blood"]
    death_rate_lymph: float = _D["death_rate_lymph"]
    lymph_fraction: float = _D["lymph_fraction"]
    extravasation_probability: float = _D["extravasation_probability"]
    lodged_time_min: float = _D["lodged_time_min"]
    colonisation_probability: float = _D["colonisation_probability"]
    tissue_time_min: float = _D["tissue_time_min"]
    receptivity: float = _D["receptivity"]
    trapping_probability: float = _D["trapping_probability"]
    immune_kill_rate: float = _D["immune_kill_rate"]
    nodal_growth_rate: float = _D["nodal_growth_rate"]
    node_release_rate: float = _D["node_release_rate"]
    shunt_fraction: float = _D["shunt_fraction"]
    adhesion_probability: float = _D["adhesion_probability"]
    tissue_lymph_exit_probability: float = _D["tissue_lymph_exit_probability"]
    transcoelomic_fraction: float = _D["transcoelomic_fraction"]
    sites: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        PARAMETERS.clean(self)
        if not isinstance(self.sites, Mapping):
            raise ParameterError(
                f"`sites` must be a mapping of site name to parameters "
                f"(got {type(self.sites).__name__})"
            )
        clean: dict[str, Mapping[str, float]] = {}
        for site, params in self.sites.items():
            if not isinstance(params, Mapping):
                raise ParameterError(f"`sites[{site!r}]` must be a mapping of parameter to value")
            entry = {}
            for name, value in params.items():
                if name not in PARAMETERS:
                    raise ParameterError(f"`sites[{site!r}]`: {PARAMETERS.unknown(str(name))}")
                if name not in SITE_PARAMETERS:
                    raise ParameterError(
                        f"`sites[{site!r}]`: {name!r} is a global parameter, not set per site"
                    )
                entry[name] = PARAMETERS[name].check(value, f"sites[{site!r}][{name!r}]")
            clean[str(site)] = MappingProxyType(entry)
        object.__setattr__(self, "sites", MappingProxyType(clean))

    # ------------------------------------------------------------------ access
    def site_value(self, name: str, site: str) -> float:
        """The value of parameter ``name`` at ``site`` (its override, else the global)."""
        if name not in PARAMETERS:
            raise UnknownNameError(f"unknown parameter {name!r}")
        return float(self.sites.get(site, {}).get(name, getattr(self, name)))

    def replace(self, **changes: Any) -> CellProfile:
        """A copy with some global parameters changed (validated).

        Examples
        --------
        >>> CellProfile().replace(diameter_um=20.0).diameter_um
        20.0
        """
        PARAMETERS.check_names(changes, extra=("sites",))
        return dataclasses.replace(self, **changes)

    def with_site(self, site: str, **params: float) -> CellProfile:
        """A copy with per-site values set at ``site``.

        Examples
        --------
        >>> CellProfile().with_site("liver", receptivity=3.0).site_value("receptivity", "liver")
        3.0
        """
        sites = {k: dict(v) for k, v in self.sites.items()}
        sites.setdefault(site, {}).update(params)
        return dataclasses.replace(self, sites=sites)

    @property
    def effective_diameter_um(self) -> float:
        """Diameter the cell can squeeze to: ``diameter_um * (1 - deformability)``."""
        return self.diameter_um * (1.0 - self.deformability)

    def lodging(self, vessel_diameter_um: float) -> float:
        """Probability of lodging on one passage through a vessel of that diameter."""
        return lodging_probability(
            self.effective_diameter_um, vessel_diameter_um, self.lodging_width_um
        )

    def arrest(self, vessel_diameter_um: float, organ: str | None = None) -> float:
        """Probability of arrest on one passage through the capillary bed of ``organ``
        (its global values if None, e.g. a lymph node's blood bed).

        Size arrest ``p`` (:meth:`lodging`) combined with the organ's
        ``adhesion_probability`` ``a`` and ``shunt_fraction`` ``s``:
        ``(1 - s) (1 - (1 - p) (1 - a))``; exactly :meth:`lodging` when ``a = s = 0``.

        Examples
        --------
        >>> cells = CellProfile(sites={"red_marrow": {"adhesion_probability": 0.5}})
        >>> round(cells.arrest(25.0, "red_marrow"), 3)
        0.5
        >>> cells.arrest(8.0) == cells.lodging(8.0)
        True
        """
        p = self.lodging(vessel_diameter_um)
        get = self._getter(organ)
        a, s = get("adhesion_probability"), get("shunt_fraction")
        if a > 0:
            p = 1.0 - (1.0 - p) * (1.0 - a)
        return p if s == 0 else (1.0 - s) * p

    def _getter(self, site: str | None) -> Any:
        if site is None:
            return lambda name: float(getattr(self, name))
        return lambda name: self.site_value(name, site)

    def colonisation(self, organ: str) -> float:
        """Probability that an extravasated cell in ``organ`` founds a micrometastasis."""
        c = self.site_value("colonisation_probability", organ)
        r = self.site_value("receptivity", organ)
        denom = r * c + (1.0 - c)
        return 0.0 if denom == 0 else r * c / denom

    def check_sites(self, organs: set[str], nodes: set[str]) -> None:
        """Raise :class:`~circnet.UnknownNameError` for a site the body lacks."""
        for site, params in self.sites.items():
            for name in params:
                kind = PARAMETERS[name].per_site
                known = organs if kind == "organ" else nodes
                if site not in known:
                    what = "an organ" if kind == "organ" else "a lymph-node group"
                    raise UnknownNameError(
                        f"`sites[{site!r}]` sets {name!r}, but {site!r} is not {what} of "
                        f"this body (known: {', '.join(sorted(known))})"
                    )

    @class_or_instance
    def describe(self) -> pd.DataFrame:
        """Table of every parameter: value, unit, domain, kind, per-site overrides, source.

        Called on the class, it describes the defaults.

        Examples
        --------
        >>> table = CellProfile.describe()
        >>> table.loc["diameter_um", ["unit", "domain", "kind"]].tolist()
        ['um', '(0, inf)', 'derived']
        >>> CellProfile(sites={"liver": {"receptivity": 2.0}}).describe().loc[
        ...     "receptivity", "overrides"]
        {'liver': 2.0}
        """
        return PARAMETERS.describe(self, sites=self.sites)
