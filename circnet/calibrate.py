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
draws (one patient has several sites): the result reports the overdispersion ``D / df``
(deviance over residual degrees of freedom; about 1 for multinomial counts), and by
default (``dispersion="deviance"``) the covariance is multiplied by it, floored at 1
(quasi-likelihood: every standard error times ``sqrt(D / df)``; ``"pearson"`` uses
``X^2 / df``); a parametric bootstrap (``bootstrap=B``) gives percentile intervals
instead. A parameter the data do not identify (at a bound of the optimiser, a flat
direction of the information, or a dispersion-scaled standard error above 3 on the log
scale, i.e. a 95 % interval wider than a factor of about 1e5) is flagged
``identified=False`` and its interval is NaN.

Honest scores. Every measure comes beside the **uniform** and **soil-only** baselines on
the same rows (``goodness``, ``summary()``); the headline is the held-out score of
:func:`cross_validate`, where soil-only too is estimated from the training primaries
only. Font-Clos et al.'s share of variance explained is given unadjusted, capped at 1, as
a secondary column.

Anatomy alone. The anatomy-only model has every receptivity and the nodal factor at 1
(and the lodging parameter as given in ``cells``).

Where the parts live
--------------------
:mod:`circnet.autopsy` the data (published series, site map, checked count tables);
``circnet._likelihood`` the prepared likelihood and its gradient; ``circnet._fitting``
the optimiser and the intervals; ``circnet._calibration_result`` the result, its tables
and files; ``circnet._calibration_figure`` its figure. This module holds the two entry
points and re-exports the public names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._calibration_result import (
    CalibrationResult,
    baseline_predictions,
    build_result,
    goodness_of_fit,
    load_receptivity,
)
from ._calibration_result import _fontclos_r2 as _fontclos_r2  # re-exported for the tests
from ._fitting import (
    confidence_intervals,
    dispersion_of,
    fit_with_reference,
    overdispersion_of,
    serial_blas,
)
from ._likelihood import LODGING, Problem, bodies_of
from ._validation import check_bool, check_choice, check_int, check_number, check_rng
from .autopsy import AUTOPSY_SERIES, load_autopsy, tidy_counts
from .cells import CellProfile
from .errors import ParameterError

__all__ = [
    "calibrate",
    "cross_validate",
    "CalibrationResult",
    "load_autopsy",
    "load_receptivity",
    "AUTOPSY_SERIES",
]

_DISPERSIONS = ("deviance", "pearson", "none")
_CV_MODELS = ("uniform", "soil_only", "anatomy", "heldout")


def _lodging(fit_lodging: Any) -> str | None:
    """The lodging parameter to fit (None for none) from ``fit_lodging``."""
    if fit_lodging is None or isinstance(fit_lodging, (bool, np.bool_)):
        return "deformability" if fit_lodging else None
    choices = (False, True, *LODGING)
    if not isinstance(fit_lodging, str):  # 1 == True: only bools and names are choices
        raise ParameterError(
            f"`fit_lodging` must be one of {', '.join(repr(c) for c in choices)} "
            f"(got {fit_lodging!r})"
        )
    return str(check_choice(fit_lodging, "fit_lodging", choices))


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
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Randomness for the bootstrap (SPEC 7; checked even when ``bootstrap`` is 0).
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
    lodging = _lodging(fit_lodging)
    penalty = check_number(penalty, "penalty", low=0)
    dispersion = check_choice(dispersion, "dispersion", _DISPERSIONS)
    bootstrap = check_int(bootstrap, "bootstrap", low=0)
    maxiter = check_int(maxiter, "maxiter", low=1)
    fit_nodes = check_bool(fit_nodes, "fit_nodes")
    intervals_ = check_bool(intervals, "intervals")
    gen = check_rng(rng)
    if cells is None:
        cells = CellProfile()
    if not isinstance(cells, CellProfile):
        raise ParameterError(f"`cells` must be a CellProfile (got {type(cells).__name__})")
    table = tidy_counts(counts)
    prob = Problem(table, bodies_of(body), cells, fit_nodes, lodging, reference, penalty)
    with serial_blas():
        res, reference = fit_with_reference(prob, reference, x0=_x0, maxiter=maxiter)
        theta = res.x
        phi, df = dispersion_of(prob, theta, dispersion)
        over = overdispersion_of(prob, theta)
        ci = confidence_intervals(
            prob, theta, phi, compute=intervals_, bootstrap=bootstrap, rng=gen, maxiter=maxiter
        )
    return build_result(
        prob,
        theta,
        ci,
        df=df,
        dispersion=phi,
        overdispersion=over,
        reference=reference,
        penalty=penalty,
        converged=bool(res.success),
        message=str(res.message),
    )


def cross_validate(
    counts: pd.DataFrame,
    body: Any = None,
    cells: CellProfile | None = None,
    *,
    result: CalibrationResult | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Leave-one-primary-out cross-validation of :func:`calibrate`, beside the baselines.

    For each primary, receptivities (and structural parameters) are fitted to all the other
    primaries and predict the held-out one. On the same rows the held-out prediction is
    scored beside anatomy alone and the two baselines: **uniform** over the primary's
    sites, and **soil-only**, each site's frequency pooled over the *training* primaries of
    the fold (no anatomy; Jeffreys half count per site, see
    :func:`circnet.scoring.soil_only_prediction`). Attach the table to the full fit with
    :meth:`CalibrationResult.with_heldout` for the headline of
    :meth:`CalibrationResult.summary`.

    Parameters
    ----------
    counts, body, cells, **options
        As for :func:`calibrate` (``intervals`` and ``bootstrap`` are ignored).
    result : CalibrationResult, optional
        The fit to all primaries, if already computed with these options (saves one fit).

    Returns
    -------
    pandas.DataFrame
        Per held-out primary: ``n``, ``sites``, and ``deviance`` / ``loglik`` /
        ``spearman`` / ``r2`` (Font-Clos unadjusted R^2, capped at 1; secondary) for
        ``_uniform``, ``_soil_only``, ``_anatomy`` and ``_heldout`` (the fitted model).

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
    >>> [c for c in cv.columns if c.startswith("deviance")]
    ['deviance_uniform', 'deviance_soil_only', 'deviance_anatomy', 'deviance_heldout']
    """
    if result is not None and not isinstance(result, CalibrationResult):
        raise ParameterError(
            f"`result` must be a CalibrationResult or None (got {type(result).__name__})"
        )
    options = {k: v for k, v in options.items() if k not in ("intervals", "bootstrap", "rng")}
    table = tidy_counts(counts)
    bodies = bodies_of(body)
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
        held = Problem(test, bodies, fit.cells, False, None, None, 0.0, strip=False)
        # anatomy alone is fitted to nothing: the full fit's, renormalised over these rows
        anat = full.anatomy_only.loc[p].reindex([r[1] for r in held.rows]).fillna(0.0)
        preds = {
            "anatomy": anat.to_numpy(float) / max(float(anat.sum()), 1e-300),
            "heldout": held.pi(held.theta0()),
        }
        preds["uniform"], preds["soil_only"] = baseline_predictions(
            held.rows, held.pidx, fit.counts
        )
        row: dict[str, Any] = {"primary": p, "n": int(held.n[0]), "sites": len(held.rows)}
        scores = {
            m: goodness_of_fit(held.y, preds[m], float(held.n_patients[0])) for m in _CV_MODELS
        }
        for key in ("deviance", "loglik", "spearman", "r2"):
            row |= {f"{key}_{m}": scores[m][key] for m in _CV_MODELS}
        rows.append(row)
    return pd.DataFrame(rows).set_index("primary")
