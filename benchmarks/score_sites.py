"""Score site-distribution predictions on the validation autopsy series (issues 12 and 13).

Per validation series (Budczies 2015, Schlageter 2016) and primary, prints the number of
scored involvements, and the multinomial deviance and Spearman correlation of

* ``uniform``   every scored site equally likely;
* ``soil``      soil-only: each site's frequency pooled over all DiSibio & French 2008
                primaries (the training series; nothing from the validation series);
* ``anatomy``   circnet's anatomy model with its default population of cells,
                ``TransportModel(default_body(sex), CellPopulation.default(body))``,
                colony and node fates summed into each site spec (sex by primary: the
                first of the male and female default bodies that has the primary organ);
* ``profile``   the same body with the single default ``CellProfile()`` (one 15 um cell,
                no shunt, adhesion, tissue lymph or transcoelomic shedding), for contrast;
* ``flow``      the flattest physiological limit of the anatomy: no size arrest (a 1 nm
                cell) and the same size-independent arrest, :data:`FLOW_ARREST` per
                passage, in every capillary bed, lymph-node beds included. The CTC
                half-life of hours asks for a per-pass arrest far below 1, where fates
                follow blood flow (as Font-Clos et al.'s tracers do); nothing is fitted;

then, on Font-Clos et al.'s 13 sites only (primaries they model), the same baselines,
anatomy and their published blood-flow matrix (``circnet/data/fontclos2020_model.csv``).
The training series DiSibio & French 2008 is scored the same way, in-sample, for
reference only (soil is fitted to it). Then the done-when checks of issue 12 (top three
distant sites of breast and prostate primaries, the lead site of lung primaries), the
per-pass lodging of the default population, and its time in blood.
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
#: Per-passage arrest of every capillary bed in the ``flow`` model (2 %; 0.2-30 % give
#: DiSibio deviances of 21,200-22,800, all far above uniform's 12,640)
FLOW_ARREST = 0.02
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
    models = {
        sex: circnet.TransportModel(g, circnet.CellPopulation.default(g))
        for sex, g in bodies.items()
    }
    profiles = {sex: circnet.TransportModel(g) for sex, g in bodies.items()}
    flat = circnet.CellProfile(
        diameter_um=0.001, lodging_width_um=0.001, adhesion_probability=FLOW_ARREST
    )
    flows = {sex: circnet.TransportModel(g, flat) for sex, g in bodies.items()}
    kinds = {"anatomy": models, "profile": profiles, "flow": flows}

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
        "frequencies (training only, plus half a count per site: the Jeffreys prior).",
        "anatomy = circnet default body with the default CellPopulation; profile = the same",
        "body with the single default CellProfile; flow = the same body with no size arrest",
        f"and an arrest of {FLOW_ARREST:g} per passage in every bed (fates follow blood flow).",
        "",
    ]
    grand_unscorable: dict[str, int] = {}
    grand_total = 0
    totals = []
    fate_cache: dict[tuple[str, str, str], pd.Series] = {}

    def fates_of(kind: str, sex: str, primary: str) -> pd.Series:
        key = (kind, sex, primary)
        if key not in fate_cache:
            fate_cache[key] = kinds[kind][sex].fates(primary)
        return fate_cache[key]

    checks: dict[str, pd.DataFrame] = {}
    for name, title in {
        **SERIES,
        "disibio2008": "DiSibio & French 2008 (training, in-sample)",
    }.items():
        path = DATA / f"autopsy_{name}.csv"
        val = circnet.load_autopsy(path if name in SERIES else name)
        raw = circnet.load_autopsy(path if name in SERIES else name, raw=True)
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
        rows: dict[str, list[tuple[str, str, float]]] = {k: [] for k in kinds}
        keep = []
        for r in val.itertuples():
            sex = sex_of(r.primary)
            fates = site_fates(bodies[sex], r.primary, r.site)
            if fates is None:
                unscorable["site not in the primary's body"] += int(r.count)
                continue
            f = fates_of("anatomy", sex, r.primary)
            p = float(sum(f.get(x, 0.0) for x in fates))
            if p <= 0.0:
                unscorable["site circnet's anatomy cannot reach"] += int(r.count)
                continue
            rows["anatomy"].append((r.primary, r.site, p))
            for kind in ("profile", "flow"):
                g = fates_of(kind, sex, r.primary)
                rows[kind].append((r.primary, r.site, float(sum(g.get(x, 0.0) for x in fates))))
            keep.append(r.Index)
        scored = val.loc[keep]
        obs = count_matrix(scored)
        anatomy, profile, flow = (
            pd.DataFrame(rows[k], columns=["primary", "site", "p"]).pivot(
                index="primary", columns="site", values="p"
            )
            for k in kinds
        )
        checks[name] = anatomy
        sites = list(obs.columns)
        preds = {
            "uniform": uniform_prediction(sites),
            "soil": soil_only_prediction(train, sites, missing="zero", smoothing="jeffreys"),
            "anatomy": anatomy,
            "profile": profile,
            "flow": flow,
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
                "soil": soil_only_prediction(train, fsites, missing="zero", smoothing="jeffreys"),
                "anatomy": anatomy,
                "profile": profile,
                "flow": flow,
                "fontclos": fc_wide,
            }
            fres = {k: score_predictions(fc_obs, v) for k, v in fpreds.items()}
            lines += [f"## {title} (`{name}`): Font-Clos et al.'s 13 sites only", ""]
            lines += table(fres, fc_obs)
            totals.append((name, "Font-Clos sites", fres))
        lines += [f"Unscorable involvements in `{name}` (of {total}):", ""]
        for why, c in unscorable.items():
            lines.append(f"- {why}: {c} ({100 * c / total:.1f} %)")
            if name in SERIES:
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
        if name in SERIES:
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
    ]
    lines += done_checks(checks, bodies)
    lines += residence(models)
    lines += [
        "",
        f"circnet {circnet.__version__}; run time {time.perf_counter() - t0:.1f} s.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return text


def done_checks(checks: dict[str, pd.DataFrame], bodies: dict[str, nx.DiGraph]) -> list[str]:
    """Top three distant sites (scored sites other than regional nodes) per primary."""
    out = ["", "## Done-when checks: top distant sites (anatomy model, scored sites)", ""]
    out += ["| series | primary | top 3 distant sites (anatomy) | observed top 3 |"]
    out += ["| --- | --- | --- | --- |"]
    for name in (*SERIES, "disibio2008"):
        anat = checks[name]
        obs = count_matrix(circnet.load_autopsy(DATA / f"autopsy_{name}.csv"))
        for primary in ("breast", "prostate", "lung"):
            if primary not in anat.index:
                continue
            row = anat.loc[primary].dropna().drop(["regional_nodes", primary], errors="ignore")
            o = obs.loc[primary].dropna().drop(["regional_nodes", primary], errors="ignore")
            top = ", ".join(f"{s} {row[s] / row.sum():.2f}" for s in row.nlargest(3).index)
            otop = ", ".join(f"{s} {o[s] / o.sum():.2f}" for s in o.nlargest(3).index)
            out.append(f"| {name} | {primary} | {top} | {otop} |")
    return out + [""]


def residence(models: dict[str, circnet.TransportModel]) -> list[str]:
    """Per-pass lodging of the default population and its time in blood."""
    m = models["female"]
    lodg = m.lodging_table(by_subpopulation=True)
    out = ["## Per-pass arrest of the default population (female body)", ""]
    out += md(m.population.to_frame(), "{:.3f}") + [""]
    out += md(lodg, "{:.3f}") + [""]
    out += ["## Time in blood before first arrest (or death in blood), exact", ""]
    res = pd.concat(
        [
            models["female"].blood_residence(["breast", "lung", "colon_rectum"]),
            models["male"].blood_residence(["prostate"]),
        ]
    )
    out += md(res, "{:.3g}") + [""]
    out += [
        "CTC half-life measured after resection: 1-2.4 h (Meng S et al. 2004 Clin Cancer Res",
        "10:8152); a half-life of 1-2.4 h means 50-71 % still in blood at 1 h, 25-50 % at 2 h.",
    ]
    return out


def md(df: pd.DataFrame, fmt: str) -> list[str]:
    """A DataFrame as markdown table lines (numbers with ``fmt``)."""
    head = f"| {df.index.name or ''} | " + " | ".join(str(c) for c in df.columns) + " |"
    out = [head, "| --- |" + " ---: |" * len(df.columns)]
    for i, r in df.iterrows():
        out.append(f"| {i} | " + " | ".join(fmt.format(float(v)) for v in r) + " |")
    return out


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
