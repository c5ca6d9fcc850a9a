"""The cohort report (circnet._cohort_report): self-contained, escaped, complete."""

from __future__ import annotations

import dataclasses
import html
import re

import pandas as pd
import pytest

import circnet
from circnet._cohort_report import COHORT_TERMS, TARGETS_FILE, cohort_report
from circnet.cohort import simulate_cohort
from circnet.errors import ParameterError

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(circnet.default_body(), "colon_rectum", 30, rng=3, years=4)


@pytest.fixture(scope="module")
def page(cohort, tmp_path_factory):
    path = tmp_path_factory.mktemp("cohort") / "cohort.html"
    out = cohort_report(cohort, path, command="circnet course --cohort 30", plots=False)
    assert out == path
    return path.read_text(encoding="utf-8")


def _visible(page: str) -> str:
    """The page's text without tags, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_page_is_self_contained(page):
    assert page.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in page  # every request blocked
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@@" not in page  # every slot of the template filled


def test_page_has_the_figures_with_intervals(cohort, page):
    text = _visible(page)
    fig = cohort.figures()
    for name in fig.index:
        assert name in text
    sync = fig.loc["synchronous distant metastases"]
    row = re.search(r"synchronous distant metastases (\S+) (\S+) to (\S+) 30 % of patients", text)
    assert row, text[:2000]
    assert float(row.group(1)) == pytest.approx(sync["value"], rel=5e-3)  # 3 digits
    assert float(row.group(2)) == pytest.approx(sync["low"], rel=1e-2)
    # the sourced targets are named (they are repository data, not package data)
    assert TARGETS_FILE in text


def test_number_at_risk_follows_the_survival_curve(cohort, page):
    text = _visible(page)
    row = re.search(r"number at risk ((?:\d+ )+)", text)
    assert row
    at_risk = [int(x) for x in row.group(1).split()]
    assert len(at_risk) == 5  # years 0..4
    n0 = int((~cohort.patients["synchronous"]).sum())
    assert at_risk[0] == n0
    assert all(a >= b for a, b in zip(at_risk, at_risk[1:], strict=False))
    km = cohort.survival()
    assert at_risk[-1] == n0 - int(km.loc[km["time"] < 4, "events"].sum())


def test_sites_ctc_and_what_is_carried(cohort, page):
    text = _visible(page)
    first = cohort.patients["first_distant_site"]
    for site in first[first != ""].unique():
        assert site in text
    assert "CTC per 7.5 mL" in text and ">= 500" in text and "5-49" in text
    assert "at diagnosis (patients)" in text
    assert "dormant disseminated cells in organs" in text and "avascular micrometastases" in text


def test_glossary_defines_the_words(page):
    text = _visible(page)
    glossary = text[text.index("Words used here") :]
    for word in ("synchronous", "metachronous", "node-positive", "dormant disseminated cell",
                 "micrometastas", "vascular metastas", "CTC", "metastasis-free survival",
                 "number at risk"):  # fmt: skip
        assert word in glossary, word
    assert all(term in glossary for term in COHORT_TERMS)


def test_provenance(cohort, page):
    text = _visible(page)
    assert f"circnet {circnet.__version__}" in text
    assert "seed entropy 3" in text and "command: circnet course --cohort 30" in text
    for name in ("vdt_median_days", "switch_rate", "shedding_per_cell_day"):
        assert name in text
    assert "Burke" in text  # a source of the clinical parameters


def test_hostile_text_is_escaped(cohort, tmp_path):
    patients = cohort.patients.copy()
    patients["first_distant_site"] = patients["first_distant_site"].where(
        patients["first_distant_site"] == "", HOSTILE
    )
    res = dataclasses.replace(cohort, primary=HOSTILE, patients=patients)
    out = cohort_report(res, tmp_path / "r.html", title=HOSTILE, notes=[HOSTILE],
                        command=HOSTILE, plots=False)  # fmt: skip
    page = out.read_text(encoding="utf-8")
    assert HOSTILE not in page and "<script" not in page
    assert html.escape(HOSTILE) in page
    assert page.count(html.escape(HOSTILE)) >= 5  # title, heading, subtitle, notes, sites


@pytest.mark.slow
def test_figure_is_inline(cohort, tmp_path):
    pytest.importorskip("matplotlib")
    page = cohort_report(cohort, tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count("data:image/svg+xml;base64,") == 1
    assert "<script" not in page


def test_view_without_path_and_targets(cohort):
    targets = pd.DataFrame(
        {"clinic": ["15-25"], "source": ["van der Geest 2015"]},
        index=["synchronous distant metastases"],
    )
    view = cohort_report(cohort, targets=targets, plots=False)
    assert isinstance(view, circnet.View)
    text = _visible(view.html)
    assert "clinic source" in text and "15-25 van der Geest 2015" in text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"result": "cohort"}, "`result` must be a CohortResult"),
        ({"title": 3}, "`title` must be a string"),
        ({"notes": "one line"}, "`notes` must be a list of strings"),
        ({"notes": [1]}, "`notes` must hold strings only"),
        ({"command": ["circnet"]}, "`command` must be a string"),
        ({"targets": {"no such figure": {"clinic": "1"}}}, "figures the cohort does not have"),
        ({"targets": pd.DataFrame({"x": [1]})}, "'clinic' column"),
        ({"plots": "yes"}, "plots"),
    ],
)
def test_bad_arguments(cohort, kwargs, match):
    args = {"result": cohort, **kwargs}
    with pytest.raises(ParameterError, match=match):
        cohort_report(args.pop("result"), **args)


def test_bad_path(cohort, tmp_path):
    with pytest.raises(ParameterError, match="is a directory"):
        cohort_report(cohort, tmp_path, plots=False)
    assert list(tmp_path.iterdir()) == []
