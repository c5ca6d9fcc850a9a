"""Where do cells shed by a tumour end up? Exact fate probabilities for a few primaries.

Run: python examples/fates.py   (writes out/fates.png when matplotlib is installed)
"""

from pathlib import Path

import circnet

body = circnet.default_body("female")
model = circnet.TransportModel(body)

# one row per primary, one column per fate; each row sums to 1
table = model.fate_table(["colon_rectum", "breast", "lung"])
print("Probability that a shed cell dies:")
print(table["dead"].round(4).to_string())

print("\nThe three most likely colonies and nodal tumours of each primary:")
for primary, row in table.drop(columns="dead").iterrows():
    top = row.sort_values(ascending=False).head(3)
    print(f"  {primary:<13}", ", ".join(f"{fate} {p:.2e}" for fate, p in top.items()))

# expected time to a fate, overall and given each fate (minutes)
res = model.fate_result("colon_rectum")
print(f"\nA colon cell reaches its fate after {res.expected_time / 60:.1f} h on average;")
print(f"one that founds a liver colony after {res.conditional_times['colony:liver'] / 60:.1f} h.")

try:
    from circnet.plots import plot_fates

    Path("out").mkdir(exist_ok=True)  # git-ignored when run from the repository root
    print("wrote", plot_fates(table, Path("out") / "fates.png", top=8))
except ImportError:  # circnet.plots.OptionalDependencyError is an ImportError
    print("(pip install 'circnet[plot]' for the bar chart)")
