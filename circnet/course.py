"""The disease course: tumours grow, shed cells, found metastases that shed in turn.

Time advances in steps of ``dt_days`` (one day by default). In each step, in order:

1. **treatment**: at ``surgery_day`` the primary tumour is removed; from
   ``inhibitor_from_day`` the angiogenesis inhibitor is given (``g = 1``);
2. **shedding**: each vascular tumour sheds ``Poisson(rate * dt)`` cells (rate from
   :func:`circnet.tumour.shedding_rate`, evaluated at the start of the step);
3. **transport**: the cells shed from each source site (an organ or a lymph-node group)
   go to their fates by one multinomial draw with the probabilities
   ``TransportModel.fates(source)`` (cached per source). Transport takes minutes to
   hours, growth days to years (design §4), so the cells reach their fates within the
   step;
4. **growth** of every tumour over the step (:func:`circnet.tumour.grow`);
5. **dormancy**: each avascular colony (a dormant disseminated cell or an avascular
   micrometastasis, see the words below) switches on angiogenesis with probability
   ``1 - exp(-switch_rate dt)`` (adjusted for competing loss), vanishes with rate
   ``dormant_death_rate``, or stays dormant at or below the avascular limit;
6. **founding**: every colony fate (in an organ) and nodal fate (in a lymph-node group)
   founds a new avascular tumour of ``colony_cells`` cells (one cell by default) at that
   site; fates are read by kind and site from the model's
   :attr:`~circnet.TransportModel.state_space`;
7. **bookkeeping**: tumours crossing ``detection_cells`` are logged as detectable,
   tumours below one cell are cleared; per-site statistics are recorded.

Representation (structure of arrays, :mod:`circnet._rows`): each row is a *group of
identical tumours* with a ``count``: site, log volume, log carrying capacity, vascular
flag, founding day. All colonies founded at one site in one step start identical and
follow the same deterministic growth, so they share one row; random events (switch,
loss) split a row by exact binomial / multivariate hypergeometric draws. The cost of a
step is proportional to the number of rows, about (number of sites) x (lifetime of a
dormant cohort in steps) + (number of vascular groups), independent of the number of
colonies (millions). Switched colonies become their own rows; an avascular row that
empties is dropped. What a step does is :mod:`circnet._day`.

Conservation: in every step ``shed = dead + colonies founded + nodal tumours founded``
exactly (integer counts), reported per step in :attr:`CourseResult.daily`.

Limits: a course has at most :data:`MAX_STEPS` steps and ``dt_days >= MIN_DT_DAYS``; its
per-step records take at most :data:`~circnet._rows.MAX_RECORD_BYTES` (about 320 years
of daily steps of the reference body); growth over one step takes at most
:data:`~circnet._day.MAX_SUBSTEPS` RK4 sub-steps; tumours hold and shed at most
:data:`~circnet.simulate.MAX_CELLS` cells (a :class:`~circnet.ParameterError` names the
limit otherwise). A course of more than :data:`LONG_COURSE_STEPS` steps (100 years of
daily steps) warns that it may take hours: the cost of a step grows with the number of
tumour groups, so split such a run with ``stop_day`` and ``checkpoint``.

Randomness only through ``rng`` (SPEC 7: an int >= 0, a Generator, a SeedSequence or
None). A course can be checkpointed (``checkpoint=path, checkpoint_every=days``: circnet's
one pickle-free checkpoint format, :mod:`circnet._files`, with the rows, the records, the
generator state and a fingerprint of the body, cells, parameters, primary, length, step,
treatment and seed) and resumed with :func:`resume_course`, or by calling
:func:`simulate_course` again with the same arguments; the resumed course is
bit-identical to an uninterrupted one.

Units: time in days (a year is 365.25 days), sizes in cells (1e9 cells ~ 1 cm^3 ~ 1 g).

Words (defined in :data:`COURSE_TERMS`; the result's columns, the report and the plots
keep them apart and never add dormant cells or micrometastases into the metastatic
burden): a **dormant disseminated cell** is a tumour outside the primary below
``2 ** DORMANT_BELOW_DOUBLINGS * colony_cells`` (2 cells by default: it has not completed
a doubling); an **avascular micrometastasis** has divided but has no vessels and stalls
at ``avascular_limit_cells``; a **vascular metastasis** has switched on angiogenesis
(``switch_rate``, open to every avascular colony) and grows on: its cells are the
**metastatic burden**; a **detectable metastasis** has at least ``detection_cells``.
The stages are a reading of the state (size and vascular flag of each tumour), made for
the tables and pictures; the laws of the course do not depend on them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._course_checkpoint import KIND as _KIND
from ._course_checkpoint import check_expected, restore_course, save_course
from ._day import DORMANT_BELOW_DOUBLINGS, EVENT_KINDS, Engine
from ._files import fingerprint, load_checkpoint
from ._frames import BURDEN_STAGES as _BURDEN
from ._frames import COURSE_TERMS, tables
from ._validation import check_choice, check_number, check_path, check_rng
from .cells import CellProfile
from .cohort import _model
from .errors import CheckpointError, CircnetError, ParameterError, UnknownNameError
from .population import CellPopulation
from .simulate import MAX_CELLS
from .transport import TransportModel
from .tumour import TumourParams

logger = logging.getLogger(__name__)

__all__ = [
    "simulate_course",
    "resume_course",
    "CourseResult",
    "EVENT_KINDS",
    "DAYS_PER_YEAR",
    "MAX_STEPS",
    "MIN_DT_DAYS",
    "LONG_COURSE_STEPS",
    "COURSE_TERMS",
    "DORMANT_BELOW_DOUBLINGS",
]

#: Days per year used to turn ``years`` into steps.
DAYS_PER_YEAR = 365.25
#: Most steps (``years * 365.25 / dt_days``) a course may take.
MAX_STEPS = 1_000_000
#: Smallest step, days.
MIN_DT_DAYS = 1e-3
#: A course of more steps than this warns that it may take hours (100 years, daily).
LONG_COURSE_STEPS = 36_525
#: Step numbers are clamped here (a huge ``stop_day`` or ``checkpoint_every``).
_FAR = 2**62


# ============================================================================ result
@dataclass(frozen=True)
class CourseResult:
    """Outcome of :func:`simulate_course` (frozen).

    Attributes
    ----------
    primary : str
        Site of the primary tumour.
    days : float
        Length of the course simulated, days.
    params : TumourParams
        Tumour parameters used.
    timeseries : pandas.DataFrame
        Tidy: one row per (day, site) for every site that ever held a tumour; columns
        ``day, site, n_tumours, n_vascular, total_cells, largest_cells, detectable``
        (``largest_cells >= params.detection_cells``), all tumours together, dormant
        cells and the primary included; then by stage (the words of
        :data:`COURSE_TERMS`): ``dormant_cells`` (number of dormant disseminated cells),
        ``micrometastases`` and ``micrometastasis_cells`` (avascular micrometastases),
        ``vascular_metastases`` and ``vascular_metastasis_cells`` (the metastatic
        burden), ``detectable_metastases`` and ``primary_cells``.
    events : pandas.DataFrame
        ``day, site, kind, count, cells, primary``; kinds in :data:`EVENT_KINDS`
        (``founded`` counts the dormant disseminated cells lodged at a site in a step;
        ``cells`` is the size of one tumour of the event).
    daily : pandas.DataFrame
        Per step (indexed by the step's end day): cells ``shed`` (of which
        ``shed_primary``), their fates ``dead``, ``colonies`` (disseminated to organs),
        ``nodal`` (to lymph nodes); colonies ``switched`` on, avascular colonies
        ``vanished``, tumours ``cleared``; at the end of the step ``primary_cells``,
        ``disseminated_tumour_cells`` (every tumour cell outside the primary, dormant
        ones included), ``dormant_cells`` (number), ``micrometastasis_cells`` and
        ``vascular_metastasis_cells``.
    summary : pandas.Series
        Headline numbers: first vascular and first detectable metastasis (day, site),
        detectable metastatic sites, and at the end ``primary_cells_end``,
        ``dormant_cells_end``, ``micrometastases_end``, ``micrometastasis_cells_end``,
        ``vascular_metastases_end``, ``vascular_metastasis_cells_end``,
        ``detectable_metastases_end``; totals ``cells_shed``,
        ``cells_disseminated_to_organs``, ``cells_disseminated_to_nodes``;
        ``conserved``.
    status : str
        ``"finished"``, or ``"stopped"`` at ``stop_day`` (continue with
        :func:`resume_course`).
    message : str
        What happened, in words.

    Notes
    -----
    Words (defined in :mod:`circnet.course` and :data:`COURSE_TERMS`): a **dormant
    disseminated cell** is a tumour outside the primary that has not completed a
    doubling (fewer than 2 cells by default); an **avascular micrometastasis** has
    divided but has no vessels and stalls at about 1e6 cells; a **vascular metastasis**
    has switched on angiogenesis and grows on (its cells are the **metastatic burden**);
    a **detectable metastasis** has at least ``params.detection_cells`` cells.

    Examples
    --------
    >>> import circnet
    >>> res = circnet.simulate_course(circnet.default_body(), "colon_rectum", 1, rng=1)
    >>> bool((res.daily["shed"] == res.daily[["dead", "colonies", "nodal"]].sum(axis=1)).all())
    True
    >>> list(res.to_frame().columns)[:3], res.status
    (['day', 'site', 'n_tumours'], 'finished')
    """

    primary: str
    days: float
    params: TumourParams
    timeseries: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)
    daily: pd.DataFrame = field(repr=False)
    summary: pd.Series = field(repr=False)
    status: str = "finished"
    message: str = ""

    def to_frame(self) -> pd.DataFrame:
        """The tidy per-site time series (a copy)."""
        return self.timeseries.copy()

    @property
    def first_detectable_metastasis(self) -> tuple[float, str] | None:
        """``(day, site)`` of the first metastasis to reach the detection threshold."""
        e = self.events
        e = e[(e["kind"] == "detectable") & ~e["primary"]]
        if e.empty:
            return None
        return float(e["day"].iloc[0]), str(e["site"].iloc[0])

    def burden(self, day: float, *, stage: str = "metastases") -> pd.Series:
        """Tumour cells per site at the last record on or before ``day``.

        Parameters
        ----------
        day : float
        stage : {"metastases", "micrometastases", "dormant", "all"}
            Cells of the primary and the vascular metastases (default: the burden a
            clinician would see), cells in avascular micrometastases, the number of
            dormant disseminated cells, or every tumour cell (all stages together).

        Examples
        --------
        >>> import circnet
        >>> res = circnet.simulate_course(circnet.default_body(), "colon_rectum", 1, rng=1)
        >>> b = res.burden(365)
        >>> b.name, bool(b["colon_rectum"] > 1e6)
        ('cells of the primary and the vascular metastases at day 365', True)
        """
        day = check_number(day, "day", unit="days")
        stage = check_choice(stage, "stage", tuple(_BURDEN))
        columns, what = _BURDEN[stage]
        ts = self.timeseries
        days = ts["day"].unique()
        sel = days[days <= day]
        if sel.size == 0:
            raise ParameterError(f"`day` {day} is before the course starts")
        at = ts[ts["day"] == sel.max()].set_index("site")
        return at[list(columns)].sum(axis=1).rename(f"{what} at day {sel.max():g}")


def _result(engine: Engine) -> CourseResult:
    t = tables(engine)
    return CourseResult(
        primary=engine.primary_site,
        days=t.days,
        params=engine.params,
        timeseries=t.timeseries,
        events=t.events,
        daily=t.daily,
        summary=t.summary,
        status=t.status,
        message=t.message,
    )


# ============================================================================ inputs
def _day(value: Any, name: str, *, positive: bool = False) -> float | None:
    if value is None:
        return None
    return check_number(value, name, low=0.0, low_open=positive, unit="days")


def _cells(value: Any, name: str) -> float:
    return check_number(value, name, low=0.0, low_open=True, high=MAX_CELLS, unit="cells")


def _n_steps(years: float, dt: float, *, warn: bool = False) -> int:
    steps = years * DAYS_PER_YEAR / dt
    if not steps <= MAX_STEPS + 0.5:
        raise ParameterError(
            f"`years` = {years:g} in steps of `dt_days` = {dt:g} is {steps:.4g} steps; at most "
            f"{MAX_STEPS:,} are allowed (a shorter course or a larger `dt_days`)"
        )
    n = int(round(steps))
    if warn and n > LONG_COURSE_STEPS:
        warnings.warn(
            f"a course of {n:,} steps (`years` = {years:g} in steps of `dt_days` = {dt:g}) may "
            f"take hours (more than {LONG_COURSE_STEPS:,} steps): split it with `stop_day` and "
            "`checkpoint`, or take a larger `dt_days`",
            UserWarning,
            stacklevel=3,
        )
    return n


def _steps_of(days: float | None, dt: float) -> int | None:
    return None if days is None else int(round(min(days / dt, _FAR)))


def _every(checkpoint_every: Any, dt: float) -> int | None:
    ce = _day(checkpoint_every, "checkpoint_every", positive=True)
    return None if ce is None else max(1, int(round(min(ce / dt, _FAR))))


def _body_digest(graph: nx.DiGraph) -> str:
    nodes = sorted((str(n), fingerprint(d)) for n, d in graph.nodes(data=True))
    edges = sorted((str(u), str(v), fingerprint(d)) for u, v, d in graph.edges(data=True))
    return fingerprint(nodes, edges)


def _cells_dict(cells: CellProfile | CellPopulation) -> dict[str, Any]:
    if isinstance(cells, CellPopulation):  # issue 12: a model of a population of cells
        return {"population": [[n, w, _cells_dict(p)] for n, w, p in cells]}
    out = {f.name: getattr(cells, f.name) for f in dataclasses.fields(cells) if f.name != "sites"}
    out["sites"] = {s: dict(v) for s, v in cells.sites.items()}
    return out


def _run_fingerprint(run: dict[str, Any]) -> str:
    return fingerprint(_KIND, run)


def _engine(model: TransportModel, run: dict[str, Any], rng: np.random.Generator) -> Engine:
    """The engine of a run definition (as stored in a checkpoint), checked, not started."""
    dt = check_number(run["dt_days"], "dt_days", low=MIN_DT_DAYS, unit="days")
    years = check_number(run["years"], "years", low=0.0, unit="years")
    if not isinstance(run["primary"], str) or not isinstance(run["params"], dict):
        raise ParameterError("the primary must be a site name and the parameters a mapping")
    return Engine(
        model,
        run["primary"],
        _n_steps(years, dt),
        dt,
        TumourParams(**run["params"]),
        rng,
        surgery_day=_day(run["surgery_day"], "surgery_day"),
        inhibitor_from_day=_day(run["inhibitor_from_day"], "inhibitor_from_day"),
        primary_cells=_cells(run["primary_cells"], "primary_cells"),
        primary_capacity_cells=_cells(run["primary_capacity_cells"], "primary_capacity_cells"),
    )


# ============================================================================ checkpoints
def _finish(
    engine: Engine,
    target: Path | None,
    run: dict[str, Any],
    fp: str,
    every: int | None,
    stop: int | None,
) -> CourseResult:
    def save() -> None:
        if target is not None:
            save_course(engine, target, run, fp)

    engine.run(engine.n_steps if stop is None else stop, save, every)
    save()
    return _result(engine)


# ============================================================================ public API
def simulate_course(
    body: nx.DiGraph | TransportModel,
    primary: str,
    years: float,
    rng: Any = None,
    *,
    cells: CellProfile | None = None,
    params: TumourParams | None = None,
    dt_days: float = 1.0,
    primary_cells: float = 1.0e6,
    primary_capacity_cells: float | None = None,
    surgery_day: float | None = None,
    inhibitor_from_day: float | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: float | None = None,
    stop_day: float | None = None,
    **param_changes: Any,
) -> CourseResult:
    """Simulate the disease course from a primary tumour over ``years``.

    Parameters
    ----------
    body : networkx.DiGraph or TransportModel
        A body graph, or a transport model of one (reuses its factorisation: cheaper
        for many courses).
    primary : str
        Organ (or lymph-node group) of the primary tumour.
    years : float
        Length of the course (365.25 days a year; at most :data:`MAX_STEPS` steps).
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Source of randomness (SPEC 7; an int seed must be >= 0).
    cells : CellProfile, optional
        Parameters of the shed cells (transport); default ``CellProfile()``.
    params : TumourParams, optional
        Tumour parameters; ``**param_changes`` override single fields
        (``switch_rate=0.0``, ...).
    dt_days : float
        Step, days (1; at least :data:`MIN_DT_DAYS`).
    primary_cells : float
        Size of the primary at day 0, cells (default 1e6 = 1 mm^3: the day it
        switches on angiogenesis).
    primary_capacity_cells : float, optional
        Its carrying capacity at day 0 (default ``primary_cells``).
    surgery_day : float, optional
        Day on which the primary is removed (it sheds no more).
    inhibitor_from_day : float, optional
        Day from which an angiogenesis inhibitor is given (Hahnfeldt term ``e K g``).
    checkpoint : path, optional
        Where to save the state, every ``checkpoint_every`` days and at the end. If the
        file already holds a checkpoint of this very course (same body, cells,
        parameters, primary, length, step, treatment and seed), the course resumes from
        it; a checkpoint of another course there is refused, not overwritten.
    checkpoint_every : float, optional
        Interval between checkpoints, days.
    stop_day : float, optional
        Stop early at this day (with ``checkpoint``: to split a long run; continue it with
        :func:`resume_course`). The result covers the days simulated
        (``status="stopped"``).

    Returns
    -------
    CourseResult
        Per site and day, the tumours by stage: **dormant disseminated cells** (not yet
        doubled: fewer than 2 cells by default; not metastases), **avascular
        micrometastases** (divided, no vessels, stall at about 1e6 cells), **vascular
        metastases** (switched on angiogenesis; their cells are the metastatic burden) and
        **detectable** metastases (at least ``detection_cells``); see
        :data:`COURSE_TERMS`.

    Raises
    ------
    UnknownNameError
        Unknown primary site.
    ParameterError
        Negative or non-finite times, bad tumour parameters, a bad ``rng``, more than
        :data:`MAX_STEPS` steps, growth too fast for ``dt_days``.
    CheckpointError
        ``checkpoint`` holds something other than a checkpoint of this course.

    Examples
    --------
    >>> import circnet
    >>> body = circnet.default_body()
    >>> res = circnet.simulate_course(body, "colon_rectum", 2, rng=7)
    >>> res.summary["conserved"]
    True
    >>> off = circnet.simulate_course(body, "colon_rectum", 2, rng=7, shedding_rate=0.0)
    >>> int(off.summary["cells_disseminated_to_organs"])
    0
    >>> int(res.summary["dormant_cells_end"]) >= 0 and int(res.summary["micrometastases_end"]) >= 0
    True
    """
    years_f = check_number(years, "years", low=0.0, unit="years")
    dt = check_number(dt_days, "dt_days", low=MIN_DT_DAYS, unit="days")
    n_steps = _n_steps(years_f, dt)
    surgery = _day(surgery_day, "surgery_day")
    inhibitor = _day(inhibitor_from_day, "inhibitor_from_day")
    if params is None:
        params = TumourParams()
    if not isinstance(params, TumourParams):
        raise ParameterError(f"`params` must be TumourParams (got {type(params).__name__})")
    if param_changes:
        params = params.replace(**param_changes)
    size = _cells(primary_cells, "primary_cells")
    capacity = size
    if primary_capacity_cells is not None:
        capacity = _cells(primary_capacity_cells, "primary_capacity_cells")
    every = _every(checkpoint_every, dt)
    stop = _steps_of(_day(stop_day, "stop_day"), dt)
    path = None if checkpoint is None else check_path(checkpoint, "checkpoint")
    if stop is not None and path is None:
        raise ParameterError("`stop_day` needs a `checkpoint` to resume from")
    if not isinstance(primary, str):
        raise UnknownNameError(f"`primary` must be a site name (got {primary!r})")
    gen = check_rng(rng)
    model = _model(body, cells)
    run = {
        "body": _body_digest(model.body),
        "cells": _cells_dict(model.cells),
        "params": params.to_dict(),
        "primary": primary,
        "years": years_f,
        "dt_days": dt,
        "primary_cells": size,
        "primary_capacity_cells": capacity,
        "surgery_day": surgery,
        "inhibitor_from_day": inhibitor,
        "seed": gen.bit_generator.state,
    }
    fp = _run_fingerprint(run)
    engine = Engine(
        model,
        primary,
        n_steps,
        dt,
        params,
        gen,
        surgery_day=surgery,
        inhibitor_from_day=inhibitor,
        primary_cells=size,
        primary_capacity_cells=capacity,
    )
    _n_steps(years_f, dt, warn=True)  # the records fit (Engine checked): warn if long
    if path is not None and path.exists():
        restore_course(engine, load_checkpoint(path, _KIND, fp))
        logger.info("course: resuming from %s", path)
    else:
        engine.start()
    return _finish(engine, path, run, fp, every, stop)


def resume_course(
    path: str | os.PathLike[str],
    body: nx.DiGraph | TransportModel,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: float | None = None,
    expect: Mapping[str, Any] | None = None,
) -> CourseResult:
    """Continue a course from a checkpoint written by :func:`simulate_course`.

    The result is bit-identical to the uninterrupted course.

    Parameters
    ----------
    path : path
        The checkpoint (``.npz``).
    body : networkx.DiGraph or TransportModel
        The same body as the original run (checked by fingerprint); the cell profile
        and tumour parameters come from the checkpoint.
    checkpoint, checkpoint_every :
        Keep checkpointing (to ``checkpoint``, default ``path``) every so many days.
    expect : mapping, optional
        Arguments the stored course must have been started with (keys of
        :func:`simulate_course`: ``primary``, ``years``, ``dt_days``, ``primary_cells``,
        ``primary_capacity_cells``, ``surgery_day``, ``inhibitor_from_day``, and ``rng``
        as an int seed); a checkpoint of another course is refused. This is how
        ``circnet course --checkpoint`` makes sure that the file belongs to the command.

    Raises
    ------
    CheckpointError
        Missing, unreadable, truncated, altered or foreign file; a body that differs
        from the original; a course other than ``expect`` says.

    Examples
    --------
    >>> import circnet, tempfile, pathlib
    >>> body = circnet.default_body()
    >>> ck = pathlib.Path(tempfile.mkdtemp()) / "course.npz"
    >>> full = circnet.simulate_course(body, "lung", 1, rng=3)
    >>> part = circnet.simulate_course(body, "lung", 1, rng=3, checkpoint=ck, stop_day=200)
    >>> part.days, part.status
    (200.0, 'stopped')
    >>> again = circnet.resume_course(ck, body)
    >>> again.timeseries.equals(full.timeseries)
    True
    """
    src = check_path(path, "path")
    target = None if checkpoint is None else check_path(checkpoint, "checkpoint")
    graph = body.body if isinstance(body, TransportModel) else body
    if not isinstance(graph, nx.DiGraph):
        raise ParameterError(f"`body` must be a body graph (got {type(body).__name__})")
    ck = load_checkpoint(src, _KIND)
    where = repr(str(src))
    run, fp = ck.meta.get("run"), ck.meta.get("fingerprint")
    if not isinstance(run, dict) or fp != _run_fingerprint(run):
        raise CheckpointError(f"checkpoint {where} has a malformed or altered header")
    if run.get("body") != _body_digest(graph):
        raise CheckpointError(
            f"checkpoint {where} was written for another body (fingerprints differ)"
        )
    try:
        model = _model(body, CellProfile(**run["cells"]))
        engine = _engine(model, run, np.random.default_rng(0))
    except (KeyError, TypeError, ValueError, CircnetError) as err:
        raise CheckpointError(f"checkpoint {where} has bad parameters: {err}") from err
    if expect is not None:
        check_expected(run, expect, where)
    restore_course(engine, ck)
    every = _every(checkpoint_every, engine.dt)
    if target is None and every:
        target = src
    return _finish(engine, target, run, fp, every, None)
