"""[TSB] Figure 3 / Figure 8(a) metrics: the decay of ranked saliency and the pixel categories,
on hand-built maps with values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from saliencylab.errors import NotApplicableError, ShapeError
from saliencylab.metrics import MetricContext, resolve_metrics, score
from saliencylab.metrics.distribution import (
    CATEGORY_OUTPUTS,
    DECAY_FRACTIONS,
    DECAY_OUTPUTS,
    category_means,
    decay_fit,
    pixel_categories,
    rank_decay,
    saliency_distribution,
    top_share,
)

NET = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(200, 2))


def _geometric_map() -> torch.Tensor:
    """One 20 x 10 map whose 200 cells are 2^-(k/10) for k = 0..199, shuffled, with signs."""
    values = 2.0 ** (-torch.arange(200, dtype=torch.float64) / 10)
    perm = torch.randperm(200, generator=torch.Generator().manual_seed(0))
    signs = torch.where(torch.arange(200) % 3 == 0, -1.0, 1.0).double()
    return (values[perm] * signs).reshape(1, 20, 10)


def test_rank_decay_reads_the_sorted_map_at_ceil_q_n() -> None:
    s = _geometric_map()
    got = rank_decay(s).squeeze(0).tolist()
    # n = 200: ranks ceil(q n) = 1, 2, 4, 10, 20, 40, 100 -> a_(r) / a_(1) = 2^-((r - 1) / 10)
    want = [2.0 ** (-(r - 1) / 10) for r in (1, 2, 4, 10, 20, 40, 100)]
    assert got == pytest.approx(want, rel=1e-12)


def test_top_share_is_the_top_tenth_of_the_total() -> None:
    s = _geometric_map()
    values = 2.0 ** (-torch.arange(200, dtype=torch.float64) / 10)
    assert top_share(s, 0.1).item() == pytest.approx(float(values[:20].sum() / values.sum()))
    # a flat map: the top 10 % hold exactly 10 %
    assert top_share(torch.ones(2, 5, 4), 0.1).tolist() == pytest.approx([0.1, 0.1])


def test_family_rows_hold_the_mean_curve_and_the_per_sample_rate() -> None:
    s = torch.cat([_geometric_map(), 2.0 * _geometric_map()]).float()  # the same curve twice
    out = saliency_distribution(NET, torch.zeros(2, 20, 10), torch.tensor([0, 1]), s)
    rows = {(m, st): v for m, st, v in out.rows}
    for name, r in zip(DECAY_OUTPUTS, (1, 2, 4, 10, 20, 40, 100), strict=True):
        assert rows[(name, "mean")] == pytest.approx(2.0 ** (-(r - 1) / 10), rel=1e-6)
        assert rows[(name, "n")] == 2.0
    assert out.arrays["decay_curve"].shape == (2, 7)
    # log a = -(r - 1) ln2 / 10 with r = ceil(200 q): close to a line of slope -20 ln 2 in q
    want = decay_fit(DECAY_FRACTIONS, out.arrays["decay_curve"][0].tolist()).rate
    assert out.per_sample["decay_rate"].tolist() == pytest.approx([want, want], rel=1e-5)
    assert want == pytest.approx(20 * math.log(2), rel=0.05)


def test_zero_map_has_no_curve_and_bad_fractions_are_refused() -> None:
    out = saliency_distribution(NET, torch.zeros(1, 20, 10), torch.tensor([0]),
                                torch.zeros(1, 20, 10))
    assert all(math.isnan(out.per_sample[n].item()) for n in ("decay_rate", "top10_share"))
    assert all(st == "n" for _, st, _ in out.rows)  # no mean of an undefined curve
    with pytest.raises(ShapeError, match="fractions"):
        rank_decay(torch.ones(1, 2, 2), (0.0, 0.5))


def test_valid_steps_leave_padding_out() -> None:
    s = torch.tensor([[[4.0], [2.0], [1.0], [100.0]]])  # the last step is padding
    valid = torch.tensor([[True, True, True, False]])
    cells = valid[..., None]
    assert rank_decay(s, (1 / 3, 2 / 3, 1.0), cells).tolist() == [[1.0, 0.5, 0.25]]
    out = saliency_distribution(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2)),
                                torch.zeros(1, 4, 1), torch.tensor([0]), s,
                                context=MetricContext(valid=valid))
    assert dict(((m, st), v) for m, st, v in out.rows)[("decay@0.5", "mean")] == 0.5  # rank 2
    assert out.per_sample["top10_share"].item() == pytest.approx(4 / 7)


def test_decay_fit_tells_an_exponential_from_a_line() -> None:
    q = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    fit = decay_fit(q, [3.0 * math.exp(-7.0 * v) for v in q])
    assert fit.rate == pytest.approx(7.0) and fit.r2 == pytest.approx(1.0)
    assert fit.r2_linear < fit.r2
    # a linear decay to 0.05: the log fit is still good (the points crowd near 0), but the
    # straight line is exact, so it is not called exponential
    line = decay_fit(q, [1.0 - 1.9 * v for v in q])
    assert line.r2 > 0.9 and line.r2_linear == pytest.approx(1.0)
    assert all(math.isnan(v) for v in decay_fit(q[:2], [1.0, 0.5]))
    assert all(math.isnan(v) for v in decay_fit(q, [1.0] * 7))


def _box_case() -> tuple[torch.Tensor, torch.Tensor]:
    """A 4 x 3 map with the box at times 1-2, feature 0."""
    box = torch.zeros(1, 4, 3, dtype=torch.bool)
    box[0, 1:3, 0] = True
    s = torch.tensor([[[0.5, 0.0, 0.0],     # t0: feature 0 informative only
                       [-4.0, 2.0, 1.0],    # t1: informative step
                       [2.0, 1.0, 1.0],     # t2: informative step
                       [1.0, 0.0, 0.25]]])  # t3: feature 0 only, then neither
    return s, box


def test_category_means_by_hand() -> None:
    s, box = _box_case()
    got = category_means(s, box).squeeze(0).tolist()
    # scaled by max |s| = 4: box (4, 2) -> 0.75; time only (2, 1, 1, 1) -> 0.3125;
    # feature only (0.5, 1) -> 0.1875; neither (0, 0, 0, 0.25) -> 0.015625
    assert got == pytest.approx([0.75, 0.3125, 0.1875, 0.015625])


def test_pixel_categories_family_and_its_needs() -> None:
    s, box = _box_case()
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    x, y = torch.zeros(1, 4, 3), torch.tensor([1])
    out = pixel_categories(net, x, y, s, context=MetricContext(groundtruth=box))
    assert [out.per_sample[n].item() for n in CATEGORY_OUTPUTS] == pytest.approx(
        [0.75, 0.3125, 0.1875, 0.015625])
    with pytest.raises(NotApplicableError, match="groundtruth"):
        pixel_categories(net, x, y, s)
    with pytest.raises(ShapeError):
        pixel_categories(net, x, y, s, context=MetricContext(groundtruth=box[:, :2]))
    # an empty category is undefined, not zero: no feature is informative at every step here
    full = torch.ones(1, 4, 3, dtype=torch.bool)
    means = category_means(s, full).squeeze(0)
    assert means[0].item() == pytest.approx(float(s.abs().mean() / 4))
    assert torch.isnan(means[1:]).all()


def test_registered_and_scored_through_the_protocol() -> None:
    names = resolve_metrics(["saliency_distribution", "pixel_categories"],
                            modality="time_series", task="classification",
                            has_groundtruth=True, has_background=True)
    assert names == ["decay_rate", "top10_share", *CATEGORY_OUTPUTS]
    with pytest.raises(NotApplicableError):
        resolve_metrics(["pixel_categories"], modality="time_series", task="classification",
                        has_groundtruth=False, has_background=False)
    s, box = _box_case()
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    result = score(net, torch.zeros(1, 4, 3), torch.tensor([0]), s, names,
                   context=MetricContext(groundtruth=box))
    rows = {(m, st): v for m, st, v in result.rows()}
    assert rows[("pix_time_feature", "mean")] == pytest.approx(0.75)
    assert rows[("decay@0.5", "mean")] == pytest.approx(1.0 / 4)  # rank 6 of 12: |s| = 1
