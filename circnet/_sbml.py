"""The transport chain as an SBML document (Level 3 Version 2), written with python-libsbml.

One species per state of the chain (transient states and fates), named by its circnet
label, in one compartment ``body`` of size 1; amounts are counts of cells
(``hasOnlySubstanceUnits``, substance unit ``item``). One irreversible mass-action
reaction per positive off-diagonal rate ``Q[i, j]`` of the generator: reactant state
``i``, product state ``j``, kinetic law ``k * S_i`` with the global parameter ``k``
(per minute) holding the rate. Time is in minutes. The expected counts of the SBML model
are then ``n p(0) expm(t Q)``, what :meth:`circnet.TransportModel.propagate` returns
times ``n``. libsbml is imported inside the functions (the optional extra ``sbml``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._version import __version__
from .errors import CircnetError, OptionalDependencyError

__all__ = ["sbml_document", "species_ids", "import_libsbml"]


def import_libsbml() -> Any:
    """The ``libsbml`` module, or OptionalDependencyError saying how to install it."""
    try:
        import libsbml
    except ImportError as err:
        raise OptionalDependencyError(
            "SBML export needs python-libsbml: pip install 'circnet[sbml]' "
            "(or pip install python-libsbml)"
        ) from err
    return libsbml


def species_ids(labels: Sequence[str]) -> list[str]:
    """SBML identifiers (SId) for state labels: ``S_`` + the label with every character
    outside ``[A-Za-z0-9_]`` replaced by ``_``, numbered on a clash.

    Examples
    --------
    >>> species_ids(["transit:liver_bed", "dead", "transit:liver/bed"])
    ['S_transit_liver_bed', 'S_dead', 'S_transit_liver_bed_2']
    """
    out: list[str] = []
    seen: set[str] = set()
    for i, label in enumerate(labels):
        sid = "S_" + re.sub(r"[^A-Za-z0-9_]", "_", str(label))
        if sid in seen:
            sid = f"{sid}_{i}"
        seen.add(sid)
        out.append(sid)
    return out


def _check(rc: Any, what: str) -> None:
    libsbml = import_libsbml()
    if isinstance(rc, int) and rc != libsbml.LIBSBML_OPERATION_SUCCESS:
        text = libsbml.OperationReturnValue_toString(rc) or str(rc)
        raise CircnetError(f"SBML export: {what} failed ({text})")


def _unit(model: Any, uid: str, kind: int, exponent: int, multiplier: float) -> None:
    ud = model.createUnitDefinition()
    _check(ud.setId(uid), f"unit {uid}")
    u = ud.createUnit()
    for rc in (
        u.setKind(kind),
        u.setExponent(exponent),
        u.setScale(0),
        u.setMultiplier(multiplier),
    ):
        _check(rc, f"unit {uid}")


def sbml_document(
    labels: Sequence[str],
    generator: sp.sparray | sp.spmatrix,
    amounts: np.ndarray,
    *,
    model_id: str,
    name: str,
    notes: str = "",
) -> str:
    """The SBML text of the chain ``generator`` over ``labels`` with initial ``amounts``."""
    libsbml = import_libsbml()
    n = len(labels)
    q = sp.coo_array(generator)
    if q.shape != (n, n) or amounts.shape != (n,):
        raise CircnetError(f"SBML export: {n} labels, a {q.shape} generator, {amounts.shape}")
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    _check(m.setId(model_id), "model id")
    _check(m.setName(name), "model name")
    _unit(m, "minute", libsbml.UNIT_KIND_SECOND, 1, 60.0)
    _unit(m, "per_minute", libsbml.UNIT_KIND_SECOND, -1, 60.0)
    for rc in (
        m.setTimeUnits("minute"),
        m.setSubstanceUnits("item"),
        m.setExtentUnits("item"),
        m.setVolumeUnits("dimensionless"),
    ):
        _check(rc, "model units")
    if notes:
        body = "".join(f"<p>{_xml_text(line)}</p>" for line in notes.splitlines())
        _check(
            m.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml">{body}</body>'), "model notes"
        )
    c = m.createCompartment()
    for rc in (c.setId("body"), c.setConstant(True), c.setSize(1.0), c.setUnits("dimensionless")):
        _check(rc, "compartment")
    _check(c.setSpatialDimensions(3), "compartment")
    ids = species_ids(labels)
    for sid, label, x in zip(ids, labels, amounts, strict=True):
        s = m.createSpecies()
        for rc in (
            s.setId(sid),
            s.setName(str(label)),
            s.setCompartment("body"),
            s.setInitialAmount(float(x)),
            s.setSubstanceUnits("item"),
            s.setHasOnlySubstanceUnits(True),
            s.setBoundaryCondition(False),
            s.setConstant(False),
        ):
            _check(rc, f"species {label!r}")
    order = np.lexsort((q.col, q.row))
    r = 0
    for i, j, rate in zip(q.row[order], q.col[order], q.data[order], strict=True):
        if i == j or rate <= 0:
            continue
        r += 1
        k = m.createParameter()
        for rc in (k.setId(f"k{r}"), k.setValue(float(rate)), k.setConstant(True)):
            _check(rc, f"rate {labels[i]!r} -> {labels[j]!r}")
        _check(k.setUnits("per_minute"), "rate units")
        _check(k.setName(f"{labels[i]} -> {labels[j]}"), "rate name")
        rx = m.createReaction()
        for rc in (rx.setId(f"r{r}"), rx.setReversible(False)):
            _check(rc, f"reaction {labels[i]!r} -> {labels[j]!r}")
        for ref, sid in ((rx.createReactant(), ids[i]), (rx.createProduct(), ids[j])):
            for rc in (ref.setSpecies(sid), ref.setStoichiometry(1.0), ref.setConstant(True)):
                _check(rc, f"reaction {labels[i]!r} -> {labels[j]!r}")
        law = rx.createKineticLaw()
        _check(law.setMath(libsbml.parseL3Formula(f"k{r} * {ids[i]}")), "kinetic law")
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, False)
    errors = [
        doc.getError(e).getMessage().strip()
        for e in range(doc.checkInternalConsistency())
        if doc.getError(e).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]
    if errors:
        raise CircnetError(f"SBML export: the document is not valid SBML: {errors[0]}")
    return str(libsbml.writeSBMLToString(doc))


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def default_notes(primary: str | None, cells: float) -> str:
    """The notes of an exported chain: where it comes from and what it means."""
    release = f"{cells:g} cells released from {primary}" if primary else "the given release"
    return (
        f"Written by circnet {__version__}: the transport chain of a detached cancer cell.\n"
        f"Initial amounts: {release}. Rates per minute; amounts are cells.\n"
        "Expected amounts at time t equal n p(0) expm(t Q) (circnet TransportModel.propagate)."
    )
