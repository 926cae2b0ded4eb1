"""Tests of the model zoo (SPEC section 2): shapes, gradients, checkpoints, causality, registry."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from saliencylab.errors import ConfigError, InvalidDataError, ShapeError, UnknownNameError
from saliencylab.models import (
    MODELS,
    LSTMInputCellAttention,
    MnistCNN,
    TCNClassifier,
    TransformerClassifier,
    build_model,
    list_models,
    strip_weight_norm,
)
from saliencylab.models import base as model_base
from saliencylab.utils import stable_hash


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one thread is fastest and kind to a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


F_, T_, C_ = 6, 12, 3  # features, time steps, classes of the small test models

# small options so every test runs in milliseconds
SMALL = {
    "lstm": {"hidden_size": 8},
    "lstm_ica": {"hidden_size": 8, "hops": 3, "d_a": 8},
    "tcn": {"channels": [4, 4, 8], "kernel_size": 3},
    "transformer": {"n_layers": 2, "heads": 2, "d_ff": 16},
}
TS_MODELS = sorted(SMALL)


def small(name: str, seed: int = 0, **overrides) -> nn.Module:
    return build_model(name, F_, T_, n_classes=C_, seed=seed, **{**SMALL[name], **overrides})


def batch(n: int = 5, seed: int = 1, n_time: int = T_) -> torch.Tensor:
    return torch.rand(n, n_time, F_, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------
# every time-series model
# ------------------------------------------------------------------------------------------------


def test_registry_lists_the_four_time_series_models():
    assert set(TS_MODELS) <= set(list_models(kind="classifier"))  # others add more
    assert set(list_models()) == set(MODELS)
    assert all(MODELS[n].kind == "classifier" for n in TS_MODELS)
    assert MODELS["mnist_cnn"].kind == "image_classifier"


@pytest.mark.parametrize("name", TS_MODELS)
def test_output_shape_and_config(name):
    model = small(name)
    out = model(batch(5))
    assert out.shape == (5, C_)
    assert out.dtype == torch.float32
    cfg = model.config
    assert cfg["name"] == name
    assert (cfg["n_features"], cfg["n_time"], cfg["n_classes"]) == (F_, T_, C_)
    # every constructor option is stored, so a change of defaults cannot change a rebuilt model
    assert set(MODELS[name].options) - {"n_classes"} <= set(cfg)
    json.dumps(cfg)  # JSON-friendly (checkpoints, cache keys)
    assert stable_hash(cfg) == stable_hash(build_model(**cfg).config)


@pytest.mark.parametrize("name", TS_MODELS)
def test_default_sizes_build_and_run_on_the_benchmark_shape(name):
    model = build_model(name, n_features=50, n_time=50, seed=0).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 50, 50)).shape == (2, 2)


@pytest.mark.parametrize("name", TS_MODELS)
def test_input_gradient_in_eval_mode(name):
    model = small(name).eval()
    x = batch(4).requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(logits[:, 1].sum(), x)
    assert grad.shape == x.shape
    assert torch.isfinite(grad).all()
    assert (grad.abs().flatten(1).sum(1) > 0).all()  # every sample gets a non-zero gradient


@pytest.mark.parametrize("name", TS_MODELS)
def test_checkpoint_round_trip(name):
    model = small(name, seed=3)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # move the weights away from the init
    model(batch(8)).sum().backward()
    opt.step()
    buffer = io.BytesIO()
    torch.save({"config": model.config, "state": model.state_dict()}, buffer)
    buffer.seek(0)
    payload = torch.load(buffer, weights_only=True)
    rebuilt = build_model(**payload["config"], seed=99)  # a different init, then loaded
    rebuilt.load_state_dict(payload["state"])
    model.eval()
    rebuilt.eval()
    x = batch(6, seed=5)
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))


@pytest.mark.parametrize("name", TS_MODELS)
@pytest.mark.parametrize(
    "shape", [(5, T_), (5, T_, F_ + 1), (2, 5, T_, F_), (5, T_, F_ - 1)], ids=str
)
def test_shape_errors(name, shape):
    model = small(name)
    with pytest.raises(ShapeError) as info:
        model(torch.rand(*shape))
    assert "(batch, time, features)" in str(info.value)
    assert str(tuple(shape)) in str(info.value)  # says what was given


@pytest.mark.parametrize("name", TS_MODELS)
def test_integer_input_is_refused(name):
    with pytest.raises(InvalidDataError):
        small(name)(torch.ones(2, T_, F_, dtype=torch.long))


@pytest.mark.parametrize("name", TS_MODELS)
def test_determinism_under_seed(name):
    state = torch.random.get_rng_state()
    a, b, c = small(name, seed=7), small(name, seed=7), small(name, seed=8)
    assert torch.equal(state, torch.random.get_rng_state())  # seed leaves global RNG alone
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert any(not torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())
    x = batch()
    a.eval()
    b.eval()
    assert torch.equal(a(x), b(x))
    # dropout in train mode follows torch's global seed
    a.train()
    torch.manual_seed(0)
    y1 = a(x)
    torch.manual_seed(0)
    assert torch.equal(y1, a(x))


@pytest.mark.parametrize("name", TS_MODELS)
def test_other_sequence_lengths_are_accepted(name):
    model = small(name).eval()
    with torch.no_grad():
        assert model(batch(3, n_time=T_ + 7)).shape == (3, C_)
        assert model(batch(3, n_time=4)).shape == (3, C_)


# ------------------------------------------------------------------------------------------------
# input-cell attention
# ------------------------------------------------------------------------------------------------


def naive_summaries(model: LSTMInputCellAttention, x: torch.Tensor) -> torch.Tensor:
    """[ICA] written literally: at each t attend over x_1..x_t, average the r hops."""
    att = model.attention
    out = []
    for t in range(x.shape[1]):
        h = x[:, : t + 1]  # (B, t+1, F)
        a = torch.softmax(att.w2(torch.tanh(att.w1(h))), dim=1)  # over time, (B, t+1, r)
        out.append((a.transpose(1, 2) @ h).sum(1) / att.hops)  # mean over hops of A X
    return torch.stack(out, dim=1)


def naive_lstm_logits(model: LSTMInputCellAttention, m: torch.Tensor) -> torch.Tensor:
    """LSTM cell recurrence with gates = M_t W + h_{t-1} U + b, then the linear head."""
    rnn = model.rnn
    hs = rnn.hidden_size
    h = torch.zeros(m.shape[0], hs)
    c = torch.zeros(m.shape[0], hs)
    for t in range(m.shape[1]):
        gates = (
            m[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0
        )
        i, f, g, o = gates.split(hs, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
    return model.fc(h)


def test_input_cell_attention_matches_naive_per_step_loop():
    model = small("lstm_ica").eval()
    x = batch(4)
    with torch.no_grad():
        m = model.summaries(x)
        torch.testing.assert_close(m, naive_summaries(model, x), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(model(x), naive_lstm_logits(model, m), rtol=1e-5, atol=1e-6)


def test_input_cell_attention_weights_are_causal_distributions():
    model = small("lstm_ica")
    w = model.attention.weights(batch(3))  # (B, r, T_t, T_s)
    assert w.shape == (3, 3, T_, T_)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 3, T_))
    future = torch.ones(T_, T_, dtype=torch.bool).triu(1)
    assert (w[:, :, future] == 0).all()


@pytest.mark.parametrize("t", [0, 5, T_ - 1])
def test_input_cell_attention_is_causal(t):
    model = small("lstm_ica").eval()
    x = batch(3)
    x2 = x.clone()
    x2[:, t] += torch.randn(3, F_)
    with torch.no_grad():
        m, m2 = model.summaries(x), model.summaries(x2)
    assert torch.equal(m[:, :t], m2[:, :t])  # earlier summaries do not see x_t
    assert not torch.allclose(m[:, t:], m2[:, t:])  # later ones do


# ------------------------------------------------------------------------------------------------
# TCN
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [1, 6, T_ - 1])
def test_tcn_conv_stack_is_causal(t):
    model = small("tcn").eval()
    x = batch(3)
    x2 = x.clone()
    x2[:, t:] = torch.rand(3, T_ - t, F_) * 5
    with torch.no_grad():
        h, h2 = model.temporal_features(x), model.temporal_features(x2)
    assert h.shape == (3, 8, T_)
    torch.testing.assert_close(h[..., :t], h2[..., :t], rtol=0, atol=1e-6)
    assert not torch.allclose(h[..., t:], h2[..., t:])


def test_tcn_receptive_field():
    model = build_model("tcn", 2, 64, channels=[16, 16], kernel_size=3, seed=0).eval()
    rf = model.receptive_field
    assert rf == 1 + 2 * 2 * (1 + 2)
    x = torch.rand(8, 64, 2, requires_grad=True)
    model.temporal_features(x)[:, :, -1].sum().backward()
    seen = (x.grad.abs().sum((0, 2)) > 0).nonzero().flatten()
    assert seen.min().item() == 64 - rf and seen.max().item() == 63


def test_tcn_is_hookable_and_uses_weight_norm():
    model = small("tcn")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(convs) == 3 * 2 + 2  # two per block + 1x1 downsample where widths change
    assert len(relus) == 3 * 3
    assert all(hasattr(model.network[0].conv1, "parametrizations") for _ in [0])
    seen = {}
    model.feature_layer.register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    model(batch(2))
    assert seen["out"].shape == (2, 8, T_)


def test_tcn_block_reset_draws_new_weight_norm_parameters():
    model = small("tcn")
    block = model.network[0]
    before = {k: v.clone() for k, v in block.state_dict().items()}
    weight = block.conv1.weight.detach().clone()
    block.conv1.reset_parameters()  # torch's own reset is a no-op under weight norm ...
    assert torch.equal(weight, block.conv1.weight)
    block.reset_parameters()  # ... the block's reset is not
    after = block.state_dict()
    for key in before:
        assert not torch.equal(before[key], after[key]), key
    model(batch())  # still a working model


def test_strip_weight_norm_keeps_outputs_and_leaves_original_intact():
    model = small("tcn").eval()
    plain = strip_weight_norm(model)
    assert not any(hasattr(m, "parametrizations") for m in plain.modules())
    assert all(
        isinstance(m.weight, nn.Parameter) for m in plain.modules() if isinstance(m, nn.Conv1d)
    )
    x = batch()
    with torch.no_grad():
        torch.testing.assert_close(plain(x), model(x))
        model(x)  # the original still runs (its weight property survived)
    assert "network.0.conv1.parametrizations.weight.original0" in model.state_dict()


# ------------------------------------------------------------------------------------------------
# Transformer
# ------------------------------------------------------------------------------------------------


def test_transformer_reference_width_and_projection():
    ref = build_model("transformer", 50, 50, seed=0)
    assert ref.d_model == 50 and isinstance(ref.input_projection, nn.Identity)
    odd = build_model("transformer", 7, 10, n_layers=1, seed=0)  # 7 features, 5 heads
    assert odd.d_model == 10 and isinstance(odd.input_projection, nn.Linear)
    assert odd(torch.rand(2, 10, 7)).shape == (2, 2)
    with pytest.raises(ConfigError, match="divisible by heads"):
        build_model("transformer", 50, 50, d_model=12)


@pytest.mark.parametrize("causal", [True, False])
def test_transformer_causal_option(causal):
    model = small("transformer", causal=causal).eval()
    x = batch(3)
    x2 = x.clone()
    # random, not constant: the layer norms make each step blind to a shift of all its features
    x2[:, 8] += torch.randn(3, F_)
    with torch.no_grad():
        h, h2 = model.encode(x), model.encode(x2)
    assert torch.allclose(h[:, :8], h2[:, :8], atol=1e-6) == causal
    assert not torch.allclose(h[:, 8:], h2[:, 8:])


# ------------------------------------------------------------------------------------------------
# cuDNN guard of the recurrent models (the CUDA path itself needs a GPU)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "is_cuda,training,grad,cudnn,expected",
    [
        (True, False, True, True, True),
        (False, False, True, True, False),
        (True, True, True, True, False),
        (True, False, False, True, False),
        (True, False, True, False, False),
    ],
)
def test_cudnn_workaround_decision(is_cuda, training, grad, cudnn, expected):
    assert model_base.cudnn_rnn_workaround_needed(is_cuda, training, grad, cudnn) is expected


def test_rnn_context_disables_cudnn_only_inside():
    before = torch.backends.cudnn.enabled
    fake_cuda = SimpleNamespace(is_cuda=True)
    with model_base.rnn_context(fake_cuda, training=False):
        assert torch.backends.cudnn.enabled is False
    assert torch.backends.cudnn.enabled == before
    with torch.no_grad(), model_base.rnn_context(fake_cuda, training=False):
        assert torch.backends.cudnn.enabled == before
    with model_base.rnn_context(torch.zeros(1), training=False):  # CPU tensor
        assert torch.backends.cudnn.enabled == before


@pytest.mark.parametrize("name", ["lstm", "lstm_ica"])
def test_recurrent_models_run_their_lstm_under_the_guard(name, monkeypatch):
    torch.backends.cudnn.enabled = True
    calls = []
    monkeypatch.setattr(
        model_base, "cudnn_rnn_workaround_needed", lambda *args: calls.append(args) or True
    )
    model = small(name).eval()
    seen = []
    model.rnn.register_forward_pre_hook(lambda m, i: seen.append(torch.backends.cudnn.enabled))
    model(batch(2))
    assert seen == [False]
    assert torch.backends.cudnn.enabled is True
    assert calls and calls[0][:3] == (False, False, True)  # CPU input, eval, grad enabled


# ------------------------------------------------------------------------------------------------
# registry errors
# ------------------------------------------------------------------------------------------------


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(UnknownNameError) as info:
        build_model("gru", 3, 10)
    for name in TS_MODELS:
        assert name in str(info.value)


def test_name_is_case_insensitive():
    assert build_model("LSTM", 3, 10).config["name"] == "lstm"


def test_unknown_option_is_a_config_error():
    with pytest.raises(ConfigError, match="hidden_size"):  # lists the valid options
        build_model("lstm", 3, 10, hiden_size=5)


@pytest.mark.parametrize(
    "name,option,value",
    [
        ("lstm", "hidden_size", 0),
        ("lstm", "hidden_size", -5),
        ("lstm", "hidden_size", 2.5),
        ("lstm", "hidden_size", True),
        ("lstm", "dropout", 1.0),
        ("lstm", "dropout", -0.1),
        ("lstm_ica", "hops", 0),
        ("lstm_ica", "d_a", -1),
        ("tcn", "channels", []),
        ("tcn", "channels", [5, -1]),
        ("tcn", "channels", "5,5"),
        ("tcn", "kernel_size", 0),
        ("transformer", "heads", 0),
        ("transformer", "n_layers", -1),
        ("transformer", "causal", "yes"),
    ],
)
def test_bad_option_values_are_config_errors(name, option, value):
    with pytest.raises(ConfigError, match=option):
        build_model(name, 5, 10, **{option: value})


@pytest.mark.parametrize("sizes", [(0, 10, 2), (5, -1, 2), (5, 10, 1)])
def test_bad_sizes_are_config_errors(sizes):
    n_features, n_time, n_classes = sizes
    with pytest.raises(ConfigError):
        build_model("tcn", n_features, n_time, n_classes)


def test_time_series_model_needs_sizes():
    with pytest.raises(ConfigError, match="n_features"):
        build_model("lstm")


# ------------------------------------------------------------------------------------------------
# image CNN
# ------------------------------------------------------------------------------------------------


def test_mnist_cnn_reference_shape_and_rebuild():
    model = build_model("mnist_cnn", seed=0)
    assert isinstance(model, MnistCNN)
    assert model.fc1.in_features == 64 * 12 * 12 and model.fc2.out_features == 10
    rebuilt = build_model(**model.config)
    rebuilt.load_state_dict(model.state_dict())
    x = torch.rand(3, 1, 28, 28)
    model.eval()
    rebuilt.eval()
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))


def test_mnist_cnn_options_gradient_and_errors():
    model = build_model("mnist_cnn", in_channels=3, image_size=[32, 20], n_classes=4).eval()
    x = torch.rand(2, 3, 32, 20, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 4)
    (grad,) = torch.autograd.grad(out[:, 0].sum(), x)
    assert torch.isfinite(grad).all() and (grad.abs().flatten(1).sum(1) > 0).all()
    seen = {}
    model.feature_layer.register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    model(x)
    assert seen["out"].shape == (2, 64, 28, 16)
    with pytest.raises(ShapeError, match=r"\(B, 3, 32, 20\)"):
        model(torch.rand(2, 3, 32, 32))
    with pytest.raises(ConfigError):
        build_model("mnist_cnn", image_size=5)
    with pytest.raises(ConfigError, match="n_features"):
        build_model("mnist_cnn", 3, 10)


# ------------------------------------------------------------------------------------------------
# each model can learn an easy task
# ------------------------------------------------------------------------------------------------


def easy_task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise in [0, 1) with a +-0.5 shift in a box (t 3..8, f 1..3) that decides the class."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, T_, F_, generator=gen)
    y = torch.randint(0, 2, (n,), generator=gen)
    x[:, 3:9, 1:4] += (y.float() - 0.5)[:, None, None]
    return x, y


@pytest.mark.parametrize("name", TS_MODELS)
def test_each_model_fits_an_easy_task(name):
    torch.manual_seed(0)
    model = build_model(name, F_, T_, n_classes=2, seed=0, **SMALL[name])
    x, y = easy_task(256, seed=0)
    x_test, y_test = easy_task(200, seed=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(20):
        for idx in torch.randperm(len(x)).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert acc >= 0.9, f"{name} reached only {acc:.2f} test accuracy on the easy task"


def test_tcn_default_channels_follow_the_reference():
    model = TCNClassifier(50, 50)
    assert model.config["channels"] == [5, 5, 50] and model.config["kernel_size"] == 4
    assert [b.conv1.dilation[0] for b in model.network] == [1, 2, 4]
    t = TransformerClassifier(50, 50)
    assert (len(t.layers), t.config["heads"], t.config["d_ff"]) == (6, 5, 400)


def test_lstm_forget_bias_starts_the_forget_gates_there():
    # PyTorch's [i, f, g, o] layout: the forget quarter of b_ih + b_hh is the bias; the other
    # quarters and every weight keep PyTorch's draw.
    torch.manual_seed(0)
    plain = build_model("lstm", n_features=F_, n_time=T_, hidden_size=8)
    torch.manual_seed(0)
    started = build_model("lstm", n_features=F_, n_time=T_, hidden_size=8, forget_bias=1.0)
    h = 8
    bias = started.rnn.bias_ih_l0 + started.rnn.bias_hh_l0
    torch.testing.assert_close(bias[h:2 * h], torch.ones(h))
    for name, p in plain.rnn.named_parameters():
        q = dict(started.rnn.named_parameters())[name]
        keep = torch.ones_like(p, dtype=torch.bool)
        if name.startswith("bias"):
            keep[h:2 * h] = False
        assert torch.equal(p[keep], q[keep]), name
    assert started.config["forget_bias"] == 1.0 and plain.config["forget_bias"] is None
    rebuilt = build_model(**started.config)
    assert rebuilt.config == started.config
    for bad in ("1", float("nan"), True):
        with pytest.raises(ConfigError, match="forget_bias"):
            build_model("lstm", n_features=F_, n_time=T_, forget_bias=bad)
