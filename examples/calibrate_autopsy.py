"""How much of the pattern of metastatic sites does anatomy explain?

Fits one receptivity ("soil") factor per organ, shared by every primary, and one factor on
nodal growth, to the 3827 autopsies of DiSibio & French (2008, Arch Pathol Lab Med
132:931, Figure 1), and scores it beside circnet's anatomy alone (every factor 1) and two
baselines on the same rows, uniform and soil-only (each site's pooled frequency):

* the headline: leave-one-primary-out (held-out) deviance and log-likelihood, soil-only
  too estimated from the training primaries only, and how many held-out primaries the fit
  predicts better than soil-only;
* per held-out primary: deviance, Spearman rank correlation and, as a secondary column,
  the explained variance of Font-Clos, Zapperi & La Porta (2020, iScience 23:101073)
  unadjusted and capped at 1 (their noise-adjusted version exceeds 1 and cannot rank
  models);
* the overdispersion D/df and the fitted factors with 95 % intervals (Wald, scaled by the
  dispersion); factors the data do not identify are flagged, with no interval.

Run: ``python examples/calibrate_autopsy.py`` (one to two minutes). With
``CIRCNET_EXAMPLE_QUICK=1`` (as the tests run it) it fits three primaries only (one of the
male body, one of the female, one of both) and cross-validates those three: the same steps
in a few seconds, for a smoke test rather than for the numbers.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

import circnet

#: Quick mode (the tests): three primaries, so three cross-validation folds.
QUICK = os.environ.get("CIRCNET_EXAMPLE_QUICK", "") not in ("", "0")
QUICK_PRIMARIES = ["colon_rectum", "breast", "prostate"]


def main() -> None:
    pd.set_option("display.width", 120)
    counts = circnet.load_autopsy("disibio2008")
    if QUICK:
        counts = counts[counts["primary"].isin(QUICK_PRIMARIES)]
        print(f"quick mode: primaries {', '.join(QUICK_PRIMARIES)} only")
    dropped = counts.attrs["dropped"]
    print(
        f"DiSibio & French 2008: {int(counts['count'].sum())} site involvements in "
        f"{counts['primary'].nunique()} circnet primaries; dropped {int(dropped['count'].sum())} "
        f"(primary or site not in circnet)"
    )
    res = circnet.calibrate(counts)
    unreachable = res.dropped
    print(
        f"dropped in the body: {int(unreachable['count'].sum())} "
        + str(unreachable.groupby("reason")["count"].sum().to_dict())
    )
    cv = circnet.cross_validate(counts, result=res)
    res = res.with_heldout(cv)
    head = res.summary()
    print(
        "\nHeadline: leave-one-primary-out (held-out) scores beside the baselines on the same "
        "rows\n(soil-only: each site's frequency pooled over the training primaries of each "
        "fold; deviance: lower is better; r2: Font-Clos unadjusted R^2, capped at 1, "
        "in-sample mean, secondary):"
    )
    print(head.round(2).to_string())
    print(
        f"overdispersion D/df {res.overdispersion:.1f} on df {res.df}: standard errors "
        f"multiplied by sqrt({res.dispersion:.1f}) = {np.sqrt(res.dispersion):.1f}"
    )

    g = cv
    table = pd.DataFrame(
        {
            "n": g["n"],
            "dev_unif": g["deviance_uniform"].round(0),
            "dev_soil": g["deviance_soil_only"].round(0),
            "dev_anat": g["deviance_anatomy"].round(0),
            "dev_fit": g["deviance_heldout"].round(0),
            "rho_soil": g["spearman_soil_only"].round(2),
            "rho_anat": g["spearman_anatomy"].round(2),
            "rho_fit": g["spearman_heldout"].round(2),
            "R2_soil": g["r2_soil_only"].round(2),
            "R2_anat": g["r2_anatomy"].round(2),
            "R2_fit": g["r2_heldout"].round(2),
        }
    )
    print("\nHeld-out scores per primary (fit and soil-only without that primary):")
    print(table.to_string())
    better = int((cv["deviance_heldout"] < cv["deviance_soil_only"]).sum())
    print(f"fitted model beats soil-only for {better} of {len(cv)} held-out primaries")

    print(f"\nFitted factors (relative to {res.reference}; 95 % intervals, dispersion scaled):")
    shown = pd.concat([res.receptivity[res.receptivity["fitted"]], res.parameters])
    print(
        shown[["receptivity", "ci_low", "ci_high", "se_log", "identified", "at_bound"]]
        .sort_values("receptivity", ascending=False)
        .to_string(float_format=lambda x: f"{x:.3g}")
    )
    lost = shown.index[~shown["identified"]]
    print(
        f"not identified by these data (interval NaN; estimate set by the ridge or a bound): "
        f"{', '.join(lost) if len(lost) else 'none'}"
    )


if __name__ == "__main__":
    main()
