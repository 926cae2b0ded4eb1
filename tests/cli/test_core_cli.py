"""The experiment core end to end through the command line, offline: datasets by name (aeon's
bundled GunPoint, UCR files in a folder, synthetic designs), `train` with either procedure,
`evaluate` from a checkpoint alone, a bench grid over folder datasets, and `evaluate` giving the
rows of the equivalent bench cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from saliencylab.bench.config import GridConfig
from saliencylab.bench.runner import run_grid
from saliencylab.bench.store import ResultStore
from saliencylab.cli import app
from saliencylab.train import read_checkpoint
from tests.cli.cli_run import invoke as _invoke

runner = CliRunner()
FAST = ["--epochs", "2", "--patience", "2"]




def _rows(run_dir: Path, kind: str = "eval") -> dict[str, dict[tuple[str, str], float]]:
    with ResultStore(Path(run_dir) / "results.sqlite") as store:
        cells = store.cells_frame(kind=kind)
        return {row["method"] if kind == "eval" else row["key"]:
                {(m, s): v for m, s, v in store.rows(row["key"])}
                for row in cells.to_dict("records")}


def _without_timings(rows: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    return {k: v for k, v in rows.items() if "seconds" not in k[0] and "seconds" not in k[1]}


def write_ucr_tsv(folder: Path, name: str, n_train: int = 24, n_test: int = 12,
                  length: int = 40, seed: int = 0) -> Path:
    """A two-class problem in the UCR 2018 layout: ``<folder>/<name>/<name>_TRAIN.tsv`` (label
    in the first column, tab-separated values)."""
    rng = np.random.default_rng(seed)
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    for split, n in (("TRAIN", n_train), ("TEST", n_test)):
        labels = np.arange(n) % 2 + 1
        t = np.linspace(0, 1, length)
        series = rng.normal(0, 0.3, (n, length)) + np.where(labels[:, None] == 1,
                                                             np.sin(6 * t), -np.sin(6 * t))
        lines = ["\t".join([str(lab), *(f"{v:.5f}" for v in row)])
                 for lab, row in zip(labels, series, strict=True)]
        (target / f"{name}_{split}.tsv").write_text("\n".join(lines) + "\n")
    return target


@pytest.fixture(scope="module")
def ucr_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ucr")
    write_ucr_tsv(folder, "WaveA", seed=0)
    write_ucr_tsv(folder, "WaveB", seed=1, length=32)
    return folder


def test_train_then_evaluate_gunpoint_from_the_checkpoint_alone(tmp_path):
    pytest.importorskip("aeon")
    ckpt = tmp_path / "fcn.pt"
    _invoke("train", "--dataset", "gunpoint", "--model", "fcn", *FAST, "--out", ckpt)
    assert read_checkpoint(ckpt)["task"]["dataset"] == "GunPoint"  # canonical spelling
    out = _invoke("evaluate", "--checkpoint", ckpt, "--methods",
                  "gradient,integrated_gradients", "--metrics", "all", "--n", "4",
                  "--run-dir", tmp_path / "run")
    rows = _rows(tmp_path / "run")
    assert set(rows) == {"gradient", "integrated_gradients"}
    for cell in rows.values():
        for metric in ("sanity", "faithfulness", "inter_class_sensitivity", "robustness",
                       "stability"):
            assert cell[(metric, "n")] == 4, metric
        assert not any(m == "aup" for m, _ in cell)  # GunPoint has no ground truth
    assert "faithfulness" in out.output


def test_train_and_evaluate_a_tsv_dataset_from_a_folder(ucr_folder, tmp_path):
    ckpt = tmp_path / "wave.pt"
    _invoke("train", "--dataset", "wavea", "--data-dir", ucr_folder, "--model", "fcn", *FAST,
            "--out", ckpt)
    task = read_checkpoint(ckpt)["task"]
    assert task["dataset"] == "WaveA" and task["data_dir"] == str(ucr_folder)
    _invoke("evaluate", "--checkpoint", ckpt, "--methods", "gradient", "--metrics",
            "faithfulness,stability", "--n", "6", "--run-dir", tmp_path / "run")
    (cell,) = _rows(tmp_path / "run").values()
    assert cell[("faithfulness", "n")] == 6 and ("stability", "mean") in cell


def test_bench_grid_over_two_folder_datasets(ucr_folder, tmp_path):
    grid = GridConfig(name="folder", datasets=["WaveA", "waveb"], data_dir=str(ucr_folder),
                      models=["fcn"], methods=["gradient"], random_baseline=None,
                      metrics=["faithfulness"], train={"epochs": 2, "patience": 2},
                      evaluation={"n_samples": 5, "n_examples": 1})
    summary = run_grid(grid, tmp_path, progress=False)
    assert summary.cells_total == 4 and summary.cells_run == 4
    with ResultStore(tmp_path / "results.sqlite") as store:
        cells = store.cells_frame(kind="eval")
    assert sorted(cells["dataset"]) == ["WaveA", "WaveB"]


def test_train_saliency_guided_on_a_synthetic_design(tmp_path):
    ckpt = tmp_path / "sgt.pt"
    out = _invoke("train", "--dataset", "middle", "--process", "gaussian", "--model", "tcn",
                  "--training", "saliency_guided", "--k", "0.3", *FAST, "-o", "n_train=80",
                  "-o", "n_test=20", "--out", ckpt)
    payload = read_checkpoint(ckpt)
    assert payload["procedure"]["name"] == "saliency_guided"
    assert payload["task"]["sgt"]["k"] == 0.3 and payload["task"]["process"] == "Gaussian"
    assert "test accuracy" in out.output


def test_evaluate_gives_the_rows_of_the_bench_cell(tmp_path):
    """The same checkpoint, method, metrics and seed through `bench` and through `evaluate`."""
    grid = GridConfig(name="one", datasets=["SmallMiddle"], models=["tcn"], methods=["gradient"],
                      random_baseline=None, metrics=["faithfulness", "robustness"],
                      data={"n_train": 60, "n_test": 12, "n_time": 20, "n_features": 16},
                      train={"epochs": 1, "patience": 1},
                      evaluation={"n_samples": 6, "n_examples": 1})
    run_grid(grid, tmp_path / "bench", progress=False)
    (ckpt,) = (tmp_path / "bench" / "models").glob("*.pt")
    _invoke("evaluate", "--checkpoint", ckpt, "--methods", "gradient", "--metrics",
            "faithfulness,robustness", "--n", "6", "--run-dir", tmp_path / "evaluate")
    bench_rows = _without_timings(_rows(tmp_path / "bench")["gradient"])
    evaluate_rows = _without_timings(_rows(tmp_path / "evaluate")["gradient"])
    assert ("aup", "mean") in bench_rows and ("robustness", "mean") in bench_rows
    assert evaluate_rows == bench_rows


def test_explain_works_from_any_checkpoint(ucr_folder, tmp_path):
    ckpt = tmp_path / "wave.pt"
    _invoke("train", "--dataset", "WaveB", "--data-dir", ucr_folder, "--model", "fcn", *FAST,
            "--out", ckpt)
    _invoke("explain", "--checkpoint", ckpt, "--method", "gradient", "--n", "2", "--out",
            tmp_path / "maps")
    saved = np.load(tmp_path / "maps" / "attributions.npz")
    assert saved["attributions"].shape == (2, 32, 1)
    assert (tmp_path / "maps" / "sample_001.png").is_file()


def test_segmentation_model_with_per_step_targets_and_localization_in_bench(tmp_path):
    grid = GridConfig(name="seg", datasets=["SyntheticSegmentation"], models=["utime"],
                      methods=["gradient"], metrics=["localization"],
                      dataset_options={"SyntheticSegmentation": {"n_train": 40, "n_test": 8}},
                      train={"epochs": 2, "patience": 2, "min_test_accuracy": 0.0},
                      evaluation={"n_samples": 6, "n_examples": 1})
    summary = run_grid(grid, tmp_path, progress=False)
    assert summary.cells_run == 3  # one model, random + gradient
    rows = _rows(tmp_path)
    for cell in rows.values():
        assert 0.0 <= cell[("localization", "mean")] <= 1.0
    with np.load(next((tmp_path / "examples").glob("*.npz"))) as ex:
        assert ex["y"].ndim == 2 and ex["saliency"].shape == ex["x"].shape
    assert torch.isfinite(torch.tensor([c[("localization", "mean")] for c in rows.values()])).all()


def test_bench_help_names_every_preset():
    from saliencylab.bench.config import EXPERIMENTS, PRESETS

    text = runner.invoke(app, ["bench", "--help"], env={"COLUMNS": "400"}).output
    text = " ".join(text.replace("│", " ").split())
    for name in [*PRESETS, *EXPERIMENTS]:
        base = name.removesuffix("-full")
        assert base in text, name
