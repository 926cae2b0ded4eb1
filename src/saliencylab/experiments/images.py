"""The image experiments of [SGT] (Ismail, Corrada Bravo, Feizi, NeurIPS 2021, Section 5.1;
supplement "Saliency Guided Training for Images", Figures 1-4, Tables 1-2), with the [CS]
certification (Gupta et al., NeurIPS 2022) on the same models.

:func:`run_images` trains the [SGT] MNIST CNN three ways (traditional, saliency guided with
k = 50 %, lambda = 1 as in [SGT] supplement Table 1, and traditional then fine-tuned with
saliency guided training) and explains each with Gradient, Integrated Gradients, SmoothGrad and
a random map. Every (model, method) is one ordinary eval cell of the benchmark, scored with

* the accuracy-drop test (``accuracy_drop``: top 10..90 % pixels removed, IID = each image's
  background, black for digits; OOD = the training mean pixel), and
* in a second cell on fewer samples (labelled ``... (certify)``), the [CS] certification
  (completeness, soundness), the deletion / insertion games (gray fill), insertion into the
  blurred image and the Saliency Metric, and the [OBJ] quality metrics defined for images
  (inter-class sensitivity, robustness; sanity on images of at least 11 x 11 pixels);

then, for the methods in ``roar_methods``, the ROAR variant (Hooker et al., NeurIPS 2019):
remove the same pixels of every training, validation and test image, replace them with the
mean, retrain a fresh model per fraction and measure its test accuracy. ROAR cells are stored in
the same results store (kind ``roar``), so a rerun skips them too. The areas under the curves
form [SGT] supplement Table 2 (traditional / saliency guided / fine-tuned; smaller is better);
``RUN_DIR/report/index.html`` shows the curves, the AUC table, the maps side by side (scaled per
sample to [-1, 1], [SGT] supplement Figure 1) and the gradient distributions.

``ImagesSettings.quick()`` uses scikit-learn's 8 x 8 digits (bundled) and runs in minutes on a
2-core CPU (``saliencylab bench --preset images-quick``); ``ImagesSettings()`` is the full MNIST
experiment (``saliencylab bench --preset mnist --data-dir DIR``, DIR holding the IDX files).

Example:
    >>> from saliencylab.experiments.images import run_images, ImagesSettings
    >>> page = run_images("runs/images-quick", ImagesSettings.quick())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from saliencylab.bench.cells import EvalTask, TrainTask
from saliencylab.bench.config import SGTSettings
from saliencylab.bench.paper_tables import SGT_SUPP_AUC
from saliencylab.bench.runner import run_tasks
from saliencylab.bench.store import ResultStore
from saliencylab.data import Dataset, Split
from saliencylab.errors import ConfigError
from saliencylab.explain import explain
from saliencylab.metrics.accuracy_drop import DROP_FRACTIONS, roar_curve
from saliencylab.models import build_model_for
from saliencylab.report.html import write_report
from saliencylab.train import Traditional, TrainConfig, fit, read_checkpoint
from saliencylab.train.trainer import model_from_checkpoint
from saliencylab.utils import stable_hash

__all__ = ["IMAGE_TRAININGS", "ImagesSettings", "image_tasks", "run_images", "run_roar"]

IMAGE_TRAININGS: tuple[str, ...] = ("traditional", "saliency_guided", "fine_tuned")
METHODS: tuple[str, ...] = ("random", "gradient", "integrated_gradients", "smoothgrad")
CERTIFY_METRICS: tuple[str, ...] = ("completeness", "soundness", "deletion", "insertion",
                                    "insertion_blur", "saliency_metric")
#: The quality metrics of [OBJ] defined for images; sanity compares maps by SSIM, whose 11-pixel
#: window needs images of at least 11 x 11 (MNIST, not the 8 x 8 digits).
QUALITY_METRICS: tuple[str, ...] = ("inter_class_sensitivity", "robustness")
CERTIFY_SUFFIX = " (certify)"


@dataclass(frozen=True)
class ImagesSettings:
    """Sizes of one :func:`run_images` run (``quick()``: minutes on a 2-core CPU)."""

    dataset: str = "mnist"
    data_dir: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    model: str = "mnist_cnn"
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 10
    n_eval: int = 1000
    n_certify: int = 100
    n_examples: int = 8
    ig_steps: int = 50
    smoothgrad_samples: int = 50
    smoothgrad_noise: float = 0.15  # stdev as a fraction of the data's range (SmoothGrad paper)
    roar_methods: tuple[str, ...] = METHODS
    roar_fractions: tuple[float, ...] = DROP_FRACTIONS
    roar_epochs: int = 20
    roar_batch_size: int = 128
    certify: bool = True
    seed: int = 0

    @classmethod
    def quick(cls) -> ImagesSettings:
        """scikit-learn's digits (8 x 8, bundled): a few minutes on a 2-core CPU."""
        return cls(dataset="digits", epochs=15, batch_size=128, lr=2e-3, patience=5,
                   n_eval=397, n_certify=60, ig_steps=32, smoothgrad_samples=20,
                   roar_epochs=8, roar_batch_size=256)

    @classmethod
    def mnist_small(cls, data_dir: str | Path) -> ImagesSettings:
        """MNIST (the IDX files in ``data_dir``) at a laptop scale: the first 12000 training
        images (10000 to train, 2000 to validate), all 10000 test images for accuracy, 500
        explained, a few epochs; ROAR retrains for Gradient and the random ranking only."""
        return cls(dataset="mnist", data_dir=str(data_dir),
                   dataset_options={"n_train": 12000, "n_val": 2000}, epochs=6, patience=3,
                   n_eval=500, n_certify=50, ig_steps=32, smoothgrad_samples=20,
                   roar_methods=("random", "gradient"), roar_epochs=2)

    @classmethod
    def of_run(cls, run_dir: str | Path) -> ImagesSettings:
        """The settings a :func:`run_images` run recorded in ``run_dir/settings.json``."""
        raw = json.loads((Path(run_dir) / "settings.json").read_text())
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})

    @classmethod
    def for_preset(cls, preset: str, data_dir: str | Path | None = None) -> ImagesSettings:
        """The settings of an image experiment preset (``images-quick``, ``mnist-small``,
        ``mnist``); the MNIST ones need ``data_dir``."""
        if preset == "images-quick":
            return cls.quick()
        if data_dir is None:
            raise ConfigError(f"preset {preset} reads MNIST: pass --data-dir DIR with the IDX "
                              "files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte, "
                              "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)")
        if preset == "mnist-small":
            return cls.mnist_small(data_dir)
        return cls(dataset="mnist", data_dir=str(data_dir))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.roar_methods) - set(METHODS))
        if unknown:
            raise ConfigError(f"roar_methods must be among {', '.join(METHODS)}, got {unknown}")
        for name in ("epochs", "batch_size", "patience", "n_eval", "n_certify", "roar_epochs",
                     "roar_batch_size", "ig_steps", "smoothgrad_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")

    def train_settings(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                "patience": self.patience, "min_test_accuracy": 0.9}


