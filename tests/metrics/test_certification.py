"""Completeness, soundness, deletion/insertion and the Saliency Metric ([CS] Gupta et al.):
the building blocks; the protocol functions are tested in test_protocol.py."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from saliencylab.errors import ConfigError, InvalidDataError, ShapeError
from saliencylab.metrics.certification import (
    EPS_COMPLETENESS,
    EPS_SOUNDNESS,
    certify,
    certify_masks,
    class_probability,
    completeness,
    keep_top,
    masked_probability,
    soundness,
    top_labels,
)
from saliencylab.metrics.games import (
    deletion_curve,
    deletion_game,
    insertion_curve,
    insertion_game,
    saliency_boxes,
    saliency_metric,
    tune_saliency_threshold,
)

torch.set_num_threads(1)


class LinearLogits(nn.Module):
    """Two logits (beta*s, -beta*s), s = <w, x> over all cells: class 0 iff s > 0."""

    def __init__(self, w: torch.Tensor, beta: float = 1.0):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.beta * (x.flatten(1) * self.w.flatten()).sum(1)
        return torch.stack([s, -s], dim=1)


class ConstantLogits(nn.Module):
    """Ignores its input: every masked input has the clean probabilities."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1)


def small_net(n_classes: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(2 * 5 * 5, 16), nn.Tanh(),
                         nn.Linear(16, n_classes))


# ------------------------------------------------------------------------------------------------
# completeness and soundness


def test_completeness_and_soundness_in_unit_interval_and_one_when_auc_equals_p() -> None:
    g = torch.Generator().manual_seed(0)
    auc, clean = torch.rand(1000, generator=g), torch.rand(1000, generator=g)
    for v in (completeness(auc, clean), soundness(auc, clean)):
        assert ((v >= 0) & (v <= 1)).all()
    p = torch.tensor([0.01, 0.1, 0.5, 1.0])
    assert torch.equal(completeness(p, p), torch.ones(4))
    assert torch.equal(soundness(p, p), torch.ones(4))
    # below the floors the epsilon decides
    assert completeness(torch.tensor([0.001]), torch.tensor([0.5])).item() == pytest.approx(
        EPS_COMPLETENESS / 0.5)
    assert soundness(torch.tensor([0.8]), torch.tensor([0.01])).item() == pytest.approx(
        EPS_SOUNDNESS / 0.8)


def test_certify_on_a_model_that_ignores_its_input_gives_one() -> None:
    model = ConstantLogits(torch.tensor([2.0, 0.5, -1.0, -3.0]))
    x = torch.randn(5, 2, 5, 5)
    r = certify(model, x, torch.rand(5, 2, 5, 5))
    assert torch.equal(r.labels, torch.tensor([[0, 1]] * 5))
    torch.testing.assert_close(r.auc, r.clean)
    assert torch.allclose(r.completeness, torch.ones(5, 2))
    assert torch.allclose(r.soundness, torch.ones(5, 2))
    assert torch.allclose(r.worst_completeness, torch.ones(5))


def test_certify_values_by_hand_on_a_linear_model() -> None:
    # 4 cells, w = (1, 1, -1, -1), x = 1: s = 0 clean, p_0 = p_1 = 0.5.
    model = LinearLogits(torch.tensor([[1.0, 1.0, -1.0, -1.0]]))
    x = torch.ones(1, 4)
    maps = torch.tensor([[[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]]])  # label 0 / label 1
    r = certify(model, x, maps, torch.tensor([[0, 1]]), fractions=[0.0, 0.25, 0.5, 0.75, 1.0])
    # label 0 keeps cells 0, 1, 2, 3 in order: s = 0, 1, 2, 1, 0
    sig = torch.sigmoid
    curve0 = torch.stack([sig(torch.tensor(2.0 * s)) for s in (0.0, 1.0, 2.0, 1.0, 0.0)])
    torch.testing.assert_close(r.curves[0, 0], curve0)
    torch.testing.assert_close(r.curves[0, 1], curve0)  # symmetric for label 1
    auc = curve0.mean()
    assert r.completeness[0, 0].item() == pytest.approx(1.0)  # AUC > p: capped at 1
    assert r.soundness[0, 0].item() == pytest.approx(0.5 / auc.item())


