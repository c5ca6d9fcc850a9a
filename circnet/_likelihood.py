"""The prepared likelihood of a calibration: sites as fates, counts, cached solves, gradient.

A :class:`Problem` holds the rows (primary, site) of a table of counts with the fates of
each site in the primary's body, the counts, and the fate probabilities at each
structural setting (nodal growth factor, lodging parameter), one linear solve per
setting. Receptivities act on colony fates alone and exactly (see
:mod:`circnet.calibrate`), so the log-likelihood and its gradient in the
log-receptivities need no further solve.

Parameter vector ``theta``: the log-receptivities of the free organs (:attr:`Problem.free`),
then the structural values ``z`` (log nodal factor if fitted; logit deformability or
log diameter if lodging is fitted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy import special

from .body import default_body, lymph_nodes, organs, validate
from .cells import CellProfile
from .errors import ParameterError, UnknownNameError
from .states import is_label, parse_label, state_label
from .transport import TransportModel

__all__ = ["Problem", "LODGING", "BOUND", "bodies_of", "structural_cells"]

#: Lodging parameters that can be fitted, and the scale they are fitted on.
LODGING = {"deformability": "logit", "diameter_um": "log"}
#: Bound on a fitted log-receptivity or log nodal factor.
BOUND = 20.0
#: Site-spec words for the node groups a primary drains to first / all others.
_REGIONAL, _DISTANT = "regional_nodes", "distant_nodes"
#: Kinds of fate a site of a table may name.
_SITE_KINDS = ("colony", "node")

Key = tuple[float, ...]
Row = tuple[str, str, int, list[str], float]  # primary, site, count, fate labels, n_patients


def bodies_of(body: Any) -> dict[str, nx.DiGraph]:
    """The named bodies of a calibration (default: the male and female default bodies)."""
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
    spec: str, primary: str, g: nx.DiGraph, all_organs: set[str], all_nodes: set[str]
) -> tuple[list[str] | None, str]:
    """Fate labels of a site spec in body ``g`` (None, and why, if absent from this body)."""
    body_organs, body_nodes = set(organs(g)), {str(n) for n in lymph_nodes(g)}
    fates: list[str] = []
    missing = []
    for part in spec.split("+"):
        part = part.strip()
        if part == _REGIONAL:
            fates += [state_label("node", n) for n in _regional(g, primary)]
            continue
        if part == _DISTANT:
            reg = set(_regional(g, primary))
            fates += [state_label("node", n) for n in sorted(body_nodes - reg)]
            continue
        kind, name = parse_label(part) if is_label(part) else (None, part)
        if kind is not None and kind not in _SITE_KINDS:
            raise UnknownNameError(f"site {spec!r}: unknown fate kind {kind!r}")
        if kind in (None, "colony") and name in all_organs:
            (
                fates.append(state_label("colony", name))
                if name in body_organs
                else missing.append(name)
            )
        elif kind in (None, "node") and name in all_nodes:
            (
                fates.append(state_label("node", name))
                if name in body_nodes
                else missing.append(name)
            )
        else:
            raise UnknownNameError(
                f"unknown site {spec!r} (primary {primary!r}): {part!r} is not an organ or "
                f"lymph-node group of the body, nor {_REGIONAL!r} / {_DISTANT!r} "
                f"(organs: {', '.join(sorted(all_organs))})"
            )
    if missing and not fates:
        return None, f"{', '.join(str(m) for m in missing)} not in the body of this primary"
    return sorted(set(fates)), ""


def _strip_receptivity(cells: CellProfile) -> CellProfile:
    sites = {s: {k: v for k, v in p.items() if k != "receptivity"} for s, p in cells.sites.items()}
    return cells.replace(receptivity=1.0, sites={s: p for s, p in sites.items() if p})


def _for_body(cells: CellProfile, g: nx.DiGraph) -> CellProfile:
    known = set(organs(g)) | {str(n) for n in lymph_nodes(g)}
    return cells.replace(sites={s: p for s, p in cells.sites.items() if s in known})


def structural_cells(
    base: CellProfile, node_factor: float, lodging: str | None, lodging_value: float | None
) -> CellProfile:
    """``base`` with every nodal growth rate times ``node_factor`` and the lodging value set."""
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


def _key(z: Sequence[float]) -> Key:
    return tuple(round(float(v), 12) for v in z)


class Problem:
    """The prepared likelihood: rows (primary, site) with their fates, counts and cached solves.

    ``strip=False`` keeps the receptivities of ``cells``: :meth:`theta0` then predicts
    with them (cross-validation of a fit).
    """

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
        self._organ_index = {o: k for k, o in enumerate(self.organs)}
        # primaries: organ of some body; first body in order that has it
        self.body_of: dict[str, str] = {}
        for p in dict.fromkeys(table["primary"]):
            home = next((k for k, g in bodies.items() if p in organs(g)), None)
            if home is None:
                raise UnknownNameError(
                    f"unknown primary {p!r} in `counts`: expected an organ of the body "
                    f"({', '.join(self.organs)})"
                )
            self.body_of[p] = home
        self._models: dict[str, TransportModel] = {}
        self._cache: dict[Key, dict[str, pd.DataFrame]] = {}
        self._arrays: dict[Key, tuple[np.ndarray, np.ndarray]] = {}
        self._layouts: dict[str, _Layout] = {}
        self.dropped, rows = self._rows(table, set(all_organs), all_nodes)
        self.primaries = list(dict.fromkeys(r[0] for r in rows))  # order of first appearance
        self._check_overlap(rows)
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
                kind, site = parse_label(f)
                if kind == "colony":
                    self.colony[k, self._organ_index[str(site)]] = 1.0
        npat = {r[0]: r[4] for r in rows if not np.isnan(r[4])}
        self.n_patients = np.array([npat.get(p, self.n[i]) for i, p in enumerate(keep)])
        self.c = np.array(
            [self.base.site_value("colonisation_probability", o) for o in self.organs]
        )
        self.reference: str | None = None
        self.free: list[str] = []
        self.free_idx = np.zeros(0, dtype=int)
        self.names: list[str] = []
        self.set_reference(None if reference == "auto" else reference)
        self.const = float(special.gammaln(self.n + 1).sum() - special.gammaln(self.y + 1).sum())

    def _rows(
        self, table: pd.DataFrame, all_organs: set[str], all_nodes: set[str]
    ) -> tuple[pd.DataFrame, list[Row]]:
        """The rows that can be modelled, and a table of those that cannot."""
        anat = self._fates(self.structural0)
        rows: list[Row] = []
        dropped = []
        for _, r in table.iterrows():
            p, s = r["primary"], r["site"]
            g = self.bodies[self.body_of[p]]
            fates, why = _resolve(s, p, g, all_organs, all_nodes)
            if fates is None:
                dropped.append((p, s, int(r["count"]), why))
                continue
            if float(anat[self.body_of[p]].loc[p, fates].sum()) <= 0:
                dropped.append((p, s, int(r["count"]), "unreachable by anatomy (probability 0)"))
                continue
            npat = r["n_patients"] if "n_patients" in r else np.nan
            rows.append((p, s, int(r["count"]), fates, float(npat) if pd.notna(npat) else np.nan))
        frame = pd.DataFrame(dropped, columns=["primary", "site", "count", "reason"])
        if not rows:
            raise ParameterError("no site of `counts` can be modelled in this body")
        return frame, rows

    def _check_overlap(self, rows: list[Row]) -> None:
        """Overlapping fates within a primary would count a cell twice."""
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

    # ------------------------------------------------------------ structure
    @property
    def n_free(self) -> int:
        return len(self.free)

    @cached_property
    def structural0(self) -> Key:
        out: list[float] = []
        if self.fit_nodes:
            out.append(0.0)
        if self.lodging:
            v = getattr(self.base, self.lodging)
            out.append(
                float(special.logit(min(max(v, 1e-4), 0.99)))
                if LODGING[self.lodging] == "logit"
                else math.log(v)
            )
        return tuple(out)

    def structural_values(self, z: Sequence[float]) -> tuple[float, str | None, float | None]:
        """Nodal factor, lodging parameter name and value at structural vector ``z``."""
        k = 0
        node = 1.0
        if self.fit_nodes:
            node = math.exp(z[0])
            k = 1
        lv = None
        if self.lodging:
            lv = float(special.expit(z[k])) if LODGING[self.lodging] == "logit" else math.exp(z[k])
        return node, self.lodging, lv

    def cells_for(self, z: Sequence[float], receptivity: Mapping[str, float]) -> CellProfile:
        """The cell profile at structural values ``z`` with the given receptivities."""
        cells = structural_cells(self.base, *self.structural_values(z))
        for o, r in receptivity.items():
            cells = cells.with_site(o, receptivity=float(r))
        return cells

    def _fates(self, z: Key) -> dict[str, pd.DataFrame]:
        key = _key(z)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        cells = structural_cells(self.base, *self.structural_values(z))
        out = {}
        for name, g in self.bodies.items():
            prims = [p for p in self.body_of if self.body_of[p] == name]
            if not prims:
                continue
            cb = _for_body(cells, g)
            m = self._models.get(name)
            m = TransportModel(g, cb, _validated=True) if m is None else m.with_cells(cb)
            self._models[name] = m
            out[name] = m.fate_table(prims)
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[key] = out
        return out

    def base_arrays(self, z: Key) -> tuple[np.ndarray, np.ndarray]:
        """``T`` (rows x organs: P(colony) / p(1)) and ``N`` (rows: node fates) at ``z``."""
        key = _key(z)
        hit = self._arrays.get(key)
        if hit is not None:
            return hit
        fates = self._fates(z)
        t = np.zeros_like(self.colony)
        nn = np.zeros(len(self.rows))
        for name, frame in fates.items():
            a = frame.to_numpy()
            lay = self._layout(name, frame)
            orgs = lay.organs
            with np.errstate(divide="ignore", invalid="ignore"):
                t[lay.rows, orgs] = np.where(
                    self.c[orgs] > 0, a[lay.cells[0], lay.cells[1]] / self.c[orgs], 0
                )
            np.add.at(nn, lay.node_rows, a[lay.node_cells[0], lay.node_cells[1]])
        if len(self._arrays) > 256:
            self._arrays.clear()
        self._arrays[key] = (t, nn)
        return t, nn

    def _layout(self, name: str, frame: pd.DataFrame) -> _Layout:
        """Index arrays mapping the fates table of body ``name`` onto the rows."""
        hit = self._layouts.get(name)
        if hit is None:
            hit = self._layouts[name] = _Layout(self, name, frame)
        return hit

    def set_reference(self, reference: str | None) -> None:
        """Fix ``reference`` at receptivity 1; every other organ of the table is free."""
        oi = self._organ_index
        if reference is not None and reference not in oi:
            raise UnknownNameError(
                f"`reference` {reference!r} is not an organ of the body ({', '.join(self.organs)})"
            )
        t0, _ = self.base_arrays(self.structural0)
        used = [bool(u) for u in np.any(t0 > 0, axis=0)]
        self.reference = reference
        self.free = [o for o, u in zip(self.organs, used, strict=True) if u and o != reference]
        self.free_idx = np.array([oi[o] for o in self.free], dtype=int)
        self.names = [f"log_receptivity:{o}" for o in self.free]
        if self.fit_nodes:
            self.names.append("log_nodal_factor")
        if self.lodging:
            self.names.append(f"{LODGING[self.lodging]}_{self.lodging}")

    # ------------------------------------------------------------ likelihood
    def split(self, theta: np.ndarray) -> tuple[np.ndarray, Key]:
        """Log-receptivities of every organ (0 where not free) and structural values."""
        u = np.zeros(len(self.organs))
        u[self.free_idx] = theta[: self.n_free]
        return u, tuple(float(v) for v in theta[self.n_free :])

    def probs(self, u: np.ndarray, z: Key) -> tuple[np.ndarray, ...]:
        """Row probabilities ``q``, their sums per primary, ``T`` and ``p(r)``."""
        t, nn = self.base_arrays(z)
        r = np.exp(u)
        p = r * self.c / (r * self.c + 1.0 - self.c)
        q = t @ p + nn
        big_q = np.bincount(self.pidx, weights=q, minlength=len(self.primaries))
        return q, big_q, t, p

    def loglik(self, theta: np.ndarray) -> float:
        """Multinomial log-likelihood (without the penalty)."""
        u, z = self.split(theta)
        q, big_q, _, _ = self.probs(u, z)
        with np.errstate(divide="ignore"):
            ll = float(np.sum(self.y * (np.log(q) - np.log(big_q[self.pidx]))))
        return ll + self.const

    def objective(
        self, theta: np.ndarray, structural_grad: bool = True
    ) -> tuple[float, np.ndarray]:
        """Penalised negative log-likelihood and its gradient (numerical in ``z``)."""
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
        """Site distribution of each row's primary at ``theta``."""
        u, z = self.split(theta)
        q, big_q, _, _ = self.probs(u, z)
        return np.asarray(q / big_q[self.pidx])

    def theta0(self) -> np.ndarray:
        """Anatomy alone: every free receptivity 1, structural values as in the cells."""
        return np.concatenate([np.zeros(self.n_free), self.structural0])

    def bounds(self) -> list[tuple[float, float]]:
        b = [(-BOUND, BOUND)] * self.n_free
        if self.fit_nodes:
            b.append((-BOUND, BOUND))
        if self.lodging:
            b.append(
                (-10.0, 10.0)
                if LODGING[self.lodging] == "logit"
                else (math.log(1.0), math.log(100.0))
            )
        return b

    def hessian(self, theta: np.ndarray, h: float = 1e-3) -> np.ndarray:
        """Numerical Hessian of :meth:`objective` (central differences of the gradient)."""
        k = len(theta)
        out = np.empty((k, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = h
            out[:, j] = (self.objective(theta + e)[1] - self.objective(theta - e)[1]) / (2 * h)
        return 0.5 * (out + out.T)


class _Layout:
    """Where the fates table of one body enters the rows: colony cells and node cells."""

    def __init__(self, problem: Problem, name: str, frame: pd.DataFrame):
        pos = {p: k for k, p in enumerate(frame.index)}
        col = {f: k for k, f in enumerate(frame.columns)}
        rows, prow, pcol, orgs, nrows, nprow, npcol = [], [], [], [], [], [], []
        for k, (p, _, _, fl, _) in enumerate(problem.rows):
            if problem.body_of[p] != name:
                continue
            for lab in fl:
                kind, site = parse_label(lab)
                if kind == "colony":
                    rows.append(k)
                    prow.append(pos[p])
                    pcol.append(col[lab])
                    orgs.append(problem._organ_index[str(site)])
                else:
                    nrows.append(k)
                    nprow.append(pos[p])
                    npcol.append(col[lab])
        self.rows = np.asarray(rows, int)
        self.cells = (np.asarray(prow, int), np.asarray(pcol, int))
        self.organs = np.asarray(orgs, int)
        self.node_rows = np.asarray(nrows, int)
        self.node_cells = (np.asarray(nprow, int), np.asarray(npcol, int))
