"""Inter-class sensitivity of [OBJ] §3.3.

Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series"
(after Rebuffi et al., CVPR 2020): different classes have different evidence, so a map that
explains the most likely class should differ from the map that explains the least likely one.
Per sample

    S = - cos(M_max(x), M_min(x))

with the maps flattened over (time, channel) (images: over channel, height, width; ragged
series: over the valid steps) and the classes ranked by the model's softmax on
``x``. ``-1`` (identical maps) is the worst value; higher is better. A zero map has cosine 0 with
anything (as scikit-learn's ``cosine_similarity``, used by the reference code).

Both maps of a chunk come from one ``explain_fn`` call (the chunk stacked twice with the two
targets); a chunk holds as many samples as the memory budget allows (usually all: one call in
all), ``context.batch_size`` (inputs per call) overrides it. Given attributions (made by
``explain_fn`` for ``y``) are reused as the most-likely-class map wherever ``y`` is that class,
which halves the work for correctly classified samples.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 3))
    >>> from saliencylab.metrics import MetricContext
    >>> same = lambda model, inputs, target: inputs.abs()          # ignores the class
    >>> x = torch.rand(2, 10, 2)
    >>> ctx = MetricContext(explain_fn=same)
    >>> inter_class_sensitivity(net, x, torch.tensor([0, 1]), context=ctx).tolist()
    [-1.0, -1.0]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.errors import NotApplicableError
from saliencylab.metrics._common import (
    call_explain,
    check_flag,
    check_shared_draws,
    explain_rows,
    on_model_device,
    probabilities,
    reexplain_setup,
)
from saliencylab.metrics.protocol import MetricContext
from saliencylab.metrics.registry import Metric, register_metric
from saliencylab.utils import chunks

__all__ = ["cosine_per_sample", "inter_class_sensitivity"]


def cosine_per_sample(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity of each pair of flattened maps; 0 where a map is all zeros.

    Example:
        >>> cosine_per_sample(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]])).tolist()
        [1.0]
    """
    a = a.reshape(a.shape[0], -1).double()
    b = b.reshape(b.shape[0], -1).double()
    norms = a.norm(dim=1) * b.norm(dim=1)
    dot = (a * b).sum(dim=1)
    return torch.where(norms > 0, dot / norms.clamp_min(1e-300), torch.zeros_like(dot)).clamp(-1, 1)


def inter_class_sensitivity(
    model: nn.Module,
    x: Tensor,
    y: Tensor | None = None,
    attributions: Tensor | None = None,
    *,
    context: MetricContext | None = None,
    shared_draws: bool = False,
) -> Tensor:
    """Inter-class sensitivity per sample ``(N,)``: ``-cos(M_max, M_min)`` ([OBJ] §3.3).

    Args:
        model: classifier returning logits.
        x: series ``(N, T, F)`` or images ``(N, C, H, W)``.
        y, attributions: the maps being scored and their classes (both optional): where
            ``y`` is the most likely class, ``attributions`` serve as its map (they must come
            from ``context.explain_fn``); every other map is computed.
        context: ``explain_fn`` (required) with the method and post-processing being
            evaluated; ``batch_size`` (inputs per ``explain_fn`` call, two per sample; default:
            sized by the memory budget); ``valid`` (ragged series: the cosine is over the valid
            steps). Deterministic given ``explain_fn``.
        shared_draws: make both maps of a sample with its random draws (a sampling
            explainer's baseline, noise or samples), so only the class differs between them;
            by default each map has draws of its own, numbered as if all maps were made in one
            call. Needs an ``explain_fn`` taking ``sample_ids`` (``make_explain_fn``'s does).

    Returns:
        ``(N,)`` float tensor on the CPU, in [-1, 1]; higher is better.
    """
    context, explain_fn, batch_size = reexplain_setup(context, x, y, attributions,
                                                      "inter_class_sensitivity")
    check_sensitivity_options(shared_draws=shared_draws)
    check_shared_draws(shared_draws, explain_fn, "inter_class_sensitivity")
    x, y, valid = on_model_device(model, x, y, context)
    p = probabilities(model, x, batch_size)
    if p.shape[1] < 2:
        raise NotApplicableError(f"inter-class sensitivity needs at least 2 classes, the model "
                                 f"returns {p.shape[1]} logit(s)")
    hi, lo = p.argmax(dim=1), p.argmin(dim=1)
    if attributions is not None and y is not None:
        given = attributions.detach().to(x.device)
        reuse = y == hi
    else:
        given, reuse = None, torch.zeros_like(hi, dtype=torch.bool)
    per_call = explain_rows(x[0].numel(), batch_size, copies=2)
    # A sampling explainer's draws are numbered as if every map were made in one call (the
    # most likely class's maps still needed, then every least likely one), whatever the chunks.
    need_all = (~reuse).cpu()
    rank, n_need = need_all.long().cumsum(0) - 1, int(need_all.sum())
    out = []
    for sl in chunks(x.shape[0], per_call):
        xs, need = x[sl], ~reuse[sl]
        inputs = torch.cat([xs[need], xs])
        samples = torch.arange(sl.start, sl.stop)
        ids = (torch.cat([samples[need_all[sl]], samples]) if shared_draws else
               torch.cat([rank[sl][need_all[sl]], n_need + samples]))
        maps = call_explain(explain_fn, model, inputs, torch.cat([hi[sl][need], lo[sl]]), ids,
                            "most and least likely class")
        k = int(need.sum())
        m_lo = maps[k:]
        m_hi = maps[:k] if given is None else given[sl].clone()
        if given is not None:
            m_hi[need] = maps[:k].to(m_hi.dtype)
        if valid is not None:
            keep = valid[sl].unsqueeze(-1)
            m_hi, m_lo = m_hi * keep, m_lo * keep
        out.append(0.0 - cosine_per_sample(m_hi, m_lo))  # not -cos: no negative zeros
    return torch.cat(out).float().cpu()


def check_sensitivity_options(*, shared_draws: Any = False) -> None:
    """``ConfigError`` for an :func:`inter_class_sensitivity` option out of its range."""
    check_flag(shared_draws, "shared_draws")


register_metric(Metric(
    "inter_class_sensitivity", inter_class_sensitivity, "sensitivity", True,
    "-cosine similarity of the maps for the most and the least likely class",
    references=("OBJ §3.3",), needs=frozenset({"explain_fn"}),
    modalities=("time_series", "image"), check_options=check_sensitivity_options,
))
