"""Properties that a wrong implementation would break: completeness, exact maps of linear
models, zero attribution of an ignored feature, LRP-ε against a hand-written layer-wise
propagation, seeds, and chunking."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from saliencylab.explain import METHODS, explain, lrp_epsilon
from saliencylab.explain.api import EmbeddingInput

T = F = 10  # the sizes of the conftest models and fixtures
B, C = 4, 3

IGNORED = 3


def _logit(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(x).gather(1, target[:, None])[:, 0]


# ------------------------------------------------------------------------------------------------
# completeness and exact maps


@pytest.mark.parametrize("model_name", ["lstm", "tcn"])
def test_integrated_gradients_completeness(zoo, model_name: str, x_ts: torch.Tensor) -> None:
    model = zoo.ts_model(model_name)
    target = torch.tensor([0, 1, 2, 1])
    baseline = torch.rand(B, T, F, generator=torch.Generator().manual_seed(5))
    e = explain(model, x_ts, target, "integrated_gradients", baseline=baseline, n_steps=64)
    delta = _logit(model, x_ts, target) - _logit(model, baseline, target)
    total = e.attributions.sum(dim=(1, 2))
    torch.testing.assert_close(total, delta, rtol=2e-2, atol=2e-4)
    # [OBJ]'s zero baseline
    e = explain(model, x_ts, target, "integrated_gradients", baseline="zero", n_steps=64)
    delta = _logit(model, x_ts, target) - _logit(model, torch.zeros_like(x_ts), target)
    torch.testing.assert_close(e.attributions.sum((1, 2)), delta, rtol=2e-2, atol=2e-4)


def test_integrated_gradients_completeness_on_text(zoo, x_text: torch.Tensor) -> None:
    model = zoo.TextLSTM()
    e = explain(model, x_text, 2, "integrated_gradients", n_steps=64)
    wrapper = EmbeddingInput(model, model.embedding).eval()
    with torch.no_grad():
        emb = model.embedding(x_text)
        delta = wrapper(emb, x_text)[:, 2] - wrapper(torch.zeros_like(emb), x_text)[:, 2]
    torch.testing.assert_close(e.attributions.sum(1), delta, rtol=2e-2, atol=2e-4)


def test_deeplift_sums_to_delta(zoo, x_ts: torch.Tensor) -> None:
    model = zoo.IgnoresFeature()
    target = torch.tensor([0, 1, 2, 0])
    baseline = torch.rand(B, T, F, generator=torch.Generator().manual_seed(1))
    e = explain(model, x_ts, target, "deeplift", baseline=baseline)
    delta = _logit(model, x_ts, target) - _logit(model, baseline, target)
    torch.testing.assert_close(e.attributions.sum((1, 2)), delta, rtol=1e-4, atol=1e-5)
    # DeepLIFT-SHAP: the mean over the baseline distribution
    dist = torch.rand(3, T, F, generator=torch.Generator().manual_seed(2))
    e = explain(model, x_ts, target, "deeplift_shap", baseline=dist, baselines_per_eval=2)
    expected = _logit(model, x_ts, target) - torch.stack(
        [_logit(model, d.expand(B, T, F), target) for d in dist]
    ).mean(0)
    torch.testing.assert_close(e.attributions.sum((1, 2)), expected, rtol=1e-4, atol=1e-5)


def test_linear_model_maps_are_exact(zoo, x_ts: torch.Tensor) -> None:
    model = zoo.LinearTS()
    target = torch.tensor([2, 0, 1, 2])
    w = model.fc.weight.detach().view(C, T, F)[target]  # (B, T, F)
    g = explain(model, x_ts, target, "gradient", abs=False).attributions
    torch.testing.assert_close(g, w)
    torch.testing.assert_close(explain(model, x_ts, target, "gradient").attributions, w.abs())
    torch.testing.assert_close(
        explain(model, x_ts, target, "gradient_x_input").attributions, w * x_ts
    )
    zero = torch.zeros(T, F)
    gs = explain(model, x_ts, target, "gradient_shap", baseline=zero, stdevs=0.0).attributions
    torch.testing.assert_close(gs, w * x_ts)
    ig = explain(model, x_ts, target, "integrated_gradients", baseline="zero", n_steps=5)
    torch.testing.assert_close(ig.attributions, w * x_ts)
    sg = explain(model, x_ts, target, "smoothgrad", stdevs=0.3, abs=False)
    torch.testing.assert_close(sg.attributions, w)  # the gradient of a linear model is constant
    dl = explain(model, x_ts, target, "deeplift", baseline=0.5).attributions
    torch.testing.assert_close(dl, w * (x_ts - 0.5))
    # feature ablation with a zero baseline: the change of the logit is w * x, cell by cell
    fa = explain(model, x_ts, target, "feature_ablation").attributions
    torch.testing.assert_close(fa, w * x_ts, rtol=1e-4, atol=1e-5)
    # occlusion of one whole time step gives every cell of the step the step's contribution
    oc = explain(model, x_ts, target, "occlusion").attributions
    torch.testing.assert_close(oc, (w * x_ts).sum(-1, keepdim=True).expand(B, T, F),
                               rtol=1e-4, atol=1e-5)


def test_smoothgrad_without_noise_is_the_gradient(zoo, x_ts: torch.Tensor) -> None:
    model = zoo.ts_model("tcn")
    g = explain(model, x_ts, 1, "gradient").attributions
    sg = explain(model, x_ts, 1, "smoothgrad", stdevs=0.0, n_samples=3).attributions
    torch.testing.assert_close(sg, g)
    sq = explain(model, x_ts, 1, "smoothgrad", stdevs=0.0, n_samples=3, nt_type="vargrad")
    assert sq.attributions.abs().max() < 1e-10


# ------------------------------------------------------------------------------------------------
# an ignored input feature gets exactly zero

_PER_ELEMENT = torch.arange(T * F).view(T, F)
IGNORED_FEATURE_METHODS = {
    "gradient": {},
    "gradient_x_input": {},
    "integrated_gradients": {"n_steps": 8},
    "deeplift": {},
    "deeplift_shap": {"n_baselines": 3},
    "gradient_shap": {"n_samples": 3},
    "smoothgrad": {"n_samples": 3, "stdevs": 0.2},
    "guided_backprop": {},
    "lrp": {},
    "feature_ablation": {},
    "occlusion": {"sliding_window_shapes": (1, 1), "strides": (1, 1)},
    "shapley_value_sampling": {"feature_mask": _PER_ELEMENT, "n_samples": 1},
    "feature_permutation": {"feature_mask": _PER_ELEMENT},
}


@pytest.mark.parametrize("method", list(IGNORED_FEATURE_METHODS))
def test_ignored_feature_gets_zero(zoo, method: str, x_ts: torch.Tensor) -> None:
    model = zoo.IgnoresFeature(IGNORED)
    e = explain(model, x_ts, torch.tensor([0, 1, 2, 0]), method, **IGNORED_FEATURE_METHODS[method])
    a = e.attributions
    if METHODS[method].family == "perturbation":
        # f(x) and f(perturbed x) come from forward passes of different batch sizes, whose
        # matrix products may round differently: zero up to float32 rounding of the logits.
        assert a[..., IGNORED].abs().max() <= 1e-6 * a.abs().max()
    else:
        assert a[..., IGNORED].abs().max() == 0
    others = torch.cat([a[..., :IGNORED], a[..., IGNORED + 1:]], dim=-1)
    assert others.abs().sum() > 0


# ------------------------------------------------------------------------------------------------
# LRP-epsilon


def _reference_lrp(layers: list[nn.Module], x: torch.Tensor, target: int, eps: float):
    """Layer-wise LRP-ε in the style of Montavon et al.'s tutorial: forward storing activations,
    then for each layer from the top: z = layer(a) + ε·sign, s = R / z, c = ∂(z·s)/∂a, R = a·c.
    ReLU (and flatten) layers pass R unchanged."""
    acts = [x]
    for layer in layers:
        acts.append(layer(acts[-1]).detach())
    out = acts[-1]
    relevance = torch.zeros_like(out)
    relevance[:, target] = out[:, target]
    for layer, a in zip(reversed(layers), reversed(acts[:-1]), strict=True):
        if isinstance(layer, nn.ReLU | nn.Flatten):
            relevance = relevance.reshape(a.shape)
            continue
        a = a.clone().requires_grad_(True)
        z = layer(a)
        z = z + eps * torch.where(z >= 0, 1.0, -1.0)
        s = (relevance / z).detach()
        (c,) = torch.autograd.grad((z * s).sum(), a)
        relevance = (a * c).detach()
    return relevance


@pytest.mark.parametrize("eps", [1e-9, 0.25])
def test_lrp_matches_layerwise_reference_on_mlp(eps: float) -> None:
    torch.manual_seed(0)
    layers = [nn.Flatten(), nn.Linear(T * F, 12, bias=False), nn.ReLU(),
              nn.Linear(12, 8, bias=False), nn.ReLU(), nn.Linear(8, C, bias=False)]
    net = nn.Sequential(*layers)
    x = torch.rand(B, T, F) - 0.3
    ours = explain(net, x, 1, "lrp", epsilon=eps).attributions
    ref = _reference_lrp(layers, x, 1, eps)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-6)
    if eps < 1e-6:  # conservation: input relevance sums to the target logit (bias-free net)
        torch.testing.assert_close(ours.sum((1, 2)), _logit(net, x, torch.ones(B).long()),
                                   rtol=1e-4, atol=1e-5)
    else:  # a large epsilon absorbs relevance: the rule really is not the plain gradient
        gxi = explain(net, x, 1, "gradient_x_input").attributions
        assert not torch.allclose(ours, gxi, rtol=1e-3, atol=1e-5)
        assert (ours.sum((1, 2)).abs() < gxi.sum((1, 2)).abs()).all()


def test_lrp_matches_layerwise_reference_on_convnet() -> None:
    torch.manual_seed(0)

    class Transpose(nn.Module):
        def forward(self, x):
            return x.transpose(1, 2)

    layers = [Transpose(), nn.Conv1d(F, 6, 3, bias=False), nn.ReLU(),
              nn.Conv1d(6, 4, 3, bias=False), nn.ReLU(), nn.Flatten(),
              nn.Linear(4 * (T - 4), C, bias=False)]
    net = nn.Sequential(*layers)
    x = torch.rand(B, T, F)
    ours = explain(net, x, 2, "lrp", epsilon=0.1).attributions
    ref = _reference_lrp(layers[1:], x.transpose(1, 2), 2, 0.1).transpose(1, 2)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-6)


def test_lrp_small_epsilon_is_gradient_x_input_on_relu_nets(zoo, x_ts, x_img) -> None:
    # LRP-0 equals gradient ⊙ input for ReLU networks (with biases, batch norm, residual adds
    # and max pooling): a check that the hooks keep the forward pass and chain rule intact.
    for model, x in ((zoo.ts_model("tcn"), x_ts), (zoo.image_model(), x_img)):
        lrp = explain(model, x, 1, "lrp").attributions
        gxi = explain(model, x, 1, "gradient_x_input").attributions
        torch.testing.assert_close(lrp, gxi, rtol=1e-3, atol=1e-7)


def test_lrp_function_and_batchnorm() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2)).eval()
    net[1].running_mean.uniform_(-1, 1)
    net[1].running_var.uniform_(0.5, 2)
    x = torch.rand(3, 5)
    r = lrp_epsilon(net, x, torch.zeros(3, dtype=torch.long), epsilon=1.0)
    assert r.shape == x.shape and torch.isfinite(r).all()
    with torch.no_grad():
        before = net(x)
    r0 = lrp_epsilon(net, x, torch.zeros(3, dtype=torch.long), epsilon=1e-9)
    x_req = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net(x_req)[:, 0].sum(), x_req)
    torch.testing.assert_close(r0, x * g, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(r, r0)
    with torch.no_grad():
        torch.testing.assert_close(net(x), before)  # the hooks are gone


# ------------------------------------------------------------------------------------------------
# seeds and chunking

SAMPLING = {
    "integrated_gradients": {"n_steps": 4},
    "deeplift": {},
    "deeplift_shap": {"n_baselines": 3},
    "gradient_shap": {"n_samples": 3},
    "smoothgrad": {"n_samples": 3, "stdevs": 0.3},
    "lime": {"n_samples": 30, "n_segments": 5},
    "kernel_shap": {"n_samples": 30, "n_segments": 5},
    "shapley_value_sampling": {"n_samples": 1},
    "feature_permutation": {},
    "random": {},
    "feature_permuted_random": {},
    "tsb_random": {"candidates": ["gradient", "gradient_x_input", "integrated_gradients"]},
    "learned_mask": {"steps": 5},
}


def test_every_sampling_method_is_listed() -> None:
    assert {n for n, m in METHODS.items() if m.sampling} == set(SAMPLING)


def _loud_model(zoo) -> nn.Module:
    model = zoo.IgnoresFeature()
    with torch.no_grad():
        model.net[-1].weight.mul_(20)  # big enough effects that LIME's lasso keeps them
    return model


@pytest.mark.parametrize("method", list(SAMPLING))
def test_seed_controls_sampling_methods(zoo, method: str, x_ts: torch.Tensor) -> None:
    model = _loud_model(zoo)
    state = torch.get_rng_state()
    a = explain(model, x_ts, 1, method, seed=3, **SAMPLING[method]).attributions
    b = explain(model, x_ts, 1, method, seed=3, **SAMPLING[method]).attributions
    c = explain(model, x_ts, 1, method, seed=4, **SAMPLING[method]).attributions
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone


CHUNKED = {n: p for n, p in SAMPLING.items() if n != "feature_permutation"}
CHUNKED.update({"gradient": {}, "guided_backprop": {}, "lrp": {}, "occlusion": {},
                "feature_ablation": {}, "gradient_x_input": {}})


@pytest.mark.parametrize("method", list(CHUNKED))
def test_chunking_does_not_change_the_result(zoo, method: str, x_ts: torch.Tensor) -> None:
    model = _loud_model(zoo)
    whole = explain(model, x_ts, torch.tensor([0, 1, 2, 1]), method, **CHUNKED[method])
    for bs in (1, 3):
        part = explain(model, x_ts, torch.tensor([0, 1, 2, 1]), method, batch_size=bs,
                       **CHUNKED[method])
        torch.testing.assert_close(part.attributions, whole.attributions, rtol=1e-4, atol=1e-5)


def test_gradient_shap_chunking_on_a_real_model(zoo, x_ts: torch.Tensor) -> None:
    model = zoo.ts_model("tcn")
    whole = explain(model, x_ts, 1, "gradient_shap", seed=11).attributions
    part = explain(model, x_ts, 1, "gradient_shap", seed=11, batch_size=1).attributions
    torch.testing.assert_close(part, whole, rtol=1e-5, atol=1e-7)
    other = explain(model, x_ts, 1, "gradient_shap", seed=12, batch_size=1).attributions
    assert not torch.allclose(other, whole)


def test_random_baselines(zoo, x_ts: torch.Tensor) -> None:
    model = zoo.ts_model("tcn")
    r = explain(model, x_ts, 0, "random", seed=1).attributions
    assert r.shape == x_ts.shape and r.min() >= 0 and r.max() < 1
    assert r.std() > 0.2  # uniform, not constant
    base = explain(model, x_ts, 0, "gradient_x_input").attributions
    perm = explain(model, x_ts, 0, "feature_permuted_random",
                   base_method="gradient_x_input", seed=1).attributions
    # one permutation of the feature axis for every sample and time step
    order = [int((base[0, 0] == v).nonzero()[0]) for v in perm[0, 0]]
    assert sorted(order) == list(range(F)) and order != list(range(F))
    torch.testing.assert_close(perm, base[..., order])


def test_runs_on_the_inputs_device(zoo, x_ts: torch.Tensor) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model = zoo.ts_model("tcn")
    cpu = explain(model, x_ts, 1, "gradient_shap").attributions
    gpu = explain(model.cuda(), x_ts.cuda(), 1, "gradient_shap")
    assert gpu.attributions.device.type == "cuda"
    torch.testing.assert_close(gpu.attributions.cpu(), cpu, rtol=1e-4, atol=1e-6)
