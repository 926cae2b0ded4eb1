"""Score one method's maps with many metrics: each family once, seeded and timed.

:func:`score` is what a benchmark cell or ``saliencylab evaluate`` calls: given the names from
:func:`~saliencylab.metrics.resolve_metrics`, it computes every registry entry they need once
(``aup`` and ``aur`` are one [TSB] ground-truth call; ``completeness`` and ``soundness`` one [CS]
certification call), gives each its own generator ``make_generator(seed + seed_offset)`` and
returns :class:`Scores`: per-sample scores, the families' extra rows and arrays, and seconds.

Example:
    >>> import torch
    >>> from saliencylab.metrics import MetricContext, make_explain_fn, score
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 2))
    >>> x, y = torch.rand(4, 10, 2), torch.tensor([0, 1, 0, 1])
    >>> ctx = MetricContext(explain_fn=make_explain_fn("gradient"))
    >>> s = score(net, x, y, torch.rand(4, 10, 2), ["faithfulness", "insertion"], context=ctx)
    >>> sorted(s.per_sample), s.per_sample["insertion"].shape
    (['faithfulness', 'insertion'], torch.Size([4]))
    >>> [r[:2] for r in s.rows()][:3]
    [('faithfulness', 'mean'), ('faithfulness', 'se'), ('faithfulness', 'n')]
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from saliencylab.errors import ConfigError, NotApplicableError, ShapeError
from saliencylab.metrics.aggregate import mean_se, summary_rows
from saliencylab.metrics.protocol import MetricContext, MetricOutput, as_context
from saliencylab.metrics.registry import NEEDS, Metric, family_options, get_metric
from saliencylab.utils import make_generator

__all__ = ["Scores", "score"]

#: What each need reads from the context, for the message when it is missing.
_NEED_TEXT = {
    "groundtruth": "context.groundtruth (the known informative cells of synthetic data)",
    "background": "context.background (a sampler of fresh uninformative draws)",
    "segments": "context.segments (per-step labels (N, T) of segmentation data)",
    "distractors": "context.distractors (a pool of training inputs)",
}


@dataclass
class Scores:
    """Per-sample scores of :func:`score`, the families' extra rows and arrays, and timings.

    Attributes:
        per_sample: ``metric -> (N,)`` float CPU scores (NaN = undefined for that sample).
        seconds: ``registry entry -> seconds`` (a family is timed once, e.g. ``groundtruth``).
        extra_rows: rows the families add (the [TSB] curves and AUP, AUR, ...), in order.
        extra_arrays: per-sample arrays the families keep (e.g. ``(n_d, N)`` precision).
        results: ``family -> result object`` (e.g. the ``GroundTruthResult``).
    """

    per_sample: dict[str, Tensor]
    seconds: dict[str, float]
    extra_rows: list[tuple[str, str, float]] = field(default_factory=list)
    extra_arrays: dict[str, Tensor] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str, float]]:
        """``(metric, statistic, value)`` rows for the results store: per metric ``mean`` (if
        defined), ``se`` (if defined, n > 1) and ``n``; then the families' extra rows; then
        ``(name, "seconds", value)`` timings."""
        rows: list[tuple[str, str, float]] = []
        for name, values in self.per_sample.items():
            rows += summary_rows(name, *mean_se(values))
        rows += self.extra_rows
        rows += [(name, "seconds", float(s)) for name, s in self.seconds.items()]
        return rows

    def arrays(self) -> dict[str, np.ndarray]:
        """Per-sample scores and the families' arrays as NumPy arrays (for storage)."""
        out = {k: v.detach().cpu().numpy() for k, v in self.extra_arrays.items()}
        out.update({k: v.detach().cpu().numpy() for k, v in self.per_sample.items()})
        return out


def _plan(metrics: Sequence[str] | str) -> dict[str, tuple[Metric, list[str]]]:
    """``entry name -> (Metric, requested score names)`` in the order first requested."""
    if isinstance(metrics, str):
        metrics = [t for t in (s.strip() for s in metrics.split(",")) if t]
    if not isinstance(metrics, Sequence) or not metrics:
        raise ConfigError("score needs a non-empty list of metric names (see "
                          "saliencylab.metrics.resolve_metrics)")
    plan: dict[str, tuple[Metric, list[str]]] = {}
    for name in metrics:
        metric = get_metric(name)
        key = str(name).strip().lower()
        wanted = (list(metric.outputs) if metric.outputs and key == metric.name
                  else [key])
        entry = plan.setdefault(metric.name, (metric, []))
        entry[1].extend(n for n in wanted if n not in entry[1])
    return plan


