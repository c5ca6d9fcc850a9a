"""Tests of circnet.ensemble: designs, engines, reproducibility, resume, sensitivity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import circnet
from circnet.ensemble import (
    EnsembleResult,
    ensemble,
    grid,
    member_rng,
    run_config,
    saltelli,
    sample,
)
from circnet.errors import CheckpointError, ParameterError, UnknownNameError

SMALL = {"diameter_um": (10.0, 20.0), "lymph_fraction": (0.0, 0.4)}


# ----------------------------------------------------------------------------- tasks used here
def noisy_task(params, rng, *, scale=1.0):
    """Outcome = a parameter plus noise from the member's own stream."""
    return {"y": params["x"] + scale * rng.standard_normal(), "u": rng.random()}


def failing_task(params, rng):
    if params["x"] == 2:
        raise ValueError("x must not be 2")
    return {"y": float(params["x"])}


CALLS: dict[float, int] = {}


def flaky_task(params, rng):
    """Fails on the first call for each member, succeeds on the second."""
    CALLS[params["x"]] = CALLS.get(params["x"], 0) + 1
    if CALLS[params["x"]] == 1:
        raise RuntimeError("transient failure")
    return {"y": float(params["x"])}


def ishigami_task(params, rng, *, a=7.0, b=0.1):
    x1, x2, x3 = params["x1"], params["x2"], params["x3"]
    return {"f": np.sin(x1) + a * np.sin(x2) ** 2 + b * x3**4 * np.sin(x1)}


# ----------------------------------------------------------------------------- designs
def test_grid_is_full_factorial():
    d = grid({"a": [1, 2, 3], "b": [0.1, 0.2]})
    assert len(d) == 6 and d.kind == "grid"
    assert set(map(tuple, d.table.to_numpy())) == {(a, b) for a in (1, 2, 3) for b in (0.1, 0.2)}


@pytest.mark.parametrize("method", ["lhs", "sobol"])
def test_sample_within_ranges_and_reproducible(method):
    d1 = sample(SMALL, 16, method=method, rng=3)
    d2 = sample(SMALL, 16, method=method, rng=3)
    pd.testing.assert_frame_equal(d1.table, d2.table)
    assert d1.table["diameter_um"].between(10, 20).all()
    assert d1.table["lymph_fraction"].between(0, 0.4).all()


def test_lhs_stratifies_each_parameter():
    d = sample({"x": (0.0, 1.0)}, 10, method="lhs", rng=0)
    bins = np.floor(d.table["x"].to_numpy() * 10).astype(int)
    assert sorted(bins) == list(range(10))  # one point per stratum


def test_saltelli_layout_matches_scipy_convention():
    d = saltelli({"a": (0, 1), "b": (0, 1), "c": (0, 1)}, 8, rng=0)
    assert len(d) == 8 * 5
    t = d.table.to_numpy()
    a, b = t[:8], t[8:16]
    for i in range(3):
        ab = t[(2 + i) * 8 : (3 + i) * 8]
        expect = a.copy()
        expect[:, i] = b[:, i]
        np.testing.assert_array_equal(ab, expect)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: grid({}), "at least one"),
        (lambda: grid({"a": []}), "non-empty"),
        (lambda: sample({"a": (1.0, 0.0)}, 4), "high > low"),
        (lambda: sample({"a": "uniform"}, 4), "ppf"),
        (lambda: sample({"a": (0, 1)}, 0), "positive integer"),
        (lambda: sample({"a": (0, 1)}, 4, method="random"), "'lhs' or 'sobol'"),
        (lambda: saltelli({"a": (0, 1)}, 6), "power of 2"),
    ],
)
def test_design_errors(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


# ----------------------------------------------------------------------------- streams
def test_member_streams_are_the_spawned_children():
    root = np.random.SeedSequence(2024)
    children = np.random.SeedSequence(2024).spawn(5)
    for i, child in enumerate(children):
        assert member_rng(root, i).random() == np.random.default_rng(child).random()


def test_results_do_not_depend_on_chunking():
    d = grid({"x": [float(i) for i in range(12)]})
    a = ensemble(noisy_task, d, rng=5, chunk_size=1)
    b = ensemble(noisy_task, d, rng=5, chunk_size=5)
    c = ensemble(noisy_task, d, rng=5)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.table, c.table)
    other = ensemble(noisy_task, d, rng=6)
    assert not np.array_equal(a.table["y"], other.table["y"])


