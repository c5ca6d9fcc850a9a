"""Fitting organ receptivity ("soil") to counts of metastatic sites by primary tumour.

The question is the old one of seed and soil against anatomy: how much of the pattern of
metastatic sites does the circulation alone explain? circnet answers it with a likelihood.

The model
---------
For a primary organ ``i`` and the metastatic sites ``s`` of a table (each site a set of
circnet fates: ``colony:<organ>``, ``node:<group>``, or sums such as ``bone+red_marrow``),
circnet gives the probability ``q_is`` that a cell shed by the primary ends in site ``s``.
Conditional on colonising one of the sites of the table, the site distribution is
``pi_is = q_is / sum_s' q_is'``, and the counts ``y_i`` of a primary are taken as
multinomial with those probabilities (one draw per involved site of a patient).

A tissue state of circnet leads only to ``colony:<organ>`` or ``dead``, so receptivity acts
on a colony fate alone and exactly: ``P_r(colony:o) = P_1(colony:o) p(r_o) / p(1)`` with
``p(r) = r c / (r c + 1 - c)`` (``c`` the organ's ``colonisation_probability``, see
:mod:`circnet.cells`). One linear solve per structural setting (nodal growth, lodging) thus
serves every value of the receptivities, whose gradient is analytic
(``dp / d log r = p (1 - p)``). Structural parameters are differentiated numerically.

Parameters fitted
-----------------
* one receptivity factor ``r_o`` per organ that appears in the table (shared by every
  primary: a property of the soil, not of the seed), as ``log r_o``;
* with ``fit_nodes=True`` (the default) one factor multiplying ``nodal_growth_rate`` of
  every lymph-node group: the "soil" of the nodes, without which the balance between nodal
  and organ sites is fixed by default values nobody measured;
* with ``fit_lodging`` the cell's ``deformability`` (logit scale) or ``diameter_um`` (log).

Identifiability. Only ratios of site probabilities enter the likelihood; scaling every
organ's odds together is compensated by the nodal factor (and, where ``r c`` is small, is
exactly flat). ``p(r) <= 1`` caps the effect of a large receptivity at ``1 / c`` (about 41
with circnet's default ``c``): an organ can be made arbitrarily poor soil but at most about
41 times better than anatomy alone, so a reference held at 1 must be the *most* receptive
organ or the cap distorts the fit. The default therefore fixes a **reference organ**
chosen automatically (``reference="auto"``: a first fit with the ridge alone, then its most
receptive organ is held at ``r = 1`` and the fit repeated), and adds a **weak ridge**
``penalty / 2 * sum(log r)^2`` (default 0.01, a N(0, 10^2) prior on ``log r``), which keeps
organs with no positive count finite and has no visible effect elsewhere. Receptivities
are thus relative to the reference organ.

Uncertainty. Standard errors come from the observed information (a numerical Hessian of
the penalised log-likelihood at the optimum). Counts of involved sites are not independent
draws (one patient has several sites), so by default (``dispersion="deviance"``) the
covariance is multiplied by the dispersion ``D / df`` (deviance over residual degrees of
freedom, at least 1: quasi-likelihood; ``"pearson"`` uses ``X^2 / df``); a parametric
bootstrap (``bootstrap=B``) gives percentile intervals instead.

Anatomy alone. The anatomy-only model has every receptivity and the nodal factor at 1
(and the lodging parameter as given in ``cells``).
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .body import default_body, lymph_nodes, organs, validate
from .cells import CellProfile
from .errors import BodyFileError, ParameterError, UnknownNameError
from .io import atomic_write
from .transport import TransportModel

__all__ = [
    "calibrate",
    "cross_validate",
    "CalibrationResult",
    "load_autopsy",
    "load_receptivity",
    "AUTOPSY_SERIES",
]

#: Autopsy series shipped in ``circnet/data`` (see its README for sources).
AUTOPSY_SERIES = ("disibio2008",)

_LODGING = {"deformability": "logit", "diameter_um": "log"}
_BOUND = 20.0
_Z95 = float(stats.norm.ppf(0.975))


def _exp(x: float) -> float:
    """``exp`` that gives inf (an unbounded interval) rather than overflowing."""
    return float(np.exp(np.float64(x))) if x < 700 else math.inf


# ============================================================================ data
def _data_file(name: str) -> Path:
    return Path(str(resources.files("circnet") / "data" / name))


def load_autopsy(
    series: str | os.PathLike[str] = "disibio2008", *, raw: bool = False
) -> pd.DataFrame:
    """Counts of metastatic sites by primary tumour from a published autopsy series.

    Parameters
    ----------
    series : str or path
        A shipped series (:data:`AUTOPSY_SERIES`: ``"disibio2008"``, DiSibio & French 2008,
        Arch Pathol Lab Med 132:931, 3827 autopsies, Figure 1), or the path of a CSV file
        with the same columns (``series, primary, site, count, n_patients, source``).
    raw : bool
        ``True``: the table as published, in the series' own names, one row per
        (primary, site). ``False`` (default): mapped to circnet names with
        ``autopsy_site_map.csv`` (merged primaries summed; see the data README).

    Returns
    -------
    pandas.DataFrame
        Mapped: columns ``primary`` (circnet organ), ``site`` (a circnet site spec, see
        :func:`calibrate`), ``count``, ``n_patients``. ``.attrs["dropped"]`` is a table of the
        published rows left out (series names, count, reason) and ``.attrs["series"]``
        the series name.

    Examples
    --------
    >>> import circnet
    >>> table = circnet.load_autopsy("disibio2008", raw=True)
    >>> int(table.groupby("primary")["n_patients"].first().sum())
    3827
    >>> mapped = circnet.load_autopsy("disibio2008")
    >>> int(mapped.query("primary == 'colon_rectum' and site == 'liver'")["count"].iloc[0])
    155
    >>> int(mapped.attrs["dropped"]["count"].sum()) > 0
    True
    """
    name = str(series)
    if name in AUTOPSY_SERIES:
        path = _data_file(f"autopsy_{name}.csv")
    else:
        path = Path(series)
        if not path.exists():
            raise UnknownNameError(
                f"unknown autopsy series {name!r}: expected one of {', '.join(AUTOPSY_SERIES)} "
                "or the path of a CSV file"
            )
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise BodyFileError(f"{str(path)!r}: cannot read autopsy table: {err}") from err
    need = ["series", "primary", "site", "count"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise BodyFileError(f"{str(path)!r}: autopsy table lacks column(s) {missing}")
    counts = pd.to_numeric(table["count"], errors="coerce")
    bad = table.index[counts.isna() | (counts < 0) | (counts != np.round(counts))]
    if len(bad):
        r = table.loc[bad[0]]
        raise BodyFileError(
            f"{str(path)!r}: `count` of row {int(bad[0]) + 2} ({r['primary']!r}, {r['site']!r}) "
            f"must be a non-negative integer (got {r['count']!r})"
        )
    table["count"] = counts.astype(int)
    if raw:
        return table
    sname = str(table["series"].iloc[0])
    smap = pd.read_csv(_data_file("autopsy_site_map.csv"), keep_default_na=False)
    smap = smap[smap["series"] == sname]
    if smap.empty:
        raise BodyFileError(
            f"{str(path)!r}: no site map for series {sname!r} in autopsy_site_map.csv"
        )
    maps = {
        k: dict(zip(g["name"], zip(g["circnet"], g["source"], strict=True), strict=True))
        for k, g in smap.groupby("kind")
    }
    rows, dropped = [], []
    for _, r in table.iterrows():
        p = maps.get("primary", {}).get(r["primary"])
        s = maps.get("site", {}).get(r["site"])
        if p is None or s is None:
            what = "primary" if p is None else "site"
            raise BodyFileError(f"{str(path)!r}: {what} {r[what]!r} is not in autopsy_site_map.csv")
        if not p[0] or not s[0]:
            reason = p[1] if not p[0] else s[1]
            dropped.append(
                {
                    "primary": r["primary"],
                    "site": r["site"],
                    "count": r["count"],
                    "reason": reason.split(":")[0]
                    + ": "
                    + ("primary" if not p[0] else "site")
                    + " not in circnet",
                }
            )
            continue
        rows.append(
            {
                "primary": p[0],
                "site": s[0],
                "count": r["count"],
                "source_primary": r["primary"],
                "n_patients": r.get("n_patients", np.nan),
            }
        )
    out = pd.DataFrame(rows)
    n = out.groupby(["primary", "source_primary"])["n_patients"].first().groupby("primary").sum()
    out = out.groupby(["primary", "site"], sort=False, as_index=False)["count"].sum()
    out["n_patients"] = out["primary"].map(n).astype(int)
    out.attrs["dropped"] = pd.DataFrame(dropped, columns=["primary", "site", "count", "reason"])
    out.attrs["series"] = sname
    return out


# ============================================================================ counts
def _tidy_counts(counts: Any) -> pd.DataFrame:
    """Accept a tidy (primary, site, count[, n_patients]) or wide (primary x site) table."""
    if not isinstance(counts, pd.DataFrame):
        raise ParameterError(
            f"`counts` must be a pandas DataFrame, tidy (columns primary, site, count) or wide "
            f"(index primary, one column per site) (got {type(counts).__name__})"
        )
    if {"primary", "site", "count"} <= set(counts.columns):
        t = counts.loc[
            :, [c for c in ("primary", "site", "count", "n_patients") if c in counts.columns]
        ].copy()
    else:
        wide = counts.copy()
        wide.index = wide.index.map(str)
        t = (
            wide.rename_axis("primary")
            .reset_index()
            .melt(id_vars="primary", var_name="site", value_name="count")
        )
    if t.empty:
        raise ParameterError("`counts` has no rows")
    for col in ("primary", "site"):
        if t[col].isna().any():
            raise ParameterError(f"`counts` has a missing {col} name")
        t[col] = t[col].astype(str)
    for _, r in t.iterrows():
        x = r["count"]
        where = f"({r['primary']!r}, {r['site']!r})"
        if isinstance(x, bool) or not isinstance(x, numbers.Real):
            raise ParameterError(f"`count` of {where} must be a number (got {x!r})")
        if math.isnan(x) or math.isinf(x):
            raise ParameterError(f"`count` of {where} must be finite, not NaN (got {x!r})")
        if x < 0:
            raise ParameterError(f"`count` of {where} must not be negative (got {x!r})")
        if x != round(x):
            raise ParameterError(f"`count` of {where} must be an integer (got {x!r})")
        if "n_patients" in t.columns:
            n = r["n_patients"]
            if not isinstance(n, numbers.Real) or not n > 0 or n != round(n):
                raise ParameterError(
                    f"`n_patients` of {where} must be a positive integer (got {n!r})"
                )
    t["count"] = t["count"].astype(float).round().astype(int)
    dup = t.duplicated(["primary", "site"])
    if dup.any():
        r = t[dup].iloc[0]
        raise ParameterError(
            f"`counts` has more than one row for ({r['primary']!r}, {r['site']!r})"
        )
    return t.reset_index(drop=True)


# ============================================================================ problem
def _bodies(body: Any) -> dict[str, nx.DiGraph]:
    if body is None:
        return {"male": default_body("male"), "female": default_body("female")}
    if isinstance(body, nx.DiGraph):
        validate(body)
        return {"body": body}
    if isinstance(body, Mapping):
        out = {}
        for k, g in body.items():
            if not isinstance(g, nx.DiGraph):
                raise ParameterError(f"`body[{k!r}]` must be a networkx.DiGraph")
            validate(g)
            out[str(k)] = g
        if not out:
            raise ParameterError("`body` mapping is empty")
        return out
    raise ParameterError(
        f"`body` must be a networkx.DiGraph, a mapping of name to body, or None "
        f"(got {type(body).__name__})"
    )


def _regional(g: nx.DiGraph, organ: str) -> list[str]:
    kinds = nx.get_node_attributes(g, "kind")
    tissue = [n for n, d in g.nodes(data=True) if d["kind"] == "tissue" and d["organ"] == organ]
    return sorted({str(v) for t in tissue for v in g.successors(t) if kinds[v] == "lymph_node"})


def _resolve(
    spec: str, primary: str, g: nx.DiGraph, all_organs: set, all_nodes: set
) -> tuple[list[str] | None, str]:
    """Fate labels of a site spec in body ``g`` (None if absent from this body)."""
    body_organs, body_nodes = set(organs(g)), {str(n) for n in lymph_nodes(g)}
    fates: list[str] = []
    missing = []
    for part in spec.split("+"):
        part = part.strip()
        if part == "regional_nodes":
            fates += [f"node:{n}" for n in _regional(g, primary)]
            continue
        if part == "distant_nodes":
            reg = set(_regional(g, primary))
            fates += [f"node:{n}" for n in sorted(body_nodes - reg)]
            continue
        kind, _, name = part.rpartition(":")
        if kind not in ("", "colony", "node"):
            raise UnknownNameError(f"site {spec!r}: unknown fate kind {kind!r}")
        if kind in ("", "colony") and name in all_organs:
            (fates.append(f"colony:{name}") if name in body_organs else missing.append(name))
        elif kind in ("", "node") and name in all_nodes:
            (fates.append(f"node:{name}") if name in body_nodes else missing.append(name))
        else:
            raise UnknownNameError(
                f"unknown site {spec!r} (primary {primary!r}): {part!r} is not an organ or "
                f"lymph-node group of the body, nor 'regional_nodes' / 'distant_nodes' "
                f"(organs: {', '.join(sorted(all_organs))})"
            )
    if missing and not fates:
        return None, f"{', '.join(missing)} not in the body of this primary"
    return sorted(set(fates)), ""


def _strip_receptivity(cells: CellProfile) -> CellProfile:
    sites = {s: {k: v for k, v in p.items() if k != "receptivity"} for s, p in cells.sites.items()}
    return cells.replace(receptivity=1.0, sites={s: p for s, p in sites.items() if p})


def _for_body(cells: CellProfile, g: nx.DiGraph) -> CellProfile:
    known = set(organs(g)) | {str(n) for n in lymph_nodes(g)}
    return cells.replace(sites={s: p for s, p in cells.sites.items() if s in known})


def _structural_cells(
    base: CellProfile, node_factor: float, lodging: str | None, lodging_value: float | None
) -> CellProfile:
    changes: dict[str, Any] = {"nodal_growth_rate": base.nodal_growth_rate * node_factor}
    if lodging is not None:
        changes[lodging] = lodging_value
    sites = {}
    for s, p in base.sites.items():
        q = dict(p)
        if "nodal_growth_rate" in q:
            q["nodal_growth_rate"] = q["nodal_growth_rate"] * node_factor
        sites[s] = q
    changes["sites"] = sites
    return base.replace(**changes)


class _Problem:
    """The prepared likelihood: rows (primary, site) with their fates, counts and cached solves."""

    def __init__(
        self,
        table: pd.DataFrame,
        bodies: dict[str, nx.DiGraph],
        cells: CellProfile,
        fit_nodes: bool,
        lodging: str | None,
        reference: str | None,
        penalty: float,
        strip: bool = True,
    ):
        self.bodies = bodies
        # strip=False keeps the receptivities of ``cells``: then theta0 predicts with them
        self.base = _strip_receptivity(cells) if strip else cells
        self.fit_nodes = fit_nodes
        self.lodging = lodging
        self.penalty = penalty
        all_organs: list[str] = []
        all_nodes: set[str] = set()
        for g in bodies.values():
            all_organs += [o for o in organs(g) if o not in all_organs]
            all_nodes |= {str(n) for n in lymph_nodes(g)}
        self.organs = tuple(all_organs)
        self.nodes = tuple(sorted(all_nodes))
        oi = {o: k for k, o in enumerate(self.organs)}
        # primaries: organ of some body; first body in order that has it
        self.primaries: list[str] = []
        self.body_of: dict[str, str] = {}
        for p in dict.fromkeys(table["primary"]):
            home = next((k for k, g in bodies.items() if p in organs(g)), None)
            if home is None:
                raise UnknownNameError(
                    f"unknown primary {p!r} in `counts`: expected an organ of the body "
                    f"({', '.join(self.organs)})"
                )
            self.primaries.append(p)
            self.body_of[p] = home
        self._models: dict[str, TransportModel] = {}
        self._cache: dict[tuple, dict[str, pd.DataFrame]] = {}
        self._arrays: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._layouts: dict[str, tuple[np.ndarray, ...]] = {}
        anat = self._fates(self.structural0)
        rows, dropped = [], []
        for _, r in table.iterrows():
            p, s = r["primary"], r["site"]
            g = bodies[self.body_of[p]]
            fates, why = _resolve(s, p, g, set(all_organs), all_nodes)
            if fates is None:
                dropped.append((p, s, int(r["count"]), why))
                continue
            if float(anat[self.body_of[p]].loc[p, fates].sum()) <= 0:
                dropped.append((p, s, int(r["count"]), "unreachable by anatomy (probability 0)"))
                continue
            rows.append(
                (
                    p,
                    s,
                    int(r["count"]),
                    fates,
                    float(r["n_patients"])
                    if "n_patients" in r and pd.notna(r.get("n_patients"))
                    else np.nan,
                )
            )
        self.dropped = pd.DataFrame(dropped, columns=["primary", "site", "count", "reason"])
        if not rows:
            raise ParameterError("no site of `counts` can be modelled in this body")
        # overlapping fates within a primary would count a cell twice
        for p in self.primaries:
            seen: dict[str, str] = {}
            for q, s, _, fates, _ in rows:
                if q != p:
                    continue
                for f in fates:
                    if f in seen:
                        raise ParameterError(
                            f"sites {seen[f]!r} and {s!r} of primary {p!r} share fate {f!r}"
                        )
                    seen[f] = s
        self.primaries = [p for p in self.primaries if any(r[0] == p for r in rows)]
        keep = []
        for p in self.primaries:
            if sum(r[2] for r in rows if r[0] == p) == 0:
                self.dropped.loc[len(self.dropped)] = (p, "*", 0, "no positive count")
            else:
                keep.append(p)
        self.primaries = keep
        rows = [r for r in rows if r[0] in keep]
        if not rows:
            raise ParameterError("`counts` has no primary with a positive count")
        self.rows = rows
        self.pidx = np.array([keep.index(r[0]) for r in rows])
        self.y = np.array([r[2] for r in rows], dtype=float)
        self.n = np.bincount(self.pidx, weights=self.y)
        self.colony = np.zeros((len(rows), len(self.organs)))  # indicator
        for k, r in enumerate(rows):
            for f in r[3]:
                if f.startswith("colony:"):
                    self.colony[k, oi[f[7:]]] = 1.0
        npat = {}
        for r in rows:
            if not np.isnan(r[4]):
                npat[r[0]] = r[4]
        self.n_patients = np.array([npat.get(p, self.n[i]) for i, p in enumerate(keep)])
        self.c = np.array(
            [self.base.site_value("colonisation_probability", o) for o in self.organs]
        )
        self.set_reference(None if reference == "auto" else reference)
        self.const = float(special.gammaln(self.n + 1).sum() - special.gammaln(self.y + 1).sum())

    # ------------------------------------------------------------ structure
    @property
    def n_free(self) -> int:
        return len(self.free)

    @cached_property
    def structural0(self) -> tuple[float, ...]:
        out: list[float] = []
        if self.fit_nodes:
            out.append(0.0)
        if self.lodging:
            v = getattr(self.base, self.lodging)
            out.append(
                float(special.logit(min(max(v, 1e-4), 0.99)))
                if _LODGING[self.lodging] == "logit"
                else math.log(v)
            )
        return tuple(out)

    def structural_values(self, z: Sequence[float]) -> tuple[float, str | None, float | None]:
        k = 0
        node = 1.0
        if self.fit_nodes:
            node = math.exp(z[0])
            k = 1
        lv = None
        if self.lodging:
            lv = float(special.expit(z[k])) if _LODGING[self.lodging] == "logit" else math.exp(z[k])
        return node, self.lodging, lv

    def cells_for(self, z: Sequence[float], receptivity: Mapping[str, float]) -> CellProfile:
        cells = _structural_cells(self.base, *self.structural_values(z))
        for o, r in receptivity.items():
            cells = cells.with_site(o, receptivity=float(r))
        return cells

    def _fates(self, z: tuple[float, ...]) -> dict[str, pd.DataFrame]:
        key = tuple(round(float(v), 12) for v in z)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        cells = _structural_cells(self.base, *self.structural_values(z))
        out = {}
        for name, g in self.bodies.items():
            prims = [p for p in self.body_of if self.body_of[p] == name]
            if not prims:
                continue
            cb = _for_body(cells, g)
            m = self._models.get(name)
            m = TransportModel(g, cb, _validated=True) if m is None else m.with_cells(cb)
            self._models[name] = m
            out[name] = m.fates(prims)
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[key] = out
        return out

    def base_arrays(self, z: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
        """``T`` (rows x organs: P(colony) / p(1)) and ``N`` (rows: node fates) at ``z``."""
        key = tuple(round(float(v), 12) for v in z)
        hit = self._arrays.get(key)
        if hit is not None:
            return hit
        fates = self._fates(z)
        t = np.zeros_like(self.colony)
        nn = np.zeros(len(self.rows))
        for name, frame in fates.items():
            a = frame.to_numpy()
            rows, cols, orgs, nrows, ncols = self._layout(name, frame)
            with np.errstate(divide="ignore", invalid="ignore"):
                t[rows, orgs] = np.where(self.c[orgs] > 0, a[cols[0], cols[1]] / self.c[orgs], 0)
            np.add.at(nn, nrows, a[ncols[0], ncols[1]])
        if len(self._arrays) > 256:
            self._arrays.clear()
        self._arrays[key] = (t, nn)
        return t, nn

    def _layout(self, name: str, frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
        """Index arrays mapping the fates table of body ``name`` onto the rows."""
        hit = self._layouts.get(name)
        if hit is not None:
            return hit
        oi = {o: k for k, o in enumerate(self.organs)}
        pos = {p: k for k, p in enumerate(frame.index)}
        col = {f: k for k, f in enumerate(frame.columns)}
        rows, prow, pcol, orgs, nrows, nprow, npcol = [], [], [], [], [], [], []
        for k, (p, _, _, fl, _) in enumerate(self.rows):
            if self.body_of[p] != name:
                continue
            for lab in fl:
                if lab.startswith("colony:"):
                    rows.append(k)
                    prow.append(pos[p])
                    pcol.append(col[lab])
                    orgs.append(oi[lab[7:]])
                else:
                    nrows.append(k)
                    nprow.append(pos[p])
                    npcol.append(col[lab])
        arr = np.asarray
        out = (
            arr(rows, int),
            (arr(prow, int), arr(pcol, int)),
            arr(orgs, int),
            arr(nrows, int),
            (arr(nprow, int), arr(npcol, int)),
        )
        self._layouts[name] = out
        return out

    def set_reference(self, reference: str | None) -> None:
        """Fix ``reference`` at receptivity 1; every other organ of the table is free."""
        oi = {o: k for k, o in enumerate(self.organs)}
        if reference is not None and reference not in oi:
            raise UnknownNameError(
                f"`reference` {reference!r} is not an organ of the body ({', '.join(self.organs)})"
            )
        t0, _ = self.base_arrays(self.structural0)
        used = (t0 > 0).any(axis=0)
        self.reference = reference
        self.free = [o for o, u in zip(self.organs, used, strict=True) if u and o != reference]
        self.free_idx = np.array([oi[o] for o in self.free], dtype=int)
        self.names = [f"log_receptivity:{o}" for o in self.free]
        if self.fit_nodes:
            self.names.append("log_nodal_factor")
        if self.lodging:
            self.names.append(f"{_LODGING[self.lodging]}_{self.lodging}")

    # ------------------------------------------------------------ likelihood
    def split(self, theta: np.ndarray) -> tuple[np.ndarray, tuple[float, ...]]:
        u = np.zeros(len(self.organs))
        u[self.free_idx] = theta[: self.n_free]
        return u, tuple(float(v) for v in theta[self.n_free :])

    def probs(self, u: np.ndarray, z: tuple[float, ...]) -> tuple[np.ndarray, ...]:
        t, nn = self.base_arrays(z)
        r = np.exp(u)
        p = r * self.c / (r * self.c + 1.0 - self.c)
        q = t @ p + nn
        big_q = np.bincount(self.pidx, weights=q, minlength=len(self.primaries))
        return q, big_q, t, p

    def loglik(self, theta: np.ndarray) -> float:
        u, z = self.split(theta)
        q, big_q, _, _ = self.probs(u, z)
        with np.errstate(divide="ignore"):
            ll = float(np.sum(self.y * (np.log(q) - np.log(big_q[self.pidx]))))
        return ll + self.const

    def objective(
        self, theta: np.ndarray, structural_grad: bool = True
    ) -> tuple[float, np.ndarray]:
        u, z = self.split(theta)
        q, big_q, t, p = self.probs(u, z)
        with np.errstate(divide="ignore"):
            ll = float(np.sum(self.y * (np.log(q) - np.log(big_q[self.pidx])))) + self.const
        pen = 0.5 * self.penalty * float(np.sum(theta[: self.n_free] ** 2))
        w = self.y / q - (self.n / big_q)[self.pidx]  # d ll / d q per row
        gu = (w @ t) * p * (1.0 - p)
        grad = np.zeros_like(theta)
        grad[: self.n_free] = -gu[self.free_idx] + self.penalty * theta[: self.n_free]
        h = 1e-4
        for k in range(len(z) if structural_grad else 0):
            zp, zm = list(z), list(z)
            zp[k] += h
            zm[k] -= h
            tp = np.concatenate([theta[: self.n_free], zp])
            tm = np.concatenate([theta[: self.n_free], zm])
            grad[self.n_free + k] = -(self.loglik(tp) - self.loglik(tm)) / (2 * h)
        return -ll + pen, grad

    def pi(self, theta: np.ndarray) -> np.ndarray:
        u, z = self.split(theta)
        q, big_q, _, _ = self.probs(u, z)
        return q / big_q[self.pidx]

    def theta0(self) -> np.ndarray:
        return np.concatenate([np.zeros(self.n_free), self.structural0])

    def bounds(self) -> list[tuple[float, float]]:
        b = [(-_BOUND, _BOUND)] * self.n_free
        if self.fit_nodes:
            b.append((-_BOUND, _BOUND))
        if self.lodging:
            b.append(
                (-10.0, 10.0)
                if _LODGING[self.lodging] == "logit"
                else (math.log(1.0), math.log(100.0))
            )
        return b

    def _inner(self, z: tuple[float, ...], u0: np.ndarray, maxiter: int) -> optimize.OptimizeResult:
        """Maximise over the log-receptivities at fixed structural values ``z`` (no solve)."""

        def fun(u: np.ndarray) -> tuple[float, np.ndarray]:
            f, g = self.objective(np.concatenate([u, z]), structural_grad=False)
            return f, g[: self.n_free]

        if not self.n_free:
            f = fun(u0)[0]
            return optimize.OptimizeResult(x=u0, fun=f, success=True, message="no receptivity")
        return optimize.minimize(
            fun,
            u0,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_BOUND, _BOUND)] * self.n_free,
            options={"maxiter": maxiter, "ftol": 1e-10, "gtol": 1e-5},
        )

    def fit(
        self, y: np.ndarray | None = None, x0: np.ndarray | None = None, maxiter: int = 500
    ) -> optimize.OptimizeResult:
        """Nested maximum likelihood: receptivities by L-BFGS-B (analytic gradient) inside,
        the one or two structural values (each a linear solve) outside (Brent / Nelder-Mead)."""
        saved = self.y, self.n
        if y is not None:
            self.y = y
            self.n = np.bincount(self.pidx, weights=y, minlength=len(self.primaries))
        start = self.theta0() if x0 is None else np.asarray(x0, dtype=float)
        best = {"u": start[: self.n_free].copy()}
        try:
            z0 = start[self.n_free :]
            if not len(z0):
                res = self._inner((), best["u"], maxiter)
                return optimize.OptimizeResult(
                    x=res.x, fun=res.fun, success=res.success, message=str(res.message)
                )
            lo_hi = self.bounds()[self.n_free :]

            def profile(z: np.ndarray) -> float:
                z = np.clip(np.atleast_1d(z), [b[0] for b in lo_hi], [b[1] for b in lo_hi])
                res = self._inner(tuple(z), best["u"], maxiter)
                best["u"] = res.x
                return float(res.fun)

            if len(z0) == 1:
                lo, hi = lo_hi[0]
                width = 12.0 if x0 is None else 3.0  # a warm start brackets the optimum
                out = optimize.minimize_scalar(
                    lambda v: profile(np.array([v])),
                    bounds=(max(lo, z0[0] - width), min(hi, z0[0] + width)),
                    method="bounded",
                    options={"xatol": 1e-3, "maxiter": 100},
                )
                z = np.array([out.x])
                ok, msg = bool(out.success), str(out.message)
            else:
                out = optimize.minimize(
                    profile,
                    z0,
                    method="Nelder-Mead",
                    options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 200},
                )
                z = np.clip(out.x, [b[0] for b in lo_hi], [b[1] for b in lo_hi])
                ok, msg = bool(out.success), str(out.message)
            res = self._inner(tuple(z), best["u"], maxiter)
            return optimize.OptimizeResult(
                x=np.concatenate([res.x, z]),
                fun=res.fun,
                success=ok and bool(res.success),
                message=msg,
            )
        finally:
            self.y, self.n = saved

    def hessian(self, theta: np.ndarray, h: float = 1e-3) -> np.ndarray:
        k = len(theta)
        out = np.empty((k, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = h
            out[:, j] = (self.objective(theta + e)[1] - self.objective(theta - e)[1]) / (2 * h)
        return 0.5 * (out + out.T)


# ============================================================================ fit measures
def _gof(y: np.ndarray, pi: np.ndarray, n_patients: float) -> dict[str, float]:
    """Deviance, KL(observed || predicted), Spearman rho, Font-Clos R^2 and adjusted R^2."""
    n = y.sum()
    obs = y / n
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2.0 * float(np.sum(np.where(y > 0, y * np.log(y / (n * pi)), 0.0)))
    rho = float(stats.spearmanr(obs, pi).statistic) if len(y) > 2 else math.nan
    r2, r2a = _fontclos_r2(y / n_patients, pi, n_patients)
    return {"deviance": dev, "kl": dev / (2.0 * n), "spearman": rho, "r2": r2, "r2_adj": r2a}


def _fontclos_r2(frac: np.ndarray, pred: np.ndarray, n_patients: float) -> tuple[float, float]:
    """The explained variance of Font-Clos, Zapperi & La Porta (2020), their
    ``compute_explained_variance`` (CTC-model ``code/manuscript.py``): regress log observed
    fraction on log predicted fraction over the sites where both are positive; ``R^2 =
    (S^2 - E^2) / S^2`` and, discounting binomial measurement noise ``e^2 = mean((sigma_p /
    p)^2)``, ``R^2_adj = (S^2 - E^2) / (S^2 - e^2)``."""
    ok = (frac > 0) & (pred > 0)
    if ok.sum() < 3:
        return math.nan, math.nan
    x, y = np.log(pred[ok]), np.log(frac[ok])
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    fit = stats.linregress(x, y)
    e2_fit = float(np.std(fit.intercept + fit.slope * x - y) ** 2)
    s2 = float(np.std(y) ** 2)
    p = np.clip(frac[ok], 0, 1)
    noise = float(np.mean(p * (1 - p) / n_patients / p**2))
    r2 = (s2 - e2_fit) / s2
    r2a = (s2 - e2_fit) / (s2 - noise) if s2 > noise else math.nan
    return r2, r2a


# ============================================================================ result
@dataclass(frozen=True)
class CalibrationResult:
    """Result of :func:`calibrate` (frozen).

    Attributes
    ----------
    receptivity : pandas.DataFrame
        Index organ; columns ``receptivity``, ``ci_low``, ``ci_high`` (95 %), ``se_log``
        (standard error of ``log r``), ``fitted`` (False: reference or organ not in the
        table, held at 1).
    parameters : pandas.DataFrame
        Fitted structural parameters (``nodal_growth_factor``, lodging), same columns.
    loglik, loglik_anatomy : float
        Multinomial log-likelihood at the optimum and with every factor at 1.
    deviance, deviance_anatomy : float
        Against the saturated model (each primary's observed distribution).
    df : int
        Degrees of freedom of the residual: sum over primaries of (sites - 1) minus the
        number of fitted parameters.
    dispersion : float
        ``D / df`` or ``X^2 / df`` (at least 1; 1 when ``dispersion="none"``); multiplies
        the covariance.
    observed, predicted, anatomy_only : pandas.DataFrame
        Site distributions, rows primaries, columns sites (NaN: site absent for that primary).
    counts : pandas.DataFrame
        The counts used (same shape).
    goodness : pandas.DataFrame
        Per primary: n, sites, deviance / KL / Spearman / Font-Clos R^2 / adjusted R^2 for
        anatomy alone and the fit.
    anatomy_share : float
        Share of the variation anatomy alone explains: the mean over primaries of
        Font-Clos et al.'s noise-adjusted R^2 of anatomy-only predictions (their 40 %).
    cells : CellProfile
        The input cells with the fitted receptivities (and structural values) set.
    dropped : pandas.DataFrame
        Rows of the table that could not be modelled (primary, site, count, reason).
    covariance : pandas.DataFrame
        Covariance of the fitted parameters (log / logit scale), dispersion included.
    reference, penalty, converged, message
        Settings and optimiser status.
    """

    receptivity: pd.DataFrame
    parameters: pd.DataFrame
    loglik: float
    loglik_anatomy: float
    deviance: float
    deviance_anatomy: float
    df: int
    dispersion: float
    observed: pd.DataFrame
    predicted: pd.DataFrame
    anatomy_only: pd.DataFrame
    counts: pd.DataFrame
    goodness: pd.DataFrame
    anatomy_share: float
    cells: CellProfile
    dropped: pd.DataFrame
    covariance: pd.DataFrame
    reference: str | None
    penalty: float
    converged: bool
    message: str
    _theta: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: primary, site, count, observed, anatomy_only, predicted."""

        def long(w: pd.DataFrame, name: str) -> pd.Series:
            m = w.reset_index().melt(id_vars="primary", var_name="site", value_name=name)
            return m.set_index(["primary", "site"])[name]

        out = pd.concat(
            [
                long(w, k)
                for w, k in (
                    (self.counts, "count"),
                    (self.observed, "observed"),
                    (self.anatomy_only, "anatomy_only"),
                    (self.predicted, "predicted"),
                )
            ],
            axis=1,
        ).dropna(subset=["count"])
        out["count"] = out["count"].astype(int)
        return out.reset_index()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted factors (with intervals) atomically; JSON or CSV by suffix.

        Read them back with :func:`load_receptivity`.
        """
        path = Path(path)
        table = pd.concat(
            [self.receptivity.assign(kind="receptivity"), self.parameters.assign(kind="parameter")]
        )
        table.index.name = "name"
        if path.suffix.lower() == ".json":
            doc = {
                "circnet": "receptivity",
                "reference": self.reference,
                "loglik": self.loglik,
                "loglik_anatomy": self.loglik_anatomy,
                "rows": [
                    {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                    for r in table.reset_index().to_dict(orient="records")
                ],
            }
            with atomic_write(path) as fh:
                json.dump(doc, fh, indent=1)
        elif path.suffix.lower() == ".csv":
            with atomic_write(path) as fh:
                table.reset_index().to_csv(fh, index=False, lineterminator="\n")
        else:
            raise ParameterError(f"`path` must end in .json or .csv (got {path.suffix!r})")
        return path

    def plot(self, ax: Any = None) -> Any:
        """Observed vs predicted site frequencies, anatomy alone and fitted (log-log).

        Needs matplotlib (the optional ``plot`` extra). Returns the axes.
        """
        import matplotlib.pyplot as plt  # optional extra

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 5))
        f = self.to_frame()
        f = f[f["observed"] > 0]
        ax.scatter(f["anatomy_only"], f["observed"], s=12, alpha=0.6, label="anatomy alone")
        ax.scatter(f["predicted"], f["observed"], s=12, alpha=0.6, label="fitted receptivity")
        lo = max(1e-6, float(np.nanmin(f[["observed", "predicted"]].to_numpy())) / 2)
        ax.plot([lo, 1], [lo, 1], color="0.3", lw=1)
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="predicted share of sites",
            ylabel="observed share of sites",
            xlim=(lo, 1),
            ylim=(lo, 1),
        )
        ax.legend()
        return ax


def load_receptivity(path: str | os.PathLike[str], cells: CellProfile | None = None) -> CellProfile:
    """Read factors written by :meth:`CalibrationResult.save` into a cell profile.

    Parameters
    ----------
    path : path
        A ``.json`` or ``.csv`` file from :meth:`CalibrationResult.save`.
    cells : CellProfile, optional
        Profile to set them on (default ``CellProfile()``): per-organ ``receptivity``, and
        the fitted ``nodal_growth_rate`` factor / lodging parameter.

    Returns
    -------
    CellProfile

    Examples
    --------
    >>> import tempfile, pathlib, circnet
    >>> import pandas as pd
    >>> counts = pd.DataFrame({"primary": "colon_rectum", "site": ["liver", "lung", "bone"],
    ...                        "count": [60, 25, 15]})
    >>> res = circnet.calibrate(counts, circnet.default_body("male"), fit_nodes=False,
    ...                         reference="liver")
    >>> path = res.save(pathlib.Path(tempfile.mkdtemp()) / "soil.json")
    >>> cells = circnet.load_receptivity(path)
    >>> bool(abs(cells.site_value("receptivity", "liver")
    ...          - res.receptivity.loc["liver", "receptivity"]) < 1e-12)
    True
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(path.read_text(encoding="utf-8"))
            table = pd.DataFrame(doc["rows"])
        elif path.suffix.lower() == ".csv":
            table = pd.read_csv(path)
        else:
            raise BodyFileError(f"{str(path)!r}: expected a .json or .csv receptivity file")
        table = table.set_index("name")
        rec = table[table["kind"] == "receptivity"]["receptivity"].astype(float)
        par = table[table["kind"] == "parameter"]["receptivity"].astype(float)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BodyFileError(f"{str(path)!r}: not a circnet receptivity file: {err}") from err
    cells = CellProfile() if cells is None else cells
    if "nodal_growth_factor" in par:
        cells = _structural_cells(cells, float(par["nodal_growth_factor"]), None, None)
    for name in _LODGING:
        if name in par:
            cells = cells.replace(**{name: float(par[name])})
    for o, r in rec.items():
        cells = cells.with_site(str(o), receptivity=float(r))
    return cells


# ============================================================================ calibrate
def _check_options(fit_lodging: Any, penalty: Any, dispersion: str, bootstrap: Any) -> str | None:
    if fit_lodging is True:
        fit_lodging = "deformability"
    if fit_lodging is False or fit_lodging is None:
        lodging = None
    elif fit_lodging in _LODGING:
        lodging = str(fit_lodging)
    else:
        raise ParameterError(
            f"`fit_lodging` must be False, True, 'deformability' or 'diameter_um' "
            f"(got {fit_lodging!r})"
        )
    if isinstance(penalty, bool) or not isinstance(penalty, numbers.Real) or not penalty >= 0:
        raise ParameterError(f"`penalty` must be a non-negative number (got {penalty!r})")
    if dispersion not in ("deviance", "pearson", "none"):
        raise ParameterError(
            f"`dispersion` must be 'deviance', 'pearson' or 'none' (got {dispersion!r})"
        )
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, numbers.Integral) or bootstrap < 0:
        raise ParameterError(f"`bootstrap` must be a non-negative integer (got {bootstrap!r})")
    return lodging


