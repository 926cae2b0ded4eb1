"""The benchmark grid: a typed, YAML-loadable description of what to run.

A grid is datasets x processes x models x training procedures x methods (each optionally with TSR)
x seeds, as in [TSB] (Ismail et al., NeurIPS 2020) and [SGT] (Ismail et al., NeurIPS 2021).
Presets give the paper's grids and a ``quick`` one that runs in minutes on a laptop.

Example:
    >>> from saliencylab.bench.config import GridConfig, load_config
    >>> grid = load_config(preset="quick")
    >>> grid.models
    ['tcn', 'lstm']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from saliencylab.errors import ConfigError, UnknownNameError

# The ten methods of the [TSB] benchmark (Section 4 of the paper).
TSB_METHODS = [
    "gradient",
    "integrated_gradients",
    "deeplift",
    "gradient_shap",
    "deeplift_shap",
    "smoothgrad",
    "shapley_value_sampling",
    "feature_permutation",
    "feature_ablation",
    "occlusion",
]
TRAININGS = ("traditional", "saliency_guided")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrainSettings(_Strict):
    """Trainer settings shared by every train cell of a grid (see ``TrainConfig``)."""

    epochs: int = Field(50, ge=1)
    batch_size: int = Field(50, ge=1)
    lr: float = Field(1e-3, gt=0)
    patience: int = Field(10, ge=1)
    min_test_accuracy: float = Field(0.9, ge=0, le=1)


class SGTSettings(_Strict):
    """Saliency guided training settings; ``k``/``lam`` may be overridden per dataset design."""

    k: float = Field(0.5, ge=0, le=1, description="fraction of features masked per sample")
    lam: float = Field(1.0, ge=0, description="weight of the KL term")
    by_magnitude: bool = False
    per_dataset: dict[str, dict[str, float]] = Field(default_factory=dict)

    def for_dataset(self, design: str) -> dict[str, Any]:
        settings = {"k": self.k, "lam": self.lam, "by_magnitude": self.by_magnitude}
        settings.update(self.per_dataset.get(design, {}))
        return settings


class EvalSettings(_Strict):
    """How explanations are evaluated against the ground truth ([TSB] Section 5)."""

    n_samples: int = Field(100, ge=1, description="test samples explained per model")
    shared_background: bool = Field(
        False, description="reference quirk: one background draw per (method, d)"
    )
    batch_size: int = Field(256, ge=1)
    n_examples: int = Field(4, ge=0, description="maps kept for the report per cell")


class GridConfig(_Strict):
    """Everything that determines a benchmark run; hashed into every cell's cache key."""

    name: str = "custom"
    datasets: list[str] = Field(min_length=1)
    processes: list[str] = Field(default_factory=lambda: ["Gaussian"], min_length=1)
    models: list[str] = Field(min_length=1)
    training: list[Literal["traditional", "saliency_guided"]] = Field(
        default_factory=lambda: ["traditional"], min_length=1
    )
    methods: list[str] = Field(min_length=1)
    tsr: list[str] = Field(default_factory=list, description="methods also run with TSR")
    random_baseline: str = Field("random", description="method the Diff columns compare to")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    data: dict[str, Any] = Field(default_factory=dict, description="SyntheticConfig overrides")
    model_kwargs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    method_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    train: TrainSettings = TrainSettings()
    sgt: SGTSettings = SGTSettings()
    evaluation: EvalSettings = EvalSettings()

    @field_validator("tsr")
    @classmethod
    def _tsr_subset(cls, value: list[str], info: Any) -> list[str]:
        methods = info.data.get("methods") or []
        missing = [m for m in value if m not in methods]
        if missing:
            raise ValueError(f"tsr lists {missing}, which are not in methods {methods}")
        return value

    def all_methods(self) -> list[str]:
        """Methods to evaluate, with the random baseline first (the Diff columns need it)."""
        methods = list(self.methods)
        if self.random_baseline not in methods:
            methods.insert(0, self.random_baseline)
        return methods

    def validate_names(self) -> None:
        """Check every name against the registries (raises ``UnknownNameError``)."""
        from saliencylab.data import ALL_DESIGNS, PROCESSES
        from saliencylab.explain.registry import METHODS
        from saliencylab.models import MODELS

        for kind, names, valid in (
            ("dataset design", self.datasets, ALL_DESIGNS),
            ("process", self.processes, PROCESSES),
            ("model", self.models, MODELS),
            ("method", self.all_methods(), METHODS),
        ):
            for name in names:
                if name not in valid:
                    raise UnknownNameError(kind, name, valid)


