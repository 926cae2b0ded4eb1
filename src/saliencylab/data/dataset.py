"""The one dataset container: :class:`Split` (inputs, labels, ground truth, valid lengths) and
:class:`Dataset` (train / val / test splits, metadata, background sampler, modality, spec).

Every loader returns a :class:`Dataset`: the synthetic benchmark of [TSB] Ismail et al.
NeurIPS 2020, the vanishing-saliency data of [ICA] Ismail et al. NeurIPS 2019, UCR / UEA
archives and the segmentation data of [OBJ] Löffler et al. 2022. Time series are
``(batch, time, features)``; classification labels are ``(N,)``, segmentation labels ``(N, T)``
(``task == "segmentation"``); ragged series carry their valid ``lengths``.

Example:
    >>> import torch
    >>> s = Split(torch.zeros(3, 4, 2), torch.tensor([0, 1, 1]), lengths=torch.tensor([4, 2, 3]))
    >>> s.valid_mask.sum(1).tolist(), len(s.take(slice(1, 3))), s.class_counts(2)
    ([4, 2, 3], 2, [1, 2])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch

from saliencylab.data.scaling import MinMaxScaler
from saliencylab.errors import ConfigError, NotApplicableError, ShapeError
from saliencylab.utils import make_generator, stable_hash

__all__ = ["BackgroundFn", "Dataset", "MODALITIES", "Split", "TASKS", "TimeSeriesDataset"]

#: Input modalities a :class:`Dataset` can hold (layouts in the module docstring of each loader).
MODALITIES: tuple[str, ...] = ("time_series", "image", "text")
#: Tasks: one label per sample, or one label per time step.
TASKS: tuple[str, ...] = ("classification", "segmentation")

@dataclass
class Split:
    """One split of a dataset.

    Attributes:
        x: inputs, ``(N, T, F)`` float32 for time series.
        y: labels, ``(N,)`` int64 (classification) or ``(N, T)`` int64 per step (segmentation).
        mask: boolean ground-truth importance of the input's shape (synthetic data), or None.
        starts: ``(N, 2)`` box starts ``(t, f)`` of the [TSB] designs, or None.
        lengths: ``(N,)`` int64 valid time steps of ragged series (steps beyond are padding);
            None when every step is valid.

    Example:
        >>> import torch
        >>> s = Split(torch.ones(2, 3, 1), torch.tensor([1, 0]), lengths=torch.tensor([3, 1]))
        >>> s.valid_mask.tolist()
        [[True, True, True], [True, False, False]]
    """

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor | None = None
    starts: torch.Tensor | None = None
    lengths: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = len(self.x)
        for name in ("y", "mask", "starts", "lengths"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ShapeError(f"Split.{name} has {len(value)} rows but x has {n}")
        if self.lengths is not None and (self.lengths.dim() != 1
                                         or self.lengths.is_floating_point()):
            raise ShapeError(f"Split.lengths must be an (N,) integer tensor, got "
                             f"{tuple(self.lengths.shape)} {self.lengths.dtype}")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def valid_mask(self) -> torch.Tensor | None:
        """``(N, T)`` bool: True at the valid (observed) steps; None when ``lengths`` is None."""
        if self.lengths is None:
            return None
        steps = torch.arange(self.x.shape[1], device=self.lengths.device)
        return steps[None, :] < self.lengths[:, None]

    def tensors(self) -> dict[str, torch.Tensor | None]:
        """Every field by name (None where absent), e.g. for a cache payload."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def take(self, index: slice | torch.Tensor | Sequence[int]) -> Split:
        """The rows ``index`` (a slice, an index or boolean tensor, or a list of ints), every
        field subset alike.

        Example:
            >>> import torch
            >>> s = Split(torch.arange(6.0).view(3, 2, 1), torch.tensor([0, 1, 0]))
            >>> s.take(torch.tensor([2, 0])).x[:, 0, 0].tolist()
            [4.0, 0.0]
        """
        if not isinstance(index, (slice, torch.Tensor)):
            rows = list(index)
            boolean = bool(rows) and all(isinstance(i, bool) for i in rows)
            index = torch.tensor(rows, dtype=torch.bool if boolean else torch.long)
        return Split(**{k: None if v is None else v[index] for k, v in self.tensors().items()})

    def to(self, device: torch.device | str) -> Split:
        """A copy with every tensor on ``device``."""
        return Split(**{k: None if v is None else v.to(device) for k, v in self.tensors().items()})

    def class_counts(self, n_classes: int = 2) -> list[int]:
        """Samples of each class; with per-step labels ``(N, T)``, valid steps of each class."""
        y = self.y
        if y.dim() == 2:
            valid = self.valid_mask
            y = y[valid] if valid is not None else y.flatten()
        return torch.bincount(y, minlength=n_classes).tolist()


BackgroundFn = Callable[[int, torch.Generator], torch.Tensor]


