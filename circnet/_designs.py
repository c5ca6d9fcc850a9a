"""Parameter designs for ensembles: full grids, space-filling samples, Saltelli designs.

A design is a table of parameter values, one row per member (:class:`Design`):

- :func:`grid`: every combination of the given values (full factorial);
- :func:`sample`: ``n`` members from per-parameter distributions, by Latin hypercube or
  scrambled Sobol' points (:mod:`scipy.stats.qmc`) mapped through each ``ppf``;
- :func:`saltelli`: the ``n (d + 2)`` members that :func:`scipy.stats.sobol_indices`
  needs for first-order and total Sobol' indices (Saltelli 2010).

All three are re-exported by :mod:`circnet.ensemble` and :mod:`circnet`.

Examples
--------
>>> from circnet._designs import grid, saltelli
>>> len(grid({"a": [1, 2], "b": [3, 4, 5]})), len(saltelli({"a": (0, 1)}, 4, rng=0))
(6, 12)
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from ._validation import check_choice, check_int, check_number, check_rng
from .errors import ParameterError

__all__ = ["Design", "grid", "sample", "saltelli", "as_design"]


@dataclass(frozen=True)
class Design:
    """A parameter design: one row per member (``table``), and how it was made.

    Attributes
    ----------
    table : pandas.DataFrame
        Parameter values, one column per parameter, one row per member.
    kind : str
        ``"grid"``, ``"lhs"``, ``"sobol"``, ``"saltelli"`` or ``"table"``.
    saltelli_n : int
        For a Saltelli design, the base sample size ``n`` (members = ``n (d + 2)``).
    dists : tuple
        The frozen distributions a sampled design was drawn from (empty otherwise).

    Examples
    --------
    >>> import pandas as pd
    >>> d = Design(pd.DataFrame({"x": [1.0, 2.0]}))
    >>> len(d), d.parameters, d.kind
    (2, ['x'], 'table')
    """

    table: pd.DataFrame
    kind: str = "table"
    saltelli_n: int = 0
    dists: tuple[Any, ...] = field(default=(), repr=False)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def parameters(self) -> list[str]:
        """Parameter names (columns of the design)."""
        return [str(c) for c in self.table.columns]


def as_design(design: Any) -> Design:
    """A :class:`Design` from a Design, a DataFrame (one row per member) or a grid mapping.

    Examples
    --------
    >>> as_design({"x": [1.0, 2.0, 3.0]}).kind
    'grid'
    """
    if isinstance(design, Design):
        return design
    if isinstance(design, pd.DataFrame):
        return Design(design.reset_index(drop=True), "table")
    if isinstance(design, Mapping):
        return grid(design)
    raise ParameterError(
        "`design` must be a Design, a DataFrame of parameter values, or a "
        f"mapping of parameter to values (a grid) (got {type(design).__name__})"
    )


def grid(values: Mapping[str, Sequence[Any]]) -> Design:
    """Full factorial design: every combination of the given values.

    Parameters
    ----------
    values : mapping
        Parameter name to a non-empty list of values.

    Returns
    -------
    Design
        ``kind == "grid"``; the last parameter varies fastest.

    Examples
    --------
    >>> d = grid({"diameter_um": [12.0, 15.0], "lymph_fraction": [0.1, 0.2, 0.3]})
    >>> len(d), d.parameters
    (6, ['diameter_um', 'lymph_fraction'])
    """
    if not isinstance(values, Mapping) or not values:
        raise ParameterError("`values` must name at least one parameter")
    names = list(values)
    for k, v in values.items():
        if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
            raise ParameterError(f"grid values of {k!r} must be a non-empty list (got {v!r})")
    rows = list(itertools.product(*(values[k] for k in names)))
    return Design(pd.DataFrame(rows, columns=names), "grid")


def _dists(distributions: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    """Parameter names and frozen distributions; a ``(low, high)`` pair means uniform."""
    if not isinstance(distributions, Mapping) or not distributions:
        raise ParameterError("`distributions` must name at least one parameter")
    names, dists = [], []
    for k, d in distributions.items():
        if isinstance(d, (tuple, list)):
            if len(d) != 2:
                raise ParameterError(f"range of {k!r} must be (low, high) (got {d!r})")
            lo = check_number(d[0], f"low of {k!r}")
            hi = check_number(d[1], f"high of {k!r}")
            if not hi > lo:
                raise ParameterError(
                    f"range of {k!r} must be (low, high) with high > low (got {d!r})"
                )
            d = stats.uniform(loc=lo, scale=hi - lo)
        if not hasattr(d, "ppf"):
            raise ParameterError(
                f"distribution of {k!r} must be a (low, high) range or a "
                f"scipy.stats distribution with a ppf (got {d!r})"
            )
        names.append(str(k))
        dists.append(d)
    return names, dists


def sample(
    distributions: Mapping[str, Any], n: int, *, method: str = "lhs", rng: Any = None
) -> Design:
    """Space-filling sample of ``n`` members from per-parameter distributions.

    Parameters
    ----------
    distributions : mapping
        Parameter name to a ``(low, high)`` uniform range or a frozen
        ``scipy.stats`` distribution (anything with ``ppf``).
    n : int
        Number of members (>= 1).
    method : {"lhs", "sobol"}
        Latin hypercube or scrambled Sobol' (``scipy.stats.qmc``).
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Source of the sample's randomness (SPEC 7).

    Returns
    -------
    Design
        ``kind`` is ``method``.

    Examples
    --------
    >>> d = sample({"diameter_um": (10.0, 20.0)}, 8, rng=0)
    >>> bool(d.table["diameter_um"].between(10, 20).all())
    True
    """
    names, dists = _dists(distributions)
    n = check_int(n, "n", low=1)
    check_choice(method, "method", ("lhs", "sobol"))
    gen = check_rng(rng)
    if method == "lhs":
        u = qmc.LatinHypercube(d=len(names), rng=gen).random(n)
    else:
        u = qmc.Sobol(d=len(names), rng=gen).random(n)
    table = pd.DataFrame(
        {k: d.ppf(u[:, j]) for j, (k, d) in enumerate(zip(names, dists, strict=True))}
    )
    return Design(table, method, dists=tuple(dists))


def saltelli(distributions: Mapping[str, Any], n: int, *, rng: Any = None) -> Design:
    """Saltelli (2010) design for Sobol' indices: ``n (d + 2)`` members.

    The members are, in order, the ``n`` columns of matrix A, the ``n`` of B, then
    for each parameter ``i`` the ``n`` of ``AB_i`` (A with row ``i`` from B), built
    exactly as :func:`scipy.stats.sobol_indices` builds them, so that
    :meth:`EnsembleResult.sensitivity <circnet.ensemble.EnsembleResult.sensitivity>`
    can hand the outputs to it.

    Parameters
    ----------
    distributions : mapping
        As for :func:`sample`.
    n : int
        Base sample size, a power of 2 (>= 2).
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Source of the scrambling (SPEC 7).

    Returns
    -------
    Design
        ``kind == "saltelli"``, ``saltelli_n == n``.

    Examples
    --------
    >>> d = saltelli({"a": (0, 1), "b": (0, 1)}, 8, rng=0)
    >>> len(d)
    32
    """
    names, dists = _dists(distributions)
    n = check_int(n, "n", low=2)
    if n & (n - 1):
        raise ParameterError(f"`n` must be a power of 2 (got {n})")
    d = len(names)
    gen = check_rng(rng)
    ab = qmc.Sobol(d=2 * d, rng=gen, bits=64).random(n).T.reshape(2, d, -1)
    for j, dist in enumerate(dists):
        ab[:, j] = dist.ppf(ab[:, j])
    a, b = ab
    mixed = np.tile(a, (d, 1, 1))
    mixed[np.arange(d), np.arange(d)] = b
    cols = np.concatenate([a, b] + [mixed[i] for i in range(d)], axis=1)
    return Design(
        pd.DataFrame(cols.T, columns=names), "saltelli", saltelli_n=int(n), dists=tuple(dists)
    )
