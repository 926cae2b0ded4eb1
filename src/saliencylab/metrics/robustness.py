"""Robustness (max-sensitivity) of [OBJ] §3.4.

Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series",
after Yeh et al., NeurIPS 2019: a map should not change much when the input moves a little. Per
sample, with ``n_perturbations`` Monte Carlo draws ``ε ~ U[-r, r]`` (so ``‖ε‖∞ ≤ r``),

    S = - max_k ‖M(X) - M(X + ε_k)‖_F

``r = 0.05`` by default (the authors' tables used 0.2), 10 draws. The norm is the plain
Frobenius norm of the difference, as in [OBJ] §3.4 and in the Captum version the reference code
used. ``relative=True`` divides by ``‖M(X)‖_F`` (a zero map's norm taken as 1), which is what
``captum.metrics.sensitivity_max`` returns since Captum 0.6. 0 is the best value.

All ``N · n_perturbations`` perturbed inputs of a chunk go to ``explain_fn`` in **one** call
(whole samples' perturbations per chunk); a chunk holds as many samples as the memory budget
allows (:func:`saliencylab.metrics._common.explain_rows`: ``n_perturbations`` x input size x a
few floats per sample), usually all of them, so an expensive explainer (IG with 50 steps) pays
its per-call cost once. ``context.batch_size`` (perturbed inputs per call) overrides it. The
uniform noise is drawn from ``generator`` in blocks of ``256 // n_perturbations`` samples, in
sample order, whatever the chunking, so the scores depend on the seed only (not on
``batch_size``), and equal those of the former fixed 256-row chunks. Series ``(N, T, F)`` and
images ``(N, C, H, W)`` alike.

A sampling explainer (a random baseline, SmoothGrad's noise, LIME's samples) changes its map
by its own draws too. By default every perturbed copy is explained with draws of its own
(numbered as if all ``N · n_perturbations`` copies went to ``explain_fn`` in one call, whatever
the chunking), so that randomness counts toward the sensitivity, as [OBJ] §4.2 reads it ("the
additive noise of SmoothGrads may compound"). ``shared_draws=True`` explains every copy with
its sample's draws, those of ``M(X)``: only the input perturbation moves the map, and the score
goes to 0 as ``r`` does (Quantus's MaxSensitivity sees this when its explainer seeds by
position and the batch holds every sample). Both need an ``explain_fn`` taking ``sample_ids``
(:func:`saliencylab.metrics.make_explain_fn`'s does; any other gets position-based draws and
``shared_draws=True`` refuses it).

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
    check_shared_draws,
    explain_chunked,
    explain_rows,
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


#: Perturbed inputs per noise draw: the noise of ``NOISE_BLOCK // n_perturbations`` samples is
#: drawn at once (the former fixed chunk of 256 inputs), independent of the explain chunks.
NOISE_BLOCK = 256


class _NoiseStream:
    """Uniform noise for consecutive samples' repeated inputs, drawn in fixed blocks of samples
    from ``generator``, so any chunking of the samples gets the same noise."""

    def __init__(self, x: Tensor, k: int, radius: float, generator: torch.Generator):
        self.shape, self.k, self.radius, self.gen = tuple(x.shape[1:]), k, radius, generator
        self.block = max(1, NOISE_BLOCK // k)  # samples per draw
        self.n, self.drawn, self.buffer = x.shape[0], 0, None  # buffer: (rows, *shape)

    def take(self, like: Tensor) -> Tensor:
        """``like + ε`` for the next ``like.shape[0] // k`` samples' repeated inputs."""
        rows, parts = like.shape[0], []
        while rows:
            if self.buffer is None or self.buffer.shape[0] == 0:
                m = min(self.block, self.n - self.drawn)
                self.drawn += m
                self.buffer = uniform_perturbation(
                    torch.zeros((m * self.k, *self.shape), device=self.gen.device),
                    self.radius, self.gen)
            part, self.buffer = self.buffer[:rows], self.buffer[rows:]
            parts.append(part)
            rows -= part.shape[0]
        noise = parts[0] if len(parts) == 1 else torch.cat(parts)
        return like + noise.to(device=like.device, dtype=like.dtype)


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
                             relative: Any = False, perturb_fn: Any = None,
                             shared_draws: Any = False) -> None:
    """``ConfigError`` for a :func:`robustness` option out of its range."""
    check_number(radius, "radius", 0, math.inf)
    check_flag(relative, "relative")
    check_flag(shared_draws, "shared_draws")
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
    shared_draws: bool = False,
) -> Tensor:
    """Robustness per sample ``(N,)``: ``-max_k ‖M(X) - M(X + ε_k)‖_F`` ([OBJ] §3.4
    max-sensitivity).

    Args:
        model: classifier returning logits.
        x: series ``(N, T, F)`` or images ``(N, C, H, W)``; y: ``(N,)`` target classes of the
            maps.
        attributions: ``M(X)`` made by ``context.explain_fn``; None computes it.
        context: ``explain_fn`` (required), ``batch_size`` (perturbed inputs per
            ``explain_fn`` call; default: sized by the memory budget), ``generator`` (seeds
            the noise), ``valid`` (ragged series).
        radius: ``r``, the L∞ radius of the uniform noise (0.05; [OBJ] tables: 0.2).
        n_perturbations: Monte Carlo draws per sample (10).
        relative: divide by ``‖M(X)‖_F`` (Captum >= 0.6 ``sensitivity_max``); default False.
        perturb_fn: replaces the uniform noise: ``perturb_fn(inputs, radius) -> perturbed``
            on each chunk's repeated inputs (the same contract as Captum's ``perturb_func``).
        shared_draws: explain each perturbed copy with its sample's random draws (those of
            ``M(X)``) instead of draws of its own; see the module doc. Needs an ``explain_fn``
            taking ``sample_ids``.

    Returns:
        ``(N,)`` float tensor on the CPU, ``<= 0``; higher is better.
    """
    context, explain_fn, batch_size = reexplain_setup(context, x, y, attributions, "robustness")
    check_robustness_options(radius=radius, n_perturbations=n_perturbations, relative=relative,
                             perturb_fn=perturb_fn, shared_draws=shared_draws)
    check_shared_draws(shared_draws, explain_fn, "robustness")
    gen = resolve_generator(context.generator)
    x, y, ref, valid = reference_maps(explain_fn, model, x, y, attributions, context, batch_size,
                                      "unperturbed")
    keep = None if valid is None else valid.unsqueeze(-1)  # (N, T, 1)
    n, k = x.shape[0], n_perturbations
    per_chunk = explain_rows(x[0].numel(), batch_size, copies=k)
    noise = _NoiseStream(x, k, radius, gen) if perturb_fn is None else None
    out = []
    for sl in chunks(n, per_chunk):
        xs = x[sl].repeat_interleave(k, dim=0)
        ts = y[sl].repeat_interleave(k, dim=0)
        xp = noise.take(xs) if noise is not None else _call_perturb(perturb_fn, xs, radius)
        # each copy's draws: its sample's (shared) or its own, copy j of sample i being
        # i * k + j, its row had all copies gone to explain_fn in one call
        ids = (torch.arange(sl.start, sl.stop).repeat_interleave(k) if shared_draws
               else torch.arange(sl.start * k, sl.stop * k))
        base = ref[sl].repeat_interleave(k, dim=0)
        if keep is not None:  # padding stays as it is, and its maps do not count
            ks = keep[sl].repeat_interleave(k, dim=0)
            xp = torch.where(ks, xp, xs)
        maps = explain_chunked(explain_fn, model, xp, ts, batch_size, "perturbed inputs", ids)
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
