"""Tests of circnet.report: the course overlay and the self-contained HTML report,
also opened in headless Chromium (marker ``browser``; screenshot in out/screenshots/)."""

from __future__ import annotations

import ast
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import circnet
import circnet.report
from circnet._format import fmt_number
from circnet.report import course_overlay, course_report

SCREENSHOTS = Path(__file__).resolve().parent.parent / "out" / "screenshots"


@pytest.fixture(scope="module")
def body():
    return circnet.default_body("female")


@pytest.fixture(scope="module")
def course(body):
    return circnet.simulate_course(body, "breast", 1, rng=5)


def test_course_overlay(course, body):
    ov = course_overlay(course, body, max_frames=30)
    assert len(ov) <= 30 and ov.index[0] == 0 and ov.index[-1] == course.days
    what = "cells of the primary and the vascular metastases"
    assert ov.index.name == "day" and ov.columns.name == f"log10({what} + 1)"
    assert set(ov.columns) <= set(body.nodes)
    ts = course.timeseries
    at = ts[(ts["day"] == course.days) & (ts["site"] == "breast")].iloc[0]
    end = at["primary_cells"] + at["vascular_metastasis_cells"]
    assert ov["breast"].iloc[-1] == pytest.approx(np.log10(end + 1))
    raw = course_overlay(course, body, log=False)
    assert raw.columns.name == what and raw["breast"].iloc[-1] == pytest.approx(end)
    # dormant disseminated cells are not drawn as tumour: the lung holds only them
    lung = ts[(ts["day"] == course.days) & (ts["site"] == "lung")].iloc[0]
    assert lung["dormant_cells"] > 0 and lung["vascular_metastasis_cells"] == 0
    assert raw["lung"].iloc[-1] == 0
    dormant = course_overlay(course, body, log=False, stage="dormant")
    assert dormant.columns.name == "dormant disseminated cells"
    assert dormant["lung"].iloc[-1] == lung["dormant_cells"]
    every = course_overlay(course, body, log=False, stage="all")
    assert every["lung"].iloc[-1] == pytest.approx(lung["total_cells"])
    with pytest.raises(circnet.ParameterError, match="`max_frames`"):
        course_overlay(course, body, max_frames=1)
    with pytest.raises(circnet.ParameterError, match="`stage`"):
        course_overlay(course, body, stage="burden")


def test_report_defines_its_words_and_keeps_the_stages_apart(course, body, tmp_path):
    text = course_report(course, body, tmp_path / "r.html", plots=False).read_text("utf-8")
    glossary = text[text.index('id="circnet-glossary"') :]
    for term in circnet.course.COURSE_TERMS:
        assert f"<dt>{term}</dt>" in glossary
    summary = text[text.index("<h2>Summary</h2>") : text.index('id="circnet-glossary"')]
    assert "dormant disseminated cells at the end (not metastases)" in summary
    assert "metastatic burden at the end (cells in vascular metastases)" in summary
    assert "colonies founded" not in text and "metastatic cells end" not in text
    sites = text[text.index("Sites at the end of the course") :]
    for header in ("dormant disseminated cells", "avascular micrometastases",
                   "vascular metastases", "detectable metastases"):  # fmt: skip
        assert f"<th>{header}</th>" in sites


@pytest.mark.slow
def test_report_is_self_contained(course, body, tmp_path):
    model = circnet.TransportModel(body)
    out = course_report(
        course,
        body,
        tmp_path / "report.html",
        fates=model.fates("breast"),
        title="<script>alert(1)</script>",
        notes=["<b>seed</b> 5"],
    )
    text = out.read_text(encoding="utf-8")
    assert "<script src=" not in text and "<link" not in text
    assert "Content-Security-Policy" in text
    assert text.count("data:image/svg+xml;base64,") == 2  # course and fates
    assert "&lt;b&gt;seed&lt;/b&gt; 5" in text and "<b>seed</b>" not in text
    assert "<script>alert(1)</script>" not in text
    assert text.index('id="circnet-report"') < text.index('id="circnet-data"')


