"""Checkpoints of a disease course: what is saved, how it is put back, what is checked.

A course checkpoint is circnet's one checkpoint format (:mod:`circnet._files`, kind
``"course"``) holding the rows, the records and the event log (:mod:`circnet._rows`), the
generator state, and in its header the run definition (``run``: body digest, cells,
parameters, primary, length, step, treatment, seed) with its fingerprint. Everything read
back is checked before it is used: a bad step, other sites or course length, arrays of the
wrong shape or dtype give a :class:`~circnet.CheckpointError`; :func:`check_expected`
refuses a course other than the one a caller describes (``circnet course --checkpoint``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._day import EVENT_KINDS, Engine
from ._files import Checkpoint, save_checkpoint
from ._rows import EventLog, Records, Rows
from ._validation import check_number, check_rng
from .errors import CheckpointError, ParameterError

__all__ = ["KIND", "EXPECTABLE", "check_expected", "save_course", "restore_course"]

#: Checkpoint kind of a course.
KIND = "course"
#: Arguments of :func:`~circnet.simulate_course` that :func:`check_expected` compares.
EXPECTABLE = (
    "primary",
    "years",
    "dt_days",
    "primary_cells",
    "primary_capacity_cells",
    "surgery_day",
    "inhibitor_from_day",
    "rng",
)


def check_expected(run: Mapping[str, Any], expect: Mapping[str, Any], where: str) -> None:
    """Refuse a stored course whose arguments differ from ``expect`` (CheckpointError)."""
    if not isinstance(expect, Mapping):
        raise ParameterError(f"`expect` must be a mapping (got {type(expect).__name__})")
    for key, want in expect.items():
        if key not in EXPECTABLE:
            raise ParameterError(f"`expect` has an unknown key {key!r} (known: {EXPECTABLE})")
        if key == "rng":
            have, shown = run.get("seed"), "the seed"
            want = check_rng(want).bit_generator.state
        else:
            have, shown = run.get(key), f"`{key}`"
            if want is not None and key != "primary":
                want = check_number(want, key)
        if have != want:
            got = "differs" if key == "rng" else f"is {have!r}, not {want!r}"
            raise CheckpointError(
                f"checkpoint {where} holds another course: its {shown} {got}; start again "
                "with another checkpoint file, or give the arguments it was written with"
            )


def save_course(engine: Engine, path: Path, run: dict[str, Any], fp: str) -> None:
    m = engine.step
    arrays = engine.rows.to_arrays()
    arrays.update(engine.records.to_arrays(m))
    arrays.update(engine.log.to_arrays(EVENT_KINDS.index("founded"), engine.params.colony_cells))
    meta = {
        "run": run,
        "fingerprint": fp,
        "step": m,
        "n_steps": engine.n_steps,
        "surgery_done": engine.surgery_done,
        "inhibitor_logged": engine.inhibitor_logged,
        "sites": list(engine.sites),
    }
    save_checkpoint(path, KIND, fp, arrays, rng=engine.rng, meta=meta)


def restore_course(engine: Engine, ck: Checkpoint) -> None:
    """Put the state of a checkpoint into a fresh engine of the same run."""
    where = repr(str(ck.path))
    meta = ck.meta
    step = meta.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= engine.n_steps:
        raise CheckpointError(f"checkpoint {where} has a bad step {step!r}")
    if meta.get("n_steps") != engine.n_steps or meta.get("sites") != list(engine.sites):
        raise CheckpointError(f"checkpoint {where}: the body's sites or the course length differ")
    flags = (meta.get("surgery_done"), meta.get("inhibitor_logged"))
    if not all(isinstance(f, bool) for f in flags):
        raise CheckpointError(f"checkpoint {where} has a malformed header")
    ns = len(engine.sites)
    engine.rows = Rows.from_arrays(ck.arrays, where, n_sites=ns)
    engine.log = EventLog.from_arrays(ck.arrays, where, n_sites=ns, n_kinds=len(EVENT_KINDS))
    records = Records(engine.n_steps, ns)
    records.load(ck.arrays, step, where)
    engine.records = records
    engine.step = step
    engine.surgery_done, engine.inhibitor_logged = bool(flags[0]), bool(flags[1])
    engine.rng = ck.generator()
