"""Ensemble scaling and overhead, against a plain concurrent.futures loop.

Run on demand (not part of the tests)::

    python benchmarks/bench_ensemble.py            # 1000 courses of 1 year, 1 and 2 workers
    python benchmarks/bench_ensemble.py --quick    # 100 courses, a smoke run

Prints one markdown table: wall time for N disease courses with circnet.ensemble on 1 and 2
local processes (parallel efficiency = T1 / (2 T2)), the same work as a plain
ProcessPoolExecutor.map over members (the peer), and the per-member overhead of each
engine measured with a task that does nothing.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

import circnet
from circnet.ensemble import Design, course_task, member_rng


def noop_task(params, rng):
    return {"x": params["x"]}


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
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
