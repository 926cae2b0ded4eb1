"""The finding of [CS] Gupta, Saunshi, Yu, Lyu, Arora (NeurIPS 2022, §5) on data we ship.

[CS] learns masks ``M = upsample(sigmoid(W))`` against distractors and certifies them by
completeness (the kept cells preserve the label's probability) and soundness (a mask cannot
make a label more probable than the input itself supports). On CIFAR-10 (ResNet-164, gray fill)
more total-variation regularisation gave slightly lower completeness and much higher soundness:
lambda_TV 0 / .001 / .01 / .1 -> .92/.17, .91/.18, .83/.39, .77/.57.

:func:`run_certify` repeats the experiment as a grid of ordinary benchmark cells on

- scikit-learn's digits (the ``digits`` source: 8x8, 10 classes, standardised so gray = the
  mean = 0) with the [SGT] ``mnist_cnn``;
- the [TSB] ``Middle`` / ``Gaussian`` series with the [TSB] TCN (gray = the training mean),

with masks learned for lambda_TV in {0, 0.001, 0.01, 0.1} against distractors drawn from the
training split, next to Gradient x Input, SmoothGrad and a random map. Every method is one eval
cell scored with completeness and soundness (worst case over the predicted and the second most
likely label), the deletion and insertion games, once with gray fill and once with distractor
fill, and the Saliency Metric (gray fill). The rows land in ``RUN_DIR/results.sqlite`` like any
``bench`` run; ``RUN_DIR/report/index.html`` is the standard report, ``certify.md`` /
``certify.csv`` the completeness / soundness table next to the CIFAR-10 reference.

Example:
    >>> from saliencylab.experiments.certify import run_certify
    >>> index = run_certify("runs/certify", quick=True)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from saliencylab.bench.cells import EvalTask, TrainTask
from saliencylab.bench.paper_tables import CS_TABLE4
from saliencylab.bench.runner import run_tasks
from saliencylab.bench.store import ResultStore
from saliencylab.report.html import write_report

__all__ = ["LAMBDAS_TV", "CertifySettings", "certify_tasks", "run_certify"]

LAMBDAS_TV: tuple[float, ...] = tuple(CS_TABLE4["gray"])  # [CS] Table 4's columns
METRICS = ("completeness", "soundness", "deletion", "insertion", "saliency_metric")
FILLS = ("gray", "distractor")


@dataclass(frozen=True)
class CertifySettings:
    """Sizes of one :func:`run_certify` run (``quick()``: minutes on a laptop CPU)."""

    steps_image: int = 2000
    steps_series: int = 2000
    n_eval_image: int = 200
    n_eval_series: int = 50
    epochs_image: int = 60
    epochs_series: int = 20
    n_train_series: int = 1000
    n_distractors: int = 10  # K while learning masks [CS]
    lambda_l1: float = 1e-3  # [CS] CIFAR-10
    smoothgrad_samples: int = 50
    smoothgrad_noise: float = 0.15  # stdev as a fraction of the data's range (SmoothGrad paper)
    batch_size: int = 4096

    @classmethod
    def quick(cls) -> CertifySettings:
        return cls(steps_image=300, steps_series=200, n_eval_image=24, n_eval_series=12,
                   epochs_image=30, epochs_series=5, n_train_series=500, smoothgrad_samples=20)

    @classmethod
    def for_scale(cls, quick: bool) -> CertifySettings:
        """The quick sizes or the paper's, as the ``certify`` / ``certify-full`` presets pick."""
        return cls.quick() if quick else cls()


