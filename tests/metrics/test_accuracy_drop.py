"""The [SGT] accuracy-drop test on a model that reads one known pixel region only: removing the
region first drops accuracy to chance at the region's share of the pixels, a random ranking does
not; ROAR retrains on the masked training set."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from saliencylab.errors import ConfigError
from saliencylab.explain import explain
from saliencylab.metrics import MetricContext, resolve_metrics, score
from saliencylab.metrics.accuracy_drop import (
    DROP_FRACTIONS,
    accuracy_curve,
    curve_auc,
    removal_masks,
    roar_curve,
)
from saliencylab.utils import make_generator

SIDE = 10
REGION = torch.zeros(1, SIDE, SIDE, dtype=torch.bool)
REGION[:, :2, :] = True  # the top two rows: 20 of 100 pixels, 20 %


def region_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 1: the region is +1, class 0: -1; every other pixel is noise in [-0.5, 0.5]."""
    g = make_generator(seed)
    y = torch.arange(n) % 2
    x = torch.rand(n, 1, SIDE, SIDE, generator=g) - 0.5
    sign = (2.0 * y - 1).view(-1, 1, 1, 1)
    return torch.where(REGION, sign.expand_as(x), x), y


def region_model() -> nn.Module:
    """Logits (-s, s) with s = the sum of the region: it reads the region only."""
    w = REGION.flatten().float()
    net = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.stack([-w, w]))
    return net.eval()


def test_removing_the_region_first_drops_to_chance_at_its_share() -> None:
    model = region_model()
    x, y = region_data(200, 0)
    grad = explain(model, x, y, method="gradient", postprocess=None).attributions
    random = torch.rand(x.shape, generator=make_generator(1))
    for replacement, value in (("iid", 0.0), ("ood", None)):
        good = accuracy_curve(model, x, y, grad, replacement=replacement, value=value,
                              fill=0.0).float().mean(1)
        rand = accuracy_curve(model, x, y, random, replacement=replacement, value=value,
                              fill=0.0).float().mean(1)
        assert good[0] == 1.0  # 10 %: half the region left, still read correctly
        assert torch.allclose(good[1:], torch.full((8,), 0.5))  # 20 %: all gone -> chance
        assert bool((rand[:6] > 0.9).all())  # a random 60 % leaves enough of the region
        assert float(curve_auc(good)) < float(curve_auc(rand)) - 2000


def test_iid_default_background_and_the_metric_family() -> None:
    model = region_model()
    x, y = region_data(100, 2)
    grad = explain(model, x, y, method="gradient", postprocess=None).attributions
    names = resolve_metrics("accuracy_drop", modality="image", task="classification",
                            has_groundtruth=False, has_background=False)
    assert names == ["accuracy_drop_iid", "accuracy_drop_ood"]
    scores = score(model, x, y, grad, names, context=MetricContext(fill=0.0))
    rows = {(m, s): v for m, s, v in scores.rows()}
    # IID default: each image's minimum (black): class-1 regions become negative -> wrong.
    assert rows[("accuracy_drop_iid@20", "mean")] == pytest.approx(0.5)
    assert rows[("accuracy_drop_ood@10", "mean")] == 1.0
    # Per-sample AUCs average to the AUC of the mean curve (trapezoid, % x %).
    curve = torch.tensor([rows[(f"accuracy_drop_ood@{p}", "mean")] for p in range(10, 100, 10)])
    assert rows[("accuracy_drop_ood", "mean")] == pytest.approx(float(curve_auc(curve)),
                                                                rel=1e-5)
    with pytest.raises(ConfigError, match="replacement"):
        accuracy_curve(model, x, y, grad, replacement="roar")
    with pytest.raises(ConfigError, match="per channel"):
        accuracy_curve(model, x, y, grad, value=[0.0, 1.0])