def test_all_ones_mask_reproduces_the_clean_probability() -> None:
    net = small_net()
    x = torch.randn(6, 2, 5, 5)
    labels = top_labels(net, x, 2)
    ones = torch.ones(6, 2, 1, 5, 5)  # per-pixel label-specific masks
    clean = class_probability(net, x, labels)
    torch.testing.assert_close(masked_probability(net, x, ones, labels), clean)
    pool = torch.randn(7, 2, 5, 5)
    torch.testing.assert_close(masked_probability(net, x, ones, labels, fill=pool), clean)
    r = certify_masks(net, x, ones, labels)
    assert torch.allclose(r.completeness, torch.ones_like(r.completeness))
    assert torch.allclose(r.soundness, torch.ones_like(r.soundness))


def test_curve_endpoints_keep_all_is_clean_keep_none_is_fill() -> None:
    net = small_net()
    x = torch.randn(6, 2, 5, 5)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    maps = torch.rand(6, 2, 5, 5)
    clean = class_probability(net, x, y)
    gray = class_probability(net, torch.zeros_like(x), y)
    ins = insertion_curve(net, x, maps, y, fractions=[0.0, 0.5, 1.0])
    torch.testing.assert_close(ins[:, -1], clean)
    torch.testing.assert_close(ins[:, 0], gray)
    dele = deletion_curve(net, x, maps, y, fractions=[0.0, 0.5, 1.0], fill=0.7)
    torch.testing.assert_close(dele[:, 0], clean)
    torch.testing.assert_close(dele[:, -1], class_probability(net, torch.full_like(x, 0.7), y))
    # a distractor pool of one input: keep-none is that input's probability
    pool = torch.randn(1, 2, 5, 5)
    ins = insertion_curve(net, x, maps, y, fractions=[0.0, 1.0], fill=pool, n_distractors=3)
    torch.testing.assert_close(ins[:, 0], class_probability(net, pool.expand_as(x), y))
    torch.testing.assert_close(ins[:, 1], clean)


def test_distractor_fill_is_the_mean_over_draws() -> None:
    net = small_net()
    x = torch.randn(3, 2, 5, 5)
    y = torch.tensor([0, 1, 2])
    pool = torch.randn(2, 2, 5, 5)
    p = insertion_curve(net, x, torch.rand(3, 2, 5, 5), y, fractions=[0.0], fill=pool,
                        n_distractors=200)[:, 0]
    each = torch.stack([class_probability(net, pool[i].expand_as(x), y) for i in range(2)])
    lo, hi = each.min(0).values, each.max(0).values
    assert ((p >= lo - 1e-6) & (p <= hi + 1e-6)).all()
    assert torch.allclose(p, each.mean(0), atol=0.1 * (hi - lo).max().item() + 1e-6)


def test_chunking_does_not_change_curves() -> None:
    net = small_net()
    x = torch.randn(5, 2, 5, 5)
    y = torch.tensor([0, 1, 2, 3, 0])
    maps = torch.rand(5, 1, 5, 5)
    pool = torch.randn(9, 2, 5, 5)
    a = insertion_curve(net, x, maps, y, fill=pool, n_distractors=4, batch_size=7)
    b = insertion_curve(net, x, maps, y, fill=pool, n_distractors=4, batch_size=None)
    torch.testing.assert_close(a, b)


def test_per_pixel_and_series_maps_rank_shared_cells() -> None:
    per_pixel = torch.zeros(1, 1, 2, 2)
    per_pixel[0, 0, 0, 1] = 1.0
    keep = keep_top(per_pixel, [0.25])[0]
    x = torch.arange(8.0).view(1, 2, 2, 2)
    model = LinearLogits(torch.ones(1, 8))
    # keeping pixel (0, 1) keeps it in both channels: s = x[0,0,0,1] + x[0,1,0,1] = 1 + 5
    p = insertion_curve(model, x, per_pixel, 0, fractions=[0.25])[0, 0]
    assert keep.sum() == 1
    assert p.item() == pytest.approx(torch.sigmoid(torch.tensor(12.0)).item())
    # (B, H, W) per-pixel maps are accepted too
    p2 = insertion_curve(model, x, per_pixel[:, 0], 0, fractions=[0.25])[0, 0]
    assert p2.item() == pytest.approx(p.item())
    # series map per time step (B, T, 1)
    xs = torch.ones(1, 3, 2)
    ms = torch.tensor([[[0.0], [1.0], [0.5]]])
    model = LinearLogits(torch.tensor([[1.0, 1.0, -2.0, -2.0, 1.0, 1.0]]))
    p = insertion_curve(model, xs, ms, 1, fractions=[1 / 3])[0, 0]  # keeps step 1: s = -4
    assert p.item() == pytest.approx(torch.sigmoid(torch.tensor(8.0)).item())


