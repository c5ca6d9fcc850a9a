"""Where are metastases found at autopsy? Soil, anatomy, and a fit scored where it was not made.

The site model (:mod:`circnet.sitemodel`) predicts the share of involvements at each site
for each primary as ``soil x g(access)``: the soil is a per-site weight (a log-scale
deviation from the pooled training frequencies, with a stated Normal prior), the access is
the exact probability that a cell shed by the primary ends at the site (circnet's transport
model, with cascades: metastases re-seed), and ``g`` compresses access (``a**beta``).

This script

1. fits it to DiSibio & French 2008 (training) with the cascade strength and the cells'
   deformability fitted jointly with the soil (and the rule for sites the training series
   lacks chosen on it: :func:`circnet.sitemodel.unseen_site_path` in the benchmark);
2. cross-validates it (leave one primary out, without the arrest search, which
   ``benchmarks/fit_sites.py`` adds) beside uniform, soil-only and anatomy alone;
3. scores it on the validation series (Budczies 2015, Schlageter 2016), never used to fit;
4. loads the shipped calibrated profile and its cell-level reading.

Run: ``python examples/site_model.py`` (a few minutes). With ``CIRCNET_EXAMPLE_QUICK=1``
(as the tests run it) it fits four primaries without the joint arrest search: the same
steps in seconds, for a smoke test rather than the numbers.
"""

from __future__ import annotations

import os

import pandas as pd

import circnet
from circnet import sitemodel as sm

QUICK = os.environ.get("CIRCNET_EXAMPLE_QUICK") == "1"

train = circnet.load_autopsy("disibio2008")
# a site the training series lacks (Budczies' meninges, "other") gets the typical fitted
# soil times its access: the rule that won leave-one-site-out on the training series
options = {"link": "power", "fit_cascade": True, "fit_arrest": not QUICK, "unseen": "typical"}
if QUICK:
    train = train[train["primary"].isin(["colon_rectum", "breast", "lung", "prostate"])]
validation = sm.validation_series()
extra = sorted(set().union(*[set(v["site"]) for v in validation.values()]))

fit = sm.fit_sites(train, extra_sites=extra, **options)
print(fit.summary())
print(fit.parameters.round(4).tail(4).to_string())

# the cross-validation refits 20 times: without the arrest search here (a minute or two);
# benchmarks/fit_sites.py cross-validates every configuration, arrest included
cv = sm.cross_validate_sites(train, link="power", fit_cascade=True, unseen="typical")
held = cv.drop(index="total")
wins = int((held["dev_calibrated"] < held["dev_soil"]).sum())
print("\nheld-out (leave one primary out) deviance, lower is better:")
print(cv.loc["total", [c for c in cv.columns if c.startswith("dev_")]].round(1).to_string())
print(f"beats soil-only for {wins} of {len(held)} held-out primaries")

for name, counts in validation.items():
    s = sm.score_sites(fit, counts, train)
    rows = s.drop(index="total")
    print(f"\n{name}: deviance on rows never used to fit")
    cols = ["n", "dev_uniform", "dev_soil", "dev_anatomy", "dev_calibrated"]
    with pd.option_context("display.width", 120):
        print(s[cols].round(1).to_string())
    print(f"beats soil-only for {int((rows.dev_calibrated < rows.dev_soil).sum())}/{len(rows)}")

shipped = sm.calibrated("disibio2008")
print(f"\nshipped profile: link {shipped.link}, {shipped.n_parameters} parameters")
population = sm.calibrated_population("disibio2008", circnet.default_body("female"))
fates = circnet.TransportModel(circnet.default_body("female"), population).fates("breast")
print("breast, calibrated cell population, top colony fates:")
print(fates[fates.index.str.startswith("colony:")].nlargest(5).round(4).to_string())
