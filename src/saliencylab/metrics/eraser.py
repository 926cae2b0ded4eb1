"""ERASER metrics of token saliency maps (DeYoung et al., ACL 2020), as [SGT] Section 5.2 and
Table 1 report them.

Faithfulness (family ``eraser``, outputs ``comprehensiveness`` ↑ and ``sufficiency`` ↓):
with ``R_k`` the top ``⌈q_k · n⌉`` tokens of a document of ``n`` valid tokens by saliency
(``q`` = 1, 5, 10, 20, 50 %, [SGT-supp] "Metrics"), ``p(·)`` the softmax probability of the
explained class ``j`` (the label),

* comprehensiveness_k = p(X) − p(X ∖ R_k): the document with the rationale *deleted*;
* sufficiency_k = p(X) − p(R_k): the rationale alone;
* AOPC = (1 / (|B| + 1)) Σ_{k=0..|B|} term_k, with the k = 0 term at 0 % of the tokens:
  comprehensiveness_0 = p(X) − p(X) = 0 and sufficiency_0 = p(X) − p(∅), ``∅`` the document
  with every token deleted (one ``[PAD]`` to the models of :mod:`saliencylab.models.text`).

Deleting keeps the order of the remaining tokens and pads the end (the ``remove`` masking of
:mod:`saliencylab.train.masking`). The per-bin means are stored as rows
(``comprehensiveness``, ``at_1pct``), .... The random baseline of [SGT] Table 1 is the
``random`` method's maps scored by the same metric.

Agreement with human rationales (family ``rationale``, outputs ``token_f1`` ↑ and
``token_auprc`` ↑; data with rationales, ``context.groundtruth``): token F1 of the top
``⌈k_d · n⌉`` tokens against the rationale, ``k_d`` the mean rationale fraction of the scored
documents (ERASER's "average human rationale length") unless ``k_fraction`` is given; AUPRC =
average precision of the token scores ranking the rationale tokens (per document). Documents
without rationale tokens score NaN.

Valid tokens: ``context.valid`` when given, else the positions before the last non-``[PAD]``
token. Ties in the ranking go to the earlier token.

Example:
    >>> import torch
    >>> from saliencylab.metrics import MetricContext
    >>> class Reads(torch.nn.Module):  # reads token 7 only: logit 2 * (count of 7) for class 1
    ...     def forward(self, ids):
    ...         c = (ids == 7).sum(1).float()
    ...         return torch.stack([torch.zeros_like(c), 2 * c], 1)
    >>> x = torch.tensor([[7, 3, 3, 3, 3, 3, 3, 3, 3, 3]])
    >>> saliency = (x == 7).float()
    >>> out = eraser_scores(Reads(), x, torch.tensor([1]), saliency, context=MetricContext())
    >>> round(float(out.per_sample["comprehensiveness"][0]), 4)
    0.3173
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.data.text import token_lengths
from saliencylab.errors import ConfigError, ShapeError
from saliencylab.metrics.protocol import MetricContext, MetricOutput, as_context
from saliencylab.metrics.registry import Metric, register_metric
from saliencylab.train.masking import RemoveTokens
from saliencylab.utils import eval_mode, model_device

__all__ = ["ERASER_BINS", "eraser_curves", "eraser_scores", "rationale_scores",
           "text_lengths", "top_tokens"]

#: The ERASER bins of [SGT-supp]: top 1, 5, 10, 20 and 50 % of the tokens.
ERASER_BINS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5)


def _check_bins(bins: Any) -> tuple[float, ...]:
    if isinstance(bins, str) or not isinstance(bins, Sequence) or not bins:
        raise ConfigError(f"bins must be a non-empty list of fractions in (0, 1], got {bins!r}")
    out = []
    for b in bins:
        if isinstance(b, bool) or not isinstance(b, int | float) or not 0 < b <= 1:
            raise ConfigError(f"bins must be fractions in (0, 1], got {b!r}")
        out.append(float(b))
    return tuple(out)


def check_eraser_options(*, bins: Any = ERASER_BINS, pad_id: Any = 0) -> None:
    """``ConfigError`` for an :func:`eraser_scores` option out of its range."""
    _check_bins(bins)
    if isinstance(pad_id, bool) or not isinstance(pad_id, int) or pad_id < 0:
        raise ConfigError(f"pad_id must be a non-negative int, got {pad_id!r}")


def _check_inputs(x: Tensor, attributions: Tensor) -> None:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.is_floating_point():
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"ERASER metrics score token ids (N, L), got {got}")
    if not isinstance(attributions, Tensor) or tuple(attributions.shape) != tuple(x.shape):
        got = tuple(attributions.shape) if isinstance(attributions, Tensor) else attributions
        raise ShapeError(f"attributions must be one score per token, {tuple(x.shape)}, got "
                         f"{got}")


def text_lengths(x: Tensor, context: MetricContext | None = None, pad_id: int = 0) -> Tensor:
    """``(N,)`` valid tokens: ``context.valid``'s counts when given, else the last
    non-``[PAD]`` position + 1.

    >>> text_lengths(torch.tensor([[5, 0, 6, 0], [0, 0, 0, 0]])).tolist()
    [3, 0]
    """
    if context is not None and context.valid is not None:
        valid = torch.as_tensor(context.valid).to(x.device)
        if tuple(valid.shape) != tuple(x.shape):
            raise ShapeError(f"context.valid must be (N, L) = {tuple(x.shape)}, got "
                             f"{tuple(valid.shape)}")
        return valid.bool().sum(1)
    return token_lengths(x, pad_id)


def _ranks(saliency: Tensor, lengths: Tensor) -> Tensor:
    """Rank of each token by descending saliency among the valid ones (pads last)."""
    pos = torch.arange(saliency.shape[1], device=saliency.device)
    valid = pos[None, :] < lengths[:, None]
    key = saliency.detach().float().masked_fill(~valid, -math.inf)
    order = torch.sort(key, dim=1, descending=True, stable=True).indices
    return torch.empty_like(order).scatter_(1, order, pos.expand_as(order))


def top_tokens(saliency: Tensor, lengths: Tensor, fraction: float) -> Tensor:
    """``(N, L)`` bool: the top ``⌈fraction · length⌉`` valid tokens of each row by saliency.

    >>> top_tokens(torch.tensor([[0.1, 0.9, 0.5, 0.7]]), torch.tensor([3]), 0.5).tolist()
    [[False, True, True, False]]
    """
    n = torch.ceil(lengths.to(torch.float64) * fraction - 1e-6).long()  # float32 k_d noise
    return _ranks(saliency, lengths) < n[:, None]


@torch.no_grad()
def _class_probability(model: nn.Module, inputs: Tensor, y: Tensor, batch_size: int | None
                       ) -> Tensor:
    step = batch_size or 256
    out = []
    with eval_mode(model):
        for i in range(0, len(inputs), step):
            logits = model(inputs[i:i + step])
            if logits.dim() != 2:
                raise ShapeError(f"ERASER metrics need logits (batch, classes), got "
                                 f"{tuple(logits.shape)}")
            out.append(torch.softmax(logits.float(), 1).gather(1, y[i:i + step, None])[:, 0])
    return torch.cat(out)


def eraser_curves(model: nn.Module, x: Tensor, y: Tensor, attributions: Tensor, *,
                  lengths: Tensor, bins: Sequence[float] = ERASER_BINS, pad_id: int = 0,
                  batch_size: int | None = None) -> tuple[Tensor, Tensor]:
    """``(comprehensiveness, sufficiency)``, each ``(N, |bins| + 1)``: column 0 is the k = 0
    term (0 % of the tokens), column k the term of ``bins[k-1]`` (module docstring)."""
    bins = _check_bins(bins)
    device = model_device(model)
    x, y = x.to(device), y.to(device).long()
    attributions, lengths = attributions.to(device), lengths.to(device)
    valid = torch.arange(x.shape[1], device=device)[None, :] < lengths[:, None]
    remove = RemoveTokens(pad_id=pad_id)
    variants = [remove(x, valid)]  # sufficiency at k = 0: every token deleted
    for q in bins:
        top = top_tokens(attributions, lengths, q)
        variants += [remove(x, top), remove(x, valid & ~top)]
    n = len(x)
    p = _class_probability(model, torch.cat([x, *variants]), y.repeat(len(variants) + 1),
                           batch_size).view(len(variants) + 1, n)
    full, empty, rest = p[0], p[1], p[2:].view(len(bins), 2, n)
    comp = torch.cat([torch.zeros(1, n, device=device), full - rest[:, 0]]).T
    suff = torch.cat([(full - empty)[None], full - rest[:, 1]]).T
    return comp, suff


def eraser_scores(model: nn.Module, x: Tensor, y: Tensor, attributions: Tensor, *,
                  context: MetricContext | None = None, bins: Sequence[float] = ERASER_BINS,
                  pad_id: int = 0) -> MetricOutput:
    """AOPC comprehensiveness and sufficiency per document (module docstring), and the mean
    of every bin as rows ``(comprehensiveness | sufficiency, at_<q>pct, mean)``."""
    context = as_context(context)
    check_eraser_options(bins=bins, pad_id=pad_id)
    _check_inputs(x, attributions)
    lengths = text_lengths(x, context, pad_id)
    comp, suff = eraser_curves(model, x, y, attributions, lengths=lengths, bins=bins,
                               pad_id=pad_id, batch_size=context.batch_size)
    rows = []
    for name, curve in (("comprehensiveness", comp), ("sufficiency", suff)):
        for q, value in zip((0.0, *_check_bins(bins)), curve.mean(0).tolist(), strict=True):
            rows.append((name, f"at_{q * 100:g}pct", float(value)))
    return MetricOutput(per_sample={"comprehensiveness": comp.mean(1).cpu(),
                                    "sufficiency": suff.mean(1).cpu()}, rows=rows)


def check_rationale_options(*, k_fraction: Any = None, pad_id: Any = 0) -> None:
    """``ConfigError`` for a :func:`rationale_scores` option out of its range."""
    if k_fraction is not None and (isinstance(k_fraction, bool)
                                   or not isinstance(k_fraction, int | float)
                                   or not 0 < k_fraction <= 1):
        raise ConfigError(f"k_fraction must be None or a fraction in (0, 1], got "
                          f"{k_fraction!r}")
    if isinstance(pad_id, bool) or not isinstance(pad_id, int) or pad_id < 0:
        raise ConfigError(f"pad_id must be a non-negative int, got {pad_id!r}")


def rationale_scores(model: nn.Module, x: Tensor, y: Tensor, attributions: Tensor, *,
                     context: MetricContext | None = None, k_fraction: float | None = None,
                     pad_id: int = 0) -> MetricOutput:
    """Token F1 and AUPRC of the maps against the human rationales ``context.groundtruth``
    (module docstring). ``model`` and ``y`` are not used (the protocol's call shape).

    >>> from saliencylab.metrics import MetricContext
    >>> x = torch.tensor([[4, 5, 6, 7]])
    >>> truth = torch.tensor([[False, True, True, False]])
    >>> out = rationale_scores(None, x, None, torch.tensor([[0.0, 0.9, 0.8, 0.1]]),
    ...                        context=MetricContext(groundtruth=truth))
    >>> out.per_sample["token_f1"].tolist(), out.per_sample["token_auprc"].tolist()
    ([1.0], [1.0])
    """
    context = as_context(context)
    check_rationale_options(k_fraction=k_fraction, pad_id=pad_id)
    _check_inputs(x, attributions)
    truth = context.groundtruth
    if truth is None or tuple(truth.shape) != tuple(x.shape):
        got = None if truth is None else tuple(truth.shape)
        raise ShapeError(f"rationale agreement needs context.groundtruth, the (N, L) human "
                         f"rationale mask, got {got}")
    device = attributions.device
    lengths = text_lengths(x.to(device), context, pad_id)
    valid = torch.arange(x.shape[1], device=device)[None, :] < lengths[:, None]
    truth = truth.to(device).bool() & valid
    n_true = truth.sum(1).float()
    has = n_true > 0
    if k_fraction is None:
        frac = n_true[has] / lengths[has].clamp(min=1).float()
        k_fraction = float(frac.mean()) if bool(has.any()) else 1.0
    pred = top_tokens(attributions, lengths, k_fraction)
    hit = (pred & truth).sum(1).float()
    f1 = 2 * hit / (pred.sum(1).float() + n_true)
    # Average precision: precision at the rank of each rationale token, averaged.
    ranks = _ranks(attributions, lengths)
    order = torch.argsort(ranks, dim=1)  # token positions from the highest score down
    sorted_truth = truth.gather(1, order).float()
    precision = sorted_truth.cumsum(1) / torch.arange(1, x.shape[1] + 1, device=device)
    ap = (precision * sorted_truth).sum(1) / n_true.clamp(min=1)
    nan = torch.full_like(f1, math.nan)
    return MetricOutput(per_sample={"token_f1": torch.where(has, f1, nan).cpu(),
                                    "token_auprc": torch.where(has, ap, nan).cpu()},
                        rows=[("token_f1", "k_fraction", float(k_fraction))])


register_metric(Metric(
    "eraser", eraser_scores, "faithfulness", True,
    "ERASER faithfulness of token maps: AOPC of comprehensiveness (↑) and sufficiency (↓) over "
    "the top 0 / 1 / 5 / 10 / 20 / 50 % tokens deleted or kept",
    references=("SGT §5.2", "SGT-supp Language"), modalities=("text",),
    check_options=check_eraser_options,
    outputs={"comprehensiveness": True, "sufficiency": False},
    output_descriptions={
        "comprehensiveness": "AOPC of p(X)_y − p(X without the top q % tokens)_y, q = 0, 1, "
                             "5, 10, 20, 50 (higher: the map found what the model uses)",
        "sufficiency": "AOPC of p(X)_y − p(only the top q % tokens)_y, q = 0, 1, 5, 10, 20, "
                       "50 (lower: the map's tokens suffice)",
    },
))
register_metric(Metric(
    "rationale", rationale_scores, "agreement", True,
    "ERASER agreement of token maps with human rationales: token F1 of the top-k_d tokens and "
    "AUPRC of the token scores",
    references=("SGT §5.2",), needs=frozenset({"groundtruth"}), modalities=("text",),
    check_options=check_rationale_options,
    outputs={"token_f1": True, "token_auprc": True},
    output_descriptions={
        "token_f1": "F1 of the top ceil(k_d n) tokens against the rationale, k_d = mean "
                    "rationale fraction",
        "token_auprc": "average precision of the token scores ranking the rationale tokens",
    },
))
