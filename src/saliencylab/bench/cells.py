"""Cells: the units of work of every experiment, each a pure function of its task.

A *train cell* trains one (dataset, process, model, training, seed) and returns its checkpoint;
an *eval cell* explains some samples of one trained model with one method (optionally with TSR)
and scores the maps with a list of metrics through the one metric protocol
(:func:`saliencylab.metrics.score`): the [TSB] ground truth on synthetic data, the [OBJ] quality
metrics, the [CS] certification, localization on segmentation data. ``bench``, ``evaluate``,
``train`` and the certification experiment all run these two functions and nothing else, so
their results share one store schema and one report.

Cells read nothing from the run directory and write nothing to it: the driver
(:mod:`saliencylab.bench.runner`) stores what they return, so the same functions run
in-process, in a process pool or on Ray workers on other machines. A cell's key is the hash of
everything that determines its output, so a finished cell is never recomputed and a changed
setting never reuses a stale result.
"""

from __future__ import annotations

import io
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from saliencylab.bench.config import TRAININGS, source_of
from saliencylab.data import Dataset, load_dataset
from saliencylab.errors import ConfigError, NotApplicableError, UnknownNameError
from saliencylab.explain import explain
from saliencylab.metrics import MetricContext, make_explain_fn, score
from saliencylab.models import build_model_for
from saliencylab.runtime import blas_threads, tune_cpu_allocator
from saliencylab.train import (
    SaliencyGuided,
    Traditional,
    TrainConfig,
    fine_tune,
    fit,
    make_checkpoint,
    model_from_checkpoint,
)
from saliencylab.train.segmentation import Segmentation
from saliencylab.utils import model_device, resolve_device, seed_everything, stable_hash


@dataclass(frozen=True)
class TrainTask:
    """One model to train: a named data source (``saliencylab data list``), a model, a training
    procedure and a seed. ``data`` holds the source's options, ``data_dir`` its folder."""

    dataset: str
    process: str | None
    model: str
    training: str
    seed: int
    data: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    sgt: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None

    def __post_init__(self) -> None:
        if self.training not in TRAININGS:
            raise ConfigError(f"training must be one of {', '.join(TRAININGS)}, got "
                              f"{self.training!r}")
        # Names are case-insensitive: the task (and so its key) holds the canonical spelling.
        source = source_of(self.dataset, self.data_dir)
        object.__setattr__(self, "dataset", source.name)
        if self.process is not None and source.processes:
            accepted = {p.lower(): p for p in source.processes}
            if self.process.lower() not in accepted:
                raise UnknownNameError("process", self.process, source.processes)
            object.__setattr__(self, "process", accepted[self.process.lower()])

    @property
    def key(self) -> str:
        fields = asdict(self)
        if self.data_dir is not None:
            # The folder, not its spelling: "data", "./data" and its absolute path are one
            # folder, and the same relative name run from another directory is another one.
            fields["data_dir"] = os.path.realpath(self.data_dir)
        return "train-" + stable_hash(fields)

    def describe(self) -> dict[str, Any]:
        """Flat columns for the results store."""
        return {"dataset": self.dataset, "process": self.process, "model": self.model,
                "training": self.training, "seed": self.seed}

    def load_data(self) -> Dataset:
        return load_dataset(self.dataset, process=self.process, data_dir=self.data_dir,
                            seed=self.seed, **self.data)

    @classmethod
    def from_checkpoint(cls, info: dict[str, Any]) -> TrainTask:
        """The task that made a checkpoint: the one ``train`` and ``bench`` record, else one
        rebuilt from the dataset recipe (``data_spec``) or, for checkpoints written with
        ``save_checkpoint(..., data_config=data.config)``, from the loader's config."""
        if isinstance(info.get("task"), dict) and info["task"]:
            return cls(**info["task"])
        model = (info.get("model_config") or {}).get("name", "model")
        training = (info.get("procedure") or {}).get("name", "traditional")
        training = training if training in TRAININGS else "traditional"
        spec = info.get("data_spec") or {}
        if spec:
            return cls(spec["name"], spec.get("process"), model, training,
                       int(spec.get("seed", 0)), data=dict(spec.get("options") or {}),
                       data_dir=spec.get("data_dir"))
        config = dict(info.get("data_config") or {})
        if "design" in config:  # a SyntheticConfig
            design, process, seed = config.pop("design"), config.pop("process"), config.pop("seed")
            return cls(design, process, model, training, int(seed), data=config)
        if "name" in config:  # a UCRConfig
            name, folder, seed = config.pop("name"), config.pop("folder"), config.pop("seed")
            return cls(name, None, model, training, int(seed), data=config, data_dir=folder)
        raise ConfigError("the checkpoint records neither its training task nor its data; "
                          "pass --dataset (a name from `saliencylab data list`)")


