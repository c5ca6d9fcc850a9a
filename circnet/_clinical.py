"""Clinical laws of a disease course: human growth, diagnosis, colonies, shedding, CTCs.

One module holds the laws that the single course (:func:`circnet.simulate_course`, one
patient, :mod:`circnet._day`) and the batched cohort (``circnet.cohort``) share, with the
sourced values of ``circnet/data/primary_clinical.csv`` (one row per primary type and
parameter: value, unit, range, kind, source). Time is in days, sizes in cells (1e9 cells
is about 1 cm^3 or 1 g).

Growth (law 1). Each virtual patient draws a volume-doubling time (VDT) from a
log-normal law per primary (median and sigma from serial imaging; see the table). The
tumour grows by the Gompertz law::

    N(t) = K exp( ln(N0 / K) exp(-a t) ),   d ln N / dt = a ln(K / N)

with a ceiling ``K`` (``ceiling_cells``, 1e13 cells) far above clinical sizes: no 3 cm
plateau. The instantaneous doubling time at size ``N`` is ``ln 2 / (a ln(K/N))``; the
rate ``a`` is set so that the patient's VDT holds at the primary's median size at
diagnosis (``reference_cells``)::

    a = ln 2 / (VDT ln(K / N_ref))

so growth is faster at small sizes (Gompertzian deceleration; Norton 1988) and the
clinically measured VDT holds where it was measured. The closed form lets any step
``dt`` be taken (:func:`gompertz_cells`, :func:`gompertz_time`).

Metastases (law 2) grow by the same law with their own rate
``a_patient * met_rate_factor * exp(met_rate_sigma Z)``, ``Z ~ N(0, 1)`` per tumour; a
deposit in a lymph node with ``nodal_rate_factor`` in place of ``met_rate_factor``.

Colonies (law 5), in clinical words (:data:`TERMS`):

* a **dormant disseminated cell** (a single cell lodged in an organ or a lymph node that
  does not divide) dies at ``dormant_death_rate`` in an organ, and in a lymph node by
  immune kill at ``nodal_kill_rate / (1 + n / nodal_kill_saturation)`` instead (``n`` =
  dormant cells in that node group), or awakens at ``awakening_rate``;
* an **avascular micrometastasis** (awakened, dividing, without its own vessels) grows
  from one cell by the Gompertz law with its own rate and stalls at
  ``avascular_limit_cells`` (1e6 cells, about 1 mm; Folkman 2000); once stalled it
  switches on angiogenesis at ``switch_rate``;
* a **vascular metastasis** grows on without a cap, sheds cells, and is **detectable**
  at ``detection_cells`` (a 10 mm lesion on CT).

Clinical events (law 3): **diagnosis** when the primary reaches the patient's size at
diagnosis (a log-normal diameter per primary), or earlier **by symptoms of metastases**:
on the first whole day on which the distant metastases that the primary seeded (its own
colonies in organs other than its own, avascular and vascular) hold
``symptomatic_burden_cells`` together, if that comes first. Scenario ``"surgery"``
(default) removes the primary at diagnosis (with the regional nodes) when it was found
by its own size; a patient diagnosed by symptoms presents with metastatic disease and
keeps the primary (no curative surgery); ``"natural"`` leaves every primary in place;
**synchronous** = a distant metastasis (an organ other than the primary's) detectable at
diagnosis, or a diagnosis by symptoms of distant metastases; **metachronous** = first
detected later; **node-positive** = any nodal tumour above ``node_positive_cells`` (0.2
mm, AJCC micrometastasis) at diagnosis (pN+ is histological: deposits far below imaging
size count).

Shedding and CTCs (law 4): a vascular tumour of ``N`` cells sheds
``shedding_per_cell_day * N`` cells a day (Poisson); shed cells take the transport
model's fates. Circulating tumour cells at a moment, per 7.5 mL of blood as CellSearch
counts them::

    CTC = recovery * shed_per_day * residence / blood_volume * 7.5 mL

with the measured CTC clearance (half-life 1.5 h, Meng 2004: mean residence 2.16 h),
blood volume 5 L and CellSearch recovery 0.85 (Allard 2004). The transport model's own
time in blood before first arrest is about a minute (one capillary bed); the CTC count
uses the measured clearance, since CellSearch counts cells that recirculate.

Organotropism (law 7, seed and soil). The anatomy routes a breast or prostate cell to the
lung first, yet these cancers grow first in bone. ``tropism`` (a mapping organ -> factor,
default 1 for every organ) multiplies the awakening rate of the dormant cells of that
patient in that organ: the cell's chance ever to grow there. It is a **calibrated
factor, not anatomy** (rows ``tropism:<organ>`` of the table, kind ``calibrated``, each
with its clinical target and source), set only where a clinical figure needs it, and it
applies to every cell of the patient: metastases seeded by metastases keep the seed of
the primary. A lymph-node group may have a factor too (breast: the axillary nodes, for
the node-positive share that the nodal kill rate alone cannot reach).

Death (law 8). A patient dies of the disease on the first whole day after the diagnosis
day on which the total tumour burden (the primary while it is in place, every vascular
metastasis and every avascular micrometastasis; dormant single cells do not count)
reaches ``lethal_burden_cells`` (about 1e12 cells, 1 kg: Friberg & Mattson 1997). The
size at diagnosis is drawn from clinical series of living patients (and capped at half the
lethal burden: the top of the log-normal diameter, a sphere above about 10 cm, is cut), so
no patient dies before or on the day of diagnosis; a burden at or above the lethal one at
diagnosis (metastases grown before it) kills on the next day. After death nothing
happens: no shedding, awakening or detection.
The Gompertz ceiling (1e13 cells) is ten times the lethal burden, so it only sets the
deceleration of growth; no tumour of a living patient reaches it.

Randomness (law 6): patient ``i`` of a cohort with root entropy ``r`` draws from
``np.random.SeedSequence(r, spawn_key=(i,))`` (:func:`patient_seed`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ._files import read_data_csv
from ._validation import check_number
from .errors import ParameterError

__all__ = [
    "PRIMARY_TYPES",
    "SITE_TYPES",
    "TROPISM_PREFIX",
    "STAGES",
    "TERMS",
    "ClinicalParams",
    "PatientDraw",
    "clinical_params",
    "clinical_table",
    "primary_type",
    "growth_rate",
    "gompertz_cells",
    "gompertz_time",
    "diameter_to_cells",
    "cells_to_diameter",
    "patient_seed",
    "sample_patient",
    "sample_patients",
    "metastasis_rate",
    "shedding",
    "ctc_expected",
    "ctc_count",
]

#: Primary types with a column of values in ``primary_clinical.csv``.
PRIMARY_TYPES = ("colorectal", "breast", "lung", "prostate", "other")
#: Body site of a primary -> its primary type (any other site: ``"other"``).
SITE_TYPES = {
    "colon_rectum": "colorectal",
    "breast": "breast",
    "lung": "lung",
    "prostate": "prostate",
}
#: Stages of a metastatic colony, in order.
STAGES = ("dormant", "avascular", "vascular")
#: The words of the course, each defined once (the report, plots and docstrings use them).
TERMS = {
    "dormant disseminated cells": (
        "single tumour cells lodged in an organ or lymph node that do not divide; they are "
        "not metastases, cannot be imaged, and most die"
    ),
    "avascular micrometastases": (
        "awakened colonies that divide without vessels of their own; they stall at about "
        "1e6 cells (1 mm) and cannot be imaged"
    ),
    "vascular metastases": (
        "colonies that have switched on angiogenesis: they grow without limit and shed "
        "cells; these are the metastases a clinician treats"
    ),
    "detectable metastasis": "a vascular metastasis of at least a 10 mm lesion (CT)",
    "synchronous": (
        "a distant metastasis detectable at diagnosis (or a diagnosis made because "
        "distant metastases caused symptoms)"
    ),
    "diagnosed by symptoms": (
        "diagnosed because distant metastases grew to about 1e11 cells (100 g) before "
        "the primary reached its usual size at diagnosis; the primary is not removed"
    ),
    "metachronous": "a distant metastasis first detectable after diagnosis",
    "node-positive": "a nodal deposit larger than 0.2 mm (AJCC micrometastasis) at diagnosis",
    "died of disease": (
        "the total tumour burden (primary, vascular metastases and micrometastases) has "
        "reached the lethal burden, about 1e12 cells (1 kg); nothing happens after death"
    ),
    "CTC per 7.5 mL": (
        "circulating tumour cells a CellSearch test would count in one 7.5 mL tube "
        "(mean; counts scatter by Poisson noise)"
    ),
}
#: Prefix of the table rows that hold a tropism factor (``tropism:bone``).
TROPISM_PREFIX = "tropism:"
#: Cells per cm^3 of tumour.
CELLS_PER_CM3 = 1.0e9
_TUBE_ML = 7.5


@lru_cache(maxsize=1)
def clinical_table() -> pd.DataFrame:
    """The table ``circnet/data/primary_clinical.csv`` (one row per primary and name).

    Examples
    --------
    >>> t = clinical_table()
    >>> float(t.loc[("colorectal", "vdt_median_days"), "value"])
    211.0
    """
    rows = read_data_csv("primary_clinical.csv")
    frame = pd.DataFrame(rows)
    frame["value"] = frame["value"].astype(float)
    return frame.set_index(["primary", "name"]).sort_index()


#: Fields of :class:`ClinicalParams` that are not single numbers.
_NOT_NUMBERS = ("primary", "tropism")


@dataclass(frozen=True)
class ClinicalParams:
    """Clinical laws of one primary type (frozen; defaults from ``primary_clinical.csv``).

    Build it with :func:`clinical_params`; every field is described, with unit and
    source, by :meth:`describe`. All fields are numbers except ``primary`` and
    ``tropism``, a mapping organ -> factor on the awakening rate of dormant cells in
    that organ (organotropism: a calibrated factor, not anatomy; default 1).

    Examples
    --------
    >>> cp = clinical_params("colon_rectum")
    >>> cp.primary, cp.vdt_median_days
    ('colorectal', 211.0)
    >>> round(cp.reference_cells / 1e9, 1)  # a 3.9 cm sphere
    31.1
    """

    primary: str
    vdt_median_days: float
    vdt_sigma: float
    diagnosis_diameter_cm: float
    diagnosis_sigma: float
    ceiling_cells: float
    start_cells: float
    avascular_limit_cells: float
    met_rate_factor: float
    met_rate_sigma: float
    #: factor on the patient's rate for a deposit in a lymph node (law 2), in place of
    #: ``met_rate_factor``
    nodal_rate_factor: float
    detection_cells: float
    node_positive_cells: float
    blood_volume_ml: float
    ctc_residence_days: float
    ctc_recovery: float
    shedding_per_cell_day: float
    dormant_death_rate: float
    nodal_kill_saturation: float
    awakening_rate: float
    switch_rate: float
    nodal_kill_rate: float
    #: total cells (primary, vascular metastases and micrometastases) at which the
    #: patient dies of the disease (law 8)
    lethal_burden_cells: float
    #: burden of the distant metastases seeded by the primary at which they cause
    #: symptoms and the patient is diagnosed, if the primary has not been found first
    #: (law 3; ``inf``: diagnosis by the primary alone)
    symptomatic_burden_cells: float = math.inf
    #: organ -> factor on the awakening rate there (organotropism; a calibrated factor,
    #: not anatomy); organs not listed have 1
    tropism: Mapping[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name in _NOT_NUMBERS:
                continue
            check_number(
                getattr(self, f.name),
                f.name,
                low=0.0,
                allow_inf=f.name == "symptomatic_burden_cells",
            )
        if not isinstance(self.tropism, Mapping):
            raise ParameterError(
                f"`tropism` must be a mapping organ -> factor (got {type(self.tropism).__name__})"
            )
        clean = {}
        for organ, factor in self.tropism.items():
            if not isinstance(organ, str) or not organ:
                raise ParameterError(f"`tropism` keys must be organ names (got {organ!r})")
            clean[organ] = check_number(factor, f"tropism[{organ!r}]", low=0.0)
        object.__setattr__(self, "tropism", clean)
        for name in ("vdt_median_days", "diagnosis_diameter_cm", "ceiling_cells"):
            check_number(getattr(self, name), name, low=0.0, low_open=True)
        if not self.start_cells < self.reference_cells < self.ceiling_cells:
            raise ParameterError(
                "`start_cells` < median size at diagnosis < `ceiling_cells` must hold (got "
                f"{self.start_cells:g}, {self.reference_cells:g}, {self.ceiling_cells:g})"
            )
        if self.avascular_limit_cells >= self.ceiling_cells:
            raise ParameterError("`avascular_limit_cells` must be below `ceiling_cells`")
        if not self.detection_cells <= self.symptomatic_burden_cells:
            raise ParameterError(
                "`symptomatic_burden_cells` must be at least `detection_cells` (got "
                f"{self.symptomatic_burden_cells:g} < {self.detection_cells:g})"
            )
        if not self.detection_cells < self.lethal_burden_cells:
            raise ParameterError(
                "`lethal_burden_cells` must be above `detection_cells` (got "
                f"{self.lethal_burden_cells:g} <= {self.detection_cells:g})"
            )

    @property
    def reference_cells(self) -> float:
        """Median size at diagnosis, cells: where the patient's VDT holds."""
        return float(diameter_to_cells(self.diagnosis_diameter_cm))

    def replace(self, **changes: Any) -> ClinicalParams:
        """A copy with some values changed (validated)."""
        names = {f.name for f in dataclasses.fields(self)}
        bad = sorted(set(changes) - names)
        if bad:
            raise ParameterError(f"unknown clinical parameter(s) {bad}; known: {sorted(names)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """All values as a plain dict (``tropism`` as a dict of its own)."""
        return dataclasses.asdict(self)

    def tropism_factor(self, organ: str) -> float:
        """Factor on the awakening rate in ``organ`` (1 unless :attr:`tropism` sets it).

        Examples
        --------
        >>> cp = clinical_params("breast")
        >>> cp.tropism_factor("bone") > 1.0, cp.tropism_factor("liver")
        (True, 1.0)
        """
        return float(self.tropism.get(organ, 1.0))

    def describe(self) -> pd.DataFrame:
        """Every value with unit, range, kind and source (from the table).

        Examples
        --------
        >>> clinical_params("breast").describe().loc["switch_rate", "kind"]
        'calibrated'
        """
        t = clinical_table()
        out = []
        names = [f.name for f in dataclasses.fields(self) if f.name not in _NOT_NUMBERS]
        values = [getattr(self, name) for name in names]
        for organ, factor in sorted(self.tropism.items()):
            names.append(TROPISM_PREFIX + organ)
            values.append(factor)
        cols = ("unit", "low", "high", "kind", "source", "notes")
        for name, value in zip(names, values, strict=True):
            key = (self.primary, name) if (self.primary, name) in t.index else ("all", name)
            if key in t.index:
                row = t.loc[key]
                out.append({"name": name, "value": value, **{c: row[c] for c in cols}})
            else:  # a tropism factor set by the caller, not in the table
                given = {c: "" for c in cols} | {"unit": "1", "kind": "given"}
                out.append({"name": name, "value": value, **given, "source": "set by the caller"})
        return pd.DataFrame(out).set_index("name")


def primary_type(site_or_type: str) -> str:
    """The primary type of a body site or type name (``"other"`` if none).

    Examples
    --------
    >>> primary_type("colon_rectum"), primary_type("kidneys"), primary_type("breast")
    ('colorectal', 'other', 'breast')
    """
    if site_or_type in PRIMARY_TYPES:
        return site_or_type
    return SITE_TYPES.get(site_or_type, "other")


def clinical_params(primary: str, **changes: Any) -> ClinicalParams:
    """The clinical laws of a primary (a body site such as ``"colon_rectum"`` or a type).

    Examples
    --------
    >>> clinical_params("lung", switch_rate=0.0).switch_rate
    0.0
    """
    kind = primary_type(primary)
    t = clinical_table()
    values: dict[str, Any] = {"primary": kind}
    for f in dataclasses.fields(ClinicalParams):
        if f.name in _NOT_NUMBERS:
            continue
        key = (kind, f.name) if (kind, f.name) in t.index else ("all", f.name)
        if key not in t.index:
            key = ("other", f.name)
        values[f.name] = float(t.loc[key, "value"])
    rows = t.loc[kind] if kind in t.index.get_level_values(0) else t.iloc[:0]
    values["tropism"] = {
        str(name)[len(TROPISM_PREFIX) :]: float(v)
        for name, v in rows["value"].items()
        if str(name).startswith(TROPISM_PREFIX)
    }
    cp = ClinicalParams(**values)
    return cp.replace(**changes) if changes else cp


# ============================================================================ growth
def diameter_to_cells(d_cm: Any) -> Any:
    """Cells in a sphere of diameter ``d_cm`` (1e9 cells per cm^3).

    Examples
    --------
    >>> round(float(diameter_to_cells(1.0)) / 1e8, 2)
    5.24
    """
    return math.pi / 6.0 * np.asarray(d_cm, dtype=float) ** 3 * CELLS_PER_CM3


def cells_to_diameter(cells: Any) -> Any:
    """Diameter (cm) of a sphere of ``cells`` cells.

    Examples
    --------
    >>> round(float(cells_to_diameter(diameter_to_cells(2.5))), 6)
    2.5
    """
    return np.cbrt(6.0 / math.pi * np.asarray(cells, dtype=float) / CELLS_PER_CM3)


def growth_rate(vdt_days: Any, reference_cells: float, ceiling_cells: float) -> Any:
    """Gompertz rate ``a`` (1/day) with doubling time ``vdt_days`` at ``reference_cells``.

    ``a = ln 2 / (VDT ln(K / N_ref))``.

    Examples
    --------
    >>> a = growth_rate(200.0, 1e10, 1e13)
    >>> n = gompertz_cells(1.0, 1e10, a, 1e13)
    >>> round(math.log(2) / math.log(n / 1e10), 0)  # doubling time at 1e10 cells
    200.0
    """
    return math.log(2.0) / (
        np.asarray(vdt_days, dtype=float) * math.log(ceiling_cells / reference_cells)
    )


def gompertz_cells(t: Any, n0: Any, rate: Any, ceiling_cells: float) -> Any:
    """Size after ``t`` days of Gompertz growth from ``n0`` cells (vectorised, broadcast).

    ``N(t) = K exp(ln(n0/K) exp(-rate t))``.

    Examples
    --------
    >>> import numpy as np
    >>> gompertz_cells(np.array([0.0, 1e9]), 1e6, 1e-3, 1e13).round(-3).tolist()
    [1000000.0, 10000000000000.0]
    """
    n0 = np.asarray(n0, dtype=float)
    decay = np.exp(-np.asarray(rate, dtype=float) * np.asarray(t, dtype=float))
    return ceiling_cells * np.exp(np.log(n0 / ceiling_cells) * decay)


def gompertz_time(n0: Any, n1: Any, rate: Any, ceiling_cells: float) -> Any:
    """Days of Gompertz growth from ``n0`` to ``n1`` cells (0 if ``n1 <= n0``; inf if never).

    ``t = ln( ln(K/n0) / ln(K/n1) ) / rate``.

    Examples
    --------
    >>> t = gompertz_time(1e6, 1e9, 1e-3, 1e13)
    >>> round(float(gompertz_cells(t, 1e6, 1e-3, 1e13)) / 1e9, 6)
    1.0
    """
    n0 = np.asarray(n0, dtype=float)
    n1 = np.asarray(n1, dtype=float)
    rate = np.asarray(rate, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.log(np.log(ceiling_cells / n0) / np.log(ceiling_cells / n1)) / rate
    t = np.where(n1 <= n0, 0.0, t)
    return np.where((n1 >= ceiling_cells) | ~(rate > 0), np.where(n1 <= n0, 0.0, np.inf), t)


def metastasis_rate(patient_rate: Any, cp: ClinicalParams, z: Any, nodal: Any = False) -> Any:
    """Growth rate of a metastasis: ``patient_rate * factor * exp(met_rate_sigma z)``, the
    factor ``met_rate_factor`` in an organ and ``nodal_rate_factor`` in a lymph node
    (``nodal`` true).

    Examples
    --------
    >>> cp = clinical_params("breast")
    >>> float(metastasis_rate(1.0, cp, 0.0)) == cp.met_rate_factor
    True
    >>> float(metastasis_rate(1.0, cp, 0.0, nodal=True)) == cp.nodal_rate_factor
    True
    """
    factor = np.where(nodal, cp.nodal_rate_factor, cp.met_rate_factor)
    return np.asarray(patient_rate) * factor * np.exp(cp.met_rate_sigma * np.asarray(z))


# ============================================================================ patients
class PatientDraw(NamedTuple):
    """What a virtual patient draws: VDT, Gompertz rate, size and day of diagnosis."""

    vdt_days: Any
    rate: Any
    diagnosis_cells: Any
    diagnosis_day: Any


def patient_seed(root_entropy: int, i: int) -> np.random.SeedSequence:
    """The seed of patient ``i``: ``SeedSequence(root_entropy, spawn_key=(i,))``.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.random.default_rng(patient_seed(5, 3)).random()
    >>> b = np.random.default_rng(np.random.SeedSequence(5).spawn(4)[3]).random()
    >>> a == b
    True
    """
    return np.random.SeedSequence(root_entropy, spawn_key=(int(i),))


def _draw(cp: ClinicalParams, z_vdt: Any, z_diag: Any) -> PatientDraw:
    vdt = cp.vdt_median_days * np.exp(cp.vdt_sigma * np.asarray(z_vdt, dtype=float))
    rate = growth_rate(vdt, cp.reference_cells, cp.ceiling_cells)
    d = cp.diagnosis_diameter_cm * np.exp(cp.diagnosis_sigma * np.asarray(z_diag, dtype=float))
    # a living patient: the primary at diagnosis stays below half the lethal burden
    cells = np.clip(diameter_to_cells(d), 2.0 * cp.start_cells, 0.5 * cp.lethal_burden_cells)
    day = gompertz_time(cp.start_cells, cells, rate, cp.ceiling_cells)
    return PatientDraw(vdt, rate, cells, day)


def sample_patient(cp: ClinicalParams, rng: np.random.Generator) -> PatientDraw:
    """One virtual patient: two standard normal draws (VDT, then diameter at diagnosis).

    Examples
    --------
    >>> import numpy as np
    >>> p = sample_patient(clinical_params("breast"), np.random.default_rng(1))
    >>> bool(p.diagnosis_day > 0), bool(p.diagnosis_cells > 1e6)
    (True, True)
    """
    z = rng.standard_normal(2)
    d = _draw(cp, z[0], z[1])
    return PatientDraw(*(float(x) for x in d))


def sample_patients(cp: ClinicalParams, n: int, rng: np.random.Generator) -> PatientDraw:
    """``n`` virtual patients from one generator (arrays; the laws of :func:`sample_patient`)."""
    z = rng.standard_normal((n, 2))
    return _draw(cp, z[:, 0], z[:, 1])


# ============================================================================ shedding
def shedding(cells: Any, cp: ClinicalParams) -> Any:
    """Mean cells shed per day by vascular tumours of ``cells`` cells."""
    return cp.shedding_per_cell_day * np.asarray(cells, dtype=float)


def ctc_expected(shed_per_day: Any, cp: ClinicalParams) -> Any:
    """Mean CellSearch count per 7.5 mL at a shedding rate (cells per day).

    Examples
    --------
    >>> cp = clinical_params("breast")
    >>> round(float(ctc_expected(4.3e4, cp)), 1)  # the derived rate of ctc_shedding.csv
    4.9
    """
    return (
        cp.ctc_recovery
        * np.asarray(shed_per_day, dtype=float)
        * cp.ctc_residence_days
        / cp.blood_volume_ml
        * _TUBE_ML
    )


def ctc_count(shed_per_day: Any, cp: ClinicalParams, rng: np.random.Generator) -> Any:
    """A CellSearch count per 7.5 mL: Poisson with mean :func:`ctc_expected`."""
    return rng.poisson(ctc_expected(shed_per_day, cp))
