"""The random controls: the uniform map, the feature-permuted map and the random baseline of
[TSB] §4.3 (a method picked at random, its values permuted), and how the bench records which
baseline a result used."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from saliencylab.bench.cells import EvalTask, TrainTask
from saliencylab.bench.plan import eval_tasks, train_tasks
from saliencylab.errors import ConfigError
from saliencylab.explain import explain
from saliencylab.explain.baselines import (
    TSB_CANDIDATES,
    permute_cells,
    picked_method,
)
from saliencylab.models import build_model
from saliencylab.report.tables import with_diffs
from tests.bench.tiny_grid import tiny_grid

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require")

CANDIDATES = ["gradient", "gradient_x_input", "integrated_gradients"]


def _model() -> torch.nn.Module:
    return build_model("tcn", n_features=3, n_time=8, n_classes=2, channels=[4, 4], seed=0)


def _x(n: int = 5) -> torch.Tensor:
    return torch.randn(n, 8, 3, generator=torch.Generator().manual_seed(2))


def test_tsb_random_permutes_the_values_of_a_method_picked_by_the_seed() -> None:
    model, x = _model(), _x()
    picks = set()
    for seed in range(12):
        e = explain(model, x, 0, "tsb_random", seed=seed, candidates=CANDIDATES)
        picked = e.params["picked_method"]
        assert picked == picked_method(seed, CANDIDATES)  # recorded, and known from the seed
        picks.add(picked)
        base = explain(model, x, 0, picked, seed=seed).attributions
        got = e.attributions
        # each sample holds exactly its own values of the picked method, in another order
        torch.testing.assert_close(got.flatten(1).sort(1).values, base.flatten(1).sort(1).values)
        assert not torch.equal(got, base)
    assert picks == set(CANDIDATES)  # the method is picked at random, not fixed
    # each sample has its own permutation (the feature-permuted control shares one)
    ranks = explain(model, x, 0, "tsb_random", seed=0, candidates=["gradient_x_input"])
    base = explain(model, x, 0, "gradient_x_input").attributions
    where = [[int((base[i].flatten() == v).nonzero()[0]) for v in ranks.attributions[i].flatten()]
             for i in range(2)]
    assert where[0] != where[1]


def test_tsb_random_same_seed_same_numbers_and_chunking_invariance() -> None:
    model, x = _model(), _x()
    a = explain(model, x, 0, "tsb_random", seed=4, candidates=CANDIDATES).attributions
    b = explain(model, x, 0, "tsb_random", seed=4, candidates=CANDIDATES,
                batch_size=2).attributions
    torch.testing.assert_close(a, b)
    assert picked_method(4) in TSB_CANDIDATES


def test_tsb_random_keeps_padding_in_place() -> None:
    model, x = _model(), _x(3)
    valid = torch.ones(3, 8, dtype=torch.bool)
    valid[0, 5:] = False
    e = explain(model, x, 0, "tsb_random", seed=1, candidates=["gradient"], valid=valid)
    assert (e.attributions[0, 5:] == 0).all()
    base = explain(model, x, 0, "gradient", valid=valid).attributions
    torch.testing.assert_close(e.attributions[0, :5].flatten().sort().values,
                               base[0, :5].flatten().sort().values)


def test_permute_cells_is_a_permutation_per_row() -> None:
    m = torch.arange(24.0).reshape(2, 4, 3)
    out = permute_cells(m, seed=0)
    assert torch.equal(out.flatten(1).sort(1).values, m.flatten(1))
    # a row's permutation depends on its row index, not on the chunk it is in
    torch.testing.assert_close(permute_cells(m[1:], 0, rows=torch.tensor([1])), out[1:])


def test_tsb_random_refuses_bad_candidates() -> None:
    model, x = _model(), _x(2)
    with pytest.raises(ConfigError, match="candidates"):
        explain(model, x, 0, "tsb_random", candidates=[])
    with pytest.raises(ConfigError, match="real methods"):
        explain(model, x, 0, "tsb_random", candidates=["gradient", "random"])
    with pytest.raises(ConfigError, match="base_params"):
        explain(model, x, 0, "tsb_random", candidates=["gradient"],
                base_params={"smoothgrad": {"n_samples": 2}})


def test_the_bench_records_which_baseline_a_result_used() -> None:
    for baseline in ("random", "tsb_random"):
        grid = tiny_grid(random_baseline=baseline, method_params={
            "tsb_random": {"candidates": CANDIDATES}})
        evals = eval_tasks(grid, train_tasks(grid))
        assert [e.method for e in evals][0] == baseline  # the baseline's own cells
        described = [e.describe() for e in evals if e.method == baseline]
        if baseline == "tsb_random":
            assert all(d["picked_method"] == picked_method(d["seed"], CANDIDATES)
                       for d in described)
        else:
            assert all("picked_method" not in d for d in described)
        frame = pd.DataFrame([{"train_key": "k", "method": baseline, "aup": 0.2},
                              {"train_key": "k", "method": "gradient", "aup": 0.5}])
        out = with_diffs(frame, baseline)
        assert (out["diff_baseline"] == baseline).all()
        assert out.loc[1, "diff_aup"] == pytest.approx(0.3)


def test_eval_task_of_the_paper_baseline_names_its_pick() -> None:
    train = TrainTask("Middle", "Gaussian", "tcn", "traditional", 3)
    task = EvalTask(train, "tsb_random")
    assert task.describe()["picked_method"] == picked_method(3)
