"""Growth, angiogenesis, shedding and immune control of one tumour.

The state of a tumour is its volume ``V`` and its carrying capacity ``K`` (both in
mm^3; :data:`CELLS_PER_MM3` = 1e6 cells per mm^3, i.e. about 1e9 cells per cm^3 or
gram). Time is in days.

Growth (Hahnfeldt, Panigrahy, Folkman & Hlatky 1999, Cancer Res 59:4770)::

    dV/dt = -lambda1 V ln(V / K)                       - kill(V) V
    dK/dt = -lambda2 K + b V - d K V^(2/3) - e K g(t)

``K`` is the tumour's vascular support: its own angiogenic signalling (``b V``) raises
it, endogenous inhibitors (``d K V^(2/3)``) and an angiogenesis inhibitor at exposure
``g(t)`` (``e K g``; ``g = 1`` while treated, else 0) lower it. Every rate is divided by
``time_scale`` (the published values are for Lewis lung carcinoma in mice; see
:data:`PARAMETERS`, read from ``circnet/data/tumour_parameters.csv`` with the source of
every default).

Three phases share the same equation for ``V``:

* **avascular** (a colony that has not switched on angiogenesis): ``K`` is frozen at
  the avascular limit ``avascular_limit_cells`` (Folkman: about 1e5-1e6 cells, up to
  about 2 mm across, as oxygen diffuses only 100-200 um from a vessel), so the colony
  grows as a Gompertz curve towards that limit and stalls there, dormant;
* **vascular**, ``growth_model="hahnfeldt"``: ``K`` follows the equation above, starting
  from the value it had when the switch happened;
* **vascular**, ``growth_model="gompertz"``: ``K`` jumps to ``gompertz_capacity_cells``
  and stays there (classic Gompertz growth, no angiogenesis dynamics).

Immune control in lymph nodes: a nodal tumour loses cells at the per-cell rate
``kill(V) = immune_kill_rate / (1 + V / immune_saturation)``: strong while the tumour
is small, failing as it grows (the immune response saturates; Michaelis-Menten form of
Kuznetsov, Makalkin, Taylor & Perelson 1994, Bull Math Biol 56:295). A tumour that
falls below one cell is cleared.

Shedding: a vascular tumour of ``N`` cells sheds on average ``shedding_rate * N / 1e9``
cells per day (Butler & Gullino 1975, Cancer Res 35:512: 3.2e6 cells per gram per day
from growing, 4.1e6 from regressing rat mammary carcinomas, measured in the tumour's
efferent blood). The rate is a property of a tumour that has invaded vessels; an
avascular colony has no vessels of its own and sheds ``avascular_shedding`` times that
rate (default 0): "a tumour that has invaded vessels sheds more" is the switch from 0
to the full rate at the angiogenic switch.

Numerics: the state is integrated in log space (``u = ln V``, ``w = ln K``), where
``du/dt = -lambda1 (u - w) - kill`` is linear in ``u``. Avascular colonies without
immune kill are stepped exactly (``u - w`` decays as ``exp(-lambda1 t)``); every other
tumour by classical Runge-Kutta (RK4) with enough substeps that ``rate * h <= 0.5``
(one a day with the defaults: relative error below 1e-6 against ``solve_ivp``; about
1e-5 with the fast published mouse rates, ``time_scale=1``),
vectorised over all tumours (:func:`grow`); :func:`grow_tumour` checks one tumour
against ``scipy.integrate.solve_ivp`` in the tests.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._params import ParamTable, checked_keywords, class_or_instance, load_table
from ._validation import check_choice, check_number
from .errors import ParameterError

__all__ = [
    "TumourParams",
    "PARAMETERS",
    "CELLS_PER_MM3",
    "grow",
    "grow_tumour",
    "growth_rhs",
    "shedding_rate",
]

#: Cells per mm^3 of tumour (about 1e9 cells per cm^3, i.e. per gram).
CELLS_PER_MM3 = 1.0e6
#: Largest step in units of the fastest rate: RK4 substeps satisfy ``rate * h <= RK4_H``.
RK4_H = 0.5


#: Unit, domain, kind and source of every numeric parameter of :class:`TumourParams`,
#: read from ``circnet/data/tumour_parameters.csv``.
PARAMETERS: ParamTable = load_table("tumour_parameters.csv", what="tumour parameter")
_D = PARAMETERS.defaults
_GROWTH_MODELS = ("hahnfeldt", "gompertz")


@checked_keywords(PARAMETERS, extra=("growth_model",))
@dataclass(frozen=True)
class TumourParams:
    """Parameters of tumour growth, angiogenesis, shedding and nodal immunity (frozen).

    Parameters
    ----------
    growth_model : {"hahnfeldt", "gompertz"}
        Vascular growth with angiogenesis dynamics (Hahnfeldt et al. 1999) or a fixed
        Gompertz plateau.
    lambda1, lambda2, b, d, e, time_scale, gompertz_capacity_cells, avascular_limit_cells,
    colony_cells, shedding_rate, avascular_shedding, switch_rate, dormant_death_rate,
    immune_kill_rate, immune_saturation_cells, detection_cells : float
        See :data:`PARAMETERS` (``TumourParams.describe()``; the table is
        ``circnet/data/tumour_parameters.csv``) for units, domains and sources.
        ``lambda1 .. e`` are the published per-day values; the model divides them by
        ``time_scale``.

    Examples
    --------
    >>> import circnet
    >>> p = TumourParams()
    >>> p.rate("lambda1") == p.lambda1 / p.time_scale
    True
    >>> round(p.steady_cells / 1e9, 1)  # (b/d)^1.5 mm^3, in units of 1e9 cells
    17.3
    >>> try:
    ...     TumourParams(switch_rate=-1)
    ... except circnet.ParameterError as err:
    ...     print(err)
    `switch_rate` must be >= 0 1/day (got -1)
    """

    growth_model: str = "hahnfeldt"
    lambda1: float = _D["lambda1"]
    lambda2: float = _D["lambda2"]
    b: float = _D["b"]
    d: float = _D["d"]
    e: float = _D["e"]
    time_scale: float = _D["time_scale"]
    gompertz_capacity_cells: float = _D["gompertz_capacity_cells"]
    avascular_limit_cells: float = _D["avascular_limit_cells"]
    colony_cells: float = _D["colony_cells"]
    shedding_rate: float = _D["shedding_rate"]
    avascular_shedding: float = _D["avascular_shedding"]
    switch_rate: float = _D["switch_rate"]
    dormant_death_rate: float = _D["dormant_death_rate"]
    immune_kill_rate: float = _D["immune_kill_rate"]
    immune_saturation_cells: float = _D["immune_saturation_cells"]
    detection_cells: float = _D["detection_cells"]

    def __post_init__(self) -> None:
        check_choice(self.growth_model, "growth_model", _GROWTH_MODELS)
        PARAMETERS.clean(self)
        if self.colony_cells > self.avascular_limit_cells:
            raise ParameterError(
                f"`colony_cells` ({self.colony_cells:g}) must not exceed "
                f"`avascular_limit_cells` ({self.avascular_limit_cells:g})"
            )

    # ------------------------------------------------------------------ access
    def rate(self, name: str) -> float:
        """A rate of the growth model divided by ``time_scale`` (per day of the course)."""
        if name not in ("lambda1", "lambda2", "b", "d", "e"):
            raise ParameterError(f"{name!r} is not a rate of the growth model")
        return getattr(self, name) / self.time_scale

    @property
    def steady_cells(self) -> float:
        """Untreated steady size of a vascular Hahnfeldt tumour, ``(b/d)^1.5`` mm^3, in cells."""
        if self.d == 0:
            return math.inf
        return (self.b / self.d) ** 1.5 * CELLS_PER_MM3

    def replace(self, **changes: Any) -> TumourParams:
        """A copy with some parameters changed (validated).

        Examples
        --------
        >>> TumourParams().replace(switch_rate=0.0).switch_rate
        0.0
        """
        PARAMETERS.check_names(changes, extra=("growth_model",))
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """All parameters as a plain dict (JSON-ready)."""
        return dataclasses.asdict(self)

    @class_or_instance
    def describe(self) -> pd.DataFrame:
        """Table of every parameter: value, unit, domain, kind, source, derivation.

        Called on the class, it describes the defaults.

        Examples
        --------
        >>> float(TumourParams().describe().loc["shedding_rate", "value"])
        3200000.0
        >>> TumourParams.describe().loc["dormant_death_rate", "kind"]
        'derived'
        """
        return PARAMETERS.describe(self)


# ============================================================================ dynamics
def growth_rhs(
    v: float,
    k: float,
    params: TumourParams,
    *,
    vascular: bool = True,
    nodal: bool = False,
    inhibitor: float = 0.0,
) -> tuple[float, float]:
    """Right-hand side ``(dV/dt, dK/dt)`` in mm^3/day, the model as published.

    A plain reference implementation (not used by the course), for checks against
    ``scipy.integrate.solve_ivp``.

    Examples
    --------
    >>> dv, dk = growth_rhs(180.0, 625.0, TumourParams(time_scale=1.0))
    >>> round(dv, 2), round(dk, 1)
    (43.02, 879.1)
    """
    lam1, lam2 = params.rate("lambda1"), params.rate("lambda2")
    b, d, e = params.rate("b"), params.rate("d"), params.rate("e")
    dv = -lam1 * v * math.log(v / k)
    if nodal:
        dv -= (
            params.immune_kill_rate * v / (1.0 + v * CELLS_PER_MM3 / params.immune_saturation_cells)
        )
    if not vascular or params.growth_model == "gompertz":
        return dv, 0.0
    dk = -lam2 * k + b * v - d * k * v ** (2.0 / 3.0) - e * k * inhibitor
    return dv, dk


def grow(
    lnv: np.ndarray,
    lnk: np.ndarray,
    dt: float,
    params: TumourParams,
    *,
    vascular: np.ndarray,
    kill: np.ndarray | None = None,
    inhibitor: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Advance many tumours by ``dt`` days; the state is ``ln V``, ``ln K`` (V, K in mm^3).

    Parameters
    ----------
    lnv, lnk : ndarray of float
        Log volume and log carrying capacity of each tumour.
    dt : float
        Step, days.
    params : TumourParams
    vascular : ndarray of bool
        Which tumours have switched on angiogenesis (their ``K`` evolves under
        ``growth_model="hahnfeldt"``; avascular ``K`` stays put).
    kill : ndarray of float, optional
        Per-cell immune kill rate (1/day) of each tumour at small size (0 outside lymph
        nodes); ``None`` for none.
    inhibitor : float
        Exposure ``g`` to the angiogenesis inhibitor during the step (0 or 1).

    Returns
    -------
    (lnv, lnk) : new arrays

    Examples
    --------
    >>> import numpy as np
    >>> p = TumourParams()
    >>> lnv, lnk = grow(np.log([1e-6]), np.log([1.0]), 365.0, p, vascular=np.array([False]))
    >>> bool(np.exp(lnv[0]) < 1.0)  # an avascular colony stays below its limit (1 mm^3)
    True
    """
    lnv = np.asarray(lnv, dtype=float)
    lnk = np.asarray(lnk, dtype=float)
    vascular = np.asarray(vascular, dtype=bool)
    if kill is not None:
        kill = np.asarray(kill, dtype=float)
        if not kill.any():
            kill = None
    hahn = None
    if params.growth_model == "hahnfeldt" and vascular.any():
        hahn = vascular.astype(float)
    return _step(lnv, lnk, dt, _constants(params, inhibitor), hahn, kill)


