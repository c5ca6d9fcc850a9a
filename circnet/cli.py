"""The ``circnet`` command: a thin layer over the functions of the package.

Subcommands::

    circnet body      summarise the reference body; --out writes it (HTML view or body file)
    circnet fates     where a cell shed by a primary ends up (exact probabilities)
    circnet simulate  integer counts of released cells in every state at given minutes
    circnet course    a disease course over years, and an HTML report with the network
    circnet render    an interactive HTML view of a body file
    circnet validate  check a body file and print OK or every problem

Exit status: 0 success; 1 bad input (a circnet error, printed as one line
``circnet: error: ...`` on stderr, no traceback); 2 bad usage (argparse). Results go to
stdout, messages (files written, progress bars) to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import numbers
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from . import __version__
from .body import default_body, lymph_nodes, organs, problems
from .errors import CircnetError, ParameterError, UnknownNameError
from .io import FORMATS, read_body, write_body

__all__ = ["main", "build_parser", "resolve_site"]

PROG = "circnet"

_EPILOG = """\
examples:
  circnet body --sex female                      # summary table of the reference body
  circnet body --out body.html                   # interactive view (opens offline)
  circnet fates --primary colon_rectum --primary lung
  circnet fates --primary breast --sex female --json
  circnet simulate --primary lung --cells 1e9 --times 60,1440 --seed 1
  circnet course --primary breast --sex female --years 5 --seed 1 --out report.html
  circnet render my_body.yaml --out my_body.html
  circnet validate my_body.yaml
  circnet ensemble --config examples/sweep.yaml --sensitivity

Run `circnet COMMAND --help` for the options of a command. Exit status: 0 ok,
1 bad input (one-line message on stderr), 2 bad usage.
"""

_EPILOGS = {
    "body": """\
examples:
  circnet body                         # the adult male reference body
  circnet body --sex female --out body.html
  circnet body --out body.yaml         # also .graphml, .json: edit it, then `circnet validate`
""",
    "fates": """\
examples:
  circnet fates --primary colon_rectum
  circnet fates --primary colon --primary lung --top 5    # 'colon' means colon_rectum
  circnet fates --primary breast --sex female --json
  circnet fates --primary kidney --body my_body.yaml --plot fates.png
""",
    "simulate": """\
examples:
  circnet simulate --primary lung --cells 1e9 --times 60,1440 --seed 1
  circnet simulate --primary colon_rectum --cells 1e12 --times 10,60,600 --json
  circnet simulate --primary lung --cells 1e6 --times 1440 --dt 5 --checkpoint run.npz
""",
    "course": """\
examples:
  circnet course --primary breast --sex female --years 5 --seed 1 --out report.html
  circnet course --primary colon_rectum --years 2 --surgery-day 365 --json
  circnet course --primary lung --years 10 --checkpoint lung.npz --checkpoint-every 365
Open the report in a browser (e.g. `xdg-open report.html`); it works offline.
""",
    "render": """\
examples:
  circnet render my_body.yaml --out my_body.html
  circnet render my_body.graphml --out view.html --title "Edited body" --physics
""",
    "validate": """\
examples:
  circnet validate my_body.yaml      # prints OK, or every problem (exit status 1)
""",
    "ensemble": """\
examples:
  circnet ensemble --config sweep.yaml                  # runs the sweep, prints a summary
  circnet ensemble --config sweep.yaml --engine processes --sensitivity
  circnet ensemble --config sweep.yaml --engine tcp://scheduler:8786   # a dask cluster
