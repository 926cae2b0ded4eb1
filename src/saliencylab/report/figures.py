"""[TSB] Figures 3 and 8 on the reproduction page, drawn from the presets' stores.

[TSB] Ismail, Gunady, Corrada Bravo, Feizi, *Benchmarking Deep Learning Interpretability in
Time Series Predictions*, NeurIPS 2020. The figures have no table, so the page states what the
paper shows (:data:`saliencylab.bench.paper_tables.TSB_FIGURES`), what we measured and a
verdict by a stated rule:

- Figure 3 (``tsb-figure3``, the ``saliency_distribution`` metric): the mean relative saliency at
  the rank fractions 0.5 % ... 50 % per (process, model, method), fitted by ``log a = c - rate q``
  (:func:`saliencylab.metrics.distribution.decay_fit`). Rule (:data:`FIGURE3_RULE`): a curve
  decays exponentially when the fit has R² >= 0.9 and beats a straight line; the figure agrees
  when at least 75 % of the methods' curves do (the random baseline is drawn, not counted).
- Figure 8 (``tsb-figure8``, the ``pixel_categories`` metric): mean scaled gradient saliency per
  pixel category per model. Rule (:data:`FIGURE8_RULE`).

Example:
    >>> figure_rows("no-such-folder", "small")[0]["verdict"]
    'not comparable'
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from saliencylab.bench.paper_tables import TSB_FIGURES
from saliencylab.metrics.distribution import (
    CATEGORY_OUTPUTS,
    DECAY_FRACTIONS,
    DECAY_OUTPUTS,
    decay_fit,
)
from saliencylab.report.plots import plt, save_figure

__all__ = ["FIGURE3_RULE", "FIGURE8_RULE", "GRADIENT_BASED", "figure3_table", "figure8_table",
           "figure_rows", "figure_sections"]

#: The gradient-based methods of [TSB] (the top row of Figure 3); the others are the bottom row.
GRADIENT_BASED = ("gradient", "integrated_gradients", "deeplift", "gradient_shap",
                  "deeplift_shap", "smoothgrad")
_BASELINES = ("random", "tsb_random", "feature_permuted_random")
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


def _run(run_root: str | Path, preset: str) -> Any:
    from saliencylab.report.reproduction import _load  # the page's one store loader

    return _load(Path(run_root) / preset, preset)


def _preset(figure: str, scale: str) -> str:
    from saliencylab.bench.config import scaled_preset

    return scaled_preset(TSB_FIGURES[figure]["preset"], scale)


def _gate_note(run: Any) -> str:
    if run.trains.empty:
        return ""
    low = run.trains[~run.trains["fit"]]
    if low.empty:
        return "Every model passed the grid's accuracy gate.\n"
    names = ", ".join(f"{r.model} on {r.process} ({r.test_accuracy_pct:.0f} %)"
                      for r in low.itertuples())
    return (f"Under the grid's accuracy gate (their maps are shown, but read them with care): "
            f"{names}.\n")


def figure3_table(run: Any) -> pd.DataFrame:
    """One row per (process, model, method): the mean decay curve, ``top10_share``, the fitted
    ``rate`` and ``r2``, whether it is ``exponential`` and the number of cells averaged."""
    evals = run.evals
    if evals.empty or DECAY_OUTPUTS[0] not in evals:
        return pd.DataFrame()
    cols = [*DECAY_OUTPUTS, "top10_share", *(["decay_rate"] if "decay_rate" in evals else [])]
    group = [c for c in ("process", "model", "method") if c in evals]
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
    methods = table[~table["method"].isin(_BASELINES)]
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


def figure_rows(run_root: str | Path = "runs", scale: str = "small") -> list[dict[str, Any]]:
    """One summary row per figure: ``table`` (the figure), ``preset``, ``verdict``, ``measured``
    and ``cell seconds`` (None when the preset has not run)."""
    rows = []
    for figure, table_of, verdict_of in (
            ("[TSB] Figure 3", figure3_table, _figure3_verdict),
            ("[TSB] Figure 8", figure8_table, _figure8_verdict)):
        preset = _preset(figure, scale)
        run = _run(run_root, preset)
        table = pd.DataFrame() if run is None else table_of(run)
        verdict, measured = verdict_of(table)
        rows.append({"table": figure, "preset": preset, "verdict": verdict,
                     "measured": measured if run is not None else "not run yet",
                     "cell seconds": None if run is None else run.cell_seconds,
                     "run": run, "frame": table, "run_dir": Path(run_root) / preset})
    return rows


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
            rows = [0, 1] if method in _BASELINES else rows
            for i in rows:
                y = [max(row[c], 1e-4) if math.isfinite(row[c]) else float("nan")
                     for c in DECAY_OUTPUTS]
                label = f"{row['model']} {method}" if several else method
                axes[i, j].plot(x, y, marker="o", ms=3, label=label,
                                ls="--" if method in _BASELINES else "-",
                                color="gray" if method in _BASELINES else None)
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


def _md(frame: pd.DataFrame, columns: list[str]) -> str:
    """The page's markdown table, with yes / no for flags."""
    from saliencylab.report.reproduction import _markdown

    shown = frame[columns].copy()
    for col in columns:
        if shown[col].dtype == bool:
            shown[col] = shown[col].map({True: "yes", False: "no"})
    return _markdown(shown, columns)


