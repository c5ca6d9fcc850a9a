"""Quick calibration loop for the clinical laws (issue 14): not part of the package.

Exact in law for the first metastases of a patient, without the seeding by metastases
and without the saturation of nodal immune kill: shed cells are Poisson, each lodged
cell awakens independently, so awakenings per patient form a Poisson process whose
intensity is the dormant pool times ``awakening_rate`` (computed on a daily grid).
Run: python data/clinical/calibrate_course.py
"""

from __future__ import annotations

import math
import sys

import numpy as np
from scipy.signal import lfilter

import circnet
from circnet._clinical import (
    clinical_params,
    ctc_expected,
    gompertz_cells,
    gompertz_time,
    metastasis_rate,
    sample_patients,
)

SITES = {"colorectal": "colon_rectum", "breast": "breast", "lung": "lung", "prostate": "prostate"}


def fractions(model, site):
    f = model.fates(site)
    space = model.state_space
    at = space.fate_sites()
    organ, node, by_site = 0.0, 0.0, {}
    for label, p in f.items():
        where = at.get(label)
        if where is None:
            continue
        if str(label).startswith("node:"):
            node += p
        elif where != site:
            organ += p
            by_site[where] = by_site.get(where, 0.0) + p
        by_site.setdefault(where, 0.0)
    return organ, node, by_site


def run(kind, n=1000, seed=1, follow_years=5.0, **changes):
    site = SITES[kind]
    body = circnet.default_body(sex="male" if kind == "prostate" else "female")
    model = circnet.TransportModel(body)
    cp = clinical_params(kind, **changes)
    f_organ, f_node, by_site = fractions(model, site)
    rng = np.random.default_rng(seed)
    pat = sample_patients(cp, n, rng)
    K, L = cp.ceiling_cells, cp.avascular_limit_cells
    out = {"sync": 0, "meta": 0, "node": 0, "eligible": 0, "ctc5": 0, "metastatic": 0}
    sites = list(by_site)
    w = np.array([by_site[s] for s in sites])
    first_sites = {}
    for i in range(n):
        td = float(pat.diagnosis_day[i])
        a = float(pat.rate[i])
        T = td + follow_years * 365.25
        dt = max(1.0, T / 4000)
        t = np.arange(0.0, T, dt)
        N = np.where(t < td, gompertz_cells(t, cp.start_cells, a, K), 0.0)
        shed = cp.shedding_per_cell_day * N
        res = {}
        for cls, f, kill in (("organ", f_organ, 0.0), ("node", f_node, cp.nodal_kill_rate)):
            h = (kill if cls == "node" else cp.dormant_death_rate) + cp.awakening_rate
            decay = math.exp(-h * dt)
            pool = lfilter([1.0], [1.0, -decay], f * shed * dt)  # dormant pool
            A = cp.awakening_rate * pool * dt
            lam = A.sum()
            m = rng.poisson(lam)
            if m == 0:
                res[cls] = np.zeros(0), np.zeros(0)
                continue
            u = rng.choice(t, size=m, p=A / lam)
            r = metastasis_rate(a, cp, rng.standard_normal(m))
            res[cls] = u, r
        u, r = res["organ"]
        if u.size:
            t_l = gompertz_time(1.0, L, r, K)
            sw = rng.exponential(1.0 / cp.switch_rate, u.size) if cp.switch_rate > 0 else np.inf
            t_d = gompertz_time(L, cp.detection_cells, r, K)
            det = u + t_l + sw + t_d
            first = float(det.min())
            site_j = rng.choice(sites, p=w / w.sum())
        else:
            first = math.inf
        u, r = res["node"]
        node_pos = bool(
            u.size and (u + gompertz_time(1.0, cp.node_positive_cells, r, K) <= td).any()
        )
        out["node"] += node_pos
        if first <= td:
            out["sync"] += 1
        else:
            out["eligible"] += 1
            if first <= td + follow_years * 365.25:
                out["meta"] += 1
        if first <= T:
            out["metastatic"] += 1
            first_sites[site_j] = first_sites.get(site_j, 0) + 1
            burden = cp.detection_cells + (
                gompertz_cells(first - td, 0, a, K) * 0
                if first > td
                else float(gompertz_cells(first, cp.start_cells, a, K))
            )
            mean = ctc_expected(cp.shedding_per_cell_day * burden, cp)
            out["ctc5"] += rng.poisson(mean) >= 5
    sync = out["sync"] / n
    meta = out["meta"] / max(out["eligible"], 1)
    print(
        f"{kind:10s} sync {sync:.3f}  meta5y {meta:.3f}  node+ {out['node'] / n:.3f}  "
        f"ctc>=5 among metastatic {out['ctc5'] / max(out['metastatic'], 1):.2f}  "
        f"first sites {sorted(first_sites.items(), key=lambda x: -x[1])[:4]}"
    )
    return sync, meta, out["node"] / n


if __name__ == "__main__":
    kind = sys.argv[1]
    kw = {k: float(v) for k, v in (a.split("=") for a in sys.argv[2:])}
    import warnings

    warnings.simplefilter("ignore")
    run(kind, n=int(kw.pop("n", 400)), seed=int(kw.pop("seed", 1)), **kw)
