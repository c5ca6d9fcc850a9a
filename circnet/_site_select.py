"""Model choices of the site model made on the training series only (issue 13 protocol).

Private helpers of :mod:`circnet.sitemodel` (re-exported there): leave-one-primary-out
cross-validation (:func:`cross_validate_sites`), the soil-only blend weight chosen by it
(:func:`soil_weight_path`), and leave-one-site-out scores of the rules for a site that the
training series lacks (:func:`unseen_site_path`). None of them reads a validation series.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._likelihood import bodies_of
from ._site_access import UNSEEN, SiteFit, _rows
from ._validation import check_choice, check_number
from .errors import ParameterError
from .scoring import score_predictions

__all__ = ["cross_validate_sites", "soil_weight_path", "unseen_site_path"]

#: Default grid of soil-only blend weights tried by :func:`soil_weight_path`.
SOIL_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)


def _observed(counts: pd.DataFrame, body: Any) -> pd.DataFrame:
    rows = _rows(counts, bodies_of(body))
    return pd.DataFrame(rows.counts, index=rows.primaries, columns=rows.sites)


def _tidy(obs: pd.DataFrame) -> pd.DataFrame:
    tidy = obs.stack().rename("count").reset_index()
    tidy.columns = ["primary", "site", "count"]
    return tidy


def _totals(out: pd.DataFrame) -> pd.DataFrame:
    total = {c: out[c].sum() if c.startswith(("dev_", "n")) else out[c].mean() for c in out}
    out.loc["total"] = pd.Series(total)
    return out


def _folds(counts: pd.DataFrame, options: dict[str, Any]) -> list[tuple[SiteFit, Any, Any]]:
    """(fit, held-out tidy counts, training tidy counts) for each held-out primary."""
    from .sitemodel import fit_sites

    obs = _observed(counts, options.get("body"))
    tidy = _tidy(obs)
    out = []
    for p in obs.index:
        train = tidy[tidy["primary"] != p]
        test = tidy[tidy["primary"] == p]
        out.append((fit_sites(train, extra_sites=list(obs.columns), **options), test, train))
    return out


def cross_validate_sites(counts: pd.DataFrame, **options: Any) -> pd.DataFrame:
    """Leave-one-primary-out scores of :func:`~circnet.sitemodel.fit_sites` beside baselines.

    Each primary is held out in turn; the model and the soil baselines are fitted to the
    other primaries only, then the held-out primary is scored
    (:func:`~circnet.sitemodel.score_sites`).

    Parameters
    ----------
    counts : pandas.DataFrame
        The training series.
    **options
        Passed to :func:`~circnet.sitemodel.fit_sites`.

    Returns
    -------
    pandas.DataFrame
        As :func:`~circnet.sitemodel.score_sites`, one row per held-out primary plus
        ``total``.

    Examples
    --------
    >>> import circnet
    >>> from circnet.sitemodel import cross_validate_sites
    >>> t = circnet.load_autopsy().query("primary in ['colon_rectum', 'breast', 'lung']")
    >>> cv = cross_validate_sites(t, link="linear")
    >>> list(cv.index)
    ['breast', 'colon_rectum', 'lung', 'total']
    """
    from .sitemodel import score_sites

    parts = [score_sites(f, test, train).drop(index="total") for f, test, train in
             _folds(counts, options)]  # fmt: skip
    return _totals(pd.concat(parts))


def soil_weight_path(
    counts: pd.DataFrame, weights: Sequence[float] = SOIL_WEIGHTS, **options: Any
) -> pd.DataFrame:
    """Leave-one-primary-out deviance of the model blended with soil-only, per weight.

    The prediction ``(1 - w) model + w soil`` (``soil``: the fold's own soil-only
    baseline) is scored on each held-out primary; the fits are made once per fold.

    Parameters
    ----------
    counts : pandas.DataFrame
        The training series.
    weights : sequence of float
        Blend weights in ``[0, 1]`` (default :data:`SOIL_WEIGHTS`).
    **options
        Passed to :func:`~circnet.sitemodel.fit_sites` (not ``soil_weight``).

    Returns
    -------
    pandas.DataFrame
        Index ``soil_weight``; columns ``dev`` (total held-out deviance), ``dev_soil``
        (soil-only's) and ``wins`` (held-out primaries where the blend beats soil-only).

    Examples
    --------
    >>> import circnet
    >>> from circnet.sitemodel import soil_weight_path
    >>> t = circnet.load_autopsy().query("primary in ['colon_rectum', 'breast', 'lung']")
    >>> path = soil_weight_path(t, weights=(0.0, 1.0), link="power")
    >>> bool(abs(path.loc[1.0, "dev"] - path.loc[1.0, "dev_soil"]) < 1e-6)
    True
    """
    if "soil_weight" in options:
        raise ParameterError("`soil_weight` is what soil_weight_path varies; do not pass it")
    ws = [float(check_number(w, "weights", low=0.0, high=1.0)) for w in weights]
    if not ws:
        raise ParameterError("`weights` is empty")
    dev = np.zeros(len(ws))
    wins = np.zeros(len(ws), dtype=int)
    soil_total = 0.0
    for fit, test, _ in _folds(counts, options):
        obs = _observed(test, fit.body)
        d_soil = float(score_predictions(obs, dataclasses.replace(fit, soil_weight=1.0)
                                         .predict(test))["deviance"].sum())  # fmt: skip
        soil_total += d_soil
        for i, w in enumerate(ws):
            pred = dataclasses.replace(fit, soil_weight=w).predict(test)
            d = float(score_predictions(obs, pred)["deviance"].sum())
            dev[i] += d
            wins[i] += int(d < d_soil)
    out = pd.DataFrame(
        {"dev": dev, "dev_soil": soil_total, "wins": wins}, index=pd.Index(ws, name="soil_weight")
    )
    return out


def unseen_site_path(
    counts: pd.DataFrame, rules: Sequence[str] = UNSEEN, **options: Any
) -> pd.DataFrame:
    """Leave-one-site-out deviance of each rule for a site the training series lacks.

    Each site is dropped from every primary of ``counts`` in turn; the model is fitted to
    the rest and all rows (the dropped site included) are scored under each rule of
    :data:`~circnet.sitemodel.UNSEEN`, beside soil-only fitted to the same rows.

    Parameters
    ----------
    counts : pandas.DataFrame
        The training series.
    rules : sequence of str
        Rules to score.
    **options
        Passed to :func:`~circnet.sitemodel.fit_sites` (not ``unseen``).

    Returns
    -------
    pandas.DataFrame
        One row per dropped site plus ``total``; columns ``dev_soil`` and ``dev_<rule>``.

    Examples
    --------
    >>> import circnet
    >>> from circnet.sitemodel import unseen_site_path
    >>> t = circnet.load_autopsy().query("primary in ['colon_rectum', 'breast', 'lung']")
    >>> t = t[t["site"].isin(["liver", "lung", "brain", "bone+red_marrow"])]
    >>> sorted(unseen_site_path(t, link="power").columns)
    ['dev_access', 'dev_soil', 'dev_soil_rule', 'dev_typical']
    """
    from .sitemodel import fit_sites

    if "unseen" in options:
        raise ParameterError("`unseen` is what unseen_site_path varies; do not pass it")
    rules = [check_choice(r, "rules", UNSEEN) for r in rules]
    obs = _observed(counts, options.get("body"))
    tidy = _tidy(obs)
    rows = []
    for s in obs.columns:
        train = tidy[tidy["site"] != s]
        fit = fit_sites(train, extra_sites=list(obs.columns), **options)
        row = {"dev_soil": _dev(obs, dataclasses.replace(fit, soil_weight=1.0).predict(tidy))}
        for r in rules:
            key = "dev_soil_rule" if r == "soil" else f"dev_{r}"
            row[key] = _dev(obs, dataclasses.replace(fit, unseen=r).predict(tidy))
        rows.append(pd.Series(row, name=s))
    out = pd.DataFrame(rows)
    out.index.name = "site"
    return _totals(out)


def _dev(obs: pd.DataFrame, pred: pd.DataFrame) -> float:
    return float(score_predictions(obs.loc[pred.index, pred.columns], pred)["deviance"].sum())
