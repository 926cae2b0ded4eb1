"""Every method on every model family: shapes, finiteness, or a clear NotApplicableError; the
validation at the boundary; parameters, several targets, post-processing, TSR wiring."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from saliencylab.errors import (
    ConfigError,
    InvalidDataError,
    NotApplicableError,
    SaliencyLabError,
    ShapeError,
    UnknownNameError,
)
from saliencylab.explain import METHODS, explain, postprocess
from saliencylab.explain.registry import get_method, methods_for

T = F = 10  # the sizes of the conftest models and fixtures
B, C = 4, 3

# Small settings so the default run stays fast.
FAST = {
    "integrated_gradients": {"n_steps": 8},
    "lime": {"n_samples": 20},
    "kernel_shap": {"n_samples": 20},
    "shapley_value_sampling": {"n_samples": 2},
    "smoothgrad": {"n_samples": 3},
    "gradient_shap": {"n_samples": 3},
    "deeplift_shap": {"n_baselines": 3},
    "learned_mask": {"steps": 3},
}
NO_CONV = {"gradcam", "guided_gradcam"}
NOT_APPLICABLE = {
    "lstm": NO_CONV | {"lrp"},
    "lstm_ica": NO_CONV | {"lrp"},
    "transformer": NO_CONV | {"lrp"},
    "tcn": set(),
    "cnn": set(),
    "text_cnn": {"learned_mask"},
    "text_lstm": NO_CONV | {"lrp", "learned_mask"},
}


def _model_and_input(zoo, name: str):
    g = torch.Generator().manual_seed(0)
    if name in zoo.TS_MODELS:
        return zoo.ts_model(name), torch.rand(B, T, F, generator=g)
    if name == "cnn":
        return zoo.image_model(), torch.rand(B, 2, 10, 10, generator=g)
    model = zoo.TextCNN() if name == "text_cnn" else zoo.TextLSTM()
    return model, torch.randint(0, 20, (B, 7), generator=g)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("model_name", list(NOT_APPLICABLE))
def test_every_method_on_every_model(zoo, model_name: str, method: str) -> None:
    torch.manual_seed(0)
    model, x = _model_and_input(zoo, model_name)
    target = torch.arange(B) % C
    if method in NOT_APPLICABLE[model_name]:
        with pytest.raises(NotApplicableError) as info:
            explain(model, x, target, method, **FAST.get(method, {}))
        assert "apply" in str(info.value)  # says which methods do apply
        return
    e = explain(model, x, target, method, **FAST.get(method, {}))
    expected = tuple(x.shape)  # text: one score per token
    assert tuple(e.attributions.shape) == expected
    assert e.attributions.dtype == torch.float32
    assert torch.isfinite(e.attributions).all()
    assert e.method == method and e.params["seed"] == 0
    assert torch.equal(e.targets, target)
    assert model.training  # the model's own mode is restored


def test_eval_mode_is_used_and_restored(zoo, x_ts: torch.Tensor) -> None:
    model = zoo.ts_model("tcn")  # dropout 0.1: train mode would make two calls differ
    model.train()
    a = explain(model, x_ts, 0, "gradient").attributions
    b = explain(model, x_ts, 0, "gradient").attributions
    assert torch.equal(a, b)
    assert all(m.training for m in model.modules())
    model.eval()
    model.network[0].train()  # a mixed state is restored module by module
    explain(model, x_ts, 0, "gradient")
    assert model.network[0].training and not model.fc.training


def test_submodules_walks_like_modules(zoo) -> None:
    from saliencylab.utils import submodules

    shared = nn.Linear(F, F)
    net = nn.Sequential(shared, nn.Sequential(nn.ReLU(), shared), nn.ModuleDict({"a": shared}))
    net.register_module("empty", None)  # a None child is skipped, as modules() does
    for model in (net, zoo.ts_model("tcn"), zoo.ts_model("lstm"), zoo.image_model()):
        assert submodules(model) == list(model.modules())  # same modules, order, each once
    assert len(submodules(net)) == 5


def test_fixture_sizes(zoo) -> None:
    assert (zoo.T, zoo.F, zoo.B, zoo.C) == (T, F, B, C)


def test_registry_metadata() -> None:
    assert set(METHODS) == {
        "gradient", "gradient_x_input", "integrated_gradients", "deeplift", "deeplift_shap",
        "gradient_shap", "smoothgrad", "guided_backprop", "gradcam", "guided_gradcam", "lrp",
        "lime", "kernel_shap", "occlusion", "feature_ablation", "feature_permutation",
        "shapley_value_sampling", "learned_mask", "random", "feature_permuted_random",
        "tsb_random",
    }
    assert METHODS["gradient_shap"].defaults["stdevs"] == 0.09
    assert METHODS["smoothgrad"].defaults["n_samples"] == 5
    assert METHODS["smoothgrad"].defaults["stdevs"] == 1.0
    assert METHODS["lrp"].defaults["epsilon"] == 1e-9
    assert METHODS["lime"].defaults["kernel_width"] == 5.0
    assert "conv_layer" in METHODS["gradcam"].needs
    assert set(methods_for(family="random")) == {"random", "feature_permuted_random",
                                                 "tsb_random"}
    with pytest.raises(UnknownNameError, match="gradient_x_input"):
        get_method("saliency")


# ------------------------------------------------------------------------------------------------
# validation


def test_bad_inputs_raise_clear_errors(zoo, x_ts: torch.Tensor) -> None:
    model = zoo.LinearTS()
    with pytest.raises(ConfigError, match=r"\[0, 3\)"):
        explain(model, x_ts, 3)
    with pytest.raises(ConfigError, match="class index"):
        explain(model, x_ts, torch.tensor([0, 1, -1, 0]))
    with pytest.raises(ShapeError, match=r"\(4,\)"):
        explain(model, x_ts, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ConfigError, match="integer"):
        explain(model, x_ts, torch.zeros(4))
    with pytest.raises(ShapeError, match="batch, time, features"):
        explain(model, x_ts[0], 0)
    with pytest.raises(ShapeError, match="batch, time, features"):
        explain(model, x_ts.long(), 0)  # 3-D integer tensor: neither text nor float input
    bad = x_ts.clone()
    bad[1, 2, 3] = float("nan")
    with pytest.raises(InvalidDataError, match="NaN"):
        explain(model, bad, 0)
    with pytest.raises(UnknownNameError, match="integrated_gradients"):
        explain(model, x_ts, 0, "integrated_gradient")
    with pytest.raises(ConfigError, match="n_steps"):
        explain(model, x_ts, 0, "integrated_gradients", n_step=10)
    with pytest.raises(ConfigError, match="batch_size"):
        explain(model, x_ts, 0, batch_size=0)
    with pytest.raises(ConfigError, match="baseline"):
        explain(model, x_ts, 0, "integrated_gradients", baseline="gaussian")
    # a model that expects other shapes: its own ShapeError comes through
    with pytest.raises(ShapeError):
        explain(zoo.ts_model("lstm"), torch.rand(2, T, F + 1), 0)
    # a model that fails with a torch error is reported as a shape problem
    with pytest.raises(ShapeError, match="failed"):
        explain(nn.Linear(3, 2), x_ts, 0)


def test_model_must_return_logits(x_ts: torch.Tensor) -> None:
    class Scalar(nn.Module):
        def forward(self, x):
            return x.sum(dim=(1, 2))

    with pytest.raises(ShapeError, match=r"\(batch, classes\)"):
        explain(Scalar(), x_ts, 0)


def test_not_applicable_messages(zoo, x_ts: torch.Tensor) -> None:
    with pytest.raises(NotApplicableError, match="Conv1d/Conv2d") as info:
        explain(zoo.ts_model("lstm"), x_ts, 0, "gradcam")
    assert "integrated_gradients" in str(info.value)
    with pytest.raises(NotApplicableError, match=r"LSTM") as info:
        explain(zoo.ts_model("lstm"), x_ts, 0, "lrp")
    assert "gradient" in str(info.value)
    with pytest.raises(NotApplicableError, match="LayerNorm"):
        explain(zoo.ts_model("transformer"), x_ts, 0, "lrp")
    with pytest.raises(NotApplicableError, match="TSR"):
        explain(zoo.image_model(), torch.rand(2, 2, 10, 10), 0, tsr=True)
    with pytest.raises(NotApplicableError, match="embedding"):
        explain(zoo.LinearTS(), torch.randint(0, 3, (2, 5)), 0)


def test_feature_permutation_needs_two_samples_per_chunk(zoo, x_ts: torch.Tensor) -> None:
    with pytest.raises(ShapeError, match="at least 2"):
        explain(zoo.LinearTS(), x_ts, 0, "feature_permutation", batch_size=1)


# ------------------------------------------------------------------------------------------------
# targets, params


def test_several_targets_stack_on_a_leading_axis(zoo, x_ts: torch.Tensor) -> None:
    model = zoo.ts_model("tcn")
    per_sample = torch.tensor([2, 1, 0, 2])
    e = explain(model, x_ts, [0, per_sample], "integrated_gradients", n_steps=4)
    assert e.attributions.shape == (2, B, T, F)
    assert e.targets.shape == (2, B)
    for i, t in enumerate([0, per_sample]):
        single = explain(model, x_ts, t, "integrated_gradients", n_steps=4).attributions
        torch.testing.assert_close(e.attributions[i], single)
    # post-processing is per (target, sample)
    e = explain(model, x_ts, [0, 1], "gradient", postprocess="minmax")
    flat = e.attributions.flatten(2)
    assert torch.allclose(flat.max(-1).values, torch.ones(2, B))
    assert torch.allclose(flat.min(-1).values, torch.zeros(2, B))


def test_effective_params_are_recorded(zoo, x_ts: torch.Tensor, x_text: torch.Tensor) -> None:
    e = explain(zoo.ts_model("tcn"), x_ts, 0, "gradient_shap", seed=7, batch_size=2)
    p = e.params
    assert p["seed"] == 7 and p["batch_size"] == 2
    assert p["n_baselines"] == 5 * B and p["stdevs"] == 0.09 and p["n_samples"] == 5
    assert p["baseline"] == "uniform" and p["modality"] == "time_series"
    e = explain(zoo.ts_model("tcn"), x_ts, 0, "integrated_gradients", baseline="zero", n_steps=60)
    assert e.params["baseline"] == "zero" and e.params["n_steps"] == 60
    assert e.params["rule"] == "gausslegendre"
    e = explain(zoo.ts_model("tcn"), x_ts, 0, "gradcam")
    assert e.params["layer"] == "network.2"  # the TCN's declared feature layer
    e = explain(zoo.ts_model("tcn"), x_ts, 0, "occlusion")
    assert e.params["sliding_window_shapes"] == [1, F]
    e = explain(zoo.TextCNN(), x_text, 0, "integrated_gradients", n_steps=4)
    assert e.params["baseline"] == "zero"  # text: zero embedding, not U[0,1)
    assert e.params["embedding_layer"] == "embedding" and e.modality == "text"
    e = explain(zoo.ts_model("lstm"), x_ts, 0, "feature_permuted_random")
    assert e.params["base_method"] == "gradient" and e.params["base_params"]["abs"] is True


def test_gradcam_layer_can_be_named(zoo, x_ts: torch.Tensor) -> None:
    model = zoo.ts_model("tcn")
    a = explain(model, x_ts, 0, "gradcam", layer="network.1.conv2", relu_attributions=False)
    assert a.params["layer"] == "network.1.conv2"
    # the map is constant over features (a time-step map broadcast) and not all zero
    assert torch.equal(a.attributions, a.attributions[..., :1].expand_as(a.attributions))
    assert a.attributions.abs().sum() > 0
    with pytest.raises(ConfigError, match="submodule"):
        explain(model, x_ts, 0, "gradcam", layer="network.9")


def test_gradcam_matches_hand_computation() -> None:
    # One Conv1d over time (no padding: T' = T - 2), global average pooling, linear head.
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(F, 4, 3)
            self.fc = nn.Linear(4, C)

        def forward(self, x):
            self.act = self.conv(x.transpose(1, 2))
            return self.fc(self.act.mean(-1))

    net, x = Net(), torch.rand(B, T, F)
    e = explain(net, x, 1, "gradcam", relu_attributions=False)
    net(x)
    a = net.act  # (B, 4, T-2); d logit / d a = W[1, c] / (T - 2) at every step
    weights = (net.fc.weight[1] / (T - 2))[None, :, None]
    cam = (weights * a).sum(1, keepdim=True).detach()
    up = torch.nn.functional.interpolate(cam, size=T, mode="linear")[:, 0, :, None]
    torch.testing.assert_close(e.attributions, up.expand(B, T, F))


@pytest.mark.parametrize("relu", [True, False])
def test_layer_gradcam_equals_captum(zoo, x_ts: torch.Tensor, x_img: torch.Tensor,
                                     relu: bool) -> None:
    # Our one-hook GradCAM is Captum's LayerGradCam map on a Conv1d and on a Conv2d layer.
    from captum.attr import LayerGradCam

    from saliencylab.explain.gradcam import layer_gradcam
    from saliencylab.explain.selection import SelectedOutput
    from saliencylab.utils import eval_mode

    for model, x in ((zoo.ts_model("tcn"), x_ts), (zoo.image_model(), x_img)):
        layer = next(m for m in model.modules() if isinstance(m, nn.Conv1d | nn.Conv2d))
        target = torch.arange(x.shape[0]) % C
        with eval_mode(model):  # no dropout draws between the two calls
            ours = layer_gradcam(SelectedOutput(model), layer, x, (target,), relu=relu)
            theirs = LayerGradCam(model, layer).attribute(x, target=target,
                                                          relu_attributions=relu)
        torch.testing.assert_close(ours, theirs.detach())
        assert ours.abs().sum() > 0


class _TwiceInPlace(nn.Module):
    """One in-place ReLU module called twice per forward pass."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(F, 8), nn.Linear(8, 8)
        self.relu, self.head = nn.ReLU(inplace=True), nn.Linear(8 * T, C)

    def forward(self, x):
        return self.head(self.relu(self.b(self.relu(self.a(x)))).flatten(1))


