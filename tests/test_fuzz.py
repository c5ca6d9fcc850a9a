"""The bad-input corpus of issue 16, kept as tests.

Part 1 replays every reproduction of the issue (one test each, named after its class:
``test_wrong_*`` silent wrong answers, ``test_bound_*`` hangs and unbounded work,
``test_trace_*`` tracebacks, ``test_file_*`` files). Part 2 fuzzes every public entry
point with hypothesis: every failure is a :class:`~circnet.CircnetError` with a message,
nothing written is read back differently, and no call runs longer than a time bound
(:func:`fuzz_strategies.time_limit`) or, for the allocation cases, needs more memory than
a bound (``RLIMIT_AS`` in a subprocess). The heavier parts are marked slow (CI runs them).
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import textwrap
import time
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from bodies import tiny_body
from fuzz_strategies import (
    Hang,
    anything,
    assert_same_graph,
    circnet_or_value,
    numbers,
    random_graphs,
    texts,
    time_limit,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import circnet
from circnet import (
    BodyError,
    BodyFileError,
    CheckpointError,
    CircnetError,
    ParameterError,
    TransportModel,
    UnknownNameError,
)
from circnet._files import STALE_TEMP_SECONDS, load_checkpoint, save_checkpoint
from circnet.cli import main

ROOT = Path(__file__).resolve().parents[1]
FAST = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
MORE = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def model():
    return TransportModel(tiny_body())


@pytest.fixture(scope="module")
def big_model():
    return TransportModel(circnet.default_body())


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as stop:  # argparse usage errors
            code = int(stop.code or 0)
    return code, out.getvalue(), err.getvalue()


def one_line_error(err: str) -> None:
    assert "Traceback" not in err, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert lines and lines[-1].startswith("circnet: error: "), err


# =========================================================================== 1. silent wrong
def test_wrong_repeated_time_is_refused(model):  # issue: simulate(..., [60, 60]) zeros
    with pytest.raises(ParameterError, match="strictly increasing"):
        model.simulate("lung", 1000, [60, 60], rng=1)


def test_wrong_checkpoint_of_another_seed_is_refused(model, tmp_path):
    ck = tmp_path / "s.npz"
    part = model.simulate(
        "lung", 0, [60, 120, 180], rng=1, shed_rate=5.0, checkpoint=ck, stop_after=1
    )
    assert part.status == "stopped" and ck.exists()
    with pytest.raises(CheckpointError, match="another run"):
        model.simulate("lung", 0, [60, 120, 180], rng=2, shed_rate=5.0, checkpoint=ck)


def test_wrong_cli_course_checkpoint_of_other_arguments_is_refused(tmp_path):
    ck = tmp_path / "c.npz"
    args = [
        "course",
        "--laws",
        "mechanistic",
        "--primary",
        "lung",
        "--years",
        "0.05",
        "--seed",
        "1",
    ]
    code, _, err = run_cli(*args, "--checkpoint", str(ck))
    assert code == 0 and ck.exists(), err
    for other in (
        ["--seed", "2"],
        ["--years", "0.06"],
        ["--primary", "liver"],
        ["--surgery-day", "3"],
    ):
        changed = list(args)
        i = changed.index(other[0]) if other[0] in changed else len(changed)
        changed[i : i + 2] = other
        code, _, err = run_cli(*changed, "--checkpoint", str(ck))
        assert code == 1, (other, err)
        one_line_error(err)
        assert "holds another course" in err
    code, _, err = run_cli(*args, "--checkpoint", str(ck))  # the same course resumes
    assert code == 0, err


def test_wrong_model_keeps_its_own_copy_of_the_body():
    g = tiny_body()
    m = TransportModel(g)
    before = m.fates("lung")
    g.edges["left_heart", "kidney_bed"]["flow"] *= 5
    g.add_node("extra", kind="pool", volume=1.0)
    assert m.fates("lung").equals(before)
    assert not m.with_cells(diameter_um=20.0).body.has_node("extra")
    with pytest.raises(UnknownNameError):
        m.fates("extra")


def test_wrong_overflowing_flows_are_reported(tmp_path):
    g = tiny_body()
    node = next(n for n in g if g.in_degree(n) >= 2)
    for e in g.in_edges(node):
        g.edges[e]["flow"] = 1e308
    found = circnet.problems(g)
    assert any(f"{node!r}" in p and "largest float" in p for p in found), found
    path = circnet.write_body(g, tmp_path / "b.json")
    code, out, err = run_cli("validate", str(path))
    assert code == 1 and "largest float" in out + err


def test_wrong_negative_flow_does_not_hide_another_imbalance():
    g = tiny_body()
    g.edges["left_heart", "kidney_bed"]["flow"] = -1.0
    g.edges["left_heart", "muscle_bed"]["flow"] *= 2
    found = circnet.problems(g)
    assert any("must not be negative" in p for p in found)
    assert any("'muscle_bed': flows do not balance" in p for p in found), found


def test_wrong_self_loop_is_a_problem():
    g = tiny_body()
    g.add_edge("left_heart", "left_heart", flow=1.0, channel="blood")
    with pytest.raises(BodyError, match="self-loop"):
        circnet.validate(g)


def test_wrong_calibrate_counts_beyond_int64_are_refused():
    counts = pd.DataFrame({"primary": ["lung"], "site": ["liver"], "count": [2**63]})
    with pytest.raises(ParameterError, match="2\\*\\*63"):
        circnet.calibrate(counts, tiny_body())


def test_wrong_autopsy_table_needs_n_patients(tmp_path):
    (tmp_path / "a.csv").write_text("series,primary,site,count\nx,lung,liver,3\n")
    with pytest.raises(BodyFileError, match="n_patients"):
        circnet.load_autopsy(tmp_path / "a.csv")


def test_wrong_edited_or_foreign_ensemble_chunk_is_refused(tmp_path):
    design = {"diameter_um": [12.0, 18.0]}
    a, b = tmp_path / "a", tmp_path / "b"
    circnet.ensemble(
        "fates",
        design,
        rng=1,
        primary="lung",
        body=tiny_body(),
        chunk_size=1,
        checkpoint=a,
        max_chunks=1,
    )
    circnet.ensemble(
        "fates",
        design,
        rng=2,
        primary="lung",
        body=tiny_body(),
        chunk_size=1,
        checkpoint=b,
        max_chunks=1,
    )
    chunk = next(a.glob("chunk-*.npz"))
    foreign = a / "copy"
    foreign.mkdir()
    (foreign / chunk.name).write_bytes(next(b.glob("chunk-*.npz")).read_bytes())
    with pytest.raises(CheckpointError, match="another run"):
        circnet.ensemble(
            "fates",
            design,
            rng=1,
            primary="lung",
            body=tiny_body(),
            chunk_size=1,
            checkpoint=foreign,
        )
    with np.load(chunk) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["values"] = arrays["values"] + 0.125  # an edited value, zip CRC valid
    np.savez(chunk, **arrays)
    with pytest.raises(CheckpointError, match="altered"):
        circnet.ensemble(
            "fates", design, rng=1, primary="lung", body=tiny_body(), chunk_size=1, checkpoint=a
        )


def test_wrong_crafted_simulation_checkpoint_is_refused(model, tmp_path):
    ck = tmp_path / "s.npz"
    model.simulate("lung", 1000, [60, 120], rng=1, checkpoint=ck, stop_after=1)
    with np.load(ck) as z:
        arrays = {k: z[k] for k in z.files}
    c = arrays["counts"].copy()
    i, j = np.flatnonzero(c)[0], np.flatnonzero(c == 0)[0]
    c[i] -= 1
    c[j] += 1  # cells moved between states, total kept
    arrays["counts"] = c
    np.savez(ck, **arrays)
    with pytest.raises(CheckpointError, match="altered"):
        model.simulate("lung", 1000, [60, 120], rng=1, checkpoint=ck)


def test_wrong_run_options(model, tmp_path):
    with pytest.raises(ParameterError, match="needs a `checkpoint`"):
        model.simulate("lung", 10, [60, 120], rng=1, stop_after=1)
    res = model.simulate("lung", 10, [60, 120], rng=1, stop_after=1, checkpoint=tmp_path / "c.npz")
    assert res.status == "stopped" and len(res.times) == 1
    with pytest.raises(ParameterError, match="checkpoint_every"):
        model.simulate("lung", 10, [60], rng=1, checkpoint=tmp_path / "d.npz", checkpoint_every=-1)
    with pytest.raises(ParameterError, match="`rng`"):
        model.simulate("lung", 10, [60], rng=True)
    with pytest.raises(ParameterError, match="rel_step"):
        model.sensitivity("colony:lung", "kidney", parameters=["death_rate_blood"], rel_step=0)


# =========================================================================== 1. unbounded work
def test_bound_course_growth_far_above_capacity(big_model):
    with time_limit(20), pytest.raises(ParameterError, match="RK4 sub-steps"):
        circnet.simulate_course(
            big_model, "liver", 0.1, primary_cells=1e9, primary_capacity_cells=1.0
        )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m.simulate("lung", 10, [60], dt=1e-9), "at most 100,000"),
        (lambda m: m.simulate("lung", 10, np.arange(1.0, 200_002.0)), "at most 100,000"),
        (lambda m: circnet.simulate_course(m, "lung", 0.1, dt_days=1e-12), "dt_days"),
        (lambda m: circnet.simulate_course(m, "lung", 2740), "at most 1,000,000"),
        (lambda m: circnet.simulate_course(m, "lung", 0.1, primary_cells=1e300), "primary_cells"),
    ],
    ids=["simulate-dt", "simulate-times", "course-dt", "course-steps", "course-1e300"],
)
def test_bound_refused_before_allocating(model, call, match):
    with time_limit(10), pytest.raises(ParameterError, match=match):
        call(model)


def test_bound_thousand_year_course_is_refused(big_model):
    with time_limit(10), pytest.raises(ParameterError, match="MiB of records"):
        circnet.simulate_course(big_model, "lung", 1000)


def test_bound_long_course_warns(model, tmp_path):
    with pytest.warns(UserWarning, match="may take hours"):
        res = circnet.simulate_course(
            model, "lung", 150, rng=1, checkpoint=tmp_path / "c.npz", stop_day=2
        )
    assert res.status == "stopped"


def test_bound_checkpoint_header_with_huge_course(model, tmp_path):
    ck = tmp_path / "c.npz"
    circnet.simulate_course(model, "lung", 0.05, rng=1, checkpoint=ck)
    saved = load_checkpoint(ck, "course")
    meta = dict(saved.meta)
    run = dict(meta["run"], years=10**12 / 365.25)
    meta.update(run=run, n_steps=10**12)
    meta["fingerprint"] = circnet.course._run_fingerprint(run)
    save_checkpoint(
        ck, "course", meta["fingerprint"], saved.arrays, rng=saved.generator(), meta=meta
    )
    with time_limit(10), pytest.raises(CheckpointError, match="bad parameters.*steps"):
        circnet.resume_course(ck, model)


def hang_forever(params, rng):
    if params["x"] == 1.0:
        time.sleep(60)
    return {"y": params["x"]}


def test_bound_hung_ensemble_member_times_out():
    with time_limit(20):
        res = circnet.ensemble(hang_forever, {"x": [0.0, 1.0, 2.0]}, rng=1, timeout=0.5)
    assert res.table["status"].tolist() == ["ok", "failed", "ok"]
    assert res.table.loc[1, "error"].startswith("TimeoutError")
    with pytest.raises(ParameterError, match="timeout"):
        circnet.ensemble(hang_forever, {"x": [0.0]}, timeout=0)


# =========================================================================== 1. tracebacks
def test_trace_corrupt_course_checkpoints(model, tmp_path):
    ck = tmp_path / "c.npz"
    circnet.simulate_course(model, "lung", 0.1, rng=1, checkpoint=ck, stop_day=10)
    raw = ck.read_bytes()
    bad = {"empty": b"", "half": raw[: len(raw) // 2], "garbage": b"PK\x03\x04" + b"x" * 64}
    bad |= {
        f"flip{i}": raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1 :]
        for i in range(50, len(raw), max(1, len(raw) // 9))
    }
    whole = circnet.resume_course(ck, model).timeseries
    refused = 0
    for name, data in bad.items():
        p = tmp_path / f"{name}.npz"
        p.write_bytes(data)
        # a flipped byte of zip metadata (a time stamp) leaves the data as it was: then the
        # course resumes exactly; any other damage is a CheckpointError
        ok, res = circnet_or_value(lambda p=p: circnet.resume_course(p, model))
        assert isinstance(res, CheckpointError) or res.timeseries.equals(whole), name
        p.write_bytes(data)
        ok2, res = circnet_or_value(
            lambda p=p: circnet.simulate_course(model, "lung", 0.1, rng=1, checkpoint=p)
        )
        assert ok2 == ok and (isinstance(res, CheckpointError) or res.timeseries.equals(whole))
        refused += not ok
    assert refused >= len(bad) - 3  # at most a few flips land in zip time stamps
    p = tmp_path / "half.npz"
    code, _, err = run_cli(
        "course",
        "--laws",
        "mechanistic",
        "--primary",
        "lung",
        "--years",
        "0.1",
        "--checkpoint",
        str(p),
    )
    assert code == 1
    one_line_error(err)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_cells": math.nan},
        {"n_cells": math.inf},
        {"n_cells": None},
        {"times": None},
        {"dt": "1"},
        {"n_cells": 2**80},
    ],
)
def test_trace_simulate_arguments(model, kwargs):
    call = {"source": "lung", "n_cells": 10, "times": [60.0], **kwargs}
    with pytest.raises(ParameterError):
        model.simulate(call.pop("source"), **call)


@pytest.mark.parametrize("counts", [[2**62, 2**62], [2**70, 0], [math.nan, 0], ["x", 0]])
def test_trace_mapping_source(model, counts):
    states = model.transient_states[:2]
    with pytest.raises(ParameterError):
        model.simulate(dict(zip(states, counts, strict=True)))


def test_trace_other_entry_points(model, tmp_path):
    with pytest.raises((ParameterError, UnknownNameError)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fates([])
    with pytest.raises((ParameterError, UnknownNameError)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fates(5)
    with pytest.raises(ParameterError, match="bogus"):
        circnet.CellProfile(bogus=1.0)
    for rng in ("x", -1):
        with pytest.raises(ParameterError, match="rng"):
            circnet.simulate_course(model, "lung", 0.1, rng=rng)
    (tmp_path / "a.csv").write_text("series,primary,site,count,n_patients\n")
    with pytest.raises(BodyFileError, match="no rows"):
        circnet.load_autopsy(tmp_path / "a.csv")


def test_trace_write_body(tmp_path):
    (tmp_path / "d.json").mkdir()
    with pytest.raises(ParameterError, match="directory"):
        circnet.write_body(tiny_body(), tmp_path / "d.json")
    with pytest.raises(ParameterError, match="DiGraph"):
        circnet.write_body(5, tmp_path / "a.json")
    g = tiny_body()
    g.graph["x"] = object()
    for suffix in (".json", ".yaml", ".graphml"):
        with pytest.raises(BodyFileError, match="cannot store a object"):
            circnet.write_body(g, tmp_path / f"o{suffix}")
        assert not (tmp_path / f"o{suffix}").exists()


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_trace_deeply_nested_file(tmp_path, suffix):
    p = tmp_path / f"deep{suffix}"
    p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BodyFileError, match="nested too deeply"):
        circnet.read_body(p)
    code, _, err = run_cli("validate", str(p))
    assert code == 1
    one_line_error(err)
    p.write_text(
        json.dumps({"graph": {"x": json.loads("[" * 150 + "]" * 150)}, "nodes": [], "edges": []})
    )
    with pytest.raises(BodyFileError, match="deeper than 100"):
        circnet.read_body(p)


def test_trace_render_html(tmp_path):
    body = tiny_body()
    with pytest.raises(ParameterError, match="directory"):
        circnet.render_html(body, tmp_path)
    with pytest.raises(ParameterError, match="numbers"):
        circnet.render_html(body, tmp_path / "a.html", overlay={"colony:lung": "abc"})
    with pytest.raises(ParameterError, match="largest float"):
        circnet.render_html(
            body, tmp_path / "b.html", overlay={"colony:lung": 1e308, "tissue:lung": 1e308}
        )


CONFIG = """\
task: {task}
fixed: {{primary: lung, years: 0.05}}
design: {design}
{extra}
"""


@pytest.mark.parametrize(
    "task, design, extra, match",
    [
        ("fates", "{kind: grid, parameters: {diameter_um: [12]}}", "engine: 'nowhere'", "engine"),
        ("fates", "{kind: grid, parameters: {diameter_um: [12]}}", "retries: two", "retries"),
        ("fates", "{kind: grid, parameters: {bogus: [1]}}", "", "bogus"),
        ("course", "{kind: grid, parameters: {bogus: [1]}}", "", "bogus"),
        ("fates", "{kind: lhs, n: 4, parameters: {diameter_um: 12}}", "", "range"),
    ],
    ids=["engine", "retries", "fates-param", "course-param", "lhs-scalar"],
)
def test_trace_ensemble_config(tmp_path, task, design, extra, match):
    p = tmp_path / "c.yaml"
    p.write_text(CONFIG.format(task=task, design=design, extra=extra))
    code, _, err = run_cli("ensemble", "--config", str(p))
    assert code == 1, err
    one_line_error(err)
    assert match in err


def test_trace_cli_simulate_tiny_dt():
    code, _, err = run_cli(
        "simulate", "--primary", "lung", "--cells", "10", "--dt", "1e-9", "--seed", "1"
    )
    assert code == 1
    one_line_error(err)
    assert "at most 100,000" in err


# =========================================================================== 1. files
def test_file_control_characters_round_trip_or_are_refused(tmp_path):
    g = tiny_body()
    g.graph["note"] = "a\x01b\rc\x85d\u2028"
    g.nodes["lung"]["label"] = ""
    for suffix in (".graphml", ".json", ".yaml"):
        assert_same_graph(g, circnet.read_body(circnet.write_body(g, tmp_path / f"b{suffix}")))
    g = nx.relabel_nodes(tiny_body(), {"lung": "lu\x01ng"})
    with pytest.raises(BodyFileError, match="control characters"):
        circnet.write_body(g, tmp_path / "c.graphml")


def test_file_node_ids(tmp_path):
    g = nx.DiGraph()
    g.add_edge((1, 2), (3, 4))
    with pytest.raises(BodyFileError, match="string or an integer"):
        circnet.write_body(g, tmp_path / "t.json")
    g = nx.DiGraph()
    g.add_edge(1, "b", flow=1.0)
    with pytest.raises(BodyFileError, match="GraphML stores node ids as text"):
        circnet.write_body(g, tmp_path / "i.graphml")
    for suffix in (".json", ".yaml"):  # integer ids stay integers
        h = circnet.read_body(circnet.write_body(g, tmp_path / f"i{suffix}"), validate=False)
        assert_same_graph(g, h)


def test_file_doctype_is_refused_before_parsing(tmp_path):
    p = tmp_path / "d.graphml"
    p.write_text(
        '<?xml version="1.0"?><!DOCTYPE g [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="directed">'
        '<node id="&b;"/></graph></graphml>'
    )
    with pytest.raises(BodyFileError, match="document type declaration"):
        circnet.read_body(p, validate=False)
    p.write_bytes(p.read_text().replace('"1.0"?>', '"1.0" encoding="UTF-16"?>').encode("utf-16"))
    with pytest.raises(BodyFileError, match="document type declaration"):
        circnet.read_body(p, validate=False)


def test_file_yaml_aliases_are_refused(tmp_path):
    p = tmp_path / "b.yaml"
    p.write_text("graph: {a: &a [1, 1], b: [*a, *a]}\nnodes: []\nedges: []\n")
    with pytest.raises(BodyFileError, match="aliases"):
        circnet.read_body(p, validate=False)


def test_file_stale_temporary_files_are_removed(tmp_path):
    target = tmp_path / "body.json"
    old = tmp_path / ".body.json.abcd1234.tmp"
    young = tmp_path / ".body.json.efgh5678.tmp"
    other = tmp_path / ".other.json.abcd1234.tmp"
    for p in (old, young, other):
        p.write_text("half")
    long_ago = time.time() - STALE_TEMP_SECONDS - 60
    for p in (old, other):
        os.utime(p, (long_ago, long_ago))
    circnet.write_body(tiny_body(), target)
    assert not old.exists() and young.exists() and other.exists()


# =========================================================================== 2. fuzz
def check_failure(ok_err):
    ok, err = ok_err
    if not ok:
        assert isinstance(err, CircnetError) and str(err).strip()
    return ok


@FAST
@given(graph=random_graphs(), suffix=st.sampled_from([".graphml", ".json", ".yaml"]))
def test_fuzz_write_then_read_is_the_same(tmp_path_factory, graph, suffix):
    path = tmp_path_factory.mktemp("rt") / f"b{suffix}"
    if check_failure(circnet_or_value(lambda: circnet.write_body(graph, path))):
        assert_same_graph(graph, circnet.read_body(path, validate=False))
    else:
        assert not path.exists()


@pytest.mark.slow
@MORE
@given(graph=random_graphs(), suffix=st.sampled_from([".graphml", ".json", ".yaml"]))
def test_fuzz_write_then_read_is_the_same_more(tmp_path_factory, graph, suffix):
    test_fuzz_write_then_read_is_the_same.hypothesis.inner_test(tmp_path_factory, graph, suffix)


_BASE = {}


def _base_file(suffix: str) -> bytes:
    if suffix not in _BASE:
        buf = Path(os.environ.get("TMPDIR", "/tmp")) / f"circnet-fuzz-base-{os.getpid()}{suffix}"
        _BASE[suffix] = circnet.write_body(tiny_body(), buf).read_bytes()
        buf.unlink()
    return _BASE[suffix]


@st.composite
def damaged_files(draw):
    suffix = draw(st.sampled_from([".graphml", ".json", ".yaml", ".yml"]))
    raw = _base_file(".yaml" if suffix == ".yml" else suffix)
    how = draw(st.sampled_from(["bytes", "flip", "splice", "cut"]))
    if how == "bytes":
        return suffix, draw(st.binary(max_size=200))
    if how == "cut":
        return suffix, raw[: draw(st.integers(0, len(raw)))]
    if how == "flip":
        b = bytearray(raw)
        for _ in range(draw(st.integers(1, 5))):
            b[draw(st.integers(0, len(b) - 1))] = draw(st.integers(0, 255))
        return suffix, bytes(b)
    i = draw(st.integers(0, len(raw)))
    j = draw(st.integers(i, min(len(raw), i + 40)))
    return suffix, raw[:i] + draw(st.binary(max_size=30)) + raw[j:]


@st.composite
def structured_files(draw):
    import yaml

    suffix = draw(st.sampled_from([".json", ".yaml"]))
    keys = st.sampled_from(
        [
            "id",
            "source",
            "target",
            "nodes",
            "edges",
            "graph",
            "links",
            "kind",
            "flow",
            "channel",
            "volume",
            "x",
        ]
    )
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4))
    obj = draw(
        st.recursive(
            leaf,
            lambda i: st.one_of(st.lists(i, max_size=4), st.dictionaries(keys, i, max_size=5)),
            max_leaves=25,
        )
    )
    text = json.dumps(obj) if suffix == ".json" else yaml.safe_dump(obj)
    return suffix, text.encode()


@FAST
@given(file=st.one_of(damaged_files(), structured_files()))
def test_fuzz_read_body_any_bytes(tmp_path_factory, file):
    suffix, raw = file
    path = tmp_path_factory.mktemp("rd") / f"f{suffix}"
    path.write_bytes(raw)
    for validate in (False, True):
        ok, got = circnet_or_value(lambda v=validate: circnet.read_body(path, validate=v), 5)
        check_failure((ok, got))
        if ok:
            assert isinstance(got, nx.DiGraph)
            if validate:
                assert circnet.problems(got) == []


@pytest.mark.slow
@MORE
@given(file=st.one_of(damaged_files(), structured_files()))
def test_fuzz_read_body_any_bytes_more(tmp_path_factory, file):
    test_fuzz_read_body_any_bytes.hypothesis.inner_test(tmp_path_factory, file)


def _balanced_exactly(g: nx.DiGraph) -> bool:
    """An oracle for the balance rule, in exact rational arithmetic."""
    from fractions import Fraction

    for n in g:
        fin = sum((Fraction(d["flow"]) for *_, d in g.in_edges(n, data=True)), Fraction(0))
        fout = sum((Fraction(d["flow"]) for *_, d in g.out_edges(n, data=True)), Fraction(0))
        if abs(fin - fout) > Fraction(circnet.body.FLOW_RTOL) * max(fin, fout) * (1 + 1e-6):
            return False
    return True


@st.composite
def edited_bodies(draw):
    g = tiny_body()
    edges = list(g.edges)
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["flow", "loop", "kind", "drop", "attr"]))
        u, v = draw(st.sampled_from(edges))
        if what == "flow" and g.has_edge(u, v):
            g.edges[u, v]["flow"] = draw(st.one_of(numbers, texts, st.none()))
        elif what == "loop":
            g.add_edge(u, u, flow=draw(st.floats(0, 10)), channel="blood")
        elif what == "kind" and u in g:
            g.nodes[u]["kind"] = draw(st.one_of(texts, st.sampled_from(circnet.body.NODE_KINDS)))
        elif what == "drop" and u in g and g.number_of_nodes() > 1:
            g.remove_node(u)
        elif u in g:
            g.nodes[u][draw(st.sampled_from(["volume", "diameter", "organ"]))] = draw(anything)
    return g


@FAST
@given(graph=edited_bodies())
def test_fuzz_problems_validate_and_model(graph):
    with time_limit(10):
        found = circnet.problems(graph)
    assert all(isinstance(p, str) and p for p in found)
    if found:
        with pytest.raises(BodyError):
            circnet.validate(graph)
        check_failure(circnet_or_value(lambda: TransportModel(graph)))
        return
    assert not any(u == v for u, v in graph.edges)
    assert _balanced_exactly(graph)
    ok, m = circnet_or_value(lambda: TransportModel(graph))
    if ok:
        f = m.fates(m.organs[0])
        assert abs(f.sum() - 1) < 1e-9


@pytest.mark.slow
@MORE
@given(graph=edited_bodies())
def test_fuzz_problems_validate_and_model_more(graph):
    test_fuzz_problems_validate_and_model.hypothesis.inner_test(graph)


@FAST
@given(sex=anything, cardiac_output=anything)
def test_fuzz_default_body(sex, cardiac_output):
    check_failure(
        circnet_or_value(lambda: circnet.default_body(sex, cardiac_output=cardiac_output))
    )


@FAST
@given(
    source=st.one_of(anything, st.sampled_from(["lung", "kidney", "node", "all"])),
    arg=anything,
)
def test_fuzz_model_queries(model, source, arg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        check_failure(circnet_or_value(lambda: model.fates(source), 5))
        check_failure(circnet_or_value(lambda: model.fate_table(source), 5))
        check_failure(circnet_or_value(lambda: model.propagate("lung", arg), 5))
        check_failure(circnet_or_value(lambda: model.fates("lung", initial=arg), 5))


small_times = st.one_of(
    anything,
    st.lists(st.floats(0, 1e4), min_size=1, max_size=4),
    st.sampled_from([[60.0], [0.0, 60.0], [1e6]]),
)


@FAST
@given(
    source=st.one_of(st.sampled_from(["lung", "kidney"]), anything),
    n_cells=st.one_of(numbers, anything),
    times=small_times,
    dt=st.one_of(st.none(), numbers, st.floats(1e-3, 1e3)),
    rng=st.one_of(st.none(), st.integers(-3, 2**64), anything),
    shed_rate=st.one_of(st.just(0.0), numbers),
)
def test_fuzz_simulate(model, source, n_cells, times, dt, rng, shed_rate):
    ok, res = circnet_or_value(
        lambda: model.simulate(source, n_cells, times, rng, shed_rate=shed_rate, dt=dt), 10
    )
    check_failure((ok, res))
    if ok:  # exact conservation: every row sums to the cells released
        assert np.array_equal(res.counts.sum(axis=1), res.released)
        assert (res.counts >= 0).all()


@FAST
@given(
    primary=st.one_of(st.sampled_from(["lung", "kidney", "node"]), anything),
    years=st.one_of(st.floats(0, 0.05), numbers, anything),
    rng=st.one_of(st.integers(0, 10), anything),
    kwargs=st.fixed_dictionaries(
        {},
        optional={
            "dt_days": st.one_of(st.floats(0.5, 5), numbers),
            "primary_cells": st.one_of(st.floats(1, 1e12), numbers),
            "primary_capacity_cells": st.one_of(st.floats(1, 1e12), numbers),
            "surgery_day": st.one_of(st.floats(0, 20), numbers),
            "stop_day": numbers,
            "checkpoint_every": numbers,
            "shedding_rate": st.one_of(st.floats(0, 1e9), numbers),
            "bogus": anything,
        },
    ),
)
def test_fuzz_simulate_course(model, tmp_path_factory, primary, years, rng, kwargs):
    if "stop_day" in kwargs or "checkpoint_every" in kwargs:
        kwargs["checkpoint"] = tmp_path_factory.mktemp("c") / "c.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ok, res = circnet_or_value(
            lambda: circnet.simulate_course(model, primary, years, rng, **kwargs), 15
        )
    check_failure((ok, res))
    if ok:
        d = res.daily
        assert (d["shed"] == d[["dead", "colonies", "nodal"]].sum(axis=1)).all()


@FAST
@given(raw=damaged_files().map(lambda f: f[1]), body=st.sampled_from(["tiny", "other"]))
def test_fuzz_resume_course_any_file(model, tmp_path_factory, raw, body):
    path = tmp_path_factory.mktemp("ck") / "c.npz"
    path.write_bytes(raw)
    check_failure(circnet_or_value(lambda: circnet.resume_course(path, model), 5))


#: Text pandas can hold (its Arrow strings refuse lone surrogates when the frame is built).
unicode_texts = texts.filter(lambda t: not any("\ud800" <= c <= "\udfff" for c in t))


@FAST
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.sampled_from(["lung", "kidney"]), unicode_texts),
            st.one_of(st.sampled_from(["lung", "kidney", "muscle", "node"]), unicode_texts),
            st.one_of(numbers, unicode_texts),
            st.one_of(numbers, unicode_texts),
        ),
        max_size=5,
    ),
    columns=st.sampled_from(
        [
            ["primary", "site", "count", "n_patients"],
            ["primary", "site", "count", "x"],
            ["series", "primary", "site", "count"],
        ]
    ),
)
def test_fuzz_calibrate_and_autopsy(tmp_path_factory, rows, columns):
    frame = pd.DataFrame(rows, columns=columns)
    check_failure(
        circnet_or_value(lambda: circnet.calibrate(frame, tiny_body(), intervals=False), 20)
    )
    path = tmp_path_factory.mktemp("a") / "a.csv"
    text = frame.assign(series="x").to_csv(index=False)
    path.write_text(text, encoding="utf-8")
    check_failure(circnet_or_value(lambda: circnet.load_autopsy(path), 5))


@FAST
@given(
    params=st.dictionaries(
        st.one_of(st.sampled_from(["diameter_um", "death_rate_blood", "flow.kidney"]), texts),
        st.one_of(
            anything,
            st.lists(st.floats(1, 30), min_size=1, max_size=3),
            st.tuples(st.floats(1, 10), st.floats(10, 30)),
        ),
        max_size=2,
    ),
    n=st.one_of(st.integers(-2, 8), anything),
    how=st.sampled_from(["grid", "lhs", "sobol", "saltelli"]),
)
def test_fuzz_designs_and_ensemble(params, n, how):
    def design():
        if how == "grid":
            return circnet.grid(params)
        if how == "saltelli":
            return circnet.saltelli(params, n, rng=1)
        return circnet.sample(params, n, method=how, rng=1)

    ok, d = circnet_or_value(design, 10)
    check_failure((ok, d))
    if ok and 0 < len(d) <= 8:
        ok, res = circnet_or_value(
            lambda: circnet.ensemble("fates", d, rng=1, primary="lung", body=tiny_body()), 20
        )
        check_failure((ok, res))
        if ok:
            assert len(res.table) == len(d)


@FAST
@given(
    overlay=st.one_of(
        anything,
        st.dictionaries(
            st.sampled_from(["lung", "colony:lung", "tissue:lung", "dead", "x"]),
            st.one_of(numbers, texts),
            max_size=3,
        ),
    ),
    title=st.one_of(st.none(), texts, anything),
)
def test_fuzz_render_html(tmp_path_factory, overlay, title):
    path = tmp_path_factory.mktemp("h") / "v.html"
    ok, _ = circnet_or_value(lambda: circnet.render_html(tiny_body(), path, overlay, title=title))
    check_failure((ok, _))
    if ok:
        assert path.read_text(encoding="utf-8").rstrip().endswith("</html>")


COMMANDS = ["body", "fates", "simulate", "course", "validate", "ensemble", "render", "report"]
OPTIONS = [
    "--primary",
    "--years",
    "--seed",
    "--cells",
    "--times",
    "--dt",
    "--out",
    "--json",
    "--body",
    "--sex",
    "--checkpoint",
    "--config",
    "--top",
    "--plot",
    "--help",
]


@FAST
@given(
    argv=st.lists(
        st.one_of(
            st.sampled_from(COMMANDS + OPTIONS),
            texts,
            numbers.map(str),
            st.sampled_from(["lung", "-1", "nan", "1e-9", "1e308"]),
        ),
        max_size=6,
    )
)
def test_fuzz_cli(tmp_path_factory, argv):
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cli"))  # files the command writes stay here
    try:
        with time_limit(20):
            code, _, err = run_cli(*argv)
    finally:
        os.chdir(cwd)
    assert code in (0, 1, 2, 130), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 1:
        one_line_error(err)


# --------------------------------------------------------------------------- memory bound
MEMORY_CASES = {
    "simulate-dt": "m.simulate('lung', 10, [60.0], dt=1e-9)",
    "simulate-times": "m.simulate('lung', 10, np.arange(1.0, 1e7))",
    "course-dt": "circnet.simulate_course(m, 'lung', 0.1, dt_days=1e-12)",
    "course-years": "circnet.simulate_course(circnet.default_body(), 'lung', 1000)",
    "course-huge": "circnet.simulate_course(m, 'lung', 1e9)",
}


@pytest.mark.slow
@pytest.mark.skipif(
    not os.path.exists("/proc/self/status"), reason="reads the address space from /proc (Linux)"
)
@pytest.mark.parametrize("case", sorted(MEMORY_CASES))
def test_bound_memory_in_a_subprocess(case):
    """Each allocation case fails cleanly, with 512 MiB of address space beyond what the
    imports and a model take, and in 60 s.

    The limit is set after the imports: their address space (about 1.5 GiB with numpy,
    scipy, pandas and networkx loaded, and thread buffers) varies between machines and
    runs, and a fixed 1.5 GiB limit failed the test's own ``np.arange`` on one CI run.
    """
    code = textwrap.dedent(f"""
        import resource, sys
        import numpy as np, circnet
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from bodies import tiny_body
        m = circnet.TransportModel(tiny_body())
        circnet.simulate_course, circnet.default_body  # resolve the lazy imports first
        size = next(int(x.split()[1]) * 1024 for x in open("/proc/self/status")
                    if x.startswith("VmSize:"))
        limit = size + 512 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            {MEMORY_CASES[case]}
        except circnet.CircnetError as err:
            print("circnet error:", err)
            sys.exit(3)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "MemoryError" not in proc.stderr


def test_hang_helper_fails_a_hang():
    with pytest.raises(Hang), time_limit(0.2):
        time.sleep(5)
