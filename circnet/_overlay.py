"""Overlays of :func:`circnet.render_html`: values keyed by labels, mapped onto body nodes.

An overlay key is a node of the body or a state/fate label (:mod:`circnet.states`):
a label whose site is an organ (``tissue:``, ``colony:``) falls on the organ's tissue
node; ``lodged:`` on a capillary bed (or the bed of an organ); ``trapped:`` and
``node:`` on a lymph node; any other kind with a node site (``transit:``) on that
node; ``dead`` on the legend. Values falling on one node are summed.

Examples
--------
>>> import pandas as pd
>>> from circnet import default_body
>>> from circnet._overlay import read_overlay
>>> ov = read_overlay(default_body(), pd.Series({"colony:liver": 1.0, "tissue:liver": 2.0}))
>>> ov.table.to_dict("list"), ov.labels
({'liver': [3.0]}, {'liver': ['colony:liver', 'tissue:liver']})
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from ._format import fmt_number
from .body import tissue_of
from .errors import ParameterError, UnknownNameError
from .states import DEAD, KINDS, is_label, parse_label

__all__ = ["LABEL_PREFIXES", "DEAD_TARGET", "Overlay", "label_target", "read_overlay"]

#: Kinds of circnet state and fate labels ``kind:<site>`` an overlay may use (plus ``"dead"``).
LABEL_PREFIXES = tuple(k for k, v in KINDS.items() if v.site != "none")
#: Where the label ``"dead"`` falls: the legend, not a node.
DEAD_TARGET = object()
#: The body kind a state's node must have, for kinds tied to one (others: any node).
_SITE_NODE_KIND = {"lodged": "capillary_bed", "trapped": "lymph_node", "node": "lymph_node"}


def label_target(body: nx.DiGraph, label: Any) -> Any:
    """The node an overlay label falls on, or ``DEAD_TARGET``; UnknownNameError if none."""
    if label in body:  # nx.Graph.__contains__ is False for unhashable labels
        return label
    if not (isinstance(label, str) and is_label(label)):
        kinds = ", ".join(p + ":<name>" for p in LABEL_PREFIXES)
        why = f"it is neither a node of the body nor a state/fate label ({kinds}, or {DEAD!r})"
        raise UnknownNameError(f"unknown overlay label {label!r}: {why}")
    kind, name = parse_label(label)
    if name is None:  # dead
        return DEAD_TARGET
    if KINDS[kind].site == "organ":  # tissue, colony: the organ's tissue node
        if name in body and body.nodes[name].get("kind") == "tissue":
            return name
        try:
            return tissue_of(body, name)
        except UnknownNameError as err:
            raise UnknownNameError(f"overlay label {label!r}: {err}") from err
    found = body.nodes[name].get("kind") if name in body else None
    wanted = _SITE_NODE_KIND.get(kind)
    if found is not None and wanted in (None, found):
        return name
    if wanted == "capillary_bed":  # an organ name means its bed
        for m, dm in body.nodes(data=True):
            if dm.get("kind") == "capillary_bed" and dm.get("organ") == name:
                return m
        why = f"{name!r} is not a capillary bed or an organ of the body"
    elif wanted is not None:
        why = f"{name!r} is not a {wanted.replace('_', ' ')} of the body"
    else:
        why = f"{name!r} is not a node of the body"
    raise UnknownNameError(f"unknown overlay label {label!r}: {why}")


@dataclass(frozen=True)
class Overlay:
    """An overlay mapped onto body nodes: one row per frame, one column per node."""

    name: str
    table: pd.DataFrame  # rows: frames; columns: body nodes (summed values)
    labels: dict[Any, list[str]]  # node -> overlay labels that fell on it
    dead: list[float] | None
    times: list[str] | None  # readout text per frame (None for a single snapshot)
    time_label: str

    def page_data(self, ids: Mapping[Any, str]) -> dict[str, Any]:
        """The overlay as the page's script reads it (``ids``: node -> vis-network id)."""
        values = self.table.to_numpy(dtype=float)
        return {
            "name": self.name,
            "nodes": [ids[n] for n in self.table.columns],
            "labels": [self.labels[n] for n in self.table.columns],
            "values": values.tolist(),
            "vmax": float(values.max()) if values.size else 0.0,
            "dead": self.dead,
            "times": self.times,
            "time_label": self.time_label,
        }


def _single(value: Any) -> bool:
    """Whether ``value`` is one value (not a sequence, ragged or not)."""
    try:
        return bool(np.ndim(value) == 0)
    except (TypeError, ValueError):
        return False


def read_overlay(body: nx.DiGraph, overlay: Any) -> Overlay:
    if isinstance(overlay, Mapping) and not isinstance(overlay, pd.Series):
        nested = [k for k, v in overlay.items() if not _single(v)]
        if nested:
            raise ParameterError(
                f"`overlay` values must be single numbers (label {nested[0]!r} holds a sequence)"
            )
        try:
            overlay = pd.Series(dict(overlay), dtype=float)
        except (TypeError, ValueError, OverflowError) as err:
            raise ParameterError(f"`overlay` values must be numbers ({err})") from err
    if isinstance(overlay, pd.Series):
        name = "value" if overlay.name is None else str(overlay.name)
        frame = overlay.to_frame().T
        timed = False
    elif isinstance(overlay, pd.DataFrame):
        name = "value" if overlay.columns.name is None else str(overlay.columns.name)
        frame = overlay
        timed = True
        if len(frame.index) == 0:
            raise ParameterError("`overlay` DataFrame has no rows (one row per time expected)")
    else:
        raise ParameterError(
            "`overlay` must be None, a pandas.Series (or mapping) of values by label, or a "
            "pandas.DataFrame indexed by time with labels as columns "
            f"(got {type(overlay).__name__})"
        )
    targets = [label_target(body, c) for c in frame.columns]
    try:
        values = frame.to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ParameterError(f"`overlay` values must be numbers ({err})") from err
    for j, label in enumerate(frame.columns):
        col = values[:, j]
        bad = ~np.isfinite(col) | (col < 0)
        if bad.any():
            raise ParameterError(
                f"`overlay` value of {label!r} must be a finite number >= 0 (got {col[bad][0]!r})"
            )
    node_cols: dict[Any, np.ndarray] = {}
    labels: dict[Any, list[str]] = {}
    dead = None
    for j, (label, target) in enumerate(zip(frame.columns, targets, strict=True)):
        with np.errstate(over="ignore"):  # an overflow is refused below
            if target is DEAD_TARGET:
                dead = values[:, j] if dead is None else dead + values[:, j]
                continue
            node_cols[target] = node_cols.get(target, 0.0) + values[:, j]
        labels.setdefault(target, []).append(str(label))
    for target, col in [*node_cols.items(), (DEAD_TARGET, dead)]:
        if col is not None and not np.all(np.isfinite(col)):
            raise ParameterError(
                f"`overlay` values of {labels.get(target, ['dead'])} sum to more than the "
                "largest float (they fall on the same node)"
            )
    table = pd.DataFrame(node_cols, index=range(len(frame.index)), columns=list(node_cols))
    times = None
    time_label = "time"
    if timed:
        time_label = "time" if frame.index.name is None else str(frame.index.name)
        times = [fmt_number(t) if isinstance(t, numbers.Real) else str(t) for t in frame.index]
    return Overlay(
        name=name,
        table=table,
        labels=labels,
        dead=None if dead is None else [float(x) for x in dead],
        times=times,
        time_label=time_label,
    )
