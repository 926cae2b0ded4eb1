"""Bad input, table-driven: every case must raise a `SaliencyLabError` of the expected class whose
message holds the expected fragment — across the API, the CLI, files (checkpoints, stores,
UCR files) and grid YAML. The README's reliability section quotes the number of cases."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from saliencylab import errors as E
from saliencylab.bench.config import GridConfig, load_config
from saliencylab.bench.plan import check_grid
from saliencylab.bench.store import ResultStore
from saliencylab.cli import app
from saliencylab.data import Split, load_dataset, load_from_spec
from saliencylab.explain import explain
from saliencylab.metrics import (
    MetricContext,
    check_metric_options,
    faithfulness,
    groundtruth_scores,
    make_explain_fn,
    resolve_metrics,
    robustness,
    stability,
)
from saliencylab.models import build_model, build_model_for
from saliencylab.train import SaliencyGuided, TrainConfig, fit, load_checkpoint, make_checkpoint
from saliencylab.train.masking import get_masking


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[Any], Any]
    error: type[E.SaliencyLabError]
    fragment: str


class Env:
    """Small shared inputs, built once per module."""

    def __init__(self, root: Path):
        self.root = root
        torch.manual_seed(0)
        self.data = load_dataset("SmallMiddle", n_train=40, n_test=8, n_time=20, n_features=16)
        self.tcn = build_model_for("tcn", self.data, seed=0).eval()
        self.x, self.y = self.data.test.x[:4], self.data.test.y[:4]
        self.maps = torch.rand_like(self.x)
        self.images = torch.rand(4, 1, 8, 8)
        self.cnn = build_model("mnist_cnn", in_channels=1, image_size=8, n_classes=10,
                               seed=0).eval()
        self.ucr = root / "ucr"

    def tsv(self, name: str, train: str, test: str) -> Path:
        folder = self.ucr / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}_TRAIN.tsv").write_text(train)
        (folder / f"{name}_TEST.tsv").write_text(test)
        return self.ucr

    def file(self, name: str, content: bytes | str) -> Path:
        path = self.root / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    def checkpoint(self, name: str, **changes: Any) -> Path:
        payload = make_checkpoint(self.tcn)
        for key, value in changes.items():
            if value is None:
                payload.pop(key)
            else:
                payload[key] = value
        path = self.root / name
        torch.save(payload, path)
        return path

    def grid_file(self, name: str, text: str) -> Path:
        return self.file(name, text)

    def store(self, name: str, content: bytes) -> Path:
        run = self.root / name
        run.mkdir(exist_ok=True)
        (run / "results.sqlite").write_bytes(content)
        return run


def _cli(*args: Any) -> None:
    """Run the CLI; re-raise the error it ended with (exit code 2 comes from the same error)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    raise AssertionError(f"expected an error, got exit {result.exit_code}: {result.output}")


GOOD_TSV = ("1\t0.1\t0.2\t0.3\t0.4\n2\t0.5\t0.1\t0.2\t0.3\n"
            "1\t0.3\t0.2\t0.1\t0.0\n2\t0.9\t0.8\t0.7\t0.6\n")
TINY_GRID = ("name: t\ndatasets: [SmallMiddle]\nmodels: [tcn]\nmethods: [gradient]\n"
             "data: {n_train: 40, n_test: 8, n_time: 20, n_features: 16}\n")


def _grid(**changes: Any) -> GridConfig:
    base = dict(name="t", datasets=["SmallMiddle"], models=["tcn"], methods=["gradient"],
                data={"n_train": 40, "n_test": 8, "n_time": 20, "n_features": 16},
                train={"epochs": 1})
    return GridConfig(**{**base, **changes})


def _ctx(**kw: Any) -> MetricContext:
    return MetricContext(**kw)


def _explain_fn() -> Any:
    return make_explain_fn("gradient")


