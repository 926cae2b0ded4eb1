"""The image section of the report ([SGT] Section 5.1 and supplement Figures 1-4, Table 2):
accuracy-drop curves (IID / OOD / ROAR) against random, the AUC table, gradients of the
traditional, saliency guided and fine-tuned models side by side (scaled per sample to [-1, 1])
and the distributions of the gradient values (box plots, per sample and over the test set).

It draws from the results store (eval cells with ``accuracy_drop_*`` rows, ``roar`` cells), the
stored example maps and, when the image experiment wrote it, ``RUN_DIR/images_gradients.npz``.
A run without accuracy-drop rows gets no image section.

Example:
    >>> from saliencylab.report.images import image_section
    >>> html = image_section(run_dir, store, run_dir / "report")  # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from saliencylab.bench.store import ResultStore  # noqa: E402
from saliencylab.report.plots import save_figure  # noqa: E402

__all__ = ["curves_frame", "image_section", "plot_curves", "plot_distributions", "plot_maps"]

TRAININGS = ("traditional", "saliency_guided", "fine_tuned")
REPLACEMENTS = ("iid", "ood", "roar")
_TITLES = {"iid": "IID (background: black)", "ood": "OOD (mean pixel)",
           "roar": "ROAR (mean + retrained)"}


def curves_frame(store: ResultStore) -> pd.DataFrame:
    """Long frame ``training, method, replacement, removed (%), accuracy`` of every stored
    accuracy-drop curve (certification cells, labelled ``... (certify)``, left out)."""
    records = []
    for kind in ("eval", "roar"):
        cells = store.cells_frame(kind=kind)
        if cells.empty:
            continue
        # the newest cell of each (training, method): older settings' cells stay in the store
        cells = cells.sort_values("finished").drop_duplicates(["training", "method"],
                                                               keep="last")
        for cell in cells.to_dict("records"):
            if str(cell.get("method", "")).endswith(")"):
                continue
            for metric, stat, value in store.rows(cell["key"]):
                if stat != "mean" or not metric.startswith("accuracy_drop_") or "@" not in metric:
                    continue
                name, _, pct = metric.partition("@")
                records.append({"training": cell["training"], "method": cell["method"],
                                "replacement": name.removeprefix("accuracy_drop_"),
                                "removed": float(pct), "accuracy": 100 * value})
    return pd.DataFrame(records)


def plot_curves(curves: pd.DataFrame, path: Path) -> Path:
    """Rows = replacement (IID, OOD, ROAR), columns = training; one line per method."""
    reps = [r for r in REPLACEMENTS if r in set(curves["replacement"])]
    trainings = [t for t in TRAININGS if t in set(curves["training"])]
    fig, axes = plt.subplots(len(reps), len(trainings), figsize=(4 * len(trainings),
                                                                 3 * len(reps)),
                             squeeze=False, sharex=True, sharey=True)
    for i, rep in enumerate(reps):
        for j, training in enumerate(trainings):
            ax = axes[i, j]
            sub = curves[(curves["replacement"] == rep) & (curves["training"] == training)]
            for method, line in sub.groupby("method", sort=False):
                line = line.sort_values("removed")
                style = dict(color="gray", linestyle="--") if method == "random" else {}
                ax.plot(line["removed"], line["accuracy"], marker="o", ms=3, label=method,
                        **style)
            ax.set_title(f"{training} · {_TITLES[rep]}", fontsize=9)
            ax.set_ylim(0, 102)
            if i == len(reps) - 1:
                ax.set_xlabel("pixels removed (%)")
            if j == 0:
                ax.set_ylabel("test accuracy (%)")
    axes[0, -1].legend(fontsize=8)
    return save_figure(fig, path, dpi=110)


def _scaled(m: np.ndarray) -> np.ndarray:
    """A map summed over channels, scaled per sample to [-1, 1] ([SGT] supplement Fig. 1)."""
    m = m.sum(0) if m.ndim == 3 else m
    top = np.abs(m).max()
    return m / top if top > 0 else m


def plot_maps(examples: dict[str, np.lib.npyio.NpzFile], path: Path, n: int = 4) -> Path:
    """Rows = samples, columns = the image then the gradient of each training."""
    trainings = [t for t in TRAININGS if t in examples]
    first = examples[trainings[0]]
    n = min(n, len(first["x"]))
    fig, axes = plt.subplots(n, 1 + len(trainings), figsize=(2.2 * (1 + len(trainings)),
                                                             2.2 * n), squeeze=False)
    im = None
    for i in range(n):
        x = first["x"][i]
        axes[i, 0].imshow(x.transpose(1, 2, 0).squeeze(-1) if x.shape[0] == 1 else
                          (x.transpose(1, 2, 0) - x.min()) / max(np.ptp(x), 1e-12),
                          cmap="gray")
        axes[i, 0].set_title(f"label {int(first['y'][i])}", fontsize=8)
        for j, training in enumerate(trainings, start=1):
            im = axes[i, j].imshow(_scaled(examples[training]["saliency"][i]), cmap="bwr",
                                   vmin=-1, vmax=1)
            if i == 0:
                axes[i, j].set_title(training.replace("_", " "), fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6)
    return save_figure(fig, path, dpi=110, tight=False)


def plot_distributions(values: dict[str, np.ndarray], path: Path, n_samples: int = 4) -> Path:
    """Box plots of the scaled gradient values: per sample (left) and over the test set."""
    trainings = [t for t in TRAININGS if t in values]
    n_samples = min(n_samples, min(len(values[t]) for t in trainings))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [3, 1]})
    data, labels, colors = [], [], []
    palette = dict(zip(TRAININGS, ("tab:blue", "tab:orange", "tab:green"), strict=True))
    for i in range(n_samples):
        for t in trainings:
            data.append(values[t][i])
            labels.append(f"{i}")
            colors.append(palette[t])
    box = axes[0].boxplot(data, patch_artist=True, showfliers=True, flierprops={"ms": 1.5})
    for patch, c in zip(box["boxes"], colors, strict=True):
        patch.set_facecolor(c)
    axes[0].set_xticks(range(1, len(data) + 1), labels, fontsize=7)
    axes[0].set_xlabel("test sample (one box per training)")
    axes[0].set_ylabel("gradient scaled to [-1, 1]")
    box = axes[1].boxplot([values[t].ravel() for t in trainings], patch_artist=True,
                          showfliers=False)
    for patch, t in zip(box["boxes"], trainings, strict=True):
        patch.set_facecolor(palette[t])
    axes[1].set_xticks(range(1, len(trainings) + 1),
                       [t.replace("_", "\n") for t in trainings], fontsize=7)
    axes[1].set_title("all test pixels (no outliers)", fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[t]) for t in trainings]
    axes[0].legend(handles, trainings, fontsize=7, ncol=3, loc="lower left",
                   bbox_to_anchor=(0, 1.0))
    return save_figure(fig, path, dpi=110)


def _auc(curves: pd.DataFrame) -> pd.DataFrame:
    """AUC (trapezoid, % x %) of each curve: rows (training, method), columns replacement."""
    out = []
    for (training, method, rep), line in curves.groupby(["training", "method", "replacement"]):
        line = line.sort_values("removed")
        out.append({"training": training, "method": method, "replacement": rep,
                    "auc": float(np.trapezoid(line["accuracy"], line["removed"]))})
    frame = pd.DataFrame(out).pivot_table(index=["training", "method"], columns="replacement",
                                          values="auc")
    return frame.reindex(columns=[r for r in REPLACEMENTS if r in frame.columns])


def image_section(run_dir: Path, store: ResultStore, out: Path) -> str:
    """HTML of the image section (figures written to ``out``); empty without image rows."""
    curves = curves_frame(store)
    if curves.empty:
        return ""
    parts = ["<h2>Images: accuracy drop ([SGT] §5.1, Figure 4)</h2>",
             "<p>Pixels ranked by |saliency| (summed over channels) are removed, top 10 % to "
             "90 %; IID replaces them with each image's background (black), OOD with the "
             "training mean, ROAR with the mean and a model retrained on the masked training "
             "set. A steeper drop (smaller area) means the map found what the model uses.</p>"]
    plot_curves(curves, out / "images_accuracy_drop.png")
    parts.append("<img src='images_accuracy_drop.png'>")
    auc = _auc(curves)
    rows = "".join(
        f"<tr><td>{html.escape(t)}</td><td>{html.escape(m)}</td>"
        + "".join("<td>–</td>" if math.isnan(v) else f"<td>{v:.0f}</td>" for v in r)
        + "</tr>" for (t, m), r in zip(auc.index, auc.to_numpy(), strict=True))
    head = "".join(f"<th>AUC {c.upper()} ↓</th>" for c in auc.columns)
    parts.append("<h2>Area under the accuracy-drop curves ([SGT] supplement Table 2)</h2>"
                 f"<table><tr><th>training</th><th>method</th>{head}</tr>{rows}</table>")
    examples = {}
    cells = store.cells_frame(kind="eval").sort_values("finished", ascending=False)
    for cell in cells[cells["method"] == "gradient"].to_dict("records"):
        path = run_dir / "examples" / f"{cell['key']}.npz"
        if path.is_file() and cell["training"] not in examples:
            examples[cell["training"]] = np.load(path)
    if examples:
        plot_maps(examples, out / "images_maps.png")
        parts.append("<h2>Gradients side by side ([SGT] supplement Figure 1)</h2><p>Scaled "
                     "per sample to [-1, 1] (red positive, blue negative).</p>"
                     "<img src='images_maps.png'>")
    grads = run_dir / "images_gradients.npz"
    if grads.is_file():
        with np.load(grads) as values:
            plot_distributions({k: values[k] for k in values.files},
                               out / "images_gradients.png")
        parts.append("<h2>Distribution of the gradient values</h2>"
                     "<img src='images_gradients.png'>")
    return "\n".join(parts)
