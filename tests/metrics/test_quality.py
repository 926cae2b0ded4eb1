"""Tests of the [OBJ] quality metrics (saliencylab.metrics.quality) and their registry."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from saliencylab.errors import (
    ConfigError,
    InvalidDataError,
    NotApplicableError,
    ShapeError,
    UnknownNameError,
)
from saliencylab.metrics import (
    METRICS,
    MetricContext,
    faithfulness,
    get_metric,
    inter_class_sensitivity,
    make_explain_fn,
    robustness,
    sanity,
    sanity_curve,
    stability,
)
from saliencylab.metrics.faithfulness import perturb_subsequence
from saliencylab.metrics.sanity import randomizable_layers, reinitialize_
from saliencylab.metrics.stability import class_mean_distance, dtw_distance_matrix

torch.set_num_threads(2)

T, F, C = 24, 2, 3


class SmallCNN(nn.Module):
    """(B, T, F) -> Conv1d -> ReLU -> Conv1d -> ReLU -> global average pool -> Linear."""

    def __init__(self, n_features: int = F, n_classes: int = C, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv1d(n_features, 6, 5, padding=2)
        self.bn = nn.BatchNorm1d(6)
        self.conv2 = nn.Conv1d(6, 8, 3, padding=1)
        self.fc = nn.Linear(8, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv1(x.transpose(1, 2))))
        h = torch.relu(self.conv2(h))
        return self.fc(h.mean(dim=2))


def data(n: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, T, F, generator=g), torch.randint(0, C, (n,), generator=g)


def ignores_model(model, inputs, target):
    """A 'saliency method' that does not look at the model or the class."""
    return inputs.detach() ** 2


GRAD = make_explain_fn("gradient", postprocess="tsb")


def ctx(explain_fn=None, **kwargs) -> MetricContext:
    return MetricContext(explain_fn=explain_fn, **kwargs)


# ------------------------------------------------------------------------------------ sanity


@pytest.mark.parametrize("mode", ["cascade", "independent"])
def test_sanity_is_worst_when_maps_ignore_the_model(mode):
    x, y = data()
    s = sanity(SmallCNN(), x, y, context=ctx(ignores_model), mode=mode)
    assert s.shape == (6,)
    assert torch.allclose(s, torch.full((6,), -1.0))


def test_sanity_of_gradients_beats_model_independent_maps_and_leaves_model_alone():
    model = SmallCNN()
    x, y = data()
    before = copy.deepcopy(model.state_dict())
    s = sanity(model, x, y, GRAD(model, x, y), context=ctx(GRAD))
    assert bool((s > -0.95).all()) and bool((s <= 1).all())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_sanity_cascade_is_cumulative_output_layer_first():
    model = SmallCNN()
    x, y = data(3)
    seen: list[dict[str, torch.Tensor]] = []

    def spy(m, inputs, target):
        seen.append({k: v.clone() for k, v in m.state_dict().items()})
        return inputs.detach().clone()

    res = sanity_curve(model, x, y, context=ctx(spy))
    assert res.layers == ["fc", "conv2", "conv1"]  # BatchNorm skipped, output side first
    assert res.ssim.shape == (3, 3)
    orig = model.state_dict()
    randomised_after = []
    for state in seen[1:]:  # seen[0] is the trained model's map
        randomised_after.append({k.split(".")[0] for k in orig
                                 if not torch.equal(orig[k], state[k])})
    assert randomised_after == [{"fc"}, {"fc", "conv2"}, {"fc", "conv2", "conv1"}]


def test_sanity_independent_randomises_one_layer_at_a_time_and_max_layers():
    model = SmallCNN()
    x, y = data(3)
    seen = []

    def spy(m, inputs, target):
        seen.append({k: v.clone() for k, v in m.state_dict().items()})
        return inputs.detach().clone()

    res = sanity_curve(model, x, y, x.clone(), context=ctx(spy), mode="independent",
                       max_layers=2)
    assert res.layers == ["fc", "conv2"]
    orig = model.state_dict()
    changed = [{k.split(".")[0] for k in orig if not torch.equal(orig[k], s[k])} for s in seen]
    assert changed == [{"fc"}, {"conv2"}]


def test_sanity_is_reproducible_from_the_seed():
    model = SmallCNN()
    x, y = data()
    a = sanity(model, x, y, context=ctx(GRAD, generator=3))
    b = sanity(model, x, y, context=ctx(GRAD, generator=torch.Generator().manual_seed(3)))
    c = sanity(model, x, y, context=ctx(GRAD, generator=4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_reinitialize_is_seeded_keeps_global_rng_and_handles_weight_norm():
    lin = nn.Linear(5, 3)
    w0 = lin.weight.clone()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    reinitialize_(lin, seed=7)
    assert torch.equal(torch.rand(3), expected_next)  # global RNG untouched
    w1 = lin.weight.clone()
    reinitialize_(lin, seed=7)
    assert not torch.equal(w0, w1) and torch.equal(lin.weight, w1)

    conv = weight_norm(nn.Conv1d(2, 4, 3))
    before = conv.weight.detach().clone()
    bias_before = conv.bias.detach().clone()
    reinitialize_(conv, seed=1)
    assert not torch.allclose(conv.weight, before)
    assert not torch.equal(conv.bias, bias_before)
    assert hasattr(conv, "parametrizations")  # still weight-normalised
    holder = nn.Sequential(conv, nn.LayerNorm(4))
    assert [n for n, _ in randomizable_layers(holder)] == ["0"]
    assert [n for n, _ in randomizable_layers(holder, include_norm=True)] == ["0", "1"]


def test_sanity_errors():
    model = SmallCNN()
    x, y = data()
    with pytest.raises(ConfigError, match="explain_fn"):
        sanity(model, x, y)
    with pytest.raises(ConfigError, match="mode"):
        sanity(model, x, y, context=ctx(GRAD), mode="both")
    with pytest.raises(ShapeError, match="explain_fn must return"):
        sanity(model, x, y, context=ctx(lambda m, i, t: i[:, :3]))
    with pytest.raises(NotApplicableError):
        sanity(nn.Flatten(), x, y, context=ctx(ignores_model))


# ------------------------------------------------------------------------------ faithfulness


class OrderSensitive(nn.Module):
    """Logits (-s, s) with s = sum_t w_t x[t, 0] over t in [8, 16), w a ramp: only the order of
    that region on channel 0 matters; channel 1 and every other step are ignored."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.zeros(x.shape[1])
        w[8:16] = torch.linspace(-1.0, 1.0, 8) * 4
        s = (x[:, :, 0] * w).sum(dim=1)
        return torch.stack([-s, s], dim=1)


