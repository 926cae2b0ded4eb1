"""Shared plumbing of the metrics: input checks, explain callables, predictions.

Every metric has the call shape ``fn(model, x, y, attributions, *, context, **options)`` (see
:mod:`saliencylab.metrics.protocol`). Metrics that need fresh maps (of a randomised model,
another class, a perturbed input) get them from ``context.explain_fn(model, inputs, target)``;
:func:`make_explain_fn` builds one from :func:`saliencylab.explain.explain`.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.errors import (
    ConfigError,
    NotApplicableError,
    SaliencyLabError,
    ShapeError,
    check_nonfinite,
)
from saliencylab.explain.api import (
    check_model_layout,
    explain,
    match_model_dtype,
    nonfinite_parameters,
)
from saliencylab.metrics.protocol import ExplainFn, MetricContext, as_context, require, valid_steps
from saliencylab.utils import chunks, eval_mode, model_device, rows_per_chunk

__all__ = ["ExplainFn", "make_explain_fn"]


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

    def explain_fn(model: nn.Module, inputs: Tensor, target: Tensor | int,
                   sample_ids: Tensor | None = None) -> Tensor:
        return explain(model, inputs, target, method, seed=seed, postprocess=postprocess,
                       sample_ids=sample_ids, **params).attributions

    explain_fn.__name__ = f"explain_{method}"
    return explain_fn


#: Floats one input element of a model pass is taken to create (the masked or perturbed copy, its
#: mask and background, the model's activations). A TCN on 800 x 50 inputs runs 1.7x slower per
#: row in chunks of 256 rows than of 64 (its activations fall out of cache), so chunks are sized
#: by the elements they create, not by rows: 2**26 / (32 * 40 000) = 52 rows at 800 x 50,
#: 838 rows at 50 x 50.
PASS_COST = 32

#: Floats one input element of a re-explanation is taken to create in the metric itself (the
#: perturbed input, its map, the difference); the explainer sizes its own expansion
#: (IG steps etc.) by memory.
EXPLAIN_COST = 4


def pass_rows(elements: int, batch_size: int | None, copies: int = 1, *,
              model: nn.Module | None = None, sample: Tensor | None = None) -> int:
    """Rows per chunk of model passes over inputs of ``elements`` elements, each row making
    ``copies`` inputs (fractions, perturbations): ``batch_size`` when given (the explicit
    override), else what the memory budget allows (:func:`saliencylab.utils.rows_per_chunk`).

    With ``model`` and a ``sample`` input (one row), a row costs what the pass really creates:
    the input and the model's activations (measured once per model, as ``explain`` does),
    :data:`FORWARD_COST` floats each; else :data:`PASS_COST` floats per input element.

    >>> pass_rows(40_000, None), pass_rows(40_000, 64)
    (52, 64)
    """
    if batch_size is None and model is not None and sample is not None:
        from saliencylab.explain.api import _cached_probe

        activations = _cached_probe(model, sample[:1], "metric")[1]
        per_row = (int(elements) + activations) * FORWARD_COST * max(int(copies), 1)
        return rows_per_chunk(per_row)
    return rows_per_chunk(int(elements) * PASS_COST * max(int(copies), 1), batch_size=batch_size)


#: Floats one element of a no-grad model pass (an input or activation element) is taken to
#: create: the element and the temporaries of its layer. Measured on the ground-truth evaluation
#: (TCN, N = 100, T = 200 / 800): chunks of ~2**25 activation elements ran 1.7-2.7x faster than
#: the input-based size, whose chunks fell out of cache.
FORWARD_COST = 2


def explain_rows(elements: int, batch_size: int | None, copies: int = 1) -> int:
    """Samples per ``explain_fn`` chunk when each sample makes ``copies`` inputs of ``elements``
    elements (robustness: ``n_perturbations``; inter-class sensitivity: 2): the explicit
    ``batch_size`` (inputs per call, so ``batch_size // copies`` samples), else what the memory
    budget allows; every input of the chunk then goes to ``explain_fn`` in one call.

    >>> explain_rows(150, None, copies=10), explain_rows(150, 512, copies=10)
    (11184, 51)
    """
    if batch_size is not None:
        return max(1, rows_per_chunk(1, batch_size=batch_size) // max(int(copies), 1))
    return rows_per_chunk(int(elements) * EXPLAIN_COST * max(int(copies), 1))


def check_flag(value: Any, name: str, *, allow_none: bool = False) -> None:
    """A metric option that is True or False (or None when allowed): ``ConfigError`` otherwise,
    naming the option and its value (a string such as ``"false"`` would count as true)."""
    if isinstance(value, bool) or (allow_none and value is None):
        return
    raise ConfigError(f"{name} must be True{', False or None' if allow_none else ' or False'}, "
                      f"got {value!r}")


def check_number(value: Any, name: str, low: float, high: float, *, low_open: bool = False,
                 high_open: bool = False) -> float:
    """A finite number in the interval ``[low, high]`` (ends open as told; ``math.inf`` for no
    bound); ``ConfigError`` naming the option, its value and the interval otherwise.

    >>> check_number(0.5, "area_floor", 0, 1, low_open=True)
    0.5
    """
    interval = (f"{'(' if low_open or low == -math.inf else '['}{low:g}, {high:g}"
                f"{')' if high_open or high == math.inf else ']'}")
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high)
    if not ok:
        raise ConfigError(f"{name} must be a finite number in {interval}, got {value!r}")
    return float(value)


def model_inputs(model: nn.Module, x: Tensor, what: str = "x") -> Tensor:
    """``x`` as the model reads it: a saliencylab model's layout checked
    (:func:`saliencylab.explain.api.check_model_layout`) and the dtype cast to the model's
    with a one-line warning (:func:`saliencylab.explain.api.match_model_dtype`)."""
    check_model_layout(model, x)
    return match_model_dtype(model, x, what, stacklevel=5)


def model_outputs(model: nn.Module, x: Tensor, what: str = "the model's outputs") -> Tensor:
    """``model(x)``, with the errors the model raises on inputs it cannot read turned into
    :class:`ShapeError` (what was given) and non-finite outputs refused with
    :class:`~saliencylab.errors.NonFiniteError`: a score of NaN or inf outputs is no score."""
    try:
        out = model(x)
    except SaliencyLabError:
        raise
    except torch.cuda.OutOfMemoryError:
        raise
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ShapeError(f"the model failed on inputs of shape {tuple(x.shape)} ({x.dtype}): "
                         f"{exc}") from exc
    if isinstance(out, Tensor):
        check_nonfinite(out, what, nonfinite_parameters(model)
                        or "a metric of non-finite model outputs is not defined")
    return out


def check_explain_fn(explain_fn: Any, metric: str) -> ExplainFn:
    if explain_fn is None:
        raise ConfigError(f"{metric} re-explains inputs and needs explain_fn(model, inputs, "
                          "target) -> attributions; build one with "
                          "saliencylab.metrics.make_explain_fn(method, ...)")
    if not callable(explain_fn):
        raise ConfigError(f"explain_fn must be callable, got {type(explain_fn).__name__}")
    return explain_fn


def check_inputs(
    x: Tensor, y: Tensor | None, attributions: Tensor | None, *, need_attributions: bool = True,
    series_only: str | None = None,
) -> None:
    """Validate ``x`` (time series ``(N, T, F)`` or images ``(N, C, H, W)``) float, ``y (N,)``
    integer labels and same-shape attributions.

    ``series_only``: the metric's name and why it needs a time axis, e.g. ``"faithfulness
    reverses a sub-sequence along time"``; images then raise :class:`NotApplicableError`.
    """
    if not isinstance(x, Tensor):
        raise ShapeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 4 and series_only is not None:
        raise NotApplicableError(f"{series_only}, so it is defined for time series (N, T, F) "
                                 f"only; got images of shape {tuple(x.shape)}")
    if x.dim() not in (3, 4):
        expected = ("time series (batch, time, features)" if series_only is not None else
                    "time series (batch, time, features) or images (batch, channels, height, "
                    "width)")
        raise ShapeError(f"x must have shape {expected}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ShapeError(f"x must be a float tensor, got dtype {x.dtype}")
    if x.shape[0] < 1:
        raise ShapeError(f"x must hold at least one sample, got shape {tuple(x.shape)}")
    check_nonfinite(x, "x")
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
    check_nonfinite(attributions, "attributions")


def valid_cells(context: MetricContext, x: Tensor) -> Tensor | None:
    """``context.valid`` (checked, :func:`valid_steps`) spread over every feature of ``x``
    ``(N, T, F)``: the bool mask of valid cells; None when every step is valid."""
    steps = valid_steps(context, x)
    return None if steps is None else steps[..., None].expand(x.shape)


def groundtruth_box(context: MetricContext, x: Tensor, metric: str, what: str) -> Tensor:
    """``context.groundtruth`` on ``x``'s device, checked to have ``x``'s shape;
    :class:`NotApplicableError` saying that ``metric`` needs ``what`` when it is missing."""
    box = require(context, "groundtruth", metric, what)
    if not isinstance(box, Tensor) or tuple(box.shape) != tuple(x.shape):
        got = tuple(box.shape) if isinstance(box, Tensor) else type(box).__name__
        raise ShapeError(f"context.groundtruth must have x's shape {tuple(x.shape)}, got {got}")
    return box.to(x.device)


def batch_size_of(context: Any, default: int | None) -> int | None:
    """``context.batch_size``, or the metric's own ``default`` when the context leaves it open."""
    return default if context.batch_size is None else context.batch_size


def check_map(m: Any, shape: tuple[int, ...], where: str) -> Tensor:
    """A map returned by ``explain_fn`` must be a finite tensor of the inputs' shape."""
    if not isinstance(m, Tensor) or tuple(m.shape) != shape:
        got = tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__
        raise ShapeError(f"explain_fn must return attributions of the inputs' shape {shape} "
                         f"({where}), got {got}")
    check_nonfinite(m, f"explain_fn output ({where})")
    return m.detach()


def probabilities(model: nn.Module, x: Tensor, batch_size: int | None) -> Tensor:
    """Softmax of the model's logits ``(N, C)``, in eval mode, no gradients, in chunks of
    ``batch_size`` rows (None: sized by the memory budget, :func:`pass_rows`)."""
    out = []
    with eval_mode(model), torch.no_grad():
        for sl in chunks(x.shape[0], pass_rows(x[0].numel(), batch_size)):
            logits = model_outputs(model, x[sl])
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


def reexplain_setup(
    context: MetricContext | None, x: Tensor, y: Tensor | None, attributions: Tensor | None,
    metric: str,
) -> tuple[MetricContext, ExplainFn, int | None]:
    """The start of every metric that re-explains inputs: ``(context, explain_fn, batch_size)``,
    the checked context, its ``explain_fn`` and the ``explain_fn`` rows per call
    (``context.batch_size``; None sizes the calls by memory, :func:`explain_rows`; ``metric``
    names the metric in the error)."""
    context = as_context(context)  # checks context.batch_size: the batch size needs no more
    check_inputs(x, y, attributions, need_attributions=False)
    return context, check_explain_fn(context.explain_fn, metric), batch_size_of(context, None)


def on_model_device(
    model: nn.Module, x: Tensor, y: Tensor | None, context: MetricContext,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """``(x, y, valid)`` on the model's device: ``x`` detached and as the model reads it
    (:func:`model_inputs`: layout checked, dtype cast), ``y`` as long (None stays None) and
    ``context.valid`` checked against ``x`` (:func:`valid_steps`)."""
    device = model_device(model)
    x = model_inputs(model, x.detach().to(device))
    y = None if y is None else y.to(device).long()
    return x, y, valid_steps(context, x)


def protocol_inputs(
    model: nn.Module, x: Tensor, y: Tensor | None, attributions: Tensor | None,
    context: MetricContext | None, *, need_attributions: bool = True,
    series_only: str | None = None,
) -> tuple[MetricContext, Tensor, Tensor | None, Tensor | None]:
    """The opening of a metric that works on the model's device: ``(context, x, y, valid)``,
    the arguments checked (:func:`check_inputs`) and moved as in :func:`on_model_device`."""
    context = as_context(context)
    check_model_layout(model, x)  # a saliencylab model's layout before x's rank is read
    check_inputs(x, y, attributions, need_attributions=need_attributions, series_only=series_only)
    return (context, *on_model_device(model, x, y, context))


def reference_maps(
    explain_fn: ExplainFn, model: nn.Module, x: Tensor, y: Tensor,
    attributions: Tensor | None, context: MetricContext, batch_size: int | None, where: str,
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """``(x, y, M(x), valid)`` as :func:`on_model_device`; the maps are ``attributions`` when
    given, else explained here (``where`` names that call in errors)."""
    x, y, valid = on_model_device(model, x, y, context)
    if attributions is None:
        attributions = explain_chunked(explain_fn, model, x, y, batch_size, where)
    return x, y, attributions.detach().to(x.device), valid


def takes_sample_ids(explain_fn: ExplainFn) -> bool:
    """Whether ``explain_fn`` accepts ``sample_ids=`` (by name or through ``**kwargs``)."""
    try:
        params = inspect.signature(explain_fn).parameters.values()
    except (TypeError, ValueError):  # a callable without a signature
        return False
    return any(p.name == "sample_ids" or p.kind is p.VAR_KEYWORD for p in params)


def check_shared_draws(shared_draws: bool, explain_fn: ExplainFn, metric: str) -> None:
    """``ConfigError`` when ``shared_draws`` is asked for and ``explain_fn`` does not take the
    ``sample_ids`` that make a sample's maps with its draws."""
    if shared_draws and not takes_sample_ids(explain_fn):
        raise ConfigError(f"{metric}(shared_draws=True) needs an explain_fn(model, inputs, "
                          "target, sample_ids=None) that seeds its draws by sample_ids; build "
                          "one with saliencylab.metrics.make_explain_fn(method, ...)")


def call_explain(explain_fn: ExplainFn, model: nn.Module, x: Tensor, target: Tensor,
                 sample_ids: Tensor | None, where: str) -> Tensor:
    """One checked ``explain_fn`` call, with ``sample_ids`` when it takes them (else its draws
    follow the inputs' positions in the call)."""
    if sample_ids is not None and takes_sample_ids(explain_fn):
        maps = explain_fn(model, x, target, sample_ids=sample_ids)
    else:
        maps = explain_fn(model, x, target)
    return check_map(maps, tuple(x.shape), where)


def explain_chunked(
    explain_fn: ExplainFn, model: nn.Module, x: Tensor, target: Tensor,
    batch_size: int | None, where: str, sample_ids: Tensor | None = None,
) -> Tensor:
    """``explain_fn`` over ``x`` in chunks of at most ``batch_size`` rows; None: as many rows
    as the memory budget allows (:func:`explain_rows`), usually all of them in one call, so an
    expensive explainer pays its per-call cost once. Each input is explained with the draws of
    its ``sample_ids`` entry (default: its row in ``x``), so the chunking changes nothing."""
    if x.shape[0] == 0:
        return torch.empty_like(x)
    ids = torch.arange(x.shape[0]) if sample_ids is None else sample_ids
    out = []
    for sl in chunks(x.shape[0], explain_rows(x[0].numel(), batch_size)):
        out.append(call_explain(explain_fn, model, x[sl], target[sl], ids[sl], where))
    return torch.cat(out)


def maps_for_targets(
    explain_fn: ExplainFn | None, model: nn.Module, x: Tensor, target: Tensor,
    y: Tensor | None, attributions: Tensor | None, batch_size: int | None, where: str,
    metric: str,
) -> Tensor:
    """Maps of ``x`` for ``target`` ``(N,)``: the given ``attributions`` (made by ``explain_fn``
    for ``y``) where ``target == y``, ``explain_fn``'s maps elsewhere (only those rows are
    explained)."""
    if attributions is not None and y is not None and tuple(attributions.shape) == tuple(x.shape):
        maps = attributions.detach().to(x.device).clone()
        need = y.to(x.device).long() != target
    else:
        maps, need = None, torch.ones_like(target, dtype=torch.bool)
    if bool(need.any()):
        explain_fn = check_explain_fn(explain_fn, metric)
        fresh = explain_chunked(explain_fn, model, x[need], target[need], batch_size, where)
        if maps is None:
            return fresh
        maps[need] = fresh.to(maps.dtype)
    return maps
