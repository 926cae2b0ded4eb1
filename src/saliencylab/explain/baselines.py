"""Random saliency maps used as controls.

- ``random``: a uniform U[0,1) map of the attribution's shape drawn from the seed.
- ``feature_permuted_random``: a fixed real method's map whose feature axis is permuted by one
  permutation shared by all samples and time steps. It keeps the map's temporal profile and
  value distribution but breaks its link to the features.
- ``tsb_random``: the random baseline of [TSB] Ismail et al., NeurIPS 2020, §4.3 ("we
  stochastically select a saliency method then permute the saliency values producing arbitrary
  ranking"): the seed picks one method of ``candidates`` (default the ten methods of the
  benchmark, [TSB] §2.1), and each sample's map of that method has all its (valid) cells permuted
  by its own permutation. The method picked is recorded in the explanation's parameters
  (``picked_method``, see :func:`picked_method`) and by the bench in the cell's description.

The feature axis is the last one for time series ``(B, T, F)``; for images ``(B, C, H, W)`` the
pixel positions (one permutation of the H·W positions, shared by the channels); for text
``(B, L)`` the tokens.

Example:
    >>> import torch
    >>> m = torch.arange(6.0).view(1, 2, 3)
    >>> permute_features(m, seed=0, modality="time_series")[0, 0].sort().values.tolist()
    [0.0, 1.0, 2.0]
    >>> permute_cells(m, seed=0).flatten().sort().values.tolist()  # the same values, reordered
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    >>> picked_method(0, ("gradient", "integrated_gradients")) in ("gradient",
    ...                                                         "integrated_gradients")
    True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from saliencylab.errors import ConfigError
from saliencylab.explain.method import Context, Method
from saliencylab.utils import make_generator

#: The methods [TSB] benchmarks (§2.1), from which ``tsb_random`` picks one per seed.
TSB_CANDIDATES: tuple[str, ...] = (
    "gradient", "integrated_gradients", "deeplift", "gradient_shap", "deeplift_shap",
    "smoothgrad", "shapley_value_sampling", "feature_permutation", "feature_ablation",
    "occlusion",
)
# Offsets of the seed for the pick and for the permutation, so the two draws are independent.
_PICK_OFFSET, _PERMUTE_OFFSET = 104729, 1299709


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


def picked_method(seed: int, candidates: tuple[str, ...] | list[str] = TSB_CANDIDATES) -> str:
    """The method ``tsb_random`` picks for ``seed`` among ``candidates`` (uniformly, from the
    seed alone, so the bench can record it without running anything).

    >>> picked_method(3, ["gradient"])
    'gradient'
    """
    names = _check_candidates(candidates)
    gen = make_generator(int(seed) + _PICK_OFFSET)
    return names[int(torch.randint(len(names), (1,), generator=gen))]


def permute_cells(attributions: Tensor, seed: int, rows: Tensor | None = None,
                  valid: Tensor | None = None) -> Tensor:
    """Each sample's map with its cells permuted by its own permutation (batched).

    The permutation of sample ``i`` is drawn from ``seed`` for row ``rows[i]`` (default ``i``)
    on the CPU, so chunking and the device cannot change it. With ``valid`` (``(B, T)`` bool,
    the valid steps of ragged series) only valid cells trade places; padded cells stay put.

    >>> m = torch.arange(4.0).view(1, 2, 2)
    >>> torch.equal(permute_cells(m, 1), permute_cells(m, 1))
    True
    """
    n = attributions.shape[0]
    flat = attributions.reshape(n, -1)
    m = flat.shape[1]
    rows = torch.arange(n) if rows is None else rows.detach().long().cpu()
    size = int(rows.max()) + 1 if rows.numel() else 0
    keys = torch.rand(size, m, generator=make_generator(int(seed) + _PERMUTE_OFFSET))[rows]
    if valid is None:
        order = keys.argsort(dim=1).to(flat.device)
        return flat.gather(1, order).reshape(attributions.shape)
    cells = valid.detach().cpu().reshape(n, -1, *([1] * (attributions.dim() - 2)))
    cells = cells.expand(attributions.shape).reshape(n, m)
    # valid cells first in random order, then the padded ones in index order
    source = torch.where(cells, keys, 2.0).argsort(dim=1, stable=True)
    target = (~cells).to(torch.int8).argsort(dim=1, stable=True)  # valid positions in order
    out = torch.empty_like(flat)
    out.scatter_(1, target.to(flat.device), flat.gather(1, source.to(flat.device)))
    return out.reshape(attributions.shape)


def _check_candidates(candidates: Any) -> tuple[str, ...]:
    if isinstance(candidates, str) or not isinstance(candidates, list | tuple) or not candidates \
            or not all(isinstance(c, str) for c in candidates):
        raise ConfigError(f"candidates must be a non-empty list of method names, got "
                          f"{candidates!r}")
    return tuple(candidates)


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


def _resolve_tsb_random(ctx: Context, x: Tensor) -> dict[str, Any]:
    """Pick the method from the seed and prepare it (``picked_method``, ``base_params``)."""
    from saliencylab.explain.api import prepare
    from saliencylab.explain.registry import get_method

    names = _check_candidates(ctx.params["candidates"])
    for name in names:
        if get_method(name).family == "random":
            raise ConfigError(f"candidates must be real methods, got {name!r}")
    params = ctx.params["base_params"] or {}
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise ConfigError("base_params must map a candidate's name to a dict of its "
                          f"parameters, got {params!r}")
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ConfigError(f"base_params names {unknown}, which are not among the candidates "
                          f"{list(names)}")
    picked = picked_method(ctx.seed, names)
    prepared = prepare(get_method(picked), ctx.setup, dict(params.get(picked, {})))
    ctx.state["base"] = prepared
    return {"candidates": list(names), "picked_method": picked,
            "base_params": {picked: prepared.params()}}


def _run_tsb_random(ctx: Context, x: Tensor, target: Tensor, extra: tuple, rows: Tensor,
                    shape: tuple[int, ...]) -> Tensor:
    from saliencylab.explain.api import run_prepared

    base = run_prepared(ctx.state["base"], x, target, extra, shape, rows)
    valid = None
    if ctx.valid is not None and ctx.modality == "time_series" and base.dim() == 3:
        valid = ctx.valid[rows.to(ctx.valid.device)]
    return permute_cells(base, ctx.seed, ctx.draw_keys(rows), valid)


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
    Method(
        "tsb_random", "random",
        "The random baseline of [TSB] §4.3: a method picked at random (from the seed), each "
        "sample's map with its values permuted",
        defaults={"candidates": list(TSB_CANDIDATES), "base_params": {}},
        sampling=True, references=("TSB",), run_all=_run_tsb_random,
        resolve=_resolve_tsb_random,
    ),
)
