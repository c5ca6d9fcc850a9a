"""The commands of ``circnet``: each takes the parsed arguments and returns an exit status.

:func:`circnet.cli.main` imports this module only after parsing, so ``--help`` and
``--version`` never load the models. A command reads its body (the reference body or
``--body FILE``), resolves site names (:func:`resolve_site`), calls the functions of
the package and prints through :mod:`circnet._cli_output`. Nothing here relies on the
default body's node names: sites are organs (found by kind) or lymph-node groups.

Examples
--------
>>> import circnet
>>> resolve_site(circnet.default_body(), "axillary")
'axillary_nodes'
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, overload

import networkx as nx
import numpy as np
import pandas as pd

from .__main__ import format_summary
from ._cli_course import cohort_course, patient_course
from ._cli_output import plain, print_json, say, table, text
from ._figure import PLOT_FORMATS
from ._progress import Progress, progress
from ._validation import check_int, check_number, check_path
from .body import default_body, lymph_nodes, organs, problems
from .course import resume_course, simulate_course
from .ensemble import EnsembleResult, run_config
from .errors import ParameterError, UnknownNameError
from .io import FORMATS, read_body, write_body
from .plots import group_states, plot_fates, plot_propagation
from .population import CellPopulation
from .render import render_html
from .report import course_report
from .states import DEAD
from .transport import TransportModel

__all__ = ["COMMANDS", "resolve_site"]


# --------------------------------------------------------------------------- sites
def _load_body(args: argparse.Namespace) -> nx.DiGraph:
    if args.body is not None:
        if args.sex is not None:
            say("circnet: note: --sex applies to the reference body only; using", args.body)
        return read_body(args.body)
    return default_body(args.sex or "male")


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def resolve_site(body: nx.DiGraph, name: str) -> str:
    """The organ or lymph-node group that ``name`` stands for.

    Exact names first; otherwise a unique organ or group whose name starts with
    ``name`` or has it as a word (``colon`` -> ``colon_rectum``, ``axillary`` ->
    ``axillary_nodes``). Ambiguous or unknown names raise
    :class:`~circnet.UnknownNameError` listing the candidates or every valid name.

    Examples
    --------
    >>> import circnet
    >>> resolve_site(circnet.default_body(), "colon")
    'colon_rectum'
    """
    sites = [str(s) for s in (*organs(body), *lymph_nodes(body))]
    if name in sites:
        return name
    norm = _normal(name)
    exact = [s for s in sites if _normal(s) == norm]
    if len(exact) == 1:
        return exact[0]
    found = [s for s in sites if norm and (s.startswith(norm) or norm in s.split("_"))]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise UnknownNameError(f"site {name!r} is ambiguous: it could be {', '.join(found)}")
    hint = ""
    sex = body.graph.get("sex")
    if sex in ("male", "female"):
        other = "female" if sex == "male" else "male"
        if norm in {_normal(o) for o in organs(default_body(other))}:
            hint = f" ({name!r} is an organ of the {other} body: use --sex {other})"
    raise UnknownNameError(
        f"unknown site {name!r}{hint}; organs: {', '.join(map(str, organs(body)))}; "
        f"lymph-node groups: {', '.join(map(str, lymph_nodes(body)))}"
    )


def _site(body: nx.DiGraph, name: str) -> str:
    site = resolve_site(body, name)
    if site != name:
        say(f"circnet: note: {name!r} taken as {site!r}")
    return site


# --------------------------------------------------------------------------- outputs, seeds
_HTML = (".html", ".htm")
_CHECKPOINT = (".npz",)
_CSV = (".csv",)


@overload
def output_path(path: Path, option: str, suffixes: tuple[str, ...], what: str) -> Path: ...
@overload
def output_path(path: None, option: str, suffixes: tuple[str, ...], what: str) -> None: ...
def output_path(
    path: Path | None, option: str, suffixes: tuple[str, ...], what: str
) -> Path | None:
    """``path`` checked before any work starts, or None if the option was not given.

    A directory, a parent folder that is missing or is a file, or a folder that cannot
    be written is refused, naming the user's path and the reason (no folder is ever
    created). A path without a suffix gets ``suffixes[0]``, with a note; another suffix
    is refused, since the file would not hold what its name says.

    Examples
    --------
    >>> output_path(Path("report"), "--out", _HTML, "the report (an HTML page)")
    PosixPath('report.html')
    >>> output_path(Path("report.png"), "--out", _HTML, "the report (an HTML page)")
    Traceback (most recent call last):
    ...
    circnet.errors.ParameterError: `--out` 'report.png': the report (an HTML page) needs a name ...
    """
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise ParameterError(f"`{option}` {str(p)!r} is a directory; give a file name")
    if not p.suffix:
        p = p.with_name(p.name + suffixes[0])
        say(f"circnet: note: {option} {str(path)!r} has no suffix; writing {str(p)!r}")
    elif p.suffix.lower() not in suffixes:
        raise ParameterError(
            f"`{option}` {str(p)!r}: {what} needs a name ending in {_either(suffixes)} "
            f"(got {p.suffix!r})"
        )
    return check_path(p, option, writable=True)


def _either(suffixes: tuple[str, ...]) -> str:
    return suffixes[0] if len(suffixes) == 1 else f"{', '.join(suffixes[:-1])} or {suffixes[-1]}"


def _seed(args: argparse.Namespace) -> int:
    """The seed of the run: ``--seed``, or one drawn from fresh entropy and printed."""
    if args.seed is not None:
        return int(args.seed)
    seed = int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    say(f"circnet: seed {seed} (no --seed given; repeat this run with --seed {seed})")
    return seed


# --------------------------------------------------------------------------- commands
def _cmd_body(args: argparse.Namespace) -> int:
    formats = tuple(sorted(FORMATS))
    out = output_path(args.out, "--out", (*_HTML, *formats), "the body (a view or a body file)")
    body = default_body(args.sex, cardiac_output=args.cardiac_output)
    print(format_summary(body))
    if out is not None:
        if out.suffix.lower() in _HTML:
            render_html(body, out)
        else:
            write_body(body, out)
        say(f"wrote {out}")
    return 0


def _model(body: Any, args: argparse.Namespace) -> TransportModel:
    """The transport model of the command's body and ``--population``."""
    choice = getattr(args, "population", "single")
    if choice == "default":
        return TransportModel(body, CellPopulation.default(body))
    if choice == "calibrated":
        from .sitemodel import calibrated_population

        return TransportModel(body, calibrated_population("disibio2008", body))
    return TransportModel(body)


