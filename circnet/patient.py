"""The clinical course of one virtual patient: the cohort engine for one patient, day by day.

:func:`simulate_patient` runs patient ``i`` of a cohort (:func:`circnet.simulate_cohort`
with ``follow="all"`` and ``keep_colonies=True``): the same laws (:mod:`circnet._clinical`:
human volume-doubling times, Gompertz growth, diagnosis at a clinical size, surgery,
dormancy, angiogenic switch, nodal immunity, CTCs), the same counter-based random
stream, so patient ``i`` of seed ``s`` is exactly row ``i`` of a cohort of seed ``s``.
It is exact and event driven; the daily tables of :class:`PatientCourse` are then
rebuilt in closed form from the event times (:mod:`circnet._patient_frame`).

The daily tables show at most ``history_years`` (default :data:`HISTORY_YEARS`) before
the diagnosis: the preclinical phase can be centuries long (prostate: median 52 years,
a long log-normal tail), and every day of it would cost time and memory. The events
(on their exact days, also before the first day shown) and the summary do not depend
on it; the tables are the same on the days they show (the expected dormant cells carry
their history in, integrated on a coarse grid); :attr:`PatientCourse.history_from_day`
is the first day shown (0: the whole course).

Time: day 0 is the day the primary switches on angiogenesis (``start_cells``); the
course ends ``years`` after the diagnosis, or on the day the patient dies of the disease
(the total burden reaches ``lethal_burden_cells``; law 8 of :mod:`circnet._clinical`).
Day ``d`` is the state at the end of that day; an event belongs to the first whole
day on which it has happened. With surgery (the default scenario) the primary, and
with ``node_dissection`` its regional lymph-node groups, are removed at the end of the
diagnosis day.

Words (defined in :data:`PATIENT_TERMS`; the report and the plots use them): a
**dormant disseminated cell** is a single lodged cell that does not divide (the tables
give the *expected* number per site: the engine draws only their awakenings); an
**avascular micrometastasis** is an awakened colony without vessels, stalled at
``avascular_limit_cells``; a **vascular metastasis** has switched on angiogenesis and
grows on (its cells are the **metastatic burden**); a **detectable** metastasis has
reached ``detection_cells``; **synchronous** and **metachronous** say whether a distant
metastasis was detectable at diagnosis or later; **node-positive** is a nodal deposit
above ``node_positive_cells`` at diagnosis; **CTC per 7.5 mL** is the CellSearch count
of one blood tube.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._clinical import TERMS, ClinicalParams
from ._cohort_engine import make_plan
from ._cohort_random import patient_keys
from ._format import fmt_number
from ._frames import BURDEN_STAGES, COURSE_TERMS
from ._patient_frame import CTC_PURPOSE, EVENT_KINDS, EXACT_EVALUATIONS, build
from ._validation import check_bool, check_choice, check_int, check_number
from .cells import CellProfile
from .cohort import SCENARIOS, _model, simulate_cohort
from .transport import TransportModel

__all__ = [
    "simulate_patient",
    "PatientCourse",
    "PATIENT_TERMS",
    "PATIENT_EVENT_KINDS",
    "CTC_PURPOSE",
    "EXACT_EVALUATIONS",
    "HISTORY_YEARS",
]

#: Kinds of event of a patient course (:attr:`PatientCourse.events`), in order.
PATIENT_EVENT_KINDS = EVENT_KINDS
#: The words of a patient course, each defined once (the report's glossary).
PATIENT_TERMS = {
    "diagnosis": (
        "the first day the primary tumour reaches the patient's size at diagnosis (a "
        "log-normal diameter per primary type)"
    ),
    "surgery": (
        "removal of the primary at the end of the diagnosis day (scenario 'surgery'), with "
        "its regional lymph-node groups unless node_dissection=False; 'natural' leaves it"
    ),
    "expected dormant disseminated cells": (
        "the mean number of dormant disseminated cells at a site, from the shedding of the "
        "primary and the vascular metastases (not a count: single dormant cells are never "
        "drawn, only their awakenings)"
    ),
    **TERMS,
    "metastatic burden": COURSE_TERMS["metastatic burden"],
    "first distant metastasis": (
        "the first metastasis in an organ other than the primary's to become detectable"
    ),
    "lethal burden": (
        "about 1e12 tumour cells (1 kg) in the primary, the micrometastases and the "
        "vascular metastases together; the course ends on the day it is reached"
    ),
}
#: Words of the summary's keys (the report shows them).
SUMMARY_WORDS = {
    "vdt_days": "volume-doubling time of the primary (days, at its median size at diagnosis)",
    "diagnosis_day": "diagnosis (day)",
    "diagnosis_cells": "size of the primary at diagnosis (cells)",
    "diagnosis_diameter_cm": "diameter of the primary at diagnosis (cm)",
    "surgery_day": "surgery (day)",
    "diagnosed_by_symptoms": "diagnosed by symptoms of distant metastases (primary left)",
    "synchronous": "synchronous distant metastasis (detectable at diagnosis, or symptoms)",
    "synchronous_sites": "sites of the synchronous metastases",
    "node_positive": "node-positive at diagnosis (nodal deposit > 0.2 mm)",
    "metachronous": "metachronous distant metastasis (first detectable after diagnosis)",
    "first_distant_site": "first distant metastasis (site)",
    "first_distant_day": "first distant metastasis (day)",
    "months_to_first_distant": "months from diagnosis to the first distant metastasis",
    "ctc_at_diagnosis": "CTC per 7.5 mL at diagnosis (count)",
    "ctc_expected_at_diagnosis": "CTC per 7.5 mL at diagnosis (expected)",
    "died_of_disease": "died of disease (total burden reached the lethal burden)",
    "death_day": "death of disease (day; NaN: alive at the end of follow-up)",
    "end_day": "end of the course (day: death, or the end of follow-up)",
    "primary_cells_end": "cells of the primary at the end (0: removed)",
    "expected_dormant_cells_end": "expected dormant disseminated cells at the end (not metastases)",
    "micrometastases_end": "avascular micrometastases at the end",
    "micrometastasis_cells_end": "cells in avascular micrometastases at the end",
    "vascular_metastases_end": "vascular metastases at the end",
    "vascular_metastasis_cells_end": "metastatic burden at the end (cells in vascular metastases)",
    "detectable_metastases_end": "detectable metastases at the end",
    "ctc_at_end": "CTC per 7.5 mL at the end (count)",
    "colonies_followed": "colonies followed (awakened cells)",
    "colonies_cut": "metastases seeding metastases cut short (engine limit)",
    "cell_sums_exact_every_days": "cell sums exact every n days (1: every day)",
    "history_from_day": "daily tables shown from day (0: the whole course; see history_years)",
}
_YEAR = 365.25
#: Default ``history_years`` of :func:`simulate_patient`: the daily tables show at most
#: this many years before the diagnosis (see its docstring for the measurement).
HISTORY_YEARS = 25.0


@dataclass(frozen=True)
class PatientCourse:
    """The clinical course of one virtual patient (frozen; from :func:`simulate_patient`).

    It follows the course protocol of :func:`circnet.report.course_report`,
    :func:`circnet.plots.plot_course` and :func:`circnet.report.course_overlay`
    (``primary``, ``params.detection_cells``, ``timeseries``, ``events``, ``daily``,
    ``summary``; optional ``terms``, ``summary_words``, ``title``).

    Attributes
    ----------
    primary : str
        Site of the primary tumour.
    params : ClinicalParams
        The clinical laws used.
    scenario : str
        ``"surgery"`` or ``"natural"``.
    years : float
        Follow-up after diagnosis, years.
    entropy : int
        Root entropy of the cohort stream (rerun with ``rng=entropy, patient=...``).
    patient : pandas.Series
        The patient's row of :attr:`circnet.CohortResult.patients` (draws, diagnosis,
        synchronous, node-positive, first distant metastasis, CTCs, cell balance).
    colonies : pandas.DataFrame
        Every awakened colony: ``patient, generation, site, awakened, rate, switch``
        (continuous days) and ``detectable_day`` (first whole day at
        ``detection_cells``; inf: never).
    days : numpy.ndarray
        The daily grid ``history_from_day .. end`` (int).
    timeseries : pandas.DataFrame
        Tidy, one row per (day, site) for every site that ever holds something:
        ``day, site, primary_cells`` (0 after surgery), ``expected_dormant_cells``,
        ``micrometastases`` and ``micrometastasis_cells`` (avascular micrometastases),
        ``vascular_metastases`` and ``vascular_metastasis_cells`` (metastatic burden),
        ``detectable_metastases`` and ``total_cells`` (primary, micrometastases and
        vascular metastases; dormant cells are not in it).
    daily : pandas.DataFrame
        Index ``day``; the same stages over all sites, ``shed_per_day`` (cells shed by
        the primary and the vascular metastases), ``ctc_expected`` and
        ``ctc_per_7_5_ml`` (a CellSearch-like Poisson count per 7.5 mL of blood).
    events : pandas.DataFrame
        ``day, site, kind, count, cells, primary``; kinds :data:`PATIENT_EVENT_KINDS`
        (colony events are grouped by day and site, ``count`` of them).
    summary : pandas.Series
        Diagnosis day and size, surgery, synchronous (and sites), node-positive,
        metachronous, first distant site and day, CTC at diagnosis, counts and cells by
        stage at the end (words in :data:`SUMMARY_WORDS`).
    status : str
        ``"finished"``, or ``"cut"`` if the engine stopped following metastases seeding
        metastases (``patient["colonies_cut"]``).
    message : str
        What happened, in words.
    history_from_day : int
        First day of the daily tables, ``days[0]`` (0: from the first day of the course;
        else they are shown from this day on, ``history_years`` before the diagnosis;
        events before it are in :attr:`events` all the same).

    Examples
    --------
    >>> import circnet
    >>> from circnet.patient import simulate_patient
    >>> course = simulate_patient(circnet.default_body(), "colon_rectum", rng=1, years=5)
    >>> int(course.summary["diagnosis_day"]) == int(course.patient["diagnosis_day"])
    True
    >>> after = course.daily.loc[course.summary["diagnosis_day"] + 1 :, "primary_cells"]
    >>> bool((after == 0).all())
    True
    """

    primary: str
    params: ClinicalParams
    scenario: str
    years: float
    entropy: int
    patient: pd.Series = field(repr=False)
    colonies: pd.DataFrame = field(repr=False)
    days: np.ndarray = field(repr=False)
    timeseries: pd.DataFrame = field(repr=False)
    daily: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)
    summary: pd.Series = field(repr=False)
    status: str = "finished"
    message: str = ""

    @property
    def history_from_day(self) -> int:
        """First day of the daily tables (``days[0]``; see ``history_years``)."""
        return int(self.days[0])

    def to_frame(self) -> pd.DataFrame:
        """The tidy per-site daily table (a copy)."""
        return self.timeseries.copy()

    @property
    def terms(self) -> dict[str, str]:
        """The glossary of the course (:data:`PATIENT_TERMS`)."""
        return dict(PATIENT_TERMS)

    @property
    def summary_words(self) -> dict[str, str]:
        """Words of the summary's keys (:data:`SUMMARY_WORDS`)."""
        return dict(SUMMARY_WORDS)

    @property
    def title(self) -> str:
        """A one-line title: patient, primary, diagnosis, follow-up."""
        s = self.summary
        return (
            f"circnet patient {int(s['patient'])}: primary in {self.primary}, diagnosed on "
            f"day {int(s['diagnosis_day'])}, followed {self.years:.3g} years after diagnosis "
            f"({self.scenario})"
        )

    @property
    def first_detectable_metastasis(self) -> tuple[float, str] | None:
        """``(day, site)`` of the first metastasis (any site) to become detectable."""
        e = self.events[self.events["kind"] == "detectable"]
        if e.empty:
            return None
        return float(e["day"].iloc[0]), str(e["site"].iloc[0])

    def burden(self, day: float, *, stage: str = "metastases") -> pd.Series:
        """Cells per site on ``day`` (stages as :meth:`circnet.CourseResult.burden`;
        ``"dormant"`` is the expected number of dormant disseminated cells).

        ``day`` from :attr:`history_from_day` (the first day shown) on; after the end,
        the last day.

        Examples
        --------
        >>> import circnet
        >>> from circnet.patient import simulate_patient
        >>> c = simulate_patient(circnet.default_body(), "lung", rng=2, years=1)
        >>> b = c.burden(int(c.summary["diagnosis_day"]))
        >>> bool(b["lung"] == c.summary["diagnosis_cells"] or b["lung"] > 0)
        True
        """
        day = check_number(day, "day", low=float(self.history_from_day), unit="days")
        stage = check_choice(stage, "stage", tuple(BURDEN_STAGES))
        columns, what = BURDEN_STAGES[stage]
        if stage == "dormant":
            columns, what = ("expected_dormant_cells",), "expected dormant disseminated cells"
        at = self.timeseries[self.timeseries["day"] == min(int(day), int(self.days[-1]))]
        out = at.set_index("site")[list(columns)].sum(axis=1)
        out.index = out.index.astype(str)
        return out.rename(f"{what} at day {min(int(day), int(self.days[-1]))}")


