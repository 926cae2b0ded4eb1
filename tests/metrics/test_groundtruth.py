"""Tests of the [TSB] ground-truth evaluation (saliencylab.metrics.groundtruth)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from saliencylab.errors import ConfigError, InvalidDataError, ShapeError, UnknownNameError
from saliencylab.metrics import (
    DEFAULT_FRACTIONS,
    GroundTruthResult,
    PrecisionRecall,
    diff_vs_random,
    evaluate_groundtruth,
    level_precision_recall,
    masked_accuracy,
    mass_top_mask,
    precision_recall,
)

T, F = 10, 8


def middle_box(n: int, t0: int = 2, t1: int = 8, f0: int = 2, f1: int = 6) -> torch.Tensor:
    box = torch.zeros(n, T, F, dtype=torch.bool)
    box[:, t0:t1, f0:f1] = True
    return box


class BoxMeanModel(nn.Module):
    """Logits (-s, s) with s the mean of x over a fixed box: a model that uses only the box."""

    def __init__(self, box: torch.Tensor):
        super().__init__()
        self.register_buffer("box", box.float())
        self.seen_training: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen_training.append(self.training)
        s = (x * self.box).sum(dim=(1, 2)) / self.box.sum()
        return torch.stack([-s, s], dim=1)


class RecordingModel(nn.Module):
    """Predicts class 0 always and keeps every input it was given."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 1)
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.clone())
        return torch.stack([torch.ones(len(x)), torch.zeros(len(x))], dim=1)


class CountingBackground:
    """A background callable that records how many samples each call asked for."""

    def __init__(self, shape=(T, F), value: float | None = None):
        self.shape, self.value, self.calls = shape, value, []

    def __call__(self, n: int, generator: torch.Generator) -> torch.Tensor:
        self.calls.append(n)
        if self.value is not None:
            return torch.full((n, *self.shape), self.value)
        return torch.randn(n, *self.shape, generator=generator)


def box_data(n: int, seed: int = 0, mu: float = 2.0):
    g = torch.Generator().manual_seed(seed)
    box = middle_box(n)
    y = torch.arange(n) % 2
    x = torch.randn(n, T, F, generator=g) + box * (2 * y - 1).view(-1, 1, 1) * mu
    return x, y, box


# ---------------------------------------------------------------------------- mass_top_mask


def test_mass_rule_hand_example():
    s = torch.tensor([[4.0, 3.0, 2.0, 1.0]])  # total 10
    m = mass_top_mask(s, [0.0, 0.1, 0.4, 0.5, 0.7, 0.8, 1.0])[:, 0].int().tolist()
    assert m == [
        [0, 0, 0, 0],  # d = 0: empty set
        [1, 0, 0, 0],  # 4 >= 1
        [1, 0, 0, 0],  # 4 >= 4 exactly (0.4 * 10 is 4.0 in float64)
        [1, 1, 0, 0],  # 7 >= 5
        [1, 1, 0, 0],  # 7 >= 7 exactly
        [1, 1, 1, 0],  # 9 >= 8
        [1, 1, 1, 1],
    ]


def test_mass_rule_is_exact_at_the_old_tolerance_boundary():
    # The top cell holds 0.4999999 of a total of 1: 2e-7 (relative) short of d = 0.5. The
    # smallest top set whose sum reaches 50 % is the top two cells; a relative 1e-6 early stop
    # (the old rule) takes the top cell alone.
    s = torch.tensor([[0.4999999, 0.4999999, 2e-7]], dtype=torch.float64)
    assert float(s.sum()) == 1.0
    assert mass_top_mask(s, [0.5])[0, 0].tolist() == [True, True, False]
    assert mass_top_mask(s, [0.5], rtol=1e-6)[0, 0].tolist() == [True, False, False]
    # a set that reaches the threshold exactly is enough: no cell more
    even = torch.tensor([[0.5, 0.25, 0.25]], dtype=torch.float64)
    assert mass_top_mask(even, [0.5])[0, 0].tolist() == [True, False, False]
    assert mass_top_mask(even, [0.75])[0, 0].tolist() == [True, True, False]


