"""Benchmark cells: the units of work of a grid, each a pure function of its task.

A *train cell* trains one (design, process, model, training, seed) and returns its checkpoint as a
dict; an *eval cell* explains the test samples of one trained model with one method (optionally
with TSR) and scores the maps against the ground truth ([TSB] Section 5). Cells read nothing from
the run directory and write nothing to it: the driver stores what they return, so the same
functions run in-process, in a process pool or on Ray workers on other machines.

A cell's key is the hash of everything that determines its output, so a finished cell is never
recomputed and a changed setting never reuses a stale result.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from saliencylab.utils import make_generator, seed_everything, stable_hash


@dataclass(frozen=True)
class TrainTask:
    """One model to train."""

    dataset: str
    process: str
    model: str
    training: str
    seed: int
    data: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    sgt: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return "train-" + stable_hash(asdict(self))

    def describe(self) -> dict[str, Any]:
        """Flat columns for the results store."""
        return {"dataset": self.dataset, "process": self.process, "model": self.model,
                "training": self.training, "seed": self.seed}


@dataclass(frozen=True)
class EvalTask:
    """One (trained model, method) pair to explain and score."""

    train: TrainTask
    method: str
    tsr: bool = False
    method_params: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.method}+tsr" if self.tsr else self.method

    @property
    def key(self) -> str:
        return "eval-" + stable_hash({**asdict(self), "train": self.train.key})

    def describe(self) -> dict[str, Any]:
        return {**self.train.describe(), "method": self.label, "base_method": self.method,
                "tsr": self.tsr, "train_key": self.train.key}


@dataclass
class CellOutput:
    """What a cell returns to the driver."""

    rows: list[tuple[str, str, float]]
    seconds: float
    checkpoint: dict[str, Any] | None = None
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)
    examples: bytes | None = None


def _load_data(task: TrainTask):
    from saliencylab.data import load_synthetic

    return load_synthetic(task.dataset, task.process, seed=task.seed, **task.data)


def _procedure(task: TrainTask):
    if task.training == "traditional":
        from saliencylab.train import Traditional

        return Traditional()
    from saliencylab.train.saliency_guided import SaliencyGuided

    return SaliencyGuided(**task.sgt)


def run_train_cell(task: TrainTask) -> CellOutput:
    """Train one model; rows hold its accuracies and time, ``checkpoint`` its weights."""
    from saliencylab.models import build_model
    from saliencylab.train import TrainConfig, fit, make_checkpoint

    start = time.perf_counter()
    data = _load_data(task)
    seed_everything(task.seed)
    model = build_model(task.model, n_features=data.n_features, n_time=data.n_time,
                        n_classes=data.n_classes, **task.model_kwargs)
    config = TrainConfig(seed=task.seed, device="auto", **task.train)
    result = fit(model, data, config, _procedure(task), progress=False)
    checkpoint = make_checkpoint(result.model, data_config=data.config, train_config=config,
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


def run_eval_cell(job: tuple[EvalTask, dict[str, Any]]) -> CellOutput:
    """Explain ``evaluation.n_samples`` test samples and score them against the ground truth."""
    from saliencylab.explain import explain
    from saliencylab.metrics.groundtruth import evaluate_groundtruth
    from saliencylab.train import model_from_checkpoint
    from saliencylab.utils import resolve_device

    task, checkpoint = job
    start = time.perf_counter()
    data = _load_data(task.train)
    model, _ = model_from_checkpoint(checkpoint, resolve_device("auto"))
    n = min(task.evaluation.get("n_samples", 100), len(data.test.x))
    x, y, box = data.test.x[:n], data.test.y[:n], data.test.mask[:n]

    t0 = time.perf_counter()
    explanation = explain(model, x, y, method=task.method, seed=task.train.seed,
                          postprocess="tsb", tsr=True if task.tsr else None,
                          **task.method_params)
    saliency = explanation.attributions.detach().cpu()
    explain_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = evaluate_groundtruth(
        model, x, y, box, saliency, data.background,
        shared_background=task.evaluation.get("shared_background", False),
        generator=make_generator(task.train.seed + 7919),
        batch_size=task.evaluation.get("batch_size", 256),
    )
    rows = list(result.to_rows())
    rows += [("explain_seconds", "value", explain_seconds),
             ("eval_seconds", "value", time.perf_counter() - t0)]

    n_ex = min(task.evaluation.get("n_examples", 4), n)
    buf = io.BytesIO()
    np.savez_compressed(buf, x=x[:n_ex].numpy(), y=y[:n_ex].numpy(), mask=box[:n_ex].numpy(),
                        saliency=saliency[:n_ex].numpy())
    return CellOutput(rows=rows, seconds=time.perf_counter() - start,
                      per_sample=result.per_sample_arrays(), examples=buf.getvalue())
