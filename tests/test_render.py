"""Tests of circnet.render: the HTML file itself, and the page in headless Chromium.

Browser tests (marker ``browser``) drive Debian's ``/usr/bin/chromium`` through Python
playwright (no ``playwright install``). Missing chromium or playwright FAILS them, as CI
installs both; set ``CIRCNET_NO_BROWSER=1`` to skip them instead. Screenshots go to
``out/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import copy
import html
import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from bodies import tiny_body

import circnet
import circnet.io
from circnet._format import fmt_number
from circnet.render import LABEL_PREFIXES, render_html, render_page
from circnet.states import KINDS

HOSTILE_NODE = "<img src=x onerror=alert(1)>"
HOSTILE_LABEL = "</script><script>alert(1)</script>"
HOSTILE_TITLE = '</title><script>alert("t")</script><b onmouseover=alert(2)>title</b>'
SCREENSHOTS = Path(__file__).resolve().parent.parent / "out" / "screenshots"


# --------------------------------------------------------------------------- helpers
class _Page(HTMLParser):
    """Collect tags with their attributes and the text of <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None
        self._buf: list[str] = []
        self.h1 = ""
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script, self._buf = dict(attrs), []
        if tag == "h1":
            self._in_h1 = True

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.scripts.append((self._in_script, "".join(self._buf)))
            self._in_script = None
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._in_script is not None:
            self._buf.append(data)
        if self._in_h1:
            self.h1 += data


def parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def page_data(path: Path) -> dict:
    """The JSON that the page's own script reads (nodes, edges, options, overlay)."""
    (text,) = [t for a, t in parse(path).scripts if a.get("id") == "circnet-data"]
    return json.loads(text)


def hostile_body() -> nx.DiGraph:
    """The male body with a hostile lymph-node name, label and organ name."""
    body = circnet.default_body("male")
    body = nx.relabel_nodes(body, {"mesenteric_nodes": HOSTILE_NODE}, copy=True)
    body.nodes[HOSTILE_NODE]["label"] = HOSTILE_LABEL
    for _, d in body.nodes(data=True):
        if d.get("node_group") == "mesenteric_nodes":
            d["node_group"] = HOSTILE_NODE
    for n in ("thyroid_bed", "thyroid"):
        body.nodes[n]["organ"] = "<b>thyroid</b>"
    body.graph["name"] = "<i>name</i>"
    circnet.validate(body)
    return body


def course_frame() -> pd.DataFrame:
    days = pd.Index([0, 30, 60, 90], name="day")
    return pd.DataFrame(
        {
            "colony:liver": [0.0, 1.0, 4.0, 9.0],
            "colony:lung": [0.0, 0.0, 1.0, 1.0],
            "node:mesenteric_nodes": [1.0, 2.0, 3.0, 4.0],
            "dead": [0.0, 10.0, 20.0, 30.0],
        },
        index=days,
    )


@pytest.fixture(scope="module")
def male():
    return circnet.default_body("male")


# --------------------------------------------------------------------------- the file
def test_one_self_contained_file_without_urls(tmp_path, monkeypatch, male):
    monkeypatch.chdir(tmp_path)  # pyvis "local" would write lib/ here
    out = render_html(male, tmp_path / "sub" / "body.html")
    assert out == tmp_path / "sub" / "body.html"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["body.html", "sub"]
    page = parse(out)
    for tag, attrs in page.tags:
        for key in ("src", "href", "action", "data", "poster"):
            assert attrs.get(key) is None, (tag, attrs)  # nothing is loaded from anywhere
    assert not any(tag in ("link", "iframe", "img", "object", "embed") for tag, _ in page.tags)
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"(?i)(src|href)\s*=\s*['\"]?\s*(https?:)?//", text)
    assert not re.search(r"(?i)@import|url\(\s*['\"]?(https?:)?//", text)
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert "vis.js is dual licensed" in text  # vis-network inlined with its licence header
    assert [a.get("type") for a, _ in page.scripts] == ["application/json", None, None]


