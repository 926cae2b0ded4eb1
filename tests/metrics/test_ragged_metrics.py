"""Ragged series (``MetricContext.valid``): padded cells of x or of the maps change nothing, and
an all-valid mask changes nothing either."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from saliencylab.metrics import (
    MetricContext,
    certification_scores,
    deletion,
    faithfulness,
    groundtruth_scores,
    insertion,
    inter_class_sensitivity,
    localization_score,
    make_explain_fn,
    robustness,
    saliency_metric_score,
    sanity,
    ssim,
    stability,
)
from saliencylab.metrics.faithfulness import perturb_subsequence
from saliencylab.metrics.games import keep_top
from saliencylab.metrics.stability import dtw_distance_matrix

torch.set_num_threads(1)

T, F, C, KEEP = 24, 2, 3, 14
LENGTHS = torch.tensor([24, 14, 20, 17, 24, 15, 22, 18])
N = len(LENGTHS)
VALID = torch.arange(T)[None, :] < LENGTHS[:, None]  # (N, T), padding at the end
GRAD = make_explain_fn("gradient", postprocess="tsb")


class Prefix(nn.Module):
    """A classifier that reads only the first KEEP steps, so it never sees any padding."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(F, 6, 3, padding=1)
        self.fc = nn.Linear(6, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x[:, :KEEP].transpose(1, 2)))
        return self.fc(h.mean(dim=2))