@pytest.mark.filterwarnings("ignore:.*(backward hooks|did not already require gradients)")
def test_guided_backprop_equals_captum(zoo, x_ts: torch.Tensor, x_img: torch.Tensor) -> None:
    # Our one-gradient Guided Backprop is Captum's GuidedBackprop map, on the registry models and
    # on a net whose one in-place ReLU module runs twice; and it is not the plain gradient.
    from captum.attr import GuidedBackprop

    from saliencylab.utils import eval_mode

    torch.manual_seed(0)
    cases = [(zoo.ts_model("tcn"), x_ts), (zoo.image_model(), x_img), (_TwiceInPlace(), x_ts)]
    for model, x in cases:
        target = torch.arange(x.shape[0]) % C
        ours = explain(model, x, target, "guided_backprop").attributions
        plain = explain(model, x, target, "gradient").attributions
        with eval_mode(model):  # as explain runs it
            theirs = GuidedBackprop(model).attribute(x, target=target).detach()
        torch.testing.assert_close(ours, theirs)
        assert ours.abs().sum() > 0 and not torch.allclose(ours, plain)
        assert not any(m._forward_hooks for m in model.modules())  # hooks removed


class _EveryRule(nn.Module):
    """One of each nonlinearity DeepLIFT has a rule for, an in-place ReLU and a max pool."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(F, 8, 3, padding=1)
        self.acts = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(T, T), nn.ELU(),
                                  nn.Linear(T, T), nn.LeakyReLU(0.1), nn.Linear(T, T),
                                  nn.Tanh(), nn.Linear(T, T), nn.Softplus(),
                                  nn.Linear(T, T), nn.Sigmoid())
        self.pool = nn.MaxPool1d(2)
        self.head = nn.Linear(8 * (T // 2), C)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        h = self.pool(self.acts(self.conv(x.transpose(1, 2))))
        return self.softmax(self.head(h.flatten(1)))


def _assert_same_map(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    scale = theirs.abs().max()  # the maps of a softmax output are ~1e-4: compare relative
    assert scale > 0
    torch.testing.assert_close(ours / scale, theirs / scale)


def _explained_delta(model: nn.Module, x: torch.Tensor, base: torch.Tensor,
                     target: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        rows = torch.arange(x.shape[0])
        return model(x)[rows, target] - model(base)[rows, target]


@pytest.mark.filterwarnings("ignore:.*(hooks and attributes|did not already require gradients)")
def test_deeplift_rules(zoo, x_ts: torch.Tensor, x_img: torch.Tensor) -> None:
    # rules="captum" is Captum's DeepLift map (and DeepLiftShap's for deeplift_shap) on the
    # registry models and on a net with every rule Captum has, softmax included. The default
    # composes the rules, so its maps sum to f(x) - f(baseline) exactly; Captum's lose the max
    # pool's rule after a ReLU (TCN, CNN) and miss that sum there.
    from captum.attr import DeepLift, DeepLiftShap

    from saliencylab.utils import eval_mode

    torch.manual_seed(0)
    # "complete": every nonlinearity a hooked module and a max pool right after a ReLU;
    # "same": no rule right after another (the LSTM's and the transformer's attention
    # nonlinearities are functional, unhooked by both); the softmax net is neither.
    cases = [(zoo.ts_model("tcn"), x_ts, "complete"), (zoo.image_model(), x_img, "complete"),
             (zoo.ts_model("lstm"), x_ts, "same"), (zoo.ts_model("transformer"), x_ts, "same"),
             (_EveryRule(), x_ts, None)]
    g = torch.Generator().manual_seed(3)
    for model, x, kind in cases:
        target = torch.arange(x.shape[0]) % C
        base = torch.rand(x.shape, generator=g)
        dist = torch.rand((3, *x.shape[1:]), generator=g)
        ours = explain(model, x, target, "deeplift", baseline=base, rules="captum")
        ours_shap = explain(model, x, target, "deeplift_shap", baseline=dist, rules="captum")
        with eval_mode(model):  # as explain runs it
            theirs = DeepLift(model).attribute(x, baselines=base, target=target).detach()
            theirs_shap = DeepLiftShap(model).attribute(x, baselines=dist, target=target)
            delta = _explained_delta(model, x, base, target)
        _assert_same_map(ours.attributions, theirs)
        _assert_same_map(ours_shap.attributions, theirs_shap.detach())
        composed = explain(model, x, target, "deeplift", baseline=base).attributions
        if kind == "complete":
            sums, captum_sums = composed.flatten(1).sum(1), theirs.flatten(1).sum(1)
            torch.testing.assert_close(sums, delta, rtol=1e-3, atol=1e-3 * delta.abs().max())
            assert not torch.allclose(captum_sums, delta, rtol=1e-2, atol=0)
        elif kind == "same":
            _assert_same_map(composed, theirs)
        assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    with pytest.raises(ConfigError, match="rules must be one of"):
        explain(zoo.ts_model("tcn"), x_ts, 0, "deeplift_shap", rules="Captum")


def test_deeplift_takes_a_module_called_twice(x_ts: torch.Tensor) -> None:
    # Captum's DeepLift refuses a nonlinearity module that runs twice per forward pass; with a
    # multiplier per call the map is still complete: each row sums to f(x) - f(baseline).
    torch.manual_seed(0)
    model = _TwiceInPlace()
    target = torch.arange(x_ts.shape[0]) % C
    base = torch.rand(x_ts.shape, generator=torch.Generator().manual_seed(1))
    attr = explain(model, x_ts, target, "deeplift", baseline=base).attributions
    delta = _explained_delta(model, x_ts, base, target)
    torch.testing.assert_close(attr.sum((1, 2)), delta, rtol=1e-4, atol=1e-5)
    ig = explain(model, x_ts, target, "gradient_x_input").attributions
    assert not torch.allclose(attr, ig)


def _cancelling_linear() -> nn.Linear:
    """Hidden units x0 - x1 (and multiples): a baseline shifted equally in both features leaves
    them unchanged (|Δin| = 0), where DeepLIFT falls back to the layer's own gradient."""
    lin = nn.Linear(2, 4)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -1.0], [2.0, -2.0], [-1.0, 1.0], [0.5, -0.5]]))
        lin.bias.copy_(torch.tensor([0.25, -0.5, 0.75, 1.5]))
    return lin


