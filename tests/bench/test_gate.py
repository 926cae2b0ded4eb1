"""The accuracy gate: [TSB] §5 analyses models above 95 % test accuracy; 90 % stays an option."""

from __future__ import annotations

from pathlib import Path

import yaml

from saliencylab.bench.config import PRESETS, TrainSettings, load_config
from saliencylab.bench.plan import train_tasks
from saliencylab.train import TrainConfig


def test_the_default_gate_is_the_papers_95_percent() -> None:
    assert TrainSettings().min_test_accuracy == 0.95
    grid = load_config(preset="quick")
    tasks = train_tasks(grid)
    assert tasks and all(t.train["min_test_accuracy"] == 0.95 for t in tasks)
    # what the trainer gates on is the grid's value
    assert TrainConfig(seed=0, **tasks[0].train).min_test_accuracy == 0.95
    # presets that set their own gate keep it
    assert load_config(preset="localization").train.min_test_accuracy == \
        PRESETS["localization"]["train"]["min_test_accuracy"]


def test_90_percent_is_an_option(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"preset": "quick", "train": {"min_test_accuracy": 0.9}}))
    grid = load_config(path)
    assert grid.train.min_test_accuracy == 0.9
    assert all(t.train["min_test_accuracy"] == 0.9 for t in train_tasks(grid))
    # a different gate is a different train cell (its fit_to_interpret differs)
    assert {t.key for t in train_tasks(grid)}.isdisjoint(
        t.key for t in train_tasks(load_config(preset="quick")))
