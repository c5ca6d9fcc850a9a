"""The parameter tables in circnet/data: sources, kinds, derivations, and the classes' defaults."""

from __future__ import annotations

import dataclasses
import inspect
import math

import pytest

import circnet
from circnet import _params
from circnet._files import read_data_csv
from circnet.cells import PARAMETERS as CELL_PARAMETERS
from circnet.tumour import PARAMETERS as TUMOUR_PARAMETERS

TABLES = {
    "cell_parameters.csv": (CELL_PARAMETERS, circnet.CellProfile, {"sites"}),
    "tumour_parameters.csv": (TUMOUR_PARAMETERS, circnet.TumourParams, {"growth_model"}),
}

#: The defaults as the code wrote them before they moved to the tables (bit-for-bit).
CODE_DEFAULTS = {
    "CellProfile": {
        "diameter_um": 15.0,
        "deformability": 0.2,
        "lodging_width_um": 1.0,
        "death_rate_blood": math.log(2.0) / 90.0,
        "death_rate_lymph": math.log(2.0) / 90.0,
        "lymph_fraction": 0.1,
        "extravasation_probability": 0.83,
        "lodged_time_min": 1440.0,
        "colonisation_probability": 0.02 / 0.83,
        "tissue_time_min": 10080.0,
        "receptivity": 1.0,
        "trapping_probability": 0.5,
        "immune_kill_rate": 1.0 / 1440.0,
        "nodal_growth_rate": 0.05 / 1440.0 * (1.0 + 0.25) / 0.95,
        "node_release_rate": 1.0 / (4 * 1440.0),
        "shunt_fraction": 0.0,
        "adhesion_probability": 0.0,
        "tissue_lymph_exit_probability": 0.0,
        "transcoelomic_fraction": 0.0,
    },
    "TumourParams": {
        "lambda1": 0.192,
        "lambda2": 0.0,
        "b": 5.85,
        "d": 0.00873,
        "e": 1.3,
        "time_scale": 40.0,
        "gompertz_capacity_cells": (5.85 / 0.00873) ** 1.5 * 1.0e6,
        "avascular_limit_cells": 1.0e6,
        "colony_cells": 1.0,
        "shedding_rate": 3.2e6,
        "avascular_shedding": 0.0,
        "switch_rate": 1.0e-9,
        "dormant_death_rate": 0.46,
        "immune_kill_rate": 0.01,
        "immune_saturation_cells": 1.0e6,
        "detection_cells": 1.0e9,
    },
}


@pytest.mark.parametrize("filename", sorted(TABLES))
def test_every_row_has_a_source_a_kind_and_derived_rows_a_derivation(filename):
    rows = read_data_csv(filename)
    assert rows
    assert list(rows[0]) == list(_params.COLUMNS)
    for i, row in enumerate(rows, start=2):
        where = f"{filename} line {i} ({row['name']})"
        assert len(row["source"].strip()) > 20, where
        assert row["kind"] in _params.KINDS, where
        assert row["unit"].strip(), where
        if row["kind"] == "derived":
            assert row["derivation"].strip() and row["formula"].strip(), where
        if row["formula"].strip():
            assert row["derivation"].strip(), f"{where}: a formula without its reasoning"
        if row["kind"] == "assumption":
            assert (
                "Modelling" in row["source"]
                or "convention" in row["source"]
                or ("Seed and soil" in row["source"])
            ), where


@pytest.mark.parametrize("filename", sorted(TABLES))
def test_formulas_give_the_default_exactly(filename):
    table = TABLES[filename][0]
    checked = 0
    for name, p in table.items():
        if p.formula:
            assert table.derived(name) == p.default, name
            checked += 1
        else:
            assert table.derived(name) is None
    assert checked >= 3


@pytest.mark.parametrize("filename", sorted(TABLES))
def test_the_classes_use_the_table_defaults(filename):
    table, cls, extra = TABLES[filename]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    assert set(fields) == set(table) | extra
    assert [f for f in fields if f not in extra] == list(table)  # same order
    instance = cls()
    for name, p in table.items():
        assert fields[name].default == p.default, name
        value = getattr(instance, name)
        assert type(value) is float and value == p.default, name
        assert value == CODE_DEFAULTS[cls.__name__][name], name  # unchanged bit-for-bit
        assert p.low is None or (p.default > p.low if p.low_open else p.default >= p.low)
    assert set(CODE_DEFAULTS[cls.__name__]) == set(table)