@pytest.mark.filterwarnings("ignore:.*(hooks and attributes|did not already require gradients)")
@pytest.mark.parametrize("act", [nn.ReLU(), nn.ELU(), nn.LeakyReLU(0.2), nn.Sigmoid(), nn.Tanh(),
                                 nn.Softplus(beta=2.0, threshold=1.0), nn.Softmax(dim=1),
                                 nn.MaxPool1d(2)])
def test_deeplift_where_the_input_difference_vanishes(act: nn.Module) -> None:
    # Where |Δin| < 1e-10 every rule passes back the layer's own gradient, as Captum's does
    # (rows and targets alike for the max pool: Captum's takes the first row's for all).
    from captum.attr import DeepLift

    from saliencylab.explain.deeplift import deeplift

    torch.manual_seed(0)
    pooled = isinstance(act, nn.MaxPool1d)
    model = nn.Sequential(_cancelling_linear(), nn.Unflatten(1, (1, 4)) if pooled
                          else nn.Identity(), act, nn.Flatten(), nn.Linear(2 if pooled else 4, C))
    x = torch.tensor([[1.25, -0.75]]).repeat(4, 1)
    base = x + 0.5  # exact in binary: the hidden differences are exactly 0
    target = torch.zeros(4, dtype=torch.long) if pooled else torch.arange(4) % C
    ours = deeplift(lambda z, t: model(z).gather(1, t[:, None]), model.named_modules(), x,
                    base, (target,))
    theirs = DeepLift(model).attribute(x, baselines=base, target=target).detach()
    torch.testing.assert_close(ours, theirs)
    assert ours.abs().min() > 0  # the own gradient reached both features


