"""[OBJ] Figures 3 to 8 on the reproduction page, drawn from the presets' stores.

[OBJ] Löffler et al., *Objective Evaluation of Deep Visual Interpretations on Time Series
Data* (ICLR 2022 submission). Its figures carry no numbers; the page checks what §4.2, §4.3,
§5 and Appendix C read from them, each by a rule stated here and on the page:

- Figures 3 and 6 (``segmentation``, the ``localization_biases`` metric): localization under
  the flat ("classic"), front, middle and back biases of [TAT], on U-Time (:data:`FIGURE3_RULE`)
  and on the bi-LSTM segmenter (:data:`FIGURE6_RULE`).
- Figures 4, 5, 7 and 8 (``quality``, the five quality metrics): the scores per method
  (:data:`FIGURE4_RULE`), for the TCN on FordB (:data:`FIGURE5_RULE`), per architecture
  (:data:`FIGURE7_RULE`) and the metrics' correlation (:data:`FIGURE8_RULE`).

Every score is higher-is-better, as in the paper. Rankings count the nine methods only, not
the random baseline.

Example:
    >>> [check.figure for check in OBJ_CHECKS][:2]
    ['[OBJ] Figure 3', '[OBJ] Figure 6']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from saliencylab.metrics.normalize import metric_correlation
from saliencylab.report.claims import FigureCheck, gate_note, without_baselines
from saliencylab.report.plots import plt, save_figure
from saliencylab.report.quality import (
    correlation_heatmap,
    metric_method_heatmaps,
    normalized_heatmap,
    normalized_scores,
)
from saliencylab.report.tables import markdown_table

__all__ = ["FIGURE3_RULE", "FIGURE4_RULE", "FIGURE5_RULE", "FIGURE6_RULE", "FIGURE7_RULE",
           "FIGURE8_RULE", "OBJ_CHECKS", "localization_table", "quality_table"]

BIASES = ("flat", "front", "middle", "back")
_LOCALIZATION = [f"localization_{b}" for b in BIASES]
#: The five quality metrics, in the paper's order (sanity, faithfulness, sensitivity,
#: robustness, intra-class stability).
QUALITY = ("sanity", "faithfulness", "inter_class_sensitivity", "robustness", "stability")
_SEGMENTERS = {"utime": "U-Time", "bilstm_seg": "bi-LSTM"}


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _claims(flags: dict[str, bool]) -> str:
    return ", ".join(f"({k}) {_yes(v)}" for k, v in flags.items())


def _lower_half(scores: pd.Series, names: tuple[str, ...]) -> bool:
    """Every one of ``names`` scores below the median of ``scores`` (one value per method)."""
    median = float(scores.median())
    return all(name in scores and scores[name] < median for name in names)


# ---- Figures 3 and 6: localization of the segmenters ----------------------------------------

FIGURE3_RULE = ("on U-Time, over the nine methods: (1) GradCAM has the highest flat "
                "('classic') localization, (2) LRP and Integrated Gradients have the two "
                "lowest, (3) the middle bias scores above both front and back for at least half "
                "of the methods; **agrees** when all three hold, **disagrees** otherwise, **not "
                "comparable** without U-Time's localization")
FIGURE6_RULE = ("'satisfactory' is read as U-Time's best: **agrees** when no method that "
                "applies to the bi-LSTM reaches the flat localization of the best method on "
                "U-Time, **disagrees** when one does, **not comparable** without both models")


def localization_table(run: Any) -> pd.DataFrame:
    """One row per (model, method): the mean localization under each bias and ``middle_best``
    (middle above front and back)."""
    evals = run.evals
    if evals.empty or not set(_LOCALIZATION) <= set(evals):
        return pd.DataFrame()
    table = evals.groupby(["model", "method"])[_LOCALIZATION].mean().reset_index()
    table = table.dropna(subset=_LOCALIZATION, how="all")
    table["middle_best"] = ((table["localization_middle"] > table["localization_front"])
                            & (table["localization_middle"] > table["localization_back"]))
    return table


def _model_rows(table: pd.DataFrame, model: str) -> pd.DataFrame:
    if table.empty:
        return table
    return without_baselines(table[table["model"] == model]).set_index("method")


def _figure3_verdict(table: pd.DataFrame) -> tuple[str, str]:
    utime = _model_rows(table, "utime")
    if utime.empty:
        return "not comparable", "no stored U-Time localization"
    flat = utime["localization_flat"].dropna().sort_values()
    flags = {"1": bool(flat.index[-1] == "gradcam"),
             "2": set(flat.index[:2]) == {"lrp", "integrated_gradients"},
             "3": bool(utime["middle_best"].mean() >= 0.5)}
    gradcam = "" if flags["1"] else (f"; GradCAM {flat['gradcam']:.3f}" if "gradcam" in flat
                                     else "; GradCAM not run")
    measured = (f"flat localization on U-Time highest for {flat.index[-1]} "
                f"({flat.iloc[-1]:.3f}{gradcam}), lowest for {flat.index[0]} "
                f"({flat.iloc[0]:.3f}) and {flat.index[1]} ({flat.iloc[1]:.3f}); middle above "
                f"front and back for {int(utime['middle_best'].sum())} of {len(utime)} methods; "
                + _claims(flags))
    return ("agrees" if all(flags.values()) else "disagrees"), measured


def _figure6_verdict(table: pd.DataFrame) -> tuple[str, str]:
    utime, lstm = _model_rows(table, "utime"), _model_rows(table, "bilstm_seg")
    if utime.empty or lstm.empty:
        return "not comparable", "U-Time or the bi-LSTM was not run"
    best_u = utime["localization_flat"].idxmax()
    best_l = lstm["localization_flat"].idxmax()
    u, v = float(utime.loc[best_u, "localization_flat"]), float(lstm.loc[best_l,
                                                                          "localization_flat"])
    measured = (f"best on the bi-LSTM: {best_l} {v:.3f}; best on U-Time: {best_u} {u:.3f}; "
                f"{len(lstm)} methods applied to the bi-LSTM")
    return ("agrees" if v < u else "disagrees"), measured


def _plot_localization(table: pd.DataFrame, model: str, path: Path) -> Path:
    part = table[table["model"] == model]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(part) + 2), 3.4))
    width = 0.8 / len(BIASES)
    for k, (bias, col) in enumerate(zip(BIASES, _LOCALIZATION, strict=True)):
        ax.bar([i + (k - 1.5) * width for i in range(len(part))], part[col], width,
               label=bias)
    ax.set_xticks(range(len(part)), part["method"], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("localization (range recall)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, title="bias", title_fontsize=7)
    ax.set_title(f"[OBJ] localization, ours: {_SEGMENTERS.get(model, model)}")
    return save_figure(fig, path)


_BILSTM_NOTE = ("Guided Backprop changes only the backward pass of ReLUs, and the bi-LSTM has "
                "none: its maps are Gradient's (the paper counts it among the methods that do "
                "not apply).\n")


def _not_applicable(row: dict[str, Any], model: str) -> list[str]:
    table = row["frame"]
    ran = set(table[table["model"] == model]["method"])
    return [m for m in row["run"].grid.get("methods") or [] if m not in ran]


def _render_localization(model: str, name: str, note: str = "") -> Any:
    def render(row: dict[str, Any], img_dir: Path) -> list[str]:
        table = row["frame"]
        image = _plot_localization(table, model, img_dir / f"obj_{name}.png")
        missing = _not_applicable(row, model)
        return [gate_note(row["run"]), *([note] if note else []),
                "Localization is [TAT]'s range-based recall of the steps each map marks "
                "(some channel above 0.5 of the map's max) against the labelled segments; the "
                "bias weighs the position inside a segment. The maps explain the true class of "
                "every step inside a segment (the no-class steps are not explained). Being a "
                "recall, it gives 1 to a map that marks every step, so a random map, relevant "
                "almost everywhere, scores high; the rule ranks the nine methods only.\n",
                *([f"Not applicable to this model (no cells): {', '.join(missing)}.\n"]
                  if missing else []),
                markdown_table(table[table["model"] == model],
                               ["model", "method", *_LOCALIZATION, "middle_best"]),
                f"![localization per method and bias](img/{image.name})\n"]
    return render


# ---- Figures 4, 5, 7 and 8: the quality metrics ---------------------------------------------

FIGURE4_RULE = ("over the mean score of each method (all models and datasets): (1) the mean "
                "sanity of Gradient, Integrated Gradients, LIME and KernelSHAP is above that "
                "of LRP, Guided GradCAM and Guided Backprop, (2) GradCAM has the highest "
                "inter-class sensitivity, (3) Integrated Gradients and Guided Backprop are "
                "below the median sensitivity, (4) Gradient, LIME and SmoothGrad are below the "
                "median robustness, (5) Guided GradCAM is above the median stability; "
                "**agrees** when all five hold, **disagrees** otherwise, **not comparable** "
                "without the five metrics")
FIGURE5_RULE = ("for the TCN: (1) the three highest means of faithfulness and sanity are "
                "Gradient's, Integrated Gradients' and LIME's, (2) the three lowest sanity "
                "scores are Guided Backprop's, Guided GradCAM's and LRP's, (3) KernelSHAP is "
                "below the median faithfulness; **agrees** when all three hold")
GAP_MAX = 0.1
FIGURE7_RULE = (f"with the gap of a metric = |FCN mean − TCN mean| over datasets and methods: "
                f"(1) every gap is at most {GAP_MAX} ('matters little'), (2) faithfulness has "
                f"the largest gap; **agrees** when both hold, **not comparable** without both "
                f"models")
HIGH_CORRELATION = 0.7
FIGURE8_RULE = (f"Pearson correlation of the normalised scores (per metric and dataset to "
                f"mean 0, variance 1) over the (dataset, model, method) entries: **agrees** "
                f"when every pair of metrics has |r| < {HIGH_CORRELATION}, **disagrees** "
                f"otherwise, **not comparable** with fewer than 3 entries")


def quality_table(run: Any) -> pd.DataFrame:
    """One row per (dataset, model, method): the mean of each quality metric."""
    evals = run.evals
    if evals.empty or not set(QUALITY) <= set(evals):
        return pd.DataFrame()
    table = evals.groupby(["dataset", "model", "method"])[list(QUALITY)].mean().reset_index()
    return table.dropna(subset=list(QUALITY), how="all")


def _per_method(table: pd.DataFrame) -> pd.DataFrame:
    return without_baselines(table).groupby("method")[list(QUALITY)].mean()


def _figure4_verdict(table: pd.DataFrame) -> tuple[str, str]:
    if table.empty:
        return "not comparable", "no stored quality metrics"
    m = _per_method(table)
    high = m.loc[m.index.intersection(["gradient", "integrated_gradients", "lime",
                                       "kernel_shap"]), "sanity"].mean()
    low = m.loc[m.index.intersection(["lrp", "guided_gradcam", "guided_backprop"]),
                "sanity"].mean()
    sens = m["inter_class_sensitivity"]
    flags = {"1": bool(high > low), "2": bool(sens.idxmax() == "gradcam"),
             "3": _lower_half(sens, ("integrated_gradients", "guided_backprop")),
             "4": _lower_half(m["robustness"], ("gradient", "lime", "smoothgrad")),
             "5": "guided_gradcam" in m.index
             and bool(m.loc["guided_gradcam", "stability"] > m["stability"].median())}
    measured = (f"sanity {high:.3f} (Gradient, IG, LIME, KernelSHAP) vs {low:.3f} (LRP, "
                f"Guided GradCAM, Guided Backprop); highest sensitivity: {sens.idxmax()}; "
                + _claims(flags))
    return ("agrees" if all(flags.values()) else "disagrees"), measured


def _figure5_verdict(table: pd.DataFrame) -> tuple[str, str]:
    tcn = table[table["model"] == "tcn_obj"] if not table.empty else table
    if tcn.empty:
        return "not comparable", "no stored quality metrics of the TCN"
    m = _per_method(tcn)
    both = m[["faithfulness", "sanity"]].mean(axis=1).sort_values(ascending=False)
    sanity = m["sanity"].sort_values()
    flags = {"1": set(both.index[:3]) == {"gradient", "integrated_gradients", "lime"},
             "2": set(sanity.index[:3]) == {"guided_backprop", "guided_gradcam", "lrp"},
             "3": _lower_half(m["faithfulness"], ("kernel_shap",))}
    measured = (f"highest mean of faithfulness and sanity: {', '.join(both.index[:3])}; lowest "
                f"sanity: {', '.join(sanity.index[:3])}; " + _claims(flags))
    return ("agrees" if all(flags.values()) else "disagrees"), measured


def _per_model(table: pd.DataFrame) -> pd.DataFrame:
    return without_baselines(table).groupby("model")[list(QUALITY)].mean()


def _figure7_verdict(table: pd.DataFrame) -> tuple[str, str]:
    by = _per_model(table) if not table.empty else pd.DataFrame()
    if not {"fcn", "tcn_obj"} <= set(by.index):
        return "not comparable", "the FCN or the TCN was not run"
    gap = (by.loc["fcn"] - by.loc["tcn_obj"]).abs()
    flags = {"1": bool((gap <= GAP_MAX).all()), "2": bool(gap.idxmax() == "faithfulness")}
    measured = ("gaps " + ", ".join(f"{k} {v:.3f}" for k, v in gap.items()) + "; "
                + _claims(flags))
    return ("agrees" if all(flags.values()) else "disagrees"), measured


def _long(table: pd.DataFrame) -> pd.DataFrame:
    """The methods' rows of ``table`` as the long frame of :mod:`saliencylab.report.quality`."""
    return without_baselines(table).melt(id_vars=["dataset", "model", "method"],
                                         value_vars=list(QUALITY), var_name="metric")


