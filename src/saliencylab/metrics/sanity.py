"""Sanity metric of [OBJ] §3.1: cascading randomisation of the model's layers (the model
parameter randomisation test of Adebayo et al., NeurIPS 2018, as used by Löffler et al., "Don't
Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series").

A map that reflects what the model learnt must change when the learnt parameters are destroyed.
Starting at the output layer and moving towards the input, each parameterised layer is
re-initialised **cumulatively** (layer i keeps the randomisation of layers 1..i-1 above it), the
maps are recomputed and compared with the trained model's maps by SSIM
(:func:`saliencylab.metrics.ssim.ssim`: along time per channel for series, over height × width
per channel for images, Gaussian-weighted). The score per sample is

    S = - mean over randomised layers of SSIM(M(x), M_i(x))

so ``-1`` (maps unchanged by randomisation) is the worst value and higher is better.

Layers are the modules that own parameters (directly or through a parametrisation such as
weight norm), in reverse registration order (``model.named_modules()``), which is the forward
order for the usual sequential models. Normalisation layers (BatchNorm, LayerNorm, GroupNorm,
...) are skipped by default, as in the reference code. A layer is re-initialised with its own
``reset_parameters()`` (PyTorch's default initialisation, as the reference code does) under a
seed drawn from ``generator``; parametrised tensors (weight norm) get a Kaiming-uniform draw
through the parametrisation's right inverse; parameters of modules without
``reset_parameters`` get Kaiming-uniform (matrices) or U(-1/sqrt(n), 1/sqrt(n)) (vectors).

Ragged series (``context.valid``): the SSIM is averaged over the window positions that lie inside
a series' valid steps (NaN for a series shorter than the window).

Example:
    >>> import torch
    >>> from saliencylab.metrics import MetricContext, make_explain_fn
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 8), torch.nn.ReLU(),
    ...                           torch.nn.Linear(8, 2))
    >>> x, y = torch.rand(3, 20, 2), torch.tensor([0, 1, 0])
    >>> fn = make_explain_fn("gradient")
    >>> s = sanity(net, x, y, fn(net, x, y), context=MetricContext(explain_fn=fn))
    >>> s.shape, bool((s >= -1).all() and (s <= 1).all())
    (torch.Size([3]), True)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from saliencylab.errors import ConfigError, NotApplicableError
from saliencylab.metrics._common import (
    check_flag,
    check_number,
    explain_chunked,
    reexplain_setup,
    reference_maps,
)
from saliencylab.metrics.protocol import MetricContext
from saliencylab.metrics.registry import Metric, register_metric
from saliencylab.metrics.ssim import AXES, ssim
from saliencylab.utils import resolve_generator

__all__ = ["SanityResult", "randomizable_layers", "reinitialize_", "sanity", "sanity_curve"]

MODES = ("cascade", "independent")

_NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
)
if hasattr(nn, "RMSNorm"):
    _NORM_TYPES = (*_NORM_TYPES, nn.RMSNorm)


def _owns_parameters(module: nn.Module) -> bool:
    return parametrize.is_parametrized(module) or any(
        True for _ in module.parameters(recurse=False))


def randomizable_layers(
    model: nn.Module, include_norm: bool = False
) -> list[tuple[str, nn.Module]]:
    """The ``(name, module)`` layers the sanity metric randomises, input side first.

    A layer is a module that owns parameters itself or through a parametrisation; the
    parametrisation containers are part of their layer. Normalisation layers are left out unless
    ``include_norm``.

    Example:
        >>> net = nn.Sequential(nn.Conv1d(1, 4, 3), nn.BatchNorm1d(4), nn.Linear(4, 2))
        >>> [name for name, _ in randomizable_layers(net)]
        ['0', '2']
    """
    out = []
    for name, module in model.named_modules():
        inside = ".parametrizations." in f".{name}."  # part of a parametrised layer
        if inside or isinstance(module, parametrize.ParametrizationList):
            continue
        if not _owns_parameters(module):
            continue
        if not include_norm and isinstance(module, _NORM_TYPES):
            continue
        out.append((name, module))
    return out


def _kaiming_like_(t: Tensor) -> None:
    if t.dim() >= 2:
        nn.init.kaiming_uniform_(t, a=math.sqrt(5))
    else:
        bound = 1.0 / math.sqrt(max(t.numel(), 1))
        nn.init.uniform_(t, -bound, bound)


def reinitialize_(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module``'s own parameters in place, reproducibly from ``seed``.

    Uses ``reset_parameters()`` where the module has one (PyTorch's default initialisation);
    the global RNG is forked, so the caller's random state is untouched.

    Example:
        >>> lin = nn.Linear(3, 2); before = lin.weight.clone()
        >>> reinitialize_(lin, seed=1)
        >>> bool((lin.weight != before).any())
        True
    """
    device = next(iter(module.parameters()), torch.empty(0)).device
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(int(seed))
        if parametrize.is_parametrized(module):
            # reset_parameters() would initialise a computed weight and lose it: draw the
            # parametrised tensors and set them through the parametrisation's right inverse.
            names = list(module.parametrizations.keys())
            fan_in = None
            for pname in names:
                fresh = torch.empty_like(getattr(module, pname))
                _kaiming_like_(fresh)
                setattr(module, pname, fresh)
                if fresh.dim() >= 2 and fan_in is None:
                    fan_in = nn.init._calculate_fan_in_and_fan_out(fresh)[0]
            for p in module.parameters(recurse=False):
                if fan_in and p.dim() == 1:
                    bound = 1.0 / math.sqrt(fan_in)
                    nn.init.uniform_(p, -bound, bound)
                else:
                    _kaiming_like_(p)
        elif callable(getattr(module, "reset_parameters", None)):
            module.reset_parameters()
        else:
            for p in module.parameters(recurse=False):
                _kaiming_like_(p)


