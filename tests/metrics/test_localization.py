"""Tests of the [OBJ] localization metric and the [TAT] range-based recall it uses."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from saliencylab.errors import ConfigError, ShapeError, UnknownNameError
from saliencylab.metrics import MetricContext
from saliencylab.metrics.localization import (
    BIASES,
    dominant_class,
    localization,
    localization_score,
    positional_bias,
    predicted_segmentation,
    range_recall,
    relevant_steps,
)

torch.set_num_threads(2)


# ------------------------------------------------------------------------------------------------
# a literal implementation of Tatbul et al. (NeurIPS 2018), following the paper's pseudo-code
# ------------------------------------------------------------------------------------------------


def _delta(i: int, length: int, bias: str) -> float:
    if bias == "flat":
        return 1.0
    if bias == "front":
        return float(length - i + 1)
    if bias == "back":
        return float(i)
    return float(i) if i <= length / 2 else float(length - i + 1)  # middle


def _omega(real: list[int], overlap: set[int], bias: str) -> float:
    my_value = max_value = 0.0
    for i, t in enumerate(real, start=1):
        b = _delta(i, len(real), bias)
        max_value += b
        if t in overlap:
            my_value += b
    return my_value / max_value


def _runs(seq: list[int]) -> list[tuple[int, list[int]]]:
    out, start = [], 0
    for t in range(1, len(seq) + 1):
        if t == len(seq) or seq[t] != seq[start]:
            out.append((seq[start], list(range(start, t))))
            start = t
    return out


def reference_recall(labels, predicted, alpha, bias, gamma, background=0):
    """Per-sample mean of Recall_T(R_i, P) with P_j the predicted runs of R_i's class."""
    scores = []
    for y, p in zip(labels.tolist(), predicted.tolist(), strict=True):
        recalls = []
        for cls, real in _runs(y):
            if cls == background:
                continue
            preds = [set(r) for c, r in _runs(p) if c == cls]
            overlaps = [set(real) & pr for pr in preds]
            existence = 1.0 if sum(len(o) for o in overlaps) >= 1 else 0.0
            x = sum(1 for o in overlaps if o)
            factor = 1.0 if x <= 1 else gamma(x)
            overlap = factor * sum(_omega(real, o, bias) for o in overlaps)
            recalls.append(alpha * existence + (1 - alpha) * overlap)
        scores.append(sum(recalls) / len(recalls) if recalls else float("nan"))
    return torch.tensor(scores, dtype=torch.float64)


def _one_segment_map(length: int, start: int, covered: range, channels: int = 2):
    """Labels with one segment [start, start+length) of class 1 and a map relevant on covered."""
    t = start + length + 3
    labels = torch.zeros(1, t, dtype=torch.long)
    labels[0, start:start + length] = 1
    r = torch.zeros(1, t, channels)
    r[0, list(covered), 1] = 1.0
    return labels, r


# ------------------------------------------------------------------------------------------------
# the two anchors of the metric
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", BIASES)
def test_a_map_exactly_on_the_segment_scores_one_and_outside_scores_zero(bias):
    labels = torch.tensor([[0, 0, 2, 2, 2, 2, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 3, 3]])
    on = (labels > 0).float()[..., None].expand(-1, -1, 3).clone()
    on[0, :, 1] *= 0.3  # other channels may be weaker; one channel above θ·max suffices
    outside = (labels == 0).float()[..., None].expand(-1, -1, 3)
    assert localization(on, labels, bias=bias).tolist() == [1.0, 1.0]
    assert localization(outside, labels, bias=bias).tolist() == [0.0, 0.0]
    # also with existence reward: a map with no relevant step in any segment still gets 0
    assert localization(outside, labels, bias=bias, alpha=0.5).tolist() == [0.0, 0.0]


def test_all_zero_map_localizes_nothing():
    labels = torch.tensor([[0, 1, 1, 0]])
    assert localization(torch.zeros(1, 4, 2), labels).tolist() == [0.0]


# ------------------------------------------------------------------------------------------------
# positional bias
# ------------------------------------------------------------------------------------------------


