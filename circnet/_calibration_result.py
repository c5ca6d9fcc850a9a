"""The result of a calibration: tables, fit measures, save and load of the fitted factors.

Every fit measure is given beside two baselines on the same rows (:mod:`circnet.scoring`):
**uniform** (each primary's scored sites equally likely, no parameter) and **soil-only**
(each site's frequency pooled over the primaries of the table, no anatomy; ``k - 1``
parameters for ``k`` distinct sites; with the Jeffreys half count of
``soil_only_prediction(..., smoothing="jeffreys")`` so that no scored site gets 0).
The headline is held out: :func:`~circnet.cross_validate` refits everything, soil-only
included, without the held-out primary (see :meth:`CalibrationResult.summary`).
Font-Clos et al.'s share of variance explained is reported only unadjusted and capped at 1,
as a secondary column: their noise-adjusted version can exceed 1 and cannot rank models.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats
from scipy.special import gammaln

from ._calibration_figure import calibration_figure
from ._files import atomic_write
from ._fitting import Intervals
from ._likelihood import LODGING, Problem, structural_cells
from ._validation import check_path
from .cells import CellProfile
from .errors import BodyFileError, ParameterError
from .scoring import soil_only_prediction

__all__ = [
    "CalibrationResult",
    "load_receptivity",
    "build_result",
    "goodness_of_fit",
    "baseline_predictions",
]

#: Suffixes :meth:`CalibrationResult.save` writes and :func:`load_receptivity` reads.
_SUFFIXES = (".json", ".csv")
#: Models of the goodness table and of the cross-validation table, in the same order.
_MODELS = ("uniform", "soil_only", "anatomy", "fitted")
_MODELS_CV = ("uniform", "soil_only", "anatomy", "heldout")


def _exp(x: float) -> float:
    """``exp`` that gives inf (an unbounded interval) rather than overflowing; NaN stays NaN."""
    if math.isnan(x):
        return math.nan
    return float(np.exp(np.float64(x))) if x < 700 else math.inf


# ============================================================================ fit measures
def goodness_of_fit(y: np.ndarray, pi: np.ndarray, n_patients: float) -> dict[str, float]:
    """Deviance, multinomial log-likelihood, KL(observed || predicted), Spearman rho and
    Font-Clos et al.'s unadjusted R^2 capped at 1 (``r2``)."""
    n = y.sum()
    obs = y / n
    pos = y > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2.0 * float(np.sum(np.where(pos, y * np.log(y / (n * pi)), 0.0)))
        ll = float(np.sum(np.where(pos, y * np.log(pi), 0.0)))
    ll += float(gammaln(n + 1) - gammaln(y + 1).sum())
    varies = len(y) > 2 and np.ptp(obs) > 0 and np.ptp(pi) > 0
    rho = float(stats.spearmanr(obs, pi).statistic) if varies else math.nan
    r2, _ = _fontclos_r2(y / n_patients, pi, n_patients)
    return {
        "deviance": dev,
        "loglik": ll,
        "kl": dev / (2.0 * n),
        "spearman": rho,
        "r2": min(r2, 1.0) if math.isfinite(r2) else math.nan,
    }


