"""Where ensemble work runs: every engine is a :class:`concurrent.futures.Executor`.

=====================  ==========================================================
``engine``             executor
=====================  ==========================================================
``"inprocess"``        :class:`InlineExecutor`: each call runs when it is submitted
``"processes"``        :class:`~concurrent.futures.ProcessPoolExecutor`
                       (``max_workers=n_workers``)
a dask ``Client``      ``client.get_executor(pure=False, retries=retries)``
an ``Executor``        used as given (never shut down here)
=====================  ==========================================================

:func:`run_jobs` submits the jobs, hands each result to a callback as it arrives, and
when a pool breaks (:class:`~concurrent.futures.BrokenExecutor`: a worker process died)
resubmits the jobs not yet done to a fresh pool, up to ``retries`` more times. A dask
scheduler reschedules a task lost with its worker by itself (its ``allowed-failures``
setting), so a dask executor never breaks; ``retries`` there goes to dask, which reruns a
task that raised. The in-process executor runs one job at a time, so every result is
handed over (and checkpointed) before the next job starts.

Examples
--------
>>> from circnet._executors import engine_for, run_jobs
>>> got = {}
>>> run_jobs(engine_for("inprocess"), pow, {1: (2, 3), 2: (3, 2)}, got.__setitem__)
>>> got
{1: 8, 2: 9}
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from ._validation import check_choice, check_int
from .errors import CircnetError, ParameterError

__all__ = ["InlineExecutor", "Engine", "engine_for", "run_jobs", "ENGINES"]

P = ParamSpec("P")
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

#: The engines named by a string.
ENGINES = ("inprocess", "processes")


class InlineExecutor(cf.Executor):
    """A synchronous executor: :meth:`submit` runs the call and returns a finished future.

    Examples
    --------
    >>> InlineExecutor().submit(divmod, 7, 2).result()
    (3, 1)
    """

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> cf.Future[T]:
        future: cf.Future[T] = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(err)
        return future


@dataclass(frozen=True)
class Engine:
    """How to get an executor for one attempt, and how to feed it.

    Attributes
    ----------
    make : callable
        Returns the executor of one attempt (a fresh one when ``owned``).
    workers : int
        Calls that can run at once (sets the default chunk size).
    window : int or None
        Jobs in flight at once (None: all of them).
    owned : bool
        The executor was made here: shut it down after each attempt.
    """

    make: Callable[[], cf.Executor]
    workers: int
    window: int | None = None
    owned: bool = True


def _is_dask_client(engine: Any) -> bool:
    return all(hasattr(engine, a) for a in ("get_executor", "nthreads", "submit", "gather"))


def engine_for(engine: Any, n_workers: int | None = None, retries: int = 0) -> Engine:
    """The :class:`Engine` for an ``engine`` argument of :func:`circnet.ensemble`.

    Examples
    --------
    >>> e = engine_for("processes", n_workers=3)
    >>> e.workers, e.window
    (3, None)
    """
    workers = None if n_workers is None else check_int(n_workers, "n_workers", low=1)
    if isinstance(engine, str):
        check_choice(engine, "engine", ENGINES)
        if engine == "inprocess":
            return Engine(InlineExecutor, 1, window=1)
        count = workers or os.cpu_count() or 1
        return Engine(lambda: cf.ProcessPoolExecutor(max_workers=count), count)
    if isinstance(engine, cf.Executor):
        given: cf.Executor = engine
        count = workers or int(getattr(engine, "_max_workers", 0)) or os.cpu_count() or 1
        return Engine(lambda: given, count, owned=False)
    if _is_dask_client(engine):
        # dask-specific: the worker count comes from the scheduler; ``pure=False`` because
        # a chunk's key must not be shared with an identical chunk of another call
        client = engine
        count = max(1, sum(int(v) for v in client.nthreads().values()))
        return Engine(lambda: client.get_executor(pure=False, retries=retries), count)
    raise ParameterError(
        "`engine` must be 'inprocess', 'processes', a concurrent.futures.Executor or "
        f"a dask.distributed.Client (got {engine!r})"
    )


def _drive(
    executor: cf.Executor,
    fn: Callable[..., T],
    jobs: Sequence[tuple[K, tuple[Any, ...]]],
    window: int | None,
    on_done: Callable[[K, T], None],
) -> bool:
    """Run ``jobs`` on ``executor``; True if the executor broke before all were done."""
    queue = iter(jobs)
    order = {key: i for i, (key, _) in enumerate(jobs)}
    limit = len(jobs) if window is None else window
    inflight: dict[cf.Future[T], K] = {}
    broken = False

    def fill() -> None:
        nonlocal broken
        while not broken and len(inflight) < limit:
            item = next(queue, None)
            if item is None:
                return
            key, args = item
            try:
                inflight[executor.submit(fn, *args)] = key
            except cf.BrokenExecutor:
                broken = True

    try:
        fill()
        while inflight:
            finished, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: order[inflight[f]]):
                key = inflight.pop(fut)
                try:
                    result = fut.result()
                except cf.BrokenExecutor:
                    broken = True
                    continue
                on_done(key, result)
            fill()
    except BaseException:
        for fut in inflight:
            fut.cancel()
        raise
    return broken


def run_jobs(
    engine: Engine,
    fn: Callable[..., T],
    jobs: Mapping[K, tuple[Any, ...]],
    on_done: Callable[[K, T], None],
    *,
    retries: int = 0,
) -> None:
    """Call ``fn(*jobs[key])`` for every key; ``on_done(key, result)`` as each finishes.

    A job whose pool broke (a worker process died) is resubmitted to a fresh pool, up
    to ``retries`` more times; then :class:`~circnet.CircnetError`. An exception raised
    by ``fn`` itself propagates (the jobs still in flight are cancelled).
    """
    done: set[K] = set()

    def keep(key: K, result: T) -> None:
        done.add(key)
        on_done(key, result)

    pending = list(jobs)
    for _attempt in range(retries + 1):
        if not pending:
            return
        executor = engine.make()
        ok = False
        try:
            _drive(executor, fn, [(k, jobs[k]) for k in pending], engine.window, keep)
            ok = True
        finally:
            if engine.owned:
                executor.shutdown(wait=ok)
        pending = [k for k in pending if k not in done]
    if pending:
        raise CircnetError(
            f"{len(pending)} chunk(s) lost with their worker processes after {retries + 1} attempts"
        )
