"""Batched LIME / KernelSHAP (saliencylab.explain.surrogate) against Captum and against exact
values: Captum's Lime / KernelShap replaying the very masks we drew, Captum's own LIME draws,
exact Shapley values of additive models, the batched solvers against scikit-learn, seeds,
chunking, devices and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from saliencylab.errors import ConfigError, SaliencyLabError, ShapeError
from saliencylab.explain import explain
from saliencylab.explain.adapters import SALT_LIME, _mix, segment_index
from saliencylab.explain.surrogate import (
    draw_masks,
    kernel_shap_masks,
    lime_masks,
    weighted_lasso,
    weighted_lstsq,
)

ca = pytest.importorskip("captum.attr")
pytest.importorskip("sklearn")

T, F, B, C = 30, 2, 4, 3
TARGET = torch.tensor([0, 1, 2, 1])


class ConvNet(nn.Module):
    """Conv1d -> ReLU -> Linear, with logits large enough that LIME's Lasso keeps effects."""

    def __init__(self, scale: float = 20.0):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.conv = nn.Conv1d(F, 6, 5, padding=2)
            self.fc = nn.Linear(6 * T, C)
        with torch.no_grad():
            self.fc.weight.mul_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x.transpose(1, 2))).flatten(1))


class Additive(nn.Module):
    """logit_c = sum_{t,f} W[c,t,f] tanh(3 x[t,f]) keep[f]: nonlinear in x but additive over
    cells, so with a zero baseline a group's Shapley value is its cells' sum, exactly."""

    def __init__(self, ignored: int | None = None):
        super().__init__()
        g = torch.Generator().manual_seed(2)
        self.w = nn.Parameter(torch.randn(C, T, F, generator=g))
        keep = torch.ones(F)
        if ignored is not None:
            keep[ignored] = 0
        self.register_buffer("keep", keep)

    def terms(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.w[c] * torch.tanh(3 * x) * self.keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ctf,btf->bc", self.w, torch.tanh(3 * x) * self.keep)


def _x(seed: int = 0) -> torch.Tensor:
    return torch.rand(B, T, F, generator=torch.Generator().manual_seed(seed))


def _segments(n_segments: int) -> torch.Tensor:
    return segment_index(T, n_segments)[:, None].expand(T, F)[None]


def _replay(masks: torch.Tensor):
    """A Captum perturb_func (generator function) yielding our masks one by one."""

    def perturb(_inputs, **_kwargs):
        for row in masks:
            yield row[None].long()

    return perturb


class Float64LinearRegression:
    """Captum's SkLearnLinearRegression fitted on float64 copies of its data (sklearn's float32
    lstsq loses ~1e-4 with KernelSHAP's 1e6 weights)."""

    def __new__(cls):
        from captum._utils.models.linear_model import SkLearnLinearRegression

        class _F64(SkLearnLinearRegression):
            def fit(self, train_data, **kwargs):
                ((z, y, w),) = list(train_data)
                data = TensorDataset(z.double(), y.double(), w.double())
                return super().fit(DataLoader(data, batch_size=len(z)), **kwargs)

        return _F64()


def _captum(model, x, method, masks, mask, baseline, n, *, distance_mode="cosine",
            kernel_width=5.0, interpretable_model=None):
    from captum.attr._core.lime import get_exp_kernel_similarity_function

    out = []
    for i in range(x.shape[0]):
        if method == "lime":
            explainer = ca.Lime(
                model, interpretable_model=interpretable_model,
                similarity_func=get_exp_kernel_similarity_function(distance_mode, kernel_width),
                perturb_func=_replay(masks[i]),
            )
        else:
            explainer = ca.KernelShap(model)
            explainer.perturb_func = _replay(masks[i])
            if interpretable_model is not None:
                explainer.interpretable_model = interpretable_model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(explainer.attribute(
                x[i:i + 1], baselines=baseline[i:i + 1], target=int(TARGET[i]),
                feature_mask=mask, n_samples=n, perturbations_per_eval=16,
            ))
    return torch.cat(out)


# ------------------------------------------------------------------------------------------------
# the same masks through Captum


USER_MASK = (torch.arange(T) % 4 + 1)[None, :, None]  # ids 1..4 (Captum shifts them), (1, T, 1)
LIME_CASES = {
    "default": ({"n_segments": 6}, _segments(6), "cosine", 5.0, 0.0),
    "euclid_user_mask": ({"feature_mask": USER_MASK, "distance_mode": "euclidean",
                          "kernel_width": 0.8, "baseline": 0.5}, USER_MASK - 1, "euclidean",
                         0.8, 0.5),
}


@pytest.mark.parametrize("case", list(LIME_CASES))
def test_lime_matches_captum_on_the_same_masks(case: str) -> None:
    from captum._utils.models.linear_model import SkLearnLasso

    params, mask, mode, width, base = LIME_CASES[case]
    model, x, n = ConvNet().eval(), _x(), 200
    ours = explain(model, x, TARGET, "lime", n_samples=n, seed=5, **params).attributions
    masks = draw_masks("lime", 5, torch.arange(B), int(mask.max()) + 1, n)
    baseline = torch.full_like(x, base)
    ref = _captum(model, x, "lime", masks, mask, baseline, n, distance_mode=mode,
                  kernel_width=width)
    assert (ref.abs() > 0.05).any(dim=(1, 2)).all()  # every sample has real effects
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-3)  # sklearn stops at tol=1e-4
    tight = _captum(model, x, "lime", masks, mask, baseline, n, distance_mode=mode,
                    kernel_width=width,
                    interpretable_model=SkLearnLasso(alpha=0.01, tol=1e-10, max_iter=100_000))
    torch.testing.assert_close(ours, tight, rtol=0, atol=1e-5)
    # a wrong kernel width would give other coefficients
    other = explain(model, x, TARGET, "lime", n_samples=n, seed=5,
                    **{**params, "kernel_width": width / 4}).attributions
    assert (other - ours).abs().max() > 1e-3


