"""The optimiser and the intervals of a calibration (on a prepared likelihood problem).

Nested maximum likelihood: the log-receptivities by L-BFGS-B with the analytic gradient
inside (no linear solve), the one or two structural values (each a linear solve)
outside, by bounded Brent for one and Nelder-Mead for two. Intervals: Wald from the
observed information scaled by the dispersion, or percentiles of a parametric
bootstrap.

Identification. A parameter counts as identified by the data when (1) its estimate is
not within :data:`AT_BOUND` of a bound of the optimiser, (2) the observed information
gives it a finite standard error, and (3) that standard error, after the dispersion
scaling, is at most :data:`SE_IDENTIFIED` on its log (logit) scale, i.e. its 95 %
interval spans less than a factor ``exp(2 * 1.96 * 3)``, about 1.3e5. Otherwise the
interval is NaN (never an astronomically wide interval printed as a result); the point
estimate is kept, but it is then set by the ridge or the bound, not by the data.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

from ._likelihood import BOUND, Problem

__all__ = [
    "maximise",
    "fit_with_reference",
    "Intervals",
    "dispersion_of",
    "overdispersion_of",
    "at_bound",
    "confidence_intervals",
    "serial_blas",
    "SE_IDENTIFIED",
    "AT_BOUND",
]

_Z95 = float(stats.norm.ppf(0.975))

#: Largest dispersion-scaled standard error (log / logit scale) of an identified parameter.
SE_IDENTIFIED = 3.0
#: Distance (log / logit scale) from an optimiser bound within which an estimate is at it.
AT_BOUND = 1e-2


def serial_blas() -> contextlib.AbstractContextManager[Any]:
    """A context with one BLAS thread, for the optimiser (a no-op without threadpoolctl).

    scipy's L-BFGS-B (C since scipy 1.15) calls BLAS/LAPACK on vectors of a few dozen
    entries; a threaded OpenBLAS makes it several times slower, much more so on a busy
    machine (scipy issue 22438; its maintainers' advice is one BLAS thread). The
    results are the same: the calls are too small to be split between threads.
    """
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")  # optional
    except ImportError:
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[Any] = threadpoolctl.threadpool_limits(
        limits=1, user_api="blas"
    )
    return limits


def _inner(
    problem: Problem, z: tuple[float, ...], u0: np.ndarray, maxiter: int
) -> optimize.OptimizeResult:
    """Maximise over the log-receptivities at fixed structural values ``z`` (no solve)."""

    def fun(u: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = problem.objective(np.concatenate([u, z]), structural_grad=False)
        return f, g[: problem.n_free]

    if not problem.n_free:
        f = fun(u0)[0]
        return optimize.OptimizeResult(x=u0, fun=f, success=True, message="no receptivity")
    return optimize.minimize(
        fun,
        u0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-BOUND, BOUND)] * problem.n_free,
        options={"maxiter": maxiter, "ftol": 1e-10, "gtol": 1e-5},
    )


def maximise(
    problem: Problem,
    y: np.ndarray | None = None,
    x0: np.ndarray | None = None,
    maxiter: int = 500,
) -> optimize.OptimizeResult:
    """Nested maximum likelihood of ``problem`` (with counts ``y`` instead of its own).

    Receptivities by L-BFGS-B (analytic gradient) inside, the one or two structural
    values (each a linear solve) outside (Brent / Nelder-Mead). Returns an
    ``OptimizeResult`` with ``x`` (theta), ``fun``, ``success`` and ``message``.
    """
    saved = problem.y, problem.n
    if y is not None:
        problem.y = y
        problem.n = np.bincount(problem.pidx, weights=y, minlength=len(problem.primaries))
    nf = problem.n_free
    start = problem.theta0() if x0 is None else np.asarray(x0, dtype=float)
    best = {"u": start[:nf].copy()}
    try:
        z0 = start[nf:]
        if not len(z0):
            res = _inner(problem, (), best["u"], maxiter)
            return optimize.OptimizeResult(
                x=res.x, fun=res.fun, success=res.success, message=str(res.message)
            )
        lo_hi = problem.bounds()[nf:]
        low, high = [b[0] for b in lo_hi], [b[1] for b in lo_hi]

        def profile(z: np.ndarray) -> float:
            z = np.clip(np.atleast_1d(z), low, high)
            res = _inner(problem, tuple(z), best["u"], maxiter)
            best["u"] = res.x
            return float(res.fun)

        if len(z0) == 1:
            width = 12.0 if x0 is None else 3.0  # a warm start brackets the optimum
            out = optimize.minimize_scalar(
                lambda v: profile(np.array([v])),
                bounds=(max(low[0], z0[0] - width), min(high[0], z0[0] + width)),
                method="bounded",
                options={"xatol": 1e-3, "maxiter": 100},
            )
            z = np.array([out.x])
        else:
            out = optimize.minimize(
                profile,
                z0,
                method="Nelder-Mead",
                options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 200},
            )
            z = np.clip(out.x, low, high)
        ok, msg = bool(out.success), str(out.message)
        res = _inner(problem, tuple(z), best["u"], maxiter)
        return optimize.OptimizeResult(
            x=np.concatenate([res.x, z]),
            fun=res.fun,
            success=ok and bool(res.success),
            message=msg,
        )
    finally:
        problem.y, problem.n = saved


def fit_with_reference(
    problem: Problem,
    reference: str | None,
    x0: np.ndarray | None = None,
    maxiter: int = 500,
) -> tuple[optimize.OptimizeResult, str | None]:
    """Fit; with ``reference="auto"`` refit with the most receptive organ held at 1.

    Returns the optimiser result and the reference organ used.
    """
    if x0 is not None and len(x0) != len(problem.theta0()):
        x0 = None
    res = maximise(problem, x0=x0, maxiter=maxiter)
    if reference == "auto" and problem.n_free:
        # the most receptive organ becomes the reference: every other factor is then <= 1,
        # where p(r) is nearly linear in r and the cap 1/c never binds
        nf = problem.n_free
        best = int(np.argmax(res.x[:nf]))
        reference = problem.free[best]
        shift = res.x[best]
        keep = [j for j in range(nf) if j != best]
        z = res.x[nf:].copy()
        if problem.fit_nodes:
            z[0] -= shift  # the nodal factor is relative to the organs' scale too
        start = np.concatenate([res.x[keep] - shift, z])
        problem.set_reference(reference)
        res = maximise(problem, x0=start, maxiter=maxiter)
    return res, reference


def dispersion_of(problem: Problem, theta: np.ndarray, kind: str) -> tuple[float, int]:
    """The dispersion (``"deviance"``, ``"pearson"`` or ``"none"``) and residual df."""
    pi_fit = problem.pi(theta)
    n_sites = np.bincount(problem.pidx)
    df = int(np.sum(n_sites - 1) - len(theta))
    expected = problem.n[problem.pidx] * pi_fit
    y = problem.y
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = float(np.sum(np.where(expected > 0, (y - expected) ** 2 / expected, 0.0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2.0 * float(np.sum(np.where(y > 0, y * np.log(y / expected), 0.0)))
    phi = {"pearson": pearson, "deviance": dev, "none": df}[kind] / df if df > 0 else 1.0
    phi = max(phi, 1.0) if kind != "none" else 1.0
    return float(phi), df


def overdispersion_of(problem: Problem, theta: np.ndarray) -> float:
    """Deviance over residual degrees of freedom at ``theta``, not floored at 1 (NaN if
    df <= 0): about 1 for multinomial counts, above 1 when they vary more (one patient
    contributes several sites)."""
    _, df = dispersion_of(problem, theta, "none")
    if df <= 0:
        return float("nan")
    expected = problem.n[problem.pidx] * problem.pi(theta)
    y = problem.y
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = 2.0 * float(np.sum(np.where(y > 0, y * np.log(y / expected), 0.0)))
    return dev / df


def at_bound(problem: Problem, theta: np.ndarray) -> np.ndarray:
    """Which entries of ``theta`` sit within :data:`AT_BOUND` of an optimiser bound."""
    b = np.array(problem.bounds(), dtype=float).reshape(-1, 2)
    return np.asarray((theta - b[:, 0] < AT_BOUND) | (b[:, 1] - theta < AT_BOUND))


@dataclass(frozen=True)
class Intervals:
    """Covariance, standard errors and 95 % bounds of theta (NaN when not computed).

    ``identified`` (see the module notes) is False where the bounds were set to NaN;
    ``at_bound`` marks estimates at an optimiser bound (computed even without intervals).
    """

    covariance: np.ndarray
    se: np.ndarray
    low: np.ndarray
    high: np.ndarray
    identified: np.ndarray
    at_bound: np.ndarray


def confidence_intervals(
    problem: Problem,
    theta: np.ndarray,
    phi: float,
    *,
    compute: bool,
    bootstrap: int,
    rng: np.random.Generator,
    maxiter: int,
) -> Intervals:
    """Wald intervals from the observed information (times ``phi``), or bootstrap percentiles.

    The parametric bootstrap draws each primary's counts from the fitted multinomial
    and refits ``bootstrap`` times, warm-started at ``theta``.
    """
    k = len(theta)
    cov = np.full((k, k), np.nan)
    lo = hi = np.full(k, np.nan)
    se = np.full(k, np.nan)
    edge = at_bound(problem, theta) if k else np.zeros(0, dtype=bool)
    if not (compute and k):
        return Intervals(cov, se, lo, hi, ~edge, edge)
    h = problem.hessian(theta)
    try:
        cov = np.linalg.inv(h) * phi
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(h) * phi
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    lo, hi = theta - _Z95 * se, theta + _Z95 * se
    if bootstrap:
        pi_fit = problem.pi(theta)
        rows = []
        for _ in range(bootstrap):
            y = np.zeros_like(problem.y)
            for i in range(len(problem.primaries)):
                m = problem.pidx == i
                y[m] = rng.multinomial(int(problem.n[i]), pi_fit[m] / pi_fit[m].sum())
            rows.append(maximise(problem, y=y, x0=theta, maxiter=maxiter).x)
        draws = np.array(rows)
        lo, hi = np.percentile(draws, 2.5, axis=0), np.percentile(draws, 97.5, axis=0)
        se = draws.std(axis=0, ddof=1) if len(draws) > 1 else se
    ok = ~edge & np.isfinite(se) & (se <= SE_IDENTIFIED)
    if h.shape == (k, k) and not np.all(np.linalg.eigvalsh(h) > 0):
        # a flat or saddle direction: the parameters loading on it are not identified
        w, v = np.linalg.eigh(h)
        flat = np.abs(v[:, w <= 0]).max(axis=1) > 0.1 if (w <= 0).any() else np.zeros(k, bool)
        ok &= ~flat
    lo = np.where(ok, lo, np.nan)
    hi = np.where(ok, hi, np.nan)
    return Intervals(cov, se, lo, hi, ok, edge)
