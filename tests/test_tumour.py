"""Tests for circnet.tumour: growth against solve_ivp, avascular limit, immunity, parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import circnet
from circnet.tumour import CELLS_PER_MM3, PARAMETERS, TumourParams, grow, growth_rhs, shedding_rate


def _reference(cells, capacity, days, params, *, vascular=True, nodal=False, inhibitor_from=None):
    """solve_ivp on the model as published (V, K in mm^3), tight tolerances."""

    def rhs(t, y):
        g = 1.0 if inhibitor_from is not None and t >= inhibitor_from else 0.0
        return growth_rhs(y[0], y[1], params, vascular=vascular, nodal=nodal, inhibitor=g)

    y0 = [cells / CELLS_PER_MM3, capacity / CELLS_PER_MM3]
    t = np.arange(days + 1.0)
    if inhibitor_from is None:
        sol = solve_ivp(rhs, (0, days), y0, method="LSODA", rtol=1e-12, atol=1e-16, t_eval=t)
        return sol.y[0] * CELLS_PER_MM3, sol.y[1] * CELLS_PER_MM3
    # integrate the two pieces separately: the inhibitor switches on at a step
    a = solve_ivp(
        rhs,
        (0, inhibitor_from),
        y0,
        method="LSODA",
        rtol=1e-12,
        atol=1e-16,
        t_eval=t[t <= inhibitor_from],
    )
    b = solve_ivp(
        rhs,
        (inhibitor_from, days),
        a.y[:, -1],
        method="LSODA",
        rtol=1e-12,
        atol=1e-16,
        t_eval=t[t > inhibitor_from],
    )
    return (
        np.concatenate([a.y[0], b.y[0]]) * CELLS_PER_MM3,
        np.concatenate([a.y[1], b.y[1]]) * CELLS_PER_MM3,
    )


@pytest.mark.parametrize(
    "params, cells, capacity, days, rtol",
    [
        (TumourParams(), 1e6, 1e6, 1500, 1e-6),  # human time scale, from the switch
        # Hahnfeldt's published (mouse) rates and initial state: fast, RK4 error ~1e-5 a day
        (TumourParams(time_scale=1.0), 180e6, 625e6, 40, 3e-5),
        (TumourParams(lambda2=0.01, time_scale=5.0), 1e7, 3e7, 400, 3e-5),
    ],
)
def test_hahnfeldt_growth_matches_solve_ivp(params, cells, capacity, days, rtol):
    course = circnet.grow_tumour(cells, capacity, days, params)
    v, k = _reference(cells, capacity, days, params)
    np.testing.assert_allclose(course["cells"].to_numpy(), v, rtol=rtol)
    np.testing.assert_allclose(course["capacity_cells"].to_numpy(), k, rtol=rtol)


def test_inhibitor_matches_solve_ivp_and_shrinks_the_tumour():
    p = TumourParams()
    course = circnet.grow_tumour(1e6, 1e6, 1200, p, inhibitor_from_day=600)
    v, _ = _reference(1e6, 1e6, 1200, p, inhibitor_from=600)
    np.testing.assert_allclose(course["cells"].to_numpy(), v, rtol=1e-6)
    untreated = circnet.grow_tumour(1e6, 1e6, 1200, p)
    assert course["cells"].iloc[-1] < 0.5 * untreated["cells"].iloc[-1]


def test_nodal_kill_and_gompertz_match_solve_ivp():
    p = TumourParams(immune_kill_rate=0.003)
    course = circnet.grow_tumour(1e6, 1e6, 800, p, nodal=True)
    v, _ = _reference(1e6, 1e6, 800, p, nodal=True)
    np.testing.assert_allclose(course["cells"].to_numpy(), v, rtol=1e-6)
    g = TumourParams(growth_model="gompertz")
    course = circnet.grow_tumour(1e6, 1e6, 800, g)
    v, _ = _reference(1e6, g.gompertz_capacity_cells, 800, g)
    np.testing.assert_allclose(course["cells"].to_numpy(), v, rtol=1e-9)


def test_avascular_step_is_exact_gompertz():
    p = TumourParams()
    lnv, lnk = np.log([1e-6, 1e-3]), np.log([1.0, 1.0])
    u, w = grow(lnv, lnk, 100.0, p, vascular=np.array([False, False]))
    expected = lnk + (lnv - lnk) * math.exp(-p.rate("lambda1") * 100.0)
    np.testing.assert_allclose(u, expected, rtol=1e-14)
    np.testing.assert_array_equal(w, lnk)


def test_dormant_colony_stays_at_or_below_the_avascular_limit():
    p = TumourParams()
    course = circnet.grow_tumour(1.0, p.avascular_limit_cells, 20 * 365, p, vascular=False)
    assert course["cells"].max() <= p.avascular_limit_cells
    assert course["cells"].iloc[-1] > 0.99 * p.avascular_limit_cells  # it does reach it
    assert (course["capacity_cells"] == p.avascular_limit_cells).all()
    assert (course["shedding"] == 0).all()  # no vessels, no shedding


def test_immune_kill_holds_a_nodal_tumour_and_fails_as_it_grows():
    p = TumourParams()
    held = circnet.grow_tumour(1.0, p.avascular_limit_cells, 3650, p, vascular=False, nodal=True)
    free = circnet.grow_tumour(1.0, p.avascular_limit_cells, 3650, p, vascular=False)
    assert held["cells"].iloc[-1] < 0.25 * free["cells"].iloc[-1]  # held below the limit
    # strong kill: cleared (below one cell)
    strong = circnet.grow_tumour(
        1.0, 1e6, 30, p.replace(immune_kill_rate=1.0), vascular=False, nodal=True
    )
    assert strong["cells"].iloc[-1] < 1.0
    # a vascular nodal tumour past the saturation escapes: kill per cell falls as it grows
    big = circnet.grow_tumour(1e7, 1e7, 1500, p, nodal=True)
    assert big["cells"].iloc[-1] > 1e9


def test_shedding_rate_is_butler_gullino_per_gram():
    p = TumourParams()
    assert shedding_rate([1e9], [True], p)[0] == pytest.approx(3.2e6)
    assert shedding_rate([2e9], [True], p)[0] == pytest.approx(6.4e6)
    assert shedding_rate([1e9], [False], p)[0] == 0.0
    assert shedding_rate([1e9], [False], p.replace(avascular_shedding=0.5))[0] == 1.6e6


def test_every_parameter_is_documented():
    table = TumourParams().describe()
    assert set(table.index) == set(PARAMETERS)
    assert table["source"].str.len().min() > 20
    assert PARAMETERS["lambda1"].source.startswith("Hahnfeldt")


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"switch_rate": -1.0}, "`switch_rate` must be >= 0"),
        ({"lambda1": 0.0}, "`lambda1` must be > 0"),
        ({"b": math.nan}, "`b` must be finite"),
        ({"d": "x"}, "`d` must be a number"),
        ({"e": True}, "`e` must be a number"),
        ({"growth_model": "logistic"}, "`growth_model` must be one of"),
        ({"colony_cells": 0.5}, "`colony_cells` must be >= 1 cells"),
        ({"speed": 1.0}, "unknown tumour parameter 'speed'"),
        ({"colony_cells": 1e7}, "must not exceed `avascular_limit_cells`"),
    ],
)
def test_bad_parameters_raise(changes, match):
    with pytest.raises(circnet.ParameterError, match=match):
        TumourParams(**changes)


def test_replace_and_rate_reject_unknown_names():
    with pytest.raises(circnet.ParameterError, match="unknown tumour parameter 'speed'"):
        TumourParams().replace(speed=1.0)
    with pytest.raises(circnet.ParameterError, match="not a rate"):
        TumourParams().rate("switch_rate")


def test_grow_tumour_rejects_bad_input():
    with pytest.raises(circnet.ParameterError, match="`cells` must be > 0"):
        circnet.grow_tumour(0.0, 1e6, 10)
    with pytest.raises(circnet.ParameterError, match="`capacity_cells` must be > 0"):
        circnet.grow_tumour(1.0, -1.0, 10)
    with pytest.raises(circnet.ParameterError, match="`days` must be >= 0"):
        circnet.grow_tumour(1.0, 1e6, -1)


def test_describe_works_on_the_class_and_shows_domain_and_kind():
    table = TumourParams.describe()
    assert table.equals(TumourParams().describe())
    assert table.loc["colony_cells", "domain"] == "[1, inf)"
    assert table.loc["lambda1", "kind"] == "measured"
    assert TumourParams(time_scale=2.0).describe().loc["time_scale", "value"] == 2.0