def test_front_back_and_flat_rank_early_and_late_overlaps_as_defined():
    length, start = 10, 2
    labels, early = _one_segment_map(length, start, range(start, start + 3))
    _, late = _one_segment_map(length, start, range(start + length - 3, start + length))
    score = {b: (localization(early, labels, bias=b).item(),
                 localization(late, labels, bias=b).item()) for b in BIASES}
    assert score["front"][0] > score["front"][1]  # front favours the segment's start
    assert score["back"][1] > score["back"][0]  # back favours its end
    assert score["flat"][0] == pytest.approx(score["flat"][1])  # flat is indifferent
    assert score["middle"][0] == pytest.approx(score["middle"][1])  # symmetric
    _, centre = _one_segment_map(length, start, range(start + 3, start + 6))
    assert localization(centre, labels, bias="middle").item() > score["middle"][0]


def test_hand_computed_tat_values():
    # segment of L = 10 (positions 1..10), relevant on positions 1..3
    labels, r = _one_segment_map(10, 0, range(0, 3))
    got = {b: localization(r, labels, bias=b).item() for b in BIASES}
    assert got["flat"] == pytest.approx(3 / 10)
    assert got["front"] == pytest.approx((10 + 9 + 8) / 55)  # δ = L - k + 1, Σ = 55
    assert got["back"] == pytest.approx((1 + 2 + 3) / 55)  # δ = k
    assert got["middle"] == pytest.approx((1 + 2 + 3) / 30)  # δ = 1..5, 5..1, Σ = 30
    # existence reward: α·1 + (1 - α)·0.3
    assert localization(r, labels, alpha=0.5).item() == pytest.approx(0.5 + 0.5 * 0.3)
    assert localization(r, labels, alpha=1.0).item() == pytest.approx(1.0)


def test_cardinality_factor_applies_only_to_several_overlapping_ranges():
    # relevant on positions {1, 2} and {5, 6} of L = 10: two predicted ranges inside R
    labels, r = _one_segment_map(10, 0, [0, 1, 4, 5])
    assert localization(r, labels).item() == pytest.approx(0.4)  # γ = 1 ([OBJ])
    assert localization(r, labels, cardinality="reciprocal").item() == pytest.approx(0.2)
    assert localization(r, labels, cardinality=lambda x: 1.0 / x**2).item() == pytest.approx(0.1)
    rr = range_recall(labels, predicted_segmentation(r, labels), cardinality="reciprocal")
    assert rr.n_overlapping.tolist() == [2]
    # one contiguous range: no penalty whatever γ is
    labels, r = _one_segment_map(10, 0, range(0, 4))
    assert localization(r, labels, cardinality="reciprocal").item() == pytest.approx(0.4)


def test_positional_bias_values():
    k = torch.arange(1, 7)
    n = torch.tensor(6)
    assert positional_bias(k, n, "flat").tolist() == [1.0] * 6
    assert positional_bias(k, n, "front").tolist() == [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
    assert positional_bias(k, n, "back").tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert positional_bias(k, n, "middle").tolist() == [1.0, 2.0, 3.0, 3.0, 2.0, 1.0]
    with pytest.raises(UnknownNameError):
        positional_bias(k, n, "centre")


# ------------------------------------------------------------------------------------------------
# the batched implementation against the literal one
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("bias", "alpha", "gamma"), list(itertools.product(
    BIASES, (0.0, 0.3), ("one", "reciprocal"))))
def test_batched_recall_matches_the_papers_pseudocode(bias, alpha, gamma):
    g = torch.Generator().manual_seed(BIASES.index(bias) * 10 + int(alpha * 10) + len(gamma))
    # piecewise-constant labels and predictions with runs of random lengths and classes
    labels = torch.randint(0, 4, (12, 6), generator=g).repeat_interleave(5, dim=1)
    predicted = torch.randint(0, 4, (12, 15), generator=g).repeat_interleave(2, dim=1)
    gamma_fn = (lambda x: 1.0) if gamma == "one" else (lambda x: 1.0 / x)
    expected = reference_recall(labels, predicted, alpha, bias, gamma_fn)
    got = range_recall(labels, predicted, alpha=alpha, bias=bias, cardinality=gamma)
    per_sample = got.per_sample(len(labels))
    assert torch.allclose(per_sample, expected, equal_nan=True)
    assert (got.recall >= 0).all() and (got.recall <= 1 + 1e-12).all()


