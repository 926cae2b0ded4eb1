"""The trust boundary of explain(): inputs of the wrong dtype or layout, out-of-range settings
of every registered method, and errors Captum / torch would raise on them, each a
SaliencyLabError whose message says what was expected."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from saliencylab.errors import ConfigError, InvalidDataError, ShapeError
from saliencylab.explain import explain
from saliencylab.models import build_model

T, F = 10, 3


class ConvNet(nn.Module):
    """(B, T, F) -> logits through a Conv1d, so GradCAM and every method apply."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(F, 4, 3, padding=1)
        self.fc = nn.Linear(4 * T, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x.transpose(1, 2))).flatten(1))


def x_batch(n: int = 4) -> torch.Tensor:
    return torch.rand(n, T, F, generator=torch.Generator().manual_seed(0))


# ------------------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_other_float_dtypes_are_cast_to_the_models_with_one_note(dtype):
    net, x = ConvNet(), x_batch()
    with pytest.warns(UserWarning, match=rf"casting the {str(dtype)[6:]} inputs to float32, "
                                         "the dtype of the model") as caught:
        e = explain(net, x.to(dtype), 0, "integrated_gradients", n_steps=8)
    assert len([w for w in caught if "casting" in str(w.message)]) == 1
    assert e.attributions.dtype == torch.float32
    want = explain(net, x.to(dtype).float(), 0, "integrated_gradients", n_steps=8).attributions
    assert torch.equal(e.attributions, want)


def test_matching_dtype_gives_no_note():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explain(ConvNet(), x_batch(), 0, "gradient")


# ------------------------------------------------------------------------------ layouts


def test_rank4_input_to_a_time_series_model_names_the_layout():
    tcn = build_model("tcn", n_features=F, n_time=T, n_classes=2)
    with pytest.raises(ShapeError, match=r"the inputs' shape \(4, 1, 10, 3\) does not match the "
                                         r"layout of the tcn model, \(batch, time, features\)"):
        explain(tcn, x_batch()[:, None], torch.zeros(4, dtype=torch.long), "gradient")


def test_time_series_input_to_an_image_model_names_the_layout():
    cnn = build_model("mnist_cnn", n_classes=2, in_channels=1, image_size=8)
    with pytest.raises(ShapeError, match=r"does not match the layout of the mnist_cnn model, "
                                         r"\(batch, channels, height, width\)"):
        explain(cnn, torch.rand(2, 8, 8), 0, "gradient")


def test_integer_inputs_that_are_not_token_ids():
    with pytest.raises(ShapeError, match=r"integer \(or bool\) inputs are read as token ids "
                                         r"\(batch, tokens\), which are 2-D; got \(4, 10, 3\)"):
        explain(ConvNet(), (x_batch() * 10).long(), 0, "gradient")


