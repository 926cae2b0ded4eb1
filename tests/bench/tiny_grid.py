"""A grid small enough to run end to end in seconds, and how to read its rows, shared by the
bench and Ray tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from saliencylab.bench.config import GridConfig
from saliencylab.bench.store import ResultStore

TINY = {
    "name": "tiny",
    "datasets": ["Middle"],
    "processes": ["Gaussian"],
    "models": ["tcn", "lstm"],
    "training": ["traditional"],
    "methods": ["gradient"],
    "tsr": ["gradient"],
    "data": {"n_train": 120, "n_test": 20, "n_time": 40, "n_features": 40},
    "model_kwargs": {"lstm": {"hidden_size": 8}},
    "train": {"epochs": 2, "patience": 2},
    "evaluation": {"n_samples": 6, "n_examples": 2},
}


def tiny_grid(**overrides) -> GridConfig:
    return GridConfig(**{**TINY, **overrides})


def rows_by_cell(run_dir: Path) -> dict[str, dict[tuple[str, str], float]]:
    """``{cell key: {(metric, statistic): value}}`` of a run directory's finished cells."""
    with ResultStore(run_dir / "results.sqlite") as store:
        return {key: {(m, s): v for m, s, v in store.rows(key)} for key in store.finished_keys()}


def assert_same_rows(expected_dir: Path, actual_dir: Path) -> None:
    """Both runs hold the same cells with the same values, timings aside."""
    expected, actual = rows_by_cell(expected_dir), rows_by_cell(actual_dir)
    assert expected.keys() == actual.keys()
    for key, rows in expected.items():
        for stat, value in rows.items():
            if "seconds" in stat[0] or stat[1] == "seconds":  # timings
                continue
            assert actual[key][stat] == pytest.approx(value, abs=1e-5), (key, stat)
