"""The [CS] insertion game with blur (Gupta et al., NeurIPS 2022, App. D, "Insertion (blur)";
the blurred fill of Fong & Vedaldi, ICCV 2017): the top ``p`` pixels of the predicted label's
map are inserted into a Gaussian-blurred copy of the image instead of a gray one, and the score
is the mean probability of that label over ``p`` = 0, 0.05, ..., 1 (higher is better).

Example:
    >>> import torch
    >>> x = torch.zeros(1, 1, 5, 5); x[0, 0, 2, 2] = 1.0
    >>> round(float(gaussian_blur(x, 1.0)[0, 0, 2, 2]), 3)
    0.162
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saliencylab.errors import ConfigError, ShapeError
from saliencylab.metrics._common import batch_size_of
from saliencylab.metrics._masking import (
    canonical_maps,
    fractions_of,
    inputs_and_labels,
    keep_top,
    masked_probabilities,
)
from saliencylab.metrics.games import GAME_TARGETS, _game_setup
from saliencylab.metrics.registry import Metric, register_metric

__all__ = ["default_sigma", "gaussian_blur", "insertion_blur"]


def default_sigma(height: int, width: int) -> float:
    """10 pixels at 224 x 224 (Fong & Vedaldi), scaled to the image, at least 1 pixel.

    >>> default_sigma(224, 224), default_sigma(8, 8)
    (10.0, 1.0)
    """
    return max(1.0, max(height, width) * 10.0 / 224.0)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Each channel of ``(N, C, H, W)`` images blurred by a Gaussian of ``sigma`` pixels
    (separable, kernel radius ``ceil(3 sigma)``, reflected borders)."""
    if not isinstance(x, Tensor) or x.dim() != 4:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"gaussian_blur takes images (N, C, H, W), got {got}")
    _check_sigma(sigma)
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    h, w = x.shape[2:]
    pad_h, pad_w = min(radius, h - 1), min(radius, w - 1)
    z = x
    if pad_w > 0:
        z = F.pad(z, (pad_w, pad_w, 0, 0), mode="reflect")
        kw = k[radius - pad_w: radius + pad_w + 1]
        z = F.conv2d(z, (kw / kw.sum()).view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    if pad_h > 0:
        z = F.pad(z, (0, 0, pad_h, pad_h), mode="reflect")
        kh = k[radius - pad_h: radius + pad_h + 1]
        z = F.conv2d(z, (kh / kh.sum()).view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return z


def _check_sigma(sigma: Any) -> None:
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not math.isfinite(sigma) \
            or sigma <= 0:
        raise ConfigError(f"sigma (the blur's standard deviation in pixels) must be a positive "
                          f"number, got {sigma!r}")


def check_blur_options(*, fractions: Any = None, sigma: Any = None,
                       target: Any = "predicted") -> None:
    """Option checks of ``insertion_blur`` (before any work)."""
    fractions_of(fractions)
    if sigma is not None:
        _check_sigma(sigma)
    if target not in GAME_TARGETS:
        raise ConfigError(f"target must be one of {GAME_TARGETS}, got {target!r}")


def insertion_blur(model: nn.Module, x: Tensor, y: Tensor, attributions: Tensor | None = None,
                   *, context: Any = None, fractions: Sequence[float] | Tensor | None = None,
                   sigma: float | None = None, target: str = "predicted") -> Tensor:
    """[CS] insertion (blur) per image ``(N,)``: the mean probability of the predicted label
    while its map's top 0..100 % pixels are inserted into the blurred image.

    Args:
        sigma: blur in pixels (default :func:`default_sigma` of the image size).
        fractions, target: as :func:`saliencylab.metrics.games.insertion`.
    """
    check_blur_options(fractions=fractions, sigma=sigma, target=target)
    context, x, t, maps, _ = _game_setup(model, x, y, attributions, context, target,
                                         "insertion_blur")
    if x.dim() != 4:
        raise ShapeError(f"insertion_blur blurs images (N, C, H, W), got {tuple(x.shape)}")
    batch_size = batch_size_of(context, None)
    inputs, labels, label_axis = inputs_and_labels(model, x, t, batch_size)
    m = canonical_maps(inputs, maps, 1, label_axis)
    f = fractions_of(fractions)
    keep = keep_top(m.reshape(m.shape[0], *m.shape[2:]), f, top=True)
    keep = keep.view(len(f), m.shape[0], 1, *m.shape[2:])
    blurred = gaussian_blur(inputs, sigma or default_sigma(*inputs.shape[2:]))
    probs = masked_probabilities(model, inputs, keep, labels, None, blurred[:, None],
                                 batch_size)
    return probs.mean(0)[:, 0].float().cpu()


register_metric(Metric(
    "insertion_blur", insertion_blur, "certification", True,
    "insertion game into the Gaussian-blurred image: mean probability of the predicted label "
    "while its top 0..100 % pixels are inserted",
    references=("CS App. D", "Fong & Vedaldi, ICCV 2017"), needs=frozenset({"explain_fn"}),
    modalities=("image",), check_options=check_blur_options,
))
