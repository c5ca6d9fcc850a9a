"""Calibration check of the clinical laws with the cohort engine itself (issue 14).

Not part of the package. Runs :func:`circnet.cohort.simulate_cohort` (surgery at
diagnosis, 10 years of follow-up, fixed seeds) for each calibrated primary with the
values of ``circnet/data/primary_clinical.csv`` and prints the figures against their
clinical targets (the ``calibrated`` rows of that table cite this table). Unlike
``calibrate_course.py`` (a quick loop without seeding by metastases) the engine
includes every generation of colonies, nodal metastases left after surgery among them.

Run: ``python data/clinical/calibrate_cohort.py [N] [name=value ...] [--out=PATH]``
(``--out`` also writes the table as Markdown, e.g. to
``benchmarks/results/cohort_figures.md``; default 1000
patients per primary; ``name=value`` overrides a clinical parameter for every primary,
e.g. ``switch_rate=0.05``, or a tropism factor, ``tropism:brain=9.2``, to reproduce a
calibration step). About 5-15 s per 1,000
patients.
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any

import numpy as np

import circnet
from circnet._clinical import TROPISM_PREFIX as TROPISM
from circnet._clinical import clinical_params
from circnet.cohort import simulate_cohort

#: (site, sex of the reference body, seed)
PRIMARIES = {
    "colon_rectum": ("male", 1),
    "breast": ("female", 2),
    "lung": ("male", 3),
    "prostate": ("male", 4),
}
SYNC = "synchronous distant metastases"
META = "metachronous distant metastasis within 5 y (KM)"
NODE = "node-positive at diagnosis"
CTC = "CTC >= 5 per 7.5 mL in metastatic disease"
CTC2 = "CTC >= 2 per 7.5 mL in metastatic disease"
CTC_FIRST = "CTC >= 5 per 7.5 mL at first distant metastasis"
EARLY75 = "CTC >= 1 per 7.5 mL at diagnosis, no synchronous metastasis"
DSS5 = "disease-specific survival at 5 y (KM)"
DSS10 = "disease-specific survival at 10 y (KM)"
LETHAL = "lethal burden at diagnosis"
CTC_DIAG = "CTC >= 5 per 7.5 mL at diagnosis"
EARLY = "CTC >= 1 per 30 mL at diagnosis, no synchronous metastasis"
MEDIAN = "median CTC per 7.5 mL at diagnosis"
BONE = "first distant site: bone"
SURV = "median survival after diagnosis, synchronous metastases (KM)"
SYMPTOMS = "diagnosed by symptoms of distant metastases"
#: accepted share of patients diagnosed with a lethal burden (model check)
LETHAL_OK = "< 2 % (model check)"
#: (site, figure) -> (clinical target, its source); "" where no target was sourced
TARGETS = {
    ("colon_rectum", SYNC): ("19-23 % (15-25)", "van der Geest 2015; Manfredi 2006"),
    ("colon_rectum", META): ("19 % (15-30)", "Elferink 2015; Manfredi 2006"),
    ("colon_rectum", NODE): ("about 1/3 (regional 35-40 %)", "issue 14; CDC USCS 2024"),
    ("colon_rectum", EARLY): ("24 %", "van Dalum 2015 (non-metastatic, 4 tubes)"),
    ("colon_rectum", CTC2): ("30 % of samples (metastatic)", "Allard 2004 (check only)"),
    ("colon_rectum", MEDIAN): ("", ""),
    ("colon_rectum", DSS5): ("", ""),
    ("colon_rectum", DSS10): ("", ""),
    ("colon_rectum", LETHAL): (LETHAL_OK, "diagnosis series are of living patients"),
    ("colon_rectum", SYMPTOMS): ("", "(model check: law 3)"),
    ("colon_rectum", SURV): (
        "7.5 months (3.8-21.3), untreated liver metastases",
        "Stangl 1994 (7.5 as recalled); Wagner 1984",
    ),
    ("breast", SURV): ("", "(no untreated target sourced)"),
    ("breast", SYNC): ("5.5-6 % (5-10)", "SEER via ACS; Gong 2018"),
    ("breast", META): ("7-18 % (11 % at 10 y)", "issue 14; Holleczek 2019"),
    ("breast", NODE): ("31 % (regional stage)", "SEER 2000-2005 via ACS"),
    ("breast", BONE): ("46 %", "Solomayer 2000"),
    ("breast", CTC): ("49 %", "Cristofanilli 2004 (random day in metastatic disease)"),
    ("breast", CTC_FIRST): ("", "(as calibrated before: first distant detection)"),
    ("breast", EARLY75): ("24 % (20.2 % pooled)", "Lucci 2012 (stage I-III); Janni 2016"),
    ("breast", CTC_DIAG): ("", ""),
    ("breast", MEDIAN): ("", ""),
    ("breast", DSS5): ("", ""),
    ("breast", DSS10): ("", ""),
    ("breast", LETHAL): (LETHAL_OK, "diagnosis series are of living patients"),
    ("breast", SYMPTOMS): ("", "(model check: law 3)"),
    ("lung", SYNC): ("57 % (40-57)", "SEER stat fact sheet (secondary)"),
    ("lung", NODE): ("", ""),
    ("lung", CTC2): ("20 % of samples (metastatic)", "Allard 2004 (34/168)"),
    ("lung", MEDIAN): ("", ""),
    ("lung", DSS5): ("", ""),
    ("lung", DSS10): ("", ""),
    ("lung", LETHAL): (LETHAL_OK, "diagnosis series are of living patients"),
    ("lung", SYMPTOMS): ("", "(model check: law 3)"),
    ("lung", SURV): (
        "about 4-5 months, stage IV NSCLC untreated",
        "Rapp 1988; Wao 2013 (as recalled)",
    ),
    ("prostate", SURV): ("", "(no untreated target sourced)"),
    ("prostate", SYNC): ("5 % (4-8)", "Siegel 2020 MMWR"),
    ("prostate", BONE): ("84 % of metastatic men (bone dominant)", "Gandaglia 2014"),
    ("prostate", CTC): ("57 % (castration-resistant)", "de Bono 2008"),
    ("prostate", CTC2): ("57 % of samples (metastatic)", "Allard 2004 (107/188; check only)"),
    ("prostate", MEDIAN): ("", ""),
    ("prostate", DSS5): ("", ""),
    ("prostate", DSS10): ("", ""),
    ("prostate", LETHAL): (LETHAL_OK, "diagnosis series are of living patients"),
    ("prostate", SYMPTOMS): ("", "(model check: law 3)"),
}


def figures(n: int, **changes: float) -> list[tuple[str, str, float, float, float, str, str]]:
    """Rows ``(primary, figure, value, low, high, target, source)`` for every target."""
    rows = []
    for site, (sex, seed) in PRIMARIES.items():
        model = circnet.TransportModel(circnet.default_body(sex))
        t0 = time.perf_counter()
        kw: dict[str, Any] = {k: v for k, v in changes.items() if not k.startswith(TROPISM)}
        extra = {k[len(TROPISM) :]: v for k, v in changes.items() if k.startswith(TROPISM)}
        if extra:  # ``tropism:<site>=value`` adds to (or overrides) the primary's own rows
            kw["tropism"] = {**clinical_params(site).tropism, **extra}
        res = simulate_cohort(model, site, n, rng=seed, years=10, **kw)
        f = res.figures()
        print(f"  {site}: {n} patients in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        p = res.patients
        died = p["died_of_disease"]
        dead_after = (p.loc[died, "death_day"] - p.loc[died, "diagnosis_day"]) / 30.44
        rows.append(
            (
                site,
                "runaway check: colonies per patient (max), cut, died of disease",
                np.nan,
                np.nan,
                np.nan,
                f"max {int(p['colonies_followed'].max())}, {int(p['colonies_cut'].sum())} cut, "
                f"{100 * died.mean():.1f} % died (median {dead_after.median():.1f} months "
                "after diagnosis)",
                "",
            )
        )
        for (s, name), (target, source) in TARGETS.items():
            if s == site:
                if name not in f.index:  # a first site that no patient had
                    rows.append((site, name, 0.0, np.nan, np.nan, target, source))
                    continue
                v, lo, hi = (float(f.loc[name, k]) for k in ("value", "low", "high"))
                rows.append((site, name, v, lo, hi, target, source))
        first = res.first_sites()
        top = ", ".join(f"{k} {100 * v:.0f} %" for k, v in first.head(3).items())
        rows.append((site, "first distant sites", np.nan, np.nan, np.nan, top or "-", ""))
    return rows


def table(rows: list[tuple[str, str, float, float, float, str, str]]) -> list[str]:
    """Markdown rows: primary, figure, model (95 % CI), clinic, source."""
    out = ["| primary | figure | model (95 % CI) | clinic | source |", "|---|---|---|---|---|"]
    for site, name, v, lo, hi, target, source in rows:
        if not np.isfinite(v):
            model, clinic = target, ""
        elif name == MEDIAN:
            model, clinic = f"{v:.3g} per 7.5 mL", target
        elif name == SURV:
            model, clinic = f"{v:.1f} months", target
        elif np.isfinite(lo):
            model, clinic = f"{v:.1f} % ({lo:.1f}-{hi:.1f})", target
        else:
            model, clinic = f"{v:.1f} %", target
        out.append(f"| {site} | {name} | {model} | {clinic} | {source} |")
    return out


def main() -> None:
    args = sys.argv[1:]
    out = next((a.split("=", 1)[1] for a in args if a.startswith("--out=")), None)
    args = [a for a in args if not a.startswith("--out=")]
    n = int(args.pop(0)) if args and "=" not in args[0] else 1000
    changes = {k: float(v) for k, v in (a.split("=", 1) for a in args)}
    warnings.simplefilter("ignore")
    rows = figures(n, **changes)
    head = f"cohort figures, {n} patients per primary, surgery, 10 y follow-up {changes or ''}"
    lines = table(rows)
    print(head)
    print("\n".join(lines))
    if out:
        seeds = ", ".join(
            f"{site} rng={seed} ({sex} body)" for site, (sex, seed) in PRIMARIES.items()
        )
        text = [
            "# Cohort figures against the clinic (issue 14)",
            "",
            f"Produced by `python data/clinical/calibrate_cohort.py {n} --out={out}` with circnet "
            f"{circnet.__version__}: `simulate_cohort` with the values of "
            "`circnet/data/primary_clinical.csv`, surgery at diagnosis with the regional nodes "
            f"dissected, 10 years of follow-up, {n} patients per primary; seeds (root entropy): "
            f"{seeds}. 95 % intervals are Wilson (shares) or Greenwood (Kaplan-Meier).",
            "",
            *lines,
            "",
        ]
        with open(out, "w", encoding="utf-8") as fh:
            fh.write("\n".join(text))


if __name__ == "__main__":
    main()