def baseline_predictions(
    rows: list[tuple[Any, ...]], pidx: np.ndarray, pool: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform and soil-only site distributions of ``rows`` (primary, site, ...).

    Soil-only pools the counts of ``pool`` (primary x site; only those rows are used) with
    the Jeffreys half count per site and renormalises over each primary's scored sites.
    """
    sites = [str(r[1]) for r in rows]
    n_sites = np.bincount(pidx)
    uniform = 1.0 / n_sites[pidx]
    soil = soil_only_prediction(
        pool, list(dict.fromkeys(sites)), missing="zero", smoothing="jeffreys"
    )
    w = soil.loc[sites].to_numpy(dtype=float)
    return uniform, w / np.bincount(pidx, weights=w)[pidx]


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
    """Result of :func:`~circnet.calibrate` (frozen).

    Attributes
    ----------
    receptivity : pandas.DataFrame
        Index organ; columns ``receptivity``, ``ci_low``, ``ci_high`` (95 %, dispersion
        scaled), ``se_log`` (standard error of ``log r``), ``fitted`` (False: reference
        or organ not in the table, held at 1), ``identified`` (False: the data do not
        identify the factor, or it was not fitted; its interval is then NaN; the rule is
        in ``circnet._fitting``) and ``at_bound`` (the estimate sits at the optimiser's
        bound ``exp(+-20)``; such a factor is never ``identified``).
    parameters : pandas.DataFrame
        Fitted structural parameters (``nodal_growth_factor``, lodging), same columns.
    loglik, loglik_anatomy, loglik_uniform, loglik_soil_only : float
        Multinomial log-likelihood (in-sample) of the fit, of anatomy alone (every factor
        at 1) and of the two baselines on the same rows.
    deviance, deviance_anatomy, deviance_uniform, deviance_soil_only : float
        Against the saturated model (each primary's observed distribution), same models.
    df : int
        Degrees of freedom of the residual: sum over primaries of (sites - 1) minus the
        number of fitted parameters.
    dispersion : float
        The factor the covariance was multiplied by (so standard errors by its square
        root): ``D / df`` or ``X^2 / df`` floored at 1 (1 when ``dispersion="none"``).
    overdispersion : float
        ``D / df`` of the fit, not floored (about 1 for multinomial counts; NaN if
        ``df <= 0``).
    n_parameters : dict
        Parameters estimated from the counts: ``uniform`` 0, ``soil_only`` (distinct
        sites - 1), ``anatomy`` 0, ``fitted`` (receptivities and structural values).
    heldout : pandas.DataFrame or None
        The :func:`~circnet.cross_validate` table, once attached with
        :meth:`with_heldout` (None before).
    observed, predicted, anatomy_only, uniform, soil_only : pandas.DataFrame
        Site distributions, rows primaries, columns sites (NaN: site absent for that primary).
    counts : pandas.DataFrame
        The counts used (same shape).
    goodness : pandas.DataFrame
        Per primary: n, sites, ``deviance`` / ``loglik`` / ``kl`` / ``spearman`` / ``r2``
        (Font-Clos unadjusted R^2, capped at 1) with suffixes ``_uniform``,
        ``_soil_only``, ``_anatomy`` and ``_fitted``.
    anatomy_share : float
        Mean over primaries of Font-Clos et al.'s *unadjusted* R^2 (capped at 1) of the
        anatomy-only predictions; a secondary measure (it cannot rank models).
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
    uniform: pd.DataFrame
    soil_only: pd.DataFrame
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
    deviance_uniform: float = math.nan
    deviance_soil_only: float = math.nan
    loglik_uniform: float = math.nan
    loglik_soil_only: float = math.nan
    overdispersion: float = math.nan
    n_parameters: dict[str, int] = field(default_factory=dict)
    heldout: pd.DataFrame | None = None
    _theta: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    def with_heldout(self, heldout: pd.DataFrame) -> CalibrationResult:
        """A copy with the :func:`~circnet.cross_validate` table attached (for
        :meth:`summary`)."""
        need = {f"deviance_{m}" for m in _MODELS_CV}
        if not isinstance(heldout, pd.DataFrame) or not need <= set(heldout.columns):
            raise ParameterError(
                "`heldout` must be the DataFrame returned by circnet.cross_validate "
                f"(columns {sorted(need)})"
            )
        return replace(self, heldout=heldout)

    def summary(self) -> pd.DataFrame:
        """The headline: held-out and in-sample scores of each model side by side.

        Rows ``uniform``, ``soil_only``, ``anatomy``, ``fitted``; columns
        ``parameters``, ``heldout_deviance``, ``heldout_loglik`` and
        ``heldout_beats_soil_only`` (primaries whose held-out deviance is below
        soil-only's), then the in-sample ``deviance`` and ``loglik``, and the secondary
        ``r2`` (mean Font-Clos unadjusted R^2, capped at 1). Held-out columns are NaN
        until :meth:`with_heldout` attaches a cross-validation; ``attrs`` holds
        ``overdispersion``, ``dispersion`` and ``df``.
        """
        g = self.goodness
        rows = []
        for model, cv_model in zip(_MODELS, _MODELS_CV, strict=True):
            row: dict[str, Any] = {"model": model, "parameters": self.n_parameters.get(model)}
            cv = self.heldout
            if cv is not None:
                dev = cv[f"deviance_{cv_model}"]
                row["heldout_deviance"] = float(dev.sum())
                row["heldout_loglik"] = float(cv[f"loglik_{cv_model}"].sum())
                row["heldout_beats_soil_only"] = int((dev < cv["deviance_soil_only"]).sum())
            else:
                row |= dict.fromkeys(
                    ("heldout_deviance", "heldout_loglik", "heldout_beats_soil_only"), math.nan
                )
            row["deviance"] = float(g[f"deviance_{model}"].sum())
            row["loglik"] = float(g[f"loglik_{model}"].sum())
            row["r2"] = _nanmean(g[f"r2_{model}"].to_numpy(dtype=float))
            rows.append(row)
        out = pd.DataFrame(rows).set_index("model")
        out.attrs |= {
            "overdispersion": self.overdispersion,
            "dispersion": self.dispersion,
            "df": self.df,
            "primaries": len(g),
        }
        return out

    @property
    def status(self) -> int:
        """0 if the optimiser converged, 1 if not (``message`` says why)."""
        return 0 if self.converged else 1

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: primary, site, count, observed, uniform, soil_only (in-sample
        baselines), anatomy_only, predicted."""

        def long(w: pd.DataFrame, name: str) -> pd.Series:
            m = w.reset_index().melt(id_vars="primary", var_name="site", value_name=name)
            return m.set_index(["primary", "site"])[name]

        out = pd.concat(
            [
                long(w, k)
                for w, k in (
                    (self.counts, "count"),
                    (self.observed, "observed"),
                    (self.uniform, "uniform"),
                    (self.soil_only, "soil_only"),
                    (self.anatomy_only, "anatomy_only"),
                    (self.predicted, "predicted"),
                )
            ],
            axis=1,
        ).dropna(subset=["count"])
        out["count"] = out["count"].astype(int)
        return out.reset_index()

    def factors(self) -> pd.DataFrame:
        """Receptivities and structural parameters in one table, with a ``kind`` column."""
        table = pd.concat(
            [self.receptivity.assign(kind="receptivity"), self.parameters.assign(kind="parameter")]
        )
        table.index.name = "name"
        return table

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted factors (with intervals) atomically; JSON or CSV by suffix.

        Read them back with :func:`~circnet.load_receptivity`.
        """
        path = check_path(path, "path", suffixes=_SUFFIXES)
        table = self.factors()
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
        else:
            with atomic_write(path) as fh:
                table.reset_index().to_csv(fh, index=False, lineterminator="\n")
        return path

    def plot(self, ax: Any = None) -> Any:
        """Observed vs predicted site frequencies, anatomy alone and fitted (log-log).

        Draws on ``ax`` or on the axes of a new :class:`matplotlib.figure.Figure` (no
        pyplot; the figure is ``ax.figure``) with
        :func:`circnet._calibration_figure.calibration_figure`. Needs matplotlib (the
        optional ``plot`` extra). Returns the axes.
        """
        fig = calibration_figure(self, ax=ax)
        return ax if ax is not None else fig.axes[0]


def build_result(
    problem: Problem,
    theta: np.ndarray,
    ci: Intervals,
    *,
    df: int,
    dispersion: float,
    overdispersion: float = math.nan,
    reference: str | None,
    penalty: float,
    converged: bool,
    message: str,
) -> CalibrationResult:
    """The tables of a fit of ``problem`` at ``theta`` with intervals ``ci``."""
    prob = problem
    lo, hi, se = ci.low, ci.high, ci.se
    pi_fit = prob.pi(theta)
    pi_anat = prob.pi(prob.theta0())
    rec = pd.DataFrame(
        index=pd.Index(prob.organs, name="organ"),
        data={
            "receptivity": 1.0,
            "ci_low": 1.0,
            "ci_high": 1.0,
            "se_log": 0.0,
            "fitted": False,
            "identified": False,
            "at_bound": False,
        },
    )
    for j, o in enumerate(prob.free):
        rec.loc[o, ["receptivity", "ci_low", "ci_high", "se_log"]] = [
            _exp(theta[j]),
            _exp(lo[j]),
            _exp(hi[j]),
            se[j],
        ]
        rec.loc[o, ["fitted", "identified", "at_bound"]] = [
            True,
            bool(ci.identified[j]),
            bool(ci.at_bound[j]),
        ]
    for col in ("fitted", "identified", "at_bound"):
        rec[col] = rec[col].astype(bool)
    prows = []
    z = theta[prob.n_free :]
    j = prob.n_free
    if prob.fit_nodes:
        prows.append(("nodal_growth_factor", _exp(z[0]), _exp(lo[j]), _exp(hi[j]), se[j]))
        j += 1
    if prob.lodging:
        f = special.expit if LODGING[prob.lodging] == "logit" else np.exp
        prows.append((prob.lodging, float(f(theta[j])), float(f(lo[j])), float(f(hi[j])), se[j]))
    par = pd.DataFrame(
        prows, columns=["name", "receptivity", "ci_low", "ci_high", "se_log"]
    ).set_index("name")
    par["fitted"] = True
    par["identified"] = [bool(v) for v in ci.identified[prob.n_free :]]
    par["at_bound"] = [bool(v) for v in ci.at_bound[prob.n_free :]]
    fitted_cells = prob.cells_for(tuple(z), {o: rec.loc[o, "receptivity"] for o in prob.free})
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

    counts = wide(prob.y)
    pi_uni, pi_soil = baseline_predictions(prob.rows, prob.pidx, counts)
    preds = dict(zip(_MODELS, (pi_uni, pi_soil, pi_anat, pi_fit), strict=True))
    gof = []
    for i, p in enumerate(prob.primaries):
        m = prob.pidx == i
        row: dict[str, Any] = {"primary": p, "n": int(prob.n[i]), "sites": int(m.sum())}
        for model, pred in preds.items():
            g_ = goodness_of_fit(prob.y[m], pred[m], prob.n_patients[i])
            row |= {f"{key}_{model}": v for key, v in g_.items()}
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
        dispersion=float(dispersion),
        observed=wide(prob.y / prob.n[prob.pidx]),
        predicted=wide(pi_fit),
        anatomy_only=wide(pi_anat),
        uniform=wide(pi_uni),
        soil_only=wide(pi_soil),
        counts=counts,
        goodness=goodness,
        anatomy_share=_nanmean(goodness["r2_anatomy"].to_numpy(dtype=float)),
        cells=fitted_cells,
        dropped=prob.dropped,
        covariance=pd.DataFrame(ci.covariance, index=names, columns=names),
        reference=reference,
        penalty=float(penalty),
        converged=converged,
        message=message,
        deviance_uniform=float(goodness["deviance_uniform"].sum()),
        deviance_soil_only=float(goodness["deviance_soil_only"].sum()),
        loglik_uniform=float(goodness["loglik_uniform"].sum()),
        loglik_soil_only=float(goodness["loglik_soil_only"].sum()),
        overdispersion=float(overdispersion),
        n_parameters={
            "uniform": 0,
            "soil_only": len(sites) - 1,
            "anatomy": 0,
            "fitted": len(theta),
        },
        _theta=theta,
    )


def _nanmean(x: np.ndarray) -> float:
    """Mean of the finite values (NaN, without a warning, if there is none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice"
        return float(np.nanmean(x))


# ============================================================================ files
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
    path = check_path(path, "path")
    if path.suffix.lower() not in _SUFFIXES:
        raise BodyFileError(f"{str(path)!r}: expected a .json or .csv receptivity file")
    if cells is not None and not isinstance(cells, CellProfile):
        raise ParameterError(f"`cells` must be a CellProfile (got {type(cells).__name__})")
    try:
        if path.suffix.lower() == ".json":
            doc = json.loads(path.read_text(encoding="utf-8"))
            table = pd.DataFrame(doc["rows"])
        else:
            table = pd.read_csv(path)
        table = table.set_index("name")
        rec = table[table["kind"] == "receptivity"]["receptivity"].astype(float)
        par = table[table["kind"] == "parameter"]["receptivity"].astype(float)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BodyFileError(f"{str(path)!r}: not a circnet receptivity file: {err}") from err
    cells = CellProfile() if cells is None else cells
    if "nodal_growth_factor" in par:
        cells = structural_cells(cells, float(par["nodal_growth_factor"]), None, None)
    for name in LODGING:
        if name in par:
            cells = cells.replace(**{name: float(par[name])})
    for o, r in rec.items():
        cells = cells.with_site(str(o), receptivity=float(r))
    return cells