@dataclass
class Dataset:
    """A dataset with train / val / test splits; every loader returns one.

    Attributes:
        config: what built it (a :class:`~saliencylab.data.SyntheticConfig`,
            :class:`~saliencylab.data.UCRConfig`, ...).
        train, val, test: the :class:`Split` s; validation is carved out of the training data,
            the test split is never used for selection.
        meta: name, ``n_classes``, ``task``, class names, cache information, ...
        scaler: the :class:`~saliencylab.data.MinMaxScaler` fit on ``train`` (None if unscaled).
        background_fn: ``(n, generator) -> (n, *input_shape)`` unscaled uninformative draws
            (synthetic data; None for real data).
        modality: "time_series", "image" or "text".
        spec: how :func:`~saliencylab.data.load_dataset` built it (name, process, data_dir,
            seed, options); ``load_from_spec(spec)`` rebuilds it. Empty when built otherwise.

    Example:
        >>> from saliencylab.data import load_dataset
        >>> data = load_dataset("Middle", n_train=40, n_test=10, cache=False)
        >>> data.input_shape, data.task, data.has_mask, data.spec["process"]
        ((50, 50), 'classification', True, 'Gaussian')
    """

    config: Any
    train: Split
    val: Split
    test: Split
    meta: dict[str, Any] = field(default_factory=dict)
    scaler: MinMaxScaler | None = None
    background_fn: BackgroundFn | None = field(default=None, repr=False)
    modality: str = "time_series"
    spec: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ConfigError(f"modality must be one of {', '.join(MODALITIES)}, "
                              f"got {self.modality!r}")

    def _time_series(self, what: str) -> None:
        if self.modality != "time_series":
            raise NotApplicableError(f"{what} applies to time series; {self.name!r} is "
                                     f"{self.modality} data (use input_shape)")

    @property
    def n_time(self) -> int:
        """Time steps ``T`` of a ``(N, T, F)`` time series (padded length if ragged)."""
        self._time_series("n_time")
        return int(self.train.x.shape[1])

    @property
    def n_features(self) -> int:
        """Features (channels) ``F`` of a ``(N, T, F)`` time series."""
        self._time_series("n_features")
        return int(self.train.x.shape[2])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. ``(T, F)``."""
        return tuple(int(d) for d in self.train.x.shape[1:])

    @property
    def n_classes(self) -> int:
        """Number of classes (``meta["n_classes"]``, else the largest label + 1)."""
        if "n_classes" in self.meta:
            return int(self.meta["n_classes"])
        return int(max(int(s.y.max()) for s in self.splits.values() if len(s)) + 1)

    @property
    def task(self) -> str:
        """"classification" (labels ``(N,)``) or "segmentation" (labels per step)."""
        return str(self.meta.get("task", "classification"))

    @property
    def name(self) -> str:
        """``meta["name"]`` (e.g. "Middle_Gaussian", "GunPoint"), else the spec's name."""
        return str(self.meta.get("name") or self.spec.get("name") or "dataset")

    @property
    def has_background(self) -> bool:
        """Whether :meth:`background` can draw uninformative samples."""
        return self.background_fn is not None

    @property
    def has_mask(self) -> bool:
        """Whether every split carries a ground-truth ``mask``."""
        return all(s.mask is not None for s in self.splits.values())

    @property
    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def background(
        self, n: int, generator: torch.Generator | None = None, seed: int | None = None
    ) -> torch.Tensor:
        """``n`` fresh uninformative draws: the same process, no signal, same scaling.

        Without ``generator`` and ``seed`` a fixed seed derived from the config is used, so
        repeated calls return the same draws; pass a generator to get fresh ones each call.
        The draws are made on the generator's device.

        Example:
            >>> from saliencylab.data import load_synthetic
            >>> data = load_synthetic("RareTime", "Harmonic", n_train=50, n_test=10, cache=False)
            >>> bg = data.background(8, generator=torch.Generator().manual_seed(3))
            >>> tuple(bg.shape)
            (8, 50, 50)
        """
        if self.background_fn is None:
            raise NotApplicableError(
                f"dataset {self.meta.get('name', '?')!r} has no generating process to draw "
                f"background from"
            )
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ConfigError(f"n must be a non-negative integer, got {n!r}")
        if generator is None:
            if seed is None:
                seed = int(stable_hash(["background", self.config], length=8), 16)
            generator = make_generator(seed)
        x = self.background_fn(n, generator)
        return self.scaler.transform(x) if self.scaler is not None else x

    def to(self, device: torch.device | str) -> Dataset:
        """A copy with every split on ``device`` (background draws follow the generator)."""
        return replace(self, train=self.train.to(device), val=self.val.to(device),
                       test=self.test.to(device))

    def summary(self) -> dict[str, Any]:
        """Shapes and class balance of each split (for printing)."""
        return {name: {"shape": tuple(s.x.shape), "classes": s.class_counts(self.n_classes)}
                for name, s in self.splits.items()}


#: The former name of :class:`Dataset`, kept so existing imports work.
TimeSeriesDataset = Dataset
