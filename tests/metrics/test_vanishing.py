"""WJac and Euc of [ICA] (NeurIPS 2019, §5, Table 1) on hand-built maps."""

from __future__ import annotations

import math

import pytest
import torch

from saliencylab.errors import ConfigError, NotApplicableError
from saliencylab.metrics import MetricContext, check_metric_options, score
from saliencylab.metrics.registry import get_metric, higher_is_better, resolve_metrics
from saliencylab.metrics.vanishing import (
    minmax_per_sample,
    relative_l2,
    softmax_gradient,
    vanishing_scores,
    weighted_jaccard,
)


def _box() -> torch.Tensor:
    box = torch.zeros(3, 5, 4, dtype=torch.bool)
    box[:, 1:3, 1:3] = True  # 4 block cells per sample
    return box


def test_hand_built_maps() -> None:
    ref = _box()
    exact = ref.double()
    zero = torch.zeros_like(exact)
    half = exact.clone()
    half[:, 1, 1] = 0.5  # one block cell at half weight
    spill = exact.clone()
    spill[:, 0, 0] = 1.0  # one cell outside the block
    s = torch.cat([exact[:1], zero[:1], half[:1], spill[:1]])
    r = torch.cat([ref[:1]] * 4)
    assert weighted_jaccard(s, r).tolist() == pytest.approx([1.0, 0.0, 3.5 / 4, 4 / 5])
    assert relative_l2(s, r).tolist() == pytest.approx([0.0, 1.0, 0.5 / 2, 1 / 2])


def test_empty_block_has_no_score() -> None:
    s = torch.rand(1, 3, 2)
    none = torch.zeros(1, 3, 2, dtype=torch.bool)
    assert math.isnan(relative_l2(s, none).item())
    assert weighted_jaccard(s, none).item() == 0.0  # the map has mass, the block none
    assert math.isnan(weighted_jaccard(torch.zeros(1, 3, 2), none).item())


def test_metric_min_max_scales_the_absolute_maps() -> None:
    ref = _box()
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 2))
    x, y = torch.rand(3, 5, 4), torch.tensor([0, 1, 0])
    # -3 * ref - 2: |.| is 2 off the block and 5 on it; min-max gives the block exactly
    maps = -3.0 * ref.float() - 2.0
    out = vanishing_scores(net, x, y, maps, saliency="maps",
                           context=MetricContext(groundtruth=ref))
    assert out.per_sample["wjac"].tolist() == pytest.approx([1.0] * 3)
    assert out.per_sample["euc"].tolist() == pytest.approx([0.0] * 3, abs=1e-7)
    # a constant map scales to 0: nothing found
    flat = vanishing_scores(net, x, y, torch.ones(3, 5, 4), saliency="maps",
                            context=MetricContext(groundtruth=ref))
    assert flat.per_sample["wjac"].tolist() == [0.0] * 3
    assert flat.per_sample["euc"].tolist() == pytest.approx([1.0] * 3)


def test_softmax_gradient_closed_form_and_default_source() -> None:
    torch.manual_seed(0)
    lin = torch.nn.Linear(20, 2)
    net = torch.nn.Sequential(torch.nn.Flatten(), lin).double()
    x, y = torch.rand(3, 5, 4, dtype=torch.float64), torch.tensor([0, 1, 0])
    p = torch.softmax(net(x), -1)
    w = lin.weight.detach()
    py = p.gather(1, y[:, None])
    # d p_y / d x = p_y (w_y - sum_c p_c w_c)
    want = (py * (w[y] - p @ w)).abs().reshape(3, 5, 4)
    torch.testing.assert_close(softmax_gradient(net, x, y), want)
    torch.testing.assert_close(softmax_gradient(net, x, y, batch_size=1), want)
    # the default scores |d softmax_y / dx|, whatever maps are given
    ctx = MetricContext(groundtruth=_box())
    out = vanishing_scores(net, x, y, torch.rand(3, 5, 4, dtype=torch.float64), context=ctx)
    s = minmax_per_sample(want)
    torch.testing.assert_close(out.per_sample["wjac"].double(),
                               weighted_jaccard(s, _box()).float().double())


def test_padded_steps_take_no_part() -> None:
    ref = _box()
    maps = ref.float().clone()
    maps[:, 4] = 9.0  # huge values on a padded step
    valid = torch.ones(3, 5, dtype=torch.bool)
    valid[:, 4] = False
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 2))
    out = vanishing_scores(net, torch.rand(3, 5, 4), torch.zeros(3, dtype=torch.long), maps,
                           saliency="maps", context=MetricContext(groundtruth=ref, valid=valid))
    assert out.per_sample["wjac"].tolist() == pytest.approx([1.0] * 3)


def test_registered_and_scored_through_the_protocol() -> None:
    assert get_metric("wjac").name == get_metric("euc").name == "vanishing"
    assert higher_is_better("wjac") and not higher_is_better("euc")
    names = resolve_metrics("vanishing", modality="time_series", task="classification",
                            has_groundtruth=True, has_background=True)
    assert names == ["wjac", "euc"]
    with pytest.raises(NotApplicableError, match="ground-truth"):
        resolve_metrics("wjac", modality="time_series", task="classification",
                        has_groundtruth=False, has_background=False)
    with pytest.raises(ConfigError, match="saliency"):
        check_metric_options({"wjac": {"saliency": "logits"}})
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 2))
    x = torch.rand(3, 5, 4)
    scores = score(net, x, torch.tensor([0, 1, 0]), _box().float(), ["wjac", "euc"],
                   context=MetricContext(groundtruth=_box()),
                   options={"wjac": {"saliency": "maps"}})
    assert scores.per_sample["wjac"].tolist() == pytest.approx([1.0] * 3)
    assert scores.per_sample["euc"].tolist() == pytest.approx([0.0] * 3, abs=1e-7)