def test_mass_rule_is_mass_not_count():
    # One dominant cell carries 90 % of the mass: d = 0.9 needs one cell, not 90 % of cells.
    # (1/8, not float32's inexact 1/9: the exact rule compares the stored numbers, and nine
    # float32 1/9s sum to 1 + 7e-9, leaving the top cell just short of 90 %.)
    s = torch.tensor([[9.0] + [1.0 / 8] * 8])
    assert mass_top_mask(s, [0.9])[0, 0].sum() == 1
    assert mass_top_mask(s, [0.91])[0, 0].sum() == 2


def test_mass_rule_zeros_ties_and_all_zero_maps():
    s = torch.tensor([[0.5, 0.0, 0.5, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    m = mass_top_mask(s, [0.5, 1.0])
    assert m[1, 0].tolist() == [True, False, True, False]  # d = 1: exactly the non-zero cells
    assert m[0, 1].tolist() == [True, True, False, False]  # ties: earlier cells first
    assert not m[:, 2].any()  # nothing to select in an all-zero map
    # Positions (not values) decide ties, so a permuted tie pattern is still deterministic.
    again = mass_top_mask(s.clone(), [0.5, 1.0])
    assert torch.equal(m, again)


def test_mass_rule_matches_brute_force_over_subsets():
    g = torch.Generator().manual_seed(3)
    fractions = [0.0, 0.1, 0.25, 0.33, 0.5, 0.66, 0.8, 0.95, 1.0]
    for _ in range(20):
        s = torch.rand(1, 2, 4, generator=g)  # 8 distinct cells, 256 subsets
        s[0, 0, 1] = 0.0  # a zero cell, never needed
        mask = mass_top_mask(s, fractions)[:, 0].reshape(len(fractions), -1)
        v = s.flatten().double().tolist()
        total = sum(v)
        order = sorted(range(len(v)), key=lambda i: -v[i])
        for j, d in enumerate(fractions):
            need = d * total  # the exact rule: no tolerance
            # brute force: the smallest cardinality of any subset reaching d of the mass ...
            best = min(len(sub) for r in range(len(v) + 1)
                       for sub in itertools.combinations(range(len(v)), r)
                       if sum(v[i] for i in sub) >= need)
            if d == 1.0:
                best = sum(x > 0 for x in v)
            # ... and the top cells in order are such a subset
            expected = set(order[:best])
            got = set(torch.nonzero(mask[j]).flatten().tolist())
            assert got == expected, (d, v)


def test_mass_rule_batched_equals_per_sample():
    g = torch.Generator().manual_seed(1)
    s = torch.rand(7, T, F, generator=g) ** 3
    batched = mass_top_mask(s)
    for i in range(len(s)):
        assert torch.equal(batched[:, i], mass_top_mask(s[i : i + 1])[:, 0])
    assert batched.shape == (len(DEFAULT_FRACTIONS), 7, T, F)
    # more mass, more cells: selections are nested in d
    assert (batched[:-1] <= batched[1:]).all()


def test_mass_rule_rejects_bad_input():
    with pytest.raises(InvalidDataError, match="abs"):
        mass_top_mask(torch.tensor([[1.0, -0.5]]))
    with pytest.raises(InvalidDataError):
        mass_top_mask(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(InvalidDataError):
        mass_top_mask(torch.tensor([[1.0, float("inf")]]))
    with pytest.raises(ConfigError):
        mass_top_mask(torch.rand(2, 3), [0.5, 0.2])
    with pytest.raises(ConfigError):
        mass_top_mask(torch.rand(2, 3), [1.5])
    with pytest.raises(ShapeError):
        mass_top_mask(torch.rand(3))


# ------------------------------------------------------------------------- precision/recall


def test_map_on_the_box_has_precision_one():
    g = torch.Generator().manual_seed(0)
    box = middle_box(5)
    s = (torch.rand(5, T, F, generator=g) + 0.1) * box
    pr = precision_recall(s, box, mass_top_mask(s))
    assert torch.allclose(pr.precision[1:], torch.ones(10, 5, dtype=torch.float64))
    assert not pr.precision_valid[0].any()  # d = 0 selects nothing: undefined, not 0
    assert torch.isnan(pr.precision[0]).all()


def test_map_off_the_box_has_precision_zero():
    g = torch.Generator().manual_seed(0)
    box = middle_box(5)
    s = torch.rand(5, T, F, generator=g) * ~box
    pr = precision_recall(s, box, mass_top_mask(s))
    assert pr.precision_valid[1:].all()
    assert (pr.precision[1:] == 0).all()
    assert not pr.recall_valid.any()  # the box holds no saliency: recall undefined
    assert torch.isnan(pr.recall).all()


def test_uniform_random_map_precision_is_box_fraction():
    n = 2000
    g = torch.Generator().manual_seed(0)
    box = middle_box(n)  # 6 x 4 of 10 x 8 cells = 0.3
    s = torch.rand(n, T, F, generator=g)
    pr = precision_recall(s, box, mass_top_mask(s))
    frac = box[0].float().mean().item()
    mean_p = pr.precision[1:].nanmean(dim=1)
    assert torch.allclose(mean_p, torch.full_like(mean_p, frac), atol=0.02)
    # recall of an uninformed map grows like d
    d = torch.tensor(DEFAULT_FRACTIONS[1:], dtype=torch.float64)
    assert torch.allclose(pr.recall[1:].mean(dim=1), d, atol=0.03)


def test_recall_one_at_full_mass():
    g = torch.Generator().manual_seed(0)
    box = middle_box(4)
    inside = torch.rand(4, T, F, generator=g) * box
    mixed = torch.rand(4, T, F, generator=g)
    for s in (inside, mixed):
        pr = precision_recall(s, box, mass_top_mask(s, [1.0]))
        assert torch.allclose(pr.recall[0], torch.ones(4, dtype=torch.float64))


def test_weighted_precision_recall_hand_values():
    s = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    box = torch.tensor([[True, True, False, False]])
    sel = torch.tensor([[[False, True, False, True]]])
    pr = precision_recall(s, box, sel)
    assert pr.precision.item() == pytest.approx(2 / 6)
    assert pr.recall.item() == pytest.approx(2 / 3)


def test_time_and_feature_level_hand_example():
    # T = 3, F = 2; box = cells (0,0), (1,0): informative times {0, 1}, features {0}.
    s = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]]])
    box = torch.tensor([[[True, False], [True, False], [False, False]]])
    sel = torch.tensor([[[[True, False], [False, False], [False, True]]]])  # cells (0,0),(2,1)
    # time: saliency per step = row sums (1, 2, 7); selected steps {0, 2}; informative {0, 1}
    t = level_precision_recall(s, box, sel, "time")
    assert t.precision.item() == pytest.approx(1 / 8)
    assert t.recall.item() == pytest.approx(1 / 3)
    # feature: column sums (4, 6); selected {0, 1}; informative {0}
    f = level_precision_recall(s, box, sel, "feature")
    assert f.precision.item() == pytest.approx(4 / 10)
    assert f.recall.item() == pytest.approx(1.0)
    cell = level_precision_recall(s, box, sel, "cell")
    assert cell.precision.item() == pytest.approx(1 / 5)
    with pytest.raises(UnknownNameError):
        level_precision_recall(s, box, sel, "channel")
    with pytest.raises(ShapeError):
        level_precision_recall(s[0], box[0], sel[:, 0], "time")


