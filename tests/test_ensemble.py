"""Tests of circnet.ensemble: designs, engines, reproducibility, resume, sensitivity."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import circnet
from circnet._validation import check_rng
from circnet.ensemble import (
    EnsembleResult,
    _fingerprint,
    ensemble,
    fates_task,
    grid,
    member_rng,
    run_config,
    saltelli,
    sample,
)
from circnet.errors import (
    BodyFileError,
    CheckpointError,
    CircnetError,
    ParameterError,
    UnknownNameError,
)

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


def dying_task(params, rng, *, marker):
    """Kills its worker process the first time it meets x == 3 (a lost worker)."""
    if params["x"] == 3.0 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return noisy_task(params, rng)


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
        (lambda: sample({"a": (0, 1)}, 0), r"`n` must be >= 1"),
        (
            lambda: sample({"a": (0, 1)}, 4, method="random"),
            "`method` must be one of 'lhs', 'sobol'",
        ),
        (lambda: saltelli({"a": (0, 1)}, 6), "power of 2"),
        (lambda: saltelli({"a": (0, 1)}, 1), r"`n` must be >= 2"),
        (lambda: sample({"a": (0, 1)}, 2.5), r"`n` must be a whole number"),
        (lambda: sample({"a": 10.0}, 4), r"distribution of 'a' must be a \(low, high\) range"),
        (lambda: sample({"a": (0, 1, 2)}, 4), r"range of 'a' must be \(low, high\)"),
        (lambda: sample({"a": ("x", 1)}, 4), r"`low of 'a'` must be a number"),
        (lambda: sample({"a": (0, 1)}, 4, rng=True), r"`rng` must be an int >= 0"),
    ],
)
def test_design_errors(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


def test_a_range_may_be_a_list():
    a = sample({"a": [0.0, 2.0]}, 8, rng=1)
    b = sample({"a": (0.0, 2.0)}, 8, rng=1)
    pd.testing.assert_frame_equal(a.table, b.table)


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


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rng": True}, r"`rng` must be an int >= 0"),
        ({"rng": 1.5}, r"`rng` must be an int >= 0"),
        ({"retries": 1.5}, r"`retries` must be a whole number"),
        ({"retries": "2"}, r"`retries` must be an integer"),
        ({"retries": -1}, r"`retries` must be >= 0"),
        ({"chunk_size": 0}, r"`chunk_size` must be >= 1"),
        ({"engine": "processes", "n_workers": 0}, r"`n_workers` must be >= 1"),
        ({"max_chunks": -1}, r"`max_chunks` must be >= 0"),
        ({"progress": "yes"}, r"`progress` must be True or False"),
        ({"engine": "gpu"}, r"`engine` must be one of 'inprocess', 'processes'"),
        ({"engine": 3}, r"`engine` must be .* a concurrent.futures.Executor or a dask"),
    ],
)
def test_argument_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        ensemble(noisy_task, grid({"x": [1.0]}), **kwargs)


def test_rng_refused_with_the_message_of_every_entry_point():
    for bad in (True, -1, 1.5, "1"):
        with pytest.raises(ParameterError) as expected:
            check_rng(bad)
        with pytest.raises(ParameterError) as got:
            ensemble(noisy_task, grid({"x": [1.0]}), rng=bad)
        assert str(got.value) == str(expected.value)


def test_generator_and_seed_sequence_roots():
    d = grid({"x": [0.0, 1.0, 2.0]})
    a = ensemble(noisy_task, d, rng=np.random.SeedSequence(8))
    b = ensemble(noisy_task, d, rng=8)
    pd.testing.assert_frame_equal(a.table, b.table)
    c = ensemble(noisy_task, d, rng=np.random.default_rng(8))
    e = ensemble(noisy_task, d, rng=np.random.default_rng(8))
    pd.testing.assert_frame_equal(c.table, e.table)


def test_any_executor_is_an_engine(inprocess_result, fates_design):
    with ThreadPoolExecutor(max_workers=2) as pool:
        res = ensemble("fates", fates_design, rng=11, primary="colon_rectum", engine=pool)
        assert pool.submit(abs, -1).result() == 1  # not shut down by ensemble
    pd.testing.assert_frame_equal(res.table, inprocess_result.table)


def test_chunk_lost_with_its_worker_process_is_resubmitted(tmp_path):
    d = grid({"x": [float(i) for i in range(8)]})
    expect = ensemble(noisy_task, d, rng=3)
    marker = tmp_path / "died"
    res = ensemble(
        dying_task,
        d,
        rng=3,
        engine="processes",
        n_workers=2,
        chunk_size=2,
        retries=1,
        marker=str(marker),
        checkpoint=tmp_path / "ckpt",
    )
    assert marker.exists()
    pd.testing.assert_frame_equal(res.table, expect.table)
    marker.unlink()
    with pytest.raises(CircnetError, match="lost with their worker processes after 1 attempts"):
        ensemble(
            dying_task, d, rng=3, engine="processes", n_workers=2, retries=0, marker=str(marker)
        )


@pytest.mark.slow
def test_dask_chunk_lost_with_its_worker_is_resubmitted(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    d = grid({"x": [float(i) for i in range(8)]})
    expect = ensemble(noisy_task, d, rng=3)
    marker = tmp_path / "died"
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = ensemble(dying_task, d, rng=3, engine=client, chunk_size=2, marker=str(marker))
    assert marker.exists()
    pd.testing.assert_frame_equal(res.table, expect.table)


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


def test_unknown_parameter_of_fates_task_is_refused_up_front():
    with pytest.raises(ParameterError, match=r"\['colour'\] unknown to the 'fates' task"):
        ensemble("fates", grid({"colour": [1.0]}), primary="lung")
    # a task function called directly still refuses it, as a failed member of a custom task
    res = ensemble(fates_task, grid({"colour": [1.0]}), primary="lung")
    assert res.table.loc[0, "status"] == "failed"
    assert "colour" in res.table.loc[0, "error"]


# ----------------------------------------------------------------------------- resume
def test_resume_equals_uninterrupted(tmp_path):
    d = grid({"x": [float(i) for i in range(10)]})
    full = ensemble(noisy_task, d, rng=3, chunk_size=2)
    ckpt = tmp_path / "run"
    part = ensemble(noisy_task, d, rng=3, chunk_size=2, checkpoint=ckpt, max_chunks=2)
    assert len(part.table) == 4  # two chunks of two members kept
    assert len(list(ckpt.glob("chunk-*.npz"))) == 2
    resumed = ensemble(noisy_task, d, rng=3, chunk_size=2, checkpoint=ckpt)
    pd.testing.assert_frame_equal(resumed.table, full.table)


def test_stopped_early_has_status_and_message(tmp_path):
    d = grid({"x": [float(i) for i in range(6)]})
    part = ensemble(noisy_task, d, rng=3, chunk_size=2, checkpoint=tmp_path, max_chunks=1)
    assert part.status == 1 and "2 of 6 members ran" in part.message
    rest = ensemble(noisy_task, d, rng=3, chunk_size=2, checkpoint=tmp_path)
    assert rest.status == 0 and rest.message == "every member ran (6 of 6)"


def test_resume_with_another_chunk_size_equals_uninterrupted(tmp_path):
    d = grid({"x": [float(i) for i in range(10)]})
    full = ensemble(noisy_task, d, rng=3)
    ensemble(noisy_task, d, rng=3, chunk_size=3, checkpoint=tmp_path, max_chunks=2)
    resumed = ensemble(noisy_task, d, rng=3, chunk_size=4, checkpoint=tmp_path)
    pd.testing.assert_frame_equal(resumed.table, full.table)
    # 3 + 3 members, then the grid of 4 without the members done: 6-7 and 8-9
    names = sorted(p.name for p in tmp_path.glob("chunk-*.npz"))
    assert names == [
        "chunk-000000-000002.npz",
        "chunk-000003-000005.npz",
        "chunk-000006-000007.npz",
        "chunk-000008-000009.npz",
    ]


def test_edited_chunk_is_refused(tmp_path):
    d = grid({"x": [1.0, 2.0]})
    ensemble(noisy_task, d, rng=3, chunk_size=1, checkpoint=tmp_path, max_chunks=1)
    path = next(tmp_path.glob("chunk-*.npz"))
    with np.load(path) as z:
        arrays = dict(z)
    arrays["values"] = arrays["values"] + 1.0
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(CheckpointError, match="altered"):
        ensemble(noisy_task, d, rng=3, chunk_size=1, checkpoint=tmp_path)


def test_old_json_checkpoint_and_file_path_are_refused(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(CheckpointError, match="older circnet"):
        ensemble(noisy_task, grid({"x": [1.0]}), rng=3, checkpoint=tmp_path)
    with pytest.raises(ParameterError, match="`checkpoint` .* must be a directory"):
        ensemble(noisy_task, grid({"x": [1.0]}), rng=3, checkpoint=tmp_path / "manifest.json")
    with pytest.raises(ParameterError, match="`checkpoint` must be a file path"):
        ensemble(noisy_task, grid({"x": [1.0]}), rng=3, checkpoint=5)


def test_checkpoint_fingerprint_of_a_body_is_stable():
    d = grid({"diameter_um": [12.0]})
    root = np.random.SeedSequence(1)
    a = _fingerprint(fates_task, d, root, {"body": circnet.default_body(), "primary": "lung"})
    b = _fingerprint(fates_task, d, root, {"primary": "lung", "body": circnet.default_body()})
    assert a == b
    c = _fingerprint(fates_task, d, root, {"body": circnet.default_body("female")})
    assert a != c


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
    with pytest.raises(CheckpointError, match="another run"):
        ensemble(noisy_task, d, rng=4, checkpoint=ckpt)
    with pytest.raises(CheckpointError, match="another run"):
        ensemble(noisy_task, d, rng=3, checkpoint=ckpt, scale=2.0)
    next(ckpt.glob("chunk-*.npz")).write_text("{not a checkpoint")
    with pytest.raises(CheckpointError, match="unreadable"):
        ensemble(noisy_task, d, rng=3, checkpoint=ckpt)


# ----------------------------------------------------------------------------- sensitivity
@pytest.mark.slow
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


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        (
            "task: fates\ndesign: {kind: lhs, n: 4, parameters: {diameter_um: 10}}\n",
            ParameterError,
            "distribution of 'diameter_um' must be a \\(low, high\\) range",
        ),
        (
            "task: fates\nseeds: 1\ndesign: {kind: grid, parameters: {diameter_um: [10]}}\n",
            BodyFileError,
            r"unknown field\(s\) \['seeds'\]",
        ),
        (
            "task: fates\ndesign: {kind: grid, size: 3, parameters: {diameter_um: [10]}}\n",
            BodyFileError,
            r"unknown field\(s\) \['size'\] in 'design'",
        ),
        (
            "task: fates\nfixed: {primary: lung}\nretries: 0.5\n"
            "design: {kind: grid, parameters: {diameter_um: [10]}}\n",
            ParameterError,
            "`retries` must be a whole number",
        ),
    ],
)
def test_run_config_parameter_errors(tmp_path, text, error, match):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(error, match=match):
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


def test_percentile_bootstrap_matches_scipy_percentile_bootstrap():
    """The count-weighted intervals equal scipy's percentile bootstrap of the same
    estimators over the base points, up to Monte Carlo error (2000 resamples each)."""
    from scipy import stats

    from circnet._sobol import sobol_table

    n, k = 512, 2
    gen = np.random.default_rng(11)
    a, b = gen.uniform(size=(2, n, k))
    blocks = [a, b] + [np.where(np.arange(k) == i, b, a) for i in range(k)]
    x = np.concatenate(blocks)
    y = (x[:, 0] + 0.5 * x[:, 1] ** 2 + 0.3 * x[:, 0] * x[:, 1])[None, :]
    ours = sobol_table(y, n, ["f"], ["x1", "x2"], n_resamples=2000, rng=1)
    yc = y - np.mean(y[:, : 2 * n])
    fa, fb = yc[0, :n], yc[0, n : 2 * n]
    fab = np.stack([yc[0, (2 + i) * n : (3 + i) * n] for i in range(k)])

    def est(idx):
        var = np.var([fa[idx], fb[idx]])
        first = np.mean(fb[idx] * (fab[:, idx] - fa[idx]), axis=-1) / var
        total = 0.5 * np.mean((fa[idx] - fab[:, idx]) ** 2, axis=-1) / var
        return np.concatenate([first, total])

    ref = stats.bootstrap(
        [np.arange(n)], est, method="percentile", n_resamples=2000, vectorized=False, rng=2
    ).confidence_interval
    low = ours[["first_order_low", "total_low"]].to_numpy().T.ravel()
    high = ours[["first_order_high", "total_high"]].to_numpy().T.ravel()
    np.testing.assert_allclose(low, ref.low, atol=0.015)
    np.testing.assert_allclose(high, ref.high, atol=0.015)
    assert np.all(high - low > 0.01)
