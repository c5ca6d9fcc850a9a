"""Tests of circnet.io: exact round trips, atomic writes, malformed and invalid files."""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from pathlib import Path

import networkx as nx
import pytest
import yaml
from bodies import tiny_body
from hypothesis import given
from hypothesis import strategies as st

import circnet
from circnet import BodyFileError, read_body, write_body
from circnet.io import atomic_write

SUFFIXES = [".graphml", ".json", ".yaml", ".yml"]


def same_value(a, b):
    """Equal, with floats compared bit for bit (and NaN equal to NaN)."""
    if isinstance(a, float) or isinstance(b, float):
        return type(a) is type(b) and (a.hex() == b.hex() or (math.isnan(a) and math.isnan(b)))
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_value, a, b))
    return type(a) is type(b) and a == b


def assert_same_body(g, h):
    assert same_value(dict(g.graph), dict(h.graph)), (g.graph, h.graph)
    assert list(g.nodes) == list(h.nodes)
    assert list(g.edges) == list(h.edges)
    for n, d in g.nodes(data=True):
        assert same_value(d, h.nodes[n]), n
    for u, v, d in g.edges(data=True):
        assert same_value(d, h.edges[u, v]), (u, v)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("sex", ["male", "female"])
def test_round_trip_default_body(tmp_path, suffix, sex):
    body = circnet.default_body(sex)
    path = write_body(body, tmp_path / f"body{suffix}")
    assert path == tmp_path / f"body{suffix}"
    assert_same_body(body, read_body(path))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_awkward_values(tmp_path, tiny_body, suffix):
    g = tiny_body
    g.graph.update(
        tiny=5e-324,
        third=1 / 3,
        big=1.7976931348623157e308,
        sum=0.1 + 0.2,
        count=3,
        flag=True,
        nested={"a": [1, 2.5, {"b": None}], "c": "text"},
        empty_list=[],
        looks_like_json="json:[1, 2]",
        unicode="µm – Ångström",
    )
    g.nodes["kidney_bed"]["volume"] = 0.1 + 0.7
    g.nodes["kidney_bed"]["tags"] = ["renal", "retroperitoneal"]
    g.nodes["kidney"]["note"] = None
    g.edges["node", "duct"]["valves"] = {"count": 2}
    path = write_body(g, tmp_path / f"odd{suffix}")
    assert_same_body(g, read_body(path))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_invalid_body_without_validation(tmp_path, tiny_body, suffix):
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = float("nan")
    tiny_body.edges["left_heart", "muscle_bed"]["flow"] = float("-inf")
    path = write_body(tiny_body, tmp_path / f"bad{suffix}")
    assert_same_body(tiny_body, read_body(path, validate=False))


def test_numpy_values_are_written_as_python(tmp_path, tiny_body):
    import numpy as np

    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = np.float64(60.0)
    tiny_body.graph["ints"] = np.arange(3)  # an array: written as a list
    tiny_body.graph["count"] = np.int64(7)
    for suffix in (".graphml", ".json", ".yaml"):
        h = read_body(write_body(tiny_body, tmp_path / f"np{suffix}"))
        assert type(h.edges["left_heart", "kidney_bed"]["flow"]) is float
        assert h.graph["count"] == 7 and type(h.graph["count"]) is int
        assert h.graph["ints"] == [0, 1, 2]


def test_graphml_cannot_store_set(tmp_path, tiny_body):
    tiny_body.nodes["node"]["members"] = {1, 2}
    with pytest.raises(BodyFileError, match="attribute 'members' of node 'node': cannot store"):
        write_body(tiny_body, tmp_path / "x.graphml")
    assert not (tmp_path / "x.graphml").exists()


def test_json_is_node_link(tmp_path, tiny_body):
    path = write_body(tiny_body, tmp_path / "b.json")
    data = json.loads(path.read_text())
    assert {"nodes", "edges", "graph", "directed"} <= data.keys()
    # files with networkx's older "links" key are read too
    data["links"] = data.pop("edges")
    path.write_text(json.dumps(data))
    assert_same_body(tiny_body, read_body(path))


def test_yaml_is_plain_mapping(tmp_path, tiny_body):
    path = write_body(tiny_body, tmp_path / "b.yaml")
    data = yaml.safe_load(path.read_text())
    assert list(data) == ["graph", "nodes", "edges"]
    assert data["nodes"][0]["id"] == "venous_return"
    assert "!!" not in path.read_text()


