"""Targets beyond one class per sample: a class per time step of a segmentation model (with
steps left out), one output of a regression model (``target=None``) and tuple indices into a
multi-output model, for every method; checked against autograd of the explained sum and against
Captum called with the equivalent scalar forward (or with its own tuple target)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from saliencylab.errors import ConfigError, NotApplicableError, ShapeError
from saliencylab.explain import METHODS, explain, methods_for, select_output
from saliencylab.models import build_model

ca = pytest.importorskip("captum.attr")
# Captum's notices when it is called directly below (explain() silences them itself).
pytestmark = [
    pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients"),
    pytest.mark.filterwarnings("ignore:Setting forward, backward hooks"),
    pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU"),
]

B, T, F, C = 4, 8, 5, 3

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
CLASS_ONLY = {"learned_mask"}  # one mask per class label of a (batch, classes) classifier


class PerStep(nn.Module):
    """Conv1d over time -> ReLU -> a linear layer per step: logits (B, T, C)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.conv = nn.Conv1d(F, 6, 3, padding=1)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(6, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.conv(x.transpose(1, 2))).transpose(1, 2))


class Regressor(nn.Module):
    """Conv1d -> ReLU -> mean over time -> one value per sample, (B,) or (B, 1)."""

    def __init__(self, keep_dim: bool = False):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(1)
            self.conv = nn.Conv1d(F, 4, 3, padding=1)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(4, 1)
        self.keep_dim = keep_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fc(self.relu(self.conv(x.transpose(1, 2))).mean(-1))
        return out if self.keep_dim else out[:, 0]


class MultiOutput(nn.Module):
    """Conv1d -> ReLU -> flatten -> linear to a (B, 3, 4) output."""

    def __init__(self):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(2)
            self.conv = nn.Conv1d(F, 4, 3, padding=1)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(4 * T, 12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.conv(x.transpose(1, 2))).flatten(1)).view(-1, 3, 4)


def _x(seed: int = 0) -> torch.Tensor:
    return torch.rand(B, T, F, generator=torch.Generator().manual_seed(seed))


def _step_target() -> torch.Tensor:
    t = torch.randint(0, C, (B, T), generator=torch.Generator().manual_seed(3))
    t[0, -3:] = -1  # padded steps of sample 0: not explained
    t[2, :2] = -1
    return t


def _scalar(model: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """sum_t logits[b, t, target[b, t]] over the explained steps, written out by hand."""
    logits = model(x)
    keep = (t >= 0).to(logits.dtype)
    return (logits.gather(2, t.clamp_min(0)[..., None])[..., 0] * keep).sum(1)


# ------------------------------------------------------------------------------------------------
# per-step targets


@pytest.mark.parametrize("method", methods_for("time_series"))
def test_every_method_explains_per_step_targets(method: str) -> None:
    model, x, t = PerStep(), _x(), _step_target()
    if method in CLASS_ONLY:
        with pytest.raises(NotApplicableError, match="classes"):
            explain(model, x, t, method, **FAST.get(method, {}))
        return
    e = explain(model, x, t, method, **FAST.get(method, {}))
    assert e.attributions.shape == x.shape
    assert torch.isfinite(e.attributions).all()
    assert torch.equal(e.targets, t)
    assert e.params["n_classes"] == C


@pytest.mark.parametrize("name", ["utime", "bilstm_seg"])
def test_registry_segmenters_take_per_step_targets(name: str) -> None:
    small = {"utime": {"filters": [4, 6], "bottom_filters": 8, "kernel_size": 3},
             "bilstm_seg": {"hidden_size": 4}}[name]
    model = build_model(name, n_features=F, n_time=16, n_classes=C, seed=0, **small)
    x = torch.rand(2, 16, F, generator=torch.Generator().manual_seed(0))
    t = torch.randint(0, C, (2, 16), generator=torch.Generator().manual_seed(1))
    t[1, 10:] = -1
    e = explain(model, x, t, "gradient", abs=False)
    model.eval()
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_scalar(model, xg, t).sum(), xg)
    torch.testing.assert_close(e.attributions, grad)
    if name == "utime":  # a conv segmenter: GradCAM and LRP apply to the summed logits
        assert explain(model, x, t, "gradcam").attributions.shape == x.shape
        assert explain(model, x, t, "lrp").attributions.shape == x.shape


def test_gradient_methods_match_autograd_of_the_sum() -> None:
    model, x, t = PerStep(), _x(), _step_target()
    model.eval()
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_scalar(model, xg, t).sum(), xg)
    torch.testing.assert_close(explain(model, x, t, "gradient", abs=False).attributions, grad)
    torch.testing.assert_close(explain(model, x, t, "gradient").attributions, grad.abs())
    torch.testing.assert_close(explain(model, x, t, "gradient_x_input").attributions, grad * x)
    # a step marked -1 takes no part: changing its class changes nothing
    t2 = t.clone()
    t2[0, -3:] = 2
    other = explain(model, x, t2, "gradient", abs=False).attributions
    assert not torch.allclose(other[0], grad[0])
    torch.testing.assert_close(other[1], grad[1])


