"""Anatomical access of autopsy rows, the site-model likelihood and its result class.

Private helpers of :mod:`circnet.sitemodel` (see its notes): the rows of a count table with
their fates in the primary's body, the exact access (transport fates, with cascades), the
links and the multinomial log-likelihood with its gradient, and :class:`SiteFit`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy import optimize, special

from ._likelihood import _resolve, bodies_of
from ._validation import check_int, check_number
from .body import lymph_nodes, organs
from .errors import UnknownNameError
from .population import CellPopulation
from .scoring import count_matrix
from .states import parse_label
from .transport import TransportModel

__all__ = ["LINKS", "UNSEEN", "SiteFit", "site_access"]

#: Links from anatomical access to the share of involvements (see circnet.sitemodel).
LINKS = ("saturating", "power", "linear")
#: Rules for a scored site that the training series lacks (see circnet.sitemodel).
UNSEEN = ("access", "soil", "typical")
#: Smallest access a site can have in a link (keeps logs finite; same for every model).
_TINY = 1e-300


# --------------------------------------------------------------------------- access
def _population(g: nx.DiGraph, deformability: float | None) -> CellPopulation:
    """The default population of ``g``, single cells at ``deformability`` if given."""
    pop = CellPopulation.default(g)
    if deformability is None:
        return pop
    profiles = tuple(
        p.replace(deformability=deformability) if n.startswith("single") else p
        for n, p in zip(pop.names, pop.profiles, strict=True)
    )
    return CellPopulation(pop.names, pop.weights, profiles)


@dataclass
class _Rows:
    """The (primary, site) rows of a count table with their fates in the primary's body."""

    primaries: list[str]
    sites: list[str]
    counts: np.ndarray  # primary x site, NaN = not scored
    fates: dict[tuple[str, str], list[str]]
    body_of: dict[str, str]
    dropped: pd.DataFrame


def _rows(counts: pd.DataFrame, bodies: dict[str, nx.DiGraph]) -> _Rows:
    obs = count_matrix(counts) if "count" in counts.columns else counts
    all_organs: set[str] = set()
    all_nodes: set[str] = set()
    for g in bodies.values():
        all_organs |= set(organs(g))
        all_nodes |= {str(n) for n in lymph_nodes(g)}
    body_of: dict[str, str] = {}
    fates: dict[tuple[str, str], list[str]] = {}
    dropped = []
    keep_p = []
    for p in obs.index:
        home = next((k for k, g in bodies.items() if p in organs(g)), None)
        if home is None:
            raise UnknownNameError(
                f"unknown primary {p!r}: not an organ of the body ({', '.join(sorted(all_organs))})"
            )
        body_of[str(p)] = home
        for s in obs.columns:
            c = obs.loc[p, s]
            if pd.isna(c):
                continue
            f, why = _resolve(str(s), str(p), bodies[home], all_organs, all_nodes)
            if f is None:
                dropped.append((p, s, int(c), why))
                obs.loc[p, s] = np.nan
            else:
                fates[(str(p), str(s))] = f
        if obs.loc[p].notna().any() and float(obs.loc[p].sum()) > 0:
            keep_p.append(p)
    obs = obs.loc[keep_p]
    obs = obs.loc[:, obs.notna().any(axis=0)]
    return _Rows(
        [str(p) for p in obs.index],
        [str(s) for s in obs.columns],
        obs.to_numpy(dtype=float),
        fates,
        body_of,
        pd.DataFrame(dropped, columns=["primary", "site", "count", "reason"]),
    )


