"""Exceptions raised by circnet.

Every error circnet raises on purpose derives from :class:`CircnetError`, and each
subclass is also the matching built-in exception, so ``except ValueError`` keeps
working for callers who do not know circnet.
"""

from __future__ import annotations

__all__ = [
    "CircnetError",
    "BodyError",
    "BodyFileError",
    "ParameterError",
    "UnknownNameError",
    "CheckpointError",
    "SolverError",
    "OptionalDependencyError",
]


class CircnetError(Exception):
    """Base class of every error raised by circnet."""


class BodyError(CircnetError, ValueError):
    """A body graph breaks a rule of the circulation model.

    Attributes
    ----------
    problems : list of str
        Every problem found, each naming the node or edge concerned.
    """

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        n = len(self.problems)
        head = "invalid body graph" if n == 1 else f"invalid body graph: {n} problems"
        super().__init__(head + ":\n  - " + "\n  - ".join(self.problems))


class BodyFileError(CircnetError, ValueError):
    """A body file cannot be read: unknown format, malformed content, bad values."""


class ParameterError(CircnetError, ValueError):
    """A model parameter is out of its domain (negative rate, probability outside [0, 1], ...)."""


class UnknownNameError(CircnetError, KeyError):
    """An organ, node, state or fate name that the model does not know."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class CheckpointError(CircnetError, ValueError):
    """A checkpoint file does not match the run that tries to resume from it."""


class SolverError(CircnetError, ArithmeticError):
    """A linear solve did not reach the required residual."""


class OptionalDependencyError(CircnetError, ImportError):
    """An optional dependency (matplotlib for plots, dask for clusters) is not installed."""
