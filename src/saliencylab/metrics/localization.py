"""Localization of saliency maps on segmentation data, scored by range-based recall.

[OBJ] Löffler et al., *Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time
Series* (arXiv 2203.07861), §3.6: a time step t of a map r ``(T, F)`` is *relevant*
if some channel's relevance exceeds θ·max|r| (θ = 0.5); relevant steps take the predicted class,
the other steps "no class". The score of a sample is the mean over its labelled segments R_i of
the range-based recall of [TAT] Tatbul, Lee, Zdonik, Alam, Gottschlich, *Precision and Recall
for Time Series*, NeurIPS 2018:

    Recall_T(R_i, P) = α · Existence(R_i, P) + (1 − α) · Overlap(R_i, P)
    Existence(R_i, P) = 1 if Σ_j |R_i ∩ P_j| ≥ 1 else 0
    Overlap(R_i, P)  = CardinalityFactor(R_i, P) · Σ_j ω(R_i, R_i ∩ P_j, δ)
    ω(R, O, δ)       = Σ_{k ∈ O} δ(k, |R|) / Σ_{k=1..|R|} δ(k, |R|)   (k = 1-based position in R)

with P_j the predicted ranges of R_i's class, CardinalityFactor = 1 if R_i overlaps at most one
P_j, else γ(x) for x overlapping ranges ([OBJ] and our default: γ = 1, i.e. factor 1; option
"reciprocal": 1/x), α = 0 by default, and the positional bias δ of [TAT]:

* flat:   δ(k, L) = 1
* front:  δ(k, L) = L − k + 1         (an overlap at the start of the segment counts more)
* back:   δ(k, L) = k                 (an overlap at the end counts more)
* middle: δ(k, L) = k if k ≤ L/2 else L − k + 1

Since the P_j are disjoint, Σ_j ω(R_i, R_i ∩ P_j, δ) is the δ-weighted share of R_i covered by
predictions of its class. Everything is computed for the whole batch at once: runs of equal labels
are numbered across the batch and every per-segment sum is one ``index_add`` over time steps.

The metric function of the registry is :func:`localization_score` (the model's per-step
predictions, the segments from ``context.segments``); it is defined for time series only.

``reference_quirks=True`` scores as [OBJ]'s released evaluation code does instead: one class per
sample, its most frequent labelled class (:func:`dominant_class`; the maps explain that class at
every step, see ``saliencylab.bench.cells.explain_targets``); only that class's segments are
scored, a step counts when it is relevant (the model's per-step predictions are not used), and a
sample is left out (NaN) when the arg-max of its logits summed over the steps is another class
or its map is all zero.

Example:
    >>> import torch
    >>> labels = torch.tensor([[0, 1, 1, 1, 1, 0]])
    >>> r = torch.zeros(1, 6, 2); r[0, 1:3, 0] = 1.0   # relevant: first half of the segment
    >>> [localization(r, labels, bias=b).item() for b in ("flat", "front", "back")]
    [0.5, 0.7, 0.3]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from saliencylab.data.segmentation import run_ids
from saliencylab.errors import (
    ConfigError,
    NotApplicableError,
    ShapeError,
    UnknownNameError,
    check_nonfinite,
)
from saliencylab.explain.api import check_model_layout
from saliencylab.metrics._common import batch_size_of, model_inputs, model_outputs, pass_rows
from saliencylab.metrics.protocol import (
    MetricContext,
    MetricOutput,
    as_context,
    require,
    valid_steps,
)
from saliencylab.metrics.registry import Metric, register_metric
from saliencylab.utils import chunks, eval_mode, model_device

__all__ = [
    "BIASES",
    "SegmentRecall",
    "dominant_class",
    "localization",
    "localization_score",
    "positional_bias",
    "predicted_segmentation",
    "range_recall",
    "relevant_steps",
]

#: Positional biases δ of [TAT].
BIASES: tuple[str, ...] = ("flat", "front", "middle", "back")

#: [OBJ]'s relevance threshold θ (fraction of the sample's largest |relevance|).
DEFAULT_THETA = 0.5

Cardinality = str | Callable[[torch.Tensor], torch.Tensor]


def _accum_dtype(device: torch.device) -> torch.dtype:
    # float64 sums keep hand-computable values exact; MPS has no float64
    return torch.float32 if device.type == "mps" else torch.float64


def positional_bias(position: torch.Tensor, length: torch.Tensor, bias: str) -> torch.Tensor:
    """δ(k, L) of [TAT] for 1-based positions ``k`` inside ranges of length ``L`` (float).

    Example:
        >>> k = torch.arange(1, 6)
        >>> positional_bias(k, torch.tensor(5), "middle").tolist()
        [1.0, 2.0, 3.0, 2.0, 1.0]
    """
    dtype = _accum_dtype(position.device)
    k, n = position.to(dtype), length.to(dtype)
    if bias == "flat":
        return torch.ones_like(k + n)
    if bias == "front":
        return n - k + 1
    if bias == "back":
        return k + 0 * n
    if bias == "middle":
        return torch.where(k <= n / 2, k, n - k + 1)
    raise UnknownNameError("positional bias", bias, BIASES)


def _check_labels(labels: torch.Tensor, name: str = "labels") -> None:
    if labels.dim() != 2:
        raise ShapeError(f"{name} must be per-step class labels (B, T), got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ShapeError(f"{name} must be integer class labels, got dtype {labels.dtype}")


def _check_localization_options(background: object, absolute: object) -> None:
    if isinstance(background, bool) or not isinstance(background, int):
        raise ConfigError(f"background must be the int label of 'no class', got {background!r}")
    if not isinstance(absolute, bool):
        raise ConfigError(f"absolute must be True or False, got {absolute!r}")


def check_localization_options(
    *, theta: object = DEFAULT_THETA, alpha: object = 0.0, bias: object = "flat",
    cardinality: object = "one", background: object = 0, target: object = None,
    absolute: object = True, reference_quirks: object = False,
) -> None:
    """``ConfigError`` (``UnknownNameError`` for a name) for a :func:`localization_score`
    option out of its range."""
    for name, value, interval, ok in (
        ("theta", theta, "[0, 1)", lambda v: 0 <= v < 1),
        ("alpha", alpha, "[0, 1]", lambda v: 0 <= v <= 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not ok(value):
            raise ConfigError(f"{name} must be in {interval}, got {value!r}")
    if bias not in BIASES:
        raise UnknownNameError("positional bias", bias, BIASES)
    if not callable(cardinality) and cardinality not in ("one", "reciprocal"):
        raise UnknownNameError("cardinality", cardinality, ("one", "reciprocal"))
    _check_localization_options(background, absolute)
    if isinstance(target, str) and target != "label":
        raise ConfigError(f"target must be an int, a (B,) tensor, 'label' or None, got "
                          f"{target!r}")
    if not isinstance(reference_quirks, bool):
        raise ConfigError(f"reference_quirks must be True or False, got {reference_quirks!r}")
    if reference_quirks and target is not None:
        raise ConfigError("reference_quirks picks each sample's target class (its most frequent "
                          "labelled class); leave target unset")


def relevant_steps(attributions: torch.Tensor, theta: float = DEFAULT_THETA,
                   absolute: bool = True) -> torch.Tensor:
    """Boolean ``(B, T)``: some channel's relevance at t exceeds θ · max over the sample [OBJ].

    With ``absolute`` (default) magnitudes are compared, |r_tf| > θ·max|r|; otherwise only
    positive relevance counts, r_tf > θ·max r. An all-zero map has no relevant step.

    Example:
        >>> r = torch.tensor([[[0.2, -1.0], [0.4, 0.0], [0.6, 0.1]]])
        >>> relevant_steps(r).tolist()
        [[True, False, True]]
    """
    if attributions.dim() != 3:
        raise ShapeError(f"attributions must be (B, T, F), got {tuple(attributions.shape)}")
    if not 0.0 <= float(theta) < 1.0:
        raise ConfigError(f"theta must be in [0, 1), got {theta!r}")
    check_nonfinite(attributions, "attributions")
    r = attributions.abs() if absolute else attributions
    top = r.flatten(1).amax(dim=1)[:, None, None]
    return ((r > theta * top) & (r > 0)).any(dim=2)


def predicted_segmentation(
    attributions: torch.Tensor,
    predictions: torch.Tensor,
    *,
    theta: float = DEFAULT_THETA,
    background: int = 0,
    absolute: bool = True,
) -> torch.Tensor:
    """Per-step classes ``(B, T)``: the prediction at relevant steps, ``background`` elsewhere.

    Example:
        >>> r = torch.tensor([[[1.0], [0.1], [0.9]]])
        >>> predicted_segmentation(r, torch.tensor([[2, 2, 1]])).tolist()
        [[2, 0, 1]]
    """
    _check_labels(predictions, "predictions")
    relevant = relevant_steps(attributions, theta, absolute)
    if predictions.shape != relevant.shape:
        raise ShapeError(f"predictions must be (B, T) = {tuple(relevant.shape)}, got "
                         f"{tuple(predictions.shape)}")
    return torch.where(relevant, predictions, torch.full_like(predictions, background))


@dataclass
class SegmentRecall:
    """Per labelled segment: its sample, [start, end) steps, class, and the [TAT] terms.

    All fields are 1-D tensors of the same length (one entry per labelled segment).
    """

    sample: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    cls: torch.Tensor
    existence: torch.Tensor
    overlap: torch.Tensor
    recall: torch.Tensor
    n_overlapping: torch.Tensor

    def per_sample(self, n_samples: int) -> torch.Tensor:
        """Mean recall over each sample's segments, ``(n_samples,)``; NaN for a sample without
        any labelled segment (the score is undefined there; aggregate with ``nanmean``)."""
        dtype = self.recall.dtype
        total = torch.zeros(n_samples, dtype=dtype, device=self.recall.device)
        count = torch.zeros(n_samples, dtype=dtype, device=self.recall.device)
        total.index_add_(0, self.sample, self.recall)
        count.index_add_(0, self.sample, torch.ones_like(self.recall))
        return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, torch.nan))


def _cardinality_factor(x: torch.Tensor, cardinality: Cardinality) -> torch.Tensor:
    """γ applied where a segment overlaps more than one predicted range (factor 1 otherwise)."""
    dtype = _accum_dtype(x.device)
    if callable(cardinality):
        gamma = torch.as_tensor(cardinality(x.clamp(min=1)), dtype=dtype, device=x.device)
    elif cardinality == "one":
        gamma = torch.ones_like(x, dtype=dtype)
    elif cardinality == "reciprocal":
        gamma = 1.0 / x.clamp(min=1).to(dtype)
    else:
        raise UnknownNameError("cardinality", cardinality, ("one", "reciprocal"))
    return torch.where(x > 1, gamma, torch.ones_like(gamma))


def range_recall(
    labels: torch.Tensor,
    predicted: torch.Tensor,
    *,
    alpha: float = 0.0,
    bias: str = "flat",
    cardinality: Cardinality = "one",
    background: int = 0,
) -> SegmentRecall:
    """Range-based recall [TAT] of every labelled segment of ``labels`` against ``predicted``.

    Args:
        labels: true per-step classes ``(B, T)``; maximal runs of a class != ``background`` are
            the segments R_i.
        predicted: predicted per-step classes ``(B, T)``; the predicted ranges of a segment are
            the runs of its class.
        alpha: weight of the existence reward (``[0, 1]``; [OBJ]: 0).
        bias: positional bias δ, one of :data:`BIASES`.
        cardinality: γ: "one" (factor 1, [OBJ]), "reciprocal" (1/x for x overlapping ranges),
            or a callable mapping the counts ``x`` (tensor) to factors.
        background: the "no class" label.

    Example:
        >>> y = torch.tensor([[1, 1, 1, 1, 0, 2, 2]])
        >>> p = torch.tensor([[1, 0, 0, 1, 0, 0, 0]])
        >>> rr = range_recall(y, p, cardinality="reciprocal")
        >>> rr.recall.tolist(), rr.n_overlapping.tolist()
        ([0.25, 0.0], [2, 0])
    """
    _check_labels(labels)
    _check_labels(predicted, "predicted")
    if predicted.shape != labels.shape:
        raise ShapeError(f"predicted must have the labels' shape {tuple(labels.shape)}, got "
                         f"{tuple(predicted.shape)}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha!r}")
    if bias not in BIASES:
        raise UnknownNameError("positional bias", bias, BIASES)
    n, t = labels.shape
    device = labels.device
    predicted = predicted.to(device)
    ids, starts = run_ids(labels)
    n_runs = int(ids[-1, -1]) + 1 if labels.numel() else 0
    flat_ids = ids.flatten()
    steps = torch.arange(t, device=device).expand(n, t)
    position = steps - starts + 1
    length = torch.zeros(n_runs, dtype=torch.long, device=device)
    length.index_add_(0, flat_ids, torch.ones_like(flat_ids))
    delta = positional_bias(position, length[ids], bias)

    hit = predicted == labels  # a step of R_i predicted as R_i's class
    # a predicted range of the class starts inside R_i where a hit follows a non-hit (or the
    # segment's first step): counts the distinct predicted ranges overlapping R_i
    prev_hit = torch.zeros_like(hit)
    prev_hit[:, 1:] = hit[:, :-1]
    range_start = hit & ((position == 1) | ~prev_hit)

    dtype = _accum_dtype(device)

    def per_run(values: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(n_runs, dtype=dtype, device=device)
        return out.index_add_(0, flat_ids, values.flatten().to(dtype))

    weight_hit, weight_all = per_run(delta * hit), per_run(delta)
    n_hits, n_ranges = per_run(hit), per_run(range_start).long()
    omega = weight_hit / weight_all
    existence = (n_hits > 0).to(dtype)
    overlap = _cardinality_factor(n_ranges, cardinality) * omega
    recall = alpha * existence + (1.0 - alpha) * overlap

    first = position == 1
    run_sample = steps.new_zeros(n_runs)
    run_sample[ids[first]] = torch.arange(n, device=device)[:, None].expand(n, t)[first]
    run_start = starts[first]
    run_cls = labels[first]
    keep = run_cls != background
    return SegmentRecall(
        sample=run_sample[keep], start=run_start[keep],
        end=(run_start + length)[keep], cls=run_cls[keep],
        existence=existence[keep], overlap=overlap[keep], recall=recall[keep],
        n_overlapping=n_ranges[keep],
    )


def dominant_class(labels: torch.Tensor, background: int = 0) -> torch.Tensor:
    """Each sample's most frequent class other than ``background`` ``(B,)`` (the smaller class
    on a tie; -1 for a sample without a labelled step), the one class per sample that [OBJ]'s
    released evaluation code explains and scores.

    Example:
        >>> dominant_class(torch.tensor([[0, 2, 2, 1, 0], [0, 0, 0, 0, 0]])).tolist()
        [2, -1]
    """
    _check_labels(labels)
    n_classes = int(labels.max()) + 1 if labels.numel() else 1
    counts = torch.zeros(len(labels), max(n_classes, background + 1), dtype=torch.long,
                         device=labels.device)
    counts.scatter_add_(1, labels.clamp(min=0), (labels >= 0).long())
    counts[:, background] = 0
    top = counts.argmax(dim=1)
    return torch.where(counts.amax(dim=1) > 0, top, torch.full_like(top, -1))


def localization(
    attributions: torch.Tensor,
    labels: torch.Tensor,
    predictions: torch.Tensor | None = None,
    *,
    theta: float = DEFAULT_THETA,
    alpha: float = 0.0,
    bias: str = "flat",
    cardinality: Cardinality = "one",
    background: int = 0,
    target: int | torch.Tensor | None = None,
    absolute: bool = True,
) -> torch.Tensor:
    """[OBJ] localization per sample: mean range-based recall [TAT] of the labelled segments.

    Args:
        attributions: saliency maps ``(B, T, F)``.
        labels: true per-step classes ``(B, T)`` (``background`` = no class).
        predictions: the model's per-step classes ``(B, T)``; relevant steps take them. None
            assumes the model predicts the labels, so a segment's step counts as found iff it is
            relevant (pure relevance localization).
        theta: relevance threshold θ as a fraction of the sample's max |relevance| ([OBJ] 0.5).
        alpha, bias, cardinality: the [TAT] recall options (see :func:`range_recall`).
        background: the "no class" label.
        target: only score segments of this class (an int, or ``(B,)`` one per sample), e.g. the
            class the map was computed for.
        absolute: compare |relevance| (default) or signed relevance with θ·max.

    Returns:
        ``(B,)`` float64 scores in [0, 1], higher is better; NaN for a sample with no labelled
        segment (of class ``target``), where the score is undefined.

    Example:
        >>> labels = torch.tensor([[0, 2, 2, 0], [1, 1, 0, 0]])
        >>> r = torch.zeros(2, 4, 3); r[0, 1:3] = 1.0; r[1, 2:] = 1.0
        >>> localization(r, labels).tolist()   # exactly on / entirely outside the segment
        [1.0, 0.0]
    """
    _check_labels(labels)
    _check_localization_options(background, absolute)
    if attributions.dim() != 3 or attributions.shape[:2] != labels.shape:
        raise ShapeError(f"attributions must be (B, T, F) with (B, T) = {tuple(labels.shape)}, "
                         f"got {tuple(attributions.shape)}")
    labels = labels.to(attributions.device)
    if predictions is None:
        predictions = labels
    predictions = predictions.to(attributions.device)
    predicted = predicted_segmentation(attributions, predictions, theta=theta,
                                       background=background, absolute=absolute)
    rr = range_recall(labels, predicted, alpha=alpha, bias=bias, cardinality=cardinality,
                      background=background)
    if target is not None:
        tgt = torch.as_tensor(target, device=labels.device).long()
        if tgt.dim() == 0:
            tgt = tgt.expand(len(labels))
        if tgt.shape != (len(labels),):
            raise ShapeError(f"target must be an int or (B,) = ({len(labels)},), got "
                             f"{tuple(tgt.shape)}")
        keep = rr.cls == tgt[rr.sample]
        rr = SegmentRecall(*(getattr(rr, f)[keep] for f in SegmentRecall.__dataclass_fields__))
    return rr.per_sample(len(labels))


@torch.no_grad()
def _predict_steps(model: nn.Module, x: torch.Tensor, batch_size: int | None,
                   valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step arg-max classes ``(B, T)`` of a segmenter (a classifier's class for every step)
    and the arg-max of its logits summed over the (valid) steps ``(B,)``."""
    device = model_device(model)
    steps, summed = [], []
    with eval_mode(model):
        for sl in chunks(len(x), pass_rows(x[0].numel(), batch_size)):
            logits = model_outputs(model, x[sl].to(device))
            if logits.dim() == 2:
                logits = logits[:, None, :].expand(-1, x.shape[1], -1)
            if logits.dim() != 3 or logits.shape[1] != x.shape[1]:
                raise ShapeError(f"the model must return (B, T, C) or (B, C) logits, got "
                                 f"{tuple(logits.shape)}")
            steps.append(logits.argmax(-1))
            if valid is not None:
                logits = logits * valid[sl].to(device).unsqueeze(-1)
            summed.append(logits.sum(dim=1).argmax(-1))
    return torch.cat(steps), torch.cat(summed)


