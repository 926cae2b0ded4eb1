"""Tests of the [OBJ] models: FCN and TCN classifiers, bi-LSTM and U-Time segmenters."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from saliencylab.data import load_synthetic_segmentation
from saliencylab.errors import ConfigError, ShapeError
from saliencylab.models import MODELS, build_model
from saliencylab.models import segmentation as seg_module
from saliencylab.models.fcn import FCNClassifier, TCNObjClassifier
from saliencylab.models.segmentation import (
    BiLSTMSegmenter,
    SegmenterAsClassifier,
    TimeSeriesSegmenter,
    UTimeSegmenter,
)
from saliencylab.train.segmentation import (
    Segmentation,
    per_step_accuracy,
    segmentation_cross_entropy,
)
from saliencylab.train.trainer import TrainConfig, fit, load_checkpoint, save_checkpoint

torch.set_num_threads(2)

F_, T_, C_ = 3, 40, 4
SMALL = {
    "fcn": {},
    "tcn_obj": {"filters": [4, 8, 8, 8]},
    "bilstm_seg": {"hidden_size": 8},
    "utime": {"filters": [4, 8], "bottom_filters": 16, "kernel_size": 5},
}
SEGMENTERS = ("bilstm_seg", "utime")


def small(name: str, seed: int = 0, n_time: int = T_) -> nn.Module:
    return build_model(name, F_, n_time, n_classes=C_, seed=seed, **SMALL[name])


def batch(n: int = 4, n_time: int = T_, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, n_time, F_, generator=torch.Generator().manual_seed(seed))


def out_shape(name: str, n: int, t: int) -> tuple[int, ...]:
    return (n, t, C_) if name in SEGMENTERS else (n, C_)


# ------------------------------------------------------------------------------------------------
# every model
# ------------------------------------------------------------------------------------------------


def test_registered_with_their_kinds():
    assert MODELS["fcn"].kind == "classifier" and MODELS["tcn_obj"].kind == "classifier"
    assert MODELS["bilstm_seg"].kind == "segmenter" and MODELS["utime"].kind == "segmenter"
    assert isinstance(small("utime"), TimeSeriesSegmenter)
    assert not isinstance(small("fcn"), TimeSeriesSegmenter)


@pytest.mark.parametrize("name", list(SMALL))
@pytest.mark.parametrize("n_time", [T_, 37, 50])
def test_output_shapes_for_any_length(name, n_time):
    model = small(name).eval()
    assert tuple(model(batch(3, n_time)).shape) == out_shape(name, 3, n_time)


@pytest.mark.parametrize("name", list(SMALL))
def test_config_rebuilds_and_checkpoint_round_trips(name, tmp_path):
    model = small(name, seed=3).eval()
    rebuilt = build_model(**model.config).eval()
    rebuilt.load_state_dict(model.state_dict())
    x = batch()
    assert torch.equal(model(x), rebuilt(x))
    path = save_checkpoint(tmp_path / f"{name}.pt", model)
    loaded, info = load_checkpoint(path)
    assert info["model_config"] == model.config
    assert torch.equal(model(x), loaded(x))
    assert not torch.equal(small(name, seed=4).eval()(x), model(x))  # the seed matters


@pytest.mark.parametrize("name", list(SMALL))
def test_input_gradients_in_eval_mode(name):
    model = small(name).eval()
    x = batch().requires_grad_(True)
    out = model(x)
    score = out[..., 1].sum()
    (grad,) = torch.autograd.grad(score, x)
    assert grad.shape == x.shape and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(SMALL))
def test_bad_inputs_raise_shape_errors(name):
    model = small(name)
    with pytest.raises(ShapeError):
        model(torch.randn(2, T_))
    with pytest.raises(ShapeError):
        model(torch.randn(2, T_, F_ + 1))


def test_convs_and_relus_are_modules():
    for name in SMALL:
        model = small(name)
        if name != "bilstm_seg":
            assert any(isinstance(m, nn.Conv1d) for m in model.modules())
            assert any(isinstance(m, nn.ReLU) for m in model.modules())
            assert model.feature_layer in set(model.modules())


@pytest.mark.parametrize("name", ["fcn", "tcn_obj"])
@pytest.mark.parametrize("method", ["gradcam", "guided_gradcam", "lrp"])
def test_conv_methods_of_obj_apply(name, method):
    from saliencylab.explain import explain

    model = small(name).eval()
    x = batch()
    maps = explain(model, x, 1, method).attributions
    assert maps.shape == x.shape and torch.isfinite(maps).all() and maps.abs().sum() > 0


# ------------------------------------------------------------------------------------------------
# FCN
# ------------------------------------------------------------------------------------------------


def test_fcn_follows_the_reference_architecture():
    model = FCNClassifier(n_features=2, n_time=60, n_classes=3)
    convs = [m for m in model.blocks.modules() if isinstance(m, nn.Conv1d)]
    assert [c.kernel_size[0] for c in convs] == [7, 5, 3, 3]
    assert [c.out_channels for c in convs] == [16, 32, 32, 16]
    assert all(c.padding == (0,) for c in convs)
    for block in model.blocks:  # conv -> batch norm -> ReLU
        assert [type(m) for m in block] == [nn.Conv1d, nn.BatchNorm1d, nn.ReLU]
    assert model.projection.kernel_size == (1,) and model.projection.out_channels == 3
    model.eval()
    x = torch.randn(5, 60, 2)
    cam = model.class_map(x)
    assert cam.shape == (5, 3, 60 - 14)
    assert torch.equal(model(x), cam.amax(-1))  # global max pool, no ReLU after the projection
    assert (cam < 0).any()


def test_fcn_refuses_series_shorter_than_its_receptive_field():
    with pytest.raises(ConfigError, match="n_time >= 15"):
        FCNClassifier(n_features=1, n_time=14)
    model = FCNClassifier(n_features=1, n_time=30)
    with pytest.raises(ShapeError, match="at least 15"):
        model(torch.randn(2, 14, 1))
    assert model(torch.randn(2, 15, 1)).shape == (2, 2)
    with pytest.raises(ConfigError):
        FCNClassifier(n_features=1, n_time=30, filters=[8, 8], kernel_sizes=[3])
    with pytest.raises(ConfigError):
        FCNClassifier(n_features=1, n_time=30, pooling="median")


# ------------------------------------------------------------------------------------------------
# TCN
# ------------------------------------------------------------------------------------------------


def test_tcn_obj_blocks_and_causality():
    model = TCNObjClassifier(n_features=2, n_time=50, dropout=0.0).eval()
    blocks = list(model.network)
    assert len(blocks) == 4
    assert [b.conv1.kernel_size[0] for b in blocks] == [7, 5, 5, 5]
    assert [b.conv1.out_channels for b in blocks] == [16, 32, 32, 32]
    assert [b.conv1.dilation[0] for b in blocks] == [1, 2, 4, 8]
    x = torch.randn(1, 50, 2)
    y = x.clone()
    y[:, 30:] += 5.0  # change only the future of step 29
    h_x, h_y = model.temporal_features(x), model.temporal_features(y)
    assert torch.allclose(h_x[..., :30], h_y[..., :30])
    assert not torch.allclose(h_x[..., 30:], h_y[..., 30:])
    avg = TCNObjClassifier(n_features=2, n_time=50, dropout=0.0).eval()
    mx = TCNObjClassifier(n_features=2, n_time=50, dropout=0.0, pooling="max").eval()
    mx.load_state_dict(avg.state_dict())
    h = avg.temporal_features(x)
    assert torch.allclose(avg(x), avg.fc(h.mean(-1)), atol=1e-6)
    assert torch.allclose(mx(x), mx.fc(h.amax(-1)), atol=1e-6)


# ------------------------------------------------------------------------------------------------
# segmenters
# ------------------------------------------------------------------------------------------------


def test_bilstm_reference_defaults_and_cudnn_guard(monkeypatch):
    model = BiLSTMSegmenter(n_features=3, n_time=20)
    assert model.rnn.hidden_size == 512 and model.rnn.bidirectional
    assert model.rnn.num_layers == 1 and model.dropout.p == 0.2
    assert model.fc.in_features == 1024
    calls = []
    real = seg_module.rnn_context

    def spy(x, training):
        calls.append(training)
        return real(x, training)

    monkeypatch.setattr(seg_module, "rnn_context", spy)
    model.eval()(torch.randn(1, 20, 3))
    model.train()(torch.randn(1, 20, 3))
    assert calls == [False, True]  # the recurrent layer runs inside the cuDNN guard


def test_bilstm_sees_both_directions():
    model = small("bilstm_seg", n_time=6).eval()
    x = batch(1, n_time=6)
    y = x.clone()
    y[:, -1] += 3.0  # a change at the last step reaches the first step's output
    assert not torch.allclose(model(x)[:, 0], model(y)[:, 0])


def test_utime_reference_structure_and_padding():
    model = UTimeSegmenter(n_features=2, n_time=100, n_classes=3)
    enc_convs = [m for m in model.encoder.modules() if isinstance(m, nn.Conv1d)]
    assert [c.out_channels for c in enc_convs] == [16, 16, 32, 32, 64, 64, 128, 128]
    assert all(c.dilation == (3,) for c in enc_convs)
    bottom = [m for m in model.bottom.modules() if isinstance(m, nn.Conv1d)]
    assert [c.out_channels for c in bottom] == [256, 256]
    dec_convs = [m for m in model.decoder.modules() if isinstance(m, nn.Conv1d)]
    assert [c.out_channels for c in dec_convs] == [128, 128, 64, 64, 32, 32, 16, 16]
    assert all(c.kernel_size == (7,) for c in dec_convs)
    assert model.upsample.mode == "nearest"
    unit = model.encoder[0][0]
    assert [type(m) for m in unit] == [nn.Conv1d, nn.ReLU, nn.BatchNorm1d]
    model.eval()
    x = torch.randn(2, 100, 2)  # 100 is not a multiple of 16: padded to 112, cropped back
    assert model(x).shape == (2, 100, 3)
    padded = F.pad(x.transpose(1, 2), (0, 12)).transpose(1, 2)
    assert torch.allclose(model(x), model(padded)[:, :100], atol=1e-5)


def test_segmenter_as_classifier():
    seg = small("utime").eval()
    x = batch()
    logits = seg(x)
    assert torch.allclose(SegmenterAsClassifier(seg)(x), logits.mean(1))
    steps = torch.zeros(T_, dtype=torch.bool)
    steps[5:9] = True
    assert torch.allclose(SegmenterAsClassifier(seg, "sum", steps)(x), logits[:, 5:9].sum(1))
    assert torch.allclose(SegmenterAsClassifier(seg, steps=steps)(x), logits[:, 5:9].mean(1))
    with pytest.raises(ConfigError):
        SegmenterAsClassifier(seg, steps=torch.zeros(T_, dtype=torch.bool))
    with pytest.raises(ShapeError):
        SegmenterAsClassifier(seg, steps=steps)(batch(n_time=T_ + 1))


# ------------------------------------------------------------------------------------------------
# training a segmenter
# ------------------------------------------------------------------------------------------------


def test_segmentation_loss_is_per_step_cross_entropy():
    logits = torch.randn(2, 5, 3)
    y = torch.randint(0, 3, (2, 5))
    expected = F.cross_entropy(logits.reshape(-1, 3), y.reshape(-1))
    assert torch.allclose(segmentation_cross_entropy(logits, y), expected)
    y_ign = y.clone()
    y_ign[0] = -100
    expected = F.cross_entropy(logits[1], y[1])
    assert torch.allclose(segmentation_cross_entropy(logits, y_ign), expected)
    with pytest.raises(ShapeError):
        segmentation_cross_entropy(logits, y[:, :4])
    proc = Segmentation(class_weights=[1.0, 1.0])
    with pytest.raises(ConfigError, match="class_weights"):
        proc.loss(small("bilstm_seg"), batch(), torch.zeros(4, T_, dtype=torch.long), None)
    assert Segmentation(ignore_index=0).params()["ignore_index"] == 0


def test_fit_trains_a_segmenter_on_the_synthetic_segments():
    data = load_synthetic_segmentation(n_train=64, n_test=24, n_time=48, n_features=6,
                                       max_segments=2, min_length=10, max_length=22, seed=0)
    model = build_model("bilstm_seg", 6, 48, n_classes=data.n_classes, hidden_size=16, seed=0)
    config = TrainConfig(epochs=8, batch_size=16, lr=0.01, patience=8, device="cpu")
    result = fit(model, data, config, Segmentation(), progress=False)
    assert result.procedure["name"] == "segmentation"
    majority = (data.test.y == 0).float().mean().item()  # always "no class"
    assert result.test_accuracy > majority + 0.25
    with torch.no_grad():
        acc = per_step_accuracy(result.model.eval()(data.test.x), data.test.y)
    assert acc == pytest.approx(result.test_accuracy)  # per (sample, step)
