"""The benchmark grid: a typed, YAML-loadable description of what to run.

A grid is datasets x processes x models x training procedures x methods (each optionally with
TSR) x seeds, as in [TSB] (Ismail et al., NeurIPS 2020, §4) and [SGT] (Ismail et al., NeurIPS
2021, §5). ``datasets`` takes any source name of ``saliencylab data list`` (case-insensitive):
the synthetic designs (crossed with ``processes``), the vanishing-saliency sets, UCR / UEA
archives (aeon's bundled sets offline; any other archive from ``data_dir`` or aeon's download)
and segmentation data. ``data`` overrides the synthetic generator's settings; ``dataset_options``
holds any source's own options by name.

Every eval cell scores its maps with the metrics that apply to its data: the [TSB] ground truth
on synthetic sources, plus the grid's ``metrics`` ([OBJ] quality metrics, ``all``, the
``certification`` group of [CS] Gupta et al., NeurIPS 2022, ``localization`` on segmentation
data; ``saliencylab metrics`` lists them). ``variants`` names a method with its own settings,
e.g. ``learned_mask_tv0.01: {method: learned_mask, lambda_tv: 0.01}``.

Presets give the papers' grids and a ``quick`` one that runs in minutes on a laptop;
``certify`` / ``certify-full`` are experiments (:data:`EXPERIMENTS`; ``saliencylab bench
--preset certify``).

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
from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from saliencylab.data import Source, archive_source, get_source
from saliencylab.data.names import check_name
from saliencylab.data.ucr import archive_name
from saliencylab.errors import ConfigError, NotApplicableError, UnknownNameError
from saliencylab.explain.registry import get_method
from saliencylab.metrics import check_metric_options, resolve_metrics
from saliencylab.models import get_model_info
from saliencylab.settings import CheckedModel

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
# The nine saliency methods and five classification metrics of [OBJ].
OBJ_METHODS = [
    "gradient", "integrated_gradients", "smoothgrad", "guided_backprop", "gradcam",
    "guided_gradcam", "lrp", "lime", "kernel_shap",
]
OBJ_METRICS = ["sanity", "faithfulness", "inter_class_sensitivity", "robustness", "stability"]


_Strict = CheckedModel


class TrainSettings(_Strict):
    """Trainer settings shared by every train cell of a grid (see ``TrainConfig``)."""

    epochs: int = Field(50, ge=1)
    batch_size: int = Field(50, ge=1)
    lr: float = Field(1e-3, gt=0)
    patience: int = Field(10, ge=1)
    min_test_accuracy: float = Field(0.9, ge=0, le=1)


class SGTSettings(_Strict):
    """Saliency guided training settings; ``k``/``lam`` may be overridden per dataset design."""

    k: float = Field(0.5, gt=0, lt=1, description="fraction of features masked per sample")
    lam: float = Field(1.0, ge=0, description="weight of the KL term")
    by_magnitude: bool = False
    per_dataset: dict[str, dict[str, float]] = Field(default_factory=dict)

    def for_dataset(self, dataset: str) -> dict[str, Any]:
        """The settings of ``dataset`` (``per_dataset`` keys are case-insensitive)."""
        settings = {"k": self.k, "lam": self.lam, "by_magnitude": self.by_magnitude}
        own = {k.lower(): v for k, v in self.per_dataset.items()}
        settings.update(own.get(dataset.lower(), {}))
        return settings


class EvalSettings(_Strict):
    """Which samples an eval cell explains and how. Options of the metrics themselves (e.g. the
    [TSB] reference quirk ``groundtruth: {shared_background: true}``) go in ``metric_params``."""

    n_samples: int = Field(100, ge=1, description="samples explained per model (the first n)")
    split: Literal["test", "val", "train"] = "test"
    postprocess: str | None = Field(
        "tsb", description="post-processing of the maps before scoring (None: raw maps)")
    batch_size: int = Field(256, ge=1, description="inputs per chunk of every expensive call")
    n_examples: int = Field(4, ge=0, description="maps kept for the report per cell")


class GridConfig(_Strict):
    """Everything that determines a benchmark run; hashed into every cell's cache key."""

    name: str = "custom"
    datasets: list[str] = Field(default_factory=list, description="source names")
    ucr: list[str] = Field(default_factory=list, description="alias of datasets (UCR / UEA)")
    processes: list[str] = Field(default_factory=lambda: ["Gaussian"], min_length=1)
    data_dir: str | None = Field(None, description="folder of the folder-backed sources")
    models: list[str] = Field(min_length=1)
    training: list[Literal["traditional", "saliency_guided"]] = Field(
        default_factory=lambda: ["traditional"], min_length=1
    )
    methods: list[str] = Field(min_length=1)
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="label -> {method: NAME, **its parameters}")
    tsr: list[str] = Field(default_factory=list, description="methods also run with TSR")
    random_baseline: str | None = Field(
        "random", description="method the Diff columns compare to (None: no baseline)")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    data: dict[str, Any] = Field(default_factory=dict, description="SyntheticConfig overrides")
    dataset_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="options of one source, by name")
    model_kwargs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    method_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    metrics: list[str] = Field(
        default_factory=list,
        description="metrics of every eval cell besides the ground truth (names, 'all', groups)")
    metric_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="options per metric, e.g. robustness: {radius: 0.2}")
    train: TrainSettings = TrainSettings()
    sgt: SGTSettings = SGTSettings()
    evaluation: EvalSettings = EvalSettings()

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        # The default run directory is runs/<name>: a name must not lead out of it.
        try:
            return check_name(value, "the grid", "pass --run-dir to choose where the run goes")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("tsr")
    @classmethod
    def _tsr_subset(cls, value: list[str], info: Any) -> list[str]:
        methods = info.data.get("methods") or []
        missing = [m for m in value if m not in methods]
        if missing:
            raise ValueError(f"tsr lists {missing}, which are not in methods {methods}")
        return value

    @model_validator(mode="after")
    def _some_data(self) -> GridConfig:
        if not self.datasets and not self.ucr:
            raise ValueError("name at least one dataset under datasets (see `saliencylab data "
                             "list`)")
        return self

    # -- the axes, resolved against the registries ------------------------------------------

    def dataset_names(self) -> list[str]:
        """``datasets`` then ``ucr``, in canonical spelling, without repeats."""
        names = [source_of(n, self.data_dir).name for n in [*self.datasets, *self.ucr]]
        return list(dict.fromkeys(names))

    def processes_for(self, dataset: str) -> list[str | None]:
        """The grid's processes a source takes (``[None]`` for sources without a process)."""
        source = source_of(dataset, self.data_dir)
        if not source.processes:
            return [None]
        accepted = {p.lower(): p for p in source.processes}
        unknown = [p for p in self.processes if p.lower() not in accepted]
        if unknown and source.kind == "synthetic":
            raise UnknownNameError("process", unknown[0], source.processes)
        chosen = [accepted[p.lower()] for p in self.processes if p.lower() in accepted]
        return chosen or [source.default_process or source.processes[0]]

    def data_options(self, dataset: str) -> dict[str, Any]:
        """The source options of ``dataset``: ``data`` for the synthetic kinds, then its own
        ``dataset_options``."""
        source = source_of(dataset, self.data_dir)
        base = dict(self.data) if source.kind in ("synthetic", "vanishing") else {}
        own = {k.lower(): v for k, v in self.dataset_options.items()}
        return {**base, **own.get(source.name.lower(), {})}

    def data_dir_for(self, dataset: str) -> str | None:
        """``data_dir`` for folder-backed sources (UCR / UEA, tool tracking, ...), else None."""
        source = source_of(dataset, self.data_dir)
        if source.kind in ("synthetic", "vanishing") or (
                not source.needs_data_dir and source.kind != "ucr"):
            return None
        return self.data_dir

    def all_methods(self) -> list[str]:
        """Method labels to evaluate, with the random baseline first (the Diff columns)."""
        methods = list(self.methods)
        if self.random_baseline is not None and self.random_baseline not in methods:
            methods.insert(0, self.random_baseline)
        return methods

    def method_spec(self, label: str) -> tuple[str, dict[str, Any]]:
        """``(method name, parameters)`` of a method label (a method or a variant)."""
        if label in self.variants:
            spec = dict(self.variants[label])
            method = spec.pop("method", None)
            if not isinstance(method, str):
                raise ConfigError(f"variants.{label} must name its method: {{method: NAME, "
                                  f"...parameters}}, got {self.variants[label]!r}")
            return method, {**self.method_params.get(method, {}), **spec}
        return label, dict(self.method_params.get(label, {}))

    def validate_names(self) -> None:
        """Check every name and option against the registries before any work is done."""
        for model in self.models:
            get_model_info(model)
        for label in self.all_methods():
            get_method(self.method_spec(label)[0])
        check_metric_options(self.metric_params)
        for dataset in self.dataset_names():
            self.processes_for(dataset)
            if not cell_metrics(dataset, self.metrics, data_dir=self.data_dir):
                raise ConfigError(
                    f"dataset {dataset} has no ground truth, so its maps need metrics: add e.g. "
                    "metrics: [all] (see `saliencylab metrics`)")


