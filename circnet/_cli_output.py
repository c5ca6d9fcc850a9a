"""Output of the ``circnet`` command: plain-text tables, numbers, JSON, messages.

Results go to stdout; messages (files written, notes, progress bars) to stderr. Numbers
are written by the one formatter of circnet (:func:`circnet._format.fmt_number`), with
``-`` for a missing value; JSON is strict (NaN becomes null).

Examples
--------
>>> print(table([["lung", text(0.9775)], ["liver", text(6694.999999999999)]], ["organ", "x"]))
organ       x
-----  ------
lung   0.9775
liver   6,695
"""

from __future__ import annotations

import json
import math
import numbers
import sys
from typing import Any

import numpy as np

from ._format import fmt_number

__all__ = ["say", "text", "plain", "print_json", "table"]


def say(*parts: Any) -> None:
    """Print a message on stderr."""
    print(*parts, file=sys.stderr)


def text(v: Any) -> str:
    """A value as table text: numbers by :func:`~circnet._format.fmt_number`, ``-`` if missing.

    Examples
    --------
    >>> text(1440.0), text(12345), text(True), text(None), text(""), text("lung")
    ('1,440', '12,345', 'yes', '-', '-', 'lung')
    """
    if isinstance(v, str) and not v:
        return "-"
    return fmt_number(v, missing="-")


def plain(x: Any) -> Any:
    """A JSON-ready value: numpy scalars to Python, NaN to None."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        x = float(x)
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, str):
        return x
    return str(x)


def _deep_plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _deep_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_deep_plain(v) for v in obj]
    return plain(obj)


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented, strict JSON on stdout."""
    print(json.dumps(_deep_plain(obj), indent=2, allow_nan=False))


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[j])) for r in [header, *rows]) for j in range(len(header))]
    lines = []
    for k, r in enumerate([header, *rows]):
        cells = [
            str(c).ljust(w) if j == 0 else str(c).rjust(w)
            for j, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
