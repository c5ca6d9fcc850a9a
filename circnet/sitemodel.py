"""Where metastases are found at autopsy: soil times anatomical access, fitted and scored.

An autopsy series counts, per primary tumour, the patients with a metastasis at each site.
This module models those counts as a multinomial over the scored sites of each primary,
with the share of site ``s`` for primary ``p``

.. math::

    \\pi_{ps} \\propto \\exp(b_s + \\delta_s)\\, g(a_{ps}),

where

* ``a_ps`` is the **anatomical access**: the exact probability that a cell shed by ``p``
  ends as a colony (or a nodal deposit) at ``s``, from circnet's transport model
  (:class:`~circnet.TransportModel` with the default :class:`~circnet.CellPopulation`),
  optionally with **cascades**: colonies re-seed, and generation ``k`` (``k`` = 1, 2, ...)
  adds ``kappa**k`` times the fates of cells shed from the colonies of generation
  ``k - 1`` (``a = F + kappa F M + kappa**2 F M**2 + ...``, ``M`` mapping a colony at an
  organ to the fates of cells shed from that organ);
* ``b_s`` is the **soil-only baseline** (each site's pooled frequency in the training
  series plus half a count, :func:`circnet.scoring.soil_only_prediction`) and ``delta_s``
  the fitted **soil** deviation, on an unbounded log scale, with the stated prior
  ``delta_s ~ Normal(0, 1 / ridge)`` (a ridge penalty). There is no reference organ to
  choose: the prior pins the common level, and a site absent from training keeps
  ``delta = 0`` (the soil-only value);
* ``g`` is the **link** from access to involvement:

  - ``"saturating"`` (default): ``g(a) = 1 - exp(-Lambda a)``, the probability that a
    Poisson number of macroscopic metastases, mean ``Lambda a``, is not zero: a patient
    counts once at a site however many colonies it has. ``Lambda`` (the expected number
    of macroscopic metastases over the disease, per unit access) is fitted; as
    ``Lambda`` grows every reachable site saturates and the model becomes soil-only
    restricted to the sites the primary's body has;
  - ``"power"``: ``g(a) = a**beta``, ``beta >= 0`` fitted (``beta = 0``: soil-only);
  - ``"linear"``: ``g(a) = a`` (no fitted link parameter).

Optionally the cells' **arrest** (the deformability of single cells, the population-wide
lodging parameter) and the cascade strength ``kappa`` are fitted **jointly** with the soil
(outer bounded search; inner exact-gradient L-BFGS).

Every fit is compared, on the same rows, with simple baselines (:func:`baselines`):
``uniform``; ``soil`` (soil-only); ``anatomy`` (access alone, linear link, nothing
fitted). Sites absent from the primary's body (a woman's prostate) are not scored.
Models are ranked by held-out (leave-one-primary-out) deviance
(:func:`cross_validate_sites`) and on the validation series (:func:`score_sites`), with
AIC/BIC beside, never by in-sample fit alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from ._fitting import SE_IDENTIFIED, serial_blas
from ._likelihood import bodies_of
from ._site_access import (
    LINKS,
    SiteFit,
    _Access,
    _inner,
    _link,
    _population,
    _rows,
    objective,
    site_access,
)
from ._validation import check_bool, check_choice, check_int, check_number
from .autopsy import load_autopsy
from .errors import ParameterError
from .scoring import score_predictions, soil_only_prediction, uniform_prediction

__all__ = [
    "LINKS",
    "SiteFit",
    "PROFILES",
    "RIDGE",
    "baselines",
    "calibrated",
    "calibrated_population",
    "cross_validate_sites",
    "fit_sites",
    "score_sites",
    "site_access",
    "validation_series",
    "write_calibrated",
]

#: Default precision of the prior on the log soil deviations (see :func:`fit_sites`).
RIDGE = 0.01
#: Bounds of the outer search: logit single-cell deformability and log10 kappa.
_DEFORM_BOUNDS = (0.0, 0.95)
_KAPPA_BOUNDS = (-3.0, 3.0)
#: Past this the saturating link is indistinguishable from saturation (flagged at bound).
_LAMBDA_SATURATED = 1e6


# --------------------------------------------------------------------------- fitting
def _hessian(fun: Any, x: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of a function returning (value, gradient)."""
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = step
        h[i] = (fun(x + e)[1] - fun(x - e)[1]) / (2 * step)
    return 0.5 * (h + h.T)