def _scored_inputs(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None,
    attributions: torch.Tensor,
    context: MetricContext | None,
    background: int,
    target: int | torch.Tensor | str | None,
    reference_quirks: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int | torch.Tensor | None]:
    """What :func:`localization` scores for :func:`localization_score` and
    :func:`localization_biases`: ``(attributions, labels, predictions, target)`` checked, on one
    device, padding cleared; the model runs once however many biases are scored. With
    ``reference_quirks`` the target is each sample's dominant class (-1, so NaN, for a sample
    left out) and the labels stand in for the predictions (relevance alone decides)."""
    context = as_context(context)
    check_model_layout(model, x)
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        raise NotApplicableError("localization scores per-step segments of time series (B, T, "
                                 f"F); got images of shape {tuple(x.shape)}")
    if not isinstance(x, torch.Tensor) or not isinstance(attributions, torch.Tensor) or \
            x.dim() != 3 or x.shape != attributions.shape:
        got = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
               for t in (x, attributions)]
        raise ShapeError(f"x and attributions must both be (B, T, F) of the same shape, got "
                         f"{got[0]} and {got[1]}")
    labels = require(context, "segments", "localization", "the true per-step labels (B, T)")
    labels = torch.as_tensor(labels).to(attributions.device)
    _check_labels(labels, "context.segments")
    if labels.shape != attributions.shape[:2]:
        raise ShapeError(f"context.segments must be (B, T) = {tuple(attributions.shape[:2])}, "
                         f"got {tuple(labels.shape)}")
    if isinstance(target, str):
        if target != "label":
            raise ConfigError(f"target must be an int, a (B,) tensor, 'label' or None, got "
                              f"{target!r}")
        if y is None:
            raise ConfigError("target='label' scores the segments of y's classes; y is None")
        target = y
    batch_size = batch_size_of(context, None)
    x = model_inputs(model, x.detach().to(model_device(model)))
    valid = valid_steps(context, attributions)
    predictions, summed = (p.to(attributions.device) for p in
                           _predict_steps(model, x, batch_size, valid))
    if valid is not None:  # padding: neither relevant nor labelled
        attributions = attributions.masked_fill(~valid.unsqueeze(-1), 0.0)
        labels = labels.masked_fill(~valid, background)
        predictions = predictions.masked_fill(~valid, background)
    if reference_quirks:
        target = dominant_class(labels, background)
        scored = (summed == target) & (attributions.flatten(1) != 0).any(dim=1)
        target = torch.where(scored, target, torch.full_like(target, -1))
        predictions = labels
    return attributions, labels, predictions, target


