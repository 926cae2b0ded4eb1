"""The grid's `metrics:` axis: quality rows in eval cells next to the ground truth, UCR data
without ground truth, the quality preset, validation, and the report's quality section."""

from __future__ import annotations

import pytest

from saliencylab.bench.cells import EvalTask
from saliencylab.bench.config import (
    OBJ_METHODS,
    OBJ_METRICS,
    GridConfig,
    cell_metrics,
    load_config,
)
from saliencylab.bench.plan import eval_tasks, train_tasks
from saliencylab.bench.runner import run_grid
from saliencylab.bench.store import ResultStore
from saliencylab.errors import ConfigError, NotApplicableError, UnknownNameError
from saliencylab.explain import OBJ_PRESETS
from saliencylab.metrics import resolve_metrics

from .tiny_grid import TINY, tiny_grid

QUALITY = ["faithfulness", "stability", "insertion"]


def _rows(run_dir, kind="eval"):
    with ResultStore(run_dir / "results.sqlite") as store:
        return {key: {(m, s): v for m, s, v in store.rows(key)}
                for key in store.finished_keys(kind)}


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("quality-run")
    grid = tiny_grid(models=["tcn"], tsr=[], metrics=QUALITY)
    summary = run_grid(grid, run_dir, progress=False)
    return run_dir, summary


def test_eval_cells_hold_groundtruth_and_quality_rows(synthetic_run):
    run_dir, summary = synthetic_run
    assert summary.cells_total == 3 and summary.cells_run == 3  # 1 model + random, gradient
    evals = _rows(run_dir)
    assert len(evals) == 2
    for rows in evals.values():
        assert 0.0 <= rows[("aup", "mean")] <= 0.8 + 1e-9  # the [TSB] evaluation still runs
        assert -1.0 <= rows[("faithfulness", "mean")] <= 1.0
        assert rows[("stability", "mean")] <= 0.0
        assert 0.0 <= rows[("insertion", "mean")] <= 1.0
        n = TINY["evaluation"]["n_samples"]
        assert rows[("faithfulness", "n")] == n and rows[("insertion", "n")] == n
        assert ("faithfulness", "seconds") in rows


def test_report_shows_the_quality_heatmaps(synthetic_run):
    from saliencylab.report.html import write_report

    run_dir, _ = synthetic_run
    page = write_report(run_dir).read_text()
    assert "Diff(AUP)" in page  # the [TSB] part is kept
    assert "Quality metrics" in page and "quality_heatmap.png" in page
    assert "quality_normalized.png" in page
    for name in ("quality_heatmap.png", "quality_normalized.png"):
        png = run_dir / "report" / name
        assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"


def test_quality_frame_and_normalised_scores(synthetic_run):
    from saliencylab.report.quality import normalized_scores, quality_frame

    run_dir, _ = synthetic_run
    with ResultStore(run_dir / "results.sqlite") as store:
        frame = quality_frame(store)
    assert set(frame["metric"]) == set(QUALITY)
    assert set(frame["method"]) == {"random", "gradient"}
    assert set(frame["dataset"]) == {"Middle/Gaussian"}
    z = normalized_scores(frame)
    for _, group in z.groupby(["metric", "dataset"]):
        assert abs(group["z"].mean()) < 1e-9  # mean 0 across methods
        assert sorted(group["z"].round(6)) in ([-1.0, 1.0], [0.0, 0.0])  # two methods


def test_every_synthetic_cell_has_the_ground_truth_and_metrics_change_the_key():
    grid = tiny_grid()
    task = eval_tasks(grid, train_tasks(grid))[0]
    assert task.metrics == ("aup", "aur", "aupr", "accuracy_auc")
    with_metrics = eval_tasks(tiny_grid(metrics=["faithfulness"]), train_tasks(grid))[0]
    assert with_metrics.key != task.key
    assert with_metrics.metrics == ("aup", "aur", "aupr", "accuracy_auc", "faithfulness")


def test_ucr_grid_stores_quality_rows_only(tmp_path):
    from saliencylab.data import shipped_datasets
    from saliencylab.report.html import write_report

    if "GunPoint" not in shipped_datasets():
        pytest.skip("aeon is not installed")
    grid = GridConfig(
        name="ucr-tiny", datasets=["gunpoint"], models=["fcn"], methods=["gradient", "gradcam"],
        random_baseline=None, metrics=["faithfulness", "certification"],
        train={"epochs": 2, "batch_size": 16, "patience": 2},
        evaluation={"n_samples": 8, "n_examples": 1},
    )
    summary = run_grid(grid, tmp_path, progress=False)
    assert summary.cells_total == 3 and summary.cells_run == 3
    (train,) = _rows(tmp_path, "train").values()
    assert 0.0 <= train[("test_accuracy", "value")] <= 1.0
    evals = _rows(tmp_path)
    assert len(evals) == 2
    for rows in evals.values():
        assert not any(m == "aup" for m, _ in rows)  # no ground truth on real data
        for name in ("completeness", "soundness", "deletion", "insertion"):
            assert 0.0 < rows[(name, "mean")] <= 1.0 + 1e-6
        assert rows[("faithfulness", "n")] == 8
    with ResultStore(tmp_path / "results.sqlite") as store:
        configs = store.cells_frame()
    assert configs["process"].isna().all() and set(configs["dataset"]) == {"GunPoint"}
    page = write_report(tmp_path).read_text()
    assert "quality_heatmap.png" in page and "Diff(AUP)" not in page


