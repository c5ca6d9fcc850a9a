"""Score site-distribution predictions on the validation autopsy series (issues 12 and 13).

Per validation series (Budczies 2015, Schlageter 2016) and primary, prints the number of
scored involvements, and the multinomial deviance and Spearman correlation of

* ``uniform``   every scored site equally likely;
* ``soil``      soil-only: each site's frequency pooled over all DiSibio & French 2008
                primaries (the training series; nothing from the validation series);
* ``anatomy``   circnet's default ``TransportModel(default_body(sex)).fates(primary)``,
                colony and node fates summed into each site spec (sex by primary: the
                first of the male and female default bodies that has the primary organ);

then, on Font-Clos et al.'s 13 sites only (primaries they model), the same baselines,
anatomy and their published blood-flow matrix (``circnet/data/fontclos2020_model.csv``).
All models of one table are scored on the same rows (see ``circnet.scoring``: predictions
renormalised over the scored sites, floor 1e-6). Finally, the involvements circnet cannot
score: sites or primaries it lacks, sites absent from the primary's body, and sites its
anatomy cannot reach (fate probability exactly 0).

Run: ``python benchmarks/score_sites.py [--out benchmarks/results/score_sites.md]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import networkx as nx
import pandas as pd

import circnet
from circnet.scoring import (
    count_matrix,
    score_predictions,
    soil_only_prediction,
    uniform_prediction,
)

DATA = Path(circnet.__file__).resolve().parent / "data"
SERIES = {"budczies2015": "Budczies et al. 2015", "schlageter2016": "Schlageter et al. 2016"}


def site_fates(g: nx.DiGraph, primary: str, spec: str) -> list[str] | None:
    """Fate labels of a site spec for ``primary`` in body ``g``; None if the body lacks it."""
    kinds = nx.get_node_attributes(g, "kind")
    nodes = sorted(str(n) for n in circnet.lymph_nodes(g))
    tissue = [n for n, d in g.nodes(data=True) if d["kind"] == "tissue" and d["organ"] == primary]
    regional = sorted({str(v) for t in tissue for v in g.successors(t) if kinds[v] == "lymph_node"})
    body_organs = set(circnet.organs(g))
    out: list[str] = []
    for part in spec.split("+"):
        if part == "regional_nodes":
            out += [f"node:{n}" for n in regional]
        elif part == "distant_nodes":
            out += [f"node:{n}" for n in nodes if n not in regional]
        elif part in body_organs:
            out.append(f"colony:{part}")
        elif part in nodes:
            out.append(f"node:{part}")
    return out or None


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = ap.parse_args()
    t0 = time.perf_counter()
    bodies = {sex: circnet.default_body(sex) for sex in ("male", "female")}
    models = {sex: circnet.TransportModel(g) for sex, g in bodies.items()}

    def sex_of(primary: str) -> str:
        return "male" if primary in circnet.organs(bodies["male"]) else "female"

    train = count_matrix(circnet.load_autopsy("disibio2008"))
    fc = pd.read_csv(DATA / "fontclos2020_model.csv", keep_default_na=False)
    fc = fc[(fc["circnet_primary"] != "") & (fc["circnet_site"] != "")]
    fc_wide = fc.pivot(index="circnet_primary", columns="circnet_site", values="probability")
    fc_wide = fc_wide.astype(float)

    lines = ["# Site-distribution scores on the validation series", ""]
    lines += [
        "Deviance: multinomial, per primary, on the scored sites (lower is better; 0 = the",
        "observed frequencies). rho: Spearman correlation of observed counts and prediction",
        "(uniform has none). n: involvements scored. Predictions renormalised over the scored",
        "sites, floor 1e-6 (circnet.scoring). soil = DiSibio & French 2008 pooled site",
        "frequencies (training only). anatomy = circnet default TransportModel fates.",
        "",
    ]
    grand_unscorable: dict[str, int] = {}
    grand_total = 0
    totals = []
    for name, title in SERIES.items():
        val = circnet.load_autopsy(DATA / f"autopsy_{name}.csv")
        raw = circnet.load_autopsy(DATA / f"autopsy_{name}.csv", raw=True)
        total = int(raw["count"].sum())
        dropped = val.attrs["dropped"]
        no_primary = dropped["reason"].str.endswith("primary not in circnet")
        unscorable = {
            "primary circnet lacks": int(dropped.loc[no_primary, "count"].sum()),
            "site circnet lacks (serosal, meninges, other)": int(
                dropped.loc[~no_primary, "count"].sum()
            ),
            "site not in the primary's body": 0,
            "site circnet's anatomy cannot reach": 0,
        }
        anat_rows, keep = [], []
        for r in val.itertuples():
            sex = sex_of(r.primary)
            fates = site_fates(bodies[sex], r.primary, r.site)
            if fates is None:
                unscorable["site not in the primary's body"] += int(r.count)
                continue
            f = models[sex].fates(r.primary)
            p = float(sum(f.get(x, 0.0) for x in fates))
            if p <= 0.0:
                unscorable["site circnet's anatomy cannot reach"] += int(r.count)
                continue
            anat_rows.append((r.primary, r.site, p))
            keep.append(r.Index)
        scored = val.loc[keep]
        obs = count_matrix(scored)
        anatomy = pd.DataFrame(anat_rows, columns=["primary", "site", "p"]).pivot(
            index="primary", columns="site", values="p"
        )
        sites = list(obs.columns)
        preds = {
            "uniform": uniform_prediction(sites),
            "soil": soil_only_prediction(train, sites),
            "anatomy": anatomy,
        }
        res = {k: score_predictions(obs, v) for k, v in preds.items()}
        lines += [f"## {title} (`{name}`): all scorable sites", ""]
        lines += table(res, obs)
        totals.append((name, "all sites", res))
        # Font-Clos rows: their primaries, their sites
        fc_obs = obs.loc[[p for p in obs.index if p in fc_wide.index]]
        fc_obs = fc_obs[[s for s in fc_obs.columns if s in fc_wide.columns]]
        fc_obs = fc_obs.loc[fc_obs.notna().any(axis=1)]
        if not fc_obs.empty:
            fsites = list(fc_obs.columns)
            fpreds = {
                "uniform": uniform_prediction(fsites),
                "soil": soil_only_prediction(train, fsites),
                "anatomy": anatomy,
                "fontclos": fc_wide,
            }
            fres = {k: score_predictions(fc_obs, v) for k, v in fpreds.items()}
            lines += [f"## {title} (`{name}`): Font-Clos et al.'s 13 sites only", ""]
            lines += table(fres, fc_obs)
            totals.append((name, "Font-Clos sites", fres))
        lines += [f"Unscorable involvements in `{name}` (of {total}):", ""]
        for why, c in unscorable.items():
            lines.append(f"- {why}: {c} ({100 * c / total:.1f} %)")
            grand_unscorable[why] = grand_unscorable.get(why, 0) + c
        u = sum(unscorable.values())
        lines += [f"- **total: {u} of {total} ({100 * u / total:.1f} %)**"]
        scorable_primaries = total - unscorable["primary circnet lacks"]
        lines += [
            f"- of the {scorable_primaries} involvements of primaries circnet has: "
            f"{u - unscorable['primary circnet lacks']} "
            f"({100 * (u - unscorable['primary circnet lacks']) / scorable_primaries:.1f} %)",
            "",
        ]
        grand_total += total
    lines += [
        "## Totals",
        "",
        "| series | rows | model | n | deviance | mean rho | primaries beating uniform |",
    ]
    lines += ["| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for name, rows, res in totals:
        for model, s in res.items():
            beat = int((s["deviance"] < res["uniform"]["deviance"]).sum())
            rho = s["spearman"].mean()  # NaN for uniform (no ranking)
            lines.append(
                f"| {name} | {rows} | {model} | {int(s['n_involvements'].sum())} | "
                f"{s['deviance'].sum():.1f} | {rho:.2f} | {beat}/{len(s)} |"
            )
    u = sum(grand_unscorable.values())
    lines += [
        "",
        f"Unscorable validation involvements, both series: **{u} of {grand_total} "
        f"({100 * u / grand_total:.1f} %)**: "
        + "; ".join(f"{k} {v}" for k, v in grand_unscorable.items()),
        "",
        f"circnet {circnet.__version__}; run time {time.perf_counter() - t0:.1f} s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return text


def table(res: dict[str, pd.DataFrame], obs: pd.DataFrame) -> list[str]:
    models = list(res)
    head = "| primary | k | n | " + " | ".join(f"dev {m}" for m in models)
    head += " | " + " | ".join(f"rho {m}" for m in models if m != "uniform") + " |"
    out = [head, "|" + " --- |" * 1 + " ---: |" * (2 + 2 * len(models) - 1)]
    first = res[models[0]]
    for p in first.index:
        cells = [p, str(first.loc[p, "n_sites"]), str(first.loc[p, "n_involvements"])]
        cells += [f"{res[m].loc[p, 'deviance']:.1f}" for m in models]
        cells += [f"{res[m].loc[p, 'spearman']:.2f}" for m in models if m != "uniform"]
        out.append("| " + " | ".join(cells) + " |")
    cells = ["**total**", "", str(int(first["n_involvements"].sum()))]
    cells += [f"**{res[m]['deviance'].sum():.1f}**" for m in models]
    cells += [f"{res[m]['spearman'].mean():.2f}" for m in models if m != "uniform"]
    out.append("| " + " | ".join(cells) + " |")
    return out + [""]


if __name__ == "__main__":
    main()
