"""The masking games of [CS] Gupta, Saunshi, Yu, Lyu, Arora, *New Definitions and Evaluations
for Saliency Methods: Staying Intrinsic, Complete and Sound*, NeurIPS 2022 (App. D, "intrinsic
metrics"): deletion and insertion curves and games, and the Saliency Metric of Dabkowski & Gal,
*Real Time Image Saliency for Black Box Classifiers*, NeurIPS 2017.

Any saliency map can be scored: a map of the input's shape ranks every input cell; an image map
``(B, 1, H, W)`` or ``(B, H, W)`` ranks pixels (all channels kept or filled together); a series
map ``(B, T, 1)`` ranks time steps. For label-specific maps pass ``(B, L, ...)`` maps with
``(B, L)`` labels.

- :func:`insertion_curve` / :func:`deletion_curve`: class probability when the top-``p``
  fraction of cells is kept (the rest filled) / removed (filled), for ``p`` on a grid. The fill is
  gray (``0`` after normalisation, or any number) or ``K`` distractors from a pool (the mean
  probability over them).
- :func:`deletion_game` / :func:`insertion_game`: the curves and their area (mean over the grid).
- :func:`saliency_metric`: ``log(max(a, 0.05)) - log p`` for the smallest box (images) or time
  interval (series) around the thresholded map, cropped and resized (or kept in place);
  :func:`tune_saliency_threshold` picks the threshold on a holdout set. Lower is better.
- :func:`deletion`, :func:`insertion`, :func:`saliency_metric_score`: the same in the common
  metric call shape (the registry's ``deletion``, ``insertion`` and ``saliency_metric``); by
  default they score the map of the model's predicted label, as [CS] does.

Ragged series (``valid`` ``(B, T)``): only valid cells are ranked and filled, and fractions count
valid cells; the saliency metric's interval and area are over the valid steps.

All functions are batched, run on the model's device in chunks of ``batch_size`` model inputs,
and return per-sample tensors.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 3))
    >>> x = torch.rand(4, 3, 2)
    >>> maps = torch.rand(4, 3, 2)
    >>> curve = insertion_curve(net, x, maps, torch.tensor([0, 1, 2, 0]), fractions=[0, 0.5, 1])
    >>> curve.shape
    torch.Size([4, 3])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saliencylab.errors import ConfigError, ShapeError
from saliencylab.metrics._common import (
    batch_size_of,
    check_number,
    maps_for_targets,
    model_outputs,
    protocol_inputs,
)
from saliencylab.metrics._masking import (
    DEFAULT_FRACTIONS,
    Fill,
    canonical_maps,
    check_n_distractors,
    fractions_of,
    inputs_and_labels,
    keep_top,
    map_cells,
    masked_probabilities,
    resolve_fill,
    top_labels,
)
from saliencylab.metrics.protocol import MetricContext, as_context, require, valid_steps
from saliencylab.metrics.registry import Metric, register_metric
from saliencylab.utils import chunks, eval_mode, resolve_generator

__all__ = [
    "DEFAULT_FRACTIONS",
    "DEFAULT_THRESHOLDS",
    "GameResult",
    "deletion",
    "deletion_curve",
    "deletion_game",
    "insertion",
    "insertion_curve",
    "insertion_game",
    "saliency_boxes",
    "saliency_metric",
    "saliency_metric_score",
    "tune_saliency_threshold",
]

#: Relative thresholds tried by :func:`tune_saliency_threshold`.
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(i / 20 for i in range(1, 20))
#: What the protocol games score: the map of the predicted label ([CS]) or of ``y``.
GAME_TARGETS = ("predicted", "label")


# ------------------------------------------------------------------------------------------------
# Deletion and insertion curves


def _curve(
    model: nn.Module, inputs: Tensor, maps: Tensor, targets: Any, *, fractions: Any, fill: Any,
    n_distractors: int, generator: torch.Generator | None, seed: int, batch_size: int | None,
    insertion: bool, valid: Tensor | None,
) -> Tensor:
    inputs, labels, label_axis = inputs_and_labels(model, inputs, targets, batch_size)
    m = canonical_maps(inputs, maps, labels.shape[1], label_axis)
    cells = map_cells(valid, inputs, m)
    f = fractions_of(fractions)
    b, n_labels = m.shape[:2]
    flat_cells = None if cells is None else cells.reshape(b * n_labels, *m.shape[2:])
    keep = keep_top(m.reshape(b * n_labels, *m.shape[2:]), f, top=insertion, valid=flat_cells)
    # Deletion with fraction p removes the top-p cells: keep the complement of the top-p set
    # (which holds the padding of ragged series); insertion keeps the padding as well.
    keep = keep.view(len(f), b, n_labels, *m.shape[2:])
    if insertion and cells is not None:
        keep = keep | ~cells
    value, draws = resolve_fill(fill, inputs, n_distractors, generator, seed)
    probs = masked_probabilities(model, inputs, keep, labels, value, draws, batch_size)
    curve = probs.permute(1, 2, 0)  # (B, L, P)
    return curve if label_axis else curve[:, 0]


def insertion_curve(
    model: nn.Module,
    inputs: Tensor,
    maps: Tensor,
    targets: Any,
    *,
    fractions: Sequence[float] | Tensor | None = None,
    fill: Fill = "gray",
    n_distractors: int = 10,
    generator: torch.Generator | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    valid: Tensor | None = None,
) -> Tensor:
    """Probability of ``targets`` when only the top-``p`` fraction of each map's cells is kept.

    Args:
        model: returns logits; evaluated in eval mode.
        inputs: ``(B, ...)`` float inputs on the model's device.
        maps: ``(B, ...)`` broadcastable to the input (or per-pixel ``(B, H, W)``), or
            ``(B, L, ...)`` label-specific maps when ``targets`` is ``(B, L)``.
        targets: an int, ``(B,)`` or ``(B, L)`` class indices.
        fractions: the grid of ``p`` (default 0, 0.05, ..., 1).
        fill: ``"gray"`` (0), a number, or a pool ``(N, ...)`` of distractors: ``K`` per
            sample are drawn once (the same for every ``p`` and label) and the probability
            is the mean over them.
        n_distractors: ``K``.
        generator, seed: the distractor draw (``seed`` when no generator).
        batch_size: model inputs per forward pass.
        valid: ``(B, T)`` bool valid steps of ragged series: only valid cells are ranked and
            filled, ``p`` counts valid cells.

    Returns:
        ``(B, P)``, or ``(B, L, P)`` for 2-D targets.
    """
    return _curve(model, inputs, maps, targets, fractions=fractions, fill=fill,
                  n_distractors=n_distractors, generator=generator, seed=seed,
                  batch_size=batch_size, insertion=True, valid=valid)


def deletion_curve(
    model: nn.Module,
    inputs: Tensor,
    maps: Tensor,
    targets: Any,
    *,
    fractions: Sequence[float] | Tensor | None = None,
    fill: Fill = "gray",
    n_distractors: int = 10,
    generator: torch.Generator | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    valid: Tensor | None = None,
) -> Tensor:
    """Probability of ``targets`` when the top-``p`` fraction of each map's cells is removed
    (filled); arguments as :func:`insertion_curve`. ``p = 0`` is the clean input.
    """
    return _curve(model, inputs, maps, targets, fractions=fractions, fill=fill,
                  n_distractors=n_distractors, generator=generator, seed=seed,
                  batch_size=batch_size, insertion=False, valid=valid)


@dataclass
class GameResult:
    """``curve`` ``(B, P)`` probabilities over ``fractions`` and ``auc`` ``(B,)`` (their mean)."""

    curve: Tensor
    auc: Tensor
    fractions: Tensor


def _game(model: nn.Module, inputs: Tensor, maps: Tensor, targets: Any, *, fractions: Any,
          **curve_options: Any) -> GameResult:
    curve = _curve(model, inputs, maps, targets, fractions=fractions, **curve_options)
    return GameResult(curve, curve.mean(-1), fractions_of(fractions).to(curve.dtype))


def deletion_game(
    model: nn.Module, inputs: Tensor, maps: Tensor, targets: Any, *,
    fractions: Sequence[float] | Tensor | None = None, fill: Fill = "gray",
    n_distractors: int = 10, generator: torch.Generator | None = None, seed: int = 0,
    batch_size: int | None = None, valid: Tensor | None = None,
) -> GameResult:
    """Deletion game: remove the top cells first; a good map makes the area small.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> g = deletion_game(net, torch.rand(3, 2, 2), torch.rand(3, 2, 2), 0)
    >>> g.curve.shape, g.auc.shape
    (torch.Size([3, 21]), torch.Size([3]))
    """
    return _game(model, inputs, maps, targets, fractions=fractions, fill=fill,
                 n_distractors=n_distractors, generator=generator, seed=seed,
                 batch_size=batch_size, insertion=False, valid=valid)


def insertion_game(
    model: nn.Module, inputs: Tensor, maps: Tensor, targets: Any, *,
    fractions: Sequence[float] | Tensor | None = None, fill: Fill = "gray",
    n_distractors: int = 10, generator: torch.Generator | None = None, seed: int = 0,
    batch_size: int | None = None, valid: Tensor | None = None,
) -> GameResult:
    """Insertion game: insert the top cells first into the fill; a good map makes the area
    large. Arguments as :func:`insertion_curve`.
    """
    return _game(model, inputs, maps, targets, fractions=fractions, fill=fill,
                 n_distractors=n_distractors, generator=generator, seed=seed,
                 batch_size=batch_size, insertion=True, valid=valid)


# ------------------------------------------------------------------------------------------------
# Saliency Metric (Dabkowski & Gal 2017)


def _region_scores(inputs: Tensor, maps: Tensor, valid: Tensor | None = None) -> Tensor:
    """Per-sample min-max normalised map reduced to pixels ``(B, H, W)`` or steps ``(B, T)``
    (with ``valid``: normalised over the valid cells, padded steps scored -inf)."""
    m = canonical_maps(inputs, maps, 1, False)[:, 0]
    flat = m.reshape(m.shape[0], -1)
    if valid is None:
        lo, hi = flat.min(1).values, flat.max(1).values
    else:
        cells = map_cells(valid, inputs, m.unsqueeze(1))[:, 0].reshape(m.shape[0], -1)
        lo = torch.where(cells, flat, torch.inf).min(1).values
        hi = torch.where(cells, flat, -torch.inf).max(1).values
    span = (hi - lo).clamp_min(torch.finfo(flat.dtype).tiny)
    norm = ((flat - lo[:, None]) / span[:, None]).view_as(m)
    norm = torch.where((hi > lo).view(-1, *[1] * (m.dim() - 1)), norm, torch.ones_like(norm))
    if inputs.dim() == 4:
        return norm.amax(dim=1)  # any channel over the threshold selects the pixel
    steps = norm.amax(dim=-1)  # any feature selects the time step
    return steps if valid is None else steps.masked_fill(~valid.to(steps.device), -torch.inf)


def saliency_boxes(inputs: Tensor, maps: Tensor, threshold: float, *,
                   valid: Tensor | None = None) -> Tensor:
    """Smallest box around the cells whose normalised saliency is ``>= threshold``.

    Returns ``(B, 4)`` ``[row0, row1, col0, col1]`` (inclusive) for images and ``(B, 2)``
    ``[t0, t1]`` for series. A constant map selects everything (with ``valid`` ``(B, T)``:
    every valid step; only valid steps are ever selected).

    >>> m = torch.zeros(1, 1, 4, 4); m[0, 0, 1, 2] = 1.0; m[0, 0, 2, 3] = 0.8
    >>> saliency_boxes(torch.zeros(1, 1, 4, 4), m, 0.5).tolist()
    [[1, 2, 2, 3]]
    """
    if not 0 < float(threshold) <= 1:
        raise ConfigError(f"threshold must be in (0, 1] of the map's range, got {threshold!r}")
    scores = _region_scores(inputs, maps, valid)
    sel = scores >= threshold

    def span(any_along: Tensor) -> tuple[Tensor, Tensor]:
        idx = torch.arange(any_along.shape[1], device=any_along.device)
        first = torch.where(any_along, idx, any_along.shape[1]).min(1).values
        last = torch.where(any_along, idx, -1).max(1).values
        return first, last

    if inputs.dim() == 4:
        r0, r1 = span(sel.any(dim=2))
        c0, c1 = span(sel.any(dim=1))
        return torch.stack([r0, r1, c0, c1], dim=1)
    t0, t1 = span(sel)
    return torch.stack([t0, t1], dim=1)


def _crop_axis(lo: Tensor, hi: Tensor, size: int) -> Tensor:
    """Normalised sample positions ``(B, size)`` that resize the pixels ``[lo, hi]`` to ``size``
    like ``F.interpolate(crop, size, mode="bilinear", align_corners=False)``: the source index
    is clamped inside the crop, so no pixel outside it leaks in.
    """
    # float32, not float64: MPS has no float64, and pixel coordinates need no more.
    length = (hi - lo + 1).to(torch.float32)[:, None]
    dst = torch.arange(size, device=lo.device, dtype=torch.float32)[None, :]
    src = ((dst + 0.5) * length / size - 0.5).clamp_min(0.0)
    src = torch.minimum(src, length - 1) + lo.to(torch.float32)[:, None]
    return (2 * src + 1) / size - 1  # pixel index -> grid_sample coordinate (align_corners=False)


def _crop_resize(x: Tensor, box: Tensor) -> Tensor:
    """Crop ``box`` (images ``[r0, r1, c0, c1]``, series ``[t0, t1]``) and resize it bilinearly
    back to the full size (series: linearly along time, every feature alike).
    """
    if x.dim() == 4:
        img = x
        h, w = x.shape[-2:]
        ys = _crop_axis(box[:, 0], box[:, 1], h)
        xs = _crop_axis(box[:, 2], box[:, 3], w)
    else:  # (B, T, F) -> (B, F, 1, T): time on the width axis, one row
        img = x.transpose(1, 2).unsqueeze(2)
        xs = _crop_axis(box[:, 0], box[:, 1], x.shape[1])
        ys = torch.zeros(x.shape[0], 1, dtype=torch.float32, device=x.device)
    grid = torch.stack(
        [xs[:, None, :].expand(-1, ys.shape[1], -1), ys[:, :, None].expand(-1, -1, xs.shape[1])],
        dim=-1,
    ).to(x.dtype)
    out = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out if x.dim() == 4 else out.squeeze(2).transpose(1, 2)


def _keep_box(x: Tensor, box: Tensor, value: float, valid: Tensor | None = None) -> Tensor:
    if x.dim() == 4:
        rows = torch.arange(x.shape[2], device=x.device)
        cols = torch.arange(x.shape[3], device=x.device)
        r = (rows >= box[:, 0:1]) & (rows <= box[:, 1:2])
        c = (cols >= box[:, 2:3]) & (cols <= box[:, 3:4])
        inside = (r[:, :, None] & c[:, None, :])[:, None]
    else:
        t = torch.arange(x.shape[1], device=x.device)
        inside = (t >= box[:, 0:1]) & (t <= box[:, 1:2])
        if valid is not None:  # padding is never filled
            inside = inside | ~valid
        inside = inside[:, :, None]
    return torch.where(inside, x, torch.full_like(x, value))


@torch.no_grad()
def _sm_scores(
    model: nn.Module, inputs: Tensor, maps: Tensor, labels: Tensor, thresholds: Tensor,
    region: str, area_floor: float, fill_value: float, batch_size: int | None,
    valid: Tensor | None = None,
) -> Tensor:
    """Saliency-metric scores ``(n_thresholds, B)``."""
    b = inputs.shape[0]
    boxes = torch.stack([saliency_boxes(inputs, maps, float(t), valid=valid)
                         for t in thresholds])
    if inputs.dim() == 4:
        area = ((boxes[..., 1] - boxes[..., 0] + 1) * (boxes[..., 3] - boxes[..., 2] + 1)).to(
            inputs.dtype) / (inputs.shape[2] * inputs.shape[3])
    else:
        n_steps = inputs.shape[1] if valid is None else valid.sum(1).to(inputs.dtype)
        area = (boxes[..., 1] - boxes[..., 0] + 1).to(inputs.dtype) / n_steps
    flat_boxes = boxes.reshape(-1, boxes.shape[-1])
    out = torch.empty(flat_boxes.shape[0], dtype=inputs.dtype, device=inputs.device)
    with eval_mode(model):
        for sl in chunks(flat_boxes.shape[0], batch_size):
            rows = torch.arange(sl.start, sl.stop, device=inputs.device)
            x = inputs[rows % b]
            bx = flat_boxes[sl]
            if region == "crop":
                x = _crop_resize(x, bx)
            else:
                x = _keep_box(x, bx, fill_value, None if valid is None else valid[rows % b])
            logp = torch.log_softmax(model_outputs(model, x, "the model's outputs on the "
                                                   "boxed inputs"), -1)
            out[sl] = logp.gather(1, labels[rows % b].unsqueeze(1))[:, 0]
    logp = out.view(len(thresholds), b)
    return torch.log(area.clamp_min(area_floor)) - logp


def _check_sm_options(area_floor: Any, fill_value: Any) -> None:
    """``area_floor`` is the floor of the area fraction inside the log ([CS]: 0.05), in (0, 1];
    the fill outside a kept region is a finite number."""
    check_number(area_floor, "area_floor", 0, 1, low_open=True)
    check_number(fill_value, "fill_value", -math.inf, math.inf)


def _sm_setup(model, inputs, maps, targets, region, batch_size, valid):
    inputs, lab, label_axis = inputs_and_labels(model, inputs, targets, batch_size)
    if inputs.dim() not in (3, 4):
        raise ShapeError(f"the saliency metric needs images (B, C, H, W) or series (B, T, F), "
                         f"got {tuple(inputs.shape)}")
    if label_axis:
        raise ShapeError("the saliency metric scores one map per sample: targets must be (B,)")
    if region is None:
        region = "crop" if inputs.dim() == 4 else "keep"
    if region not in ("crop", "keep"):
        raise ConfigError(f"region must be 'crop', 'keep' or None, got {region!r}")
    if valid is not None:
        valid = valid_steps(MetricContext(valid=valid), inputs)
        if region == "crop":
            raise ConfigError("region='crop' resizes the interval to the whole series and does "
                              "not take ragged series; use region='keep'")
    return inputs, lab[:, 0], region, valid


def saliency_metric(
    model: nn.Module,
    inputs: Tensor,
    maps: Tensor,
    targets: Any,
    *,
    threshold: float = 0.5,
    region: Literal["crop", "keep"] | None = None,
    area_floor: float = 0.05,
    fill_value: float = 0.0,
    batch_size: int | None = None,
    valid: Tensor | None = None,
) -> Tensor:
    """Dabkowski & Gal's Saliency Metric ``log(max(a, 0.05)) - log p`` per sample (lower is
    better), as used in [CS].

    The map is min-max normalised per sample; the smallest box (images) or time interval
    (series) containing every cell ``>= threshold`` is cut out. ``region="crop"`` (images'
    default, as Dabkowski & Gal) crops it and resizes it bilinearly to the full size;
    ``"keep"`` (series' default) keeps it in place and fills the rest with ``fill_value``.
    ``a`` is the region's area fraction and ``p`` the probability of the target on the result.
    Tune ``threshold`` with :func:`tune_saliency_threshold` on a holdout set. Ragged series
    (``valid`` ``(B, T)``, region ``"keep"``): the map is normalised over its valid cells, the
    interval holds valid steps only, ``a`` is relative to the valid length, padding is kept.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    >>> saliency_metric(net, torch.rand(3, 1, 4, 4), torch.rand(3, 1, 4, 4), 0).shape
    torch.Size([3])
    """
    _check_sm_options(area_floor, fill_value)
    inputs, lab, region, valid = _sm_setup(model, inputs, maps, targets, region, batch_size,
                                           valid)
    thr = torch.tensor([float(threshold)])
    return _sm_scores(model, inputs, maps, lab, thr, region, area_floor, fill_value,
                      batch_size, valid)[0]


def tune_saliency_threshold(
    model: nn.Module,
    inputs: Tensor,
    maps: Tensor,
    targets: Any,
    *,
    thresholds: Sequence[float] | Tensor | None = None,
    region: Literal["crop", "keep"] | None = None,
    area_floor: float = 0.05,
    fill_value: float = 0.0,
    batch_size: int | None = None,
    valid: Tensor | None = None,
) -> float:
    """The threshold (of the normalised map) with the lowest mean saliency metric on a holdout
    set; pass it to :func:`saliency_metric` on the evaluation set.
    """
    _check_sm_options(area_floor, fill_value)
    inputs, lab, region, valid = _sm_setup(model, inputs, maps, targets, region, batch_size,
                                           valid)
    thr = torch.as_tensor(DEFAULT_THRESHOLDS if thresholds is None else thresholds,
                          dtype=torch.float64).reshape(-1)
    if thr.numel() < 1 or (thr <= 0).any() or (thr > 1).any():
        raise ConfigError(f"thresholds must lie in (0, 1], got {thr.tolist()}")
    scores = _sm_scores(model, inputs, maps, lab, thr, region, area_floor, fill_value,
                        batch_size, valid)
    best = int(torch.argmin(scores.mean(1)))
    if not math.isfinite(float(scores.mean(1)[best])):
        raise ConfigError("the saliency metric is not finite on the holdout set")
    return float(thr[best])


# ------------------------------------------------------------------------------------------------
# The games in the common metric call shape


def check_fill_spec(fill: Any) -> None:
    """The ``fill`` option of a protocol call: None, ``"gray"``, ``"distractor"``, a finite
    number or a pool tensor (what :func:`protocol_fill` accepts, without reading a context)."""
    if fill is None or (isinstance(fill, str) and fill in ("gray", "distractor")) or \
            isinstance(fill, Tensor):
        return
    if isinstance(fill, int | float) and not isinstance(fill, bool):
        if not math.isfinite(fill):
            raise ConfigError(f"fill must be a finite number, got {fill!r}")
        return
    raise ConfigError(f"fill must be None or 'gray' (context.fill), 'distractor' "
                      f"(context.distractors), a number or a pool tensor, got {fill!r}")


def check_game_options(*, fractions: Any = None, fill: Any = None, n_distractors: Any = 10,
                       target: Any = "predicted") -> None:
    """``ConfigError`` for a :func:`deletion` / :func:`insertion` option out of its range."""
    fractions_of(fractions)
    check_fill_spec(fill)
    check_n_distractors(n_distractors)
    if target not in GAME_TARGETS:
        raise ConfigError(f"target must be one of {GAME_TARGETS}, got {target!r}")


def check_saliency_metric_options(*, threshold: Any = 0.5, region: Any = None,
                                  area_floor: Any = 0.05, fill: Any = None,
                                  target: Any = "predicted") -> None:
    """``ConfigError`` for a :func:`saliency_metric_score` option out of its range."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or \
            not 0 < threshold <= 1:
        raise ConfigError(f"threshold must be a number in (0, 1] of the map's range, got "
                          f"{threshold!r}")
    if region not in (None, "crop", "keep"):
        raise ConfigError(f"region must be 'crop', 'keep' or None, got {region!r}")
    _check_sm_options(area_floor, 0.0)
    check_fill_spec(fill)
    if isinstance(fill, Tensor) or fill == "distractor":
        raise ConfigError("the saliency metric fills with a constant: fill must be None, 'gray' "
                          "or a number")
    if target not in GAME_TARGETS:
        raise ConfigError(f"target must be one of {GAME_TARGETS}, got {target!r}")


def protocol_fill(fill: Any, context: MetricContext, metric: str) -> float | Tensor:
    """The fill of a protocol call: None / ``"gray"`` = ``context.fill``, ``"distractor"`` =
    ``context.distractors``, a number, or a pool tensor."""
    if fill is None or (isinstance(fill, str) and fill == "gray"):
        value = context.fill
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not math.isfinite(value):
            raise ConfigError(f"context.fill must be a finite number, got {value!r}")
        return float(value)
    if isinstance(fill, str) and fill == "distractor":
        return require(context, "distractors", f"{metric} with fill='distractor'",
                       "a pool (M, *sample) of training inputs")
    if isinstance(fill, Tensor) or (isinstance(fill, int | float) and not isinstance(fill, bool)):
        return fill
    raise ConfigError(f"fill must be None or 'gray' (context.fill), 'distractor' "
                      f"(context.distractors), a number or a pool tensor, got {fill!r}")


def _game_setup(
    model: nn.Module, x: Tensor, y: Tensor, attributions: Tensor | None,
    context: MetricContext | None, target: str, metric: str,
) -> tuple[MetricContext, Tensor, Tensor, Tensor, Tensor | None]:
    """``(context, x, targets, maps, valid)`` on the model's device: the maps of the predicted
    label (``attributions`` where ``y`` is the prediction, ``explain_fn``'s elsewhere) or, for
    ``target="label"``, the given maps for ``y``."""
    if target not in GAME_TARGETS:
        raise ConfigError(f"target must be one of {GAME_TARGETS}, got {target!r}")
    context, x, y, valid = protocol_inputs(model, x, y, attributions, context,
                                           need_attributions=target == "label")
    if target == "label":
        return context, x, y, attributions.detach().to(x.device), valid
    predicted = top_labels(model, x, 1, batch_size=batch_size_of(context, None))[:, 0]
    maps = maps_for_targets(context.explain_fn, model, x, predicted, y, attributions,
                            batch_size_of(context, None), "predicted label", metric)
    return context, x, predicted, maps, valid


def _protocol_game(
    model: nn.Module, x: Tensor, y: Tensor, attributions: Tensor | None,
    context: MetricContext | None, *, fractions: Any, fill: Any, n_distractors: int, target: str,
    insertion: bool,
) -> Tensor:
    """The area of the deletion or insertion game per sample, in the common call shape."""
    metric = "insertion" if insertion else "deletion"
    # the options first: before any map is explained
    check_game_options(fractions=fractions, fill=fill, n_distractors=n_distractors, target=target)
    protocol_fill(fill, as_context(context), metric)
    context, x, t, maps, valid = _game_setup(model, x, y, attributions, context, target, metric)
    return _game(model, x, maps, t, fractions=fractions, fill=protocol_fill(fill, context, metric),
                 n_distractors=n_distractors, generator=resolve_generator(context.generator),
                 seed=0, batch_size=batch_size_of(context, None), insertion=insertion,
                 valid=valid).auc.float().cpu()


def deletion(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor | None = None,
    *,
    context: MetricContext | None = None,
    fractions: Sequence[float] | Tensor | None = None,
    fill: Any = None,
    n_distractors: int = 10,
    target: str = "predicted",
) -> Tensor:
    """[CS] deletion game per sample ``(N,)``: the mean probability of the predicted label while
    its map's top 0..100 % cells are replaced by the fill; lower is better.

    Args:
        model, x, y, attributions: the classifier, series or images, labels and their maps.
        context: ``explain_fn`` (the predicted label's map where ``y`` is not the prediction),
            ``fill`` (the gray value), ``distractors``, ``generator`` (distractor draws),
            ``batch_size`` (model inputs per pass, default: sized by the memory
            budget; also ``explain_fn`` rows), ``valid`` (ragged series).
        fractions: the grid (default 0, 0.05, ..., 1).
        fill: None / ``"gray"`` (``context.fill``), ``"distractor"`` (``K`` draws from
            ``context.distractors``), or a number.
        n_distractors: ``K``.
        target: ``"predicted"`` ([CS]) or ``"label"`` (the given maps for ``y``, no
            re-explanation).
    """
    return _protocol_game(model, x, y, attributions, context, fractions=fractions, fill=fill,
                          n_distractors=n_distractors, target=target, insertion=False)


def insertion(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor | None = None,
    *,
    context: MetricContext | None = None,
    fractions: Sequence[float] | Tensor | None = None,
    fill: Any = None,
    n_distractors: int = 10,
    target: str = "predicted",
) -> Tensor:
    """[CS] insertion game per sample ``(N,)``: the mean probability of the predicted label while
    its map's top 0..100 % cells are inserted into the fill; higher is better. Arguments as
    :func:`deletion`.
    """
    return _protocol_game(model, x, y, attributions, context, fractions=fractions, fill=fill,
                          n_distractors=n_distractors, target=target, insertion=True)


def saliency_metric_score(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor | None = None,
    *,
    context: MetricContext | None = None,
    threshold: float = 0.5,
    region: Literal["crop", "keep"] | None = None,
    area_floor: float = 0.05,
    fill: Any = None,
    target: str = "predicted",
) -> Tensor:
    """The Saliency Metric (Dabkowski & Gal 2017, as in [CS] App. D) per sample ``(N,)`` of the
    predicted label's map; lower is better. :func:`saliency_metric` in the common call shape:
    ``threshold`` (tune it with :func:`tune_saliency_threshold` on a holdout set), ``region``,
    ``area_floor`` as there; ``fill`` (the constant outside a kept region: None / ``"gray"`` =
    ``context.fill``, or a number) and ``target`` as :func:`deletion`.
    """
    check_saliency_metric_options(threshold=threshold, region=region, area_floor=area_floor,
                                  fill=fill, target=target)
    context, x, t, maps, valid = _game_setup(model, x, y, attributions, context, target,
                                             "saliency_metric")
    value = protocol_fill(fill, context, "saliency_metric")
    if isinstance(value, Tensor):
        raise ConfigError("the saliency metric fills with a constant: fill must be None, 'gray' "
                          "or a number")
    return saliency_metric(model, x, maps, t, threshold=threshold, region=region,
                           area_floor=area_floor, fill_value=float(value),
                           batch_size=batch_size_of(context, None), valid=valid).float().cpu()


_GAME_NEEDS = frozenset({"explain_fn"})
register_metric(Metric(
    "deletion", deletion, "certification", False,
    "deletion game: mean probability of the predicted label while its top 0..100 % cells are "
    "replaced by gray (lower is better)",
    references=("CS App. D",), needs=_GAME_NEEDS, modalities=("time_series", "image"),
    check_options=check_game_options,
))
register_metric(Metric(
    "insertion", insertion, "certification", True,
    "insertion game: mean probability of the predicted label while its top 0..100 % cells are "
    "inserted into gray",
    references=("CS App. D",), needs=_GAME_NEEDS, modalities=("time_series", "image"),
    check_options=check_game_options,
))
register_metric(Metric(
    "saliency_metric", saliency_metric_score, "certification", False,
    "log(max(a, 0.05)) - log p of the predicted label on the smallest box (images) or interval "
    "(series) around the thresholded map (lower is better)",
    references=("CS App. D", "Dabkowski & Gal, NeurIPS 2017"), needs=_GAME_NEEDS,
    modalities=("time_series", "image"), check_options=check_saliency_metric_options,
))
