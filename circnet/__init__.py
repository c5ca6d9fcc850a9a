"""circnet: metastatic spread as Markov transport of cells on a graph of the circulation.

Public API (one flat namespace):

default_body      the reference adult body (ICRP 89 flows) as a networkx.DiGraph
validate          check a body graph; raise BodyError listing every problem
problems          list the problems of a body graph without raising
summary           per-organ table of blood inflow, lymph outflow, first bed downstream
organs            organ names of a body
lymph_nodes       lymph-node groups of a body
balance_flows     rebalance flows after an edit, keeping each node's split
scale_organ_flow  give one organ more or less of the cardiac output
CellProfile       parameters of a detached cell and its hosts, with units and sources
CellPopulation    weighted subpopulations of cells (sizes, clusters); the default is sourced
TransportModel    body + cells -> labelled states, sparse generator; fates, times, propagation
AbsorbingChain    the sparse linear algebra of an absorbing Markov chain
read_body         read a body from GraphML, node-link JSON or YAML (validated)
write_body        write a body atomically, format by suffix
render_html       write a self-contained interactive HTML view of a body (and an overlay)
view, View        the same view as an object: shown inline by Jupyter, .save(path)
show              show a view: inline in a notebook, else in the web browser
draw_body         static matplotlib figure of the body network (same layout and colours)
plot_fates        bar chart of fate probabilities, one or several primaries (PNG/SVG)
plot_propagation  where released cells are over time, by state group (PNG/SVG)
plot_course       a disease course: burden per site (log), event timeline (PNG/SVG)
plot_calibration  observed vs predicted site shares of a calibration (PNG/SVG)
course_report     one self-contained HTML report of a course: network, plots, tables
cohort_report     one self-contained HTML report of a virtual cohort: figures, survival, sites, CTCs
TumourParams      growth (Hahnfeldt 1999), angiogenic switch, shedding, nodal immunity of a tumour
grow_tumour       deterministic course of one tumour (cells, carrying capacity, shedding)
simulate_patient  the clinical course of one virtual patient (human growth, diagnosis, surgery,
                  dormancy, metastases, CTCs): the cohort engine for one patient; PatientCourse
simulate_course   the mechanistic course (Hahnfeldt growth, mouse-derived): primary, shedding,
                  metastases that shed in turn, surgery and angiogenesis inhibitors by day
resume_course     continue a checkpointed course (bit-identical to an uninterrupted one)
CourseResult      result of a course: per-site time series, events, daily counts, summary
simulate_cohort   many virtual patients at once (batched, exact in continuous time): clinical
                  events, first sites, metastasis-free survival, CTCs; CohortResult, kaplan_meier
ensemble          run fates / simulations / courses over a parameter design (local or dask)
grid, sample, saltelli  parameter designs: full grid, Latin hypercube / Sobol', Saltelli
calibrate         fit per-organ receptivity (soil) to counts of metastatic sites by primary
cross_validate    leave-one-primary-out cross-validation of calibrate
CalibrationResult result of calibrate: factors with intervals, fit per primary, fitted cells
fit_sites         site model of autopsy involvement: soil x anatomical access^beta, cascades,
                  joint arrest; SiteFit (scores beside baselines: circnet.sitemodel)
load_autopsy      published autopsy series of metastatic sites by primary (DiSibio 2008)
load_receptivity  read saved receptivity factors into a CellProfile
CircnetError      base of every circnet error (and BodyError, BodyFileError, ParameterError,
                  UnknownNameError, CheckpointError, SolverError, OptionalDependencyError)

Names are loaded on first use (PEP 562), so ``import circnet`` and ``circnet --version``
stay fast; ``circnet.X`` and ``from circnet import X`` work as usual.
"""

from __future__ import annotations

import importlib
import logging as _logging
import sys
import types
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__
from .errors import (
    BodyError,
    BodyFileError,
    CheckpointError,
    CircnetError,
    OptionalDependencyError,
    ParameterError,
    SolverError,
    UnknownNameError,
)

