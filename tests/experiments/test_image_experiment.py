"""The [SGT] image experiment and the MNIST-as-time-series maps, at tiny sizes on the bundled
digits: every cell lands in the one store, ROAR cells are stored and skipped on a rerun, the
report has the image section."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from saliencylab.bench.config import EXPERIMENTS, load_config
from saliencylab.bench.store import ResultStore
from saliencylab.errors import ConfigError
from saliencylab.experiments.images import ImagesSettings, auc_table, image_tasks, run_images
from saliencylab.experiments.series import SeriesSettings, run_series_maps

TINY = replace(ImagesSettings.quick(), epochs=2, patience=2, n_eval=30, n_certify=4,
               ig_steps=4, smoothgrad_samples=3, roar_methods=("random", "gradient"),
               roar_fractions=(0.2, 0.8), roar_epochs=1, n_examples=4,
               dataset_options={"n_test": 60})


@pytest.mark.slow  # about 35 s on 2 cores: three trainings, 24 eval cells, 6 ROAR cells
def test_images_experiment_cells_table_and_report(tmp_path: Path) -> None:
    page = run_images(tmp_path, TINY)
    with ResultStore(tmp_path / "results.sqlite") as store:
        assert store.count("train") == 3 and store.count("eval") == 24
        assert store.count("roar") == 6  # 3 trainings x (random, gradient)
    table = auc_table(tmp_path)
    assert set(table["training"]) == {"traditional", "saliency_guided", "fine_tuned"}
    assert table[["iid", "ood"]].notna().all().all()
    assert table.loc[table["method"] == "gradient", "roar"].notna().all()
    assert table.loc[table["method"] == "smoothgrad", "roar"].isna().all()
    assert ((table[["iid", "ood"]] >= 0) & (table[["iid", "ood"]] <= 100 * 60)).all().all()
    text = page.read_text()
    for figure in ("images_accuracy_drop.png", "images_maps.png", "images_gradients.png"):
        assert figure in text and (page.parent / figure).is_file()
    assert "Table 2" in (tmp_path / "images_auc.md").read_text()
    # A rerun finds every cell stored, ROAR included (nothing is retrained).
    before = (tmp_path / "results.sqlite").stat().st_mtime_ns
    run_images(tmp_path, TINY)
    with ResultStore(tmp_path / "results.sqlite") as store:
        assert store.count("roar") == 6
    assert before <= (tmp_path / "results.sqlite").stat().st_mtime_ns


def test_image_tasks() -> None:
    trains, evals = image_tasks(TINY)
    assert [t.training for t in trains] == ["traditional", "saliency_guided", "fine_tuned"]
    assert trains[1].sgt["k"] == 0.5 and trains[1].sgt["lam"] == 1.0  # [SGT] supp. Table 1
    assert len(evals) == 3 * 4 * 2
    drop = [e for e in evals if e.label is None]
    assert all(e.metrics == ("accuracy_drop_iid", "accuracy_drop_ood") for e in drop)
    assert all(e.evaluation["postprocess"] is None for e in evals)  # raw maps are ranked


def test_presets_are_experiments() -> None:
    assert EXPERIMENTS["images-quick"]["runner"] == "images"
    with pytest.raises(ConfigError, match="run_images"):
        load_config(preset="mnist")
    with pytest.raises(ConfigError, match="roar_methods"):
        ImagesSettings(roar_methods=("lime",))


def test_digits_as_series_maps(tmp_path: Path) -> None:
    settings = SeriesSettings(models=("tcn", "lstm_ica"), methods=("gradient", "smoothgrad"),
                              epochs=1, patience=1, n_examples=2)
    png = run_series_maps(tmp_path, settings, out=tmp_path / "maps.png")
    assert png.is_file() and png.stat().st_size > 1000
    with ResultStore(tmp_path / "results.sqlite") as store:
        assert store.count("train") == 4 and store.count("eval") == 8  # 2 x 2 trainings x 2
    with pytest.raises(ConfigError, match="series"):
        run_series_maps(tmp_path / "x", SeriesSettings(dataset="digits"))


def test_cifar10_grid_file_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    grid = load_config(root / "benchmarks" / "configs" / "cifar10.yaml")
    assert grid.models == ["resnet18"] and "fine_tuned" in grid.training
    grid.validate_names()  # names, metrics and options, without the data