def test_network_data_matches_body(tmp_path, male):
    data = page_data(render_html(male, tmp_path / "b.html"))
    assert {n["id"] for n in data["nodes"]} == set(male)
    assert {(e["from"], e["to"]) for e in data["edges"]} == set(male.edges)
    byname = {n["id"]: n for n in data["nodes"]}
    assert byname["left_heart"]["shape"] == "diamond"
    assert byname["liver_bed"]["shape"] == "dot"
    assert byname["hilar_nodes"]["shape"] == "triangle"
    edge = {(e["from"], e["to"]): e for e in data["edges"]}
    red, blue, green = "#d32f2f", "#1e63c4", "#2e9d3a"
    assert edge["left_heart", "liver_bed"]["color"]["color"] == red
    assert edge["lung_bed", "left_heart"]["color"]["color"] == red
    assert edge["liver_bed", "venous_return"]["color"]["color"] == blue
    assert edge["portal_vein", "liver_bed"]["color"]["color"] == blue
    assert edge["hilar_nodes", "mediastinal_nodes"]["color"]["color"] == green
    assert edge["lung_bed", "left_heart"]["width"] > edge["left_heart", "thyroid_bed"]["width"]
    assert edge["left_heart", "thyroid_bed"]["width"] > edge["thyroid", "cervical_nodes"]["width"]
    assert data["options"]["physics"]["enabled"] is False
    # fixed schematic layout: brain above the heart above the pelvis
    assert byname["brain_bed"]["y"] < byname["left_heart"]["y"] < byname["testes_bed"]["y"]
    assert byname["left_heart"]["physics"] is False


def test_tooltip_text_has_the_numbers(tmp_path, male):
    data = page_data(render_html(male, tmp_path / "b.html"))
    title = {n["id"]: n["title"] for n in data["nodes"]}["kidneys_bed"]
    inflow = sum(d["flow"] for _, _, d in male.in_edges("kidneys_bed", data=True))
    pct = 100 * inflow / male.graph["cardiac_output"]
    assert "kind: capillary bed" in title and "organ: kidneys" in title
    assert f"flow in: {inflow:,.0f} mL/min (blood)" in title
    assert f"share of cardiac output: {pct:.3g} %" in title
    assert f"capillary diameter: {male.nodes['kidneys_bed']['diameter']:.4g} um" in title
    assert f"volume: {male.nodes['kidneys_bed']['volume']:.4g} mL" in title
    assert "<" not in title and "\n" in title  # plain text lines


def test_input_not_mutated(tmp_path, male):
    body = circnet.default_body("female")
    before = (
        copy.deepcopy(body.graph),
        copy.deepcopy(list(body.nodes(data=True))),
        copy.deepcopy(list(body.edges(data=True))),
    )
    overlay = pd.Series({"colony:liver": 1.0, "dead": 2.0})
    kept = overlay.copy()
    render_html(body, tmp_path / "b.html", overlay)
    after = (body.graph, list(body.nodes(data=True)), list(body.edges(data=True)))
    assert after == before
    pd.testing.assert_series_equal(overlay, kept)