if TYPE_CHECKING:  # the names below, for type checkers and IDEs
    from ._cohort_report import (
        cohort_report,
    )
    from ._notebook import (
        View,
        show,
        view,
    )
    from .body import (
        balance_flows,
        default_body,
        lymph_nodes,
        organs,
        problems,
        scale_organ_flow,
        summary,
        validate,
    )
    from .calibrate import (
        CalibrationResult,
        calibrate,
        cross_validate,
        load_autopsy,
        load_receptivity,
    )
    from .cells import (
        CellProfile,
    )
    from .cohort import (
        CohortResult,
        kaplan_meier,
        simulate_cohort,
    )
    from .course import (
        CourseResult,
        resume_course,
        simulate_course,
    )
    from .ensemble import (
        EnsembleResult,
        ensemble,
        grid,
        saltelli,
        sample,
    )
    from .io import (
        read_body,
        write_body,
    )
    from .patient import (
        PatientCourse,
        simulate_patient,
    )
    from .plots import (
        draw_body,
        plot_calibration,
        plot_course,
        plot_fates,
        plot_propagation,
    )
    from .population import (
        CellPopulation,
    )
    from .render import (
        render_html,
    )
    from .report import (
        course_report,
    )
    from .sitemodel import (
        SiteFit,
        fit_sites,
    )
    from .transport import (
        AbsorbingChain,
        FateResult,
        TransportModel,
    )
    from .tumour import (
        TumourParams,
        grow_tumour,
    )

#: Where each lazily loaded public name lives (module relative to this package).
_LAZY: dict[str, str] = {
    "View": "._notebook",
    "show": "._notebook",
    "view": "._notebook",
    "balance_flows": ".body",
    "default_body": ".body",
    "lymph_nodes": ".body",
    "organs": ".body",
    "problems": ".body",
    "scale_organ_flow": ".body",
    "summary": ".body",
    "validate": ".body",
    "CalibrationResult": ".calibrate",
    "calibrate": ".calibrate",
    "cross_validate": ".calibrate",
    "load_autopsy": ".calibrate",
    "load_receptivity": ".calibrate",
    "CellProfile": ".cells",
    "CohortResult": ".cohort",
    "kaplan_meier": ".cohort",
    "simulate_cohort": ".cohort",
    "SiteFit": ".sitemodel",
    "fit_sites": ".sitemodel",
    "CourseResult": ".course",
    "PatientCourse": ".patient",
    "simulate_patient": ".patient",
    "resume_course": ".course",
    "simulate_course": ".course",
    "EnsembleResult": ".ensemble",
    "ensemble": ".ensemble",
    "grid": ".ensemble",
    "saltelli": ".ensemble",
    "sample": ".ensemble",
    "read_body": ".io",
    "write_body": ".io",
    "draw_body": ".plots",
    "plot_calibration": ".plots",
    "plot_course": ".plots",
    "plot_fates": ".plots",
    "plot_propagation": ".plots",
    "CellPopulation": ".population",
    "render_html": ".render",
    "course_report": ".report",
    "cohort_report": "._cohort_report",
    "AbsorbingChain": ".transport",
    "FateResult": ".transport",
    "TransportModel": ".transport",
    "TumourParams": ".tumour",
    "grow_tumour": ".tumour",
}

__all__ = [
    "default_body",
    "validate",
    "problems",
    "summary",
    "organs",
    "lymph_nodes",
    "balance_flows",
    "scale_organ_flow",
    "CellProfile",
    "CellPopulation",
    "TransportModel",
    "AbsorbingChain",
    "FateResult",
    "read_body",
    "write_body",
    "render_html",
    "view",
    "View",
    "show",
    "draw_body",
    "plot_fates",
    "plot_propagation",
    "plot_course",
    "plot_calibration",
    "course_report",
    "cohort_report",
    "TumourParams",
    "grow_tumour",
    "simulate_patient",
    "PatientCourse",
    "simulate_course",
    "resume_course",
    "CourseResult",
    "simulate_cohort",
    "CohortResult",
    "kaplan_meier",
    "ensemble",
    "EnsembleResult",
    "grid",
    "sample",
    "saltelli",
    "calibrate",
    "cross_validate",
    "CalibrationResult",
    "load_autopsy",
    "load_receptivity",
    "fit_sites",
    "SiteFit",
    "CircnetError",
    "BodyError",
    "BodyFileError",
    "ParameterError",
    "UnknownNameError",
    "CheckpointError",
    "SolverError",
    "OptionalDependencyError",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'circnet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """``circnet.calibrate`` and ``circnet.ensemble`` are functions named like their modules:
    when the import system binds the loaded submodule onto the package, keep the function
    (the submodule stays importable as ``circnet.calibrate`` through ``sys.modules``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == f".{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

# library logging: silent unless the application configures the "circnet" logger
_logging.getLogger("circnet").addHandler(_logging.NullHandler())