def _baseline(train: pd.DataFrame, sites: Sequence[str]) -> pd.Series:
    return soil_only_prediction(train, sites, missing="zero", smoothing="jeffreys")


def fit_sites(
    counts: pd.DataFrame,
    *,
    body: Any = None,
    link: str = "saturating",
    fit_arrest: bool = False,
    fit_cascade: bool = False,
    deformability: float | None = None,
    kappa: float = 0.0,
    generations: int = 3,
    ridge: float = RIDGE,
    extra_sites: Sequence[str] = (),
) -> SiteFit:
    """Fit soil, link and (optionally) arrest and cascades to an autopsy count table.

    Parameters
    ----------
    counts : pandas.DataFrame
        The training counts (tidy, e.g. :func:`circnet.load_autopsy`, or primary x site).
    body : networkx.DiGraph, mapping or None
        The body (default: male and female default bodies).
    link : {"saturating", "power", "linear"}
        Link from access to involvement (module notes).
    fit_arrest : bool
        Fit the single-cell deformability (the population's arrest) jointly.
    fit_cascade : bool
        Fit the cascade strength ``kappa`` jointly (``generations`` generations).
    deformability, kappa : float
        Fixed values when not fitted (start values when fitted; ``kappa`` starts at 1).
    generations : int
        Generations of re-seeding counted when ``kappa > 0``.
    ridge : float
        Precision of the Normal(0, 1/ridge) prior on each log soil deviation (default
        :data:`RIDGE` = 0.01, a standard deviation of 10 on the log scale: weakly
        informative; it pins the common level, which shares do not identify). 0.01 had the
        lowest leave-one-primary-out deviance on DiSibio & French 2008 among 0.01, 0.1,
        0.3, 1, 3 and 10 (``benchmarks/fit_sites.py --select-ridge``).
    extra_sites : sequence of str
        Sites to keep a soil-only value for although training lacks them (validation
        sites); they are not fitted.

    Returns
    -------
    SiteFit

    Raises
    ------
    ParameterError
        On a bad option; :class:`~circnet.UnknownNameError` on an unknown primary or site.

    Examples
    --------
    >>> import circnet
    >>> from circnet.sitemodel import fit_sites
    >>> train = circnet.load_autopsy().query("primary in ['colon_rectum', 'breast', 'lung']")
    >>> fit = fit_sites(train, link="power")
    >>> fit.link, bool(fit.parameters.loc["beta", "estimate"] >= 0)
    ('power', True)
    """
    with serial_blas():
        return _fit_sites(
            counts,
            body,
            link,
            fit_arrest,
            fit_cascade,
            deformability,
            kappa,
            generations,
            ridge,
            extra_sites,
        )


