"""CellProfile: validation rules (each names its parameter), per-site values, sources."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from transport_bodies import ring_body, ring_lymph_body

import circnet
from circnet.cells import PARAMETERS, SITE_PARAMETERS, lodging_probability

RATES = [k for k, p in PARAMETERS.items() if p.domain == "[0, inf)"]
POSITIVE = [k for k, p in PARAMETERS.items() if p.domain == "(0, inf)"]
PROBABILITIES = [k for k, p in PARAMETERS.items() if p.domain == "[0, 1]"]
ORGAN_PARAMETERS = [k for k in SITE_PARAMETERS if PARAMETERS[k].per_site == "organ"]
NODE_PARAMETERS = [k for k in SITE_PARAMETERS if PARAMETERS[k].per_site == "node"]


def test_domains_sort_every_parameter():
    assert RATES and POSITIVE and PROBABILITIES
    assert set(RATES) | set(POSITIVE) | set(PROBABILITIES) | {"deformability"} == set(PARAMETERS)


def test_defaults_are_valid_and_every_parameter_is_a_field():
    cells = circnet.CellProfile()
    for name in PARAMETERS:
        assert isinstance(getattr(cells, name), float)
    assert set(PARAMETERS) | {"sites"} == {f.name for f in cells.__dataclass_fields__.values()}


@pytest.mark.parametrize("name", RATES)
def test_negative_rate_raises_naming_it(name):
    with pytest.raises(circnet.ParameterError, match=f"`{name}` must be >= 0"):
        circnet.CellProfile(**{name: -1e-3})


@pytest.mark.parametrize("name", RATES)
def test_zero_rate_is_allowed(name):
    assert getattr(circnet.CellProfile(**{name: 0.0}), name) == 0.0


@pytest.mark.parametrize("name", POSITIVE)
@pytest.mark.parametrize("value", [0.0, -2.0])
def test_positive_parameter_rejects_zero_and_negative(name, value):
    with pytest.raises(circnet.ParameterError, match=f"`{name}` must be > 0"):
        circnet.CellProfile(**{name: value})


@pytest.mark.parametrize("name", PROBABILITIES)
@pytest.mark.parametrize("value", [-0.01, 1.01, 2.0])
def test_probability_outside_unit_interval_raises(name, value):
    with pytest.raises(circnet.ParameterError, match=f"`{name}` must be (>= 0|<= 1) "):
        circnet.CellProfile(**{name: value})


@pytest.mark.parametrize("name", PROBABILITIES)
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_probability_end_points_are_allowed(name, value):
    assert getattr(circnet.CellProfile(**{name: value}), name) == value


@pytest.mark.parametrize("value, rule", [(-0.1, ">= 0"), (1.0, "< 1"), (1.5, "< 1")])
def test_deformability_lies_in_half_open_unit_interval(value, rule):
    with pytest.raises(circnet.ParameterError, match=f"`deformability` must be {rule} "):
        circnet.CellProfile(deformability=value)
    assert PARAMETERS["deformability"].domain == "[0, 1)"


@pytest.mark.parametrize("name", list(PARAMETERS))
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_raise(name, value):
    with pytest.raises(circnet.ParameterError, match=f"`{name}` must be finite"):
        circnet.CellProfile(**{name: value})


@pytest.mark.parametrize("name", list(PARAMETERS))
@pytest.mark.parametrize("value", [True, False, "1.0", None, [1.0], 1 + 0j])
def test_non_numbers_and_bools_raise(name, value):
    with pytest.raises(circnet.ParameterError, match=f"`{name}` must be a number"):
        circnet.CellProfile(**{name: value})


def test_numpy_and_int_values_become_floats():
    cells = circnet.CellProfile(diameter_um=np.float32(12.0), lodged_time_min=60)
    assert type(cells.diameter_um) is float and cells.diameter_um == 12.0
    assert type(cells.lodged_time_min) is float


def test_unknown_parameter_raises():
    with pytest.raises(circnet.ParameterError, match="unknown parameter 'diamter_um'"):
        circnet.CellProfile(diamter_um=10.0)
    with pytest.raises(circnet.ParameterError, match="unknown parameter 'bogus'$"):
        circnet.CellProfile(bogus=1.0)
    with pytest.raises(circnet.ParameterError, match="did you mean 'diameter_um'"):
        circnet.CellProfile(diamter_um=10.0)
    with pytest.raises(circnet.ParameterError, match="unknown parameter 'diamter_um'"):
        circnet.CellProfile().replace(diamter_um=10.0)
    with pytest.raises(circnet.ParameterError, match="unknown parameter 'diamter_um'"):
        circnet.CellProfile(sites={"liver": {"diamter_um": 1.0}})
    with pytest.raises(circnet.UnknownNameError, match="unknown parameter 'nope'"):
        circnet.CellProfile().site_value("nope", "liver")


@pytest.mark.parametrize("name", [k for k in PARAMETERS if k not in SITE_PARAMETERS])
def test_global_only_parameter_cannot_be_set_per_site(name):
    with pytest.raises(circnet.ParameterError, match=f"'{name}' is a global parameter"):
        circnet.CellProfile(sites={"liver": {name: 1.0}})


@pytest.mark.parametrize("name", SITE_PARAMETERS)
def test_site_values_are_validated_and_name_parameter_and_site(name):
    where = re.escape(f"`sites['liver']['{name}']` must")
    with pytest.raises(circnet.ParameterError, match=where):
        circnet.CellProfile(sites={"liver": {name: -1.0}})
    with pytest.raises(circnet.ParameterError, match=where):
        circnet.CellProfile(sites={"liver": {name: math.nan}})


def test_sites_must_be_mappings():
    with pytest.raises(circnet.ParameterError, match="`sites` must be a mapping"):
        circnet.CellProfile(sites=[("liver", {"receptivity": 2.0})])
    with pytest.raises(circnet.ParameterError, match=r"`sites\['liver'\]` must be a mapping"):
        circnet.CellProfile(sites={"liver": 2.0})


def test_site_value_override_and_fallback():
    cells = circnet.CellProfile(receptivity=1.5, sites={"liver": {"receptivity": 3.0}})
    assert cells.site_value("receptivity", "liver") == 3.0
    assert cells.site_value("receptivity", "lung") == 1.5
    assert cells.with_site("lung", receptivity=0.5).site_value("receptivity", "lung") == 0.5
    # with_site validates too
    with pytest.raises(circnet.ParameterError, match=re.escape("`sites['lung']['receptivity']`")):
        cells.with_site("lung", receptivity=-1.0)


def test_profile_is_immutable_and_sites_read_only():
    cells = circnet.CellProfile(sites={"liver": {"receptivity": 2.0}})
    with pytest.raises(AttributeError):
        cells.diameter_um = 3.0
    with pytest.raises(TypeError):
        cells.sites["liver"]["receptivity"] = 5.0
    with pytest.raises(TypeError):
        cells.sites["lung"] = {}


def test_replace_validates():
    with pytest.raises(circnet.ParameterError, match="`death_rate_blood`"):
        circnet.CellProfile().replace(death_rate_blood=-1.0)
    assert circnet.CellProfile().replace(diameter_um=20.0).diameter_um == 20.0


@pytest.mark.parametrize("name", ORGAN_PARAMETERS)
def test_unknown_organ_in_sites_raises_when_building_model(name):
    cells = circnet.CellProfile(sites={"pancreas": {name: 0.5}})
    with pytest.raises(circnet.UnknownNameError, match=f"`sites\\['pancreas'\\]` sets '{name}'"):
        circnet.TransportModel(ring_lymph_body(), cells)


@pytest.mark.parametrize("name", NODE_PARAMETERS)
def test_unknown_node_in_sites_raises_when_building_model(name):
    # "organ" is an organ, not a lymph-node group: node parameters there are rejected too
    for site in ("no_such_node", "organ"):
        cells = circnet.CellProfile(sites={site: {name: 0.5}})
        with pytest.raises(circnet.UnknownNameError, match="not an lymph-node group|lymph-node"):
            circnet.TransportModel(ring_lymph_body(), cells)


def test_known_sites_are_accepted():
    cells = circnet.CellProfile(
        sites={"organ": {"receptivity": 2.0}, "node": {"trapping_probability": 0.9}}
    )
    model = circnet.TransportModel(ring_lymph_body(), cells)
    assert model.cells.site_value("trapping_probability", "node") == 0.9


def test_unknown_site_is_a_keyerror_too():
    cells = circnet.CellProfile(sites={"liver": {"receptivity": 2.0}})
    with pytest.raises(KeyError):
        circnet.TransportModel(ring_body(), cells)


def test_describe_has_unit_and_source_for_every_parameter():
    table = circnet.CellProfile(sites={"liver": {"receptivity": 2.0}}).describe()
    assert list(table.index) == list(PARAMETERS)
    assert table["source"].str.len().gt(20).all()
    assert table["unit"].str.len().gt(0).all()
    assert table.loc["receptivity", "overrides"] == {"liver": 2.0}
    assert table.loc["diameter_um", "overrides"] == ""
    assert set(table.loc[list(SITE_PARAMETERS), "per_site"]) <= {"organ", "node"}
    assert set(table["kind"]) <= {"measured", "derived", "calibrated", "assumption"}
    assert table.loc["deformability", "domain"] == "[0, 1)"


def test_describe_works_on_the_class_and_on_an_instance():
    on_class = circnet.CellProfile.describe()
    on_default = circnet.CellProfile().describe()
    assert on_class.equals(on_default)
    assert circnet.CellProfile(diameter_um=18.0).describe().loc["diameter_um", "value"] == 18.0


def test_lodging_probability_curve():
    assert lodging_probability(8.0, 8.0) == 0.5
    for dc, dv, w in [(12.0, 6.5, 1.0), (3.0, 10.0, 0.5), (40.0, 5.0, 1.0), (5.0, 40.0, 1.0)]:
        expected = 1.0 / (1.0 + math.exp(-(dc - dv) / w))
        assert lodging_probability(dc, dv, w) == pytest.approx(expected, rel=1e-14, abs=0)
    # no overflow far out in either tail
    assert lodging_probability(5.0, 5000.0) == 0.0
    assert lodging_probability(5000.0, 5.0) == 1.0


def test_effective_diameter_and_lodging():
    cells = circnet.CellProfile(diameter_um=15.0, deformability=0.2, lodging_width_um=2.0)
    assert cells.effective_diameter_um == pytest.approx(12.0, rel=1e-15)
    assert cells.lodging(10.0) == pytest.approx(1.0 / (1.0 + math.exp(-1.0)), rel=1e-15)


def test_colonisation_odds_model():
    c = 0.1
    for r in (0.0, 0.5, 1.0, 4.0):
        cells = circnet.CellProfile(colonisation_probability=c, sites={"x": {"receptivity": r}})
        assert cells.colonisation("x") == pytest.approx(r * c / (r * c + 1 - c), rel=1e-15)
    # receptivity 1 = anatomy alone: the colonisation probability itself
    assert circnet.CellProfile(colonisation_probability=c).colonisation("x") == c
    # c = 1 with receptivity 0: the odds model is 0/0; circnet answers 0
    cells = circnet.CellProfile(colonisation_probability=1.0, receptivity=0.0)
    assert cells.colonisation("x") == 0.0


def test_arrest_combines_size_adhesion_and_shunt():
    cells = circnet.CellProfile(
        sites={"a": {"adhesion_probability": 0.4, "shunt_fraction": 0.25}, "b": {}}
    )
    p = cells.lodging(8.0)
    assert cells.arrest(8.0, "a") == pytest.approx(0.75 * (1 - (1 - p) * 0.6), rel=1e-15)
    assert cells.arrest(8.0, "b") == p == cells.arrest(8.0)
    # a fully shunted bed never arrests; full adhesion always does (outside the shunt)
    assert circnet.CellProfile(shunt_fraction=1.0).arrest(3.0) == 0.0
    assert circnet.CellProfile(adhesion_probability=1.0).arrest(30.0) == 1.0
