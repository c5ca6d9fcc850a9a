"""Exports for the modelling world: the transport chain as SBML, results on the body graph
(GraphML, GEXF, Cytoscape JSON) and tables as Parquet.

- :func:`to_sbml` / :func:`write_sbml`: the chain of a :class:`~circnet.TransportModel`
  (states, rates, an initial release) as an SBML Level 3 Version 2 model: one species per
  state (named by its circnet label), one mass-action reaction per rate (``k * S``, the
  rate a global parameter in 1/min), initial amounts ``cells * release``. Any SBML tool
  (COPASI, libRoadRunner, tellurium, AMICI) then simulates the expected counts, which equal
  ``cells * model.propagate(...)``. Needs the extra ``sbml`` (python-libsbml).
- :func:`results_graph`: a copy of the body with results as node attributes. Values are
  keyed as overlays of :func:`circnet.render_html` are: body nodes, state and fate labels
  (``colony:liver`` falls on the liver's tissue node, ``node:axillary_nodes`` on that
  lymph node, ...), organ names; values falling on one node are summed, nodes without a
  value get 0. :func:`write_graph` writes it as GraphML (read back by
  :func:`circnet.read_body`), GEXF (Gephi) or Cytoscape JSON (``.cyjs``), by suffix.
- :func:`write_parquet`: a table (a result's ``to_frame()``, a fate table) as Parquet.
  Needs the extra ``parquet`` (pyarrow).

Every file is written atomically (:func:`circnet._files.atomic_write`).

Examples
--------
>>> import tempfile, pathlib, circnet
>>> from circnet.export import results_graph, write_graph
>>> model = circnet.TransportModel(circnet.default_body())
>>> g = results_graph(model.body, {"p_colon": model.fates("colon_rectum")})
>>> bool(g.nodes["liver"]["p_colon"] == model.fates("colon_rectum")["colony:liver"])
True
>>> path = write_graph(g, pathlib.Path(tempfile.mkdtemp()) / "fates.gexf")
>>> path.suffix
'.gexf'
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._files import atomic_write
from ._overlay import DEAD_TARGET, label_target
from ._sbml import default_notes, import_libsbml, sbml_document
from ._validation import check_number, check_path
from .body import organs, tissue_of
from .errors import OptionalDependencyError, ParameterError, UnknownNameError
from .io import write_body
from .transport import TransportModel

__all__ = [
    "to_sbml",
    "write_sbml",
    "results_graph",
    "write_graph",
    "write_parquet",
    "GRAPH_FORMATS",
]

#: Suffixes of :func:`write_graph` and the format each writes.
GRAPH_FORMATS = {".graphml": "graphml", ".gexf": "gexf", ".cyjs": "cytoscape"}


# --------------------------------------------------------------------------- SBML
def to_sbml(
    model: TransportModel,
    primary: str | None = None,
    *,
    initial: Any = None,
    cells: float = 1.0,
    model_id: str = "circnet_transport",
) -> str:
    """The transport chain of ``model`` as SBML text (Level 3 Version 2).

    Parameters
    ----------
    model : TransportModel
        The chain: its states (species) and generator (reactions).
    primary : str, optional
        Release the cells from this organ or lymph-node group
        (:meth:`~circnet.TransportModel.release`).
    initial : mapping, Series or array, optional
        Or an initial distribution over the transient states, as for
        :meth:`~circnet.TransportModel.propagate`. With neither, every amount is 0.
    cells : float, default 1
        Cells released: initial amounts are ``cells * release`` (1: probabilities).
    model_id : str
        The SBML model id.

    Returns
    -------
    str
        The SBML document. Species ``S_<label>`` (name: the circnet label), parameters
        ``k1, k2, ...`` (1/min, name ``"<from> -> <to>"``), reactions ``r1, r2, ...``.

    Raises
    ------
    OptionalDependencyError
        python-libsbml is not installed (``pip install 'circnet[sbml]'``).

    Examples
    --------
    >>> import circnet
    >>> from circnet.export import to_sbml
    >>> model = circnet.TransportModel(circnet.default_body())
    >>> text = to_sbml(model, "colon_rectum", cells=1e6)
    >>> "<sbml" in text and 'name="colony:liver"' in text
    True
    """
    import_libsbml()
    n_cells = check_number(cells, "cells", low=0.0)
    if not isinstance(model, TransportModel):
        raise ParameterError(f"`model` must be a TransportModel (got {type(model).__name__})")
    if not isinstance(model_id, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", model_id):
        raise ParameterError(f"`model_id` must be an SBML identifier (got {model_id!r})")
    if primary is not None and initial is not None:
        raise ParameterError("give `primary` or `initial`, not both")
    labels = list(model.states)
    amounts = np.zeros(len(labels))
    source = primary if primary is not None else initial
    if source is not None:
        p0 = model.initial(source)
        amounts[: len(p0)] = n_cells * p0
    name = f"circnet transport chain of {model.body.graph.get('name', 'a body')}"
    shown = (
        primary
        if primary is not None
        else ("an initial distribution" if initial is not None else None)
    )
    return sbml_document(
        labels,
        model.generator,
        amounts,
        model_id=model_id,
        name=name,
        notes=default_notes(shown, n_cells),
    )


def write_sbml(
    model: TransportModel,
    path: str | os.PathLike[str],
    primary: str | None = None,
    *,
    initial: Any = None,
    cells: float = 1.0,
) -> Path:
    """Write :func:`to_sbml` of ``model`` to ``path`` (``.xml`` or ``.sbml``); return the path.

    Examples
    --------
    >>> import tempfile, pathlib, circnet
    >>> from circnet.export import write_sbml
    >>> model = circnet.TransportModel(circnet.default_body())
    >>> write_sbml(model, pathlib.Path(tempfile.mkdtemp()) / "chain.xml", "lung")
    PosixPath('.../chain.xml')
    """
    out = check_path(path, "path", suffixes=(".xml", ".sbml"), writable=True)
    text = to_sbml(model, primary, initial=initial, cells=cells)
    with atomic_write(out) as fh:
        fh.write(text)
    return out


# --------------------------------------------------------------------------- graphs
def _target(body: nx.DiGraph, key: Any, names: set[str]) -> Any:
    if isinstance(key, str) and key in names and key not in body:
        return tissue_of(body, key)
    return label_target(body, key)


def _values(body: nx.DiGraph, name: str, values: Any) -> dict[Any, float]:
    if isinstance(values, pd.Series):
        items = values.items()
    elif isinstance(values, Mapping):
        items = values.items()
    else:
        raise ParameterError(
            f"result {name!r} must be a pandas Series or a mapping of values keyed by node, "
            f"state label or organ (got {type(values).__name__})"
        )
    names = set(organs(body))
    out = dict.fromkeys(body.nodes, 0.0)
    for key, v in items:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise ParameterError(
                f"result {name!r}: the value of {key!r} must be a number (got {v!r})"
            )
        try:
            node = _target(body, key, names)
        except UnknownNameError as err:
            raise UnknownNameError(f"result {name!r}: {err}") from err
        if node is DEAD_TARGET:
            continue  # death is not a place in the body
        out[node] += float(v)
    return out


def results_graph(body: nx.DiGraph, results: Mapping[str, Any]) -> nx.DiGraph:
    """A copy of ``body`` with each result as a node attribute.

    Parameters
    ----------
    body : networkx.DiGraph
        The body the results belong to.
    results : mapping of str to Series or mapping
        Attribute name -> values keyed by body node, state/fate label or organ name
        (for example ``model.fates("breast")``, ``course.burden(day)``,
        ``model.propagate("lung", [60]).iloc[0]``). A DataFrame gives one attribute per
        row, named ``"<name>_<row index>"`` (a propagation over times, say).

    Returns
    -------
    networkx.DiGraph
        The copy; every node has every attribute (0.0 where no value falls on it).
        ``graph["results"]`` lists the attribute names added.

    Examples
    --------
    >>> import circnet
    >>> body = circnet.default_body()
    >>> g = results_graph(body, {"x": {"liver": 2.0, "colony:liver": 1.0}})
    >>> g.nodes["liver"]["x"], g.nodes["lung"]["x"]
    (3.0, 0.0)
    """
    if not isinstance(results, Mapping) or not results:
        raise ParameterError("`results` must be a non-empty mapping of attribute name to values")
    flat: dict[str, Any] = {}
    for name, values in results.items():
        if not isinstance(name, str) or not name:
            raise ParameterError(f"result names must be non-empty strings (got {name!r})")
        if isinstance(values, pd.DataFrame):
            for idx, row in values.iterrows():
                flat[f"{name}_{idx:g}" if isinstance(idx, numbers.Real) else f"{name}_{idx}"] = row
        else:
            flat[name] = values
    g = body.copy()
    for name, values in flat.items():
        taken = {k for _, d in body.nodes(data=True) for k in d}
        if name in taken:
            raise ParameterError(f"result name {name!r} is already a node attribute of the body")
        nx.set_node_attributes(g, _values(body, name, values), name)
    g.graph["results"] = list(flat)
    return g


def _scalar(x: Any) -> Any:
    """A value GEXF can hold: bool, int, float, str (others as JSON text)."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        return float(x)
    if isinstance(x, str):
        return x
    return json.dumps(x, default=str)