def test_segment_table_lists_every_labelled_segment():
    labels = torch.tensor([[0, 1, 1, 2, 2, 2, 0], [3, 3, 0, 0, 1, 1, 1]])
    rr = range_recall(labels, labels)
    assert rr.sample.tolist() == [0, 0, 1, 1]
    assert rr.start.tolist() == [1, 3, 0, 4]
    assert rr.end.tolist() == [3, 6, 2, 7]
    assert rr.cls.tolist() == [1, 2, 3, 1]
    assert rr.recall.tolist() == [1.0] * 4


# ------------------------------------------------------------------------------------------------
# relevance threshold, predictions, targets
# ------------------------------------------------------------------------------------------------


def test_relevance_threshold_is_strict_and_per_sample():
    r = torch.tensor([[[1.0, 0.0], [0.5, 0.5], [0.0, -0.51]], [[10.0, 0], [6.0, 0], [4.0, 0]]])
    assert relevant_steps(r).tolist() == [[True, False, True], [True, True, False]]
    assert relevant_steps(r, absolute=False).tolist() == [[True, False, False],
                                                          [True, True, False]]
    assert relevant_steps(r, theta=0.0).tolist() == [[True, True, True], [True, True, True]]
    with pytest.raises(ConfigError):
        relevant_steps(r, theta=1.5)


def test_relevant_steps_count_only_when_predicted_as_the_segments_class():
    labels = torch.tensor([[0, 1, 1, 1, 1, 0]])
    r = torch.ones(1, 6, 1)
    wrong = torch.tensor([[0, 2, 2, 1, 1, 0]])  # the model confuses the first half
    assert localization(r, labels, wrong).item() == pytest.approx(0.5)
    assert localization(r, labels, wrong, bias="front").item() == pytest.approx(3 / 10)
    assert localization(r, labels).item() == 1.0  # predictions=None: the labels


def test_target_restricts_the_segments_and_undefined_samples_are_nan():
    labels = torch.tensor([[1, 1, 0, 2, 2], [0, 0, 0, 0, 0], [2, 2, 0, 0, 0]])
    r = torch.zeros(3, 5, 1)
    r[:, :2] = 1.0  # relevant on the first two steps
    assert localization(r, labels).tolist()[0] == pytest.approx(0.5)
    assert torch.isnan(localization(r, labels)[1])
    scores = localization(r, labels, target=2)
    assert scores[0].item() == 0.0 and torch.isnan(scores[1]) and scores[2].item() == 1.0
    scores = localization(r, labels, target=torch.tensor([1, 1, 1]))
    assert scores[0].item() == 1.0 and torch.isnan(scores[2])


def test_localization_score_uses_the_models_per_step_predictions():
    class Fixed(nn.Module):
        def __init__(self, classes: torch.Tensor, n_classes: int = 3):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))
            self.register_buffer("logits", nn.functional.one_hot(classes, n_classes).float())

        def forward(self, x):  # x[:, 0, 0] holds the sample's index
            return self.logits[x[:, 0, 0].long()] + 0 * self.w

    labels = torch.tensor([[0, 1, 1, 1, 1, 0], [2, 2, 2, 0, 0, 0]])
    x = torch.zeros(2, 6, 2)
    x[1, 0, 0] = 1.0
    r = torch.ones(2, 6, 2)
    model = Fixed(torch.tensor([[0, 1, 1, 2, 2, 0], [2, 2, 2, 0, 0, 0]]))
    context = MetricContext(segments=labels, batch_size=1)
    scores = localization_score(model, x, None, r, context=context)
    assert scores.tolist() == [0.5, 1.0]
    assert model.training  # the mode is restored


