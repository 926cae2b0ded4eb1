"""Training procedure for segmenters: generalized Dice plus cross-entropy over every labelled
time step, as [OBJ] Appendix B.3, or cross-entropy alone.

The segmenters of [OBJ] (Löffler et al., *Don't Get Me Wrong*, arXiv 2203.07861) return per-step
logits ``(B, T, C)`` and are trained on per-step labels ``(B, T)``. :class:`Segmentation` is the
:class:`~saliencylab.train.procedures.TrainingProcedure` for them: ``loss="dice_ce"`` (the
paper's, the default) adds the generalized Dice loss of Sudre et al. (DLMIA 2017,
:func:`generalized_dice_loss`) to the mean cross-entropy over all steps of the batch;
``loss="ce"`` is the cross-entropy alone. An optional label is ignored by both, optional class
weights weigh the cross-entropy.

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

__all__ = ["SEGMENTATION_LOSSES", "Segmentation", "generalized_dice_loss", "per_step_accuracy",
           "segmentation_cross_entropy"]

#: Losses of :class:`Segmentation`: [OBJ]'s generalized Dice + cross-entropy, cross-entropy.
SEGMENTATION_LOSSES = ("dice_ce", "ce")


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


def generalized_dice_loss(
    logits: torch.Tensor, y: torch.Tensor, *, ignore_index: int = -100
) -> torch.Tensor:
    """Generalized Dice loss (Sudre et al., DLMIA 2017) of per-step logits ``(B, T, C)``.

    With ``p`` the softmax, ``r`` the one-hot labels over the labelled steps and class weights
    ``w_c = 1 / (Σ r_c)²``: ``1 - 2 Σ_c w_c Σ r_c p_c / Σ_c w_c Σ (r_c + p_c)``. A class absent
    from the batch has no finite weight; it takes the largest finite one (as MONAI does), so
    its predicted mass still counts against the overlap. 0 for a perfect, certain prediction.

    Example:
        >>> y = torch.tensor([[0, 1, 1]])
        >>> sure = torch.nn.functional.one_hot(y, 2).float() * 50
        >>> round(float(generalized_dice_loss(sure, y)), 4)
        0.0
        >>> round(float(generalized_dice_loss(torch.zeros(1, 3, 2), y)), 4)  # 1 - 0.75 / 1.6875
        0.5556
    """
    if logits.dim() != 3 or y.shape != logits.shape[:2]:
        raise ShapeError(
            f"segmentation needs logits (B, T, C) and labels (B, T); got logits "
            f"{tuple(logits.shape)} and labels {tuple(y.shape)}"
        )
    keep = (y != ignore_index).unsqueeze(-1).to(logits.dtype)  # (B, T, 1)
    p = logits.softmax(-1) * keep
    r = F.one_hot(y.clamp_min(0), logits.shape[-1]).to(logits.dtype) * keep
    counts = r.sum((0, 1))  # (C,)
    w = 1.0 / counts.square()
    finite = torch.isfinite(w)
    if not bool(finite.any()):
        raise ShapeError("no labelled step to compute the Dice loss on")
    w = torch.where(finite, w, w[finite].max())
    overlap = (w * (r * p).sum((0, 1))).sum()
    total = (w * (r + p).sum((0, 1))).sum()
    return 1.0 - 2.0 * overlap / total


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
    """Per-step training of a segmenter (``(B, T, C)`` logits, ``(B, T)`` labels).

    Args:
        loss: ``"dice_ce"`` (generalized Dice + cross-entropy, [OBJ] Appendix B.3) or ``"ce"``.
        ignore_index: label that contributes no loss (e.g. unannotated steps); -100 = none.
        class_weights: optional weight per class of the cross-entropy (e.g. to down-weight the
            "no class" label 0).

    Example:
        >>> Segmentation().params()["loss"], Segmentation(loss="ce").params()["loss"]
        ('dice_ce', 'ce')
    """

    name = "segmentation"

    def __init__(self, ignore_index: int = -100,
                 class_weights: Sequence[float] | None = None, loss: str = "dice_ce") -> None:
        if loss not in SEGMENTATION_LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(SEGMENTATION_LOSSES)}, got "
                              f"{loss!r}")
        self.loss_name = loss
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
        if self.loss_name == "dice_ce":
            loss = loss + generalized_dice_loss(logits, y, ignore_index=self.ignore_index)
        return loss, logits

    def params(self) -> dict:
        return {"name": self.name, "loss": self.loss_name, "ignore_index": self.ignore_index,
                "class_weights": self.class_weights}