def test_lime_draws_captums_own_masks() -> None:
    """Same seed, same stream: the batched LIME is Captum's LIME, not just in distribution."""
    from captum.attr._core.lime import default_perturb_func

    rows, m, n = torch.tensor([0, 7]), 6, 40
    ours = lime_masks(3, rows, m, n)
    for i, r in enumerate(rows.tolist()):
        with torch.random.fork_rng():
            torch.manual_seed(_mix(3, r, SALT_LIME))
            theirs = torch.cat([default_perturb_func(torch.zeros(1), num_interp_features=m)
                                for _ in range(n)])
        assert torch.equal(ours[i], theirs.bool())
    model, x = ConvNet().eval(), _x()
    a = explain(model, x, TARGET, "lime", n_samples=100, n_segments=5).attributions
    b = explain(model, x, TARGET, "lime", n_samples=100, n_segments=5,
                implementation="captum").attributions
    assert b.abs().max() > 0.1
    torch.testing.assert_close(a, b, rtol=0, atol=1e-3)


@pytest.mark.parametrize("case", ["default", "user_mask", "rank_deficient"])
def test_kernel_shap_matches_captum_on_the_same_masks(case: str) -> None:
    model, x = ConvNet().eval(), _x(1)
    n, params, mask = 300, {"n_segments": 8}, _segments(8)
    if case == "user_mask":
        params, mask = {"feature_mask": USER_MASK, "baseline": 0.5}, USER_MASK - 1
    if case == "rank_deficient":  # fewer samples than groups: the minimum-norm solution
        n = 6
    baseline = torch.full_like(x, 0.5 if case == "user_mask" else 0.0)
    ours = explain(model, x, TARGET, "kernel_shap", n_samples=n, seed=2, **params).attributions
    masks = draw_masks("kernel_shap", 2, torch.arange(B), int(mask.max()) + 1, n)
    ref = _captum(model, x, "kernel_shap", masks, mask, baseline, n)
    assert ref.abs().max() > 0.1
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-4)
    exact = _captum(model, x, "kernel_shap", masks, mask, baseline, n,
                    interpretable_model=Float64LinearRegression())
    torch.testing.assert_close(ours, exact, rtol=0, atol=1e-5)


def test_lime_rank_deficient_follows_sklearn() -> None:
    """Fewer samples than groups: the Lasso optimum is not unique; coordinate descent from zero
    picks scikit-learn's."""
    from captum._utils.models.linear_model import SkLearnLasso

    model, x, n = ConvNet().eval(), _x(2), 8
    ours = explain(model, x, TARGET, "lime", n_samples=n, n_segments=15).attributions
    masks = draw_masks("lime", 0, torch.arange(B), 15, n)
    ref = _captum(model, x, "lime", masks, _segments(15), torch.zeros_like(x), n,
                  interpretable_model=SkLearnLasso(alpha=0.01, tol=1e-10, max_iter=100_000))
    assert ref.abs().max() > 0.1
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-3)


