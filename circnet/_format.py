"""One number formatter for every table, tooltip and figure label circnet writes.

:func:`fmt_number` turns a value into short human text with one rule, so that a flow,
a cell count or a probability reads the same in the HTML view (:mod:`circnet.render`),
the course report (:mod:`circnet.report`), the figures (:mod:`circnet.plots`) and the
command line. The page's JavaScript (``data/templates/app.js``) follows the same rule.

- an integer (``int``, numpy integer): all digits, thousands commas (``12,345``);
- a float: ``0``; between 1e-3 and 1000, ``digits`` significant digits (``123.4``,
  ``0.04929``); from 1000 to 1e6, rounded with thousands commas (``6,695``);
  otherwise scientific (``1.234e-05``, ``3.200e+09``);
- None and NaN: ``missing`` (``–``); a bool: ``yes`` / ``no``; anything else: ``str(x)``.

A float is first rounded to 12 significant digits, so float noise such as
``6694.999999999999`` or ``0.30000000000000004`` never reaches the page.

Examples
--------
>>> from circnet._format import fmt_number
>>> fmt_number(6694.999999999999), fmt_number(0.30000000000000004), fmt_number(12345)
('6,695', '0.3', '12,345')
>>> fmt_number(0.000012345), fmt_number(3.2e9), fmt_number(float("nan"))
('1.234e-05', '3.200e+09', '–')
>>> fmt_number(0.04929, digits=3), fmt_number(True), fmt_number("breast")
('0.0493', 'yes', 'breast')
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["fmt_number"]


def fmt_number(x: Any, *, digits: int = 4, missing: str = "–") -> str:
    """Short human text for a number (see the module docstring for the rule).

    Parameters
    ----------
    x : number, bool, None or any object
        The value; a non-number is returned as ``str(x)``.
    digits : int, default 4
        Significant digits between 1e-3 and 1000 (one less after the point in
        scientific notation).
    missing : str, default "–"
        The text for None and NaN.

    Returns
    -------
    str

    Examples
    --------
    >>> fmt_number(5400.0), fmt_number(1.25), fmt_number(None, missing="-")
    ('5,400', '1.25', '-')
    """
    if x is None:
        return missing
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, numbers.Integral):
        return f"{int(x):,}"
    if not isinstance(x, numbers.Real):
        return str(x)
    v = float(x)
    if math.isnan(v):
        return missing
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    v = float(f"{v:.12g}")  # float noise: 6694.999999999999 -> 6695.0
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-3 <= a < 1000:
        return format(v, f".{digits}g")
    if 1000 <= a < 1e6:
        return f"{v:,.0f}"
    return f"{v:.{max(digits - 1, 0)}e}"
