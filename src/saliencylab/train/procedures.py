"""Training procedures: how one mini-batch becomes a loss.

The trainer (:mod:`saliencylab.train.trainer`) owns the loop (optimiser, epochs, early stopping,
checkpoints); a procedure only says what the loss of a batch is. Traditional training is
cross-entropy; saliency guided training ([SGT] Ismail et al., NeurIPS 2021) adds a KL term on
masked inputs (:mod:`saliencylab.train.saliency_guided`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn


@runtime_checkable
class TrainingProcedure(Protocol):
    """What the trainer needs of a procedure."""

    name: str

    def loss(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(loss, logits of x)`` for one training batch; the model is in train mode."""
        ...

    def params(self) -> dict:
        """The procedure's settings, stored in checkpoints and hashed into cache keys."""
        ...


class Traditional:
    """Plain cross-entropy training."""

    name = "traditional"

    def loss(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x)
        return F.cross_entropy(logits, y), logits

    def params(self) -> dict:
        return {"name": self.name}
