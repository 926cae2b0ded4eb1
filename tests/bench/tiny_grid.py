"""A grid small enough to run end to end in seconds, shared by the bench tests."""

from __future__ import annotations

from saliencylab.bench.config import GridConfig

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
