"""The papers' figures on the reproduction page: verdicts by the stated rules, from stores."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from saliencylab.bench.paper_tables import PAPER_FIGURES
from saliencylab.bench.store import ResultStore
from saliencylab.metrics.distribution import DECAY_FRACTIONS, DECAY_OUTPUTS
from saliencylab.report.figures import figure_rows
from saliencylab.report.reproduction import write_reproduction


def _store(root: Path, preset: str) -> ResultStore:
    run = root / preset
    run.mkdir(parents=True)
    (run / "grid.yaml").write_text(yaml.safe_dump({"name": preset, "random_baseline": None}))
    return ResultStore(run / "results.sqlite")


def _fake_figure3(root: Path, curve) -> None:
    with _store(root, "tsb-figure3") as store:
        for process in ("Gaussian", "Harmonic", "CAR"):
            ids = {"dataset": "Middle", "process": process, "model": "tcn",
                   "training": "traditional", "seed": 0}
            store.write_cell(f"train-{process}", "train", ids, [
                ("test_accuracy", "value", 1.0), ("fit_to_interpret", "value", 1.0)],
                duration=1.0)
            for method in ("gradient", "occlusion", "random"):
                rows = [(n, "mean", curve(q))
                        for n, q in zip(DECAY_OUTPUTS, DECAY_FRACTIONS, strict=True)]
                store.write_cell(f"eval-{process}-{method}", "eval",
                                 {**ids, "method": method, "train_key": f"train-{process}"},
                                 [*rows, ("top10_share", "mean", 0.5)], duration=1.0)


def _fake_figure8(root: Path, cnn_leak: float) -> None:
    with _store(root, "tsb-figure8") as store:
        cats = {"series_cnn": (0.8, 0.8 * cnn_leak, 0.1, 0.05), "tcn": (0.5, 0.5, 0.1, 0.1),
                "tcn_univariate": (0.6, 0.1, 0.1, 0.05), "tcn_bivariate": (0.4, 0.5, 0.1, 0.1)}
        for model, values in cats.items():
            ids = {"dataset": "Middle", "process": "Gaussian", "model": model,
                   "training": "traditional", "seed": 0}
            store.write_cell(f"train-{model}", "train", ids, [
                ("test_accuracy", "value", 0.99), ("fit_to_interpret", "value", 1.0)],
                duration=1.0)
            names = ("pix_time_feature", "pix_time_only", "pix_feature_only", "pix_neither")
            store.write_cell(f"eval-{model}", "eval",
                             {**ids, "method": "gradient", "train_key": f"train-{model}"},
                             [(n, "mean", v) for n, v in zip(names, values, strict=True)],
                             duration=1.0)


def test_exponential_curves_and_the_papers_categories_agree(tmp_path: Path) -> None:
    _fake_figure3(tmp_path, lambda q: math.exp(-8 * q))
    _fake_figure8(tmp_path, cnn_leak=0.2)
    rows = {r["table"]: r for r in figure_rows(tmp_path)}
    assert rows["[TSB] Figure 3"]["verdict"] == "agrees"
    fig3 = rows["[TSB] Figure 3"]["frame"]
    assert len(fig3) == 9 and fig3["rate"].round(6).eq(8.0).all()
    assert rows["[TSB] Figure 8"]["verdict"] == "agrees"
    page = write_reproduction(tmp_path / "docs" / "reproduction.md", run_root=tmp_path)
    text = page.read_text()
    assert "## [TSB] Figure 3" in text and "## [TSB] Figure 8" in text
    assert "| [TSB] Figure 3 | tsb-figure3 | 1 | 1 | 0 | 0 |" in text
    assert (tmp_path / "docs" / "img" / "tsb_figure3.png").is_file()
    assert (tmp_path / "docs" / "img" / "tsb_figure8.png").is_file()


def test_a_linear_decay_and_a_leaky_cnn_disagree(tmp_path: Path) -> None:
    _fake_figure3(tmp_path, lambda q: 1.0 - 1.9 * q)  # log-linear R² > 0.9, but a line
    _fake_figure8(tmp_path, cnn_leak=1.2)  # the CNN's box no brighter than its time-only cells
    rows = {r["table"]: r for r in figure_rows(tmp_path)}
    assert rows["[TSB] Figure 3"]["verdict"] == "disagrees"
    assert rows["[TSB] Figure 8"]["verdict"] == "disagrees"
    assert "(1) no" in rows["[TSB] Figure 8"]["measured"]


def test_not_run_is_not_comparable(tmp_path: Path) -> None:
    rows = figure_rows(tmp_path / "nothing")
    assert [r["table"] for r in rows] == list(PAPER_FIGURES)  # every figure has a check
    assert {r["verdict"] for r in rows} == {"not comparable"}
    text = write_reproduction(tmp_path / "page.md", run_root=tmp_path / "nothing").read_text()
    assert "Preset `tsb-figure3` not run yet" in text
    assert "Preset `segmentation` not run yet" in text and "## [OBJ] Figure 8" in text


def _train(store: ResultStore, dataset: str, model: str) -> dict:
    ids = {"dataset": dataset, "model": model, "training": "traditional", "seed": 0}
    store.write_cell(f"train-{dataset}-{model}", "train", ids, [
        ("test_accuracy", "value", 0.99), ("fit_to_interpret", "value", 1.0)], duration=1.0)
    return {**ids, "train_key": f"train-{dataset}-{model}"}


def _eval(store: ResultStore, ids: dict, method: str, values: dict[str, float]) -> None:
    store.write_cell(f"eval-{ids['dataset']}-{ids['model']}-{method}", "eval",
                     {**ids, "method": method}, [(k, "mean", v) for k, v in values.items()],
                     duration=1.0)


def _fake_tsb_table1(root: Path, drop: float, feature_aur: float) -> None:
    """Two datasets, two methods and the random baseline; each method's accuracy falls ``drop``
    points per 10 % masked faster than the baseline's."""
    with _store(root, "tsb-table1") as store:
        for dataset in ("Middle", "MovingMiddle"):
            ids = _train(store, dataset, "tcn")
            for method, slope in (("gradient", drop), ("smoothgrad", drop),
                                  ("tsb_random", 0.0)):
                curve = {f"accuracy_pct@{d / 10:g}": 100.0 - (2 + slope) * d for d in range(11)}
                auc = sum(curve.values()) / 10 - (curve["accuracy_pct@0"]
                                                  + curve["accuracy_pct@1"]) / 20
                _eval(store, ids, method, {
                    **curve, "accuracy_auc": auc, "aup": 0.4, "aur": 0.5, "aupr": 0.3,
                    "time_aup": 0.6, "time_aur": 0.6, "time_aupr": 0.5, "feature_aup": 0.2,
                    "feature_aur": feature_aur, "feature_aupr": 0.2})