# ------------------------------------------------------------------------- masked accuracy


def test_accuracy_at_zero_is_clean_accuracy():
    x, y, box = box_data(40, mu=0.3)  # a weak signal: some clean errors
    model = BoxMeanModel(box[0])
    s = torch.rand(40, T, F, generator=torch.Generator().manual_seed(1))
    correct = masked_accuracy(model, x, y, s, CountingBackground(), generator=0)
    clean = model(x).argmax(1) == y
    assert 0 < clean.float().mean() < 1
    assert torch.equal(correct[0], clean)
    assert correct.shape == (len(DEFAULT_FRACTIONS), 40) and correct.dtype == torch.bool


def test_oracle_map_drops_accuracy_and_random_map_baseline():
    x, y, box = box_data(60, mu=0.8)
    model = BoxMeanModel(box[0])  # uses only the box
    g = torch.Generator().manual_seed(2)
    oracle = box.float() * (1 + 0.1 * torch.rand(60, T, F, generator=g))
    off_box = (~box).float() * (1 + 0.1 * torch.rand(60, T, F, generator=g))
    rand = torch.rand(60, T, F, generator=g)
    r_oracle = evaluate_groundtruth(model, x, y, box, oracle, CountingBackground(), generator=0)
    r_off = evaluate_groundtruth(model, x, y, box, off_box, CountingBackground(), generator=0)
    r_random = evaluate_groundtruth(model, x, y, box, rand, CountingBackground(), generator=0)
    a, b = r_oracle.summary(), r_random.summary()
    # masking cells the model ignores changes nothing; masking the box destroys the signal
    assert torch.equal(r_off.correct, r_off.clean_correct.expand_as(r_off.correct))
    assert r_off.summary()["accuracy_auc"] == pytest.approx(a["clean_accuracy_pct"])
    assert a["accuracy_auc"] < a["clean_accuracy_pct"] - 10
    assert a["accuracy_pct@1"] < 75
    assert a["aup"] == pytest.approx(0.8)  # precision 1 from d = 0.1 to 0.9
    assert r_off.summary()["aup"] == 0.0
    assert 0 <= b["aup"] <= 0.8 and 0 <= b["aur"] <= 0.8
    diff = diff_vs_random(r_oracle, r_random)
    assert diff["diff_aup"] == pytest.approx(a["aup"] - b["aup"])
    assert diff["diff_aur"] == pytest.approx(a["aur"] - b["aur"])
    assert diff["diff_aup"] > 0.4
    assert {"diff_time_aup", "diff_time_aur", "diff_feature_aup", "diff_feature_aur"} <= set(diff)


