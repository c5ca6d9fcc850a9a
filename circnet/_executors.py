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

Shared inputs: the arguments every job has in common (an ensemble's ``fixed`` mapping,
which may hold a body graph) go out once per worker, not once per job. A process pool
made here gets them through its ``initializer``; on a dask cluster, when they are large
(:data:`SHARE_BYTES`, e.g. a body graph), they become one task of the graph that every
job depends on (dask copies its result to each worker once, and recomputes it if that
worker is lost, which a ``scatter`` cannot, and it needs no worker at submission); the
jobs then carry only a reference (:attr:`Engine.shared`). Work never depends on the
workers present at submission: a dask cluster may start empty and scale up
(``cluster.adapt``); jobs wait in the scheduler's queue until a worker takes them.

:func:`run_jobs` submits the jobs, hands each result to a callback as it arrives, and
when a pool breaks (:class:`~concurrent.futures.BrokenExecutor`: a worker process died)
resubmits the jobs not yet done to a fresh pool, up to ``retries`` more times. A dask
scheduler reschedules a task lost with its worker by itself (its ``allowed-failures``
setting), so a dask executor never breaks; ``retries`` there goes to dask, which reruns a
task that raised. The in-process executor runs one job at a time, so every result is
handed over (and checkpointed) before the next job starts.

