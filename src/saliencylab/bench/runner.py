"""Run a benchmark grid: train cells, then eval cells, resumable, on any executor, shared.

The driver (this module) is the only writer of the run directory::

    RUN_DIR/grid.yaml         the exact grid that ran
    RUN_DIR/results.sqlite    one row per (cell, metric, statistic), one transaction per cell
    RUN_DIR/models/KEY.pt     trained checkpoints (written before their cell's rows commit)
    RUN_DIR/examples/KEY.npz  a few saliency maps per eval cell, for the report

A restarted run skips every cell the store marks finished, so killing a run (even with SIGKILL)
loses at most the cells in flight. A damaged store is refused before anything is written
(:class:`~saliencylab.errors.CorruptStoreError`).

Several drivers may run on one run directory at once (two ``bench`` processes, say) and never
compute the same cell: right before a cell goes to the executor (in-process, process pool or
Ray: executors consume their tasks lazily, and never touch the store), the driver claims it in
the store (:meth:`~saliencylab.bench.store.ResultStore.claim`), which also re-checks that no
other process has finished it. A background thread renews this driver's claims every quarter
lease (``lease``: default :data:`~saliencylab.bench.store.DEFAULT_LEASE`, 10 minutes; the
``SALIENCYLAB_LEASE`` environment variable or ``bench --lease`` overrides it). The claim is
released in the transaction that stores the cell, and every claim left is released when the
driver stops, even on an error. A killed driver's claims are taken over when they expire, or at
once by a driver on the same machine (the dead process is detected).

A cell another live driver holds is **skipped, not waited for**, and so is an eval cell whose
train cell another driver holds (its checkpoint is not written yet): the driver that trains a
model also evaluates it, so together the drivers finish every cell, and each one exits as soon
as nothing is left that it may take. Eval cells are claimed in passes: a pass after one that ran
something picks up the models other drivers finished meanwhile. :class:`RunSummary` says what
this driver ran, what was stored before it started, what other drivers finished while it ran,
what they still hold and what is left (for a later run).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from saliencylab.bench.cells import (
    EvalTask,
    TrainTask,
    run_eval_cell,
    run_train_cell,
)
from saliencylab.bench.config import GridConfig, dump_config
from saliencylab.bench.executors import EXECUTORS, make_executor
from saliencylab.bench.plan import check_grid
from saliencylab.bench.store import (
    CLAIMED,
    DEFAULT_FILENAME,
    DEFAULT_LEASE,
    FINISHED,
    ResultStore,
    _check_lease,
    new_owner,
)
from saliencylab.errors import ConfigError, SaliencyLabError, UnknownNameError
from saliencylab.train import read_checkpoint, write_checkpoint

#: Environment variable overriding the claim lease (seconds) of every driver.
LEASE_ENV = "SALIENCYLAB_LEASE"


@dataclass
class RunSummary:
    """What one driver did; the five counts add up to ``cells_total``.

    Attributes:
        cells_total: distinct cells of the grid (duplicate tasks removed).
        cells_run: cells this process computed and stored.
        cells_skipped: cells already stored when this process started.
        cells_by_others: cells another process stored while this one ran.
        cells_held: cells another live process still held when this one ended (it is
            computing them), and eval cells waiting on a train cell it holds.
        cells_left: cells nobody stored or holds: ``max_cells`` stopped this process, or
            another process stopped or failed before finishing them; a later run does them.
        duplicates: tasks dropped because an earlier task has the same key.
    """

    run_dir: Path
    cells_total: int
    cells_run: int
    cells_skipped: int
    cells_by_others: int = 0
    cells_held: int = 0
    cells_left: int = 0
    duplicates: int = 0

    def line(self) -> str:
        """One line that adds up, e.g. ``3 run here, 12 finished by another process, 1 already
        stored, 0 left of 16``."""
        held = (f", {self.cells_held} held by another process" if self.cells_held else "")
        return (f"{self.cells_run} run here, {self.cells_by_others} finished by another "
                f"process, {self.cells_skipped} already stored{held}, {self.cells_left} left "
                f"of {self.cells_total}")


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        disable=not enabled,
    )


def run_grid(grid: GridConfig, run_dir: str | Path, **options: Any) -> RunSummary:
    """Run (or resume) ``grid`` in ``run_dir``; returns what ran, what was stored, what other
    processes on the same run directory did, and what is left (:class:`RunSummary`).

    ``options`` are those of :func:`run_tasks`: ``executor``, ``workers``, ``address``,
    ``progress``, ``max_cells``, ``lease``. The whole grid is checked first
    (:func:`~saliencylab.bench.plan.check_grid`), so an invalid grid creates no run
    directory; a damaged results store is refused
    (:class:`~saliencylab.errors.CorruptStoreError`) before ``grid.yaml`` is written.
    """
    executor = options.get("executor", "local")
    if executor not in EXECUTORS:
        raise UnknownNameError("executor", executor, EXECUTORS)
    plan = check_grid(grid)  # everything checked before the run directory exists
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ResultStore(run_dir / DEFAULT_FILENAME).close()  # check it before writing anything
    dump_config(grid, run_dir / "grid.yaml")
    return run_tasks(run_dir, plan.trains, plan.evals, title=f"bench {grid.name}", **options)


_Task = TypeVar("_Task", TrainTask, EvalTask)


def _unique(tasks: list[_Task], what: str) -> tuple[list[_Task], int]:
    """``tasks`` without the ones whose key an earlier task has (e.g. ``seeds: [0, 0]``)."""
    seen: set[str] = set()
    out = []
    for task in tasks:
        key = task.key
        if key not in seen:
            seen.add(key)
            out.append(task)
    dropped = len(tasks) - len(out)
    if dropped:
        warnings.warn(f"{dropped} {what} task(s) repeat a cell of the grid (the same key, e.g. "
                      "a seed or method listed twice); each cell runs once", stacklevel=3)
    return out, dropped


def resolve_lease(lease: float | None = None) -> float:
    """The claim lease in seconds: ``lease``, else ``$SALIENCYLAB_LEASE``, else
    :data:`~saliencylab.bench.store.DEFAULT_LEASE` (600 s)."""
    if lease is None and os.environ.get(LEASE_ENV):
        try:
            return _check_lease(os.environ[LEASE_ENV])
        except ConfigError as exc:
            raise ConfigError(f"${LEASE_ENV}: {exc}") from None
    return _check_lease(DEFAULT_LEASE if lease is None else lease)


class _ClaimKeeper(threading.Thread):
    """Renews one owner's claims every quarter lease, on its own connection, until stopped.

    A failed renewal (the store locked for a while) is retried at the next beat: the lease
    outlasts three misses. The thread dies with its process, so a killed driver's claims expire.
    """

    def __init__(self, path: Path, owner: str, lease: float):
        super().__init__(name="saliencylab-claims", daemon=True)
        self.path, self.owner, self.lease = path, owner, lease
        self._halt = threading.Event()

    def run(self) -> None:
        store = None
        try:
            while not self._halt.wait(self.lease / 4):
                try:
                    store = store or ResultStore(self.path, check=False)
                    store.renew_claims(self.owner, lease=self.lease)
                except SaliencyLabError:
                    continue
        finally:
            if store is not None:
                store.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)


def run_tasks(
    run_dir: str | Path,
    trains: list[TrainTask],
    evals: list[EvalTask],
    *,
    checkpoints: dict[str, dict[str, Any]] | None = None,
    title: str = "cells",
    executor: str = "local",
    workers: int = 0,
    address: str | None = None,
    progress: bool = True,
    max_cells: int | None = None,
    lease: float | None = None,
) -> RunSummary:
    """Run the train cells, then the eval cells, skipping every cell the store holds and every
    cell another process is computing.

    The one driver of every experiment (``bench``, ``evaluate``, the certification). An eval
    cell explains the model its ``train`` task trained in this run directory, or, when its
    ``model_hash`` is set, ``checkpoints[model_hash]`` (a checkpoint given from outside).
    Tasks with the key of an earlier task are dropped with a warning.

    Args:
        executor: ``"local"`` (in-process, or a process pool when ``workers`` > 1) or ``"ray"``.
        address: Ray cluster address (``None`` starts a local Ray instance).
        max_cells: stop after this many newly claimed cells (for smoke tests and time-boxed
            runs).
        lease: seconds a claim lasts without renewal (see :func:`resolve_lease`); a killed
            process's cells wait this long before a process in another container or machine
            takes them (one on the same machine takes them at once).

    Raises:
        CorruptStoreError: the run directory's results store is damaged (nothing is run).
        TaskError: a cell failed; the cells stored before it stay, this process's claims are
            released.
    """
    run_dir = Path(run_dir)
    checkpoints = checkpoints or {}
    lease = resolve_lease(lease)
    store = ResultStore(run_dir / DEFAULT_FILENAME)  # refuses a damaged file, writes nothing
    try:
        (run_dir / "models").mkdir(parents=True, exist_ok=True)
        (run_dir / "examples").mkdir(parents=True, exist_ok=True)
        trains, dropped_trains = _unique(trains, "train")
        evals, dropped_evals = _unique(evals, "eval")
        driver = _Driver(run_dir, store, checkpoints, lease, max_cells)
        driver.run(trains, evals, title=title, progress=progress,
                   executor=make_executor(executor, **(
                       {"workers": workers} if executor == "local" else {"address": address})))
        return driver.summary(trains, evals, dropped_trains + dropped_evals)
    finally:
        store.close()


class _Driver:
    """One call of :func:`run_tasks`: claims, runs and stores cells, and counts them."""

    def __init__(self, run_dir: Path, store: ResultStore, checkpoints: dict[str, Any],
                 lease: float, max_cells: int | None):
        self.run_dir, self.store, self.checkpoints, self.lease = run_dir, store, checkpoints, lease
        self.owner = new_owner()
        self.at_start = store.finished_keys()
        self.ran: set[str] = set()  # stored by this process
        self.seen_done: set[str] = set()  # found stored by others
        self.budget = max_cells
        self._payload: tuple[str, dict[str, Any]] | None = None

    # -- claiming ----------------------------------------------------------------------------

    def _claimed(self, tasks: list[_Task], on_done) -> Iterator[_Task]:
        """The tasks this process claims, claimed one by one as the executor asks for them."""
        for task in tasks:
            if self.budget is not None and self.budget <= 0:
                return
            key = task.key
            if key in self.at_start or key in self.ran or key in self.seen_done:
                continue
            if isinstance(task, EvalTask) and not self._model_ready(task):
                continue  # its train cell is not stored yet (held elsewhere, or left)
            state = self.store.claim(key, self.owner, lease=self.lease)
            if state == CLAIMED:
                if self.budget is not None:
                    self.budget -= 1
                yield task
            elif state == FINISHED:
                self.seen_done.add(key)
                on_done()

    def _model_ready(self, task: EvalTask) -> bool:
        if task.model_hash in self.checkpoints:
            return True
        key = task.train.key
        return key in self.at_start or key in self.ran or self.store.is_finished(key)

    def _jobs(self, evals: list[EvalTask], on_done) -> Iterator[tuple[EvalTask, dict[str, Any]]]:
        for task in self._claimed(evals, on_done):
            yield task, self._checkpoint(task)

    def _checkpoint(self, task: EvalTask) -> dict[str, Any]:
        if task.model_hash in self.checkpoints:
            return self.checkpoints[task.model_hash]
        key = task.train.key
        if self._payload is None or self._payload[0] != key:  # evals come grouped by model
            self._payload = (key, read_checkpoint(self.run_dir / "models" / f"{key}.pt"))
        return self._payload[1]

    # -- running -----------------------------------------------------------------------------

    def run(self, trains: list[TrainTask], evals: list[EvalTask], *, title: str,
            progress: bool, executor) -> None:
        total = len(trains) + len(evals)
        done = sum(t.key in self.at_start for t in trains) + sum(
            e.key in self.at_start for e in evals)
        keeper = _ClaimKeeper(self.store.path, self.owner, self.lease)
        keeper.start()
        try:
            with _progress(progress) as bar:
                bar_id = bar.add_task(title, total=total, completed=done, last="")

                def by_other() -> None:
                    bar.update(bar_id, advance=1, last="finished by another process")

                for task, out in executor.map_unordered(run_train_cell,
                                                        self._claimed(trains, by_other)):
                    _write_checkpoint(self.run_dir / "models" / f"{task.key}.pt",
                                      out.checkpoint)
                    self._store(task, "train", out)
                    bar.update(bar_id, advance=1,
                               last=f"trained {task.model} on {task.dataset}")

                while True:  # passes: a later pass sees the models others trained meanwhile
                    ran_before = len(self.ran) + len(self.seen_done)
                    for (task, _), out in executor.map_unordered(run_eval_cell,
                                                                 self._jobs(evals, by_other)):
                        if out.examples is not None:
                            _write_atomic(self.run_dir / "examples" / f"{task.key}.npz",
                                          out.examples)
                        self._store(task, "eval", out, per_sample=out.per_sample)
                        bar.update(bar_id, advance=1, last=f"{task.name} on "
                                   f"{task.train.model}/{task.train.dataset}")
                    if len(self.ran) + len(self.seen_done) == ran_before:
                        break
        finally:
            executor.close()
            keeper.stop()
            try:
                self.store.release_claims(self.owner)
            except SaliencyLabError as exc:  # not fatal: they expire, or a restart here sees
                warnings.warn(f"could not release this run's claims ({exc}); they expire "
                              f"in {self.lease:g} s", stacklevel=2)

    def _store(self, task: TrainTask | EvalTask, kind: str, out, **extra: Any) -> None:
        if self.store.write_cell(task.key, kind, task.describe(), out.rows,
                                 duration=out.seconds, worker=out.worker,
                                 status=out.status, note=out.note, **extra):
            self.ran.add(task.key)
        else:  # another process stored it first (it took the claim over after it expired)
            self.seen_done.add(task.key)

    # -- counting ----------------------------------------------------------------------------

    def summary(self, trains: list[TrainTask], evals: list[EvalTask],
                duplicates: int) -> RunSummary:
        stored = self.store.finished_keys()
        held = self.store.claims()  # live claims of other processes (ours are released)
        counts = {"run": 0, "skipped": 0, "others": 0, "held": 0, "left": 0}
        for task in [*trains, *evals]:
            key = task.key
            if key in self.ran:
                counts["run"] += 1
            elif key in self.at_start:
                counts["skipped"] += 1
            elif key in stored:
                counts["others"] += 1
            elif key in held or (isinstance(task, EvalTask) and task.train.key in held
                                 and task.model_hash not in self.checkpoints):
                counts["held"] += 1
            else:
                counts["left"] += 1
        return RunSummary(self.run_dir, len(trains) + len(evals), counts["run"],
                          counts["skipped"], counts["others"], counts["held"], counts["left"],
                          duplicates)


def _write_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    # write_checkpoint is atomic, but through one temporary name for everybody: go through a
    # name of this process, so two processes writing one checkpoint never mix their bytes.
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    write_checkpoint(part, payload)
    part.replace(path)


def _write_atomic(path: Path, data: bytes) -> None:
    # A temporary name of this process: two processes writing one file never mix their bytes.
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