def test_model_that_stays_correct_has_auc_100():
    x, y, box = box_data(10)
    y = torch.zeros(10, dtype=torch.long)
    model = RecordingModel()  # always predicts class 0
    res = evaluate_groundtruth(model, x, y, box, torch.rand(10, T, F), CountingBackground(),
                               generator=0)
    assert res.summary()["accuracy_auc"] == pytest.approx(100.0)
    assert (res.accuracy() == 100).all()


def test_fresh_background_per_sample_and_fraction():
    x, y, box = box_data(6)
    bg = CountingBackground()
    masked_accuracy(RecordingModel(), x, torch.zeros(6, dtype=torch.long), torch.rand(6, T, F),
                    bg, generator=0)
    assert bg.calls == [6] * len(DEFAULT_FRACTIONS)  # one fresh draw of N per fraction


def test_shared_background_draws_once_per_fraction():
    n = 6
    x, _, box = box_data(n)
    y = torch.zeros(n, dtype=torch.long)
    bg = CountingBackground()
    model = RecordingModel()
    s = torch.ones(n, T, F)  # d = 1 selects every cell: masked inputs are pure background
    masked_accuracy(model, x, y, s, bg, shared_background=True, generator=0)
    assert bg.calls == [1] * len(DEFAULT_FRACTIONS)
    seen = torch.cat(model.inputs[1:])  # first call: the clean inputs
    full = seen[-n:]
    assert torch.equal(full, full[:1].expand_as(full))  # one draw shared by all samples
    # reference_quirks switches it on as well
    bg2 = CountingBackground()
    masked_accuracy(RecordingModel(), x, y, s, bg2, reference_quirks=True, generator=0)
    assert bg2.calls == [1] * len(DEFAULT_FRACTIONS)