class PointwiseSegmenter(nn.Module):
    """Per-step logits from that step alone (padding cannot leak into valid steps)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(F, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def garbage_padding(t: torch.Tensor, seed: int, valid: torch.Tensor = VALID) -> torch.Tensor:
    """``t`` with every padded cell replaced by large random values."""
    noise = 10 * torch.randn(t.shape, generator=torch.Generator().manual_seed(seed)).abs()
    cells = valid.unsqueeze(-1).expand_as(t)
    return torch.where(cells, t, noise.to(t.dtype))


def series(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, T, F, generator=g)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    maps = torch.rand(N, T, F, generator=g)
    return x, y, maps


def both(metric, x, y, maps, *, context: MetricContext, **options):
    """The metric on the clean padding and on garbage padding of x and of the maps."""
    a = metric(Prefix(), x, y, maps, context=context, **options)
    b = metric(Prefix(), garbage_padding(x, 1), y, garbage_padding(maps, 2), context=context,
               **options)
    return a, b


def scores(out):
    return list(out.per_sample.values()) if hasattr(out, "per_sample") else [out]


def assert_same(a, b):
    for u, v in zip(scores(a), scores(b), strict=True):
        torch.testing.assert_close(u, v, equal_nan=True)


@pytest.mark.parametrize("mode", ["swap", "mean", "zero"])
def test_faithfulness_ignores_padding(mode):
    x, y, maps = series()
    ctx = MetricContext(valid=VALID)
    assert_same(*both(faithfulness, x, y, maps, context=ctx, mode=mode, fraction=0.3))
    # the window stays inside the valid steps, and its length is a fraction of the valid length
    a = torch.zeros(N, T, F)
    a[torch.arange(N), LENGTHS - 1, 0] = 1.0  # the last valid step is the most relevant
    out = perturb_subsequence(x, garbage_padding(a, 3), fraction=0.3, valid=VALID)
    for i, n in enumerate(LENGTHS.tolist()):
        assert torch.equal(out[i, n:], x[i, n:])  # padding untouched
        changed = (out[i, :n, 0] != x[i, :n, 0]).nonzero().flatten()
        length = -(-3 * n // 10)  # ceil(0.3 n)
        assert changed.numel() > 0 and int(changed.min()) >= n - (length - 1) // 2 - 1
    all_valid = torch.ones(N, T, dtype=torch.bool)
    torch.testing.assert_close(
        faithfulness(Prefix(), x, y, maps, context=MetricContext(valid=all_valid), mode=mode),
        faithfulness(Prefix(), x, y, maps, mode=mode))


def test_robustness_perturbs_valid_steps_only():
    x, y, maps = series()
    seen = []

    def spy(m, inputs, target):
        seen.append(inputs.clone())
        return GRAD(m, inputs, target)

    ctx = MetricContext(explain_fn=spy, valid=VALID, generator=1, batch_size=20)
    a, b = both(robustness, x, y, maps, context=ctx, n_perturbations=4, radius=0.1)
    assert_same(a, b)
    perturbed = torch.cat(seen[: len(seen) // 2])
    base = x.repeat_interleave(4, dim=0)
    pad = ~VALID.repeat_interleave(4, dim=0)
    assert torch.equal(perturbed[pad], base[pad])  # eps = 0 on padding
    assert bool((perturbed[~pad] != base[~pad]).any())
    rel = both(robustness, x, y, maps, context=ctx.replace(explain_fn=GRAD), relative=True)
    assert_same(*rel)
    plain = robustness(Prefix(), x, y, maps, context=MetricContext(explain_fn=GRAD))
    full = robustness(Prefix(), x, y, maps, context=MetricContext(
        explain_fn=GRAD, valid=torch.ones(N, T, dtype=torch.bool)))
    assert torch.equal(plain, full)


def test_stability_compares_valid_steps_only():
    x, y, maps = series()
    ctx = MetricContext(valid=VALID)
    assert_same(*both(stability, x, y, maps, context=ctx, window=5))
    # the DTW of variable-length series equals the DTW of the truncated series
    d = dtw_distance_matrix(maps[:2], window=None, valid=VALID[:2])
    d01 = dtw_distance_matrix(torch.stack([maps[0], torch.cat([maps[1, :14],
                                                               maps[0, 14:] * 0])]), None)
    assert float(d[0, 1]) != pytest.approx(float(d01[0, 1]))  # padding really left out
    from dtaidistance import dtw

    expected = sum(dtw.distance(maps[0, :, c].double().numpy(), maps[1, :14, c].double().numpy(),
                                use_pruning=False) for c in range(F))
    assert float(d[0, 1]) == pytest.approx(expected)


def test_sanity_ssim_over_valid_steps_only():
    x, y, maps = series()
    ctx = MetricContext(explain_fn=GRAD, valid=VALID)
    a, b = both(sanity, x, y, maps, context=ctx, max_layers=2)
    assert_same(a, b)
    assert bool(torch.isfinite(a).all())
    # SSIM with valid steps equals the SSIM of each truncated series
    g = torch.Generator().manual_seed(5)
    p, q = torch.rand(N, T, F, generator=g), torch.rand(N, T, F, generator=g)
    got = ssim(p, q, valid=VALID)
    for i, n in enumerate(LENGTHS.tolist()):
        assert float(got[i]) == pytest.approx(float(ssim(p[i:i + 1, :n], q[i:i + 1, :n])[0]))
    short = VALID.clone()
    short[0, 8:] = False  # 8 valid steps < the 11-tap window: undefined
    assert torch.isnan(ssim(p, q, valid=short)[0])
    assert torch.equal(ssim(p, q, valid=torch.ones(N, T, dtype=torch.bool)), ssim(p, q))


def test_inter_class_sensitivity_ignores_padding():
    x, y, maps = series()
    ctx = MetricContext(explain_fn=GRAD, valid=VALID)
    assert_same(*both(inter_class_sensitivity, x, y, maps, context=ctx))


def test_groundtruth_ranks_masks_and_counts_valid_cells_only():
    x, y, maps = series()
    box = torch.zeros(N, T, F, dtype=torch.bool)
    box[:, 4:12, 0] = True

    def bg(n, g):
        return torch.randn(n, T, F, generator=g)

    ctx = MetricContext(groundtruth=box, background=bg, valid=VALID, generator=0)
    a, b = both(groundtruth_scores, x, y, maps, context=ctx, full_mask_at_one=True)
    assert a.rows == b.rows
    ctx2 = ctx.replace(groundtruth=box | ~VALID.unsqueeze(-1))  # a box in the padding: ignored
    assert groundtruth_scores(Prefix(), x, y, maps, context=ctx2,
                              full_mask_at_one=True).rows == a.rows
    plain = groundtruth_scores(Prefix(), x, y, maps, context=ctx.replace(valid=None))
    full = groundtruth_scores(Prefix(), x, y, maps,
                              context=ctx.replace(valid=torch.ones(N, T, dtype=torch.bool)))
    assert plain.rows == full.rows


@pytest.mark.parametrize("metric", [certification_scores, deletion, insertion,
                                    saliency_metric_score])
def test_certification_and_games_rank_and_fill_valid_cells_only(metric):
    x, y, maps = series()
    pool = torch.randn(5, T, F, generator=torch.Generator().manual_seed(9))
    options = {} if metric is saliency_metric_score else {"fractions": [0.0, 0.3, 0.6, 1.0]}
    for fill in (None, 0.5) + (() if metric is saliency_metric_score else ("distractor",)):
        ctx = MetricContext(explain_fn=GRAD, valid=VALID, distractors=pool, fill=0.2)
        a, b = both(metric, x, y, maps, context=ctx, fill=fill, **options)
        assert_same(a, b)
    plain = metric(Prefix(), x, y, maps, context=MetricContext(explain_fn=GRAD))
    full = metric(Prefix(), x, y, maps, context=MetricContext(
        explain_fn=GRAD, valid=torch.ones(N, T, dtype=torch.bool)))
    assert_same(plain, full)


def test_keep_top_counts_valid_cells():
    maps = torch.tensor([[[0.1], [0.9], [0.5], [5.0]]])  # the last step is padding
    valid = torch.tensor([[[True], [True], [True], [False]]])
    keep = keep_top(maps, [0.0, 1 / 3, 1.0], valid=valid)
    assert keep[:, 0, :, 0].int().tolist() == [[0, 0, 0, 0], [0, 1, 0, 0], [1, 1, 1, 0]]


def test_localization_ignores_padded_steps_and_labels():
    x, _, maps = series()
    g = torch.Generator().manual_seed(3)
    seg = torch.randint(0, C, (N, T), generator=g)
    ctx = MetricContext(segments=seg, valid=VALID)
    model = PointwiseSegmenter()
    a = localization_score(model, x, None, maps, context=ctx)
    seg2 = torch.where(VALID, seg, torch.randint(0, C, (N, T), generator=g))
    b = localization_score(model, garbage_padding(x, 1), None, garbage_padding(maps, 2),
                           context=ctx.replace(segments=seg2))
    torch.testing.assert_close(a, b, equal_nan=True)
    full = localization_score(model, x, None, maps, context=ctx.replace(
        valid=torch.ones(N, T, dtype=torch.bool)))
    torch.testing.assert_close(full, localization_score(model, x, None, maps,
                                                        context=MetricContext(segments=seg)),
                               equal_nan=True)
