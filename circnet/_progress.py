"""One progress-bar helper: a tqdm bar on stderr, or nothing.

Every long loop of circnet (simulation steps, ensemble chunks, the stages of a command)
shows its progress through :func:`progress`, so that the rule for when a bar appears is
written once: ``enabled=True`` always, ``False`` never, ``None`` only when stderr is a
terminal and there are at least ``min_total`` units of work. tqdm is a dependency, but
it is imported only when a bar is shown.

Examples
--------
>>> bar = progress(3, "demo", enabled=False)
>>> bar is None
True
>>> with Progress(progress(3, "demo", enabled=False)) as p:
...     p.update()
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

__all__ = ["progress", "Progress"]


def progress(
    total: int,
    desc: str = "",
    enabled: bool | None = None,
    *,
    unit: str = "step",
    min_total: int = 1,
) -> Any:
    """A tqdm bar over ``total`` units on stderr, or None when no bar should be shown.

    Parameters
    ----------
    total : int
        Units of work.
    desc : str
        Text in front of the bar.
    enabled : bool or None
        True: always a bar; False: never; None: only when stderr is a terminal and
        ``total >= min_total``.
    unit : str, default "step"
        Name of a unit of work.
    min_total : int, default 1
        Fewest units for an automatic (``enabled=None``) bar.

    Returns
    -------
    tqdm.tqdm or None
    """
    show = enabled if enabled is not None else (sys.stderr.isatty() and total >= min_total)
    if not show:
        return None
    from tqdm.auto import tqdm  # optional at import time: only loaded when a bar is shown

    return tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)


class Progress:
    """A bar from :func:`progress` (or None) with no-op methods when there is no bar.

    Use as a context manager: the bar is closed on leaving, also on an error.
    """

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def describe(self, text: str) -> None:
        """Set the text in front of the bar."""
        if self.bar is not None:
            self.bar.set_description(text)

    def update(self, n: int = 1) -> None:
        """Advance the bar by ``n`` units."""
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        """Close the bar (idempotent)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