def _check_needs(metric: Metric, context: MetricContext, options: Mapping[str, Any],
                 names: list[str]) -> None:
    """Fail before any work when the context lacks what a metric reads."""
    who = ", ".join(names) + (" need" if len(names) > 1 else " needs")
    if "explain_fn" in metric.needs and context.explain_fn is None and \
            options.get("target") != "label":
        raise ConfigError(f"{who} context.explain_fn(model, inputs, target) -> attributions (they "
                          "re-explain inputs); build one with "
                          "saliencylab.metrics.make_explain_fn(method, ...)")
    missing = [need for need in NEEDS if need != "explain_fn" and need in metric.needs
               and getattr(context, need) is None]
    if options.get("fill") == "distractor" and context.distractors is None:
        missing.append("distractors")
    if missing:
        raise NotApplicableError(f"{who} " + " and ".join(_NEED_TEXT[m] for m in missing))


def score(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor,
    metrics: Sequence[str],
    *,
    context: MetricContext | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
) -> Scores:
    """Score one method's maps with ``metrics``, per sample, each family computed once.

    Args:
        model: the network the maps explain (its device is used; its modes are restored).
        x, y: inputs (series ``(N, T, F)`` or images ``(N, C, H, W)``) and ``(N,)`` labels.
        attributions: the maps of ``x`` for ``y``; ``context.explain_fn`` must make maps with
            the same settings (method, parameters, post-processing) for the metrics that
            re-explain.
        metrics: score names (from :func:`~saliencylab.metrics.resolve_metrics`); a family's
            name stands for all its outputs.
        context: what the metrics read besides the maps (:class:`MetricContext`).
        options: per-metric options, e.g. ``{"robustness": {"radius": 0.2},
            "certification": {"fill": "distractor"}}``; checked before any work.
        seed: each family gets ``generator=make_generator(seed + metric.seed_offset)``, unless
            ``context.generator`` is a ``torch.Generator`` (then all share it, in order).

    Returns:
        :class:`Scores`; with any ground-truth output requested, its extra rows are all of
        ``GroundTruthResult.to_rows()``.

    Raises:
        UnknownNameError, ConfigError: an unknown name or option, or a missing explain_fn.
        NotApplicableError: the context lacks data a metric needs.
    """
    context = as_context(context)
    opts = family_options(options)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ConfigError(f"seed must be an int, got {seed!r}")
    plan = _plan(metrics)
    for name, (metric, names) in plan.items():
        _check_needs(metric, context, opts.get(name, {}), names)

    n = x.shape[0] if isinstance(x, Tensor) and x.dim() > 0 else None
    shared = context.generator if isinstance(context.generator, torch.Generator) else None
    per_sample: dict[str, Tensor] = {}
    scores = Scores(per_sample=per_sample, seconds={})
    for name, (metric, names) in plan.items():
        gen = shared if shared is not None else make_generator(int(seed) + metric.seed_offset)
        t0 = time.perf_counter()
        out = metric.fn(model, x, y, attributions, context=context.replace(generator=gen),
                        **opts.get(name, {}))
        scores.seconds[name] = time.perf_counter() - t0
        if isinstance(out, MetricOutput):
            for key in names:
                if key in out.per_sample:
                    per_sample[key] = _per_sample(out.per_sample[key], n, key)
            scores.extra_rows += list(out.rows)
            scores.extra_arrays.update(out.arrays)
            if out.result is not None:
                scores.results[name] = out.result
        else:
            per_sample[name] = _per_sample(out, n, name)
    return scores


def _per_sample(values: Any, n: int | None, name: str) -> Tensor:
    if not isinstance(values, Tensor) or values.dim() != 1 or (n is not None and
                                                                values.shape[0] != n):
        got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ShapeError(f"metric {name} must return ({n},) per-sample scores, got {got}")
    return values.detach().float().cpu()