def figure_sections(rows: list[dict[str, Any]], img_dir: str | Path) -> list[str]:
    """The page's markdown sections of [TSB] Figures 3 and 8 (from :func:`figure_rows`); the
    figures are written under ``img_dir`` and linked as ``img/<name>``."""
    img_dir = Path(img_dir)
    parts: list[str] = []
    for row in rows:
        figure, preset, table = row["table"], row["preset"], row["frame"]
        info = TSB_FIGURES[figure]
        parts.append(f"## {figure}\n")
        parts.append(f"The paper shows {info['shows']}, and says: \"{info['claim']}\".\n")
        rule = FIGURE3_RULE if figure.endswith("3") else FIGURE8_RULE
        parts.append(f"Verdict rule: {rule}.\n")
        if row["run"] is None or table.empty:
            parts.append(f"Preset `{preset}` not run yet: `saliencylab bench --preset {preset}` "
                         "(or `saliencylab reproduce`) computes it.\n")
            continue
        parts.append(f"**Verdict: {row['verdict']}** — {row['measured']}. "
                     f"Command: `saliencylab bench --preset {preset}`.\n")
        parts.append(_gate_note(row["run"]))
        post = (row["run"].grid.get("evaluation") or {}).get("postprocess", "tsb")
        parts.append(f"Maps as the grid scores them (post-processing `{post}`"
                     + (": absolute value, then min-max per sample" if post == "tsb" else "")
                     + "); each value is a mean over the explained test samples.\n")
        if figure.endswith("8"):
            parts.append(_RESHAPING)
        if figure.endswith("3"):
            image = _plot_figure3(table, img_dir / "tsb_figure3.png")
            cols = [c for c in ("process", "model", "method") if c in table]
            per_sample = ["decay_rate"] if "decay_rate" in table else []
            parts.append("Columns: the mean relative saliency `decay@q` at rank fraction q, the "
                         "share of the top 10 %, the mean of the per-sample fitted rate "
                         "(`decay_rate`), then the fit of the mean curve (`rate`, `r2`, and "
                         "`r2_linear` of a straight line).\n")
            parts.append(_md(table, [*cols, *DECAY_OUTPUTS, "top10_share", *per_sample, "rate",
                                     "r2", "r2_linear", "exponential", "cells"]))
            parts.append(f"![decay of saliency over ranked cells](img/{image.name})\n")
        else:
            image = _plot_figure8(table, img_dir / "tsb_figure8.png")
            cols = ["model", "method", "test_accuracy_pct", *CATEGORY_OUTPUTS, "leak",
                    *[c for c in ("aup", "aur") if c in table]]
            parts.append(_md(table, cols))
            parts.append(f"![saliency per pixel category](img/{image.name})\n")
            maps = _plot_figure8_maps(row["run_dir"], img_dir / "tsb_figure8_maps.png")
            if maps is not None:
                parts.append(f"![gradient maps of one sample](img/{maps.name})\n")
    return parts