def test_report_without_plots(course, body, tmp_path):
    text = course_report(course, body, tmp_path / "r.html", plots=False).read_text("utf-8")
    assert "data:image/svg+xml" not in text and "Sites at the end of the course" in text


def test_report_numbers_are_formatted_once(course, body, tmp_path):
    text = course_report(course, body, tmp_path / "r.html", plots=False).read_text("utf-8")
    cells = re.findall(r'<td class="num">([^<]*)</td>', text)
    assert cells
    for cell in cells:  # no float noise, one style: 6,695 / 12.35 / 3.200e+09 / –
        assert re.fullmatch(r"-?[\d,]+(\.\d+)?(e[+-]\d\d)?|–", cell), cell


def test_report_imports_no_private_names():
    tree = ast.parse(Path(circnet.report.__file__).read_text(encoding="utf-8"))
    imported = [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]
    assert ("render", "render_page") in imported
    assert not [(m, n) for m, n in imported if n.startswith("_") and not n.endswith("__")]
    funcs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    assert not [n.name for f in funcs for n in ast.walk(f) if isinstance(n, ast.ImportFrom)]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (6694.999999999999, "6,695"),
        (9700.000000000002, "9,700"),
        (0.30000000000000004, "0.3"),
        (12345, "12,345"),
        (np.int64(7), "7"),
        (0.0, "0"),
        (123.456, "123.5"),
        (0.000012345, "1.234e-05"),
        (3.2e9, "3.200e+09"),
        (-2500.4, "-2,500"),
        (float("nan"), "–"),
        (None, "–"),
        (np.True_, "yes"),
        ("breast", "breast"),
    ],
)
def test_fmt_number(value, text):
    assert fmt_number(value) == text


@pytest.mark.browser
@pytest.mark.slow
def test_report_in_browser(course, body, tmp_path):
    if os.environ.get("CIRCNET_NO_BROWSER") == "1":
        pytest.skip("CIRCNET_NO_BROWSER=1")
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
    chromium = chromium or shutil.which("chromium")
    if chromium is None:
        pytest.fail("browser tests need Debian's chromium (apt-get install chromium)")
    model = circnet.TransportModel(body)
    dist = model.propagate("breast", [0.0, 1.0, 10.0, 100.0])
    path = course_report(
        course, body, tmp_path / "report.html", fates=model.fates("breast"), propagation=dist
    )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        console, requests = [], []
        page.on("console", lambda m: console.append((m.type, m.text)))
        page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.resolve().as_uri())
        for _ in range(100):
            if page.evaluate("window.circnet !== undefined"):
                break
            page.wait_for_timeout(50)
        page.wait_for_timeout(500)
        n = page.evaluate("window.circnet.overlay.values.length")
        assert page.evaluate("window.circnet.frame()") == n - 1  # opens at the end
        assert page.locator("#circnet-readout").text_content() == "day: 365"
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(images) == 3 and all(ok and w > 100 for ok, w in images)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "report_top.png"))
        page.screenshot(path=str(SCREENSHOTS / "report_full.png"), full_page=True)
        browser.close()
    assert console == []
    assert requests == [path.resolve().as_uri()]


def test_report_groups_events_by_kind_and_site(course, body, tmp_path):
    text = course_report(course, body, tmp_path / "r.html", plots=False).read_text("utf-8")
    events = text[text.index("<h2>Events</h2>") :]
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td class=\"num\">([^<]*)</td>", events)
    assert rows and len(rows) == len(set((k, s) for k, s, _ in rows))  # one row per kind, site
    ev = course.events
    founded = ev[ev["kind"].astype(str) == "founded"].groupby("site", observed=True)["count"].sum()
    got = {s: c for k, s, c in rows if k == "founded"}
    assert got["lung"] == fmt_number(int(founded["lung"]))
    assert len(rows) < len(ev)  # grouped, not one row per event


def test_report_without_path_is_a_view(course, body):
    v = course_report(course, body, plots=False)
    assert isinstance(v, circnet.View)
    assert "circnet-report" in v.html and v._repr_html_().startswith("<iframe")
