"""Saliency guided training [SGT]: saliency pass, masking, loss, equivalence with traditional."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from saliencylab.errors import ConfigError, NotApplicableError, ShapeError, UnknownNameError
from saliencylab.train.masking import get_masking
from saliencylab.train.procedures import Traditional, TrainingProcedure
from saliencylab.train.saliency_guided import (
    SaliencyGuided,
    fine_tune,
    kl_divergence,
    lowest_saliency_mask,
)

torch.set_num_threads(1)

T, FEAT = 8, 6


class TinyNet(nn.Module):
    """(B, T, F) -> logits; optional dropout to tell eval from train mode."""

    def __init__(self, dropout: float = 0.0, batch_norm: bool = False, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(FEAT, 8, 3, padding=1)
        self.bn = nn.BatchNorm1d(8) if batch_norm else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        h = torch.tanh(self.bn(self.conv(x.transpose(1, 2))))
        return self.head(self.drop(h.amax(-1)))


class Linear2(nn.Module):
    """logits = [0, <w, x>]: the gradient of class 1 is w exactly."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x):
        z = (x * self.w).flatten(1).sum(1)
        return torch.stack([torch.zeros_like(z), z], 1)


def batch(n: int = 10, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, T, FEAT, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    return x, y


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def input_grad(model, x, y):
    model.eval()
    x = x.clone().requires_grad_(True)
    model(x).gather(1, y[:, None]).sum().backward()
    model.zero_grad(set_to_none=True)
    model.train()
    return x.grad


def manual_steps(model, proc, steps=4, lr=1e-2):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = gen(1)
    model.train()
    for s in range(steps):
        x, y = batch(12, seed=s)
        opt.zero_grad(set_to_none=True)
        loss, _ = proc.loss(model, x, y, g)
        loss.backward()
        opt.step()
    return model


# ---------------------------------------------------------------------------------------------
# saliency pass and selection


def test_saliency_is_eval_mode_label_gradient_and_restores_train_mode():
    model = TinyNet(dropout=0.5)
    x, y = batch()
    proc = SaliencyGuided(k=0.5)
    model.train()
    g = proc.saliency(model, x, y)
    assert model.training  # train mode restored
    assert all(p.grad is None for p in model.parameters())  # input gradient only
    assert torch.allclose(g, input_grad(model, x, y))  # eval mode: deterministic, no dropout
    assert torch.equal(g, proc.saliency(model, x, y))


def test_masked_input_masks_exactly_the_k_lowest_signed_gradient_cells():
    model = TinyNet()
    x, y = batch()
    k = 0.25
    proc = SaliencyGuided(k=k)
    x_masked, where = proc.masked_input(model, x, y, gen())
    g = input_grad(model, x, y).flatten(1)
    m = int(k * T * FEAT)
    expected = torch.zeros_like(g, dtype=torch.bool)
    expected.scatter_(1, torch.argsort(g, 1)[:, :m], True)
    assert torch.equal(where.flatten(1), expected)
    assert torch.equal(x_masked[~where], x[~where])
    assert (x_masked[where] != x[where]).all()
    lo, hi = x.amin((0, 1)), x.amax((0, 1))
    f_idx = torch.nonzero(where)[:, 2]
    assert ((x_masked[where] >= lo[f_idx]) & (x_masked[where] <= hi[f_idx])).all()
    assert not x_masked.requires_grad


def test_signed_and_magnitude_ordering_differ_on_hand_example():
    # gradient of class 1 = w: two large negative, two small, two large positive
    w = torch.tensor([-5.0, -4.0, 0.1, -0.2, 3.0, 6.0]).view(1, 1, 6)
    model = Linear2(w)
    x = torch.arange(6.0).view(1, 1, 6)
    y = torch.tensor([1])
    signed = SaliencyGuided(k=2 / 6).masked_input(model, x, y, gen())[1]
    magnitude = SaliencyGuided(k=2 / 6, by_magnitude=True).masked_input(model, x, y, gen())[1]
    assert signed.flatten().tolist() == [True, True, False, False, False, False]
    assert magnitude.flatten().tolist() == [False, False, True, True, False, False]
    s = torch.tensor([[2.0, -3.0, 0.5, 1.0]])
    assert lowest_saliency_mask(s, 0.25).tolist() == [[False, True, False, False]]
    magnitude = lowest_saliency_mask(s, 0.25, by_magnitude=True)
    assert magnitude.tolist() == [[False, False, True, False]]


# ---------------------------------------------------------------------------------------------
# loss


def test_loss_is_ce_plus_lambda_kl_with_positive_kl_when_masking_changes_output():
    model = TinyNet()
    x, y = batch()
    for lam in (1.0, 2.5):
        proc = SaliencyGuided(k=0.5, lam=lam)
        loss, logits = proc.loss(model, x, y, gen(3))
        x_masked, _ = proc.masked_input(model, x, y, gen(3))
        ce = F.cross_entropy(model(x), y)
        kl = kl_divergence(model(x), model(x_masked))
        assert kl > 1e-6
        # KL(p_X || p_X̃) = Σ p_X (log p_X − log p_X̃), as torch's kl_div(log q, log p)
        ref = F.kl_div(
            F.log_softmax(model(x_masked), 1), F.log_softmax(model(x), 1),
            log_target=True, reduction="batchmean",
        )
        assert torch.allclose(kl, ref, atol=1e-6)
        assert torch.allclose(loss, ce + lam * kl, atol=1e-6)
        assert torch.allclose(logits, model(x), atol=1e-6)


def test_kl_direction():
    p, q = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 0.0]])
    pp = torch.softmax(p, 1)
    expected = (pp * (pp.log() - torch.tensor([0.5, 0.5]).log())).sum()
    assert torch.allclose(kl_divergence(p, q), expected)
    assert not torch.allclose(kl_divergence(p, q), kl_divergence(q, p))


