"""Intra-class stability of [OBJ] §3.5.

Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series":
samples of one class share their evidence, so their maps should be alike up to small shifts in
time. Distances are dynamic time warping (DTW) distances between maps, computed per channel
between the univariate series and summed over channels (reference code: window 20); per sample

    S_i = - mean over the other samples j of i's class of sum_c DTW(M_i[:, c], M_j[:, c])

so identical maps within a class give the best value, 0. The mean over samples of ``S_i``
weights classes by their size; the reference code averages per class first (then over classes)
and includes the zero self-distances -- use :func:`class_mean_distance` for that number.

DTW is dtaidistance's (Euclidean DTW: the square root of the summed squared differences along
the best path; ``window=w`` allows ``|i - j| < w``), its compiled C ``distance_matrix_fast`` on
float64 copies of the maps, one call per (class, channel). A sample alone in its class has no
partner: its score is NaN ("undefined", left out of means by
:mod:`saliencylab.metrics.aggregate`). Defined for time series only (DTW warps time).

Ragged series (``context.valid``): each map's valid steps only are compared, so series of
different lengths are warped onto each other (dtaidistance takes series of different lengths).

Example:
    >>> import torch
    >>> maps = torch.rand(4, 30, 2)
    >>> maps[1] = maps[0]; maps[3] = maps[2]
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> stability(None, maps, y, maps).tolist()
    [0.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError
from saliencylab.explain.api import check_model_layout
from saliencylab.metrics._common import check_inputs
from saliencylab.metrics.protocol import MetricContext, as_context, valid_steps
from saliencylab.metrics.registry import Metric, register_metric

__all__ = ["class_mean_distance", "dtw_distance_matrix", "stability"]

_C_OK: bool | None = None
_SERIES_ONLY = "stability compares maps by dynamic time warping along time"


def _c_available() -> bool:
    global _C_OK
    if _C_OK is None:
        from dtaidistance import dtw

        _C_OK = bool(dtw.try_import_c(verbose=False))
        if not _C_OK:
            warnings.warn("dtaidistance's compiled C library is not available; falling back to "
                          "its pure-Python DTW, which is much slower", RuntimeWarning,
                          stacklevel=3)
    return _C_OK


def dtw_distance_matrix(maps: Tensor, window: int | None = 20, *,
                        valid: Tensor | None = None) -> Tensor:
    """``(n, n)`` DTW distances between maps ``(n, T, F)``, per channel and summed over channels.

    ``valid`` ``(n, T)`` bool: compare each map's valid steps only (series of different
    lengths).

    Example:
        >>> m = torch.zeros(2, 5, 1); m[1, :, 0] = 1.0
        >>> dtw_distance_matrix(m).tolist()   # sqrt(5 * 1**2)
        [[0.0, 2.23606797749979], [2.23606797749979, 0.0]]
    """
    from dtaidistance import dtw

    _check_window(window)
    n, n_time, n_feat = maps.shape
    arr = maps.detach().to("cpu", torch.float64).numpy()
    total = np.zeros((n, n), dtype=np.float64)
    if n < 2:
        return torch.from_numpy(total)
    use_c = _c_available()
    # No pruning: dtaidistance's Euclidean upper bound turns a DTW that equals the Euclidean
    # distance (common for sparse saliency maps) into inf (seen with dtaidistance 2.5.1).
    kwargs: dict = {"use_pruning": False}
    if window is not None:
        kwargs["window"] = int(window)
    keep = None if valid is None else valid.detach().to("cpu", torch.bool).numpy()
    for c in range(n_feat):
        if keep is None:
            series = np.ascontiguousarray(arr[:, :, c])
        else:
            series = [np.ascontiguousarray(arr[i, keep[i], c]) for i in range(n)]
        if use_c:
            d = dtw.distance_matrix_fast(series, **kwargs)
        else:
            d = dtw.distance_matrix(series, use_c=False, **kwargs)
        total += np.asarray(d, dtype=np.float64)
    return torch.from_numpy(total)


def _check_window(window: int | None) -> None:
    if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                               or window < 1):
        raise ConfigError(f"window must be a positive int or None, got {window!r}")


def stability(
    model: nn.Module | None,
    x: Tensor,
    y: Tensor,
    attributions: Tensor,
    *,
    context: MetricContext | None = None,
    window: int | None = 20,
) -> Tensor:
    """Intra-class stability per sample ``(N,)``: minus the mean DTW distance of a sample's map
    to the maps of the other samples of its class ([OBJ] §3.5).

    Args:
        model: unused (the maps are given); may be None.
        x: the inputs ``(N, T, F)`` (only their shape is checked).
        y: ``(N,)`` classes that group the samples (labels; pass predictions to group by them).
        attributions: maps ``(N, T, F)``.
        context: ``valid`` (ragged series: the valid steps of each map are compared); nothing
            else is read (deterministic, no re-explanation).
        window: DTW window (20, the reference); None for unconstrained DTW.

    Returns:
        ``(N,)`` float tensor on the CPU, ``<= 0`` (0 best); NaN for a sample alone in its class.
    """
    context = as_context(context)
    check_model_layout(model, x)
    check_inputs(x, y, attributions, series_only=_SERIES_ONLY)
    _check_window(window)
    valid = valid_steps(context, x)
    labels = y.detach().cpu().long()
    out = torch.full((labels.shape[0],), float("nan"), dtype=torch.float64)
    for cls in torch.unique(labels):
        idx = (labels == cls).nonzero().flatten()
        if idx.numel() < 2:
            continue
        keep = None if valid is None else valid[idx.to(valid.device)]
        d = dtw_distance_matrix(attributions[idx.to(attributions.device)], window, valid=keep)
        out[idx] = d.sum(dim=1) / (idx.numel() - 1)
    return (0.0 - out).float()  # not -out: no negative zeros


def class_mean_distance(attributions: Tensor, y: Tensor, window: int | None = 20) -> float:
    """The reference code's number: per class the mean of the full ``n × n`` DTW matrix (self
    distances included), then the mean over classes. Lower is better (it is a distance).

    Example:
        >>> m = torch.zeros(2, 5, 1); m[1] = 1.0
        >>> round(class_mean_distance(m, torch.tensor([0, 0])), 4)   # (0 + 2 * sqrt(5)) / 4
        1.118
    """
    check_inputs(attributions, y, attributions)
    _check_window(window)
    labels = y.detach().cpu().long()
    means = []
    for cls in torch.unique(labels):
        idx = (labels == cls).nonzero().flatten()
        means.append(float(dtw_distance_matrix(attributions[idx.to(attributions.device)],
                                               window).mean()))
    return float(np.mean(means))


register_metric(Metric(
    "stability", stability, "stability", True,
    "-mean DTW distance (window 20, summed over channels) to the maps of the other samples of "
    "the same class",
    references=("OBJ §3.5",), modalities=("time_series",),
    check_options=lambda *, window=20: _check_window(window),
))
