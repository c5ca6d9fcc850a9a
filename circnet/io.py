"""Reading and writing body graphs: GraphML, node-link JSON and YAML.

The format is chosen by the file suffix: ``.graphml``, ``.json``, ``.yaml``/``.yml``.
Round trips are exact: the same nodes, edges and attributes, floats bit for bit
(all three formats write the shortest ``repr`` that reads back to the same double).
GraphML cannot hold dictionaries, lists or ``None`` as attribute values; those (and
strings that start with ``json:``, are empty, or hold characters XML 1.0 cannot carry
or would change, such as control characters and carriage returns) are stored as JSON
text prefixed with ``json:`` and decoded on reading. Tuples and arrays are written as
lists and read back as lists.

What can be written is what can be read back (:func:`write_body` refuses the rest with a
:class:`~circnet.BodyFileError` naming the node, edge or attribute):

- node ids are strings or integers (not bools, floats or tuples). JSON and YAML keep
  integer ids as integers; GraphML stores ids as text, so a GraphML body needs string
  ids (``networkx.relabel_nodes(graph, str)``), and ids and attribute names without
  control characters;
- attribute names are strings; a node attribute ``id`` or an edge attribute ``source`` or
  ``target`` would collide with the record fields of JSON and YAML, and GraphML
  reserves the graph attributes ``id``, ``node_default`` and ``edge_default``;
- values are None, bools, numbers, strings, lists/tuples and string-keyed mappings of
  them, nested at most :data:`MAX_DEPTH` deep, with at most :data:`MAX_VALUES` values
  in all (YAML strings must be valid Unicode, without lone surrogates).

Reading refuses the same: GraphML with a document type declaration (``<!DOCTYPE``,
where entities live) is refused before it is parsed, YAML is read with a safe loader
that also refuses aliases (``*name``, which can expand exponentially), and values nested
deeper than :data:`MAX_DEPTH` are refused.

Writes are atomic (:func:`circnet._files.atomic_write`, re-exported here as
``atomic_write``): the file is written beside its destination under a temporary
name, flushed to disk, then renamed over the destination, so a crash leaves either
the old file or the new one, never half a file (and the next write removes a
temporary file left by a crash, see :mod:`circnet._files`). Reading validates the
body, and a malformed file raises :class:`~circnet.BodyFileError` naming the file and
the place.
"""

from __future__ import annotations

import io
import json
import os
import re
import xml.etree.ElementTree as ET
import xml.parsers.expat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import yaml

from ._files import atomic_write
from ._validation import check_bool, check_path
from .body import problems
from .errors import BodyFileError, ParameterError

__all__ = [
    "read_body",
    "write_body",
    "atomic_write",
    "FORMATS",
    "MAX_DEPTH",
    "MAX_VALUES",
    "SafeLoader",
]

