"""Robustness (max-sensitivity) of [OBJ] §3.4.

Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series",
after Yeh et al., NeurIPS 2019: a map should not change much when the input moves a little. Per
sample, with ``n_perturbations`` Monte Carlo draws ``ε ~ U[-r, r]`` (so ``‖ε‖∞ ≤ r``),

    S = - max_k ‖M(X) - M(X + ε_k)‖_F

``r = 0.05`` by default (the authors' tables used 0.2), 10 draws. The norm is the plain
Frobenius norm of the difference, as in [OBJ] §3.4 and in the Captum version the reference code
used. ``relative=True`` divides by ``‖M(X)‖_F`` (a zero map's norm taken as 1), which is what
``captum.metrics.sensitivity_max`` returns since Captum 0.6. 0 is the best value.

All ``N · n_perturbations`` perturbed inputs are explained in chunks of ``batch_size`` rows
(whole samples' perturbations per chunk), i.e. about ``N · n / batch_size`` ``explain_fn`` calls.
The noise of a chunk is drawn from ``generator`` when the chunk is built, so results depend on
the seed and on ``batch_size``. Series ``(N, T, F)`` and images ``(N, C, H, W)`` alike.

Ragged series (``context.valid``): only valid steps are perturbed (``ε = 0`` on padding, also
after a custom ``perturb_fn``) and the norms are over the valid cells.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 2))
    >>> from saliencylab.metrics import MetricContext
    >>> grad_like = lambda model, inputs, target: torch.ones_like(inputs)   # constant map
    >>> x = torch.rand(3, 10, 2)
    >>> ctx = MetricContext(explain_fn=grad_like)
    >>> robustness(net, x, torch.tensor([0, 1, 0]), context=ctx).tolist()
    [0.0, 0.0, 0.0]
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError, ShapeError, check_nonfinite
from saliencylab.metrics._common import (
    check_flag,
    check_number,
    explain_chunked,
    reexplain_setup,
    reference_maps,
)
from saliencylab.metrics.protocol import MetricContext
from saliencylab.metrics.registry import Metric, register_metric
from saliencylab.utils import chunks, resolve_generator

__all__ = ["PerturbFn", "robustness", "uniform_perturbation"]

#: ``perturb_fn(inputs, radius) -> perturbed``, called on the repeated inputs of a chunk (each
#: sample's ``n_perturbations`` copies consecutive, Captum's layout); a one-argument function
#: ``perturb_fn(inputs)`` is accepted too.
PerturbFn = Callable[..., Tensor]


def uniform_perturbation(inputs: Tensor, radius: float, generator: torch.Generator) -> Tensor:
    """``inputs + ε`` with ``ε ~ U[-radius, radius]`` elementwise, drawn from ``generator``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> d = uniform_perturbation(torch.zeros(2, 3), 0.1, g)
        >>> bool(d.abs().max() <= 0.1)
        True
    """
    noise = torch.rand(inputs.shape, generator=generator, device=generator.device,
                       dtype=torch.float32)
    noise = (noise * 2 - 1) * radius
    return inputs + noise.to(device=inputs.device, dtype=inputs.dtype)


def _call_perturb(fn: PerturbFn, inputs: Tensor, radius: float) -> Tensor:
    try:
        n_args = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        n_args = 2
    out = fn(inputs, radius) if n_args > 1 else fn(inputs)
    if not isinstance(out, Tensor) or out.shape != inputs.shape:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ShapeError(f"perturb_fn must return a tensor of its input's shape "
                         f"{tuple(inputs.shape)}, got {got}")
    check_nonfinite(out, "perturb_fn output")
    return out


def check_robustness_options(*, radius: Any = 0.05, n_perturbations: Any = 10,
                             relative: Any = False, perturb_fn: Any = None) -> None:
    """``ConfigError`` for a :func:`robustness` option out of its range."""
    check_number(radius, "radius", 0, math.inf)
    check_flag(relative, "relative")
    if isinstance(n_perturbations, bool) or not isinstance(n_perturbations, int) or \
            n_perturbations < 1:
        raise ConfigError(f"n_perturbations must be a positive int, got {n_perturbations!r}")
    if perturb_fn is not None and not callable(perturb_fn):
        raise ConfigError(f"perturb_fn must be None or a callable perturb_fn(inputs, radius), "
                          f"got {type(perturb_fn).__name__}")


def robustness(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor | None = None,
    *,
    context: MetricContext | None = None,
    radius: float = 0.05,
    n_perturbations: int = 10,
    relative: bool = False,
    perturb_fn: PerturbFn | None = None,
) -> Tensor:
    """Robustness per sample ``(N,)``: ``-max_k ‖M(X) - M(X + ε_k)‖_F`` ([OBJ] §3.4
    max-sensitivity).

    Args:
        model: classifier returning logits.
        x: series ``(N, T, F)`` or images ``(N, C, H, W)``; y: ``(N,)`` target classes of the
            maps.
        attributions: ``M(X)`` made by ``context.explain_fn``; None computes it.
        context: ``explain_fn`` (required), ``batch_size`` (perturbed inputs per
            ``explain_fn`` call, default 256), ``generator`` (seeds the noise), ``valid``
            (ragged series).
        radius: ``r``, the L∞ radius of the uniform noise (0.05; [OBJ] tables: 0.2).
        n_perturbations: Monte Carlo draws per sample (10).
        relative: divide by ``‖M(X)‖_F`` (Captum >= 0.6 ``sensitivity_max``); default False.
        perturb_fn: replaces the uniform noise: ``perturb_fn(inputs, radius) -> perturbed``
            on each chunk's repeated inputs (the same contract as Captum's ``perturb_func``).

    Returns:
        ``(N,)`` float tensor on the CPU, ``<= 0``; higher is better.
    """
    context, explain_fn, batch_size = reexplain_setup(context, x, y, attributions, "robustness")
    check_robustness_options(radius=radius, n_perturbations=n_perturbations, relative=relative,
                             perturb_fn=perturb_fn)
    gen = resolve_generator(context.generator)
    x, y, ref, valid = reference_maps(explain_fn, model, x, y, attributions, context, batch_size,
                                      "unperturbed")
    keep = None if valid is None else valid.unsqueeze(-1)  # (N, T, 1)
    n, k = x.shape[0], n_perturbations
    per_chunk = None if batch_size is None else max(1, batch_size // k)
    out = []
    for sl in chunks(n, per_chunk):
        xs = x[sl].repeat_interleave(k, dim=0)
        ts = y[sl].repeat_interleave(k, dim=0)
        xp = (uniform_perturbation(xs, radius, gen) if perturb_fn is None
              else _call_perturb(perturb_fn, xs, radius))
        base = ref[sl].repeat_interleave(k, dim=0)
        if keep is not None:  # padding stays as it is, and its maps do not count
            ks = keep[sl].repeat_interleave(k, dim=0)
            xp = torch.where(ks, xp, xs)
        maps = explain_chunked(explain_fn, model, xp, ts, batch_size, "perturbed inputs")
        delta = base - maps
        if keep is not None:
            delta = torch.where(ks, delta, torch.zeros((), dtype=delta.dtype,
                                                       device=delta.device))
        diff = delta.reshape(xs.shape[0], -1).double().norm(dim=1)
        worst = diff.view(-1, k).max(dim=1).values
        if relative:
            r = ref[sl] if keep is None else ref[sl] * keep[sl]
            norm = r.reshape(worst.shape[0], -1).double().norm(dim=1)
            worst = worst / torch.where(norm == 0, torch.ones_like(norm), norm)
        out.append(0.0 - worst)  # not -worst: no negative zeros
    return torch.cat(out).float().cpu()


register_metric(Metric(
    "robustness", robustness, "robustness", True,
    "-max over 10 uniform perturbations (|eps| <= r) of ||M(X) - M(X + eps)||_F",
    references=("OBJ §3.4",), needs=frozenset({"explain_fn"}),
    modalities=("time_series", "image"), check_options=check_robustness_options,
))
