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

A scored site that the **training series lacks** (Budczies 2015 codes meninges and a
residual "other" site; DiSibio 2008 does not) has no fitted soil. The rule ``unseen``
(:data:`UNSEEN`) gives it:

* ``"typical"``: the mean fitted log soil of the training sites (a typical site), times
  its access ``g(a_ps)``;
* ``"access"``: the soil-only half count (Jeffreys) times its access;
* ``"soil"``: its soil-only share, unchanged, the model sharing out the rest.

The rule is chosen on the training series alone, by dropping each training site in turn
and scoring all rows (:func:`unseen_site_path`: ``"typical"`` won, deviance about 2.5x
lower than the others). The soil-only baseline itself keeps the half count (its
definition, :mod:`circnet.scoring`), so on such sites it is a weak baseline: scores on the
training sites only are reported beside (``benchmarks/fit_sites.py``).

The predicted shares may be **blended** with soil-only, ``(1 - w) pi + w soil``, with
``w`` chosen by leave-one-primary-out deviance (:func:`soil_weight_path`). The likelihood
may **weight the primaries** (``dispersion="primary"``: quasi-likelihood weights
``1 / (1 + (n_p - 1) rho)``, ``rho`` a Dirichlet-multinomial intra-primary correlation
estimated by moments), so that the largest primaries do not set the soil alone.

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
    UNSEEN,
    SiteFit,
    _Access,
    _inner,
    _link,
    _loglik,
    _population,
    _rows,
    _softmax,
    objective,
    primary_weights,
    site_access,
)
from ._site_select import _observed, cross_validate_sites, soil_weight_path, unseen_site_path
from ._validation import check_bool, check_choice, check_int, check_number
from .autopsy import load_autopsy
from .errors import ParameterError
from .scoring import score_predictions, soil_only_prediction, uniform_prediction

__all__ = [
    "DISPERSIONS",
    "LINKS",
    "UNSEEN",
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
    "soil_weight_path",
    "unseen_site_path",
    "validation_series",
    "write_calibrated",
]

#: Likelihood weighting of the primaries (see :func:`fit_sites`).
DISPERSIONS = ("none", "primary")
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
    dispersion: str = "none",
    unseen: str = "access",
    soil_weight: float = 0.0,
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
    dispersion : {"none", "primary"}
        ``"primary"``: quasi-likelihood weights ``1 / (1 + (n_p - 1) rho)`` per primary
        (``n_p`` its involvements; ``rho``, a Dirichlet-multinomial intra-primary
        correlation, is the moment estimate from a first unweighted fit), so that big
        primaries do not dominate the soil.
    unseen : {"access", "soil", "typical"}
        Rule for a scored site the training series lacks (module notes).
    soil_weight : float
        Weight ``w`` in ``[0, 1]`` of the soil-only baseline blended into the predicted
        shares (chosen by leave-one-primary-out: :func:`soil_weight_path`).

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
            dispersion,
            unseen,
            soil_weight,
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
    dispersion: str,
    unseen: str,
    soil_weight: float,
) -> SiteFit:
    t0 = time.perf_counter()
    check_choice(link, "link", LINKS)
    check_choice(dispersion, "dispersion", DISPERSIONS)
    check_choice(unseen, "unseen", UNSEEN)
    check_number(soil_weight, "soil_weight", low=0.0, high=1.0)
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
    weights, rho = None, 0.0
    if dispersion == "primary":
        a0 = access.matrix(rows, d0 if fit_arrest else deformability, k0 if fit_cascade else kappa)
        th0 = _inner(rows.counts, base, a0, link, ridge)[0]
        eta0 = float(th0[-1]) if link != "linear" else 0.0
        lw0 = base[None, :] + th0[None, : len(base)] + _link(link, a0, eta0)[0]
        weights, rho = primary_weights(rows.counts, _softmax(lw0, ~np.isnan(rows.counts)))

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
            rows.counts, base, a_z, link, ridge, start=warm[0] if warm else None, weights=weights
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
    theta, pnll, _ = _inner(rows.counts, base, a, link, ridge, weights=weights)
    k = len(rows.sites)
    fit_eta = link != "linear"

    penalised = objective(rows.counts, base, a, link, ridge, weights)

    # fitted cells: expected shares vs counts, for deviance and overdispersion
    eta = float(theta[k]) if fit_eta else 0.0
    lw = base[None, :] + theta[None, :k] + _link(link, a, eta)[0]
    m = ~np.isnan(rows.counts)
    c = np.where(m, rows.counts, 0.0)
    lw = np.where(m, lw, -np.inf)
    p = np.exp(lw - lw.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = c.sum(axis=1, keepdims=True)
    ll = _loglik(rows.counts, lw)[0]  # unweighted, for AIC/BIC and comparisons
    wp = np.ones((len(c), 1)) if weights is None else weights[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2.0 * float(np.where(c > 0, c * np.log(c / (n * p)), 0.0).sum())
        x2 = np.where(m, (c - n * p) ** 2 / (n * p), 0.0)
        pearson = float(x2.sum())
        pearson_w = float((wp * x2).sum())
    n_cells = int(m.sum())
    n_struct = len(z)
    n_par = k + fit_eta + n_struct
    df = max(n_cells - len(rows.primaries) - n_par, 1)
    phi = max(pearson_w / df, 1.0)

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
        unseen=unseen,
        soil_weight=float(soil_weight),
        rho=rho,
    )


# --------------------------------------------------------------------------- scoring
def baselines(
    train: pd.DataFrame, test: pd.DataFrame, *, body: Any = None
) -> dict[str, pd.DataFrame | pd.Series]:
    """The baseline predictions of ``test``'s rows from ``train`` (module notes).

    Returns a mapping ``uniform``, ``soil`` (soil-only; a site the training series lacks
    gets half a count), ``soil_typical`` (soil-only whose unseen sites get the mean pooled
    count of the training sites: the rule of ``fit_sites(unseen="typical")``, so that the
    comparison on sites neither has seen is on equal terms) and ``anatomy`` (access,
    linear link, nothing fitted), each scorable with
    :func:`circnet.scoring.score_predictions`.
    Sites that do not exist in the primary's body (a woman's prostate) are not scored, so
    no model gains from knowing them.

    Examples
    --------
    >>> import circnet
    >>> from circnet.sitemodel import baselines
    >>> t = circnet.load_autopsy().query("primary in ['breast', 'prostate']")
    >>> sorted(baselines(t, t))
    ['anatomy', 'soil', 'soil_typical', 'uniform']
    """
    bodies = bodies_of(body)
    tr = _rows(train, bodies)
    te = _rows(test, bodies)
    soil = _baseline(pd.DataFrame(tr.counts, index=tr.primaries, columns=tr.sites), te.sites)
    a = _Access(bodies, 1).matrix(te, None, 0.0)
    anatomy = pd.DataFrame(a, index=te.primaries, columns=te.sites)
    train_frame = pd.DataFrame(tr.counts, index=tr.primaries, columns=tr.sites)
    typical = soil_only_prediction(train_frame, te.sites, missing="zero", smoothing="typical")
    return {
        "uniform": uniform_prediction(te.sites),
        "soil": soil,
        "soil_typical": typical,
        "anatomy": anatomy,
    }


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
        (``uniform, soil, soil_typical, anatomy, calibrated``), ``dev_<model>`` and
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
