"""The quality-metric part of a run's report: [OBJ] heatmaps, normalised scores, correlations.

Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series"
([OBJ]) compare saliency methods by a metric x method heatmap per model and dataset (their
Figure 5), normalise each metric per dataset to mean 0 / variance 1 across the methods so
categories can be compared and summed, and report the correlations between the metrics (which
they find near-orthogonal). This module draws the same three figures from the quality rows of a
results store: the ``quality`` cells of ``saliencylab evaluate`` and the eval cells of a grid with
a ``metrics:`` axis. The [CS] certification scores (Gupta et al., NeurIPS 2022) join them when
they were computed.

Orientation: every [OBJ] metric and every [CS] score but ``deletion`` is higher-is-better; the
normalised scores flip ``deletion`` so that a higher z is always better.

Example:
    >>> from saliencylab.report.quality import quality_section
    >>> html = quality_section(store, out_dir)  # doctest: +SKIP
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
from saliencylab.explain.registry import METHODS  # noqa: E402
from saliencylab.metrics import METRICS  # noqa: E402
from saliencylab.metrics.normalize import (  # noqa: E402
    metric_correlation,
    normalize_scores,
    zscore,
)
from saliencylab.report.plots import save_figure  # noqa: E402
from saliencylab.report.tables import current_results  # noqa: E402

__all__ = ["correlation_heatmap", "metric_method_heatmaps", "normalized_heatmap",
           "normalized_scores", "quality_frame", "quality_section"]

ENTRY = ["model", "dataset", "method"]


def _orientation() -> dict[str, bool]:
    """Orientation of every per-sample score the quality section shows (the [TSB] ground truth
    has its own tables)."""
    out: dict[str, bool] = {}
    for m in METRICS.values():
        if m.category != "groundtruth":
            out.update(m.outputs or {m.name: m.higher_is_better})
    return out


def quality_frame(store: ResultStore) -> pd.DataFrame:
    """Long table ``model, dataset, method, metric, value, se, n`` of the quality metrics.

    ``value`` is the mean over samples (and over seeds when a grid has several; ``se`` is then
    the mean of the per-seed standard errors). ``model`` carries the training procedure when it
    is not the traditional one; ``dataset`` is ``design/process`` for synthetic data and the
    archive name for UCR data.
    """
    names = set(_orientation())
    frame = current_results(store, "eval")
    if frame.empty:
        return pd.DataFrame(columns=[*ENTRY, "metric", "value", "se", "n"])
    frame = frame[frame["metric"].isin(names) & frame["statistic"].isin(["mean", "se", "n"])]
    if frame.empty:
        return pd.DataFrame(columns=[*ENTRY, "metric", "value", "se", "n"])
    frame = frame.copy()
    process = frame["process"] if "process" in frame else pd.Series("", index=frame.index)
    frame["dataset"] = [d if not p or not isinstance(p, str) else f"{d}/{p}"
                        for d, p in zip(frame["dataset"], process.fillna(""), strict=True)]
    training = frame["training"] if "training" in frame else pd.Series(
        "traditional", index=frame.index)
    frame["model"] = [m if t in ("traditional", None) or not isinstance(t, str) else f"{m} ({t})"
                      for m, t in zip(frame["model"], training, strict=True)]
    wide = frame.pivot_table(index=["key", *ENTRY, "metric"], columns="statistic",
                             values="value", aggfunc="first").reset_index()
    for col in ("mean", "se", "n"):
        if col not in wide:
            wide[col] = np.nan
    out = wide.groupby([*ENTRY, "metric"], sort=False).agg(
        value=("mean", "mean"), se=("se", "mean"), n=("n", "sum")).reset_index()
    return out.dropna(subset=["value"]).reset_index(drop=True)


def normalized_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``z``: [OBJ] normalisation per (metric, dataset) across methods and models,
    oriented so that higher is better (lower-is-better metrics are negated first)."""
    orient = _orientation()
    signed = frame.copy()
    signed["oriented"] = [v if orient.get(m, True) else -v
                          for m, v in zip(signed["metric"], signed["value"], strict=True)]
    return normalize_scores(signed, value="oriented", by=("metric", "dataset"))


def _metric_order(frame: pd.DataFrame) -> list[str]:
    order = list(_orientation())
    return [m for m in order if m in set(frame["metric"])]