def test_lambda_zero_gives_cross_entropy():
    model = TinyNet()
    x, y = batch()
    loss, _ = SaliencyGuided(k=0.5, lam=0.0).loss(model, x, y, gen())
    assert torch.allclose(loss, F.cross_entropy(model(x), y))


def test_gradient_flows_through_both_clean_and_masked_outputs():
    model = TinyNet()
    x, y = batch()
    proc = SaliencyGuided(k=0.5)
    x_masked, _ = proc.masked_input(model, x, y, gen(3))

    def grads(loss):
        model.zero_grad()
        loss.backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    full = grads(proc.loss(model, x, y, gen(3))[0])
    logits = model(x)
    both = grads(F.cross_entropy(logits, y) + kl_divergence(logits, model(x_masked)))
    only_clean = grads(
        F.cross_entropy(model(x), y) + kl_divergence(model(x), model(x_masked).detach())
    )
    assert torch.allclose(full, both, atol=1e-6)
    assert not torch.allclose(full, only_clean, atol=1e-6)


def test_fused_and_separate_forwards_agree_and_batch_norm_is_not_fused():
    model = TinyNet()
    x, y = batch()
    fused = SaliencyGuided(k=0.5, fuse_forward=True).loss(model, x, y, gen(3))[0]
    separate = SaliencyGuided(k=0.5, fuse_forward=False).loss(model, x, y, gen(3))[0]
    assert torch.allclose(fused, separate, atol=1e-6)

    bn = TinyNet(batch_norm=True)  # fresh copies: a train-mode pass updates running stats
    auto = SaliencyGuided(k=0.5).loss(copy.deepcopy(bn), x, y, gen(3))[0]
    bn_sep = SaliencyGuided(k=0.5, fuse_forward=False).loss(copy.deepcopy(bn), x, y, gen(3))[0]
    bn_fused = SaliencyGuided(k=0.5, fuse_forward=True).loss(copy.deepcopy(bn), x, y, gen(3))[0]
    assert torch.allclose(auto, bn_sep, atol=1e-6)
    assert not torch.allclose(auto, bn_fused, atol=1e-4)  # mixed batch statistics differ


# ---------------------------------------------------------------------------------------------
# equivalence with traditional training


def test_nothing_masked_equals_traditional_step_for_step():
    base = TinyNet()
    proc = SaliencyGuided(k=0.01)  # ⌊0.01 · 48⌋ = 0 cells masked
    x, y = batch()
    loss, _ = proc.loss(base, x, y, gen())
    assert torch.allclose(loss, F.cross_entropy(base(x), y))  # KL term 0
    sgt = manual_steps(copy.deepcopy(base), proc)
    trad = manual_steps(copy.deepcopy(base), Traditional())
    for a, b in zip(sgt.parameters(), trad.parameters(), strict=True):
        assert torch.equal(a, b)