def test_same_seed_same_result_and_batch_size_does_not_matter():
    x, y, box = box_data(30, mu=0.7)
    model = BoxMeanModel(box[0])
    s = torch.rand(30, T, F, generator=torch.Generator().manual_seed(5))
    a = masked_accuracy(model, x, y, s, CountingBackground(), generator=11, batch_size=256)
    b = masked_accuracy(model, x, y, s, CountingBackground(), generator=11, batch_size=7)
    c = masked_accuracy(model, x, y, s, CountingBackground(),
                        generator=torch.Generator().manual_seed(11), batch_size=64)
    assert torch.equal(a, b) and torch.equal(a, c)
    r1 = evaluate_groundtruth(model, x, y, box, s, CountingBackground(), generator=3)
    r2 = evaluate_groundtruth(model, x, y, box, s, CountingBackground(), generator=3)
    assert torch.equal(r1.correct, r2.correct)
    assert r1.summary() == pytest.approx(r2.summary(), nan_ok=True)
    # a different seed gives different draws, hence (here) different outcomes
    r3 = evaluate_groundtruth(model, x, y, box, s, CountingBackground(), generator=4)
    assert not torch.equal(r1.correct, r3.correct)


def test_masked_cells_get_background_and_others_stay():
    n = 4
    x, _, box = box_data(n)
    y = torch.zeros(n, dtype=torch.long)
    s = torch.rand(n, T, F, generator=torch.Generator().manual_seed(0))
    model = RecordingModel()
    masked_accuracy(model, x, y, s, CountingBackground(value=99.0), fractions=[0.0, 0.5],
                    generator=0)
    masked = model.inputs[-1]
    sel = mass_top_mask(s, [0.5])[0]
    assert torch.equal(masked == 99.0, sel)
    assert torch.equal(masked[~sel], x[~sel])


def test_stop_at_zero_rule():
    # y = 0; the model errs when 1..5 background cells (value 99) are present, so accuracy
    # falls to 0 at small d and recovers at large d - unless the reference rule is on.
    class CountModel(nn.Module):
        def forward(self, x):
            k = (x == 99.0).flatten(1).sum(1)
            wrong = (k >= 1) & (k <= 5)
            return torch.stack([(~wrong).float(), wrong.float()], dim=1)

    n = 5
    x = torch.zeros(n, T, F)
    y = torch.zeros(n, dtype=torch.long)
    s = torch.zeros(n, T, F)
    s[:, 0, 0] = 10.0  # one heavy cell: d <= ~0.5 selects just it
    s[:, 1:, :] = 0.2
    bg = CountingBackground(value=99.0)
    plain = masked_accuracy(CountModel(), x, y, s, bg, generator=0)
    acc = plain.float().mean(1)
    assert acc[0] == 1 and acc[1] == 0 and acc[-1] == 1
    quirk = masked_accuracy(CountModel(), x, y, s, bg, stop_at_zero=True, generator=0)
    qacc = quirk.float().mean(1)
    assert qacc[0] == 1 and (qacc[1:] == 0).all()


def test_full_mask_at_one_replaces_whole_sample():
    n = 3
    x, _, box = box_data(n)
    y = torch.zeros(n, dtype=torch.long)
    s = torch.rand(n, T, F) * box  # zeros outside the box
    model = RecordingModel()
    masked_accuracy(model, x, y, s, CountingBackground(value=99.0), fractions=[1.0],
                    generator=0)
    assert torch.equal(model.inputs[-1] == 99.0, box)  # paper: only the non-zero cells
    model = RecordingModel()
    masked_accuracy(model, x, y, s, CountingBackground(value=99.0), fractions=[1.0],
                    full_mask_at_one=True, generator=0)
    assert (model.inputs[-1] == 99.0).all()  # reference code: the whole sample


def test_eval_mode_and_state_restored():
    x, y, box = box_data(8)
    model = BoxMeanModel(box[0]).train()
    masked_accuracy(model, x, y, torch.rand(8, T, F), CountingBackground(), generator=0)
    assert model.seen_training and not any(model.seen_training)
    assert model.training


def test_input_validation():
    x, y, box = box_data(4)
    model = BoxMeanModel(box[0])
    bg = CountingBackground()
    with pytest.raises(ShapeError):
        masked_accuracy(model, x, y, torch.rand(4, T, F + 1), bg)
    with pytest.raises(ShapeError):
        masked_accuracy(model, x, y[:3], torch.rand(4, T, F), bg)
    with pytest.raises(InvalidDataError, match="abs"):
        masked_accuracy(model, x, y, -torch.rand(4, T, F), bg)
    with pytest.raises(ShapeError):
        masked_accuracy(model, x, y, torch.rand(4, T, F), lambda n, g: torch.rand(n, T))
    with pytest.raises(ShapeError):
        evaluate_groundtruth(model, x, y, box[:, :, :3], torch.rand(4, T, F), bg)
    with pytest.raises(ConfigError):
        masked_accuracy(model, x, y, torch.rand(4, T, F), bg, batch_size=0)


