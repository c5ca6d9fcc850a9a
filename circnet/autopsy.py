"""Counts of metastatic sites by primary tumour: published autopsy series and user tables.

:func:`load_autopsy` reads a series shipped in ``circnet/data`` (or a CSV file of the same
columns) and maps its names to circnet's with ``autopsy_site_map.csv``; :func:`tidy_counts`
checks a table of counts (tidy or wide) as :func:`circnet.calibrate` takes it.

A site of a table is an organ or a lymph-node group (``"liver"``, ``"axillary_nodes"``),
the fate label of one (``"colony:liver"``, ``"node:axillary_nodes"``), a sum of them
joined by ``+`` (``"bone+red_marrow"``), or ``"regional_nodes"`` / ``"distant_nodes"``.
The mapping of sites to fates of a body is the calibration's (:mod:`circnet.calibrate`).

Examples
--------
>>> from circnet.autopsy import load_autopsy, tidy_counts
>>> counts = load_autopsy("disibio2008")
>>> sorted(counts.columns)
['count', 'n_patients', 'primary', 'site']
>>> tidy = tidy_counts(counts.pivot(index="primary", columns="site", values="count").fillna(0))
>>> list(tidy.columns)
['primary', 'site', 'count']
"""

from __future__ import annotations

import io
import math
import numbers
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._files import data_text, read_data_csv
from ._validation import check_bool
from .errors import BodyFileError, ParameterError, UnknownNameError

__all__ = ["AUTOPSY_SERIES", "SITE_MAP", "load_autopsy", "site_map", "tidy_counts"]

#: Autopsy series shipped in ``circnet/data`` (see its README for sources).
AUTOPSY_SERIES = ("disibio2008",)
#: The package-data table mapping each series' names to circnet names.
SITE_MAP = "autopsy_site_map.csv"
#: Columns an autopsy table must have (``source`` is optional).
_COLUMNS = ("series", "primary", "site", "count", "n_patients")
#: Counts are stored as int64: 2**63 and more cannot be.
_COUNT_LIMIT = 2**63


