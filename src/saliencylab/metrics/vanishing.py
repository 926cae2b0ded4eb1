"""Vanishing-saliency metrics of [ICA]: weighted Jaccard (WJac) and relative Euclidean distance
(Euc) of a saliency map to the ground-truth block.

[ICA] Ismail, Gunady, Pessoa, Corrada Bravo, Feizi, *Input-Cell Attention Reduces Vanishing
Saliency of Recurrent Neural Networks*, NeurIPS 2019, §5 and Table 1. With ``ref`` the
ground-truth block of a sample (1 on its informative cells, 0 elsewhere) and ``s`` the sample's
saliency, min-max scaled to [0, 1]:

- ``WJac = Σ min(ref, s) / Σ max(ref, s)`` (higher is better, 1 for ``s = ref``);
- ``Euc = ‖ref − s‖₂ / ‖ref‖₂`` (lower is better, 0 for ``s = ref``; 1 for an all-zero map).

In [ICA] ``s`` is the gradient of the predicted class's softmax probability,
``|∂softmax_y / ∂x|``, whatever method is being benchmarked: ``saliency="softmax_gradient"``
(the default) computes it from the model, batched, so the numbers are those of [ICA] Table 1
next to any method's AUP / AUR. ``saliency="maps"`` scores the maps given instead (their
absolute value, min-max scaled per sample), to ask the same question of another method.

Per-sample scores; a sample without a block (nothing informative) has no score (NaN). With
``valid`` (ragged series) padded cells take no part in the scaling and the sums.

Example:
    >>> import torch
    >>> ref = torch.zeros(1, 4, 2, dtype=torch.bool); ref[0, 1:3] = True
    >>> s = ref.float().clone(); s[0, 1, 0] = 0.5            # half of one block cell
    >>> weighted_jaccard(s, ref).tolist(), round(relative_l2(s, ref).item(), 4)
    ([0.875], 0.25)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError, ShapeError
from saliencylab.metrics._common import (
    batch_size_of,
    check_inputs,
    check_labels,
    groundtruth_box,
    model_inputs,
    model_outputs,
    pass_rows,
    valid_cells,
)
from saliencylab.metrics.protocol import MetricContext, MetricOutput, as_context
from saliencylab.metrics.registry import Metric, register_metric
from saliencylab.utils import chunks, eval_mode

__all__ = [
    "minmax_per_sample",
    "relative_l2",
    "softmax_gradient",
    "vanishing_scores",
    "weighted_jaccard",
]

SALIENCY = ("softmax_gradient", "maps")


def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def minmax_per_sample(s: Tensor, cells: Tensor | None = None) -> Tensor:
    """Each sample's map scaled to [0, 1] (a constant map becomes 0), over ``cells`` only when
    given (the others become 0).

    >>> minmax_per_sample(torch.tensor([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]])).tolist()
    [[0.0, 1.0, 0.5], [0.0, 0.0, 0.0]]
    """
    flat = _flat(s).double()
    keep = torch.ones_like(flat, dtype=torch.bool) if cells is None else _flat(cells)
    lo = flat.masked_fill(~keep, float("inf")).amin(1, keepdim=True)
    hi = flat.masked_fill(~keep, float("-inf")).amax(1, keepdim=True)
    span = hi - lo
    out = (flat - lo) / torch.where(span > 0, span, torch.ones_like(span))
    out = torch.where(keep & (span > 0), out, torch.zeros_like(out))
    return out.reshape(s.shape).to(s.dtype)


def weighted_jaccard(s: Tensor, ref: Tensor) -> Tensor:
    """``Σ min(ref, s) / Σ max(ref, s)`` per sample, ``(N,)`` float64 ([ICA] §5); ``s`` in
    [0, 1], ``ref`` the bool block. NaN where both are all zero (no score).

    >>> weighted_jaccard(torch.tensor([[1.0, 0.0]]), torch.tensor([[True, False]])).tolist()
    [1.0]
    """
    s, r = _flat(s).double(), _flat(ref).double()
    num, den = torch.minimum(s, r).sum(1), torch.maximum(s, r).sum(1)
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)),
                       torch.full_like(den, float("nan")))


def relative_l2(s: Tensor, ref: Tensor) -> Tensor:
    """``‖ref − s‖₂ / ‖ref‖₂`` per sample, ``(N,)`` float64 ([ICA] §5); NaN for an empty block.

    >>> relative_l2(torch.zeros(1, 3), torch.tensor([[True, True, False]])).tolist()
    [1.0]
    """
    s, r = _flat(s).double(), _flat(ref).double()
    norm = torch.linalg.vector_norm(r, dim=1)
    dist = torch.linalg.vector_norm(r - s, dim=1)
    return torch.where(norm > 0, dist / torch.where(norm > 0, norm, torch.ones_like(norm)),
                       torch.full_like(norm, float("nan")))


def softmax_gradient(model: nn.Module, x: Tensor, y: Tensor,
                     batch_size: int | None = None) -> Tensor:
    """``|∂ softmax(model(x))_y / ∂x|`` per sample, batched (chunks of ``batch_size`` rows, by
    default sized by the memory budget), in eval mode; the model's modes are restored.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
    >>> softmax_gradient(net, torch.rand(3, 3, 2), torch.tensor([0, 1, 0])).shape
    torch.Size([3, 3, 2])
    """
    xm = model_inputs(model, x)
    out = []
    rows = pass_rows(xm[0].numel(), batch_size, copies=3)  # inputs, activations, gradients
    with eval_mode(model), torch.enable_grad():
        for sl in chunks(xm.shape[0], rows):
            part = xm[sl].detach().requires_grad_(True)
            logits = model_outputs(model, part)
            if not isinstance(logits, Tensor) or logits.dim() != 2 or \
                    logits.shape[0] != part.shape[0]:
                got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
                raise ShapeError(f"model must return logits of shape (batch, classes), got {got}")
            check_labels(y[sl], logits.shape[1])
            prob = torch.softmax(logits, dim=-1).gather(1, y[sl].to(logits.device)[:, None])
            (grad,) = torch.autograd.grad(prob.sum(), part)
            out.append(grad.detach().abs())
    return torch.cat(out).to(x.dtype)


def _check_options(*, saliency: Any = "softmax_gradient") -> None:
    if not isinstance(saliency, str) or saliency not in SALIENCY:
        raise ConfigError(f"saliency must be one of {', '.join(SALIENCY)}, got {saliency!r}")


def vanishing_scores(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor,
    *,
    context: MetricContext | None = None,
    saliency: str = "softmax_gradient",
) -> MetricOutput:
    """WJac and Euc of [ICA] Table 1 per sample, in the common metric call shape.

    Args:
        model, x, y: the classifier, its inputs ``(N, T, F)`` (or images) and the labels.
        attributions: the maps of the method being benchmarked (scored with
            ``saliency="maps"``; with the default only their shape is checked).
        context: ``context.groundtruth`` is the block; ``context.valid`` the valid steps;
            ``context.batch_size`` the chunk of the gradient pass.
        saliency: ``"softmax_gradient"`` ([ICA]: min-max of ``|∂softmax_y/∂x|``) or ``"maps"``
            (min-max of ``|attributions|``).

    Returns:
        A :class:`MetricOutput` with per-sample ``wjac`` and ``euc``.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
        >>> x, y = torch.rand(2, 4, 2), torch.tensor([0, 1])
        >>> box = torch.zeros(2, 4, 2, dtype=torch.bool); box[:, 1:3] = True
        >>> out = vanishing_scores(net, x, y, box.float(), saliency="maps",
        ...                        context=MetricContext(groundtruth=box))
        >>> out.per_sample["wjac"].tolist(), out.per_sample["euc"].tolist()
        ([1.0, 1.0], [0.0, 0.0])
    """
    context = as_context(context)
    _check_options(saliency=saliency)
    check_inputs(x, y, attributions)
    box = groundtruth_box(context, x, "WJac / Euc [ICA]",
                          "the known informative cells (N, *sample) of synthetic data").bool()
    cells = valid_cells(context, x)
    if saliency == "maps":
        raw = attributions.detach().abs()
    else:
        raw = softmax_gradient(model, x, y, batch_size_of(context, None))
    s = minmax_per_sample(raw.to(x.device), cells)
    ref = box if cells is None else box & cells
    return MetricOutput(per_sample={"wjac": weighted_jaccard(s, ref).float().cpu(),
                                    "euc": relative_l2(s, ref).float().cpu()})


register_metric(Metric(
    "vanishing", vanishing_scores, "groundtruth", True,
    "vanishing saliency [ICA]: weighted Jaccard and relative L2 distance of the min-max scaled "
    "|d softmax_y / dx| (or of the maps) to the ground-truth block",
    references=("ICA §5", "ICA Table 1"), needs=frozenset({"groundtruth"}),
    modalities=("time_series", "image"), outputs={"wjac": True, "euc": False},
    check_options=_check_options,
    output_descriptions={
        "wjac": "weighted Jaccard sum min(ref, s) / sum max(ref, s) of the min-max scaled "
                "saliency s and the ground-truth block ref (1 = the block exactly)",
        "euc": "relative L2 distance ||ref - s|| / ||ref|| of the min-max scaled saliency to the "
               "ground-truth block (0 = the block exactly, 1 = an all-zero map)",
    },
))