def increasing_inputs(n: int = 4) -> torch.Tensor:
    t = torch.linspace(0, 1, T)
    return t.view(1, T, 1).expand(n, T, F).clone()


@pytest.mark.parametrize("mode", ["swap", "mean", "zero"])
def test_faithfulness_rewards_maps_on_the_region_the_model_uses(mode):
    x = increasing_inputs()
    y = torch.ones(4, dtype=torch.long)  # s > 0 for increasing inputs: class 1 is predicted
    on_region = torch.zeros_like(x)
    on_region[:, 12, 0] = 1.0
    ignored_channel = torch.zeros_like(x)
    ignored_channel[:, 12, 1] = 1.0
    ignored_time = torch.zeros_like(x)
    ignored_time[:, 2, 0] = 1.0
    good = faithfulness(OrderSensitive(), x, y, on_region, mode=mode, fraction=0.3)
    assert bool((good > 0.05).all())
    for bad in (ignored_channel, ignored_time):
        assert faithfulness(OrderSensitive(), x, y, bad, mode=mode, fraction=0.3).abs().max() == 0
    # the other class loses probability when class 1 gains: sign flips with the target
    flipped = faithfulness(OrderSensitive(), x, 1 - y, on_region, mode=mode, fraction=0.3)
    assert torch.allclose(flipped, -good)
    predicted = faithfulness(OrderSensitive(), x, 1 - y, on_region, mode=mode, fraction=0.3,
                             target="predicted")
    assert torch.allclose(predicted, good)