def _method_order(frame: pd.DataFrame) -> list[str]:
    """Methods in the registry's order (gradient first, random baselines last), TSR after."""
    order = {name: i for i, name in enumerate(METHODS)}

    def key(label: str) -> tuple[int, bool, str]:
        base = label.removesuffix("+tsr")
        return order.get(base, len(order)), label.endswith("+tsr"), label

    return sorted(dict.fromkeys(frame["method"]), key=key)


def _label(metric: str, orient: dict[str, bool]) -> str:
    return metric if orient.get(metric, True) else f"{metric} ↓"


def _annotated(ax, values: np.ndarray, colours: np.ndarray, rows: list[str], cols: list[str],
               fmt: str, cmap: str = "RdYlGn", vlim: float | None = None) -> object:
    finite = colours[np.isfinite(colours)]
    lim = vlim if vlim is not None else (float(np.abs(finite).max()) if finite.size else 1.0)
    lim = lim if lim > 0 else 1.0
    image = ax.imshow(np.ma.masked_invalid(colours), cmap=cmap, vmin=-lim, vmax=lim,
                      aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            if np.isfinite(v):
                dark = np.isfinite(colours[i, j]) and abs(colours[i, j]) > 0.6 * lim
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
    return image


def metric_method_heatmaps(frame: pd.DataFrame, path: Path) -> Path:
    """One panel per (model, dataset): metrics x methods, coloured by the z-score of each metric
    across the methods of the panel (green = better), annotated with the raw means."""
    orient = _orientation()
    groups = list(frame.groupby(["model", "dataset"]))
    metrics = _metric_order(frame)
    n = len(groups)
    ncols = 1 if n == 1 else 2
    nrows = math.ceil(n / ncols)
    methods_all = _method_order(frame)
    width = max(5.0, 0.9 * len(methods_all) + 2.5)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 0.5 * len(metrics) * nrows
                                                      + 1.8 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, ((model, dataset), sub) in zip(axes.flat, groups, strict=False):
        methods = [m for m in methods_all if m in set(sub["method"])]
        table = sub.pivot_table(index="metric", columns="method", values="value",
                                aggfunc="mean").reindex(index=metrics, columns=methods)
        raw = table.to_numpy(dtype=float)
        z = np.full_like(raw, np.nan)
        for i, metric in enumerate(metrics):
            sign = 1.0 if orient.get(metric, True) else -1.0
            z[i] = zscore(sign * raw[i]) if np.isfinite(raw[i]).any() else np.nan
        image = _annotated(ax, raw, z, [_label(m, orient) for m in metrics], methods, ".3g",
                           vlim=2.0)
        ax.set_title(f"{model} · {dataset}", fontsize=10)
        fig.colorbar(image, ax=ax, fraction=0.04, label="z across methods (higher = better)")
    return save_figure(fig, path)


def normalized_heatmap(scores: pd.DataFrame, path: Path) -> Path:
    """One panel per dataset: rows model · method, columns metrics and their mean, coloured
    and annotated by the [OBJ] z-score (per metric and dataset, higher = better)."""
    orient = _orientation()
    metrics = _metric_order(scores)
    datasets = list(dict.fromkeys(scores["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), squeeze=False, figsize=(
        (0.9 * (len(metrics) + 1) + 3.0) * len(datasets),
        0.32 * scores.groupby(["model", "method"]).ngroups + 2.2))
    image = None
    for ax, dataset in zip(axes.flat, datasets, strict=True):
        sub = scores[scores["dataset"] == dataset].copy()
        sub["entry"] = sub["model"] + " · " + sub["method"]
        table = sub.pivot_table(index="entry", columns="metric", values="z", aggfunc="mean")
        table = table.reindex(columns=metrics)
        table["mean"] = table.mean(axis=1)
        table = table.sort_values("mean", ascending=False)
        values = table.to_numpy(dtype=float)
        cols = [_label(m, orient) for m in metrics] + ["mean"]
        image = _annotated(ax, values, values, list(table.index), cols, ".2f", vlim=2.0)
        ax.set_title(f"{dataset}: z-score per metric across methods", fontsize=10)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.03, label="z (higher = better)")
    return save_figure(fig, path, tight=False, bbox_inches="tight")


def correlation_heatmap(scores: pd.DataFrame, path: Path) -> tuple[Path, pd.DataFrame] | None:
    """Pearson correlation of the metrics' normalised, oriented scores (``z`` of
    :func:`normalized_scores`) over (model, dataset, method) entries, annotated; None when
    fewer than 3 entries or 2 metrics are there to correlate."""
    orient = _orientation()
    metrics = _metric_order(scores)
    entries = scores.groupby(ENTRY).ngroups
    if len(metrics) < 2 or entries < 3:
        return None
    corr = metric_correlation(scores[[*ENTRY, "metric", "z"]], value="z", index=ENTRY)
    corr = corr.reindex(index=metrics, columns=metrics)
    labels = [_label(m, orient) for m in metrics]
    size = 0.75 * len(metrics) + 2.5
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    values = corr.to_numpy(dtype=float)
    image = _annotated(ax, values, values, labels, labels, ".2f", cmap="coolwarm", vlim=1.0)
    ax.set_title(f"Pearson correlation of the normalised scores over {entries} entries\n"
                 "(↓ metrics negated: positive = agree on which method is better)", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path, corr


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float | np.floating):
                cells.append("<td>–</td>" if not np.isfinite(v) else f"<td>{v:.3f}</td>")
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def quality_section(store: ResultStore, out_dir: str | Path) -> str:
    """HTML for the report (empty when the run has no quality metrics); writes
    ``quality_heatmap.png``, ``quality_normalized.png`` and ``quality_correlation.png``."""
    out_dir = Path(out_dir)
    frame = quality_frame(store)
    if frame.empty:
        return ""
    orient = _orientation()
    parts = ["<h2>Quality metrics [OBJ] / [CS]</h2><p>Per-sample scores on the explained "
             "samples, averaged (± standard error over samples). Every metric is "
             "higher-is-better except those marked ↓. sanity = −SSIM to maps of cascading "
             "layer-randomised models; faithfulness = drop of the target probability when the "
             "most relevant sub-sequence is reversed; inter_class_sensitivity = −cosine of the "
             "maps for the most and least likely class; robustness = −max change of the map "
             "under uniform input noise; stability = −mean DTW distance to same-class maps; "
             "completeness / soundness / deletion / insertion: [CS] gray-fill curves.</p>"]
    metrics = _metric_order(frame)
    cells = frame.assign(text=[f"{v:.3f}" + ("" if not np.isfinite(se) else f" ± {se:.3f}")
                               for v, se in zip(frame["value"], frame["se"], strict=True)])
    means = cells.pivot_table(index=ENTRY, columns="metric", values="text", aggfunc="first")
    means = means.reindex(columns=metrics).reset_index()
    rank = {m: i for i, m in enumerate(_method_order(frame))}
    means = means.sort_values(["model", "dataset", "method"],
                              key=lambda c: c.map(rank) if c.name == "method" else c)
    means = means.fillna("–")
    means.columns = [_label(c, orient) for c in means.columns]
    parts.append(_table(means))

    metric_method_heatmaps(frame, out_dir / "quality_heatmap.png")
    parts.append("<h3>Metric × method per model and dataset</h3><p>As [OBJ] Figure 5: raw "
                 "means in the cells; colour = z-score of each metric across the methods of "
                 "the panel (green = better).</p><img src='quality_heatmap.png' "
                 "alt='quality heatmap'>")
    scores = normalized_scores(frame)
    normalized_heatmap(scores, out_dir / "quality_normalized.png")
    parts.append("<h3>Normalised relative scores</h3><p>[OBJ] normalisation: each metric "
                 "z-scored per dataset across all methods and models (mean 0, variance 1; "
                 "lower-is-better metrics negated first), so a row's mean is its overall "
                 "standing.</p><img src='quality_normalized.png' alt='normalised scores'>")
    corr = correlation_heatmap(scores, out_dir / "quality_correlation.png")
    if corr is None:
        parts.append("<p class='na'>Metric correlations need at least 3 (model, dataset, "
                     "method) entries and 2 metrics.</p>")
    else:
        _, matrix = corr
        off = matrix.where(~np.eye(len(matrix), dtype=bool)).abs().stack()
        mean_abs = float(off.mean()) if len(off) else float("nan")
        parts.append("<h3>Metric correlations</h3><p>Pearson correlation of the normalised "
                     "scores over the (model, dataset, method) entries; mean |r| off the "
                     f"diagonal = {mean_abs:.2f} ([OBJ] "
                     "reports the metrics as near-orthogonal).</p>"
                     "<img src='quality_correlation.png' alt='metric correlations'>")
    return "\n".join(parts)