@dataclass
class SanityResult:
    """Per-layer SSIM of :func:`sanity_curve`: ``ssim[i, n]`` after randomising ``layers[: i+1]``
    (cascade) or only ``layers[i]`` (independent); ``layers`` are output side first."""

    layers: list[str]
    ssim: Tensor
    params: dict[str, Any] = field(default_factory=dict)

    def scores(self) -> Tensor:
        """The sanity score per sample, ``-mean`` over layers of the SSIM, shape ``(N,)``."""
        return -self.ssim.mean(dim=0)


def _randomised_models(
    model: nn.Module, layers: list[str], mode: str, seeds: list[int]
) -> Iterator[nn.Module]:
    if mode == "cascade":
        work = copy.deepcopy(model)
        for name, seed in zip(layers, seeds, strict=True):
            reinitialize_(work.get_submodule(name), seed)
            yield work
    else:
        for name, seed in zip(layers, seeds, strict=True):
            work = copy.deepcopy(model)
            reinitialize_(work.get_submodule(name), seed)
            yield work


def check_sanity_options(
    *, mode: Any = "cascade", max_layers: Any = None, include_norm: Any = False,
    ssim_axes: Any = "time", data_range: Any = None, use_sample_covariance: Any = False,
) -> None:
    """``ConfigError`` for a :func:`sanity` option out of its range."""
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    if max_layers is not None and (isinstance(max_layers, bool) or not isinstance(max_layers, int)
                                   or max_layers < 1):
        raise ConfigError(f"max_layers must be an int >= 1 or None, got {max_layers!r}")
    check_flag(include_norm, "include_norm")
    check_flag(use_sample_covariance, "use_sample_covariance")
    if ssim_axes not in AXES:
        raise ConfigError(f"ssim_axes must be one of {AXES}, got {ssim_axes!r}")
    if data_range is not None and not isinstance(data_range, Tensor):
        check_number(data_range, "data_range", 0, math.inf, low_open=True)