def test_perturb_subsequence_window_exact_quirk_and_edges():
    x = torch.arange(10.0).view(1, 10, 1)
    a = torch.zeros(1, 10, 1)
    a[0, 4] = 1.0
    # L = ceil(0.4 * 10) = 4: steps 3..6 reversed (exact length), quirk: 3..5 (t* ± 1)
    assert perturb_subsequence(x, a, fraction=0.4).flatten().tolist() == \
        [0, 1, 2, 6, 5, 4, 3, 7, 8, 9]
    assert perturb_subsequence(x, a, fraction=0.4, reference_quirks=True).flatten().tolist() == \
        [0, 1, 2, 5, 4, 3, 6, 7, 8, 9]
    a_edge = torch.zeros(1, 10, 1)
    a_edge[0, 0] = 1.0  # window cut at the start: steps 0..2
    assert perturb_subsequence(x, a_edge, fraction=0.5).flatten().tolist() == \
        [2, 1, 0, 3, 4, 5, 6, 7, 8, 9]
    assert perturb_subsequence(x, a, fraction=0.3, mode="mean").flatten().tolist() == \
        [0, 1, 2, 4, 4, 4, 6, 7, 8, 9]
    assert perturb_subsequence(x, a, fraction=0.3, mode="zero").flatten().tolist() == \
        [0, 1, 2, 0, 0, 0, 6, 7, 8, 9]


def reference_loop_faithfulness(model, x, maps, mode, length):
    """The [OBJ] reference code's loop (channel-first layout there), one sample at a time."""
    scores = []
    for i in range(x.shape[0]):
        sample = x[i].T.numpy()  # (F, T)
        sal = maps[i].T.numpy()
        p = torch.softmax(model(x[i:i + 1]), dim=1)[0]
        top = int(p.argmax())
        row, col = np.unravel_index(np.argmax(sal), sal.shape)
        half = int((math.ceil(sample.shape[1] * length) - 1) / 2)
        lo, hi = max(0, col - half), min(col + half, sample.shape[1])
        mod = sample.copy()
        seg = sample[row, lo:hi + 1]
        mod[row, lo:hi + 1] = seg[::-1] if mode == "swap" else seg.mean()
        p2 = torch.softmax(model(torch.tensor(mod.T).unsqueeze(0).float()), dim=1)[0]
        scores.append(float(p[top] - p2[top]))
    return np.array(scores)


@pytest.mark.parametrize("mode", ["swap", "mean"])
def test_faithfulness_equals_reference_loop_with_quirks(mode):
    model = SmallCNN().eval()
    x, y = data(8)
    maps = torch.rand(8, T, F, generator=torch.Generator().manual_seed(5))
    ours = faithfulness(model, x, y, maps, context=ctx(batch_size=3), mode=mode, fraction=0.2,
                        reference_quirks=True, target="predicted")
    with torch.no_grad():
        ref = reference_loop_faithfulness(model, x, maps, mode, 0.2)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-6)


def test_faithfulness_errors():
    x = increasing_inputs()
    y = torch.ones(4, dtype=torch.long)
    with pytest.raises(ShapeError, match="attributions"):
        faithfulness(OrderSensitive(), x, y, x[:, :5])
    with pytest.raises(ConfigError, match="mode"):
        faithfulness(OrderSensitive(), x, y, x, mode="shuffle")
    with pytest.raises(ConfigError, match="fraction"):
        faithfulness(OrderSensitive(), x, y, x, fraction=0.0)
    with pytest.raises(ShapeError, match="class indices"):
        faithfulness(OrderSensitive(), x, y + 5, x)
    bad = x.clone()
    bad[0, 0, 0] = float("inf")
    with pytest.raises(InvalidDataError):
        faithfulness(OrderSensitive(), x, y, bad)


# ----------------------------------------------------------------- inter-class sensitivity


def test_sensitivity_is_worst_for_class_independent_maps():
    x, y = data()
    s = inter_class_sensitivity(SmallCNN(), x, y, context=ctx(ignores_model))
    assert torch.allclose(s, torch.full((6,), -1.0))


def test_sensitivity_of_a_linear_model_is_minus_cosine_of_its_class_weights():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(T * F, C))
    x, _ = data(5)
    plain_grad = make_explain_fn("gradient", abs=False)
    s = inter_class_sensitivity(lin, x, context=ctx(plain_grad, batch_size=4))
    with torch.no_grad():
        logits = lin(x)
    w = lin[1].weight
    hi, lo = logits.argmax(1), logits.argmin(1)
    expected = -torch.nn.functional.cosine_similarity(w[hi], w[lo], dim=1)
    assert torch.allclose(s, expected, atol=1e-6)


def test_sensitivity_orthogonal_and_zero_maps_score_zero_and_calls_respect_batch_size():
    x, y = data(7)
    sizes = []

    def per_class(model, inputs, target):
        sizes.append(inputs.shape[0])
        out = torch.zeros_like(inputs)
        out[torch.arange(inputs.shape[0]), target, 0] = 1.0  # a different cell per class
        return out

    s = inter_class_sensitivity(SmallCNN(), x, y, context=ctx(per_class, batch_size=4))
    assert s.tolist() == [0.0] * 7
    assert max(sizes) <= 4 and sum(sizes) == 14 and len(sizes) == 4
    zeros = inter_class_sensitivity(SmallCNN(), x, y, context=ctx(lambda m, i, t: i * 0))
    assert zeros.tolist() == [0.0] * 7


