"""`saliencylab metrics`, `saliencylab evaluate` (quality cells in the results store, resume, clear
errors) and `saliencylab bench --preset certify` dispatch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from saliencylab.bench.store import ResultStore
from saliencylab.cli import app
from saliencylab.errors import ConfigError, NotApplicableError, UnknownNameError
from saliencylab.metrics.registry import METRICS
from saliencylab.models import build_model
from saliencylab.train import save_checkpoint

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An (untrained) TCN for a tiny synthetic dataset: the metrics do not need accuracy."""
    from saliencylab.data import load_synthetic

    data = load_synthetic("SmallMiddle", "Gaussian", n_train=60, n_test=12, n_time=20,
                          n_features=16)
    torch.manual_seed(0)
    model = build_model("tcn", n_features=16, n_time=20, seed=0)
    path = tmp_path_factory.mktemp("ckpt") / "tcn.pt"
    save_checkpoint(path, model, data_config=data.config)
    return path


def test_metrics_lists_every_registry_entry_and_the_certification_group():
    result = _invoke("metrics")
    assert result.exit_code == 0, result.output
    for name, info in METRICS.items():
        assert name in result.output
        assert info.category[:8] in result.output
    for name in ("completeness", "soundness", "deletion", "insertion"):
        assert name in result.output
    assert "lower" in result.output and "higher" in result.output  # orientation column
    line = f"sanity: {METRICS['sanity'].description[:30]}"
    assert line not in " ".join(result.output.split())  # wide: a column of the table
    # an 80-column terminal gets the descriptions after the table, one line per metric
    narrow = runner.invoke(app, ["metrics"], env={"COLUMNS": "80"})
    assert narrow.exit_code == 0, narrow.output
    assert line in " ".join(narrow.output.split())
    assert all(len(row) <= 80 for row in narrow.output.splitlines())


def test_evaluate_writes_quality_cells_and_a_rerun_skips_them(checkpoint, tmp_path):
    args = ("evaluate", "--checkpoint", str(checkpoint), "--methods", "gradient,random",
            "--metrics", "faithfulness,stability", "--n", "6", "--run-dir", str(tmp_path))
    first = _invoke(*args)
    assert first.exit_code == 0, first.output
    with ResultStore(tmp_path / "results.sqlite") as store:
        assert store.count(kind="eval") == 2  # the eval cells `bench` writes
        frame = store.results_frame(kind="eval")
        keys = sorted(store.finished_keys())
        before = {k: store.rows(k) for k in keys}
        per_sample = store.per_sample(keys[0], "faithfulness")
    assert set(frame["method"]) == {"gradient", "random"}
    assert set(frame["model"]) == {"tcn"} and set(frame["dataset"]) == {"SmallMiddle"}
    means = frame[frame["statistic"] == "mean"].set_index(["method", "metric"])["value"]
    for method in ("gradient", "random"):
        assert -1.0 <= means[(method, "faithfulness")] <= 1.0  # a probability difference
        assert means[(method, "stability")] <= 0.0  # minus a DTW distance
    counts = frame[(frame["statistic"] == "n") & frame["metric"].isin(["faithfulness",
                                                                        "stability"])]
    assert set(counts["value"]) == {6.0}
    assert "aup" in set(frame["metric"])  # synthetic data: every eval cell has the ground truth
    assert per_sample.shape == (6,)
    assert "faithfulness" in first.output and "stability" in first.output

    second = _invoke(*args)
    assert second.exit_code == 0, second.output
    assert "0 run, 2 already stored" in second.output
    with ResultStore(tmp_path / "results.sqlite") as store:
        assert store.count() == 2
        assert {k: store.rows(k) for k in keys} == before


def test_evaluate_groundtruth_and_certification_on_synthetic_data(checkpoint, tmp_path):
    result = _invoke("evaluate", "--checkpoint", str(checkpoint), "--methods", "gradient",
                     "--metrics", "aup,certification", "--n", "6", "--run-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    with ResultStore(tmp_path / "results.sqlite") as store:
        (key,) = store.finished_keys()
        rows = {(m, s): v for m, s, v in store.rows(key)}
    assert 0.0 <= rows[("aup", "mean")] <= 0.8 + 1e-9
    for name in ("completeness", "soundness", "deletion", "insertion"):
        assert 0.0 < rows[(name, "mean")] <= 1.0 + 1e-6
        assert rows[(name, "n")] == 6.0


def test_evaluate_says_what_is_wrong(checkpoint, tmp_path):
    bad_metric = _invoke("evaluate", "--checkpoint", str(checkpoint), "--metrics", "sanityy",
                         "--run-dir", str(tmp_path))
    assert isinstance(bad_metric.exception, UnknownNameError)
    assert "sanity" in str(bad_metric.exception) and "certification" in str(bad_metric.exception)
    bad_method = _invoke("evaluate", "--checkpoint", str(checkpoint), "--methods", "gradients",
                         "--run-dir", str(tmp_path))
    assert isinstance(bad_method.exception, UnknownNameError)
    assert "integrated_gradients" in str(bad_method.exception)
    bad_option = _invoke("evaluate", "--checkpoint", str(checkpoint), "--metrics", "robustness",
                         "-q", "robustness.radios=0.2", "--run-dir", str(tmp_path))
    assert isinstance(bad_option.exception, ConfigError)
    assert "radius" in str(bad_option.exception)
    assert not (tmp_path / "results.sqlite").exists()  # nothing was loaded or written


def test_groundtruth_metrics_do_not_apply_to_real_data(tmp_path):
    from saliencylab.data import shipped_datasets

    if "GunPoint" not in shipped_datasets():
        pytest.skip("aeon is not installed")
    path = tmp_path / "fcn.pt"
    save_checkpoint(path, build_model("fcn", n_features=1, n_time=150, seed=0))
    result = _invoke("evaluate", "--checkpoint", str(path), "--dataset", "GunPoint",
                     "--metrics", "aup", "--run-dir", str(tmp_path / "run"))
    assert isinstance(result.exception, NotApplicableError)
    assert "GunPoint" in str(result.exception) and "faithfulness" in str(result.exception)
    assert "ground-truth" in str(result.exception)


def test_bench_certify_presets_dispatch_to_run_certify(monkeypatch, tmp_path):
    import saliencylab.experiments.certify as certify

    calls = []

    def fake(run_dir, *, quick=True, **kwargs):
        calls.append((Path(run_dir), quick))
        page = Path(run_dir) / "report" / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("ok")
        return page

    monkeypatch.setattr(certify, "run_certify", fake)
    quick = _invoke("bench", "--preset", "certify", "--run-dir", str(tmp_path / "q"))
    full = _invoke("bench", "--preset", "certify-full", "--run-dir", str(tmp_path / "f"))
    assert quick.exit_code == 0 and full.exit_code == 0, quick.output + full.output
    assert calls == [(tmp_path / "q", True), (tmp_path / "f", False)]
    assert "index.html" in quick.output


def test_certify_is_not_a_grid():
    from saliencylab.bench.config import load_config

    with pytest.raises(ConfigError, match="experiment"):
        load_config(preset="certify")
