"""Ensemble scaling and overhead, against a plain concurrent.futures loop.

Run on demand (not part of the tests)::

    python benchmarks/bench_ensemble.py            # 1000 courses of 1 year, 1 and 2 workers
    python benchmarks/bench_ensemble.py --quick    # 100 courses, a smoke run
    python benchmarks/bench_ensemble.py --scale    # issue 15 item 2: adaptive dask cluster

Prints one markdown table: wall time for N disease courses with circnet.ensemble on 1 and 2
local processes (parallel efficiency = T1 / (2 T2)), the same work as a plain
ProcessPoolExecutor.map over members (the peer), and the per-member overhead of each
engine measured with a task that does nothing.

``--scale`` measures scale-out with a CPU-bound member function (pure Python, about
0.1 s a member, no I/O): the chunk count and efficiency on 1 and 2 local processes, a dask
LocalCluster of 1 and 2 workers, and an adaptive LocalCluster that starts with 0 workers
(``adapt(minimum=0, maximum=2)``, worker start-up included); then resume across allocation
sizes (a run stopped on 1 worker, resumed on 2 processes or the adaptive cluster); then
the bytes a chunk carries and returns.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

import circnet
from circnet.ensemble import Design, course_task, fates_task, member_rng


def noop_task(params, rng):
    return {"x": params["x"]}


def cpu_task(params, rng, *, work=1_200_000):
    """CPU-bound member: a pure-Python loop (about 0.1 s), deterministic in its stream."""
    u = rng.random()
    s = 0.0
    for k in range(work):
        s += math.sin(k * u)
    return {"s": s, "u": u}


def _plain_course(args):
    i, entropy, years = args
    rng = member_rng(np.random.SeedSequence(entropy), i)
    return course_task({}, rng, primary="colon_rectum", years=years)


def _plain_noop(i):
    return {"x": float(i)}


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int, default=None, help="number of courses (default 1000)")
    ap.add_argument("--years", type=float, default=1.0)
    ap.add_argument("--scale", action="store_true", help="adaptive-cluster scale-out tables")
    args = ap.parse_args()
    if args.scale:
        scale(args.n or (40 if args.quick else 400))
        return
    n = args.n or (100 if args.quick else 1000)
    years = args.years
    # a design with no parameters: every member is a default course with its own stream
    design = Design(pd.DataFrame(index=range(n)))
    rows = []
    print(
        f"# {n} courses of {years:g} year(s), colon primary, default body; "
        f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}"
    )
    t1, r1 = timed(
        lambda: circnet.ensemble(
            "course",
            design,
            rng=1,
            engine="processes",
            n_workers=1,
            primary="colon_rectum",
            years=years,
        )
    )
    t2, r2 = timed(
        lambda: circnet.ensemble(
            "course",
            design,
            rng=1,
            engine="processes",
            n_workers=2,
            primary="colon_rectum",
            years=years,
        )
    )
    same = r1.table.equals(r2.table)
    with ProcessPoolExecutor(2) as pool:
        tp, _ = timed(
            lambda: list(
                pool.map(_plain_course, [(i, 1, years) for i in range(n)], chunksize=max(1, n // 8))
            )
        )
    rows.append(("courses, circnet 1 worker", t1, n / t1, ""))
    rows.append(
        (
            "courses, circnet 2 workers",
            t2,
            n / t2,
            f"efficiency {t1 / (2 * t2):.0%} (target >= 80 %); identical to 1 worker: {same}",
        )
    )
    rows.append(
        (
            "courses, plain ProcessPoolExecutor.map, 2 workers",
            tp,
            n / tp,
            f"circnet / plain time ratio {t2 / tp:.2f}",
        )
    )

    m = 20000
    grid = circnet.grid({"x": [float(i) for i in range(m)]})
    tin, _ = timed(lambda: circnet.ensemble(noop_task, grid, rng=0))
    tpr, _ = timed(
        lambda: circnet.ensemble(noop_task, grid, rng=0, engine="processes", n_workers=2)
    )
    with ProcessPoolExecutor(2) as pool:
        tpl, _ = timed(lambda: list(pool.map(_plain_noop, range(m), chunksize=m // 8)))
    rows.append(
        (
            "overhead per member, circnet in-process",
            tin,
            m / tin,
            f"{1e6 * tin / m:.1f} us per member",
        )
    )
    rows.append(
        (
            "overhead per member, circnet 2 processes",
            tpr,
            m / tpr,
            f"{1e6 * tpr / m:.1f} us per member",
        )
    )
    rows.append(
        (
            "overhead per member, plain executor map",
            tpl,
            m / tpl,
            f"{1e6 * tpl / m:.1f} us per member",
        )
    )
    print("\n| run | wall time (s) | members/s | note |\n|---|---:|---:|---|")
    for name, t, rate, note in rows:
        print(f"| {name} | {t:.2f} | {rate:.1f} | {note} |")


def _chunks(path: Path) -> int:
    return len(list(path.glob("chunk-*.npz")))


def scale(n: int) -> None:
    """Issue 15 item 2: chunk counts, efficiency and resume on an adaptive cluster."""
    from dask.distributed import Client, LocalCluster

    from circnet._ensemble_run import default_chunk_size, design_rows, run_chunk
    from circnet._executors import engine_for

    design = circnet.grid({"x": [float(i) for i in range(n)]})
    tmp = Path(tempfile.mkdtemp(prefix="bench-ensemble-"))
    print(
        f"# {n} CPU-bound members (~0.1 s each); {os.cpu_count()} CPUs shared with other "
        f"users; load {os.getloadavg()[0]:.2f} at start; chunk size "
        f"{default_chunk_size(n)} from the design"
    )

    def cluster(n_workers: int, adaptive: bool = False):
        c = LocalCluster(
            n_workers=0 if adaptive else n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        if adaptive:
            c.adapt(minimum=0, maximum=2, interval="200ms", wait_count=10)
        return c

    runs = []

    def one(name, workers, make_engine, ckpt):
        t0 = time.perf_counter()
        res = make_engine(ckpt)
        t = time.perf_counter() - t0
        runs.append((name, workers, _chunks(ckpt), t, res))

    one(
        "processes",
        1,
        lambda ck: circnet.ensemble(
            cpu_task, design, rng=1, engine="processes", n_workers=1, checkpoint=ck
        ),
        tmp / "p1",
    )
    one(
        "processes",
        2,
        lambda ck: circnet.ensemble(
            cpu_task, design, rng=1, engine="processes", n_workers=2, checkpoint=ck
        ),
        tmp / "p2",
    )
    for label, workers, adaptive in (
        ("dask LocalCluster", 1, False),
        ("dask LocalCluster", 2, False),
        ("dask adaptive 0 -> 2 workers", 2, True),
    ):
        with cluster(workers, adaptive) as c, Client(c) as client:
            if not adaptive:
                client.wait_for_workers(workers)
            start_threads = sum(client.nthreads().values())
            key = f"d{workers}{'a' if adaptive else ''}"
            one(
                f"{label} ({start_threads} at submission)",
                workers,
                lambda ck, client=client: circnet.ensemble(
                    cpu_task, design, rng=1, engine=client, checkpoint=ck
                ),
                tmp / key,
            )
    ref = runs[0][4].table
    t1 = {"processes": runs[0][3], "dask": runs[2][3]}
    print("\n| engine | workers | chunks | wall time (s) | efficiency vs 1 worker | same table |")
    print("|---|---:|---:|---:|---:|---|")
    for name, workers, chunks, t, res in runs:
        base = t1["processes" if name == "processes" else "dask"]
        eff = base / (workers * t)
        same = res.table.equals(ref)
        print(f"| {name} | {workers} | {chunks} | {t:.1f} | {eff:.0%} | {same} |")

    # resume across allocation sizes: stop on 1 worker, resume on 2 processes / adaptive
    print("\n| first run | resumed on | chunks before + after | chunk sizes | same table |")
    print("|---|---|---:|---|---|")
    half = (n // default_chunk_size(n)) // 2
    for target in ("2 processes", "adaptive dask 0 -> 2"):
        ck = tmp / f"resume-{target.split()[0]}"
        circnet.ensemble(
            cpu_task, design, rng=1, engine="processes", n_workers=1, checkpoint=ck, max_chunks=half
        )
        before = _chunks(ck)
        if target == "2 processes":
            res = circnet.ensemble(
                cpu_task, design, rng=1, engine="processes", n_workers=2, checkpoint=ck
            )
        else:
            with cluster(2, True) as c, Client(c) as client:
                res = circnet.ensemble(cpu_task, design, rng=1, engine=client, checkpoint=ck)
        sizes = sorted({len(np.load(p)["member"]) for p in ck.glob("chunk-*.npz")})
        print(
            f"| 1 process, stopped after {half} chunks | {target} | {before} + "
            f"{_chunks(ck) - before} | {sizes} | {res.table.equals(ref)} |"
        )

    # what a chunk carries and returns
    body = circnet.default_body()
    rows = design_rows(circnet.grid({"diameter_um": [12.0] * 8}), np.arange(8))
    root = np.random.SeedSequence(0)
    old = len(pickle.dumps((rows, {"primary": "lung", "body": body})))
    eng = engine_for("processes", 2, shared={"primary": "lung", "body": body})
    new = len(pickle.dumps((rows, eng.shared)))
    chunk = run_chunk(fates_task, rows, root, {"primary": "lung"}, 0)
    per_member = len(pickle.dumps(chunk)) / 8
    print(
        f"\nbytes sent per chunk of 8 fates members with a body graph in `fixed`: {old} "
        f"when `fixed` travels with every chunk, {new} now (sent once per worker); "
        f"result bytes per member: {per_member:.0f} (columnar chunk)"
    )
    print(f"load at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
