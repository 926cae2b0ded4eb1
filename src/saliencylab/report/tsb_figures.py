"""[TSB] Figures 3, 6, 7 and 8 on the reproduction page, drawn from the presets' stores.

[TSB] Ismail, Gunady, Corrada Bravo, Feizi, *Benchmarking Deep Learning Interpretability in
Time Series Predictions*, NeurIPS 2020. The figures have no numbers, so the page states what the
paper reads from each (:data:`saliencylab.bench.paper_tables.PAPER_FIGURES`), what we measured
and a verdict by a stated rule:

- Figure 3 (``tsb-figure3``, the ``saliency_distribution`` metric): the mean relative saliency at
  the rank fractions 0.5 % ... 50 % per (process, model, method), fitted by ``log a = c - rate q``
  (:func:`saliencylab.metrics.distribution.decay_fit`). Rule (:data:`FIGURE3_RULE`): a curve
  decays exponentially when the fit has R² >= 0.9 and beats a straight line; the figure agrees
  when at least 75 % of the methods' curves do (the random baseline is drawn, not counted).
- Figure 6 (``tsb-table1``'s accuracy curves): the accuracy while the top d % of each map is
  masked, against the random baseline (:data:`FIGURE6_RULE`).
- Figure 7 (``tsb-table1``'s AUP / AUR / AUPR overall and on the time and feature axes):
  :data:`FIGURE7_RULE`.
- Figure 8 (``tsb-figure8``, the ``pixel_categories`` metric): mean scaled gradient saliency per
  pixel category per model. Rule (:data:`FIGURE8_RULE`).

Example:
    >>> [check.figure for check in TSB_CHECKS]
    ['[TSB] Figure 3', '[TSB] Figure 6', '[TSB] Figure 7', '[TSB] Figure 8']
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from saliencylab.metrics.distribution import (
    CATEGORY_OUTPUTS,
    DECAY_FRACTIONS,
    DECAY_OUTPUTS,
    decay_fit,
)
from saliencylab.report.claims import BASELINES, FigureCheck, gate_note, without_baselines
from saliencylab.report.plots import plt, save_figure
from saliencylab.report.tables import markdown_table

__all__ = ["FIGURE3_RULE", "FIGURE6_RULE", "FIGURE7_RULE", "FIGURE8_RULE", "GRADIENT_BASED",
           "TSB_CHECKS", "figure3_table", "figure6_table", "figure7_table", "figure8_table"]

#: The gradient-based methods of [TSB] (the top row of Figure 3); the others are the bottom row.
GRADIENT_BASED = ("gradient", "integrated_gradients", "deeplift", "gradient_shap",
                  "deeplift_shap", "smoothgrad")
R2_MIN, SHARE_MIN = 0.9, 0.75
FIGURE3_RULE = (f"a method's mean decay curve (relative saliency a_(r)/a_(1) at the top 0.5, 1, "
                f"2, 5, 10, 20, 50 % of the cells) *decays exponentially* when the least-squares "
                f"fit log a = c − rate·q has R² ≥ {R2_MIN} and fits better than a straight "
                f"line a = c − b·q on the same points (points with a = 0 left out); "
                f"**agrees** when at least {SHARE_MIN:.0%} of the (process, model, method) "
                "curves do "
                "(the random baseline is shown, not counted), **disagrees** otherwise, **not "
                "comparable** without stored curves")
FIGURE8_RULE = ("with *leak* = mean saliency of the uninformative features of informative time "
                "steps (time only) / mean saliency of the box (time and feature): **agrees** "
                "when (1) the CNN gives the time-and-feature cells the highest mean saliency of "
                "the four categories, (2) the multivariate TCN is biased in the time direction "
                "(time only > feature only) and leaks more than the CNN, and (3) the "
                "univariate TCN leaks less than the multivariate one; **disagrees** when any "
                "fails; **not comparable** when a model is missing")
_RESHAPING = ("Models: `series_cnn` is a 2-D CNN on the series as a one-channel T × F image; "
              "`tcn` the [TSB] TCN on the multivariate series; `tcn_univariate` / "
              "`tcn_bivariate` the same TCN on the series reshaped into groups of 1 / 2 "
              "consecutive features whose series are concatenated in time (F·T steps × 1, "
              "F/2·T steps × 2; each feature's series stays contiguous and in order). The paper "
              "does not say how it reshaped. The reshaping is inside the model, so every map is "
              "on the original (T, F) cells and the box's categories apply unchanged. *leak* "
              "= time only / time and feature.\n")
_LABELS = {"series_cnn": "CNN (image)", "tcn": "TCN multivariate",
           "tcn_bivariate": "TCN bivariate", "tcn_univariate": "TCN univariate"}


def _present(frame: pd.DataFrame, *columns: str) -> list[str]:
    """The identifying ``columns`` that ``frame`` has, in order."""
    return [c for c in columns if c in frame]


def figure3_table(run: Any) -> pd.DataFrame:
    """One row per (process, model, method): the mean decay curve, ``top10_share``, the fitted
    ``rate`` and ``r2``, whether it is ``exponential`` and the number of cells averaged."""
    evals = run.evals
    if evals.empty or DECAY_OUTPUTS[0] not in evals:
        return pd.DataFrame()
    cols = [*DECAY_OUTPUTS, "top10_share", *(["decay_rate"] if "decay_rate" in evals else [])]
    group = _present(evals, "process", "model", "method")
    table = evals.groupby(group)[cols].mean().reset_index()
    table["cells"] = evals.groupby(group).size().to_numpy()
    order = {p: i for i, p in enumerate(run.grid.get("processes") or [])}
    if "process" in table:  # the grid's order (the paper's: Gaussian, Harmonic, CAR)
        table = table.sort_values("process", key=lambda c: c.map(order).fillna(len(order)),
                                  kind="stable").reset_index(drop=True)
    fits = [decay_fit(DECAY_FRACTIONS, [row[c] for c in DECAY_OUTPUTS])
            for _, row in table.iterrows()]
    table["rate"] = [f.rate for f in fits]
    table["r2"] = [f.r2 for f in fits]
    table["r2_linear"] = [f.r2_linear for f in fits]
    table["exponential"] = [bool(math.isfinite(f.r2) and f.r2 >= R2_MIN
                                 and not f.r2_linear > f.r2) for f in fits]
    return table


def figure8_table(run: Any) -> pd.DataFrame:
    """One row per (model, method): test accuracy, the four category means, ``leak`` (time only
    / time and feature), AUP and AUR."""
    evals = run.evals
    if evals.empty or CATEGORY_OUTPUTS[0] not in evals:
        return pd.DataFrame()
    cols = [c for c in (*CATEGORY_OUTPUTS, "aup", "aur") if c in evals]
    table = evals.groupby(["model", "method"])[cols].mean().reset_index()
    table["leak"] = table["pix_time_only"] / table["pix_time_feature"]
    acc = run.trains.groupby("model")["test_accuracy_pct"].mean() if not run.trains.empty \
        else pd.Series(dtype=float)
    table.insert(2, "test_accuracy_pct", table["model"].map(acc))
    return table


def _figure3_verdict(table: pd.DataFrame) -> tuple[str, str]:
    if table.empty:
        return "not comparable", "no stored decay curves"
    methods = without_baselines(table)
    if methods.empty:
        return "not comparable", "only the random baseline was run"
    share = float(methods["exponential"].mean())
    med = float(methods["rate"].median())
    half = 100 * math.log(2) / med if med > 0 else float("nan")
    measured = (f"{int(methods['exponential'].sum())} of {len(methods)} curves log-linear "
                f"(R² ≥ {R2_MIN}, better than a line); median rate {med:.1f} per unit rank "
                f"fraction, i.e. saliency halves every {half:.0f} % of the ranked cells "
                f"(median R² {float(methods['r2'].median()):.2f})")
    return ("agrees" if share >= SHARE_MIN else "disagrees"), measured


def _figure8_verdict(table: pd.DataFrame) -> tuple[str, str]:
    if table.empty:
        return "not comparable", "no stored pixel categories"
    grad = table[table["method"] == "gradient"] if (table["method"] == "gradient").any() \
        else table
    by = grad.groupby("model")[[*CATEGORY_OUTPUTS, "leak"]].mean()
    if not {"series_cnn", "tcn", "tcn_univariate"} <= set(by.index):
        return "not comparable", "the CNN, the TCN or the univariate TCN was not run"
    cnn, tcn, uni = by.loc["series_cnn"], by.loc["tcn"], by.loc["tcn_univariate"]
    c1 = bool(cnn[list(CATEGORY_OUTPUTS)].idxmax() == "pix_time_feature")
    c2 = bool(tcn["pix_time_only"] > tcn["pix_feature_only"] and tcn["leak"] > cnn["leak"])
    c3 = bool(uni["leak"] < tcn["leak"])
    measured = (f"leak: CNN {cnn['leak']:.2f}, TCN {tcn['leak']:.2f}, univariate TCN "
                f"{uni['leak']:.2f}"
                + (f", bivariate TCN {by.loc['tcn_bivariate', 'leak']:.2f}"
                   if "tcn_bivariate" in by.index else "")
                + f"; (1) {'yes' if c1 else 'no'}, (2) {'yes' if c2 else 'no'}, "
                  f"(3) {'yes' if c3 else 'no'}")
    return ("agrees" if c1 and c2 and c3 else "disagrees"), measured


def _plot_figure3(table: pd.DataFrame, path: Path) -> Path:
    processes = list(dict.fromkeys(table["process"])) if "process" in table else ["–"]
    fig, axes = plt.subplots(2, len(processes), figsize=(4 * len(processes), 6.4),
                             sharex=True, sharey=True, squeeze=False)
    x = [100 * q for q in DECAY_FRACTIONS]
    several = "model" in table and table["model"].nunique() > 1  # full scale: TCN and LSTM
    for j, process in enumerate(processes):
        part = table[table["process"] == process] if "process" in table else table
        for _, row in part.iterrows():
            method = row["method"]
            rows = [0] if method in GRADIENT_BASED else [1]
            rows = [0, 1] if method in BASELINES else rows
            for i in rows:
                y = [max(row[c], 1e-4) if math.isfinite(row[c]) else float("nan")
                     for c in DECAY_OUTPUTS]
                label = f"{row['model']} {method}" if several else method
                axes[i, j].plot(x, y, marker="o", ms=3, label=label,
                                ls="--" if method in BASELINES else "-",
                                color="gray" if method in BASELINES else None)
        axes[0, j].set_title(f"Middle box, {process}")
        for i in range(2):
            axes[i, j].set_yscale("log")
            axes[1, j].set_xlabel("rank (top % of cells)")
    axes[0, 0].set_ylabel("gradient-based\nrelative saliency")
    axes[1, 0].set_ylabel("other methods\nrelative saliency")
    for i in range(2):
        axes[i, -1].legend(fontsize=6, loc="upper right")
    fig.suptitle("[TSB] Figure 3, ours: saliency of ranked cells (scaled by the top cell)")
    return save_figure(fig, path)


def _plot_figure8(table: pd.DataFrame, path: Path) -> Path:
    grad = table[table["method"] == "gradient"] if (table["method"] == "gradient").any() \
        else table
    models = [m for m in _LABELS if m in set(grad["model"])]
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    width = 0.8 / len(CATEGORY_OUTPUTS)
    names = ["time and feature", "time only", "feature only", "neither"]
    for k, (col, name) in enumerate(zip(CATEGORY_OUTPUTS, names, strict=True)):
        values = [float(grad[grad["model"] == m][col].mean()) for m in models]
        ax.bar([i + (k - 1.5) * width for i in range(len(models))], values, width, label=name)
    ax.set_xticks(range(len(models)), [_LABELS[m] for m in models])
    ax.set_ylabel("mean gradient saliency\n(scaled by the map's max)")
    ax.set_title("[TSB] Figure 8(a), ours: saliency per pixel category, Middle box")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def _plot_figure8_maps(run_dir: Path, path: Path) -> Path | None:
    """[TSB] Figure 8(b), ours: the first test sample, its box and each model's gradient map
    (from the eval cells' stored examples); None when no example is stored."""
    import numpy as np

    from saliencylab.bench.store import DEFAULT_FILENAME, ResultStore

    with ResultStore(run_dir / DEFAULT_FILENAME, create=False) as store:
        cells = store.cells_frame(kind="eval")
    if cells.empty:
        return None
    cells = cells[cells["method"] == "gradient"] if (cells["method"] == "gradient").any() \
        else cells
    maps = []
    for model in _LABELS:
        for row in cells[cells["model"] == model].head(1).itertuples():
            file = run_dir / "examples" / f"{row.key}.npz"
            if file.is_file():
                with np.load(file) as ex:  # arrays only: allow_pickle stays False
                    maps.append((_LABELS[model], ex["x"][0], ex["mask"][0], ex["saliency"][0]))
    if not maps:
        return None
    panels = [("input", maps[0][1], "viridis"), ("ground truth", maps[0][2], "Greys"),
              *[(label, sal, "hot") for label, _, _, sal in maps]]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.6), squeeze=False)
    for ax, (title, img, cmap) in zip(axes[0], panels, strict=True):
        ax.imshow(np.asarray(img, dtype=float).T, aspect="auto", cmap=cmap, origin="lower")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("time", fontsize=7)
        ax.set_ylabel("feature", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle("[TSB] Figure 8(b), ours: gradient maps of one test sample", fontsize=9)
    return save_figure(fig, path, dpi=80)


def _postprocess_note(run: Any) -> str:
    post = (run.grid.get("evaluation") or {}).get("postprocess", "tsb")
    return (f"Maps as the grid scores them (post-processing `{post}`"
            + (": absolute value, then min-max per sample" if post == "tsb" else "")
            + "); each value is a mean over the explained test samples.\n")


def _render_figure3(row: dict[str, Any], img_dir: Path) -> list[str]:
    table = row["frame"]
    image = _plot_figure3(table, img_dir / "tsb_figure3.png")
    cols = _present(table, "process", "model", "method")
    per_sample = ["decay_rate"] if "decay_rate" in table else []
    return [gate_note(row["run"]), _postprocess_note(row["run"]),
            "Columns: the mean relative saliency `decay@q` at rank fraction q, the share of the "
            "top 10 %, the mean of the per-sample fitted rate (`decay_rate`), then the fit of "
            "the mean curve (`rate`, `r2`, and `r2_linear` of a straight line).\n",
            markdown_table(table, [*cols, *DECAY_OUTPUTS, "top10_share", *per_sample, "rate",
                                   "r2", "r2_linear", "exponential", "cells"]),
            f"![decay of saliency over ranked cells](img/{image.name})\n"]


def _render_figure8(row: dict[str, Any], img_dir: Path) -> list[str]:
    table = row["frame"]
    image = _plot_figure8(table, img_dir / "tsb_figure8.png")
    cols = ["model", "method", "test_accuracy_pct", *CATEGORY_OUTPUTS, "leak",
            *[c for c in ("aup", "aur") if c in table]]
    parts = [gate_note(row["run"]), _postprocess_note(row["run"]), _RESHAPING,
             markdown_table(table, cols), f"![saliency per pixel category](img/{image.name})\n"]
    maps = _plot_figure8_maps(row["run_dir"], img_dir / "tsb_figure8_maps.png")
    if maps is not None:
        parts.append(f"![gradient maps of one sample](img/{maps.name})\n")
    return parts


# [TSB] Figure 6: accuracy while the top of each map is masked, against the random baseline.
NEAR_RANDOM_POINTS, MANY_SHARE = 5.0, 1 / 3
FIGURE6_RULE = (f"a method's curve shows *not much improvement over the random baseline* when "
                f"its accuracy-drop AUC (the mean accuracy over d = 0 … 100 % masked) is at most "
                f"{NEAR_RANDOM_POINTS:.0f} points below the baseline's on the same model, or "
                f"above it; **agrees** when at least a third of the (dataset, method) curves "
                f"do ('in many cases'), **disagrees** otherwise, **not comparable** without "
                f"stored curves or without the baseline")


def _accuracy_columns(evals: pd.DataFrame) -> list[str]:
    cols = [c for c in evals if c.startswith("accuracy_pct@")]
    return sorted(cols, key=lambda c: float(c.split("@")[1]))


def figure6_table(run: Any) -> pd.DataFrame:
    """One row per (dataset, model, method): the accuracy curve ``accuracy_pct@d``, its AUC,
    ``vs_random`` (AUC minus the random baseline's on the same model) and ``near_random``."""
    evals = run.evals
    curve = _accuracy_columns(evals) if not evals.empty else []
    if not curve or "accuracy_auc" not in evals:
        return pd.DataFrame()
    group = _present(evals, "dataset", "model", "method")
    table = evals.groupby(group)[[*curve, "accuracy_auc"]].mean().reset_index()
    random = table[table["method"].isin(BASELINES)].groupby(group[:-1])["accuracy_auc"].mean()
    keys = list(zip(*(table[c] for c in group[:-1]), strict=True))
    keys = [k[0] if len(k) == 1 else k for k in keys]
    table["vs_random"] = [auc - random.get(k, math.nan) for k, auc in
                          zip(keys, table["accuracy_auc"], strict=True)]
    table["near_random"] = table["vs_random"] >= -NEAR_RANDOM_POINTS
    return table


def _figure6_verdict(table: pd.DataFrame) -> tuple[str, str]:
    if table.empty:
        return "not comparable", "no stored accuracy curves"
    methods = without_baselines(table)
    if methods.empty or methods["vs_random"].isna().all():
        return "not comparable", "no method curve with a random baseline next to it"
    near = int(methods["near_random"].sum())
    measured = (f"{near} of {len(methods)} method curves within {NEAR_RANDOM_POINTS:.0f} points "
                f"of the random baseline's AUC or above it (AUC minus the baseline's: median "
                f"{float(methods['vs_random'].median()):.1f}, lowest "
                f"{float(methods['vs_random'].min()):.1f})")
    return ("agrees" if near >= MANY_SHARE * len(methods) else "disagrees"), measured


def _plot_figure6(table: pd.DataFrame, path: Path) -> Path:
    curve = _accuracy_columns(table)
    x = [100 * float(c.split("@")[1]) for c in curve]
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 3.4),
                             sharey=True, squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for _, row in table[table["dataset"] == dataset].iterrows():
            method = row["method"]
            baseline = method in BASELINES
            ax.plot(x, [row[c] for c in curve], marker="o", ms=3, label=method,
                    ls="--" if baseline or method.endswith("+tsr") else "-",
                    color="gray" if baseline else None)
        ax.set_title(dataset)
        ax.set_xlabel("features masked (top % of the map)")
    axes[0, 0].set_ylabel("test accuracy (%)")
    axes[0, -1].legend(fontsize=6)
    fig.suptitle("[TSB] Figure 6, ours: accuracy while the salient features are masked")
    return save_figure(fig, path)