# ------------------------------------------------------------------------------------------------
# exact values


def test_kernel_shap_recovers_shapley_values_of_a_linear_model(zoo) -> None:
    model = zoo.LinearTS(t=T, f=F, seed=3)
    x = _x(4)
    e = explain(model, x, TARGET, "kernel_shap", n_samples=60, n_segments=5)
    w = model.fc.weight.detach()[TARGET].view(B, T, F)
    exact = (w * x).view(B, 5, 6 * F).sum(-1)  # segments of 6 steps x F features
    got = e.attributions[:, ::6, 0]
    torch.testing.assert_close(got, exact, rtol=0, atol=1e-4)
    # each group's value is broadcast to its cells
    assert torch.equal(e.attributions, got.repeat_interleave(6, 1)[..., None].expand(B, T, F))
    # Captum's own (differently drawn) KernelSHAP is exact too
    c = explain(model, x, TARGET, "kernel_shap", n_samples=60, n_segments=5,
                implementation="captum").attributions
    torch.testing.assert_close(c, e.attributions, rtol=0, atol=1e-4)


def test_ignored_group_gets_zero_and_the_others_their_shapley_value() -> None:
    model = Additive(ignored=1).eval()
    x = _x(5)
    per_feature = torch.arange(F).view(1, 1, F)  # one group per feature
    a = explain(model, x, TARGET, "kernel_shap", n_samples=50,
                feature_mask=per_feature).attributions
    assert a[..., 1].abs().max() < 1e-5
    exact = model.terms(x, TARGET).sum(1)[:, 0]  # feature 0's value
    torch.testing.assert_close(a[:, 0, 0], exact.detach(), rtol=0, atol=1e-4)
    assert exact.abs().min() > 0.1


# ------------------------------------------------------------------------------------------------
# masks and solvers


def test_kernel_shap_masks_follow_captums_sampling() -> None:
    m, n = 6, 20_000
    masks = kernel_shap_masks(0, torch.tensor([4]), m, n)[0]
    assert masks[0].all() and not masks[1].any()
    k = masks[2:].sum(1)
    assert k.min() >= 1 and k.max() <= m - 1
    ks = torch.arange(1, m, dtype=torch.float64)
    p = (m - 1) / (ks * (m - ks))
    freq = torch.bincount(k, minlength=m)[1:].double() / (n - 2)
    torch.testing.assert_close(freq, p / p.sum(), rtol=0, atol=0.015)
    # the ones are placed uniformly: every group is on equally often given k
    per_group = masks[2:][k == 2].double().mean(0)
    torch.testing.assert_close(per_group, torch.full((m,), 2 / m, dtype=torch.float64),
                               rtol=0, atol=0.02)
    again = kernel_shap_masks(0, torch.tensor([9, 4]), m, n)[1]  # per row, not per position
    assert torch.equal(again, masks)


def _problem(seed: int, n: int = 200, m: int = 8):
    g = torch.Generator().manual_seed(seed)
    z = (torch.rand(n, m, generator=g) < 0.5).double()
    y = z @ torch.randn(m, generator=g, dtype=torch.float64) + 0.3 * torch.randn(
        n, generator=g, dtype=torch.float64) + 2.0
    w = torch.rand(n, generator=g, dtype=torch.float64) + 0.2
    return z, y, w


def test_weighted_lasso_matches_sklearn() -> None:
    from sklearn.linear_model import Lasso

    problems = [_problem(s) for s in range(3)]
    z, y, w = (torch.stack(t) for t in zip(*problems, strict=True))
    z[1, :, 3] = z[1, :, 5]  # duplicate columns: not unique, CD from zero picks column 3
    z[2, :, 0] = 1.0  # a constant column: coefficient 0
    coef, intercept = weighted_lasso(z, y, w, alpha=0.05)
    for i in range(3):
        ref = Lasso(alpha=0.05, tol=1e-12, max_iter=1_000_000).fit(
            z[i].numpy(), y[i].numpy(), sample_weight=w[i].numpy())
        np.testing.assert_allclose(coef[i].numpy(), ref.coef_, atol=1e-7)
        np.testing.assert_allclose(intercept[i].item(), ref.intercept_, atol=1e-7)
    assert coef[2, 0] == 0


