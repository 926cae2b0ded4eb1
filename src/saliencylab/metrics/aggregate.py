"""Aggregation of per-sample scores: mean, standard error, combination over seeds, trapezoids.

Metrics in saliencylab keep per-sample values; means are derived here. A value that is undefined
for a sample (for example precision when nothing was selected) is NaN or marked invalid by a
``valid`` mask, and is left out of the mean; ``n`` says how many samples the mean is over.

Example:
    >>> import torch
    >>> m, se, n = mean_se(torch.tensor([1.0, 2.0, 3.0]))
    >>> m, round(se, 4), n
    (2.0, 0.5774, 3)
    >>> [round(v, 4) for v in combine_seeds([0.2, 0.4])]
    [0.3, 0.1, 2]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from saliencylab.errors import InvalidDataError, ShapeError

ArrayLike = torch.Tensor | np.ndarray | Sequence[float]


_INT_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _as_float64(values: ArrayLike, name: str) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        values = np.asarray(values)  # keeps Python floats in float64 (torch would use float32)
        if values.dtype == object:
            raise InvalidDataError(f"{name} must be a numeric array, got {values!r:.80}")
    t = torch.as_tensor(values).detach()
    if not (t.is_floating_point() or t.dtype in _INT_DTYPES):
        raise InvalidDataError(f"{name} must be real numbers or booleans, got dtype {t.dtype}")
    t = t.to(device="cpu", dtype=torch.float64)
    if torch.isinf(t).any():
        raise InvalidDataError(f"{name} must not contain inf ({int(torch.isinf(t).sum())} found)")
    return t


def _valid_mask(values: torch.Tensor, valid: ArrayLike | None, name: str) -> torch.Tensor:
    keep = ~torch.isnan(values)  # NaN means "undefined for this sample": excluded
    if valid is not None:
        v = torch.as_tensor(valid).detach().to("cpu")
        if v.shape != values.shape:
            raise ShapeError(f"valid must have the shape of {name} {tuple(values.shape)}, "
                             f"got {tuple(v.shape)}")
        keep = keep & v.to(torch.bool)
    return keep


def mean_se(values: ArrayLike, valid: ArrayLike | None = None) -> tuple[float, float, int]:
    """Mean, standard error of the mean and count over the valid entries of ``values``.

    Entries that are NaN (undefined) or where ``valid`` is False are left out. The standard error
    is ``std(ddof=1) / sqrt(n)``; it is NaN when ``n < 2`` and the mean is NaN when ``n == 0``
    (both undefined, not errors). inf raises ``InvalidDataError``.

    Example:
        >>> mean_se([1.0, float("nan"), 3.0])
        (2.0, 1.0, 2)
    """
    t = _as_float64(values, "values").flatten()
    keep = _valid_mask(t, None if valid is None else torch.as_tensor(valid).flatten(), "values")
    x = t[keep]
    n = int(x.numel())
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(x.mean())
    se = float(x.std(unbiased=True) / math.sqrt(n)) if n > 1 else math.nan
    return mean, se, n


def mean_se_along(
    values: ArrayLike, valid: ArrayLike | None = None, dim: int = -1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Vectorised :func:`mean_se` along ``dim``: tensors of means, standard errors and counts.

    Example:
        >>> m, se, n = mean_se_along(torch.tensor([[1.0, 3.0], [2.0, float("nan")]]))
        >>> m.tolist(), n.tolist()
        ([2.0, 2.0], [2, 1])
    """
    t = _as_float64(values, "values")
    keep = _valid_mask(t, valid, "values")
    x = torch.where(keep, t, torch.zeros((), dtype=t.dtype))
    n = keep.sum(dim=dim)
    nf = n.to(torch.float64)
    mean = x.sum(dim=dim) / nf  # 0/0 -> NaN where nothing is valid, as documented
    dev = torch.where(keep, t - mean.unsqueeze(dim), torch.zeros((), dtype=t.dtype))
    var = (dev**2).sum(dim=dim) / (nf - 1)
    se = torch.where(n > 1, torch.sqrt(var / nf), torch.full_like(var, math.nan))
    mean = torch.where(n > 0, mean, torch.full_like(mean, math.nan))
    return mean, se, n


def summary_rows(metric: str, mean: float, se: float, n: int) -> list[tuple[str, str, float]]:
    """The results-store rows of one summary: ``mean`` where defined, ``se`` where defined and
    ``n > 1``, and always ``n``.

    Example:
        >>> summary_rows("aup", 0.5, float("nan"), 1)
        [('aup', 'mean', 0.5), ('aup', 'n', 1.0)]
    """
    rows = [(metric, "mean", float(mean))] if n > 0 and math.isfinite(mean) else []
    if n > 1 and math.isfinite(se):
        rows.append((metric, "se", float(se)))
    return [*rows, (metric, "n", float(n))]


def combine_seeds(seed_means: ArrayLike) -> tuple[float, float, int]:
    """Mean over seeds of the per-seed means, standard error across seeds, number of seeds.

    Seeds whose mean is NaN (undefined) are left out.

    Example:
        >>> [round(v, 4) for v in combine_seeds([1.0, 2.0, 3.0])]
        [2.0, 0.5774, 3]
    """
    return mean_se(seed_means)


def combine_summaries(
    summaries: Sequence[Mapping[str, float]],
) -> dict[str, tuple[float, float, int]]:
    """Combine per-seed ``summary()`` dicts: ``{metric: (mean over seeds, SE across seeds, n)}``.

    A metric missing from some seeds is combined over the seeds that have it.

    Example:
        >>> round(combine_summaries([{"aup": 0.2}, {"aup": 0.4}])["aup"][0], 4)
        0.3
    """
    keys: list[str] = []
    for s in summaries:
        keys.extend(k for k in s if k not in keys)
    return {k: combine_seeds([s[k] for s in summaries if k in s]) for k in keys}


def trapezoid(y: ArrayLike, x: ArrayLike) -> float:
    """Area under the piecewise-linear curve through ``(x, y)`` (trapezoid rule), as a float.

    NaN in ``y`` gives NaN (the area is undefined).

    Example:
        >>> trapezoid([1.0, 1.0, 1.0], [0.0, 0.5, 1.0])
        1.0
    """
    yt = _as_float64(y, "y").flatten()
    xt = _as_float64(x, "x").flatten()
    if yt.shape != xt.shape:
        raise ShapeError(f"x and y must have the same length, got {xt.numel()} and {yt.numel()}")
    if yt.numel() < 2:
        return 0.0
    return float(torch.trapezoid(yt, xt))
