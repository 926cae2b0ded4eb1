"""The papers' presets plan the cells of their tables (planned, not run), at both scales, and
the paper's numbers they are compared with are transcribed consistently."""

from __future__ import annotations

import numpy as np
import pytest

from saliencylab.bench.config import EXPERIMENTS, PRESETS, SCALES, load_config, scaled_preset
from saliencylab.bench.paper_tables import (
    ICA_TABLE1,
    SGT_ARCHITECTURES,
    SGT_DESIGNS,
    SGT_METHODS,
    SGT_SUPP_DIFFS,
    SGT_SUPP_K,
    SGT_TABLE2,
    TSB_TABLE1,
    paper_rows,
)
from saliencylab.bench.plan import eval_tasks, train_tasks
from saliencylab.errors import ConfigError, UnknownNameError


def _plan(name: str):
    grid = load_config(preset=name)
    trains = train_tasks(grid)
    return grid, trains, eval_tasks(grid, trains)


def test_tsb_table1_plans_the_tables_cells() -> None:
    grid, trains, evals = _plan("tsb-table1")
    assert {(t.dataset, t.model, t.training) for t in trains} == {
        ("Middle", "tcn", "traditional"), ("MovingMiddle", "tcn", "traditional")}
    for dataset in TSB_TABLE1:
        labels = {e.name for e in evals if e.train.dataset == dataset}
        # each method with and without TSR, and the paper's random baseline
        assert labels == {"tsb_random", "gradient", "gradient+tsr", "deeplift_shap",
                          "deeplift_shap+tsr", "smoothgrad", "smoothgrad+tsr"}
        assert set(TSB_TABLE1[dataset]) <= labels
    assert all({"aup", "aur", "aupr", "accuracy_auc"} <= set(e.metrics) for e in evals)
    full = load_config(preset=scaled_preset("tsb-table1", "full"))
    assert full.data["n_train"] == 1000 and full.evaluation.n_samples == 100


def test_sgt_table2_plans_ten_designs_four_models_both_trainings() -> None:
    grid, trains, evals = _plan("sgt-table2")
    assert len(trains) == 10 * 4 * 2 and len(evals) == len(trains) * 7
    assert {t.dataset for t in trains} == set(SGT_DESIGNS)
    assert {t.model for t in trains} == set(SGT_ARCHITECTURES)
    assert {e.name for e in evals} == {"tsb_random", *SGT_METHODS}
    # the supplement's k per (architecture, design), lambda 1, on the saliency guided cells only
    for t in trains:
        if t.training == "saliency_guided":
            assert t.sgt["k"] == SGT_SUPP_K[t.model][t.dataset] and t.sgt["lam"] == 1.0
        else:
            assert t.sgt == {}
    tcn_middle = next(t for t in trains if (t.model, t.dataset, t.training) ==
                      ("tcn", "Middle", "saliency_guided"))
    lstm_middle = next(t for t in trains if (t.model, t.dataset, t.training) ==
                       ("lstm", "Middle", "saliency_guided"))
    assert (tcn_middle.sgt["k"], lstm_middle.sgt["k"]) == (0.5, 0.3)
    full = load_config(preset="sgt-table2-full")
    assert full.seeds == [0, 1, 2, 3, 4] and len(train_tasks(full)) == 400


def test_vanishing_plans_wjac_and_euc_next_to_aup() -> None:
    grid, trains, evals = _plan("vanishing")
    assert {t.dataset for t in trains} == set(ICA_TABLE1["lstm"])
    assert {t.model for t in trains} == set(ICA_TABLE1)
    assert all({"aup", "aur", "wjac", "euc"} <= set(e.metrics) for e in evals)
    assert load_config(preset="vanishing-full").seeds == [0, 1, 2, 3, 4]


def test_scales() -> None:
    for name, by_scale in SCALES.items():
        if name in ("sgt-text", "sgt-images", "obj-table1", "cs-table4"):  # experiments, data
            assert set(by_scale) == {"small", "full"}
            assert all(p in PRESETS or p in EXPERIMENTS for p in by_scale.values())
            continue
        assert by_scale == {"small": name, "full": f"{name}-full"}
        assert all(p in PRESETS for p in by_scale.values())
    with pytest.raises(ConfigError, match="scale"):
        scaled_preset("tsb-table1", "huge")
    with pytest.raises(UnknownNameError):
        scaled_preset("quick")


def test_transcribed_tables_are_consistent() -> None:
    # [SGT] Table 2 is the mean of [SGT-supp] Tables 6-9 over the ten designs (to rounding):
    # a mistyped number in either would show here.
    for arch in SGT_ARCHITECTURES:
        for metric in ("diff_aup", "diff_aur"):
            per_design = np.array([SGT_SUPP_DIFFS[arch][metric][d] for d in SGT_DESIGNS])
            mean = np.array(list(SGT_TABLE2[metric][arch].values()))
            assert np.abs(per_design.mean(0) - mean).max() <= 0.0035, (arch, metric)
    rows = paper_rows()
    assert len({(r["table"], r["dataset"], r["model"], r["method"], r["training"], r["metric"])
                for r in rows}) == len(rows)
