"""A virtual cohort of colorectal cancers: clinical figures and a Kaplan-Meier plot.

Run: python examples/cohort.py   (writes out/cohort_patients.csv and out/cohort_km.png)
"""

import os
from pathlib import Path

import circnet
from circnet.cohort import simulate_cohort

quick = os.environ.get("CIRCNET_EXAMPLE_QUICK") == "1"
n = 100 if quick else 1000

model = circnet.TransportModel(circnet.default_body())  # fates computed once
res = simulate_cohort(model, "colon_rectum", n, rng=2026, years=10)
print(res.figures().round(1).to_string())
print("\nFirst distant sites:")
print(res.first_sites().round(3).to_string())

out = Path("out")
res.save(out / "cohort_patients.csv")
try:
    import matplotlib  # noqa: F401
except ImportError:
    print("matplotlib is not installed: no plot")
else:
    print("wrote", res.plot_survival(path=out / "cohort_km.png"))
