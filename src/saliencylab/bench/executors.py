"""Executors that run benchmark cells: in this process, in a local process pool, or on Ray.

Every executor has one method that matters, ``map_unordered(fn, tasks)``, which yields
``(task, result)`` pairs as tasks complete (not in submission order). The caller, the driver,
writes each result to the :class:`~saliencylab.bench.store.ResultStore` as it arrives, one
transaction per cell. Executors never touch the store: workers never open the run directory's
SQLite file, so a Ray worker on another machine only needs to import saliencylab and return its
result.

``tasks`` may be any iterable, and it is consumed **lazily**: the next task is drawn only when
a slot frees up (one at a time in-process, ``max_in_flight`` at once in a pool or on Ray). The
driver relies on this to claim each cell in the store right before it is submitted, so two
drivers sharing a run directory split the cells instead of both queueing all of them. An
exception raised by the iterable itself (not by a task) propagates unchanged.

An exception inside a task is never swallowed: it stops the map, cancels the tasks not yet
started and is re-raised in the driver as :class:`TaskError` naming the task, with the original
exception as ``__cause__`` and ``.original``. Results already yielded (and stored) stay valid,
so a restarted run resumes after them.

``fn`` and the tasks must pickle: for the process pool, ``fn`` must be a module-level function
that worker processes can import; Ray also ships closures, but its workers must still import
every module ``fn`` uses.

Example:
    >>> from saliencylab.bench.executors import make_executor, _selftest
    >>> with make_executor("local") as ex:
    ...     sorted(result for _, result in ex.map_unordered(_selftest, [1, 2, 3]))
    [1, 4, 9]
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import pickle
import reprlib
import sys
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any, Protocol, runtime_checkable

from saliencylab.errors import ConfigError, SaliencyLabError, UnknownNameError

EXECUTORS = ("local", "ray")

_short = reprlib.Repr()
_short.maxstring, _short.maxother, _short.maxlevel = 80, 80, 3


class TaskError(SaliencyLabError):
    """A task raised inside an executor; ``task`` is the task, ``original`` its exception."""

    def __init__(self, task: Any, original: BaseException):
        self.task, self.original = task, original
        super().__init__(
            f"task {_short.repr(task)} failed with {type(original).__name__}: {original}"
        )

    def __reduce__(self):
        return (TaskError, (self.task, self.original))


@runtime_checkable
class Executor(Protocol):
    """Runs ``fn`` over tasks and yields ``(task, result)`` as each completes."""

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple]:
        """Yield ``(task, fn(task))`` pairs in completion order, drawing ``tasks`` lazily;
        raise :class:`TaskError`."""
        ...

    def close(self) -> None:
        """Release workers (idempotent)."""
        ...


class _ContextManager:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass


def _init_worker(threads: int) -> None:
    # N workers x all cores each would oversubscribe the CPU; torch reads these at import.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


class LocalExecutor(_ContextManager):
    """Runs tasks on this machine: in this process when ``workers <= 1``, else in a pool of
    ``workers`` processes started with *spawn* (forking a process that holds torch state is
    unsafe).

    Args:
        workers: number of worker processes; 0 or 1 runs in this process (easiest to debug).
        threads_per_worker: torch/OpenMP threads per worker process; default ``cpus // workers``.
            Not applied in-process.
        max_in_flight: tasks submitted to the pool at once (default ``2 * workers``), so an
            error cancels little work and memory stays bounded on large grids.

    The pool starts on first use and is reused by later ``map_unordered`` calls until
    :meth:`close`.

    Example:
        >>> with LocalExecutor(workers=2) as ex:  # doctest: +SKIP
        ...     for task, result in ex.map_unordered(run_cell, cells):
        ...         store.write_cell(...)
    """

    def __init__(
        self,
        workers: int = 0,
        *,
        threads_per_worker: int | None = None,
        max_in_flight: int | None = None,
    ):
        if not isinstance(workers, int) or workers < 0:
            raise ConfigError(f"workers must be an integer >= 0, got {workers!r}")
        if threads_per_worker is not None and threads_per_worker < 1:
            raise ConfigError(f"threads_per_worker must be >= 1, got {threads_per_worker!r}")
        if max_in_flight is not None and max_in_flight < 1:
            raise ConfigError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
        self.workers = workers
        cpus = os.cpu_count() or 1
        self.threads_per_worker = threads_per_worker or max(1, cpus // max(workers, 1))
        self.max_in_flight = max_in_flight or 2 * max(workers, 1)
        self._pool: cf.ProcessPoolExecutor | None = None

    @property
    def in_process(self) -> bool:
        return self.workers <= 1

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple]:
        """Yield ``(task, fn(task))`` as tasks complete; a failure raises :class:`TaskError`.

        ``tasks`` is drawn lazily: in-process one task at a time, in a pool as slots free up.
        """
        if self.in_process:
            return self._map_in_process(fn, tasks)
        try:
            pickle.dumps(fn)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise ConfigError(
                f"{fn!r} cannot be sent to worker processes; use a module-level function ({exc})"
            ) from exc
        return self._map_pool(fn, tasks)

    @staticmethod
    def _map_in_process(fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple]:
        for task in tasks:
            try:
                result = fn(task)
            except Exception as exc:
                raise TaskError(task, exc) from exc
            yield task, result

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.threads_per_worker,),
            )
        return self._pool

    def _map_pool(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple]:
        pool = self._get_pool()
        todo = iter(tasks)
        pending: dict[cf.Future, Any] = {}

        def submit_more() -> None:
            while len(pending) < self.max_in_flight:
                task = next(todo, _DONE)
                if task is _DONE:
                    return
                pending[pool.submit(fn, task)] = task

        try:
            submit_more()
            while pending:
                done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    try:
                        result = future.result()
                    except cf.process.BrokenProcessPool as exc:
                        # A dead worker (e.g. killed for memory) breaks the whole pool: drop it
                        # so the next map starts a fresh one.
                        pool.shutdown(wait=False, cancel_futures=True)
                        self._pool = None
                        raise TaskError(task, exc) from exc
                    except Exception as exc:
                        raise TaskError(task, exc) from exc
                    yield task, result
                submit_more()
        finally:
            for future in pending:  # an error, or the caller stopped iterating
                future.cancel()

    def close(self) -> None:
        """Shut the worker pool down (cancelling queued tasks)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers})"