def _scores(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`_long` with the [OBJ] z-scores."""
    return normalized_scores(_long(table).dropna(subset=["value"]))


def _correlation(table: pd.DataFrame) -> pd.DataFrame | None:
    scores = _scores(table)
    entries = ["model", "dataset", "method"]
    if scores.groupby(entries).ngroups < 3:
        return None
    return metric_correlation(scores[[*entries, "metric", "z"]], value="z", index=entries)


def _figure8_verdict(table: pd.DataFrame) -> tuple[str, str]:
    corr = None if table.empty else _correlation(table)
    if corr is None:
        return "not comparable", "fewer than 3 (dataset, model, method) entries"
    off = np.abs(corr.to_numpy(dtype=float))
    np.fill_diagonal(off, np.nan)
    i, j = np.unravel_index(np.nanargmax(off), off.shape)
    largest = float(off[i, j])
    measured = (f"largest |r| {largest:.2f} ({corr.index[i]} / {corr.columns[j]}) over "
                f"{len(without_baselines(table))} entries")
    return ("agrees" if largest < HIGH_CORRELATION else "disagrees"), measured


def _render_figure4(row: dict[str, Any], img_dir: Path) -> list[str]:
    table = row["frame"]
    per_method = _per_method(table).reset_index()
    mean = per_method.melt(id_vars="method", var_name="metric")
    mean = mean.assign(model="all models", dataset="all datasets")
    image = metric_method_heatmaps(mean, img_dir / "obj_figure4.png")
    per_dataset = without_baselines(table).groupby("dataset")[list(QUALITY)].mean()
    return [gate_note(row["run"]),
            "Mean score per method over models and datasets (the heatmap: colour = z-score "
            "across the methods, annotation = the mean):\n",
            markdown_table(per_method, ["method", *QUALITY]),
            "Per dataset, over models and methods ([OBJ] Figure 4b):\n",
            markdown_table(per_dataset.reset_index(), ["dataset", *QUALITY]),
            f"![quality scores per method](img/{image.name})\n"]


def _render_figure5(row: dict[str, Any], img_dir: Path) -> list[str]:
    table = row["frame"]
    tcn = without_baselines(table[table["model"] == "tcn_obj"])
    image = metric_method_heatmaps(_long(tcn), img_dir / "obj_figure5.png")
    return [markdown_table(tcn, ["dataset", "model", "method", *QUALITY]),
            f"![quality heatmap of the TCN](img/{image.name})\n"]


def _render_figure7(row: dict[str, Any], img_dir: Path) -> list[str]:
    table = row["frame"]
    by = _per_model(table)
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    width = 0.8 / max(len(by), 1)
    for k, (model, values) in enumerate(by.iterrows()):
        ax.bar([i + (k - (len(by) - 1) / 2) * width for i in range(len(QUALITY))], values,
               width, label=model)
    ax.set_xticks(range(len(QUALITY)), QUALITY, rotation=20, fontsize=8)
    ax.set_ylabel("mean score")
    ax.legend(fontsize=7)
    ax.set_title("[OBJ] Figure 7(c), ours: scores per architecture")
    bars = save_figure(fig, img_dir / "obj_figure7.png")
    relative = normalized_heatmap(_scores(table), img_dir / "obj_figure7b.png")
    return [markdown_table(by.reset_index(), ["model", *QUALITY]),
            f"![scores per architecture](img/{bars.name})\n",
            "Relative scores ([OBJ] Figure 7b: z per metric and dataset across the methods "
            "and models):\n",
            f"![relative scores](img/{relative.name})\n"]


def _render_figure8(row: dict[str, Any], img_dir: Path) -> list[str]:
    drawn = correlation_heatmap(_scores(row["frame"]), img_dir / "obj_figure8.png")
    if drawn is None:
        return []
    path, corr = drawn
    return [markdown_table(corr.reset_index(names="metric"), ["metric", *corr.columns]),
            f"![correlation of the metrics](img/{path.name})\n"]


#: The checks of [OBJ]'s figures, in the page's order.
OBJ_CHECKS: tuple[FigureCheck, ...] = (
    FigureCheck("[OBJ] Figure 3", FIGURE3_RULE, localization_table, _figure3_verdict,
                _render_localization("utime", "figure3")),
    FigureCheck("[OBJ] Figure 6", FIGURE6_RULE, localization_table, _figure6_verdict,
                _render_localization("bilstm_seg", "figure6", _BILSTM_NOTE)),
    FigureCheck("[OBJ] Figure 4", FIGURE4_RULE, quality_table, _figure4_verdict,
                _render_figure4),
    FigureCheck("[OBJ] Figure 5", FIGURE5_RULE, quality_table, _figure5_verdict,
                _render_figure5),
    FigureCheck("[OBJ] Figure 7", FIGURE7_RULE, quality_table, _figure7_verdict,
                _render_figure7),
    FigureCheck("[OBJ] Figure 8", FIGURE8_RULE, quality_table, _figure8_verdict,
                _render_figure8),
)
