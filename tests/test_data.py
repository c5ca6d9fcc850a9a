"""Every number in circnet/data has a source, and the tables are consistent."""

from __future__ import annotations

import csv
import numbers
from importlib import resources

import pytest
import yaml

import circnet
from circnet.body import data_tables

DATA = resources.files("circnet").joinpath("data")
CSV_FILES = sorted(p.name for p in DATA.iterdir() if p.name.endswith(".csv"))


def rows(name):
    return list(csv.DictReader(DATA.joinpath(name).read_text("utf-8").splitlines()))


def physiology():
    return yaml.safe_load(DATA.joinpath("physiology.yaml").read_text("utf-8"))


def has_number(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    if isinstance(value, dict):
        return any(has_number(v) for v in value.values())
    if isinstance(value, list):
        return any(has_number(v) for v in value)
    return False


def mappings(value, path="physiology.yaml"):
    """Every mapping in a YAML document, with its path."""
    if isinstance(value, dict):
        yield path, value
        for k, v in value.items():
            yield from mappings(v, f"{path}:{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from mappings(v, f"{path}[{i}]")


def test_the_expected_tables_ship():
    assert {"blood_flow.csv", "capillaries.csv", "lymph_nodes.csv"} <= set(CSV_FILES)
    assert DATA.joinpath("physiology.yaml").is_file()
    assert DATA.joinpath("README.md").is_file()


def test_the_parameter_tables_ship_and_are_described():
    assert {"cell_parameters.csv", "tumour_parameters.csv"} <= set(CSV_FILES)
    readme = DATA.joinpath("README.md").read_text("utf-8")
    for name in ("cell_parameters.csv", "tumour_parameters.csv", "derivation", "per_site"):
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize("name", CSV_FILES)
def test_every_csv_row_has_a_source(name):
    table = rows(name)
    assert table, f"{name} is empty"
    assert "source" in table[0], f"{name} has no `source` column"
    for i, row in enumerate(table, start=2):  # line 1 is the header
        assert (row["source"] or "").strip(), f"{name} line {i} ({row}) has no source"
        assert None not in row, f"{name} line {i} has more fields than the header"


def test_every_yaml_mapping_with_numbers_has_a_source():
    doc = physiology()
    checked = 0
    for path, mapping in mappings(doc):
        own_numbers = {k: v for k, v in mapping.items() if has_number(v) and k != "source"}
        if not own_numbers or path == "physiology.yaml":
            continue
        checked += 1
        assert isinstance(mapping.get("source"), str) and mapping["source"].strip(), (
            f"{path} holds numbers {sorted(own_numbers)} but no `source`"
        )
    assert checked >= 5
    # no bare numbers at the top level
    for key, value in doc.items():
        assert not (has_number(value) and not isinstance(value, dict)), key


@pytest.mark.parametrize("sex", ["male", "female"])
def test_shares_of_cardiac_output(sex):
    col = f"{sex}_pct_co"
    table = rows("blood_flow.csv")
    values = [r[col].strip() for r in table if r[col].strip()]
    numeric = [float(v) for v in values if v != "remainder"]
    assert all(0 < v < 100 for v in numeric)
    assert values.count("remainder") <= 1
    assert sum(numeric) <= 100.0
    if "remainder" in values:
        assert sum(numeric) < 100.0


def test_blood_flow_table_consistency():
    table = rows("blood_flow.csv")
    organs = [r["organ"] for r in table]
    assert len(organs) == len(set(organs))
    diameters = {r["organ"] for r in rows("capillaries.csv")}
    assert set(organs) <= diameters, set(organs) - diameters
    nodes = {r["node"] for r in rows("lymph_nodes.csv")}
    for r in table:
        assert r["venous_drainage"] in {"venous_return", "portal_vein", "lung_bed"}, r["organ"]
        for part in filter(None, r["lymph_nodes"].split(";")):
            assert part.split(":")[0].strip() in nodes, (r["organ"], part)
    for r in rows("capillaries.csv"):
        assert 1.0 < float(r["diameter_um"]) < 100.0, r["organ"]


def test_lymph_node_table_drains_to_known_places():
    table = rows("lymph_nodes.csv")
    nodes = {r["node"] for r in table}
    ducts = {"cisterna_chyli", "thoracic_duct", "right_lymphatic_duct"}
    for r in table:
        shares = []
        for part in r["drains_to"].split(";"):
            name, _, share = part.partition(":")
            assert name.strip() in nodes | ducts, (r["node"], name)
            shares.append(float(share) if share else 1.0)
        assert sum(shares) == pytest.approx(1.0), r["node"]


def test_data_tables_match_files():
    tables = data_tables()
    assert set(tables) == {"blood_flow", "capillaries", "lymph_nodes"}
    for key, frame in tables.items():
        assert len(frame) == len(rows(f"{key}.csv"))
        assert frame["source"].str.strip().str.len().gt(0).all()


def test_every_source_reaches_the_body():
    body = circnet.default_body()
    for r in rows("blood_flow.csv") + rows("capillaries.csv"):
        if r.get("male_pct_co", "x").strip():
            assert r["source"] in body.graph["sources"]
    for key, value in physiology().items():
        if isinstance(value, dict) and "source" in value:
            assert value["source"] in body.graph["sources"], key