def cell_metrics(dataset: str, metrics: list[str] | tuple[str, ...], *, data_dir: str | None
                 = None) -> tuple[str, ...]:
    """The metric names an eval cell on ``dataset`` computes: ``metrics`` (names, groups,
    ``all``) resolved for that source, plus the [TSB] ground truth where the source has it."""
    source = source_of(dataset, data_dir)
    spec = list(metrics)
    tsb = source.has_groundtruth and source.has_background
    if tsb and "groundtruth" not in spec and "all" not in spec:
        spec = ["groundtruth", *spec]
    if not spec:
        return ()
    try:
        return tuple(resolve_metrics(spec, modality=source.modality, task=source.task,
                                     has_groundtruth=source.has_groundtruth,
                                     has_background=source.has_background))
    except NotApplicableError as exc:
        raise NotApplicableError(f"{source.name}: {exc}") from None


def source_of(name: str, data_dir: str | None = None) -> Source:
    """The registered source ``name`` (case-insensitive), or, for an archive name that is not
    registered, a UCR / UEA source read from ``data_dir`` or, for a name aeon knows, from aeon's
    download. Any other name raises :class:`UnknownNameError` with the closest suggestion."""
    try:
        return get_source(name)
    except UnknownNameError:
        if data_dir is None and archive_name(name) is None:
            raise
        return archive_source(name, data_dir)


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
# [OBJ]: the nine methods x five metrics for the FCN and the TCN on GunPoint's test set (150
# series). Training as [OBJ] (Adam lr 0.002, early stopping on the validation split). The FCN
# pools its class map with a global average (Wang et al. 2017) instead of [OBJ]'s max: with max
# pooling it averages 93 % on GunPoint, below the published range this grid gates on (95 %);
# see docs/quality.md. Override with model_kwargs: {fcn: {pooling: max}}.
PRESETS["quality"] = {
    "name": "quality",
    "datasets": ["GunPoint"],
    "models": ["fcn", "tcn_obj"],
    "model_kwargs": {"fcn": {"pooling": "avg"}},
    "training": ["traditional"],
    "methods": OBJ_METHODS,
    "random_baseline": None,
    "method_params": {"integrated_gradients": {"baseline": "zero", "n_steps": 60},
                      "smoothgrad": {"n_samples": 60, "stdevs": 0.2}, "lrp": {"epsilon": 1e-9}},
    "metrics": OBJ_METRICS,
    "train": {"epochs": 300, "batch_size": 16, "lr": 0.002, "patience": 50,
              "min_test_accuracy": 0.95},
    "evaluation": {"n_samples": 150},
}
# [OBJ] localization: a segmentation model explained with per-time-step targets (the true label
# of every step) and scored by range-based recall [TAT] on the synthetic segmentation data.
PRESETS["localization"] = {
    "name": "localization",
    "datasets": ["SyntheticSegmentation"],
    "models": ["utime", "bilstm_seg"],
    "methods": ["gradient", "integrated_gradients", "gradient_x_input"],
    "random_baseline": "random",
    "metrics": ["localization"],
    "train": {"epochs": 15, "patience": 5, "min_test_accuracy": 0.8},
    "evaluation": {"n_samples": 50},
}
PRESETS["paper"] = {
    **PRESETS["paper-gaussian"],
    "name": "paper",
    "processes": [
        "Gaussian", "AutoRegressive", "CAR", "GaussianProcess", "Harmonic", "NARMA",
        "PseudoPeriodic",
    ],
}


