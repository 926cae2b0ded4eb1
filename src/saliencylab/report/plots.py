"""Figures of a benchmark run (matplotlib, Agg backend, written as PNG files)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def save_figure(fig, path: Path, *, dpi: int = 90, tight: bool = True, **savefig: Any) -> Path:
    """Lay out (``tight``), write ``fig`` to ``path`` (its folder made) and close it; returns
    ``path``. Every figure of the reports and docs goes through here."""
    if tight:
        fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, **savefig)
    plt.close(fig)
    return path


def _grid(n: int, ncols: int = 3, size: tuple[float, float] = (4.2, 3.2)):
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def accuracy_drop_curves(evals: pd.DataFrame, path: Path, random_method: str = "random") -> Path:
    """Accuracy (%) against the fraction of saliency mass masked, one panel per trained model."""
    acc_cols = sorted((c for c in evals.columns if c.startswith("accuracy_pct@")),
                      key=lambda c: float(c.split("@")[1]))
    fractions = [float(c.split("@")[1]) for c in acc_cols]
    groups = list(evals.groupby(["dataset", "process", "model", "training"]))
    fig, axes = _grid(len(groups))
    for ax, ((design, process, model, training), sub) in zip(axes, groups, strict=False):
        for method, rows in sub.groupby("method"):
            curve = rows[acc_cols].mean().to_numpy()
            style = {"color": "black", "linestyle": "--"} if method == random_method else {}
            ax.plot(fractions, curve, marker="o", markersize=3, label=method, **style)
        ax.set_title(f"{model} · {design}/{process} · {training}", fontsize=9)
        ax.set_xlabel("fraction of saliency mass masked")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def distributions(evals: pd.DataFrame, by: str, path: Path,
                  random_method: str = "random") -> Path:
    """Box plots of AUP and AUR (overall, time, feature domain) grouped by ``by``."""
    panels = [(f"{level}{m}", f"{m.upper()} {name}") for m in ("aup", "aur")
              for level, name in (("", "overall"), ("time_", "time"), ("feature_", "feature"))]
    panels = [(c, t) for c, t in panels if c in evals]
    fig, axes = _grid(len(panels), ncols=3, size=(4.4, 3.2))
    for ax, (column, title) in zip(axes, panels, strict=False):
        groups = sorted(evals[by].unique(), key=lambda g: (g == random_method, str(g)))
        data = [evals.loc[evals[by] == g, column].dropna().to_numpy() for g in groups]
        ax.boxplot(data, tick_labels=[str(g) for g in groups], showmeans=True)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, path)


def example_maps(examples: list[tuple[str, np.lib.npyio.NpzFile]], path: Path) -> Path:
    """For each (title, npz) the first sample: input, ground truth (when the data has one) and
    saliency map — series with time on the x axis, as in the papers' figures; images as their
    channel mean, with the title above the row."""
    n = len(examples)
    truth = any(bool(np.asarray(ex["mask"][0]).any()) for _, ex in examples)
    cols = 3 if truth else 2
    fig, axes = plt.subplots(n, cols, figsize=(3.2 * cols, 2.9 * n), squeeze=False)
    for row, (title, ex) in zip(axes, examples, strict=True):
        x, mask, sal = ex["x"][0], ex["mask"][0], ex["saliency"][0]
        panels = [(x, "input", "viridis"), (sal, "saliency", "hot")]
        if truth:
            panels.insert(1, (mask.astype(float), "ground truth", "Greys"))
        image = np.asarray(x).ndim == 3
        for ax, (img, name, cmap) in zip(row, panels, strict=True):
            img = np.asarray(img, dtype=float)
            if image:
                ax.imshow(img.mean(0), cmap=cmap)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                ax.imshow(img.T, aspect="auto", cmap=cmap, origin="lower")
                ax.set_xlabel("time")
                ax.set_ylabel("feature")
            if name != "input":
                ax.set_title(name, fontsize=8)
        row[0].set_title(title, fontsize=8, loc="left")
    return save_figure(fig, path, dpi=80)


def metric_by_dataset(evals: pd.DataFrame, path: Path, method: str,
                      metrics: tuple[str, ...] = ("aup", "aur"),
                      order: list[str] | None = None) -> Path:
    """Bars of ``metrics`` per dataset for one method, one bar per (model, training).

    For the vanishing-saliency designs ([ICA] Table 1, [SGT] Figure 6) the datasets are the
    positions of the informative block, so the panels show where saliency vanishes.
    ``order`` fixes the order of the datasets (default: as they appear).
    """
    sub = evals[evals["method"] == method]
    datasets = order or list(dict.fromkeys(sub["dataset"]))
    groups = list(sub.groupby(["model", "training"]))
    fig, axes = _grid(len(metrics), ncols=len(metrics), size=(5.5, 3.4))
    width = 0.8 / max(len(groups), 1)
    for ax, metric in zip(axes, metrics, strict=False):
        for i, ((model, training), rows) in enumerate(groups):
            values = rows.groupby("dataset")[metric].mean().reindex(datasets).to_numpy()
            ax.bar(np.arange(len(datasets)) + i * width, values, width,
                   label=f"{model} · {training}")
        ax.set_xticks(np.arange(len(datasets)) + 0.4 - width / 2, datasets, fontsize=8)
        ax.set_title(f"{metric.upper()} of {method}", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=7)
    return save_figure(fig, path)
