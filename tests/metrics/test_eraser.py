"""ERASER comprehensiveness / sufficiency (AOPC) and rationale agreement."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from saliencylab.data.text import NEGATIVE_WORDS, POSITIVE_WORDS, load_synthetic_text, vocabulary_of
from saliencylab.errors import ConfigError, ShapeError
from saliencylab.metrics import MetricContext, score
from saliencylab.metrics.eraser import eraser_scores, rationale_scores, top_tokens


class PlantedReader(nn.Module):
    """Reads only the planted words: logits = 2 * (count of negative, count of positive)."""

    def __init__(self, pos: torch.Tensor, neg: torch.Tensor):
        super().__init__()
        self.register_buffer("pos", pos)
        self.register_buffer("neg", neg)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        p = torch.isin(ids, self.pos).sum(1).float()
        n = torch.isin(ids, self.neg).sum(1).float()
        return 2.0 * torch.stack([n, p], 1)


@pytest.fixture(scope="module")
def corpus():
    data = load_synthetic_text(n_train=10, n_val=5, n_test=60, seed=4)
    vocab = vocabulary_of(data)
    model = PlantedReader(torch.tensor([vocab.id(w) for w in POSITIVE_WORDS]),
                          torch.tensor([vocab.id(w) for w in NEGATIVE_WORDS]))
    return data.test, model


def _aopc(model, split, saliency, **kw):
    out = eraser_scores(model, split.x, split.y, saliency, context=MetricContext(**kw))
    return (float(out.per_sample["comprehensiveness"].mean()),
            float(out.per_sample["sufficiency"].mean()))


def test_the_true_rationale_is_most_comprehensive_and_most_sufficient(corpus):
    split, model = corpus
    valid = split.valid_mask
    oracle = split.mask.float()                        # exactly the planted words on top
    anti = 1.0 - split.mask.float()                    # the planted words last
    gen = torch.Generator().manual_seed(0)
    random = torch.rand(split.x.shape, generator=gen)
    comp = {n: _aopc(model, split, m * valid)[0] for n, m in
            (("oracle", oracle), ("random", random), ("anti", anti))}
    suff = {n: _aopc(model, split, m * valid)[1] for n, m in
            (("oracle", oracle), ("random", random), ("anti", anti))}
    assert comp["oracle"] > comp["random"] > comp["anti"]
    assert suff["oracle"] < suff["random"] < suff["anti"]
    # A map that ranks the planted words last removes only words the model ignores.
    assert comp["anti"] == pytest.approx(0.0, abs=1e-6)
    # Keeping only the planted words keeps p(X) once a bin holds all three (50 % always does).
    out = eraser_scores(model, split.x, split.y, oracle, context=MetricContext())
    keep_half = {st: v for m, st, v in out.rows if m == "sufficiency"}["at_50pct"]
    assert keep_half == pytest.approx(0.0, abs=1e-6)


def test_aopc_equals_a_hand_computation_with_the_k0_term():
    class Counts(nn.Module):
        def forward(self, ids):  # p(class 1) = sigmoid(2 * #7 + #5)
            z = 2.0 * (ids == 7).sum(1) + (ids == 5).sum(1)
            return torch.stack([torch.zeros_like(z), z], 1).float()

    x = torch.tensor([[7, 5, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0]])  # 10 tokens + 2 pads
    sal = torch.tensor([[0.9, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05, 0.02, 0.01, 5.0, 5.0]])
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    # bins 1 / 5 / 10 % -> ceil(q * 10) = 1 token {7}; 20 % -> {7, 5}; 50 % -> 5 tokens.
    comp = (0 + 3 * (s(3) - s(1)) + 2 * (s(3) - 0.5)) / 6
    suff = ((s(3) - 0.5) + 3 * (s(3) - s(2)) + 0 + 0) / 6
    out = eraser_scores(Counts(), x, torch.tensor([1]), sal, context=MetricContext())
    assert float(out.per_sample["comprehensiveness"][0]) == pytest.approx(comp, abs=1e-6)
    assert float(out.per_sample["sufficiency"][0]) == pytest.approx(suff, abs=1e-6)
    rows = {(m, st): v for m, st, v in out.rows}
    assert rows[("comprehensiveness", "at_0pct")] == 0.0
    assert rows[("sufficiency", "at_0pct")] == pytest.approx(s(3) - 0.5)
    assert rows[("comprehensiveness", "at_20pct")] == pytest.approx(s(3) - 0.5)
    # Padding is never ranked (its huge scores are ignored) and chunking changes nothing.
    again = eraser_scores(Counts(), x[:, :10], torch.tensor([1]), sal[:, :10],
                          context=MetricContext(batch_size=1))
    assert torch.allclose(again.per_sample["sufficiency"], out.per_sample["sufficiency"])


def test_registered_metrics_through_score(corpus):
    split, model = corpus
    maps = split.mask.float()
    scores = score(model, split.x, split.y, maps, ["comprehensiveness", "sufficiency",
                                                   "token_f1", "token_auprc"],
                   context=MetricContext(groundtruth=split.mask, valid=split.valid_mask))
    rows = {(m, s): v for m, s, v in scores.rows()}
    # The top ceil(k_d n) tokens of the oracle map hold min(that, 3) planted words.
    k_d = (3 / split.lengths.double()).mean()
    n_pred = torch.ceil(split.lengths * k_d - 1e-6)
    f1 = 2 * torch.minimum(n_pred, torch.tensor(3.0)) / (n_pred + 3)
    assert rows[("token_f1", "mean")] == pytest.approx(float(f1.mean()), abs=1e-5)
    assert rows[("token_auprc", "mean")] == pytest.approx(1.0)
    assert ("sufficiency", "at_50pct") in rows


def test_rationale_agreement():
    x = torch.tensor([[4, 5, 6, 7, 8, 0], [4, 5, 6, 7, 8, 9]])
    truth = torch.tensor([[False, True, False, False, False, False], [False] * 6])
    sal = torch.tensor([[0.1, 0.2, 0.9, 0.0, 0.0, 0.0], [1.0, 0, 0, 0, 0, 0]])
    out = rationale_scores(None, x, None, sal, context=MetricContext(groundtruth=truth))
    # k_d = 1/5 -> top 1 token, which misses; the rationale token ranks second: AP = 1/2.
    assert out.per_sample["token_f1"][0].item() == 0.0
    assert out.per_sample["token_auprc"][0].item() == pytest.approx(0.5)
    assert math.isnan(out.per_sample["token_f1"][1].item())  # no rationale: undefined
    fixed = rationale_scores(None, x, None, sal, context=MetricContext(groundtruth=truth),
                             k_fraction=0.4)  # top 2 tokens: 1 hit -> F1 = 2/3
    assert fixed.per_sample["token_f1"][0].item() == pytest.approx(2 / 3)
    with pytest.raises(ShapeError, match="groundtruth"):
        rationale_scores(None, x, None, sal, context=MetricContext())


def test_bad_inputs_and_options():
    x = torch.tensor([[4, 5]])
    with pytest.raises(ShapeError, match="token ids"):
        eraser_scores(nn.Identity(), x.float(), torch.tensor([0]), x.float())
    with pytest.raises(ShapeError, match="one score per token"):
        eraser_scores(nn.Identity(), x, torch.tensor([0]), torch.ones(1, 3))
    with pytest.raises(ConfigError, match="bins"):
        eraser_scores(nn.Identity(), x, torch.tensor([0]), x.float(), bins=[0.0, 0.5])
    assert top_tokens(torch.tensor([[0.1, 0.3, 0.2]]), torch.tensor([2]), 0.5).tolist() == [
        [False, True, False]]