def sanity_curve(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor | None = None,
    *,
    context: MetricContext | None = None,
    mode: str = "cascade",
    max_layers: int | None = None,
    include_norm: bool = False,
    ssim_axes: str = "time",
    data_range: float | None = None,
    use_sample_covariance: bool = False,
) -> SanityResult:
    """SSIM between the trained model's maps and those of each randomised model.

    Args:
        model: the trained classifier (left untouched; a deep copy is randomised).
        x: inputs, series ``(N, T, F)`` or images ``(N, C, H, W)``; y: ``(N,)`` target classes.
        attributions: ``M(x)`` of the trained model, made by ``context.explain_fn``; None
            computes it.
        context: ``explain_fn`` (required; see :func:`saliencylab.metrics.make_explain_fn`),
            ``batch_size`` (inputs per ``explain_fn`` call; default: sized by the memory budget,
            usually one call per randomised layer), ``generator`` (seeds
            the layers' re-initialisation), ``valid`` (ragged series).
        mode: ``"cascade"`` (cumulative, [OBJ]) or ``"independent"`` (one layer at a time).
        max_layers: randomise only the top ``max_layers`` layers (None: all).
        include_norm: randomise normalisation layers too (reference: no).
        ssim_axes, data_range, use_sample_covariance: passed to :func:`ssim` (``ssim_axes``
            applies to series only).

    Returns:
        A :class:`SanityResult`; ``.scores()`` is the sanity metric.
    """
    context, explain_fn, batch_size = reexplain_setup(context, x, y, attributions, "sanity")
    check_sanity_options(mode=mode, max_layers=max_layers, include_norm=include_norm,
                         ssim_axes=ssim_axes, data_range=data_range,
                         use_sample_covariance=use_sample_covariance)
    gen = resolve_generator(context.generator)
    x, y, ref, valid = reference_maps(explain_fn, model, x, y, attributions, context, batch_size,
                                      "trained model")

    names = [n for n, _ in randomizable_layers(model, include_norm)][::-1]
    if not names:
        raise NotApplicableError(f"{type(model).__name__} has no parameterised layer to "
                                 "randomise")
    if max_layers is not None:
        names = names[:max_layers]
    seeds = torch.randint(0, 2**62, (len(names),), generator=gen).tolist()
    rows = []
    for i, work in enumerate(_randomised_models(model, names, mode, seeds)):
        maps = explain_chunked(explain_fn, work, x, y, batch_size, f"randomised {names[i]!r}")
        rows.append(ssim(ref, maps, axes=ssim_axes, data_range=data_range,
                         use_sample_covariance=use_sample_covariance, valid=valid))
    params = {"mode": mode, "layers": names, "include_norm": include_norm,
              "ssim_axes": ssim_axes, "data_range": data_range,
              "use_sample_covariance": use_sample_covariance,
              "seed": int(gen.initial_seed())}
    return SanityResult(layers=names, ssim=torch.stack(rows).float(), params=params)


def sanity(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor | None = None,
    *,
    context: MetricContext | None = None,
    mode: str = "cascade",
    max_layers: int | None = None,
    include_norm: bool = False,
    ssim_axes: str = "time",
    data_range: float | None = None,
    use_sample_covariance: bool = False,
) -> Tensor:
    """Sanity score per sample ``(N,)``: ``-mean_i SSIM(M(x), M_i(x))`` over randomised layers.

    [OBJ] Löffler et al., §3.1. In [-1, 1]; -1 = maps ignore the parameters (worst), higher is
    better. Arguments as in :func:`sanity_curve`, which also returns the per-layer SSIM.
    ``use_sample_covariance=True, data_range=2.0`` reproduces the reference code's
    scikit-image call (old scikit-image's float defaults).

    Example:
        >>> import torch
        >>> from saliencylab.metrics import MetricContext
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 2))
        >>> constant = lambda model, inputs, target: inputs.clone()   # ignores the model
        >>> x = torch.rand(2, 20, 2)
        >>> ctx = MetricContext(explain_fn=constant)
        >>> sanity(net, x, torch.tensor([0, 1]), context=ctx).tolist()
        [-1.0, -1.0]
    """
    return sanity_curve(
        model, x, y, attributions, context=context, mode=mode, max_layers=max_layers,
        include_norm=include_norm, ssim_axes=ssim_axes, data_range=data_range,
        use_sample_covariance=use_sample_covariance,
    ).scores()


register_metric(Metric(
    "sanity", sanity, "sanity", True,
    "-mean SSIM between the maps of the model and of cascading layer-randomised copies "
    "(output layer first)",
    references=("OBJ §3.1",), needs=frozenset({"explain_fn"}),
    modalities=("time_series", "image"), check_options=check_sanity_options,
))