def test_members_have_independent_streams():
    d = grid({"x": [0.0] * 400})
    res = ensemble(noisy_task, d, rng=1)
    u = res.table["u"].to_numpy()
    # 400 uniforms from distinct streams: all distinct, KS test against U(0, 1)
    assert len(np.unique(u)) == 400
    from scipy import stats

    assert stats.kstest(u, "uniform").pvalue > 1e-4


# ----------------------------------------------------------------------------- engines
@pytest.fixture(scope="module")
def fates_design():
    return sample({"diameter_um": (12.0, 18.0), "lymph_fraction": (0.0, 0.3)}, 8, rng=2)


@pytest.fixture(scope="module")
def inprocess_result(fates_design):
    return ensemble("fates", fates_design, rng=11, primary="colon_rectum")


def test_fates_task_matches_direct_model(inprocess_result, fates_design):
    row = fates_design.table.iloc[3]
    cells = circnet.CellProfile(
        diameter_um=row["diameter_um"], lymph_fraction=row["lymph_fraction"]
    )
    direct = circnet.TransportModel(circnet.default_body(), cells).fates("colon_rectum")
    got = inprocess_result.table.loc[3]
    for label in ("colony:liver", "colony:lung", "dead"):
        assert got[f"P({label})"] == direct[label]


def test_processes_engine_bit_identical(inprocess_result, fates_design):
    res = ensemble(
        "fates",
        fates_design,
        rng=11,
        primary="colon_rectum",
        engine="processes",
        n_workers=2,
        chunk_size=3,
    )
    pd.testing.assert_frame_equal(res.table, inprocess_result.table)


@pytest.mark.slow
def test_dask_local_cluster_bit_identical(inprocess_result, fates_design):
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = ensemble("fates", fates_design, rng=11, primary="colon_rectum", engine=client)
    pd.testing.assert_frame_equal(res.table, inprocess_result.table)


def test_bad_engine_and_task():
    with pytest.raises(ParameterError, match="engine"):
        ensemble(noisy_task, grid({"x": [1.0]}), engine="gpu")
    with pytest.raises(UnknownNameError, match="unknown task 'fate'"):
        ensemble("fate", grid({"x": [1.0]}))
    with pytest.raises(ParameterError, match="rng"):
        ensemble(noisy_task, grid({"x": [1.0]}), rng=-1)


# ----------------------------------------------------------------------------- failures
def test_failed_members_are_reported_not_fatal():
    res = ensemble(failing_task, grid({"x": [1.0, 2.0, 3.0]}), retries=2)
    assert list(res.table["status"]) == ["ok", "failed", "ok"]
    bad = res.failed
    assert len(bad) == 1 and bad.iloc[0]["x"] == 2.0
    assert "x must not be 2" in bad.iloc[0]["error"]
    assert bad.iloc[0]["attempts"] == 3
    assert np.isnan(bad.iloc[0]["y"])
    assert res.summary().loc["y", "count"] == 2


def test_transient_failures_are_retried():
    CALLS.clear()
    res = ensemble(flaky_task, grid({"x": [1.0, 2.0]}), retries=1)
    assert (res.table["status"] == "ok").all()
    assert (res.table["attempts"] == 2).all()
    CALLS.clear()
    res = ensemble(flaky_task, grid({"x": [1.0, 2.0]}), retries=0)
    assert (res.table["status"] == "failed").all()


def test_unknown_parameter_of_fates_task_is_a_failed_member():
    res = ensemble("fates", grid({"colour": [1.0]}), primary="lung")
    assert res.table.loc[0, "status"] == "failed"
    assert "colour" in res.table.loc[0, "error"]


# ----------------------------------------------------------------------------- resume
def test_resume_equals_uninterrupted(tmp_path):
    d = grid({"x": [float(i) for i in range(10)]})
    full = ensemble(noisy_task, d, rng=3, chunk_size=2)
    ckpt = tmp_path / "run"
    part = ensemble(noisy_task, d, rng=3, chunk_size=2, checkpoint=ckpt, max_chunks=2)
    assert len(part.table) == 4  # two chunks of two members kept
    assert len(list(ckpt.glob("chunk-*.json"))) == 2
    resumed = ensemble(noisy_task, d, rng=3, chunk_size=2, checkpoint=ckpt)
    pd.testing.assert_frame_equal(resumed.table, full.table)


def test_resume_skips_done_members(tmp_path):
    d = grid({"x": [1.0, 2.0, 3.0, 4.0]})
    ckpt = tmp_path / "run"
    ensemble(noisy_task, d, rng=3, chunk_size=1, checkpoint=ckpt, max_chunks=3)
    CALLS.clear()

    res = ensemble(noisy_task, d, rng=3, chunk_size=1, checkpoint=ckpt)
    assert len(res.table) == 4


