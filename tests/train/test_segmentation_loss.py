"""The segmenters' loss of [OBJ] Appendix B.3 (generalized Dice + cross-entropy), and a grid
whose method does not apply to one of its models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from saliencylab.bench.config import GridConfig
from saliencylab.bench.runner import run_grid
from saliencylab.bench.store import ResultStore
from saliencylab.errors import ConfigError
from saliencylab.train.segmentation import (
    Segmentation,
    generalized_dice_loss,
    segmentation_cross_entropy,
)


def test_dice_is_zero_for_a_certain_right_answer_and_matches_a_hand_computation():
    y = torch.tensor([[0, 1, 1, 2]])
    sure = F.one_hot(y, 3).float() * 60
    assert float(generalized_dice_loss(sure, y)) == pytest.approx(0.0, abs=1e-6)
    # uniform prediction p = 1/3: counts 1, 2, 1 -> w = 1, 1/4, 1
    # overlap = 1 * 1/3 + 1/4 * 2/3 + 1 * 1/3 = 5/6; total = 1 * (1 + 4/3) + 1/4 * (2 + 4/3)
    # + 1 * (1 + 4/3) = 7/3 + 5/6 + 7/3 = 11/2
    expected = 1 - 2 * (5 / 6) / (11 / 2)
    assert float(generalized_dice_loss(torch.zeros(1, 4, 3), y)) == pytest.approx(expected)


def test_dice_ignores_unlabelled_steps_and_weights_an_absent_class():
    y = torch.tensor([[0, 1, -100, -100]])
    logits = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(0))
    # the ignored steps do not count: changing their logits changes nothing
    other = logits.clone()
    other[0, 2:] = 100.0
    a, b = generalized_dice_loss(logits, y), generalized_dice_loss(other, y)
    assert torch.isfinite(a) and float(a) == pytest.approx(float(b))
    # class 2 is absent: mass predicted for it still raises the loss
    leaning = logits.clone()
    leaning[0, :2, 2] += 5.0
    assert float(generalized_dice_loss(leaning, y)) > float(a)


def test_segmentation_losses():
    model = torch.nn.Linear(2, 3)  # (B, T, 2) -> (B, T, 3) logits
    x, y = torch.randn(2, 5, 2), torch.randint(0, 3, (2, 5))
    ce, logits = Segmentation(loss="ce").loss(model, x, y, torch.Generator())
    both, _ = Segmentation().loss(model, x, y, torch.Generator())
    plain = segmentation_cross_entropy(logits, y)
    assert float(ce.detach()) == pytest.approx(float(plain.detach()))
    assert float(both.detach()) == pytest.approx(float((ce + generalized_dice_loss(logits, y))
                                                       .detach()))
    both.backward()  # differentiable
    with pytest.raises(ConfigError, match="dice_ce, ce"):
        Segmentation(loss="dice")


def test_a_method_that_does_not_apply_to_a_model_is_recorded_not_computed(tmp_path):
    grid = GridConfig(name="seg", datasets=["SyntheticSegmentation"],
                      models=["utime", "bilstm_seg"], methods=["gradcam"], metrics=["localization"],
                      random_baseline=None,
                      dataset_options={"SyntheticSegmentation": {"n_train": 30, "n_test": 6}},
                      train={"epochs": 1, "patience": 1, "min_test_accuracy": 0.0,
                             "segmentation_loss": "ce"},
                      evaluation={"n_samples": 4, "n_examples": 1})
    summary = run_grid(grid, tmp_path, progress=False)
    assert summary.cells_run == 4  # two models, gradcam on each
    with ResultStore(tmp_path / "results.sqlite") as store:
        cells = store.cells_frame(kind="eval").set_index("model")
        assert cells.loc["utime", "status"] == "finished"
        assert cells.loc["bilstm_seg", "status"] == "not_applicable"
        assert "convolution" in cells.loc["bilstm_seg", "note"]
        assert store.rows(cells.loc["bilstm_seg", "key"]) == []
    assert run_grid(grid, tmp_path, progress=False).cells_run == 0  # not tried again
