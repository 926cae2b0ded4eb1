"""Training procedure for segmenters: cross-entropy over every labelled time step.

The segmenters of [OBJ] (Löffler et al., *Don't Get Me Wrong*, arXiv 2203.07861) return per-step
logits ``(B, T, C)`` and are trained on per-step labels ``(B, T)``. :class:`Segmentation` is the
:class:`~saliencylab.train.procedures.TrainingProcedure` for them: the mean cross-entropy over all
steps of the batch (logits permuted to ``(B, C, T)`` as ``F.cross_entropy`` wants), with an
optional label to ignore and optional class weights.

Example:
    >>> import torch
    >>> from saliencylab.models import build_model
    >>> model = build_model("utime", n_features=3, n_time=32, n_classes=4)
    >>> x, y = torch.randn(2, 32, 3), torch.randint(0, 4, (2, 32))
    >>> loss, logits = Segmentation().loss(model, x, y, torch.Generator())
    >>> logits.shape, loss.dim()
    (torch.Size([2, 32, 4]), 0)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from saliencylab.errors import ConfigError, ShapeError

__all__ = ["Segmentation", "per_step_accuracy", "segmentation_cross_entropy"]


def segmentation_cross_entropy(
    logits: torch.Tensor,
    y: torch.Tensor,
    *,
    ignore_index: int = -100,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of per-step logits ``(B, T, C)`` against labels ``(B, T)``.

    Example:
        >>> logits = torch.zeros(1, 3, 2)
        >>> round(float(segmentation_cross_entropy(logits, torch.tensor([[0, 1, 1]]))), 4)
        0.6931
    """
    if logits.dim() != 3 or y.shape != logits.shape[:2]:
        raise ShapeError(
            f"segmentation needs logits (B, T, C) and labels (B, T); got logits "
            f"{tuple(logits.shape)} and labels {tuple(y.shape)}"
        )
    return F.cross_entropy(logits.movedim(-1, 1), y, weight=weight, ignore_index=ignore_index)


def per_step_accuracy(logits: torch.Tensor, y: torch.Tensor, ignore_index: int = -100) -> float:
    """Fraction of (sample, step) pairs whose arg-max class equals the label.

    Example:
        >>> logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])
        >>> per_step_accuracy(logits, torch.tensor([[0, 0]]))
        0.5
    """
    keep = y != ignore_index
    if not bool(keep.any()):
        raise ShapeError("no labelled step to compute the accuracy on")
    return float((logits.argmax(-1) == y)[keep].float().mean())


class Segmentation:
    """Per-step cross-entropy training of a segmenter (``(B, T, C)`` logits, ``(B, T)`` labels).

    Args:
        ignore_index: label that contributes no loss (e.g. unannotated steps); -100 = none.
        class_weights: optional weight per class (e.g. to down-weight the "no class" label 0).
    """

    name = "segmentation"

    def __init__(self, ignore_index: int = -100,
                 class_weights: Sequence[float] | None = None) -> None:
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise ConfigError(f"ignore_index must be an int, got {ignore_index!r}")
        if class_weights is not None:
            weights = [float(w) for w in class_weights]
            if not weights or any(not (w >= 0.0) for w in weights):
                raise ConfigError(f"class_weights must be non-negative numbers, got "
                                  f"{class_weights!r}")
            class_weights = weights
        self.ignore_index = ignore_index
        self.class_weights = class_weights

    def loss(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x)
        weight = None
        if self.class_weights is not None:
            if len(self.class_weights) != logits.shape[-1]:
                raise ConfigError(f"class_weights has {len(self.class_weights)} entries but the "
                                  f"model scores {logits.shape[-1]} classes")
            weight = torch.tensor(self.class_weights, dtype=logits.dtype, device=logits.device)
        loss = segmentation_cross_entropy(logits, y, ignore_index=self.ignore_index,
                                          weight=weight)
        return loss, logits

    def params(self) -> dict:
        return {"name": self.name, "ignore_index": self.ignore_index,
                "class_weights": self.class_weights}