A config (YAML) names the task (fates, simulate, course), fixed arguments, the design
(grid, lhs, sobol or saltelli with parameter ranges), seed, engine, checkpoint and out;
see examples/sweep.yaml and circnet.ensemble.run_config.
""",
}


# --------------------------------------------------------------------------- parsing
def _cells(text: str) -> int:
    try:
        return _nonnegative_int(int(text), text)
    except ValueError:
        pass
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(x) or x != int(x):
        raise argparse.ArgumentTypeError(f"must be a non-negative whole number (got {text!r})")
    return _nonnegative_int(int(x), text)


def _nonnegative_int(x: int, text: str) -> int:
    if x < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative whole number (got {text!r})")
    return x


def _times(text: str) -> list[float]:
    try:
        out = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated minutes such as 60,1440 (got {text!r})"
        ) from None
    if not out:
        raise argparse.ArgumentTypeError("expected at least one time, e.g. 60,1440")
    return out


def _positive(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text!r})")
    return x


def _seed(text: str) -> int:
    try:
        x = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer (got {text!r})") from None
    if x < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer (got {text!r})")
    return x


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``circnet`` command."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="circnet: metastatic spread as Markov transport of cancer cells on a graph "
        "of the human circulation.",
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"circnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    body_opts = argparse.ArgumentParser(add_help=False)
    g = body_opts.add_argument_group("body")
    g.add_argument(
        "--sex", choices=("male", "female"), default=None,
        help="sex of the reference body (default male)",
    )  # fmt: skip
    g.add_argument(
        "--body", metavar="FILE", type=Path, default=None,
        help="use a body file (.graphml, .json, .yaml) instead of the reference body",
    )  # fmt: skip
    progress_opts = argparse.ArgumentParser(add_help=False)
    pg = progress_opts.add_mutually_exclusive_group()
    pg.add_argument(
        "--progress", dest="progress", action="store_true", default=None,
        help="always show progress bars (default: only on a terminal)",
    )  # fmt: skip
    pg.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")

    def add(name: str, help_: str, parents: Sequence[argparse.ArgumentParser] = ()) -> Any:
        return sub.add_parser(
            name,
            help=help_,
            description=help_[0].upper() + help_[1:] + ".",
            epilog=_EPILOGS[name],
            formatter_class=fmt,
            parents=list(parents),
        )

    p = add("body", "summarise the reference body; --out writes it as HTML or a body file")
    p.add_argument("--sex", choices=("male", "female"), default="male")
    p.add_argument(
        "--cardiac-output", type=_positive, default=None, metavar="ML_MIN",
        help="cardiac output in mL/min (default: the ICRP 89 reference value)",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, metavar="FILE",
        help="write the body: .html (interactive view) or .graphml/.json/.yaml (body file)",
    )  # fmt: skip

    p = add("fates", "where a cell shed by a primary tumour ends up", [body_opts])
    p.add_argument(
        "--primary", action="append", required=True, metavar="SITE",
        help="organ or lymph-node group of the primary (repeat for several)",
    )  # fmt: skip
    p.add_argument("--top", type=int, default=10, help="fates shown in the table (default 10)")
    p.add_argument("--json", action="store_true", help="print all fates as JSON")
    p.add_argument("--plot", type=Path, metavar="FILE", help="also draw a bar chart (.png/.svg)")

    p = add(
        "simulate", "count released cells in every state at given times", [body_opts, progress_opts]
    )
    p.add_argument("--primary", required=True, metavar="SITE", help="organ or lymph-node group")
    p.add_argument(
        "--cells", type=_cells, default=1_000_000, metavar="N",
        help="cells released at time 0 (default 1e6; up to 2**53)",
    )  # fmt: skip
    p.add_argument(
        "--times", type=_times, default=[60.0, 1440.0], metavar="T1,T2,...",
        help="minutes after release at which to count (default 60,1440)",
    )  # fmt: skip
    p.add_argument("--seed", type=_seed, default=None, help="random seed (default: fresh)")
    p.add_argument(
        "--dt", type=_positive, default=None, metavar="MIN",
        help="grid step in minutes (more steps: finer progress and checkpoints)",
    )  # fmt: skip
    p.add_argument(
        "--checkpoint", type=Path, metavar="FILE",
        help="checkpoint file (.npz): written during the run, resumed from if it exists",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.add_argument("--plot", type=Path, metavar="FILE", help="also draw the counts (.png/.svg)")

    p = add(
        "course", "simulate a disease course and write an HTML report", [body_opts, progress_opts]
    )
    p.add_argument("--primary", required=True, metavar="SITE", help="organ of the primary tumour")
    p.add_argument("--years", type=_positive, default=5.0, help="length of the course (default 5)")
    p.add_argument("--seed", type=_seed, default=None, help="random seed (default: fresh)")
    p.add_argument("--surgery-day", type=float, default=None, metavar="DAY")
    p.add_argument("--inhibitor-from-day", type=float, default=None, metavar="DAY")
    p.add_argument(
        "--out", type=Path, metavar="FILE.html",
        help="write the HTML report (network with a time control, plots, tables)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--checkpoint", type=Path, metavar="FILE",
        help="checkpoint file (.npz); if it exists, the course resumes from it",
    )  # fmt: skip
    p.add_argument(
        "--checkpoint-every", type=_positive, default=None, metavar="DAYS",
        help="days between checkpoints (default: only at the end)",
    )  # fmt: skip
    p.add_argument(
        "--no-plots", action="store_true", help="leave the plots out of the report (faster)"
    )

    p = add("render", "write an interactive HTML view of a body file")
    p.add_argument("file", type=Path, metavar="FILE", help="body file (.graphml, .json, .yaml)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.html")
    p.add_argument("--title", default=None, help="page heading (default: the body's name)")
    p.add_argument("--physics", action="store_true", help="let the layout move (vis physics)")

    p = add("validate", "check a body file; print OK or every problem")
    p.add_argument("file", type=Path, metavar="FILE", help="body file (.graphml, .json, .yaml)")

    p = add("ensemble", "run a parameter sweep or virtual-patient ensemble", [progress_opts])
    p.add_argument(
        "--config",
        type=Path,
        required=True,
        metavar="FILE.yaml",
        help="sweep description (task, fixed, design, seed, engine, out)",
    )
    p.add_argument(
        "--engine",
        default=None,
        metavar="ENGINE",
        help="inprocess, processes, or a dask scheduler address (overrides config)",
    )
    p.add_argument(
        "--sensitivity",
        action="store_true",
        help="print Sobol' indices of every outcome (needs a saltelli design)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


# --------------------------------------------------------------------------- helpers
def _say(*parts: Any) -> None:
    print(*parts, file=sys.stderr)


def _load_body(args: argparse.Namespace) -> nx.DiGraph:
    if args.body is not None:
        if args.sex is not None:
            _say("circnet: note: --sex applies to the reference body only; using", args.body)
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
        _say(f"circnet: note: {name!r} taken as {site!r}")
    return site


def _num(x: float) -> str:
    x = float(x)
    if x == 0:
        return "0"
    if math.isnan(x):
        return "-"
    if 1e-3 <= abs(x) < 1e6:
        return format(x, ".4g")
    return f"{x:.3e}"


def _plain(x: Any) -> Any:
    """A JSON-ready value: numpy scalars to Python, NaN to None."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        x = float(x)
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, str):
        return x
    return str(x)


