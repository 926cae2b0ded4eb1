"""Tests of batched Temporal Saliency Rescaling ([TSB] Ismail et al., NeurIPS 2020).

The fast implementation is checked against a naive one written here straight from the algorithm
(loops over samples, time steps and features, one attribution call per masked input).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency
from torch import nn

import saliencylab.explain as explain_pkg
from saliencylab.errors import ConfigError, InvalidDataError, ShapeError
from saliencylab.explain.tsr import (
    TSRResult,
    default_batch_size,
    temporal_saliency_rescaling,
    tsr,
)

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")

T, F, B = 8, 6, 3
DT = torch.float64


# ----------------------------------------------------------------------------- models


class TinyTCN(nn.Module):
    """Two causal dilated Conv1d layers with a residual, logits from the last time step."""

    def __init__(self, n_features: int, hidden: int = 8, n_classes: int = 2):
        super().__init__()
        self.conv1 = nn.Conv1d(n_features, hidden, 3, padding=2, dilation=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=4, dilation=2)
        self.skip = nn.Conv1d(n_features, hidden, 1)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)
        n = h.shape[-1]
        z = torch.tanh(self.conv1(h)[..., :n])
        z = torch.relu(self.conv2(z)[..., :n] + self.skip(h))
        return self.head(z[..., -1])


class TinyLSTM(nn.Module):
    def __init__(self, n_features: int, hidden: int = 8, n_classes: int = 2):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def linear_model(n_time: int = T, n_features: int = F) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(n_time * n_features, 2))


def make_model(kind: str) -> nn.Module:
    torch.manual_seed(0)
    model = {"tcn": lambda: TinyTCN(F), "lstm": lambda: TinyLSTM(F), "linear": linear_model}[kind]()
    return model.to(DT).eval()


def make_method(name: str, model: nn.Module):
    """A batched ``attribute(x, target)`` built directly from Captum."""
    if name == "saliency":
        sal = Saliency(model)
        return lambda x, t: sal.attribute(x, target=t, abs=True)
    if name == "ig":
        ig = IntegratedGradients(model)
        baseline = torch.linspace(-0.5, 0.5, T * F, dtype=DT).reshape(1, T, F)
        return lambda x, t: ig.attribute(x, baselines=baseline, target=t, n_steps=8)
    if name == "gxi":
        gxi = InputXGradient(model)
        return lambda x, t: gxi.attribute(x, target=t)
    raise AssertionError(name)


def make_data(n: int = B, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, T, F, generator=gen, dtype=DT)
    y = torch.randint(0, 2, (n,), generator=gen)
    return x, y


# ----------------------------------------------------------------------------- naive TSR


def naive_tsr(
    attribute,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    mask_value="zero",
    threshold="mean",
    alpha=None,
    quantile=0.55,
    normalize_time=False,
    normalize_features=False,
    below_threshold=0.0,
    final_scale=False,
    window=None,
    time_relevance="masking",
    per_sample_attribute=None,
) -> torch.Tensor:
    """TSR one masked input at a time, straight from [TSB] §7, Algorithm 1."""
    out = torch.zeros_like(x)
    w = window or 1
    group_list = [list(range(s, min(s + w, x.shape[1]))) for s in range(0, x.shape[1], w)]
    for b in range(x.shape[0]):
        xb, tb = x[b : b + 1].clone(), y[b : b + 1]

        def attr(inp, b=b, tb=tb):
            if per_sample_attribute is not None:
                return per_sample_attribute(inp, tb, b).detach()
            return attribute(inp, tb).detach()

        base = attr(xb)

        def fill(steps, i, xb=xb):
            if mask_value == "first":
                return float(xb[0, 0, 0])
            if mask_value == "zero":
                return 0.0
            if mask_value == "mean":
                return float(xb[0, steps, i].mean())
            return float(mask_value)

        def change(masked, base=base, attr=attr):
            return float((base - attr(masked)).abs().sum())

        big_delta = []
        for steps in group_list:
            if time_relevance == "attribution":
                big_delta.append(float(base[0, steps, :].abs().mean()))
                continue
            masked = xb.clone()
            for t in steps:
                for i in range(x.shape[2]):
                    masked[0, t, i] = fill(steps, i)
            big_delta.append(change(masked))
        big_delta = np.array(big_delta)
        if normalize_time:
            span = big_delta.max() - big_delta.min()
            big_delta = (big_delta - big_delta.min()) / span if span > 0 else big_delta * 0
        if alpha is not None:
            a = alpha
        elif threshold == "quantile":
            a = np.quantile(big_delta, quantile)
        else:
            a = big_delta.mean()
        for g, steps in enumerate(group_list):
            if big_delta[g] > a:
                small = []
                for i in range(x.shape[2]):
                    masked = xb.clone()
                    for t in steps:
                        masked[0, t, i] = fill(steps, i)
                    small.append(change(masked))
                small = np.array(small)
                if normalize_features:
                    span = small.max() - small.min()
                    small = (small - small.min()) / span if span > 0 else small * 0
            else:
                small = np.full(x.shape[2], below_threshold)
            for t in steps:
                for i in range(x.shape[2]):
                    out[b, t, i] = small[i] * big_delta[g]
        if final_scale:
            m = out[b].abs()
            span = m.max() - m.min()
            out[b] = (m - m.min()) / span if span > 0 else m * 0
    return out


QUIRKS = dict(
    mask_value="first",
    threshold="quantile",
    quantile=0.55,
    normalize_time=True,
    normalize_features=True,
    below_threshold=0.1,
    final_scale=True,
)

SETTINGS = {
    "paper": ({}, {}),
    "quirks": ({"reference_quirks": True}, QUIRKS),
    "zero_mask": ({"mask_value": "zero"}, {"mask_value": "zero"}),
    "float_mask": ({"mask_value": 0.25, "alpha": 0.05}, {"mask_value": 0.25, "alpha": 0.05}),
    "quantile": (
        {"threshold": "quantile", "quantile": 0.3},
        {"threshold": "quantile", "quantile": 0.3},
    ),
    "windowed": ({"window": 3}, {"window": 3, "mask_value": "mean"}),
    "windowed_quirks": (
        {"window": 3, "reference_quirks": True},
        dict(QUIRKS, window=3, mask_value="mean"),
    ),
    "attribution_time": ({"time_relevance": "attribution"}, {"time_relevance": "attribution"}),
}


# ----------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("setting", sorted(SETTINGS))
@pytest.mark.parametrize("method", ["saliency", "ig", "gxi"])
@pytest.mark.parametrize("model_kind", ["tcn", "lstm", "linear"])
def test_fast_matches_naive(model_kind: str, method: str, setting: str) -> None:
    fast_kw, naive_kw = SETTINGS[setting]
    model = make_model(model_kind)
    attribute = make_method(method, model)
    x, y = make_data()
    fast = temporal_saliency_rescaling(attribute, x, y, batch_size=10, **fast_kw)
    slow = naive_tsr(attribute, x, y, **naive_kw)
    assert fast.shape == x.shape and fast.dtype == x.dtype
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)
    if not (model_kind == "linear" and method == "saliency"):
        assert fast.abs().sum() > 0  # a non-trivial map, so the comparison means something


def test_linear_gradient_x_input_closed_form() -> None:
    # f = sum W[y] * x, gradient x input = W[y] * x: masking cell (t, i) with m changes R only at
    # that cell by |W[y,t,i]| |x_ti - m|, so Delta_t and delta_ti have closed forms.
    model = make_model("linear")
    weight = model[1].weight.detach().reshape(2, T, F)
    x, y = make_data(4, seed=3)
    got = temporal_saliency_rescaling(make_method("gxi", model), x, y, mask_value="zero")
    cell = weight[y].abs() * x.abs()  # |R(X) - R(X with x_ti = 0)|
    big = cell.sum(2)
    small = torch.where((big > big.mean(1, keepdim=True))[:, :, None], cell, torch.zeros_like(cell))
    torch.testing.assert_close(got, small * big[:, :, None])


def test_mixed_targets_and_int_target() -> None:
    model = make_model("tcn")
    attribute = make_method("saliency", model)
    x, _ = make_data()
    one = temporal_saliency_rescaling(attribute, x, 1)
    torch.testing.assert_close(one, temporal_saliency_rescaling(attribute, x, torch.ones(B).long()))
    torch.testing.assert_close(one, naive_tsr(attribute, x, torch.ones(B).long()))


def test_per_sample_baselines_through_sample_index() -> None:
    model = make_model("tcn")
    ig = IntegratedGradients(model)
    x, y = make_data(4)
    baselines = torch.randn(4, T, F, generator=torch.Generator().manual_seed(1), dtype=DT)

    def attribute(rows, t, index):
        return ig.attribute(rows, baselines=baselines[index], target=t, n_steps=6)

    fast = temporal_saliency_rescaling(attribute, x, y, pass_sample_index=True, batch_size=9)
    slow = naive_tsr(
        None,
        x,
        y,
        per_sample_attribute=lambda inp, t, b: ig.attribute(
            inp, baselines=baselines[b : b + 1], target=t, n_steps=6
        ),
    )
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- batching


@pytest.mark.parametrize("window", [None, 3])
def test_chunking_invariance(window) -> None:
    model = make_model("lstm")
    attribute = make_method("ig", model)
    x, y = make_data(5)
    results = [
        temporal_saliency_rescaling(attribute, x, y, batch_size=bs, window=window)
        for bs in (1, 4, 13, None)
    ]
    for other in results[1:]:
        torch.testing.assert_close(other, results[0], atol=1e-12, rtol=1e-10)


class CountingAttribute:
    def __init__(self, fn):
        self.fn, self.calls, self.rows = fn, 0, []

    def __call__(self, x, t):
        self.calls += 1
        self.rows.append(x.shape[0])
        return self.fn(x, t)


@pytest.mark.parametrize("batch_size", [7, 1000])
def test_few_attribute_calls(batch_size: int) -> None:
    n = 5
    model = make_model("tcn")
    counter = CountingAttribute(make_method("saliency", model))
    x, y = make_data(n)
    res = temporal_saliency_rescaling(counter, x, y, batch_size=batch_size, return_details=True)
    assert isinstance(res, TSRResult)
    n_relevant = int(res.relevant.sum())
    assert 0 < n_relevant < n * T
    expected = {
        "original": math.ceil(n / batch_size),
        "time": math.ceil(n * T / batch_size),
        "feature": math.ceil(n_relevant * F / batch_size),
    }
    assert res.calls == expected
    assert counter.calls == sum(expected.values())
    assert max(counter.rows) <= batch_size
    assert sum(counter.rows) == n + n * T + n_relevant * F  # every masked input exactly once
    naive_calls = n * (1 + T) + n_relevant * F
    assert counter.calls < naive_calls
    if batch_size == 1000:
        assert counter.calls == 3


def test_attribution_time_relevance_skips_time_phase() -> None:
    counter = CountingAttribute(make_method("saliency", make_model("tcn")))
    x, y = make_data()
    res = temporal_saliency_rescaling(
        counter, x, y, time_relevance="attribution", return_details=True
    )
    assert res.calls["time"] == 0 and counter.calls == 2


def test_default_batch_size() -> None:
    assert default_batch_size(50, 50) == 1024
    assert default_batch_size(50, 50, "cuda") == 4096
    assert default_batch_size(8, 6) > default_batch_size(50, 50)
    assert default_batch_size(10**5, 10**5) == 1


# ----------------------------------------------------------------------------- semantics


def test_below_threshold_steps_are_zero_in_paper_mode() -> None:
    model = make_model("tcn")
    x, y = make_data(4)
    res = temporal_saliency_rescaling(make_method("ig", model), x, y, return_details=True)
    rel = res.relevant
    torch.testing.assert_close(res.alpha, res.time_relevance.mean(1))
    assert torch.equal(rel, res.time_relevance > res.alpha[:, None])
    assert rel.any() and (~rel).any()
    assert (res.attributions[~rel] == 0).all()
    assert (res.attributions[rel].abs().sum(-1) > 0).all()


def test_below_threshold_under_quirks_keeps_point_one_delta() -> None:
    model = make_model("tcn")
    x, y = make_data(4)
    res = temporal_saliency_rescaling(
        make_method("saliency", model),
        x,
        y,
        reference_quirks=True,
        final_scale=False,
        return_details=True,
    )
    delta = res.time_relevance
    # Delta is min-max normalised per sample and alpha is its 0.55-quantile: with 8 distinct
    # values, exactly the top 4 steps are relevant.
    torch.testing.assert_close(delta.amin(1), torch.zeros(4, dtype=DT))
    torch.testing.assert_close(delta.amax(1), torch.ones(4, dtype=DT))
    assert (res.relevant.sum(1) == 4).all()
    below = ~res.relevant
    expected = (0.1 * delta)[:, :, None].expand(-1, -1, F)
    torch.testing.assert_close(res.attributions[below], expected[below])
    # delta normalised per relevant step: each relevant step has a 0 and a 1 over features
    fr = res.feature_relevance[res.relevant]
    torch.testing.assert_close(fr.amin(1), torch.zeros(fr.shape[0], dtype=DT))
    torch.testing.assert_close(fr.amax(1), torch.ones(fr.shape[0], dtype=DT))


def test_quirks_final_map_is_minmax_scaled() -> None:
    x, y = make_data(4)
    out = temporal_saliency_rescaling(
        make_method("gxi", make_model("lstm")), x, y, reference_quirks=True
    )
    torch.testing.assert_close(out.amin((1, 2)), torch.zeros(4, dtype=DT))
    torch.testing.assert_close(out.amax((1, 2)), torch.ones(4, dtype=DT))


class IgnoresFeature(nn.Module):
    """A non-linear model that never looks at feature ``skip``."""

    def __init__(self, skip: int):
        super().__init__()
        self.keep = [i for i in range(F) if i != skip]
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(T * (F - 1), 16), nn.Tanh(), nn.Linear(16, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, :, self.keep])


@pytest.mark.parametrize("method", ["saliency", "ig", "gxi"])
def test_ignored_feature_gets_zero(method: str) -> None:
    torch.manual_seed(0)
    model = IgnoresFeature(skip=2).to(DT).eval()
    x, y = make_data(4)
    out = temporal_saliency_rescaling(make_method(method, model), x, y)
    assert (out[:, :, 2] == 0).all()
    assert (out[:, :, [0, 1, 3, 4, 5]].abs().sum((1, 2)) > 0).all()


def test_windowed_groups_share_scores() -> None:
    x, y = make_data()
    res = temporal_saliency_rescaling(
        make_method("ig", make_model("tcn")), x, y, window=3, return_details=True
    )
    out, rel = res.attributions, res.relevant
    for start, stop in [(0, 3), (3, 6), (6, 8)]:
        block = out[:, start:stop]
        torch.testing.assert_close(block, block[:, :1].expand_as(block))
        assert (rel[:, start:stop] == rel[:, start : start + 1]).all()
    assert res.calls["time"] == 1  # B * 3 groups fit in one call


@pytest.mark.parametrize("quirks", [False, True])
def test_threshold_is_strict(quirks: bool) -> None:
    # Saliency of a linear model is the same for every input: Delta is 0 everywhere, alpha is 0,
    # and no step may pass "Delta_t > alpha".
    x, y = make_data()
    res = temporal_saliency_rescaling(
        make_method("saliency", make_model("linear")),
        x,
        y,
        reference_quirks=quirks,
        return_details=True,
    )
    assert (res.time_relevance == 0).all() and not res.relevant.any()
    assert res.calls["feature"] == 0 and (res.attributions == 0).all()


def test_alpha_overrides_threshold() -> None:
    x, y = make_data()
    attribute = make_method("saliency", make_model("tcn"))
    none = temporal_saliency_rescaling(attribute, x, y, alpha=1e9)
    assert (none == 0).all()
    res = temporal_saliency_rescaling(attribute, x, y, alpha=-1.0, return_details=True)
    assert res.relevant.all()


def test_explicit_option_beats_quirks() -> None:
    x, y = make_data()
    attribute = make_method("saliency", make_model("tcn"))
    res = temporal_saliency_rescaling(
        attribute, x, y, reference_quirks=True, below_threshold=0.0, return_details=True
    )
    assert res.options["below_threshold"] == 0.0 and res.options["normalize_time"] is True
    slow = naive_tsr(attribute, x, y, **dict(QUIRKS, below_threshold=0.0))
    torch.testing.assert_close(res.attributions, slow, atol=1e-5, rtol=1e-5)


def _masked_cell_values(**options) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """The values TSR writes into the masked cells of each masked copy (one sample whose first
    element is 7 and whose other cells are 1), and the effective options."""
    x = torch.ones(1, 4, 2, dtype=DT)
    x[0, 0, 0] = 7.0
    written: list[torch.Tensor] = []

    def attribute(rows: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        changed = rows != x  # cells that differ from the input (rows with a masked cell)
        written.append(rows[changed])
        return rows.abs() * torch.arange(1.0, 9.0, dtype=DT).reshape(1, 4, 2)

    res = temporal_saliency_rescaling(attribute, x, 0, alpha=-1.0, return_details=True,
                                      **options)
    return x, torch.cat(written), res.options


def test_paper_mask_is_zero_and_first_element_is_the_reference_option() -> None:
    # [TSB] Algorithm 1 masks with X-bar = 0; the released code with the sample's x[0, 0].
    _, paper, opts = _masked_cell_values()
    assert opts["mask_value"] == "zero"
    assert paper.numel() > 0 and (paper == 0).all()  # the old default would write 7
    _, ref, opts = _masked_cell_values(reference_quirks=True)
    assert opts["mask_value"] == "first" and ref.numel() > 0 and (ref == 7).all()
    _, explicit, _ = _masked_cell_values(mask_value="first")
    assert (explicit == 7).all()
    _, forced, opts = _masked_cell_values(reference_quirks=True, mask_value="zero")
    assert opts["mask_value"] == "zero" and (forced == 0).all()


def test_float32_and_empty_batch() -> None:
    model = make_model("tcn").float()
    sal = Saliency(model)

    def attribute(x, t):
        return sal.attribute(x, target=t, abs=True)

    x, y = make_data()
    out = temporal_saliency_rescaling(attribute, x.float(), y)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, naive_tsr(attribute, x.float(), y), atol=1e-4, rtol=1e-3)
    empty = temporal_saliency_rescaling(attribute, x[:0].float(), y[:0])
    assert empty.shape == (0, T, F)


# ----------------------------------------------------------------------------- errors


def test_bad_inputs_raise() -> None:
    attribute = make_method("saliency", make_model("tcn"))
    x, y = make_data()
    with pytest.raises(ShapeError, match="batch, time, features"):
        temporal_saliency_rescaling(attribute, x[0], y)
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        temporal_saliency_rescaling(attribute, x, y[:2])
    with pytest.raises(ConfigError, match="integer class"):
        temporal_saliency_rescaling(attribute, x, y.double())
    with pytest.raises(ConfigError, match="mask_value"):
        temporal_saliency_rescaling(attribute, x, y, mask_value="median")
    with pytest.raises(ConfigError, match="threshold"):
        temporal_saliency_rescaling(attribute, x, y, threshold="median")
    with pytest.raises(ConfigError, match="window"):
        temporal_saliency_rescaling(attribute, x, y, window=0)
    with pytest.raises(ConfigError, match="batch_size"):
        temporal_saliency_rescaling(attribute, x, y, batch_size=0)
    with pytest.raises(ConfigError, match="quantile"):
        temporal_saliency_rescaling(attribute, x, y, quantile=1.5)
    bad = x.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(InvalidDataError):
        temporal_saliency_rescaling(attribute, bad, y)
    with pytest.raises(ShapeError, match="inputs' shape"):
        temporal_saliency_rescaling(lambda a, t: a[:, :, 0], x, y)
    with pytest.raises(InvalidDataError, match="attributions"):
        temporal_saliency_rescaling(lambda a, t: a * float("nan"), x, y)

    def inf_on_masked_rows(a, t):  # R(X) is fine, one masked row's map holds an inf
        out = a.clone()
        if a.shape[0] > B:
            out[-1, 0, 0] = float("inf")
        return out

    with pytest.raises(InvalidDataError, match="attributions"):
        temporal_saliency_rescaling(inf_on_masked_rows, x, y)


# ----------------------------------------------------------------------------- tsr()


def test_tsr_routes_options(monkeypatch) -> None:
    model = make_model("tcn")
    seen: list[dict] = []

    class FakeExplanation:
        def __init__(self, attributions):
            self.attributions = attributions

    def fake_explain(m, x, t, method="gradient", **params):
        assert m is model
        seen.append(dict(params, method=method))
        return FakeExplanation(Saliency(m).attribute(x, target=t, abs=True))

    monkeypatch.setattr(explain_pkg, "explain", fake_explain, raising=False)
    x, y = make_data()
    out = tsr(model, x, y, method="gradient", n_steps=5, batch_size=16, window=2, seed=3)
    expected = temporal_saliency_rescaling(
        make_method("saliency", model), x, y, batch_size=16, window=2
    )
    torch.testing.assert_close(out, expected)
    assert seen and all(
        s == {"method": "gradient", "n_steps": 5, "seed": 3, "batch_size": 16} for s in seen
    )
