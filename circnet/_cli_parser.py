"""The parser of the ``circnet`` command: options, help texts and their examples.

Only :mod:`argparse` and the version are imported here, so that ``circnet --help`` and
``circnet --version`` answer without loading the models (the commands live in
:mod:`circnet._cli_commands`, imported by :func:`circnet.cli.main` after parsing).
Argument types turn bad text into a usage error (exit status 2); rules that need the
model (a site name, ``--top``, days) are checked by the commands.

Examples
--------
>>> args = build_parser().parse_args(["simulate", "--primary", "lung", "--cells", "1e6"])
>>> args.command, args.cells, args.times
('simulate', 1000000, [60.0, 1440.0])
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._version import __version__

__all__ = ["PROG", "LAWS", "SCENARIOS", "build_parser", "course_conflict", "join_negative_values"]

PROG = "circnet"
#: The laws of ``circnet course``: the clinical patient course (default) or the Hahnfeldt one.
LAWS = ("clinical", "mechanistic")
#: Clinical scenarios (those of :data:`circnet.cohort.SCENARIOS`; not imported: see above).
SCENARIOS = ("surgery", "natural")

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
  circnet course --primary colon_rectum --scenario natural --patient 3 --seed 1 --json
  circnet course --primary colon --cohort 1000 --seed 1 --out cohort.html --table patients.csv
  circnet course --laws mechanistic --primary colon_rectum --years 2 --surgery-day 365 --json
  circnet course --laws mechanistic --primary lung --years 10 --checkpoint lung.npz
Clinical laws (default): one virtual patient (human growth, diagnosis, surgery at diagnosis
or the natural history), followed --years after diagnosis; --cohort N runs N patients and
writes the cohort's report. Mechanistic laws: the Hahnfeldt course (mouse-derived growth)
with --surgery-day, --inhibitor-from-day and checkpoints.
Open a report in a browser (e.g. `xdg-open report.html`); it works offline.
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
  circnet ensemble --config sweep.yaml --chunk $SLURM_ARRAY_TASK_ID/10  # job array task
  circnet ensemble --config sweep.yaml --merge          # after every task of the array
A config (YAML) names the task (fates, simulate, course), fixed arguments, the design
(grid, lhs, sobol or saltelli with parameter ranges), seed, engine, checkpoint and out;
see examples/sweep.yaml and circnet.ensemble.run_config.
""",
}


_SEED_HELP = "random seed (default: drawn from fresh entropy and printed, to repeat the run)"


# --------------------------------------------------------------------------- parsing
#: The largest ``--cells`` (the simulation's exact-count limit, :data:`circnet.simulate.MAX_CELLS`).
MAX_CELLS = 2**53


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
    if x > MAX_CELLS:
        raise argparse.ArgumentTypeError(
            f"at most 2**53 (about 9.0e15) cells can be counted exactly (got {text!r})"
        )
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
    bad = [t for t in out if not math.isfinite(t) or t < 0]
    if bad:
        raise argparse.ArgumentTypeError(
            f"minutes after the release must be finite and >= 0 (got {bad[0]:g} in {text!r})"
        )
    return out