def test_write_is_atomic(tmp_path, monkeypatch, male):
    target = tmp_path / "b.html"
    target.write_text("old", encoding="utf-8")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(circnet.io.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        render_html(male, target)
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["b.html"]  # no temporary left behind
    render_html(male, target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["b.html"]


def test_deterministic(tmp_path, male):
    a = render_html(male, tmp_path / "a.html").read_bytes()
    b = render_html(male, tmp_path / "b.html").read_bytes()
    assert a == b


def test_hostile_text_is_escaped(tmp_path):
    body = hostile_body()
    out = render_html(
        body, tmp_path / "h.html", pd.Series({HOSTILE_NODE: 1.0}), title=HOSTILE_TITLE
    )
    text = out.read_text(encoding="utf-8")
    for raw in (HOSTILE_NODE, HOSTILE_LABEL, HOSTILE_TITLE, "<b>thyroid</b>", "<i>name</i>"):
        assert raw not in text
    assert "alert(1)" in text  # present, but only as escaped text or JSON data
    page = parse(out)
    assert [t for t, _ in page.tags].count("script") == 3
    assert not any(t in ("img", "b", "i") for t, _ in page.tags)
    assert page.h1 == HOSTILE_TITLE
    data = page_data(out)
    node = {n["id"]: n for n in data["nodes"]}[HOSTILE_NODE]
    assert HOSTILE_LABEL in node["title"] and node["title"].split("\n")[0] == HOSTILE_NODE
    assert node["label"] == HOSTILE_NODE  # drawn on the canvas as text
    assert data["overlay"]["nodes"] == [HOSTILE_NODE]


def test_options(tmp_path, male):
    data = page_data(render_html(male, tmp_path / "b.html", physics=True, node_labels=False))
    assert data["options"]["physics"]["enabled"] is True
    assert all(n["label"] == "" for n in data["nodes"])
    data = page_data(render_html(male, tmp_path / "b.html"))
    labels = {n["id"]: n["label"] for n in data["nodes"]}
    assert labels["liver_bed"] == "liver_bed" and labels["liver"] == "liver"
    with pytest.raises(circnet.ParameterError, match="title"):
        render_html(male, tmp_path / "b.html", title=3)


def test_fallback_positions_for_unknown_nodes(tmp_path):
    body = tiny_body()
    data = page_data(render_html(body, tmp_path / "t.html"))
    pos = {n["id"]: (n["x"], n["y"]) for n in data["nodes"]}
    assert set(pos) == set(body)
    assert all(math.isfinite(x) and math.isfinite(y) for x, y in pos.values())
    assert len(set(pos.values())) == len(pos)  # no two nodes on one spot
    renamed = nx.relabel_nodes(body, {n: f"x{i}" for i, n in enumerate(body)}, copy=True)
    data2 = page_data(render_html(renamed, tmp_path / "r.html"))
    assert len({(n["x"], n["y"]) for n in data2["nodes"]}) == renamed.number_of_nodes()
    assert (tmp_path / "r.html").read_bytes() == render_html(
        renamed, tmp_path / "s.html"
    ).read_bytes()


def test_pyvis_imported_only_in_render():
    pkg = Path(circnet.__file__).parent
    users = sorted(p.name for p in pkg.rglob("*.py") if "pyvis" in p.read_text(encoding="utf-8"))
    assert users == ["render.py"]


def test_page_comes_from_package_templates(tmp_path, male):
    import circnet.render as render

    source = Path(render.__file__).read_text(encoding="utf-8")
    assert "<html" not in source and "function (" not in source  # no page or script in Python
    templates = Path(circnet.__file__).parent / "data" / "templates"
    app = (templates / "app.js").read_text(encoding="utf-8")
    text = render_html(male, tmp_path / "b.html").read_text(encoding="utf-8")
    assert app.strip() in text
    assert (templates / "page.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_render_page_extras_go_where_asked(tmp_path, male):
    plain = render_page(male)
    page = render_page(
        male,
        extra_head="<style>#x { color: red; }</style>\n",
        extra_body='<main id="more"><h2>More</h2></main>\n',
        extra_script="window.extra = 1; // </script> inside is escaped",
    )
    (tmp_path / "plain.html").write_text(plain, encoding="utf-8")
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    assert len(parse(tmp_path / "plain.html").scripts) == 3
    assert len(parse(tmp_path / "page.html").scripts) == 4
    assert page.index("#x { color") < page.index("</head>")
    assert page.index('<main id="more">') < page.index('id="circnet-data"')
    assert page.index("window.extra = 1") > page.index("window.circnet =")
    assert "<\\/script> inside" in page and page.rstrip().endswith("</html>")
    assert "Content-Security-Policy" in page
    with pytest.raises(circnet.ParameterError, match="`extra_body` must be a string"):
        render_page(male, extra_body=3)
    with pytest.raises(circnet.ParameterError, match="`physics` must be True or False"):
        render_page(male, physics="yes")


def test_label_prefixes_come_from_the_state_space():
    assert set(LABEL_PREFIXES) == {k for k, v in KINDS.items() if v.site != "none"}
    assert "dead" not in LABEL_PREFIXES


def test_views_do_not_parse_labels():
    pkg = Path(circnet.__file__).parent
    for name in ("render.py", "_overlay.py", "report.py", "plots.py"):
        text = (pkg / name).read_text(encoding="utf-8")
        for bad in ('split(":"', 'partition(":"', 'startswith("transit:', '"duct" in'):
            assert bad not in text, (name, bad)


# --------------------------------------------------------------------------- overlays
def test_overlay_labels_map_to_nodes_and_sum(tmp_path, male):
    overlay = pd.Series(
        {
            "colony:liver": 0.25,
            "tissue:liver": 0.125,
            "lodged:liver_bed": 0.5,
            "lodged:kidneys": 0.0625,  # an organ name means its bed
            "transit:portal_vein": 1.0,
            "trapped:hilar_nodes": 2.0,
            "node:hilar_nodes": 4.0,
            "lung": 3.0,  # a plain node name
            "dead": 7.0,
        },
        name="probability",
    )
    ov = page_data(render_html(male, tmp_path / "o.html", overlay))["overlay"]
    values = dict(zip(ov["nodes"], ov["values"][0], strict=True))
    assert values == {
        "liver": 0.375,
        "liver_bed": 0.5,
        "kidneys_bed": 0.0625,
        "portal_vein": 1.0,
        "hilar_nodes": 6.0,
        "lung": 3.0,
    }
    labels = dict(zip(ov["nodes"], ov["labels"], strict=True))
    assert labels["liver"] == ["colony:liver", "tissue:liver"]
    assert ov["dead"] == [7.0] and ov["vmax"] == 6.0
    assert ov["name"] == "probability" and ov["times"] is None
    # a mapping works like a Series
    ov2 = page_data(render_html(male, tmp_path / "m.html", {"colony:lung": 1.0}))["overlay"]
    assert ov2["nodes"] == ["lung"] and ov2["name"] == "value"


def test_every_transport_state_label_maps(tmp_path, male):
    model = circnet.TransportModel(male)
    states = pd.Series(1.0, index=list(model.states))
    ov = page_data(render_html(male, tmp_path / "s.html", states))["overlay"]
    assert ov["dead"] == [1.0]
    assert sum(map(len, ov["labels"])) == len(model.states) - 1
    fates = model.fates("colon_rectum").rename("probability")
    ov = page_data(render_html(male, tmp_path / "f.html", fates))["overlay"]
    values = dict(zip(ov["nodes"], ov["values"][0], strict=True))
    assert values["liver"] == pytest.approx(fates["colony:liver"])


def test_time_overlay(tmp_path, male):
    out = render_html(male, tmp_path / "c.html", course_frame())
    ov = page_data(out)["overlay"]
    assert ov["times"] == ["0", "30", "60", "90"] and ov["time_label"] == "day"
    assert ov["nodes"] == ["liver", "lung", "mesenteric_nodes"]
    assert [row[0] for row in ov["values"]] == [0.0, 1.0, 4.0, 9.0]
    assert ov["dead"] == [0.0, 10.0, 20.0, 30.0]
    assert 'id="circnet-time" hidden' not in out.read_text(encoding="utf-8")
    still = render_html(male, tmp_path / "s.html").read_text(encoding="utf-8")
    assert 'id="circnet-time" hidden' in still


@pytest.mark.parametrize(
    "label",
    [
        "colony:atlantis",
        "tissue:",
        "lodged:venous_return",
        "trapped:liver",
        "node:nowhere_nodes",
        "transit:nowhere",
        "comet:liver",
        "nowhere",
        HOSTILE_LABEL,
    ],
)
def test_unknown_overlay_label(tmp_path, male, label):
    with pytest.raises(circnet.UnknownNameError, match=re.escape(repr(label))):
        render_html(male, tmp_path / "x.html", pd.Series({label: 1.0}))
    frame = pd.DataFrame({label: [1.0]}, index=[0])
    with pytest.raises(KeyError):  # UnknownNameError is a KeyError too
        render_html(male, tmp_path / "x.html", frame)
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    ("overlay", "match"),
    [
        (pd.Series({"colony:liver": -1.0}), "finite number >= 0"),
        (pd.Series({"colony:liver": np.nan}), "finite number >= 0"),
        (pd.Series({"colony:liver": np.inf}), "finite number >= 0"),
        (pd.Series({"colony:liver": "many"}), "must be numbers"),
        (pd.DataFrame({"colony:liver": []}), "no rows"),
        ([1.0, 2.0], "`overlay` must be None"),
    ],
)
def test_bad_overlay(tmp_path, male, overlay, match):
    with pytest.raises(circnet.ParameterError, match=match):
        render_html(male, tmp_path / "x.html", overlay)


def test_invalid_body(tmp_path, male):
    body = male.copy()
    body.edges["left_heart", "brain_bed"]["flow"] = -1.0
    with pytest.raises(circnet.BodyError, match="brain_bed"):
        render_html(body, tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


# --------------------------------------------------------------------------- browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("CIRCNET_NO_BROWSER") == "1":
        pytest.skip("CIRCNET_NO_BROWSER=1")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        pytest.fail(f"browser tests need playwright (pip install playwright): {err}")
    chromium = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if chromium is None:
        pytest.fail(
            f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        )
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Visit:
    """A page opened from a file, recording console messages, errors, requests, dialogs."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.console: list[tuple[str, str]] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        self.page.on("dialog", self._dialog)
        self.page.route("**/*", self._route)
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.wait_until("window.circnet !== undefined && window.network !== undefined")
        self.page.wait_for_timeout(300)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route):
        self.requests.append(route.request.url)
        if route.request.url == self.url:
            route.continue_()
        else:
            route.abort()

    def eval(self, js, arg=None):
        return self.page.evaluate(js, arg)

    def wait_until(self, js, arg=None, timeout: float = 5.0):
        """Poll ``js`` from Python (wait_for_function evaluates strings, which the CSP forbids)."""
        for _ in range(int(timeout / 0.05)):
            if self.eval(js, arg):
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"timed out waiting for {js}")

    def hover_node(self, node_id: str) -> str:
        """Move the mouse onto a node; return the shown tooltip's textContent."""
        self.page.mouse.move(5, 5)
        xy = self.eval(
            """id => {
                const p = network.getPositions([id])[id];
                const d = network.canvasToDOM(p);
                const r = document.getElementById('circnet-network').getBoundingClientRect();
                return [r.left + d.x, r.top + d.y];
            }""",
            node_id,
        )
        self.page.mouse.move(xy[0], xy[1], steps=4)
        tip = self.page.locator("div.vis-tooltip")
        tip.wait_for(state="visible", timeout=5000)
        self.wait_until(
            "id => document.querySelector('div.vis-tooltip').textContent"
            " === circnet.nodes.get(id).title.replace(/\\n/g, '')",
            node_id,
        )
        return tip.evaluate("el => el.textContent")

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / name
        self.page.screenshot(path=str(path))
        return path

    def close(self):
        self.page.close()


@pytest.mark.browser
def test_browser_loads_offline_with_expected_network(browser, tmp_path, male):
    out = render_html(male, tmp_path / "body.html")
    v = Visit(browser, out)
    try:
        assert v.console == []  # no errors, no warnings, no CSP violations
        assert v.requests == [v.url]
        ids = v.eval("circnet.nodes.getIds()")
        assert sorted(ids) == sorted(male)
        pairs = v.eval("circnet.edges.get().map(e => [e.from, e.to])")
        assert {tuple(p) for p in pairs} == set(male.edges)
        assert v.eval("network.body.data.nodes.length") == male.number_of_nodes()
        drawn = v.eval("Object.keys(network.getPositions()).length")
        assert drawn == male.number_of_nodes()
        pos = v.eval("network.getPositions(['brain_bed', 'left_heart'])")
        assert pos["brain_bed"]["y"] < pos["left_heart"]["y"]
        assert v.eval("document.getElementById('circnet-time').hidden") is True
        png = v.shot("body_male.png")
        assert png.stat().st_size > 10_000
    finally:
        v.close()


@pytest.mark.slow
@pytest.mark.browser
def test_browser_tooltip_shows_numbers_as_text(browser, tmp_path, male):
    fates = pd.Series({"colony:liver": 0.0123, "lodged:liver_bed": 0.5, "dead": 0.9}, name="fate")
    out = render_html(male, tmp_path / "fates.html", fates, title="Fates")
    v = Visit(browser, out)
    try:
        text = v.hover_node("liver_bed")
        inflow = sum(d["flow"] for _, _, d in male.in_edges("liver_bed", data=True))
        pct = 100 * inflow / male.graph["cardiac_output"]
        assert f"share of cardiac output: {pct:.3g} %" in text
        assert f"flow in: {inflow:,.0f} mL/min (blood)" in text
        assert "fate: 0.5" in text
        title = v.eval("circnet.nodes.get('liver_bed').title")
        assert text == title.replace("\n", "")  # innerText: lines become <br>, nothing else
        tags = v.eval("[...document.querySelector('div.vis-tooltip').children].map(e => e.tagName)")
        assert set(tags) <= {"BR"}
        assert "fate: 0.0123" in v.hover_node("liver")
        assert v.eval("document.getElementById('circnet-dead').textContent") == "dead: 0.9"
        v.shot("fates_tooltip.png")
        assert v.console == [] and v.requests == [v.url]
    finally:
        v.close()


@pytest.mark.slow
@pytest.mark.browser
def test_browser_time_control_changes_sizes(browser, tmp_path, male):
    out = render_html(male, tmp_path / "course.html", course_frame(), title="Course")
    v = Visit(browser, out)
    try:
        sizes = "['liver', 'lung', 'mesenteric_nodes'].map(id => circnet.nodes.get(id).size)"
        first = v.eval(sizes)
        assert v.eval("document.getElementById('circnet-readout').textContent") == "day: 0"
        assert "value: 0\n" in v.eval("circnet.nodes.get('liver').title")
        v.page.locator("#circnet-slider").fill("2")
        assert v.eval("circnet.frame()") == 2
        third = v.eval(sizes)
        assert third[0] > first[0] and third[1] > first[1] and third[2] > first[2]
        assert v.eval("document.getElementById('circnet-readout').textContent") == "day: 60"
        assert "value: 4\n" in v.eval("circnet.nodes.get('liver').title")
        assert v.eval("document.getElementById('circnet-dead').textContent") == "dead: 20"
        # drawn size follows the data set
        assert v.eval("network.body.nodes['liver'].options.size") == third[0]
        v.page.click("#circnet-play")
        v.wait_until("circnet.frame() === 3")
        assert v.eval(sizes)[0] > third[0]
        v.wait_until("document.getElementById('circnet-play').textContent === 'Play'")
        v.shot("course_day90.png")
        assert v.console == [] and v.requests == [v.url]
    finally:
        v.close()


@pytest.mark.slow
@pytest.mark.browser
def test_browser_numbers_follow_the_python_formatter(browser, tmp_path, male):
    values = {"liver": 2.5e6, "lung": 1.2345e-5, "hilar_nodes": 6694.999999999999, "brain": 0.5}
    out = render_html(male, tmp_path / "n.html", pd.Series(values, name="v"))
    v = Visit(browser, out)
    try:
        for node, x in values.items():
            title = v.eval("id => circnet.nodes.get(id).title", node)
            assert f"v: {fmt_number(x)}" in title.split("\n"), (node, title)
        assert v.console == [] and v.requests == [v.url]
    finally:
        v.close()


@pytest.mark.browser
def test_browser_hostile_label_shown_as_text(browser, tmp_path):
    body = hostile_body()
    out = render_html(
        body, tmp_path / "h.html", pd.Series({HOSTILE_NODE: 2.0}), title=HOSTILE_TITLE
    )
    v = Visit(browser, out)
    try:
        assert v.eval("document.getElementById('circnet-title').textContent") == HOSTILE_TITLE
        assert v.eval("document.title") == HOSTILE_TITLE
        text = v.hover_node(HOSTILE_NODE)
        assert HOSTILE_LABEL in text and HOSTILE_NODE in text
        assert v.eval("document.querySelectorAll('img, b, i').length") == 0
        assert v.eval("document.querySelectorAll('script').length") == 3
        label = page_data(out)["nodes"]
        label = {n["id"]: n["label"] for n in label}[HOSTILE_NODE]
        assert v.eval("id => circnet.nodes.get(id).label", HOSTILE_NODE) == label
        v.page.wait_for_timeout(200)
        assert v.dialogs == []
        v.shot("hostile.png")
        assert v.console == [] and v.requests == [v.url]
    finally:
        v.close()


# --------------------------------------------------------------------------- legibility
def _label_boxes(data: dict) -> dict[str, tuple[float, float, float, float]]:
    """Box of each node's shape and label, as circnet._view_layout reserves them."""
    from circnet._view_layout import font_size, label_width

    fs = font_size()
    out = {}
    for n in data["nodes"]:
        r, w = n["size"], label_width(n["label"], fs)
        out[n["id"]] = (n["x"] - max(r, w / 2), n["y"] - r, n["x"] + max(r, w / 2), n["y"] + r)
    return out


@pytest.mark.parametrize("sex", ["female", "male"])
def test_every_node_labelled_with_the_name_the_api_takes(tmp_path, sex):
    body = circnet.default_body(sex)
    data = page_data(render_html(body, tmp_path / "b.html"))
    labels = {n["id"]: n["label"] for n in data["nodes"]}
    assert labels == {n: n for n in body}  # every node, tissues included, by its name
    organs = set(circnet.organs(body))
    for n, d in body.nodes(data=True):
        if d["kind"] == "tissue":
            assert n in organs  # the site name of simulate_course and `circnet course`
    # each label is accepted back as an overlay key
    every = pd.Series(1.0, index=list(labels.values()), name="one")
    ov = page_data(render_html(body, tmp_path / "o.html", every))["overlay"]
    assert sorted(ov["nodes"]) == sorted(body)
    # tooltips start with the name
    assert all(n["title"].split("\n")[0] == n["id"] for n in data["nodes"])


@pytest.mark.parametrize("sex", ["female", "male"])
@pytest.mark.parametrize("with_overlay", [False, True])
def test_layout_leaves_room_for_every_label(sex, with_overlay):
    from circnet import _view_layout as lay

    body = circnet.default_body(sex)
    radius = dict.fromkeys(body, lay.OVERLAY_RADIUS[1]) if with_overlay else None
    pos = lay.positions(body, radius)
    assert lay.overlaps(lay.boxes(body, pos, radius)) == []
    # nodes of the layout table stay near their schematic place
    table = lay._layout_table()
    moved = [math.dist(pos[n], table[n]) for n in body if n in table]
    assert np.median(moved) < (60 if with_overlay else 25)


def test_new_nodes_go_next_to_what_they_belong_with():
    from circnet import _view_layout as lay

    body = circnet.default_body("female")
    body.add_node("spleen_nodes", kind="lymph_node", volume=1.0)
    body.add_node("spleen_nodes_hev", kind="capillary_bed", node_group="spleen_nodes")
    body.add_edge("spleen", "spleen_nodes", flow=0.1, channel="lymph")
    body.add_edge("spleen_nodes", "thoracic_duct", flow=0.1, channel="lymph")
    body.add_edge("left_heart", "spleen_nodes_hev", flow=1.0, channel="blood")
    body.add_edge("spleen_nodes_hev", "venous_return", flow=1.0, channel="blood")
    pos = lay.positions(body)
    assert lay.overlaps(lay.boxes(body, pos)) == []
    assert math.dist(pos["spleen_nodes"], pos["spleen"]) < 300
    assert math.dist(pos["spleen_nodes_hev"], pos["spleen_nodes"]) < 300


def test_overlay_legend_speaks_in_the_overlay_units(tmp_path, male):
    fates = pd.Series({"colony:liver": 0.016, "colony:lung": 0.001, "dead": 0.98}, name="fate")
    text = render_html(male, tmp_path / "f.html", fates).read_text(encoding="utf-8")
    assert "square root" not in text
    assert "Node size and colour show the fate at the node" in text
    assert "fate = 0.016 (largest)" in text and "fate = 0.004" in text and "fate = 0.001" in text
    assert "fate = 0<" in text  # the grey dot of a zero
    legend = text[text.index('id="circnet-legend"') : text.index('id="circnet-canvas"')]
    examples = re.findall(r"<code>([^<]*)</code>", legend)
    kinds = [male.nodes[html.unescape(x)]["kind"] for x in examples]  # an example of each kind
    assert sorted(kinds) == sorted({k for _, k in male.nodes(data="kind")})
    assert "the name circnet takes" in legend


# --------------------------------------------------------------------------- notebooks
def test_view_repr_is_an_isolated_escaped_iframe(male, tmp_path):
    body = hostile_body()
    v = circnet.view(body, pd.Series({HOSTILE_NODE: 1.0}), title=HOSTILE_TITLE, height=500)
    frame = v._repr_html_()
    page = _Page()
    page.feed(frame)
    page.close()
    assert [t for t, _ in page.tags] == ["iframe"]  # nothing of the page leaks out as tags
    attrs = page.tags[0][1]
    assert attrs["srcdoc"] == v.html and attrs["sandbox"] == "allow-scripts"
    assert "height: 500px" in attrs["style"] and attrs["title"] == HOSTILE_TITLE
    out = v.save(tmp_path / "v.html")
    assert out.read_text(encoding="utf-8") == v.html
    assert v.html == render_page(body, pd.Series({HOSTILE_NODE: 1.0}), title=HOSTILE_TITLE)
    with pytest.raises(circnet.ParameterError, match="`path`"):
        v.save(tmp_path / "v.png")
    with pytest.raises(circnet.ParameterError, match="`height` must be >= 100"):
        circnet.view(male, height=10)


def test_show_outside_a_notebook_opens_the_browser(male, monkeypatch):
    import circnet._notebook as nb

    opened = []
    monkeypatch.setattr(nb.webbrowser, "open", opened.append)
    out = circnet.show(male, {"colony:liver": 1.0}, title="Liver")
    assert out.exists() and opened == [out.as_uri()]
    assert "Liver" in out.read_text(encoding="utf-8")
    with pytest.raises(circnet.ParameterError, match="`what` must be a View"):
        circnet.show("body")
    with pytest.raises(circnet.ParameterError, match="go with a body"):
        circnet.show(circnet.view(male), title="x")


def test_show_in_a_notebook_displays_the_view(male, monkeypatch):
    import circnet._notebook as nb

    shown = []
    monkeypatch.setattr(nb, "_in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", shown.append)
    v = circnet.view(male)
    assert circnet.show(v) is None and shown == [v]


# --------------------------------------------------------------------------- browser: legibility
LABEL_BOXES_JS = """() => {
    const out = {};
    for (const id of circnet.nodes.getIds()) {
        const n = network.body.nodes[id], s = n.labelModule.size;
        out[id] = {label: n.options.label, x: n.x, y: n.y, r: n.options.size,
                   box: [s.left, s.top, s.left + s.width, s.top + s.height]};
    }
    return {nodes: out, scale: network.getScale(), font: network.body.nodes[
        circnet.nodes.getIds()[0]].labelModule.fontOptions.size};
}"""


def _overlapping(boxes: dict) -> list:
    keys = sorted(boxes)
    bad = []
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            p, q = boxes[a], boxes[b]
            if p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3]:
                bad.append((a, b))
    return bad


def _check_labels(v: Visit, body: nx.DiGraph) -> dict:
    got = v.eval(LABEL_BOXES_JS)
    nodes = got["nodes"]
    assert set(nodes) == set(body)
    for n, d in nodes.items():
        assert d["label"] == n  # the name the API takes
        assert d["box"][2] - d["box"][0] > 0  # drawn: measured by vis-network
    labels = {n: d["box"] for n, d in nodes.items()}
    shapes = {
        f"shape of {n}": (d["x"] - d["r"], d["y"] - d["r"], d["x"] + d["r"], d["y"] + d["r"])
        for n, d in nodes.items()
    }
    assert _overlapping(labels) == []  # no label covers another
    assert _overlapping({**labels, **shapes}) == []  # nor any node
    assert got["font"] * got["scale"] >= 9  # readable at the default size (px)
    return got


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("sex", ["female", "male"])
def test_browser_every_label_drawn_and_none_overlap(browser, tmp_path, sex):
    body = circnet.default_body(sex)
    v = Visit(browser, render_html(body, tmp_path / f"{sex}.html"))
    try:
        _check_labels(v, body)
        v.shot(f"labels_{sex}.png")
        assert v.console == [] and v.requests == [v.url]
    finally:
        v.close()


@pytest.mark.browser
@pytest.mark.slow
def test_browser_labels_stay_clear_with_an_overlay(browser, tmp_path, male):
    model = circnet.TransportModel(male)
    frame = pd.DataFrame(
        {"colony:liver": [0.0, 5.0, 9.0], "node:celiac_nodes": [1.0, 9.0, 9.0], "lung": [9] * 3},
        index=pd.Index([0, 1, 2], name="day"),
    )
    v = Visit(browser, render_html(male, tmp_path / "f.html", frame))
    try:
        for i in range(3):  # at every frame: sizes change, labels move with them
            v.eval(f"circnet.setFrame({i})")
            v.page.wait_for_timeout(150)
            _check_labels(v, male)
        legend = v.eval("document.getElementById('circnet-overlay-legend').innerText")
        assert "Node size and colour show the value at the node" in legend
        assert "value = 9 (largest)" in legend and "square root" not in legend
        v.shot("labels_overlay.png")
    finally:
        v.close()
    fates = model.fates("colon_rectum").rename("probability")
    v = Visit(browser, render_html(male, tmp_path / "p.html", fates))
    try:
        _check_labels(v, male)
        legend = v.eval("document.getElementById('circnet-legend').innerText")
        assert f"probability = {fmt_number(float(fates.drop('dead').max()))} (largest)" in legend
        assert f"dead: {fmt_number(float(fates['dead']))}" in legend
    finally:
        v.close()


@pytest.mark.slow
@pytest.mark.browser
def test_browser_view_runs_inside_its_iframe(browser, tmp_path, male):
    v = circnet.view(male, {"colony:liver": 1.0}, title="In a notebook")
    host = tmp_path / "notebook.html"
    host.write_text(
        "<!DOCTYPE html><html><body><h1>notebook</h1>" + v._repr_html_() + "</body></html>",
        encoding="utf-8",
    )
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    requests: list = []
    page.route("**/*", lambda r: (requests.append(r.request.url), r.continue_()))
    try:
        page.goto(host.resolve().as_uri())
        frame = None
        for _ in range(200):
            frames = [f for f in page.frames if f != page.main_frame]
            if frames and frames[0].evaluate("window.circnet !== undefined"):
                frame = frames[0]
                break
            page.wait_for_timeout(50)
        assert frame is not None, "the view did not start inside the iframe"
        assert sorted(frame.evaluate("circnet.nodes.getIds()")) == sorted(male)
        assert frame.evaluate("document.title") == "In a notebook"
        # sandboxed: the page cannot reach the notebook's document
        assert (
            frame.evaluate(
                "(() => { try { return !!parent.document; } catch (e) { return 'blocked'; } })()"
            )
            == "blocked"
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.wait_for_timeout(300)
        page.screenshot(path=str(SCREENSHOTS / "view_iframe.png"))
        assert errors == [] and requests == [host.resolve().as_uri()]
    finally:
        page.close()


def test_nodes_without_a_layout_row_get_a_clear_place(monkeypatch):
    from circnet import _view_layout as lay

    body = circnet.default_body("male")
    table = {n: p for n, p in lay._layout_table().items() if not n.endswith("_hev")}
    monkeypatch.setattr(lay, "_layout_table", lambda: table)
    hev = [n for n, d in body.nodes(data=True) if d.get("node_group") is not None]
    pos = lay.positions(body)
    assert lay.overlaps(lay.boxes(body, pos)) == []
    for n in hev:  # beside its lymph-node group
        assert math.dist(pos[n], pos[body.nodes[n]["node_group"]]) < 450, n


def test_overlay_value_that_is_a_sequence_is_refused(tmp_path, female_body):
    # found by the fuzz (tests/test_fuzz.py): a mapping whose value is a tuple of lists
    with pytest.raises(circnet.ParameterError, match="single numbers"):
        circnet.render_html(female_body, tmp_path / "x.html", overlay={"": ([], [])})