def test_sensitivity_reuses_given_maps_of_the_most_likely_class():
    model = SmallCNN().eval()
    x, _ = data(6)
    with torch.no_grad():
        pred = model(x).argmax(1)
    y = pred.clone()
    y[0] = (pred[0] + 1) % C  # one sample whose label is not the most likely class
    rows = []

    def spy(m, inputs, target):
        rows.append(inputs.shape[0])
        return GRAD(m, inputs, target)

    fresh = inter_class_sensitivity(model, x, context=ctx(GRAD))
    reused = inter_class_sensitivity(model, x, y, GRAD(model, x, y), context=ctx(spy))
    assert torch.allclose(fresh, reused, atol=1e-6)
    assert rows == [6 + 1]  # every least-likely map, one most-likely map (sample 0)


# -------------------------------------------------------------------------------- robustness


def fixed_noise(n_rows: int, radius: float, seed: int = 11) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n_rows, T, F, generator=g) * 2 - 1) * radius


@pytest.mark.parametrize("relative", [True, False])
def test_robustness_equals_captum_sensitivity_max(relative):
    from captum.metrics import sensitivity_max

    model = SmallCNN().eval()
    x, y = data(5)
    k, r = 4, 0.1
    noise = fixed_noise(5 * k, r)

    def perturb(inputs, radius):
        inp = inputs[0] if isinstance(inputs, tuple) else inputs
        return inp + noise

    explain_fn = make_explain_fn("gradient", abs=False)

    def captum_fn(inputs, target):
        inp = inputs[0] if isinstance(inputs, tuple) else inputs
        return (explain_fn(model, inp, target),)

    ref = sensitivity_max(captum_fn, x, perturb_func=perturb, perturb_radius=r,
                          n_perturb_samples=k, target=y)
    if not relative:  # Captum >= 0.6 divides by ||M(X)||; undo it for the plain norm
        ref = ref * explain_fn(model, x, y).reshape(5, -1).norm(dim=1)
    ours = robustness(model, x, y, context=ctx(explain_fn, batch_size=10**6), n_perturbations=k,
                      radius=r, perturb_fn=perturb, relative=relative)
    assert torch.allclose(ours, -ref, rtol=1e-5, atol=1e-7)


def test_robustness_noise_is_bounded_seeded_and_batched():
    model = SmallCNN().eval()
    x, y = data(5)
    calls = []

    def spy(m, inputs, target):
        calls.append((inputs.clone(), target.clone()))
        return GRAD(m, inputs, target)

    a = robustness(model, x, y, context=ctx(spy, batch_size=20), radius=0.05,
                   n_perturbations=10)
    # one call for M(X) (5 rows), then whole samples' perturbations: 2 samples = 20 rows a call
    assert [c[0].shape[0] for c in calls] == [5, 20, 20, 10]
    pert = torch.cat([c[0] for c in calls[1:]])
    targets = torch.cat([c[1] for c in calls[1:]])
    base = x.repeat_interleave(10, dim=0)
    assert torch.equal(targets, y.repeat_interleave(10))
    diff = (pert - base).abs()
    assert float(diff.max()) <= 0.05 + 1e-7 and float(diff.min()) < 0.01
    assert float(diff.mean()) > 0.02  # uniform on [-r, r]: mean |eps| = r / 2
    b = robustness(model, x, y, context=ctx(GRAD, batch_size=20), radius=0.05)
    c = robustness(model, x, y, context=ctx(GRAD, batch_size=20, generator=1), radius=0.05)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert bool((a <= 0).all()) and bool((a < 0).any())
    flat = robustness(model, x, y, context=ctx(lambda m, i, t: torch.ones_like(i)))
    assert flat.tolist() == [0.0] * 5
    small = robustness(model, x, y, context=ctx(GRAD, batch_size=2), n_perturbations=3)
    assert small.shape == (5,)