class _Access:
    """Anatomical access of rows at (deformability, kappa), cached; exact linear algebra."""

    def __init__(self, bodies: dict[str, nx.DiGraph], generations: int):
        self.bodies = bodies
        self.generations = generations
        self._tables: dict[float | None, dict[str, pd.DataFrame]] = {}
        self._index: dict[int, tuple[_Rows, list[tuple[int, int, str, int, np.ndarray]]]] = {}

    def tables(self, deformability: float | None) -> dict[str, pd.DataFrame]:
        """Fate tables (organ source x fate label) per body at this deformability."""
        key = None if deformability is None else round(float(deformability), 10)
        if key not in self._tables:
            out = {}
            for k, g in self.bodies.items():
                model = TransportModel(g, _population(g, key))
                out[k] = model.fate_table(list(organs(g)))
            self._tables[key] = out
        return self._tables[key]

    def full(self, deformability: float | None, kappa: float) -> dict[str, pd.DataFrame]:
        """Access per body with cascades: F + kappa F M + kappa**2 F M**2 + ..."""
        out = {}
        for k, fates in self.tables(deformability).items():
            cols = list(fates.columns)
            f = fates.to_numpy()
            m = np.zeros((len(cols), len(cols)))
            for j, c in enumerate(cols):
                kind, site = parse_label(c)
                if kind == "colony" and str(site) in fates.index:
                    m[j] = fates.loc[str(site)].to_numpy()
            total, cur = f.copy(), f.copy()
            for gen in range(1, self.generations):
                cur = cur @ m
                total += kappa**gen * cur
            out[k] = pd.DataFrame(total, index=fates.index, columns=cols)
        return out

    def matrix(self, rows: _Rows, deformability: float | None, kappa: float) -> np.ndarray:
        """Access per row (primary x site), NaN where not scored."""
        full = self.full(deformability, kappa)
        key = id(rows)
        if key not in self._index:  # (i, j, body, table row, table columns) per scored cell
            cells = []
            for i, p in enumerate(rows.primaries):
                tab = full[rows.body_of[p]]
                r = int(tab.index.get_loc(p))
                for j, s in enumerate(rows.sites):
                    f = rows.fates.get((p, s))
                    if f is not None:
                        cells.append((i, j, rows.body_of[p], r, tab.columns.get_indexer(f)))
            self._index[key] = (rows, cells)
        a = np.full(rows.counts.shape, np.nan)
        arrays = {k: t.to_numpy() for k, t in full.items()}
        for i, j, b, r, cols in self._index[key][1]:
            a[i, j] = float(arrays[b][r, cols].sum())
        return a


def site_access(
    counts: pd.DataFrame,
    *,
    body: Any = None,
    deformability: float | None = None,
    kappa: float = 0.0,
    generations: int = 3,
) -> pd.DataFrame:
    """Anatomical access of every scored (primary, site) of a count table.

    Parameters
    ----------
    counts : pandas.DataFrame
        Tidy counts (``primary, site, count``, e.g. :func:`circnet.load_autopsy`) or a
        primary x site matrix.
    body : networkx.DiGraph, mapping or None
        The body (default: the male and female default bodies; a primary is placed in
        the first body that has it).
    deformability : float or None
        Single-cell deformability of the default population (None: its default).
    kappa : float
        Cascade strength: relative weight of each further generation of re-seeding.
    generations : int
        Generations counted (1 = the primary's own cells only).

    Returns
    -------
    pandas.DataFrame
        Primary x site, the summed fate probability of each site's fates (``NaN``: not
        scored).

    Examples
    --------
    >>> import circnet
    >>> from circnet.sitemodel import site_access
    >>> counts = circnet.load_autopsy().query("primary in ['colon_rectum', 'breast']")
    >>> a = site_access(counts)
    >>> bool(a.loc["colon_rectum", "liver"] > a.loc["breast", "liver"])
    True
    """
    check_number(kappa, "kappa", low=0.0)
    gens = check_int(generations, "generations", low=1)
    bodies = bodies_of(body)
    rows = _rows(counts, bodies)
    a = _Access(bodies, gens).matrix(rows, deformability, kappa)
    return pd.DataFrame(a, index=rows.primaries, columns=rows.sites)