CASES: list[Case] = [
    # --- data by name -----------------------------------------------------------------------
    Case("data-unknown-name", lambda e: load_dataset("Midle"), E.UnknownNameError,
         "did you mean 'Middle'"),
    Case("data-unknown-process", lambda e: load_dataset("Middle", process="Gausian"),
         E.UnknownNameError, "Gaussian"),
    Case("data-process-for-ucr", lambda e: load_dataset("GunPoint", process="Gaussian"),
         E.ConfigError, "process"),
    Case("data-dir-for-synthetic", lambda e: load_dataset("Middle", data_dir=e.root),
         E.ConfigError, "data_dir"),
    Case("data-name-escapes", lambda e: load_dataset("../etc/passwd", data_dir=e.root),
         E.ConfigError, "plain name"),
    Case("data-name-absolute", lambda e: load_dataset("/etc/passwd"), E.ConfigError,
         "plain name"),
    Case("data-name-separator", lambda e: load_dataset("a/b", data_dir=e.root), E.ConfigError,
         "plain name"),
    Case("data-name-not-str", lambda e: load_dataset(3), E.ConfigError, "string"),
    Case("data-unknown-option", lambda e: load_dataset("Middle", n_trian=10), E.ConfigError,
         "n_train"),
    Case("data-n-train-zero", lambda e: load_dataset("Middle", n_train=0), E.ConfigError,
         "n_train"),
    Case("data-n-test-negative", lambda e: load_dataset("Middle", n_test=-5), E.ConfigError,
         "n_test"),
    Case("data-mu-text", lambda e: load_dataset("Middle", mu="abc"), E.ConfigError, "mu"),
    Case("data-box-does-not-fit", lambda e: load_dataset("Middle", n_time=10), E.ConfigError,
         "fit"),
    Case("data-missing-folder", lambda e: load_dataset("ECG200", data_dir=e.root / "nope"),
         E.SaliencyLabError, "does not exist"),
    Case("data-folder-without-files", lambda e: load_dataset("ECG200", data_dir=e.root),
         E.SaliencyLabError, "ECG200"),
    Case("data-ucr-option-for-synthetic", lambda e: load_dataset("Middle", padding="zero"),
         E.ConfigError, "padding"),
    Case("data-ucr-bad-val-fraction",
         lambda e: load_dataset("Good", data_dir=e.tsv("Good", GOOD_TSV, GOOD_TSV),
                                val_fraction=1.5), E.ConfigError, "val_fraction"),
    Case("data-ucr-bad-padding",
         lambda e: load_dataset("Good", data_dir=e.tsv("Good", GOOD_TSV, GOOD_TSV),
                                padding="middle"), E.ConfigError, "padding"),
    Case("data-tsv-inf",
         lambda e: load_dataset("Inf", data_dir=e.tsv(
             "Inf", GOOD_TSV, "1\t0.1\tinf\t0.3\t0.4\n2\t0.5\t0.1\t0.2\t0.3\n"), cache=False),
         E.InvalidDataError, "Inf_TEST"),
    Case("data-tsv-unseen-label",
         lambda e: load_dataset("Unseen", data_dir=e.tsv(
             "Unseen", GOOD_TSV, "3\t0.1\t0.2\t0.3\t0.4\n1\t0.5\t0.1\t0.2\t0.3\n"), cache=False),
         E.InvalidDataError, "3"),
    Case("data-tsv-garbage",
         lambda e: load_dataset("Garbage", data_dir=e.tsv("Garbage", "a\tb\n\x00\x01", "x"),
                                cache=False), E.InvalidDataError, "Garbage"),
    Case("data-tsv-empty",
         lambda e: load_dataset("Empty", data_dir=e.tsv("Empty", "", ""), cache=False),
         E.InvalidDataError, "Empty"),
    Case("data-tool-tracking-needs-dir", lambda e: load_dataset("ToolTracking"),
         E.ConfigError, "data_dir"),
    Case("data-spec-empty", lambda e: load_from_spec({}), E.ConfigError, "name"),
    Case("data-background-of-real-data", lambda e: load_dataset("GunPoint").background(2),
         E.NotApplicableError, "background"),
    Case("data-background-negative", lambda e: e.data.background(-1), E.ConfigError, "n"),
    Case("data-n-time-of-images", lambda e: load_dataset("digits").n_time,
         E.NotApplicableError, "time series"),
    Case("data-split-rows", lambda e: Split(torch.zeros(3, 4, 1), torch.zeros(2).long()),
         E.ShapeError, "rows"),
    Case("data-split-float-lengths",
         lambda e: Split(torch.zeros(2, 4, 1), torch.zeros(2).long(), lengths=torch.ones(2)),
         E.ShapeError, "lengths"),
    # --- models -----------------------------------------------------------------------------
    Case("model-unknown", lambda e: build_model("tcm", n_features=2, n_time=5),
         E.UnknownNameError, "tcn"),
    Case("model-unknown-option", lambda e: build_model("tcn", n_features=2, n_time=5, hiden=3),
         E.ConfigError, "valid options"),
    Case("model-hidden-zero", lambda e: build_model("lstm", n_features=2, n_time=5,
                                                    hidden_size=0), E.ConfigError, "hidden_size"),
    Case("model-dropout-range", lambda e: build_model("lstm", n_features=2, n_time=5,
                                                      dropout=1.5), E.ConfigError, "dropout"),
    Case("model-needs-sizes", lambda e: build_model("tcn"), E.ConfigError, "n_features"),
    Case("model-image-with-sizes", lambda e: build_model("mnist_cnn", n_features=3, n_time=4),
         E.ConfigError, "n_features"),
    Case("model-classifier-on-segments",
         lambda e: build_model_for("tcn", load_dataset("SyntheticSegmentation", n_train=8,
                                                       n_test=2)), E.NotApplicableError,
         "utime"),
    Case("model-wrong-features", lambda e: e.tcn(torch.zeros(2, 20, 3)), E.ShapeError,
         "features"),
    Case("model-rank-2-input", lambda e: e.tcn(torch.zeros(2, 20)), E.ShapeError, "dims"),
    Case("model-fcn-too-short", lambda e: build_model("fcn", n_features=1, n_time=5),
         E.ConfigError, "n_time"),
    Case("model-transformer-heads",
         lambda e: build_model("transformer", n_features=4, n_time=5, d_model=6, heads=4),
         E.ConfigError, "divisible"),
    Case("model-tcn-too-deep",
         lambda e: build_model("tcn", n_features=2, n_time=5, channels=[2] * 31),
         E.ConfigError, "30"),
    Case("model-pooling", lambda e: build_model("fcn", n_features=1, n_time=40, pooling="sum"),
         E.ConfigError, "pooling"),
    # --- explain ----------------------------------------------------------------------------
    Case("explain-unknown-method", lambda e: explain(e.tcn, e.x, e.y, "integrated_gradient"),
         E.UnknownNameError, "integrated_gradients"),
    Case("explain-model-not-module", lambda e: explain(len, e.x, e.y), E.ConfigError,
         "torch.nn.Module"),
    Case("explain-inputs-not-tensor", lambda e: explain(e.tcn, [1, 2], e.y), E.ShapeError,
         "torch.Tensor"),
    Case("explain-empty-batch", lambda e: explain(e.tcn, e.x[:0], e.y[:0]), E.ShapeError,
         "at least one"),
    Case("explain-nan-input", lambda e: explain(e.tcn, e.x * float("nan"), e.y),
         E.InvalidDataError, "finite"),
    Case("explain-batch-size-zero", lambda e: explain(e.tcn, e.x, e.y, batch_size=0),
         E.ConfigError, "batch_size"),
    Case("explain-seed-text", lambda e: explain(e.tcn, e.x, e.y, seed="a"), E.ConfigError,
         "seed"),
    Case("explain-tsr-on-images", lambda e: explain(e.cnn, e.images, 0, tsr=True),
         E.NotApplicableError, "TSR"),
    Case("explain-misspelt-param",
         lambda e: explain(e.tcn, e.x, e.y, "integrated_gradients", n_step=5), E.ConfigError,
         "n_steps"),
    Case("explain-ig-zero-steps",
         lambda e: explain(e.tcn, e.x, e.y, "integrated_gradients", n_steps=0), E.ConfigError,
         "n_steps"),
    Case("explain-ig-text-steps",
         lambda e: explain(e.tcn, e.x, e.y, "integrated_gradients", n_steps="abc"),
         E.ConfigError, "n_steps"),
    Case("explain-smoothgrad-negative-stdev",
         lambda e: explain(e.tcn, e.x, e.y, "smoothgrad", stdevs=-1.0), E.ConfigError,
         "stdevs"),
    Case("explain-smoothgrad-no-samples",
         lambda e: explain(e.tcn, e.x, e.y, "smoothgrad", n_samples=0), E.ConfigError,
         "n_samples"),
    Case("explain-gradient-shap-no-samples",
         lambda e: explain(e.tcn, e.x, e.y, "gradient_shap", n_samples=0), E.ConfigError,
         "n_samples"),
    Case("explain-target-range", lambda e: explain(e.tcn, e.x, 5), E.ConfigError, "[0, 2)"),
    Case("explain-target-float", lambda e: explain(e.tcn, e.x, e.y.float()), E.ConfigError,
         "integer"),
    Case("explain-target-shape", lambda e: explain(e.tcn, e.x, e.y[:2]), E.ShapeError,
         "target"),
    Case("explain-target-bool", lambda e: explain(e.tcn, e.x, True), E.ConfigError, "target"),
    Case("explain-per-step-target-for-classifier",
         lambda e: explain(e.tcn, e.x, torch.zeros(4, 20, dtype=torch.long)), E.SaliencyLabError,
         "target"),
    Case("explain-valid-shape",
         lambda e: explain(e.tcn, e.x, e.y, valid=torch.ones(4, 3, dtype=torch.bool)),
         E.ShapeError, "valid"),
    Case("explain-valid-for-images",
         lambda e: explain(e.cnn, e.images, 0, valid=torch.ones(4, 8, dtype=torch.bool)),
         E.SaliencyLabError, "valid"),
    Case("explain-unknown-postprocess",
         lambda e: explain(e.tcn, e.x, e.y, postprocess="normalise"), E.SaliencyLabError,
         "normalise"),
    Case("explain-nan-weights",
         lambda e: explain(_nan_model(e), e.x, e.y, "gradient", postprocess="tsb"),
         E.NonFiniteError, "fc.weight"),
    Case("explain-rank-4-to-series-model",
         lambda e: explain(e.tcn, e.x[:, None], e.y), E.ShapeError, "(batch, time, features)"),
    Case("explain-gradcam-without-conv",
         lambda e: explain(build_model("lstm", n_features=16, n_time=20, seed=0), e.x, e.y,
                           "gradcam"), E.SaliencyLabError, "conv"),
    Case("explain-tsr-bad-option",
         lambda e: explain(e.tcn, e.x, e.y, "gradient", tsr="yes"), E.ConfigError, "tsr"),
    # --- metrics ----------------------------------------------------------------------------
    Case("metrics-unknown", lambda e: resolve_metrics(
        "faithfullness", modality="time_series", task="classification", has_groundtruth=False,
        has_background=False), E.UnknownNameError, "faithfulness"),
    Case("metrics-groundtruth-on-real-data", lambda e: resolve_metrics(
        "aup", modality="time_series", task="classification", has_groundtruth=False,
        has_background=False), E.NotApplicableError, "ground"),
    Case("metrics-localization-on-classifier", lambda e: resolve_metrics(
        "localization", modality="time_series", task="classification", has_groundtruth=False,
        has_background=False), E.NotApplicableError, "segment"),
    Case("metrics-faithfulness-on-images", lambda e: resolve_metrics(
        "faithfulness", modality="image", task="classification", has_groundtruth=False,
        has_background=False), E.NotApplicableError, "image"),
    Case("metrics-stability-on-images",
         lambda e: stability(e.cnn, e.images, torch.zeros(4).long(), e.images),
         E.NotApplicableError, "image"),
    Case("metrics-empty-spec", lambda e: resolve_metrics(
        " , ", modality="time_series", task="classification", has_groundtruth=True,
        has_background=True), E.ConfigError, "metric"),
    Case("metrics-options-unknown-metric", lambda e: check_metric_options({"robust": {}}),
         E.UnknownNameError, "robustness"),
    Case("metrics-options-unknown-option",
         lambda e: check_metric_options({"robustness": {"radios": 0.2}}), E.ConfigError,
         "radius"),
    Case("metrics-options-not-mapping", lambda e: check_metric_options({"robustness": 0.2}),
         E.ConfigError, "mapping"),
    Case("metrics-robustness-needs-explain",
         lambda e: robustness(e.tcn, e.x, e.y, e.maps, context=_ctx()), E.ConfigError,
         "explain_fn"),
    Case("metrics-groundtruth-needs-background",
         lambda e: groundtruth_scores(e.tcn, e.x, e.y, e.maps,
                                      context=_ctx(groundtruth=e.data.test.mask[:4])),
         E.NotApplicableError, "background"),
    Case("metrics-map-shape", lambda e: faithfulness(e.tcn, e.x, e.y, e.maps[:, :5]),
         E.ShapeError, "shape"),
    Case("metrics-context-batch-size", lambda e: faithfulness(
        e.tcn, e.x, e.y, e.maps, context=_ctx(batch_size=0)), E.ConfigError, "batch_size"),
    Case("metrics-context-type", lambda e: faithfulness(e.tcn, e.x, e.y, e.maps, context=3),
         E.ConfigError, "MetricContext"),
    Case("metrics-generator-type", lambda e: robustness(
        e.tcn, e.x, e.y, e.maps, context=_ctx(explain_fn=_explain_fn(), generator="x")),
         E.ConfigError, "generator"),
    Case("metrics-valid-with-gaps", lambda e: faithfulness(
        e.tcn, e.x, e.y, e.maps, context=_ctx(valid=torch.tensor([[1, 0, 1] + [1] * 17] * 4)
                                              .bool())), E.ShapeError, "contiguous"),
    Case("metrics-robustness-radius", lambda e: robustness(
        e.tcn, e.x, e.y, e.maps, context=_ctx(explain_fn=_explain_fn()), radius=-1.0),
         E.ConfigError, "radius"),
    Case("metrics-stability-window", lambda e: stability(e.tcn, e.x, e.y, e.maps, window=0),
         E.ConfigError, "window"),
    Case("metrics-labels-range", lambda e: faithfulness(e.tcn, e.x, e.y + 5, e.maps),
         E.SaliencyLabError, "class"),
    # --- training ---------------------------------------------------------------------------
    Case("train-epochs-zero", lambda e: TrainConfig(epochs=0), E.ConfigError, "epochs"),
    Case("train-optimizer", lambda e: TrainConfig(optimizer="lbfgs"), E.ConfigError,
         "optimizer"),
    Case("train-lr-negative", lambda e: TrainConfig(lr=-1), E.ConfigError, "lr"),
    Case("train-unknown-field", lambda e: TrainConfig(epoch=3), E.ConfigError, "epoch"),
    Case("train-sgt-k-zero", lambda e: SaliencyGuided(k=0), E.ConfigError, "k"),
    Case("train-sgt-k-one", lambda e: SaliencyGuided(k=1), E.ConfigError, "k"),
    Case("train-sgt-lam-negative", lambda e: SaliencyGuided(k=0.5, lam=-1), E.ConfigError,
         "lam"),
    Case("train-bad-procedure", lambda e: fit(e.tcn, e.data, TrainConfig(epochs=1), "sgt"),
         E.ConfigError, "procedure"),
    Case("train-nan-data",
         lambda e: fit(e.tcn, _nan_data(e), TrainConfig(epochs=1), progress=False),
         E.InvalidDataError, "finite"),
    Case("train-unknown-masking", lambda e: get_masking("blur"), E.UnknownNameError, "blur"),
    # --- checkpoint files -------------------------------------------------------------------
    Case("file-checkpoint-missing", lambda e: load_checkpoint(e.root / "none.pt"),
         E.SaliencyLabError, "not found"),
    Case("file-checkpoint-text", lambda e: load_checkpoint(e.file("text.pt", "hello")),
         E.SaliencyLabError, "not a readable"),
    Case("file-checkpoint-exploit",
         lambda e: load_checkpoint(_exploit(e.root / "evil.pt")), E.UnsafeCheckpointError,
         "convert"),
    Case("file-checkpoint-tensor",
         lambda e: load_checkpoint(_save(e.root / "tensor.pt", torch.zeros(3))),
         E.SaliencyLabError, "not a dict"),
    Case("file-checkpoint-format", lambda e: load_checkpoint(e.checkpoint("f.pt", format=7)),
         E.SaliencyLabError, "format"),
    Case("file-checkpoint-no-state",
         lambda e: load_checkpoint(e.checkpoint("s.pt", state_dict=None)), E.SaliencyLabError,
         "state_dict"),
    Case("file-checkpoint-state-mismatch",
         lambda e: load_checkpoint(e.checkpoint("m.pt", state_dict={"fc.weight": torch.ones(1)})),
         E.SaliencyLabError, "do not fit"),
    Case("file-checkpoint-truncated",
         lambda e: load_checkpoint(e.file("cut.pt", e.checkpoint("full.pt").read_bytes()[:200])),
         E.SaliencyLabError, "checkpoint"),
    Case("file-checkpoint-model-config",
         lambda e: load_checkpoint(e.checkpoint("c.pt", model_config={"name": "tcm"})),
         E.UnknownNameError, "tcn"),
    # --- result stores ----------------------------------------------------------------------
    Case("file-store-random-bytes", lambda e: ResultStore(e.store("rnd", os.urandom(8192))),
         E.CorruptStoreError, "results.sqlite"),
    Case("file-store-text", lambda e: ResultStore(e.store("txt", b"not a database" * 100)),
         E.CorruptStoreError, "results.sqlite"),
    Case("file-store-nan-value",
         lambda e: ResultStore(e.root / "ok" / "results.sqlite").write_cell(
             "k", "eval", {}, [("aup", "mean", float("nan"))], duration=0.0),
         E.InvalidDataError, "aup"),
    Case("file-store-bad-row",
         lambda e: ResultStore(e.root / "ok2" / "results.sqlite").write_cell(
             "k", "eval", {}, [("aup", "mean")], duration=0.0), E.SaliencyLabError, "row"),
    Case("cli-report-without-store", lambda e: _cli("report", e.root), E.SaliencyLabError,
         "results.sqlite"),
    Case("cli-results-without-store", lambda e: _cli("results", "show", e.root),
         E.SaliencyLabError, "results.sqlite"),
    Case("cli-report-corrupt-store", lambda e: _cli("report", e.store("c2", os.urandom(4096))),
         E.CorruptStoreError, "results.sqlite"),
    # --- grid YAML --------------------------------------------------------------------------
    Case("grid-file-missing", lambda e: load_config(e.root / "none.yaml"), E.ConfigError,
         "not found"),
    Case("grid-invalid-yaml", lambda e: load_config(e.grid_file("bad.yaml", "a: [1, 2\n")),
         E.ConfigError, "YAML"),
    Case("grid-not-mapping", lambda e: load_config(e.grid_file("list.yaml", "- a\n- b\n")),
         E.ConfigError, "mapping"),
    Case("grid-unknown-field",
         lambda e: load_config(e.grid_file("f.yaml", TINY_GRID + "modles: [lstm]\n")),
         E.ConfigError, "modles"),
    Case("grid-epochs-zero",
         lambda e: load_config(e.grid_file("e.yaml", TINY_GRID + "train: {epochs: 0}\n")),
         E.ConfigError, "epochs"),
    Case("grid-unknown-preset", lambda e: load_config(preset="quik"), E.UnknownNameError,
         "quick"),
    Case("grid-experiment-preset", lambda e: load_config(preset="certify"), E.ConfigError,
         "experiment"),
    Case("grid-tsr-not-in-methods", lambda e: _grid(tsr=["integrated_gradients"]),
         E.ConfigError, "tsr"),
    Case("grid-name-escapes", lambda e: _grid(name="../../x"), E.ConfigError, "plain name"),
    Case("grid-name-absolute", lambda e: _grid(name="/tmp/x"), E.ConfigError, "plain name"),
    Case("grid-no-datasets", lambda e: _grid(datasets=[]), E.ConfigError, "at least one"),
    Case("grid-dataset-typo", lambda e: _grid(datasets=["SmalMiddle"]).validate_names(),
         E.UnknownNameError, "did you mean 'SmallMiddle'"),
    Case("grid-unknown-model", lambda e: _grid(models=["tcm"]).validate_names(),
         E.UnknownNameError, "tcn"),
    Case("grid-unknown-method", lambda e: _grid(methods=["gradients"]).validate_names(),
         E.UnknownNameError, "gradient"),
    Case("grid-unknown-process", lambda e: _grid(processes=["Gausian"]).validate_names(),
         E.UnknownNameError, "Gaussian"),
    Case("grid-method-param-typo",
         lambda e: check_grid(_grid(methods=["integrated_gradients"],
                                    method_params={"integrated_gradients": {"n_step": 4}})),
         E.ConfigError, "n_steps"),
    Case("grid-method-param-value",
         lambda e: check_grid(_grid(methods=["smoothgrad"],
                                    method_params={"smoothgrad": {"stdevs": -1}})),
         E.ConfigError, "stdevs"),
    Case("grid-metric-typo", lambda e: _grid(metrics=["sanityy"]).validate_names(),
         E.UnknownNameError, "sanity"),
    Case("grid-metric-option-typo",
         lambda e: _grid(metrics=["robustness"],
                         metric_params={"robustness": {"r": 0.2}}).validate_names(),
         E.ConfigError, "radius"),
    Case("grid-metric-not-applicable", lambda e: _grid(metrics=["localization"]).validate_names(),
         E.NotApplicableError, "segment"),
    Case("grid-real-data-without-metrics", lambda e: _grid(datasets=["GunPoint"]).validate_names(),
         E.ConfigError, "metrics"),
    Case("grid-model-kwargs-typo",
         lambda e: check_grid(_grid(model_kwargs={"tcn": {"chanels": [4]}}), dry_run=False),
         E.ConfigError, "chanels"),
    Case("grid-model-kwargs-value",
         lambda e: check_grid(_grid(model_kwargs={"tcn": {"dropout": 2.0}}), dry_run=False),
         E.ConfigError, "dropout"),
    Case("grid-data-option-typo",
         lambda e: check_grid(_grid(data={"n_trian": 10}), dry_run=False), E.ConfigError,
         "n_train"),
    Case("grid-variant-without-method",
         lambda e: _grid(methods=["mine"], variants={"mine": {"n_steps": 3}}).validate_names(),
         E.ConfigError, "method"),
    Case("grid-sgt-k", lambda e: check_grid(_grid(training=["saliency_guided"],
                                                  sgt={"k": 1.0}), dry_run=False),
         E.ConfigError, "k"),
    Case("grid-training-name", lambda e: _grid(training=["adversarial"]), E.ConfigError,
         "training"),
    Case("grid-seeds-type", lambda e: _grid(seeds=["zero"]), E.ConfigError, "seeds"),
    # --- command line -----------------------------------------------------------------------
    Case("cli-train-unknown-dataset", lambda e: _cli("train", "--dataset", "Midle"),
         E.UnknownNameError, "did you mean 'Middle'"),
    Case("cli-train-unknown-training",
         lambda e: _cli("train", "--dataset", "Middle", "--training", "sgt"), E.ConfigError,
         "training"),
    Case("cli-train-k-without-sgt", lambda e: _cli("train", "--k", "0.5"), E.ConfigError,
         "--k"),
    Case("cli-train-option-syntax", lambda e: _cli("train", "-o", "n_train"), E.ConfigError,
         "name=value"),
    Case("cli-train-option-yaml", lambda e: _cli("train", "-o", "n_train=[1"), E.ConfigError,
         "YAML"),
    Case("cli-train-model-for-segments",
         lambda e: _cli("train", "--dataset", "SyntheticSegmentation", "--model", "tcn",
                        "--epochs", "1"), E.NotApplicableError, "utime"),
    Case("cli-evaluate-no-methods",
         lambda e: _cli("evaluate", "--checkpoint", e.checkpoint("ev.pt"), "--methods", " "),
         E.ConfigError, "--methods"),
    Case("cli-evaluate-split",
         lambda e: _cli("evaluate", "--checkpoint", e.checkpoint("ev2.pt"), "--split", "dev"),
         E.ConfigError, "split"),
    Case("cli-evaluate-param-for-other-method",
         lambda e: _cli("evaluate", "--checkpoint", e.checkpoint("ev3.pt"), "--methods",
                        "gradient", "-p", "smoothgrad.n_samples=3"), E.ConfigError, "--param"),
    Case("cli-evaluate-param-syntax",
         lambda e: _cli("evaluate", "--checkpoint", e.checkpoint("ev4.pt"), "-p", "n_steps=3"),
         E.ConfigError, "name.option=value"),
    Case("cli-explain-target",
         lambda e: _cli("explain", "--checkpoint", e.checkpoint("ex.pt"), "--target", "top"),
         E.ConfigError, "--target"),
    Case("cli-explain-tv-for-gradient",
         lambda e: _cli("explain", "--checkpoint", e.checkpoint("ex2.pt"), "--tv", "0.1"),
         E.ConfigError, "learned_mask"),
    Case("cli-data-show-unknown", lambda e: _cli("data", "show", "Midle"), E.UnknownNameError,
         "Middle"),
    Case("cli-bench-unknown-preset", lambda e: _cli("bench", "--preset", "quik"),
         E.UnknownNameError, "quick"),
    Case("cli-results-unknown-metric",
         lambda e: _cli("results", "show", _finished_run(e), "--metric", "nonexistent"),
         E.SaliencyLabError, "nonexistent"),
]


