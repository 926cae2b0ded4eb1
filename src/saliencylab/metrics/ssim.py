"""Batched structural similarity (SSIM) of saliency maps, torch-native.

The sanity metric of [OBJ] §3.1 (Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual
Interpretations to Time Series") compares maps with scikit-image's ``structural_similarity``
using Gaussian weights. This module computes the same number for a whole batch of map pairs in a
few convolutions on the maps' device, instead of one scikit-image call per pair.

Definition (Wang et al. 2004, as in scikit-image): with Gaussian-weighted local means ``mu``,
variances ``var`` and covariance ``cov`` (window ``2·round(truncate·sigma) + 1`` taps, 11 for
sigma 1.5), ``C1 = (k1·L)²``, ``C2 = (k2·L)²`` and ``L`` the data range,

    SSIM(t) = (2·mu_a·mu_b + C1)(2·cov + C2) / ((mu_a² + mu_b² + C1)(var_a + var_b + C2))

averaged over the positions whose whole window lies inside the map (scikit-image crops
``(win - 1) / 2`` cells from each edge before averaging, so the edge padding never matters and a
"valid" convolution gives the identical result).

``axes="time"`` (default) is what the [OBJ] reference code computes: it hands the
``(time, channel)`` map to scikit-image with ``multichannel=True``, i.e. a 1-D SSIM along time per
channel, averaged over channels. ``axes="time_channel"`` slides a 2-D Gaussian window over the
``(time, channel)`` plane (needs at least ``win`` channels).

Images ``(N, C, H, W)``: a 2-D Gaussian window over height × width per channel, averaged over
channels (scikit-image with ``channel_axis``). Ragged series: ``valid`` ``(N, T)`` keeps only the
window positions inside a series' valid steps (and the data range of its valid cells).

Example:
    >>> import torch
    >>> a = torch.rand(4, 50, 2)
    >>> ssim(a, a).tolist()
    [1.0, 1.0, 1.0, 1.0]
    >>> bool((ssim(a, torch.rand(4, 50, 2)) < 0.5).all())
    True
"""

from __future__ import annotations

import torch
from torch import Tensor

from saliencylab.errors import ConfigError, ShapeError, check_nonfinite

__all__ = ["AXES", "gaussian_window", "ssim"]

AXES = ("time", "time_channel")