def _cmd_fates(args: argparse.Namespace) -> int:
    plot = output_path(args.plot, "--plot", tuple(PLOT_FORMATS), "the figure")
    body = _load_body(args)
    model = _model(body, args)
    primaries = list(dict.fromkeys(_site(body, p) for p in args.primary))
    top = check_int(args.top, "--top", low=1)
    results = {p: model.fate_result(p) for p in primaries}
    if args.json:
        print_json(
            {
                "body": str(body.graph.get("name", "body")),
                "primaries": {
                    p: {
                        "probabilities": {k: plain(v) for k, v in r.probabilities.items()},
                        "expected_time_min": plain(r.expected_time),
                        "conditional_time_min": {
                            k: plain(v) for k, v in r.conditional_times.items()
                        },
                    }
                    for p, r in results.items()
                },
            }
        )
    else:
        frame = pd.DataFrame({p: r.probabilities for p, r in results.items()})
        rest = frame.drop(index=DEAD, errors="ignore")
        order = rest.max(axis=1).sort_values(ascending=False).index[:top].tolist()
        rows = [[f, *(text(frame.at[f, p]) for p in primaries)] for f in [DEAD, *order]]
        rows.append(
            ["expected time to fate (min)", *(text(results[p].expected_time) for p in primaries)]
        )
        print(f"Fates of a cell shed by a primary tumour ({body.graph.get('name', 'body')}):")
        print(table(rows, ["fate", *primaries]))
        if len(frame.index) - 1 > len(order):
            print(f"({len(frame.index) - 1 - len(order)} more fates: --top N or --json)")
    if plot is not None:
        fates = model.fate_table(primaries) if len(primaries) > 1 else model.fates(primaries[0])
        plot_fates(fates, plot)
        say(f"wrote {plot}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    plot = output_path(args.plot, "--plot", tuple(PLOT_FORMATS), "the figure")
    checkpoint = output_path(args.checkpoint, "--checkpoint", _CHECKPOINT, "a checkpoint")
    body = _load_body(args)
    model = _model(body, args)
    primary = _site(body, args.primary)
    seed = _seed(args)
    res = model.simulate(
        primary,
        args.cells,
        args.times,
        rng=seed,
        dt=args.dt,
        checkpoint=checkpoint,
        progress=args.progress,
    )
    frame = res.to_frame()
    groups = group_states(frame, body)
    if args.json:
        nonzero = [c for c in frame.columns if frame[c].any()]
        print_json(
            {
                "primary": primary,
                "cells": int(args.cells),
                "seed": seed,
                "times_min": [float(t) for t in res.times],
                "released": [int(x) for x in res.released],
                "groups": {g: [int(x) for x in groups[g]] for g in groups.columns},
                "counts": {c: [int(x) for x in frame[c]] for c in nonzero},
            }
        )
    else:
        times = [f"{text(t)} min" for t in res.times]
        rows = [[g, *(f"{int(x):,}" for x in groups[g])] for g in groups.columns]
        rows.append(["total", *(f"{int(x):,}" for x in res.released)])
        print(f"{int(args.cells):,} cells released from {primary} (seed {seed}):")
        print(table(rows, ["where", *times]))
        last = frame.iloc[-1]
        top = last[last > 0].sort_values(ascending=False).head(10)
        print(f"\nlargest states at {times[-1]}:")
        print(table([[k, f"{int(v):,}"] for k, v in top.items()], ["state", "cells"]))
    if plot is not None:
        plot_propagation(res, plot, body=body, stacked=False)
        say(f"wrote {plot}")
    return 0


def _course_notes(
    args: argparse.Namespace, body: nx.DiGraph, seconds: float, seed: int | None
) -> list[str]:
    src = str(args.body) if args.body is not None else body.graph.get("name", "reference body")
    # --laws mechanistic: the command repeats this course (the clinical laws are the default)
    cmd = [
        "circnet course --laws mechanistic",
        f"--primary {args.primary}",
        f"--years {args.years:g}",
    ]
    if args.sex:
        cmd.append(f"--sex {args.sex}")
    if args.body is not None:
        cmd.append(f"--body {args.body}")
    if seed is not None:
        cmd.append(f"--seed {seed}")
    if args.surgery_day is not None:
        cmd.append(f"--surgery-day {args.surgery_day:g}")
    if args.inhibitor_from_day is not None:
        cmd.append(f"--inhibitor-from-day {args.inhibitor_from_day:g}")
    shown = f"the one stored in {args.checkpoint}" if seed is None else str(seed)
    return [
        f"Body: {src}. Seed: {shown}. Simulated in {seconds:.1f} s.",
        "Command: " + " ".join(cmd),
    ]


def _day(value: float | None, option: str) -> float | None:
    return None if value is None else check_number(value, option, low=0, unit="days")


def _cmd_course(args: argparse.Namespace) -> int:
    """``circnet course``: the clinical patient course (default), a cohort, or the
    mechanistic course (``--laws mechanistic``); the parser refused the options of the
    other laws (:func:`circnet._cli_parser.course_conflict`)."""
    if args.laws == "mechanistic":
        return _course_mechanistic(args)
    out = output_path(args.out, "--out", _HTML, "the report (an HTML page)")
    table_path = output_path(args.table, "--table", _CSV, "the per-patient table (CSV)")
    body = _load_body(args)
    primary = _site(body, args.primary)
    seed = _seed(args)
    model = _model(body, args)
    if args.cohort is not None:
        return cohort_course(args, body, model, primary, seed, out, table_path)
    return patient_course(args, body, model, primary, seed, out)


def _course_mechanistic(args: argparse.Namespace) -> int:
    out = output_path(args.out, "--out", _HTML, "the report (an HTML page)")
    checkpoint = output_path(args.checkpoint, "--checkpoint", _CHECKPOINT, "a checkpoint")
    body = _load_body(args)
    primary = _site(body, args.primary)
    surgery_day = _day(args.surgery_day, "--surgery-day")
    inhibitor_from_day = _day(args.inhibitor_from_day, "--inhibitor-from-day")
    resume = checkpoint is not None and checkpoint.exists()
    # resuming: the seed stored in the checkpoint (checked against --seed when given)
    seed = (None if args.seed is None else int(args.seed)) if resume else _seed(args)
    stages = ["course"] + (["fates", "propagation", "report"] if out else [])
    with Progress(progress(len(stages), "", args.progress, unit="stage")) as bar:
        bar.describe(f"simulating {args.years:g} years")
        model = _model(body, args)
        t0 = time.perf_counter()
        if checkpoint is not None and resume:
            say(f"circnet: resuming from {checkpoint} (with the seed and arguments stored in it)")
            # the file must hold this very course: the command's arguments are checked
            expect = {
                "primary": primary,
                "years": args.years,
                "surgery_day": surgery_day,
                "inhibitor_from_day": inhibitor_from_day,
            }
            if args.seed is not None:
                expect["rng"] = int(args.seed)
            res = resume_course(
                checkpoint, model, checkpoint_every=args.checkpoint_every, expect=expect
            )
        else:
            res = simulate_course(
                model,
                primary,
                args.years,
                rng=seed,
                surgery_day=surgery_day,
                inhibitor_from_day=inhibitor_from_day,
                checkpoint=checkpoint,
                checkpoint_every=args.checkpoint_every,
            )
        seconds = time.perf_counter() - t0
        bar.update()
        if out is not None:
            bar.describe("fates of a shed cell")
            fates = model.fates(res.primary)
            bar.update()
            propagation = None
            if not args.no_plots:
                bar.describe("where released cells are (first day)")
                times = np.concatenate([[0.0], np.geomspace(0.5, 1440.0, 12)])
                propagation = model.propagate(res.primary, times)
            bar.update()
            bar.describe("writing the report")
            course_report(
                res,
                body,
                out,
                fates=fates,
                propagation=propagation,
                notes=_course_notes(args, body, seconds, seed),
                plots=not args.no_plots,
            )
            bar.update()
    summary = dict(res.summary.items())
    if args.json:
        payload = {k: plain(v) for k, v in summary.items()}
        payload["detectable_metastatic_sites"] = _sites(summary.get("detectable_metastatic_sites"))
        print_json({**payload, "seed": seed})
    else:
        shown = "" if seed is None else f", seed {seed}"
        print(f"Disease course from a primary in {res.primary} ({res.days:g} days{shown}):")
        print(table([[str(k), text(v)] for k, v in summary.items()], ["", "value"]))
    if out is not None:
        say(f"wrote {out}: open it in a browser (e.g. xdg-open {out}); it works offline")
    return 0


def _sites(value: object) -> list[str]:
    """The detectable metastatic sites as a list (the summary holds them as text)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [s.strip() for s in value.split(",") if s.strip()]
    return [str(s) for s in value]  # type: ignore[attr-defined]


def _cmd_render(args: argparse.Namespace) -> int:
    out = output_path(args.out, "--out", _HTML, "the view (an HTML page)")
    body = read_body(args.file)
    render_html(body, out, title=args.title, physics=args.physics)
    say(f"wrote {out}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    graph = read_body(args.file, validate=False)
    found = problems(graph)
    if not found:
        print(
            f"OK: {args.file} is a valid body ({graph.number_of_nodes()} nodes, "
            f"{graph.number_of_edges()} edges, {len(organs(graph))} organs)"
        )
        return 0
    print(f"{args.file}: {len(found)} problem{'s' if len(found) > 1 else ''}:")
    for p in found:
        print(f"  - {p}")
    return 1


def _cmd_ensemble(args: argparse.Namespace) -> int:
    chunk = getattr(args, "chunk", None)
    merge = bool(getattr(args, "merge", False))
    result = run_config(
        args.config, engine=args.engine, progress=args.progress, part=chunk, merge=merge
    )
    if chunk is not None:
        return _ensemble_part(args, result)
    ok = int((result.table["status"] == "ok").sum())
    summary = result.summary()
    if args.json:
        payload = {
            "members": len(result.table),
            "ok": ok,
            "failed": result.failed[["member", "error"]].to_dict(orient="records"),
            "summary": summary.to_dict(orient="index"),
        }
        if args.sensitivity:
            si = result.sensitivity()
            payload["sensitivity"] = {
                f"{o} | {p}": row for (o, p), row in si.to_dict(orient="index").items()
            }
        print_json(payload)
        return 0 if ok == len(result.table) else 1
    print(f"{len(result.table)} members: {ok} ok, {len(result.table) - ok} failed")
    for _, row in result.failed.head(10).iterrows():
        print(f"  member {row['member']}: {row['error']}")
    if len(summary):
        print(summary[["count", "mean", "std", "5%", "50%", "95%"]].to_string())
    if args.sensitivity:
        print("\nSobol' indices (Saltelli 2010):")
        print(result.sensitivity().round(3).to_string())
    return 0 if ok == len(result.table) else 1


def _ensemble_part(args: argparse.Namespace, result: EnsembleResult) -> int:
    """Output of one task of a job array (``--chunk I/N``): what this part holds."""
    i, n = (int(x) for x in str(args.chunk).split("/"))
    lo, hi = i * len(result.design) // n, (i + 1) * len(result.design) // n
    mine = result.table[(result.table["member"] >= lo) & (result.table["member"] < hi)]
    ok = int((mine["status"] == "ok").sum())
    if args.json:
        print_json(
            {
                "part": f"{i}/{n}",
                "members": [lo, hi - 1],
                "ok": ok,
                "failed": mine[mine["status"] != "ok"][["member", "error"]].to_dict(
                    orient="records"
                ),
                "message": result.message,
            }
        )
    else:
        print(f"part {i}/{n}: members {lo} to {hi - 1}: {ok} ok, {len(mine) - ok} failed")
        print(result.message)
    return 0 if ok == hi - lo else 1


#: The command of each subcommand name (the parser's choices, in the same order).
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "body": _cmd_body,
    "fates": _cmd_fates,
    "simulate": _cmd_simulate,
    "course": _cmd_course,
    "render": _cmd_render,
    "validate": _cmd_validate,
    "ensemble": _cmd_ensemble,
}