def calibrate(
    counts: pd.DataFrame,
    body: Any = None,
    cells: CellProfile | None = None,
    *,
    fit_lodging: bool | str = False,
    fit_nodes: bool = True,
    reference: str | None = "auto",
    penalty: float = 0.01,
    dispersion: str = "deviance",
    intervals: bool = True,
    bootstrap: int = 0,
    rng: Any = None,
    maxiter: int = 500,
    _x0: np.ndarray | None = None,
) -> CalibrationResult:
    """Fit per-organ receptivity factors to counts of metastatic sites by primary.

    Maximum likelihood (scipy L-BFGS-B on ``log r``; analytic gradient in the receptivities)
    treating each primary's site counts as multinomial over circnet's fate probabilities
    restricted to, and normalised over, the sites of the table. See :mod:`circnet.calibrate`
    for the model, the identifiability choice and the intervals.

    Parameters
    ----------
    counts : pandas.DataFrame
        Tidy (columns ``primary``, ``site``, ``count``, optional ``n_patients``) or wide
        (index primary, one column per site). ``primary`` is an organ of the body; ``site``
        an organ or lymph-node group (``"liver"``, ``"colony:liver"``, ``"axillary_nodes"``,
        ``"node:axillary_nodes"``), a sum of them joined by ``+`` (``"bone+red_marrow"``),
        or ``"regional_nodes"`` / ``"distant_nodes"`` (the node groups the primary drains
        to first / all others). Include zero counts: they are information.
    body : networkx.DiGraph or mapping of name to body, optional
        Default: the male and female default bodies; each primary is modelled in the first
        body that has it as an organ (so prostate in the male, breast in the female), and
        sites its body lacks are dropped (listed in ``.dropped``).
    cells : CellProfile, optional
        Cell parameters (default ``CellProfile()``); receptivities in it are replaced.
    fit_lodging : bool or {"deformability", "diameter_um"}
        Also fit the cell's lodging parameter (``True``: deformability).
    fit_nodes : bool
        Fit one factor on ``nodal_growth_rate`` of every node group (default True).
    reference : str, "auto" or None
        Organ held at receptivity 1. ``"auto"`` (default): the most receptive organ of a
        first fit, so that every other factor is at most about 1 (see the module notes);
        ``None`` relies on ``penalty`` alone.
    penalty : float
        Ridge ``penalty / 2 * sum(log r)^2`` on the free log-receptivities (default 0.01).
    dispersion : {"deviance", "pearson", "none"}
        Scale the covariance by ``D / df`` (default), ``X^2 / df``, or not (each at least 1).
    intervals : bool
        Compute the Hessian and intervals (default True; False is faster).
    bootstrap : int
        Number of parametric bootstrap refits for percentile intervals (default 0: Wald
        intervals from the observed information).
    rng : int, numpy.random.Generator or None
        Randomness for the bootstrap.
    maxiter : int
        Iterations of L-BFGS-B.

    Returns
    -------
    CalibrationResult

    Examples
    --------
    >>> import circnet
    >>> import pandas as pd
    >>> counts = pd.DataFrame({"primary": ["colon_rectum"] * 3 + ["lung"] * 3,
    ...                        "site": ["liver", "lung", "bone"] * 2,
    ...                        "count": [60, 25, 15, 20, 50, 30]})
    >>> body = circnet.default_body("male")
    >>> res = circnet.calibrate(counts, body, fit_nodes=False, reference="liver")
    >>> bool(res.loglik > res.loglik_anatomy)
    True
    >>> row = res.receptivity.loc["liver"]
    >>> float(row["receptivity"]), bool(row["fitted"])
    (1.0, False)
    """
    lodging = _check_options(fit_lodging, penalty, dispersion, bootstrap)
    if cells is None:
        cells = CellProfile()
    if not isinstance(cells, CellProfile):
        raise ParameterError(f"`cells` must be a CellProfile (got {type(cells).__name__})")
    table = _tidy_counts(counts)
    prob = _Problem(
        table, _bodies(body), cells, bool(fit_nodes), lodging, reference, float(penalty)
    )
    if _x0 is not None and len(_x0) != len(prob.theta0()):
        _x0 = None
    res = prob.fit(x0=_x0, maxiter=maxiter)
    if reference == "auto" and prob.n_free:
        # the most receptive organ becomes the reference: every other factor is then <= 1,
        # where p(r) is nearly linear in r and the cap 1/c never binds
        best = int(np.argmax(res.x[: prob.n_free]))
        reference = prob.free[best]
        shift = res.x[best]
        keep = [j for j in range(prob.n_free) if j != best]
        z = res.x[prob.n_free :].copy()
        if prob.fit_nodes:
            z[0] -= shift  # the nodal factor is relative to the organs' scale too
        x0 = np.concatenate([res.x[keep] - shift, z])
        prob.set_reference(reference)
        res = prob.fit(x0=x0, maxiter=maxiter)
    theta = res.x
    k = len(theta)
    pi_fit = prob.pi(theta)
    pi_anat = prob.pi(prob.theta0())
    n_sites = np.bincount(prob.pidx)
    df = int(np.sum(n_sites - 1) - k)
    expected = prob.n[prob.pidx] * pi_fit
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = float(np.sum(np.where(expected > 0, (prob.y - expected) ** 2 / expected, 0.0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2.0 * float(np.sum(np.where(prob.y > 0, prob.y * np.log(prob.y / expected), 0.0)))
    phi = {"pearson": pearson, "deviance": dev, "none": df}[dispersion] / df if df > 0 else 1.0
    phi = max(phi, 1.0) if dispersion != "none" else 1.0
    cov = np.full((k, k), np.nan)
    lo = hi = np.full(k, np.nan)
    se = np.full(k, np.nan)
    if intervals and k:
        h = prob.hessian(theta)
        try:
            cov = np.linalg.inv(h) * phi
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(h) * phi
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        lo, hi = theta - _Z95 * se, theta + _Z95 * se
        if bootstrap:
            gen = np.random.default_rng(rng)
            draws = []
            for _ in range(int(bootstrap)):
                y = np.zeros_like(prob.y)
                for i in range(len(prob.primaries)):
                    m = prob.pidx == i
                    y[m] = gen.multinomial(int(prob.n[i]), pi_fit[m] / pi_fit[m].sum())
                draws.append(prob.fit(y=y, x0=theta, maxiter=maxiter).x)
            draws = np.array(draws)
            lo, hi = np.percentile(draws, 2.5, axis=0), np.percentile(draws, 97.5, axis=0)
            se = draws.std(axis=0, ddof=1) if len(draws) > 1 else se
    # receptivity table
    rec = pd.DataFrame(
        index=pd.Index(prob.organs, name="organ"),
        data={"receptivity": 1.0, "ci_low": 1.0, "ci_high": 1.0, "se_log": 0.0, "fitted": False},
    )
    for j, o in enumerate(prob.free):
        rec.loc[o, ["receptivity", "ci_low", "ci_high", "se_log"]] = [
            _exp(theta[j]),
            _exp(lo[j]),
            _exp(hi[j]),
            se[j],
        ]
        rec.loc[o, "fitted"] = True
    rec["fitted"] = rec["fitted"].astype(bool)
    prows = []
    z = theta[prob.n_free :]
    j = prob.n_free
    if prob.fit_nodes:
        prows.append(("nodal_growth_factor", _exp(z[0]), _exp(lo[j]), _exp(hi[j]), se[j]))
        j += 1
    if lodging:
        f = special.expit if _LODGING[lodging] == "logit" else np.exp
        prows.append((lodging, float(f(theta[j])), float(f(lo[j])), float(f(hi[j])), se[j]))
    par = pd.DataFrame(
        prows, columns=["name", "receptivity", "ci_low", "ci_high", "se_log"]
    ).set_index("name")
    par["fitted"] = True
    fitted_cells = prob.cells_for(tuple(z), {o: rec.loc[o, "receptivity"] for o in prob.free})
    # per-primary tables
    sites = list(dict.fromkeys(r[1] for r in prob.rows))

    def wide(values: np.ndarray) -> pd.DataFrame:
        w = pd.DataFrame(
            np.nan,
            index=pd.Index(prob.primaries, name="primary"),
            columns=pd.Index(sites, name="site"),
        )
        for (p, s, *_), v in zip(prob.rows, values, strict=True):
            w.loc[p, s] = v
        return w

    obs = prob.y / prob.n[prob.pidx]
    gof = []
    for i, p in enumerate(prob.primaries):
        m = prob.pidx == i
        a = _gof(prob.y[m], pi_anat[m], prob.n_patients[i])
        f_ = _gof(prob.y[m], pi_fit[m], prob.n_patients[i])
        row = {"primary": p, "n": int(prob.n[i]), "sites": int(m.sum())}
        row |= {f"{key}_anatomy": v for key, v in a.items()}
        row |= {f"{key}_fitted": v for key, v in f_.items()}
        gof.append(row)
    goodness = pd.DataFrame(gof).set_index("primary")
    names = prob.names
    return CalibrationResult(
        receptivity=rec,
        parameters=par,
        loglik=prob.loglik(theta),
        loglik_anatomy=prob.loglik(prob.theta0()),
        deviance=float(goodness["deviance_fitted"].sum()),
        deviance_anatomy=float(goodness["deviance_anatomy"].sum()),
        df=df,
        dispersion=float(phi),
        observed=wide(obs),
        predicted=wide(pi_fit),
        anatomy_only=wide(pi_anat),
        counts=wide(prob.y),
        goodness=goodness,
        anatomy_share=float(np.nanmean(goodness["r2_adj_anatomy"])),
        cells=fitted_cells,
        dropped=prob.dropped,
        covariance=pd.DataFrame(cov, index=names, columns=names),
        reference=reference,
        penalty=float(penalty),
        converged=bool(res.success),
        message=str(res.message),
        _theta=theta,
    )


def cross_validate(
    counts: pd.DataFrame,
    body: Any = None,
    cells: CellProfile | None = None,
    *,
    result: CalibrationResult | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Leave-one-primary-out cross-validation of :func:`calibrate`.

    For each primary, receptivities (and structural parameters) are fitted to all the other
    primaries and predict the held-out one, whose fit is compared with anatomy alone.

    Parameters
    ----------
    counts, body, cells, **options
        As for :func:`calibrate` (``intervals`` and ``bootstrap`` are ignored).
    result : CalibrationResult, optional
        The fit to all primaries, if already computed with these options (saves one fit).

    Returns
    -------
    pandas.DataFrame
        Per held-out primary: ``n``, and ``deviance`` / ``kl`` / ``spearman`` / ``r2_adj``
        for ``_anatomy`` and ``_heldout``.

    Examples
    --------
    >>> import circnet
    >>> import pandas as pd
    >>> counts = pd.DataFrame({"primary": ["colon_rectum"] * 3 + ["lung"] * 3,
    ...                        "site": ["liver", "lung", "bone"] * 2,
    ...                        "count": [60, 25, 15, 20, 50, 30]})
    >>> cv = circnet.cross_validate(counts, circnet.default_body("male"), fit_nodes=False,
    ...                             reference="liver")
    >>> sorted(cv.index)
    ['colon_rectum', 'lung']
    """
    options = {k: v for k, v in options.items() if k not in ("intervals", "bootstrap", "rng")}
    table = _tidy_counts(counts)
    bodies = _bodies(body)
    full = (
        result
        if result is not None
        else calibrate(table, bodies, cells, intervals=False, **options)
    )
    rows = []
    for p in full.goodness.index:
        train = table[table["primary"] != p]
        test = table[table["primary"] == p]
        opts = dict(options, reference=full.reference)
        fit = calibrate(train, bodies, cells, intervals=False, _x0=full._theta, **opts)
        # predict the held-out primary with the fitted cells (structure + receptivity)
        held = _Problem(test, bodies, fit.cells, False, None, None, 0.0, strip=False)
        pred = held.pi(held.theta0())
        g = _gof(held.y, pred, float(held.n_patients[0]))
        a = full.goodness.loc[p]
        rows.append(
            {
                "primary": p,
                "n": int(a["n"]),
                "deviance_anatomy": a["deviance_anatomy"],
                "deviance_heldout": g["deviance"],
                "kl_anatomy": a["kl_anatomy"],
                "kl_heldout": g["kl"],
                "spearman_anatomy": a["spearman_anatomy"],
                "spearman_heldout": g["spearman"],
                "r2_adj_anatomy": a["r2_adj_anatomy"],
                "r2_adj_heldout": g["r2_adj"],
            }
        )
    return pd.DataFrame(rows).set_index("primary")