def _fit_sites(
    counts: pd.DataFrame,
    body: Any,
    link: str,
    fit_arrest: bool,
    fit_cascade: bool,
    deformability: float | None,
    kappa: float,
    generations: int,
    ridge: float,
    extra_sites: Sequence[str],
) -> SiteFit:
    t0 = time.perf_counter()
    check_choice(link, "link", LINKS)
    check_bool(fit_arrest, "fit_arrest")
    check_bool(fit_cascade, "fit_cascade")
    check_number(ridge, "ridge", low=0.0, low_open=True)
    check_number(kappa, "kappa", low=0.0)
    gens = check_int(generations, "generations", low=1)
    if fit_cascade and gens < 2:
        raise ParameterError("`fit_cascade=True` needs `generations` >= 2")
    bodies = bodies_of(body)
    rows = _rows(counts, bodies)
    access = _Access(bodies, gens)
    train = pd.DataFrame(rows.counts, index=rows.primaries, columns=rows.sites)
    sites_all = list(dict.fromkeys([*rows.sites, *map(str, extra_sites)]))
    baseline = _baseline(train, sites_all)
    base = np.log(baseline.reindex(rows.sites).to_numpy())
    d0 = (
        float(_population(bodies[next(iter(bodies))], None).profiles[0].deformability)
        if deformability is None
        else float(deformability)
    )
    k0 = float(kappa) if kappa > 0 else 1.0

    def unpack(z: np.ndarray) -> tuple[float | None, float]:
        i = 0
        dfm: float | None = deformability
        kap = float(kappa)
        if fit_arrest:
            dfm = float(np.clip(z[i], *_DEFORM_BOUNDS))
            i += 1
        if fit_cascade:
            kap = float(10.0 ** np.clip(z[i], *_KAPPA_BOUNDS))
        return dfm, kap

    warm: list[np.ndarray] = []

    def outer(z: np.ndarray) -> float:
        dfm, kap = unpack(z)
        a_z = access.matrix(rows, dfm, kap)
        theta_z, value, _ = _inner(
            rows.counts, base, a_z, link, ridge, start=warm[0] if warm else None
        )
        if not warm:
            warm.append(theta_z)
        return value

    z = np.array([d0] * fit_arrest + [math.log10(k0)] * fit_cascade, dtype=float)
    bounds = [_DEFORM_BOUNDS] * fit_arrest + [_KAPPA_BOUNDS] * fit_cascade
    if len(z):
        r = optimize.minimize(
            outer,
            z,
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": 1e-3, "fatol": 1e-3, "maxfev": 200},
        )
        z = r.x
    dfm, kap = unpack(z)
    a = access.matrix(rows, dfm, kap)
    theta, pnll, ll = _inner(rows.counts, base, a, link, ridge)
    k = len(rows.sites)
    fit_eta = link != "linear"

    penalised = objective(rows.counts, base, a, link, ridge)

    # fitted cells: expected shares vs counts, for deviance and overdispersion
    eta = float(theta[k]) if fit_eta else 0.0
    lw = base[None, :] + theta[None, :k] + _link(link, a, eta)[0]
    m = ~np.isnan(rows.counts)
    c = np.where(m, rows.counts, 0.0)
    lw = np.where(m, lw, -np.inf)
    p = np.exp(lw - lw.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = c.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2.0 * float(np.where(c > 0, c * np.log(c / (n * p)), 0.0).sum())
        pearson = float(np.where(m, (c - n * p) ** 2 / (n * p), 0.0).sum())
    n_cells = int(m.sum())
    n_struct = len(z)
    n_par = k + fit_eta + n_struct
    df = max(n_cells - len(rows.primaries) - n_par, 1)
    phi = max(pearson / df, 1.0)

    hess = _hessian(penalised, theta)
    # soil is reported as shares (softmax of the log soil): shares are identified, the
    # common level of the log soil is not (only the prior pins it)
    log_soil = base + theta[:k]
    share = np.exp(log_soil - log_soil.max())
    share /= share.sum()
    jac = np.eye(len(theta))
    jac[:k, :k] -= share[None, :]
    try:
        cov = jac @ np.linalg.inv(hess) @ jac.T * phi
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:
        se = np.full(len(theta), np.nan)
    names = [f"soil:{s}" for s in rows.sites]
    est = list(np.log(share))
    scale = ["log"] * k
    at_bound = [False] * k
    if link == "saturating":
        names.append("Lambda")
        est.append(float(theta[k]))
        scale.append("log")
        at_bound.append(math.exp(theta[k]) > _LAMBDA_SATURATED)
    elif link == "power":
        names.append("beta")
        est.append(float(theta[k]))
        scale.append("linear")
        at_bound.append(theta[k] <= 1e-6)
    se_all = list(se)
    for j, (nm, val, lo, hi, sc) in enumerate(
        [("deformability", dfm, *_DEFORM_BOUNDS, "linear")] * fit_arrest
        + ([("kappa", math.log10(kap), *_KAPPA_BOUNDS, "log10")] if fit_cascade else [])
    ):
        names.append(nm)
        est.append(float(val))  # type: ignore[arg-type]
        scale.append(sc)
        at_bound.append(bool(abs(val - lo) < 1e-3 or abs(val - hi) < 1e-3))  # type: ignore[operator]
        h = 0.02
        zz = [np.array(z, dtype=float) for _ in range(2)]
        zz[0][j] -= h
        zz[1][j] += h
        curv = (outer(zz[0]) - 2 * pnll + outer(zz[1])) / h**2
        se_all.append(math.sqrt(phi / curv) if curv > 0 else math.nan)
    rows_out = []
    for nm, val, s, sc, ab in zip(names, est, se_all, scale, at_bound, strict=True):
        ident = bool(np.isfinite(s) and s < SE_IDENTIFIED and not ab)
        lo = val - 1.96 * s if ident else math.nan
        hi = val + 1.96 * s if ident else math.nan
        if sc == "log":
            val, lo, hi = math.exp(val), math.exp(lo), math.exp(hi)
        elif sc == "log10":
            val, lo, hi = 10.0**val, 10.0**lo, 10.0**hi
        rows_out.append((nm, val, s if ident else math.nan, lo, hi, ident, ab))
    params = pd.DataFrame(
        rows_out, columns=["parameter", "estimate", "se", "low", "high", "identified", "at_bound"]
    ).set_index("parameter")
    link_par = (
        math.exp(theta[k]) if link == "saturating" else float(theta[k]) if fit_eta else math.nan
    )
    return SiteFit(
        link=link,
        soil=pd.Series(base + theta[:k], index=rows.sites, name="log_soil"),
        baseline=baseline,
        link_parameter=link_par,
        deformability=dfm,
        kappa=kap,
        generations=gens,
        ridge=float(ridge),
        fitted=tuple(["deformability"] * fit_arrest + ["kappa"] * fit_cascade),
        parameters=params,
        log_likelihood=ll,
        deviance=dev,
        n_involvements=int(c.sum()),
        n_cells=n_cells,
        overdispersion=pearson / df,
        seconds=time.perf_counter() - t0,
        body=bodies,
        _access=access,
    )


# --------------------------------------------------------------------------- scoring
def baselines(
    train: pd.DataFrame, test: pd.DataFrame, *, body: Any = None
) -> dict[str, pd.DataFrame | pd.Series]:
    """The baseline predictions of ``test``'s rows from ``train`` (module notes).

    Returns a mapping ``uniform``, ``soil`` (soil-only) and ``anatomy`` (access, linear
    link, nothing fitted), each scorable with :func:`circnet.scoring.score_predictions`.
    Sites that do not exist in the primary's body (a woman's prostate) are not scored, so
    no model gains from knowing them.

    Examples
    --------
    >>> import circnet
    >>> from circnet.sitemodel import baselines
    >>> t = circnet.load_autopsy().query("primary in ['breast', 'prostate']")
    >>> sorted(baselines(t, t))
    ['anatomy', 'soil', 'uniform']
    """
    bodies = bodies_of(body)
    tr = _rows(train, bodies)
    te = _rows(test, bodies)
    soil = _baseline(pd.DataFrame(tr.counts, index=tr.primaries, columns=tr.sites), te.sites)
    a = _Access(bodies, 1).matrix(te, None, 0.0)
    anatomy = pd.DataFrame(a, index=te.primaries, columns=te.sites)
    return {"uniform": uniform_prediction(te.sites), "soil": soil, "anatomy": anatomy}


def _observed(counts: pd.DataFrame, body: Any) -> pd.DataFrame:
    rows = _rows(counts, bodies_of(body))
    return pd.DataFrame(rows.counts, index=rows.primaries, columns=rows.sites)


def score_sites(fit: SiteFit, counts: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """Per-primary deviance and Spearman of a fit and the baselines, on the same rows.

    Parameters
    ----------
    fit : SiteFit
    counts : pandas.DataFrame
        The series scored (e.g. a validation series, never used to fit).
    train : pandas.DataFrame
        The training series (for the soil baselines).

    Returns
    -------
    pandas.DataFrame
        Index primary (plus a ``total`` row); columns ``n`` and, per model
        (``uniform, soil, anatomy, calibrated``), ``dev_<model>`` and
        ``rho_<model>``.

    Examples
    --------
    >>> import circnet
    >>> from circnet.sitemodel import fit_sites, score_sites
    >>> train = circnet.load_autopsy().query("primary in ['colon_rectum', 'breast', 'lung']")
    >>> fit = fit_sites(train, link="power")
    >>> s = score_sites(fit, train, train)
    >>> bool(s.loc["total", "dev_calibrated"] <= s.loc["total", "dev_uniform"])
    True
    """
    obs = _observed(counts, fit.body)
    preds = {**baselines(train, counts, body=fit.body), "calibrated": fit.predict(counts)}
    out = pd.DataFrame(index=obs.index)
    out["n"] = obs.sum(axis=1).astype(int)
    for name, pred in preds.items():
        s = score_predictions(obs, pred)
        out[f"dev_{name}"] = s["deviance"]
        out[f"rho_{name}"] = s["spearman"]
    total = {c: out[c].sum() if c.startswith(("dev_", "n")) else out[c].mean() for c in out}
    out.loc["total"] = pd.Series(total)
    out.index.name = "primary"
    return out


def cross_validate_sites(counts: pd.DataFrame, **options: Any) -> pd.DataFrame:
    """Leave-one-primary-out scores of :func:`fit_sites` beside the baselines.

    Each primary is held out in turn; the model and the soil baselines are fitted to the
    other primaries only, then the held-out primary is scored (:func:`score_sites`).

    Parameters
    ----------
    counts : pandas.DataFrame
        The training series.
    **options
        Passed to :func:`fit_sites`.

    Returns
    -------
    pandas.DataFrame
        As :func:`score_sites`, one row per held-out primary plus ``total``.

    Examples
    --------
    >>> import circnet
    >>> from circnet.sitemodel import cross_validate_sites
    >>> t = circnet.load_autopsy().query("primary in ['colon_rectum', 'breast', 'lung']")
    >>> cv = cross_validate_sites(t, link="linear")
    >>> list(cv.index)
    ['breast', 'colon_rectum', 'lung', 'total']
    """
    obs = _observed(counts, options.get("body"))
    tidy = obs.stack().rename("count").reset_index()
    tidy.columns = ["primary", "site", "count"]
    parts = []
    for p in obs.index:
        train = tidy[tidy["primary"] != p]
        test = tidy[tidy["primary"] == p]
        fit = fit_sites(train, extra_sites=list(obs.columns), **options)
        parts.append(score_sites(fit, test, train).drop(index="total"))
    out = pd.concat(parts)
    total = {c: out[c].sum() if c.startswith(("dev_", "n")) else out[c].mean() for c in out}
    out.loc["total"] = pd.Series(total)
    return out


def validation_series() -> dict[str, pd.DataFrame]:
    """The shipped validation series (Budczies 2015, Schlageter 2016), tidy counts."""
    here = Path(__file__).resolve().parent / "data"
    return {
        name: load_autopsy(here / f"autopsy_{name}.csv")
        for name in ("budczies2015", "schlageter2016")
    }


from ._site_profiles import (  # noqa: E402  (re-exported public names)
    PROFILES,
    calibrated,
    calibrated_population,
    write_calibrated,
)
