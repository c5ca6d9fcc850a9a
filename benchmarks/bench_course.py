"""Speed of the disease course (issue 5): one 10-year daily course, and 1000 virtual patients.

Targets: one 10-year daily course on the default body with realistic shedding in < 1 s;
1000 virtual patients in < 5 min on 2 cores (processes, one ``SeedSequence.spawn`` stream
each). Prints a table and writes it to ``benchmarks/results/course.md``.

Section "one patient per primary" (issue 14: "a single ten-year course still takes
under 1 s"): ``circnet.simulate_patient`` for patients 0-19 of seed 1 of each primary
(colon_rectum, breast and lung on the female body, prostate on the male body; one
TransportModel per body), ten years after diagnosis, with the default ``history_years``
and with the whole history (``history_years=None``); median and max per primary.

Usage::

    python benchmarks/bench_course.py                 # full run (1000 patients)
    python benchmarks/bench_course.py --patients 100  # quicker
    python benchmarks/bench_course.py --spread-only   # only the per-primary section
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
import circnet  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "course.md"
YEARS = 10
_MODEL: circnet.TransportModel | None = None


def _init_worker(sex: str) -> None:
    global _MODEL
    _MODEL = circnet.TransportModel(circnet.default_body(sex))
    _MODEL.fate_table(list(_MODEL.organs) + list(_MODEL.lymph_nodes))  # factorise once


def _patient(args: tuple[str, np.random.SeedSequence]) -> dict:
    primary, seed = args
    c0 = time.process_time()
    res = circnet.simulate_course(_MODEL, primary, YEARS, rng=np.random.default_rng(seed))
    s = res.summary
    return {
        "cpu": time.process_time() - c0,
        "first_detectable_day": s["first_detectable_metastasis_day"],
        "first_detectable_site": s["first_detectable_metastasis_site"],
        "vascular_metastases": s["vascular_metastases_end"],
        "metastatic_cells": s["vascular_metastasis_cells_end"],
        "rows": len(res.events),
    }


def single_course(primary: str, sex: str, repeats: int = 5) -> dict:
    model = circnet.TransportModel(circnet.default_body(sex))
    model.fates(primary)
    wall, cpu = [], []
    for seed in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = circnet.simulate_course(model, primary, YEARS, rng=seed)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "case": f"one {YEARS}-year daily course, {primary} ({sex}), median of {repeats}",
        "wall s": statistics.median(wall),
        "CPU s": statistics.median(cpu),
        "target": "< 1 s",
        "note": f"{repeats} seeds; {int(res.daily['shed'].sum()):.3g} cells shed, "
        f"{int(res.summary['cells_disseminated_to_organs']):.3g} cells disseminated (last seed)",
    }


def patient_course(primary: str, sex: str, old: dict, repeats: int = 5) -> list[dict]:
    """``circnet.simulate_patient`` (the clinical cohort engine for one patient, with its
    daily frame), against the old daily course loop measured in the same run."""
    from circnet.patient import simulate_patient

    body = circnet.default_body(sex)
    model = circnet.TransportModel(body)
    simulate_patient(model, primary, rng=0, years=YEARS)  # factorise once
    rows = []
    for label, target in (("TransportModel", model), ("body graph", body)):
        wall, cpu, stride = [], [], []
        for seed in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            res = simulate_patient(target, primary, rng=seed, years=YEARS)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            stride.append(int(res.summary["cell_sums_exact_every_days"]))
        rows.append(
            {
                "case": f"one patient, {YEARS} years after diagnosis, {primary} ({sex}), "
                f"{label}, median of {repeats}",
                "wall s": statistics.median(wall),
                "CPU s": statistics.median(cpu),
                "target": "< 1 s" if label == "TransportModel" else "",
                "note": f"{old['CPU s'] / statistics.median(cpu):.1f}x less CPU than the old "
                f"daily course in this run; max {max(cpu):.2f} CPU s; cell-sum strides "
                f"{stride}",
            }
        )
    return rows


SPREAD = (
    ("colon_rectum", "female"),
    ("breast", "female"),
    ("lung", "female"),
    ("prostate", "male"),
)
_BEGIN, _END = "<!-- patient spread: begin -->", "<!-- patient spread: end -->"


def patient_spread(n: int = 20, full: bool = True) -> pd.DataFrame:
    """Wall and CPU seconds of ``simulate_patient`` for patients ``0 .. n-1`` of seed 1."""
    from circnet.patient import HISTORY_YEARS, simulate_patient

    rows = []
    models: dict[str, circnet.TransportModel] = {}
    for primary, sex in SPREAD:
        if sex not in models:
            models[sex] = circnet.TransportModel(circnet.default_body(sex))
        model = models[sex]
        simulate_patient(model, primary, rng=1, years=YEARS)  # factorise once
        for hist in (HISTORY_YEARS, None) if full else (HISTORY_YEARS,):
            wall, cpu, diag, cut = [], [], [], 0
            for who in range(n):
                t0, c0 = time.perf_counter(), time.process_time()
                c = simulate_patient(
                    model, primary, rng=1, years=YEARS, patient=who, history_years=hist
                )
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                diag.append(int(c.summary["diagnosis_day"]))
                cut += int(c.history_from_day > 0)
            worst = int(np.argmax(wall))
            rows.append(
                {
                    "primary": f"{primary} ({sex})",
                    "history_years": "None (from day 0)" if hist is None else f"{hist:g}",
                    "median wall s": statistics.median(wall),
                    "max wall s": max(wall),
                    "median CPU s": statistics.median(cpu),
                    "max CPU s": max(cpu),
                    "slowest": f"patient {worst}, diagnosed on day {diag[worst]} "
                    f"({diag[worst] / 365.25:.0f} years)",
                    "frames cut": f"{cut} of {n}" if hist is not None else "",
                }
            )
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def preclinical(n: int = 1000) -> pd.DataFrame:
    """The preclinical phase (diagnosis day) of ``n`` patients of seed 1 per primary: how
    many a daily frame of ``HISTORY_YEARS`` before diagnosis shows from day 0."""
    from circnet.patient import HISTORY_YEARS

    rows = []
    for primary, sex in SPREAD:
        model = circnet.TransportModel(circnet.default_body(sex))
        d = circnet.simulate_cohort(model, primary, n, rng=1, years=1).patients["diagnosis_day"]
        y = d.to_numpy(float) / 365.25
        rows.append(
            {
                "primary": f"{primary} ({sex})",
                "median years": float(np.median(y)),
                "90th percentile": float(np.quantile(y, 0.9)),
                "longest": float(y.max()),
                f"whole phase shown ({HISTORY_YEARS:g} y)": f"{(y <= HISTORY_YEARS).mean():.1%}",
            }
        )
    return pd.DataFrame(rows)


def _write_spread(table: pd.DataFrame, n: int, pre: pd.DataFrame) -> None:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    section = "\n".join(
        [
            _BEGIN,
            "## One patient per primary (`simulate_patient`, issue 14)",
            "",
            f"Patients 0-{n - 1} of seed 1, {YEARS} years after diagnosis, one "
            "TransportModel per body (built and factorised before timing); wall and CPU "
            "seconds of each call (CPU counts every thread, so it can exceed wall). Target: "
            f"max wall < 1 s. Load average {load[0]:.2f} at the end (2 shared cores). "
            "`history_years=None` is the old frame (every day from day 0).",
            "",
            _markdown(table),
            "",
            "Preclinical phase (day 0 to diagnosis, years) of 1000 patients of seed 1 per "
            "primary, and the share whose whole preclinical phase the default frame shows:",
            "",
            _markdown(pre),
            _END,
            "",
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else ""
    if _BEGIN in text and _END in text:
        head, rest = text.split(_BEGIN, 1)
        text = head + section + rest.split(_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def cohort(n: int, processes: int, primary: str = "colon_rectum", sex: str = "male") -> tuple:
    seeds = np.random.SeedSequence(20240501).spawn(n)
    t0 = time.perf_counter()
    ctx = mp.get_context("fork" if sys.platform != "win32" else "spawn")
    with ctx.Pool(processes, initializer=_init_worker, initargs=(sex,)) as pool:
        rows = pool.map(_patient, [(primary, s) for s in seeds], chunksize=max(1, n // 40))
    wall = time.perf_counter() - t0
    table = pd.DataFrame(rows)
    cpu = float(table["cpu"].sum())
    return {
        "case": f"{n} virtual patients, {primary}, {YEARS} years, {processes} processes",
        "wall s": wall,
        "CPU s": cpu,
        "target": "< 300 s" if n >= 1000 else f"< {300 * n / 1000:.0f} s (pro rata)",
        "note": f"wall and total CPU; CPU / {processes} = {cpu / processes:.0f} s on "
        f"{processes} dedicated cores; median {table['cpu'].median():.2f} CPU s per course",
    }, table


def _markdown(table: pd.DataFrame) -> str:
    def fmt(x: object) -> str:
        return f"{x:.3f}" if isinstance(x, float) else str(x)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(fmt(x) for x in row) + " |" for row in table.itertuples(False)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--spread-only", action="store_true", help="only the per-primary section")
    ap.add_argument("--spread-patients", type=int, default=20)
    args = ap.parse_args(argv)
    spread = patient_spread(args.spread_patients)
    print(spread.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    pre = preclinical()
    print(pre.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    if args.spread_only:
        if not args.no_save:
            _write_spread(spread, args.spread_patients, pre)
            print(f"\nwritten to {RESULTS}")
        return
    rows = [single_course("colon_rectum", "male"), single_course("breast", "female")]
    rows += patient_course("colon_rectum", "male", rows[0])
    rows += patient_course("breast", "female", rows[1])
    c, table = cohort(args.patients, args.processes)
    rows.append(c)
    out = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(out.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    det = table["first_detectable_day"]
    print(
        f"\ncohort: {det.notna().mean():.0%} with a detectable metastasis by {YEARS} years; "
        f"median day {det.median():.0f}; sites: "
        + ", ".join(f"{k} {v}" for k, v in table["first_detectable_site"].value_counts().items())
    )
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
        text = [
            "# Disease course benchmark (`benchmarks/bench_course.py`)",
            "",
            f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
            f"visible, Python {platform.python_version()}, numpy {np.__version__}; "
            f"load average at the end {load[0]} (the cores are shared with other work: "
            "wall times include waiting for a core, CPU times do not).",
            "",
            _markdown(out),
            "",
            f"Cohort: {det.notna().mean():.0%} of {len(table)} patients have a detectable "
            f"metastasis by {YEARS} years (median day {det.median():.0f}); first sites: "
            + ", ".join(
                f"{k} {v}" for k, v in table["first_detectable_site"].value_counts().items()
            )
            + ".",
            "",
        ]
        RESULTS.write_text("\n".join(text))
        _write_spread(spread, args.spread_patients, pre)
        print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