def test_weighted_lstsq_matches_sklearn_min_norm() -> None:
    from sklearn.linear_model import LinearRegression

    problems = [_problem(s, n=30, m=6) for s in range(3)]
    z, y, w = (torch.stack(t) for t in zip(*problems, strict=True))
    z[1, :, 2] = z[1, :, 4]  # rank deficient: minimum norm splits the effect
    z[2] = z[2, :5].repeat(6, 1)  # only 5 distinct rows for 6 unknowns + intercept
    coef, intercept = weighted_lstsq(z, y, w)
    for i in range(3):
        ref = LinearRegression().fit(z[i].numpy(), y[i].numpy(), sample_weight=w[i].numpy())
        np.testing.assert_allclose(coef[i].numpy(), ref.coef_, atol=1e-9)
        np.testing.assert_allclose(intercept[i].item(), ref.intercept_, atol=1e-9)
    assert abs(coef[1, 2] - coef[1, 4]) < 1e-12


# ------------------------------------------------------------------------------------------------
# seeds, chunking, implementations, devices


@pytest.mark.parametrize("method", ["lime", "kernel_shap"])
def test_seed_batch_size_and_implementation(method: str) -> None:
    model, x = ConvNet().eval(), _x(6)
    kw = {"n_samples": 80, "n_segments": 6}
    a = explain(model, x, TARGET, method, seed=1, **kw).attributions
    assert torch.equal(a, explain(model, x, TARGET, method, seed=1, **kw).attributions)
    assert not torch.allclose(a, explain(model, x, TARGET, method, seed=2, **kw).attributions)
    for bs in (1, 3):
        part = explain(model, x, TARGET, method, seed=1, batch_size=bs, **kw).attributions
        torch.testing.assert_close(part, a, rtol=0, atol=1e-6)
    # a forward pass of a few rows gives the same maps as one of many
    small = explain(model, x, TARGET, method, seed=1, perturbations_per_eval=3, **kw)
    torch.testing.assert_close(small.attributions, a, rtol=0, atol=1e-6)
    captum = explain(model, x, TARGET, method, seed=1, implementation="captum", **kw)
    assert captum.attributions.shape == a.shape and torch.isfinite(captum.attributions).all()
    assert captum.params["implementation"] == "captum"
    assert explain(model, x, TARGET, method, **kw).params["implementation"] == "batched"


def test_text_inputs_attribute_per_token(zoo, x_text: torch.Tensor) -> None:
    model = zoo.TextCNN()
    e = explain(model, x_text, 1, "kernel_shap", n_samples=40, n_segments=None)
    c = explain(model, x_text, 1, "kernel_shap", n_samples=40, n_segments=None,
                implementation="captum")
    assert e.attributions.shape == x_text.shape == c.attributions.shape
    assert torch.isfinite(e.attributions).all() and e.attributions.abs().max() > 0


def test_same_maps_on_cuda() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model, x = ConvNet().eval(), _x(7)
    for method in ("lime", "kernel_shap"):
        cpu = explain(model, x, TARGET, method, n_samples=100, n_segments=6).attributions
        gpu = explain(model.cuda(), x.cuda(), TARGET.cuda(), method, n_samples=100,
                      n_segments=6).attributions
        model.cpu()
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-4)


# ------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("method", ["lime", "kernel_shap"])
def test_bad_parameters_raise(method: str) -> None:
    model, x = ConvNet().eval(), _x()
    with pytest.raises(ShapeError, match="broadcast"):
        explain(model, x, 0, method, feature_mask=torch.zeros(1, T + 1, F, dtype=torch.long))
    with pytest.raises(ConfigError, match="batched, captum"):
        explain(model, x, 0, method, implementation="numpy")
    with pytest.raises(ConfigError, match="n_samples"):
        explain(model, x, 0, method, n_samples=0)
    if method == "lime":
        with pytest.raises(ConfigError, match="distance_mode"):
            explain(model, x, 0, method, distance_mode="manhattan")
        with pytest.raises(ConfigError, match="kernel_width"):
            explain(model, x, 0, method, kernel_width=-1.0)
    with pytest.raises(SaliencyLabError):
        draw_masks("occlusion", 0, torch.arange(2), 4, 10)