def test_games_order_good_and_bad_maps() -> None:
    w = torch.tensor([[3.0, 2.0, 1.0, 0.5, -0.5, -1.0, -2.0, -3.0]])
    model = LinearLogits(w)
    x = torch.ones(2, 8)
    good, bad = w.expand(2, -1), -w.expand(2, -1)
    dg, db = deletion_game(model, x, good, 0), deletion_game(model, x, bad, 0)
    ig, ib = insertion_game(model, x, good, 0), insertion_game(model, x, bad, 0)
    assert (dg.auc < db.auc).all() and (ig.auc > ib.auc).all()
    assert dg.curve.shape == (2, 21) and torch.allclose(dg.auc, dg.curve.mean(1))


def test_label_specific_maps_and_shape_errors() -> None:
    net = small_net()
    x = torch.randn(3, 2, 5, 5)
    labels = torch.tensor([[0, 1], [2, 3], [1, 0]])
    specific = torch.rand(3, 2, 1, 5, 5)
    out = insertion_curve(net, x, specific, labels, fractions=[0.0, 1.0])
    assert out.shape == (3, 2, 2)
    shared = insertion_curve(net, x, specific[:, 0], labels, fractions=[0.0, 0.5, 1.0])
    assert shared.shape == (3, 2, 3)
    with pytest.raises(ShapeError, match="broadcastable"):
        insertion_curve(net, x, torch.rand(3, 3, 5, 5), 0)
    with pytest.raises(ShapeError, match=r"\(B, L\)"):
        insertion_curve(net, x, torch.rand(3, 3, 1, 5, 5), labels)
    with pytest.raises(ConfigError, match="fractions"):
        insertion_curve(net, x, specific[:, 0], 0, fractions=[1.5])
    with pytest.raises(ConfigError, match="fill"):
        insertion_curve(net, x, specific[:, 0], 0, fill="black")
    with pytest.raises(ShapeError, match="distractor pool"):
        insertion_curve(net, x, specific[:, 0], 0, fill=torch.rand(4, 2, 5, 6))
    with pytest.raises(InvalidDataError, match="values in"):
        masked_probability(net, x, torch.full((3, 1, 5, 5), 2.0), 0)
    for bad in (0, True, 2.0):  # one batch-size check for the games and the protocol
        with pytest.raises(ConfigError, match="batch_size must be a positive int"):
            insertion_curve(net, x, specific[:, 0], 0, batch_size=bad)


# ------------------------------------------------------------------------------------------------
# Saliency Metric


def test_saliency_metric_by_hand_crop() -> None:
    # The model reads pixel (0, 0) of channel 0 only; the map's peak is one pixel at (1, 2).
    w = torch.zeros(1, 1, 4, 4)
    w[0, 0, 0, 0] = 1.0
    model = LinearLogits(w)
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 2] = 0.8
    m = torch.zeros(1, 1, 4, 4)
    m[0, 0, 1, 2], m[0, 0, 2, 3] = 1.0, 0.3
    assert saliency_boxes(x, m, 0.5).tolist() == [[1, 1, 2, 2]]
    assert saliency_boxes(x, m, 0.2).tolist() == [[1, 2, 2, 3]]
    # crop of the single pixel resized to 4x4: a constant 0.8 image -> s = 0.8
    p = torch.sigmoid(torch.tensor(1.6)).item()
    expected = math.log(max(1 / 16, 0.05)) - math.log(p)
    assert saliency_metric(model, x, m, 0, threshold=0.5).item() == pytest.approx(expected,
                                                                                   rel=1e-5)
    # 2x2 box, area 4/16; resized crop is F.interpolate of the crop
    crop = F.interpolate(x[:, :, 1:3, 2:4], size=(4, 4), mode="bilinear", align_corners=False)
    p = torch.sigmoid(2 * crop[0, 0, 0, 0]).item()
    expected = math.log(4 / 16) - math.log(p)
    assert saliency_metric(model, x, m, 0, threshold=0.2).item() == pytest.approx(expected,
                                                                                   rel=1e-5)


def test_saliency_metric_series_keeps_the_interval_and_floors_the_area() -> None:
    model = LinearLogits(torch.ones(1, 20))  # sums every cell of a (10, 2) series
    x = torch.ones(1, 10, 2)
    m = torch.zeros(1, 10, 2)
    m[0, 3, 1] = 1.0  # one step -> interval [3, 3], area 0.1
    # keep: steps outside [3, 3] set to 0.5 -> s = 2 + 18 * 0.5 = 11
    p = torch.sigmoid(torch.tensor(22.0)).item()
    got = saliency_metric(model, x, m, 0, threshold=0.5, fill_value=0.5).item()
    assert got == pytest.approx(math.log(0.1) - math.log(p), rel=1e-5)
    # a 20-step series: one step is area 0.05 -> floor; 0.02 would be floored to 0.05 too
    model = LinearLogits(torch.ones(1, 40))
    x, m = torch.ones(1, 20, 2), torch.zeros(1, 20, 2)
    m[0, 7, 0] = 1.0
    p = torch.sigmoid(torch.tensor(2 * (2 + 18 * 0.0))).item()
    got = saliency_metric(model, x, m, 0, threshold=0.5).item()
    assert got == pytest.approx(math.log(0.05) - math.log(p), rel=1e-5)


