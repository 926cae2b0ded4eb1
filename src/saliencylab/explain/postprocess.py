"""Post-processing of saliency maps: absolute value, per-sample scaling, aggregation over an axis.

Names accepted by :func:`postprocess` (a single name, a list, or callables):

- ``"abs"``: absolute value;
- ``"minmax"``: per-sample min-max to [0, 1]; a constant (finite) map has no range and is
  defined as all zeros (documented choice: "nothing stands out");
- ``"maxabs"``: per-sample division by max |value|, to [-1, 1] (an all-zero map stays zero);
- ``"sum_channels"`` / ``"mean_channels"``: aggregate the channel axis, which is axis 1 of an
  image ``(B, C, H, W)`` and the last axis of a time series ``(B, T, F)`` or of token
  embeddings ``(B, L, D)``; the axis is kept with size 1 so the map still broadcasts;
- ``"sum:<axis>"`` / ``"mean:<axis>"``: aggregate any axis (kept, size 1);
- ``"tsb"``: the [TSB] pipeline (Ismail et al., NeurIPS 2020) = ``["abs", "minmax"]``.

"Per sample" means over every axis but the leading ``batch_dims`` ones (2 for a map with a
leading target axis). With ``mask`` (a bool tensor broadcastable to the map, e.g. the ``(B, T,
1)`` valid steps of ragged series) the per-sample statistics (min, max, max |value|) are taken
over the masked-in cells only and every other cell is 0 after each step; an aggregation over an
axis keeps a cell if any cell along the axis was kept.

Non-finite values are never turned into numbers: a map holding NaN or inf (on the cells the
statistics read) raises :class:`~saliencylab.errors.NonFiniteError` before the first step, and
so does a step (a callable, or a sum that overflows) whose result is not finite. Min-max of such
a map would otherwise give NaN spans that compare false and become all-zero maps.

Example:
    >>> import torch
    >>> postprocess(torch.tensor([[[-2.0, 1.0], [0.0, 0.5]]]), "tsb").tolist()
    [[[1.0, 0.5], [0.0, 0.25]]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from saliencylab.errors import ConfigError, check_nonfinite

Step = str | Callable[[Tensor], Tensor]
PIPELINES: dict[str, list[str]] = {"tsb": ["abs", "minmax"]}
NAMES = ("abs", "minmax", "maxabs", "sum_channels", "mean_channels", "sum:<axis>", "mean:<axis>",
         *PIPELINES)


def _flat(a: Tensor, batch_dims: int) -> Tensor:
    return a.reshape(*a.shape[:batch_dims], -1)


def _flat_mask(a: Tensor, mask: Tensor | None, batch_dims: int) -> Tensor | None:
    if mask is None:
        return None
    return _flat(mask.to(device=a.device, dtype=torch.bool).expand(a.shape), batch_dims)


def minmax(a: Tensor, batch_dims: int = 1, mask: Tensor | None = None) -> Tensor:
    """Per-sample min-max scaling to [0, 1]; a constant sample maps to 0. With ``mask``, over
    the masked-in cells only (the others become 0)."""
    flat = _flat(a, batch_dims)
    keep = _flat_mask(a, mask, batch_dims)
    if keep is None:
        lo = flat.min(dim=-1, keepdim=True).values
        hi = flat.max(dim=-1, keepdim=True).values
    else:
        lo = flat.masked_fill(~keep, float("inf")).min(dim=-1, keepdim=True).values
        hi = flat.masked_fill(~keep, float("-inf")).max(dim=-1, keepdim=True).values
    span = hi - lo
    out = ((flat - lo) / span.clamp_min(1e-12)).where(span > 0, 0.0)
    if keep is not None:
        out = out.where(keep, 0.0)
    return out.reshape(a.shape)


def maxabs(a: Tensor, batch_dims: int = 1, mask: Tensor | None = None) -> Tensor:
    """Per-sample division by the largest absolute value, to [-1, 1]. With ``mask``, over the
    masked-in cells only (the others become 0)."""
    flat = _flat(a, batch_dims)
    keep = _flat_mask(a, mask, batch_dims)
    if keep is not None:
        flat = flat.where(keep, 0.0)
    peak = flat.abs().max(dim=-1, keepdim=True).values
    return (flat / peak.clamp_min(1e-12)).where(peak > 0, 0.0).reshape(a.shape)


def aggregate(a: Tensor, axis: int, reduce: str = "sum") -> Tensor:
    """Sum or mean over ``axis`` keeping it with size 1."""
    if reduce not in ("sum", "mean"):
        raise ConfigError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    if not -a.dim() <= axis < a.dim():
        raise ConfigError(f"axis {axis} is out of range for a map with {a.dim()} dims")
    return a.sum(axis, keepdim=True) if reduce == "sum" else a.mean(axis, keepdim=True)


def _channel_axis(a: Tensor, batch_dims: int) -> int:
    sample_rank = a.dim() - batch_dims
    if sample_rank == 3:  # (C, H, W)
        return batch_dims
    if sample_rank == 2:  # (T, F) or (L, D)
        return -1
    raise ConfigError(
        f"no channel axis in a map with per-sample shape {tuple(a.shape[batch_dims:])}"
    )


def _step(a: Tensor, step: Step, batch_dims: int,
          mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """One step; returns the map and the mask that goes with its (possibly reduced) shape."""
    if callable(step):
        return step(a), mask
    if step == "abs":
        return a.abs(), mask
    if step == "minmax":
        return minmax(a, batch_dims, mask), mask
    if step == "maxabs":
        return maxabs(a, batch_dims, mask), mask
    axis = None
    if step in ("sum_channels", "mean_channels"):
        axis, reduce = _channel_axis(a, batch_dims), step.split("_")[0]
    elif isinstance(step, str) and step.split(":")[0] in ("sum", "mean") and ":" in step:
        reduce, text = step.split(":", 1)
        if text.lstrip("-").isdigit():
            axis = int(text)
    if axis is None:
        raise ConfigError(f"unknown post-processing step {step!r}; expected one of: "
                          f"{', '.join(NAMES)}")
    if mask is None:
        return aggregate(a, axis, reduce), None
    keep = mask.to(device=a.device, dtype=torch.bool).expand(a.shape)
    if reduce == "mean":  # the mean over the kept cells
        total = aggregate(a.where(keep, 0.0), axis, "sum")
        count = aggregate(keep.to(a.dtype), axis, "sum")
        out = total / count.clamp_min(1)
    else:
        out = aggregate(a.where(keep, 0.0), axis, "sum")
    return out, keep.any(dim=axis, keepdim=True)


def expand_steps(steps: Step | Sequence[Step] | None) -> list[Step]:
    """Flatten a name / list / pipeline name into the list of elementary steps."""
    if steps is None:
        return []
    if isinstance(steps, str) or callable(steps):
        steps = [steps]
    out: list[Step] = []
    for s in steps:
        out.extend(PIPELINES.get(s, [s]) if isinstance(s, str) else [s])
    return out


def postprocess(
    attributions: Tensor, steps: Step | Sequence[Step] | None, batch_dims: int = 1,
    mask: Tensor | None = None,
) -> Tensor:
    """Apply ``steps`` in order (see module doc). ``batch_dims`` leading axes are per sample;
    ``mask`` (bool, broadcastable to the map) restricts the statistics to its cells and zeroes
    the rest."""
    out = attributions
    steps = expand_steps(steps)
    if steps:
        _check_finite_map(out, mask, "the map given to post-processing")
    for s in steps:
        out, mask = _step(out, s, batch_dims, mask)
        if mask is not None:
            out = out.where(mask.to(device=out.device, dtype=torch.bool), 0.0)
        _check_finite_map(out, mask, f"the map after post-processing step {_name(s)}")
    return out


def _name(step: Step) -> str:
    return repr(step) if isinstance(step, str) else getattr(step, "__name__", repr(step))


def _check_finite_map(a: Tensor, mask: Tensor | None, what: str) -> None:
    """NonFiniteError if ``a`` holds NaN or inf on the cells ``mask`` keeps (all without)."""
    if not isinstance(a, Tensor):
        raise ConfigError(f"{what} must be a tensor, got {type(a).__name__}")
    if mask is not None:
        a = a.where(mask.to(device=a.device, dtype=torch.bool).expand(a.shape), 0.0)
    check_nonfinite(a, what, "post-processing never turns NaN or inf into numbers")