def test_tsb_figures_6_and_7_follow_their_rules(tmp_path: Path) -> None:
    _fake_tsb_table1(tmp_path / "a", drop=0.0, feature_aur=0.7)  # no faster than random
    rows = {r["table"]: r for r in figure_rows(tmp_path / "a")}
    assert rows["[TSB] Figure 6"]["verdict"] == "agrees"
    assert rows["[TSB] Figure 6"]["frame"]["vs_random"].abs().max() < 1e-9
    assert rows["[TSB] Figure 7"]["verdict"] == "agrees"
    _fake_tsb_table1(tmp_path / "b", drop=2.0, feature_aur=0.3)  # 10 points below random
    rows = {r["table"]: r for r in figure_rows(tmp_path / "b")}
    assert rows["[TSB] Figure 6"]["verdict"] == "disagrees"
    assert rows["[TSB] Figure 6"]["frame"].query("method == 'gradient'")["vs_random"].round(
        6).eq(-10.0).all()
    assert rows["[TSB] Figure 7"]["verdict"] == "disagrees"  # feature AUR 0.3 < 2 x AUP 0.2
    assert "(c) yes, (d) no" in rows["[TSB] Figure 7"]["measured"]


def _fake_segmentation(root: Path, dataset: str, gradcam: float) -> None:
    flat = {"gradcam": gradcam, "gradient": 0.5, "smoothgrad": 0.45, "lime": 0.4,
            "integrated_gradients": 0.1, "lrp": 0.05, "random": 0.3}
    with _store(root, "segmentation") as store:
        for model, scale in (("utime", 1.0), ("bilstm_seg", 0.5)):
            ids = _train(store, dataset, model)
            for method, value in flat.items():
                if model == "bilstm_seg" and method in ("gradcam", "lrp"):
                    continue  # not applicable: no cell, as the grid records it
                v = value * scale
                _eval(store, ids, method, {"localization_flat": v, "localization_front": v / 2,
                                           "localization_middle": v * 1.2,
                                           "localization_back": v / 3})
        (root / "segmentation" / "grid.yaml").write_text(yaml.safe_dump(
            {"name": "segmentation", "methods": [m for m in flat if m != "random"]}))


def test_obj_localization_figures_compare_only_on_the_papers_data(tmp_path: Path) -> None:
    _fake_segmentation(tmp_path / "paper", "ToolTracking", gradcam=0.8)
    rows = {r["table"]: r for r in figure_rows(tmp_path / "paper")}
    assert rows["[OBJ] Figure 3"]["verdict"] == "agrees"
    assert rows["[OBJ] Figure 6"]["verdict"] == "agrees"  # bi-LSTM best 0.25 < U-Time's 0.8
    _fake_segmentation(tmp_path / "weak", "ToolTracking", gradcam=0.2)
    rows = {r["table"]: r for r in figure_rows(tmp_path / "weak")}
    assert rows["[OBJ] Figure 3"]["verdict"] == "disagrees"
    assert "(1) no, (2) yes, (3) yes" in rows["[OBJ] Figure 3"]["measured"]
    _fake_segmentation(tmp_path / "synthetic", "SyntheticSegmentation", gradcam=0.8)
    rows = {r["table"]: r for r in figure_rows(tmp_path / "synthetic")}
    fig3 = rows["[OBJ] Figure 3"]
    assert fig3["verdict"] == "not comparable" and fig3["stand_in"] == "SyntheticSegmentation"
    assert "the rule gives *agrees*" in fig3["measured"]
    text = write_reproduction(tmp_path / "page.md", run_root=tmp_path / "synthetic").read_text()
    assert "Not applicable to this model (no cells): gradcam, lrp." in text


