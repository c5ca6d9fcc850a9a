"""The tasks circnet ships for :func:`circnet.ensemble`: fates, simulations, courses.

A task is a module-level function ``task(params, rng, **fixed) -> dict[str, float]``.
Member parameter names say where a value goes:

=====================  =====================================================
name                   meaning
=====================  =====================================================
``diameter_um``        a :class:`~circnet.CellProfile` field (any of its parameters)
``liver.receptivity``  that cell parameter at one site
``flow.liver``         a factor on that organ's arterial flow (flows rebalanced)
anything else          passed on to the task (the course task hands it to
                       :func:`~circnet.simulate_course`, e.g. ``shedding_rate``)
=====================  =====================================================

Examples
--------
>>> from circnet._tasks import split_params
>>> split_params({"diameter_um": 12, "liver.receptivity": 2, "flow.liver": 1.5, "years": 3})
({'diameter_um': 12.0}, {'liver': {'receptivity': 2.0}}, {'liver': 1.5}, {'years': 3})
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from .body import default_body, scale_organ_flow
from .cells import PARAMETERS, CellProfile
from .course import simulate_course
from .errors import ParameterError, UnknownNameError
from .transport import TransportModel
from .tumour import TumourParams

__all__ = [
    "COURSE_OPTIONS",
    "COURSE_SERIES",
    "course_series",
    "check_task_fixed",
    "TASKS",
    "fates_task",
    "simulate_task",
    "course_task",
    "split_params",
    "check_task_parameters",
]


#: Per-site columns of a course's time series the course task can keep (``series=``).
COURSE_SERIES = ("n_tumours", "n_vascular", "total_cells", "largest_cells")

#: Options of :func:`~circnet.simulate_course` a course design may vary.
COURSE_OPTIONS = (
    "dt_days",
    "primary_cells",
    "primary_capacity_cells",
    "surgery_day",
    "inhibitor_from_day",
)


def split_params(
    params: Mapping[str, Any],
) -> tuple[dict[str, float], dict[str, dict[str, float]], dict[str, float], dict[str, Any]]:
    """Split member parameters into cell globals, per-site values, organ flow factors, others."""
    cells: dict[str, float] = {}
    sites: dict[str, dict[str, float]] = {}
    flows: dict[str, float] = {}
    other: dict[str, Any] = {}
    for k, v in params.items():
        if k in PARAMETERS:
            cells[k] = float(v)
        elif k.startswith("flow."):
            flows[k[5:]] = float(v)
        elif "." in k and k.rsplit(".", 1)[1] in PARAMETERS:
            site, name = k.rsplit(".", 1)
            sites.setdefault(site, {})[name] = float(v)
        else:
            other[k] = v
    return cells, sites, flows, other


def check_task_parameters(task: str, names: Iterable[str]) -> None:
    """Refuse, before any member runs, a design parameter that ``task`` cannot take.

    The ``fates`` and ``simulate`` tasks take cell parameters, ``<site>.<cell parameter>``
    and ``flow.<organ>``; the course task takes these, the fields of
    :class:`~circnet.TumourParams` and the numeric options of
    :func:`~circnet.simulate_course` (:data:`COURSE_OPTIONS`).

    Examples
    --------
    >>> check_task_parameters("fates", ["diameter_um", "colour"])
    Traceback (most recent call last):
    ...
    circnet.errors.ParameterError: design parameter(s) ['colour'] unknown to the 'fates' task ...
    """
    if task not in TASKS:
        return
    *_, other = split_params({str(k): 0.0 for k in names})
    extra = ""
    if task == "course":
        known = {f.name for f in dataclasses.fields(TumourParams)} | set(COURSE_OPTIONS)
        other = {k: v for k, v in other.items() if k not in known}
        extra = f", tumour parameters {sorted(f.name for f in dataclasses.fields(TumourParams))}"
        extra += f", course options {list(COURSE_OPTIONS)}"
    if other:
        raise ParameterError(
            f"design parameter(s) {sorted(other)} unknown to the {task!r} task (it takes "
            f"cell parameters {sorted(PARAMETERS)}, '<site>.<cell parameter>', "
            f"'flow.<organ>'{extra})"
        )


@functools.lru_cache(maxsize=2)
def _default_body() -> nx.DiGraph:
    """The male reference body, built once per worker process (tasks never modify it)."""
    return default_body()


def _member_setup(
    body: nx.DiGraph | None, params: Mapping[str, Any]
) -> tuple[nx.DiGraph, CellProfile | None, dict[str, Any]]:
    """A member's body (flow factors applied), its CellProfile (None if no cell or site
    parameter is set), and the parameters left for the task."""
    cells, sites, flows, other = split_params(params)
    graph = _default_body() if body is None else body
    for organ, factor in flows.items():
        graph = scale_organ_flow(graph, organ, factor)
    profile = CellProfile(**cells, sites=sites) if cells or sites else None
    return graph, profile, other


def _model(
    body: nx.DiGraph | None, params: Mapping[str, Any], task: str
) -> tuple[TransportModel, dict[str, Any]]:
    graph, profile, other = _member_setup(body, params)
    if other:
        raise UnknownNameError(f"unknown parameter(s) for the {task} task: {sorted(other)}")
    return TransportModel(graph, profile), other


def fates_task(
    params: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    primary: str,
    body: nx.DiGraph | None = None,
) -> dict[str, float]:
    """Task: exact fate probabilities of cells shed from ``primary`` (deterministic).

    Outcomes ``P(<fate>)`` for every fate and ``expected_time_min``.

    Examples
    --------
    >>> out = fates_task({"diameter_um": 15.0}, np.random.default_rng(0), primary="lung")
    >>> abs(sum(v for k, v in out.items() if k.startswith("P(")) - 1) < 1e-9
    True
    """
    model, _ = _model(body, params, "fates")
    f = model.fates(primary)
    out = {f"P({k})": float(v) for k, v in f.items()}
    out["expected_time_min"] = model.expected_time(primary)
    return out


def simulate_task(
    params: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    primary: str,
    n_cells: int,
    time_min: float,
    body: nx.DiGraph | None = None,
) -> dict[str, float]:
    """Task: integer counts ``n(<fate>)`` of ``n_cells`` shed from ``primary`` after
    ``time_min``."""
    model, _ = _model(body, params, "simulate")
    res = model.simulate(primary, n_cells, [time_min], rng=rng)
    final = res.final()
    return {f"n({k})": float(final[k]) for k in model.fate_labels}


def course_series(series: Any) -> tuple[str, ...]:
    """The per-site columns of the course time series a ``series`` argument asks for.

    ``False``: none; ``True``: ``total_cells``; else names from :data:`COURSE_SERIES`.

    Examples
    --------
    >>> course_series(True), course_series(["n_tumours", "largest_cells"])
    (('total_cells',), ('n_tumours', 'largest_cells'))
    """
    if series is True:
        return ("total_cells",)
    if series is False or series is None:
        return ()
    names = (series,) if isinstance(series, str) else series
    if not isinstance(names, Iterable) or not all(isinstance(x, str) for x in names):
        raise ParameterError(
            f"`series` must be True, False or names from {list(COURSE_SERIES)} (got {series!r})"
        )
    names = tuple(names)
    unknown = [x for x in names if x not in COURSE_SERIES]
    if unknown:
        raise UnknownNameError(
            f"unknown series {unknown} of the course task; known: {list(COURSE_SERIES)}"
        )
    return names


def course_task(
    params: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    primary: str,
    years: float,
    body: nx.DiGraph | None = None,
    series: bool | str | Sequence[str] = False,
    **fixed: Any,
) -> dict[str, Any]:
    """Task: one disease course; outcomes from the course's summary.

    Member parameters other than cell parameters go to ``simulate_course`` as
    keyword arguments (e.g. ``shedding_rate``), after ``fixed``. With ``series``
    (``True`` for ``total_cells``, or names from :data:`COURSE_SERIES`) the daily
    per-site values are kept too, each as a DataFrame (day x site): the ensemble
    returns them member x time x site (:meth:`~circnet.EnsembleResult.to_dataset`).
    """
    keep = course_series(series)
    graph, profile, other = _member_setup(body, params)
    kwargs = {**fixed, **other}
    if profile is not None:
        kwargs["cells"] = profile
    result = simulate_course(graph, primary, years, rng=rng, **kwargs)
    out: dict[str, Any] = dict(course_outcomes(result))
    if keep:
        ts = result.timeseries
        for name in keep:
            wide = ts.pivot_table(index="day", columns="site", values=name, observed=True)
            out[name] = wide.astype(float)
    return out


def check_task_fixed(task: str, fixed: Mapping[str, Any]) -> None:
    """Refuse, before any member runs, a fixed argument of a shipped task that is wrong
    for every member (today: the course task's ``series``)."""
    if task == "course" and "series" in fixed:
        course_series(fixed["series"])


def course_outcomes(result: Any) -> dict[str, float]:
    """The main outcomes of a course as numbers (NaN where undefined).

    The list ``detectable_metastatic_sites`` becomes its length,
    ``n_detectable_metastatic_sites``; entries that are not numbers are left out.
    """
    out: dict[str, float] = {}
    summary = getattr(result, "summary", None)
    table = summary() if callable(summary) else summary
    items: Iterable[tuple[Any, Any]]
    if isinstance(table, pd.Series):
        items = table.items()
    elif isinstance(table, pd.DataFrame) and table.shape[1] == 1:
        items = table.iloc[:, 0].items()
    elif isinstance(table, Mapping):
        items = table.items()
    else:
        items = []
    for k, v in items:
        if k == "detectable_metastatic_sites":
            out["n_detectable_metastatic_sites"] = float(
                len([s for s in str(v).split(",") if s.strip()])
            )
            continue
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            continue
    return out


#: Tasks shipped with circnet, by name.
TASKS: Mapping[str, Callable[..., dict[str, Any]]] = {
    "fates": fates_task,
    "simulate": simulate_task,
    "course": course_task,
}
