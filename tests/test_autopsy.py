"""Tests of circnet.autopsy: the shipped series, its mapping, bad files and bad count tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import circnet
from circnet.autopsy import AUTOPSY_SERIES, site_map, tidy_counts

HEADER = "series,primary,site,count,n_patients\n"


def test_autopsy_series_and_mapping():
    raw = circnet.load_autopsy("disibio2008", raw=True)
    assert raw["primary"].nunique() == 41 and raw["site"].nunique() == 30
    assert int(raw.groupby("primary")["n_patients"].first().sum()) == 3827
    assert raw["source"].str.contains("Figure 1").all()
    mapped = circnet.load_autopsy("disibio2008")
    dropped = mapped.attrs["dropped"]
    assert int(mapped["count"].sum()) + int(dropped["count"].sum()) == int(raw["count"].sum())
    # merged primaries: colon + rectum
    liver = mapped.query("primary == 'colon_rectum' and site == 'liver'")["count"].item()
    assert liver == 35 + 120
    assert set(mapped["primary"]) <= set(circnet.organs(circnet.default_body("male"))) | {
        "breast",
        "ovaries",
        "uterus",
    }
    assert mapped.attrs["series"] == "disibio2008"
    assert dropped["reason"].str.match(r"^dropped: (primary|site) not in circnet$").all()


def test_public_names_stay_importable():
    from circnet.calibrate import AUTOPSY_SERIES as again
    from circnet.calibrate import load_autopsy

    assert again == AUTOPSY_SERIES
    assert load_autopsy is circnet.load_autopsy


def test_site_map_of_the_shipped_series():
    maps = site_map("disibio2008")
    assert set(maps) == {"primary", "site"}
    assert maps["site"]["Bone"][0] == "bone+red_marrow"
    assert maps["site"]["Diaphragm"][0] == ""  # dropped, with a reason
    assert site_map("no_such_series") == {}


def test_a_user_file_maps_like_the_shipped_series(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(HEADER + "disibio2008,Lung,Liver,7,20\ndisibio2008,Lung,Diaphragm,2,20\n")
    out = circnet.load_autopsy(path)
    assert out.to_dict("records") == [
        {"primary": "lung", "site": "liver", "count": 7, "n_patients": 20}
    ]
    assert out.attrs["dropped"]["count"].tolist() == [2]


def test_autopsy_bad_file(tmp_path):
    bad = tmp_path / "a.csv"
    bad.write_text(HEADER + "disibio2008,Lung,Liver,-1,5\n")
    with pytest.raises(circnet.BodyFileError, match=r"`count` of row 2 .*must not be negative"):
        circnet.load_autopsy(bad)
    with pytest.raises(circnet.UnknownNameError, match="unknown autopsy series"):
        circnet.load_autopsy("nosuchseries")
    with pytest.raises(circnet.ParameterError, match="`series` must be"):
        circnet.load_autopsy(2008)
    with pytest.raises(circnet.ParameterError, match="`raw` must be True or False"):
        circnet.load_autopsy(raw="yes")


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("Lung,Liver,-1,5", r"`count` of row 2 \('Lung', 'Liver'\) must not be negative"),
        ("Lung,Liver,2.5,5", r"`count` .* must be an integer"),
        ("Lung,Liver,,5", r"`count` .* must be finite, not NaN"),
        ("Lung,Liver,many,5", r"`count` .* must be a number \(got 'many'\)"),
        ("Lung,Liver,9223372036854775808,5", r"`count` .* must be less than 2\*\*63"),
        ("Lung,Liver,1e30,5", r"`count` .* must be less than 2\*\*63"),
        ("Lung,Liver,3,0", r"`n_patients` of row 2 .* must be positive"),
        ("Lung,Liver,3,", r"`n_patients` .* must be finite, not NaN"),
        ("Nowhere,Liver,3,5", r"primary 'Nowhere' is not in autopsy_site_map.csv"),
    ],
)
def test_bad_rows_are_named(tmp_path, row, match):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "disibio2008," + row + "\n")
    with pytest.raises(circnet.BodyFileError, match=match):
        circnet.load_autopsy(path)


def test_missing_field_and_header_only(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("series,primary,site,count\ndisibio2008,Lung,Liver,3\n")
    with pytest.raises(circnet.BodyFileError, match="lacks column.*n_patients"):
        circnet.load_autopsy(path)
    with pytest.raises(circnet.BodyFileError, match="lacks column.*n_patients"):
        circnet.load_autopsy(path, raw=True)
    path.write_text(HEADER)
    with pytest.raises(circnet.BodyFileError, match="header but no rows.*`count`"):
        circnet.load_autopsy(path)
    path.write_text("")
    with pytest.raises(circnet.BodyFileError, match="cannot read autopsy table"):
        circnet.load_autopsy(path)
    path.write_text(HEADER.replace("disibio2008", "x") + "other,Lung,Liver,3,5\n")
    with pytest.raises(circnet.BodyFileError, match="no site map for series 'other'"):
        circnet.load_autopsy(path)


def test_tidy_counts_from_wide_and_tidy():
    wide = pd.DataFrame({"liver": [60, 20], "lung": [25.0, 50.0]}, index=["colon_rectum", "lung"])
    tidy = tidy_counts(wide)
    assert tidy["count"].dtype == np.int64
    assert tidy_counts(tidy).equals(tidy)
    big = tidy.assign(count=[1, 2, 3, 2**63 - 1])
    assert tidy_counts(big)["count"].iloc[-1] == 2**63 - 1


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (2**63, "must be less than 2\\*\\*63"),
        (np.uint64(2**63), "must be less than 2\\*\\*63"),
        (1e19, "must be less than 2\\*\\*63"),
        (-1, "must not be negative"),
        (np.nan, "NaN"),
        (np.inf, "must be finite"),
        (2.5, "must be an integer"),
        ("7", "must be a number"),
        (True, "must be a number"),
    ],
)
def test_tidy_counts_refuses_bad_counts(value, match):
    counts = pd.DataFrame(
        {"primary": ["lung", "lung"], "site": ["liver", "brain"], "count": [3, value]},
        dtype=object,
    )
    with pytest.raises(circnet.ParameterError, match=match) as info:
        tidy_counts(counts)
    assert "`count` of ('lung', 'brain')" in str(info.value)


@pytest.mark.parametrize("value", [0, -2, 1.5, np.nan, "many"])
def test_tidy_counts_refuses_bad_n_patients(value):
    counts = pd.DataFrame(
        {"primary": ["lung"], "site": ["liver"], "count": [3], "n_patients": [value]},
        dtype=object,
    )
    with pytest.raises(circnet.ParameterError, match=r"`n_patients` of \('lung', 'liver'\)"):
        tidy_counts(counts)


def test_tidy_counts_refuses_bad_tables():
    with pytest.raises(circnet.ParameterError, match="must be a pandas DataFrame"):
        tidy_counts([1, 2])
    with pytest.raises(circnet.ParameterError, match="no rows"):
        tidy_counts(pd.DataFrame({"primary": [], "site": [], "count": []}))
    with pytest.raises(circnet.ParameterError, match="missing site name"):
        tidy_counts(pd.DataFrame({"primary": ["lung"], "site": [None], "count": [1]}))
