"""A disease course over two years from a breast tumour, with an HTML report.

Run: python examples/course.py   (writes out/course_report.html; open it in a browser, offline)
"""

from pathlib import Path

import circnet
from circnet.report import course_report

body = circnet.default_body("female")
model = circnet.TransportModel(body)  # reused: the fates of each source are cached

res = circnet.simulate_course(model, "breast", 2, rng=7)
print(res.summary.to_string())

# burden per site at the end, largest first: the primary and vascular metastases only;
# dormant disseminated cells are counted apart (see circnet.course.COURSE_TERMS)
print("\nCells of the primary and vascular metastases per site after two years:")
print(res.burden(res.days).sort_values(ascending=False).head(6).to_string())
print("\nDormant disseminated cells per site (not metastases):")
print(res.burden(res.days, stage="dormant").sort_values(ascending=False).head(6).to_string())

# same seed, primary removed after one year
cut = circnet.simulate_course(model, "breast", 2, rng=7, surgery_day=365)
print(
    f"\ncells shed: {res.summary['cells_shed']:.3g} without surgery, "
    f"{cut.summary['cells_shed']:.3g} with surgery at day 365"
)

try:
    import matplotlib  # noqa: F401

    plots = True
except ImportError:
    plots = False
Path("out").mkdir(exist_ok=True)  # git-ignored when run from the repository root
report = Path("out") / "course_report.html"
out = course_report(res, body, report, fates=model.fates("breast"), plots=plots)
print("wrote", out, "- open it in a browser (it works offline)")