def _nan_model(env: Env) -> torch.nn.Module:
    model = build_model_for("tcn", env.data, seed=0).eval()
    with torch.no_grad():
        model.fc.weight.fill_(float("nan"))
    return model


def _nan_data(env: Env) -> Any:
    from dataclasses import replace

    return replace(env.data, train=replace(env.data.train, x=env.data.train.x * float("nan")))


def _save(path: Path, obj: Any) -> Path:
    torch.save(obj, path)
    return path


class _Exploit:
    def __reduce__(self):
        return os.system, ("true",)


def _exploit(path: Path) -> Path:
    return _save(path, {"format": 1, "x": _Exploit()})


_RUN: dict[str, Path] = {}


def _finished_run(env: Env) -> Path:
    if "run" not in _RUN:
        from saliencylab.bench.runner import run_grid

        run_grid(_grid(), env.root / "finished", progress=False)
        _RUN["run"] = env.root / "finished"
    return _RUN["run"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    return Env(tmp_path_factory.mktemp("bad-inputs"))


def test_there_are_at_least_120_distinct_cases():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 120, len(ids)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_raises_a_clear_error(case: Case, env: Env):
    with pytest.raises(E.SaliencyLabError) as info:
        case.run(env)
    assert isinstance(info.value, case.error), (type(info.value).__name__, str(info.value))
    assert case.fragment.lower() in str(info.value).lower(), str(info.value)
