"""Local sensitivity of a fate probability: elasticities by central finite differences.

For a fate ``a`` and a source, the elasticity of ``P(a)`` to a positive quantity
``theta`` is ``d ln P(a) / d ln theta``, estimated as
``(P(theta (1 + h)) - P(theta (1 - h))) / (2 h P(theta))``. The quantities are the
global cell parameters (:data:`circnet.cells.PARAMETERS`) and each organ's arterial
flow, changed with :func:`circnet.scale_organ_flow` (the pool's output kept). Nothing
here depends on node names: organs and their beds come from the body's node kinds and
``organ`` attributes (:func:`~circnet.body.bed_of`), and the arterial pool is the one
that feeds the most beds (:func:`~circnet.body.arterial_pool`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from ._validation import check_number
from .body import arterial_pool, bed_of, scale_organ_flow
from .cells import PARAMETERS
from .errors import ParameterError, UnknownNameError

if TYPE_CHECKING:  # the model calls in here; no import at run time
    from .transport import TransportModel

__all__ = ["sensitivity"]


def sensitivity(
    model: TransportModel,
    fate: str,
    primary: str,
    *,
    parameters: Sequence[str] | None = None,
    flows: Sequence[str] | None = None,
    rel_step: float = 1e-4,
) -> pd.Series:
    """Elasticities ``d ln P(fate) / d ln theta`` of a model, by central differences.

    Parameters
    ----------
    model : TransportModel
    fate : str
        A fate label, e.g. ``"colony:liver"``.
    primary : str
        The source (an organ or a lymph-node group).
    parameters : sequence of str, optional
        Cell parameters (global values); default every one with a positive value.
        A parameter at 0 gets NaN.
    flows : sequence of str, optional
        Organs whose arterial flow to change; default every organ whose capillary bed
        the arterial pool feeds.
    rel_step : float
        Relative step ``h``, in (0, 0.5).

    Returns
    -------
    pandas.Series
        One elasticity per parameter (named as the parameter) and per organ flow
        (``"flow:<organ>"``).

    Examples
    --------
    >>> import circnet
    >>> model = circnet.TransportModel(circnet.default_body())
    >>> e = sensitivity(model, "colony:liver", "colon_rectum", parameters=["receptivity"],
    ...                 flows=[])
    >>> round(float(e["receptivity"]), 3) == round(1 - model.cells.colonisation_probability, 3)
    True
    """
    if fate not in model.fate_labels:
        raise UnknownNameError(f"unknown fate {fate!r}")
    if not isinstance(primary, str):
        raise ParameterError(f"`primary` must be the name of one source (got {primary!r})")
    h = check_number(rel_step, "rel_step", low=0.0, high=0.5, low_open=True, high_open=True)
    j = model.fate_labels.index(fate)
    base = float(model.fates(primary)[fate])
    if base <= 0:
        raise ParameterError(f"fate {fate!r} has probability 0 from {primary!r}: no elasticity")
    out: dict[str, float] = {}
    cells = model.cells
    if parameters is None:
        parameters = [k for k in PARAMETERS if getattr(cells, k) > 0]
    for name in parameters:
        v = getattr(cells, name, None) if name in PARAMETERS else None
        if v is None:
            raise UnknownNameError(f"unknown cell parameter {name!r}")
        if v == 0:
            out[name] = math.nan
            continue
        hi = model.with_cells(**{name: v * (1 + h)}).fates(primary).iloc[j]
        lo = model.with_cells(**{name: v * (1 - h)}).fates(primary).iloc[j]
        out[name] = (hi - lo) / (2 * h * base)
    if flows is None:
        heart, body = arterial_pool(model.body), model.body
        flows = [o for o in model.organs if body.has_edge(heart, bed_of(body, o))]
    for organ in flows:
        up = scale_organ_flow(model.body, organ, 1 + h)
        hi = model.with_body(up).fates(primary).iloc[j]
        lo = model.with_body(scale_organ_flow(model.body, organ, 1 - h)).fates(primary).iloc[j]
        out[f"flow:{organ}"] = (hi - lo) / (2 * h * base)
    return pd.Series(out, name=f"elasticity of P({fate}) from {primary}")