Deadlines: with ``deadline`` (seconds a job may take) :func:`run_jobs` keeps at most
``workers`` jobs in flight, so that a job runs from the moment it is submitted, and
hands a job that overruns its deadline to ``on_timeout`` instead of waiting for it. A
process pool made here is then stopped (its workers killed: a process is the one thing
that can be stopped whatever it is doing) and the jobs still to do go to a fresh pool;
such a restart does not count as a retry. The job of an executor not made here (yours,
or dask's) is cancelled and left to finish in the background, since its thread cannot
be stopped. The in-process executor runs a job inside :meth:`~cf.Executor.submit`, so
no deadline can apply there from outside (see :func:`circnet.ensemble` for the timeout
within a task).

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
import contextlib
import logging
import os
import pickle
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from ._validation import check_choice, check_int
from ._version import __version__
from .errors import CircnetError, ParameterError

logger = logging.getLogger(__name__)

__all__ = [
    "InlineExecutor",
    "Engine",
    "engine_for",
    "run_jobs",
    "time_limit",
    "Deadline",
    "ENGINES",
    "Shared",
    "resolve_shared",
    "check_version",
    "is_dask_client",
    "SHARE_BYTES",
]

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
class Shared:
    """A reference, in a job's arguments, to the shared input installed in each worker."""

    token: str


#: Pickled size from which a dask engine sends the shared input as a task of its own.
#: A smaller input travels with each job: a job that depends on another task is not yet
#: counted as work by an adaptive cluster, which would first scale to one worker only.
SHARE_BYTES = 16_384

#: Shared inputs installed in this process by a pool's initializer, by token.
_SHARED: dict[str, Any] = {}


def _install_shared(token: str, value: Any) -> None:
    """Process-pool initializer: keep the shared input of a run in this worker."""
    _SHARED.clear()  # one run at a time per worker process
    _SHARED[token] = value


def resolve_shared(value: Any) -> Any:
    """The shared input a job refers to (``value`` itself if it is not a reference).

    Examples
    --------
    >>> resolve_shared({"primary": "lung"})
    {'primary': 'lung'}
    """
    if isinstance(value, Shared):
        try:
            return _SHARED[value.token]
        except KeyError:
            raise CircnetError(
                "this worker process has not got the run's shared input (was the pool "
                "made by circnet.ensemble?)"
            ) from None
    return value


class _Box:
    """Keeps dask from looking inside a value sent as a task argument."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _unbox(box: _Box) -> Any:
    return box.value


def check_version(expected: str) -> None:
    """Refuse to run a job in a worker whose circnet is not the client's version.

    Called at the start of every chunk, so a worker that joins a cluster later is
    checked too.

    Examples
    --------
    >>> check_version("0.0.0-not-this")
    Traceback (most recent call last):
    ...
    circnet.errors.CircnetError: worker ... runs circnet ..., the client circnet 0.0.0-not-this; ...
    """
    if expected != __version__:
        raise CircnetError(
            f"worker {socket.gethostname()!r} (pid {os.getpid()}) runs circnet "
            f"{__version__}, the client circnet {expected}; install the same circnet "
            "version on every worker (results would mix versions)"
        )


@dataclass(frozen=True)
class Engine:
    """How to get an executor for one attempt, and how to feed it.

    Attributes
    ----------
    make : callable
        Returns the executor of one attempt (a fresh one when ``owned``).
    workers : int
        Calls that can run at once (when jobs are kept in flight by a deadline). It
        does not set the chunk size: chunks follow the design alone.
    window : int or None
        Jobs in flight at once (None: all of them).
    owned : bool
        The executor was made here: shut it down after each attempt.
    shared : object
        What a job passes for the shared input (the input itself, a :class:`Shared`
        reference, or a dask future).
    capacity : callable or None
        The calls that can run at once now (a dask cluster that scales); overrides
        ``workers``.
    """

    make: Callable[[], cf.Executor]
    workers: int
    window: int | None = None
    owned: bool = True
    shared: Any = None
    capacity: Callable[[], int] | None = None


def is_dask_client(engine: Any) -> bool:
    """Whether ``engine`` looks like a ``dask.distributed.Client`` (duck-typed)."""
    return all(hasattr(engine, a) for a in ("get_executor", "nthreads", "submit", "gather"))


def _dask_threads(client: Any) -> int:
    return sum(int(v) for v in client.nthreads().values())


def engine_for(
    engine: Any, n_workers: int | None = None, retries: int = 0, shared: Any = None
) -> Engine:
    """The :class:`Engine` for an ``engine`` argument of :func:`circnet.ensemble`.

    ``shared`` is the input every job has in common; jobs pass :attr:`Engine.shared`
    for it, and :func:`resolve_shared` gives it back inside the job.

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
            return Engine(InlineExecutor, 1, window=1, shared=shared)
        count = workers or os.cpu_count() or 1
        token = uuid.uuid4().hex
        return Engine(
            lambda: cf.ProcessPoolExecutor(
                max_workers=count, initializer=_install_shared, initargs=(token, shared)
            ),
            count,
            shared=Shared(token),
        )
    if isinstance(engine, cf.Executor):
        given: cf.Executor = engine
        count = workers or int(getattr(engine, "_max_workers", 0)) or os.cpu_count() or 1
        return Engine(lambda: given, count, owned=False, shared=shared)
    if is_dask_client(engine):
        # dask-specific: ``pure=False`` because a chunk's key must not be shared with an
        # identical chunk of another call; the shared input is one task of the graph
        client = engine
        if len(pickle.dumps(shared)) >= SHARE_BYTES:
            shared = client.submit(_unbox, _Box(shared), pure=False)

        def make() -> cf.Executor:
            return client.get_executor(pure=False, retries=retries)

        return Engine(
            make,
            max(1, _dask_threads(client)),
            shared=shared,
            capacity=lambda: max(1, _dask_threads(client)),
        )
    raise ParameterError(
        "`engine` must be 'inprocess', 'processes', a concurrent.futures.Executor or "
        f"a dask.distributed.Client (got {engine!r})"
    )


class Deadline(BaseException):
    """Raised by the timer inside a task (a BaseException: a task's ``except Exception``
    does not swallow it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`Deadline` in this thread after ``seconds`` (POSIX main thread only;
    elsewhere, nothing). A timer already set by the caller is restored afterwards."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if seconds is None or not usable:
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise Deadline

    start = time.monotonic()
    old_handler = signal.signal(signal.SIGALRM, ring)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay > 0:
            left = max(old_delay - (time.monotonic() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, old_interval)


#: What :func:`_drive` ends with: all done, the pool broke, or a job overran its deadline.
_DONE, _BROKEN, _STUCK = "done", "broken", "stuck"


def _drive(
    executor: cf.Executor,
    fn: Callable[..., T],
    jobs: Sequence[tuple[K, tuple[Any, ...]]],
    window: int | Callable[[], int] | None,
    on_done: Callable[[K, T], None],
    deadline: Callable[[K], float] | None = None,
    on_timeout: Callable[[K], T] | None = None,
    stop_when_stuck: bool = False,
) -> str:
    """Run ``jobs`` on ``executor``; how it ended (:data:`_DONE`, ``_BROKEN``, ``_STUCK``)."""
    queue = iter(jobs)
    order = {key: i for i, (key, _) in enumerate(jobs)}
    inflight: dict[cf.Future[T], K] = {}
    due: dict[cf.Future[T], float] = {}
    broken = False

    def fill() -> None:
        nonlocal broken
        limit = len(jobs) if window is None else window() if callable(window) else window
        while not broken and len(inflight) < limit:
            item = next(queue, None)
            if item is None:
                return
            key, args = item
            try:
                fut = executor.submit(fn, *args)
            except cf.BrokenExecutor:
                broken = True
                return
            inflight[fut] = key
            if deadline is not None:
                due[fut] = time.monotonic() + deadline(key)

    def hand_over(finished: set[cf.Future[T]]) -> None:
        # each finished future is dropped as its result is handed over (on dask, that
        # releases the result kept on the worker), not held to the end of the run
        nonlocal broken
        for fut in sorted(finished, key=lambda f: order[inflight[f]]):
            key = inflight.pop(fut)
            due.pop(fut, None)
            try:
                result = fut.result()
            except cf.BrokenExecutor:
                broken = True
                continue
            on_done(key, result)
        finished.clear()

    try:
        fill()
        while inflight:
            wait = None if not due else max(0.0, min(due.values()) - time.monotonic())
            hand_over(cf.wait(inflight, timeout=wait, return_when=cf.FIRST_COMPLETED)[0])
            now = time.monotonic()
            late = [f for f, t in due.items() if t <= now and f in inflight]
            for fut in sorted(late, key=lambda f: order[inflight[f]]):
                key = inflight.pop(fut)
                del due[fut]
                fut.cancel()
                assert on_timeout is not None  # set with deadline
                on_done(key, on_timeout(key))
            if late and stop_when_stuck:
                for fut in inflight:
                    fut.cancel()
                return _STUCK
            fill()
    except BaseException:
        for fut in inflight:
            fut.cancel()
        raise
    return _BROKEN if broken else _DONE


def _kill_workers(executor: cf.Executor) -> None:
    """Stop the worker processes of a process pool at once (a stuck job cannot return)."""
    terminate = getattr(executor, "terminate_workers", None)  # Python >= 3.14
    if callable(terminate):
        terminate()
        return
    for proc in list((getattr(executor, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            proc.kill()


def run_jobs(
    engine: Engine,
    fn: Callable[..., T],
    jobs: Mapping[K, tuple[Any, ...]],
    on_done: Callable[[K, T], None],
    *,
    retries: int = 0,
    deadline: Callable[[K], float] | None = None,
    on_timeout: Callable[[K], T] | None = None,
) -> None:
    """Call ``fn(*jobs[key])`` for every key; ``on_done(key, result)`` as each finishes.

    A job whose pool broke (a worker process died) is resubmitted to a fresh pool, up
    to ``retries`` more times; then :class:`~circnet.CircnetError`. An exception raised
    by ``fn`` itself propagates (the jobs still in flight are cancelled). With
    ``deadline(key)`` (seconds), a job that overruns it gets ``on_timeout(key)`` as its
    result (see the module docstring).
    """
    if (deadline is None) != (on_timeout is None):
        raise ParameterError("`deadline` and `on_timeout` go together")
    done: set[K] = set()

    def keep(key: K, result: T) -> None:
        done.add(key)
        on_done(key, result)

    window: int | Callable[[], int] | None = engine.window
    if deadline is not None and window is None:
        window = engine.capacity or engine.workers  # a job in flight is a job running
    pending = list(jobs)
    failures = 0
    while pending:
        executor = engine.make()
        how = _BROKEN
        try:
            how = _drive(
                executor,
                fn,
                [(k, jobs[k]) for k in pending],
                window,
                keep,
                deadline,
                on_timeout,
                stop_when_stuck=engine.owned,
            )
        finally:
            if engine.owned:
                if how == _STUCK:
                    _kill_workers(executor)
                    executor.shutdown(wait=False, cancel_futures=True)
                else:
                    executor.shutdown(wait=how == _DONE)
        pending = [k for k in pending if k not in done]
        if how == _BROKEN and pending:
            failures += 1
            logger.warning("%d job(s) lost with their workers (attempt %d)", len(pending), failures)
            if failures > retries:
                raise CircnetError(
                    f"{len(pending)} chunk(s) lost with their worker processes after "
                    f"{retries + 1} attempts"
                )