# --------------------------------------------------------------------------- likelihood
def _link(link: str, a: np.ndarray, eta: float) -> tuple[np.ndarray, np.ndarray]:
    """log g(a) and its derivative in the link parameter eta (log Lambda, or beta)."""
    a = np.maximum(np.nan_to_num(a, nan=1.0), _TINY)
    if link == "saturating":
        x = math.exp(eta) * a
        logg = np.log(-np.expm1(-x))
        with np.errstate(over="ignore", invalid="ignore"):
            d = np.where(x > 1e-12, x / np.expm1(x), 1.0)
        return logg, d
    if link == "power":
        return eta * np.log(a), np.log(a)
    return np.log(a), np.zeros_like(a)


def _loglik(
    counts: np.ndarray, logw: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Multinomial log-likelihood of counts given log weights, and d ll / d logw.

    ``weights`` (one per row, default 1) are quasi-likelihood weights of the primaries.
    """
    m = ~np.isnan(counts)
    c = np.where(m, counts, 0.0)
    lw = np.where(m, logw, -np.inf)
    top = lw.max(axis=1, keepdims=True)
    lse = np.log(np.exp(lw - top).sum(axis=1, keepdims=True)) + top
    logp = np.where(m, lw - lse, 0.0)
    n = c.sum(axis=1, keepdims=True)
    w = np.ones((len(c), 1)) if weights is None else np.asarray(weights, float)[:, None]
    const = (w[:, 0] * (special.gammaln(n[:, 0] + 1) - special.gammaln(c + 1).sum(axis=1))).sum()
    ll = float((w * c * logp).sum() + const)
    grad = w * (c - n * np.where(m, np.exp(logp), 0.0))
    return ll, grad


def objective(
    counts: np.ndarray,
    base: np.ndarray,
    a: np.ndarray,
    link: str,
    ridge: float,
    weights: np.ndarray | None = None,
) -> Any:
    """Penalised negative log-likelihood of ``theta = (delta, eta)`` and its gradient."""
    k = counts.shape[1]
    fit_eta = link != "linear"

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta[:k]
        eta = float(theta[k]) if fit_eta else 0.0
        logg, dg = _link(link, a, eta)
        ll, gw = _loglik(counts, base[None, :] + d[None, :] + logg, weights)
        grad = -gw.sum(axis=0) + ridge * d
        if fit_eta:
            grad = np.r_[grad, -float((gw * dg).sum())]
        return -ll + 0.5 * ridge * float(d @ d), grad

    return f


def primary_weights(counts: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, float]:
    """Quasi-likelihood weights ``1 / (1 + (n_p - 1) rho)`` per primary, and ``rho``.

    ``rho`` is the moment estimate of a Dirichlet-multinomial intra-primary correlation
    from the Pearson statistics of a first fit ``p`` (shares, primary x site):
    ``E[X2_p] = (K_p - 1) (1 + (n_p - 1) rho)`` summed over primaries, ``rho >= 0``.
    """
    m = ~np.isnan(counts)
    c = np.where(m, counts, 0.0)
    n = c.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        x2 = np.where(m, (c - n[:, None] * p) ** 2 / (n[:, None] * p), 0.0).sum(axis=1)
    dof = m.sum(axis=1) - 1.0
    denom = float((dof * np.maximum(n - 1.0, 0.0)).sum())
    rho = max(float((x2.sum() - dof.sum()) / denom), 0.0) if denom > 0 else 0.0
    return 1.0 / (1.0 + np.maximum(n - 1.0, 0.0) * rho), rho


def _inner(
    counts: np.ndarray,
    base: np.ndarray,
    a: np.ndarray,
    link: str,
    ridge: float,
    start: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, float, float]:
    """Fit (delta, eta) at fixed access: returns theta, penalised nll, unpenalised ll.

    ``start`` (a previous theta) replaces the default start points (warm start of an
    outer search).
    """
    k = counts.shape[1]
    fit_eta = link != "linear"
    f = objective(counts, base, a, link, ridge, weights)

    starts = [np.log(1e2), np.log(1e4), np.log(1e6)] if link == "saturating" else [0.2]
    bounds = [(None, None)] * k + ([(-30.0, 40.0)] if link == "saturating" else [(0.0, 5.0)])
    best = None
    x0s = [np.r_[np.zeros(k), s] if fit_eta else np.zeros(k) for s in starts[: 1 + 2 * fit_eta]]
    if start is not None:
        x0s = [np.asarray(start, dtype=float)]
    for x0 in x0s:
        r = optimize.minimize(
            f,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds[: len(x0)],
            options={"maxiter": 2000},
        )
        if best is None or r.fun < best.fun:
            best = r
    assert best is not None
    theta = best.x
    d = theta[:k]
    eta = float(theta[k]) if fit_eta else 0.0
    ll, _ = _loglik(counts, base[None, :] + d[None, :] + _link(link, a, eta)[0], weights)
    return theta, float(best.fun), ll


def _softmax(logw: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row-wise shares of ``exp(logw)`` over ``mask`` (0 elsewhere; all-False rows: 0)."""
    lw = np.where(mask, np.broadcast_to(logw, mask.shape), -np.inf)
    top = np.max(np.where(mask, lw, -np.inf), axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    w = np.where(mask, np.exp(lw - top), 0.0)
    tot = w.sum(axis=1, keepdims=True)
    return np.divide(w, tot, out=np.zeros_like(w), where=tot > 0)


# --------------------------------------------------------------------------- result
@dataclass
class SiteFit:
    """A fitted site model (see :mod:`circnet.sitemodel`); build with :func:`fit_sites`.

    Attributes
    ----------
    link : str
    soil : pandas.Series
        Fitted log soil weight per site (``b_s + delta_s``); a site absent from the
        training series predicts with its soil-only value.
    baseline : pandas.Series
        The soil-only baseline of the training series (probabilities), over every site
        of the training series and of :attr:`extra_sites`.
    link_parameter : float
        ``Lambda`` (saturating), ``beta`` (power) or NaN (linear).
    deformability, kappa : float
        The arrest and cascade settings used (fitted if in :attr:`fitted`).
    parameters : pandas.DataFrame
        One row per fitted parameter: estimate, standard error (quasi-likelihood:
        scaled by the overdispersion), 95 % interval, ``identified`` and ``at_bound``
        flags. A parameter that the data do not identify gets NaN intervals.
    unseen : str
        Rule for a scored site that the training series lacks (:data:`UNSEEN`).
    soil_weight : float
        Weight ``w`` of the soil-only baseline in the predicted shares,
        ``(1 - w) model + w soil``.
    rho : float
        Intra-primary correlation of the quasi-likelihood weights (0: unweighted).
    """

    link: str
    soil: pd.Series
    baseline: pd.Series
    link_parameter: float
    deformability: float | None
    kappa: float
    generations: int
    ridge: float
    fitted: tuple[str, ...]
    parameters: pd.DataFrame
    log_likelihood: float
    deviance: float
    n_involvements: int
    n_cells: int
    overdispersion: float
    seconds: float
    body: dict[str, nx.DiGraph] = field(repr=False)
    _access: _Access = field(repr=False)
    unseen: str = "access"
    soil_weight: float = 0.0
    rho: float = 0.0

    @property
    def n_parameters(self) -> int:
        """Fitted parameters: soil per training site, link, and the fitted arrest/cascade."""
        return len(self.parameters)

    @property
    def aic(self) -> float:
        """Akaike information criterion, ``2k - 2 ll`` (unpenalised in-sample ll)."""
        return 2 * self.n_parameters - 2 * self.log_likelihood

    @property
    def bic(self) -> float:
        """Bayesian information criterion, ``k ln(n) - 2 ll`` with n = involvements."""
        return self.n_parameters * math.log(self.n_involvements) - 2 * self.log_likelihood

    def predict(self, counts: pd.DataFrame) -> pd.DataFrame:
        """Predicted shares on the scored rows of ``counts`` (primary x site, rows sum to 1).

        Sites absent from the training series follow :attr:`unseen`; the shares are then
        blended with the soil-only baseline by :attr:`soil_weight` (module notes of
        :mod:`circnet.sitemodel`).

        Examples
        --------
        >>> import circnet
        >>> from circnet.sitemodel import fit_sites
        >>> train = circnet.load_autopsy().query("primary in ['colon_rectum', 'breast', 'lung']")
        >>> fit = fit_sites(train, link="linear", ridge=10.0)
        >>> p = fit.predict(train)
        >>> bool(abs(p.sum(axis=1) - 1).max() < 1e-12)
        True
        """
        rows = _rows(counts, self.body)
        a = self._access.matrix(rows, self.deformability, self.kappa)
        eta = (
            math.log(self.link_parameter)
            if self.link == "saturating"
            else self.link_parameter
            if self.link == "power"
            else 0.0
        )
        scored = ~np.isnan(rows.counts)
        seen = np.array([s in self.soil.index for s in rows.sites], dtype=bool)
        log_soil = self._log_soil(rows.sites)
        if self.unseen == "typical" and len(self.soil):
            log_soil = np.where(seen, log_soil, float(self.soil.mean()))
        lw = log_soil[None, :] + _link(self.link, a, eta)[0]
        q = _softmax(self._log_baseline(rows.sites)[None, :], scored)  # soil-only shares
        if self.unseen == "soil":  # unseen sites keep their soil-only share
            p = _softmax(lw, scored & seen[None, :])
            q_unseen = np.where(~seen[None, :], q, 0.0)
            p = p * (1.0 - q_unseen.sum(axis=1, keepdims=True)) + q_unseen
        else:
            p = _softmax(lw, scored)
        p = (1.0 - self.soil_weight) * p + self.soil_weight * q
        return pd.DataFrame(np.where(scored, p, np.nan), index=rows.primaries, columns=rows.sites)

    def _log_baseline(self, sites: Sequence[str]) -> np.ndarray:
        return np.log([float(self.baseline.get(s, self.baseline.min())) for s in sites])

    def _log_soil(self, sites: Sequence[str]) -> np.ndarray:
        out = []
        for s in sites:
            if s in self.soil.index:
                out.append(float(self.soil[s]))
            else:  # site absent from training: the Jeffreys half count
                out.append(float(np.log(self.baseline.get(s, self.baseline.min()))))
        return np.array(out)

    def summary(self) -> str:
        """Plain-text summary: counts, link, fitted structure, flags, information criteria."""
        p = self.parameters
        flagged = p[~p["identified"] | p["at_bound"]]
        lines = [
            f"site model: link {self.link}, {self.n_parameters} parameters, "
            f"{self.n_involvements} involvements in {self.n_cells} (primary, site) cells",
            f"in-sample log-likelihood {self.log_likelihood:.1f}, deviance {self.deviance:.1f}, "
            f"AIC {self.aic:.1f}, BIC {self.bic:.1f}, overdispersion D/df "
            f"{self.overdispersion:.2f}",
            f"link parameter {self.link_parameter:.4g}, deformability {self.deformability}, "
            f"kappa {self.kappa:.4g} (fitted: {', '.join(self.fitted) or 'none'}), "
            f"ridge {self.ridge:g}, primary weights rho {self.rho:.3g}, unseen sites "
            f"{self.unseen!r}, soil-only blend {self.soil_weight:g}, {self.seconds:.1f} s",
        ]
        if len(flagged):
            lines.append("not identified or at a bound: " + ", ".join(map(str, flagged.index)))
        return "\n".join(lines)
