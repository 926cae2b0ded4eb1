"""From a grid to its cells, checked before anything runs: a typo in a method parameter must
not surface after an hour of training.

:func:`train_tasks` and :func:`eval_tasks` expand a grid into its cells (in a stable order).

:func:`check_grid` resolves every name (datasets, processes, models, methods, metrics), loads
every dataset with its options (generated data is cached, so the run reuses it), builds every
model for its data without training it, constructs each training procedure, and explains and
scores two samples with every method and metric on an untrained model of each model kind — so
the parameters of methods and metrics are checked by the code that will use them. It returns the
expanded cells (:class:`GridPlan`), which ``saliencylab bench --check`` prints.

Example:
    >>> from saliencylab.bench.config import load_config
    >>> plan = check_grid(load_config(preset="quick"), dry_run=False)  # doctest: +SKIP
    >>> len(plan.trains), len(plan.evals)  # doctest: +SKIP
    (8, 32)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from saliencylab.bench.cells import (
    EvalTask,
    TrainTask,
    dominant_targets,
    explain_targets,
    metric_context,
    procedure_for,
    resolved_params,
)
from saliencylab.bench.config import GridConfig, cell_metrics
from saliencylab.errors import ConfigError, NotApplicableError, SaliencyLabError, prefixed
from saliencylab.explain import explain
from saliencylab.metrics import score
from saliencylab.models import build_model_for
from saliencylab.train import TrainConfig

__all__ = ["GridPlan", "check_grid", "eval_tasks", "train_tasks"]

#: Samples explained and scored per (model kind, method) by the dry run.
DRY_RUN_SAMPLES = 2


@dataclass
class GridPlan:
    """The cells a checked grid expands to."""

    grid: GridConfig
    trains: list[TrainTask]
    evals: list[EvalTask]

    def rows(self) -> list[dict[str, Any]]:
        """One row per train cell with its eval cells' methods, for printing."""
        methods: dict[str, list[str]] = {}
        for e in self.evals:
            methods.setdefault(e.train.key, []).append(e.name)
        return [{**t.describe(), "methods": ", ".join(methods.get(t.key, []))}
                for t in self.trains]


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
                            train=grid.train.model_dump(exclude_none=True),
                            sgt=grid.sgt.for_dataset(dataset, model)
                            if training in ("saliency_guided", "fine_tuned") else {},
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


def check_grid(grid: GridConfig, *, dry_run: bool = True) -> GridPlan:
    """Check everything ``grid`` will use; returns its cells. Raises the first problem found
    (a :class:`~saliencylab.errors.SaliencyLabError` naming the dataset, model or method).

    Args:
        dry_run: also explain and score two samples per (model, method) on untrained models.
    """
    grid.validate_names()
    trains = train_tasks(grid)
    evals = eval_tasks(grid, trains)
    seen: set[tuple[str, str | None]] = set()
    dry: dict[str, TrainTask] = {}  # one train task per model, its data first in the grid
    for task in trains:
        where = f"dataset {task.dataset}" + (f" / {task.process}" if task.process else "")
        if (task.dataset, task.process) not in seen:
            seen.add((task.dataset, task.process))
            try:
                data = task.load_data()
            except SaliencyLabError as exc:
                raise prefixed(exc, where) from None
        try:
            TrainConfig(seed=task.seed, **task.train)
            procedure_for(task, data)
            build_model_for(task.model, data, **task.model_kwargs)
        except SaliencyLabError as exc:
            raise prefixed(exc, f"{where}, model {task.model}") from None
        dry.setdefault(task.model, task)
    if dry_run:
        for task in dry.values():
            _dry_run(task, [e for e in evals if e.train.key == task.key])
    return GridPlan(grid, trains, evals)


def _dry_run(task: TrainTask, evals: list[EvalTask]) -> None:
    """Explain and score a couple of samples with an untrained model of ``task``."""
    data = task.load_data()
    torch.manual_seed(0)
    model = build_model_for(task.model, data, **task.model_kwargs).eval()
    part = data.test.take(slice(0, DRY_RUN_SAMPLES))
    x, y = part.x, part.y
    for e in {(e.method, repr(e.method_params), e.metrics): e for e in evals}.values():
        where = f"method {e.name} on {task.model} / {task.dataset}"
        if e.method == "learned_mask":  # its parameters are checked; its 2000 steps are not run
            e = replace(e, method_params={**e.method_params, "steps": 1})
        try:
            params = resolved_params(e, data, torch.device("cpu"))
            targets = explain_targets(data, part, dominant=dominant_targets(e))
            maps = explain(model, x, targets, e.method, seed=task.seed,
                           postprocess=e.evaluation.get("postprocess", "tsb"),
                           # TSR takes no grid parameters; text maps skip padding
                           valid=None if data.modality == "text" else part.valid_mask,
                           **params).attributions.detach()
        except NotApplicableError:  # the run records the cell as not applicable
            continue
        except SaliencyLabError as exc:
            raise prefixed(exc, where) from None
        if not e.metrics:
            continue
        try:
            context = metric_context(data, part, model, e, e.evaluation.get("batch_size"))
            score(model, x, y, maps, e.metrics, context=context, options=e.metric_params,
                  seed=task.seed)
        except SaliencyLabError as exc:
            raise prefixed(exc, f"metrics of {where}") from None
        except (RuntimeError, ValueError, TypeError) as exc:  # a bad option reaching torch
            raise ConfigError(f"metrics of {where}: {type(exc).__name__}: {exc}") from None