class _Fixed(nn.Module):
    """Per-step logits ``logits[i]`` for the sample whose x[:, 0, 0] holds i."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.register_buffer("logits", logits)

    def forward(self, x):
        return self.logits[x[:, 0, 0].long()] + 0 * self.w


def test_dominant_class_is_the_most_frequent_labelled_class():
    labels = torch.tensor([[0, 0, 0, 0, 2, 2, 1], [0, 1, 1, 2, 2, 0, 0], [0, 0, 0, 0, 0, 0, 0]])
    assert dominant_class(labels).tolist() == [2, 1, -1]  # background never; ties: smaller
    assert dominant_class(labels, background=2).tolist() == [0, 0, 0]


def test_reference_quirks_score_the_dominant_class_by_relevance_alone():
    """[OBJ]'s released code: one class per sample, relevance alone, misclassified left out."""
    labels = torch.tensor([[0, 1, 1, 1, 0, 2, 2, 0]] * 3)
    r = torch.zeros(3, 8, 2)
    r[:, 5:7, 1] = 1.0  # relevant on the class-2 segment only
    x = torch.zeros(3, 8, 2)
    x[1, 0, 0], x[2, 0, 0] = 1.0, 2.0
    per_step = torch.tensor([0, 1, 1, 1, 0, 2, 2, 0])
    logits = nn.functional.one_hot(per_step, 3).float().expand(3, 8, 3).clone()
    logits[..., 0] *= 0.5  # summed over time, the segments' classes outweigh "no class"
    logits[1, 5:7] = torch.tensor([0.0, 1.0, 0.0])  # sample 1 predicts class 1 in that segment
    logits[2, :, 0] = 5.0  # sample 2: the summed logits say "no class": left out
    model = _Fixed(logits)
    context = MetricContext(segments=labels)
    paper = localization_score(model, x, None, r, context=context)
    # the paper's definition: both segments count and the relevant steps take the prediction
    assert paper[0].item() == pytest.approx(0.5) and paper[1].item() == 0.0
    assert paper[2].item() == 0.0  # the per-step predictions miss the class-2 segment
    quirks = localization_score(model, x, None, r, context=context, reference_quirks=True)
    # class 1 (3 steps) dominates, and the map is not on it; relevance alone, no predictions
    assert quirks[0].item() == 0.0 and quirks[1].item() == 0.0 and quirks[2].isnan()
    r2 = torch.zeros(3, 8, 2)
    r2[:, 1:3, 0] = 1.0  # on two of the three steps of the dominant class-1 segment
    quirks = localization_score(model, x, None, r2, context=context, reference_quirks=True)
    assert quirks[:2].tolist() == pytest.approx([2 / 3, 2 / 3]) and quirks[2].isnan()
    with pytest.raises(ConfigError, match="reference_quirks"):
        localization_score(model, x, None, r, context=context, reference_quirks=True, target=1)


def test_bad_inputs_raise():
    labels = torch.tensor([[0, 1, 1]])
    with pytest.raises(ShapeError):
        localization(torch.ones(1, 4, 2), labels)
    with pytest.raises(ShapeError):
        localization(torch.ones(1, 3, 2), labels.float())
    with pytest.raises(UnknownNameError):
        localization(torch.ones(1, 3, 2), labels, bias="sideways")
    with pytest.raises(UnknownNameError):
        localization(torch.ones(1, 3, 2), labels, cardinality="two")
    with pytest.raises(ConfigError):
        localization(torch.ones(1, 3, 2), labels, alpha=2.0)
    with pytest.raises(ShapeError):
        localization(torch.ones(1, 3, 2), labels, target=torch.tensor([1, 1]))


def test_the_bias_family_scores_each_bias_as_the_single_metric():
    from saliencylab.metrics.localization import BIASES, localization_biases, localization_score
    from saliencylab.metrics.protocol import MetricContext
    from saliencylab.models import build_model

    model = build_model("utime", n_features=2, n_time=24, n_classes=3, seed=0).eval()
    gen = torch.Generator().manual_seed(0)
    x, seg = torch.randn(6, 24, 2, generator=gen), torch.randint(0, 3, (6, 24), generator=gen)
    maps = torch.rand(6, 24, 2, generator=gen)
    ctx = MetricContext(segments=seg)
    family = localization_biases(model, x, None, maps, context=ctx).per_sample
    for bias in BIASES:
        single = localization_score(model, x, None, maps, context=ctx, bias=bias)
        assert torch.equal(family[f"localization_{bias}"].nan_to_num(-1), single.nan_to_num(-1))
    # the biases weigh positions differently, so they do not all agree on random maps
    assert len({round(float(v.nanmean()), 6) for v in family.values()}) > 1
