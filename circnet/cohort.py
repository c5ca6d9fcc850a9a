"""Virtual cohorts: many patients with one primary, and the clinical figures they give.

:func:`simulate_cohort` runs ``n`` virtual patients with the laws of the single course
(:mod:`circnet._clinical`; the words of :data:`circnet._clinical.TERMS`) in the batched,
event-driven engine of :mod:`circnet._cohort_engine`: patients in chunks, arrays over
patients, source tumours and colonies, no daily loop. Each patient is followed from the
day its primary switches on angiogenesis (``start_cells``) to ``years`` after its
diagnosis.

Patient ``i`` draws every random number from its own counter-based stream, keyed by
``SeedSequence(entropy, spawn_key=(i,))``: its row is the same whether it runs alone, in
any chunk or on another worker (``first_patient`` numbers the patients of a part of a
cohort). Every patient is followed until it dies of the disease (law 8 of
:mod:`circnet._clinical`: a lethal total burden after diagnosis) or to the end of its
follow-up; nothing happens after death. ``follow="first"`` and ``follow="all"`` give the
same rows (the death day needs every colony up to it); the argument is kept for
compatibility.

Days are days since the primary switched on angiogenesis (day 0); a day of an event is
the first whole day on which it has happened (the daily grid of the single course).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._clinical import ClinicalParams, clinical_params
from ._cohort_engine import Plan, make_plan, patient_keys, run_chunk
from ._files import atomic_write
from ._validation import check_bool, check_choice, check_int, check_number, check_path
from .cells import CellProfile
from .errors import ParameterError, UnknownNameError
from .transport import TransportModel

__all__ = ["simulate_cohort", "CohortResult", "kaplan_meier", "SCENARIOS", "FOLLOW"]

#: Clinical scenarios: the primary removed at diagnosis, or the untreated natural history.
SCENARIOS = ("surgery", "natural")
#: How far colonies are followed (see the module docstring).
FOLLOW = ("first", "all")
_YEAR = 365.25
_MONTH = 30.44
_CHUNK = 500


def kaplan_meier(time: Any, event: Any, until: float | None = None) -> pd.DataFrame:
    """Kaplan-Meier estimate with Greenwood 95 % intervals (log-log).

    Parameters
    ----------
    time : array of float
        Follow-up of each subject (event or censoring time).
    event : array of bool
        True where the event happened at ``time``, False where censored.
    until : float, optional
        End of the follow-up: a last row at this time carries the curve on from the
        last event (no events there), so that a plot reaches the end of the follow-up.

    Returns
    -------
    pandas.DataFrame
        ``time, at_risk, events, survival, lower, upper``, one row per distinct event
        time, after a first row at time 0 (and a last one at ``until``).

    Examples
    --------
    >>> km = kaplan_meier([1.0, 2.0, 2.0, 3.0], [True, False, True, False])
    >>> km["survival"].round(3).tolist()
    [1.0, 0.75, 0.5]
    >>> kaplan_meier([1.0, 2.0, 2.0, 3.0], [True, False, True, False], until=4.0)["time"].tolist()
    [0.0, 1.0, 2.0, 4.0]
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    if t.shape != e.shape or t.ndim != 1 or np.isnan(t).any():
        raise ParameterError("`time` and `event` must be 1-d arrays of the same length, no NaN")
    times = np.unique(t[e])
    at_risk = np.array([(t >= x).sum() for x in times], dtype=float)
    events = np.array([(e & (t == x)).sum() for x in times], dtype=float)
    surv = np.cumprod(1.0 - events / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.cumsum(events / (at_risk * (at_risk - events)))
        se = np.sqrt(var) / np.abs(np.log(surv))
        lower = surv ** np.exp(1.96 * se)
        upper = surv ** np.exp(-1.96 * se)
    row0 = pd.DataFrame(
        {
            "time": [0.0],
            "at_risk": [float(t.size)],
            "events": [0.0],
            "survival": [1.0],
            "lower": [1.0],
            "upper": [1.0],
        }
    )
    rest = pd.DataFrame(
        {
            "time": times,
            "at_risk": at_risk,
            "events": events,
            "survival": surv,
            "lower": np.nan_to_num(lower, nan=0.0),
            "upper": np.nan_to_num(upper, nan=1.0),
        }
    )
    out = pd.concat([row0, rest], ignore_index=True)
    if until is not None and float(until) > float(out["time"].iloc[-1]):
        last = out.iloc[[-1]].assign(
            time=float(until), at_risk=float((t >= float(until)).sum()), events=0.0
        )
        out = pd.concat([out, last], ignore_index=True)
    return out


def _km(p: pd.DataFrame, column: str, horizon: float) -> pd.DataFrame:
    """Kaplan-Meier of the day in ``column`` (NaN: none) after diagnosis, in years,
    censored at ``horizon`` or at the end of the patient's own follow-up."""
    d = p["diagnosis_day"].to_numpy(float)
    t = (p[column].to_numpy(float) - d) / _YEAR
    end = np.minimum((p["followed_to_day"].to_numpy(float) - d) / _YEAR, horizon)
    event = np.isfinite(t) & (t <= end)
    return kaplan_meier(np.where(event, t, end), event, until=horizon)


def _share(x: np.ndarray) -> tuple[float, float, float, int]:
    """Share of True with its Wilson 95 % interval."""
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    p = float(x.mean())
    z = 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, centre - half, centre + half, n


@dataclass(frozen=True)
class CohortResult:
    """Outcome of :func:`simulate_cohort` (frozen).

    Attributes
    ----------
    primary : str
        Site of the primaries.
    params : ClinicalParams
        The clinical laws used.
    scenario : str
        ``"surgery"`` or ``"natural"``.
    years : float
        Follow-up after diagnosis, years.
    entropy : int
        Root entropy of the patients' streams (rerun with ``rng=entropy``).
    patients : pandas.DataFrame
        One row per patient: ``patient``, the draws (``vdt_days``, ``growth_rate``),
        ``diagnosis_cells`` (the primary at diagnosis: its drawn clinical size, or its
        size on the day of a diagnosis by symptoms), ``diagnosis_day``,
        ``diagnosed_by_symptoms`` (distant metastases held ``symptomatic_burden_cells``
        before the primary reached its size: law 3 of :mod:`circnet._clinical`),
        ``primary_removed`` (operated at diagnosis: the surgery scenario, unless
        diagnosed by symptoms), ``synchronous`` (a distant metastasis detectable at
        diagnosis, or a diagnosis by symptoms) with ``n_synchronous`` and
        ``synchronous_sites``,
        ``node_positive`` (a nodal deposit > 0.2 mm at diagnosis),
        ``first_distant_site`` / ``first_distant_day`` (empty / NaN: none in the
        follow-up), ``months_to_first_distant`` (after diagnosis), CTC per 7.5 mL at
        diagnosis and at the first distant metastasis (expected and a CellSearch-like
        Poisson count; -1: none), ``ctc_30ml_at_diagnosis`` (a count in four tubes,
        30 mL, as van Dalum 2015 drew), dormant cells, micrometastases and vascular metastases
        at diagnosis, and the integer balance of shed cells by diagnosis:
        ``shed_by_diagnosis = dead_in_transport + colonies_founded + nodal_founded``,
        ``colonies_founded + nodal_founded = dormant (distant + nodal) at diagnosis +
        dormant_died + awakened_by_diagnosis``.
    colonies : pandas.DataFrame
        With ``keep_colonies=True``: every awakened colony followed, ``patient,
        generation, site, awakened, rate, switch`` (day it switched on angiogenesis;
        inf: never); else empty.
    status : str
        ``"finished"``, or ``"cut"`` if some patient had more colonies than the engine
        follows (:data:`circnet._cohort_engine.MAX_COLONIES_PER_PATIENT`; see
        ``patients["colonies_cut"]``).
    """

    primary: str
    params: ClinicalParams
    scenario: str
    years: float
    entropy: int
    patients: pd.DataFrame = field(repr=False)
    colonies: pd.DataFrame = field(repr=False)
    status: str = "finished"

    def to_frame(self) -> pd.DataFrame:
        """The per-patient table (a copy)."""
        return self.patients.copy()

    def survival(self, years: float | None = None) -> pd.DataFrame:
        """Metastasis-free survival after diagnosis (surgery) of the patients without
        synchronous metastases: Kaplan-Meier in years. The event is the first
        detectable distant metastasis; a patient is censored at the end of its follow-up
        (``years``, or its death of disease if earlier). The curve runs to ``years``."""
        p = self.patients[~self.patients["synchronous"]]
        horizon = self.years if years is None else check_number(years, "years", low=0.0)
        return _km(p, "first_distant_day", horizon)

    def disease_specific_survival(self, years: float | None = None) -> pd.DataFrame:
        """Disease-specific survival after diagnosis of every patient (Kaplan-Meier in
        years; the event is death of disease, law 8; censored at the end of follow-up).

        Examples
        --------
        >>> import circnet
        >>> res = simulate_cohort(circnet.default_body(), "lung", 20, rng=1, years=2)
        >>> km = res.disease_specific_survival()
        >>> float(km["time"].iloc[-1]), bool(km["survival"].is_monotonic_decreasing)
        (2.0, True)
        """
        horizon = self.years if years is None else check_number(years, "years", low=0.0)
        return _km(self.patients, "death_day", horizon)

    def first_sites(self) -> pd.Series:
        """Share of each site among the first distant metastases (within the follow-up)."""
        s = self.patients["first_distant_site"]
        return s[s != ""].value_counts(normalize=True).rename("share")

    def figures(self) -> pd.DataFrame:
        """The cohort's clinical figures with 95 % intervals.

        Returns
        -------
        pandas.DataFrame
            Index ``figure``; columns ``value, low, high, n, unit``.
        """
        p = self.patients
        rows = []

        def add(name: str, x: np.ndarray) -> None:
            v, lo, hi, n = _share(np.asarray(x, dtype=bool))
            rows.append((name, 100 * v, 100 * lo, 100 * hi, n, "% of patients"))

        add("synchronous distant metastases", p["synchronous"].to_numpy())
        add("diagnosed by symptoms of distant metastases", p["diagnosed_by_symptoms"].to_numpy())
        add("node-positive at diagnosis", p["node_positive"].to_numpy())
        km = self.survival(min(5.0, self.years))
        s5 = km.iloc[-1]
        rows.append(
            (
                "metachronous distant metastasis within 5 y (KM)",
                100 * (1 - s5["survival"]),
                100 * (1 - s5["upper"]),
                100 * (1 - s5["lower"]),
                int((~p["synchronous"]).sum()),
                "% of non-synchronous",
            )
        )
        firsts = p["first_distant_site"][p["first_distant_site"] != ""]
        for site in self.first_sites().head(6).index:
            add(f"first distant site: {site}", (firsts == site).to_numpy())
            rows[-1] = (*rows[-1][:5], "% of first sites")
        ctc = p["ctc_at_first_distant"]
        add("CTC >= 5 per 7.5 mL at first distant metastasis", (ctc[ctc >= 0] >= 5).to_numpy())
        rows[-1] = (*rows[-1][:5], "% of patients with a distant metastasis")
        met = p["ctc_metastatic"]
        for k in (5, 2):
            add(f"CTC >= {k} per 7.5 mL in metastatic disease", (met[met >= 0] >= k).to_numpy())
            rows[-1] = (*rows[-1][:5], "% of patients with a distant metastasis")
        early = p.loc[~p["synchronous"], "ctc_at_diagnosis"]
        add("CTC >= 1 per 7.5 mL at diagnosis, no synchronous metastasis", (early >= 1).to_numpy())
        rows[-1] = (*rows[-1][:5], "% of non-synchronous")
        add("CTC >= 5 per 7.5 mL at diagnosis", (p["ctc_at_diagnosis"] >= 5).to_numpy())
        early = p.loc[~p["synchronous"], "ctc_30ml_at_diagnosis"]
        add("CTC >= 1 per 30 mL at diagnosis, no synchronous metastasis", (early >= 1).to_numpy())
        rows[-1] = (*rows[-1][:5], "% of non-synchronous")
        for y in (5.0, 10.0):
            if y <= self.years + 1e-9:
                s_y = self.disease_specific_survival(y).iloc[-1]
                rows.append(
                    (
                        f"disease-specific survival at {y:g} y (KM)",
                        100 * s_y["survival"],
                        100 * s_y["lower"],
                        100 * s_y["upper"],
                        len(p),
                        "% of patients",
                    )
                )
        add(
            "lethal burden at diagnosis",
            (p["burden_at_diagnosis"] >= self.params.lethal_burden_cells).to_numpy(),
        )
        sync = p[p["synchronous"]]
        if len(sync):
            km = _km(sync, "death_day", self.years)
            below = km[km["survival"] <= 0.5]
            months = float(below["time"].iloc[0]) * _YEAR / _MONTH if len(below) else math.nan
            rows.append(
                (
                    "median survival after diagnosis, synchronous metastases (KM)",
                    months,
                    math.nan,
                    math.nan,
                    len(sync),
                    "months",
                )
            )
        med = float(p["ctc_at_diagnosis"].median())
        rows.append(
            ("median CTC per 7.5 mL at diagnosis", med, math.nan, math.nan, len(p), "cells")
        )
        rows.append(
            (
                "median diagnosis day",
                float(p["diagnosis_day"].median()),
                math.nan,
                math.nan,
                len(p),
                "days",
            )
        )
        out = pd.DataFrame(rows, columns=["figure", "value", "low", "high", "n", "unit"])
        return out.set_index("figure")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the per-patient table as CSV, atomically (``.csv`` or ``.csv.gz``)."""
        out = check_path(path, "path")
        if not str(out).endswith((".csv", ".csv.gz")):
            raise ParameterError(f"`path` must end in .csv or .csv.gz (got {str(out)!r})")
        compression = "gzip" if str(out).endswith(".gz") else None
        with atomic_write(out, "wb") as fh:
            self.patients.to_csv(fh, index=False, compression=compression)

    def plot_survival(self, ax: Any = None, path: Any = None) -> Any:
        """Kaplan-Meier plot of metastasis-free survival (see :mod:`circnet._cohort_figure`)."""
        from ._cohort_figure import plot_survival

        return plot_survival(self, ax=ax, path=path)


def _entropy(rng: Any) -> int:
    if isinstance(rng, np.random.SeedSequence):
        if rng.spawn_key:
            raise ParameterError("`rng` must be a root SeedSequence (no spawn_key)")
        return int(rng.entropy)  # type: ignore[arg-type]
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(2**63))
    if rng is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        return check_int(rng, "rng", low=0)
    raise ParameterError(
        "`rng` must be an int >= 0, a numpy.random.Generator, a numpy.random.SeedSequence "
        f"or None (got {rng!r})"
    )


def _model(body: Any, cells: CellProfile | None) -> TransportModel:
    """The transport model of ``body`` (a graph or a model) with ``cells`` (course,
    patient and cohort share this check)."""
    if cells is not None and not isinstance(cells, CellProfile):
        raise ParameterError(f"`cells` must be a CellProfile (got {type(cells).__name__})")
    if isinstance(body, TransportModel):
        return body if cells is None or cells == body.cells else body.with_cells(cells)
    if not isinstance(body, nx.DiGraph):
        raise ParameterError(
            f"`body` must be a body graph or a TransportModel (got {type(body).__name__})"
        )
    return TransportModel(body, cells)


def simulate_cohort(
    body: nx.DiGraph | TransportModel,
    primary: str,
    n: int,
    rng: Any = None,
    *,
    years: float = 10.0,
    scenario: str = "surgery",
    cells: CellProfile | None = None,
    params: ClinicalParams | None = None,
    follow: str = "first",
    first_patient: int = 0,
    grid: int = 256,
    keep_colonies: bool = False,
    node_dissection: bool = True,
    **param_changes: Any,
) -> CohortResult:
    """Simulate ``n`` virtual patients with a primary at ``primary``.

    Parameters
    ----------
    body : networkx.DiGraph or TransportModel
        A body graph, or a transport model of one (its fates are computed once).
    primary : str
        Organ (or lymph-node group) of the primary tumours.
    n : int
        Number of patients (at least 1).
    rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
        Root of the patients' streams: an int (or root SeedSequence) is the entropy
        itself; a Generator gives one integer of entropy; None draws fresh entropy. The
        entropy is stored in the result.
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
    follow : {"first", "all"}
        Follow colonies until the diagnosis or the first distant metastasis, whichever
        is later (default; exact for every figure), or to the end of the follow-up.
    first_patient : int
        Number of the first patient (a part of a larger cohort: patients
        ``first_patient .. first_patient + n - 1`` of the same ``rng``).
    grid : int
        Intervals of the per-patient dormancy grid before diagnosis (and after): 256.
    keep_colonies : bool
        Keep the table of every awakened colony in :attr:`CohortResult.colonies` (it can
        hold thousands of rows per patient); by default it is empty.
    node_dissection : bool
        With surgery, remove the primary's regional lymph-node groups with it (default:
        curative resection of breast and colorectal cancer includes the regional nodes,
        axillary or mesocolic): dormant cells and colonies there are gone from the
        diagnosis day, and nodal metastases there stop shedding. ``False``: the nodes stay.

    Returns
    -------
    CohortResult

    Raises
    ------
    UnknownNameError
        Unknown primary site.
    ParameterError
        Bad counts, years, scenario, parameters or ``rng``.

    Examples
    --------
    >>> import circnet
    >>> res = simulate_cohort(circnet.default_body(), "colon_rectum", 20, rng=1, years=5)
    >>> len(res.patients), res.status in ("finished", "cut")
    (20, True)
    >>> alone = simulate_cohort(circnet.default_body(), "colon_rectum", 1, rng=1, years=5,
    ...                         first_patient=7)
    >>> bool(alone.patients.iloc[0].equals(res.patients.iloc[7].rename(0)))
    True
    """
    n_pat = check_int(n, "n", low=1)
    first = check_int(first_patient, "first_patient", low=0)
    follow_up = check_number(years, "years", low=0.0, low_open=True, unit="years") * _YEAR
    scenario = check_choice(scenario, "scenario", SCENARIOS)
    follow = check_choice(follow, "follow", FOLLOW)
    grid_n = check_int(grid, "grid", low=8, high=100_000)
    keep = check_bool(keep_colonies, "keep_colonies")
    dissect = check_bool(node_dissection, "node_dissection")
    entropy = _entropy(rng)
    model = _model(body, cells)
    sites = tuple(model.organs) + tuple(model.lymph_nodes)
    if not isinstance(primary, str) or primary not in sites:
        raise UnknownNameError(
            f"unknown primary site {primary!r}: expected an organ ({', '.join(model.organs)}) "
            f"or a lymph-node group ({', '.join(model.lymph_nodes)})"
        )
    if params is None:
        params = clinical_params(primary)
    if not isinstance(params, ClinicalParams):
        raise ParameterError(f"`params` must be ClinicalParams (got {type(params).__name__})")
    if param_changes:
        params = params.replace(**param_changes)
    plan = make_plan(
        model,
        primary,
        params,
        surgery=scenario == "surgery",
        follow_up=follow_up,
        grid=grid_n,
        follow_all=follow == "all",
        node_dissection=dissect,
    )
    parts, cols = [], []
    for lo in range(0, n_pat, _CHUNK):
        ids = np.arange(first + lo, first + min(lo + _CHUNK, n_pat), dtype=np.int64)
        out = run_chunk(plan, patient_keys(entropy, ids))
        table = _table(plan, out["patients"], ids)
        c = pd.DataFrame(out["colonies"])
        c["patient"] = ids[c["patient"].to_numpy()]
        c["site"] = np.asarray(plan.sites, dtype=object)[c["site"].to_numpy()]
        parts.append(_with_sites(plan, table, c))
        if keep:
            cols.append(c)
    patients = pd.concat(parts, ignore_index=True)
    colonies = pd.concat(cols, ignore_index=True) if cols else c.iloc[:0]
    return CohortResult(
        primary=primary,
        params=params,
        scenario=scenario,
        years=follow_up / _YEAR,
        entropy=entropy,
        patients=patients,
        colonies=colonies,
        status="cut" if bool(patients["colonies_cut"].any()) else "finished",
    )


def _table(plan: Plan, cols: dict[str, Any], ids: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"patient": ids, "primary": plan.sites[plan.primary], **cols})
    site = frame["first_distant_site"].to_numpy()
    frame["first_distant_site"] = [plan.sites[i] if i >= 0 else "" for i in site]
    frame["months_to_first_distant"] = (frame["first_distant_day"] - frame["diagnosis_day"]) / (
        _YEAR / 12
    )
    return frame


def _with_sites(plan: Plan, patients: pd.DataFrame, colonies: pd.DataFrame) -> pd.DataFrame:
    """``synchronous_sites``: the distant sites detectable at diagnosis, ';'-joined."""
    from ._cohort_outcomes import reach  # the one place the detection day is computed

    cp = plan.cp
    c = colonies
    organs = set(plan.sites[: plan.n_organs]) - {plan.sites[plan.primary]}
    det = np.ceil(reach(cp, cp.detection_cells, {k: c[k].to_numpy() for k in c}))
    diag = patients.set_index("patient")["diagnosis_day"]
    hit = c[(det <= diag.reindex(c["patient"]).to_numpy()) & c["site"].isin(organs)]
    joined = hit.groupby("patient")["site"].agg(lambda s: ";".join(sorted(set(s))))
    out = patients.copy()
    out.insert(
        out.columns.get_loc("n_synchronous") + 1,
        "synchronous_sites",
        [str(joined.get(i, "")) for i in out["patient"]],
    )
    return out
