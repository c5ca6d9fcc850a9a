"""``circnet course`` under the clinical laws: one virtual patient, or a virtual cohort.

:func:`patient_course` runs :func:`circnet.simulate_patient` (one patient of the seed's
cohort: ``--patient K``) and writes the course report; :func:`cohort_course` runs
:func:`circnet.simulate_cohort` for ``--cohort N`` patients and writes the cohort's
report (:func:`circnet._cohort_report.cohort_report`) and per-patient table. The
command (:func:`circnet._cli_commands._cmd_course`) has checked the options and output
paths and built the body and transport model before; the mechanistic course stays
there. Results go to stdout (a table, or JSON with ``--json``), messages to stderr.

Examples
--------
>>> import argparse
>>> ns = argparse.Namespace(laws="clinical", sex="female", body=None, population="single",
...                         years=5.0, scenario=None, patient=None, cohort=20)
>>> command_line(ns, "breast", 1)
'circnet course --primary breast --sex female --years 5 --seed 1 --cohort 20'
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from ._cli_output import plain, print_json, say, table, text
from ._cohort_report import cohort_report
from ._progress import Progress, progress
from .cohort import CohortResult, simulate_cohort
from .patient import HISTORY_YEARS, simulate_patient
from .report import course_report
from .transport import TransportModel

__all__ = ["patient_course", "cohort_course", "command_line"]


def command_line(args: argparse.Namespace, primary: str, seed: int) -> str:
    """The ``circnet course`` command that repeats this run (shown in the reports)."""
    cmd = ["circnet course", f"--primary {shlex.quote(primary)}"]
    if getattr(args, "laws", "clinical") != "clinical":
        cmd.append(f"--laws {args.laws}")
    if getattr(args, "sex", None):
        cmd.append(f"--sex {args.sex}")
    if getattr(args, "body", None) is not None:
        cmd.append(f"--body {shlex.quote(str(args.body))}")
    if getattr(args, "population", "single") != "single":
        cmd.append(f"--population {args.population}")
    cmd += [f"--years {args.years:g}", f"--seed {seed}"]
    if getattr(args, "scenario", None) is not None:
        cmd.append(f"--scenario {args.scenario}")
    if getattr(args, "patient", None) is not None:
        cmd.append(f"--patient {args.patient}")
    if getattr(args, "cohort", None) is not None:
        cmd.append(f"--cohort {args.cohort}")
    history = getattr(args, "history_years", None)
    if history is not None:
        cmd.append(f"--history-years {history if history == 'all' else format(history, 'g')}")
    return " ".join(cmd)


def _scenario(args: argparse.Namespace) -> str:
    return str(args.scenario) if args.scenario is not None else "surgery"


def _notes(args: argparse.Namespace, body: nx.DiGraph, seconds: float, seed: int) -> list[str]:
    src = str(args.body) if args.body is not None else body.graph.get("name", "reference body")
    return [
        f"Body: {src}. Seed: {seed}. Simulated in {seconds:.1f} s.",
        "Command: " + command_line(args, str(args.primary), seed),
    ]


# --------------------------------------------------------------------------- one patient
def patient_course(
    args: argparse.Namespace,
    body: nx.DiGraph,
    model: TransportModel,
    primary: str,
    seed: int,
    out: Path | None,
) -> int:
    """Run one virtual patient (clinical laws), print its summary, write its report."""
    patient = 0 if args.patient is None else int(args.patient)
    scenario = _scenario(args)
    stages = ["course"] + (["report"] if out else [])
    with Progress(progress(len(stages), "", args.progress, unit="stage")) as bar:
        bar.describe(f"simulating patient {patient}, {args.years:g} years after diagnosis")
        t0 = time.perf_counter()
        history = getattr(args, "history_years", None)
        shown = HISTORY_YEARS if history is None else None if history == "all" else float(history)
        res = simulate_patient(
            model,
            primary,
            rng=seed,
            years=args.years,
            scenario=scenario,
            patient=patient,
            history_years=shown,
        )
        seconds = time.perf_counter() - t0
        bar.update()
        if out is not None:
            bar.describe("writing the report")
            course_report(
                res,
                body,
                out,
                fates=model.fates(primary),
                notes=_notes(args, body, seconds, seed),
                plots=not args.no_plots,
            )
            bar.update()
    summary = dict(res.summary.items())
    if args.json:
        payload = {str(k): plain(v) for k, v in summary.items()}
        print_json({**payload, "seed": seed, "patient": patient, "scenario": scenario})
    else:
        print(
            f"Clinical course of patient {patient} with a primary in {primary} "
            f"({scenario}, {args.years:g} years after diagnosis, seed {seed}):"
        )
        words = dict(getattr(res, "summary_words", {}))
        rows = [[words.get(str(k), str(k).replace("_", " ")), text(v)] for k, v in summary.items()]
        print(table(rows, ["", "value"]))
    if getattr(res, "status", "finished") != "finished":
        say(f"circnet: note: status {res.status}: {getattr(res, 'message', '')}".rstrip(": "))
    if out is not None:
        say(f"wrote {out}: open it in a browser (e.g. xdg-open {out}); it works offline")
    return 0


# --------------------------------------------------------------------------- a cohort
def _figures_payload(res: CohortResult) -> dict[str, dict[str, Any]]:
    return {
        str(name): {k: plain(r[k]) for k in ("value", "low", "high", "n", "unit")}
        for name, r in res.figures().iterrows()
    }


def _interval(low: float, high: float) -> str:
    return "-" if np.isnan(low) else f"{text(low)} to {text(high)}"


def cohort_course(
    args: argparse.Namespace,
    body: nx.DiGraph,
    model: TransportModel,
    primary: str,
    seed: int,
    out: Path | None,
    table_path: Path | None,
) -> int:
    """Run ``--cohort N`` virtual patients; print the figures; write report and table."""
    n = int(args.cohort)
    scenario = _scenario(args)
    stages = ["cohort"] + (["report"] if out else []) + (["table"] if table_path else [])
    with Progress(progress(len(stages), "", args.progress, unit="stage")) as bar:
        bar.describe(f"simulating {n} patients")
        t0 = time.perf_counter()
        res = simulate_cohort(model, primary, n, rng=seed, years=args.years, scenario=scenario)
        seconds = time.perf_counter() - t0
        bar.update()
        if out is not None:
            bar.describe("writing the report")
            notes = _notes(args, body, seconds, seed)
            cohort_report(
                res,
                out,
                notes=notes[:1],
                command=command_line(args, primary, seed),
                plots=not args.no_plots,
            )
            bar.update()
        if table_path is not None:
            bar.describe("writing the table")
            res.save(table_path)
            bar.update()
    if args.json:
        print_json(
            {
                "primary": primary,
                "patients": n,
                "scenario": scenario,
                "years": args.years,
                "seed": seed,
                "status": res.status,
                "figures": _figures_payload(res),
            }
        )
    else:
        print(
            f"Virtual cohort of {n} patients with a primary in {primary} ({scenario}, "
            f"{args.years:g} years after diagnosis, seed {seed}):"
        )
        rows = [
            [str(name), text(r["value"]), _interval(r["low"], r["high"]), text(int(r["n"])),
             str(r["unit"])]
            for name, r in res.figures().iterrows()
        ]  # fmt: skip
        print(table(rows, ["figure", "value", "95 % interval", "n", "unit"]))
        if res.status != "finished":
            say(f"circnet: note: status {res.status}: some patients had more colonies than "
                "the engine follows (see the table's colonies_cut)")  # fmt: skip
    if out is not None:
        say(f"wrote {out}: open it in a browser (e.g. xdg-open {out}); it works offline")
    if table_path is not None:
        say(f"wrote {table_path}")
    return 0
