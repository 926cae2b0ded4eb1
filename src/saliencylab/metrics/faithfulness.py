"""Faithfulness metric of [OBJ] (temporal sequence evaluation), SPEC.md section 7.

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
pass over the perturbed inputs; no per-sample loop.

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

import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError
from saliencylab.metrics._common import (
    GeneratorLike,
    check_batch_size,
    check_inputs,
    check_labels,
    model_device,
    probabilities,
)

__all__ = ["FAITHFULNESS_MODES", "faithfulness", "perturb_subsequence"]

FAITHFULNESS_MODES = ("swap", "mean", "zero")
TARGETS = ("label", "predicted")


def _window(t_star: Tensor, n_time: int, length: int, reference_quirks: bool
            ) -> tuple[Tensor, Tensor]:
    """Inclusive ``(start, end)`` per sample of the window of ``length`` centred at ``t_star``."""
    half = (length - 1) // 2
    start = t_star - half
    end = t_star + half if reference_quirks else start + length - 1
    return start.clamp_min(0), end.clamp_max(n_time - 1)


def perturb_subsequence(
    x: Tensor,
    attributions: Tensor,
    *,
    fraction: float = 0.15,
    mode: str = "swap",
    reference_quirks: bool = False,
) -> Tensor:
    """``X'``: ``x`` with the most relevant sub-sequence of each sample reversed / averaged /
    zeroed on its most relevant channel (steps 1-2 of :func:`faithfulness`), batched.

    Example:
        >>> x = torch.arange(6.0).view(1, 6, 1); a = torch.zeros(1, 6, 1); a[0, 2] = 1
        >>> perturb_subsequence(x, a, fraction=0.5).flatten().tolist()
        [0.0, 3.0, 2.0, 1.0, 4.0, 5.0]
    """
    if mode not in FAITHFULNESS_MODES:
        raise ConfigError(f"mode must be one of {FAITHFULNESS_MODES}, got {mode!r}")
    if not 0 < fraction <= 1:
        raise ConfigError(f"fraction must be in (0, 1], got {fraction!r}")
    n, n_time, n_feat = x.shape
    length = max(1, math.ceil(fraction * n_time))
    flat = attributions.reshape(n, -1).argmax(dim=1)
    t_star, c_star = flat // n_feat, flat % n_feat
    start, end = _window(t_star, n_time, length, reference_quirks)

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
    fraction: float = 0.15,
    mode: str = "swap",
    target: str = "label",
    reference_quirks: bool = False,
    batch_size: int | None = 256,
    generator: GeneratorLike = None,
    explain_fn: object = None,
) -> Tensor:
    """Faithfulness per sample ``(N,)``: ``p_c(X) - p_c(X')`` (SPEC.md section 7, [OBJ]).

    Args:
        model: classifier returning logits; run in eval mode without gradients.
        x: ``(N, T, F)`` inputs; y: ``(N,)`` labels; attributions: maps of ``x``'s shape.
        fraction: window length as a fraction of T (0.15; the reference scripts also used 0.2).
        mode: ``"swap"`` (reverse), ``"mean"`` or ``"zero"``.
        target: ``"label"`` (``y``) or ``"predicted"`` (argmax on ``X``, the reference code).
        reference_quirks: the reference code's window length (see the module docstring).
        batch_size: forward passes in chunks of this many inputs.
        generator, explain_fn: unused (deterministic, no re-explanation); accepted so every
            quality metric takes the same keywords.

    Returns:
        ``(N,)`` float tensor on the CPU, in [-1, 1]; higher is better.
    """
    check_inputs(x, y, attributions)
    check_batch_size(batch_size)
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {TARGETS}, got {target!r}")
    device = model_device(model)
    x, y = x.detach().to(device), y.to(device).long()
    perturbed = perturb_subsequence(x, attributions.detach().to(device), fraction=fraction,
                                    mode=mode, reference_quirks=reference_quirks)
    p = probabilities(model, torch.cat([x, perturbed]), batch_size)
    p_x, p_xp = p[: x.shape[0]], p[x.shape[0]:]
    check_labels(y, p.shape[1])
    c = y if target == "label" else p_x.argmax(dim=1)
    rows = torch.arange(x.shape[0], device=p.device)
    return (p_x[rows, c] - p_xp[rows, c]).cpu()