_DONE = object()


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise SaliencyLabError(
            "the Ray executor needs Ray: pip install 'saliencylab[ray]'"
        ) from exc
    return ray


class RayExecutor(_ContextManager):
    """Runs tasks as Ray tasks on a local Ray instance or a cluster.

    Args:
        address: a cluster address (``"auto"``, ``"ray://host:10001"``, ...); None starts a
            local instance (or joins the one already started in this process).
        num_cpus: CPUs of a local instance (default: all); ignored when joining a cluster.
        resources_per_task: Ray resource requests per task, e.g. ``{"num_cpus": 1,
            "num_gpus": 0.25}`` (default: Ray's one CPU per task).
        max_in_flight: tasks submitted at once (default: all of a list, since Ray queues
            them; twice the cluster's CPUs for a lazy iterable, so that the driver claims
            cells only as they can start).
        init_kwargs: further keyword arguments for ``ray.init`` (e.g. ``runtime_env``).

    Results travel back to the driver, which writes the store; workers need saliencylab
    installed but no access to the run directory. :meth:`close` shuts Ray down only if this
    executor started it.

    Example:
        >>> with RayExecutor(num_cpus=2) as ex:  # doctest: +SKIP
        ...     results = dict(ex.map_unordered(_selftest, [1, 2, 3]))
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        resources_per_task: dict[str, float] | None = None,
        *,
        max_in_flight: int | None = None,
        init_kwargs: dict[str, Any] | None = None,
    ):
        if max_in_flight is not None and max_in_flight < 1:
            raise ConfigError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
        ray = _import_ray()
        self.address = address
        self.resources_per_task = dict(resources_per_task or {})
        self.max_in_flight = max_in_flight
        self._owns_ray = not ray.is_initialized()
        kwargs: dict[str, Any] = {
            "address": address,
            "ignore_reinit_error": True,
            "include_dashboard": False,
            "log_to_driver": False,
        }
        if address is None and num_cpus is not None:
            kwargs["num_cpus"] = int(num_cpus)
        kwargs.update(init_kwargs or {})
        try:
            ray.init(**kwargs)
        except ModuleNotFoundError as exc:  # a broken Ray install, e.g. without its click
            raise SaliencyLabError(
                f"Ray is installed but cannot start: its dependency {exc.name!r} is missing; "
                f"install it (pip install {exc.name}) and check with pip check"
            ) from exc
        self._remote_cache: dict[Callable, Any] = {}

    def _remote(self, fn: Callable[[Any], Any]):
        ray = _import_ray()
        if fn not in self._remote_cache:
            remote = ray.remote(fn)
            if self.resources_per_task:
                remote = remote.options(**self.resources_per_task)
            self._remote_cache[fn] = remote
        return self._remote_cache[fn]

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[tuple]:
        """Yield ``(task, fn(task))`` as Ray tasks complete; a failure raises :class:`TaskError`.

        ``tasks`` is drawn lazily, ``max_in_flight`` at a time.
        """
        return self._map(self._remote(fn), tasks)

    def _limit(self, tasks: Iterable[Any]) -> int:
        if self.max_in_flight:
            return self.max_in_flight
        if isinstance(tasks, Sized):
            return max(len(tasks), 1)
        ray = _import_ray()
        return max(2 * int(ray.cluster_resources().get("CPU", 1)), 1)

    def _map(self, remote, tasks: Iterable[Any]) -> Iterator[tuple]:
        ray = _import_ray()
        from ray.exceptions import RayError, RayTaskError

        limit = self._limit(tasks)
        todo = iter(tasks)
        pending: dict[Any, Any] = {}  # ObjectRef -> task

        def submit_more() -> None:
            while len(pending) < limit:
                task = next(todo, _DONE)
                if task is _DONE:
                    return
                pending[remote.remote(task)] = task

        try:
            submit_more()
            while pending:
                refs = list(pending)
                done, rest = ray.wait(refs, num_returns=1)
                if rest:  # collect whatever else has finished too, without waiting
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    done += more
                for ref in done:
                    task = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except RayTaskError as exc:
                        cause = exc.cause if exc.cause is not None else exc
                        raise TaskError(task, cause) from cause
                    except RayError as exc:  # worker died, task cancelled, object lost
                        raise TaskError(task, exc) from exc
                    yield task, result
                submit_more()
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self) -> None:
        """Shut Ray down if this executor started it."""
        ray = _import_ray()
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r})"


def make_executor(name: str = "local", **kwargs: Any) -> LocalExecutor | RayExecutor:
    """An executor by name: ``"local"`` (:class:`LocalExecutor`) or ``"ray"``
    (:class:`RayExecutor`); ``kwargs`` go to its constructor.

    Example:
        >>> make_executor("local", workers=0)
        LocalExecutor(workers=0)
    """
    if name == "local":
        return LocalExecutor(**kwargs)
    if name == "ray":
        return RayExecutor(**kwargs)
    raise UnknownNameError("executor", name, EXECUTORS)


def _selftest(task: int) -> int:
    """A pure task for checking an executor: ``task ** 2``; a negative task raises ValueError.

    Lives in the package so Ray and pool workers can import it.
    """
    if task < 0:
        raise ValueError(f"selftest task {task} is negative")
    return task * task