def test_robustness_errors():
    model = SmallCNN()
    x, y = data(3)
    with pytest.raises(ConfigError, match="explain_fn"):
        robustness(model, x, y)
    with pytest.raises(ConfigError, match="n_perturbations"):
        robustness(model, x, y, context=ctx(GRAD), n_perturbations=0)
    with pytest.raises(ConfigError, match="radius"):
        robustness(model, x, y, context=ctx(GRAD), radius=-1.0)
    with pytest.raises(ShapeError, match="perturb_fn"):
        robustness(model, x, y, context=ctx(GRAD), perturb_fn=lambda i, r: i[:1])
    with pytest.raises(ConfigError, match="batch_size"):
        robustness(model, x, y, context=ctx(GRAD, batch_size=0))



SMOOTH = make_explain_fn("smoothgrad", postprocess="tsb", n_samples=4, stdevs=0.3)


def test_robustness_shared_draws_leave_only_the_input_perturbation():
    # a sampling explainer: with its own draws per copy the map changes even when the input
    # barely does; with the sample's draws it changes only as much as the input
    model = SmallCNN().eval()
    x, y = data(5)
    own = robustness(model, x, y, context=ctx(SMOOTH), radius=1e-7)
    shared = robustness(model, x, y, context=ctx(SMOOTH), radius=1e-7, shared_draws=True)
    assert float(own.mean()) < -0.1
    assert float(shared.abs().max()) < 1e-3
    wide = robustness(model, x, y, context=ctx(SMOOTH), radius=0.2, shared_draws=True)
    assert float(wide.mean()) < float(shared.mean())  # a real perturbation still counts
    # a deterministic explainer does not care
    torch.testing.assert_close(
        robustness(model, x, y, context=ctx(GRAD), radius=0.05),
        robustness(model, x, y, context=ctx(GRAD), radius=0.05, shared_draws=True))


@pytest.mark.parametrize("shared", [False, True])
def test_robustness_of_a_sampling_explainer_does_not_depend_on_the_chunking(shared):
    model = SmallCNN().eval()
    x, y = data(5)
    whole = robustness(model, x, y, context=ctx(SMOOTH), shared_draws=shared)
    for bs in (7, 20):
        torch.testing.assert_close(
            robustness(model, x, y, context=ctx(SMOOTH, batch_size=bs), shared_draws=shared),
            whole)


def test_robustness_shared_draws_needs_an_explain_fn_taking_sample_ids():
    model = SmallCNN().eval()
    x, y = data(3)
    with pytest.raises(ConfigError, match="sample_ids"):
        robustness(model, x, y, context=ctx(lambda m, i, t: SMOOTH(m, i, t)), shared_draws=True)
    with pytest.raises(ConfigError, match="shared_draws"):
        robustness(model, x, y, context=ctx(SMOOTH), shared_draws="yes")


def test_sanity_and_sensitivity_of_a_sampling_explainer_do_not_depend_on_the_chunking():
    model = SmallCNN().eval()
    x, y = data(5)
    maps = SMOOTH(model, x, y)
    whole = sanity(model, x, y, maps, context=ctx(SMOOTH))
    torch.testing.assert_close(sanity(model, x, y, maps, context=ctx(SMOOTH, batch_size=2)),
                               whole)
    whole = inter_class_sensitivity(model, x, y, maps, context=ctx(SMOOTH))
    torch.testing.assert_close(
        inter_class_sensitivity(model, x, y, maps, context=ctx(SMOOTH, batch_size=4)), whole)


# --------------------------------------------------------------------------------- stability


