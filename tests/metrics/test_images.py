"""Metrics on images (B, C, H, W): the ones defined there run, the time-series-only ones refuse
images with NotApplicableError saying why."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from saliencylab.errors import NotApplicableError
from saliencylab.metrics import (
    MetricContext,
    certification_scores,
    certify,
    deletion,
    faithfulness,
    insertion,
    insertion_game,
    inter_class_sensitivity,
    localization_score,
    make_explain_fn,
    resolve_metrics,
    robustness,
    saliency_metric_score,
    sanity,
    score,
    ssim,
    stability,
)
from saliencylab.metrics.certification import top_labels

torch.set_num_threads(1)

GRAD = make_explain_fn("gradient")


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(16, 3))


def images(n: int = 5):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, 12, 12, generator=g), torch.tensor([0, 1, 2, 0, 1])[:n]


def ignores_model(model, inputs, target):
    return inputs.detach() ** 2


def test_sanity_on_images_uses_image_ssim():
    model = small_cnn()
    x, y = images()
    worst = sanity(model, x, y, context=MetricContext(explain_fn=ignores_model))
    assert torch.allclose(worst, torch.full((5,), -1.0))
    seen = []

    def spy(m, inputs, target):
        out = GRAD(m, inputs, target)
        seen.append(out)
        return out

    s = sanity(model, x, y, context=MetricContext(explain_fn=spy), max_layers=1)
    expected = -ssim(seen[0], seen[1]).float()
    torch.testing.assert_close(s, expected)


def test_robustness_and_sensitivity_on_images():
    model = small_cnn()
    x, y = images()
    ctx = MetricContext(explain_fn=GRAD, generator=0)
    r = robustness(model, x, y, context=ctx, n_perturbations=3)
    assert r.shape == (5,) and bool((r <= 0).all()) and bool((r < 0).any())
    flat = robustness(model, x, y, context=ctx.replace(explain_fn=lambda m, i, t: i * 0 + 1))
    assert flat.tolist() == [0.0] * 5
    s = inter_class_sensitivity(model, x, y, context=ctx)
    assert s.shape == (5,) and bool(((s >= -1) & (s <= 1)).all())
    same = inter_class_sensitivity(model, x, y, context=ctx.replace(explain_fn=ignores_model))
    assert torch.allclose(same, torch.full((5,), -1.0))


def test_certification_and_games_on_images():
    model = small_cnn()
    x, y = images()
    a = GRAD(model, x, y)
    ctx = MetricContext(explain_fn=GRAD, fill=0.5)
    out = certification_scores(model, x, y, a, context=ctx, fractions=[0.0, 0.5, 1.0])
    labels = top_labels(model, x, 2)
    maps = torch.stack([GRAD(model, x, labels[:, 0]), GRAD(model, x, labels[:, 1])], dim=1)
    ref = certify(model, x, maps, labels, fill=0.5, fractions=[0.0, 0.5, 1.0])
    torch.testing.assert_close(out.per_sample["completeness"], ref.worst_completeness)
    ins = insertion(model, x, y, a, context=ctx)
    torch.testing.assert_close(ins, insertion_game(model, x, maps[:, 0], labels[:, 0],
                                                   fill=0.5).auc)
    for metric in (deletion, saliency_metric_score):
        v = metric(model, x, y, a, context=ctx)
        assert v.shape == (5,) and bool(torch.isfinite(v).all())


def test_score_all_image_metrics():
    model = small_cnn()
    x, y = images()
    names = resolve_metrics("all", modality="image", task="classification",
                            has_groundtruth=False, has_background=False)
    s = score(model, x, y, GRAD(model, x, y), names, context=MetricContext(explain_fn=GRAD))
    assert list(s.per_sample) == names
    assert all(v.shape == (5,) for v in s.per_sample.values())


@pytest.mark.parametrize("metric,why", [(faithfulness, "sub-sequence"),
                                        (stability, "dynamic time warping"),
                                        (localization_score, "segments of time series")])
def test_time_series_only_metrics_refuse_images(metric, why):
    x, y = images()
    ctx = MetricContext(explain_fn=GRAD, segments=torch.zeros(5, 12, dtype=torch.long))
    with pytest.raises(NotApplicableError, match=why):
        metric(small_cnn(), x, y, x.clone(), context=ctx)
