"""[TSB] Figures 3 and 8 on the reproduction page: verdicts by the stated rules, from stores."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

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
    assert [r["verdict"] for r in rows] == ["not comparable", "not comparable"]
    text = write_reproduction(tmp_path / "page.md", run_root=tmp_path / "nothing").read_text()
    assert "Preset `tsb-figure3` not run yet" in text
