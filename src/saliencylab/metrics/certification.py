"""Completeness and soundness of [CS] Gupta, Saunshi, Yu, Lyu, Arora, *New Definitions and
Evaluations for Saliency Methods: Staying Intrinsic, Complete and Sound*, NeurIPS 2022 (§3:
Equation (1) and Definition 3.7; evaluated as in App. D).

- :func:`certify`: ``AUC_a`` = mean class-``a`` probability over the insertion curve, ``p_a`` the
  clean probability; completeness ``c_a = min(max(eps1, AUC_a) / p_a, 1)``, soundness
  ``s_a = min(max(eps2, p_a) / AUC_a, 1)``, eps1 = 0.01, eps2 = 0.1; the worst case over the
  labels scored (by default the predicted and the second most likely one).
- :func:`certify_masks`: the same ratios for one (soft or binary) mask instead of a curve.
- :func:`certification_scores`: the registry's ``certification`` family in the common metric
  call shape: one :func:`certify` call on the maps of the predicted and the second most likely
  label (re-explained with ``context.explain_fn``), yielding ``completeness`` and
  ``soundness``.

The masking games (deletion, insertion, the Saliency Metric) are in
:mod:`saliencylab.metrics.games`; their names stay importable from here.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3))
    >>> r = certify(net, torch.rand(5, 2, 4), torch.rand(5, 2, 4))
    >>> r.worst_completeness.shape
    torch.Size([5])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.errors import InvalidDataError
from saliencylab.metrics._common import (
    batch_size_of,
    check_number,
    maps_for_targets,
    protocol_inputs,
)
from saliencylab.metrics._masking import (
    DEFAULT_FRACTIONS,
    Fill,
    canonical_maps,
    check_n_distractors,
    class_probability,
    fractions_of,
    inputs_and_labels,
    keep_top,
    masked_probabilities,
    resolve_fill,
    top_labels,
)
from saliencylab.metrics._masking import check_inputs as _check_model_inputs
from saliencylab.metrics.games import (  # importable from here for existing callers
    DEFAULT_THRESHOLDS,
    GameResult,
    check_fill_spec,
    deletion_curve,
    deletion_game,
    insertion_curve,
    insertion_game,
    protocol_fill,
    saliency_boxes,
    saliency_metric,
    tune_saliency_threshold,
)
from saliencylab.metrics.protocol import MetricContext, MetricOutput, as_context
from saliencylab.metrics.registry import Metric, register_metric
from saliencylab.targets import targets_2d
from saliencylab.utils import resolve_generator

__all__ = [
    "DEFAULT_FRACTIONS",
    "DEFAULT_THRESHOLDS",
    "EPS_COMPLETENESS",
    "EPS_SOUNDNESS",
    "CertificationResult",
    "GameResult",
    "certification_scores",
    "certify",
    "certify_masks",
    "class_probability",
    "completeness",
    "deletion_curve",
    "deletion_game",
    "insertion_curve",
    "insertion_game",
    "keep_top",
    "masked_probability",
    "saliency_boxes",
    "saliency_metric",
    "soundness",
    "top_labels",
    "tune_saliency_threshold",
]

EPS_COMPLETENESS = 0.01  # [CS] eps_1
EPS_SOUNDNESS = 0.1  # [CS] eps_2


def completeness(auc: Tensor, clean: Tensor, eps: float = EPS_COMPLETENESS) -> Tensor:
    """``c_a = min(max(eps1, AUC_a) / p_a, 1)`` [CS].

    >>> completeness(torch.tensor([0.45, 0.9]), torch.tensor([0.9, 0.9])).tolist()
    [0.5, 1.0]
    """
    return (auc.clamp_min(eps) / clean).clamp_max(1.0)


def soundness(auc: Tensor, clean: Tensor, eps: float = EPS_SOUNDNESS) -> Tensor:
    """``s_a = min(max(eps2, p_a) / AUC_a, 1)`` [CS].

    >>> soundness(torch.tensor([0.8, 0.05]), torch.tensor([0.2, 0.01])).tolist()
    [0.25, 1.0]
    """
    return (clean.clamp_min(eps) / auc).clamp_max(1.0)


@dataclass
class CertificationResult:
    """Per (sample, label) scores of :func:`certify` / :func:`certify_masks`.

    ``labels`` ``(B, L)``; ``auc`` (the curve's mean, or the masked probability for
    :func:`certify_masks`), ``clean``, ``completeness``, ``soundness`` ``(B, L)``; ``curves``
    ``(B, L, P)`` (None for single masks). ``worst_completeness`` / ``worst_soundness`` are the
    minimum over the labels, ``(B,)``.
    """

    labels: Tensor
    auc: Tensor
    clean: Tensor
    completeness: Tensor
    soundness: Tensor
    curves: Tensor | None = None
    fractions: Tensor | None = None

    @property
    def worst_completeness(self) -> Tensor:
        return self.completeness.min(dim=1).values

    @property
    def worst_soundness(self) -> Tensor:
        return self.soundness.min(dim=1).values


def check_eps(eps_completeness: Any, eps_soundness: Any) -> None:
    """[CS]'s eps1 / eps2 are probability floors: finite numbers in (0, 1] (0 would divide a
    zero probability by zero)."""
    check_number(eps_completeness, "eps_completeness", 0, 1, low_open=True)
    check_number(eps_soundness, "eps_soundness", 0, 1, low_open=True)


def check_certification_options(
    *, fill: Any = None, fractions: Any = None, n_distractors: Any = 10,
    eps_completeness: Any = EPS_COMPLETENESS, eps_soundness: Any = EPS_SOUNDNESS,
) -> None:
    """``ConfigError`` for a :func:`certification_scores` option out of its range."""
    check_fill_spec(fill)
    fractions_of(fractions)
    check_n_distractors(n_distractors)
    check_eps(eps_completeness, eps_soundness)


def _certificate(
    model: nn.Module, inputs: Tensor, lab: Tensor, auc: Tensor, *, eps_completeness: float,
    eps_soundness: float, batch_size: int | None, **curves: Tensor,
) -> CertificationResult:
    """The ratios of ``auc`` (a curve's mean or a masked probability) to the clean probability."""
    clean = class_probability(model, inputs, lab, batch_size=batch_size)
    return CertificationResult(
        labels=lab, auc=auc, clean=clean, completeness=completeness(auc, clean, eps_completeness),
        soundness=soundness(auc, clean, eps_soundness), **curves,
    )


@torch.no_grad()
def certify(
    model: nn.Module,
    inputs: Tensor,
    maps: Tensor,
    labels: Any = None,
    *,
    fill: Fill = "gray",
    fractions: Sequence[float] | Tensor | None = None,
    n_distractors: int = 10,
    generator: torch.Generator | None = None,
    seed: int = 0,
    eps_completeness: float = EPS_COMPLETENESS,
    eps_soundness: float = EPS_SOUNDNESS,
    batch_size: int | None = None,
    valid: Tensor | None = None,
) -> CertificationResult:
    """Completeness and soundness of saliency maps from their insertion curves [CS] §3.

    Args:
        maps: label-specific ``(B, L, ...)`` maps (e.g. learned masks for each label), or
            ``(B, ...)`` maps used for every label.
        labels: ``(B, L)`` labels; None: the predicted and the second most likely label.
        fill, fractions, n_distractors, generator, seed, batch_size, valid: as
            :func:`~saliencylab.metrics.games.insertion_curve`.
        eps_completeness, eps_soundness: [CS] eps1 = 0.01, eps2 = 0.1.

    Returns:
        A :class:`CertificationResult`; the paper's numbers are the means of
        ``worst_completeness`` and ``worst_soundness``.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3))
        >>> r = certify(net, torch.rand(5, 2, 4), torch.rand(5, 2, 4))
        >>> r.completeness.shape, bool(((r.soundness > 0) & (r.soundness <= 1)).all())
        (torch.Size([5, 2]), True)
    """
    check_eps(eps_completeness, eps_soundness)
    inputs = _check_model_inputs(model, inputs)
    if labels is None:
        labels = top_labels(model, inputs, 2, batch_size=batch_size)
    lab, _ = targets_2d(labels, inputs.shape[0], inputs.device)
    curves = insertion_curve(model, inputs, maps, lab, fractions=fractions, fill=fill,
                             n_distractors=n_distractors, generator=generator, seed=seed,
                             batch_size=batch_size, valid=valid)
    return _certificate(model, inputs, lab, curves.mean(-1), eps_completeness=eps_completeness,
                        eps_soundness=eps_soundness, batch_size=batch_size, curves=curves,
                        fractions=fractions_of(fractions).to(curves.dtype))


def masked_probability(
    model: nn.Module,
    inputs: Tensor,
    masks: Tensor,
    targets: Any,
    *,
    fill: Fill = "gray",
    n_distractors: int = 10,
    generator: torch.Generator | None = None,
    seed: int = 0,
    batch_size: int | None = None,
) -> Tensor:
    """``p_a(M * x + (1 - M) * fill)`` for soft or binary masks (shapes as :func:`certify`);
    with a distractor pool, the mean over ``K`` draws. ``(B,)`` or ``(B, L)``.

    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.rand(3, 2, 2)
    >>> full = masked_probability(net, x, torch.ones(3, 2, 2), 1)
    >>> torch.allclose(full, class_probability(net, x, 1))
    True
    """
    inputs, lab, label_axis = inputs_and_labels(model, inputs, targets, batch_size)
    m = canonical_maps(inputs, masks, lab.shape[1], label_axis)
    if (m < 0).any() or (m > 1).any():
        raise InvalidDataError(f"masks must take values in [0, 1], got values in "
                               f"[{float(m.min()):.3g}, {float(m.max()):.3g}]")
    value, draws = resolve_fill(fill, inputs, n_distractors, generator, seed)
    p = masked_probabilities(model, inputs, m.unsqueeze(0), lab, value, draws, batch_size)[0]
    return p if label_axis else p[:, 0]


def certify_masks(
    model: nn.Module,
    inputs: Tensor,
    masks: Tensor,
    labels: Any,
    *,
    fill: Fill = "gray",
    n_distractors: int = 10,
    generator: torch.Generator | None = None,
    seed: int = 0,
    eps_completeness: float = EPS_COMPLETENESS,
    eps_soundness: float = EPS_SOUNDNESS,
    batch_size: int | None = None,
) -> CertificationResult:
    """[CS] completeness and soundness of single masks: the masked probability in place of the
    curve's mean (the definition [CS] §3 states its theory for: interval masks of a linear
    model certify the true label and never the wrong one).
    """
    check_eps(eps_completeness, eps_soundness)
    inputs = _check_model_inputs(model, inputs)
    lab, _ = targets_2d(labels, inputs.shape[0], inputs.device)
    p = masked_probability(model, inputs, masks, lab, fill=fill, n_distractors=n_distractors,
                           generator=generator, seed=seed, batch_size=batch_size)
    return _certificate(model, inputs, lab, p, eps_completeness=eps_completeness,
                        eps_soundness=eps_soundness, batch_size=batch_size)


def certification_scores(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor | None = None,
    *,
    context: MetricContext | None = None,
    fill: Any = None,
    fractions: Sequence[float] | Tensor | None = None,
    n_distractors: int = 10,
    eps_completeness: float = EPS_COMPLETENESS,
    eps_soundness: float = EPS_SOUNDNESS,
) -> MetricOutput:
    """The [CS] certification family: worst-case completeness and soundness per sample over
    the predicted and the second most likely label, as [CS] App. D reports them.

    The maps of both labels come from ``context.explain_fn`` (the given ``attributions`` serve
    where ``y`` is that label: they were made by the same method); one :func:`certify` call
    scores them on insertion curves.

    Args:
        model, x, y, attributions: the classifier, series ``(N, T, F)`` or images
            ``(N, C, H, W)``, labels and their maps.
        context: ``explain_fn`` (required), ``fill`` (the gray value), ``distractors``,
            ``generator`` (distractor draws), ``batch_size`` (model inputs per pass, default
            sized by the memory budget; also ``explain_fn`` rows), ``valid`` (ragged series).
        fill: None / ``"gray"`` (``context.fill``), ``"distractor"`` (``K`` draws from
            ``context.distractors``), or a number.
        fractions, n_distractors, eps_completeness, eps_soundness: as :func:`certify`.

    Returns:
        A :class:`~saliencylab.metrics.protocol.MetricOutput` with per-sample ``completeness``
        and ``soundness`` (higher is better) and the :class:`CertificationResult` as ``result``.

    Example:
        >>> from saliencylab.metrics import MetricContext, make_explain_fn
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3))
        >>> x, y = torch.rand(4, 4, 2), torch.tensor([0, 1, 2, 0])
        >>> ctx = MetricContext(explain_fn=make_explain_fn("gradient"))
        >>> out = certification_scores(net, x, y, context=ctx)
        >>> sorted(out.per_sample), out.per_sample["soundness"].shape
        (['completeness', 'soundness'], torch.Size([4]))
    """
    # the options first: before any map is made
    check_certification_options(fill=fill, fractions=fractions, n_distractors=n_distractors,
                                eps_completeness=eps_completeness, eps_soundness=eps_soundness)
    protocol_fill(fill, as_context(context), "certification")
    context, x, y, valid = protocol_inputs(model, x, y, attributions, context,
                                           need_attributions=False)
    batch_size = batch_size_of(context, None)
    labels = top_labels(model, x, 2, batch_size=batch_size)
    where = ("predicted label", "second most likely label")
    maps = torch.stack([
        maps_for_targets(context.explain_fn, model, x, labels[:, j], y, attributions,
                         batch_size_of(context, None), where[j], "certification")
        for j in range(2)], dim=1)
    r = certify(model, x, maps, labels, fill=protocol_fill(fill, context, "certification"),
                fractions=fractions, n_distractors=n_distractors,
                generator=resolve_generator(context.generator),
                eps_completeness=eps_completeness, eps_soundness=eps_soundness,
                batch_size=batch_size, valid=valid)
    return MetricOutput(per_sample={"completeness": r.worst_completeness.detach().float().cpu(),
                                    "soundness": r.worst_soundness.detach().float().cpu()},
                        result=r)


register_metric(Metric(
    "certification", certification_scores, "certification", True,
    "[CS] certification: completeness and soundness of the insertion curves of the maps of the "
    "predicted and the second most likely label (worst case of the two)",
    references=("CS §3", "CS App. D"), needs=frozenset({"explain_fn"}),
    modalities=("time_series", "image"), check_options=check_certification_options,
    outputs={"completeness": True, "soundness": True},
    output_descriptions={
        "completeness": "worst case over the predicted and the second most likely label of "
                        "min(max(0.01, AUC_a) / p_a, 1); insertion curve with gray fill, "
                        "label-specific maps",
        "soundness": "worst case over the same two labels of min(max(0.1, p_a) / AUC_a, 1); "
                     "insertion curve with gray fill",
    },
))
