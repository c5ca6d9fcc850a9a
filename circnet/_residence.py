"""Per-pass arrest of each capillary bed and the time shed cells spend in blood.

Two exact summaries of a :class:`~circnet.TransportModel`, for comparing a model's
arrest with the measured persistence of circulating tumour cells (CTC half-life about
1-2.4 h after resection, Meng S et al. (2004) Clin Cancer Res 10:8152):

* :func:`lodging_table`: the arrest probability on one passage through each capillary
  bed (:meth:`~circnet.CellProfile.arrest`), per subpopulation and weighted by the
  population's weights (the mix of cells entering a bed on a first pass);
* :func:`blood_residence`: the time until a shed cell first leaves the blood (arrest in
  a bed, or death in blood). The blood states are the ``transit`` states of pools and
  capillary beds; restricted to them the chain is a sub-generator ``B``, and from the
  blood part ``b0`` of a primary's release (renormalised) the cells still in blood at
  time ``t`` are ``b0 expm(t B) 1`` and the mean time is ``b0 (-B)^-1 1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.optimize import brentq

from ._validation import check_times
from .errors import ParameterError

if TYPE_CHECKING:
    from .transport import TransportModel

__all__ = ["lodging_table", "blood_residence", "BLOOD_KINDS"]

#: Body node kinds whose ``transit`` states are "in blood".
BLOOD_KINDS = ("pool", "capillary_bed")


def lodging_table(
    model: TransportModel, by_subpopulation: bool = False
) -> pd.Series | pd.DataFrame:
    """Arrest on one passage through each capillary bed, per subpopulation and weighted.

    Index: the bed's organ (a lymph node's blood bed: its node name).

    Examples
    --------
    >>> import circnet
    >>> model = circnet.TransportModel(circnet.default_body())
    >>> bool(model.lodging_table()["lung"] > 0.5)
    True
    """
    pop = model.population
    rows: dict[str, list[float]] = {}
    for n, d in model.body.nodes(data=True):
        if d["kind"] != "capillary_bed":
            continue
        organ = d.get("organ")
        key = str(n) if organ is None else str(organ)
        rows[key] = [p.arrest(float(d["diameter"]), organ) for p in pop.profiles]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(pop.names))
    weighted = table.to_numpy() @ np.asarray(pop.weights)
    if not by_subpopulation:
        return pd.Series(weighted, index=table.index, name="lodging_probability")
    table["population"] = weighted
    table.index.name = "bed"
    return table


def _blood(model: TransportModel) -> np.ndarray:
    space = model.state_space
    kinds = space.kinds[: space.n_transient]
    return np.array(
        [
            i
            for i, lab in enumerate(space.transient)
            if kinds[i] == "transit" and space.node_kind(lab) in BLOOD_KINDS
        ],
        dtype=np.int64,
    )


def blood_residence(
    model: TransportModel, sources: Any = "all", times: Any = (60.0, 120.0)
) -> pd.DataFrame:
    """Time in blood before the first arrest (or death in blood), per source, exactly.

    Parameters
    ----------
    model : TransportModel
    sources : "all" or list of str
        Organs or lymph-node groups (``"all"``: every organ). Only the share of the
        release that enters blood counts; it is renormalised to 1.
    times : sequence of float
        Minutes at which to report the share still in blood.

    Examples
    --------
    >>> import circnet
    >>> model = circnet.TransportModel(circnet.default_body())
    >>> res = model.blood_residence(["prostate"])
    >>> bool(0 < res.loc["prostate", "median_min"] < res.loc["prostate", "mean_min"])
    True

    Returns
    -------
    pandas.DataFrame
        Per source: ``mean_min`` (mean minutes in blood), ``in_blood_<t>min`` per time,
        ``median_min`` (half have left blood), ``dies_in_blood`` (share that dies in
        blood before any arrest) and ``blood_share`` (share of the release entering blood).
    """
    names = list(model.organs) if isinstance(sources, str) and sources == "all" else sources
    if isinstance(names, str):
        names = [names]
    t = check_times(times, strictly_increasing=True, allow_empty=True)
    idx = _blood(model)
    q = sp.csr_array(model.generator)
    b = q[idx][:, idx].tocsc()
    m = (-b).tocsc()
    lu = spla.splu(m)
    death = q[idx][:, [model.index("dead")]].toarray().ravel()
    rows = {}
    for name in names:
        p0 = model.release(name).to_numpy()[idx]
        share = float(p0.sum())
        if share <= 0:
            raise ParameterError(f"no cell shed at {name!r} enters blood")
        p0 = p0 / share
        x = lu.solve(p0, trans="T")  # expected minutes in each blood state

        def alive(s: float, p0: np.ndarray = p0) -> float:
            return float(spla.expm_multiply(b.T * s, p0).sum()) if s > 0 else 1.0

        row: dict[str, float] = {"mean_min": float(x.sum())}
        for s in t:
            row[f"in_blood_{s:g}min"] = alive(float(s))
        hi = max(row["mean_min"], 1.0)
        while alive(hi) > 0.5:
            hi *= 2.0
        row["median_min"] = float(brentq(lambda s: alive(s) - 0.5, 0.0, hi, xtol=1e-9))
        row["dies_in_blood"] = float(x @ death)
        row["blood_share"] = share
        rows[name] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "primary"
    return out