def localization_score(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None,
    attributions: torch.Tensor,
    *,
    context: MetricContext | None = None,
    theta: float = DEFAULT_THETA,
    alpha: float = 0.0,
    bias: str = "flat",
    cardinality: Cardinality = "one",
    background: int = 0,
    target: int | torch.Tensor | str | None = None,
    absolute: bool = True,
    reference_quirks: bool = False,
) -> torch.Tensor:
    """[OBJ] §3.6 localization per sample with the predictions of ``model`` on ``x`` (per-step
    arg-max): :func:`localization` in the common metric call shape.

    Args:
        model: a segmenter returning ``(B, T, C)`` logits (or a classifier: its class for every
            step).
        x: ``(B, T, F)`` inputs; attributions: maps of ``x``'s shape.
        y: the classes the maps explain ``(B,)``; read only with ``target="label"``.
        context: ``segments`` (required: true per-step labels ``(B, T)``), ``batch_size``
            (default: sized by the memory budget), ``valid`` (ragged series: padded steps are
            neither relevant nor labelled). Deterministic, no re-explanation.
        theta, alpha, bias, cardinality, background, absolute: as :func:`localization`.
        target: only score segments of this class: an int, a ``(B,)`` tensor, ``"label"``
            (``y``), or None (every labelled segment).
        reference_quirks: score as [OBJ]'s released code (module docstring): each sample's
            dominant class only, relevance alone, misclassified samples left out.

    Returns:
        ``(B,)`` scores (higher is better; NaN where a sample has no labelled segment).

    Example:
        >>> from saliencylab.models import build_model
        >>> model = build_model("utime", n_features=2, n_time=16, n_classes=3, seed=0)
        >>> x, seg = torch.randn(4, 16, 2), torch.randint(0, 3, (4, 16))
        >>> ctx = MetricContext(segments=seg)
        >>> localization_score(model, x, None, torch.rand(4, 16, 2), context=ctx).shape
        torch.Size([4])
    """
    check_localization_options(theta=theta, alpha=alpha, bias=bias, cardinality=cardinality,
                               background=background, target=target, absolute=absolute,
                               reference_quirks=reference_quirks)
    attributions, labels, predictions, target = _scored_inputs(
        model, x, y, attributions, context, background, target, reference_quirks)
    return localization(attributions, labels, predictions, theta=theta, alpha=alpha, bias=bias,
                        cardinality=cardinality, background=background, target=target,
                        absolute=absolute)