def test_identity_masking_goes_through_full_path_and_equals_traditional():
    base = TinyNet()
    identity = lambda x, where, generator: x.clone()  # noqa: E731
    proc = SaliencyGuided(k=0.5, masking=identity)
    x, y = batch()
    loss, _ = proc.loss(base, x, y, gen())
    assert torch.allclose(loss, F.cross_entropy(base(x), y), atol=1e-6)
    sgt = manual_steps(copy.deepcopy(base), proc)
    trad = manual_steps(copy.deepcopy(base), Traditional())
    for a, b in zip(sgt.parameters(), trad.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    moved = manual_steps(copy.deepcopy(base), SaliencyGuided(k=0.5))
    assert any(
        not torch.allclose(a, b, atol=1e-5)
        for a, b in zip(moved.parameters(), trad.parameters(), strict=True)
    )


def toy_dataset(n=60, seed=0):
    def split(n, s):
        g = torch.Generator().manual_seed(s)
        y = torch.randint(0, 2, (n,), generator=g)
        x = torch.randn(n, T, FEAT, generator=g)
        x[:, 2:5, 1:4] += (2 * y - 1).view(-1, 1, 1).float()
        return SimpleNamespace(x=x, y=y, mask=torch.zeros_like(x, dtype=torch.bool))

    return SimpleNamespace(train=split(n, seed), val=split(20, seed + 1), test=split(20, seed + 2))


def test_fit_with_nothing_masked_equals_fit_traditional():
    from saliencylab.train.trainer import TrainConfig, fit

    data = toy_dataset()
    cfg = TrainConfig(epochs=2, batch_size=20, device="cpu", patience=5)
    a = fit(TinyNet(), data, cfg, SaliencyGuided(k=0.01), progress=False)  # ⌊k·48⌋ = 0
    b = fit(TinyNet(), data, cfg, Traditional(), progress=False)
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert a.procedure["name"] == "saliency_guided" and a.procedure["k"] == 0.01


def test_fit_and_fine_tune_run_saliency_guided():
    from saliencylab.train.trainer import TrainConfig, fit

    data = toy_dataset()
    cfg = TrainConfig(epochs=2, batch_size=20, device="cpu", patience=5)
    trained = fit(TinyNet(), data, cfg, progress=False).model
    before = copy.deepcopy(trained)
    result = fine_tune(trained, data, cfg, SaliencyGuided(k=0.3), progress=False)
    assert result.procedure["masking"] == "random_in_range"
    assert len(result.history) == 2
    changed = [not torch.equal(p, q) for p, q in zip(
        result.model.parameters(), before.parameters(), strict=True)]
    assert any(changed)
    with pytest.raises(ConfigError):
        fine_tune(trained, data, cfg, None)


# ---------------------------------------------------------------------------------------------
# images and text


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean((2, 3)))


def test_images_mask_lowest_pixels_by_channel_summed_saliency():
    model = TinyCNN()
    x = torch.rand(3, 3, 6, 6, generator=gen())
    y = torch.tensor([0, 1, 1])
    x_masked, where = SaliencyGuided(k=0.5).masked_input(model, x, y, gen())
    assert where.shape == (3, 1, 6, 6)
    g = input_grad(model, x, y).sum(1).flatten(1)
    expected = torch.zeros_like(g, dtype=torch.bool).scatter_(
        1, torch.argsort(g, 1)[:, :18], True
    )
    assert torch.equal(where.flatten(1), expected)
    full = where.expand_as(x)
    assert torch.equal(x_masked[~full], x[~full])
    assert (x_masked[full] != x[full]).all()


class TinyText(nn.Module):
    def __init__(self, vocab=20):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(vocab, 4)
        self.rnn = nn.GRU(4, 5, batch_first=True)
        self.head = nn.Linear(5, 2)

    def forward(self, ids):
        return self.head(self.rnn(self.emb(ids))[0][:, -1])


def test_text_masks_lowest_tokens_by_embedding_gradient():
    model = TinyText()
    ids = torch.randint(3, 20, (4, 10), generator=gen())
    y = torch.tensor([0, 1, 0, 1])
    proc = SaliencyGuided(k=0.3, masking=get_masking("unk", unk_id=1))
    ids_masked, where = proc.masked_input(model, ids, y, gen())

    model.eval()
    emb = model.emb(ids).detach().requires_grad_(True)
    logits = model.head(model.rnn(emb)[0][:, -1])
    (g,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), emb)
    model.train()
    expected = torch.zeros(4, 10, dtype=torch.bool).scatter_(
        1, torch.argsort(g.sum(-1), 1)[:, :3], True
    )
    assert torch.equal(where, expected)
    assert torch.equal(ids_masked, ids.masked_fill(expected, 1))
    assert all(p.grad is None for p in model.parameters())
    loss, _ = proc.loss(model, ids, y, gen())
    loss.backward()
    assert model.emb.weight.grad is not None
    with pytest.raises(ConfigError):
        SaliencyGuided(k=0.3).loss(model, ids, y, gen())