def gaussian_window(
    sigma: float = 1.5, truncate: float = 3.5, *, dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> Tensor:
    """The normalised 1-D Gaussian kernel of ``scipy.ndimage.gaussian_filter``.

    Radius ``int(truncate·sigma + 0.5)``, so 11 taps for the default sigma 1.5, truncate 3.5
    (scikit-image's SSIM window).

    Example:
        >>> w = gaussian_window()
        >>> w.numel(), round(float(w.sum()), 6)
        (11, 1.0)
    """
    if not sigma > 0 or not truncate > 0:
        raise ConfigError(f"sigma and truncate must be positive, got {sigma!r}, {truncate!r}")
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _as_ntf(t: Tensor, name: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dim() == 2:
        return t.unsqueeze(-1)
    if t.dim() not in (3, 4):
        raise ShapeError(f"{name} must have shape (batch, time, channels), (batch, time) or "
                         f"(batch, channels, height, width), got {tuple(t.shape)}")
    return t


def _blur(z: Tensor, w: Tensor, two_d: bool) -> Tensor:
    """Valid Gaussian filtering of (rows, time, channels) stacks along time (and channels)."""
    k = w.numel()
    # sliding windows @ weights: a batched matrix-vector product, several times faster than a
    # float64 conv1d on the CPU
    out = z.transpose(1, 2).unfold(-1, k, 1) @ w  # (n, channels, time')
    if two_d:  # separable: now filter along channels
        out = (out.transpose(1, 2).unfold(-1, k, 1) @ w).transpose(1, 2)
    return out  # (n, channels', time')


def _blur_image(z: Tensor, w: Tensor) -> Tensor:
    """Valid separable Gaussian filtering of (rows, C, H, W) stacks over H and W."""
    k = w.numel()
    out = z.unfold(-1, k, 1) @ w  # (n, C, H, W')
    return (out.transpose(-1, -2).unfold(-1, k, 1) @ w).transpose(-1, -2)  # (n, C, H', W')


def ssim(
    a: Tensor,
    b: Tensor,
    *,
    axes: str = "time",
    sigma: float = 1.5,
    truncate: float = 3.5,
    data_range: float | Tensor | None = None,
    use_sample_covariance: bool = False,
    k1: float = 0.01,
    k2: float = 0.03,
    valid: Tensor | None = None,
) -> Tensor:
    """SSIM of each pair of maps ``(a[i], b[i])``, shape ``(N,)``, Gaussian-weighted.

    Equals ``skimage.metrics.structural_similarity(a[i], b[i], gaussian_weights=True,
    sigma=sigma, use_sample_covariance=..., data_range=..., channel_axis=-1)`` for
    ``axes="time"`` (and without ``channel_axis`` for ``axes="time_channel"``), computed in
    float64 (float32 on MPS) on the maps' device. For images ``(N, C, H, W)`` it equals the
    same call on the ``(H, W, C)`` images (2-D window per channel, mean over channels).

    Args:
        a, b: maps ``(N, T, C)`` or ``(N, T)`` (series) or ``(N, C, H, W)`` (images), same shape.
        axes: series only: ``"time"`` (1-D window along time, mean over channels; the [OBJ]
            reference) or ``"time_channel"`` (2-D window over the ``(time, channel)`` plane).
        sigma, truncate: the Gaussian window (scikit-image: 1.5, 3.5 -> 11 taps).
        data_range: ``L`` in ``C1 = (k1·L)²``. None (default): per pair, ``max - min`` over
            both maps (a constant pair gets a tiny positive range, so identical maps score 1).
            A float or an ``(N,)`` tensor is used as given. The [OBJ] code relied on old
            scikit-image's float default, ``data_range=2``.
        use_sample_covariance: scale variances by ``NP / (NP - 1)`` with ``NP`` the window's
            cell count (scikit-image's default, and the [OBJ] code's); False (default) is the
            Gaussian-weighted SSIM of Wang et al.
        k1, k2: the SSIM constants.
        valid: series only: ``(N, T)`` bool valid steps (ragged series). The mean is over the
            window positions that lie wholly inside the valid steps, the data range over the
            valid cells; NaN for a series with fewer valid steps than the window.

    Example:
        >>> import torch
        >>> a = torch.linspace(0, 1, 40).view(1, 40, 1)
        >>> round(float(ssim(a, 1 - a)), 3) < 0
        True
    """
    a, b = _as_ntf(a, "a"), _as_ntf(b, "b")
    if a.shape != b.shape:
        raise ShapeError(f"a and b must have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if axes not in AXES:
        raise ConfigError(f"axes must be one of {AXES}, got {axes!r}")
    check_nonfinite(a, "a")
    check_nonfinite(b, "b")
    image = a.dim() == 4
    if image and valid is not None:
        raise ShapeError("valid marks the steps of ragged series; images (N, C, H, W) have none")
    dtype = torch.float32 if a.device.type == "mps" else torch.float64
    a, b = a.to(dtype), b.to(dtype)
    w = gaussian_window(sigma, truncate, dtype=dtype, device=a.device)
    k = w.numel()
    two_d = axes == "time_channel" and not image
    n = a.shape[0]
    if image:
        h, wd = a.shape[-2:]
        if h < k or wd < k:
            raise ShapeError(f"SSIM with sigma={sigma}, truncate={truncate} uses a {k}-tap "
                             f"window, so images need height and width >= {k}; got shape "
                             f"{tuple(a.shape)}")
    else:
        t, c = a.shape[1:]
        if t < k or (two_d and c < k):
            need = f"time and channels >= {k}" if two_d else f"time >= {k}"
            raise ShapeError(f"SSIM with sigma={sigma}, truncate={truncate} uses a {k}-tap "
                             f"window, so maps need {need}; got shape {tuple(a.shape)}")
    keep = None
    if valid is not None:
        if tuple(valid.shape) != tuple(a.shape[:2]) or valid.dtype != torch.bool:
            raise ShapeError(f"valid must be a bool tensor (N, T) = {tuple(a.shape[:2])}, got "
                             f"{valid.dtype} {tuple(valid.shape)}")
        valid = valid.to(a.device)
        csum = torch.cat([valid.new_zeros(n, 1, dtype=torch.long), valid.long().cumsum(1)], 1)
        keep = (csum[:, k:] - csum[:, :-k]) == k  # (n, time'): the window lies inside

    if data_range is None:
        flat_a, flat_b = a.reshape(n, -1), b.reshape(n, -1)
        if valid is None:
            flat = torch.cat([flat_a, flat_b], dim=1)
            hi, lo = flat.max(dim=1).values, flat.min(dim=1).values
        else:
            cells = valid.unsqueeze(-1).expand_as(a).reshape(n, -1).repeat(1, 2)
            flat = torch.cat([flat_a, flat_b], dim=1)
            inf = torch.tensor(torch.inf, dtype=dtype, device=a.device)
            hi = torch.where(cells, flat, -inf).max(dim=1).values
            lo = torch.where(cells, flat, inf).min(dim=1).values
        rng = (hi - lo).clamp_min(torch.finfo(dtype).eps)  # constant pair: C1, C2 > 0, SSIM = 1
    else:
        rng = torch.as_tensor(data_range, dtype=dtype, device=a.device).expand(n)
        if not bool((rng > 0).all()):
            raise ConfigError(f"data_range must be positive, got {data_range!r}")
    rng = rng.view(n, *([1] * (a.dim() - 1)))
    c1, c2 = (k1 * rng) ** 2, (k2 * rng) ** 2

    # one filtering pass for the five local moments
    stack = torch.cat([a, b, a * a, b * b, a * b], dim=0)
    moments = _blur_image(stack, w) if image else _blur(stack, w, two_d)
    mu_a, mu_b, m_aa, m_bb, m_ab = moments.split(n, dim=0)
    n_cells = k ** (2 if two_d or image else 1)
    cov_norm = n_cells / (n_cells - 1) if use_sample_covariance else 1.0
    var_a = cov_norm * (m_aa - mu_a * mu_a)
    var_b = cov_norm * (m_bb - mu_b * mu_b)
    cov = cov_norm * (m_ab - mu_a * mu_b)
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    s = num / den  # series: (n, channels', time'); images: (n, C, H', W')
    if image:
        return s.mean(dim=(2, 3)).mean(dim=1)  # per channel first, as scikit-image
    if keep is not None:
        count = keep.sum(dim=1, keepdim=True).to(dtype)  # (n, 1) positions inside
        per_channel = torch.where(keep.unsqueeze(1), s, 0.0).sum(dim=2) / count
        out = per_channel.mean(dim=1)
        return torch.where(count[:, 0] > 0, out, torch.full_like(out, torch.nan))
    if two_d:
        return s.mean(dim=(1, 2))
    return s.mean(dim=2).mean(dim=1)  # per channel first, as scikit-image's channel_axis loop