FORMATS = {".graphml": "graphml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
#: Deepest nesting of an attribute value (lists and mappings) that is written or read.
MAX_DEPTH = 100
#: Most values (scalars, list items, mapping entries) in all the attributes of a body.
MAX_VALUES = 1_000_000
_JSON_PREFIX = "json:"
_NAMES = {"graphml": "GraphML", "json": "JSON", "yaml": "YAML"}
#: Characters GraphML (XML 1.0) text cannot carry as they are (``\r`` is read as ``\n``).
_XML_UNSAFE = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_RESERVED = {
    "graphml": {"graph": ("id", "node_default", "edge_default"), "node": (), "edge": ()},
    "json": {"graph": (), "node": ("id",), "edge": ("source", "target")},
    "yaml": {"graph": (), "node": ("id",), "edge": ("source", "target")},
}


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BodyFileError(
            f"{str(path)!r}: unknown body file format {path.suffix!r} "
            f"(expected one of {', '.join(sorted(FORMATS))})"
        )
    return fmt


# --------------------------------------------------------------------------- checks
class _Walk:
    """Checks of attribute values against what a format can hold (depth, count, types)."""

    def __init__(self, fmt: str, where: str, error: type[Exception] = BodyFileError) -> None:
        self.fmt, self.where, self.error, self.count = fmt, where, error, 0

    def fail(self, what: str, rule: str) -> None:
        prefix = f"{self.where}: " if self.where else ""
        raise self.error(f"{prefix}{what}: {rule}")

    def text(self, x: str, what: str) -> None:
        if self.fmt == "yaml" and _SURROGATE.search(x):
            self.fail(what, "YAML cannot hold a lone surrogate (text that is not valid Unicode)")

    def value(self, x: Any, what: str) -> None:
        """Walk ``x`` iteratively (no recursion, so any depth is safe to check)."""
        stack: list[tuple[Any, int]] = [(x, 0)]
        while stack:
            v, depth = stack.pop()
            self.count += 1
            if self.count > MAX_VALUES:
                self.fail(what, f"more than {MAX_VALUES:,} values in the body's attributes")
            if depth > MAX_DEPTH:
                self.fail(what, f"values nested deeper than {MAX_DEPTH} levels")
            if v is None or isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)):
                continue
            if isinstance(v, str):
                self.text(v, what)
            elif isinstance(v, (list, tuple)):
                stack.extend((item, depth + 1) for item in v)
            elif isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
                self.count += v.size
                if self.count > MAX_VALUES:
                    self.fail(what, f"more than {MAX_VALUES:,} values in the body's attributes")
            elif isinstance(v, np.ndarray):
                stack.extend((item, depth + 1) for item in v.tolist())
            elif isinstance(v, Mapping):
                for k, item in v.items():
                    if not isinstance(k, str):
                        self.fail(what, f"a mapping key must be a string (got {k!r})")
                    self.text(k, what)
                    stack.append((item, depth + 1))
            elif self.fmt == "yaml" and _yaml_scalar(v):
                continue
            else:
                self.fail(
                    what, f"cannot store a {type(v).__name__} in {_NAMES[self.fmt]} ({v!r:.60})"
                )

    def node_id(self, n: Any) -> None:
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (str, int, np.integer)):
            self.fail(f"node {n!r}", "a node id must be a string or an integer")
        if isinstance(n, str):
            self.text(n, f"node {n!r}")
        if self.fmt == "graphml":
            if not isinstance(n, str):
                self.fail(
                    f"node {n!r}",
                    "GraphML stores node ids as text: use string ids "
                    "(networkx.relabel_nodes(graph, str)) or write JSON or YAML",
                )
            if _XML_UNSAFE.search(n):
                self.fail(f"node {n!r}", "GraphML cannot hold control characters in a node id")

    def attributes(self, attrs: Mapping[Any, Any], scope: str, of: str) -> None:
        for k, v in attrs.items():
            what = f"attribute {k!r} of {of}" if of else f"graph attribute {k!r}"
            if not isinstance(k, str):
                self.fail(what, "an attribute name must be a string")
            self.text(k, what)
            if k in _RESERVED[self.fmt][scope]:
                self.fail(what, f"the name {k!r} is reserved in {_NAMES[self.fmt]}")
            if self.fmt == "graphml" and _XML_UNSAFE.search(k):
                self.fail(what, "GraphML cannot hold control characters in an attribute name")
            self.value(v, what)

    def graph(self, g: nx.DiGraph) -> None:
        self.attributes(g.graph, "graph", "")
        for n, d in g.nodes(data=True):
            self.node_id(n)
            self.attributes(d, "node", f"node {n!r}")
        for u, v, d in g.edges(data=True):
            self.attributes(d, "edge", f"edge {u!r} -> {v!r}")


def _yaml_scalar(v: Any) -> bool:
    """Scalars YAML's safe loader makes and its safe dumper writes back (dates, bytes)."""
    import datetime

    return isinstance(v, (datetime.date, bytes))


# --------------------------------------------------------------------------- writing
def _plain(x: Any) -> Any:
    """numpy scalars and arrays to Python scalars and lists, recursively (checked depth)."""
    if isinstance(x, Mapping):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


def write_body(graph: nx.DiGraph, path: str | os.PathLike[str]) -> Path:
    """Write a body graph to ``path`` atomically, in the format its suffix names.

    Only what reads back the same is written (see the module docstring: node ids,
    attribute names, values); anything else is refused before the file is touched.

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

    Raises
    ------
    ParameterError
        ``graph`` is not a ``networkx.DiGraph``; ``path`` is not a path, is a directory,
        or has a file as a parent.
    BodyFileError
        Unknown suffix; a node id, attribute name or value the format cannot hold (it
        would not read back the same).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from circnet import default_body
    >>> path = write_body(default_body(), pathlib.Path(tempfile.mkdtemp()) / "body.yaml")
    >>> read_body(path).number_of_nodes() == default_body().number_of_nodes()
    True
    """
    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        raise ParameterError(
            f"`graph` must be a networkx.DiGraph without parallel edges "
            f"(got {type(graph).__name__})"
        )
    path = check_path(path, "path")
    fmt = _format(path)
    _Walk(fmt, f"cannot write {str(path)!r}").graph(graph)
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
            nx.write_graphml_xml(g, fh)
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
            yaml.dump(data, fh, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True)
    return path


class _YamlDumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that double-quotes text YAML would otherwise change on reading
    (line breaks such as U+0085 inside plain or single-quoted scalars are folded)."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = '"' if _YAML_AWKWARD.search(text) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_YAML_AWKWARD = re.compile("[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_YamlDumper.add_representer(str, _represent_text)


def _to_graphml(value: Any, what: str) -> Any:
    """A value GraphML can hold: scalars as they are, anything else as ``json:`` text.

    A string that starts with ``json:``, is empty or holds a character XML would drop
    or change is stored as JSON text too, so that it reads back as the same string.
    """
    if isinstance(value, str):
        if value.startswith(_JSON_PREFIX) or not value or _XML_UNSAFE.search(value):
            return _JSON_PREFIX + json.dumps(value)
        return value
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
            except RecursionError as err:
                raise BodyFileError(
                    f"{where}: {what} is nested deeper than {MAX_DEPTH} levels"
                ) from err


# --------------------------------------------------------------------------- reading
class _NoDoctype(Exception):
    pass


class _Prolog(Exception):
    pass


