"""Reading and writing body graphs: GraphML, node-link JSON and YAML.

The format is chosen by the file suffix: ``.graphml``, ``.json``, ``.yaml``/``.yml``.
Round trips are exact: the same nodes, edges and attributes, floats bit for bit
(all three formats write the shortest ``repr`` that reads back to the same double).
GraphML cannot hold dictionaries, lists or ``None`` as attribute values; those (and
strings that start with ``json:``) are stored as JSON text prefixed with ``json:`` and
decoded on reading.

Writes are atomic (:func:`circnet._files.atomic_write`, re-exported here as
``atomic_write``): the file is written beside its destination under a temporary
name, flushed to disk, then renamed over the destination, so a crash leaves either
the old file or the new one, never half a file. Reading validates the body, and a
malformed file raises :class:`~circnet.BodyFileError` naming the file and the place.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import yaml

from ._files import atomic_write
from .body import problems
from .errors import BodyFileError

__all__ = ["read_body", "write_body", "atomic_write", "FORMATS"]

FORMATS = {".graphml": "graphml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
_JSON_PREFIX = "json:"


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BodyFileError(
            f"{str(path)!r}: unknown body file format {path.suffix!r} "
            f"(expected one of {', '.join(sorted(FORMATS))})"
        )
    return fmt


# --------------------------------------------------------------------------- writing
def _plain(x: Any) -> Any:
    """numpy scalars and arrays to Python scalars and lists, recursively."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


def write_body(graph: nx.DiGraph, path: str | os.PathLike[str]) -> Path:
    """Write a body graph to ``path`` atomically, in the format its suffix names.

    Parameters
    ----------
    graph : networkx.DiGraph
        The body (not required to be valid, so that work in progress can be saved).
    path : str or os.PathLike
        Ends in ``.graphml``, ``.json``, ``.yaml`` or ``.yml``.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from circnet import default_body
    >>> path = write_body(default_body(), pathlib.Path(tempfile.mkdtemp()) / "body.yaml")
    >>> read_body(path).number_of_nodes() == default_body().number_of_nodes()
    True
    """
    path = Path(path)
    fmt = _format(path)
    if fmt == "graphml":
        g = graph.copy()
        for k, v in list(g.graph.items()):
            g.graph[k] = _to_graphml(v, f"graph attribute {k!r}")
        for n, d in g.nodes(data=True):
            for k, v in list(d.items()):
                d[k] = _to_graphml(v, f"attribute {k!r} of node {n!r}")
        for u, v, d in g.edges(data=True):
            for k, x in list(d.items()):
                d[k] = _to_graphml(x, f"attribute {k!r} of edge {u!r} -> {v!r}")
        with atomic_write(path, "wb") as fh:
            nx.write_graphml(g, fh)
    elif fmt == "json":
        data = nx.node_link_data(graph, edges="edges")
        with atomic_write(path) as fh:
            json.dump(_plain(data), fh, indent=1, allow_nan=True)
            fh.write("\n")
    else:
        data = {
            "graph": _plain(dict(graph.graph)),
            "nodes": [{"id": _plain(n), **_plain(d)} for n, d in graph.nodes(data=True)],
            "edges": [
                {"source": _plain(u), "target": _plain(v), **_plain(d)}
                for u, v, d in graph.edges(data=True)
            ],
        }
        with atomic_write(path) as fh:
            yaml.safe_dump(data, fh, sort_keys=False, allow_unicode=True)
    return path


def _to_graphml(value: Any, what: str) -> Any:
    """A value GraphML can hold: scalars as they are, anything else as ``json:`` text.

    A string that itself starts with ``json:`` is stored as JSON text too, so that it
    reads back as the same string.
    """
    if isinstance(value, str):
        return _JSON_PREFIX + json.dumps(value) if value.startswith(_JSON_PREFIX) else value
    if isinstance(value, (bool, int, float)):
        return value
    value = _plain(value)
    if isinstance(value, (bool, int, float)):
        return value
    try:
        return _JSON_PREFIX + json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as err:
        raise BodyFileError(
            f"{what}: cannot store a {type(value).__name__} in GraphML ({err})"
        ) from err


def _from_graphml(attrs: dict[str, Any], where: str, of: str = "") -> None:
    """Decode the ``json:`` values of ``attrs`` (those of the graph, or ``of`` a node or edge)."""
    for k, v in list(attrs.items()):
        what = f"attribute {k!r} of {of}" if of else f"graph attribute {k!r}"
        if isinstance(v, str) and v.startswith(_JSON_PREFIX):
            try:
                attrs[k] = json.loads(v[len(_JSON_PREFIX) :])
            except json.JSONDecodeError as err:
                raise BodyFileError(
                    f"{where}: {what} is not valid JSON after {_JSON_PREFIX!r}"
                ) from err


