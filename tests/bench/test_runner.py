"""End-to-end runs of a tiny grid: results, resume after SIGKILL (Ray against local: tests/ray)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from saliencylab.bench.runner import run_grid
from saliencylab.bench.store import ResultStore

from .tiny_grid import TINY, rows_by_cell, tiny_grid


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    summary = run_grid(tiny_grid(), run_dir, progress=False)
    return run_dir, summary


def test_run_stores_every_cell_and_its_metrics(finished_run):
    run_dir, summary = finished_run
    # 2 models + 2 x (random, gradient, gradient+tsr)
    assert summary.cells_total == 8 and summary.cells_run == 8 and summary.cells_skipped == 0
    rows = rows_by_cell(run_dir)
    assert len(rows) == 8
    evals = [r for k, r in rows.items() if k.startswith("eval-")]
    for r in evals:
        assert 0.0 <= r[("aup", "mean")] <= 0.8 + 1e-9
        assert r[("accuracy_pct@0", "mean")] == pytest.approx(r[("clean_accuracy_pct", "mean")])
    assert len(list((run_dir / "models").glob("*.pt"))) == 2
    assert len(list((run_dir / "examples").glob("*.npz"))) == 6


def test_trained_models_gives_each_model_with_its_data(finished_run):
    from saliencylab.bench.cells import trained_models
    from saliencylab.train.trainer import accuracy

    run_dir, _ = finished_run
    stored = {k: r[("test_accuracy", "value")] for k, r in rows_by_cell(run_dir).items()
              if k.startswith("train-")}
    found = list(trained_models(run_dir))
    assert len(found) == len(stored) == 2
    for task, model, data in found:
        assert not model.training
        # the data it was trained on: its test accuracy is the one the run stored
        assert accuracy(model, data.test.x, data.test.y) == pytest.approx(stored[task.key])


def test_a_second_run_recomputes_nothing(finished_run):
    run_dir, _ = finished_run
    before = rows_by_cell(run_dir)
    summary = run_grid(tiny_grid(), run_dir, progress=False)
    assert summary.cells_run == 0 and summary.cells_skipped == 8
    assert rows_by_cell(run_dir) == before


def test_report_is_written(finished_run):
    from saliencylab.report.html import write_report

    run_dir, _ = finished_run
    page = write_report(run_dir)
    text = page.read_text()
    assert "Diff(AUP)" in text and "gradient+tsr" in text
    for png in ("accuracy_drop.png", "pr_by_model.png", "pr_by_method.png", "examples.png"):
        assert (page.parent / png).stat().st_size > 1000
        assert f"src='{png}'" in text


def test_sigkill_mid_run_then_resume_loses_and_recomputes_nothing(tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump(TINY))
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "saliencylab.cli", "bench", "--config", str(config),
           "--run-dir", str(run_dir), "--no-report"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = run_dir / "results.sqlite"
    deadline = time.time() + 300
    finished: set[str] = set()
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            with ResultStore(db) as store:
                finished = store.finished_keys()
            if len(finished) >= 3:
                break
        time.sleep(0.2)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    with ResultStore(db) as store:
        killed_at = store.cells_frame().set_index("key")["finished"].to_dict()
    rows_before = rows_by_cell(run_dir)
    assert 3 <= len(rows_before) < 8

    summary = run_grid(tiny_grid(), run_dir, progress=False)
    assert summary.cells_skipped == len(rows_before)
    assert summary.cells_run == 8 - len(rows_before)
    rows_after = rows_by_cell(run_dir)
    assert len(rows_after) == 8
    for key, rows in rows_before.items():  # finished cells kept their rows, untouched
        assert rows_after[key] == rows
    with ResultStore(db) as store:
        finished_at = store.cells_frame().set_index("key")["finished"].to_dict()
    for key, stamp in killed_at.items():  # and were not recomputed
        assert finished_at[key] == stamp


def test_a_data_folder_is_keyed_by_where_it_is_not_how_it_is_spelled(tmp_path, monkeypatch):
    from saliencylab.bench.cells import TrainTask

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)

    def key(folder) -> str:
        return TrainTask("digits", None, "mnist_cnn", "traditional", 0, data_dir=folder).key

    assert key("a") == key("./a") == key(str(tmp_path / "a")) == key("b/../a")
    assert key("a") != key("b")
    monkeypatch.chdir(tmp_path / "b")  # the same relative name now names another folder
    assert key("a") != key(str(tmp_path / "a"))
