"""``python -m circnet``: build the reference body and print its summary table.

The full command-line interface (``circnet ...``) lives in :mod:`circnet.cli`; this
entry point is the main job of the README's first set-up command.
"""

from __future__ import annotations

import argparse
import sys

import networkx as nx

from ._version import __version__
from .body import arterial_pool, default_body, lymph_nodes, organs, summary

__all__ = ["main", "format_summary"]


def format_summary(body: nx.DiGraph) -> str:
    """The summary of ``body`` as a plain-text table with totals.

    Works on any valid body: nodes are found by kind (the arterial total is the output
    of :func:`~circnet.body.arterial_pool`), not by the default body's names.

    Examples
    --------
    >>> text = format_summary(default_body())
    >>> "cardiac output" in text and "liver" in text
    True
    """
    table = summary(body)
    heart = arterial_pool(body)
    arterial = sum(float(d["flow"]) for _, _, d in body.out_edges(heart, data=True))
    co = float(body.graph.get("cardiac_output") or arterial)
    name = body.graph.get("name", "body")
    lymph_total = float(table.loc[table["kind"] == "organ", "lymph_outflow_ml_min"].sum())
    head = (
        f"{'organ':<17}{'blood in':>10}{'% of CO':>9}{'lymph out':>11}  "
        f"{'first bed':<11}{'capillary':>9}  first lymph nodes"
    )
    units = f"{'':<17}{'mL/min':>10}{'':>9}{'mL/min':>11}  {'downstream':<11}{'um':>9}"
    rule = "-" * (len(head) + 12)
    lines = [
        f"{name} (circnet {__version__})",
        f"cardiac output {co:.0f} mL/min; {body.number_of_nodes()} nodes, "
        f"{body.number_of_edges()} edges; {len(organs(body))} organs, "
        f"{len(lymph_nodes(body))} lymph-node groups",
        "",
        head,
        units,
        rule,
    ]
    for organ, row in table.iterrows():
        lines.append(
            f"{organ:<17}{row.blood_inflow_ml_min:>10.1f}{row.pct_cardiac_output:>9.2f}"
            f"{row.lymph_outflow_ml_min:>11.4f}  {row.first_bed_downstream:<11}"
            f"{row.capillary_diameter_um:>9.1f}  {row.lymph_nodes or '-'}"
        )
    lines += [
        rule,
        f"{'arterial total':<17}{arterial:>10.1f}{100 * arterial / co:>9.2f}"
        f"{lymph_total:>11.4f}  (left heart output; all lymph returns by the ducts)",
        "",
        "blood in: the bed's blood inflow (the liver's includes the portal vein; the lung's is",
        "the whole cardiac output); first bed downstream: where a cell leaving the organ by its",
        "veins meets capillaries next.",
        f"Built from {len(body.graph.get('sources', []))} sourced entries in circnet/data "
        "(see circnet/data/README.md).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the summary of the reference body; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m circnet",
        description="Build the reference adult body (ICRP Publication 89) and summarise it.",
    )
    parser.add_argument("--sex", choices=("male", "female"), default="male")
    parser.add_argument(
        "--cardiac-output", type=float, default=None, metavar="ML_MIN",
        help="cardiac output in mL/min (default: the ICRP 89 reference value)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    body = default_body(args.sex, cardiac_output=args.cardiac_output)
    print(format_summary(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
