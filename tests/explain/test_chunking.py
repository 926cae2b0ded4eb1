"""Memory-aware chunking and the fast gradient path: maps do not change."""

from __future__ import annotations

import pytest
import torch
from captum.attr import InputXGradient, Saliency

from saliencylab.errors import ConfigError
from saliencylab.explain import explain
from saliencylab.explain.api import Setup, prepare
from saliencylab.explain.registry import get_method


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6 * 3, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 2)).eval()


@pytest.mark.parametrize("method,params", [
    ("integrated_gradients", {"n_steps": 8}),
    ("smoothgrad", {"n_samples": 4}),
    ("gradient_shap", {}),
    ("deeplift_shap", {"n_baselines": 4}),
    ("occlusion", {}),
    ("feature_ablation", {}),
    ("shapley_value_sampling", {"n_samples": 3}),
    ("lime", {"n_samples": 40, "n_segments": 3}),
    ("gradient", {}),
])
def test_a_small_budget_chunks_without_changing_the_maps(method, params):
    net, x = _net(), torch.rand(7, 6, 3)
    whole = explain(net, x, 1, method, **params).attributions
    # a budget of a few rows' worth of elements forces several chunks
    small = explain(net, x, 1, method, memory_budget=3 * 18 * 8, **params).attributions
    torch.testing.assert_close(small, whole, rtol=1e-5, atol=1e-6)


def test_chunk_rows_follow_the_elements_of_one_row():
    net, x = _net(), torch.rand(5, 6, 3)
    setup = Setup(model=net, inner=net, space=x, extra=(), modality="time_series", seed=0,
                  batch_size=None, embedding_layer=None, valid=None, output_shape=(2,),
                  probe_target=torch.zeros(1, dtype=torch.long), budget=18 * 10 * 4)
    ig = prepare(get_method("integrated_gradients"), setup, {"n_steps": 10})
    assert ig.chunk_rows == 4  # budget // (n_steps * 18)
    grad = prepare(get_method("gradient"), setup, {})
    assert grad.chunk_rows == 40
    setup.batch_size = 2  # the explicit override wins
    assert prepare(get_method("integrated_gradients"), setup, {"n_steps": 10}).chunk_rows == 2


def test_a_bad_budget_is_refused():
    with pytest.raises(ConfigError, match="memory budget"):
        explain(_net(), torch.rand(2, 6, 3), 0, "gradient", memory_budget=0)


# The reference calls Captum directly, which notes that it set requires_grad on the inputs.
@pytest.mark.filterwarnings("ignore:.*did not already require gradients")
@pytest.mark.parametrize("abs_", [True, False])
def test_fast_gradient_equals_captum(abs_):
    net, x = _net(), torch.randn(6, 6, 3)
    target = torch.tensor([0, 1, 0, 1, 1, 0])
    ours = explain(net, x, target, "gradient", abs=abs_).attributions
    ref = Saliency(net).attribute(x, target=target, abs=abs_)
    torch.testing.assert_close(ours, ref)
    ours = explain(net, x, target, "gradient_x_input").attributions
    torch.testing.assert_close(ours, InputXGradient(net).attribute(x, target=target))


def test_tsr_with_integrated_gradients_chunks_by_memory():
    net, x = _net(), torch.rand(3, 6, 3)
    whole = explain(net, x, 1, "integrated_gradients", n_steps=4, tsr=True).attributions
    small = explain(net, x, 1, "integrated_gradients", n_steps=4, tsr=True,
                    memory_budget=5 * 4 * 18).attributions
    torch.testing.assert_close(small, whole, rtol=1e-5, atol=1e-6)
