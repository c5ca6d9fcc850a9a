"""Score the shipped calibrated site-model profile on the validation series (issue 13).

No fitting: loads ``circnet.sitemodel.calibrated("disibio2008")`` (fitted to DiSibio &
French 2008 by ``benchmarks/fit_sites.py --write-profile``) and scores it, per validation
series (Budczies 2015, Schlageter 2016) and primary, beside the baselines on the same rows:
uniform, soil-only (a site the training series lacks gets half a count), soil-only with the
``typical`` rule for such sites (the mean pooled count of the training sites: the rule the
model itself uses, so the two are compared on equal terms), and anatomy alone. Deviance
(multinomial, lower is better) and Spearman correlation; wins count primaries where the
calibrated model's deviance is below the baseline's. Abrams 1950 and Bubendorf 2000 are
reserved as an external test and never loaded.

Run: ``python benchmarks/validate_profile.py [--out benchmarks/results/validate_profile.md]``
(a few seconds).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import circnet
from circnet import sitemodel

MODELS = ("uniform", "soil", "soil_typical", "anatomy", "calibrated")


def _markdown(df: pd.DataFrame) -> list[str]:
    head = "| primary | " + " | ".join(df.columns) + " |"
    out = [head, "| --- |" + " ---: |" * len(df.columns)]
    for idx, row in df.iterrows():
        cells = [
            f"{v:.0f}" if c == "n" else f"{v:.1f}" if c.startswith("dev") else f"{v:.2f}"
            for c, v in row.items()
        ]
        out.append(f"| {idx} | " + " | ".join(cells) + " |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    fit = sitemodel.calibrated("disibio2008")
    train = circnet.load_autopsy()
    lines = [
        "# The shipped calibrated profile on the validation series",
        "",
        "Produced by `python benchmarks/validate_profile.py --out "
        "benchmarks/results/validate_profile.md`; profile `disibio2008` "
        f"({fit.link} link, {fit.n_parameters} parameters, unseen-site rule "
        f"`{fit.unseen}`), fitted to DiSibio & French 2008 only.",
        "",
    ]
    pooled = []
    for name, counts in sitemodel.validation_series().items():
        s = sitemodel.score_sites(fit, counts, train)
        cols = ["n"] + [f"dev_{m}" for m in MODELS] + [f"rho_{m}" for m in MODELS]
        lines += [f"## {name}", ""] + _markdown(s[cols]) + [""]
        pooled.append(s.drop(index="total"))
    held = pd.concat(pooled)
    lines += [
        "## Both series: the calibrated model against each baseline",
        "",
        "| baseline | total deviance | calibrated | primaries won |",
        "| --- | ---: | ---: | ---: |",
    ]
    for m in MODELS[:-1]:
        wins = int((held["dev_calibrated"] < held[f"dev_{m}"]).sum())
        lines.append(
            f"| {m} | {held[f'dev_{m}'].sum():.1f} | {held['dev_calibrated'].sum():.1f} | "
            f"{wins}/{len(held)} |"
        )
    lung = held.loc[["lung"]] if "lung" in held.index else held.iloc[:0]
    lines += [
        "",
        f"Lung primaries: calibrated {lung['dev_calibrated'].sum():.1f} against "
        f"anatomy alone {lung['dev_anatomy'].sum():.1f}.",
        "",
        f"Scored in {time.perf_counter() - t0:.1f} s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