def trained_models(run_dir: str | os.PathLike[str]) -> Iterator[tuple[TrainTask, nn.Module,
                                                                     Dataset]]:
    """The models a run trained (``RUN_DIR/models/*.pt``, in name order), each with its task and
    the data it was trained on, in eval mode (for probes and docs scripts over a run).

    Example::

        for task, model, data in trained_models("runs/tsb-table1"):
            print(task.dataset, accuracy(model, data.test.x, data.test.y))
    """
    from saliencylab.train.trainer import load_checkpoint

    for path in sorted((Path(run_dir) / "models").glob("*.pt")):
        model, info = load_checkpoint(path)
        task = TrainTask.from_checkpoint(info)
        yield task, model.eval(), task.load_data()


@dataclass(frozen=True)
class EvalTask:
    """One (trained model, method) pair to explain and score.

    ``evaluation`` holds ``n_samples``, ``split``, ``batch_size``, ``n_examples`` and
    ``postprocess``; ``metrics`` are names of the metric registry, ``metric_params`` their
    options. ``label`` names a method variant in the store (default ``method`` or
    ``method+tsr``); ``model_hash`` identifies a model that was not trained by this run (the
    checkpoint file given to ``evaluate``).
    """

    train: TrainTask
    method: str
    tsr: bool = False
    method_params: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    metric_params: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    model_hash: str | None = None

    @property
    def name(self) -> str:
        """The method column of the store."""
        if self.label:
            return self.label
        return f"{self.method}+tsr" if self.tsr else self.method

    @property
    def model_key(self) -> str:
        """What identifies the model this cell explains."""
        return self.model_hash or self.train.key

    @property
    def key(self) -> str:
        return "eval-" + stable_hash({**asdict(self), "train": self.train.key})

    def describe(self) -> dict[str, Any]:
        out = {**self.train.describe(), "method": self.name, "base_method": self.method,
               "tsr": self.tsr, "train_key": self.train.key, "model_key": self.model_key,
               "split": self.evaluation.get("split", "test"), "metrics": list(self.metrics)}
        if self.method == "tsb_random":  # [TSB] §4.3: which method the seed picked
            from saliencylab.explain.baselines import TSB_CANDIDATES, picked_method

            out["picked_method"] = picked_method(
                self.train.seed, self.method_params.get("candidates", TSB_CANDIDATES))
        return out


def computed_on() -> str:
    """Where a cell runs: ``host:pid``, plus ``:ray-node-ID`` inside a Ray worker (on one
    machine several Ray nodes share the host name)."""
    where = f"{socket.gethostname()}:{os.getpid()}"
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        where += f":ray-node-{ray.get_runtime_context().get_node_id()[:12]}"
    return where


@dataclass
class CellOutput:
    """What a cell returns to the driver."""

    rows: list[tuple[str, str, float]]
    seconds: float
    checkpoint: dict[str, Any] | None = None
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)
    examples: bytes | None = None
    worker: str = field(default_factory=computed_on)
    status: str = "finished"  # or "not_applicable": the method does not apply to the model
    note: str | None = None