def test_checkpoint_of_another_run_is_refused(tmp_path):
    d = grid({"x": [1.0, 2.0]})
    ckpt = tmp_path / "run"
    ensemble(noisy_task, d, rng=3, checkpoint=ckpt, max_chunks=1)
    with pytest.raises(CheckpointError, match="another ensemble"):
        ensemble(noisy_task, d, rng=4, checkpoint=ckpt)
    (ckpt / "manifest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        ensemble(noisy_task, d, rng=3, checkpoint=ckpt)


# ----------------------------------------------------------------------------- sensitivity
def test_sobol_indices_of_ishigami_function():
    """Known indices (Ishigami & Homma 1990; a=7, b=0.1): S1 = (0.314, 0.442, 0),
    ST = (0.558, 0.442, 0.244). The Saltelli estimator with n = 4096 has a standard
    error of about 0.01-0.02 here; a tolerance of 0.06 is about 4 standard errors."""
    pi = np.pi
    d = saltelli({"x1": (-pi, pi), "x2": (-pi, pi), "x3": (-pi, pi)}, 4096, rng=7)
    res = ensemble(ishigami_task, d, rng=0)
    si = res.sensitivity("f")
    a, b = 7.0, 0.1
    v = a**2 / 8 + b * pi**4 / 5 + b**2 * pi**8 / 18 + 0.5
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 / 18 - b**2 * pi**8 / 50
    s1 = np.array([v1 / v, v2 / v, 0.0])
    st = np.array([(v1 + v13) / v, v2 / v, v13 / v])
    np.testing.assert_allclose(si["first_order"].to_numpy(), s1, atol=0.06)
    np.testing.assert_allclose(si["total"].to_numpy(), st, atol=0.06)


def test_sensitivity_needs_saltelli_design():
    res = ensemble(noisy_task, grid({"x": [1.0, 2.0]}), rng=0)
    with pytest.raises(ParameterError, match="saltelli"):
        res.sensitivity("y")


def test_result_type_and_summary(inprocess_result):
    assert isinstance(inprocess_result, EnsembleResult)
    s = inprocess_result.summary()
    assert {"mean", "5%", "95%"} <= set(s.columns)
    assert s.loc["P(colony:liver)", "count"] == 8


# ----------------------------------------------------------------------------- config files
def test_run_config_from_yaml(tmp_path):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(
        "task: fates\n"
        "fixed: {primary: colon_rectum}\n"
        "design:\n  kind: grid\n  parameters: {diameter_um: [12.0, 16.0]}\n"
        "seed: 4\n"
        f"out: {tmp_path / 'sweep.csv'}\n"
    )
    res = run_config(cfg)
    assert len(res.table) == 2
    written = pd.read_csv(tmp_path / "sweep.csv")
    assert list(written["diameter_um"]) == [12.0, 16.0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("task: fates\n", "design"),
        ("task: fates\ndesign: {kind: magic, parameters: {a: [1, 2]}}\n", "kind"),
        ("design: {kind: grid, parameters: {a: [1]}}\n", "task"),
        ("task: [\n", "malformed YAML"),
    ],
)
def test_run_config_errors(tmp_path, text, match):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(circnet.CircnetError, match=match):
        run_config(cfg)


def test_constant_outcome_has_no_sensitivity_indices():
    d = saltelli({"x1": (0.0, 1.0), "x2": (0.0, 1.0)}, 16, rng=0)
    res = ensemble(constant_task, d, rng=0)
    si = res.sensitivity()
    assert si.loc["c"].isna().all().all()
    assert si.loc["f", "x1"]["total"] > 0.5


def constant_task(params, rng):
    return {"c": 3.0, "f": params["x1"]}


def test_bootstrap_intervals_are_reproducible_and_cover_the_estimate():
    d = saltelli({"x1": (0.0, 1.0), "x2": (0.0, 1.0)}, 64, rng=0)
    res = ensemble(constant_task, d, rng=0)
    a = res.sensitivity("f", n_resamples=200, rng=5)
    b = res.sensitivity("f", n_resamples=200, rng=5)
    pd.testing.assert_frame_equal(a, b)
    row = a.loc[("f", "x1")]
    assert row["first_order_low"] <= row["first_order"] <= row["first_order_high"]
    assert row["total_low"] <= row["total"] <= row["total_high"]