# --------------------------------------------------------------------------- reading
def _from_records(data: Any, where: str) -> nx.DiGraph:
    if not isinstance(data, dict):
        raise BodyFileError(
            f"{where}: top level must be a mapping with 'nodes' and 'edges' "
            f"(got {type(data).__name__})"
        )
    for key in ("nodes", "edges"):
        if key not in data:
            raise BodyFileError(f"{where}: missing field {key!r}")
        if not isinstance(data[key], list):
            raise BodyFileError(f"{where}: field {key!r} must be a list")
    g = nx.DiGraph()
    gattrs = data.get("graph", {}) or {}
    if not isinstance(gattrs, dict):
        raise BodyFileError(f"{where}: field 'graph' must be a mapping")
    g.graph.update(gattrs)
    for i, rec in enumerate(data["nodes"]):
        if not isinstance(rec, dict) or "id" not in rec:
            raise BodyFileError(f"{where}: nodes[{i}] must be a mapping with an 'id'")
        rec = dict(rec)
        node = rec.pop("id")
        if not isinstance(node, (str, int)):
            raise BodyFileError(f"{where}: nodes[{i}].id must be a string or an integer")
        if node in g:
            raise BodyFileError(f"{where}: nodes[{i}]: duplicate node id {node!r}")
        g.add_node(node, **rec)
    for i, rec in enumerate(data["edges"]):
        if not isinstance(rec, dict) or "source" not in rec or "target" not in rec:
            raise BodyFileError(f"{where}: edges[{i}] must be a mapping with 'source' and 'target'")
        rec = dict(rec)
        u, v = rec.pop("source"), rec.pop("target")
        for end in (u, v):
            if end not in g:
                raise BodyFileError(f"{where}: edges[{i}] names unknown node {end!r}")
        if g.has_edge(u, v):
            raise BodyFileError(f"{where}: edges[{i}]: duplicate edge {u!r} -> {v!r}")
        g.add_edge(u, v, **rec)
    return g


def read_body(path: str | os.PathLike[str], *, validate: bool = True) -> nx.DiGraph:
    """Read a body graph from GraphML, node-link JSON or YAML, chosen by suffix.

    YAML is read with ``yaml.safe_load`` only. The body is validated unless
    ``validate=False``.

    Parameters
    ----------
    path : str or os.PathLike
    validate : bool, default True

    Returns
    -------
    networkx.DiGraph

    Raises
    ------
    BodyFileError
        Unknown suffix, unreadable or malformed file (with line and column where
        the parser gives them), or a body that breaks the model's rules (every
        problem listed).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.json"
    >>> _ = bad.write_text('{"nodes": [')
    >>> try:
    ...     read_body(bad)
    ... except BodyFileError as err:
    ...     print(str(err).split(": ", 1)[1])
    malformed JSON at line 1, column 12: Expecting value
    """
    path = Path(path)
    fmt = _format(path)
    where = repr(str(path))
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise BodyFileError(f"{where}: cannot read the file ({err.strerror})") from err
    if fmt == "graphml":
        try:
            g = nx.read_graphml(path, force_multigraph=False)
        except ET.ParseError as err:
            line, col = err.position  # expat counts columns from 0
            msg = re.sub(r": line \d+, column \d+$", "", str(err))
            raise BodyFileError(
                f"{where}: malformed GraphML at line {line}, column {col + 1}: {msg}"
            ) from err
        except (nx.NetworkXError, ValueError, KeyError) as err:
            raise BodyFileError(f"{where}: invalid GraphML: {err}") from err
        if g.is_multigraph() or not g.is_directed():
            raise BodyFileError(f"{where}: a body must be a directed graph without parallel edges")
        # networkx adds the GraphML <key> defaults as graph attributes; circnet writes none
        for k in ("node_default", "edge_default"):
            if g.graph.get(k) == {}:
                del g.graph[k]
        _from_graphml(g.graph, where)
        for n, d in g.nodes(data=True):
            _from_graphml(d, where, f"node {n!r}")
        for u, v, d in g.edges(data=True):
            _from_graphml(d, where, f"edge {u!r} -> {v!r}")
    elif fmt == "json":
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise BodyFileError(f"{where}: not UTF-8 text (byte {err.start})") from err
        except json.JSONDecodeError as err:
            raise BodyFileError(
                f"{where}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}"
            ) from err
        if isinstance(data, dict) and "links" in data and "edges" not in data:
            data = {**data, "edges": data.pop("links")}
        g = _from_records(data, where)
    else:
        try:
            data = yaml.safe_load(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise BodyFileError(f"{where}: not UTF-8 text (byte {err.start})") from err
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or str(err)
            raise BodyFileError(f"{where}: malformed YAML{place}: {problem}") from err
        g = _from_records(data, where)
    if validate:
        found = problems(g)
        if found:
            raise BodyFileError(f"{where}: invalid body:\n  - " + "\n  - ".join(found))
    return g
