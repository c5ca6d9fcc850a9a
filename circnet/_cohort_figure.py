"""Figures of a virtual cohort: metastasis-free survival (Kaplan-Meier) and first sites.

:func:`plot_survival` draws the Kaplan-Meier curve of metastasis-free survival after
diagnosis (surgery) of the patients without synchronous metastases, with its 95 %
Greenwood band and the number at risk; :func:`plot_first_sites` the share of each site
among the first distant metastases. :func:`cohort_figure` puts both side by side.
matplotlib is imported by :mod:`circnet._figure` only when a figure is drawn.

Examples
--------
>>> import circnet
>>> from circnet.cohort import simulate_cohort
>>> from circnet._cohort_figure import cohort_figure
>>> res = simulate_cohort(circnet.default_body(), "colon_rectum", 30, rng=2, years=3)
>>> fig = cohort_figure(res)
>>> fig.axes[0].get_ylabel()
'metastasis-free (share)'
"""

from __future__ import annotations

from typing import Any

from ._figure import finish, new_figure, target_axes
from .errors import ParameterError

__all__ = ["plot_survival", "plot_first_sites", "cohort_figure"]


def _check(result: Any) -> None:
    for attr in ("patients", "survival", "first_sites"):
        if not hasattr(result, attr):
            raise ParameterError(
                f"`result` must be a CohortResult (got {type(result).__name__} without {attr!r})"
            )


def plot_survival(result: Any, ax: Any = None, path: Any = None) -> Any:
    """Kaplan-Meier metastasis-free survival after diagnosis, with its 95 % band.

    Returns the Axes, or the path written when ``path`` (``.png`` / ``.svg``) is given.
    """
    _check(result)
    ax = target_axes(ax, path, 5.0, 3.5)
    km = result.survival()
    ax.step(km["time"], km["survival"], where="post", color="#1e63c4",
            label=f"{result.primary} ({result.scenario})")  # fmt: skip
    ax.fill_between(km["time"], km["lower"], km["upper"], step="post", color="#1e63c4",
                    alpha=0.2, linewidth=0)  # fmt: skip
    n = int(km["at_risk"].iloc[0])
    ax.set_xlabel("years after diagnosis")
    ax.set_ylabel("metastasis-free (share)")
    ax.set_ylim(0.0, 1.02)
    ax.set_xlim(0.0, result.years)
    ax.set_title(f"Metastasis-free survival, {n} patients without synchronous metastases",
                 loc="left", fontsize=9)  # fmt: skip
    ax.legend(loc="lower left", fontsize=8)
    return finish(ax, path)


def plot_first_sites(result: Any, ax: Any = None, path: Any = None, top: int = 8) -> Any:
    """Share of each site among the first distant metastases (bar chart)."""
    _check(result)
    ax = target_axes(ax, path, 5.0, 3.5)
    shares = result.first_sites().head(top)
    ax.barh(list(shares.index)[::-1], list(shares.to_numpy())[::-1], color="#d32f2f")
    ax.set_xlabel("share of first distant metastases")
    ax.set_xlim(0.0, 1.0)
    ax.set_title("First distant site", loc="left", fontsize=9)
    return finish(ax, path)


def cohort_figure(result: Any, *, pyplot: bool = False) -> Any:
    """Both panels side by side (a matplotlib Figure)."""
    _check(result)
    fig = new_figure(10.0, 3.6, pyplot=pyplot)
    left, right = fig.subplots(1, 2)
    plot_survival(result, ax=left)
    plot_first_sites(result, ax=right)
    return fig