def _render_figure6(row: dict[str, Any], img_dir: Path) -> list[str]:
    table = row["frame"]
    image = _plot_figure6(table, img_dir / "tsb_figure6.png")
    cols = _present(table, "dataset", "model", "method")
    return [gate_note(row["run"]),
            "Accuracy (%) of the test samples explained while the top d % of each map's cells "
            "are masked as the grid masks them; `accuracy_auc` is the mean over d, "
            "`vs_random` its difference to the random baseline's.\n",
            markdown_table(table, [*cols, *_accuracy_columns(table)[::2], "accuracy_auc",
                                   "vs_random", "near_random"]),
            f"![accuracy while the salient features are masked](img/{image.name})\n"]


# [TSB] Figure 7: precision and recall overall and on the time and feature axes.
HIGH_OVER_LOW = 2.0
FIGURE7_RULE = (f"over the (dataset, model, method) cells: (c) the median time-axis AUPR is "
                f"above the median feature-axis AUPR, and (d) the median feature-axis AUR is "
                f"at least {HIGH_OVER_LOW:.0f}× the median feature-axis AUP ('very high' "
                f"against 'very low'); **agrees** when both hold, **disagrees** otherwise, "
                f"**not comparable** without per-axis numbers. The paper's (a) and (b), about "
                f"architectures and methods, need every architecture of its Figure 7 and are "
                f"not checked")
