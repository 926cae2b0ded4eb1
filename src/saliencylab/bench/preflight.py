"""The whole grid checked before anything runs: a typo in a method parameter must not surface
after an hour of training.

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
    explain_targets,
    metric_context,
    procedure_for,
    resolved_params,
)
from saliencylab.bench.config import GridConfig
from saliencylab.errors import ConfigError, SaliencyLabError, prefixed
from saliencylab.explain import explain
from saliencylab.metrics import score
from saliencylab.models import build_model_for
from saliencylab.train import TrainConfig

__all__ = ["GridPlan", "check_grid"]

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


def check_grid(grid: GridConfig, *, dry_run: bool = True) -> GridPlan:
    """Check everything ``grid`` will use; returns its cells. Raises the first problem found
    (a :class:`~saliencylab.errors.SaliencyLabError` naming the dataset, model or method).

    Args:
        dry_run: also explain and score two samples per (model, method) on untrained models.
    """
    from saliencylab.bench.runner import eval_tasks, train_tasks  # the runner imports us

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
            maps = explain(model, x, explain_targets(data, part), e.method, seed=task.seed,
                           postprocess=e.evaluation.get("postprocess", "tsb"),
                           valid=part.valid_mask,  # TSR takes no grid parameters
                           **params).attributions.detach()
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