def test_removal_masks_rank_pixels_over_channels() -> None:
    maps = torch.zeros(1, 3, 2, 2)
    maps[0, 0, 1, 1], maps[0, 2, 1, 1] = 2.0, -2.0  # channels cancel in sum, not in |sum|
    maps[0, 1, 0, 0] = 1.0
    masks = removal_masks(maps, [0.25])
    assert masks.shape == (1, 1, 1, 2, 2) and bool(masks[0, 0, 0, 1, 1])


def test_roar_retrains_on_masked_data() -> None:
    calls: list[torch.Tensor] = []

    def train_fn(xt, yt, xv, yv):
        calls.append(xt)
        g = make_generator(0)
        net = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 2))
        with torch.no_grad():
            net[1].weight.copy_(torch.randn(2, SIDE * SIDE, generator=g) * 0.01)
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        for _ in range(150):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt), yt).backward()
            opt.step()
        return net

    model = region_model()
    splits = []
    for seed, n in ((3, 200), (4, 40), (5, 100)):
        x, y = region_data(n, seed)
        splits.append((x, y, explain(model, x, y, method="gradient",
                                     postprocess=None).attributions))
    fractions = [0.1, 0.2, 0.5]
    good = roar_curve(train_fn, *splits, fill=0.0, fractions=fractions)
    assert len(calls) == 3  # one fresh model per fraction
    assert bool((calls[1][:, :, :2] == 0).all())  # it trained on the masked training set
    assert good.accuracy[0] > 0.95  # half the region left: the retrained model reads it
    assert all(abs(a - 0.5) < 0.2 for a in good.accuracy[1:])  # region gone: chance
    g = make_generator(6)
    rand_splits = [(x, y, torch.rand(x.shape, generator=g)) for x, y, _ in splits]
    rand = roar_curve(train_fn, *rand_splits, fill=0.0, fractions=fractions)
    assert all(a > 0.9 for a in rand.accuracy)  # a random 50 % keeps the region's signal
    assert good.auc < rand.auc
    assert [r[0] for r in good.rows()][:3] == ["accuracy_drop_roar", "accuracy_drop_roar",
                                              "accuracy_drop_roar@10"]
    assert len(DROP_FRACTIONS) == 9


def test_insertion_blur_game() -> None:
    from saliencylab.metrics.blur import gaussian_blur, insertion_blur

    x = torch.zeros(1, 2, 15, 15)
    x[0, :, 7, 7] = 1.0
    b = gaussian_blur(x, 1.0)
    assert torch.allclose(b.sum((2, 3)), x.sum((2, 3)), atol=1e-5)  # away from the borders
    assert float(b[0, 0, 7, 7]) < 1.0 and float(b[0, 0, 7, 8]) > 0.0
    assert torch.allclose(b[0, 0], b[0, 0].T)  # isotropic
    const = torch.full((1, 1, 5, 4), 0.3)
    assert torch.allclose(gaussian_blur(const, 2.0), const)  # reflected borders: no darkening
    # A model of a checkerboard in the region: blur averages it away, the true pixels do not.
    checker = ((torch.arange(SIDE)[:, None] + torch.arange(SIDE)[None, :]) % 2 * 2 - 1).float()
    pattern = (checker * REGION[0]).flatten()
    model = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 2, bias=False)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([-pattern, pattern]))
    xs, y = region_data(40, 7)
    xs = torch.where(REGION, xs * checker, xs)
    grad = explain(model, xs, y, method="gradient", postprocess=None).attributions
    rand = torch.rand(xs.shape, generator=make_generator(8))
    ctx = MetricContext(explain_fn=lambda m, i, t: explain(m, i, t, method="gradient",
                                                           postprocess=None).attributions)
    good = insertion_blur(model, xs, y, grad, context=ctx, target="label")
    worse = insertion_blur(model, xs, y, rand, context=ctx, target="label")
    assert good.shape == (40,) and float(good.mean()) > float(worse.mean())
    with pytest.raises(ConfigError, match="sigma"):
        insertion_blur(model, xs, y, grad, context=ctx, sigma=0)
