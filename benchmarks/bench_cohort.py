"""Cohort engine throughput against the one-course-at-a-time loop (same run).

Prints a table and writes ``benchmarks/results/bench_cohort.txt``:

* the batched engine (:func:`circnet.cohort.simulate_cohort`) on ``N`` patients per
  primary (10 years of follow-up after diagnosis, i.e. longer than a 10-year course);
* the one-patient-at-a-time loop under the same laws, :func:`circnet.simulate_patient`
  (the same engine for one patient plus its daily frame; 10 years after diagnosis) on
  ``N_PATIENT`` patients, extrapolated per patient to ``N`` (like for like);
* the loop of the mechanistic course :func:`circnet.simulate_course` (Hahnfeldt laws, 10
  years from day 0, the issue's "one course at a time") on ``N_COURSE`` patients,
  extrapolated per patient to ``N``;
* 1e5 patients extrapolated from the measured engine rate;
* memory per patient: peak traced allocations of a chunk (tracemalloc) over its size.

Usage: ``python benchmarks/bench_cohort.py [N] [N_COURSE] [N_PATIENT]`` (defaults 1000, 3
and 20).
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

import circnet
from circnet._clinical import clinical_params, patient_seed
from circnet._cohort_engine import make_plan, patient_keys, run_chunk
from circnet.cohort import simulate_cohort

PRIMARIES = {"colon_rectum": "male", "breast": "female", "lung": "male", "prostate": "male"}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    n_course = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    n_patient = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    lines = [
        f"cohort engine vs one-patient-at-a-time loops ({n} patients; simulate_patient loop "
        f"on {n_patient}, mechanistic simulate_course loop on {n_course}, extrapolated)",
        "",
        "| primary | engine s (N) | simulate_patient s/patient (median, max) | speed-up vs "
        "patient loop | simulate_course s/patient | speed-up vs course loop | 1e5 patients "
        "(extrapolated) | memory per patient |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for primary, sex in PRIMARIES.items():
        model = circnet.TransportModel(circnet.default_body(sex))
        t0 = time.perf_counter()
        simulate_cohort(model, primary, n, rng=1, years=10)
        engine = time.perf_counter() - t0
        print(f"  {primary} cohort of {n}: {engine:.1f} s", flush=True)
        times = []
        for i in range(n_course):
            t0 = time.perf_counter()
            circnet.simulate_course(model, primary, 10, rng=patient_seed(1, i))
            times.append(time.perf_counter() - t0)
            print(f"  {primary} course {i}: {times[-1]:.1f} s", flush=True)
        per = float(np.mean(times))
        ptimes = []
        for i in range(n_patient):
            t0 = time.perf_counter()
            circnet.simulate_patient(model, primary, rng=1, years=10, patient=i)
            ptimes.append(time.perf_counter() - t0)
        pper = float(np.mean(ptimes))
        print(f"  {primary} patients: mean {pper:.2f} s, max {max(ptimes):.2f} s", flush=True)
        plan = make_plan(
            model, primary, clinical_params(primary), surgery=True, follow_up=3652.5, grid=256
        )
        tracemalloc.start()
        run_chunk(plan, patient_keys(2, np.arange(500)))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        lines.append(
            f"| {primary} | {engine:.1f} | {pper:.2f} ({np.median(ptimes):.2f}, "
            f"{max(ptimes):.2f}) | {pper * n / engine:.0f}x | {per:.2f} | "
            f"{per * n / engine:.0f}x | {engine * 1e5 / n / 60:.0f} min | "
            f"{peak / 500 / 1024:.0f} KiB |"
        )
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).with_name("results") / "bench_cohort.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
