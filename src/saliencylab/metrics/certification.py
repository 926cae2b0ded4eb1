"""Completeness, soundness and the masking games of [CS] Gupta, Saunshi, Yu, Lyu, Arora, *New
Definitions and Evaluations for Saliency Methods: Staying Intrinsic, Complete and Sound*,
NeurIPS 2022 (SPEC.md section 8), plus the Saliency Metric of Dabkowski & Gal, *Real Time Image
Saliency for Black Box Classifiers*, NeurIPS 2017.

Any saliency map can be scored: a map of the input's shape ranks every input cell; an image map
``(B, 1, H, W)`` or ``(B, H, W)`` ranks pixels (all channels kept or filled together); a series
map ``(B, T, 1)`` ranks time steps. For label-specific maps (a mask learned per label) pass
``(B, L, ...)`` maps (rank = input rank + 1) with ``(B, L)`` labels.

- :func:`insertion_curve` / :func:`deletion_curve`: class probability when the top-``p``
  fraction of cells is kept (the rest filled) / removed (filled), for ``p`` on a grid. The fill is
  gray (``0`` after normalisation, or any number) or ``K`` distractors from a pool (the mean
  probability over them).
- :func:`certify`: ``AUC_a`` = mean class-``a`` probability over the insertion curve, ``p_a`` the
  clean probability; completeness ``c_a = min(max(eps1, AUC_a) / p_a, 1)``, soundness
  ``s_a = min(max(eps2, p_a) / AUC_a, 1)``, eps1 = 0.01, eps2 = 0.1; the worst case over the
  labels scored (by default the predicted and the second most likely one).
- :func:`certify_masks`: the same ratios for one (soft or binary) mask instead of a curve.
- :func:`deletion_game` / :func:`insertion_game`: the curves and their area (mean over the grid).
- :func:`saliency_metric`: ``log(max(a, 0.05)) - log p`` for the smallest box (images) or time
  interval (series) around the thresholded map, cropped and resized (or kept in place);
  :func:`tune_saliency_threshold` picks the threshold on a holdout set. Lower is better.

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

from saliencylab.errors import ConfigError, InvalidDataError, ShapeError
from saliencylab.explain.masks import targets_2d
from saliencylab.utils import check_finite, chunks, make_generator

__all__ = [
    "DEFAULT_FRACTIONS",
    "DEFAULT_THRESHOLDS",
    "EPS_COMPLETENESS",
    "EPS_SOUNDNESS",
    "CertificationResult",
    "GameResult",
    "certify",
    "certify_masks",
    "class_probability",
    "completeness",
    "deletion_curve",
    "deletion_game",
    "insertion_curve",
    "insertion_game",
    "keep_top",
    "masked_probability",
    "saliency_boxes",
    "saliency_metric",
    "soundness",
    "top_labels",
    "tune_saliency_threshold",
]

#: Fractions of cells kept (insertion) or removed (deletion): 0, 0.05, ..., 1.
DEFAULT_FRACTIONS: tuple[float, ...] = tuple(i / 20 for i in range(21))
#: Relative thresholds tried by :func:`tune_saliency_threshold`.
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(i / 20 for i in range(1, 20))
EPS_COMPLETENESS = 0.01  # [CS] eps_1
EPS_SOUNDNESS = 0.1  # [CS] eps_2

Fill = Literal["gray"] | float | Tensor


# ------------------------------------------------------------------------------------------------
# Validation and shapes


def _device(model: nn.Module, x: Tensor) -> torch.device:
    p = next(iter(model.parameters()), None)
    device = p.device if p is not None else x.device
    if x.device != device:
        raise ConfigError(f"the model is on {device} but the inputs are on {x.device}")
    return device


def _check_inputs(inputs: Any) -> Tensor:
    if not isinstance(inputs, Tensor) or not inputs.is_floating_point() or inputs.dim() < 2:
        got = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ShapeError(f"inputs must be a float tensor (B, C, H, W) or (B, T, F), got {got}")
    if inputs.shape[0] < 1:
        raise ShapeError(f"inputs must hold at least one sample, got {tuple(inputs.shape)}")
    check_finite(inputs, "inputs")
    return inputs.detach()


def _canonical_maps(inputs: Tensor, maps: Any, n_labels: int, label_axis: bool) -> Tensor:
    """Maps as ``(B, L, *S')`` with ``S'`` broadcastable to the input's ``S``."""
    if not isinstance(maps, Tensor):
        raise ShapeError(f"maps must be a tensor, got {type(maps).__name__}")
    check_finite(maps, "maps")
    b, s = inputs.shape[0], tuple(inputs.shape[1:])
    m = maps.detach().to(inputs.device)
    if not m.is_floating_point():
        m = m.float()
    expected = (f"maps of shape (B, ...) broadcastable to the input {tuple(inputs.shape)}"
                + (" or per-pixel (B, H, W)" if len(s) == 3 else ""))
    if label_axis and m.dim() == len(s) + 2:
        if tuple(m.shape[:2]) != (b, n_labels):
            raise ShapeError(f"label-specific maps must start with (B, L) = ({b}, {n_labels}), "
                             f"got {tuple(m.shape)}")
    else:
        if len(s) == 3 and m.dim() == 3:  # per-pixel image map (B, H, W)
            m = m.unsqueeze(1)
        if m.dim() != len(s) + 1:
            raise ShapeError(f"expected {expected}"
                             + (" or (B, L, ...) label-specific maps" if label_axis else "")
                             + f", got {tuple(maps.shape)}")
        m = m.unsqueeze(1).expand(-1, n_labels, *m.shape[1:])
    rest = tuple(m.shape[2:])
    if m.shape[0] != b or any(r not in (1, si) for r, si in zip(rest, s, strict=True)):
        raise ShapeError(f"expected {expected}, got {tuple(maps.shape)}")
    return m


def _fractions(fractions: Sequence[float] | Tensor | None) -> Tensor:
    f = torch.as_tensor(DEFAULT_FRACTIONS if fractions is None else fractions,
                        dtype=torch.float64).reshape(-1)
    if f.numel() < 1 or not torch.isfinite(f).all() or (f < 0).any() or (f > 1).any():
        raise ConfigError(f"fractions must be values in [0, 1], got {f.tolist()}")
    return f


def _check_batch_size(batch_size: int | None) -> None:
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ConfigError(f"batch_size must be a positive int or None, got {batch_size!r}")


def _inputs_and_labels(
    model: nn.Module, inputs: Any, targets: Any, batch_size: int | None
) -> tuple[Tensor, Tensor, bool]:
    """The checks that open every scoring call: ``(inputs, (B, L) labels, label_axis)``."""
    inputs = _check_inputs(inputs)
    _check_batch_size(batch_size)
    device = _device(model, inputs)
    labels, label_axis = targets_2d(targets, inputs.shape[0], device)
    return inputs, labels, label_axis


# ------------------------------------------------------------------------------------------------
# Probabilities of many masked inputs, built chunk by chunk


@torch.no_grad()
def class_probability(
    model: nn.Module, inputs: Tensor, targets: Any, *, batch_size: int | None = None
) -> Tensor:
    """Softmax probability of ``targets`` (``(B,)`` or ``(B, L)``) on the clean inputs.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> class_probability(net, torch.rand(3, 2, 2), torch.tensor([0, 1, 1])).shape
    torch.Size([3])
    """
    inputs, labels, label_axis = _inputs_and_labels(model, inputs, targets, batch_size)
    with _eval(model):
        logp = torch.cat([torch.log_softmax(model(inputs[sl]), -1)
                          for sl in chunks(inputs.shape[0], batch_size)])
    p = logp.gather(1, labels).exp()
    return p if label_axis else p[:, 0]


class _eval:
    """Eval mode for the duration of a block; each module's mode restored afterwards."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self) -> None:
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc: Any) -> None:
        for m, mode in self.modes:
            m.training = mode


def _resolve_fill(
    fill: Any, inputs: Tensor, n_distractors: int, generator: torch.Generator | None, seed: int
) -> tuple[float | None, Tensor | None]:
    """``(value, None)`` for a constant fill or ``(None, draws (B, K, *S))`` for distractors."""
    if isinstance(fill, str):
        if fill != "gray":
            raise ConfigError(f"fill must be 'gray', a number or a distractor pool tensor, "
                              f"got {fill!r}")
        return 0.0, None
    if isinstance(fill, int | float) and not isinstance(fill, bool):
        return float(fill), None
    if isinstance(fill, Tensor):
        if tuple(fill.shape[1:]) != tuple(inputs.shape[1:]) or fill.shape[0] < 1:
            sample = ", ".join(map(str, inputs.shape[1:]))
            raise ShapeError(f"a distractor pool must be (N, {sample}), got {tuple(fill.shape)}")
        check_finite(fill, "distractor pool")
        if not isinstance(n_distractors, int) or n_distractors < 1:
            raise ConfigError(f"n_distractors must be a positive int, got {n_distractors!r}")
        gen = generator if generator is not None else make_generator(seed)
        idx = torch.randint(0, fill.shape[0], (inputs.shape[0], n_distractors), generator=gen,
                            device=gen.device)
        return None, fill.detach()[idx.to(fill.device)].to(inputs.device, inputs.dtype)
    raise ConfigError(f"fill must be 'gray', a number or a distractor pool tensor, got "
                      f"{type(fill).__name__}")


@torch.no_grad()
def _probabilities(
    model: nn.Module, x: Tensor, keep: Tensor, labels: Tensor, value: float | None,
    draws: Tensor | None, batch_size: int | None,
) -> Tensor:
    """``p_label(keep * x + (1 - keep) * fill)`` for every (level, sample, label): ``(P, B, L)``.

    ``keep`` is ``(P, B, L, *S')`` (bool or float in [0, 1]); with distractors the probability
    is the mean over the ``K`` draws of each sample. Inputs are built per chunk of
    ``batch_size`` rows of the flattened ``(P, B, L, K)`` grid, so memory stays bounded.
    """
    n_levels, b, n_labels = keep.shape[:3]
    k = 1 if draws is None else draws.shape[1]
    total = n_levels * b * n_labels * k
    out = torch.empty(total, dtype=x.dtype, device=x.device)
    keep_flat = keep.reshape(n_levels * b * n_labels, *keep.shape[3:])
    with _eval(model):
        for sl in chunks(total, batch_size):
            i = torch.arange(sl.start, sl.stop, device=x.device)
            row, kk = i // k, i % k  # row indexes (P, B, L) flattened
            sample = (row // n_labels) % b
            m = keep_flat[row].to(x.dtype)
            if draws is None:
                blended = m * x[sample] + (1 - m) * value
            else:
                blended = m * x[sample] + (1 - m) * draws[sample, kk]
            logp = torch.log_softmax(model(blended), -1)
            out[sl] = logp.gather(1, labels.reshape(-1)[row % (b * n_labels)].unsqueeze(1))[:, 0]
    return out.exp().view(n_levels, b, n_labels, k).mean(-1)


def keep_top(maps: Tensor, fractions: Sequence[float] | Tensor, *, top: bool = True) -> Tensor:
    """Boolean masks ``(P, *maps.shape)`` keeping the top ``round(p * cells)`` cells of each map.

    Cells are ranked within each map (all dims but the first) by value, ties by position
    (stable sort); ``top=False`` keeps the complement (the deletion game's kept cells).

    >>> keep_top(torch.tensor([[0.1, 0.9, 0.5]]), [0.0, 0.34, 1.0]).int().tolist()
    [[[0, 0, 0]], [[0, 1, 0]], [[1, 1, 1]]]
    """
    f = _fractions(fractions)
    flat = maps.reshape(maps.shape[0], -1)
    n_cells = flat.shape[1]
    order = torch.argsort(-flat, dim=1, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n_cells, device=maps.device).expand_as(order))
    counts = torch.round(f * n_cells).long().to(maps.device)
    keep = rank.unsqueeze(0) < counts.view(-1, 1, 1)
    if not top:
        keep = ~keep
    return keep.view(len(f), *maps.shape)


def _curve(
    model: nn.Module, inputs: Tensor, maps: Tensor, targets: Any, *, fractions: Any, fill: Any,
    n_distractors: int, generator: torch.Generator | None, seed: int, batch_size: int | None,
    insertion: bool,
) -> Tensor:
    inputs, labels, label_axis = _inputs_and_labels(model, inputs, targets, batch_size)
    m = _canonical_maps(inputs, maps, labels.shape[1], label_axis)
    f = _fractions(fractions)
    b, n_labels = m.shape[:2]
    keep = keep_top(m.reshape(b * n_labels, *m.shape[2:]), f, top=insertion)
    # Deletion with fraction p removes the top-p cells: keep the complement of the top-p set.
    keep = keep.view(len(f), b, n_labels, *m.shape[2:])
    value, draws = _resolve_fill(fill, inputs, n_distractors, generator, seed)
    probs = _probabilities(model, inputs, keep, labels, value, draws, batch_size)
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
    batch_size: int | None = 4096,
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

    Returns:
        ``(B, P)``, or ``(B, L, P)`` for 2-D targets.
    """
    return _curve(model, inputs, maps, targets, fractions=fractions, fill=fill,
                  n_distractors=n_distractors, generator=generator, seed=seed,
                  batch_size=batch_size, insertion=True)


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
    batch_size: int | None = 4096,
) -> Tensor:
    """Probability of ``targets`` when the top-``p`` fraction of each map's cells is removed
    (filled); arguments as :func:`insertion_curve`. ``p = 0`` is the clean input.
    """
    return _curve(model, inputs, maps, targets, fractions=fractions, fill=fill,
                  n_distractors=n_distractors, generator=generator, seed=seed,
                  batch_size=batch_size, insertion=False)


# ------------------------------------------------------------------------------------------------
# Completeness and soundness [CS]


def completeness(auc: Tensor, clean: Tensor, eps: float = EPS_COMPLETENESS) -> Tensor:
    """``c_a = min(max(eps1, AUC_a) / p_a, 1)`` [CS].

    >>> completeness(torch.tensor([0.45, 0.9]), torch.tensor([0.9, 0.9])).tolist()
    [0.5, 1.0]
    """
    return (auc.clamp_min(eps) / clean).clamp_max(1.0)


def soundness(auc: Tensor, clean: Tensor, eps: float = EPS_SOUNDNESS) -> Tensor:
    """``s_a = min(max(eps2, p_a) / AUC_a, 1)`` [CS].

    >>> soundness(torch.tensor([0.8, 0.05]), torch.tensor([0.2, 0.01])).tolist()
    [0.25, 1.0]
    """
    return (clean.clamp_min(eps) / auc).clamp_max(1.0)


@dataclass
class CertificationResult:
    """Per (sample, label) scores of :func:`certify` / :func:`certify_masks`.

    ``labels`` ``(B, L)``; ``auc`` (the curve's mean, or the masked probability for
    :func:`certify_masks`), ``clean``, ``completeness``, ``soundness`` ``(B, L)``; ``curves``
    ``(B, L, P)`` (None for single masks). ``worst_completeness`` / ``worst_soundness`` are the
    minimum over the labels, ``(B,)``.
    """

    labels: Tensor
    auc: Tensor
    clean: Tensor
    completeness: Tensor
    soundness: Tensor
    curves: Tensor | None = None
    fractions: Tensor | None = None

    @property
    def worst_completeness(self) -> Tensor:
        return self.completeness.min(dim=1).values

    @property
    def worst_soundness(self) -> Tensor:
        return self.soundness.min(dim=1).values


@torch.no_grad()
def top_labels(model: nn.Module, inputs: Tensor, k: int = 2, *,
               batch_size: int | None = None) -> Tensor:
    """The ``k`` most likely labels of each input, most likely first: ``(B, k)``.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 5))
    >>> top_labels(net, torch.rand(3, 2, 2)).shape
    torch.Size([3, 2])
    """
    inputs = _check_inputs(inputs)
    _device(model, inputs)
    with _eval(model):
        logits = torch.cat([model(inputs[sl]) for sl in chunks(inputs.shape[0], batch_size)])
    if not 1 <= k <= logits.shape[1]:
        raise ConfigError(f"k must be in [1, {logits.shape[1]}] (the number of classes), got {k}")
    return logits.topk(k, dim=1).indices


def certify(
    model: nn.Module,
    inputs: Tensor,
    maps: Tensor,
    labels: Any = None,
    *,
    fill: Fill = "gray",
    fractions: Sequence[float] | Tensor | None = None,
    n_distractors: int = 10,
    generator: torch.Generator | None = None,
    seed: int = 0,
    eps_completeness: float = EPS_COMPLETENESS,
    eps_soundness: float = EPS_SOUNDNESS,
    batch_size: int | None = 4096,
) -> CertificationResult:
    """Completeness and soundness of saliency maps from their insertion curves [CS].

    Args:
        maps: label-specific ``(B, L, ...)`` maps (e.g. learned masks for each label), or
            ``(B, ...)`` maps used for every label.
        labels: ``(B, L)`` labels; None: the predicted and the second most likely label.
        fill, fractions, n_distractors, generator, seed, batch_size: as
            :func:`insertion_curve`.
        eps_completeness, eps_soundness: [CS] eps1 = 0.01, eps2 = 0.1.

    Returns:
        A :class:`CertificationResult`; the paper's numbers are the means of
        ``worst_completeness`` and ``worst_soundness``.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3))
        >>> r = certify(net, torch.rand(5, 2, 4), torch.rand(5, 2, 4))
        >>> r.completeness.shape, bool(((r.soundness > 0) & (r.soundness <= 1)).all())
        (torch.Size([5, 2]), True)
    """
    inputs = _check_inputs(inputs)
    if labels is None:
        labels = top_labels(model, inputs, 2, batch_size=batch_size)
    lab, _ = targets_2d(labels, inputs.shape[0], inputs.device)
    curves = insertion_curve(model, inputs, maps, lab, fractions=fractions, fill=fill,
                             n_distractors=n_distractors, generator=generator, seed=seed,
                             batch_size=batch_size)
    auc = curves.mean(-1)
    clean = class_probability(model, inputs, lab, batch_size=batch_size)
    return CertificationResult(
        labels=lab, auc=auc, clean=clean, completeness=completeness(auc, clean, eps_completeness),
        soundness=soundness(auc, clean, eps_soundness), curves=curves,
        fractions=_fractions(fractions).to(curves.dtype),
    )


def masked_probability(
    model: nn.Module,
    inputs: Tensor,
    masks: Tensor,
    targets: Any,
    *,
    fill: Fill = "gray",
    n_distractors: int = 10,
    generator: torch.Generator | None = None,
    seed: int = 0,
    batch_size: int | None = 4096,
) -> Tensor:
    """``p_a(M * x + (1 - M) * fill)`` for soft or binary masks (shapes as :func:`certify`);
    with a distractor pool, the mean over ``K`` draws. ``(B,)`` or ``(B, L)``.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.rand(3, 2, 2)
    >>> full = masked_probability(net, x, torch.ones(3, 2, 2), 1)
    >>> torch.allclose(full, class_probability(net, x, 1))
    True
    """
    inputs, lab, label_axis = _inputs_and_labels(model, inputs, targets, batch_size)
    m = _canonical_maps(inputs, masks, lab.shape[1], label_axis)
    if (m < 0).any() or (m > 1).any():
        raise InvalidDataError(f"masks must take values in [0, 1], got values in "
                               f"[{float(m.min()):.3g}, {float(m.max()):.3g}]")
    value, draws = _resolve_fill(fill, inputs, n_distractors, generator, seed)
    p = _probabilities(model, inputs, m.unsqueeze(0), lab, value, draws, batch_size)[0]
    return p if label_axis else p[:, 0]


def certify_masks(
    model: nn.Module,
    inputs: Tensor,
    masks: Tensor,
    labels: Any,
    *,
    fill: Fill = "gray",
    n_distractors: int = 10,
    generator: torch.Generator | None = None,
    seed: int = 0,
    eps_completeness: float = EPS_COMPLETENESS,
    eps_soundness: float = EPS_SOUNDNESS,
    batch_size: int | None = 4096,
) -> CertificationResult:
    """[CS] completeness and soundness of single masks: the masked probability in place of the
    curve's mean (the definition the theory of SPEC.md section 8 speaks about).
    """
    inputs = _check_inputs(inputs)
    lab, _ = targets_2d(labels, inputs.shape[0], inputs.device)
    p = masked_probability(model, inputs, masks, lab, fill=fill, n_distractors=n_distractors,
                           generator=generator, seed=seed, batch_size=batch_size)
    clean = class_probability(model, inputs, lab, batch_size=batch_size)
    return CertificationResult(
        labels=lab, auc=p, clean=clean, completeness=completeness(p, clean, eps_completeness),
        soundness=soundness(p, clean, eps_soundness),
    )


# ------------------------------------------------------------------------------------------------
# Deletion and insertion games


@dataclass
class GameResult:
    """``curve`` ``(B, P)`` probabilities over ``fractions`` and ``auc`` ``(B,)`` (their mean)."""

    curve: Tensor
    auc: Tensor
    fractions: Tensor


def deletion_game(
    model: nn.Module, inputs: Tensor, maps: Tensor, targets: Any, *,
    fractions: Sequence[float] | Tensor | None = None, fill: Fill = "gray",
    n_distractors: int = 10, generator: torch.Generator | None = None, seed: int = 0,
    batch_size: int | None = 4096,
) -> GameResult:
    """Deletion game: remove the top cells first; a good map makes the area small.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> g = deletion_game(net, torch.rand(3, 2, 2), torch.rand(3, 2, 2), 0)
    >>> g.curve.shape, g.auc.shape
    (torch.Size([3, 21]), torch.Size([3]))
    """
    curve = deletion_curve(model, inputs, maps, targets, fractions=fractions, fill=fill,
                           n_distractors=n_distractors, generator=generator, seed=seed,
                           batch_size=batch_size)
    return GameResult(curve, curve.mean(-1), _fractions(fractions).to(curve.dtype))


def insertion_game(
    model: nn.Module, inputs: Tensor, maps: Tensor, targets: Any, *,
    fractions: Sequence[float] | Tensor | None = None, fill: Fill = "gray",
    n_distractors: int = 10, generator: torch.Generator | None = None, seed: int = 0,
    batch_size: int | None = 4096,
) -> GameResult:
    """Insertion game: insert the top cells first into the fill; a good map makes the area
    large. Arguments as :func:`insertion_curve`.
    """
    curve = insertion_curve(model, inputs, maps, targets, fractions=fractions, fill=fill,
                            n_distractors=n_distractors, generator=generator, seed=seed,
                            batch_size=batch_size)
    return GameResult(curve, curve.mean(-1), _fractions(fractions).to(curve.dtype))


# ------------------------------------------------------------------------------------------------
# Saliency Metric (Dabkowski & Gal 2017)


def _region_scores(inputs: Tensor, maps: Tensor) -> Tensor:
    """Per-sample min-max normalised map reduced to pixels ``(B, H, W)`` or steps ``(B, T)``."""
    m = _canonical_maps(inputs, maps, 1, False)[:, 0]
    flat = m.reshape(m.shape[0], -1)
    lo, hi = flat.min(1).values, flat.max(1).values
    span = (hi - lo).clamp_min(torch.finfo(flat.dtype).tiny)
    norm = ((flat - lo[:, None]) / span[:, None]).view_as(m)
    norm = torch.where((hi > lo).view(-1, *[1] * (m.dim() - 1)), norm, torch.ones_like(norm))
    if inputs.dim() == 4:
        return norm.amax(dim=1)  # any channel over the threshold selects the pixel
    return norm.amax(dim=-1)  # any feature selects the time step


def saliency_boxes(inputs: Tensor, maps: Tensor, threshold: float) -> Tensor:
    """Smallest box around the cells whose normalised saliency is ``>= threshold``.

    Returns ``(B, 4)`` ``[row0, row1, col0, col1]`` (inclusive) for images and ``(B, 2)``
    ``[t0, t1]`` for series. A constant map selects everything.

    >>> m = torch.zeros(1, 1, 4, 4); m[0, 0, 1, 2] = 1.0; m[0, 0, 2, 3] = 0.8
    >>> saliency_boxes(torch.zeros(1, 1, 4, 4), m, 0.5).tolist()
    [[1, 2, 2, 3]]
    """
    if not 0 < float(threshold) <= 1:
        raise ConfigError(f"threshold must be in (0, 1] of the map's range, got {threshold!r}")
    scores = _region_scores(inputs, maps)
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


def _keep_box(x: Tensor, box: Tensor, value: float) -> Tensor:
    if x.dim() == 4:
        rows = torch.arange(x.shape[2], device=x.device)
        cols = torch.arange(x.shape[3], device=x.device)
        r = (rows >= box[:, 0:1]) & (rows <= box[:, 1:2])
        c = (cols >= box[:, 2:3]) & (cols <= box[:, 3:4])
        inside = (r[:, :, None] & c[:, None, :])[:, None]
    else:
        t = torch.arange(x.shape[1], device=x.device)
        inside = ((t >= box[:, 0:1]) & (t <= box[:, 1:2]))[:, :, None]
    return torch.where(inside, x, torch.full_like(x, value))


@torch.no_grad()
def _sm_scores(
    model: nn.Module, inputs: Tensor, maps: Tensor, labels: Tensor, thresholds: Tensor,
    region: str, area_floor: float, fill_value: float, batch_size: int | None,
) -> Tensor:
    """Saliency-metric scores ``(n_thresholds, B)``."""
    b = inputs.shape[0]
    boxes = torch.stack([saliency_boxes(inputs, maps, float(t)) for t in thresholds])
    if inputs.dim() == 4:
        area = ((boxes[..., 1] - boxes[..., 0] + 1) * (boxes[..., 3] - boxes[..., 2] + 1)).to(
            inputs.dtype) / (inputs.shape[2] * inputs.shape[3])
    else:
        area = (boxes[..., 1] - boxes[..., 0] + 1).to(inputs.dtype) / inputs.shape[1]
    flat_boxes = boxes.reshape(-1, boxes.shape[-1])
    out = torch.empty(flat_boxes.shape[0], dtype=inputs.dtype, device=inputs.device)
    with _eval(model):
        for sl in chunks(flat_boxes.shape[0], batch_size):
            rows = torch.arange(sl.start, sl.stop, device=inputs.device)
            x = inputs[rows % b]
            bx = flat_boxes[sl]
            x = _crop_resize(x, bx) if region == "crop" else _keep_box(x, bx, fill_value)
            logp = torch.log_softmax(model(x), -1)
            out[sl] = logp.gather(1, labels[rows % b].unsqueeze(1))[:, 0]
    logp = out.view(len(thresholds), b)
    return torch.log(area.clamp_min(area_floor)) - logp


def _sm_setup(model, inputs, maps, targets, region, batch_size):
    inputs = _check_inputs(inputs)
    _check_batch_size(batch_size)
    if inputs.dim() not in (3, 4):
        raise ShapeError(f"the saliency metric needs images (B, C, H, W) or series (B, T, F), "
                         f"got {tuple(inputs.shape)}")
    device = _device(model, inputs)
    lab, label_axis = targets_2d(targets, inputs.shape[0], device)
    if label_axis:
        raise ShapeError("the saliency metric scores one map per sample: targets must be (B,)")
    if region is None:
        region = "crop" if inputs.dim() == 4 else "keep"
    if region not in ("crop", "keep"):
        raise ConfigError(f"region must be 'crop', 'keep' or None, got {region!r}")
    return inputs, lab[:, 0], region


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
    batch_size: int | None = 4096,
) -> Tensor:
    """Dabkowski & Gal's Saliency Metric ``log(max(a, 0.05)) - log p`` per sample (lower is
    better), as used in [CS].

    The map is min-max normalised per sample; the smallest box (images) or time interval
    (series) containing every cell ``>= threshold`` is cut out. ``region="crop"`` (images'
    default, as Dabkowski & Gal) crops it and resizes it bilinearly to the full size;
    ``"keep"`` (series' default) keeps it in place and fills the rest with ``fill_value``.
    ``a`` is the region's area fraction and ``p`` the probability of the target on the result.
    Tune ``threshold`` with :func:`tune_saliency_threshold` on a holdout set.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    >>> saliency_metric(net, torch.rand(3, 1, 4, 4), torch.rand(3, 1, 4, 4), 0).shape
    torch.Size([3])
    """
    inputs, lab, region = _sm_setup(model, inputs, maps, targets, region, batch_size)
    thr = torch.tensor([float(threshold)])
    return _sm_scores(model, inputs, maps, lab, thr, region, area_floor, fill_value,
                      batch_size)[0]


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
    batch_size: int | None = 4096,
) -> float:
    """The threshold (of the normalised map) with the lowest mean saliency metric on a holdout
    set; pass it to :func:`saliency_metric` on the evaluation set.
    """
    inputs, lab, region = _sm_setup(model, inputs, maps, targets, region, batch_size)
    thr = torch.as_tensor(DEFAULT_THRESHOLDS if thresholds is None else thresholds,
                          dtype=torch.float64).reshape(-1)
    if thr.numel() < 1 or (thr <= 0).any() or (thr > 1).any():
        raise ConfigError(f"thresholds must lie in (0, 1], got {thr.tolist()}")
    scores = _sm_scores(model, inputs, maps, lab, thr, region, area_floor, fill_value,
                        batch_size)
    best = int(torch.argmin(scores.mean(1)))
    if not math.isfinite(float(scores.mean(1)[best])):
        raise ConfigError("the saliency metric is not finite on the holdout set")
    return float(thr[best])
