"""Hypothesis strategies for the transport tests: random valid bodies and cell profiles.

(``strategies.py`` belongs to the body tests; these are the transport ones.)
"""

from __future__ import annotations

from hypothesis import strategies as st
from transport_bodies import random_body

import circnet

__all__ = ["seeds", "bodies", "cell_profiles", "bodies_and_cells", "rates"]

seeds = st.integers(min_value=0, max_value=2**32 - 1)

#: Random valid bodies (seeded generator: a failing example is reported by its seed).
bodies = seeds.map(random_body)


def rates(lo: float = 1e-4, hi: float = 0.2, zero: bool = True) -> st.SearchStrategy[float]:
    """Rates per minute, log-uniform in [lo, hi], sometimes exactly 0."""
    pos = st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)
    return st.one_of(st.just(0.0), pos) if zero else pos


# 0, 1, or not absurdly small: a probability of 1e-311 makes subnormal rates, which the
# QuantEcon reference (GTH) turns into NaN
_probabilities = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(min_value=1e-9, max_value=1.0))
_times = st.floats(min_value=1.0, max_value=2e4, allow_nan=False)
# 0 or a real factor: a subnormal receptivity (1e-308) gives rates QuantEcon's GTH turns to NaN
_receptivity = st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=5.0))


@st.composite
def cell_profiles(draw, organs=(), nodes=()) -> circnet.CellProfile:
    """A valid CellProfile, with per-site overrides for some of ``organs`` / ``nodes``."""
    sites: dict[str, dict[str, float]] = {}
    for organ in organs:
        if draw(st.booleans()):
            sites[organ] = {
                "receptivity": draw(_receptivity),
                "extravasation_probability": draw(_probabilities),
                "lodged_time_min": draw(_times),
            }
    for node in nodes:
        if draw(st.booleans()):
            sites[str(node)] = {
                "trapping_probability": draw(_probabilities),
                "immune_kill_rate": draw(rates(1e-5, 1e-2, zero=False)),
            }
    return circnet.CellProfile(
        diameter_um=draw(st.floats(5.0, 25.0)),
        deformability=draw(st.floats(0.0, 0.5)),
        lodging_width_um=draw(st.floats(0.2, 3.0)),
        # CTCs die (half-life hours); with no death and no lodging a cell could circulate
        # for 1e15 minutes, an ill-posed chain (see test_transport.py, near-singular case)
        death_rate_blood=draw(rates(1e-4, 0.2, zero=False)),
        death_rate_lymph=draw(rates()),
        lymph_fraction=draw(_probabilities),
        extravasation_probability=draw(_probabilities),
        lodged_time_min=draw(_times),
        colonisation_probability=draw(_probabilities),
        tissue_time_min=draw(_times),
        receptivity=draw(_receptivity),
        trapping_probability=draw(_probabilities),
        immune_kill_rate=draw(rates(1e-5, 1e-2, zero=False)),
        nodal_growth_rate=draw(rates(1e-5, 1e-2)),
        node_release_rate=draw(rates(1e-5, 1e-2)),
        sites=sites,
    )


@st.composite
def bodies_and_cells(draw):
    """``(body, cells)``: a random body and a random profile with overrides on its sites."""
    body = draw(bodies)
    cells = draw(cell_profiles(circnet.organs(body), circnet.lymph_nodes(body)))
    return body, cells
