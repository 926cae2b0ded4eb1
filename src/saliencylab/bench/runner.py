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

import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from saliencylab.bench.cells import (
    UCR_PROCESS,
    EvalTask,
    TrainTask,
    run_eval_cell,
    run_train_cell,
)
from saliencylab.bench.config import GridConfig, dump_config
from saliencylab.bench.executors import make_executor
from saliencylab.bench.store import ResultStore
from saliencylab.train import write_checkpoint


def train_tasks(grid: GridConfig) -> list[TrainTask]:
    """Every model the grid trains, in a stable order: synthetic designs x processes, then the
    UCR datasets (``process`` = ``"UCR"``, the ``data`` overrides do not apply to them)."""
    sources = [(design, process, dict(grid.data)) for design in grid.datasets
               for process in grid.processes]
    sources += [(name, UCR_PROCESS, {}) for name in grid.ucr]
    return [
        TrainTask(
            dataset=dataset, process=process, model=model, training=training, seed=seed,
            data=data, model_kwargs=dict(grid.model_kwargs.get(model, {})),
            train=grid.train.model_dump(),
            sgt=grid.sgt.for_dataset(dataset) if training == "saliency_guided" else {},
        )
        for dataset, process, data in sources
        for model in grid.models
        for training in grid.training
        for seed in grid.seeds
    ]


def eval_tasks(grid: GridConfig, trained: list[TrainTask]) -> list[EvalTask]:
    """Every (model, method[, TSR]) pair of the grid, each with the grid's quality metrics."""
    evaluation = grid.evaluation.model_dump()
    metrics = tuple(grid.quality_metrics())
    metric_params = dict(grid.metric_params) if metrics else {}
    tasks = []
    for train in trained:
        for method in grid.all_methods():
            params = dict(grid.method_params.get(method, {}))
            for tsr in (False, True) if method in grid.tsr else (False,):
                tasks.append(EvalTask(train, method, tsr, params, evaluation, metrics,
                                      metric_params))
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


def run_grid(
    grid: GridConfig,
    run_dir: str | Path,
    *,
    executor: str = "local",
    workers: int = 0,
    address: str | None = None,
    progress: bool = True,
    max_cells: int | None = None,
) -> RunSummary:
    """Run (or resume) ``grid`` in ``run_dir``; returns how many cells ran and were skipped.

    Args:
        executor: ``"local"`` (in-process, or a process pool when ``workers`` > 1) or ``"ray"``.
        address: Ray cluster address (``None`` starts a local Ray instance).
        max_cells: stop after this many newly run cells (for smoke tests and time-boxed runs).
    """
    grid.validate_names()
    run_dir = Path(run_dir)
    (run_dir / "models").mkdir(parents=True, exist_ok=True)
    (run_dir / "examples").mkdir(parents=True, exist_ok=True)
    dump_config(grid, run_dir / "grid.yaml")
    store = ResultStore(run_dir / "results.sqlite")
    done = store.finished_keys()

    trains = train_tasks(grid)
    evals = eval_tasks(grid, trains)
    total = len(trains) + len(evals)
    skipped = sum(t.key in done for t in trains) + sum(e.key in done for e in evals)
    ran = 0
    budget = max_cells if max_cells is not None else total

    kwargs: dict[str, Any] = {"workers": workers} if executor == "local" else {"address": address}
    pool = make_executor(executor, **kwargs)
    try:
        with _progress(progress) as bar:
            bar_id = bar.add_task(f"bench {grid.name}", total=total, completed=skipped, last="")
            pending_train = [t for t in trains if t.key not in done][:budget]
            for task, out in pool.map_unordered(run_train_cell, pending_train):
                write_checkpoint(run_dir / "models" / f"{task.key}.pt", out.checkpoint)
                store.write_cell(task.key, "train", task.describe(), out.rows,
                                 duration=out.seconds)
                ran += 1
                bar.update(bar_id, advance=1, last=f"trained {task.model} on {task.dataset}")
            budget -= len(pending_train)

            done = store.finished_keys()
            pending_eval = [e for e in evals if e.key not in done and e.train.key in done]
            pending_eval = pending_eval[: max(budget, 0)]
            jobs = [(e, _load_payload(run_dir, e.train.key)) for e in pending_eval]
            for (task, _), out in pool.map_unordered(run_eval_cell, jobs):
                if out.examples is not None:
                    _write_atomic(run_dir / "examples" / f"{task.key}.npz", out.examples)
                store.write_cell(task.key, "eval", task.describe(), out.rows,
                                 duration=out.seconds, per_sample=out.per_sample)
                ran += 1
                bar.update(bar_id, advance=1,
                           last=f"{task.label} on {task.train.model}/{task.train.dataset}")
    finally:
        pool.close()
    return RunSummary(run_dir, total, ran, skipped)


def _load_payload(run_dir: Path, train_key: str) -> dict[str, Any]:
    return torch.load(run_dir / "models" / f"{train_key}.pt", map_location="cpu",
                      weights_only=False)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
