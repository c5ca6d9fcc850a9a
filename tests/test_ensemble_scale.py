"""Tests of ensembles that scale out (issue 15 item 2): chunking from the design, resume
on any allocation, shared inputs sent once, futures released, series kept member x time
x site, job arrays (parts + merge), version checks, the README's dask-jobqueue example."""

from __future__ import annotations

import concurrent.futures as cf
import pickle
import re
import sys
import time
import types
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import circnet
from circnet._ensemble_result import Series
from circnet._ensemble_run import (
    TARGET_CHUNKS,
    default_chunk_size,
    parse_part,
    plan_chunks,
    run_chunk,
)
from circnet._executors import InlineExecutor, engine_for, run_jobs
from circnet.ensemble import ensemble, grid, run_config
from circnet.errors import (
    CheckpointError,
    CircnetError,
    OptionalDependencyError,
    ParameterError,
    UnknownNameError,
)

README = Path(__file__).resolve().parent.parent / "README.md"


def noisy_task(params, rng, *, scale=1.0):
    return {"y": params["x"] + scale * rng.standard_normal(), "u": rng.random()}


def series_task(params, rng):
    """A scalar and a series (time x site); member 3 has a shorter time grid."""
    t = np.arange(2.0 if params["x"] == 3 else 4.0)
    frame = pd.DataFrame({"liver": params["x"] * t, "lung": rng.random(len(t))}, index=t)
    return {"y": float(params["x"]), "cells": frame}


PICKLED = {"n": 0}


class Counted:
    """A fixed argument that counts how often the client pickles it."""

    def __reduce__(self):
        PICKLED["n"] += 1
        return (Counted, ())


def counted_task(params, rng, *, big):
    assert isinstance(big, Counted)
    return {"y": params["x"]}


def chunk_files(path):
    return sorted(p.name for p in Path(path).glob("chunk-*.npz"))


# ----------------------------------------------------------------------------- chunking
@pytest.mark.slow
def test_chunking_follows_the_design_not_the_workers(tmp_path):
    assert default_chunk_size(10) == 1
    assert default_chunk_size(TARGET_CHUNKS * 3) == 3
    assert default_chunk_size(TARGET_CHUNKS * 3 + 1) == 4
    d = grid({"x": [float(i) for i in range(600)]})
    a = ensemble(noisy_task, d, rng=1, checkpoint=tmp_path / "a")
    b = ensemble(noisy_task, d, rng=1, engine="processes", n_workers=2, checkpoint=tmp_path / "b")
    assert chunk_files(tmp_path / "a") == chunk_files(tmp_path / "b")
    assert len(chunk_files(tmp_path / "a")) == len(plan_chunks(600, 3)) == 200
    pd.testing.assert_frame_equal(a.table, b.table)


def test_resume_reuses_the_stored_chunk_size_on_another_allocation(tmp_path):
    d = grid({"x": [float(i) for i in range(20)]})
    full = ensemble(noisy_task, d, rng=4)
    part = ensemble(
        noisy_task,
        d,
        rng=4,
        engine="processes",
        n_workers=1,
        chunk_size=6,
        checkpoint=tmp_path,
        max_chunks=1,
    )
    assert part.status == 1 and "members 6-19 missing" in part.message
    # resumed on two workers without chunk_size: the stored size (6), not the default (1)
    res = ensemble(noisy_task, d, rng=4, engine="processes", n_workers=2, checkpoint=tmp_path)
    pd.testing.assert_frame_equal(res.table, full.table)
    assert chunk_files(tmp_path) == [
        "chunk-000000-000005.npz",
        "chunk-000006-000011.npz",
        "chunk-000012-000017.npz",
        "chunk-000018-000019.npz",
    ]


def test_chunk_of_another_circnet_version_is_refused(tmp_path, monkeypatch):
    d = grid({"x": [1.0, 2.0]})
    ensemble(noisy_task, d, rng=3, chunk_size=1, checkpoint=tmp_path, max_chunks=1)
    monkeypatch.setattr("circnet._ensemble_run.__version__", "99.0")
    with pytest.raises(CheckpointError, match=r"written by circnet .*, this is circnet 99.0"):
        ensemble(noisy_task, d, rng=3, checkpoint=tmp_path)


def test_worker_of_another_version_is_refused(monkeypatch):
    rows = (np.array([0]), ("x",), (np.array([1.0]),))
    root = np.random.SeedSequence(0)
    with pytest.raises(CircnetError, match="the client circnet 0.0.1; install the same"):
        run_chunk(noisy_task, rows, root, {}, 0, None, "0.0.1")
    monkeypatch.setattr(sys.modules["circnet.ensemble"], "__version__", "0.0.2")  # the client
    with pytest.raises(CircnetError, match="the client circnet 0.0.2"):
        ensemble(noisy_task, grid({"x": [1.0]}), rng=0)


# ----------------------------------------------------------------------------- transport
def test_fixed_inputs_go_to_each_worker_once_not_with_every_chunk():
    d = grid({"x": [float(i) for i in range(16)]})
    PICKLED["n"] = 0
    res = ensemble(
        counted_task, d, rng=0, engine="processes", n_workers=2, chunk_size=1, big=Counted()
    )
    assert (res.table["status"] == "ok").all()
    assert PICKLED["n"] <= 2  # 16 chunks; at most once per worker (fork: never)