PRESETS: dict[str, dict[str, Any]] = {
    # Minutes on a 2-core laptop: two designs, two models, both trainings, random + 3 methods.
    "quick": {
        "name": "quick",
        "datasets": ["Middle", "RareFeature"],
        "processes": ["Gaussian"],
        "models": ["tcn", "lstm"],
        "training": ["traditional", "saliency_guided"],
        "methods": ["gradient", "integrated_gradients"],
        "tsr": ["gradient"],
        "data": {"n_train": 500, "n_test": 100},
        "train": {"epochs": 20, "patience": 6},
        "evaluation": {"n_samples": 30},
    },
    # [ICA] Table 1 / [SGT] Figure 6: does saliency vanish over time in an LSTM, and do
    # input-cell attention or saliency guided training bring it back?
    "vanishing": {
        "name": "vanishing",
        "datasets": ["VanishingEarly", "VanishingMiddle", "VanishingLate"],
        "processes": ["Gaussian"],
        "models": ["lstm", "lstm_ica"],
        "training": ["traditional", "saliency_guided"],
        "methods": ["gradient", "integrated_gradients"],
        "data": {"n_train": 1000, "n_test": 100},
        "train": {"epochs": 30, "patience": 6},
        "evaluation": {"n_samples": 100},
    },
    # [TSB] Figure 3 / Table 2 on the Gaussian process: 10 designs, 4 models, 10 methods.
    "paper-gaussian": {
        "name": "paper-gaussian",
        "datasets": [
            "Middle", "SmallMiddle", "MovingMiddle", "MovingSmallMiddle", "RareTime",
            "MovingRareTime", "RareFeature", "MovingRareFeature", "PositionalTime",
            "PositionalFeature",
        ],
        "processes": ["Gaussian"],
        "models": ["lstm", "lstm_ica", "tcn", "transformer"],
        "training": ["traditional"],
        "methods": TSB_METHODS,
        "tsr": ["gradient", "integrated_gradients"],
    },
}
PRESETS["paper"] = {
    **PRESETS["paper-gaussian"],
    "name": "paper",
    "processes": [
        "Gaussian", "AutoRegressive", "CAR", "GaussianProcess", "Harmonic", "NARMA",
        "PseudoPeriodic",
    ],
}


def _build(raw: dict[str, Any], source: str) -> GridConfig:
    try:
        return GridConfig(**raw)
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"invalid grid config ({source}):\n" + "\n".join(lines)) from None


def load_config(
    path: str | Path | None = None, preset: str | None = None, **overrides: Any
) -> GridConfig:
    """A grid from a YAML file, a preset name, or a preset updated by a YAML file.

    A YAML file may name ``preset: quick`` and override any field of it.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"grid config file not found: {path}")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a YAML mapping, got {type(loaded).__name__}")
        preset = loaded.pop("preset", preset)
        raw = loaded
    base: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise UnknownNameError("preset", preset, PRESETS)
        base = dict(PRESETS[preset])
    elif path is None:
        base = dict(PRESETS["quick"])
    merged = {**base, **raw, **overrides}
    return _build(merged, str(path) if path else f"preset {preset or 'quick'}")


def dump_config(config: GridConfig, path: str | Path) -> None:
    """Write a grid as YAML (the run directory keeps the exact grid it ran)."""
    Path(path).write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
