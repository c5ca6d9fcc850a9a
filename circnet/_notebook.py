"""Views in notebooks: :func:`view` returns a :class:`View` that Jupyter shows inline.

A :class:`View` holds the whole offline page of :func:`circnet.render_html`. In a
notebook it shows itself through ``_repr_html_`` as an ``<iframe srcdoc=...>``: the page
runs in its own sandboxed document (scripts allowed, no same-origin access, so it can
neither read nor change the notebook), still makes no request (its
Content-Security-Policy forbids every one), and the notebook file keeps it when saved.
The page is HTML-escaped once into the ``srcdoc`` attribute (``&``, ``<``, ``>``, both
quotes), so no text of the page can end the attribute or the iframe.

:func:`show` displays a view in a notebook, or writes it to a temporary file and opens
it in the web browser elsewhere.

Examples
--------
>>> import circnet
>>> v = circnet.view(circnet.default_body(), {"colony:liver": 0.01}, title="Liver")
>>> frame = v._repr_html_()
>>> frame.startswith("<iframe") and 'sandbox="allow-scripts"' in frame
True
>>> "<script" in frame  # the page is escaped inside srcdoc
False
"""

from __future__ import annotations

import html
import tempfile
import webbrowser
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd

from ._files import atomic_write
from ._validation import check_int, check_path
from .errors import ParameterError
from .render import render_page

__all__ = ["View", "view", "show"]


@dataclass(frozen=True)
class View:
    """A self-contained HTML page of circnet (a body, a course report) for notebooks.

    Attributes
    ----------
    html : str
        The whole page (works offline; see :func:`circnet.render_html`).
    height : int
        Height in pixels of the inline frame in a notebook.
    title : str
        The page heading, used as the frame's accessible title.
    """

    html: str
    height: int = 640
    title: str = "circnet view"

    def _repr_html_(self) -> str:
        """An ``<iframe>`` whose ``srcdoc`` holds the page (what Jupyter shows)."""
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
            f'title="{html.escape(self.title, quote=True)}" sandbox="allow-scripts" '
            f'style="width: 100%; height: {self.height}px; border: 1px solid #ddd;" '
            'loading="lazy"></iframe>'
        )

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path`` (atomically; parent folders are created); return it.

        Examples
        --------
        >>> import pathlib, tempfile, circnet
        >>> out = circnet.view(circnet.default_body()).save(
        ...     pathlib.Path(tempfile.mkdtemp()) / "body.html")
        >>> out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        True
        """
        out = check_path(path, "path", suffixes={".html": "html", ".htm": "html"})
        with atomic_write(out) as fh:
            fh.write(self.html)
        return out


def view(
    body: nx.DiGraph,
    overlay: pd.Series | pd.DataFrame | Mapping[Any, float] | None = None,
    *,
    title: str | None = None,
    physics: bool = False,
    node_labels: bool = True,
    height: int = 640,
) -> View:
    """The interactive view of :func:`circnet.render_html`, as an object for notebooks.

    In Jupyter, a ``View`` as the last expression of a cell is drawn inline (an isolated
    ``iframe``, offline); ``.save(path)`` writes the HTML file; ``.html`` is the page.

    Parameters
    ----------
    body, overlay, title, physics, node_labels
        As for :func:`circnet.render_html`.
    height : int, default 640
        Height in pixels of the inline frame.

    Returns
    -------
    View

    Examples
    --------
    >>> import circnet
    >>> body = circnet.default_body()
    >>> fates = circnet.TransportModel(body).fates("colon_rectum").rename("probability")
    >>> v = circnet.view(body, fates, title="Colon cells", height=500)
    >>> v.height, "Colon cells" in v.html
    (500, True)
    """
    height = check_int(height, "height", low=100)
    page = render_page(body, overlay, title=title, physics=physics, node_labels=node_labels)
    heading = title if title is not None else str(body.graph.get("name") or "circnet body")
    return View(page, height, heading)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def show(
    what: View | nx.DiGraph,
    overlay: pd.Series | pd.DataFrame | Mapping[Any, float] | None = None,
    **options: Any,
) -> Path | None:
    """Show a view: inline in a notebook, else in the web browser.

    Parameters
    ----------
    what : View or networkx.DiGraph
        A :class:`View` (from :func:`view`), or a body, drawn with ``overlay`` and
        ``options`` (the keywords of :func:`view`).
    overlay : optional
        With a body: its overlay (see :func:`circnet.render_html`).
    **options
        With a body: ``title``, ``physics``, ``node_labels``, ``height``.

    Returns
    -------
    pathlib.Path or None
        None in a notebook (the view is displayed); elsewhere the temporary HTML file
        opened in the browser.

    Examples
    --------
    >>> import circnet
    >>> circnet.show(42)
    Traceback (most recent call last):
    ...
    circnet.errors.ParameterError: `what` must be a View or a body graph (got int)
    """
    if isinstance(what, nx.DiGraph):
        what = view(what, overlay, **options)
    elif not isinstance(what, View):
        raise ParameterError(f"`what` must be a View or a body graph (got {type(what).__name__})")
    elif overlay is not None or options:
        raise ParameterError("`overlay` and options go with a body, not with a View")
    if _in_notebook():
        from IPython.display import display

        display(what)
        return None
    folder = Path(tempfile.mkdtemp(prefix="circnet-"))
    out = what.save(folder / "view.html")
    webbrowser.open(out.as_uri())
    return out
