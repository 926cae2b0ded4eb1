"""Learned masks of [CS] Gupta et al., NeurIPS 2022 (saliencylab.explain.masks)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from saliencylab.errors import ConfigError, NotApplicableError, ShapeError
from saliencylab.explain.masks import (
    distractor_indices,
    learn_masks,
    mask_keys,
    total_variation,
    upsample_mask,
)
from saliencylab.models import build_model

torch.set_num_threads(1)


def tiny_cnn(dtype: torch.dtype = torch.float32) -> nn.Module:
    return build_model("mnist_cnn", image_size=8, n_classes=5, channels=[3, 4], hidden=8,
                       seed=0).to(dtype)


def tiny_tcn() -> nn.Module:
    return build_model("tcn", n_features=3, n_time=12, n_classes=3, channels=[4, 4], seed=0)


class Linear2(nn.Module):
    """Logits (s, -s) with s = <w, x>: every cell's effect on the target is known."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = (x.flatten(1) * self.w.flatten()).sum(1)
        return torch.stack([s, -s], dim=1)


def test_batched_labels_match_separate_runs_float64() -> None:
    net = tiny_cnn(torch.float64)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 1, 8, 8, generator=g, dtype=torch.float64)
    pool = torch.randn(40, 1, 8, 8, generator=g, dtype=torch.float64)
    labels = torch.tensor([[0, 3], [2, 1], [4, 4]])
    opts = dict(steps=25, upsample=2, lambda_tv=0.05, lambda_l1=0.01, n_distractors=4, seed=7)
    batched = learn_masks(net, x, labels, pool, **opts)
    assert batched.masks.shape == (3, 2, 1, 8, 8)
    for b in range(3):
        for j in range(2):
            alone = learn_masks(net, x[b : b + 1], labels[b, j].view(1), pool,
                                sample_ids=torch.tensor([b]), **opts)
            assert alone.masks.shape == (1, 1, 8, 8)
            torch.testing.assert_close(alone.masks[0], batched.masks[b, j], atol=1e-5, rtol=0)
            torch.testing.assert_close(alone.loss[0], batched.loss[b, j], atol=1e-5, rtol=0)
    # chunking the optimisation does not change anything either
    chunked = learn_masks(net, x, labels, pool, batch_size=4, **opts)
    torch.testing.assert_close(chunked.masks, batched.masks, atol=1e-10, rtol=0)
    # the distractor streams differ between masks: a different seed changes the masks
    other = learn_masks(net, x, labels, pool, **{**opts, "seed": 8})
    assert not torch.allclose(other.masks, batched.masks)


def test_optimisation_lowers_the_loss_and_raises_the_probability() -> None:
    net = tiny_cnn()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, 8, 8, generator=g)
    pool = torch.randn(30, 1, 8, 8, generator=g)
    res = learn_masks(net, x, torch.tensor([0, 1, 2, 3]), pool, steps=60, lr=0.1,
                      n_distractors=3, return_history=True)
    assert res.history is not None and res.history.shape == (60, 4)
    first, last = res.history[:5].mean(0), res.history[-5:].mean(0)
    assert (last < first).all()
    assert ((res.masks > 0) & (res.masks < 1)).all()


def test_linear_model_mask_keeps_the_helpful_cells() -> None:
    # With distractors at 0 the masked logit is sum_i M_i w_i x_i: the mask must open exactly
    # where w_i x_i > 0 (for class 0) and close where it is negative.
    torch.manual_seed(0)
    w = torch.randn(1, 6, 2)
    net = Linear2(w)
    x = torch.ones(1, 6, 2)
    pool = torch.zeros(5, 6, 2)
    res = learn_masks(net, x, 0, pool, steps=300, lr=0.1, lambda_l1=1e-3)
    helpful = (w[0] > 0)
    assert (res.masks[0][helpful] > 0.9).all()
    assert (res.masks[0][~helpful] < 0.1).all()
    # the model's parameters were frozen only during the call, and never got a gradient
    assert net.w.requires_grad and net.w.grad is None


