"""CellProfile: the parameters of a detached tumour cell and of its hosts.

Every parameter has a unit and a default with its source (see :data:`PARAMETERS`
and ``CellProfile.describe()``). Some defaults are measurements (CTC half-life,
metastatic inefficiency); others are modelling assumptions where no direct human
measurement exists, and say so: vary them.

The model of a cell (design §2), with rates per minute:

* in a pool or duct it dies at ``death_rate_blood`` (``death_rate_lymph`` in lymph);
* on each passage through a capillary bed of diameter ``d_v`` it lodges with
  probability :func:`lodging_probability` ``(d_cell * (1 - deformability), d_v)``,
  a logistic curve that rises with the cell's effective diameter;
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
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

from .errors import ParameterError, UnknownNameError

__all__ = ["CellProfile", "PARAMETERS", "lodging_probability", "SITE_PARAMETERS"]

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class _Param:
    unit: str
    domain: str  # "positive", "nonnegative", "probability", "fraction_open"
    source: str
    per_site: str | None = None  # "organ", "node" or None


#: Unit, domain and source of every parameter of :class:`CellProfile`.
PARAMETERS: Mapping[str, _Param] = MappingProxyType(
    {
        "diameter_um": _Param(
            "um",
            "positive",
            "Tumour cells are about 10-20 um across (circnet shared reference; Chambers AF, Groom "
            "AC, "
            "MacDonald IC (2002) Nat Rev Cancer 2:563); mid value 15 um",
        ),
        "deformability": _Param(
            "1",
            "fraction_open",
            "Calibrated assumption: share by which a cell can squeeze below its diameter. 0.2 "
            "gives "
            "a 15 um cell an effective 12 um, so that about 88 % of cells arrest on a first pass "
            "through 10 um liver sinusoids, as most cells injected into the mesenteric vein "
            "arrested in the liver (Luzzi KJ et al. (1998) Am J Pathol 153:865; Chambers et al. "
            "2002)",
        ),
        "lodging_width_um": _Param(
            "um",
            "positive",
            "Modelling assumption: width of the logistic lodging curve (how sharply lodging rises "
            "once the cell is wider than the vessel)",
        ),
        "death_rate_blood": _Param(
            "1/min",
            "nonnegative",
            "ln 2 / half-life; CTC half-life in blood 1-2.4 h (Meng S et al. (2004) Clin Cancer "
            "Res "
            "10:8152); default half-life 1.5 h",
        ),
        "death_rate_lymph": _Param(
            "1/min",
            "nonnegative",
            "Modelling assumption: death in lymph taken equal to death in blood (no human "
            "measurement found)",
        ),
        "lymph_fraction": _Param(
            "1",
            "probability",
            "Modelling assumption: share of shed cells entering afferent lymph rather than the "
            "venous outflow (no direct human measurement; vary it)",
        ),
        "extravasation_probability": _Param(
            "1",
            "probability",
            "Luzzi KJ et al. (1998) Am J Pathol 153:865: about 83 % of arrested cells extravasated "
            "by day 3 (B16F1 cells in mouse liver)",
            "organ",
        ),
        "lodged_time_min": _Param(
            "min",
            "positive",
            "Luzzi et al. (1998): extravasation complete within about 3 days; mean time 1 day "
            "(1440 min) taken",
            "organ",
        ),
        "colonisation_probability": _Param(
            "1",
            "probability",
            "Luzzi et al. (1998): about 2 % of injected cells formed micrometastases, i.e. about "
            "2.4 % of the 83 % extravasated (0.02 / 0.83)",
            "organ",
        ),
        "tissue_time_min": _Param(
            "min",
            "positive",
            "Luzzi et al. (1998): micrometastases counted at day 13; mean time to the cell's fate "
            "in "
            "tissue taken as 7 days (10080 min)",
            "organ",
        ),
        "receptivity": _Param(
            "1",
            "nonnegative",
            "Seed and soil (Paget 1889): organ factor multiplying the odds of colonisation; "
            "default 1 "
            "= anatomy alone",
            "organ",
        ),
        "trapping_probability": _Param(
            "1",
            "probability",
            "Modelling assumption: share of cells arriving at a lymph-node group that are retained "
            "in its sinuses (no direct human measurement)",
            "node",
        ),
        "immune_kill_rate": _Param(
            "1/min",
            "nonnegative",
            "Modelling assumption: immune killing of trapped cells, mean 1 day (1/1440 per min)",
            "node",
        ),
        "nodal_growth_rate": _Param(
            "1/min",
            "nonnegative",
            "Modelling assumption: rate at which a trapped cell founds a nodal tumour, chosen so "
            "that "
            "about 5 % of trapped cells do (0.05/1440 per min against kill and release)",
            "node",
        ),
        "node_release_rate": _Param(
            "1/min",
            "nonnegative",
            "Modelling assumption: trapped cells leaving with efferent lymph, mean 4 days",
            "node",
        ),
    }
)

SITE_PARAMETERS = tuple(k for k, p in PARAMETERS.items() if p.per_site)


def _check(name: str, value: Any, where: str = "") -> float:
    p = PARAMETERS[name]
    label = f"`{name}`" + (f" for {where!r}" if where else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{label} must be a number in {p.unit} (got {value!r})")
    x = float(value)
    if math.isnan(x) or math.isinf(x):
        raise ParameterError(f"{label} must be finite (got {x!r})")
    if p.domain == "positive" and x <= 0:
        raise ParameterError(f"{label} must be positive (got {x!r})")
    if p.domain == "nonnegative" and x < 0:
        raise ParameterError(f"{label} must not be negative (got {x!r})")
    if p.domain == "probability" and not 0.0 <= x <= 1.0:
        raise ParameterError(f"{label} is a probability and must lie in [0, 1] (got {x!r})")
    if p.domain == "fraction_open" and not 0.0 <= x < 1.0:
        raise ParameterError(f"{label} must lie in [0, 1) (got {x!r})")
    return x


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


@dataclass(frozen=True)
class CellProfile:
    """Parameters of a detached cell and of its hosts (frozen; change with ``replace``).

    Parameters
    ----------
    diameter_um, deformability, lodging_width_um, death_rate_blood, death_rate_lymph,
    lymph_fraction, extravasation_probability, lodged_time_min, colonisation_probability,
    tissue_time_min, receptivity, trapping_probability, immune_kill_rate,
    nodal_growth_rate, node_release_rate : float
        Global values; see :data:`PARAMETERS` (``CellProfile.describe()``) for units and
        sources.
    sites : mapping, optional
        Per-organ or per-lymph-node values: ``{"liver": {"receptivity": 2.0},
        "axillary_nodes": {"trapping_probability": 0.8}}``. Organ parameters are
        ``extravasation_probability``, ``lodged_time_min``, ``colonisation_probability``,
        ``tissue_time_min``, ``receptivity``; node parameters ``trapping_probability``,
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
    `lymph_fraction` is a probability and must lie in [0, 1] (got 1.5)
    """

    diameter_um: float = 15.0
    deformability: float = 0.2
    lodging_width_um: float = 1.0
    death_rate_blood: float = _LN2 / 90.0
    death_rate_lymph: float = _LN2 / 90.0
    lymph_fraction: float = 0.1
    extravasation_probability: float = 0.83
    lodged_time_min: float = 1440.0
    colonisation_probability: float = 0.02 / 0.83
    tissue_time_min: float = 10080.0
    receptivity: float = 1.0
    trapping_probability: float = 0.5
    immune_kill_rate: float = 1.0 / 1440.0
    nodal_growth_rate: float = 0.05 / 1440.0 * (1.0 + 0.25) / 0.95
    node_release_rate: float = 1.0 / (4 * 1440.0)
    sites: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in PARAMETERS:
            object.__setattr__(self, name, _check(name, getattr(self, name)))
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
                    raise ParameterError(f"`sites[{site!r}]`: unknown parameter {name!r}")
                if name not in SITE_PARAMETERS:
                    raise ParameterError(
                        f"`sites[{site!r}]`: {name!r} is a global parameter, not set per site"
                    )
                entry[name] = _check(name, value, site)
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
        for k in changes:
            if k not in PARAMETERS and k != "sites":
                raise ParameterError(f"unknown parameter {k!r}")
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

    def describe(self) -> pd.DataFrame:
        """Table of every parameter: value, unit, per-site overrides, source.

        Examples
        --------
        >>> table = CellProfile().describe()
        >>> table.loc["diameter_um", "unit"]
        'um'
        """
        rows = []
        for name, p in PARAMETERS.items():
            over = {s: v[name] for s, v in self.sites.items() if name in v}
            rows.append(
                {
                    "parameter": name,
                    "value": getattr(self, name),
                    "unit": p.unit,
                    "per_site": p.per_site or "",
                    "overrides": over or "",
                    "source": p.source,
                }
            )
        return pd.DataFrame(rows).set_index("parameter")
