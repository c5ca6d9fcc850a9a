"""Calibration check of the clinical laws with the cohort engine itself (issue 14).

Not part of the package. Runs :func:`circnet.cohort.simulate_cohort` (surgery at
diagnosis, 10 years of follow-up, fixed seeds) for each calibrated primary with the
values of ``circnet/data/primary_clinical.csv`` and prints the figures against their
clinical targets (the ``calibrated`` rows of that table cite this table). Unlike
``calibrate_course.py`` (a quick loop without seeding by metastases) the engine
includes every generation of colonies, nodal metastases left after surgery among them.

Run: ``python data/clinical/calibrate_cohort.py [N] [name=value ...]`` (default 1000
patients per primary; ``name=value`` overrides a clinical parameter for every primary,
e.g. ``switch_rate=0.05``, to reproduce a calibration step). About 5-15 s per 1,000
patients.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

import circnet
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
CTC = "CTC >= 5 per 7.5 mL at first distant metastasis"
#: (site, figure) -> (clinical target, its source)
TARGETS = {
    ("colon_rectum", SYNC): ("19-23 % (15-25)", "van der Geest 2015; Manfredi 2006"),
    ("colon_rectum", META): ("19 % (15-30)", "Elferink 2015; Manfredi 2006"),
    ("colon_rectum", NODE): ("about 1/3 (regional 35-40 %)", "issue 14; CDC USCS 2024"),
    ("breast", SYNC): ("5.5-6 % (5-10)", "SEER via ACS; Gong 2018"),
    ("breast", META): ("7-18 % (11 % at 10 y)", "issue 14; Holleczek 2019"),
    ("breast", NODE): ("31 % (regional stage)", "SEER 2000-2005 via ACS"),
    ("breast", CTC): ("49 %", "Cristofanilli 2004"),
    ("lung", SYNC): ("57 % (40-57)", "SEER stat fact sheet (secondary)"),
    ("prostate", SYNC): ("5 % (4-8)", "Siegel 2020 MMWR"),
}


def figures(n: int, **changes: float) -> list[tuple[str, str, float, float, float, str, str]]:
    """Rows ``(primary, figure, value, low, high, target, source)`` for every target."""
    rows = []
    for site, (sex, seed) in PRIMARIES.items():
        model = circnet.TransportModel(circnet.default_body(sex))
        t0 = time.perf_counter()
        res = simulate_cohort(model, site, n, rng=seed, years=10, **changes)
        f = res.figures()
        print(f"  {site}: {n} patients in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for (s, name), (target, source) in TARGETS.items():
            if s == site:
                v, lo, hi = (float(f.loc[name, k]) for k in ("value", "low", "high"))
                rows.append((site, name, v, lo, hi, target, source))
        first = res.first_sites()
        top = ", ".join(f"{k} {100 * v:.0f} %" for k, v in first.head(3).items())
        rows.append((site, "first distant sites", np.nan, np.nan, np.nan, top or "-", ""))
    return rows


def main() -> None:
    args = sys.argv[1:]
    n = int(args.pop(0)) if args and "=" not in args[0] else 1000
    changes = {k: float(v) for k, v in (a.split("=", 1) for a in args)}
    warnings.simplefilter("ignore")
    rows = figures(n, **changes)
    print(f"cohort figures, {n} patients per primary, surgery, 10 y follow-up {changes or ''}")
    print("| primary | figure | model (95 % CI) | clinic | source |")
    print("|---|---|---|---|---|")
    for site, name, v, lo, hi, target, source in rows:
        model = f"{v:.1f} % ({lo:.1f}-{hi:.1f})" if np.isfinite(v) else target
        clinic = target if np.isfinite(v) else ""
        print(f"| {site} | {name} | {model} | {clinic} | {source} |")


if __name__ == "__main__":
    main()
