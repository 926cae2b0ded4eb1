"""Random saliency maps used as controls.

- ``random``: a uniform U[0,1) map of the attribution's shape drawn from the seed.
- ``feature_permuted_random`` ([TSB] Ismail et al., NeurIPS 2020, §2.1 and §4.3: "we
  stochastically select a saliency method then permute the saliency values"): a real method's map
  whose feature axis is permuted by one permutation shared by all samples and time steps. It keeps
  the map's temporal profile and value distribution but breaks its link to the features.

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

from typing import Any

import torch
from torch import Tensor

from saliencylab.errors import ConfigError
from saliencylab.explain.method import Context, Method
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


# ------------------------------------------------------------------------------------------------
# The control methods of saliencylab.explain.explain


def _run_random(ctx: Context, x: Tensor, target: Tensor, extra: tuple, rows: Tensor,
                shape: tuple[int, ...]) -> Tensor:
    return random_map(shape, ctx.seed, x.device).to(x.dtype)


def _resolve_permuted(ctx: Context, x: Tensor) -> dict[str, Any]:
    """Prepare the base method (its effective parameters are recorded as ``base_params``)."""
    from saliencylab.explain.api import prepare
    from saliencylab.explain.registry import get_method

    base = get_method(ctx.params["base_method"])
    if base.family == "random":
        raise ConfigError(f"base_method must be a real method, got {base.name!r}")
    base_params = ctx.params["base_params"] or {}
    if not isinstance(base_params, dict):
        raise ConfigError(f"base_params must be a dict of the base method's parameters, got "
                          f"{type(base_params).__name__}")
    prepared = prepare(base, ctx.setup, dict(base_params))
    ctx.state["base"] = prepared
    return {"base_params": prepared.params()}


def _run_permuted(ctx: Context, x: Tensor, target: Tensor, extra: tuple, rows: Tensor,
                  shape: tuple[int, ...]) -> Tensor:
    from saliencylab.explain.api import run_prepared

    base = run_prepared(ctx.state["base"], x, target, extra, shape, rows)
    return permute_features(base, ctx.seed, ctx.modality)


RANDOM_METHODS: tuple[Method, ...] = (
    Method(
        "random", "random",
        "Uniform U[0,1) map of the input's shape drawn from the seed (control)",
        sampling=True, run_all=_run_random,
    ),
    Method(
        "feature_permuted_random", "random",
        "A real method's map with its feature axis permuted by one permutation for all samples "
        "and time steps [TSB] §4.3",
        defaults={"base_method": "gradient", "base_params": {}},
        sampling=True, references=("TSB",), run_all=_run_permuted, resolve=_resolve_permuted,
    ),
)