def _method_params(settings: ImagesSettings, value_range: float) -> dict[str, dict[str, Any]]:
    # Signed gradients, as [SGT] draws them (scaled to [-1, 1]); the test ranks |map| anyway.
    return {"random": {}, "gradient": {"abs": False},
            "integrated_gradients": {"n_steps": settings.ig_steps},
            "smoothgrad": {"n_samples": settings.smoothgrad_samples,
                           "stdevs": settings.smoothgrad_noise * value_range}}


def image_tasks(settings: ImagesSettings) -> tuple[list[TrainTask], list[EvalTask]]:
    """The experiment's train cells (three trainings) and eval cells (methods x metric sets)."""
    sgt = SGTSettings().for_dataset(settings.dataset)  # k = 0.5, lambda = 1 ([SGT] Table 1)
    trains = [TrainTask(settings.dataset, None, settings.model, training, settings.seed,
                        data=dict(settings.dataset_options), train=settings.train_settings(),
                        sgt=sgt if training != "traditional" else {},
                        data_dir=settings.data_dir)
              for training in IMAGE_TRAININGS]
    data = trains[0].load_data()
    if data.modality != "image":
        raise ConfigError(f"the image experiment needs image data; {settings.dataset} is "
                          f"{data.modality}")
    value_range = float(data.train.x.max() - data.train.x.min())
    params = _method_params(settings, value_range)
    quality = (("sanity",) if min(data.input_shape[1:]) >= 11 else ()) + QUALITY_METRICS
    drop = {"n_samples": settings.n_eval, "split": "test", "postprocess": None,
            "batch_size": 512, "n_examples": settings.n_examples}
    cert = {**drop, "n_samples": settings.n_certify, "n_examples": 1}
    evals = []
    for train in trains:
        for method in METHODS:
            evals.append(EvalTask(train, method, False, params[method], drop,
                                  ("accuracy_drop_iid", "accuracy_drop_ood"), {}))
            if settings.certify:
                evals.append(EvalTask(train, method, False, params[method], cert,
                                      CERTIFY_METRICS + quality, {},
                                      label=method + CERTIFY_SUFFIX))
    return trains, evals


