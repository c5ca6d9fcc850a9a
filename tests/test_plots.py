"""Tests of circnet.plots: files written by suffix, valid PNG/SVG, atomic writes, errors."""

from __future__ import annotations

import math
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from bodies import tiny_body

import circnet
import circnet._figure
from circnet.plots import (
    STATE_GROUPS,
    OptionalDependencyError,
    course_figure,
    fates_figure,
    figure_bytes,
    group_states,
    plot_course,
    plot_fates,
    plot_propagation,
    propagation_figure,
)

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model():
    return circnet.TransportModel(circnet.default_body("female"))


@pytest.fixture(scope="module")
def course(model):
    return circnet.simulate_course(model, "breast", 1, rng=3)


def check_file(path, suffix):
    data = path.read_bytes()
    if suffix == ".png":
        assert data.startswith(PNG)
    else:
        root = ET.fromstring(data)  # well-formed XML
        assert root.tag.endswith("svg")
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_fates_one_and_several(model, tmp_path, suffix):
    one = plot_fates(model.fates("breast"), tmp_path / f"one{suffix}")
    assert one == tmp_path / f"one{suffix}"
    check_file(one, suffix)
    several = plot_fates(
        model.fate_table(["breast", "lung", "colon_rectum"]),
        tmp_path / "sub" / f"several{suffix}",
        top=4,
        include_dead=True,
        log=False,
        title="<b>three</b>",
    )
    check_file(several, suffix)


def test_plot_fates_accepts_fate_result_and_mapping(model, tmp_path):
    check_file(plot_fates(model.fate_result("lung"), tmp_path / "r.png"), ".png")
    mapping = {"lung": model.fates("lung"), "breast": model.fate_result("breast")}
    check_file(plot_fates(mapping, tmp_path / "m.svg"), ".svg")


def test_svg_is_reproducible(model, tmp_path):
    a = plot_fates(model.fates("lung"), tmp_path / "a.svg").read_bytes()
    b = plot_fates(model.fates("lung"), tmp_path / "b.svg").read_bytes()
    assert a == b


@pytest.mark.slow
def test_plot_propagation_probabilities_and_counts(model, tmp_path):
    dist = model.propagate("breast", [0.0, 10.0, 60.0, 600.0])
    check_file(plot_propagation(dist, tmp_path / "p.png", body=model.body), ".png")
    check_file(plot_propagation(dist, tmp_path / "plog.svg", log_time=True), ".svg")
    sim = model.simulate("lung", 10**6, [10.0, 60.0], rng=1)
    check_file(plot_propagation(sim, tmp_path / "s.png", stacked=False), ".png")


@pytest.mark.slow
def test_plot_course(course, tmp_path):
    check_file(plot_course(course, tmp_path / "c.png"), ".png")
    check_file(plot_course(course, tmp_path / "c.svg", top=3, title="course"), ".svg")


def test_course_figure_keeps_dormant_cells_out_of_the_burden(course):
    from circnet._course_figure import STAGE_COLOURS

    fig = course_figure(course, top=3)
    burden, stages = fig.axes[0], fig.axes[1]
    labels = [line.get_label() for line in burden.get_lines()]
    assert "metastatic burden, all sites" in labels and "all metastases" not in labels
    total = next(x for x in burden.get_lines() if x.get_label() == "metastatic burden, all sites")
    y = np.asarray(total.get_ydata(), dtype=float)
    np.testing.assert_allclose(
        np.nan_to_num(y), course.daily["vascular_metastasis_cells"].to_numpy()
    )
    # a site holding only dormant cells or micrometastases has no burden line
    end = course.timeseries[course.timeseries["day"] == course.days]
    quiet = end[(end["vascular_metastasis_cells"] == 0) & (end["site"] != "breast")]
    assert not set(quiet["site"].astype(str)) & set(labels)
    lines = {line.get_label(): line for line in stages.get_lines()}
    dormant = lines["dormant disseminated cells (number)"]
    micro = lines["cells in avascular micrometastases"]
    np.testing.assert_array_equal(
        np.nan_to_num(np.asarray(dormant.get_ydata(), dtype=float)), course.daily["dormant_cells"]
    )
    colours = {dormant.get_color(), micro.get_color(), total.get_color()}
    assert len(colours) == 3 and colours == {
        STAGE_COLOURS[k]
        for k in ("dormant disseminated cells", "avascular micrometastases", "vascular metastases")
    }


