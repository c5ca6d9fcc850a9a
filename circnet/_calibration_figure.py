"""The figure of a calibration: observed against predicted site shares, anatomy alone and fitted.

Drawn on a :class:`matplotlib.figure.Figure` (no pyplot: no global state, no display,
any backend); matplotlib is imported inside the functions, so circnet never needs it
unless a figure is asked for (:class:`~circnet.errors.OptionalDependencyError` if it is
missing: ``pip install 'circnet[plot]'``).

Examples
--------
>>> import pathlib, tempfile
>>> import pandas as pd
>>> import circnet
>>> from circnet._calibration_figure import calibration_figure, plot_calibration
>>> counts = pd.DataFrame({"primary": ["colon_rectum"] * 3 + ["lung"] * 3,
...                        "site": ["liver", "lung", "bone"] * 2,
...                        "count": [60, 25, 15, 20, 50, 30]})
>>> res = circnet.calibrate(counts, circnet.default_body("male"), fit_nodes=False,
...                         reference="liver")
>>> fig = calibration_figure(res)
>>> fig.axes[0].get_xscale()
'log'
>>> out = plot_calibration(res, pathlib.Path(tempfile.mkdtemp()) / "soil.png")
>>> out.read_bytes()[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._figure import figure_path, new_figure, save_figure

if TYPE_CHECKING:  # pragma: no cover - typing only: the result module imports this one
    from ._calibration_result import CalibrationResult

__all__ = ["calibration_figure", "plot_calibration"]


def calibration_figure(result: CalibrationResult, *, ax: Any = None) -> Any:
    """Observed vs predicted share of each site, anatomy alone and fitted (log-log).

    One point per (primary, site) with a positive count, in two colours: the
    anatomy-only prediction and the fitted one, against the observed share; the
    diagonal is a perfect prediction.

    Parameters
    ----------
    result : CalibrationResult
        What :func:`~circnet.calibrate` returns.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; default: a new 5 x 5 inch :class:`matplotlib.figure.Figure`.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Raises
    ------
    OptionalDependencyError
        matplotlib is not installed.
    """
    if ax is None:
        fig = new_figure(5, 5)
        ax = fig.add_subplot()
    f = result.to_frame()
    f = f[f["observed"] > 0]
    ax.scatter(f["anatomy_only"], f["observed"], s=12, alpha=0.6, label="anatomy alone")
    ax.scatter(f["predicted"], f["observed"], s=12, alpha=0.6, label="fitted receptivity")
    lo = max(1e-6, float(np.nanmin(f[["observed", "predicted"]].to_numpy())) / 2)
    ax.plot([lo, 1], [lo, 1], color="0.3", lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="predicted share of sites",
        ylabel="observed share of sites",
        xlim=(lo, 1),
        ylim=(lo, 1),
    )
    ax.legend()
    return ax.figure


def plot_calibration(result: CalibrationResult, path: str | os.PathLike[str]) -> Path:
    """Write :func:`calibration_figure` of ``result`` to ``path`` (PNG or SVG, by suffix).

    The file is written atomically (parent folders are created); SVG output is
    reproducible (fixed ids, no date, text as paths).

    Parameters
    ----------
    result : CalibrationResult
    path : str or pathlib.Path
        ``.png`` or ``.svg``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OptionalDependencyError
        matplotlib is not installed.
    ParameterError
        ``path`` does not end in ``.png`` or ``.svg``.
    """
    figure_path(path)  # check the suffix before drawing
    return save_figure(calibration_figure(result), path)
