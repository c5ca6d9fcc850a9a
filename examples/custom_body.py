"""A custom body from a YAML file: read it, check it, compute fates, draw it.

Run: python examples/custom_body.py   (writes out/tiny_body.html)
"""

from pathlib import Path

import circnet

here = Path(__file__).resolve().parent
body = circnet.read_body(here / "data" / "tiny_body.yaml")  # validated on reading
print(f"{body.graph['name']}: {body.number_of_nodes()} nodes, {body.number_of_edges()} edges")
print(circnet.summary(body).round(2).to_string())

model = circnet.TransportModel(body)
print("\nFates of a cell shed by each organ:")
print(model.fate_table(circnet.organs(body)).round(5).to_string())

# an edit that breaks the flow balance is caught, every problem named
broken = body.copy()
broken.edges["left_heart", "kidney_bed"]["flow"] = 70.0
print("\nAfter raising one arterial flow from 60 to 70 mL/min:")
for problem in circnet.problems(broken)[:3]:
    print("  -", problem)
fixed = circnet.balance_flows(broken)  # rebalance, keeping each node's split
circnet.validate(fixed)
print(
    "balance_flows fixes it; kidney fates now:",
    model.with_body(fixed).fates("kidney").round(5).to_dict(),
)

Path("out").mkdir(exist_ok=True)  # git-ignored when run from the repository root
print("wrote", circnet.render_html(body, Path("out") / "tiny_body.html", model.fates("kidney")))
