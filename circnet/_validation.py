"""Checks of user input at the public boundary, one message per mistake.

Every public entry point cleans its arguments through these helpers, so the same
mistake gets the same :class:`~circnet.ParameterError` wherever it is made. Each helper
returns the cleaned value (scipy's ``validate_*`` style). Messages name the argument
and the rule: ```dt` must be positive (got -1)``.

Examples
--------
>>> from circnet._validation import check_number, check_rng, check_times
>>> check_number(2, "dt", low=0, low_open=True)
2.0
>>> check_times([0, 60, 1440]).tolist()
[0.0, 60.0, 1440.0]
>>> type(check_rng(1)).__name__
'Generator'
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = [
    "check_rng",
    "check_number",
    "check_int",
    "check_probability",
    "check_times",
    "check_choice",
    "check_path",
    "check_bool",
]

RNG_TYPES = "an int >= 0, a numpy.random.Generator, a numpy.random.SeedSequence or None"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """A :class:`numpy.random.Generator` from ``rng`` (SPEC 7).

    ``rng`` is an int seed (>= 0), a Generator (used as it is), a SeedSequence, or None
    (fresh OS entropy). A bool, a float, a string or a negative int is refused.

    Examples
    --------
    >>> g = check_rng(7)
    >>> bool(g.integers(10) == check_rng(7).integers(10))
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ParameterError(f"`{name}` seed must be non-negative (got {rng})")
        return np.random.default_rng(int(rng))
    raise ParameterError(f"`{name}` must be {RNG_TYPES} (got {_shown(rng)})")


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    unit: str = "",
    allow_inf: bool = False,
) -> float:
    """A finite real number (a float) within ``[low, high]`` (open ends on request).

    Refuses bools, strings, None, NaN and (unless ``allow_inf``) infinities.

    Examples
    --------
    >>> check_number(0.5, "p", low=0, high=1)
    0.5
    >>> check_number(-1, "dt", low=0, low_open=True)
    Traceback (most recent call last):
    ...
    circnet.errors.ParameterError: `dt` must be > 0 (got -1)
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ParameterError(f"`{name}` must be a number (got {_shown(value)})")
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ParameterError(f"`{name}` must be finite (got {_shown(value)})")
    u = f" {unit}" if unit else ""
    if low is not None and (x <= low if low_open else x < low):
        raise ParameterError(
            f"`{name}` must be {'>' if low_open else '>='} {low:g}{u} (got {value})"
        )
    if high is not None and (x >= high if high_open else x > high):
        raise ParameterError(
            f"`{name}` must be {'<' if high_open else '<='} {high:g}{u} (got {value})"
        )
    return x


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer (int, numpy integer, or a float with an integral value) within bounds.

    Examples
    --------
    >>> check_int(1e3, "n_cells", low=0)
    1000
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ParameterError(f"`{name}` must be an integer (got {_shown(value)})")
    if isinstance(value, (int, np.integer)):
        n = int(value)
    else:
        x = float(value)
        if not math.isfinite(x) or x != math.floor(x):
            raise ParameterError(f"`{name}` must be a whole number (got {_shown(value)})")
        n = int(x)
    if low is not None and n < low:
        raise ParameterError(f"`{name}` must be >= {low} (got {n})")
    if high is not None and n > high:
        raise ParameterError(f"`{name}` must be <= {high} (got {n})")
    return n


def check_probability(value: Any, name: str) -> float:
    """A probability in ``[0, 1]``."""
    return check_number(value, name, low=0.0, high=1.0)


def check_bool(value: Any, name: str) -> bool:
    """A bool (numpy bools included); anything else is refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ParameterError(f"`{name}` must be True or False (got {_shown(value)})")


