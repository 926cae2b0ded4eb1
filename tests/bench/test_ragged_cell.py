"""Ragged series through the eval cell's path (JapaneseVowels, zero-padded): no attribution mass
on padded steps, and no model call made by any metric sees a padded step changed."""

from __future__ import annotations

import pytest
import torch

from saliencylab.bench.cells import EvalTask, TrainTask, explain_targets, metric_context
from saliencylab.bench.config import cell_metrics
from saliencylab.explain import explain
from saliencylab.metrics import score
from saliencylab.models import build_model_for

pytest.importorskip("aeon")  # JapaneseVowels ships with aeon


@pytest.fixture(scope="module")
def vowels():
    task = TrainTask("JapaneseVowels", None, "fcn", "traditional", 0)
    data = task.load_data()
    lengths = data.test.lengths
    # Samples of one length L < T: then no model input may differ from 0 at steps >= L.
    length = int(lengths.mode().values)
    assert length < data.n_time
    rows = (lengths == length).nonzero().flatten()[:6]
    return task, data, data.test.take(rows), length


def test_padding_is_most_of_the_test_cells(vowels):
    _, data, _, _ = vowels
    padded = 1 - data.test.valid_mask.float().mean()
    assert padded > 0.3  # the 46 %: what the metrics would otherwise count


@pytest.mark.parametrize("method", ["gradient", "integrated_gradients", "feature_ablation"])
def test_no_attribution_mass_on_padded_steps(vowels, method):
    task, data, part, length = vowels
    torch.manual_seed(0)
    model = build_model_for("fcn", data).eval()
    maps = explain(model, part.x, part.y, method, valid=part.valid_mask,
                   postprocess="tsb").attributions
    assert maps[:, length:].abs().sum() == 0
    assert maps[:, :length].abs().sum() > 0


def test_no_metric_input_falls_on_padded_steps(vowels):
    task, data, part, length = vowels
    torch.manual_seed(0)
    model = build_model_for("fcn", data).eval()
    seen: list[float] = []

    def record(_module, inputs):
        seen.append(float(inputs[0][:, length:].detach().abs().max()))

    eval_task = EvalTask(task, "gradient", metrics=cell_metrics("JapaneseVowels", ["all"]))
    context = metric_context(data, part, model, eval_task, batch_size=64)
    maps = explain(model, part.x, explain_targets(data, part), "gradient",
                   valid=part.valid_mask, postprocess="tsb").attributions
    handle = model.register_forward_pre_hook(record)
    try:
        scores = score(model, part.x, part.y, maps, eval_task.metrics, context=context)
    finally:
        handle.remove()
    assert len(seen) > 10  # every metric called the model
    assert max(seen) == 0.0  # padded steps stayed at their padding value in every call
    for name in ("sanity", "faithfulness", "robustness", "stability", "completeness",
                 "deletion"):
        assert torch.isfinite(scores.per_sample[name]).all(), name