def _refuse_doctype(raw: bytes, where: str) -> None:
    """Refuse an XML document type declaration (entities live there) before parsing.

    Only the prolog is read (expat stops at the first element), in whatever encoding
    the file declares.
    """

    def doctype(*_: Any) -> None:
        raise _NoDoctype

    def element(*_: Any) -> None:
        raise _Prolog

    parser = xml.parsers.expat.ParserCreate()
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = element
    try:
        parser.Parse(raw, True)
    except _NoDoctype:
        raise BodyFileError(
            f"{where}: GraphML with a document type declaration (<!DOCTYPE ...>) is refused "
            "(it can define entities; circnet never writes one)"
        ) from None
    except (_Prolog, xml.parsers.expat.ExpatError):
        return  # the parse proper reports malformed XML with its place


def _read_graphml(raw: bytes, where: str) -> nx.DiGraph:
    _refuse_doctype(raw, where)
    try:
        g = nx.read_graphml(io.BytesIO(raw), force_multigraph=False)
    except ET.ParseError as err:
        line, col = err.position  # expat counts columns from 0
        msg = re.sub(r": line \d+, column \d+$", "", str(err))
        raise BodyFileError(
            f"{where}: malformed GraphML at line {line}, column {col + 1}: {msg}"
        ) from err
    except (nx.NetworkXError, ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
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
    return g


class SafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also refuses aliases (which can expand exponentially)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not accepted in a body file", event.start_mark
            )
        return super().compose_node(parent, index)


def _parse(raw: bytes, fmt: str, where: str) -> Any:
    """The data of a JSON or YAML file (nesting errors become BodyFileError)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BodyFileError(f"{where}: not UTF-8 text (byte {err.start})") from err
    try:
        if fmt == "json":
            return json.loads(text)
        return yaml.load(text, Loader=SafeLoader)  # noqa: S506 - a SafeLoader subclass
    except json.JSONDecodeError as err:
        raise BodyFileError(
            f"{where}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise BodyFileError(f"{where}: malformed YAML{place}: {problem}") from err
    except RecursionError as err:
        raise BodyFileError(
            f"{where}: the {_NAMES[fmt]} is nested too deeply (at most {MAX_DEPTH} levels "
            "are accepted in a body file)"
        ) from err


def _record(rec: Mapping[Any, Any], where: str, what: str) -> dict[str, Any]:
    bad = [k for k in rec if not isinstance(k, str)]
    if bad:
        raise BodyFileError(f"{where}: {what}: a field name must be a string (got {bad[0]!r})")
    return dict(rec)


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
    g.graph.update(_record(gattrs, where, "field 'graph'"))
    for i, rec in enumerate(data["nodes"]):
        if not isinstance(rec, dict) or "id" not in rec:
            raise BodyFileError(f"{where}: nodes[{i}] must be a mapping with an 'id'")
        rec = _record(rec, where, f"nodes[{i}]")
        node = rec.pop("id")
        if isinstance(node, bool) or not isinstance(node, (str, int)):
            raise BodyFileError(f"{where}: nodes[{i}].id must be a string or an integer")
        if node in g:
            raise BodyFileError(f"{where}: nodes[{i}]: duplicate node id {node!r}")
        g.add_node(node, **rec)
    for i, rec in enumerate(data["edges"]):
        if not isinstance(rec, dict) or "source" not in rec or "target" not in rec:
            raise BodyFileError(f"{where}: edges[{i}] must be a mapping with 'source' and 'target'")
        rec = _record(rec, where, f"edges[{i}]")
        u, v = rec.pop("source"), rec.pop("target")
        for end in (u, v):
            if isinstance(end, bool) or not isinstance(end, (str, int)) or end not in g:
                raise BodyFileError(f"{where}: edges[{i}] names unknown node {end!r}")
        if g.has_edge(u, v):
            raise BodyFileError(f"{where}: edges[{i}]: duplicate edge {u!r} -> {v!r}")
        g.add_edge(u, v, **rec)
    return g


def read_body(path: str | os.PathLike[str], *, validate: bool = True) -> nx.DiGraph:
    """Read a body graph from GraphML, node-link JSON or YAML, chosen by suffix.

    YAML is read with a safe loader that also refuses aliases; GraphML with a
    document type declaration is refused before it is parsed. The body is validated
    unless ``validate=False``.

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
        the parser gives them), values nested deeper than :data:`MAX_DEPTH`, or a body
        that breaks the model's rules (every problem listed).

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
    path = check_path(path, "path")
    validate = check_bool(validate, "validate")
    fmt = _format(path)
    where = repr(str(path))
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise BodyFileError(f"{where}: cannot read the file ({err.strerror})") from err
    if fmt == "graphml":
        g = _read_graphml(raw, where)
    else:
        data = _parse(raw, fmt, where)
        if isinstance(data, dict) and "links" in data and "edges" not in data:
            data = {**data, "edges": data.pop("links")}
        g = _from_records(data, where)
    _Walk(fmt, where).graph(g)
    if validate:
        found = problems(g)
        if found:
            raise BodyFileError(f"{where}: invalid body:\n  - " + "\n  - ".join(found))
    return g