def test_int_and_per_sample_targets_mean_that_class_at_every_step() -> None:
    model, x = PerStep(), _x()
    every = explain(model, x, 1, "gradient", abs=False)
    assert torch.equal(every.targets, torch.ones(B, T, dtype=torch.long))
    full = explain(model, x, torch.ones(B, T, dtype=torch.long), "gradient", abs=False)
    torch.testing.assert_close(every.attributions, full.attributions)
    per_sample = torch.tensor([0, 2, 1, 0])
    a = explain(model, x, per_sample, "gradient", abs=False).attributions
    b = explain(model, x, per_sample[:, None].expand(B, T), "gradient", abs=False).attributions
    torch.testing.assert_close(a, b)


def test_several_per_step_targets_stack() -> None:
    model, x, t = PerStep(), _x(), _step_target()
    e = explain(model, x, [t, 0], "gradient")
    assert e.attributions.shape == (2, B, T, F) and e.targets.shape == (2, B, T)
    torch.testing.assert_close(e.attributions[0], explain(model, x, t, "gradient").attributions)


def _scalar_forward(model: nn.Module):
    def forward(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return _scalar(model, x, t)

    return forward


@pytest.mark.parametrize(
    ("method", "captum", "kwargs"),
    [
        ("integrated_gradients", "IntegratedGradients", {"n_steps": 16}),
        ("deeplift", "DeepLift", {}),
        ("occlusion", "Occlusion", {}),
        ("feature_ablation", "FeatureAblation", {}),
        ("shapley_value_sampling", "ShapleyValueSampling", {"n_samples": 3}),
    ],
)
def test_matches_captum_with_the_equivalent_scalar_forward(method, captum, kwargs) -> None:
    model, x, t = PerStep(), _x(), _step_target()
    model.eval()
    ours = explain(model, x, t, method, baseline="zero", **kwargs, seed=5)
    cls = getattr(ca, captum)
    forward = model if captum == "DeepLift" else _scalar_forward(model)
    call = dict(additional_forward_args=(t,))
    if captum == "IntegratedGradients":
        call.update(baselines=torch.zeros_like(x), n_steps=16, method="gausslegendre")
    elif captum == "DeepLift":
        # DeepLift needs a module: the sum of the selected per-step logits as one
        class Summed(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = model

            def forward(self, x, t):
                return _scalar(self.inner, x, t)

        forward = Summed()
        call.update(baselines=torch.zeros_like(x))
    elif captum == "Occlusion":
        call.update(sliding_window_shapes=(1, F), strides=(1, F), baselines=0.0)
    elif captum == "FeatureAblation":
        call.update(baselines=0.0)
    else:
        from saliencylab.explain.adapters import SALT_SHAPLEY, _mix, seeded_global_rng

        mask = torch.arange(T)[None, :, None].expand(1, T, F).contiguous()
        call.update(baselines=0.0, feature_mask=mask, n_samples=3)
        with seeded_global_rng(_mix(5, 0, SALT_SHAPLEY), x.device):
            expected = cls(forward).attribute(x, **call)
        torch.testing.assert_close(ours.attributions, expected, rtol=1e-5, atol=1e-6)
        return
    expected = cls(forward).attribute(x, **call)
    torch.testing.assert_close(ours.attributions, expected, rtol=1e-5, atol=1e-6)


def test_tsr_with_per_step_targets() -> None:
    from saliencylab.explain.tsr import temporal_saliency_rescaling

    model, x, t = PerStep(), _x()[:2], _step_target()[:2]
    e = explain(model, x, t, "gradient", tsr=True)
    model.eval()

    def attribute(rows: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        rows = rows.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(_scalar(model, rows, target).sum(), rows)
        return grad.abs()

    expected = temporal_saliency_rescaling(attribute, x, t)
    torch.testing.assert_close(e.attributions, expected)


# ------------------------------------------------------------------------------------------------
# regression and multi-output models


@pytest.mark.parametrize("keep_dim", [False, True])
def test_regression_with_target_none(keep_dim: bool) -> None:
    model, x = Regressor(keep_dim), _x()
    e = explain(model, x, None, "gradient", abs=False)
    model.eval()
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xg).sum(), xg)
    torch.testing.assert_close(e.attributions, grad)
    assert explain(model, x, method="gradient", abs=False).attributions.equal(e.attributions)
    # integrated gradients is complete for the one output
    ig = explain(model, x, None, "integrated_gradients", baseline="zero", n_steps=64)
    with torch.no_grad():
        delta = (model(x) - model(torch.zeros_like(x))).reshape(B)
    torch.testing.assert_close(ig.attributions.sum((1, 2)), delta, rtol=2e-2, atol=2e-4)


@pytest.mark.parametrize("method", methods_for("time_series"))
def test_every_method_explains_a_regression_model(method: str) -> None:
    model, x = Regressor(), _x()
    if method in CLASS_ONLY:
        with pytest.raises(NotApplicableError):
            explain(model, x, None, method, **FAST.get(method, {}))
        return
    a = explain(model, x, None, method, **FAST.get(method, {})).attributions
    assert a.shape == x.shape and torch.isfinite(a).all()


@pytest.mark.parametrize(
    ("method", "captum", "kwargs"),
    [
        ("gradient", "Saliency", {"abs": False}),
        ("integrated_gradients", "IntegratedGradients", {"baseline": "zero", "n_steps": 12}),
        ("feature_ablation", "FeatureAblation", {}),
        ("occlusion", "Occlusion", {}),
        ("guided_backprop", "GuidedBackprop", {}),
    ],
)
def test_tuple_target_equals_captums_tuple_target(method, captum, kwargs) -> None:
    model, x = MultiOutput(), _x()
    model.eval()
    ours = explain(model, x, (1, 2), method, **kwargs)
    call: dict = {"target": (1, 2)}
    if captum == "Saliency":
        call["abs"] = False
    elif captum == "IntegratedGradients":
        call.update(baselines=torch.zeros_like(x), n_steps=12, method="gausslegendre")
    elif captum == "Occlusion":
        call.update(sliding_window_shapes=(1, F), strides=(1, F), baselines=0.0)
    elif captum == "FeatureAblation":
        call["baselines"] = 0.0
    expected = getattr(ca, captum)(model).attribute(x, **call)
    torch.testing.assert_close(ours.attributions, expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(ours.targets, torch.full((B,), 1 * 4 + 2))  # the flat output index


def test_negative_tuple_indices_count_from_the_end() -> None:
    model, x = MultiOutput(), _x()
    a = explain(model, x, (-1, -2), "gradient").attributions
    torch.testing.assert_close(a, explain(model, x, (2, 2), "gradient").attributions)


def test_select_output_forms() -> None:
    out = torch.arange(24.0).view(2, 3, 4)
    assert select_output(out, torch.tensor([5, 0])).tolist() == [5.0, 12.0]
    step = torch.tensor([[0, -1, 3], [1, 1, -1]])
    assert select_output(out, step).tolist() == [0.0 + 11.0, 13.0 + 17.0]


# ------------------------------------------------------------------------------------------------
# validation at the boundary


def test_target_errors_say_what_was_expected() -> None:
    x = _x()
    seg, clf, reg = PerStep(), nn.Sequential(nn.Flatten(), nn.Linear(T * F, C)), Regressor()
    with pytest.raises(ShapeError, match=r"\(batch, time, classes\)"):
        explain(clf, x, torch.zeros(B, T, dtype=torch.long))  # per-step target, (B, C) model
    with pytest.raises(ShapeError, match=rf"\({B}, {T}\)"):
        explain(seg, x, torch.zeros(B, T - 1, dtype=torch.long))
    with pytest.raises(ConfigError, match=r"\[0, 3\) or -1"):
        explain(seg, x, torch.full((B, T), 3))
    with pytest.raises(ConfigError, match=r"\[0, 3\) or -1"):
        explain(seg, x, torch.full((B, T), -2))
    with pytest.raises(ConfigError, match=r"class index in \[0, 3\)"):
        explain(seg, x, 3)
    with pytest.raises(ConfigError, match=r"class index in \[0, 3\)"):
        explain(clf, x, torch.tensor([0, -1, 1, 0]))  # -1 leaves steps out, not samples
    with pytest.raises(ShapeError, match="target=None"):
        explain(clf, x, None)
    with pytest.raises(ShapeError, match="target=None"):
        explain(reg, x, 0)
    with pytest.raises(ShapeError, match="one index per output dim"):
        explain(MultiOutput(), x, (1,))
    with pytest.raises(ConfigError, match="out of range"):
        explain(MultiOutput(), x, (3, 0))
    with pytest.raises(ConfigError, match="list for several"):
        explain(MultiOutput(), x, (torch.zeros(B, dtype=torch.long), 0))
    with pytest.raises(ShapeError, match="tuple index"):  # (B, 3, 2, 2): no class axis to pick
        explain(nn.Sequential(MultiOutput(), nn.Unflatten(2, (2, 2))), x, 0)
    with pytest.raises(ConfigError, match="one kind"):
        explain(seg, x, [0, (1, 2)])
    with pytest.raises(ConfigError, match="integer"):
        explain(seg, x, torch.zeros(B, T))
    with pytest.raises(NotApplicableError, match="classes"):
        explain(seg, x, 0, "learned_mask", steps=1)


def test_the_registry_covers_every_method() -> None:
    # the methods exercised above: every registered one that applies to time series
    assert set(methods_for("time_series")) == set(METHODS) - {
        n for n, m in METHODS.items() if "time_series" not in m.applies_to
    }
