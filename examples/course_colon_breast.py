"""Two disease courses: a colon primary (male body) and a breast primary (female body).

For each: the first metastasis (when it switched on angiogenesis, when it became
detectable, where) and the tumour burden per site at 5 years, with the parameters used.
Runs in a few seconds: ``python examples/course_colon_breast.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
import circnet  # noqa: E402

YEARS = 10
SEED = 2024
PARAMS = circnet.TumourParams()  # the sourced defaults (see PARAMS.describe())


def show(primary: str, sex: str) -> None:
    body = circnet.default_body(sex)
    res = circnet.simulate_course(body, primary, YEARS, rng=SEED, params=PARAMS)
    s = res.summary
    print(f"\n== {primary} primary ({sex} body), {YEARS} years, rng={SEED} ==")
    print(
        f"first vascular metastasis: day {s['first_vascular_metastasis_day']:.0f} "
        f"({s['first_vascular_metastasis_day'] / 365.25:.1f} y) in "
        f"{s['first_vascular_metastasis_site']}"
    )
    if s["first_detectable_metastasis_site"] is None:
        print("no metastasis reaches the detection threshold")
    else:
        print(
            f"first detectable metastasis (>= {PARAMS.detection_cells:.0e} cells): day "
            f"{s['first_detectable_metastasis_day']:.0f} "
            f"({s['first_detectable_metastasis_day'] / 365.25:.1f} y) in "
            f"{s['first_detectable_metastasis_site']}"
        )
    day5 = round(5 * 365.25)
    ts = res.timeseries[res.timeseries["day"] == day5].set_index("site")
    ts = ts[ts["total_cells"] > 0].sort_values("total_cells", ascending=False)
    print(
        f"at 5 years (day {day5}), sites with tumour cells, by stage (circnet.course.COURSE_TERMS):"
    )
    cols = ["primary_cells", "dormant_cells", "micrometastases", "vascular_metastases",
            "vascular_metastasis_cells", "detectable_metastases"]  # fmt: skip
    print(ts[cols].head(8).to_string(float_format=lambda x: f"{x:.3g}"))
    print(
        f"cells shed over {YEARS} y: {s['cells_shed']:.3g}; disseminated to organs: "
        f"{s['cells_disseminated_to_organs']:.3g}, to lymph nodes: "
        f"{s['cells_disseminated_to_nodes']:.3g} (each a dormant cell at first); at the end: "
        f"{s['dormant_cells_end']:,} dormant disseminated cells, {s['micrometastases_end']:,} "
        f"avascular micrometastases, {s['vascular_metastases_end']} vascular metastases "
        f"({s['vascular_metastasis_cells_end']:.3g} cells)"
    )


if __name__ == "__main__":
    keys = [
        "lambda1", "b", "d", "time_scale", "avascular_limit_cells", "shedding_rate",
        "switch_rate", "dormant_death_rate", "immune_kill_rate", "detection_cells",
    ]  # fmt: skip
    print("tumour parameters: " + ", ".join(f"{k}={getattr(PARAMS, k):g}" for k in keys))
    print("cells: CellProfile() defaults; primary starts at 1e6 cells (1 mm^3) on day 0")
    show("colon_rectum", "male")
    show("breast", "female")
