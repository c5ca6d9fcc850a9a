"""Virtual patients: a Latin-hypercube sweep of cell parameters, then what drives liver
colonisation from a colon primary (Sobol' indices from a Saltelli design).

Run: ``python examples/ensemble.py`` (about 20 s on two cores). With
``CIRCNET_EXAMPLE_QUICK=1`` (as the tests run it) the Saltelli design has a base size of
16 instead of 64: the same steps, for a smoke test rather than for the numbers.
"""

import os

import circnet

#: Quick mode (the tests): a smaller Saltelli design.
QUICK = os.environ.get("CIRCNET_EXAMPLE_QUICK", "") not in ("", "0")

# 16 virtual tumours: cell size and lymphatic share sampled by Latin hypercube
design = circnet.sample({"diameter_um": (10.0, 20.0), "lymph_fraction": (0.0, 0.3)}, 16, rng=1)
result = circnet.ensemble("fates", design, rng=1, primary="colon_rectum")
print(result.summary().loc[["P(colony:liver)", "P(colony:lung)"], ["mean", "5%", "95%"]])

# variance-based sensitivity of the liver and lung colonisation probabilities
design = circnet.saltelli(
    {"diameter_um": (10.0, 20.0), "deformability": (0.0, 0.4), "liver.receptivity": (0.5, 2.0)},
    16 if QUICK else 64,
    rng=2,
)
result = circnet.ensemble(
    "fates", design, rng=2, primary="colon_rectum", engine="processes", n_workers=2
)
print(result.sensitivity("P(colony:liver)").round(3))