def check_times(
    times: Any,
    name: str = "times",
    *,
    unit: str = "min",
    strictly_increasing: bool = True,
    allow_empty: bool = False,
    max_count: int | None = None,
) -> np.ndarray:
    """A 1-d float array of finite, non-negative times, strictly increasing by default.

    A scalar is taken as one time. A repeated or decreasing time is refused (a result
    row per time is promised, so a repeat would be ambiguous).

    Examples
    --------
    >>> check_times(5).tolist()
    [5.0]
    >>> check_times([60, 60])
    Traceback (most recent call last):
    ...
    circnet.errors.ParameterError: `times` must be strictly increasing (60 min is followed by ...
    """
    if times is None or isinstance(times, (str, bytes)):
        raise ParameterError(f"`{name}` must be a number or a sequence of numbers (got {times!r})")
    try:
        raw = np.atleast_1d(np.asarray(times))
    except (TypeError, ValueError) as err:
        raise ParameterError(f"`{name}` must be a sequence of numbers ({err})") from None
    if raw.dtype == bool or raw.dtype.kind not in "iuf":
        raise ParameterError(f"`{name}` must be numbers (got {_shown(times)})")
    t = raw.astype(float)
    if t.ndim != 1:
        raise ParameterError(f"`{name}` must be one-dimensional (got shape {t.shape})")
    if t.size == 0 and not allow_empty:
        raise ParameterError(f"`{name}` must not be empty")
    if max_count is not None and t.size > max_count:
        raise ParameterError(f"`{name}` has {t.size} entries; at most {max_count} are allowed")
    if not np.all(np.isfinite(t)):
        raise ParameterError(f"`{name}` must be finite (got {_shown(times)})")
    if np.any(t < 0):
        raise ParameterError(f"`{name}` must be non-negative (got {t[t < 0][0]:g} {unit})")
    if t.size > 1:
        step = np.diff(t)
        bad = step <= 0 if strictly_increasing else step < 0
        if np.any(bad):
            i = int(np.argmax(bad))
            rule = "strictly increasing" if strictly_increasing else "non-decreasing"
            raise ParameterError(
                f"`{name}` must be {rule} ({t[i]:g} {unit} is followed by {t[i + 1]:g} {unit})"
            )
    return t


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``.

    Examples
    --------
    >>> check_choice("direct", "method", ("auto", "direct"))
    'direct'
    """
    options = tuple(choices)
    try:
        ok = value in options
    except TypeError:
        ok = False
    if not ok:
        shown = ", ".join(repr(c) for c in options)
        raise ParameterError(f"`{name}` must be one of {shown} (got {_shown(value)})")
    return value


def check_path(
    path: Any,
    name: str,
    *,
    suffixes: Iterable[str] | None = None,
    exists: bool | None = None,
    writable: bool = False,
) -> Path:
    """A :class:`~pathlib.Path` from ``path`` (str or os.PathLike), checked up front.

    ``suffixes``: allowed lower-case suffixes; ``exists``: True to require an existing
    file, False to require none; ``writable``: the parent directory must exist and the
    path must not be a directory (checked before any work starts).
    """
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ParameterError(f"`{name}` must be a file path (got {_shown(path)})")
    p = Path(path)
    if suffixes is not None:
        allowed = tuple(suffixes)
        if p.suffix.lower() not in allowed:
            raise ParameterError(
                f"`{name}` {str(p)!r} must end in one of {', '.join(allowed)} (got {p.suffix!r})"
            )
    if exists is True and not p.is_file():
        raise ParameterError(f"`{name}` {str(p)!r} is not an existing file")
    if exists is False and p.exists():
        raise ParameterError(f"`{name}` {str(p)!r} already exists")
    if writable:
        if p.is_dir():
            raise ParameterError(f"`{name}` {str(p)!r} is a directory, not a file")
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            why = "is not a directory" if parent.exists() else "does not exist"
            raise ParameterError(f"`{name}` {str(p)!r}: the folder {str(parent)!r} {why}")
        if not os.access(parent, os.W_OK):
            raise ParameterError(f"`{name}` {str(p)!r}: the folder {str(parent)!r} is not writable")
    return p