def _count_problem(x: Any, *, positive: bool = False) -> str | None:
    """What is wrong with ``x`` as a count (None if nothing): the rule it breaks."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        return "must be a number"
    v = float(x)
    if math.isnan(v) or math.isinf(v):
        return "must be finite, not NaN"
    if positive and not v > 0:
        return "must be positive"
    if v < 0:
        return "must not be negative"
    if v != round(v):
        return "must be an integer"
    if (int(x) if isinstance(x, numbers.Integral) else v) >= _COUNT_LIMIT:
        return "must be less than 2**63"
    return None


# ============================================================================ site map
def site_map(series: str) -> dict[str, dict[str, tuple[str, str]]]:
    """The name mapping of one shipped series: ``{"primary"|"site": {name: (circnet, source)}}``.

    An empty circnet name means the row is dropped (the source says why).

    Examples
    --------
    >>> site_map("disibio2008")["site"]["Bone"][0]
    'bone+red_marrow'
    """
    maps: dict[str, dict[str, tuple[str, str]]] = {}
    for row in read_data_csv(SITE_MAP):
        if row["series"] == series:
            maps.setdefault(row["kind"], {})[row["name"]] = (row["circnet"], row["source"])
    return maps


def _reason(source: str, what: str) -> str:
    """``"dropped: primary not in circnet"`` from a site-map source note."""
    head = re.match(r"[^:]*", source)
    return f"{head.group(0) if head else source}: {what} not in circnet"


# ============================================================================ loading
def _read_table(series: str | os.PathLike[str]) -> tuple[pd.DataFrame, str]:
    name = str(series)
    if name in AUTOPSY_SERIES:
        where = f"autopsy_{name}.csv"
        text = data_text(where)
        try:
            return pd.read_csv(io.StringIO(text)), where
        except (ValueError, pd.errors.ParserError) as err:  # pragma: no cover - shipped data
            raise BodyFileError(f"{where!r}: cannot read autopsy table: {err}") from err
    path = Path(series)
    if not path.exists():
        raise UnknownNameError(
            f"unknown autopsy series {name!r}: expected one of {', '.join(AUTOPSY_SERIES)} "
            "or the path of a CSV file"
        )
    try:
        return pd.read_csv(path), str(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise BodyFileError(f"{str(path)!r}: cannot read autopsy table: {err}") from err


def _number(x: Any) -> Any:
    """A cell of a CSV file as a number (None for text that is not one)."""
    if isinstance(x, str):
        v = pd.to_numeric(x, errors="coerce")
        return None if pd.isna(v) else v
    return x


def _check_table(table: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise BodyFileError(
            f"{where!r}: autopsy table lacks column(s) {', '.join(missing)} "
            f"(expected {', '.join(_COLUMNS)}[, source])"
        )
    if table.empty:
        raise BodyFileError(
            f"{where!r}: autopsy table has a header but no rows (`count` of at least one "
            "primary and site is needed)"
        )
    for col, positive in (("count", False), ("n_patients", True)):
        values = [_number(x) for x in table[col]]
        for k, x, v in zip(table.index, table[col], values, strict=True):
            rule = "must be a number" if v is None else _count_problem(v, positive=positive)
            if rule is None:
                continue
            r = table.loc[k]
            raise BodyFileError(
                f"{where!r}: `{col}` of row {int(k) + 2} ({r['primary']!r}, {r['site']!r}) "
                f"{rule} (got {x!r})"
            )
        table[col] = np.array([int(v) for v in values if v is not None], dtype=np.int64)
    return table


def load_autopsy(
    series: str | os.PathLike[str] = "disibio2008", *, raw: bool = False
) -> pd.DataFrame:
    """Counts of metastatic sites by primary tumour from a published autopsy series.

    Parameters
    ----------
    series : str or path
        A shipped series (:data:`AUTOPSY_SERIES`: ``"disibio2008"``, DiSibio & French 2008,
        Arch Pathol Lab Med 132:931, 3827 autopsies, Figure 1), or the path of a CSV file
        with the same columns (``series, primary, site, count, n_patients``, optional
        ``source``).
    raw : bool
        ``True``: the table as published, in the series' own names, one row per
        (primary, site). ``False`` (default): mapped to circnet names with
        ``autopsy_site_map.csv`` (merged primaries summed; see the data README).

    Returns
    -------
    pandas.DataFrame
        Mapped: columns ``primary`` (circnet organ), ``site`` (a circnet site spec, see
        :func:`~circnet.calibrate`), ``count``, ``n_patients``. ``.attrs["dropped"]`` is a
        table of the published rows left out (series names, count, reason) and
        ``.attrs["series"]`` the series name.

    Raises
    ------
    ParameterError
        ``series`` is not a str or path, ``raw`` not a bool.
    UnknownNameError
        ``series`` is neither a shipped series nor an existing file.
    BodyFileError
        The file cannot be read, lacks a column, has no rows, a count that is not a
        non-negative integer (below 2**63), an ``n_patients`` that is not positive, or a
        name the site map does not know.

    Examples
    --------
    >>> import circnet
    >>> table = circnet.load_autopsy("disibio2008", raw=True)
    >>> int(table.groupby("primary")["n_patients"].first().sum())
    3827
    >>> mapped = circnet.load_autopsy("disibio2008")
    >>> int(mapped.query("primary == 'colon_rectum' and site == 'liver'")["count"].iloc[0])
    155
    >>> int(mapped.attrs["dropped"]["count"].sum()) > 0
    True
    """
    if not isinstance(series, (str, os.PathLike)):
        raise ParameterError(
            f"`series` must be a series name or a file path (got {type(series).__name__})"
        )
    raw = check_bool(raw, "raw")
    table, where = _read_table(series)
    table = _check_table(table, where)
    if raw:
        return table
    sname = str(table["series"].iloc[0])
    maps = site_map(sname)
    if not maps:
        raise BodyFileError(f"{where!r}: no site map for series {sname!r} in {SITE_MAP}")
    rows, dropped = [], []
    for _, r in table.iterrows():
        p = maps.get("primary", {}).get(r["primary"])
        s = maps.get("site", {}).get(r["site"])
        if p is None or s is None:
            what = "primary" if p is None else "site"
            raise BodyFileError(f"{where!r}: {what} {r[what]!r} is not in {SITE_MAP}")
        if not p[0] or not s[0]:
            what, source = ("primary", p[1]) if not p[0] else ("site", s[1])
            dropped.append(
                {
                    "primary": r["primary"],
                    "site": r["site"],
                    "count": r["count"],
                    "reason": _reason(source, what),
                }
            )
            continue
        rows.append(
            {
                "primary": p[0],
                "site": s[0],
                "count": r["count"],
                "source_primary": r["primary"],
                "n_patients": r["n_patients"],
            }
        )
    if not rows:
        raise BodyFileError(f"{where!r}: no row of the autopsy table maps to circnet names")
    out = pd.DataFrame(rows)
    n = out.groupby(["primary", "source_primary"])["n_patients"].first().groupby("primary").sum()
    out = out.groupby(["primary", "site"], sort=False, as_index=False)["count"].sum()
    out["n_patients"] = out["primary"].map(n).astype(int)
    out.attrs["dropped"] = pd.DataFrame(dropped, columns=["primary", "site", "count", "reason"])
    out.attrs["series"] = sname
    return out


# ============================================================================ user tables
def tidy_counts(counts: Any) -> pd.DataFrame:
    """A checked tidy table of counts from a tidy or a wide one.

    Parameters
    ----------
    counts : pandas.DataFrame
        Tidy (columns ``primary``, ``site``, ``count``, optional ``n_patients``) or wide
        (index primary, one column per site).

    Returns
    -------
    pandas.DataFrame
        Columns ``primary``, ``site`` (str), ``count`` (int) and ``n_patients`` if given,
        one row per (primary, site).

    Raises
    ------
    ParameterError
        Not a DataFrame, no rows, a missing name, a repeated (primary, site), a count
        that is not a non-negative integer below 2**63 (NaN, negative, fractional, not a
        number) or an ``n_patients`` that is not a positive integer; the message names the
        primary and site.

    Examples
    --------
    >>> import pandas as pd
    >>> wide = pd.DataFrame({"liver": [60, 20], "lung": [25, 50]},
    ...                     index=["colon_rectum", "lung"])
    >>> tidy_counts(wide).to_dict("records")[0]
    {'primary': 'colon_rectum', 'site': 'liver', 'count': 60}
    >>> tidy_counts(wide.assign(lung=[25, -1]))
    Traceback (most recent call last):
    ...
    circnet.errors.ParameterError: `count` of ('lung', 'lung') must not be negative (got -1)
    """
    if not isinstance(counts, pd.DataFrame):
        raise ParameterError(
            f"`counts` must be a pandas DataFrame, tidy (columns primary, site, count) or wide "
            f"(index primary, one column per site) (got {type(counts).__name__})"
        )
    if {"primary", "site", "count"} <= set(counts.columns):
        t = counts.loc[
            :, [c for c in ("primary", "site", "count", "n_patients") if c in counts.columns]
        ].copy()
    else:
        wide = counts.copy()
        wide.index = wide.index.map(str)
        t = (
            wide.rename_axis("primary")
            .reset_index()
            .melt(id_vars="primary", var_name="site", value_name="count")
        )
    if t.empty:
        raise ParameterError("`counts` has no rows")
    for col in ("primary", "site"):
        if t[col].isna().any():
            raise ParameterError(f"`counts` has a missing {col} name")
        t[col] = t[col].astype(str)
    fields = [("count", False)] + ([("n_patients", True)] if "n_patients" in t.columns else [])
    for _, r in t.iterrows():
        for col, positive in fields:
            rule = _count_problem(r[col], positive=positive)
            if rule is not None:
                where = f"({r['primary']!r}, {r['site']!r})"
                raise ParameterError(f"`{col}` of {where} {rule} (got {r[col]!r})")
    t["count"] = np.array([int(x) for x in t["count"]], dtype=np.int64)
    dup = t.duplicated(["primary", "site"])
    if dup.any():
        r = t[dup].iloc[0]
        raise ParameterError(
            f"`counts` has more than one row for ({r['primary']!r}, {r['site']!r})"
        )
    return t.reset_index(drop=True)