def test_quality_preset_is_the_obj_grid():
    grid = load_config(preset="quality")
    grid.validate_names()
    assert grid.dataset_names() == ["GunPoint"]
    assert set(grid.models) == {"fcn", "tcn_obj"}
    # the max-pooled [OBJ] FCN misses the 95 % gate on GunPoint; the preset trains Wang et al.'s
    assert grid.model_kwargs["fcn"] == {"pooling": "avg"}
    trains = {t.model: t for t in train_tasks(grid)}
    assert trains["fcn"].model_kwargs == {"pooling": "avg"} and trains["tcn_obj"].model_kwargs == {}
    assert grid.all_methods() == OBJ_METHODS and len(OBJ_METHODS) == 9  # no random baseline
    assert grid.metrics == OBJ_METRICS and len(OBJ_METRICS) == 5
    for method, settings in OBJ_PRESETS.items():
        assert grid.method_params[method] == settings
    assert grid.evaluation.n_samples >= 150  # GunPoint's whole test set
    trains = train_tasks(grid)
    evals = eval_tasks(grid, trains)
    assert {t.process for t in trains} == {None} and len(evals) == 18
    assert {t.metrics for t in evals} == {tuple(OBJ_METRICS)}


def test_bad_metric_axes_say_what_is_wrong():
    with pytest.raises(ConfigError, match="metrics"):
        load_config(preset="quick", datasets=["GunPoint"]).validate_names()
    with pytest.raises(ConfigError, match="at least one"):
        load_config(preset="quick", datasets=[])
    with pytest.raises(UnknownNameError, match="faithfulness"):
        load_config(preset="quick", metrics=["faithfullness"]).validate_names()
    with pytest.raises(ConfigError, match="radius"):
        load_config(preset="quick", metrics=["robustness"],
                    metric_params={"robustness": {"r": 0.2}}).validate_names()
    with pytest.raises(NotApplicableError, match="segment"):
        load_config(preset="quick", metrics=["localization"]).validate_names()
    with pytest.raises(UnknownNameError, match="did you mean 'Middle'"):
        load_config(preset="quick", datasets=["Midle"]).validate_names()


def test_cell_metrics_resolve_names_and_groups_per_source():
    assert cell_metrics("GunPoint", ["all"])[:5] == tuple(OBJ_METRICS)
    assert "aup" not in cell_metrics("GunPoint", ["all"])
    assert cell_metrics("Middle", ["certification"]) == (
        "aup", "aur", "aupr", "accuracy_auc", "completeness", "soundness", "deletion",
        "insertion")
    with pytest.raises(NotApplicableError, match="ground"):
        cell_metrics("GunPoint", ["aur"])
    assert resolve_metrics("localization", modality="time_series", task="segmentation",
                           has_groundtruth=False, has_background=False) == ["localization"]


def test_eval_task_with_metrics_is_content_addressed():
    grid = tiny_grid(metrics=["faithfulness"])
    a = eval_tasks(grid, train_tasks(grid))
    b = eval_tasks(tiny_grid(metrics=["faithfulness"], metric_params={}), train_tasks(grid))
    assert [t.key for t in a] == [t.key for t in b]
    c = eval_tasks(tiny_grid(metrics=["stability"]), train_tasks(grid))
    assert not {t.key for t in a} & {t.key for t in c}
    assert isinstance(a[0], EvalTask)


def test_segmentation_cells_explain_the_segments_classes_only():
    """[OBJ] §3.6 localizes class-specific relevance: the no-class steps are not explained."""
    import torch

    from saliencylab.bench.cells import explain_targets
    from saliencylab.data import load_dataset

    data = load_dataset("SyntheticSegmentation", seed=0, n_train=8, n_test=6)
    y = data.test.y
    targets = explain_targets(data, data.test)
    background = y == data.meta["background_label"]
    assert background.any() and (~background).any()
    assert torch.equal(targets[background], torch.full_like(y[background], -1))
    assert torch.equal(targets[~background], y[~background])
    gunpoint = load_dataset("GunPoint")
    assert torch.equal(explain_targets(gunpoint, gunpoint.test), gunpoint.test.y)


def test_reference_localization_explains_each_samples_dominant_class():
    """With the localization metric's reference_quirks ([OBJ]'s released code) every valid
    step of a sample explains its most frequent labelled class."""
    import torch

    from saliencylab.bench.cells import EvalTask, TrainTask, dominant_targets, explain_targets
    from saliencylab.data import load_dataset
    from saliencylab.metrics.localization import dominant_class

    data = load_dataset("SyntheticSegmentation", seed=0, n_train=8, n_test=6)
    targets = explain_targets(data, data.test, dominant=True)
    expected = dominant_class(data.test.y)
    has = expected >= 0
    assert torch.equal(targets[has], expected[has][:, None].expand(-1, targets.shape[1]))
    assert (targets[~has] == -1).all()
    train = TrainTask("SyntheticSegmentation", None, "utime", "traditional", 0)
    quirks = EvalTask(train, "gradient", metrics=("localization_flat",),
                      metric_params={"localization_biases": {"reference_quirks": True}})
    assert dominant_targets(quirks)
    assert not dominant_targets(EvalTask(train, "gradient", metrics=("localization",)))
