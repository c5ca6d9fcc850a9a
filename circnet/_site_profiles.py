"""Named calibrated site-model profiles: write, load, and their cell-level reading."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._files import atomic_write
from ._likelihood import bodies_of
from ._site_access import SiteFit, _Access, _population
from ._validation import check_choice
from .body import organs
from .errors import ParameterError
from .population import CellPopulation

__all__ = ["PROFILES", "calibrated", "calibrated_population", "write_calibrated"]

#: Named calibrated profiles shipped in ``circnet/data`` (``calibrated_<name>.csv``).
PROFILES = ("disibio2008",)
#: Version of the profile file format.
PROFILE_FORMAT = 1
_TRAINING = {
    "disibio2008": "DiSibio G, French SW (2008) Arch Pathol Lab Med 132(6):931-939 "
    "(circnet/data/autopsy_disibio2008.csv)",
}
_META = (
    "link", "generations", "ridge", "deformability", "kappa", "link_parameter",
    "log_likelihood", "deviance", "n_involvements", "n_cells", "overdispersion",
    "unseen", "soil_weight", "rho",
)  # fmt: skip


def _profile_path(name: str) -> Path:
    check_choice(name, "name", PROFILES)
    return Path(__file__).resolve().parent / "data" / f"calibrated_{name}.csv"


def write_calibrated(fit: SiteFit, name: str, path: str | os.PathLike[str] | None = None) -> Path:
    """Write a fit as a named calibrated profile (atomically), with its provenance.

    Parameters
    ----------
    fit : SiteFit
    name : str
        Profile name (the training series, e.g. ``"disibio2008"``).
    path : path, optional
        Where to write (default: the shipped ``circnet/data/calibrated_<name>.csv``).

    Returns
    -------
    pathlib.Path
    """
    from . import __version__

    target = Path(path) if path is not None else _profile_path(name)
    source = (
        f"fitted by circnet {__version__} (circnet.sitemodel.fit_sites, "
        f"benchmarks/fit_sites.py) to {_TRAINING.get(name, name)}"
    )
    rows = [("meta", "profile", name, "", "", "", "", "", source)]
    rows.append(("meta", "format", str(PROFILE_FORMAT), "", "", "", "", "", source))
    for key in _META:
        v = getattr(fit, key)
        rows.append(("meta", key, "" if v is None else repr(v) if isinstance(v, float) else str(v),
                     "", "", "", "", "", source))  # fmt: skip
    rows.append(("meta", "fitted", ";".join(fit.fitted), "", "", "", "", "", source))
    log_total = float(np.logaddexp.reduce(fit.soil.to_numpy()))
    rows.append(("meta", "soil_log_total", repr(log_total), "", "", "", "", "", source))
    for nm, r in fit.parameters.iterrows():
        rows.append(("parameter", str(nm), repr(float(r["estimate"])), repr(float(r["se"])),
                     repr(float(r["low"])), repr(float(r["high"])), str(bool(r["identified"])),
                     str(bool(r["at_bound"])), source))  # fmt: skip
    note = "soil-only baseline (Jeffreys half count) of the training series"
    for site, v in fit.baseline.items():
        rows.append(("baseline", str(site), repr(float(v)), "", "", "", "", "", note))
    frame = pd.DataFrame(
        rows,
        columns=["section", "name", "value", "se", "low", "high", "identified", "at_bound",
                 "source"],
    )  # fmt: skip
    with atomic_write(target) as fh:
        frame.to_csv(fh, index=False)
    return target


def calibrated(name: str = "disibio2008", *, body: Any = None) -> SiteFit:
    """The shipped calibrated site model ``name`` (no refit; see :func:`write_calibrated`).

    Parameters
    ----------
    name : str
        A profile of :data:`PROFILES`.
    body : networkx.DiGraph, mapping or None
        The body its access is computed on (default: the male and female default bodies).

    Returns
    -------
    SiteFit

    Examples
    --------
    >>> import circnet
    >>> from circnet.sitemodel import calibrated
    >>> fit = calibrated("disibio2008")
    >>> fit.link
    'power'
    >>> p = fit.predict(circnet.load_autopsy().query("primary == 'prostate'"))
    >>> bool(abs(float(p.sum(axis=1).iloc[0]) - 1.0) < 1e-12)
    True
    """
    frame = pd.read_csv(_profile_path(name), keep_default_na=False, dtype=str)
    meta = dict(zip(frame.loc[frame.section == "meta", "name"],
                    frame.loc[frame.section == "meta", "value"], strict=True))  # fmt: skip
    if int(meta["format"]) != PROFILE_FORMAT:
        raise ParameterError(
            f"calibrated profile {name!r} has format {meta['format']}, expected {PROFILE_FORMAT}"
        )
    par = frame[frame.section == "parameter"].set_index("name")
    params = pd.DataFrame(
        {
            "estimate": par["value"].astype(float),
            "se": par["se"].astype(float),
            "low": par["low"].astype(float),
            "high": par["high"].astype(float),
            "identified": par["identified"] == "True",
            "at_bound": par["at_bound"] == "True",
        }
    )
    params.index.name = "parameter"
    soil_rows = params[params.index.str.startswith("soil:")]
    soil = pd.Series(
        np.log(soil_rows["estimate"].to_numpy()) + float(meta["soil_log_total"]),
        index=[s[len("soil:") :] for s in soil_rows.index],
        name="log_soil",
    )
    base = frame[frame.section == "baseline"]
    baseline = pd.Series(base["value"].astype(float).to_numpy(), index=base["name"].to_numpy())
    bodies = bodies_of(body)
    dfm = None if meta["deformability"] in ("", "None") else float(meta["deformability"])
    return SiteFit(
        link=meta["link"],
        soil=soil,
        baseline=baseline,
        link_parameter=float(meta["link_parameter"]),
        deformability=dfm,
        kappa=float(meta["kappa"]),
        generations=int(meta["generations"]),
        ridge=float(meta["ridge"]),
        fitted=tuple(x for x in meta["fitted"].split(";") if x),
        parameters=params,
        log_likelihood=float(meta["log_likelihood"]),
        deviance=float(meta["deviance"]),
        n_involvements=int(meta["n_involvements"]),
        n_cells=int(meta["n_cells"]),
        overdispersion=float(meta["overdispersion"]),
        seconds=0.0,
        body=bodies,
        _access=_Access(bodies, int(meta["generations"])),
        unseen=meta.get("unseen", "access"),
        soil_weight=float(meta.get("soil_weight", 0.0)),
        rho=float(meta.get("rho", 0.0)),
    )


def calibrated_population(
    name: str = "disibio2008", body: nx.DiGraph | None = None
) -> CellPopulation:
    """The default cell population with a calibrated profile's arrest and soil.

    Single cells take the profile's deformability (if it was fitted); each organ gets a
    receptivity (the odds factor of colonisation, :class:`~circnet.CellProfile`) equal to
    its fitted soil weight divided by the geometric mean of the organ soil weights, so the
    typical organ keeps receptivity 1. A site spec naming several organs
    (``bone+red_marrow``) gives each the same value; node groups keep their defaults.

    This is the cell-level reading of the fit: fates of this population are per shed cell.
    The fitted autopsy shares also compress anatomical access (``beta``); use
    :func:`calibrated` and :meth:`SiteFit.predict` for those.

    Examples
    --------
    >>> import circnet
    >>> from circnet.sitemodel import calibrated_population
    >>> pop = calibrated_population("disibio2008", circnet.default_body("female"))
    >>> pop.profile("single_1").site_value("receptivity", "liver") > 1.0
    True
    """
    fit = calibrated(name)
    g = body
    keep = None if g is None else set(organs(g))
    pop = _population(g, fit.deformability) if g is not None else CellPopulation.default()
    if g is None and fit.deformability is not None:
        profiles = tuple(
            p.replace(deformability=fit.deformability) if n.startswith("single") else p
            for n, p in zip(pop.names, pop.profiles, strict=True)
        )
        pop = CellPopulation(pop.names, pop.weights, profiles)
    organ_soil: dict[str, float] = {}
    for spec, value in fit.soil.items():
        parts = str(spec).split("+")
        if any(p in ("regional_nodes", "distant_nodes") for p in parts):
            continue
        for organ in parts:
            if keep is None or organ in keep:
                organ_soil[organ] = float(value)
    if not organ_soil:
        return pop
    centre = float(np.mean(list(organ_soil.values())))
    for organ, value in sorted(organ_soil.items()):
        pop = pop.with_site(organ, receptivity=math.exp(value - centre))
    return pop