def test_futures_are_released_as_results_arrive():
    alive: weakref.WeakSet = weakref.WeakSet()

    class Tracking(cf.ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            fut = super().submit(fn, *args, **kwargs)
            alive.add(fut)
            return fut

    pool = Tracking(max_workers=2)
    seen = []
    jobs = {k: (0.01,) for k in range(30)}
    engine = engine_for(pool)
    run_jobs(engine, time.sleep, jobs, lambda k, r: seen.append(len(alive)))
    pool.shutdown()
    assert len(seen) == 30
    assert min(seen[-5:]) <= 6  # the done futures are gone, not all 30 held to the end


def test_inline_engine_still_runs_one_job_at_a_time():
    got = {}
    run_jobs(engine_for("inprocess"), pow, {1: (2, 3), 2: (3, 2)}, got.__setitem__)
    assert got == {1: 8, 2: 9}
    assert isinstance(engine_for("inprocess").make(), InlineExecutor)


# ----------------------------------------------------------------------------- series
def test_series_are_kept_member_by_time_by_site(tmp_path):
    d = grid({"x": [float(i) for i in range(6)]})
    a = ensemble(series_task, d, rng=2, chunk_size=4)
    b = ensemble(series_task, d, rng=2, engine="processes", n_workers=2, chunk_size=1)
    s = a.series["cells"]
    assert s.values.shape == (6, 4, 2) and s.site.tolist() == ["liver", "lung"]
    np.testing.assert_array_equal(s.values[5, :, 0], 5.0 * np.arange(4.0))
    assert np.isnan(s.values[3, 2:, :]).all() and not np.isnan(s.values[3, :2]).any()
    np.testing.assert_array_equal(s.values, b.series["cells"].values)
    tidy = a.series_frame("cells")
    assert len(tidy) == 6 * 4 * 2 - 4 and list(tidy.columns) == ["member", "time", "site", "cells"]
    # a checkpoint keeps the series: a resumed run gives the uninterrupted one
    ensemble(series_task, d, rng=2, chunk_size=2, checkpoint=tmp_path, max_chunks=1)
    c = ensemble(series_task, d, rng=2, chunk_size=2, checkpoint=tmp_path)
    np.testing.assert_array_equal(c.series["cells"].values, s.values)
    with pytest.raises(UnknownNameError, match="unknown series 'nope'"):
        a.series_frame("nope")


def test_series_blocks_merge_on_the_union_of_times_and_sites():
    one = Series.from_frames([2], [pd.DataFrame({"b": [1.0]}, index=[5.0])])
    two = Series.from_frames([0, 1], [pd.DataFrame({"a": [1.0, 2.0]}, index=[0.0, 5.0])] * 2)
    m = Series.merge([one, two])
    assert m.member.tolist() == [0, 1, 2] and m.time.tolist() == [0.0, 5.0]
    assert m.site.tolist() == ["b", "a"]
    np.testing.assert_array_equal(m.values[2], [[np.nan, np.nan], [1.0, np.nan]])


def test_to_dataset_has_members_times_sites():
    xr = pytest.importorskip("xarray")
    d = grid({"x": [1.0, 2.0, 3.0, 4.0]})
    ds = ensemble(series_task, d, rng=2).to_dataset()
    assert isinstance(ds, xr.Dataset)
    assert ds["cells"].dims == ("member", "time", "site")
    assert ds.sizes == {"member": 4, "time": 4, "site": 2}
    assert ds["y"].dims == ("member",) and float(ds["x"][1]) == 2.0
    assert float(ds["cells"].sel(member=3, time=2.0, site="liver")) == 8.0


def test_to_dataset_without_xarray_names_the_dependency(monkeypatch):
    res = ensemble(series_task, grid({"x": [1.0]}), rng=2)
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(OptionalDependencyError, match="needs xarray"):
        res.to_dataset()


def test_course_task_keeps_daily_series_per_site():
    d = grid({"diameter_um": [12.0, 16.0]})
    res = ensemble("course", d, rng=3, primary="lung", years=0.05, series=True)
    s = res.series["total_cells"]
    assert s.values.shape[0] == 2 and s.time[0] == 0.0 and "lung" in s.site.tolist()
    lung = s.site.tolist().index("lung")
    assert s.values[0, 0, lung] > 0  # the primary tumour at day 0
    with pytest.raises(UnknownNameError, match="unknown series \\['cells'\\]"):
        ensemble("course", d, rng=3, primary="lung", years=0.05, series=["cells"])


# ----------------------------------------------------------------------------- job arrays
@pytest.mark.parametrize(
    ("part", "match"),
    [("3", "'i/N'"), ("3/3", r"got 3/3"), ("a/2", "'i/N'"), ((1, 0), "part\\[1\\]"), (5, "got 5")],
)
def test_bad_part_is_refused(part, match):
    with pytest.raises(ParameterError, match=match):
        parse_part(part)


def test_job_array_parts_then_merge_equal_one_run(tmp_path):
    d = grid({"x": [float(i) for i in range(11)]})
    full = ensemble(noisy_task, d, rng=7)
    for i in (2, 0):
        res = ensemble(noisy_task, d, rng=7, checkpoint=tmp_path, part=f"{i}/3")
        assert res.status == 1 and f"part {i}/3 done" in res.message
    early = ensemble(noisy_task, d, rng=7, checkpoint=tmp_path, max_chunks=0)
    assert early.status == 1 and "members 3-6 missing" in early.message
    ensemble(noisy_task, d, rng=7, checkpoint=tmp_path, part=(1, 3), engine="processes")
    merged = ensemble(noisy_task, d, rng=7, checkpoint=tmp_path, max_chunks=0)
    assert merged.status == 0
    pd.testing.assert_frame_equal(merged.table, full.table)


def test_run_config_part_and_merge(tmp_path):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(
        "task: fates\nfixed: {primary: lung}\n"
        "design: {kind: grid, parameters: {diameter_um: [10, 12, 14, 16, 18]}}\n"
        f"seed: 1\ncheckpoint: {tmp_path / 'ck'}\nout: {tmp_path / 'out.csv'}\n"
    )
    run_config(cfg, part="0/2")
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(CircnetError, match="cannot merge yet: members 2-4 missing"):
        run_config(cfg, merge=True)
    run_config(cfg, part="1/2")
    merged = run_config(cfg, merge=True)
    assert merged.status == 0 and len(pd.read_csv(tmp_path / "out.csv")) == 5
    with pytest.raises(ParameterError, match="`part` and `merge` exclude each other"):
        run_config(cfg, part="0/2", merge=True)
    plain = tmp_path / "plain.yaml"
    plain.write_text(cfg.read_text().split("checkpoint:")[0])
    with pytest.raises(circnet.errors.BodyFileError, match="needs field 'checkpoint'"):
        run_config(plain, part="0/2")


# ----------------------------------------------------------------------------- dask
def _local_cluster(distributed, **kw):
    return distributed.LocalCluster(
        n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None, **kw
    )


def _settled_tasks(client, timeout=10.0):
    """Tasks the scheduler still holds, once released futures have reached it.

    Releasing a future is asynchronous: the scheduler forgets the task a moment later, so
    poll (up to ``timeout`` s) until the count is 0 or stops changing.
    """
    deadline = time.monotonic() + timeout
    count = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
    while count and time.monotonic() < deadline:
        time.sleep(0.1)
        count = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
    return count


@pytest.mark.slow
def test_adaptive_cluster_from_zero_workers_gets_design_chunks(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    d = grid({"x": [float(i) for i in range(24)]})
    expect = ensemble(noisy_task, d, rng=5)
    part = ensemble(noisy_task, d, rng=5, chunk_size=4, checkpoint=tmp_path, max_chunks=2)
    assert len(part.table) == 8
    with _local_cluster(distributed) as cluster, distributed.Client(cluster) as client:
        cluster.adapt(minimum=0, maximum=2)
        assert client.nthreads() == {}  # nothing to count at submission
        res = ensemble(noisy_task, d, rng=5, engine=client, checkpoint=tmp_path)
        held = _settled_tasks(client)
        body = circnet.default_body()  # a large fixed input: one task all chunks depend on
        fates = ensemble("fates", grid({"diameter_um": [12.0, 16.0]}), engine=client, body=body)
        shared = _settled_tasks(client)
    pd.testing.assert_frame_equal(res.table, expect.table)
    assert len(chunk_files(tmp_path)) == 6  # the stored chunk size 4, on any allocation
    assert held == 0 and shared == 0  # results and the shared input released
    direct = ensemble("fates", grid({"diameter_um": [12.0, 16.0]}), body=body)
    pd.testing.assert_frame_equal(fates.table, direct.table)


@pytest.mark.slow
def test_readme_dask_jobqueue_example_runs_on_an_adaptive_local_cluster(tmp_path, monkeypatch):
    """The README's SLURM example, with dask_jobqueue.SLURMCluster replaced by an
    adaptive LocalCluster that starts with no worker."""
    distributed = pytest.importorskip("dask.distributed")
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Ensembles, sweeps and clusters") :]
    block = next(b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "SLURM" in b)

    class SLURMCluster(distributed.LocalCluster):
        def __init__(self, **kwargs):
            super().__init__(
                n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None
            )

        def adapt(self, minimum_jobs=0, maximum_jobs=1, **kw):
            return super().adapt(minimum=minimum_jobs, maximum=min(maximum_jobs, 2))

    fake = types.ModuleType("dask_jobqueue")
    fake.SLURMCluster = SLURMCluster
    monkeypatch.setitem(sys.modules, "dask_jobqueue", fake)
    monkeypatch.chdir(tmp_path)
    block = re.sub(r", (\d+), rng=", ", 8, rng=", block)  # a smaller design, same steps
    namespace: dict = {"circnet": circnet}
    exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    result = namespace["result"]
    assert result.status == 0 and (result.table["status"] == "ok").all()
    assert pickle.loads(pickle.dumps(result.table)).shape[0] == 8
