"""Saliency guided training on images through the one trainer and the `train` CLI: MNIST from a
folder of IDX files, the [SGT] supplement Table 1 defaults (k = 50 %, lambda = 1), fine-tuning a
traditionally trained model, and `evaluate` / `explain` on the image checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch
from typer.testing import CliRunner

from saliencylab.bench.cells import TrainTask, run_train_cell
from saliencylab.train import model_from_checkpoint, read_checkpoint
from tests.cli.cli_run import invoke as _invoke
from tests.data.test_image_sources import write_mnist

runner = CliRunner()




def test_train_sgt_on_mnist_idx_then_evaluate(tmp_path: Path) -> None:
    write_mnist(tmp_path / "mnist", n_train=60, n_test=20, size=12, gz=True)
    ckpt = tmp_path / "cnn.pt"
    _invoke("train", "--dataset", "mnist", "--data-dir", tmp_path / "mnist", "--model",
            "mnist_cnn", "--training", "saliency_guided", "--epochs", "1", "--patience", "1",
            "-o", "n_val=10", "-m", "hidden=8", "--out", ckpt)
    payload = read_checkpoint(ckpt)
    assert payload["procedure"]["name"] == "saliency_guided"
    assert payload["procedure"]["k"] == 0.5 and payload["procedure"]["lam"] == 1.0
    assert payload["model_config"]["image_size"] == [12, 12]
    out = _invoke("evaluate", "--checkpoint", ckpt, "--methods", "gradient", "--metrics",
                  "accuracy_drop,completeness", "--n", "4", "--run-dir", tmp_path / "run")
    assert "accuracy_drop_iid" in out.output


def test_fine_tuned_is_traditional_then_sgt() -> None:
    base = {"train": {"epochs": 2, "patience": 2, "batch_size": 128}, "seed": 0,
            "model_kwargs": {"hidden": 16}}
    trad = run_train_cell(TrainTask("digits", None, "mnist_cnn", "traditional", **base))
    tuned = run_train_cell(TrainTask("digits", None, "mnist_cnn", "fine_tuned",
                                     sgt={"k": 0.5, "lam": 1.0}, **base))
    rows = {m: v for m, _, v in tuned.rows}
    assert rows["epochs_run"] == 4  # 2 traditional + 2 saliency guided epochs
    assert tuned.checkpoint["procedure"]["name"] == "saliency_guided"
    a, _ = model_from_checkpoint(trad.checkpoint)
    b, _ = model_from_checkpoint(tuned.checkpoint)
    assert not torch.equal(a.fc2.weight, b.fc2.weight)  # continued from the trained weights


def test_mnist_preset_needs_the_idx_folder(tmp_path: Path) -> None:
    import pytest

    from saliencylab.errors import ConfigError

    with pytest.raises(ConfigError, match="train-images-idx3-ubyte"):
        _invoke("bench", "--preset", "mnist", "--run-dir", tmp_path / "run")
    with pytest.raises(ConfigError, match="reads no folder"):
        _invoke("bench", "--preset", "images-quick", "--data-dir", tmp_path)
    assert not (tmp_path / "run").exists()


def test_check_on_an_experiment_builds_its_cells_and_runs_nothing(tmp_path: Path) -> None:
    import pytest

    from saliencylab.data.image_sources import ImageFormatError
    from saliencylab.errors import ConfigError
    from saliencylab.experiments.certify import CertifySettings, certify_tasks
    from saliencylab.experiments.images import ImagesSettings, image_tasks

    write_mnist(tmp_path / "mnist", n_train=2010, n_test=20, size=12)  # n_val = 2000
    cases = [
        ("mnist-small", ["--data-dir", tmp_path / "mnist"],
         image_tasks(ImagesSettings.mnist_small(tmp_path / "mnist"))),
        ("certify", [], certify_tasks(CertifySettings.quick())),
    ]
    for preset, extra, (trains, evals) in cases:
        run_dir = tmp_path / preset
        out = _invoke("bench", "--preset", preset, "--check", "--run-dir", run_dir, *extra)
        assert f"{len(trains)} cells to train, {len(evals)} cells to evaluate" in out.output
        assert "nothing run" in out.output
        assert not run_dir.exists()  # no store, no checkpoints, no page
    with pytest.raises(ImageFormatError, match="does not exist"):  # the data is checked
        _invoke("bench", "--preset", "mnist-small", "--check", "--data-dir", tmp_path / "none")
    # a grid run's options are refused, not ignored
    for option in (["--workers", "2"], ["--executor", "ray"], ["--max-cells", "1"]):
        with pytest.raises(ConfigError, match=f"{option[0]} applies to grids only"):
            _invoke("bench", "--preset", "certify", "--run-dir", tmp_path / "c", *option)
    assert not (tmp_path / "c").exists()
