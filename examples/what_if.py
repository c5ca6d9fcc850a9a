"""What if? Change a cell parameter or a blood flow and compare the fates.

Run: python examples/what_if.py   (writes what_if.png when matplotlib is installed)
"""

import pandas as pd

import circnet

body = circnet.default_body()
model = circnet.TransportModel(body)
primary, fate = "colon_rectum", "colony:liver"

variants = {
    "reference": model,
    "larger cells (20 um)": model.with_cells(diameter_um=20.0),
    "half the liver's arterial flow": model.with_body(circnet.scale_organ_flow(body, "liver", 0.5)),
    "twice the death rate in blood": model.with_cells(
        death_rate_blood=2 * model.cells.death_rate_blood
    ),
}
table = pd.DataFrame({name: m.fates(primary) for name, m in variants.items()}).T
print(f"Fates of a cell shed by a {primary} tumour:")
print(table[["dead", "colony:liver", "colony:lung"]].to_string(float_format="{:.3e}".format))

# Colon cells reach the liver by the portal vein, so the liver's arterial flow hardly
# matters to them, and they spend so little time in the blood that its death rate barely
# does either; their size decides where they lodge.
# elasticities: % change of P(liver colony) per % change of each parameter
e = model.sensitivity(
    fate, primary, parameters=["diameter_um", "death_rate_blood"], flows=["liver"]
)
print(f"\nElasticity of P({fate}):")
print(e.round(3).to_string())

try:
    from circnet.plots import plot_fates

    print("wrote", plot_fates(table, "what_if.png", top=5))
except ImportError:
    print("(pip install 'circnet[plot]' for the bar chart)")
