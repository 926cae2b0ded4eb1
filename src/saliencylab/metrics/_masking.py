"""The masking machinery shared by the [CS] certificates and games (Gupta et al., NeurIPS 2022,
§3 and App. D): input and map checks, clean probabilities, top labels, the fill (gray or
distractors), and the class probabilities of many masked inputs built chunk by chunk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError, ShapeError, check_nonfinite
from saliencylab.metrics._common import model_inputs, model_outputs
from saliencylab.metrics.protocol import MetricContext, check_batch_size, valid_steps
from saliencylab.targets import targets_2d
from saliencylab.utils import chunks, eval_mode, make_generator, model_device, rows_per_chunk

__all__ = [
    "DEFAULT_FRACTIONS",
    "Fill",
    "class_probability",
    "keep_top",
    "top_labels",
]

#: Fractions of cells kept (insertion) or removed (deletion): 0, 0.05, ..., 1.
DEFAULT_FRACTIONS: tuple[float, ...] = tuple(i / 20 for i in range(21))

Fill = Literal["gray"] | float | Tensor


def check_inputs(model: nn.Module, inputs: Any) -> Tensor:
    """Float inputs ``(B, ...)``, detached, on the model's device and as the model reads them
    (:func:`saliencylab.metrics._common.model_inputs`)."""
    if not isinstance(inputs, Tensor) or not inputs.is_floating_point() or inputs.dim() < 2:
        got = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ShapeError(f"inputs must be a float tensor (B, C, H, W) or (B, T, F), got {got}")
    if inputs.shape[0] < 1:
        raise ShapeError(f"inputs must hold at least one sample, got {tuple(inputs.shape)}")
    check_nonfinite(inputs, "inputs")
    return model_inputs(model, inputs.detach().to(model_device(model)), "inputs")


def canonical_maps(inputs: Tensor, maps: Any, n_labels: int, label_axis: bool) -> Tensor:
    """Maps as ``(B, L, *S')`` with ``S'`` broadcastable to the input's ``S``."""
    if not isinstance(maps, Tensor):
        raise ShapeError(f"maps must be a tensor, got {type(maps).__name__}")
    check_nonfinite(maps, "maps")
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


def map_cells(valid: Tensor | None, inputs: Tensor, m: Tensor) -> Tensor | None:
    """The valid cells of canonical maps ``m`` ``(B, L, T, F')`` of ragged series, bool of
    ``m``'s shape; None without ``valid``."""
    if valid is None:
        return None
    v = valid_steps(MetricContext(valid=valid), inputs)
    if m.shape[2] != inputs.shape[1]:
        raise ShapeError(f"maps of ragged series need a time axis of the inputs' length "
                         f"{inputs.shape[1]}, got maps of shape {tuple(m.shape)}")
    return v[:, None, :, None].expand_as(m)


def fractions_of(fractions: Sequence[float] | Tensor | None) -> Tensor:
    f = torch.as_tensor(DEFAULT_FRACTIONS if fractions is None else fractions,
                        dtype=torch.float64).reshape(-1)
    if f.numel() < 1 or not torch.isfinite(f).all() or (f < 0).any() or (f > 1).any():
        raise ConfigError(f"fractions must be values in [0, 1], got {f.tolist()}")
    return f


def _pass_rows(inputs: Tensor, batch_size: int | None) -> int:
    """Model inputs per pass: ``batch_size``, else sized by the memory budget (PASS_COST floats
    per input element; the same rule as :func:`saliencylab.metrics._common.pass_rows`)."""
    from saliencylab.metrics._common import PASS_COST

    return rows_per_chunk(max(int(inputs[0].numel()), 1) * PASS_COST, batch_size=batch_size)


def inputs_and_labels(
    model: nn.Module, inputs: Any, targets: Any, batch_size: int | None
) -> tuple[Tensor, Tensor, bool]:
    """The checks that open every scoring call: ``(inputs, (B, L) labels, label_axis)``."""
    inputs = check_inputs(model, inputs)
    check_batch_size(batch_size)
    labels, label_axis = targets_2d(targets, inputs.shape[0], inputs.device)
    return inputs, labels, label_axis


@torch.no_grad()
def class_probability(
    model: nn.Module, inputs: Tensor, targets: Any, *, batch_size: int | None = None
) -> Tensor:
    """Softmax probability of ``targets`` (``(B,)`` or ``(B, L)``) on the clean inputs.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> class_probability(net, torch.rand(3, 2, 2), torch.tensor([0, 1, 1])).shape
    torch.Size([3])
    """
    inputs, labels, label_axis = inputs_and_labels(model, inputs, targets, batch_size)
    with eval_mode(model):
        logp = torch.cat([torch.log_softmax(model_outputs(model, inputs[sl]), -1)
                          for sl in chunks(inputs.shape[0], _pass_rows(inputs, batch_size))])
    p = logp.gather(1, labels).exp()
    return p if label_axis else p[:, 0]


@torch.no_grad()
def top_labels(model: nn.Module, inputs: Tensor, k: int = 2, *,
               batch_size: int | None = None) -> Tensor:
    """The ``k`` most likely labels of each input, most likely first: ``(B, k)``.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 5))
    >>> top_labels(net, torch.rand(3, 2, 2)).shape
    torch.Size([3, 2])
    """
    inputs = check_inputs(model, inputs)
    with eval_mode(model):
        logits = torch.cat([model_outputs(model, inputs[sl])
                            for sl in chunks(inputs.shape[0], _pass_rows(inputs, batch_size))])
    if not 1 <= k <= logits.shape[1]:
        raise ConfigError(f"k must be in [1, {logits.shape[1]}] (the number of classes), got {k}")
    return logits.topk(k, dim=1).indices


def check_n_distractors(n_distractors: Any) -> None:
    """``n_distractors`` (``K`` draws per sample of the distractor fill) is an int >= 1."""
    if isinstance(n_distractors, bool) or not isinstance(n_distractors, int) or n_distractors < 1:
        raise ConfigError(f"n_distractors must be an int >= 1, got {n_distractors!r}")


def resolve_fill(
    fill: Any, inputs: Tensor, n_distractors: int, generator: torch.Generator | None, seed: int
) -> tuple[float | None, Tensor | None]:
    """``(value, None)`` for a constant fill or ``(None, draws (B, K, *S))`` for distractors;
    ``n_distractors`` is checked whatever the fill, so a bad value never passes unnoticed."""
    check_n_distractors(n_distractors)
    if isinstance(fill, str):
        if fill != "gray":
            raise ConfigError(f"fill must be 'gray', a number or a distractor pool tensor, "
                              f"got {fill!r}")
        return 0.0, None
    if isinstance(fill, int | float) and not isinstance(fill, bool):
        if not math.isfinite(fill):
            raise ConfigError(f"fill must be a finite number, got {fill!r}")
        return float(fill), None
    if isinstance(fill, Tensor):
        if tuple(fill.shape[1:]) != tuple(inputs.shape[1:]) or fill.shape[0] < 1:
            sample = ", ".join(map(str, inputs.shape[1:]))
            raise ShapeError(f"a distractor pool must be (N, {sample}), got {tuple(fill.shape)}")
        check_nonfinite(fill, "distractor pool")
        gen = generator if generator is not None else make_generator(seed)
        idx = torch.randint(0, fill.shape[0], (inputs.shape[0], n_distractors), generator=gen,
                            device=gen.device)
        return None, fill.detach()[idx.to(fill.device)].to(inputs.device, inputs.dtype)
    raise ConfigError(f"fill must be 'gray', a number or a distractor pool tensor, got "
                      f"{type(fill).__name__}")


@torch.no_grad()
def masked_probabilities(
    model: nn.Module, x: Tensor, keep: Tensor, labels: Tensor, value: float | None,
    draws: Tensor | None, batch_size: int | None,
) -> Tensor:
    """``p_label(keep * x + (1 - keep) * fill)`` for every (level, sample, label): ``(P, B, L)``.

    ``keep`` is ``(P, B, L, *S')`` (bool or float in [0, 1]); with distractors the probability
    is the mean over the ``K`` draws of each sample. Inputs are built per chunk of
    ``batch_size`` rows of the flattened ``(P, B, L, K)`` grid (None: as many as the memory
    budget allows, :func:`saliencylab.metrics._common.pass_rows`), so memory stays bounded.
    """
    n_levels, b, n_labels = keep.shape[:3]
    k = 1 if draws is None else draws.shape[1]
    total = n_levels * b * n_labels * k
    out = torch.empty(total, dtype=x.dtype, device=x.device)
    keep_flat = keep.reshape(n_levels * b * n_labels, *keep.shape[3:])
    with eval_mode(model):
        for sl in chunks(total, _pass_rows(x, batch_size)):
            i = torch.arange(sl.start, sl.stop, device=x.device)
            row, kk = i // k, i % k  # row indexes (P, B, L) flattened
            sample = (row // n_labels) % b
            m = keep_flat[row].to(x.dtype)
            if draws is None:
                blended = m * x[sample] + (1 - m) * value
            else:
                blended = m * x[sample] + (1 - m) * draws[sample, kk]
            logp = torch.log_softmax(model_outputs(model, blended, "the model's outputs on the "
                                                   "masked inputs"), -1)
            out[sl] = logp.gather(1, labels.reshape(-1)[row % (b * n_labels)].unsqueeze(1))[:, 0]
    return out.exp().view(n_levels, b, n_labels, k).mean(-1)


def keep_top(maps: Tensor, fractions: Sequence[float] | Tensor, *, top: bool = True,
             valid: Tensor | None = None) -> Tensor:
    """Boolean masks ``(P, *maps.shape)`` keeping the top ``round(p * cells)`` cells of each map.

    Cells are ranked within each map (all dims but the first) by value, ties by position
    (stable sort); ``top=False`` keeps the complement (the deletion game's kept cells).
    ``valid`` (bool, broadcastable to ``maps``): only valid cells are ranked and counted
    (``round(p * valid cells)``); invalid cells are never in the top set.

    >>> keep_top(torch.tensor([[0.1, 0.9, 0.5]]), [0.0, 0.34, 1.0]).int().tolist()
    [[[0, 0, 0]], [[0, 1, 0]], [[1, 1, 1]]]
    """
    f = fractions_of(fractions)
    flat = maps.reshape(maps.shape[0], -1)
    n_cells = flat.shape[1]
    if valid is None:
        order = torch.argsort(-flat, dim=1, stable=True)
        counts = torch.round(f * n_cells).long().to(maps.device).view(-1, 1, 1)
    else:
        v = valid.to(maps.device).expand_as(maps).reshape(maps.shape[0], -1)
        order = torch.argsort(torch.where(v, -flat, torch.inf), dim=1, stable=True)
        n_valid = v.sum(dim=1).to("cpu", torch.float64)
        counts = torch.round(f[:, None] * n_valid[None, :]).long().to(maps.device)[..., None]
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n_cells, device=maps.device).expand_as(order))
    keep = rank.unsqueeze(0) < counts
    if not top:
        keep = ~keep
    return keep.view(len(f), *maps.shape)
