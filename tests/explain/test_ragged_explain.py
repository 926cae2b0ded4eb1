"""Ragged series: ``explain(..., valid=)`` on aeon's JapaneseVowels (zero-padded, lengths
7-29): maps are exactly zero on padded steps for every method, post-processing statistics use
the valid cells, TSR never masks a padded step, perturbation methods never perturb one."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from saliencylab.errors import ConfigError, NotApplicableError, ShapeError
from saliencylab.explain import METHODS, explain, methods_for
from saliencylab.explain.tsr import temporal_saliency_rescaling
from saliencylab.models import build_model

FAST = {
    "integrated_gradients": {"n_steps": 4},
    "lime": {"n_samples": 20},
    "kernel_shap": {"n_samples": 20},
    "shapley_value_sampling": {"n_samples": 1},
    "smoothgrad": {"n_samples": 2},
    "gradient_shap": {"n_samples": 2},
    "deeplift_shap": {"n_baselines": 2},
    "learned_mask": {"steps": 3},
}


@pytest.fixture(scope="module")
def vowels() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Six test series of different lengths, their labels and valid-step masks."""
    from saliencylab.data import load_ucr

    d = load_ucr("JapaneseVowels")
    split = d.test
    valid = getattr(split, "valid_mask", None)
    if valid is None:  # older Split: the lengths live in the metadata
        lengths = torch.as_tensor(d.meta["lengths"]["test"])
        valid = torch.arange(split.x.shape[1])[None, :] < lengths[:, None]
    lengths = valid.sum(1)
    # the shortest, the longest and four in between
    order = lengths.argsort()
    pick = order[torch.linspace(0, len(order) - 1, 6).round().long()]
    x, y, v = split.x[pick].float(), split.y[pick].long(), valid[pick]
    assert not v.all() and (x[~v] == 0).all()  # ragged and zero-padded
    return x, y, v, int(d.n_classes)


@pytest.fixture(scope="module")
def tcn(vowels) -> nn.Module:
    x, _, _, n_classes = vowels
    return build_model("tcn", n_features=x.shape[2], n_time=x.shape[1], n_classes=n_classes,
                       channels=[4, 4], seed=0)  # untrained: random weights


@pytest.mark.parametrize("method", methods_for("time_series"))
def test_no_attribution_mass_on_padded_steps(vowels, tcn, method: str) -> None:
    x, y, valid, _ = vowels
    e = explain(tcn, x, y, method, valid=valid, **FAST.get(method, {}))
    a = e.attributions
    assert a.shape == x.shape and torch.isfinite(a).all()
    assert a[~valid].abs().sum() == 0
    assert e.params["valid"] is True
    if method not in ("random",):
        assert a[valid].abs().sum() > 0


def test_without_valid_padded_steps_do_get_gradient(vowels, tcn) -> None:
    x, y, valid, _ = vowels
    e = explain(tcn, x, y, "gradient")
    assert e.params["valid"] is False
    assert e.attributions[~valid].abs().sum() > 0  # so the mask above is what zeroes them
    masked = explain(tcn, x, y, "gradient", valid=valid).attributions
    torch.testing.assert_close(masked, torch.where(valid[..., None], e.attributions, 0.0))


def test_postprocess_statistics_use_valid_cells(vowels, tcn) -> None:
    x, y, valid, _ = vowels
    raw = explain(tcn, x, y, "gradient_x_input", valid=valid).attributions
    e = explain(tcn, x, y, "gradient_x_input", valid=valid, postprocess="tsb")
    a = e.attributions
    for b in range(x.shape[0]):
        cells = a[b][valid[b]]
        assert cells.max() == 1 and cells.min() == 0
        # the per-sample min over valid cells (padded zeros would make the min 0 after abs)
        r = raw[b][valid[b]].abs()
        torch.testing.assert_close(cells, (r - r.min()) / (r.max() - r.min()))
    assert a[~valid].abs().sum() == 0
    e = explain(tcn, x, y, "gradient", valid=valid, postprocess=["maxabs", "mean_channels"])
    assert e.attributions.shape == (x.shape[0], x.shape[1], 1)
    assert e.attributions[~valid].abs().sum() == 0


def test_tsr_never_masks_a_padded_step(vowels, tcn) -> None:
    x, y, valid, _ = vowels
    x, y, valid = x[:3], y[:3], valid[:3]
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def attribute(rows, target, index):
        seen.append((rows.clone(), index.clone()))
        return explain(tcn, rows, target, "gradient", valid=valid[index]).attributions

    res = temporal_saliency_rescaling(attribute, x, y, pass_sample_index=True, valid=valid,
                                      return_details=True)
    for rows, index in seen:  # every masked copy keeps its sample's padded steps as they are
        pad = ~valid[index]
        assert torch.equal(rows[pad], x[index][pad])
    # no masked copy for a padded step: B (R(X)) + one per valid step + F per relevant step
    n_rows = sum(r.shape[0] for r, _ in seen)
    assert n_rows == 3 + int(valid.sum()) + int(res.relevant.sum()) * x.shape[2]
    assert res.attributions[~valid].abs().sum() == 0 and not res.relevant[~valid].any()
    # through explain(): the same map
    e = explain(tcn, x, y, "gradient", valid=valid, tsr=True)
    torch.testing.assert_close(e.attributions, res.attributions)
    quirks = explain(tcn, x, y, "gradient", valid=valid, tsr={"reference_quirks": True,
                                                              "window": 4})
    assert quirks.attributions[~valid].abs().sum() == 0
    assert quirks.attributions[valid].max() == 1  # final min-max over the valid cells


