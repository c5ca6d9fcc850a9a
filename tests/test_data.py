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


def split(spec):
    """``"a:0.9;b:0.1"`` (or ``"a"``) as a dict of shares."""
    out = {}
    for part in filter(None, spec.split(";")):
        name, _, share = part.partition(":")
        out[name.strip()] = float(share) if share else 1.0
    return out


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
    serosal = {r["organ"] for r in table if r["serosal"] == "true"}
    assert serosal == {"pleura", "peritoneum", "pericardium", "meninges"}
    for r in table:
        shares = split(r["venous_drainage"])
        targets = {"venous_return", "portal_vein", "lung_bed", "vertebral_venous_plexus"}
        assert set(shares) <= targets, r["organ"]
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12), r["organ"]
        if r["cavity"]:
            assert r["cavity"] in serosal, r["organ"]
        assert r["serosal"] in ("", "true"), r["organ"]
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


@pytest.mark.parametrize("sex", ["male", "female"])
def test_carved_out_organs_fit_in_icrp_all_other_tissues(sex):
    """The organs that ICRP 89 Table 2.40 has no row for are carved out of its 'All other
    tissues' (1.39 % male, 1.92 % female); the lymph-node beds take its 'Lymphatic nodes'
    1.7 %; every named ICRP row is kept; the remainder `other` stays positive."""
    col = f"{sex}_pct_co"
    table = {r["organ"]: r for r in rows("blood_flow.csv") if r[col].strip()}
    carved = {"prostate", "breast", "gallbladder", "head_neck", "uterus"}
    carved |= {"pleura", "peritoneum", "pericardium", "meninges"}
    carved_pct = sum(float(table[o][col]) for o in carved if o in table)
    all_other = {"male": 1.39, "female": 1.92}[sex]
    nodes = physiology()["lymph_node_blood_flow_pct_co"][sex]
    assert nodes == 1.7
    assert 0 < carved_pct < all_other
    named = sum(float(r[col]) for o, r in table.items() if o not in carved and o != "other")
    # the ICRP rows kept as they are, plus 'All other tissues' and 'Lymphatic nodes': 100 %
    assert named + all_other + nodes == pytest.approx(100.0, abs=1e-9)
    body = circnet.default_body(sex)
    other = circnet.summary(body).loc["other", "pct_cardiac_output"]
    assert other == pytest.approx(all_other - carved_pct, abs=1e-9)
    assert other > 0.05


def test_stomach_wall_analogue_flows_follow_their_masses():
    """gallbladder, head_neck and uterus: ICRP 89 Table 2.8 mass x the stomach-and-oesophagus
    wall perfusion (1.0 % over 190 g male, 175 g female), as their sources say."""
    table = {r["organ"]: r for r in rows("blood_flow.csv")}
    masses = {"gallbladder": (10, 8), "head_neck": (73 + 28 + 3, 60 + 19 + 3), "uterus": (None, 80)}
    for organ, (male_g, female_g) in masses.items():
        for col, grams, wall in (("male_pct_co", male_g, 190), ("female_pct_co", female_g, 175)):
            if grams is None:
                assert table[organ][col] == ""
            else:
                assert float(table[organ][col]) == pytest.approx(grams / wall, rel=1e-3), organ
                assert "ASSUMPTION" in table[organ]["source"]


def test_lymph_node_blood_and_batson_plexus_entries():
    doc = physiology()
    assert doc["lymph_node_blood_flow_pct_co"]["male"] == 1.7
    assert "Table 2.40" in doc["lymph_node_blood_flow_pct_co"]["source"]
    assert 1.0 < doc["lymph_node_capillary_diameter_um"]["value"] < 100.0
    plexus = doc["vertebral_venous_plexus"]
    assert plexus["volume_ml"] > 0 and "ASSUMPTION" in plexus["source"]
    flow = {r["organ"] for r in rows("blood_flow.csv")}
    assert plexus["drains_to"] in flow
    for r in rows("lymph_nodes.csv"):
        assert float(r["hev_weight"]) > 0, r["node"]
    to_plexus = [
        r for r in rows("blood_flow.csv") if "vertebral_venous_plexus" in r["venous_drainage"]
    ]
    assert {r["organ"] for r in to_plexus} == {
        "prostate",
        "urinary_bladder",
        "breast",
        "uterus",
        "colon_rectum",
    }
    for r in to_plexus:
        assert "Batson" in r["source"] and "ASSUMPTION" in r["source"], r["organ"]


def test_site_map_names_only_known_sites_and_primaries():
    """Every non-empty `circnet` entry of the site map is an organ, a node group or a
    regional/distant-node spec of the default bodies."""
    male, female = circnet.default_body("male"), circnet.default_body("female")
    known = set(circnet.organs(male)) | set(circnet.organs(female))
    known |= {str(n) for n in circnet.lymph_nodes(female)}
    known |= {"regional_nodes", "distant_nodes"}
    for r in rows("autopsy_site_map.csv"):
        for part in filter(None, r["circnet"].split("+")):
            assert part in known, (r["series"], r["name"], part)
    mapped = {(r["series"], r["name"]): r["circnet"] for r in rows("autopsy_site_map.csv")}
    assert mapped["budczies2015", "pleura"] == "pleura"
    assert mapped["budczies2015", "biliary_cancer"] == "gallbladder"
    assert mapped["budczies2015", "neuroendocrine_cancer"] == ""
