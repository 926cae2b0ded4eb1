"""Random saliency maps used as controls.

- ``random``: a uniform U[0,1) map of the attribution's shape drawn from the seed.
- ``feature_permuted_random`` ([TSB] Ismail et al., NeurIPS 2020): a real method's map whose
  feature axis is permuted by one permutation shared by all samples and time steps. It keeps the
  map's temporal profile and value distribution but breaks its link to the features.

The feature axis is the last one for time series ``(B, T, F)``; for images ``(B, C, H, W)`` the
pixel positions (one permutation of the H·W positions, shared by the channels); for text
``(B, L)`` the tokens.

Example:
    >>> import torch
    >>> m = torch.arange(6.0).view(1, 2, 3)
    >>> permute_features(m, seed=0, modality="time_series")[0, 0].sort().values.tolist()
    [0.0, 1.0, 2.0]
"""

from __future__ import annotations

import torch
from torch import Tensor

from saliencylab.errors import ConfigError
from saliencylab.utils import make_generator


def random_map(shape: tuple[int, ...], seed: int, device: torch.device | str = "cpu") -> Tensor:
    """U[0,1) map of ``shape`` from ``seed`` (drawn on the CPU: the same numbers on any device)."""
    return torch.rand(shape, generator=make_generator(seed)).to(device)


def permute_features(attributions: Tensor, seed: int, modality: str) -> Tensor:
    """Permute the feature axis of ``attributions`` with one permutation (see module doc).

    ``attributions`` may carry extra leading dims (several targets); the permutation is the same
    for all of them.
    """
    gen = make_generator(seed)
    if modality == "time_series" or modality == "text":
        n = attributions.shape[-1]
        perm = torch.randperm(n, generator=gen).to(attributions.device)
        return attributions[..., perm]
    if modality == "image":
        h, w = attributions.shape[-2:]
        perm = torch.randperm(h * w, generator=gen).to(attributions.device)
        flat = attributions.reshape(*attributions.shape[:-2], h * w)
        return flat[..., perm].reshape(attributions.shape)
    raise ConfigError(f"modality must be time_series, image or text, got {modality!r}")
