"""Figure plumbing shared by every circnet figure: a new Figure, its bytes, an atomic save.

Figures are :class:`matplotlib.figure.Figure` objects built directly (no ``pyplot``: no
global state, no display, any backend); matplotlib is imported inside the functions
only, so ``import circnet`` never needs it (:class:`~circnet.OptionalDependencyError`
says how to install it). Files are PNG or SVG, chosen by the suffix of the path
(:data:`PLOT_FORMATS`), written atomically; SVG output is reproducible (fixed ids, no
date) with text as paths, so it needs no fonts to view.

Used by :mod:`circnet.plots`, the course report and the calibration figure.

Examples
--------
>>> import pathlib, tempfile
>>> from circnet._figure import new_figure, save_figure
>>> fig = new_figure(3, 2)
>>> _ = fig.add_subplot().plot([0, 1], [1, 0])
>>> save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "line.svg").suffix
'.svg'
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from ._files import atomic_write
from ._validation import check_path
from .errors import OptionalDependencyError, ParameterError

__all__ = [
    "PLOT_FORMATS",
    "new_figure",
    "figure_bytes",
    "save_figure",
    "figure_path",
    "target_axes",
    "finish",
]

#: Suffix -> matplotlib format of the files circnet's figures are written as.
PLOT_FORMATS = {".png": "png", ".svg": "svg"}


def new_figure(width: float, height: float, *, pyplot: bool = False) -> Any:
    """A :class:`matplotlib.figure.Figure` of ``width`` x ``height`` inches, constrained layout.

    ``pyplot=True``: made by :func:`matplotlib.pyplot.figure`, so that a notebook (or an
    interactive session) shows it; otherwise a plain Figure that nothing global holds.
    Raises :class:`~circnet.OptionalDependencyError` when matplotlib is not installed.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise OptionalDependencyError(
            "plotting needs matplotlib, which is not installed: pip install 'circnet[plot]'"
        ) from err
    if pyplot:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=(width, height), layout="constrained")
    return Figure(figsize=(width, height), layout="constrained")


def target_axes(ax: Any, path: Any, width: float, height: float) -> Any:
    """Where a plot function draws: ``ax`` when given; else the Axes of a new figure of
    ``width`` x ``height`` inches, a pyplot one when nothing is saved (``path`` None:
    shown in notebooks), a plain one when the figure is only written to ``path``."""
    if ax is not None:
        if not hasattr(ax, "figure") or not hasattr(ax, "plot"):
            raise ParameterError(f"`ax` must be a matplotlib Axes (got {type(ax).__name__})")
        return ax
    return new_figure(width, height, pyplot=path is None).add_subplot()


def finish(ax: Any, path: Any) -> Any:
    """What a plot function returns: ``path`` (after writing ``ax.figure`` there) when
    given, else ``ax``."""
    if path is None:
        return ax
    return save_figure(ax.figure, path)


def figure_bytes(fig: Any, fmt: str) -> bytes:
    """The figure as ``"png"`` or ``"svg"`` bytes (110 dpi; reproducible SVG).

    Examples
    --------
    >>> figure_bytes(new_figure(2, 1), "png")[:4]
    b'\\x89PNG'
    """
    import matplotlib

    buf = io.BytesIO()
    meta = {"Date": None} if fmt == "svg" else {"Software": None}
    # reproducible SVG (fixed ids, no date) with text as paths: no fonts needed to view it
    with matplotlib.rc_context(
        {"svg.hashsalt": "circnet", "svg.fonttype": "path", "font.size": 10}
    ):
        fig.savefig(buf, format=fmt, dpi=110, metadata=meta)
    return buf.getvalue()


def figure_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, checked to end in ``.png`` or ``.svg`` (before any drawing)."""
    return check_path(path, "path", suffixes=PLOT_FORMATS)


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` atomically as PNG or SVG, by the suffix of ``path``; return the path."""
    out = figure_path(path)
    data = figure_bytes(fig, PLOT_FORMATS[out.suffix.lower()])
    with atomic_write(out, "wb") as fh:
        fh.write(data)
    return out