def test_model_mode_and_flags_restored() -> None:
    net = tiny_tcn()
    net.train()
    net.fc.requires_grad_(False)
    before = {n: p.requires_grad for n, p in net.named_parameters()}
    x, pool = torch.rand(2, 12, 3), torch.rand(10, 12, 3)
    learn_masks(net, x, 1, pool, steps=3)
    assert all(m.training for m in net.modules())
    assert {n: p.requires_grad for n, p in net.named_parameters()} == before
    assert all(p.grad is None for p in net.parameters())


def test_series_shapes_sharing_and_upsampling() -> None:
    net = tiny_tcn()
    x, pool = torch.rand(2, 12, 3), torch.rand(10, 12, 3)
    res = learn_masks(net, x, torch.tensor([[0, 1], [2, 0]]), pool, steps=4, upsample=4)
    assert res.masks.shape == (2, 2, 12, 3)
    shared = learn_masks(net, x, torch.tensor([0, 1]), pool, steps=4, upsample=4,
                         shared_across_features=True)
    assert shared.masks.shape == (2, 12, 1)
    assert shared.expanded(x).shape == x.shape
    assert res.params["steps"] == 4 and res.params["upsample"] == 4


def test_upsampled_mask_is_smooth_and_starts_at_half() -> None:
    w = torch.zeros(2, 1, 3, 3)
    m = upsample_mask(w, (12, 12), "image")
    assert m.shape == (2, 1, 12, 12) and torch.allclose(m, torch.full_like(m, 0.5))
    w = torch.tensor([[[-4.0], [4.0]]])  # (1, t=2, f=1) -> linear ramp along time
    m = upsample_mask(w, (8,), "time_series")[0, :, 0]
    assert m.shape == (8,) and (m[1:] >= m[:-1]).all()
    assert m[0] < 0.05 and m[-1] > 0.95


def test_total_variation_sums_squared_neighbour_differences() -> None:
    img = torch.zeros(1, 1, 3, 3)
    img[0, 0, 1, 1] = 1.0  # 4 neighbours differ by 1
    assert total_variation(img, "image").item() == pytest.approx(4.0)
    series = torch.tensor([[[0.0, 1.0], [1.0, 1.0], [0.5, 1.0]]])  # along time only
    assert total_variation(series, "time_series").item() == pytest.approx(1.0 + 0.25)


def test_distractor_draws_are_reproducible_and_spread() -> None:
    keys = mask_keys(3, torch.arange(4), torch.tensor([[0, 1]] * 4))
    assert keys.unique().numel() == 8
    a = distractor_indices(keys, 5, 10, 100)
    assert torch.equal(a, distractor_indices(keys, 5, 10, 100))
    assert not torch.equal(a, distractor_indices(keys, 6, 10, 100))
    assert a.min() >= 0 and a.max() < 100
    many = distractor_indices(keys.flatten()[:1], 0, 20000, 10).flatten()
    counts = torch.bincount(many, minlength=10).float()
    assert (counts / counts.mean() - 1).abs().max() < 0.1


def test_bad_arguments_raise() -> None:
    net = tiny_tcn()
    x, pool = torch.rand(2, 12, 3), torch.rand(10, 12, 3)
    with pytest.raises(ShapeError, match="distractors"):
        learn_masks(net, x, 0, torch.rand(10, 12, 4), steps=1)
    with pytest.raises(ShapeError, match="targets"):
        learn_masks(net, x, torch.tensor([0, 1, 0]), pool, steps=1)
    with pytest.raises(ConfigError, match="lr"):
        learn_masks(net, x, 0, pool, steps=1, lr=-1.0)
    with pytest.raises(ConfigError, match="shared_across_features"):
        learn_masks(tiny_cnn(), torch.rand(1, 1, 8, 8), 0, torch.rand(4, 1, 8, 8), steps=1,
                    shared_across_features=True)
    with pytest.raises(NotApplicableError):
        learn_masks(net, torch.rand(2, 5), 0, torch.rand(3, 5), steps=1)