def _constants(params: TumourParams, inhibitor: float) -> tuple[float, ...]:
    """``(lambda1, lambda2 + e g, b, d, 1e6 / immune_saturation_cells)`` per course day."""
    return (
        params.rate("lambda1"),
        params.rate("lambda2") + params.rate("e") * inhibitor,
        params.rate("b"),
        params.rate("d"),
        CELLS_PER_MM3 / params.immune_saturation_cells,
    )


def _rhs(u: np.ndarray, w: np.ndarray, hahn: Any, kill: Any, c: tuple[float, ...]) -> Any:
    lam1, loss, b, d, ksat = c
    du = (w - u) * lam1
    if kill is not None:
        du -= kill / (1.0 + np.exp(u) * ksat)
    if hahn is None:
        return du, None
    dw = b * np.exp(u - w)
    dw -= d * np.exp(u * (2.0 / 3.0))
    dw -= loss
    dw *= hahn
    return du, dw


def _step(
    lnv: np.ndarray,
    lnk: np.ndarray,
    dt: float,
    c: tuple[float, ...],
    hahn: np.ndarray | None,
    kill: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """One step of ``dt`` days; ``hahn``: 1.0 where K evolves (else None), ``kill``: per row."""
    lam1, loss, b, d, _ = c
    if kill is None and hahn is None:
        # exact: u - w decays as exp(-lambda1 t), w constant
        return lnk + (lnv - lnk) * math.exp(-lam1 * dt), lnk.copy()
    # substeps: bound rate * h by RK4_H with the fastest rate over all tumours
    fast = lam1
    if kill is not None:
        fast += float(kill.max())
    if hahn is not None:
        rates = b * np.exp(lnv - lnk) + d * np.exp(lnv * (2.0 / 3.0))
        fast += float((rates * hahn).max()) + loss
    n = max(1, math.ceil(fast * dt / RK4_H))
    h = dt / n
    u, w = lnv, lnk
    if hahn is None:
        for _ in range(n):
            k1, _ = _rhs(u, w, None, kill, c)
            k2, _ = _rhs(u + (0.5 * h) * k1, w, None, kill, c)
            k3, _ = _rhs(u + (0.5 * h) * k2, w, None, kill, c)
            k4, _ = _rhs(u + h * k3, w, None, kill, c)
            u = u + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
        return u, w.copy()
    for _ in range(n):
        k1u, k1w = _rhs(u, w, hahn, kill, c)
        k2u, k2w = _rhs(u + (0.5 * h) * k1u, w + (0.5 * h) * k1w, hahn, kill, c)
        k3u, k3w = _rhs(u + (0.5 * h) * k2u, w + (0.5 * h) * k2w, hahn, kill, c)
        k4u, k4w = _rhs(u + h * k3u, w + h * k3w, hahn, kill, c)
        u = u + (h / 6.0) * (k1u + 2.0 * (k2u + k3u) + k4u)
        w = w + (h / 6.0) * (k1w + 2.0 * (k2w + k3w) + k4w)
    return u, w


def grow_tumour(
    cells: float,
    capacity_cells: float,
    days: float,
    params: TumourParams | None = None,
    *,
    dt: float = 1.0,
    vascular: bool = True,
    nodal: bool = False,
    inhibitor_from_day: float | None = None,
) -> pd.DataFrame:
    """Deterministic course of one tumour: cells and carrying capacity, day by day.

    Parameters
    ----------
    cells, capacity_cells : float
        Initial size and carrying capacity, cells.
    days : float
        Duration, days.
    params : TumourParams, optional
    dt : float
        Output (and step) interval, days.
    vascular : bool
        Whether the tumour has switched on angiogenesis (else ``K`` stays put).
    nodal : bool
        Whether it sits in a lymph node (immune kill applies).
    inhibitor_from_day : float, optional
        Day from which the angiogenesis inhibitor is given (``g = 1``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``day``; columns ``cells``, ``capacity_cells``, ``shedding`` (cells/day).

    Examples
    --------
    >>> course = grow_tumour(1e6, 1e6, 3650)
    >>> bool(course["cells"].iloc[-1] > 1e9)  # a vascular tumour outgrows 1 cm^3
    True
    >>> dormant = grow_tumour(1.0, 1e6, 3650, vascular=False)
    >>> bool(dormant["cells"].max() <= 1e6)   # an avascular one stalls at the limit
    True
    """
    params = params or TumourParams()
    cells = check_number(cells, "cells", low=0.0, low_open=True, unit="cells")
    capacity_cells = check_number(
        capacity_cells, "capacity_cells", low=0.0, low_open=True, unit="cells"
    )
    days = check_number(days, "days", low=0.0, unit="days")
    dt = check_number(dt, "dt", low=0.0, low_open=True, unit="days")
    n = int(round(days / dt))
    lnv = np.array([math.log(cells / CELLS_PER_MM3)])
    lnk = np.array([math.log(capacity_cells / CELLS_PER_MM3)])
    if vascular and params.growth_model == "gompertz":
        lnk[:] = math.log(params.gompertz_capacity_cells / CELLS_PER_MM3)
    vas = np.array([vascular])
    kill = np.array([params.immune_kill_rate if nodal else 0.0])
    out = np.empty((n + 1, 2))
    out[0] = lnv[0], lnk[0]
    for i in range(n):
        g = 1.0 if inhibitor_from_day is not None and i * dt >= inhibitor_from_day else 0.0
        lnv, lnk = grow(lnv, lnk, dt, params, vascular=vas, kill=kill, inhibitor=g)
        out[i + 1] = lnv[0], lnk[0]
    c = np.exp(out[:, 0]) * CELLS_PER_MM3
    return pd.DataFrame(
        {
            "cells": c,
            "capacity_cells": np.exp(out[:, 1]) * CELLS_PER_MM3,
            "shedding": shedding_rate(c, np.full(n + 1, vascular), params),
        },
        index=pd.Index(np.arange(n + 1) * dt, name="day"),
    )


def shedding_rate(cells: Any, vascular: Any, params: TumourParams) -> np.ndarray:
    """Mean number of cells shed per day by tumours of ``cells`` cells.

    ``shedding_rate * cells / 1e9`` (per gram of 1e9 cells) for vascular tumours,
    times ``avascular_shedding`` for avascular ones.

    Examples
    --------
    >>> shedding_rate([1e9, 1e9], [True, False], TumourParams()).tolist()
    [3200000.0, 0.0]
    """
    cells = np.asarray(cells, dtype=float)
    factor = np.where(np.asarray(vascular, dtype=bool), 1.0, params.avascular_shedding)
    return params.shedding_rate * 1e-9 * cells * factor
