"""Class targets in one canonical form, shared by the layers that explain and score predictions.

A neutral module (it imports only :mod:`saliencylab.errors`): explanation methods and metrics
both take targets as an int, a ``(batch,)`` tensor or a ``(batch, n_labels)`` tensor of class
indices and turn them into ``(batch, n_labels)`` here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from saliencylab.errors import ConfigError, ShapeError

__all__ = ["targets_2d"]


def targets_2d(targets: Any, n: int, device: torch.device | str) -> tuple[Tensor, bool]:
    """``(n, L)`` long labels from an int, ``(n,)`` or ``(n, L)`` class indices, and whether
    the caller gave a label axis.

    >>> labels, label_axis = targets_2d(1, 3, torch.device("cpu"))
    >>> labels.tolist(), label_axis
    ([[1], [1], [1]], False)
    >>> targets_2d(torch.tensor([[0, 1], [2, 0]]), 2, "cpu")[1]
    True
    """
    if isinstance(targets, bool):
        raise ConfigError(f"targets must be class indices, got {targets!r}")
    if isinstance(targets, int):
        return torch.full((n, 1), targets, dtype=torch.long, device=device), False
    t = torch.as_tensor(targets, device=device)
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ConfigError(f"targets must hold integer class indices, got dtype {t.dtype}")
    if t.dim() == 0:
        return t.long().expand(n).reshape(n, 1).clone(), False
    if t.dim() == 1 and t.shape[0] == n:
        return t.long().reshape(n, 1), False
    if t.dim() == 2 and t.shape[0] == n and t.shape[1] >= 1:
        return t.long(), True
    raise ShapeError(f"targets must be an int, (batch,) = ({n},) or (batch, n_labels); got shape "
                     f"{tuple(t.shape)}")
