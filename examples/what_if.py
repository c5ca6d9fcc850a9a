"""What if? Change a blood flow or a cell parameter and compare the fates.

A lung tumour sheds into the pulmonary veins, so its cells go straight to the left heart and
are spread over the organs by their share of the cardiac output: doubling the brain's blood
flow doubles the chance that a shed cell founds a brain colony, and halving the liver's
arterial flow halves the liver's. (A colon tumour would not show this: its cells reach the
liver by the portal vein and the lung next, so the organs' arterial flows hardly matter.)

Run: python examples/what_if.py   (writes out/what_if.png when matplotlib is installed)
"""

from pathlib import Path

import pandas as pd

import circnet

body = circnet.default_body()
model = circnet.TransportModel(body)
primary, fate = "lung", "colony:brain"

variants = {
    "reference": model,
    "twice the brain's blood flow": model.with_body(circnet.scale_organ_flow(body, "brain", 2.0)),
    "half the liver's blood flow": model.with_body(circnet.scale_organ_flow(body, "liver", 0.5)),
    "larger cells (20 um)": model.with_cells(diameter_um=20.0),
    "twice the death rate in blood": model.with_cells(
        death_rate_blood=2 * model.cells.death_rate_blood
    ),
}
table = pd.DataFrame({name: m.fates(primary) for name, m in variants.items()}).T
print(f"Fates of a cell shed by a {primary} tumour:")
print(table[["dead", "colony:brain", "colony:liver"]].to_string(float_format="{:.3e}".format))

ratio = table.loc["twice the brain's blood flow", fate] / table.loc["reference", fate]
print(f"\nP({fate}) with twice the brain's flow / reference: {ratio:.2f}")
assert ratio > 1.9  # the flow change has its effect for this primary

# elasticities: % change of P(brain colony) per % change of each parameter or flow
e = model.sensitivity(
    fate, primary, parameters=["diameter_um", "death_rate_blood"], flows=["brain"]
)
print(f"\nElasticity of P({fate}):")
print(e.round(3).to_string())

try:
    from circnet.plots import plot_fates

    out = Path("out")  # git-ignored when run from the repository root
    out.mkdir(exist_ok=True)
    print("wrote", plot_fates(table, out / "what_if.png", top=5))
except ImportError:
    print("(pip install 'circnet[plot]' for the bar chart)")
