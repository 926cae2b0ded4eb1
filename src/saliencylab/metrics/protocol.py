"""The one call shape of every saliencylab metric, and the context it reads.

Every metric function, whatever its family ([TSB] ground truth, [OBJ] quality, [CS]
certification and games), is called as

    fn(model, x, y, attributions, *, context: MetricContext, **options)
        -> Tensor (N,) | MetricOutput

- ``model``: the network the maps explain (returns logits); left in the mode it was in.
- ``x``: inputs, time series ``(N, T, F)`` or images ``(N, C, H, W)``.
- ``y``: ``(N,)`` class indices the maps explain.
- ``attributions``: the maps being scored, of ``x``'s shape.
- ``context``: what a metric may need besides them (:class:`MetricContext`): a way to re-explain,
  the ground truth, a background sampler, per-step segment labels, the valid steps of ragged
  series, the fill of the masking curves, a distractor pool, the chunk size and the one
  randomness argument.
- ``options``: the metric's own keyword parameters (``radius``, ``theta``, ``window``,
  ``fractions``, ...); :func:`saliencylab.metrics.check_metric_options` checks their names.

A metric returns a per-sample ``(N,)`` tensor (NaN where the score is undefined for a sample) or,
for a family computed once that yields several numbers, a :class:`MetricOutput`.

Example:
    >>> import torch
    >>> from saliencylab.metrics import MetricContext, robustness
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 2))
    >>> flat = lambda model, inputs, target: torch.ones_like(inputs)   # a constant map
    >>> x, y = torch.rand(3, 10, 2), torch.tensor([0, 1, 0])
    >>> robustness(net, x, y, context=MetricContext(explain_fn=flat)).tolist()
    [0.0, 0.0, 0.0]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError, NotApplicableError, ShapeError
from saliencylab.utils import GeneratorLike

__all__ = [
    "BackgroundFn",
    "ExplainFn",
    "MetricContext",
    "MetricOutput",
    "as_context",
    "modality_of",
    "require",
    "step_bounds",
    "valid_steps",
]

#: ``explain_fn(model, inputs, target) -> attributions`` with ``target`` an int or a
#: ``(batch,)`` tensor; attributions have the inputs' shape. One that also takes
#: ``sample_ids=`` (as :func:`saliencylab.metrics.make_explain_fn`'s does) gets the sample each
#: input stands for, so a sampling method's draws follow the sample, not the input's position
#: in the call.
ExplainFn = Callable[[nn.Module, Tensor, Tensor], Tensor]

#: ``background(n, generator) -> Tensor (n, *sample_shape)``: fresh uninformative draws of the
#: data's process with the data's scaling.
BackgroundFn = Callable[[int, torch.Generator], Tensor]


@dataclass(frozen=True, eq=False)
class MetricContext:
    """Everything a metric may need besides the model, the inputs, the labels and the maps.

    Attributes:
        explain_fn: ``(model, x, target) -> maps`` made with the scored maps' method settings
            (method, parameters, post-processing); metrics that re-explain (sanity, inter-class
            sensitivity, robustness, certification) call it. Build one with
            :func:`saliencylab.metrics.make_explain_fn`.
        groundtruth: ``(N, *sample)`` bool, the known informative cells ([TSB]).
        background: ``background(n, generator) -> (n, *sample)`` fresh uninformative draws.
        segments: ``(N, T)`` per-step class labels (segmentation data).
        valid: ``(N, T)`` bool, the valid steps of ragged series (one contiguous run per
            series); None = every step is valid. Metrics ignore padded cells of ``x`` and of the
            maps.
        fill: the gray value of the [CS] insertion / deletion curves (0 for z-normalised data,
            the training mean for min-max scaled data).
        distractors: a pool ``(M, *sample)`` of training inputs (the [CS] distractor fill).
        batch_size: inputs per chunk (model or ``explain_fn`` call); None = each metric's
            default.
        generator: the one randomness argument: a ``torch.Generator`` used as is, an int seed,
            or None (seed 0). :func:`saliencylab.metrics.score` replaces it per family unless it
            is a Generator.
    """

    explain_fn: ExplainFn | None = None
    groundtruth: Tensor | None = None
    background: BackgroundFn | None = None
    segments: Tensor | None = None
    valid: Tensor | None = None
    fill: float = 0.0
    distractors: Tensor | None = None
    batch_size: int | None = None
    generator: GeneratorLike = None

    def replace(self, **changes: Any) -> MetricContext:
        """A copy with ``changes`` applied (the context is immutable).

        >>> MetricContext(batch_size=8).replace(fill=0.5).batch_size
        8
        """
        return dataclasses.replace(self, **changes)


@dataclass
class MetricOutput:
    """What a family computed once returns: several per-sample scores and extra store rows.

    Attributes:
        per_sample: ``name -> (N,)`` scores (NaN = undefined for that sample).
        rows: extra ``(metric, statistic, value)`` rows for the results store, e.g. curves and
            set-level values (the [TSB] AUP is a curve summary of means, not a per-sample score).
        arrays: further per-sample tensors kept next to the rows (e.g. ``(n_d, N)`` precision),
            not summarised.
        result: the family's full result object (e.g. a ``GroundTruthResult``), for callers
            who want more than the rows.
    """

    per_sample: dict[str, Tensor] = field(default_factory=dict)
    rows: list[tuple[str, str, float]] = field(default_factory=list)
    arrays: dict[str, Tensor] = field(default_factory=dict)
    result: Any = None


def as_context(context: MetricContext | None) -> MetricContext:
    """``context`` checked, or an empty :class:`MetricContext` for None."""
    if context is None:
        return MetricContext()
    if not isinstance(context, MetricContext):
        raise ConfigError(f"context must be a saliencylab.metrics.MetricContext, got "
                          f"{type(context).__name__}")
    check_batch_size(context.batch_size, "context.batch_size")
    return context


def check_batch_size(batch_size: Any, name: str = "batch_size") -> None:
    """A chunk size is a positive int, or None (no chunking)."""
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ConfigError(f"{name} must be a positive int or None, got {batch_size!r}")


def modality_of(x: Tensor) -> str:
    """``"time_series"`` for ``(N, T, F)`` inputs, ``"image"`` for ``(N, C, H, W)``."""
    if isinstance(x, Tensor) and x.dim() == 3:
        return "time_series"
    if isinstance(x, Tensor) and x.dim() == 4:
        return "image"
    got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
    raise ShapeError(f"x must be time series (batch, time, features) or images (batch, "
                     f"channels, height, width), got {got}")


def require(context: MetricContext, name: str, metric: str, what: str) -> Any:
    """``context.<name>``, or :class:`NotApplicableError` saying that ``metric`` needs it."""
    value = getattr(context, name)
    if value is None:
        raise NotApplicableError(f"{metric} needs {what}; pass it as MetricContext({name}=...)")
    return value


def valid_steps(context: MetricContext, x: Tensor) -> Tensor | None:
    """``context.valid`` checked against ``x``, as a bool ``(N, T)`` tensor on ``x``'s device;
    None when every step is valid.

    Valid steps must form one contiguous, non-empty run per series (ragged series are padded
    before and / or after their steps).

    >>> x = torch.zeros(2, 4, 1)
    >>> valid = torch.tensor([[True, True, False, False], [True, True, True, True]])
    >>> valid_steps(MetricContext(valid=valid), x).sum(1).tolist()
    [2, 4]
    """
    valid = context.valid
    if valid is None:
        return None
    if not isinstance(valid, Tensor):
        raise ShapeError(f"context.valid must be a bool tensor (N, T), got {type(valid).__name__}")
    if x.dim() != 3:
        raise NotApplicableError(f"context.valid marks the valid steps of ragged time series; "
                                 f"inputs of shape {tuple(x.shape)} are not time series")
    if tuple(valid.shape) != tuple(x.shape[:2]):
        raise ShapeError(f"context.valid must be (N, T) = {tuple(x.shape[:2])}, got "
                         f"{tuple(valid.shape)}")
    if valid.dtype != torch.bool:
        if valid.is_floating_point() or not bool(((valid == 0) | (valid == 1)).all()):
            raise ShapeError(f"context.valid must be boolean (or 0/1 integers), got dtype "
                             f"{valid.dtype}")
        valid = valid.bool()
    valid = valid.to(x.device)
    v = valid.to(torch.int32)
    runs = (v[:, 1:] > v[:, :-1]).sum(dim=1) + v[:, 0]  # starts of runs of valid steps
    if bool((runs != 1).any()):
        bad = int((runs != 1).nonzero()[0, 0])
        what = "no valid step" if int(runs[bad]) == 0 else "valid steps with gaps"
        raise ShapeError(f"context.valid must mark one contiguous, non-empty run of steps per "
                         f"series; series {bad} has {what}")
    return valid


def step_bounds(valid: Tensor) -> tuple[Tensor, Tensor]:
    """First and last valid step (inclusive) of each series, ``(N,)`` each.

    >>> step_bounds(torch.tensor([[False, True, True, False]]))
    (tensor([1]), tensor([2]))
    """
    n_time = valid.shape[1]
    v = valid.to(torch.int32)
    first = v.argmax(dim=1)
    last = n_time - 1 - v.flip(1).argmax(dim=1)
    return first, last
