"""Shared plumbing of the [OBJ] quality metrics: input checks, explain callables, predictions.

Every quality metric has the signature ``fn(model, x, y, attributions, *, explain_fn=...,
batch_size=..., generator=..., **options) -> Tensor (N,)`` with higher = better. Metrics that
need fresh maps (of a randomised model, another class, a perturbed input) get them from
``explain_fn(model, inputs, target) -> attributions``; :func:`make_explain_fn` builds one from
:func:`saliencylab.explain.explain`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError, ShapeError
from saliencylab.explain.api import eval_mode, explain
from saliencylab.utils import check_finite, check_rank, chunks, make_generator

#: ``explain_fn(model, inputs, target) -> attributions`` with ``target`` an int or a
#: ``(batch,)`` tensor; attributions have the inputs' shape.
ExplainFn = Callable[[nn.Module, Tensor, Tensor], Tensor]

GeneratorLike = torch.Generator | int | None


def make_explain_fn(
    method: str = "gradient", *, seed: int = 0, postprocess: Any = None, **params: Any
) -> ExplainFn:
    """An ``explain_fn(model, inputs, target)`` for the quality metrics, from :func:`explain`.

    Use the same ``method``, ``params`` and ``postprocess`` that produced the attributions
    being scored, so re-explained maps are comparable with them.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
        >>> fn = make_explain_fn("gradient", postprocess="tsb")
        >>> fn(net, torch.rand(3, 4, 3), torch.tensor([0, 1, 1])).shape
        torch.Size([3, 4, 3])
    """

    def explain_fn(model: nn.Module, inputs: Tensor, target: Tensor | int) -> Tensor:
        return explain(model, inputs, target, method, seed=seed, postprocess=postprocess,
                       **params).attributions

    explain_fn.__name__ = f"explain_{method}"
    return explain_fn


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def resolve_generator(generator: GeneratorLike) -> torch.Generator:
    """A CPU ``torch.Generator``: given, seeded from an int, or seeded with 0 for None."""
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None or (isinstance(generator, int | np.integer)
                             and not isinstance(generator, bool)):
        return make_generator(0 if generator is None else int(generator))
    raise ConfigError(f"generator must be a torch.Generator, an int seed or None, "
                      f"got {type(generator).__name__}")


def check_batch_size(batch_size: int | None) -> None:
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ConfigError(f"batch_size must be a positive int or None, got {batch_size!r}")


def check_explain_fn(explain_fn: Any, metric: str) -> ExplainFn:
    if explain_fn is None:
        raise ConfigError(f"{metric} re-explains inputs and needs explain_fn(model, inputs, "
                          "target) -> attributions; build one with "
                          "saliencylab.metrics.make_explain_fn(method, ...)")
    if not callable(explain_fn):
        raise ConfigError(f"explain_fn must be callable, got {type(explain_fn).__name__}")
    return explain_fn


def check_inputs(
    x: Tensor, y: Tensor | None, attributions: Tensor | None, *, need_attributions: bool = True
) -> None:
    """Validate ``x (N, T, F)`` float, ``y (N,)`` integer labels and same-shape attributions."""
    if not isinstance(x, Tensor):
        raise ShapeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    check_rank(x, 3, "x", "(batch, time, features)")
    if not x.is_floating_point():
        raise ShapeError(f"x must be a float tensor, got dtype {x.dtype}")
    if x.shape[0] < 1:
        raise ShapeError(f"x must hold at least one sample, got shape {tuple(x.shape)}")
    check_finite(x, "x")
    if y is not None:
        if not isinstance(y, Tensor):
            raise ShapeError(f"y must be a torch.Tensor of class indices, got "
                             f"{type(y).__name__}")
        if y.shape != (x.shape[0],) or y.is_floating_point() or y.dtype == torch.bool:
            raise ShapeError(f"y must be ({x.shape[0]},) integer class indices, got shape "
                             f"{tuple(y.shape)} dtype {y.dtype}")
    if attributions is None:
        if need_attributions:
            raise ShapeError("attributions must be a tensor of x's shape, got None")
        return
    if not isinstance(attributions, Tensor):
        raise ShapeError(f"attributions must be a torch.Tensor, got {type(attributions).__name__}")
    if attributions.shape != x.shape:
        raise ShapeError(f"attributions must have x's shape {tuple(x.shape)}, got "
                         f"{tuple(attributions.shape)}")
    check_finite(attributions, "attributions")


def check_map(m: Any, shape: tuple[int, ...], where: str) -> Tensor:
    """A map returned by ``explain_fn`` must be a finite tensor of the inputs' shape."""
    if not isinstance(m, Tensor) or tuple(m.shape) != shape:
        got = tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__
        raise ShapeError(f"explain_fn must return attributions of the inputs' shape {shape} "
                         f"({where}), got {got}")
    check_finite(m, f"explain_fn output ({where})")
    return m.detach()


def probabilities(model: nn.Module, x: Tensor, batch_size: int | None) -> Tensor:
    """Softmax of the model's logits ``(N, C)``, in eval mode, no gradients, chunked."""
    out = []
    with eval_mode(model), torch.no_grad():
        for sl in chunks(x.shape[0], batch_size):
            logits = model(x[sl])
            if not isinstance(logits, Tensor) or logits.dim() != 2 or \
                    logits.shape[0] != x[sl].shape[0]:
                got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
                raise ShapeError(f"model must return logits of shape (batch, classes), got {got}")
            out.append(torch.softmax(logits.float(), dim=-1))
    return torch.cat(out)


def check_labels(y: Tensor, n_classes: int) -> None:
    bad = (y < 0) | (y >= n_classes)
    if bool(bad.any()):
        raise ShapeError(f"y must hold class indices in [0, {n_classes}) (the model returns "
                         f"{n_classes} logits), got {int(y[bad][0])}")


def check_reexplain_args(
    x: Tensor, y: Tensor, attributions: Tensor | None, explain_fn: Any,
    batch_size: int | None, metric: str,
) -> ExplainFn:
    """The argument checks every metric that re-explains inputs starts with; returns
    ``explain_fn`` (``metric`` names the metric in the error)."""
    check_inputs(x, y, attributions, need_attributions=False)
    explain_fn = check_explain_fn(explain_fn, metric)
    check_batch_size(batch_size)
    return explain_fn


def reference_maps(
    explain_fn: ExplainFn, model: nn.Module, x: Tensor, y: Tensor,
    attributions: Tensor | None, batch_size: int | None, where: str,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, y, M(x))`` on the model's device, ``y`` as long; the maps are ``attributions``
    when given, else explained here (``where`` names that call in errors)."""
    device = model_device(model)
    x, y = x.detach().to(device), y.to(device).long()
    if attributions is None:
        attributions = explain_chunked(explain_fn, model, x, y, batch_size, where)
    return x, y, attributions.detach().to(device)


def explain_chunked(
    explain_fn: ExplainFn, model: nn.Module, x: Tensor, target: Tensor,
    batch_size: int | None, where: str,
) -> Tensor:
    """``explain_fn`` over ``x`` in chunks of at most ``batch_size`` rows."""
    out = []
    for sl in chunks(x.shape[0], batch_size):
        out.append(check_map(explain_fn(model, x[sl], target[sl]), tuple(x[sl].shape), where))
    return torch.cat(out)