def _json_ready(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)):
        x = float(x) if not isinstance(x, numbers.Integral) else int(x)
        return x if not isinstance(x, float) or math.isfinite(x) else None
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def write_graph(graph: nx.DiGraph, path: str | os.PathLike[str]) -> Path:
    """Write a body graph (with results, see :func:`results_graph`) by the suffix of ``path``.

    ``.graphml``: GraphML as :func:`circnet.write_body` writes it (exact; read back by
    :func:`circnet.read_body`); ``.gexf``: GEXF 1.2 for Gephi (lists and mappings as JSON
    text); ``.cyjs``: Cytoscape JSON (``networkx.cytoscape_data``; NaN as null).

    Examples
    --------
    >>> import tempfile, pathlib, circnet
    >>> p = write_graph(circnet.default_body(), pathlib.Path(tempfile.mkdtemp()) / "b.cyjs")
    >>> import json; sorted(json.loads(p.read_text())["elements"])
    ['edges', 'nodes']
    """
    out = check_path(path, "path", suffixes=tuple(GRAPH_FORMATS), writable=True)
    fmt = GRAPH_FORMATS[out.suffix.lower()]
    if fmt == "graphml":
        return write_body(graph, out)
    if fmt == "gexf":
        g = nx.DiGraph()
        g.add_nodes_from(
            (str(n), {k: _scalar(v) for k, v in d.items()}) for n, d in graph.nodes(data=True)
        )
        g.add_edges_from(
            (str(u), str(v), {k: _scalar(x) for k, x in d.items()})
            for u, v, d in graph.edges(data=True)
        )
        buf = io.BytesIO()
        nx.write_gexf(g, buf)
        with atomic_write(out, "wb") as fh:
            fh.write(buf.getvalue())
        return out
    data = _json_ready(nx.cytoscape_data(graph))
    with atomic_write(out) as fh:
        fh.write(json.dumps(data, indent=1, allow_nan=False))
    return out