def _deep_plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _deep_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_deep_plain(v) for v in obj]
    return _plain(obj)


def _print_json(obj: Any) -> None:
    print(json.dumps(_deep_plain(obj), indent=2, allow_nan=False))


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[j])) for r in [header, *rows]) for j in range(len(header))]
    lines = []
    for k, r in enumerate([header, *rows]):
        cells = [
            str(c).ljust(w) if j == 0 else str(c).rjust(w)
            for j, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


class _Stages:
    """A progress bar over the stages of a command (tqdm, on stderr)."""

    def __init__(self, stages: list[str], show: bool | None) -> None:
        show = sys.stderr.isatty() if show is None else show
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(stages), unit="stage", leave=False, file=sys.stderr)

    def __call__(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description(text)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------- commands
def _cmd_body(args: argparse.Namespace) -> int:
    from .__main__ import format_summary

    body = default_body(args.sex, cardiac_output=args.cardiac_output)
    print(format_summary(body))
    if args.out is not None:
        out = Path(args.out)
        if out.suffix.lower() in (".html", ".htm"):
            from .render import render_html

            render_html(body, out)
        elif out.suffix.lower() in FORMATS:
            write_body(body, out)
        else:
            raise ParameterError(
                f"--out {str(out)!r}: expected a .html file or a body file "
                f"({', '.join(sorted(FORMATS))})"
            )
        _say(f"wrote {out}")
    return 0


def _cmd_fates(args: argparse.Namespace) -> int:
    from .transport import TransportModel

    body = _load_body(args)
    model = TransportModel(body)
    primaries = list(dict.fromkeys(_site(body, p) for p in args.primary))
    if args.top < 1:
        raise ParameterError(f"--top must be at least 1 (got {args.top})")
    results = {p: model.fate_result(p) for p in primaries}
    if args.json:
        _print_json(
            {
                "body": str(body.graph.get("name", "body")),
                "primaries": {
                    p: {
                        "probabilities": {k: _plain(v) for k, v in r.probabilities.items()},
                        "expected_time_min": _plain(r.expected_time),
                        "conditional_time_min": {
                            k: _plain(v) for k, v in r.conditional_times.items()
                        },
                    }
                    for p, r in results.items()
                },
            }
        )
    else:
        table = pd.DataFrame({p: r.probabilities for p, r in results.items()})
        rest = table.drop(index="dead", errors="ignore")
        order = rest.max(axis=1).sort_values(ascending=False).index[: args.top].tolist()
        rows = [[f, *(_num(table.at[f, p]) for p in primaries)] for f in ["dead", *order]]
        rows.append(
            ["expected time to fate (min)", *(_num(results[p].expected_time) for p in primaries)]
        )
        print(f"Fates of a cell shed by a primary tumour ({body.graph.get('name', 'body')}):")
        print(_table(rows, ["fate", *primaries]))
        if len(table.index) - 1 > len(order):
            print(f"({len(table.index) - 1 - len(order)} more fates: --top N or --json)")
    if args.plot is not None:
        from .plots import plot_fates

        plot_fates(model.fates(primaries if len(primaries) > 1 else primaries[0]), args.plot)
        _say(f"wrote {args.plot}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .plots import group_states
    from .transport import TransportModel

    body = _load_body(args)
    model = TransportModel(body)
    primary = _site(body, args.primary)
    res = model.simulate(
        primary,
        args.cells,
        args.times,
        rng=args.seed,
        dt=args.dt,
        checkpoint=args.checkpoint,
        progress=args.progress,
    )
    frame = res.to_frame()
    groups = group_states(frame, body)
    if args.json:
        nonzero = [c for c in frame.columns if frame[c].any()]
        _print_json(
            {
                "primary": primary,
                "cells": int(args.cells),
                "seed": args.seed,
                "times_min": [float(t) for t in res.times],
                "released": [int(x) for x in res.released],
                "groups": {g: [int(x) for x in groups[g]] for g in groups.columns},
                "counts": {c: [int(x) for x in frame[c]] for c in nonzero},
            }
        )
    else:
        times = [f"{_num(t)} min" for t in res.times]
        rows = [[g, *(f"{int(x):,}" for x in groups[g])] for g in groups.columns]
        rows.append(["total", *(f"{int(x):,}" for x in res.released)])
        print(f"{int(args.cells):,} cells released from {primary} (seed {args.seed}):")
        print(_table(rows, ["where", *times]))
        last = frame.iloc[-1]
        top = last[last > 0].sort_values(ascending=False).head(10)
        print(f"\nlargest states at {times[-1]}:")
        print(_table([[k, f"{int(v):,}"] for k, v in top.items()], ["state", "cells"]))
    if args.plot is not None:
        from .plots import plot_propagation

        plot_propagation(res, args.plot, body=body, stacked=False)
        _say(f"wrote {args.plot}")
    return 0


def _course_notes(args: argparse.Namespace, body: nx.DiGraph, seconds: float) -> list[str]:
    src = str(args.body) if args.body is not None else body.graph.get("name", "reference body")
    cmd = ["circnet course", f"--primary {args.primary}", f"--years {args.years:g}"]
    if args.sex:
        cmd.append(f"--sex {args.sex}")
    if args.body is not None:
        cmd.append(f"--body {args.body}")
    if args.seed is not None:
        cmd.append(f"--seed {args.seed}")
    for opt in ("surgery_day", "inhibitor_from_day"):
        if getattr(args, opt) is not None:
            cmd.append(f"--{opt.replace('_', '-')} {getattr(args, opt):g}")
    seed = "none (a fresh random course)" if args.seed is None else str(args.seed)
    return [
        f"Body: {src}. Seed: {seed}. Simulated in {seconds:.1f} s.",
        "Command: " + " ".join(cmd),
    ]


def _cmd_course(args: argparse.Namespace) -> int:
    from .course import resume_course, simulate_course
    from .transport import TransportModel

    body = _load_body(args)
    primary = _site(body, args.primary)
    stages = ["course"] + (["fates", "propagation", "report"] if args.out else [])
    bar = _Stages(stages, args.progress)
    try:
        bar(f"simulating {args.years:g} years")
        model = TransportModel(body)
        t0 = time.perf_counter()
        if args.checkpoint is not None and Path(args.checkpoint).exists():
            _say(f"circnet: resuming from {args.checkpoint}")
            res = resume_course(args.checkpoint, model, checkpoint_every=args.checkpoint_every)
        else:
            res = simulate_course(
                model,
                primary,
                args.years,
                rng=args.seed,
                surgery_day=args.surgery_day,
                inhibitor_from_day=args.inhibitor_from_day,
                checkpoint=args.checkpoint,
                checkpoint_every=args.checkpoint_every,
            )
        seconds = time.perf_counter() - t0
        bar.done()
        if args.out is not None:
            bar("fates of a shed cell")
            fates = model.fates(res.primary)
            bar.done()
            propagation = None
            if not args.no_plots:
                bar("where released cells are (first day)")
                times = np.concatenate([[0.0], np.geomspace(0.5, 1440.0, 12)])
                propagation = model.propagate(res.primary, times)
            bar.done()
            bar("writing the report")
            from .report import course_report

            course_report(
                res,
                body,
                args.out,
                fates=fates,
                propagation=propagation,
                notes=_course_notes(args, body, seconds),
                plots=not args.no_plots,
            )
            bar.done()
    finally:
        bar.close()
    if args.json:
        _print_json({k: _plain(v) for k, v in res.summary.items()})
    else:
        print(f"Disease course from a primary in {res.primary} ({res.days:g} days):")
        print(_table([[str(k), _fmt_any(v)] for k, v in res.summary.items()], ["", "value"]))
    if args.out is not None:
        _say(f"wrote {args.out}: open it in a browser (e.g. xdg-open {args.out}); it works offline")
    return 0


def _fmt_any(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, numbers.Integral):
        return f"{int(v):,}"
    if isinstance(v, numbers.Real):
        return _num(v)
    return "-" if v in (None, "") else str(v)


def _cmd_render(args: argparse.Namespace) -> int:
    from .render import render_html

    body = read_body(args.file)
    render_html(body, args.out, title=args.title, physics=args.physics)
    _say(f"wrote {args.out}")
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
    from .ensemble import run_config

    result = run_config(args.config, engine=args.engine, progress=args.progress)
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
        _print_json(payload)
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


_COMMANDS = {
    "body": _cmd_body,
    "fates": _cmd_fates,
    "simulate": _cmd_simulate,
    "course": _cmd_course,
    "render": _cmd_render,
    "validate": _cmd_validate,
    "ensemble": _cmd_ensemble,
}


def _one_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``circnet`` command with ``argv`` (default ``sys.argv[1:]``); return the exit
    status (argparse exits with 2 on bad usage)."""
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except CircnetError as err:
        print(f"{PROG}: error: {_one_line(err)}", file=sys.stderr)
        return 1
    except OSError as err:  # a file that cannot be written or read
        where = f" {err.filename!r}" if getattr(err, "filename", None) else ""
        print(f"{PROG}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