# ---------------------------------------------------------------------------------------------
# ROAR


def _maps(model: torch.nn.Module, split: Split, method: str, params: dict[str, Any],
          seed: int) -> torch.Tensor:
    return explain(model, split.x, split.y, method=method, seed=seed, postprocess=None,
                   batch_size=512, **params).attributions.detach()


def _roar_train_fn(task: TrainTask, data: Dataset, settings: ImagesSettings):
    config = TrainConfig(epochs=settings.roar_epochs, batch_size=settings.roar_batch_size,
                         lr=settings.lr, patience=settings.roar_epochs, seed=task.seed,
                         device="cpu")

    def train_fn(xt, yt, xv, yv):
        masked = Dataset(config={"roar": True}, train=Split(xt, yt), val=Split(xv, yv),
                         test=Split(xv[:1], yv[:1]), meta=data.meta, modality="image")
        model = build_model_for(task.model, data, seed=task.seed, **task.model_kwargs)
        return fit(model, masked, config, Traditional(), progress=False).model

    return train_fn


def run_roar(run_dir: str | Path, evals: list[EvalTask], settings: ImagesSettings, *,
             progress: bool = False) -> int:
    """ROAR for the accuracy-drop eval cells of ``settings.roar_methods``; returns the number
    of cells computed (stored ones are skipped). Each is stored as a ``roar`` cell."""
    from rich.progress import track

    run_dir = Path(run_dir)
    todo = [e for e in evals if e.method in settings.roar_methods and e.label is None]
    done = 0
    with ResultStore(run_dir / "results.sqlite") as store:
        for task in track(todo, description=f"ROAR ({len(settings.roar_fractions)} retrainings "
                          "per cell)", disable=not progress):
            key = "roar-" + stable_hash({"eval": task.key,
                                         "fractions": list(settings.roar_fractions),
                                         "epochs": settings.roar_epochs,
                                         "batch_size": settings.roar_batch_size,
                                         "lr": settings.lr})
            if store.is_finished(key):
                continue
            start = time.perf_counter()
            data = task.train.load_data()
            model, _ = model_from_checkpoint(
                read_checkpoint(run_dir / "models" / f"{task.train.key}.pt"), "cpu")
            splits = [(s.x, s.y, _maps(model, s, task.method, task.method_params,
                                       task.train.seed))
                      for s in (data.train, data.val, data.test)]
            fill = data.meta.get("channel_mean", float(data.train.x.mean()))
            result = roar_curve(_roar_train_fn(task.train, data, settings), *splits, fill=fill,
                                fractions=settings.roar_fractions)
            store.write_cell(key, "roar", {**task.describe(), "roar_of": task.key},
                             result.rows(), duration=time.perf_counter() - start)
            done += 1
    return done


# ---------------------------------------------------------------------------------------------
# Gradient distributions over the test set ([SGT] supplement Figure 1)


def _gradient_values(run_dir: Path, trains: list[TrainTask], n: int) -> None:
    """Gradients of the first ``n`` test images of each model, scaled per sample to [-1, 1],
    saved as ``RUN_DIR/images_gradients.npz`` for the report's box plots."""
    out: dict[str, np.ndarray] = {}
    for task in trains:
        data = task.load_data()
        model, _ = model_from_checkpoint(
            read_checkpoint(run_dir / "models" / f"{task.key}.pt"), "cpu")
        part = data.test.take(slice(0, n))
        g = _maps(model, part, "gradient", {"abs": False}, task.seed).flatten(1)
        scale = g.abs().amax(1, keepdim=True).clamp_min(1e-12)
        out[task.training] = (g / scale).numpy().astype(np.float32)
    np.savez_compressed(run_dir / "images_gradients.npz", **out)