def test_per_site_marks_organ_and_node_parameters():
    sites = {k: p.per_site for k, p in CELL_PARAMETERS.items() if p.per_site}
    assert set(sites.values()) == {"organ", "node"}
    assert sites["receptivity"] == "organ" and sites["trapping_probability"] == "node"
    assert not any(p.per_site for p in TUMOUR_PARAMETERS.values())


@pytest.mark.parametrize(
    "cls, name", [(circnet.CellProfile, "bogus"), (circnet.TumourParams, "speed")]
)
def test_unknown_keyword_is_a_parameter_error_naming_it(cls, name):
    with pytest.raises(circnet.ParameterError, match=f"unknown .*parameter '{name}'"):
        cls(**{name: 1.0})
    with pytest.raises(circnet.ParameterError, match=f"'{name}'"):
        cls().replace(**{name: 1.0})


def test_positional_arguments_still_work():
    assert circnet.CellProfile(12.0).diameter_um == 12.0
    assert circnet.TumourParams("gompertz").growth_model == "gompertz"


def test_domain_notation_and_check():
    p = CELL_PARAMETERS["deformability"]
    assert (p.low, p.high, p.low_open, p.high_open) == (0.0, 1.0, False, True)
    assert p.domain == "[0, 1)"
    assert p.check(0) == 0.0
    with pytest.raises(circnet.ParameterError, match="`deformability` must be < 1"):
        p.check(1.0)
    with pytest.raises(circnet.ParameterError, match="`x` must be a number"):
        p.check(True, "x")
    assert TUMOUR_PARAMETERS["lambda1"].domain == "(0, inf)"


def _raw(**changes):
    row = {c: "" for c in _params.COLUMNS}
    row.update(
        name="x",
        default="1",
        unit="1",
        low="0",
        low_open="false",
        high_open="false",
        kind="measured",
        source="somebody (2000) somewhere",
    )
    row.update(changes)
    return row


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"kind": "guess"}, "`kind` must be one of"),
        ({"per_site": "lung"}, "`per_site` must be organ, node or empty"),
        ({"low_open": "yes"}, "`low_open` must be true or false"),
        ({"source": ""}, "`source` is empty"),
        ({"default": ""}, "`default` is empty"),
        ({"default": "ten"}, "`default` must be a number"),
        ({"default": "-1"}, "default x` must be >= 0"),
        ({"low": "zero"}, "`low` must be a number"),
    ],
)
def test_malformed_rows_are_refused(changes, match):
    with pytest.raises(circnet.ParameterError, match=match):
        _params._row(_raw(**changes), "t.csv line 2")


def test_missing_column_is_refused():
    raw = _raw()
    del raw["kind"]
    with pytest.raises(circnet.ParameterError, match="missing column"):
        _params._row(raw, "t.csv line 2")


@pytest.mark.parametrize(
    "formula", ["__import__('os')", "x.real", "[1]", "1 if 1 else 2", "open(1)", "2 +", "y"]
)
def test_formulas_allow_arithmetic_only(formula):
    with pytest.raises(circnet.ParameterError, match="formula"):
        _params.evaluate(formula, {"x": 1.0})


def test_formula_arithmetic():
    assert _params.evaluate("-x + 2 ** 3 - 1 / 4", {"x": 1.0}) == -1.0 + 8.0 - 0.25
    assert _params.evaluate("round(log(100.0) / 10.0, 2)", {}) == 0.46


def test_class_or_instance_keeps_the_docstring():
    assert "Table of every parameter" in vars(circnet.CellProfile)["describe"].__doc__
    assert circnet.CellProfile.describe.__name__ == "describe"


@pytest.mark.parametrize("cls", [circnet.CellProfile, circnet.TumourParams])
def test_the_keyword_check_keeps_the_signature(cls):
    names = list(inspect.signature(cls).parameters)
    assert names == [f.name for f in dataclasses.fields(cls)]
