"""How a target selects the one scalar per sample that a saliency method explains.

This is the only place that looks at the shape of a model's output. :func:`resolve_targets`
checks a target against the output shape at the boundary and turns it into a *target tensor*;
:func:`select_output` picks the scalar of every sample from an output batch with it;
:class:`SelectedOutput` wraps a model so that its forward returns that scalar as ``(batch, 1)``.
Every method of :func:`saliencylab.explain.explain` differentiates or perturbs the wrapped model
with Captum's ``target=0``; the target tensor travels as the last additional forward argument,
so Captum expands it with the inputs (integration steps, noise samples, perturbations) exactly as
it expands a target.

Accepted targets, by the model's output shape (``B`` the batch):

=================================  ===========================================================
output                             target
=================================  ===========================================================
``(B, C)`` logits                  an int, or a ``(B,)`` tensor of class indices in ``[0, C)``
``(B, T, C)`` per-step logits      a ``(B, T)`` tensor of a class per step: explains
                                   ``sum_t logits[b, t, target[b, t]]``; ``-1`` at a step leaves
                                   it out (padded steps); an int or a ``(B,)`` tensor explains
                                   that class at every step
``(B,)`` or ``(B, 1)``             ``None``: the one value per sample (regression)
any shape                          a tuple ``(i, j, ...)`` indexing the output dims after the
                                   batch (Captum's convention): explains ``output[b, i, j, ...]``
=================================  ===========================================================

A list of any of these asks for several targets (the attributions get a leading target axis).

The target tensor is ``(B,)`` long indices into ``output.reshape(B, -1)`` (a class of ``(B, C)``
logits is its own flat index; a tuple index or ``None`` is flattened), or ``(B, T)`` long
classes per step for ``(B, T, C)`` outputs.

Example:
    >>> import torch
    >>> out = torch.arange(12.0).view(2, 3, 2)  # (batch, time, classes)
    >>> t, _ = resolve_targets(torch.tensor([[0, 1, -1], [1, 1, 1]]), 2, (3, 2), out.device)
    >>> select_output(out, t[0]).tolist()  # 0 + 3 (step 2 left out), 7 + 9 + 11
    [3.0, 27.0]
    >>> t, _ = resolve_targets((2, 1), 2, (3, 2), out.device)
    >>> select_output(out, t[0]).tolist()
    [5.0, 11.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError, ShapeError, all_finite

__all__ = ["SKIP", "SelectedOutput", "TargetLike", "resolve_targets", "select_output",
           "target_kind"]

TargetLike = (None | int | tuple[int, ...] | Tensor | np.ndarray
              | Sequence[None | int | tuple[int, ...] | Tensor | np.ndarray])
SKIP = -1  # a per-step target value: this step is not explained

_FORMS = ("an int class index, a (batch,) tensor of them, a (batch, time) tensor of classes per "
          "step (-1: step left out), None (one output per sample) or a tuple index into the "
          "output dims after the batch")


def _shape_text(output_shape: tuple[int, ...]) -> str:
    return "(batch" + "".join(f", {s}" for s in output_shape) + ")"


def target_kind(target: Tensor) -> str:
    """``"step"`` for a ``(B, T)`` per-step target tensor, ``"index"`` for a ``(B,)`` one."""
    return "step" if target.dim() == 2 else "index"


def _index_tuple(t: tuple, n: int, output_shape: tuple[int, ...]) -> Tensor:
    if not all(isinstance(i, int | np.integer) and not isinstance(i, bool) for i in t):
        raise ConfigError(
            f"a tuple target indexes the output dims after the batch (Captum's convention) and "
            f"holds ints, got {t!r}; pass a list for several targets"
        )
    if len(t) != len(output_shape):
        raise ShapeError(
            f"a tuple target needs one index per output dim after the batch: the model returns "
            f"{_shape_text(output_shape)}, so {len(output_shape)} index(es); got {t!r}"
        )
    flat = 0
    for i, size in zip(t, output_shape, strict=True):
        i = int(i)
        if not -size <= i < size:
            raise ConfigError(f"tuple target {t!r} is out of range for the model's output "
                              f"{_shape_text(output_shape)}")
        flat = flat * size + (i % size)
    return torch.full((n,), flat, dtype=torch.long)


def _as_index_tensor(t: Any, n: int) -> Tensor:
    if isinstance(t, int | np.integer):
        return torch.full((n,), int(t), dtype=torch.long)
    out = torch.as_tensor(t)
    if out.is_floating_point() or out.is_complex() or out.dtype == torch.bool:
        raise ConfigError(f"target must hold integer class indices, got dtype {out.dtype}")
    if out.dim() == 0:
        return out.long().expand(n).clone()
    if out.dim() > 2 or out.shape[0] != n:
        raise ShapeError(f"target must be an int, a ({n},) tensor of class indices or a "
                         f"({n}, time) tensor of classes per step, got shape {tuple(out.shape)}")
    return out.long()


def _one_target(t: Any, n: int, output_shape: tuple[int, ...], device: torch.device) -> Tensor:
    rank = len(output_shape)
    if t is None:
        if output_shape not in ((), (1,)):
            raise ShapeError(
                f"target=None explains a model with one output per sample ((batch,) or "
                f"(batch, 1)), but this model returns {_shape_text(output_shape)}; pass "
                f"{_FORMS}"
            )
        return torch.zeros(n, dtype=torch.long, device=device)
    if isinstance(t, tuple):
        return _index_tuple(t, n, output_shape).to(device)
    if isinstance(t, bool) or not isinstance(t, int | np.integer | Tensor | np.ndarray):
        raise ConfigError(f"target must be {_FORMS}, or a list of those; got "
                          f"{type(t).__name__}")
    index = _as_index_tensor(t, n)
    if rank == 0 or rank > 2:
        raise ShapeError(
            f"a class-index target needs logits of shape (batch, classes) or (batch, time, "
            f"classes), but the model returns {_shape_text(output_shape)}; pass "
            + ("target=None (one value per sample) or a tuple index" if rank == 0
               else "a tuple index into the output dims after the batch")
        )
    n_classes = output_shape[-1]
    if index.dim() == 2:
        if rank != 2:
            raise ShapeError(
                f"a (batch, time) target of classes per step needs a model returning (batch, "
                f"time, classes) logits; this one returns {_shape_text(output_shape)}: pass a "
                f"({n},) tensor of class indices instead"
            )
        if index.shape[1] != output_shape[0]:
            raise ShapeError(f"a per-step target must have one class per output step: "
                             f"({n}, {output_shape[0]}), got {tuple(index.shape)}")
        bad = ((index < 0) & (index != SKIP)) | (index >= n_classes)
        if bad.any():
            raise ConfigError(f"a per-step target must hold class indices in [0, {n_classes}) "
                              f"or {SKIP} (step left out); got {index[bad][0].item()}")
        return index.to(device)
    lo, hi = torch.aminmax(index)  # one reduction: cheaper than a mask and any() per call
    if int(lo) < 0 or int(hi) >= n_classes:
        bad = (index < 0) | (index >= n_classes)
        raise ConfigError(f"target must be a class index in [0, {n_classes}) (the model returns "
                          f"{n_classes} logits); got {index[bad][0].item()}")
    if rank == 2:  # one class at every step
        index = index[:, None].expand(n, output_shape[0]).contiguous()
    return index.to(device)


def resolve_targets(
    target: TargetLike, n: int, output_shape: tuple[int, ...], device: torch.device | str
) -> tuple[list[Tensor], bool]:
    """``(list of target tensors, several?)`` for a model whose output per sample has shape
    ``output_shape``; a list means several targets (see the module doc for the forms)."""
    device = torch.device(device)
    output_shape = tuple(int(s) for s in output_shape)
    if isinstance(target, list):
        if not target:
            raise ConfigError("target list is empty")
        out = [_one_target(t, n, output_shape, device) for t in target]
        if len({tuple(t.shape) for t in out}) > 1:
            raise ConfigError("several targets must be of one kind: all per sample or all per "
                              "time step")
        return out, True
    return [_one_target(target, n, output_shape, device)], False


def select_output(output: Tensor, target: Tensor) -> Tensor:
    """The explained scalar of every sample, shape ``(batch,)``.

    ``target`` is ``(batch,)`` long indices into ``output.reshape(batch, -1)``, or for
    ``(batch, T, C)`` outputs ``(batch, T)`` long classes per step (``-1``: left out), whose
    logits are summed over the steps.
    """
    if not isinstance(output, Tensor):
        raise ShapeError(f"the model must return a tensor, got {type(output).__name__}")
    n = output.shape[0] if output.dim() else 0
    if target.shape[0] != n:
        raise ShapeError(f"the model returned {n} rows for {target.shape[0]} inputs")
    target = target.to(output.device)
    if target.dim() == 2:
        if output.dim() != 3 or output.shape[1] != target.shape[1]:
            raise ShapeError(f"a per-step target {tuple(target.shape)} needs (batch, time, "
                             f"classes) outputs, got {tuple(output.shape)}")
        keep = target != SKIP
        picked = output.gather(2, target.clamp_min(0)[..., None])[..., 0]
        return torch.where(keep, picked, torch.zeros((), dtype=picked.dtype,
                                                      device=picked.device)).sum(1)
    return output.reshape(n, -1).gather(1, target[:, None])[:, 0]


class SelectedOutput(nn.Module):
    """``forward(x, *extra, target) -> (batch, 1)``: ``model(x, *extra)`` reduced by
    :func:`select_output` to the explained scalar of every row.

    It keeps the explained outputs it returned (detached: one value per row and pass) so that
    :meth:`take_counts` can tell how many were NaN or inf, and
    :func:`saliencylab.explain.explain` can refuse maps made from non-finite outputs. The count
    runs once per run, not once per forward pass (on the outputs' device, no synchronisation
    per pass).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self._seen: list[Tensor] = []

    def forward(self, x: Tensor, *extra: Tensor) -> Tensor:
        *args, target = extra
        out = select_output(self.model(x, *args), target)[:, None]
        self._seen.append(out.detach())
        return out

    def take_counts(self) -> tuple[int, int]:
        """``(non-finite outputs, outputs)`` since the last call; resets both."""
        seen = self._seen[:]
        self._seen.clear()  # in place: assigning an attribute of a Module costs its __setattr__
        if not seen:
            return 0, 0
        if len({t.device for t in seen}) > 1:
            seen = [t.to(seen[0].device) for t in seen]
        values = seen[0] if len(seen) == 1 else torch.cat(seen)
        if all_finite(values):
            return 0, values.numel()
        return int((~torch.isfinite(values)).sum()), values.numel()