def test_suffix_is_case_insensitive(tmp_path, tiny_body):
    assert_same_body(tiny_body, read_body(write_body(tiny_body, tmp_path / "B.GraphML")))


@pytest.mark.parametrize("name", ["body.txt", "body", "body.xml", "body.json.gz"])
def test_unknown_suffix(tmp_path, tiny_body, name):
    path = tmp_path / name
    with pytest.raises(BodyFileError, match="unknown body file format"):
        write_body(tiny_body, path)
    assert not path.exists()
    path.write_text("{}")
    with pytest.raises(BodyFileError, match=f"{name}'.*unknown body file format"):
        read_body(path)


def test_missing_file(tmp_path):
    with pytest.raises(BodyFileError, match=r"nope.json'.*cannot read the file"):
        read_body(tmp_path / "nope.json")
    with pytest.raises(BodyFileError, match="cannot read the file"):
        read_body(tmp_path / "nope.graphml")


def test_file_errors_are_circnet_and_value_errors():
    assert issubclass(BodyFileError, circnet.CircnetError)
    assert issubclass(BodyFileError, ValueError)


def test_written_file_has_ordinary_permissions(tmp_path, tiny_body):
    path = write_body(tiny_body, tmp_path / "b.json")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o640)
    write_body(tiny_body, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_write_creates_parent_directories(tmp_path, tiny_body):
    path = write_body(tiny_body, tmp_path / "a" / "b" / "body.yaml")
    assert path.exists()


# --------------------------------------------------------------------------- atomic writes
def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    "suffix, target",
    [
        (".graphml", "networkx.write_graphml_xml"),
        (".json", "json.dump"),
        (".yaml", "yaml.dump"),
    ],
)
def test_failed_write_leaves_old_file(tmp_path, tiny_body, monkeypatch, suffix, target):
    path = write_body(tiny_body, tmp_path / f"body{suffix}")
    before = path.read_bytes()

    def half_then_crash(data, fh, *args, **kwargs):
        fh.write(b"<half" if "b" in getattr(fh, "mode", "") else "half a file")
        raise OSError("disk full")

    monkeypatch.setattr(target, half_then_crash)
    changed = tiny_body.copy()
    changed.graph["name"] = "changed"
    with pytest.raises(OSError, match="disk full"):
        write_body(changed, path)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    assert read_body(path).graph["name"] == "tiny"


