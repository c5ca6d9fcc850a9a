"""Score predicted site distributions of metastases against observed counts.

A prediction for one primary tumour is a probability distribution over metastatic sites;
an autopsy series gives, per primary, how many patients had a metastasis at each site.
This module scores the prediction as a multinomial model of those counts, on exactly the
sites that are scored (the sites with an observed count), beside two baselines that use no
anatomy at all:

* :func:`uniform_prediction`: every scored site equally likely;
* :func:`soil_only_prediction`: each site's frequency pooled over all primaries of a
  *training* series (no anatomy, no primary-specific information); with
  ``smoothing="jeffreys"`` half a count is added to every site first (the Jeffreys prior
  of a multinomial), so a site the training series lacks gets a small positive
  probability instead of the scoring floor.

Conventions
-----------
* Predictions are renormalised over the scored sites of each primary (a model that puts
  mass on sites the series did not record is neither rewarded nor punished for it).
* A zero (or tiny) predicted probability would make the deviance infinite. After
  renormalisation every probability is raised to at least ``floor`` (default
  :data:`FLOOR` = 1e-6) and the distribution is renormalised again ("renormalised
  epsilon floor"). The floor is the same for every model, so scores are comparable.
* Counts of patients with a metastasis at a site are not independent multinomial draws
  (one patient counts at several sites); deviances are comparable between models on the
  same rows, not calibrated goodness-of-fit statistics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln

from ._validation import check_choice
from .errors import ParameterError

__all__ = [
    "FLOOR",
    "count_matrix",
    "score_predictions",
    "soil_only_prediction",
    "uniform_prediction",
]

#: Default lower bound of a renormalised predicted probability (see the module notes).
FLOOR = 1e-6

_COLUMNS = [
    "n_involvements",
    "n_sites",
    "deviance",
    "log_likelihood",
    "spearman",
    "top3_overlap",
]


def _check_frame(x: object, name: str) -> pd.DataFrame:
    if not isinstance(x, pd.DataFrame):
        raise ParameterError(
            f"`{name}` must be a pandas DataFrame (primary x site), got {type(x).__name__}"
        )
    if x.index.has_duplicates or x.columns.has_duplicates:
        raise ParameterError(f"`{name}` has duplicated primaries or sites")
    try:
        return x.astype(float)
    except (TypeError, ValueError) as err:
        raise ParameterError(f"`{name}` must hold numbers: {err}") from err


def count_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """Turn a tidy table of counts into a primary x site matrix.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``primary``, ``site``, ``count`` (as returned by
        :func:`circnet.load_autopsy`); one row per (primary, site).

    Returns
    -------
    pandas.DataFrame
        Counts, primaries as rows and sites as columns; ``NaN`` where the series has no
        row for that (primary, site), i.e. where the site is not scored for that primary.

    Raises
    ------
    ParameterError
        If a column is missing or a (primary, site) pair occurs twice.

    Examples
    --------
    >>> import pandas as pd
    >>> from circnet.scoring import count_matrix
    >>> tidy = pd.DataFrame({"primary": ["lung", "lung", "breast"],
    ...                      "site": ["liver", "brain", "liver"], "count": [5, 3, 7]})
    >>> count_matrix(tidy)
    site    brain  liver
    primary
    breast    NaN    7.0
    lung      3.0    5.0
    """
    if not isinstance(table, pd.DataFrame):
        raise ParameterError(f"`table` must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in ("primary", "site", "count") if c not in table.columns]
    if missing:
        raise ParameterError(f"`table` lacks column(s) {missing}")
    dup = table.duplicated(["primary", "site"])
    if dup.any():
        r = table[dup].iloc[0]
        raise ParameterError(f"`table` has more than one row for ({r['primary']!r}, {r['site']!r})")
    wide = table.pivot(index="primary", columns="site", values="count").astype(float)
    wide.columns.name = "site"
    wide.index.name = "primary"
    return wide


def uniform_prediction(sites: Iterable[str]) -> pd.Series:
    """The uniform baseline: every site equally likely.

    Parameters
    ----------
    sites : iterable of str
        Site names (distinct, at least one).

    Returns
    -------
    pandas.Series
        ``1 / len(sites)`` for each site. :func:`score_predictions` accepts a Series as a
        prediction shared by every primary, and renormalises it over each primary's
        scored sites (so it stays uniform there).

    Examples
    --------
    >>> from circnet.scoring import uniform_prediction
    >>> uniform_prediction(["lung", "liver", "bone"]).round(3).to_dict()
    {'lung': 0.333, 'liver': 0.333, 'bone': 0.333}
    """
    names = [str(s) for s in sites]
    if not names:
        raise ParameterError("`sites` is empty")
    if len(set(names)) != len(names):
        raise ParameterError("`sites` has duplicated names")
    return pd.Series(1.0 / len(names), index=pd.Index(names, name="site"), name="uniform")


#: Pseudo-counts added to every site's pooled count, by ``smoothing`` option.
_PSEUDO = {"none": 0.0, "jeffreys": 0.5, "typical": 0.5}


def soil_only_prediction(
    train_counts: pd.DataFrame,
    sites: Iterable[str],
    *,
    missing: str = "raise",
    smoothing: str = "none",
) -> pd.Series:
    """The soil-only baseline: each site's frequency pooled over all training primaries.

    Parameters
    ----------
    train_counts : pandas.DataFrame
        Training counts, primary x site (``NaN`` = not recorded, treated as 0). Only these
        rows are used: the baseline knows nothing about the series it is scored on.
    sites : iterable of str
        The sites to predict; each must be a column of ``train_counts`` unless
        ``missing="zero"``.
    missing : {"raise", "zero"}
        What a site absent from the training series gets: an error (default), or 0
        like a site with no training involvement.
    smoothing : {"none", "jeffreys", "typical"}
        ``"none"`` (default): the pooled frequencies themselves, so a site with no
        training involvement gets 0 and the scoring floor (:data:`FLOOR`) then applies,
        which can make soil-only score worse than uniform on series with sites the
        training lacks (meninges, "other"). ``"jeffreys"``: add 0.5 to every requested
        site's pooled count before normalising, the posterior mean under the Jeffreys
        prior Dirichlet(1/2, ..., 1/2) of a multinomial; a site absent from training gets
        ``0.5 / (N + k / 2)`` (``N`` training involvements of the ``k`` sites).
        Recommended with ``missing="zero"``. ``"typical"``: as ``"jeffreys"``, but a
        site absent from training (``missing="zero"``) gets the mean pooled count of the
        training sites requested, not half a count: the rule
        :func:`circnet.sitemodel.fit_sites` applies with ``unseen="typical"``, so that a
        model and this baseline are compared on equal terms on sites neither has seen.

    Returns
    -------
    pandas.Series
        ``sum over primaries of count(site)`` (plus the pseudo-count), normalised to sum
        to 1 over ``sites``.

    Raises
    ------
    ParameterError
        If a site is not a column of ``train_counts``, a count is negative, or the
        training counts of ``sites`` are all zero.

    Examples
    --------
    >>> import pandas as pd
    >>> from circnet.scoring import soil_only_prediction
    >>> train = pd.DataFrame({"liver": [6, 2], "lung": [2, 2], "bone": [0, 4]},
    ...                      index=["colon", "breast"])
    >>> soil_only_prediction(train, ["liver", "lung", "bone"]).round(3).to_dict()
    {'liver': 0.5, 'lung': 0.25, 'bone': 0.25}
    >>> soil_only_prediction(train, ["liver", "brain"], missing="zero").to_dict()
    {'liver': 1.0, 'brain': 0.0}
    >>> soil_only_prediction(train, ["liver", "brain"], missing="zero",
    ...                      smoothing="jeffreys").round(3).to_dict()  # 8.5 / 9, 0.5 / 9
    {'liver': 0.944, 'brain': 0.056}
    >>> soil_only_prediction(train, ["liver", "lung", "brain"], missing="zero",
    ...                      smoothing="typical").round(3).to_dict()  # 8.5, 4.5, 6.5
    {'liver': 0.436, 'lung': 0.231, 'brain': 0.333}
    """
    train = _check_frame(train_counts, "train_counts")
    check_choice(missing, "missing", ("raise", "zero"))
    check_choice(smoothing, "smoothing", tuple(_PSEUDO))
    names = [str(s) for s in sites]
    if not names:
        raise ParameterError("`sites` is empty")
    absent = [s for s in names if s not in train.columns]
    if absent and missing == "zero":
        train = train.reindex(columns=list(train.columns) + absent)
    elif absent:
        raise ParameterError(
            f"site(s) {absent} not in the training counts "
            f"(training sites: {', '.join(map(str, train.columns))})"
        )
    pooled = train[names].fillna(0.0)
    if (pooled.to_numpy() < 0).any():
        raise ParameterError("`train_counts` has negative counts")
    total = pooled.sum(axis=0) + _PSEUDO[smoothing]
    if smoothing == "typical" and absent:
        # a site the training series lacks: the mean pooled count of the sites it has
        seen = [s for s in names if s not in absent]
        total[absent] = float(total[seen].mean()) if seen else 1.0
    if float(total.sum()) <= 0:
        raise ParameterError("the training counts of the requested sites are all zero")
    out = total / float(total.sum())
    out.index.name = "site"
    out.name = "soil_only"
    return out


def _top(values: np.ndarray, sites: list[str], k: int) -> set[str]:
    # descending value, ties broken by site name: deterministic
    order = sorted(range(len(sites)), key=lambda i: (-values[i], sites[i]))
    return {sites[i] for i in order[:k]}


def score_predictions(
    observed_counts: pd.DataFrame,
    predicted: pd.DataFrame | pd.Series,
    *,
    floor: float = FLOOR,
) -> pd.DataFrame:
    """Score predicted site distributions against observed counts, per primary.

    Parameters
    ----------
    observed_counts : pandas.DataFrame
        Observed counts, primary x site (non-negative integers). ``NaN`` marks a site that
        is not scored for that primary; the scored sites of a primary are its non-``NaN``
        columns.
    predicted : pandas.DataFrame or pandas.Series
        Predicted probabilities (or any non-negative weights), primary x site; a Series
        indexed by site is one prediction shared by every primary (as the baselines
        return). It must cover every scored (primary, site); extra sites are ignored.
    floor : float
        Lower bound of a renormalised probability, in (0, 1 / n_sites): after
        renormalising over the scored sites, probabilities below ``floor`` are raised to
        it and the distribution is renormalised again. Default :data:`FLOOR` (1e-6).

    Returns
    -------
    pandas.DataFrame
        One row per primary (index ``primary``), columns:

        ``n_involvements``
            Sum of the observed counts over the scored sites (n).
        ``n_sites``
            Number of scored sites (k).
        ``deviance``
            Multinomial deviance ``2 * sum(y * log(y / (n p)))`` (0 for the observed
            frequencies; lower is better).
        ``log_likelihood``
            Multinomial log-likelihood ``log n! - sum(log y!) + sum(y log p)``.
        ``spearman``
            Spearman rank correlation of observed counts and predictions (``NaN`` if
            either is constant or k < 2).
        ``top3_overlap``
            Number of sites shared by the observed and predicted top three (top
            ``min(3, k)``; ties broken by site name).

    Raises
    ------
    ParameterError
        If an input is not a DataFrame/Series, a count is negative or not an integer, a
        prediction is negative or not finite, a scored site or primary has no prediction,
        a primary's predictions over its scored sites are all zero, or ``floor`` is out of
        range.

    Examples
    --------
    >>> import pandas as pd
    >>> from circnet.scoring import score_predictions, uniform_prediction
    >>> obs = pd.DataFrame({"liver": [30.0], "lung": [10.0], "bone": [0.0]}, index=["colon"])
    >>> exact = obs.div(obs.sum(axis=1), axis=0)
    >>> round(float(score_predictions(obs, exact).loc["colon", "deviance"]), 3)  # floor on bone
    0.0
    >>> s = score_predictions(obs, uniform_prediction(obs.columns))
    >>> round(float(s.loc["colon", "deviance"]), 3)  # 2 * sum(y log(y k / n))
    42.902
    >>> int(s.loc["colon", "n_involvements"]), int(s.loc["colon", "top3_overlap"])
    (40, 3)
    """
    obs = _check_frame(observed_counts, "observed_counts")
    if isinstance(predicted, pd.Series):
        if predicted.index.has_duplicates:
            raise ParameterError("`predicted` has duplicated sites")
        try:
            row = predicted.astype(float)
        except (TypeError, ValueError) as err:
            raise ParameterError(f"`predicted` must hold numbers: {err}") from err
        pred = pd.DataFrame([row.to_numpy()] * len(obs.index), index=obs.index, columns=row.index)
    else:
        pred = _check_frame(predicted, "predicted")
    if not (isinstance(floor, (int, float)) and 0 < floor < 1 and math.isfinite(floor)):
        raise ParameterError(f"`floor` must be a number in (0, 1), got {floor!r}")
    values = obs.to_numpy()
    seen = values[~np.isnan(values)]
    if (seen < 0).any() or (seen != np.round(seen)).any() or np.isinf(seen).any():
        raise ParameterError("`observed_counts` must be non-negative integers (or NaN)")
    rows = []
    for primary in obs.index:
        y_all = obs.loc[primary]
        sites = [str(s) for s in y_all.index[y_all.notna()]]
        if not sites:
            continue
        if primary not in pred.index:
            raise ParameterError(f"no prediction for primary {primary!r}")
        lacking = [s for s in sites if s not in pred.columns or pd.isna(pred.loc[primary, s])]
        if lacking:
            raise ParameterError(f"primary {primary!r}: no prediction for site(s) {lacking}")
        y = y_all[sites].to_numpy(dtype=float)
        q = pred.loc[primary, sites].to_numpy(dtype=float)
        if (q < 0).any() or not np.isfinite(q).all():
            raise ParameterError(
                f"primary {primary!r}: predictions must be finite and non-negative"
            )
        if q.sum() <= 0:
            raise ParameterError(
                f"primary {primary!r}: the predictions over the scored sites are all zero"
            )
        k = len(sites)
        if floor * k >= 1:
            raise ParameterError(f"`floor` {floor!r} must be below 1 / n_sites = {1 / k:.3g}")
        p = q / q.sum()
        p = np.maximum(p, floor)
        p = p / p.sum()
        n = float(y.sum())
        pos = y > 0
        dev = 2.0 * float(np.sum(y[pos] * np.log(y[pos] / (n * p[pos])))) if n > 0 else 0.0
        loglik = float(gammaln(n + 1) - gammaln(y + 1).sum() + np.sum(y[pos] * np.log(p[pos])))
        if k >= 2 and np.ptp(y) > 0 and np.ptp(q) > 0:
            rho = float(stats.spearmanr(y, q).statistic)
        else:
            rho = float("nan")
        top = min(3, k)
        overlap = len(_top(y, sites, top) & _top(q, sites, top))
        rows.append([n, k, dev, loglik, rho, overlap])
    out = pd.DataFrame(
        rows,
        columns=_COLUMNS,
        index=pd.Index([p for p in obs.index if obs.loc[p].notna().any()], name="primary"),
    )
    out["n_involvements"] = out["n_involvements"].astype(int)
    out["n_sites"] = out["n_sites"].astype(int)
    out["top3_overlap"] = out["top3_overlap"].astype(int)
    return out