def simulate_patient(
    body: nx.DiGraph | TransportModel,
    primary: str,
    rng: Any = None,
    *,
    years: float = 10.0,
    scenario: str = "surgery",
    cells: CellProfile | None = None,
    params: ClinicalParams | None = None,
    node_dissection: bool = True,
    patient: int = 0,
    history_years: float | None = HISTORY_YEARS,
    **param_changes: Any,
) -> PatientCourse:
    """The clinical course of one virtual patient, day by day (see :mod:`circnet.patient`).

    Parameters
    ----------
    body : networkx.DiGraph or TransportModel
        A body graph, or a transport model of one (its fates are computed once: pass
        one for many patients).
    primary : str
        Organ (or lymph-node group) of the primary tumour.
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Root of the cohort stream, as in :func:`circnet.simulate_cohort` (an int is the
        entropy itself; stored in :attr:`PatientCourse.entropy`).
    years : float
        Follow-up after diagnosis, years (default 10).
    scenario : {"surgery", "natural"}
        Primary removed at diagnosis (default; not after a diagnosis by symptoms of
        distant metastases: law 3 of :mod:`circnet._clinical`), or left untreated.
    cells : CellProfile, optional
        Cells for a body graph (transport fates).
    params : ClinicalParams, optional
        The clinical laws; default ``clinical_params(primary)``; ``**param_changes``
        override single fields.
    node_dissection : bool
        With surgery, remove the primary's regional lymph-node groups with it.
    patient : int
        Which patient of the cohort stream (``>= 0``): patient ``i`` of seed ``s`` is
        row ``i`` of ``simulate_cohort(body, primary, n, s)``.
    history_years : float or None
        How many years before the diagnosis the daily tables show (``> 0``; default
        :data:`HISTORY_YEARS` = 25): they cover days ``max(0, diagnosis_day -
        ceil(365.25 * history_years)) .. end``; ``None``: every day from day 0. The
        events, the summary and the tables on the days shown do not depend on it (the
        expected dormant cells start from their value on the first day, integrated on a
        coarse grid: relative differences below 1e-5). The default keeps a ten-year
        course under 1 s for every primary (benchmarks/results/course.md) and shows
        the whole preclinical phase of most patients: in 1000 patients of seed 1
        (``simulate_cohort(...).patients["diagnosis_day"]``) it is at most 25 years for
        95 % of colon_rectum (median 4.8 years), all of breast (median 3.5, longest
        18), 99.8 % of lung (median 2.1) but only 24 % of prostate (median 52 years;
        PSA doubling times, a long log-normal tail).

    Returns
    -------
    PatientCourse

    Raises
    ------
    UnknownNameError
        Unknown primary site.
    ParameterError
        Bad ``body``, ``cells``, ``years``, ``scenario``, ``patient``, parameters or
        ``rng`` (the message names the argument).

    Examples
    --------
    >>> import circnet
    >>> from circnet.patient import simulate_patient
    >>> model = circnet.TransportModel(circnet.default_body())
    >>> c = simulate_patient(model, "colon_rectum", rng=1, years=5, patient=3)
    >>> cohort = circnet.simulate_cohort(model, "colon_rectum", 4, rng=1, years=5, follow="all")
    >>> bool(c.patient.equals(cohort.patients.iloc[3]))
    True
    >>> list(c.daily.columns)[-2:]
    ['ctc_expected', 'ctc_per_7_5_ml']

    A long preclinical phase is shown from ``history_years`` before the diagnosis:

    >>> c = simulate_patient(model, "colon_rectum", rng=1, years=1, patient=12, history_years=5)
    >>> int(c.summary["diagnosis_day"]) - c.history_from_day
    1827
    >>> int(c.days[0]) == c.history_from_day == int(c.summary["history_from_day"])
    True
    >>> bool((c.events["day"] < c.history_from_day).any())  # events before it are kept
    True
    """
    who = check_int(patient, "patient", low=0)
    if history_years is not None:
        history_years = check_number(
            history_years, "history_years", low=0.0, low_open=True, unit="years"
        )
    check_number(years, "years", low=0.0, low_open=True, unit="years")
    scenario = check_choice(scenario, "scenario", SCENARIOS)
    dissect = check_bool(node_dissection, "node_dissection")
    model = _model(body, cells)
    res = simulate_cohort(
        model,
        primary,
        1,
        rng,
        years=years,
        scenario=scenario,
        params=params,
        follow="all",
        first_patient=who,
        keep_colonies=True,
        node_dissection=dissect,
        **param_changes,
    )
    plan = make_plan(
        model,
        primary,
        res.params,
        surgery=scenario == "surgery",
        follow_up=res.years * _YEAR,
        grid=8,
        follow_all=True,
        node_dissection=dissect,
    )
    row = res.patients.iloc[0]
    keys = patient_keys(res.entropy, np.array([who]))
    d_day = int(row["diagnosis_day"])
    shown = 0 if history_years is None else max(0, d_day - math.ceil(_YEAR * history_years))
    f = build(plan, row, res.colonies, keys, shown)
    s = f.summary
    first = (
        f"first distant metastasis in {s['first_distant_site']} on day "
        f"{fmt_number(s['first_distant_day'])}"
        if math.isfinite(s["first_distant_day"])
        else "no distant metastasis detectable in the follow-up"
    )
    message = (
        f"diagnosed on day {s['diagnosis_day']} at {fmt_number(s['diagnosis_diameter_cm'])} cm; "
        f"{'synchronous' if s['synchronous'] else 'no synchronous'} distant metastasis; "
        f"{'node-positive' if s['node_positive'] else 'node-negative'}; {first}"
    )
    if s["died_of_disease"]:
        message += (
            f"; died of disease on day {fmt_number(s['death_day'])} "
            f"({fmt_number((s['death_day'] - s['diagnosis_day']) / 365.25 * 12)} months "
            "after diagnosis)"
        )
    if res.status == "cut":
        message += "; metastases seeding metastases were cut short (colonies_cut)"
    if f.days[0] > 0:
        message += (
            f"; daily tables shown from day {int(f.days[0])} "
            f"({(s['diagnosis_day'] - f.days[0]) / _YEAR:.3g} years before diagnosis)"
        )
    return PatientCourse(
        primary=primary,
        params=res.params,
        scenario=scenario,
        years=res.years,
        entropy=res.entropy,
        patient=row,
        colonies=f.colonies,
        days=f.days,
        timeseries=f.timeseries,
        daily=f.daily,
        events=f.events,
        summary=s,
        status=res.status,
        message=message,
    )