# --------------------------------------------------------------------------- tables
def write_parquet(table: pd.DataFrame | pd.Series, path: str | os.PathLike[str]) -> Path:
    """Write a table as Parquet (pyarrow); return the path.

    Column names become strings (Parquet needs them so); the index is kept.

    Raises
    ------
    OptionalDependencyError
        pyarrow is not installed (``pip install 'circnet[parquet]'``).

    Examples
    --------
    >>> import tempfile, pathlib, circnet, pandas as pd
    >>> table = circnet.TransportModel(circnet.default_body()).fate_table(["lung", "liver"])
    >>> p = write_parquet(table, pathlib.Path(tempfile.mkdtemp()) / "fates.parquet")
    >>> pd.read_parquet(p).shape == table.shape
    True
    """
    out = check_path(path, "path", suffixes=(".parquet",), writable=True)
    try:
        import pyarrow  # noqa: F401
    except ImportError as err:
        raise OptionalDependencyError(
            "Parquet tables need pyarrow: pip install 'circnet[parquet]' (or pip install pyarrow)"
        ) from err
    if isinstance(table, pd.Series):
        table = table.to_frame()
    if not isinstance(table, pd.DataFrame):
        raise ParameterError(
            f"`table` must be a pandas DataFrame or Series (got {type(table).__name__})"
        )
    frame = table.copy()
    frame.columns = [str(c) for c in frame.columns]
    buf = io.BytesIO()
    frame.to_parquet(buf, engine="pyarrow")
    with atomic_write(out, "wb") as fh:
        fh.write(buf.getvalue())
    return out