def test_guided_gradcam_is_the_product(zoo, x_img: torch.Tensor) -> None:
    model = zoo.image_model()
    gb = explain(model, x_img, 1, "guided_backprop").attributions
    cam = explain(model, x_img, 1, "gradcam").attributions
    ggc = explain(model, x_img, 1, "guided_gradcam").attributions
    torch.testing.assert_close(ggc, gb * cam)
    assert torch.equal(cam[:, 0], cam[:, 1])  # broadcast over the channels


def test_text_attributions_sum_over_the_embedding(zoo, x_text: torch.Tensor) -> None:
    model = zoo.TextCNN()
    full = explain(model, x_text, 0, "gradient_x_input", reduce_embedding=False).attributions
    assert full.shape == (B, 7, 6)
    per_token = explain(model, x_text, 0, "gradient_x_input").attributions
    torch.testing.assert_close(per_token, full.sum(-1))
    # a named embedding layer gives the same
    named = explain(model, x_text, 0, "gradient_x_input", embedding_layer="embedding")
    torch.testing.assert_close(named.attributions, per_token)


# ------------------------------------------------------------------------------------------------
# post-processing


def test_postprocess_steps() -> None:
    a = torch.tensor([[[-2.0, 1.0], [0.0, 0.5]], [[3.0, 3.0], [3.0, 3.0]]])
    out = postprocess(a, "tsb")
    assert out[0].tolist() == [[1.0, 0.5], [0.0, 0.25]]
    assert out[1].abs().sum() == 0  # a constant map becomes zeros, never NaN
    out = postprocess(a, "maxabs")
    assert out[0].tolist() == [[-1.0, 0.5], [0.0, 0.25]] and out[1].eq(1).all()
    assert postprocess(a, "sum_channels")[0].tolist() == [[-1.0], [0.5]]
    assert postprocess(a, "mean:1")[0].tolist() == [[-1.0, 0.75]]
    img = torch.ones(2, 3, 4, 5)
    assert postprocess(img, ["sum_channels"]).shape == (2, 1, 4, 5)
    assert postprocess(img, ["sum_channels"]).eq(3).all()
    assert postprocess(a, [torch.neg, "abs"]).equal(a.abs())
    with pytest.raises(ConfigError, match="minmax"):
        postprocess(a, "normalise")
    with pytest.raises(ConfigError, match="out of range"):
        postprocess(a, "sum:5")


