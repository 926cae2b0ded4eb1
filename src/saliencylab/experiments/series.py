"""MNIST as a multivariate time series ([SGT] supplement, "Saliency Maps Quality for Multivariate
Time Series", Figures 5-7; [TSB] Figures 1 and 4): each image's rows are the time steps and its
columns the features (28 x 28 for MNIST, 8 x 8 for scikit-learn's bundled digits).

:func:`run_series_maps` trains the [TSB] time-series models (TCN, LSTM with input-cell
attention, Transformer) traditionally and with saliency guided training (k = 50 %,
lambda = 1), explains a few test series with several methods (one eval cell each, the maps
kept as the cells' examples) and draws them side by side: rows = (model, training), columns =
the input then each method, maps scaled per sample to [-1, 1].

Example:
    >>> from saliencylab.experiments.series import run_series_maps
    >>> png = run_series_maps("runs/digits-ts", dataset="digits-ts")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from saliencylab.bench.cells import EvalTask, TrainTask  # noqa: E402
from saliencylab.bench.runner import run_tasks  # noqa: E402
from saliencylab.bench.store import ResultStore  # noqa: E402
from saliencylab.errors import ConfigError  # noqa: E402
from saliencylab.report.plots import save_figure  # noqa: E402

__all__ = ["SERIES_METHODS", "SERIES_MODELS", "SeriesSettings", "run_series_maps",
           "series_tasks"]

SERIES_MODELS: tuple[str, ...] = ("tcn", "lstm_ica", "transformer")
SERIES_METHODS: tuple[str, ...] = ("gradient", "integrated_gradients", "smoothgrad",
                                   "gradient_shap")
TRAININGS: tuple[str, ...] = ("traditional", "saliency_guided")


@dataclass(frozen=True)
class SeriesSettings:
    """What :func:`run_series_maps` trains and explains."""

    dataset: str = "digits-ts"
    data_dir: str | None = None
    models: tuple[str, ...] = SERIES_MODELS
    methods: tuple[str, ...] = SERIES_METHODS
    epochs: int = 15
    batch_size: int = 64
    lr: float = 5e-3
    patience: int = 5
    n_examples: int = 3
    seed: int = 0
    dataset_options: tuple[tuple[str, Any], ...] = ()
    #: A 2-layer Transformer (the registry's default has 6): minutes instead of an hour on CPU.
    model_kwargs: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "transformer": {"d_model": 32, "heads": 4, "n_layers": 2, "d_ff": 64}})

    def __post_init__(self) -> None:
        if not self.models or not self.methods:
            raise ConfigError("name at least one model and one method")
        if isinstance(self.n_examples, bool) or not isinstance(self.n_examples, int) or \
                self.n_examples < 1:
            raise ConfigError(f"n_examples must be an integer >= 1, got {self.n_examples!r}")


def series_tasks(settings: SeriesSettings) -> tuple[list[TrainTask], list[EvalTask]]:
    """Train cells (models x trainings) and eval cells (one per method, no metrics: maps)."""
    train = {"epochs": settings.epochs, "batch_size": settings.batch_size, "lr": settings.lr,
             "patience": settings.patience, "min_test_accuracy": 0.8}
    trains = [TrainTask(settings.dataset, None, model, training, settings.seed,
                        data=dict(settings.dataset_options), train=train,
                        model_kwargs=dict(settings.model_kwargs.get(model, {})),
                        sgt={"k": 0.5, "lam": 1.0, "by_magnitude": False}
                        if training == "saliency_guided" else {},
                        data_dir=settings.data_dir)
              for model in settings.models for training in TRAININGS]
    evaluation = {"n_samples": settings.n_examples, "split": "test", "postprocess": None,
                  "n_examples": settings.n_examples}
    params = {"gradient": {"abs": False}}  # signed, as [SGT] draws its maps
    evals = [EvalTask(t, method, False, params.get(method, {}), evaluation) for t in trains
             for method in settings.methods]
    return trains, evals


def _scaled(m: np.ndarray) -> np.ndarray:
    top = np.abs(m).max()
    return m / top if top > 0 else m


def run_series_maps(run_dir: str | Path, settings: SeriesSettings | None = None, *,
                    out: str | Path | None = None, sample: int = 0,
                    progress: bool = False) -> Path:
    """Train, explain and draw the maps side by side; returns the PNG (default
    ``RUN_DIR/series_maps.png``)."""
    settings = settings or SeriesSettings()
    run_dir = Path(run_dir)
    trains, evals = series_tasks(settings)
    data = trains[0].load_data()
    if data.modality != "time_series":
        raise ConfigError(f"{settings.dataset} is {data.modality} data; use a series source "
                          "such as digits-ts or mnist-ts")
    run_tasks(run_dir, trains, evals, title="series maps", progress=progress)
    if not 0 <= sample < settings.n_examples:
        raise ConfigError(f"sample must be in [0, {settings.n_examples}), got {sample}")
    with ResultStore(run_dir / "results.sqlite") as store:
        accuracy = {t.key: dict((m, v) for m, _, v in store.rows(t.key)).get("test_accuracy")
                    for t in trains}
    rows = [(t, [e for e in evals if e.train.key == t.key]) for t in trains]
    ncols = 1 + len(settings.methods)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.9 * ncols, 1.9 * len(rows)),
                             squeeze=False)
    im = None
    for i, (train, cells) in enumerate(rows):
        for j, task in enumerate(cells, start=1):
            with np.load(run_dir / "examples" / f"{task.key}.npz") as ex:
                if j == 1:
                    axes[i, 0].imshow(ex["x"][sample], cmap="gray")
                    acc = accuracy.get(train.key)
                    axes[i, 0].set_ylabel(f"{train.model}\n{train.training.replace('_', ' ')}"
                                          + ("" if acc is None else f"\nacc {acc:.2f}"),
                                          fontsize=7)
                im = axes[i, j].imshow(_scaled(ex["saliency"][sample]), cmap="bwr", vmin=-1,
                                       vmax=1)
            if i == 0:
                axes[i, j].set_title(task.method.replace("_", " "), fontsize=7)
    axes[0, 0].set_title("input (time down)", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.5)
    path = Path(out) if out is not None else run_dir / "series_maps.png"
    return save_figure(fig, path, dpi=110, tight=False)
