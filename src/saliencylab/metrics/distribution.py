"""How saliency is spread over a map: the decay over ranked features ([TSB] Figure 3) and the
mean saliency per pixel category of the ground-truth box ([TSB] Figure 8(a)).

[TSB] Ismail, Gunady, Corrada Bravo, Feizi, *Benchmarking Deep Learning Interpretability in
Time Series Predictions*, NeurIPS 2020.

``saliency_distribution`` (§4.2, Figure 3: "saliency decays exponentially with feature
ranking"): per sample, the map's absolute values are sorted in descending order,
``a_(1) >= a_(2) >= ... >= a_(n)`` over the ``n`` cells, and scaled by the largest. For a rank
fraction ``q`` the *relative saliency at the top q* is ``a_(r) / a_(1)`` with
``r = ceil(q n)`` (1-based), at q = 0.5, 1, 2, 5, 10, 20 and 50 %. The family's per-sample
outputs are ``decay_rate``, the least-squares ``rate`` of ``log a = c - rate q`` over those
points (per unit rank fraction; points with ``a = 0`` left out), and ``top10_share``, the share
of the map's total saliency in its top ``ceil(0.1 n)`` cells; the curve itself goes to the
store as extra rows ``decay@0.005`` ... ``decay@0.5`` (mean, se, n over the samples), from which
:func:`decay_fit` fits the mean curve (and a straight line, the alternative an exponential
decay must beat).

``pixel_categories`` (§6, Figure 8(a): the "saliency distribution of gradients ... stratified by
the category of each pixel with respect to its importance in both time and feature axes"):
with the ground-truth box of a sample, a time step is informative when any of its cells is,
a feature when any of its steps is; each cell is informative in time and feature
(``pix_time_feature``), in time only (``pix_time_only``), in feature only
(``pix_feature_only``) or in neither (``pix_neither``). The output is the mean of
``|s| / max |s|`` over the cells of the category (NaN for an empty category or an all-zero map).

With ``context.valid`` (ragged series) padded steps take no part.

Example:
    >>> import torch
    >>> s = torch.tensor([[[8.0, 4.0], [2.0, 1.0]]])          # one 2 x 2 map
    >>> rank_decay(s, (0.25, 0.5, 1.0)).tolist()
    [[1.0, 0.5, 0.125]]
    >>> box = torch.tensor([[[True, False], [False, False]]])
    >>> [round(v, 4) for v in category_means(s, box)[0].tolist()]
    [1.0, 0.5, 0.25, 0.125]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from saliencylab.errors import ShapeError
from saliencylab.metrics._common import check_inputs, groundtruth_box, valid_cells
from saliencylab.metrics.aggregate import mean_se_along, summary_rows
from saliencylab.metrics.protocol import MetricContext, MetricOutput, as_context
from saliencylab.metrics.registry import Metric, register_metric

__all__ = [
    "CATEGORY_OUTPUTS",
    "DECAY_FRACTIONS",
    "DECAY_OUTPUTS",
    "DecayFit",
    "category_means",
    "decay_fit",
    "pixel_categories",
    "rank_decay",
    "rate_per_sample",
    "saliency_distribution",
    "top_share",
]

#: Rank fractions of the decay curve and their output names.
DECAY_FRACTIONS: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
#: The store rows of the mean decay curve, one per fraction (not registered names: extra rows
#: of the family, as the ground truth's ``precision@d``).
DECAY_OUTPUTS: tuple[str, ...] = tuple(f"decay@{q:g}" for q in DECAY_FRACTIONS)
#: The four pixel categories of [TSB] Figure 8(a), in this order.
CATEGORY_OUTPUTS: tuple[str, ...] = ("pix_time_feature", "pix_time_only", "pix_feature_only",
                                     "pix_neither")


def _sorted_abs(s: Tensor, cells: Tensor | None) -> tuple[Tensor, Tensor]:
    """``(N, n)`` float64 |s| sorted descending (cells outside ``cells`` last, as -1) and the
    number of cells counted per sample."""
    flat = s.detach().reshape(s.shape[0], -1).double().abs()
    if cells is None:
        count = torch.full((flat.shape[0],), flat.shape[1], dtype=torch.long, device=flat.device)
    else:
        keep = cells.reshape(flat.shape)
        flat = flat.masked_fill(~keep, -1.0)
        count = keep.sum(1)
    return flat.sort(dim=1, descending=True).values, count


def rank_decay(s: Tensor, fractions: Sequence[float] = DECAY_FRACTIONS,
               cells: Tensor | None = None) -> Tensor:
    """``a_(r) / a_(1)`` with ``r = ceil(q n)`` for each fraction ``q``: ``(N, len(fractions))``
    float64; NaN for an all-zero map.

    >>> rank_decay(torch.tensor([[[0.0, 0.0]]]), (0.5,)).isnan().tolist()
    [[True]]
    """
    if not fractions or any(not 0 < float(q) <= 1 for q in fractions):
        raise ShapeError(f"rank fractions must lie in (0, 1], got {list(fractions)}")
    ordered, count = _sorted_abs(s, cells)
    q = torch.tensor([float(v) for v in fractions], dtype=torch.float64, device=ordered.device)
    # ceil(q n) - 1 as a 0-based index; the small tolerance keeps q n = 2 from becoming 3.
    rank = torch.ceil(q[None, :] * count[:, None].double() - 1e-9).long().clamp(min=1) - 1
    top = ordered[:, :1]
    values = ordered.gather(1, rank)
    return torch.where(top > 0, values / torch.where(top > 0, top, torch.ones_like(top)),
                       torch.full_like(values, float("nan")))


def top_share(s: Tensor, fraction: float = 0.1, cells: Tensor | None = None) -> Tensor:
    """Share of the total |saliency| in the top ``ceil(fraction n)`` cells, ``(N,)`` float64;
    NaN for an all-zero map.

    >>> top_share(torch.tensor([[6.0, 2.0, 1.0, 1.0]]), 0.25).tolist()
    [0.6]
    """
    ordered, count = _sorted_abs(s, cells)
    k = torch.ceil(fraction * count.double() - 1e-9).long().clamp(min=1)
    ranks = torch.arange(ordered.shape[1], device=ordered.device)[None, :]
    pos = ordered.clamp(min=0)
    total = pos.sum(1)
    top = torch.where(ranks < k[:, None], pos, torch.zeros_like(pos)).sum(1)
    return torch.where(total > 0, top / torch.where(total > 0, total, torch.ones_like(total)),
                       torch.full_like(total, float("nan")))


def category_means(s: Tensor, box: Tensor, cells: Tensor | None = None) -> Tensor:
    """Mean ``|s| / max |s|`` per pixel category of [TSB] Figure 8(a), ``(N, 4)`` float64 in the
    order of :data:`CATEGORY_OUTPUTS`; ``s`` and ``box`` are ``(N, T, F)``.

    >>> box = torch.zeros(1, 3, 3, dtype=torch.bool); box[0, 0, 0] = True
    >>> category_means(torch.ones(1, 3, 3), box).tolist()
    [[1.0, 1.0, 1.0, 1.0]]
    """
    if s.dim() != 3 or tuple(box.shape) != tuple(s.shape):
        raise ShapeError(f"pixel categories need time-series maps (N, T, F) and a box of their "
                         f"shape, got maps {tuple(s.shape)} and box {tuple(box.shape)}")
    a = s.detach().double().abs()
    box = box.to(a.device).bool()
    keep = torch.ones_like(box) if cells is None else cells.to(a.device).bool()
    a = torch.where(keep, a, torch.zeros_like(a))
    box = box & keep
    peak = a.amax(dim=(1, 2))
    scaled = a / torch.where(peak > 0, peak, torch.ones_like(peak))[:, None, None]
    in_time = box.any(dim=2, keepdim=True).expand_as(box)
    in_feature = box.any(dim=1, keepdim=True).expand_as(box)
    masks = torch.stack([in_time & in_feature, in_time & ~in_feature, ~in_time & in_feature,
                         ~in_time & ~in_feature], dim=1) & keep[:, None]
    counts = masks.sum(dim=(2, 3))
    sums = (masks * scaled[:, None]).sum(dim=(2, 3))
    ok = (counts > 0) & (peak[:, None] > 0)
    return torch.where(ok, sums / counts.clamp(min=1), torch.full_like(sums, float("nan")))


class DecayFit(NamedTuple):
    """The fit of a decay curve: ``rate`` of ``log a = c - rate q``, its ``r2``, and the R² of a
    straight line ``a = c - b q`` on the same points (``r2_linear``), the alternative an
    exponential decay must beat."""

    rate: float
    r2: float
    r2_linear: float


def _line_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and R² of ``y ~ x`` (nan, nan for a constant ``x`` or ``y``)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((v - mx) ** 2 for v in xs)
    syy = sum((v - my) ** 2 for v in ys)
    sxy = sum((a - mx) * (b - my) for a, b in zip(xs, ys, strict=True))
    if sxx <= 0 or syy <= 0:
        return float("nan"), float("nan")
    return sxy / sxx, sxy * sxy / (sxx * syy)


def decay_fit(fractions: Sequence[float], values: Sequence[float]) -> DecayFit:
    """Least-squares fit ``log a = c - rate q`` of a decay curve, and a straight line on the
    same points for comparison. Points with ``a <= 0`` or NaN are left out (the log of 0 is
    undefined); fewer than three points left, or a constant curve, give NaNs.

    >>> fit = decay_fit([0.1, 0.2, 0.3], [math.exp(-1), math.exp(-2), math.exp(-3)])
    >>> round(fit.rate, 6), round(fit.r2, 6), fit.r2_linear < 1
    (10.0, 1.0, True)
    """
    pts = [(float(q), float(v)) for q, v in zip(fractions, values, strict=True)
           if v is not None and math.isfinite(float(v)) and float(v) > 0]
    if len(pts) < 3:
        return DecayFit(float("nan"), float("nan"), float("nan"))
    qs = [q for q, _ in pts]
    slope, r2 = _line_fit(qs, [math.log(v) for _, v in pts])
    _, r2_linear = _line_fit(qs, [v for _, v in pts])
    return DecayFit(-slope, r2, r2_linear)


def rate_per_sample(curve: Tensor, fractions: Sequence[float] = DECAY_FRACTIONS) -> Tensor:
    """Per row of ``curve`` ``(N, len(fractions))``, the least-squares ``rate`` of
    ``log a = c - rate q`` over its positive points, ``(N,)`` float64; NaN with fewer than three
    positive points.

    >>> q = (0.1, 0.2, 0.3)
    >>> curve = torch.tensor([[math.exp(-1), math.exp(-2), math.exp(-3)]], dtype=torch.float64)
    >>> [round(v, 9) for v in rate_per_sample(curve, q).tolist()]
    [10.0]
    """
    q = torch.tensor([float(v) for v in fractions], dtype=torch.float64, device=curve.device)
    a = curve.double()
    w = (a > 0) & torch.isfinite(a)
    logs = torch.where(w, a.clamp(min=1e-300).log(), torch.zeros_like(a))
    wf = w.double()
    n = wf.sum(1)
    safe_n = n.clamp(min=1)
    mq = (wf * q).sum(1) / safe_n
    ml = (wf * logs).sum(1) / safe_n
    dq = (q[None, :] - mq[:, None]) * wf
    sqq = (dq * dq).sum(1)
    sql = (dq * (logs - ml[:, None])).sum(1)
    ok = (n >= 3) & (sqq > 0)
    return torch.where(ok, -sql / torch.where(ok, sqq, torch.ones_like(sqq)),
                       torch.full_like(sqq, float("nan")))


def saliency_distribution(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor,
    *,
    context: MetricContext | None = None,
) -> MetricOutput:
    """The decay of saliency over ranked cells ([TSB] §4.2, Figure 3), per sample.

    Args:
        model, x, y: the classifier and its inputs / labels (only their shapes are checked).
        attributions: the maps, of ``x``'s shape.
        context: ``context.valid`` marks the valid steps of ragged series.

    Returns:
        A :class:`MetricOutput` with per-sample ``decay_rate`` and ``top10_share``, the rows
        ``decay@q`` (mean, se, n of the relative saliency at each rank fraction) and the
        per-sample curve as the array ``decay_curve`` ``(N, 7)``.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> s = torch.tensor([[[8.0, 4.0], [2.0, 1.0]]])
        >>> out = saliency_distribution(net, torch.zeros(1, 2, 2), torch.tensor([0]), s)
        >>> out.per_sample["top10_share"].tolist(), out.rows[-2:]
        ([0.5333333611488342], [('decay@0.5', 'mean', 0.5), ('decay@0.5', 'n', 1.0)])
    """
    context = as_context(context)
    check_inputs(x, y, attributions)
    cells = valid_cells(context, x)
    curve = rank_decay(attributions, DECAY_FRACTIONS, cells)
    means, ses, counts = mean_se_along(curve, dim=0)
    rows = [row for i, name in enumerate(DECAY_OUTPUTS)
            for row in summary_rows(name, float(means[i]), float(ses[i]), int(counts[i]))]
    return MetricOutput(
        per_sample={"decay_rate": rate_per_sample(curve).float().cpu(),
                    "top10_share": top_share(attributions, 0.1, cells).float().cpu()},
        rows=rows, arrays={"decay_curve": curve.float().cpu()})


def pixel_categories(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor,
    *,
    context: MetricContext | None = None,
) -> MetricOutput:
    """Mean scaled saliency per pixel category of the ground-truth box ([TSB] §6, Figure 8(a)).

    Args:
        model, x, y: the classifier and its inputs ``(N, T, F)`` / labels (shapes checked).
        attributions: the maps, of ``x``'s shape.
        context: ``context.groundtruth`` is the box; ``context.valid`` the valid steps.

    Returns:
        A :class:`MetricOutput` with per-sample ``pix_time_feature``, ``pix_time_only``,
        ``pix_feature_only`` and ``pix_neither``.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> box = torch.tensor([[[True, False], [False, False]]])
        >>> out = pixel_categories(net, torch.zeros(1, 2, 2), torch.tensor([0]), box.float(),
        ...                        context=MetricContext(groundtruth=box))
        >>> out.per_sample["pix_time_feature"].tolist(), out.per_sample["pix_neither"].tolist()
        ([1.0], [0.0])
    """
    context = as_context(context)
    check_inputs(x, y, attributions)
    box = groundtruth_box(context, x, "pixel categories [TSB] Figure 8",
                          "the known informative cells (N, T, F) of synthetic data")
    means = category_means(attributions.to(x.device), box, valid_cells(context, x))
    return MetricOutput(per_sample={name: means[:, i].float().cpu()
                                    for i, name in enumerate(CATEGORY_OUTPUTS)})


register_metric(Metric(
    "saliency_distribution", saliency_distribution, "distribution", True,
    "decay of saliency over ranked cells [TSB] Figure 3: |s| sorted descending and scaled by "
    "its maximum, read at rank fractions 0.5 % ... 50 %, and the share of the top 10 %",
    references=("TSB §4.2", "TSB Figure 3"), modalities=("time_series", "image"),
    outputs={"decay_rate": True, "top10_share": True},
    output_descriptions={
        "decay_rate": "rate of the least-squares fit log a = c - rate q of the relative "
                      "saliency a at the rank fractions q = 0.5 % ... 50 % (steeper = higher)",
        "top10_share": "share of the total |saliency| in the top 10 % of the cells",
    },
))
register_metric(Metric(
    "pixel_categories", pixel_categories, "groundtruth", True,
    "mean saliency (scaled by the map's maximum) per pixel category of the ground-truth box "
    "[TSB] Figure 8(a): informative in time and feature, time only, feature only, neither",
    references=("TSB §6", "TSB Figure 8"), needs=frozenset({"groundtruth"}),
    outputs={"pix_time_feature": True, "pix_time_only": False, "pix_feature_only": False,
             "pix_neither": False},
    output_descriptions={
        "pix_time_feature": "mean scaled saliency of cells informative in time and feature",
        "pix_time_only": "mean scaled saliency of informative steps' uninformative features",
        "pix_feature_only": "mean scaled saliency of informative features at uninformative steps",
        "pix_neither": "mean scaled saliency of cells informative in neither axis",
    },
))