def test_explain_applies_postprocess(zoo, x_ts: torch.Tensor) -> None:
    model = zoo.ts_model("tcn")
    raw = explain(model, x_ts, 0, "gradient", abs=False).attributions
    e = explain(model, x_ts, 0, "gradient", abs=False, postprocess="tsb")
    torch.testing.assert_close(e.attributions, postprocess(raw, ["abs", "minmax"]))
    assert e.params["postprocess"] == ["abs", "minmax"]


# ------------------------------------------------------------------------------------------------
# TSR wiring


def test_tsr_wiring(zoo, x_ts: torch.Tensor) -> None:
    tsr_module = pytest.importorskip("saliencylab.explain.tsr")
    model, x_ts = zoo.ts_model("tcn"), x_ts[:2]
    e = explain(model, x_ts, 1, "integrated_gradients", n_steps=2, batch_size=64, tsr=True)
    assert e.attributions.shape == (2, T, F) and torch.isfinite(e.attributions).all()
    assert e.params["tsr"] == {}

    # the same as calling TSR with an attribute callable that gives each row its sample's
    # baseline (TSR passes the index of the sample each masked copy was made from)
    assert e.params["baseline"] == "uniform"  # drawn per sample from seed 0
    from saliencylab.explain.adapters import SALT_BASELINE, draw_rows

    def attribute(x, t, index):
        from captum.attr import IntegratedGradients

        base = draw_rows(0, index.cpu(), (T, F), SALT_BASELINE)
        return IntegratedGradients(model).attribute(x, base, target=t, n_steps=2)

    model.eval()
    expected = tsr_module.temporal_saliency_rescaling(
        attribute, x_ts, torch.ones(2, dtype=torch.long), pass_sample_index=True, batch_size=64
    )
    model.train()
    torch.testing.assert_close(e.attributions, expected, rtol=1e-4, atol=1e-6)
    e = explain(model, x_ts, 1, "gradient", tsr={"reference_quirks": True})
    assert e.params["tsr"] == {"reference_quirks": True}
    assert e.attributions.min() >= 0 and e.attributions.max() <= 1
    with pytest.raises(SaliencyLabError):
        explain(model, x_ts, 1, "gradient", tsr={"no_such_option": 1})