#: Presets that are experiments with their own runner, not grids: ``saliencylab bench --preset``
#: dispatches them; :func:`load_config` refuses them with a pointer to the runner.
EXPERIMENTS: dict[str, dict[str, Any]] = {
    "certify": {"quick": True,
                "description": "[CS] learned masks, completeness and soundness on digits and a "
                               "synthetic series, quick settings (minutes)"},
    "certify-full": {"quick": False,
                     "description": "the same with the paper's 2000 mask steps"},
}


def _build(raw: dict[str, Any], source: str) -> GridConfig:
    try:
        return GridConfig(**raw)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


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
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the grid file {path}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a YAML mapping, got {type(loaded).__name__}")
        preset = loaded.pop("preset", preset)
        raw = loaded
    base: dict[str, Any] = {}
    if preset is not None:
        if preset in EXPERIMENTS:
            quick = EXPERIMENTS[preset]["quick"]
            raise ConfigError(f"preset {preset!r} is an experiment, not a grid: run it with "
                              f"`saliencylab bench --preset {preset}` or "
                              f"saliencylab.experiments.certify.run_certify(run_dir, "
                              f"quick={quick})")
        if preset not in PRESETS:
            raise UnknownNameError("preset", preset, [*PRESETS, *EXPERIMENTS])
        base = dict(PRESETS[preset])
    elif path is None:
        base = dict(PRESETS["quick"])
    merged = {**base, **raw, **overrides}
    return _build(merged, str(path) if path else f"preset {preset or 'quick'}")


def dump_config(config: GridConfig, path: str | Path) -> None:
    """Write a grid as YAML (the run directory keeps the exact grid it ran)."""
    Path(path).write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