@pytest.mark.slow
def test_plot_course_with_surgery(model, tmp_path):
    res = circnet.simulate_course(model, "breast", 1, rng=3, surgery_day=100)
    check_file(plot_course(res, tmp_path / "surgery.png"), ".png")


def test_group_states_sums_to_one(model):
    dist = model.propagate("colon_rectum", [0.0, 5.0, 600.0])
    groups = group_states(dist, model.body)
    assert list(groups.columns) == list(STATE_GROUPS)
    np.testing.assert_allclose(groups.sum(axis=1), 1.0, atol=1e-12)
    # without the body, lymph transit states are recognised by name
    assert group_states(dist).round(12).equals(groups.round(12))


def test_group_states_of_counts(model):
    sim = model.simulate("lung", 1000, [1.0, 60.0], rng=0)
    groups = group_states(sim, model.body)
    assert (groups.sum(axis=1) == 1000).all()


def test_group_states_reads_node_kinds_from_the_body(model):
    dist = model.propagate("colon_rectum", [0.0, 5.0, 600.0])
    by_space = group_states(dist, model.state_space)
    pd.testing.assert_frame_equal(by_space, group_states(dist, model.body))
    tiny = circnet.TransportModel(tiny_body())
    groups = group_states(tiny.propagate("kidney", [0.0, 1.0]), tiny.body)
    assert groups.loc[1.0, "in lymph"] > 0  # the duct is lymph because the body says so
    odd = pd.DataFrame({"transit:duct": [1.0], "comet:x": [2.0], "trapped:node": [3.0]})
    assert group_states(odd, tiny.body).iloc[0].to_dict() == {"in lymph": 4.0, "other": 2.0}


@pytest.mark.slow
def test_figures_without_files(model, course):
    for fig in (
        fates_figure(model.fates("lung")),
        propagation_figure(model.propagate("lung", [0.0, 10.0]), body=model.body),
        course_figure(course, top=3),
    ):
        assert fig.axes and figure_bytes(fig, "png").startswith(PNG)
    assert OptionalDependencyError is circnet.errors.OptionalDependencyError  # re-exported