_LEVELS = {"": "overall", "time_": "time axis", "feature_": "feature axis"}


def figure7_table(run: Any) -> pd.DataFrame:
    """One row per (dataset, model, method): AUP, AUR and AUPR overall and per axis."""
    evals = run.evals
    cols = [f"{p}{k}" for p in _LEVELS for k in ("aup", "aur", "aupr")]
    if evals.empty or not set(cols) <= set(evals):
        return pd.DataFrame()
    group = _present(evals, "dataset", "model", "method")
    return evals.groupby(group)[cols].mean().reset_index()


def _figure7_verdict(table: pd.DataFrame) -> tuple[str, str]:
    if table.empty:
        return "not comparable", "no stored per-axis precision and recall"
    m = without_baselines(table).median(numeric_only=True)
    c = bool(m["time_aupr"] > m["feature_aupr"])
    d = bool(m["feature_aur"] >= HIGH_OVER_LOW * m["feature_aup"])
    measured = (f"medians: AUPR time {m['time_aupr']:.3f} vs feature {m['feature_aupr']:.3f}, "
                f"feature AUR {m['feature_aur']:.3f} vs AUP {m['feature_aup']:.3f}; "
                f"(c) {'yes' if c else 'no'}, (d) {'yes' if d else 'no'}")
    return ("agrees" if c and d else "disagrees"), measured