def test_threshold_tuning_picks_the_best_holdout_threshold() -> None:
    net = small_net()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 2, 5, 5, generator=g)
    maps = torch.rand(8, 2, 5, 5, generator=g)
    y = top_labels(net, x, 1)[:, 0]
    grid = [0.2, 0.4, 0.6, 0.8, 1.0]
    best = tune_saliency_threshold(net, x, maps, y, thresholds=grid)
    means = [saliency_metric(net, x, maps, y, threshold=t).mean().item() for t in grid]
    assert best == grid[min(range(len(grid)), key=means.__getitem__)]


# ------------------------------------------------------------------------------------------------
# Theory [CS] §3: a linear model on unit-norm inputs with margin gamma.


def _interval_masks(d: int, starts: torch.Tensor, length: int) -> torch.Tensor:
    pos = torch.arange(d)
    return ((pos >= starts[..., None]) & (pos < starts[..., None] + length)).float()


def test_theory_interval_masks_certify_the_true_label_but_never_the_wrong_one() -> None:
    d, gamma, delta = 2048, 0.25, 0.05
    g = torch.Generator().manual_seed(0)
    n = 64
    y = torch.randint(0, 2, (n,), generator=g)
    sign = 1.0 - 2.0 * y.float()  # class 0 <-> <w, x> > 0
    noise = torch.randint(0, 2, (n, d), generator=g).float() * 2 - 1
    raw = sign[:, None] * gamma + noise
    x = raw / raw.norm(dim=1, keepdim=True)  # unit norm
    w = torch.full((1, d), 1 / math.sqrt(d))  # unit norm
    margin = (sign * (x @ w.T)[:, 0]).min().item()
    assert margin > 0.15  # about gamma / sqrt(1 + gamma^2), less the noise's fluctuation
    model = LinearLogits(w, beta=1000.0)
    assert torch.equal(top_labels(model, x, 1)[:, 0], y)

    # Hoeffding: an interval of length l fails the true label w.p. <= exp(-l gamma^2 / 2); the
    # lengths use the (smaller) measured margin, which only makes them longer.
    l_true = math.ceil(2 / margin**2 * math.log(1 / delta))
    k = 16
    starts = torch.randint(0, d - l_true + 1, (n, k), generator=g)
    masks = _interval_masks(d, starts, l_true)
    assert (masks[..., 1:] - masks[..., :-1]).pow(2).sum(-1).max() <= 2  # TV <= 2
    true = y[:, None].expand(n, k)
    r = certify_masks(model, x, masks, true)
    certified = r.auc > 0.5  # the masked input is classified as the true label
    assert certified.float().mean() >= 1 - delta
    assert (r.completeness[certified] > 0.5).all()
    # ... and much shorter intervals fail far more often (so the length matters)
    short = certify_masks(model, x, _interval_masks(d, starts, 4), true)
    assert (short.auc <= 0.5).float().mean() > 3 * delta

    # Union bound over all d^2 intervals: no interval of length >= 2 gamma^-2 log(d^2 / delta)
    # certifies the wrong label.
    l_wrong = math.ceil(2 / margin**2 * math.log(d**2 / delta))
    assert l_wrong < d
    m = 16
    all_starts = torch.arange(0, d - l_wrong + 1, 3).expand(m, -1)
    wrong = (1 - y[:m])[:, None].expand(m, all_starts.shape[1])
    r = certify_masks(model, x[:m], _interval_masks(d, all_starts, l_wrong), wrong)
    assert (r.auc < 0.5).all()
    assert torch.equal(r.soundness, torch.ones_like(r.soundness))
    # while short intervals can make the wrong label win, i.e. are not sound
    short_starts = torch.arange(0, d - 4 + 1, 3).expand(m, -1)
    wrong = (1 - y[:m])[:, None].expand(m, short_starts.shape[1])
    short = certify_masks(model, x[:m], _interval_masks(d, short_starts, 4), wrong)
    assert (short.auc > 0.5).any() and (short.soundness < 1).any()
