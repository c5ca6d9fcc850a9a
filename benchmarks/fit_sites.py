"""Fit the site model to the training series and score it where it was not fitted (issue 13).

Protocol (issue 12/13): train on DiSibio & French 2008 only; rank models by
leave-one-primary-out (LOPO) deviance within training and by deviance on the validation
series (Budczies 2015, Schlageter 2016 transcriptions), always beside the uniform,
soil-only and anatomy-alone baselines on the same rows. Abrams 1950 and Bubendorf 2000 are
reserved as an external test and are never loaded here.

For each configuration of :func:`circnet.sitemodel.fit_sites` the script prints the
parameter count, in-sample log-likelihood, AIC and BIC, the LOPO totals (and the number of
held-out primaries where the model beats soil-only), the validation totals, and the time
of one full fit and of the cross-validation. Then, for the configuration chosen by LOPO
deviance (training data only), the per-primary validation table and the fitted parameters
with their intervals. ``--write-profile`` writes that fit as the shipped calibrated profile
(``circnet/data/calibrated_disibio2008.csv``).

Run: ``python benchmarks/fit_sites.py [--quick] [--out benchmarks/results/fit_sites.md]
[--write-profile]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import circnet
from circnet import sitemodel as sm

CONFIGS = {
    "power": {"link": "power"},
    "saturating": {"link": "saturating"},
    "power + cascade": {"link": "power", "fit_cascade": True},
    "power + cascade + arrest": {"link": "power", "fit_cascade": True, "fit_arrest": True},
}
QUICK = {"power": {"link": "power"}}
RIDGES = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0)


def md(frame: pd.DataFrame, digits: int = 1) -> list[str]:
    cols = [str(c) for c in frame.columns]
    out = ["| " + " | ".join([frame.index.name or "", *cols]) + " |"]
    out.append("| --- |" + " ---: |" * len(cols))
    for idx, row in frame.iterrows():
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append(f"{v:.{digits}f}" if abs(v) < 1e5 else f"{v:.3g}")
            else:
                cells.append(str(v))
        out.append("| " + " | ".join([str(idx), *cells]) + " |")
    return out


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one configuration, no CV")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--write-profile", action="store_true")
    ap.add_argument(
        "--select-ridge", action="store_true",
        help="also cross-validate the prior precision (power link with cascades)",
    )  # fmt: skip
    args = ap.parse_args()
    train = circnet.load_autopsy("disibio2008")
    val = sm.validation_series()
    extra = sorted(set().union(*[set(v["site"]) for v in val.values()]))
    configs = QUICK if args.quick else CONFIGS
    lines = ["# Site model: training fit, held-out and validation scores", ""]
    summary = []
    fits = {}
    cvs = {}
    for name, kw in configs.items():
        t0 = time.perf_counter()
        fit = sm.fit_sites(train, extra_sites=extra, **kw)
        t_fit = time.perf_counter() - t0
        fits[name] = fit
        row = {
            "parameters": fit.n_parameters,
            "log-lik": fit.log_likelihood,
            "AIC": fit.aic,
            "BIC": fit.bic,
            "fit s": t_fit,
        }
        if not args.quick:
            t0 = time.perf_counter()
            cv = sm.cross_validate_sites(train, **kw)
            row["CV s"] = time.perf_counter() - t0
            held = cv.drop(index="total")
            row["LOPO dev"] = cv.loc["total", "dev_calibrated"]
            row["LOPO soil"] = cv.loc["total", "dev_soil"]
            row["LOPO wins"] = f"{int((held.dev_calibrated < held.dev_soil).sum())}/{len(held)}"
            cvs[name] = cv
        for vname, v in val.items():
            s = sm.score_sites(fit, v, train)
            held = s.drop(index="total")
            row[f"{vname} dev"] = s.loc["total", "dev_calibrated"]
            row[f"{vname} soil"] = s.loc["total", "dev_soil"]
            row[f"{vname} wins"] = f"{int((held.dev_calibrated < held.dev_soil).sum())}/{len(held)}"
        summary.append(pd.Series(row, name=name))
        print(name, {k: (round(v, 1) if isinstance(v, float) else v) for k, v in row.items()})
    table = pd.DataFrame(summary)
    table.index.name = "configuration"
    lines += md(table)
    if args.select_ridge:
        grid = []
        for ridge in RIDGES:
            cv = sm.cross_validate_sites(train, link="power", fit_cascade=True, ridge=ridge)
            held = cv.drop(index="total")
            grid.append(
                pd.Series(
                    {
                        "LOPO dev": cv.loc["total", "dev_calibrated"],
                        "LOPO wins": f"{int((held.dev_calibrated < held.dev_soil).sum())}/20",
                    },
                    name=f"{ridge:g}",
                )
            )
            print("ridge", ridge, grid[-1].to_dict())
        frame = pd.DataFrame(grid)
        frame.index.name = "ridge"
        lines += ["", "Prior precision (power + cascade), chosen by LOPO deviance:", ""]
        lines += md(frame)
    if cvs:
        best = min(cvs, key=lambda k: cvs[k].loc["total", "dev_calibrated"])
    else:
        best = next(iter(fits))
    fit = fits[best]
    lines += ["", f"Chosen by LOPO deviance on the training series: **{best}**.", ""]
    lines += ["```", fit.summary(), "```", ""]
    for vname, v in val.items():
        s = sm.score_sites(fit, v, train)
        cols = [c for c in s.columns if c.startswith(("dev_", "rho_")) and c != "rho_uniform"]
        lines += [f"## Validation: {vname}", ""]
        frame = s[cols].copy()
        frame.insert(0, "n", s["n"].astype(int).astype(str))
        lines += md(frame, 2)
        lines.append("")
    p = fit.parameters.copy()
    lines += ["## Fitted parameters (intervals: 95 %, quasi-likelihood)", ""]
    lines += md(p, 4)
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    if args.write_profile:
        path = sm.write_calibrated(fit, "disibio2008")
        print("wrote", path)
    print(text)
    return text


if __name__ == "__main__":
    main()