def localization_biases(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None,
    attributions: torch.Tensor,
    *,
    context: MetricContext | None = None,
    theta: float = DEFAULT_THETA,
    alpha: float = 0.0,
    cardinality: Cardinality = "one",
    background: int = 0,
    target: int | torch.Tensor | str | None = None,
    absolute: bool = True,
    reference_quirks: bool = False,
) -> MetricOutput:
    """:func:`localization_score` under each positional bias of [TAT] at once
    (``localization_flat``, ``_front``, ``_middle``, ``_back``), as [OBJ] Figures 3 and 6 show
    them side by side; the other options as :func:`localization_score`.

    Example:
        >>> from saliencylab.models import build_model
        >>> model = build_model("utime", n_features=2, n_time=16, n_classes=3, seed=0)
        >>> x, seg = torch.randn(4, 16, 2), torch.randint(0, 3, (4, 16))
        >>> out = localization_biases(model, x, None, torch.rand(4, 16, 2),
        ...                           context=MetricContext(segments=seg))
        >>> sorted(out.per_sample)
        ['localization_back', 'localization_flat', 'localization_front', 'localization_middle']
    """
    check_localization_options(theta=theta, alpha=alpha, cardinality=cardinality,
                               background=background, target=target, absolute=absolute,
                               reference_quirks=reference_quirks)
    attributions, labels, predictions, target = _scored_inputs(
        model, x, y, attributions, context, background, target, reference_quirks)
    return MetricOutput(per_sample={
        f"localization_{bias}": localization(
            attributions, labels, predictions, theta=theta, alpha=alpha, bias=bias,
            cardinality=cardinality, background=background, target=target, absolute=absolute)
        for bias in BIASES})


register_metric(Metric(
    "localization_biases", localization_biases, "localization", True,
    "localization under the flat, front, middle and back positional biases of [TAT]",
    references=("OBJ §3.6", "OBJ Figure 3", "TAT"), needs=frozenset({"segments"}),
    modalities=("time_series",), task="segmentation",
    outputs={f"localization_{b}": True for b in BIASES},
    check_options=check_localization_options,
))

register_metric(Metric(
    "localization", localization_score, "localization", True,
    "mean range-based recall [TAT] of the labelled segments by the steps whose max channel "
    "|relevance| exceeds 0.5 max (NaN for samples without segments)",
    references=("OBJ §3.6", "TAT"), needs=frozenset({"segments"}),
    modalities=("time_series",), task="segmentation",
    check_options=check_localization_options,
))