# ------------------------------------------------------------------------------------------------
# command line


def test_cli_methods_and_explain(tmp_path, monkeypatch) -> None:
    import json

    import numpy as np
    from typer.testing import CliRunner

    from saliencylab.cli import app
    from saliencylab.data import SyntheticConfig
    from saliencylab.models import build_model
    from saliencylab.train.trainer import save_checkpoint

    monkeypatch.setenv("SALIENCYLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "160")
    runner = CliRunner()
    listed = runner.invoke(app, ["methods"])
    assert listed.exit_code == 0, listed.output
    for name in METHODS:
        assert name in listed.output
    assert "stdevs=0.09" in listed.output

    config = SyntheticConfig(design="Middle", n_train=20, n_test=4, n_time=40, n_features=40)
    model = build_model("tcn", n_features=40, n_time=40, channels=[4, 4, 6], seed=0)
    ckpt = save_checkpoint(tmp_path / "tiny.pt", model, data_config=config)
    out = tmp_path / "out"
    result = runner.invoke(app, ["explain", "--checkpoint", str(ckpt), "--method",
                                 "integrated_gradients", "--n", "3", "--out", str(out),
                                 "-p", "n_steps=4", "-p", "baseline=zero"])
    assert result.exit_code == 0, result.output
    saved = np.load(out / "attributions.npz")
    assert saved["attributions"].shape == (3, 40, 40) == saved["inputs"].shape
    assert saved["masks"].shape == (3, 40, 40) and saved["masks"].dtype == bool
    assert saved["labels"].shape == (3,)
    assert saved["attributions"].min() >= 0 and saved["attributions"].max() <= 1  # "tsb"
    meta = json.loads(str(saved["metadata"]))
    assert meta["params"]["n_steps"] == 4 and meta["params"]["baseline"] == "zero"
    assert sorted(p.name for p in out.glob("*.png")) == [f"sample_00{i}.png" for i in range(3)]

    bad = runner.invoke(app, ["explain", "--checkpoint", str(ckpt), "--method", "nope"])
    assert bad.exit_code != 0 and "unknown saliency method" in str(bad.exception)


@pytest.mark.parametrize("rule", ["riemann_trapezoid", "riemann_left", "gausslegendre"])
def test_integrated_gradients_rule_is_captums_method(zoo, x_ts: torch.Tensor, rule: str) -> None:
    # ``rule`` is Captum's ``method`` of IntegratedGradients (explain's own ``method`` names the
    # saliency method, so the quadrature needs a name of its own)
    from captum.attr import IntegratedGradients

    model = zoo.ts_model("tcn").eval()
    target = torch.tensor([0, 1, 2, 0])[: x_ts.shape[0]]
    ours = explain(model, x_ts, target, "integrated_gradients", baseline="zero", n_steps=7,
                   rule=rule).attributions
    ref = IntegratedGradients(model).attribute(x_ts, baselines=torch.zeros_like(x_ts),
                                               target=target, n_steps=7, method=rule)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-6)
    other = "riemann_right" if rule != "riemann_right" else "gausslegendre"
    assert not torch.allclose(ours, explain(model, x_ts, target, "integrated_gradients",
                                            baseline="zero", n_steps=7,
                                            rule=other).attributions)


