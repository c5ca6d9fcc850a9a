"""How much of the pattern of metastatic sites does anatomy explain?

Fits one receptivity ("soil") factor per organ, shared by every primary, and one factor on
nodal growth, to the 3827 autopsies of DiSibio & French (2008, Arch Pathol Lab Med
132:931, Figure 1), and compares the fit with circnet's anatomy alone (every factor 1):

* per primary: deviance, KL divergence, Spearman rank correlation, and the explained
  variance of Font-Clos, Zapperi & La Porta (2020, iScience 23:101073): R^2 of log observed
  against log predicted site frequency, adjusted for binomial measurement noise (their
  ``compute_explained_variance``); its mean over primaries is their "about 40 %";
* leave-one-primary-out cross-validation: factors fitted to the other primaries predict
  the held-out one;
* the fitted factors with 95 % intervals (Wald, dispersion-scaled).

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
    print(
        f"\nlog-likelihood: anatomy {res.loglik_anatomy:.1f}, fitted {res.loglik:.1f} "
        f"({len(res.covariance)} parameters, reference organ {res.reference!r}); deviance "
        f"{res.deviance_anatomy:.0f} -> {res.deviance:.0f} on df {res.df}; "
        f"dispersion {res.dispersion:.1f}"
    )
    g = res.goodness
    table = pd.DataFrame(
        {
            "n": g["n"],
            "dev_anat": g["deviance_anatomy"].round(0),
            "dev_fit": g["deviance_fitted"].round(0),
            "KL_anat": g["kl_anatomy"].round(2),
            "KL_fit": g["kl_fitted"].round(2),
            "rho_anat": g["spearman_anatomy"].round(2),
            "rho_fit": g["spearman_fitted"].round(2),
            "R2adj_anat": g["r2_adj_anatomy"].round(2),
            "R2adj_fit": g["r2_adj_fitted"].round(2),
        }
    )
    print("\nFit per primary (anatomy alone vs fitted receptivity):")
    print(table.to_string())
    print(
        f"\nShare of the variation anatomy alone explains (mean Font-Clos adjusted R^2 over "
        f"primaries): {res.anatomy_share:.2f} (median {np.nanmedian(g['r2_adj_anatomy']):.2f}; "
        f"unadjusted R^2 mean {np.nanmean(g['r2_anatomy']):.2f}); Font-Clos et al.: about 0.40"
    )

    cv = circnet.cross_validate(counts, result=res)
    print("\nLeave-one-primary-out cross-validation (held-out primary):")
    print(cv.round(2).to_string())
    better = int((cv["deviance_heldout"] < cv["deviance_anatomy"]).sum())
    print(
        f"held-out deviance {cv['deviance_heldout'].sum():.0f} vs anatomy "
        f"{cv['deviance_anatomy'].sum():.0f}; better than anatomy for {better} of {len(cv)} "
        f"primaries; mean Spearman {cv['spearman_anatomy'].mean():.2f} -> "
        f"{cv['spearman_heldout'].mean():.2f}; mean adjusted R^2 "
        f"{np.nanmean(cv['r2_adj_anatomy']):.2f} -> {np.nanmean(cv['r2_adj_heldout']):.2f}"
    )

    print(f"\nFitted factors (relative to {res.reference}; 95 % intervals):")
    shown = pd.concat([res.receptivity[res.receptivity["fitted"]], res.parameters])
    print(
        shown[["receptivity", "ci_low", "ci_high", "se_log"]]
        .sort_values("receptivity", ascending=False)
        .to_string(float_format=lambda x: f"{x:.3g}")
    )


if __name__ == "__main__":
    main()