def procedure_for(task: TrainTask, data: Dataset) -> Traditional | Segmentation | SaliencyGuided:
    """The training procedure of ``task`` on ``data``."""
    if task.training == "saliency_guided":
        if data.modality == "text":  # token ids: the [SGT-supp] text masking of valid tokens
            from saliencylab.train.text import text_saliency_guided

            return text_saliency_guided(data, **task.sgt)
        return SaliencyGuided(**task.sgt)
    # Traditional training of a segmenter: cross-entropy over every time step.
    if data.task == "segmentation":
        return Segmentation(loss=TrainConfig(**task.train).segmentation_loss)
    return Traditional()


def run_train_cell(task: TrainTask) -> CellOutput:
    """Train one model; rows hold its accuracies and time, ``checkpoint`` its weights and the
    task that made it (so ``evaluate`` and ``explain`` need the checkpoint file alone)."""
    tune_cpu_allocator()  # cells may run in pool or Ray workers: set it in each process
    start = time.perf_counter()
    data = task.load_data()
    seed_everything(task.seed)
    model = build_model_for(task.model, data, **task.model_kwargs)
    config = TrainConfig(seed=task.seed, device="auto", **task.train)
    result = fit(model, data, config, procedure_for(task, data), progress=False)
    if task.training == "fine_tuned":  # [SGT] supplement: SGT continued from the trained weights
        first = result
        sgt = procedure_for(replace(task, training="saliency_guided"), data)  # text: token masking
        result = fine_tune(result.model, data, config, sgt, progress=False)
        result.seconds += first.seconds
        result.epoch_seconds = [*first.epoch_seconds, *result.epoch_seconds]
    checkpoint = make_checkpoint(result.model, data_config=data.config, data_spec=data.spec,
                                 task=asdict(task), train_config=config,
                                 procedure=result.procedure, metrics=result.metrics())
    rows = [
        ("test_accuracy", "value", result.test_accuracy),
        ("val_accuracy", "value", result.val_accuracy),
        ("fit_to_interpret", "value", float(result.fit_to_interpret)),
        ("train_seconds", "value", result.seconds),
        ("epochs_run", "value", float(len(result.epoch_seconds))),
        ("epoch_seconds", "median", float(np.median(result.epoch_seconds))),
    ]
    return CellOutput(rows=rows, seconds=time.perf_counter() - start, checkpoint=checkpoint)


#: Method parameters that name a split of the cell's data instead of holding a tensor (a task
#: must stay hashable): ``learned_mask``'s ``distractors: train`` draws from the training split.
DATA_REFERENCES = ("distractors",)


def resolved_params(task: EvalTask, data: Dataset, device: torch.device) -> dict[str, Any]:
    """``task.method_params`` with split references (``"train"``, ...) replaced by tensors."""
    params = dict(task.method_params)
    for name in DATA_REFERENCES:
        ref = params.get(name)
        if isinstance(ref, str):
            if ref not in ("train", "val", "test"):
                raise ConfigError(f"{task.method}: {name} must name a split (train, val, test), "
                                  f"got {ref!r}")
            params[name] = getattr(data, ref).x.to(device)
    return params


def metric_context(data: Dataset, split: Any, model: nn.Module, task: EvalTask,
                   batch_size: int | None) -> MetricContext:
    """Everything the metrics may need about these samples, on the model's device."""
    device = model_device(model)
    postprocess = task.evaluation.get("postprocess", "tsb")
    params = {**resolved_params(task, data, device), **({"tsr": True} if task.tsr else {})}
    return MetricContext(
        explain_fn=make_explain_fn(task.method, seed=task.train.seed, postprocess=postprocess,
                                   **params),
        groundtruth=None if split.mask is None else split.mask.to(device),
        background=data.background if data.has_background else None,
        segments=split.y.to(device) if data.task == "segmentation" else None,
        valid=None if split.valid_mask is None else split.valid_mask.to(device),
        fill=float(data.train.x.float().mean()),
        distractors=data.train.x.to(device),
        batch_size=batch_size,
    )