def test_token_ids_outside_the_vocabulary():
    class Text(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.fc = nn.Embedding(10, 4), nn.Linear(4, 2)

        def forward(self, ids):
            return self.fc(self.emb(ids).mean(1))

    ids = torch.randint(0, 10, (3, 5), generator=torch.Generator().manual_seed(0))
    ids[2, 1] = 12  # torch: a bare IndexError from inside the model
    with pytest.raises(InvalidDataError, match=r"token ids must lie in \[0, 10\).*1 of 15 ids "
                                               r"lie outside, from \d+ to 12"):
        explain(Text(), ids, 0, "gradient")


def test_empty_batch():
    with pytest.raises(ShapeError, match=r"at least one sample, got shape \(0, 10, 3\)"):
        explain(ConvNet(), x_batch()[:0], 0, "gradient")


# ------------------------------------------------------------------- method settings

BAD_SETTINGS = [
    ("gradient", {"abs": "yes"}, "abs must be True or False"),
    ("integrated_gradients", {"n_steps": 0}, r"n_steps must be an int >= 1, got 0"),
    ("integrated_gradients", {"n_steps": 2.5}, r"n_steps must be an int >= 1, got 2.5"),
    ("integrated_gradients", {"internal_batch_size": 0}, r"internal_batch_size .* got 0"),
    ("deeplift_shap", {"n_baselines": 0}, r"n_baselines must be an int >= 1 or None, got 0"),
    ("deeplift_shap", {"baselines_per_eval": 0}, r"baselines_per_eval .* got 0"),
    ("gradient_shap", {"n_samples": 0}, r"n_samples must be an int >= 1, got 0"),
    ("gradient_shap", {"stdevs": float("inf")}, r"stdevs must be a finite number >= 0"),
    ("smoothgrad", {"stdevs": -0.1}, r"stdevs must be a finite number >= 0 .*got -0.1"),
    ("smoothgrad", {"n_samples": 0}, r"n_samples must be an int >= 1, got 0"),
    ("smoothgrad", {"nt_type": "x"}, r"nt_type must be one of 'smoothgrad'"),
    ("occlusion", {"sliding_window_shapes": (0, 3)},
     r"sliding_window_shapes\[0\] must be an int in \[1, 10\]"),
    ("occlusion", {"sliding_window_shapes": (20, 3)},
     r"sliding_window_shapes\[0\] must be an int in \[1, 10\] .*got 20"),
    ("occlusion", {"strides": (0, 3)}, r"strides\[0\] must be an int in \[1, 1\]"),
    ("occlusion", {"perturbations_per_eval": 0}, r"perturbations_per_eval .* got 0"),
    ("feature_ablation", {"perturbations_per_eval": -1}, r"perturbations_per_eval .* got -1"),
    ("shapley_value_sampling", {"n_samples": 0}, r"n_samples must be an int >= 1, got 0"),
    ("lime", {"n_samples": 0}, r"n_samples must be an int >= 1, got 0"),
    ("lime", {"n_segments": 0}, r"n_segments must be an int >= 1 or None, got 0"),
    ("lime", {"kernel_width": float("inf")}, r"kernel_width must be a finite number > 0"),
    ("kernel_shap", {"n_segments": 2.5}, r"n_segments must be an int >= 1 or None, got 2.5"),
    ("lrp", {"epsilon": -1.0}, r"epsilon must be a finite number >= 0, got -1.0"),
    ("lrp", {"strict": "no"}, r"strict must be True or False"),
    ("gradcam", {"interpolate_mode": "x"}, r"interpolate_mode must be one of None"),
    ("gradcam", {"relu_attributions": 1}, r"relu_attributions must be True or False"),
    ("learned_mask", {"steps": -1}, r"steps must be a non-negative int, got -1"),
    ("learned_mask", {"lr": 0.0}, r"lr must be a positive float, got 0.0"),
    ("learned_mask", {"n_distractors": 0}, r"n_distractors must be a positive int, got 0"),
]


@pytest.mark.parametrize(("method", "params", "fragment"), BAD_SETTINGS,
                         ids=[f"{m}-{next(iter(p))}" for m, p, _ in BAD_SETTINGS])
def test_out_of_range_settings_name_method_setting_value_and_range(method, params, fragment):
    with pytest.raises(ConfigError, match=rf"^{method}: {fragment}"):
        explain(ConvNet(), x_batch(), 0, method, **params)


def test_gradcam_mode_that_does_not_fit_the_layer_is_a_config_error():
    # torch.nn.functional.interpolate: NotImplementedError for 'bilinear' on a 1-D map
    with pytest.raises(ConfigError, match=r"interpolate_mode 'bilinear' does not apply to the "
                                          r"1-D GradCAM map"):
        explain(ConvNet(), x_batch(), 0, "gradcam", interpolate_mode="bilinear")


def test_tsr_options_of_the_wrong_kind_are_config_errors():
    for options, fragment in (({"quantile": "high"}, "quantile must lie in"),
                              ({"normalize_time": "yes"}, "normalize_time must be True")):
        with pytest.raises(ConfigError, match=fragment):
            explain(ConvNet(), x_batch(), 0, "gradient", tsr=options)