# ------------------------------------------------------------------------------ summaries


def _result(prec: list[float], rec: list[float], fractions, correct=None) -> GroundTruthResult:
    f = torch.tensor(fractions, dtype=torch.float64)
    p = torch.tensor(prec, dtype=torch.float64).view(-1, 1)
    r = torch.tensor(rec, dtype=torch.float64).view(-1, 1)
    pr = PrecisionRecall(p, r, ~torch.isnan(p), ~torch.isnan(r))
    if correct is None:
        correct = torch.ones(len(fractions), 1, dtype=torch.bool)
    return GroundTruthResult(fractions=f, correct=correct, clean_correct=correct[0],
                             cell=pr, time=pr, feature=pr)


def test_aup_aur_aupr_on_known_curves():
    f = DEFAULT_FRACTIONS
    nan = math.nan
    inner = list(f[1:-1])
    res = _result([nan, *inner, nan], [nan, *[1.0] * 9, nan], f)
    s = res.summary()
    assert s["aup"] == pytest.approx((0.9**2 - 0.1**2) / 2)  # integral of d from 0.1 to 0.9
    assert s["aur"] == pytest.approx(0.8)  # maximum
    assert s["time_aup"] == pytest.approx(s["aup"])
    # precision over recall: points (r, p) = (0.1k, 1 - 0.1k) sorted by recall
    res = _result([nan, *[1 - d for d in inner], nan], [nan, *inner, nan], f)
    s = res.summary()
    assert s["aupr"] == pytest.approx(0.4)  # integral of (1 - r) from 0.1 to 0.9
    res_rev = _result([nan, *[1 - d for d in inner][::-1], nan], [nan, *inner[::-1], nan], f)
    assert res_rev.summary()["aupr"] == pytest.approx(0.4)  # order of d does not matter


def test_accuracy_auc_known_values():
    f = DEFAULT_FRACTIONS
    correct = torch.zeros(len(f), 2, dtype=torch.bool)
    correct[0] = True  # correct only on the clean input
    res = _result([math.nan] * 11, [math.nan] * 11, f, correct)
    assert res.summary()["accuracy_auc"] == pytest.approx(5.0)  # 100 * 0.1 / 2
    correct[:, 0] = True  # one of two samples always right
    res = _result([math.nan] * 11, [math.nan] * 11, f, correct)
    assert res.summary()["accuracy_auc"] == pytest.approx(50 + 2.5)


def test_rows_and_per_sample_arrays():
    x, y, box = box_data(12)
    model = BoxMeanModel(box[0])
    s = torch.rand(12, T, F, generator=torch.Generator().manual_seed(0))
    res = evaluate_groundtruth(model, x, y, box, s, CountingBackground(), generator=0)
    rows = res.to_rows()
    assert all(stat in {"mean", "se", "n"} for _, stat, _ in rows)
    assert all(isinstance(v, float) and math.isfinite(v) for _, _, v in rows)
    names = {m for m, _, _ in rows}
    for d in ("0", "0.1", "0.5", "1"):
        assert f"accuracy_pct@{d}" in names and f"recall@{d}" in names
    assert {"aup", "aur", "aupr", "accuracy_auc", "time_aup", "feature_aur"} <= names
    row = {(m, st): v for m, st, v in rows}
    summary = res.summary()
    assert row[("accuracy_auc", "mean")] == pytest.approx(summary["accuracy_auc"])
    assert row[("precision@0.3", "mean")] == pytest.approx(summary["precision@0.3"])
    assert row[("precision@0.3", "n")] == 12
    assert ("precision@0", "mean") not in row and row[("precision@0", "n")] == 0
    arrays = res.per_sample_arrays()
    assert arrays["correct"].shape == (11, 12)
    assert arrays["time_precision"].shape == (11, 12)
    assert res.params["shared_background"] is False and res.params["seed"] == 0