_QUALITY = ("sanity", "faithfulness", "inter_class_sensitivity", "robustness", "stability")
# Scores of the nine methods as [OBJ] §4.3 / §5 read them: high sanity for Gradient, IG, LIME
# and KernelSHAP; GradCAM the most class-sensitive; IG and Guided Backprop the least; Gradient,
# LIME and SmoothGrad the least robust; Guided GradCAM the most stable.
_PAPERS_READING = {
    "gradient": (0.9, 0.9, 0.5, 0.1, 0.4), "integrated_gradients": (0.9, 0.8, 0.1, 0.6, 0.5),
    "smoothgrad": (0.5, 0.5, 0.6, 0.2, 0.3), "guided_backprop": (0.2, 0.6, 0.2, 0.7, 0.6),
    "gradcam": (0.6, 0.2, 0.9, 0.8, 0.55), "guided_gradcam": (0.1, 0.3, 0.55, 0.9, 0.9),
    "lrp": (0.3, 0.55, 0.45, 0.5, 0.45), "lime": (0.8, 0.85, 0.7, 0.15, 0.35),
    "kernel_shap": (0.85, 0.1, 0.65, 0.55, 0.2)}


def _fake_quality(root: Path, dataset: str, tcn_shift: float) -> None:
    with _store(root, "quality") as store:
        for model, shift in (("fcn", 0.0), ("tcn_obj", tcn_shift)):
            ids = _train(store, dataset, model)
            for method, values in _PAPERS_READING.items():
                scores = dict(zip(_QUALITY, values, strict=True))
                scores["faithfulness"] += shift  # the architectures differ in faithfulness
                _eval(store, ids, method, scores)


def test_obj_quality_figures_follow_their_rules(tmp_path: Path) -> None:
    _fake_quality(tmp_path / "a", "FordB", tcn_shift=0.05)
    rows = {r["table"]: r for r in figure_rows(tmp_path / "a")}
    for figure in ("[OBJ] Figure 4", "[OBJ] Figure 5", "[OBJ] Figure 7"):
        assert rows[figure]["verdict"] == "agrees", rows[figure]["measured"]
    _fake_quality(tmp_path / "b", "FordB", tcn_shift=0.3)  # the architecture matters
    rows = {r["table"]: r for r in figure_rows(tmp_path / "b")}
    assert rows["[OBJ] Figure 7"]["verdict"] == "disagrees"
    assert "(1) no, (2) yes" in rows["[OBJ] Figure 7"]["measured"]
    _fake_quality(tmp_path / "c", "GunPoint", tcn_shift=0.05)  # not one of the paper's six
    rows = {r["table"]: r for r in figure_rows(tmp_path / "c")}
    assert rows["[OBJ] Figure 4"]["verdict"] == "not comparable"
    assert rows["[OBJ] Figure 4"]["stand_in"] == "GunPoint"
    page = write_reproduction(tmp_path / "page.md", run_root=tmp_path / "c")
    for image in ("obj_figure4.png", "obj_figure5.png", "obj_figure7.png", "obj_figure8.png"):
        assert (tmp_path / "img" / image).is_file()
    assert "| [OBJ] Figure 4 | quality | 1 | 0 | 0 | 1 |" in page.read_text()


def test_uncorrelated_metrics_agree_with_obj_figure_8(tmp_path: Path) -> None:
    import numpy as np

    for name, twin in (("independent", False), ("twin", True)):
        rng = np.random.default_rng(0)
        with _store(tmp_path / name, "quality") as store:
            for dataset in ("FordA", "FordB", "NATOPS"):
                for model in ("fcn", "tcn_obj"):
                    ids = _train(store, dataset, model)
                    for method in _PAPERS_READING:
                        scores = dict(zip(_QUALITY, rng.random(5), strict=True))
                        if twin:  # robustness measures what sanity measures
                            scores["robustness"] = 0.5 * scores["sanity"] + 0.1
                        _eval(store, ids, method, scores)
    fig8 = {r["table"]: r for r in figure_rows(tmp_path / "independent")}["[OBJ] Figure 8"]
    assert fig8["verdict"] == "agrees", fig8["measured"]
    fig8 = {r["table"]: r for r in figure_rows(tmp_path / "twin")}["[OBJ] Figure 8"]
    assert fig8["verdict"] == "disagrees"
    assert "largest |r| 1.00 (robustness / sanity)" in fig8["measured"]
