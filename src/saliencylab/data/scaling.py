"""Min-max scaling with one scaler per (time, feature) cell, as [TSB] preprocessed its data.

[TSB] Ismail et al., NeurIPS 2020 flattened each sample to ``T*F`` columns and fit scikit-learn's
``MinMaxScaler`` on the training set, i.e. one (min, max) pair per cell. This is the same in torch,
with sklearn's rule that a constant column (max == min) is divided by 1.

Example:
    >>> import torch
    >>> x = torch.randn(100, 5, 3)
    >>> scaler = MinMaxScaler.fit(x)
    >>> y = scaler.transform(x)
    >>> float(y.min()), float(y.max())
    (0.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saliencylab.errors import ShapeError
from saliencylab.utils import check_finite


@dataclass(frozen=True)
class MinMaxScaler:
    """Per-cell min-max scaler: ``(x - minimum) / (maximum - minimum)``.

    ``minimum`` and ``maximum`` have one sample's shape (e.g. ``(T, F)``). Values of new data may
    fall outside [0, 1]; they are not clipped (as in scikit-learn).
    """

    minimum: torch.Tensor
    maximum: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor) -> MinMaxScaler:
        """Fit on a batch ``x`` of shape ``(N, *sample_shape)`` with ``N >= 1``.

        Example:
            >>> MinMaxScaler.fit(torch.zeros(4, 2, 2)).minimum.shape
            torch.Size([2, 2])
        """
        if x.dim() < 2 or len(x) == 0:
            raise ShapeError(f"fit needs a non-empty batch (N, ...), got shape {tuple(x.shape)}")
        check_finite(x, "data to fit the scaler on")
        return cls(x.amin(dim=0), x.amax(dim=0))

    @property
    def scale(self) -> torch.Tensor:
        """``maximum - minimum`` with zeros replaced by ones (constant cells are only shifted)."""
        span = self.maximum - self.minimum
        return torch.where(span > 0, span, torch.ones_like(span))

    def _check(self, x: torch.Tensor) -> None:
        k = self.minimum.dim()
        if x.dim() < k or tuple(x.shape[x.dim() - k :]) != tuple(self.minimum.shape):
            raise ShapeError(
                f"scaler was fit on samples of shape {tuple(self.minimum.shape)}, "
                f"got a batch of shape {tuple(x.shape)}"
            )

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """Scale a batch ``(N, *sample_shape)`` (or one sample) with the fitted min and max."""
        self._check(x)
        lo = self.minimum.to(device=x.device, dtype=x.dtype)
        return (x - lo) / self.scale.to(device=x.device, dtype=x.dtype)

    def inverse_transform(self, x: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`transform`."""
        self._check(x)
        lo = self.minimum.to(device=x.device, dtype=x.dtype)
        return x * self.scale.to(device=x.device, dtype=x.dtype) + lo

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The fitted tensors, for ``torch.save``."""
        return {"minimum": self.minimum, "maximum": self.maximum}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> MinMaxScaler:
        """Rebuild a scaler saved with :meth:`state_dict`."""
        return cls(state["minimum"], state["maximum"])