def test_integrated_gradients_rule_is_checked(zoo, x_ts: torch.Tensor) -> None:
    with pytest.raises(ConfigError, match="rule"):
        explain(zoo.ts_model("tcn"), x_ts, 0, "integrated_gradients", rule="simpson")


SAMPLING = [name for name, m in METHODS.items()
            if m.sampling and "time_series" in m.applies_to
            # draws made for the whole batch: feature_permutation shuffles across it, the random
            # control is one U[0,1) draw of the batch's shape, GradientSHAP's baseline
            # distribution holds 5 draws per input of the call
            and name not in ("feature_permutation", "random", "gradient_shap")]
# methods whose draws are per input row (the others draw per call from the seed alone)
PER_ROW = {"integrated_gradients", "deeplift", "smoothgrad"}


@pytest.mark.parametrize("method", SAMPLING)
def test_sample_ids_seed_the_draws(zoo, x_ts: torch.Tensor, method: str) -> None:
    # an input explained with sample id i gets the draws of sample i of a whole-batch call,
    # wherever it sits in its own call
    model = zoo.ts_model("tcn").eval()
    params = FAST.get(method, {})
    whole = explain(model, x_ts, 1, method, **params).attributions[[2, 0]]
    part = explain(model, x_ts[[2, 0]], 1, method, sample_ids=torch.tensor([2, 0]),
                   **params).attributions
    scale = float(whole.abs().max())
    torch.testing.assert_close(part, whole, rtol=1e-3, atol=1e-3 * scale + 1e-12)
    if method in PER_ROW:  # without the ids, the rows take the draws of samples 0 and 1
        moved = explain(model, x_ts[[2, 0]], 1, method, **params).attributions
        assert float((moved - whole).abs().max()) > 0.01 * scale


def test_sample_ids_are_checked(zoo, x_ts: torch.Tensor) -> None:
    model = zoo.ts_model("tcn")
    n = x_ts.shape[0]
    with pytest.raises(ShapeError, match="sample_ids"):
        explain(model, x_ts, 0, "smoothgrad", sample_ids=torch.arange(n + 1))
    with pytest.raises(ConfigError, match="sample_ids"):
        explain(model, x_ts, 0, "smoothgrad", sample_ids=torch.zeros(n))
    with pytest.raises(ConfigError, match="non-negative"):
        explain(model, x_ts, 0, "smoothgrad", sample_ids=-torch.ones(n, dtype=torch.long))