# ---------------------------------------------------------------------------------------------
# Tables


def latest_cells(store: ResultStore, kind: str, keys: set[str] | None = None,
                 key_column: str = "key") -> list[dict[str, Any]]:
    """The stored cells of ``kind`` (only those whose ``key_column`` is in ``keys``, when
    given), the most recently finished one per (training, method): a run directory that ran
    older settings keeps their cells, and the newest measurement is the one reported."""
    cells = store.cells_frame(kind=kind)
    if cells.empty:
        return []
    if keys is not None:
        cells = cells[cells[key_column].isin(keys)]
    cells = cells.sort_values("finished").drop_duplicates(["training", "method"], keep="last")
    return cells.to_dict("records")


def auc_table(run_dir: str | Path, evals: list[EvalTask] | None = None) -> pd.DataFrame:
    """AUC of the accuracy-drop curves per (training, method) and replacement, from the store:
    columns ``training, method, iid, ood, roar`` (% x %, smaller is better). ``evals``: only
    these eval cells (and their ROAR cells); default the latest cell of each pair."""
    rows: dict[tuple[str, str], dict[str, float]] = {}
    keys = None if evals is None else {e.key for e in evals}
    with ResultStore(Path(run_dir) / "results.sqlite") as store:
        for kind, metrics in (("eval", ("iid", "ood")), ("roar", ("roar",))):
            for cell in latest_cells(store, kind, keys, "key" if kind == "eval" else "roar_of"):
                if kind == "eval" and cell["method"].endswith(CERTIFY_SUFFIX):
                    continue
                values = {(m, s): v for m, s, v in store.rows(cell["key"])}
                row = rows.setdefault((cell["training"], cell["method"]), {})
                for r in metrics:
                    row[r] = values.get((f"accuracy_drop_{r}", "mean"), math.nan)
    frame = pd.DataFrame([{"training": t, "method": m, **v} for (t, m), v in rows.items()])
    if frame.empty:
        return frame
    order = {t: i for i, t in enumerate(IMAGE_TRAININGS)}
    methods = {m: i for i, m in enumerate(METHODS)}
    frame = frame.sort_values(["training", "method"], key=lambda s: s.map(
        order if s.name == "training" else methods)).reset_index(drop=True)
    return frame.reindex(columns=["training", "method", "iid", "ood", "roar"])


def _markdown(frame: pd.DataFrame) -> str:
    lines = ["| training | method | AUC IID ↓ | AUC OOD ↓ | AUC ROAR ↓ |", "|---|---|---|---|---|"]
    for row in frame.to_dict("records"):
        cells = ["–" if row[c] is None or math.isnan(row[c]) else f"{row[c]:.0f}"
                 for c in ("iid", "ood", "roar")]
        lines.append(f"| {row['training']} | {row['method']} | " + " | ".join(cells) + " |")
    ref = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in SGT_SUPP_AUC.items())
    lines.append(f"\n[SGT] supplement Table 2 (MNIST, Gradient): {ref}. AUC = area under "
                 "accuracy (%) over removed pixels (%), 10 % to 90 %.")
    return "\n".join(lines) + "\n"


def run_images(run_dir: str | Path, settings: ImagesSettings | None = None, *,
               progress: bool = False) -> Path:
    """Run (or resume) the image experiment; returns the report page.

    Writes ``RUN_DIR/results.sqlite`` (train, eval and ROAR cells), ``images_auc.csv`` /
    ``images_auc.md`` (the AUC table), ``images_gradients.npz`` and ``report/``.
    """
    settings = settings or ImagesSettings.quick()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "settings.json").write_text(json.dumps(asdict(settings), indent=2))
    trains, evals = image_tasks(settings)
    run_tasks(run_dir, trains, evals, title="images", progress=progress)
    run_roar(run_dir, evals, settings, progress=progress)
    _gradient_values(run_dir, trains, min(settings.n_eval, 200))
    frame = auc_table(run_dir, evals)
    frame.to_csv(run_dir / "images_auc.csv", index=False)
    (run_dir / "images_auc.md").write_text(_markdown(frame))
    return write_report(run_dir)