def test_failed_first_write_leaves_no_file(tmp_path, tiny_body, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("json.dump", crash)
    with pytest.raises(KeyboardInterrupt):
        write_body(tiny_body, tmp_path / "new.json")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_crash_inside_block(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write("new, but only ha")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []
    with atomic_write(target) as fh:
        fh.write("new")
    assert target.read_text() == "new"


# --------------------------------------------------------------------------- malformed files
def broken_copy(tmp_path, tiny_body, suffix, keep_lines, garbage):
    good = write_body(tiny_body, tmp_path / f"good{suffix}")
    lines = good.read_text().splitlines()[:keep_lines]
    bad = tmp_path / f"bad{suffix}"
    bad.write_text("\n".join(lines + [garbage]) + "\n")
    return bad


@pytest.mark.parametrize(
    "suffix, garbage, expected",
    [
        (".graphml", "  <<<{[ oops", r"malformed GraphML at line 11, column 4: not well-formed"),
        (".json", "  <<<{[ oops", r"malformed JSON at line 11, column 3: Expecting"),
        (".yaml", "  <<<{[ oops: [", r"malformed YAML at line 1[12], column \d+"),
    ],
)
def test_malformed_file_names_file_and_place(tmp_path, tiny_body, suffix, garbage, expected):
    bad = broken_copy(tmp_path, tiny_body, suffix, 10, garbage)
    with pytest.raises(BodyFileError, match=f"^'{bad}': {expected}"):
        read_body(bad)


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("e.graphml", "", r"malformed GraphML at line 1, column 1"),
        ("e.json", "", r"malformed JSON at line 1, column 1: Expecting value"),
        ("e.yaml", "", r"top level must be a mapping with 'nodes' and 'edges' \(got NoneType\)"),
        ("l.json", "[1, 2]", r"top level must be a mapping .* \(got list\)"),
        ("l.yaml", "- 1\n", r"top level must be a mapping .* \(got list\)"),
        ("m.json", '{"nodes": []}', "missing field 'edges'"),
        ("m.yaml", "nodes: {}\nedges: []\n", "field 'nodes' must be a list"),
        ("g.yaml", "graph: [1]\nnodes: []\nedges: []\n", "field 'graph' must be a mapping"),
        ("n.yaml", "nodes: [{kind: pool}]\nedges: []\n", r"nodes\[0\] must be a mapping"),
        ("i.yaml", "nodes: [{id: [1]}]\nedges: []\n", r"nodes\[0\].id must be a string or"),
        ("d.yaml", "nodes: [{id: a}, {id: a}]\nedges: []\n", r"nodes\[1\]: duplicate node id 'a'"),
        ("s.json", '{"nodes": [{"id": "a"}], "edges": [{"source": "a"}]}',
         r"edges\[0\] must be a mapping with 'source' and 'target'"),
        ("u.json", '{"nodes": [{"id": "a"}], "edges": [{"source": "a", "target": "b"}]}',
         r"edges\[0\] names unknown node 'b'"),
        ("p.yaml", "nodes: [{id: a}, {id: b}]\n"
         "edges: [{source: a, target: b}, {source: a, target: b}]\n",
         r"edges\[1\]: duplicate edge 'a' -> 'b'"),
        ("b.json", b"\xff\xfe", r"not UTF-8 text \(byte 0\)"),
        ("b.yaml", b"\xff\xfe", r"not UTF-8 text \(byte 0\)"),
        ("un.graphml",
         '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
         '<graph edgedefault="undirected"><node id="a"/></graph></graphml>',
         "a body must be a directed graph"),
        ("j.graphml",
         '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
         '<key id="d0" for="graph" attr.name="x" attr.type="string"/>'
         '<graph edgedefault="directed"><data key="d0">json:[1,</data></graph></graphml>',
         "graph attribute 'x' is not valid JSON"),
        ("t.graphml",
         '<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
         '<key id="d0" for="node" attr.name="x" attr.type="double"/>'
         '<graph edgedefault="directed"><node id="a"><data key="d0">abc</data></node>'
         "</graph></graphml>",
         "invalid GraphML"),
    ],
)  # fmt: skip
def test_structurally_bad_files(tmp_path, name, content, expected):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(BodyFileError, match=f"^'{path}': {expected}"):
        read_body(path, validate=False)


@pytest.mark.parametrize(
    "content",
    [
        "!!python/object:os.system\nargs: [ls]\n",
        "nodes: !!python/object/apply:os.system ['echo pwned']\nedges: []\n",
        "graph: !!python/name:os.system\nnodes: []\nedges: []\n",
    ],
)
def test_yaml_python_tags_are_rejected(tmp_path, content):
    path = tmp_path / "evil.yaml"
    path.write_text(content)
    with pytest.raises(BodyFileError, match="malformed YAML at line 1, column .*python/"):
        read_body(path, validate=False)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_invalid_body_in_file(tmp_path, tiny_body, suffix):
    tiny_body.edges["left_heart", "kidney_bed"]["flow"] = -1.0
    tiny_body.nodes["node"]["kind"] = "gland"
    path = write_body(tiny_body, tmp_path / f"invalid{suffix}")  # writing does not validate
    with pytest.raises(BodyFileError) as info:
        read_body(path)
    text = str(info.value)
    assert text.startswith(f"'{path}': invalid body:")
    assert "edge 'left_heart' -> 'kidney_bed': `flow` must not be negative" in text
    assert "node 'node': unknown kind 'gland'" in text
    read_body(path, validate=False)


def test_read_body_returns_digraph(tmp_path, tiny_body):
    for suffix in (".graphml", ".json", ".yaml"):
        g = read_body(write_body(tiny_body, tmp_path / f"b{suffix}"))
        assert type(g) is nx.DiGraph


# --------------------------------------------------------------------------- property
finite_or_not = st.floats(allow_nan=True, allow_infinity=True)


@given(
    suffix=st.sampled_from([".graphml", ".json", ".yaml"]),
    values=st.lists(finite_or_not, min_size=1, max_size=5),
    text=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20),
)
def test_round_trip_any_floats_and_text(suffix, values, text):
    g = tiny_body()
    for (u, v), x in zip(sorted(g.edges), values, strict=False):
        g.edges[u, v]["flow"] = x
    g.nodes["node"]["label"] = text
    g.graph["values"] = values
    with tempfile.TemporaryDirectory() as tmp:
        path = write_body(g, Path(tmp) / f"b{suffix}")
        assert_same_body(g, read_body(path, validate=False))