def test_atomic_write_keeps_old_file_on_failure(model, tmp_path, monkeypatch):
    target = tmp_path / "fates.png"
    target.write_bytes(b"old")

    def boom(fig, fmt):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(circnet._figure, "figure_bytes", boom)
    with pytest.raises(RuntimeError, match="drawing failed"):
        plot_fates(model.fates("lung"), target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fates.png"]


def test_atomic_write_removes_temporary_file_when_writing_fails(model, tmp_path, monkeypatch):
    target = tmp_path / "fates.svg"
    target.write_bytes(b"old")

    def fail_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("circnet.io.os.replace", fail_replace)
    with pytest.raises(OSError, match="disk full"):
        plot_fates(model.fates("lung"), target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fates.svg"]


@pytest.mark.parametrize("name", ["fates.pdf", "fates", "fates.PNG.txt"])
def test_bad_suffix(model, tmp_path, name):
    with pytest.raises(circnet.ParameterError, match=r"`path` .* must end in one of \.png, \.svg"):
        plot_fates(model.fates("lung"), tmp_path / name)
    assert not list(tmp_path.iterdir())


def test_bad_inputs(model, course, tmp_path):
    with pytest.raises(circnet.ParameterError, match="`fates` must be"):
        plot_fates([0.5, 0.5], tmp_path / "x.png")
    with pytest.raises(circnet.ParameterError, match=r"probabilities in \[0, 1\]"):
        plot_fates(pd.Series({"dead": 2.0}), tmp_path / "x.png")
    with pytest.raises(circnet.ParameterError, match="`top` must be >= 1"):
        plot_fates(model.fates("lung"), tmp_path / "x.png", top=0)
    with pytest.raises(circnet.ParameterError, match="`result` must be a CourseResult"):
        plot_course(model.fates("lung"), tmp_path / "x.png")
    with pytest.raises(circnet.ParameterError, match="`table` must be a DataFrame"):
        plot_propagation([1, 2], tmp_path / "x.png")
    with pytest.raises(circnet.ParameterError, match="`top` must be an integer"):
        plot_course(course, tmp_path / "x.png", top=True)
    assert not list(tmp_path.iterdir())


def test_missing_matplotlib_says_how_to_install(model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(OptionalDependencyError, match=r"pip install 'circnet\[plot\]'") as info:
        plot_fates(model.fates("lung"), tmp_path / "x.png")
    assert isinstance(info.value, circnet.CircnetError)
    assert isinstance(info.value, ImportError)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- ax= and draw_body
def test_plot_functions_draw_on_given_axes(model, course, tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 8))
    axes = fig.subplots(2, 2)
    assert plot_fates(model.fates("lung"), ax=axes[0, 0]) is axes[0, 0]
    assert axes[0, 0].get_xscale() == "log" and axes[0, 0].patches
    dist = model.propagate("lung", [0.0, 10.0, 100.0])
    assert plot_propagation(dist, ax=axes[0, 1], body=model.body) is axes[0, 1]
    assert axes[0, 1].get_ylabel() == "probability"
    pair = plot_course(course, ax=(axes[1, 0], axes[1, 1]))
    assert pair == (axes[1, 0], axes[1, 1])
    assert axes[1, 0].get_yscale() == "log"
    assert axes[1, 1].get_title(loc="left") == "Events per site"
    assert plot_course(course, ax=Figure().add_subplot()).get_yscale() == "log"
    # ax and path: drawn on ax, its figure written
    out = plot_fates(model.fates("lung"), tmp_path / "f.png", ax=Figure().add_subplot())
    check_file(out, ".png")
    with pytest.raises(circnet.ParameterError, match="`ax` must be a matplotlib Axes"):
        plot_fates(model.fates("lung"), ax="left")
    with pytest.raises(circnet.ParameterError, match="`ax` must be one Axes, two or three"):
        plot_course(course, ax=list(axes.ravel()))


def test_without_path_or_ax_a_pyplot_figure_is_returned(model, course):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    ax = plot_fates(model.fates("lung"))
    assert ax.figure.number in plt.get_fignums()  # pyplot's: a notebook shows it
    top, stages, events = plot_course(course)
    assert top.figure is events.figure is stages.figure and len(plt.get_fignums()) == before + 2
    plt.close("all")


def test_events_panel_counts_events_per_site(course):
    fig = course_figure(course, top=3)
    events = fig.axes[2]
    sites = [t.get_text() for t in events.get_yticklabels()]
    assert sites[0] == "breast"
    notes = {t.get_text() for t in events.texts}
    ev = course.events[course.events["kind"].astype(str) == "founded"]
    n_lung = int(ev[ev["site"].astype(str) == "lung"]["count"].sum())
    assert any(t.startswith(f"{n_lung:,} disseminated") for t in notes)
    assert events.images  # colonies founded per period, as colour
    assert len(events.get_yticklabels()) <= 12


@pytest.mark.slow
def test_draw_body(model, tmp_path):
    from matplotlib.figure import Figure

    from circnet import _view_layout as lay
    from circnet.plots import draw_body

    body = model.body
    ax = Figure(figsize=(10, 8)).add_subplot()
    assert draw_body(body, ax=ax) is ax
    shapes = [p for p in ax.patches if p.get_zorder() == 3]
    labels = [p for p in ax.patches if p.get_zorder() == 4]
    assert len(shapes) == len(labels) == body.number_of_nodes()
    # the positions of the HTML view (y up here)
    pos = lay.positions(body)
    centres = sorted((round(p.get_center()[0], 1), round(-p.get_center()[1], 1))
                     for p in shapes if hasattr(p, "get_center"))  # fmt: skip
    assert all(any(math.dist(c, pos[n]) < 1 for c in centres) for n in ("liver_bed", "brain_bed"))
    fills = {p.get_facecolor()[:3] for p in shapes}
    assert len(fills) == len({d["kind"] for _, d in body.nodes(data=True)})  # colour by kind
    fates = model.fates("breast").rename("probability")
    out = draw_body(body, fates, path=tmp_path / "body.svg")
    check_file(out, ".svg")
    text = out.read_text(encoding="utf-8")
    assert "<svg" in text
    with pytest.raises(circnet.ParameterError, match="`path`"):
        draw_body(body, path=tmp_path / "body.pdf")