def join_negative_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--option -60,1440`` joined to ``--option=-60,1440``.

    argparse takes a value that starts with ``-`` and is not a plain number for an
    option and reports "expected one argument"; joined, the value reaches the option's
    type, whose message says what is wrong with it.

    Examples
    --------
    >>> join_negative_values(build_parser(), ["simulate", "--times", "-60,1440", "--json"])
    ['simulate', '--times=-60,1440', '--json']
    """
    takes_value: set[str] = set()
    parsers = [parser]
    while parsers:
        p = parsers.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            elif action.option_strings and action.nargs != 0:
                takes_value.update(action.option_strings)
    out: list[str] = []
    for arg in argv:
        prev = out[-1] if out else ""
        if prev in takes_value and len(arg) > 1 and arg[0] == "-" and arg[1] in "0123456789.":
            out[-1] = f"{prev}={arg}"
        else:
            out.append(arg)
    return out


def _positive(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text!r})")
    return x


def _history_years(text: str) -> float | str:
    """``--history-years``: a positive number of years, or ``all`` (every day from day 0)."""
    return "all" if text.strip().lower() == "all" else _positive(text)


def _whole(low: int, words: str) -> Any:
    """An argparse type: an integer >= ``low``, refused with ``must be <words>``."""

    def parse(text: str) -> int:
        try:
            x = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {words} (got {text!r})") from None
        if x < low:
            raise argparse.ArgumentTypeError(f"must be {words} (got {text!r})")
        return x

    return parse


_seed = _whole(0, "a non-negative integer")
_count = _whole(1, "a whole number >= 1")


#: Options of ``circnet course`` that only one kind of laws has: dest -> (option, why).
_MECHANISTIC_ONLY = {
    "surgery_day": ("--surgery-day", "the clinical course operates at diagnosis: "
                    "--scenario surgery (the default) or natural"),
    "inhibitor_from_day": ("--inhibitor-from-day", "the clinical laws have no angiogenesis "
                           "inhibitor"),
    "checkpoint": ("--checkpoint", "the clinical laws run without checkpoints"),
    "checkpoint_every": ("--checkpoint-every", "the clinical laws run without checkpoints"),
}  # fmt: skip
_CLINICAL_ONLY = {
    "scenario": ("--scenario", "the mechanistic course removes the primary with "
                 "--surgery-day DAY"),
    "patient": ("--patient", "the mechanistic course has no virtual patients"),
    "history_years": ("--history-years", "the mechanistic course shows every day"),
    "cohort": ("--cohort", "cohorts run the clinical laws"),
    "table": ("--table", "the per-patient table is a cohort's"),
}  # fmt: skip


def course_conflict(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination of ``circnet course`` options, or None.

    Options of the mechanistic course are refused under ``--laws clinical`` (and the
    other way round), naming the option, instead of being silently ignored.

    Examples
    --------
    >>> p = build_parser()
    >>> course_conflict(p.parse_args(["course", "--primary", "lung", "--cohort", "20"]))
    >>> ns = argparse.Namespace(laws="clinical", surgery_day=30.0)
    >>> print(course_conflict(ns))
    argument --surgery-day: only with --laws mechanistic (the clinical course operates at \
diagnosis: --scenario surgery (the default) or natural)
    """
    laws = getattr(args, "laws", "clinical")
    other, refused = ("clinical", _CLINICAL_ONLY)
    if laws == "clinical":
        other, refused = ("mechanistic", _MECHANISTIC_ONLY)
    for dest, (option, why) in refused.items():
        if getattr(args, dest, None) is not None:
            return f"argument {option}: only with --laws {other} ({why})"
    if getattr(args, "cohort", None) is not None and getattr(args, "patient", None) is not None:
        return (
            "argument --patient: not with --cohort (a cohort runs patients 0 to N-1 of the "
            "seed; --patient K without --cohort runs one of them)"
        )
    if getattr(args, "cohort", None) is not None and getattr(args, "history_years", None):
        return "argument --history-years: not with --cohort (the daily tables of one patient)"
    if getattr(args, "table", None) is not None and getattr(args, "cohort", None) is None:
        return "argument --table: only with --cohort N (the per-patient table of a cohort)"
    return None


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that checks the parsed options together (``post_check``).

    ``post_check(namespace)`` returns a message for a usage error (exit status 2, the
    usage line of this (sub)command) or None; argparse itself checks options one by one.
    """

    post_check: Callable[[argparse.Namespace], str | None] | None = None

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        ns, rest = super().parse_known_args(args, namespace)
        problem = self.post_check(ns) if self.post_check is not None else None
        if problem:
            self.error(problem)
        return ns, rest


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``circnet`` command."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG,
        description="circnet: metastatic spread as Markov transport of cancer cells on a graph "
        "of the human circulation.",
        epilog=_EPILOG,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"circnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    body_opts = _Parser(add_help=False)
    g = body_opts.add_argument_group("body")
    g.add_argument(
        "--sex", choices=("male", "female"), default=None,
        help="sex of the reference body (default male)",
    )  # fmt: skip
    g.add_argument(
        "--body", metavar="FILE", type=Path, default=None,
        help="use a body file (.graphml, .json, .yaml) instead of the reference body",
    )  # fmt: skip
    g.add_argument(
        "--population", choices=("single", "default", "calibrated"), default="single",
        help="detached cells: 'single' one default cell profile (default); 'default' the "
        "sourced CTC population (sizes, clusters, per-organ arrest); 'calibrated' that "
        "population with the arrest and organ soil fitted to DiSibio & French 2008 "
        "(circnet.sitemodel)",
    )  # fmt: skip
    progress_opts = _Parser(add_help=False)
    pg = progress_opts.add_mutually_exclusive_group()
    pg.add_argument(
        "--progress", dest="progress", action="store_true", default=None,
        help="always show progress bars (default: only on a terminal)",
    )  # fmt: skip
    pg.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")

    def add(name: str, help_: str, parents: Sequence[_Parser] = ()) -> Any:
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
    p.add_argument("--seed", type=_seed, default=None, help=_SEED_HELP)
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
        "course",
        "simulate a disease course (or a virtual cohort) and write an HTML report",
        [body_opts, progress_opts],
    )
    p.post_check = course_conflict
    p.add_argument("--primary", required=True, metavar="SITE", help="organ of the primary tumour")
    p.add_argument(
        "--laws", choices=LAWS, default="clinical",
        help="'clinical' (default): human growth, diagnosis, surgery and clinical events of "
        "circnet.simulate_patient / simulate_cohort; 'mechanistic': the Hahnfeldt course of "
        "circnet.simulate_course (mouse-derived growth)",
    )  # fmt: skip
    p.add_argument(
        "--years", type=_positive, default=5.0,
        help="clinical: follow-up after diagnosis in years; mechanistic: length of the "
        "course (default 5)",
    )  # fmt: skip
    p.add_argument("--seed", type=_seed, default=None, help=_SEED_HELP)
    p.add_argument(
        "--out", type=Path, metavar="FILE.html",
        help="write the HTML report (a course: network with a time control, plots, tables; "
        "a cohort: figures, survival curve, first sites, CTCs)",
    )  # fmt: skip
    p.add_argument(
        "--json", action="store_true", help="print the summary (cohort: figures) as JSON"
    )
    p.add_argument(
        "--no-plots", action="store_true", help="leave the plots out of the report (faster)"
    )
    g = p.add_argument_group("clinical laws (the default)")
    g.add_argument(
        "--scenario", choices=SCENARIOS, default=None,
        help="'surgery' (default): the primary (and its regional nodes) removed at diagnosis, "
        "unless it was made by symptoms of distant metastases; 'natural': the untreated "
        "natural history",
    )  # fmt: skip
    g.add_argument(
        "--patient", type=_seed, default=None, metavar="K",
        help="which virtual patient of the seed's cohort (default 0): patient K of "
        "`--cohort N --seed S` is the course of `--patient K --seed S`",
    )  # fmt: skip
    g.add_argument(
        "--history-years", type=_history_years, default=None, metavar="Y",
        help="show the daily tables of the patient from Y years before diagnosis (default "
        "25; 'all': from the first day, slow for a long preclinical phase)",
    )  # fmt: skip
    g.add_argument(
        "--cohort", type=_count, default=None, metavar="N",
        help="run N virtual patients and write the cohort's report (--out) and table (--table)",
    )  # fmt: skip
    g.add_argument(
        "--table", type=Path, default=None, metavar="FILE.csv",
        help="with --cohort: write the per-patient table (CSV)",
    )  # fmt: skip
    g = p.add_argument_group("mechanistic laws (--laws mechanistic)")
    g.add_argument(
        "--surgery-day", type=float, default=None, metavar="DAY",
        help="remove the primary tumour on this day (default: never)",
    )  # fmt: skip
    g.add_argument(
        "--inhibitor-from-day", type=float, default=None, metavar="DAY",
        help="give an angiogenesis inhibitor from this day on (the inhibition term of "
        "Hahnfeldt et al. 1999 shrinks the tumours' carrying capacity; default: never)",
    )  # fmt: skip
    g.add_argument(
        "--checkpoint", type=Path, metavar="FILE",
        help="checkpoint file (.npz); if it exists, the course resumes from it",
    )  # fmt: skip
    g.add_argument(
        "--checkpoint-every", type=_positive, default=None, metavar="DAYS",
        help="days between checkpoints (default: only at the end)",
    )  # fmt: skip

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
    array = p.add_mutually_exclusive_group()
    array.add_argument(
        "--chunk",
        default=None,
        metavar="I/N",
        help="job array without dask: run part I (0 <= I < N) of the design into the "
        "config's checkpoint, e.g. --chunk $SLURM_ARRAY_TASK_ID/10 with --array=0-9",
    )
    array.add_argument(
        "--merge",
        action="store_true",
        help="job array: run nothing, assemble the parts in the config's checkpoint "
        "(and write out); an error names the members still missing",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser
