"""Names never become paths outside their folder: grid names, dataset names, run directories
and caches. An invalid grid creates no run directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from saliencylab.bench.config import GridConfig, load_config
from saliencylab.bench.runner import run_grid
from saliencylab.data import load_dataset
from saliencylab.errors import ConfigError, SaliencyLabError, UnknownNameError

GRID = dict(name="paths", datasets=["SmallMiddle"], models=["tcn"], methods=["gradient"],
            random_baseline=None,
            data={"n_train": 40, "n_test": 8, "n_time": 20, "n_features": 16},
            train={"epochs": 1, "patience": 1}, evaluation={"n_samples": 2, "n_examples": 1})


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", ["../../escape", "/tmp/escape", "a/b", "..", "~root"])
def test_a_grid_name_cannot_leave_runs(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="plain name"):
        load_config(preset="quick", name=name)
    assert not any(tmp_path.iterdir())  # nothing was created


@pytest.mark.parametrize("name", ["../GunPoint", "/etc/passwd", "sub/ECG200", "..", "a\\b"])
def test_a_dataset_name_cannot_read_outside_its_folder(tmp_path, name):
    folder = tmp_path / "data"
    folder.mkdir()
    (tmp_path / "GunPoint_TRAIN.tsv").write_text("1\t0.0\t1.0\n")  # just outside the folder
    with pytest.raises(ConfigError, match="plain name"):
        load_dataset(name, data_dir=folder)


def test_a_run_writes_only_inside_its_run_directory_and_the_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = Path(os.environ["SALIENCYLAB_CACHE"])
    before = _files(tmp_path)
    run_dir = tmp_path / "runs" / "paths"
    run_grid(GridConfig(**GRID), run_dir, progress=False)
    created = _files(tmp_path) - before
    assert created and all(run_dir in p.parents for p in created), sorted(created)
    assert all(cache in p.parents for p in _files(cache))


def test_an_invalid_grid_creates_no_run_directory(tmp_path):
    run_dir = tmp_path / "never"
    bad = GridConfig(**{**GRID, "method_params": {"gradient": {"stdevs": 1.0}}})
    with pytest.raises(SaliencyLabError, match="stdevs"):
        run_grid(bad, run_dir, progress=False)
    with pytest.raises(UnknownNameError, match="local"):
        run_grid(GridConfig(**GRID), run_dir, progress=False, executor="slurm")
    assert not run_dir.exists()
