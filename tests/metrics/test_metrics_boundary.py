"""The trust boundary of the metrics: out-of-range options of every registered metric, inputs
of another dtype or layout than the model's, and model errors turned into SaliencyLabErrors."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from saliencylab.errors import ConfigError, ShapeError
from saliencylab.metrics import METRICS, MetricContext, check_metric_options, make_explain_fn
from saliencylab.models import build_model

T, F = 20, 3


def setup():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(T * F, 3))
    g = torch.Generator().manual_seed(0)
    x, a = torch.rand(4, T, F, generator=g), torch.rand(4, T, F, generator=g)
    y = torch.tensor([0, 1, 2, 0])
    box = torch.zeros(4, T, F, dtype=torch.bool)
    box[:, 3:6] = True
    seg = torch.zeros(4, T, dtype=torch.long)
    seg[:, 3:6] = 1
    ctx = MetricContext(explain_fn=make_explain_fn("gradient"), groundtruth=box,
                        background=lambda n, gen: torch.rand(n, T, F, generator=gen),
                        segments=seg, distractors=torch.rand(8, T, F, generator=g))
    return net, x, y, a, ctx


BAD_OPTIONS = [
    ("sanity", {"max_layers": 0}, r"max_layers must be an int >= 1 or None, got 0"),
    ("sanity", {"data_range": -1.0}, r"data_range must be a finite number in \(0, inf\), got "
                                     r"-1.0"),
    ("sanity", {"include_norm": "no"}, r"include_norm must be True or False, got 'no'"),
    ("faithfulness", {"fraction": 1.5}, r"fraction must be in \(0, 1\], got 1.5"),
    ("faithfulness", {"reference_quirks": "yes"}, r"reference_quirks must be True or False"),
    ("robustness", {"radius": -0.1}, r"radius must be a finite number in \[0, inf\), got -0.1"),
    ("robustness", {"radius": float("nan")}, r"radius must be a finite number"),
    ("robustness", {"n_perturbations": 0}, r"n_perturbations must be a positive int, got 0"),
    ("robustness", {"shared_draws": "yes"}, r"shared_draws must be True or False"),
    ("inter_class_sensitivity", {"shared_draws": 1}, r"shared_draws must be True or False"),
    ("stability", {"window": 0}, r"window must be a positive int or None, got 0"),
    ("groundtruth", {"fractions": [0.5, 1.5]}, r"fractions must lie in \[0, 1\]"),
    ("groundtruth", {"stop_at_zero": "yes"}, r"stop_at_zero must be True, False or None"),
    ("certification", {"n_distractors": 0}, r"n_distractors must be an int >= 1, got 0"),
    ("certification", {"eps_completeness": -1.0},
     r"eps_completeness must be a finite number in \(0, 1\], got -1.0"),
    ("certification", {"eps_soundness": 2.0}, r"eps_soundness must be a finite number in "
                                              r"\(0, 1\], got 2.0"),
    ("certification", {"fractions": [-0.1]}, r"fractions must be values in \[0, 1\]"),
    ("deletion", {"fractions": [1.2]}, r"fractions must be values in \[0, 1\]"),
    ("insertion", {"n_distractors": -2}, r"n_distractors must be an int >= 1, got -2"),
    ("saliency_metric", {"threshold": 1.5}, r"threshold must be a number in \(0, 1\]"),
    ("saliency_metric", {"area_floor": 0.0}, r"area_floor must be a finite number in \(0, 1\], "
                                             r"got 0.0"),
    ("localization", {"theta": 1.5}, r"theta must be in \[0, 1\), got 1.5"),
    ("localization", {"theta": -0.1}, r"theta must be in \[0, 1\), got -0.1"),
    ("localization", {"alpha": 2.0}, r"alpha must be in \[0, 1\], got 2.0"),
    ("localization", {"background": 0.5}, r"background must be the int label"),
    ("localization_biases", {"theta": 1.5}, r"theta must be in \[0, 1\), got 1.5"),
    ("vanishing", {"saliency": "logits"}, r"saliency must be one of softmax_gradient, maps, "
                                          r"got 'logits'"),
    ("eraser", {"bins": [0.0, 0.5]}, r"bins must be fractions in \(0, 1\], got 0.0"),
    ("eraser", {"pad_id": -1}, r"pad_id must be a non-negative int, got -1"),
    ("rationale", {"k_fraction": 1.5}, r"k_fraction must be None or a fraction in \(0, 1\], "
                                       r"got 1.5"),
    ("accuracy_drop", {"fractions": [0.5, 1.5]}, r"fractions must be values in \[0, 1\]"),
    ("insertion_blur", {"sigma": 0}, r"sigma \(the blur's standard deviation in pixels\) must "
                                     r"be a positive number, got 0"),
]


@pytest.mark.parametrize(("metric", "options", "fragment"), BAD_OPTIONS,
                         ids=[f"{m}-{next(iter(o))}" for m, o, _ in BAD_OPTIONS])
def test_out_of_range_options_name_option_value_and_range(metric, options, fragment):
    net, x, y, a, ctx = setup()
    with pytest.raises(ConfigError, match=fragment):
        METRICS[metric].fn(net, x, y, a, context=ctx, **options)


def test_every_registered_metric_has_a_range_check_above():
    assert {m for m, _, _ in BAD_OPTIONS} >= {n for n, m in METRICS.items() if m.options()}


def test_game_options_are_checked_before_any_map_is_explained():
    net, x, y, _, ctx = setup()
    calls = []

    def explain_fn(model, inputs, target):
        calls.append(len(inputs))
        return torch.rand_like(inputs)

    with pytest.raises(ConfigError, match="n_distractors"):
        METRICS["deletion"].fn(net, x, y, None, context=ctx.replace(explain_fn=explain_fn),
                               n_distractors=0)
    assert calls == []


@pytest.mark.parametrize("metric", ["faithfulness", "deletion", "localization", "groundtruth"])
def test_float64_inputs_are_cast_to_the_model_dtype_with_one_note(metric):
    net, x, y, a, ctx = setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        want = METRICS[metric].fn(net, x, y, a, context=ctx)
    with pytest.warns(UserWarning, match=r"casting the float64 (x|inputs) to float32, the dtype "
                                         r"of the model") as caught:
        got = METRICS[metric].fn(net, x.double(), y, a.double(), context=ctx)
    assert len([w for w in caught if "casting" in str(w.message)]) == 1
    if isinstance(want, torch.Tensor):
        assert torch.allclose(got.float(), want.float(), equal_nan=True, atol=1e-6)


@pytest.mark.parametrize("metric", ["faithfulness", "stability", "deletion", "groundtruth"])
def test_rank4_inputs_to_a_time_series_model_name_its_layout(metric):
    _, x, y, a, ctx = setup()
    tcn = build_model("tcn", n_features=F, n_time=T, n_classes=3)
    with pytest.raises(ShapeError, match=r"does not match the layout of the tcn model, \(batch, "
                                         r"time, features\)"):
        METRICS[metric].fn(tcn, x[:, None], y, a[:, None], context=ctx)


def test_a_model_failing_on_the_inputs_is_a_shape_error():
    _, x, y, a, ctx = setup()
    wrong = nn.Sequential(nn.Flatten(), nn.Linear(7, 3))  # torch: a bare RuntimeError
    with pytest.raises(ShapeError, match=r"the model failed on inputs of shape \(\d+, 20, 3\)"):
        METRICS["faithfulness"].fn(wrong, x, y, a, context=ctx)


@pytest.mark.parametrize(("metric", "options", "fragment"), BAD_OPTIONS,
                         ids=[f"{m}-{next(iter(o))}" for m, o, _ in BAD_OPTIONS])
def test_check_metric_options_refuses_the_same_values_before_any_work(metric, options, fragment):
    # what a grid or the command line checks before training or explaining anything
    with pytest.raises(ConfigError, match=rf"^metric {metric}: .*{fragment}"):
        check_metric_options({metric: options})


def test_check_metric_options_accepts_the_defaults_and_valid_values():
    check_metric_options({"robustness": {"radius": 0.2, "relative": True},
                          "completeness": {"fill": "distractor", "eps_soundness": 0.2},
                          "localization": {"theta": 0.0, "target": "label"},
                          "groundtruth": {"fractions": [0.0, 0.5, 1.0]}})
