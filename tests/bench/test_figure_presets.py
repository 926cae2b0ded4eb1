"""[TSB] Figures 3 and 8 as presets: each small preset plans (check_grid, dry run included) the
figure's cells, and the full scale is the paper's."""

from __future__ import annotations

from saliencylab.bench.config import SCALES, TSB_METHODS, load_config, scaled_preset
from saliencylab.bench.plan import check_grid
from saliencylab.metrics.distribution import CATEGORY_OUTPUTS


def test_figure3_plans_three_processes_and_the_decay_metric() -> None:
    plan = check_grid(load_config(preset="tsb-figure3"))
    assert {(t.dataset, t.process, t.model) for t in plan.trains} == {
        ("Middle", p, "tcn") for p in ("Gaussian", "Harmonic", "CAR")}
    labels = {e.name for e in plan.evals}
    assert labels == {"random", "gradient", "integrated_gradients", "deeplift", "gradient_shap",
                      "deeplift_shap", "smoothgrad", "feature_ablation", "occlusion"}
    assert len(plan.evals) == 3 * len(labels)
    assert all({"decay_rate", "top10_share", "aup"} <= set(e.metrics) for e in plan.evals)
    full = load_config(preset=scaled_preset("tsb-figure3", "full"))
    assert full.models == ["tcn", "lstm"] and full.methods == TSB_METHODS
    assert full.data["n_train"] == 1000 and full.evaluation.n_samples == 100


def test_figure8_plans_the_cnn_and_the_three_tcns() -> None:
    plan = check_grid(load_config(preset="tsb-figure8"))
    assert {(t.dataset, t.process, t.model) for t in plan.trains} == {
        ("Middle", "Gaussian", m)
        for m in ("series_cnn", "tcn", "tcn_bivariate", "tcn_univariate")}
    assert {e.name for e in plan.evals} == {"gradient"} and len(plan.evals) == 4
    assert all(set(CATEGORY_OUTPUTS) <= set(e.metrics) for e in plan.evals)
    full = load_config(preset=scaled_preset("tsb-figure8", "full"))
    assert full.evaluation.n_samples == 100 and "integrated_gradients" in full.methods


def test_figures_are_paper_presets_at_both_scales() -> None:
    for name in ("tsb-figure3", "tsb-figure8"):
        assert SCALES[name] == {"small": name, "full": f"{name}-full"}
