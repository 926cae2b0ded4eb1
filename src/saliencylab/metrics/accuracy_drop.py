"""The accuracy-drop test of [SGT] (Ismail, Corrada Bravo, Feizi, NeurIPS 2021, Section 5.1 and
Figure 4; supplement "Model Accuracy Drop" and Table 2).

Rank the pixels of each image by its saliency map (summed over channels; by magnitude by
default), remove the top 10 %, 20 %, ..., 90 % and measure the model's accuracy on what is
left. A steeper drop means the map found the features the model uses; a random ranking is the
reference. [SGT] Figure 4 replaces the removed pixels three ways:

* **IID**: the known background of the data, black for MNIST-like digits (``replacement="iid"``:
  each image's per-channel minimum, or a given ``value``);
* **OOD**: the mean pixel value ([SGT]'s "as done by" earlier work; ``replacement="ood"``:
  the training mean, ``context.fill``, or per-channel means given as ``value``);
* **ROAR** (Hooker et al., NeurIPS 2019): the mean value, and a model *retrained* on the
  training set masked the same way (:func:`roar_curve`; it trains models, so it is a step of an
  experiment, not a per-batch metric).

The area under each curve (accuracy in % over removed % from 10 to 90, trapezoid: the unit of
[SGT] supplement Table 2, e.g. 3360.4 for traditional training with gradients on MNIST) is the
score; smaller is better. The metric family ``accuracy_drop`` yields ``accuracy_drop_iid`` and
``accuracy_drop_ood`` per sample (the mean over samples is the AUC of the accuracy curve) and
the curves as extra rows ``accuracy_drop_iid@10`` ... ``@90``.

The registered family applies to images (time series have the [TSB] ground-truth curves);
the functions also rank time series ``(N, T, F)``, per cell.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    >>> x, y = torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 0, 1])
    >>> curve = accuracy_curve(net, x, y, torch.rand(4, 1, 4, 4), replacement="iid")
    >>> tuple(curve.shape)   # 9 fractions x 4 samples, correct or not
    (9, 4)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError, ShapeError
from saliencylab.metrics._common import (
    batch_size_of,
    check_flag,
    check_inputs,
    model_inputs,
    model_outputs,
    pass_rows,
)
from saliencylab.metrics._masking import fractions_of, keep_top
from saliencylab.metrics.protocol import MetricContext, MetricOutput, as_context
from saliencylab.metrics.registry import Metric, register_metric
from saliencylab.utils import chunks, eval_mode

__all__ = [
    "DROP_FRACTIONS",
    "REPLACEMENTS",
    "RoarResult",
    "accuracy_curve",
    "accuracy_drop",
    "curve_auc",
    "removal_masks",
    "replace_removed",
    "roar_curve",
]

#: Fractions of pixels removed: 10 %, 20 %, ..., 90 % ([SGT] Figure 4).
DROP_FRACTIONS: tuple[float, ...] = tuple(i / 10 for i in range(1, 10))
#: The replacements of the per-batch test ([SGT] Figure 4); ROAR is :func:`roar_curve`.
REPLACEMENTS: tuple[str, ...] = ("iid", "ood")


def _units(maps: Tensor, by_magnitude: bool) -> Tensor:
    """Per-unit scores: images ``(N, C, H, W)`` -> ``(N, 1, H, W)`` (channels summed), series
    unchanged."""
    s = maps.abs() if by_magnitude else maps
    return s.sum(1, keepdim=True) if maps.dim() == 4 else s


def removal_masks(maps: Tensor, fractions: Sequence[float] | Tensor = DROP_FRACTIONS, *,
                  by_magnitude: bool = True) -> Tensor:
    """Bool ``(P, N, 1, H, W)`` (images) or ``(P, N, T, F)`` (series): the top
    ``round(p * units)`` units of each map, for each fraction ``p``.

    >>> m = torch.tensor([[[[0.1, -0.9], [0.5, 0.0]]]])
    >>> removal_masks(m, [0.25, 0.5])[:, 0, 0].int().tolist()
    [[[0, 1], [0, 0]], [[0, 1], [1, 0]]]
    """
    return keep_top(_units(maps, by_magnitude), fractions, top=True)


def _fill_values(x: Tensor, replacement: str, value: Any, fill: float) -> Tensor:
    """What replaces a removed cell, broadcastable to ``x``: per sample and channel."""
    if replacement not in REPLACEMENTS:
        raise ConfigError(f"replacement must be one of {', '.join(REPLACEMENTS)} (ROAR "
                          f"retrains: roar_curve), got {replacement!r}")
    channels = x.shape[1] if x.dim() == 4 else x.shape[-1]
    if value is not None:
        v = torch.as_tensor(value, dtype=x.dtype, device=x.device).reshape(-1)
        if v.numel() not in (1, channels) or not bool(torch.isfinite(v).all()):
            raise ConfigError(f"value must be a finite number or one per channel ({channels}), "
                              f"got {value!r}")
        v = v.expand(channels)
    elif replacement == "iid":  # the known background: each image's darkest value per channel
        if x.dim() == 4:
            return x.amin(dim=(2, 3), keepdim=True)
        return x.amin(dim=1, keepdim=True)
    else:
        v = torch.full((channels,), float(fill), dtype=x.dtype, device=x.device)
    return v.view(1, -1, 1, 1) if x.dim() == 4 else v.view(1, 1, -1)


def replace_removed(x: Tensor, removed: Tensor, values: Tensor) -> Tensor:
    """``x`` with the ``removed`` units (bool, broadcastable to ``x``) set to ``values``.

    >>> replace_removed(torch.ones(1, 1, 1, 2), torch.tensor([[[[True, False]]]]),
    ...                 torch.zeros(1, 1, 1, 1)).tolist()
    [[[[0.0, 1.0]]]]
    """
    return torch.where(removed, values.expand_as(x) if values.dim() == x.dim() else values, x)


@torch.no_grad()
def accuracy_curve(model: nn.Module, x: Tensor, y: Tensor, maps: Tensor, *,
                   fractions: Sequence[float] | Tensor = DROP_FRACTIONS,
                   replacement: str = "iid", value: Any = None, fill: float = 0.0,
                   by_magnitude: bool = True, batch_size: int | None = None) -> Tensor:
    """Bool ``(P, N)``: is sample ``n`` still classified as ``y[n]`` with its top ``p`` units
    removed? Inputs are built per chunk of rows of the ``(P, N)`` grid.

    Args:
        fractions: fractions of pixels (cells) removed.
        replacement: ``"iid"`` (per-image background, or ``value``) or ``"ood"`` (``fill``,
            or per-channel ``value``).
        value: number or per-channel values replacing the removed pixels.
        fill: the OOD value when ``value`` is None (the training mean).
        by_magnitude: rank by ``|map|`` (default) rather than by the signed map.
    """
    check_inputs(x, y, maps)
    x = model_inputs(model, x.detach())
    f = fractions_of(fractions)
    removed = removal_masks(maps.detach().to(x.device), f, by_magnitude=by_magnitude)
    values = _fill_values(x, replacement, value, fill)
    n_levels, n = len(f), x.shape[0]
    correct = torch.empty(n_levels * n, dtype=torch.bool, device=x.device)
    flat = removed.reshape(n_levels * n, *removed.shape[2:])
    with eval_mode(model):
        for sl in chunks(n_levels * n, pass_rows(x[0].numel(), batch_size)):
            rows = torch.arange(sl.start, sl.stop, device=x.device)
            sample = rows % n
            v = values[sample] if values.shape[0] == n else values
            masked = replace_removed(x[sample], flat[rows], v)
            logits = model_outputs(model, masked, "the model's outputs on the masked inputs")
            correct[sl] = logits.argmax(-1) == y.to(x.device)[sample]
    return correct.view(n_levels, n)


def curve_auc(accuracy: Tensor, fractions: Sequence[float] | Tensor = DROP_FRACTIONS) -> Tensor:
    """Area under accuracy (%) over removed (%) by the trapezoid rule, along the first axis
    (the unit of [SGT] supplement Table 2).

    >>> float(curve_auc(torch.ones(9)))   # accuracy 100 % from 10 % to 90 % removed
    8000.0
    """
    f = fractions_of(fractions).to(accuracy.device, torch.float64) * 100
    a = accuracy.to(torch.float64) * 100
    if len(f) < 2:
        return a[0] * 0
    widths = (f[1:] - f[:-1]).view(-1, *([1] * (a.dim() - 1)))
    return (widths * (a[1:] + a[:-1]) / 2).sum(0)


def check_accuracy_drop_options(*, fractions: Any = None, value: Any = None,
                                by_magnitude: Any = True, replacements: Any = REPLACEMENTS
                                ) -> None:
    """Option checks of the ``accuracy_drop`` family (before any work)."""
    fractions_of(DROP_FRACTIONS if fractions is None else fractions)
    check_flag(by_magnitude, "by_magnitude")
    if isinstance(replacements, str) or not all(r in REPLACEMENTS for r in replacements):
        raise ConfigError(f"replacements must list some of {', '.join(REPLACEMENTS)}, got "
                          f"{replacements!r}")
    if value is not None:
        try:
            v = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise ConfigError(f"value must be a number or a list of numbers, got {value!r}"
                              ) from None
        if not bool(torch.isfinite(v).all()):
            raise ConfigError(f"value must be finite, got {value!r}")


def accuracy_drop(model: nn.Module, x: Tensor, y: Tensor, attributions: Tensor, *,
                  context: MetricContext | None = None, fractions: Any = None,
                  value: Any = None, by_magnitude: bool = True,
                  replacements: Sequence[str] = REPLACEMENTS) -> MetricOutput:
    """The metric family: per-sample AUC of the IID and OOD accuracy-drop curves (lower is
    better) and the curves (``accuracy_drop_<r>@<percent>`` mean accuracy rows).

    ``value`` replaces removed pixels in the IID curve (the known background; default each
    image's per-channel minimum); the OOD curve uses ``context.fill`` (the training mean).
    """
    context = as_context(context)
    check_accuracy_drop_options(fractions=fractions, value=value, by_magnitude=by_magnitude,
                                replacements=replacements)
    f = fractions_of(DROP_FRACTIONS if fractions is None else fractions)
    out = MetricOutput()
    for r in replacements:
        correct = accuracy_curve(model, x, y, attributions, fractions=f, replacement=r,
                                 value=value if r == "iid" else None, fill=context.fill,
                                 by_magnitude=by_magnitude,
                                 batch_size=batch_size_of(context, None))
        name = f"accuracy_drop_{r}"
        out.per_sample[name] = curve_auc(correct, f).float().cpu()
        acc = correct.float().mean(1).cpu()
        out.rows += [(f"{name}@{round(float(p) * 100):d}", "mean", float(a))
                     for p, a in zip(f.tolist(), acc.tolist(), strict=True)]
    return out


# ---------------------------------------------------------------------------------------------
# ROAR: remove and retrain


@dataclass
class RoarResult:
    """Test accuracy of models retrained on the masked training set, per fraction removed."""

    fractions: list[float]
    accuracy: list[float]
    auc: float

    def rows(self, name: str = "accuracy_drop_roar") -> list[tuple[str, str, float]]:
        """Store rows: the AUC (``mean``) and the curve (``@percent``)."""
        return [(name, "mean", self.auc), (name, "n", float(len(self.fractions))),
                *((f"{name}@{round(p * 100):d}", "mean", a)
                  for p, a in zip(self.fractions, self.accuracy, strict=True))]


def roar_curve(train_fn: Callable[[Tensor, Tensor, Tensor, Tensor], nn.Module],
               train: tuple[Tensor, Tensor, Tensor], val: tuple[Tensor, Tensor, Tensor],
               test: tuple[Tensor, Tensor, Tensor], *, fill: Any,
               fractions: Sequence[float] | Tensor = DROP_FRACTIONS,
               by_magnitude: bool = True, batch_size: int | None = None) -> RoarResult:
    """ROAR (Hooker et al., NeurIPS 2019) as in [SGT] Figure 4: for each fraction, remove the
    top pixels of every training, validation and test image by its map, replace them with the
    mean (``fill``: a number or one per channel), retrain a fresh model and measure its test
    accuracy.

    Args:
        train_fn: ``train_fn(x_train, y_train, x_val, y_val) -> model`` trains a fresh model
            (seeded, so the same inputs give the same model).
        train, val, test: ``(x, y, maps)`` of each split (the maps of the model under test).
        fill: the mean pixel value (number or per channel).

    >>> import torch
    >>> def train_fn(xt, yt, xv, yv):
    ...     return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> s = (torch.rand(4, 1, 2, 2), torch.tensor([0, 1, 0, 1]), torch.rand(4, 1, 2, 2))
    >>> len(roar_curve(train_fn, s, s, s, fill=0.5, fractions=[0.5]).accuracy)
    1
    """
    f = fractions_of(fractions)
    for where, (x, y, m) in (("train", train), ("val", val), ("test", test)):
        check_inputs(x, y, m)
        if x.shape[1:] != train[0].shape[1:]:
            raise ShapeError(f"roar_curve: {where} images {tuple(x.shape[1:])} differ from the "
                             f"training images {tuple(train[0].shape[1:])}")
    accuracy = []
    for p in f.tolist():
        masked = []
        for x, _y, m in (train, val, test):
            removed = removal_masks(m.detach().to(x.device), [p], by_magnitude=by_magnitude)[0]
            masked.append(replace_removed(x, removed, _fill_values(x, "ood", fill, 0.0)))
        model = train_fn(masked[0], train[1], masked[1], val[1])
        with eval_mode(model), torch.no_grad():
            xt = masked[2]
            preds = torch.cat([model_outputs(model, xt[sl]).argmax(-1)
                               for sl in chunks(len(xt), pass_rows(xt[0].numel(), batch_size))])
        accuracy.append(float((preds.cpu() == test[1].cpu()).float().mean()))
    auc = float(curve_auc(torch.tensor(accuracy), f)) if len(f) > 1 else math.nan
    return RoarResult(fractions=f.tolist(), accuracy=accuracy, auc=auc)


register_metric(Metric(
    "accuracy_drop", accuracy_drop, "accuracy_drop", False,
    "[SGT] accuracy-drop test: area under the accuracy (%) curve while the top 10..90 % pixels "
    "(cells) by saliency are removed (lower is better)",
    references=("SGT §5.1", "SGT supp. Table 2"), needs=frozenset(),
    modalities=("image",), check_options=check_accuracy_drop_options,
    outputs={"accuracy_drop_iid": False, "accuracy_drop_ood": False},
    output_descriptions={
        "accuracy_drop_iid": "AUC of accuracy while the top pixels are replaced by the known "
                             "background (black: each image's minimum per channel)",
        "accuracy_drop_ood": "AUC of accuracy while the top pixels are replaced by the mean "
                             "pixel value (the training mean)",
    },
))