def explain_targets(data: Dataset, split: Any, *, dominant: bool = False) -> torch.Tensor:
    """What an eval cell explains: the true label, or for a segmentation model the true class
    of every step inside a labelled segment (-1, "not explained", on "no class" steps and
    padding). [OBJ] §3.6 asks where the relevance of *class-specific* features lies; explaining
    the no-class steps too lets their relevance dominate the map (measured on the synthetic
    segmentation data: U-Time's GradCAM localizes 0.05 with them, 0.74 without).

    ``dominant`` (the localization metric's ``reference_quirks``, [OBJ]'s released code): each
    sample's most frequent labelled class, explained at every valid step (the class's logits
    summed over time)."""
    y = split.y
    if data.task != "segmentation":
        return y
    background = int(data.meta.get("background_label", 0))
    skip = torch.zeros_like(y, dtype=torch.bool) if split.valid_mask is None \
        else ~split.valid_mask
    if dominant:
        from saliencylab.metrics.localization import dominant_class

        y = dominant_class(y.masked_fill(skip, background), background)[:, None].expand_as(y)
        skip = skip | (y < 0)
    else:
        skip = skip | (y == background)
    return torch.where(skip, torch.full_like(y, -1), y)


def dominant_targets(task: EvalTask) -> bool:
    """Whether ``task`` scores localization as [OBJ]'s released code (``reference_quirks`` of a
    localization metric), so its maps explain each sample's dominant class."""
    from saliencylab.metrics.registry import get_metric

    return any(bool(opts.get("reference_quirks")) for name, opts in task.metric_params.items()
               if get_metric(name).category == "localization")


def run_eval_cell(job: tuple[EvalTask, dict[str, Any]]) -> CellOutput:
    """Explain ``evaluation.n_samples`` samples of ``evaluation.split`` (default test) and
    score the maps with ``task.metrics``."""
    task, checkpoint = job
    tune_cpu_allocator()
    start = time.perf_counter()
    data = task.train.load_data()
    model, _ = model_from_checkpoint(checkpoint, resolve_device("auto"))
    evaluation = task.evaluation
    part = getattr(data, evaluation.get("split", "test"))
    n = min(int(evaluation.get("n_samples", 100)), len(part))
    part = part.take(slice(0, n))
    batch_size = evaluation.get("batch_size")  # None: chunks sized by the memory budget

    device = model_device(model)  # the split stays on the CPU for the examples file
    x, y = part.x.to(device), part.y.to(device)
    # Text maps are zero on padding by the models' construction; explain's valid= is for series.
    valid = (None if part.valid_mask is None or data.modality == "text"
             else part.valid_mask.to(device))
    t0 = time.perf_counter()
    try:
        with blas_threads():
            targets = explain_targets(data, part, dominant=dominant_targets(task))
            explanation = explain(model, x, targets.to(device),
                                  method=task.method, seed=task.train.seed,
                                  postprocess=evaluation.get("postprocess", "tsb"),
                                  tsr=True if task.tsr else None, batch_size=batch_size,
                                  valid=valid, **resolved_params(task, data, device))
    except NotApplicableError as exc:  # e.g. GradCAM on a model without convolutions
        return CellOutput(rows=[], seconds=time.perf_counter() - start,
                          status="not_applicable", note=str(exc))
    saliency = explanation.attributions.detach()
    rows: list[tuple[str, str, float]] = [("explain_seconds", "value",
                                           time.perf_counter() - t0)]
    per_sample: dict[str, np.ndarray] = {}
    if task.metrics:
        context = metric_context(data, part, model, task, batch_size)
        with blas_threads():
            scores = score(model, x, y, saliency, task.metrics, context=context,
                           options=task.metric_params, seed=task.train.seed)
        rows += scores.rows()
        per_sample.update(scores.arrays())

    n_ex = min(int(evaluation.get("n_examples", 4)), n)
    mask = (part.mask[:n_ex] if part.mask is not None
            else torch.zeros(part.x[:n_ex].shape, dtype=torch.bool))
    buf = io.BytesIO()
    np.savez_compressed(buf, x=part.x[:n_ex].numpy(), y=part.y[:n_ex].numpy(),
                        mask=mask.numpy(), saliency=saliency[:n_ex].cpu().numpy())
    return CellOutput(rows=rows, seconds=time.perf_counter() - start,
                      per_sample=per_sample, examples=buf.getvalue())