def test_evaluate_matches_the_generic_precision_recall():
    # evaluate_groundtruth takes cell precision/recall from prefix sums of the sorted maps
    x, y, box = box_data(20)
    g = torch.Generator().manual_seed(4)
    s = torch.rand(20, T, F, generator=g) ** 2
    s[3] = 0.0  # an all-zero map: undefined for the generic functions, 0 in the evaluation
    s[4] = s[4] * box[4]  # mass only in the box
    with pytest.warns(UserWarning, match="1 of 20 saliency maps are all zero"):
        res = evaluate_groundtruth(BoxMeanModel(box[0]), x, y, box, s, CountingBackground(),
                                   generator=0)
    masks = mass_top_mask(s)
    others = torch.arange(20) != 3
    for got, want in ((res.cell, precision_recall(s, box, masks)),
                      (res.time, level_precision_recall(s, box, masks, "time")),
                      (res.feature, level_precision_recall(s, box, masks, "feature"))):
        assert torch.equal(got.precision_valid[:, others], want.precision_valid[:, others])
        assert torch.equal(got.recall_valid[:, others], want.recall_valid[:, others])
        assert torch.allclose(got.precision[:, others], want.precision[:, others], rtol=1e-12,
                              equal_nan=True)
        assert torch.allclose(got.recall[:, others], want.recall[:, others], rtol=1e-12,
                              equal_nan=True)
        assert not want.precision_valid[:, 3].any() and not want.recall_valid[:, 3].any()
        # the all-zero map finds nothing: precision 0 for d > 0, recall 0 at every d
        assert (got.precision[1:, 3] == 0).all() and got.precision_valid[1:, 3].all()
        assert torch.isnan(got.precision[0, 3]) and not got.precision_valid[0, 3]
        assert (got.recall[:, 3] == 0).all() and got.recall_valid[:, 3].all()
    assert torch.allclose(res.precision[1:, 4], torch.ones(10, dtype=torch.float64))


def test_diff_vs_random_needs_same_fractions():
    a = _result([math.nan, 0.5, math.nan], [math.nan, 0.5, math.nan], [0.0, 0.5, 1.0])
    b = _result([math.nan, 0.5], [math.nan, 0.5], [0.0, 0.5])
    with pytest.raises(ConfigError):
        diff_vs_random(a, b)


# ------------------------------------------------------------------------- all-zero maps


def test_all_zero_maps_count_as_finding_nothing_with_one_warning():
    # [TSB] §4.2/§5: an all-zero map selects no cell; the evaluation defines its precision and
    # recall as 0 (documented), warns once with the count, and the summary is never NaN for it.
    x, y, box = box_data(6)
    g = torch.Generator().manual_seed(1)
    s = torch.rand(6, T, F, generator=g)
    s[[1, 4]] = 0.0
    model, bg = BoxMeanModel(box[0]), CountingBackground()
    with pytest.warns(UserWarning, match=r"2 of 6 saliency maps are all zero") as caught:
        res = evaluate_groundtruth(model, x, y, box, s, bg, generator=0)
    assert len([w for w in caught if "all zero" in str(w.message)]) == 1
    assert res.params["all_zero_maps"] == 2
    summary = res.summary()
    for key in ("aup", "aur", "aupr", "time_aup", "feature_aur"):
        assert math.isfinite(summary[key]), key
    # the other maps' numbers do not change: equal to the evaluation of those samples alone
    keep = torch.tensor([0, 2, 3, 5])
    alone = evaluate_groundtruth(model, x[keep], y[keep], box[keep], s[keep], bg, generator=0)
    assert torch.allclose(res.precision[:, keep], alone.precision, equal_nan=True)
    assert torch.allclose(res.recall[:, keep], alone.recall, equal_nan=True)
    # every map all zero: still a defined summary (precision and recall 0), not NaN
    with pytest.warns(UserWarning, match="6 of 6 saliency maps are all zero"):
        empty = evaluate_groundtruth(model, x, y, box, torch.zeros(6, T, F), bg, generator=0)
    assert empty.summary()["aup"] == 0.0 and empty.summary()["aur"] == 0.0
