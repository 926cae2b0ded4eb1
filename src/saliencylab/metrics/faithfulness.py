"""Faithfulness metric of [OBJ] §3.2 (temporal sequence evaluation).

Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series":
if a map is faithful, destroying the sub-sequence it marks as most relevant should hurt the
prediction. Per sample:

1. ``(t*, c*) = argmax`` of the map over (time, channel) (signed values, as the reference code);
2. on channel ``c*`` the sub-sequence of length ``ceil(fraction·T)`` centred at ``t*`` (cut at
   the series' ends) is reversed (``"swap"``, default), replaced by its mean (``"mean"``) or set
   to 0 (``"zero"``);
3. score = ``p_c(X) - p_c(X')`` with ``p`` the softmax of the model's logits and ``c`` the target
   class (the label ``y``; ``target="predicted"`` uses the model's prediction on ``X``, as the
   reference code does).

Higher is better; a map pointing at a region the model ignores scores 0. One batched forward
pass over the perturbed inputs; no per-sample loop. Defined for time series only (the
perturbation runs along time).

Ragged series (``context.valid``): ``(t*, c*)`` is the argmax over the valid steps, the window
has ``ceil(fraction·L)`` steps with ``L`` the series' valid length, and it is cut at the ends of
the valid steps, so padding is never read nor moved.

Reference-code quirk (``reference_quirks=True``): the window is ``t* ± floor((L - 1) / 2)``,
one step shorter than ``L`` when ``L`` is even; by default the window has exactly ``L`` steps
(the extra step after ``t*``) unless it is cut at an end.

Example:
    >>> import torch
    >>> class Ramp(torch.nn.Module):            # logit 1 grows with the order of x[:, :5, 0]
    ...     def forward(self, x):
    ...         s = (x[:, :5, 0] * torch.arange(5.0)).sum(1)
    ...         return torch.stack([-s, s], dim=1)
    >>> x = torch.arange(20.0).view(1, 10, 2) / 20
    >>> at_region = torch.zeros(1, 10, 2); at_region[0, 2, 0] = 1.0
    >>> elsewhere = torch.zeros(1, 10, 2); elsewhere[0, 8, 1] = 1.0
    >>> y = torch.tensor([1])
    >>> bool(faithfulness(Ramp(), x, y, at_region, fraction=0.5) > 0)
    True
    >>> faithfulness(Ramp(), x, y, elsewhere, fraction=0.5).tolist()
    [0.0]
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError
from saliencylab.metrics._common import (
    batch_size_of,
    check_flag,
    check_labels,
    probabilities,
    protocol_inputs,
)
from saliencylab.metrics.protocol import MetricContext, step_bounds
from saliencylab.metrics.registry import Metric, register_metric

__all__ = ["FAITHFULNESS_MODES", "faithfulness", "perturb_subsequence"]

FAITHFULNESS_MODES = ("swap", "mean", "zero")
TARGETS = ("label", "predicted")
_SERIES_ONLY = "faithfulness reverses a sub-sequence along time"


def _window(t_star: Tensor, lo: Tensor, hi: Tensor, length: Tensor, reference_quirks: bool
            ) -> tuple[Tensor, Tensor]:
    """Inclusive ``(start, end)`` per sample of the window of ``length`` centred at ``t_star``,
    cut at ``[lo, hi]``."""
    half = (length - 1) // 2
    start = t_star - half
    end = t_star + half if reference_quirks else start + length - 1
    return torch.maximum(start, lo), torch.minimum(end, hi)


def check_faithfulness_options(*, fraction: Any = 0.15, mode: Any = "swap",
                               target: Any = "label", reference_quirks: Any = False) -> None:
    """``ConfigError`` for a :func:`faithfulness` option out of its range."""
    if mode not in FAITHFULNESS_MODES:
        raise ConfigError(f"mode must be one of {FAITHFULNESS_MODES}, got {mode!r}")
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or \
            not 0 < fraction <= 1:
        raise ConfigError(f"fraction must be in (0, 1], got {fraction!r}")
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {TARGETS}, got {target!r}")
    check_flag(reference_quirks, "reference_quirks")


def perturb_subsequence(
    x: Tensor,
    attributions: Tensor,
    *,
    fraction: float = 0.15,
    mode: str = "swap",
    reference_quirks: bool = False,
    valid: Tensor | None = None,
) -> Tensor:
    """``X'``: ``x`` with the most relevant sub-sequence of each sample reversed / averaged /
    zeroed on its most relevant channel (steps 1-2 of :func:`faithfulness`), batched.

    ``valid`` ``(N, T)`` bool (ragged series, one run of valid steps each): the argmax, the
    window's length and its cut use the valid steps only.

    Example:
        >>> x = torch.arange(6.0).view(1, 6, 1); a = torch.zeros(1, 6, 1); a[0, 2] = 1
        >>> perturb_subsequence(x, a, fraction=0.5).flatten().tolist()
        [0.0, 3.0, 2.0, 1.0, 4.0, 5.0]
    """
    check_faithfulness_options(fraction=fraction, mode=mode, reference_quirks=reference_quirks)
    n, n_time, n_feat = x.shape
    if valid is None:
        length = torch.full((n,), max(1, math.ceil(fraction * n_time)), device=x.device)
        lo = torch.zeros(n, dtype=torch.long, device=x.device)
        hi = torch.full((n,), n_time - 1, device=x.device)
        scored = attributions
    else:
        valid = valid.to(x.device)
        lo, hi = step_bounds(valid)
        # float64 products round like Python's, so an unpadded series gets math.ceil's length
        # (on the CPU: MPS has no float64)
        steps = (hi - lo + 1).to("cpu", torch.float64)
        length = torch.ceil(steps * fraction).long().clamp_min(1).to(x.device)
        scored = attributions.masked_fill(~valid.unsqueeze(-1), -torch.inf)
    flat = scored.reshape(n, -1).argmax(dim=1)
    t_star, c_star = flat // n_feat, flat % n_feat
    start, end = _window(t_star, lo, hi, length, reference_quirks)

    rows = torch.arange(n, device=x.device)
    series = x[rows, :, c_star]  # (n, T) the channel to perturb
    t = torch.arange(n_time, device=x.device).expand(n, n_time)
    inside = (t >= start[:, None]) & (t <= end[:, None])
    if mode == "swap":
        src = torch.where(inside, start[:, None] + end[:, None] - t, t)
        new = series.gather(1, src)
    elif mode == "mean":
        mean = (series * inside).sum(1) / inside.sum(1)
        new = torch.where(inside, mean[:, None], series)
    else:
        new = series.masked_fill(inside, 0.0)
    out = x.clone()
    out[rows, :, c_star] = new
    return out


def faithfulness(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor,
    *,
    context: MetricContext | None = None,
    fraction: float = 0.15,
    mode: str = "swap",
    target: str = "label",
    reference_quirks: bool = False,
) -> Tensor:
    """Faithfulness per sample ``(N,)``: ``p_c(X) - p_c(X')`` ([OBJ] §3.2).

    Args:
        model: classifier returning logits; run in eval mode without gradients.
        x: ``(N, T, F)`` inputs; y: ``(N,)`` labels; attributions: maps of ``x``'s shape.
        context: ``batch_size`` (rows per forward pass; default: sized by the memory budget)
            and ``valid`` (ragged series); the metric is deterministic and does not re-explain.
        fraction: window length as a fraction of T (0.15; the reference scripts also used 0.2).
        mode: ``"swap"`` (reverse), ``"mean"`` or ``"zero"``.
        target: ``"label"`` (``y``) or ``"predicted"`` (argmax on ``X``, the reference code).
        reference_quirks: the reference code's window length (see the module docstring).

    Returns:
        ``(N,)`` float tensor on the CPU, in [-1, 1]; higher is better.
    """
    check_faithfulness_options(fraction=fraction, mode=mode, target=target,
                               reference_quirks=reference_quirks)
    context, x, y, valid = protocol_inputs(model, x, y, attributions, context,
                                           series_only=_SERIES_ONLY)
    batch_size = batch_size_of(context, None)
    perturbed = perturb_subsequence(x, attributions.detach().to(x.device), fraction=fraction,
                                    mode=mode, reference_quirks=reference_quirks, valid=valid)
    p = probabilities(model, torch.cat([x, perturbed]), batch_size)
    p_x, p_xp = p[: x.shape[0]], p[x.shape[0]:]
    check_labels(y, p.shape[1])
    c = y if target == "label" else p_x.argmax(dim=1)
    rows = torch.arange(x.shape[0], device=p.device)
    return (p_x[rows, c] - p_xp[rows, c]).cpu()


register_metric(Metric(
    "faithfulness", faithfulness, "faithfulness", True,
    "drop of the target-class softmax when the most relevant sub-sequence (ceil(0.15 T) "
    "steps) of the most relevant channel is reversed",
    references=("OBJ §3.2",), modalities=("time_series",),
    check_options=check_faithfulness_options,
))
