"""Synthetic time-series datasets with a known informative box (the ground-truth saliency).

Two families:

* the benchmark of [TSB] Ismail, Gunady, Corrada Bravo, Feizi. *Benchmarking Deep Learning
  Interpretability in Time Series Predictions.* NeurIPS 2020: 10 box designs x 7 generating
  processes (:data:`DESIGNS` x :data:`PROCESSES`), 50 time steps x 50 features;
* the vanishing-saliency datasets of [ICA] Ismail, Gunady, Pessoa, Corrada Bravo, Feizi.
  *Input-Cell Attention Reduces Vanishing Saliency of Recurrent Neural Networks.* NeurIPS 2019:
  an early, middle or late block on N(0, 1) noise, 100 x 100 (:data:`VANISHING_DESIGNS`).

A class-1 sample gets ``+mu`` added inside its box, a class-0 sample ``-mu``; in the positional
designs both classes get ``+mu`` and the class decides where the box sits. Labels are exactly
balanced. Train and validation come from ``n_train`` samples, the test split from ``n_test``;
min-max scaling (one scaler per (t, f) cell) is fit on the training split only and applied to
validation, test and to fresh background draws. Everything is generated in batches from one
``torch.Generator`` seeded with ``config.seed`` and cached on disk by the config's hash.

Example:
    >>> from saliencylab.data import load_synthetic
    >>> data = load_synthetic("Middle", "Gaussian", n_train=100, n_test=20, cache=False)
    >>> tuple(data.train.x.shape), int(data.train.mask[0].sum())
    ((90, 50, 50), 900)
    >>> data.background(4, seed=0).shape
    torch.Size([4, 50, 50])
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from saliencylab.data.cache import cached_dataset
from saliencylab.data.dataset import Dataset, Split
from saliencylab.data.processes import PROCESSES, sample_process
from saliencylab.data.scaling import MinMaxScaler
from saliencylab.errors import ConfigError, UnknownNameError
from saliencylab.settings import CheckedModel
from saliencylab.utils import cache_dir, make_generator, stable_hash

# Bump when the generators or the cache payload change, so old cache files are not reused.
# 2: splits store every Split field (``lengths`` too).
DATA_FORMAT_VERSION = 2

DESIGNS: tuple[str, ...] = (
    "Middle",
    "SmallMiddle",
    "MovingMiddle",
    "MovingSmallMiddle",
    "RareTime",
    "MovingRareTime",
    "RareFeature",
    "MovingRareFeature",
    "PositionalTime",
    "PositionalFeature",
)
VANISHING_DESIGNS: tuple[str, ...] = ("VanishingEarly", "VanishingMiddle", "VanishingLate")
ALL_DESIGNS: tuple[str, ...] = DESIGNS + VANISHING_DESIGNS

# The reference code's SmallMiddle box (createDatasets.py): 14 x 14 at (18, 18).
SMALL_MIDDLE_REFERENCE = ((14, 14), (18, 18))


@dataclass(frozen=True)
class DesignSpec:
    """Where a design puts its informative box; sizes are (time steps, features).

    Attributes:
        name: design name.
        box: box size ``(time, features)``.
        start: fixed start ``(t, f)``; None when centred, moving or positional.
        centred: the box is centred (start ``((T - h) // 2, (F - w) // 2)``).
        moving: the start is uniform random per sample over all positions where the box fits.
        class_axis: positional designs: the axis whose start encodes the class ("time" or
            "feature"); the start along the other axis is random.
        positions: positional designs: start along ``class_axis`` for class 1 and for class 0.
        default_size: default ``(n_time, n_features)``.
        source: paper the design comes from ("TSB" or "ICA").
    """

    name: str
    box: tuple[int, int]
    start: tuple[int, int] | None = None
    centred: bool = False
    moving: bool = False
    class_axis: Literal["time", "feature"] | None = None
    positions: tuple[int, int] | None = None
    default_size: tuple[int, int] = (50, 50)
    source: str = "TSB"

    @property
    def positional(self) -> bool:
        return self.class_axis is not None


DESIGN_SPECS: dict[str, DesignSpec] = {
    "Middle": DesignSpec("Middle", (30, 30), start=(10, 10)),
    "SmallMiddle": DesignSpec("SmallMiddle", (15, 15), centred=True),
    "MovingMiddle": DesignSpec("MovingMiddle", (30, 30), moving=True),
    "MovingSmallMiddle": DesignSpec("MovingSmallMiddle", (15, 15), moving=True),
    "RareTime": DesignSpec("RareTime", (6, 40), start=(22, 5)),
    "MovingRareTime": DesignSpec("MovingRareTime", (6, 40), moving=True),
    "RareFeature": DesignSpec("RareFeature", (40, 6), start=(5, 22)),
    "MovingRareFeature": DesignSpec("MovingRareFeature", (40, 6), moving=True),
    # Names as in the authors' code: "PositionalTime" moves the box in time and encodes the class
    # in the feature position, "PositionalFeature" the other way round.
    "PositionalTime": DesignSpec("PositionalTime", (20, 20), class_axis="feature",
                                 positions=(1, 29)),
    "PositionalFeature": DesignSpec("PositionalFeature", (20, 20), class_axis="time",
                                    positions=(1, 29)),
    "VanishingEarly": DesignSpec("VanishingEarly", (30, 80), start=(0, 10),
                                 default_size=(100, 100), source="ICA"),
    "VanishingMiddle": DesignSpec("VanishingMiddle", (60, 60), start=(20, 20),
                                  default_size=(100, 100), source="ICA"),
    "VanishingLate": DesignSpec("VanishingLate", (30, 80), start=(70, 10),
                                default_size=(100, 100), source="ICA"),
}


def _canonical(name: object, valid: tuple[str, ...]) -> str | None:
    """The spelling in ``valid`` of ``name`` up to case, or None."""
    if not isinstance(name, str):
        return None
    return next((v for v in valid if v.lower() == name.lower()), None)


def get_design(name: str) -> DesignSpec:
    """The :class:`DesignSpec` of a design name, any case (UnknownNameError if there is none).

    Example:
        >>> get_design("middle").box
        (30, 30)
    """
    canonical = _canonical(name, ALL_DESIGNS)
    if canonical is None:
        raise UnknownNameError("design", name, ALL_DESIGNS)
    return DESIGN_SPECS[canonical]


@dataclass(frozen=True)
class BoxGeometry:
    """A config's effective box: size, fixed start or how the start is drawn."""

    box: tuple[int, int]
    start: tuple[int, int] | None
    moving: bool
    class_axis: Literal["time", "feature"] | None
    positions: tuple[int, int] | None
    max_start: tuple[int, int]  # inclusive upper bound of random starts along (time, feature)

    @property
    def signed(self) -> bool:
        """Class 0 gets ``-mu`` (True) or, in the positional designs, ``+mu`` like class 1."""
        return self.class_axis is None


class SyntheticConfig(CheckedModel):
    """Everything that determines a synthetic dataset; its hash is the cache key.

    Defaults follow [TSB] Ismail et al. NeurIPS 2020: 1000 train (10 % of it carved out for
    validation) and 100 test samples of 50 x 50, ``mu = 1``, min-max scaled. The vanishing
    designs of [ICA] default to 100 x 100. ``box_size`` / ``box_start`` / ``positions`` override
    a design's geometry (needed when ``n_time`` / ``n_features`` change so much that the paper's
    box no longer fits).

    Quirks of the authors' reference code (off by default):
        small_middle_reference: SmallMiddle is 14 x 14 at (18, 18) as in the authors' code.
        moving_start_reference: random starts exclude the last position where the box fits
            (``np.random.randint(T - size)`` in the authors' code).
        narma_shared_seed: every feature of every NARMA sample is the same series (TimeSynth's
            ``RandomState(42)``), only the noise differs.
        narma_reference_sum: TimeSynth's NARMA sum over a fixed slice (always zero).

    Example:
        >>> SyntheticConfig(design="Middle", process="AutoRegressive").n_val
        100
    """

    design: str
    process: str = "Gaussian"
    n_train: int = Field(1000, ge=2, le=10_000_000)
    n_test: int = Field(100, ge=1, le=10_000_000)
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    n_time: int = Field(50, ge=1, le=100_000)
    n_features: int = Field(50, ge=1, le=100_000)
    mu: float = Field(1.0, gt=0.0, allow_inf_nan=False)
    seed: int = Field(0, ge=0)
    scale: bool = True
    box_size: tuple[int, int] | None = None
    box_start: tuple[int, int] | None = None
    positions: tuple[int, int] | None = None
    small_middle_reference: bool = False
    moving_start_reference: bool = False
    narma_shared_seed: bool = False
    narma_reference_sum: bool = False

    @model_validator(mode="before")
    @classmethod
    def _names_and_default_size(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        design = _canonical(data.get("design"), ALL_DESIGNS)
        if design is None:
            raise UnknownNameError("design", data.get("design"), ALL_DESIGNS)
        process = _canonical(data.get("process", "Gaussian"), PROCESSES)
        if process is None:
            raise UnknownNameError("process", data.get("process"), PROCESSES)
        default_t, default_f = DESIGN_SPECS[design].default_size
        return {"n_time": default_t, "n_features": default_f, **data, "design": design,
                "process": process}

    @model_validator(mode="after")
    def _check_geometry(self) -> SyntheticConfig:
        if self.n_train - self.n_val < 2:
            raise ConfigError(
                f"n_train={self.n_train} with val_fraction={self.val_fraction} leaves "
                f"{self.n_train - self.n_val} training samples; need at least 2"
            )
        self.geometry()  # raises ConfigError if the box does not fit
        return self

    @property
    def name(self) -> str:
        """``"<design>_<process>"``."""
        return f"{self.design}_{self.process}"

    @property
    def n_val(self) -> int:
        """Validation samples carved out of ``n_train``."""
        return int(round(self.val_fraction * self.n_train))

    def process_options(self) -> dict[str, Any]:
        """Keyword options for :func:`~saliencylab.data.processes.sample_process`."""
        return {"narma_shared_seed": self.narma_shared_seed,
                "narma_reference_sum": self.narma_reference_sum}

    def geometry(self) -> BoxGeometry:
        """The effective box of this config; ConfigError if it does not fit the sample."""
        spec = DESIGN_SPECS[self.design]
        size = (self.n_time, self.n_features)
        box, start = spec.box, spec.start
        reference_small = self.design == "SmallMiddle" and self.small_middle_reference
        if reference_small:
            box, start = SMALL_MIDDLE_REFERENCE
        if self.box_size is not None:
            box = self.box_size
        if spec.centred and (not reference_small or self.box_size is not None):
            start = ((size[0] - box[0]) // 2, (size[1] - box[1]) // 2)
        if self.box_start is not None:
            if spec.moving or spec.positional:
                raise ConfigError(f"box_start applies to fixed-box designs, not {self.design}")
            start = self.box_start
        if self.positions is not None and not spec.positional:
            raise ConfigError(f"positions applies to the positional designs, not {self.design}")
        positions = self.positions or spec.positions
        if min(box) < 1 or box[0] > size[0] or box[1] > size[1]:
            raise ConfigError(
                f"box {box[0]} x {box[1]} (time x features) must be at least 1 x 1 and fit in "
                f"samples of {size[0]} x {size[1]}"
            )
        if start is not None and not (0 <= start[0] <= size[0] - box[0]
                                      and 0 <= start[1] <= size[1] - box[1]):
            raise ConfigError(
                f"box {box[0]} x {box[1]} at start {tuple(start)} does not fit in samples of "
                f"{size[0]} x {size[1]} (time x features); set box_size / box_start"
            )
        room = self.moving_start_reference  # the reference never draws the last position
        max_start = (size[0] - box[0] - int(room), size[1] - box[1] - int(room))
        random_axes = {"time", "feature"} if spec.moving else set()
        if spec.positional:
            axis = 1 if spec.class_axis == "feature" else 0
            random_axes = {"time", "feature"} - {spec.class_axis}
            if not all(0 <= p <= size[axis] - box[axis] for p in positions):
                raise ConfigError(
                    f"positions {tuple(positions)} along {spec.class_axis} must lie in "
                    f"[0, {size[axis] - box[axis]}] for a box of {box[axis]} in {size[axis]}"
                )
            if positions[0] == positions[1]:
                raise ConfigError(f"the two class positions must differ, got {positions}")
        for axis_name, hi in zip(("time", "feature"), max_start, strict=True):
            if axis_name in random_axes and hi < 0:
                raise ConfigError(
                    f"moving_start_reference needs room to move the box along {axis_name}: the "
                    f"box fills the whole axis"
                )
        return BoxGeometry(
            box=tuple(box),
            start=None if start is None else tuple(start),
            moving=spec.moving,
            class_axis=spec.class_axis,
            positions=None if positions is None else tuple(positions),
            max_start=max_start,
        )


# ---------------------------------------------------------------------------------------------
# Generation


def balanced_labels(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` shuffled labels, ``n // 2`` of class 1 and the rest of class 0 (int64).

    Example:
        >>> balanced_labels(6, torch.Generator().manual_seed(0)).sum().item()
        3
    """
    y = (torch.arange(n, device=generator.device) < n // 2).long()
    return y[torch.randperm(n, generator=generator, device=generator.device)]


def box_mask(
    starts: torch.Tensor, box: tuple[int, int], n_time: int, n_features: int
) -> torch.Tensor:
    """Boolean masks ``(N, T, F)``: True in the ``box`` (time x features) starting at ``starts``.

    Example:
        >>> m = box_mask(torch.tensor([[1, 2]]), (2, 3), 5, 6)
        >>> m[0].nonzero().min(0).values.tolist(), int(m.sum())
        ([1, 2], 6)
    """
    t = torch.arange(n_time, device=starts.device)[None, :, None]
    f = torch.arange(n_features, device=starts.device)[None, None, :]
    t0, f0 = starts[:, 0, None, None], starts[:, 1, None, None]
    return (t >= t0) & (t < t0 + box[0]) & (f >= f0) & (f < f0 + box[1])


def _box_starts(geom: BoxGeometry, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    n, device = len(y), generator.device
    if geom.start is not None:
        return torch.tensor(geom.start, device=device).expand(n, 2).clone()

    def uniform(hi: int) -> torch.Tensor:
        return torch.randint(0, hi + 1, (n,), generator=generator, device=device)

    if geom.moving:
        t0 = uniform(geom.max_start[0])
        f0 = uniform(geom.max_start[1])
        return torch.stack([t0, f0], dim=1)
    class_start = torch.where(y == 1, geom.positions[0], geom.positions[1]).to(device)
    if geom.class_axis == "feature":
        return torch.stack([uniform(geom.max_start[0]), class_start], dim=1)
    return torch.stack([class_start, uniform(geom.max_start[1])], dim=1)


def make_split(config: SyntheticConfig, n: int, generator: torch.Generator) -> Split:
    """Draw ``n`` labelled, unscaled samples of ``config`` (labels, box starts, process, box).

    Example:
        >>> cfg = SyntheticConfig(design="MovingMiddle", process="CAR")
        >>> s = make_split(cfg, 10, torch.Generator().manual_seed(0))
        >>> s.mask.sum(dim=(1, 2)).unique().tolist()
        [900]
    """
    geom = config.geometry()
    y = balanced_labels(n, generator)
    starts = _box_starts(geom, y, generator)
    mask = box_mask(starts, geom.box, config.n_time, config.n_features)
    x = sample_process(config.process, n, config.n_time, config.n_features,
                       generator=generator, **config.process_options())
    sign = (2.0 * y - 1.0) if geom.signed else torch.ones(n, device=x.device)
    x = x + (config.mu * sign).to(x.dtype)[:, None, None] * mask
    return Split(x=x, y=y, mask=mask, starts=starts)


def draw_background(config: SyntheticConfig, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` unscaled draws of ``config``'s process with no box, ``(n, T, F)`` float32."""
    return sample_process(config.process, n, config.n_time, config.n_features,
                          generator=generator, **config.process_options())


def _meta(config: SyntheticConfig) -> dict[str, Any]:
    geom, spec = config.geometry(), DESIGN_SPECS[config.design]
    return {
        "name": config.name,
        "design": config.design,
        "process": config.process,
        "source": spec.source,
        "box": geom.box,
        "start": geom.start,
        "moving": geom.moving,
        "positional": geom.class_axis,
        "positions": geom.positions,
        "signed": geom.signed,
        "n_classes": 2,
        "scaled": config.scale,
    }


def _assemble(config: SyntheticConfig, splits: dict[str, Split], scaler: MinMaxScaler | None,
              meta: dict[str, Any]) -> Dataset:
    return Dataset(
        config=config, train=splits["train"], val=splits["val"], test=splits["test"],
        meta=meta, scaler=scaler, background_fn=partial(draw_background, config),
    )


def generate_synthetic(config: SyntheticConfig) -> Dataset:
    """Generate ``config``'s dataset in memory (no cache). Deterministic given ``config.seed``.

    Example:
        >>> cfg = SyntheticConfig(design="RareFeature", n_train=40, n_test=10)
        >>> generate_synthetic(cfg).summary()["test"]
        {'shape': (10, 50, 50), 'classes': [5, 5]}
    """
    generator = make_generator(config.seed)
    sizes = {"train": config.n_train - config.n_val, "val": config.n_val, "test": config.n_test}
    splits = {name: make_split(config, n, generator) for name, n in sizes.items()}
    scaler = None
    if config.scale:
        scaler = MinMaxScaler.fit(splits["train"].x)
        splits = {name: replace(s, x=scaler.transform(s.x)) for name, s in splits.items()}
    return _assemble(config, splits, scaler, _meta(config))


# ---------------------------------------------------------------------------------------------
# Cache


def cache_path(config: SyntheticConfig) -> Path:
    """Where ``config``'s dataset is cached: ``cache_dir()/data/<config hash>.pt``."""
    key = stable_hash({"config": config, "version": DATA_FORMAT_VERSION})
    return cache_dir() / "data" / f"{key}.pt"


def load_synthetic(
    design: str | SyntheticConfig,
    process: str | None = None,
    *,
    cache: bool = True,
    **overrides: Any,
) -> Dataset:
    """Load (or generate and cache) a synthetic dataset.

    Args:
        design: one of :data:`ALL_DESIGNS`, or a :class:`SyntheticConfig`.
        process: one of :data:`PROCESSES` (default "Gaussian").
        cache: read from / write to ``cache_dir()/data/<config hash>.pt``.
        **overrides: any other :class:`SyntheticConfig` field (``n_train``, ``seed``, ``mu``, ...).

    Raises:
        UnknownNameError: unknown design or process.
        ConfigError: an out-of-range value, an unknown option, or a box that does not fit.

    Example:
        >>> data = load_synthetic("PositionalTime", "NARMA", n_train=20, n_test=4, cache=False)
        >>> data.meta["positional"], data.n_classes
        ('feature', 2)
    """
    if isinstance(design, SyntheticConfig):
        fields = design.model_dump()
        if process is not None:
            fields["process"] = process
        config = SyntheticConfig(**{**fields, **overrides})
    else:
        fields = {"design": design, **overrides}
        if process is not None:
            fields["process"] = process
        config = SyntheticConfig(**fields)
    path = cache_path(config) if cache else None
    def assemble(splits: dict[str, Split], scaler: Any, meta: dict[str, Any]) -> Dataset:
        return _assemble(config, splits, None if scaler is None
                         else MinMaxScaler.from_state_dict(scaler), meta)

    return cached_dataset(path, config, version=DATA_FORMAT_VERSION, what="dataset cache",
                          build=partial(generate_synthetic, config), assemble=assemble)


def list_datasets(include_vanishing: bool = True) -> list[dict[str, Any]]:
    """Names and box metadata of the registered datasets (defaults of each design).

    The [TSB] benchmark is :data:`DESIGNS` x :data:`PROCESSES` (70 datasets); the [ICA]
    vanishing-saliency designs are listed with their Gaussian background.

    Example:
        >>> rows = list_datasets(include_vanishing=False)
        >>> len(rows), rows[0]["name"], rows[0]["box"]
        (70, 'Middle_Gaussian', (30, 30))
    """
    rows = []
    pairs = [(d, p) for d in DESIGNS for p in PROCESSES]
    if include_vanishing:
        pairs += [(d, "Gaussian") for d in VANISHING_DESIGNS]
    for design, process in pairs:
        config = SyntheticConfig(design=design, process=process)
        meta = _meta(config)
        meta.pop("scaled")
        rows.append({**meta, "n_time": config.n_time, "n_features": config.n_features})
    return rows
