"""Nothing non-finite is swallowed: NaN / inf in model outputs, attributions, post-processing
and metrics raise NonFiniteError (an InvalidDataError, so a SaliencyLabError) that names what
held them and how many."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from saliencylab.errors import InvalidDataError, NonFiniteError, SaliencyLabError
from saliencylab.explain import explain
from saliencylab.explain.postprocess import postprocess
from saliencylab.metrics import MetricContext, faithfulness, insertion, make_explain_fn

T, F = 10, 3


def linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(T * F, 2))


def nan_checkpoint() -> nn.Module:
    """A classifier whose checkpoint holds a NaN weight (saved after a diverging step)."""
    net = linear()
    with torch.no_grad():
        net[1].weight[0, 0] = float("nan")
    return net


class NaNGradient(nn.Module):
    """Finite outputs, NaN input gradients: ``where(x > 2, sqrt(x - 2), x)`` at x <= 2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.where(x > 2, torch.sqrt(x - 2), x).flatten(1).sum(1, keepdim=True)
        return torch.cat([s, -s], dim=1)


class InfWhenOccluded(nn.Module):
    """Finite on the clean inputs, inf as soon as a zero (the occlusion baseline) appears."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1).sum(1, keepdim=True)
        s = torch.where((x == 0).flatten(1).any(1, keepdim=True), s * float("inf"), s)
        return torch.cat([s, -s], dim=1)


def test_error_class_is_an_invalid_data_error():
    assert issubclass(NonFiniteError, InvalidDataError)
    assert issubclass(NonFiniteError, SaliencyLabError)


@pytest.mark.parametrize("method", ["gradient", "integrated_gradients"])
def test_nan_checkpoint_is_refused_not_written_as_zero_map(method):
    # today's bug: NaN gradients -> post-processing made an all-zero map, written with exit 0
    x = torch.rand(4, T, F)
    with pytest.raises(NonFiniteError, match=rf"^{method}: found 1 non-finite value \(1 NaN, 0 "
                                             r"inf\) of 2 in the model's outputs.*1\.weight"):
        explain(nan_checkpoint(), x, 0, method, postprocess="tsb")


def test_nan_attributions_name_the_method_and_count():
    x = torch.rand(3, T, F)  # every value <= 2: sqrt's gradient is NaN everywhere
    with pytest.raises(NonFiniteError, match=r"^gradient_x_input: found 90 non-finite values "
                                             r"\(90 NaN, 0 inf\) of 90 in the attributions"):
        explain(NaNGradient(), x, 0, "gradient_x_input")


def test_non_finite_outputs_during_perturbation_are_counted():
    x = torch.rand(2, T, F) + 0.5  # no zero in the clean inputs: the probe is finite
    with pytest.raises(NonFiniteError, match=r"^occlusion: the model returned 20 non-finite "
                                             r"explained outputs \(NaN or inf\) of 22"):
        explain(InfWhenOccluded(), x, 0, "occlusion")


def test_nan_inputs_are_refused():
    x = torch.rand(2, T, F)
    x[1, 2, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"found 1 non-finite value \(1 NaN, 0 inf\) of 60 "
                                             r"in the inputs"):
        explain(linear(), x, 0, "gradient")


@pytest.mark.parametrize("steps", ["minmax", "maxabs", "tsb", ["abs", "sum_channels"]])
def test_postprocess_never_turns_nan_into_zeros(steps):
    m = torch.rand(2, T, F)
    m[0, 3, 1] = float("nan")
    with pytest.raises(NonFiniteError, match="in the map given to post-processing"):
        postprocess(m, steps)


def test_postprocess_step_that_makes_inf_is_named():
    with pytest.raises(NonFiniteError, match="after post-processing step 'sum:1'"):
        postprocess(torch.full((1, 2, 2), 3e38), "sum:1")


def test_constant_finite_map_stays_defined_under_minmax():
    # a constant map has no range: documented as all zeros, never NaN
    m = torch.full((2, T, F), 0.7)
    out = postprocess(m, "minmax")
    assert torch.equal(out, torch.zeros_like(m))
    assert torch.equal(postprocess(torch.zeros(1, T, F), "maxabs"), torch.zeros(1, T, F))


def test_metrics_refuse_non_finite_model_outputs():
    x, y = torch.rand(4, T, F), torch.tensor([0, 1, 0, 1])
    a = torch.rand(4, T, F)
    with pytest.raises(NonFiniteError, match=r"found 8 non-finite values \(8 NaN, 0 inf\) of 16 "
                                             r"in the model's outputs.*1\.weight"):
        faithfulness(nan_checkpoint(), x, y, a)  # x and its perturbed copies: 8 rows
    ctx = MetricContext(explain_fn=make_explain_fn("gradient"))
    with pytest.raises(NonFiniteError, match="in the model's outputs"):
        insertion(nan_checkpoint(), x, y, a, context=ctx, target="label")