def _methods(settings: CertifySettings, steps: int, value_range: float) -> dict[str, tuple]:
    """Method label -> (method, parameters)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {
        f"learned_mask_tv{lam:g}": ("learned_mask", {
            "lambda_tv": lam, "lambda_l1": settings.lambda_l1, "steps": steps,
            "n_distractors": settings.n_distractors, "distractors": "train"})
        for lam in LAMBDAS_TV}
    out["gradient_x_input"] = ("gradient_x_input", {})
    out["smoothgrad"] = ("smoothgrad", {"n_samples": settings.smoothgrad_samples,
                                        "stdevs": settings.smoothgrad_noise * value_range})
    out["random"] = ("random", {})
    return out


def certify_tasks(settings: CertifySettings, seed: int = 0
                  ) -> tuple[list[TrainTask], list[EvalTask]]:
    """The experiment's train and eval cells (two datasets x methods x fills)."""
    trains = [
        TrainTask("digits", None, "mnist_cnn", "traditional", seed,
                  train={"epochs": settings.epochs_image, "batch_size": 64, "patience": 10}),
        TrainTask("Middle", "Gaussian", "tcn", "traditional", seed,
                  data={"n_train": settings.n_train_series},
                  train={"epochs": settings.epochs_series, "patience": 5}),
    ]
    sizes = {"digits": (settings.n_eval_image, settings.steps_image),
             "Middle": (settings.n_eval_series, settings.steps_series)}
    evals = []
    for train in trains:
        data = train.load_data()
        value_range = float(data.train.x.max() - data.train.x.min())
        n, steps = sizes[train.dataset]
        evaluation = {"n_samples": n, "split": "test", "postprocess": None,
                      "batch_size": settings.batch_size, "n_examples": 4}
        for label, (method, params) in _methods(settings, steps, value_range).items():
            for fill in FILLS:
                # The Saliency Metric crops and fills with a constant: gray cells only.
                metrics = METRICS if fill == "gray" else METRICS[:-1]
                options = {name: {"fill": fill} for name in ("certification", "deletion",
                                                               "insertion")}
                evals.append(EvalTask(train, method, False, params, evaluation, metrics,
                                      options, label=f"{label} ({fill})"))
    return trains, evals


def _summary(run_dir: Path) -> list[dict[str, Any]]:
    """Mean ± standard error of each metric per (dataset, method, fill), from the store."""
    rows = []
    with ResultStore(run_dir / "results.sqlite") as store:
        cells = store.cells_frame(kind="eval")
        for cell in cells.to_dict("records"):
            values = {(m, s): v for m, s, v in store.rows(cell["key"])}
            label, _, fill = cell["method"].rpartition(" (")
            row = {"dataset": cell["dataset"], "method": label, "fill": fill.rstrip(")")}
            for metric in METRICS:
                row[metric] = values.get((metric, "mean"), math.nan)
                row[f"{metric}_se"] = values.get((metric, "se"), math.nan)
            row["n"] = int(values.get(("completeness", "n"), 0))
            rows.append(row)
    return rows


def _markdown(rows: list[dict[str, Any]]) -> str:
    heads = ("completeness ↑", "soundness ↑", "deletion ↓", "insertion ↑", "saliency metric ↓")
    lines = ["| dataset | method | fill | " + " | ".join(heads) + " |",
             "|---|---|---|" + "---|" * len(heads)]
    for row in sorted(rows, key=lambda r: (r["dataset"], r["fill"], r["method"])):
        cells = ["–" if math.isnan(row[m]) else f"{row[m]:.3f} ± {row[m + '_se']:.3f}"
                 for m in METRICS]
        lines.append(f"| {row['dataset']} | {row['method']} | {row['fill']} | "
                     + " | ".join(cells) + " |")
    ref = ", ".join(f"TV {k:g}: {c:.2f} / {s:.2f}" for k, (c, s) in CS_TABLE4["gray"].items())
    lines.append(f"\n[CS] CIFAR-10 reference (ResNet-164, gray fill, completeness / soundness): "
                 f"{ref}.")
    return "\n".join(lines) + "\n"


def run_certify(run_dir: str | Path, *, quick: bool = True, seed: int = 0,
                settings: CertifySettings | None = None, progress: bool = False) -> Path:
    """Run (or resume) the [CS] experiment; returns the report page.

    Args:
        run_dir: the run directory (results store, checkpoints, ``certify.md``, ``report/``).
        quick: :meth:`CertifySettings.quick` (a few minutes on a 2-core CPU: 300 / 200 mask
            steps) instead of the paper's 2000 steps.
        seed: seeds the data, the models, the masks' distractor draws and the metrics.
        settings: explicit sizes (overrides ``quick``).
        progress: show a progress bar over the cells.
    """
    settings = settings or CertifySettings.for_scale(quick)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "settings.json").write_text(json.dumps({"quick": quick, "seed": seed,
                                                       **asdict(settings)}, indent=2))
    trains, evals = certify_tasks(settings, seed)
    run_tasks(run_dir, trains, evals, title="certify", progress=progress)
    rows = _summary(run_dir)
    pd.DataFrame(rows).to_csv(run_dir / "certify.csv", index=False)
    (run_dir / "certify.md").write_text(_markdown(rows))
    return write_report(run_dir)