def _plot_figure7(table: pd.DataFrame, path: Path) -> Path:
    methods = without_baselines(table)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=True)
    for ax, key in zip(axes, ("aup", "aur", "aupr"), strict=True):
        ax.boxplot([methods[f"{p}{key}"].dropna() for p in _LEVELS],
                   tick_labels=list(_LEVELS.values()))
        ax.set_title(key.upper())
    fig.suptitle("[TSB] Figure 7, ours: precision and recall over the methods' cells")
    return save_figure(fig, path)


def _render_figure7(row: dict[str, Any], img_dir: Path) -> list[str]:
    table = row["frame"]
    image = _plot_figure7(table, img_dir / "tsb_figure7.png")
    cols = _present(table, "dataset", "model", "method")
    return [gate_note(row["run"]),
            markdown_table(table, [*cols, *[c for c in table if c not in cols]]),
            f"![precision and recall per axis](img/{image.name})\n"]


#: The checks of [TSB]'s figures, in the page's order.
TSB_CHECKS: tuple[FigureCheck, ...] = (
    FigureCheck("[TSB] Figure 3", FIGURE3_RULE, figure3_table, _figure3_verdict,
                _render_figure3),
    FigureCheck("[TSB] Figure 6", FIGURE6_RULE, figure6_table, _figure6_verdict,
                _render_figure6),
    FigureCheck("[TSB] Figure 7", FIGURE7_RULE, figure7_table, _figure7_verdict,
                _render_figure7),
    FigureCheck("[TSB] Figure 8", FIGURE8_RULE, figure8_table, _figure8_verdict,
                _render_figure8),
)