def test_text_needs_a_single_embedding():
    class TwoEmb(TinyText):
        def __init__(self):
            super().__init__()
            self.other = nn.Embedding(3, 4)

    proc = SaliencyGuided(k=0.3, masking=get_masking("remove"))
    ids = torch.randint(3, 20, (2, 6), generator=gen())
    with pytest.raises(NotApplicableError):
        proc.masked_input(TwoEmb(), ids, torch.tensor([0, 1]), gen())
    ok = SaliencyGuided(k=0.3, masking=get_masking("remove"), embedding="emb")
    out, _ = ok.masked_input(TwoEmb(), ids, torch.tensor([0, 1]), gen())
    assert (out[:, -1] == 0).all()  # one removed token per row -> pad at the end


# ---------------------------------------------------------------------------------------------
# configuration


def test_validation_and_params():
    for bad_k in (-0.1, 1.5, True, "half", float("nan")):
        with pytest.raises(ConfigError):
            SaliencyGuided(k=bad_k)
    for bad_lam in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError):
            SaliencyGuided(k=0.5, lam=bad_lam)
    with pytest.raises(UnknownNameError):
        SaliencyGuided(k=0.5, masking="blur")
    with pytest.raises(ConfigError):
        SaliencyGuided(k=0.5, masking="remove", feature_range=(0.0, 1.0))
    with pytest.raises(ConfigError):
        SaliencyGuided(k=0.5, masking=42)
    proc = SaliencyGuided(k=0.5, lam=2, by_magnitude=True, feature_range=(0.0, 1.0))
    assert isinstance(proc, TrainingProcedure)
    p = proc.params()
    assert p["k"] == 0.5 and p["lam"] == 2.0 and p["by_magnitude"] is True
    assert p["masking"] == "random_in_range" and p["masking_params"]["fixed_range"] is True
    x = torch.full((2, 3, 4), 5.0)
    model = Linear2(torch.ones(1, 3, 4))
    x_masked, where = proc.masked_input(model, x, torch.tensor([1, 0]), gen())
    assert ((x_masked[where] >= 0) & (x_masked[where] <= 1)).all()


def test_masked_count_is_floor_of_k_n_without_float_error():
    from saliencylab.train.saliency_guided import n_masked

    assert n_masked(0.29, 100) == 29  # int(0.29 * 100) would give 28
    assert n_masked(0.5, 7) == 3 and n_masked(1.0, 7) == 7 and n_masked(0.0, 7) == 0
    s = torch.randn(3, 100, generator=gen())
    assert lowest_saliency_mask(s, 0.29).sum(1).tolist() == [29, 29, 29]


def test_masking_callable_must_keep_the_shape():
    model = TinyNet()
    x, y = batch()
    proc = SaliencyGuided(k=0.5, masking=lambda x, where, generator: x[:, :-1])
    with pytest.raises(ShapeError):
        proc.loss(model, x, y, gen())


# ---------------------------------------------------------------------------------------------
# slow: accuracy on the [TSB] benchmark


@pytest.mark.slow
def test_saliency_guided_tcn_middle_gaussian_keeps_accuracy():
    from saliencylab.data import load_synthetic
    from saliencylab.models import build_model
    from saliencylab.train.trainer import TrainConfig, fit

    torch.set_num_threads(2)
    data = load_synthetic("Middle", "Gaussian")
    cfg = TrainConfig(epochs=8, patience=4, seed=0, device="cpu")
    trad = fit(build_model("tcn", data.n_features, data.n_time), data, cfg, progress=False)
    sgt = fit(
        build_model("tcn", data.n_features, data.n_time), data, cfg,
        SaliencyGuided(k=0.5, lam=1.0), progress=False,
    )
    print(f"test accuracy traditional {trad.test_accuracy:.3f}, saliency guided "
          f"{sgt.test_accuracy:.3f}")
    assert sgt.test_accuracy >= trad.test_accuracy - 0.02


@pytest.mark.parametrize("k", [0, 0.0, 1, 1.0])
def test_k_must_lie_strictly_between_0_and_1(k):
    # [SGT]: k is the fraction of features masked; 0 masks nothing, 1 masks every feature
    with pytest.raises(ConfigError, match=r"k \(the fraction of features masked.*strictly "
                                          r"between 0 and 1, got " + repr(k)):
        SaliencyGuided(k=k)


def test_negative_lam_is_refused_with_its_value():
    with pytest.raises(ConfigError, match=r"lam \(the weight of the KL term\) must be a finite "
                                          r"number >= 0, got -0.5"):
        SaliencyGuided(k=0.5, lam=-0.5)