def reference_dtw(a: np.ndarray, b: np.ndarray, window: int) -> float:
    """Textbook DTW: sqrt of the least summed squared differences, |i - j| < window."""
    n, m = len(a), len(b)
    d = np.full((n + 1, m + 1), np.inf)
    d[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if abs(i - j) >= window:
                continue
            d[i, j] = (a[i - 1] - b[j - 1]) ** 2 + min(d[i - 1, j], d[i, j - 1], d[i - 1, j - 1])
    return math.sqrt(d[n, m])


@pytest.mark.parametrize("window", [3, 20])
def test_dtw_matrix_equals_reference_dtw_summed_over_channels(window):
    maps = torch.rand(5, T, F, generator=torch.Generator().manual_seed(2))
    ours = dtw_distance_matrix(maps, window=window).numpy()
    ref = np.zeros((5, 5))
    for i in range(5):
        for j in range(5):
            ref[i, j] = sum(reference_dtw(maps[i, :, c].double().numpy(),
                                          maps[j, :, c].double().numpy(), window)
                            for c in range(F))
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_dtw_equal_to_euclidean_is_not_pruned_to_inf():
    # dtaidistance's pruning returns inf when the DTW equals the Euclidean bound
    a = [2.0, 0, 0, 0, 0, 0, 1.0, 0, 0, 0, 0, 0]
    b = [0.0, 0, 2.0, 0, 0, 0, 0, 0, 0, 0, 2.0, 0]
    maps = torch.tensor([a, b]).unsqueeze(-1)
    d = dtw_distance_matrix(maps, window=3)
    assert float(d[0, 1]) == pytest.approx(math.sqrt(13.0))
    assert reference_dtw(np.array(a), np.array(b), 3) == pytest.approx(math.sqrt(13.0))


def test_stability_per_sample_mean_distance_within_class():
    maps = torch.rand(7, T, F, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([0, 1, 0, 1, 0, 2, 1])
    s = stability(None, maps, y, maps, window=5)
    for cls in (0, 1):
        idx = (y == cls).nonzero().flatten()
        d = dtw_distance_matrix(maps[idx], window=5)
        expected = -d.sum(1) / (len(idx) - 1)
        assert torch.allclose(s[idx], expected.float())
        assert bool((s[idx] < 0).all())
    assert math.isnan(float(s[5]))  # alone in its class: undefined
    full = class_mean_distance(maps[y != 2], y[y != 2], window=5)
    per_class = [float(dtw_distance_matrix(maps[y == c], 5).mean()) for c in (0, 1)]
    assert full == pytest.approx(np.mean(per_class))


def test_stability_is_best_for_identical_maps_within_a_class():
    base = torch.rand(2, T, F, generator=torch.Generator().manual_seed(4))
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    maps = base[y]  # every class has one map
    assert stability(None, maps, y, maps).tolist() == [0.0] * 6
    shifted = maps.clone()
    shifted[2] = torch.roll(shifted[2], 1, dims=0)
    assert bool((stability(None, shifted, y, shifted)[y == 0] < 0).all())


# ------------------------------------------------------------------------- registry, all five


def test_registry_entries_and_orientation():
    for name in ("sanity", "faithfulness", "inter_class_sensitivity", "robustness",
                 "stability"):
        info = get_metric(name)
        assert info.higher_is_better and info.task == "classification"
        assert info.references and all("OBJ §3." in r for r in info.references)
    assert get_metric("accuracy_auc").name == "groundtruth"
    assert get_metric("groundtruth").outputs["accuracy_auc"] is False
    assert get_metric("aup").outputs["aup"] is True
    with pytest.raises(UnknownNameError, match="sanity"):
        get_metric("sanityy")


def test_every_classification_metric_runs_through_the_registry():
    model = SmallCNN()
    x, _ = data(6)
    y = torch.tensor([0, 1, 2, 0, 1, 2])  # two samples per class: stability is defined
    attributions = GRAD(model, x, y)
    for name, info in METRICS.items():
        if (info.task != "classification" or info.needs - {"explain_fn"}
                or "time_series" not in info.modalities):  # text metrics take token ids
            continue
        s = info.fn(model, x, y, attributions, context=ctx(GRAD, batch_size=8, generator=0))
        if info.outputs:
            assert set(s.per_sample) == set(info.outputs), name
            values = list(s.per_sample.values())
        else:
            values = [s]
        for v in values:
            assert v.shape == (6,) and v.dtype == torch.float32, name
            assert bool(torch.isfinite(v).all()), name


def test_sensitivity_shared_draws_compare_the_classes_alone():
    # with both maps of a sample from its draws, a class-blind sampling explainer scores -1 (the
    # same map twice); with draws of their own the two maps differ by the explainer's noise
    model = SmallCNN().eval()
    x, y = data(5)

    def blind(m, inputs, target, sample_ids=None):  # SmoothGrad of class 0, whatever the target
        return SMOOTH(m, inputs, torch.zeros_like(target), sample_ids=sample_ids)

    shared = inter_class_sensitivity(model, x, context=ctx(blind), shared_draws=True)
    own = inter_class_sensitivity(model, x, context=ctx(blind))
    torch.testing.assert_close(shared, -torch.ones(5), atol=1e-5, rtol=0)
    assert float(own.max()) > -0.999
    with pytest.raises(ConfigError, match="sample_ids"):
        inter_class_sensitivity(model, x, context=ctx(lambda m, i, t: blind(m, i, t)),
                                shared_draws=True)