class Recorder(nn.Module):
    """Records every batch the model sees."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.model(x)


@pytest.mark.parametrize("method", methods_for("time_series"))
def test_no_method_moves_a_padded_step(vowels, tcn, method: str) -> None:
    x, y, valid, _ = vowels
    # one length for the whole batch: every row of every forward pass shares the padded steps
    length = int(valid.sum(1).min())
    valid = torch.zeros_like(valid)
    valid[:, :length] = True
    x = x * valid[..., None]
    model = Recorder(tcn)
    params = dict(FAST.get(method, {}))
    if "baseline" in METHODS[method].defaults:
        params["baseline"] = 0.5  # a move of a padded (zero) step towards it would show
    explain(model, x, y, method, valid=valid, **params)
    if method != "random":
        assert len(model.seen) > 1
    for batch in model.seen:
        assert (batch[:, length:] == 0).all()


def test_integrated_gradients_and_deeplift_stay_complete(vowels) -> None:
    x, y, valid, n_classes = vowels
    with torch.random.fork_rng():
        torch.manual_seed(0)
        mlp = nn.Sequential(nn.Flatten(), nn.Linear(x.shape[1] * x.shape[2], 16), nn.ReLU(),
                            nn.Linear(16, n_classes))
    base = torch.full_like(x, 0.3)
    held = torch.where(valid[..., None], base, x)  # padded steps stay at the input
    with torch.no_grad():
        delta = (mlp(x) - mlp(held)).gather(1, y[:, None])[:, 0]
    ig = explain(mlp, x, y, "integrated_gradients", baseline=base, n_steps=128, valid=valid)
    torch.testing.assert_close(ig.attributions.sum((1, 2)), delta, rtol=1e-2, atol=1e-3)
    dl = explain(mlp, x, y, "deeplift", baseline=base, valid=valid)
    torch.testing.assert_close(dl.attributions.sum((1, 2)), delta, rtol=1e-4, atol=1e-5)
    dist = torch.rand(3, *x.shape[1:], generator=torch.Generator().manual_seed(1))
    dls = explain(mlp, x, y, "deeplift_shap", baseline=dist, valid=valid)
    with torch.no_grad():
        expected = torch.stack([
            (mlp(x) - mlp(torch.where(valid[..., None], d.expand_as(x), x))).gather(1, y[:, None])
            for d in dist
        ]).mean(0)[:, 0]
    torch.testing.assert_close(dls.attributions.sum((1, 2)), expected, rtol=1e-4, atol=1e-5)


def test_feature_ablation_skips_padded_steps(vowels, tcn) -> None:
    x, y, valid, _ = vowels
    length = int(valid.sum(1).max()) - 5  # the last 5 steps are padded in every sample
    valid = valid & (torch.arange(x.shape[1]) < length)
    model = Recorder(tcn)
    explain(model, x[:2], y[:2], "gradient")  # the one probe of the output shape
    model.seen.clear()
    explain(model, x, y, "feature_ablation", perturbations_per_eval=1)
    full = len(model.seen)
    model.seen.clear()
    explain(model, x, y, "feature_ablation", valid=valid, perturbations_per_eval=1)
    assert len(model.seen) == full - 5 * x.shape[2]  # no pass for a step padded everywhere


def test_learned_mask_keeps_padded_steps(vowels, tcn) -> None:
    from saliencylab.explain import learn_masks

    x, y, valid, _ = vowels
    res = learn_masks(tcn, x, y, x, steps=4, valid=valid)
    assert res.masks[~valid].abs().sum() == 0 and res.params["valid"] is True
    assert (res.masks[valid] > 0).all()


def test_valid_is_checked(vowels, tcn) -> None:
    x, y, valid, _ = vowels
    with pytest.raises(ShapeError, match=r"\(batch, time\)"):
        explain(tcn, x, y, valid=valid[:, :-1])
    with pytest.raises(ConfigError, match="bool"):
        explain(tcn, x, y, valid=valid.long())
    empty = valid.clone()
    empty[1] = False
    with pytest.raises(ConfigError, match="at least one"):
        explain(tcn, x, y, valid=empty)
    image = build_model("mnist_cnn", in_channels=1, image_size=8, n_classes=3, channels=[2, 2],
                        hidden=4, seed=0)
    with pytest.raises(NotApplicableError, match="time steps"):
        explain(image, torch.rand(2, 1, 8, 8), 0, valid=torch.ones(2, 1, dtype=torch.bool))
