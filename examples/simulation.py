"""A billion cells released from a lung tumour: exact integer counts in every state.

Run: python examples/simulation.py   (writes out/simulation.png when matplotlib is installed)
"""

from pathlib import Path

import circnet
from circnet.plots import group_states

body = circnet.default_body()
model = circnet.TransportModel(body)

times = [1.0, 10.0, 60.0, 600.0, 1440.0]  # minutes after release
res = model.simulate("lung", 10**9, times, rng=2024)  # same seed, same counts

groups = group_states(res.to_frame(), body)  # in blood, lodged, in tissue, in lymph, ...
print("Cells from a lung tumour, by where they are (columns: minutes after release):")
print(groups.T.to_string())
assert (res.counts.sum(axis=1) == 10**9).all()  # every cell is somewhere, exactly

print("\nColonies founded after one day:")
final = res.final()
print(final[final.index.str.startswith("colony:") & (final > 0)].sort_values().tail(5).to_string())

# a few single cells, each followed to its fate
paths = model.trajectories("lung", 3, rng=1)
for cell, path in paths.groupby("cell"):
    states = " -> ".join(path["state"].head(6))
    print(f"cell {cell}: {states}{' ...' if len(path) > 6 else ''}")

try:
    from circnet.plots import plot_propagation

    Path("out").mkdir(exist_ok=True)  # git-ignored when run from the repository root
    print("wrote", plot_propagation(res, Path("out") / "simulation.png", body=body, stacked=False))
except ImportError:
    print("(pip install 'circnet[plot]' for the plot)")