def test_explain_adapter_matches_learn_masks() -> None:
    from saliencylab.explain import METHODS
    from saliencylab.explain.api import explain

    assert METHODS["learned_mask"].defaults["steps"] == 2000  # [CS] §4
    net = tiny_cnn()
    g = torch.Generator().manual_seed(0)
    x, pool = torch.randn(3, 1, 8, 8, generator=g), torch.randn(20, 1, 8, 8, generator=g)
    e = explain(net, x, [0, 2], "learned_mask", steps=6, distractors=pool, seed=4, batch_size=2)
    assert e.attributions.shape == (2, 3, 1, 8, 8)
    direct = learn_masks(net, x, torch.tensor([[0, 2]] * 3), pool, steps=6, seed=4)
    torch.testing.assert_close(e.attributions.transpose(0, 1), direct.masks, atol=1e-6, rtol=0)
    assert e.params["steps"] == 6
    # without a pool the explained batch itself is the distractor pool
    alone = explain(net, x, 1, "learned_mask", steps=3)
    assert alone.attributions.shape == x.shape


def test_works_under_no_grad() -> None:
    net = tiny_tcn()
    x, pool = torch.rand(2, 12, 3), torch.rand(10, 12, 3)
    with torch.no_grad():
        res = learn_masks(net, x, 0, pool, steps=3, return_history=True)
    assert not torch.equal(res.history[0], res.history[-1])


# -- ensembles of disjoint masks ([CS] Appendix D.3) ---------------------------------------------


class _TwoRegions(torch.nn.Module):
    """Class 1 when either corner block of a 4 x 4 image is bright: each block alone suffices."""

    def forward(self, x):
        a, b = x[:, 0, :2, :2].mean((1, 2)), x[:, 0, 2:, 2:].mean((1, 2))
        z = 8 * (a + b) - 4
        return torch.stack([-z, z], 1)


def _ensemble(lambda_disjoint, batch_size=None):
    x = torch.zeros(2, 1, 4, 4)
    x[:, 0, :2, :2] = 1
    x[:, 0, 2:, 2:] = 1
    pool = torch.zeros(8, 1, 4, 4)  # dark distractors: only the kept pixels give evidence
    return learn_masks(_TwoRegions(), x, torch.tensor([1, 1]), pool, steps=150, lr=0.1,
                       lambda_l1=0.02, n_distractors=2, ensemble=2,
                       lambda_disjoint=lambda_disjoint, batch_size=batch_size)


def test_ensemble_members_are_pushed_apart_and_averaged():
    apart, free = _ensemble(5.0), _ensemble(0.0)
    assert apart.members.shape == (2, 2, 1, 4, 4) and apart.masks.shape == (2, 1, 4, 4)
    assert torch.allclose(apart.masks, apart.members.mean(1))

    def overlap(r):
        m = r.members.flatten(2)
        return float((m[:, 0] * m[:, 1]).sum(1).mean())

    assert overlap(apart) < 0.5 * overlap(free)
    assert float(apart.probability.min()) > 0.5  # each ensemble still validates the label
    # members are independent of chunking, like single masks
    again = _ensemble(5.0, batch_size=2)
    assert torch.allclose(again.members, apart.members, atol=1e-6)


def test_ensemble_options_are_checked():
    x, pool = torch.zeros(1, 1, 4, 4), torch.zeros(4, 1, 4, 4)
    with pytest.raises(ConfigError, match="ensemble"):
        learn_masks(_TwoRegions(), x, 1, pool, steps=1, ensemble=0)
    with pytest.raises(ConfigError, match="lambda_disjoint"):
        learn_masks(_TwoRegions(), x, 1, pool, steps=1, ensemble=2, lambda_disjoint=-1.0)
