"""Run a benchmark grid: train cells, then eval cells, resumable, on any executor.

The driver (this module) is the only writer of the run directory::

    RUN_DIR/grid.yaml         the exact grid that ran
    RUN_DIR/results.sqlite    one row per (cell, metric, statistic), one transaction per cell
    RUN_DIR/models/KEY.pt     trained checkpoints (written before their cell's rows commit)
    RUN_DIR/examples/KEY.npz  a few saliency maps per eval cell, for the report

A restarted run skips every cell the store marks finished, so killing a run (even with SIGKILL)
loses at most the cells in flight.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from saliencylab.bench.config import GridConfig, cell_metrics, dump_config
from saliencylab.bench.executors import make_executor
from saliencylab.bench.store import ResultStore
from saliencylab.train import read_checkpoint, write_checkpoint


def train_tasks(grid: GridConfig) -> list[TrainTask]:
    """Every model the grid trains, in a stable order: datasets x processes (for the sources
    that take one) x models x trainings x seeds."""
    out = []
    for dataset in grid.dataset_names():
        for process in grid.processes_for(dataset):
            for model in grid.models:
                for training in grid.training:
                    for seed in grid.seeds:
                        out.append(TrainTask(
                            dataset=dataset, process=process, model=model, training=training,
                            seed=seed, data=grid.data_options(dataset),
                            data_dir=grid.data_dir_for(dataset),
                            model_kwargs=dict(grid.model_kwargs.get(model, {})),
                            train=grid.train.model_dump(),
                            sgt=grid.sgt.for_dataset(dataset)
                            if training == "saliency_guided" else {},
                        ))
    return out


def eval_tasks(grid: GridConfig, trained: list[TrainTask]) -> list[EvalTask]:
    """Every (model, method[, TSR]) pair of the grid, each with the metrics that apply to its
    data (the [TSB] ground truth on synthetic sources, plus the grid's ``metrics``)."""
    evaluation = grid.evaluation.model_dump()
    tasks = []
    for train in trained:
        metrics = cell_metrics(train.dataset, grid.metrics, data_dir=train.data_dir)
        metric_params = {k: v for k, v in grid.metric_params.items()} if metrics else {}
        for label in grid.all_methods():
            method, params = grid.method_spec(label)
            for tsr in (False, True) if label in grid.tsr else (False,):
                tasks.append(EvalTask(train, method, tsr, params, evaluation, metrics,
                                      metric_params, label=None if label == method else
                                      (f"{label}+tsr" if tsr else label)))
    return tasks


@dataclass
class RunSummary:
    run_dir: Path
    cells_total: int
    cells_run: int
    cells_skipped: int


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        disable=not enabled,
    )


def run_grid(grid: GridConfig, run_dir: str | Path, **options: Any) -> RunSummary:
    """Run (or resume) ``grid`` in ``run_dir``; returns how many cells ran and were skipped.

    ``options`` are those of :func:`run_tasks`: ``executor``, ``workers``, ``address``,
    ``progress``, ``max_cells``.
    """
    grid.validate_names()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(grid, run_dir / "grid.yaml")
    trains = train_tasks(grid)
    return run_tasks(run_dir, trains, eval_tasks(grid, trains), title=f"bench {grid.name}",
                     **options)


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
) -> RunSummary:
    """Run the train cells, then the eval cells, skipping every cell the store holds.

    The one driver of every experiment (``bench``, ``evaluate``, the certification). An eval
    cell explains the model its ``train`` task trained in this run directory, or, when its
    ``model_hash`` is set, ``checkpoints[model_hash]`` (a checkpoint given from outside).

    Args:
        executor: ``"local"`` (in-process, or a process pool when ``workers`` > 1) or ``"ray"``.
        address: Ray cluster address (``None`` starts a local Ray instance).
        max_cells: stop after this many newly run cells (for smoke tests and time-boxed runs).
    """
    run_dir = Path(run_dir)
    (run_dir / "models").mkdir(parents=True, exist_ok=True)
    (run_dir / "examples").mkdir(parents=True, exist_ok=True)
    checkpoints = checkpoints or {}
    store = ResultStore(run_dir / "results.sqlite")
    done = store.finished_keys()
    total = len(trains) + len(evals)
    skipped = sum(t.key in done for t in trains) + sum(e.key in done for e in evals)
    ran = 0
    budget = max_cells if max_cells is not None else total

    kwargs: dict[str, Any] = {"workers": workers} if executor == "local" else {"address": address}
    pool = make_executor(executor, **kwargs)
    try:
        with _progress(progress) as bar:
            bar_id = bar.add_task(title, total=total, completed=skipped, last="")
            pending_train = [t for t in trains if t.key not in done][:budget]
            for task, out in pool.map_unordered(run_train_cell, pending_train):
                write_checkpoint(run_dir / "models" / f"{task.key}.pt", out.checkpoint)
                store.write_cell(task.key, "train", task.describe(), out.rows,
                                 duration=out.seconds)
                ran += 1
                bar.update(bar_id, advance=1, last=f"trained {task.model} on {task.dataset}")
            budget -= len(pending_train)

            done = store.finished_keys()
            pending_eval = [e for e in evals if e.key not in done
                            and (e.model_hash in checkpoints or e.train.key in done)]
            pending_eval = pending_eval[: max(budget, 0)]
            jobs = [(e, checkpoints[e.model_hash] if e.model_hash in checkpoints
                     else _load_payload(run_dir, e.train.key)) for e in pending_eval]
            for (task, _), out in pool.map_unordered(run_eval_cell, jobs):
                if out.examples is not None:
                    _write_atomic(run_dir / "examples" / f"{task.key}.npz", out.examples)
                store.write_cell(task.key, "eval", task.describe(), out.rows,
                                 duration=out.seconds, per_sample=out.per_sample)
                ran += 1
                bar.update(bar_id, advance=1,
                           last=f"{task.name} on {task.train.model}/{task.train.dataset}")
    finally:
        pool.close()
        store.close()
    return RunSummary(run_dir, total, ran, skipped)


def _load_payload(run_dir: Path, train_key: str) -> dict[str, Any]:
    return read_checkpoint(run_dir / "models" / f"{train_key}.pt")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
