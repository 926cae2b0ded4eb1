"""Tests of per-(metric, dataset) normalisation and metric correlations (metrics.normalize)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from saliencylab.errors import ConfigError, InvalidDataError, UnknownNameError
from saliencylab.metrics import metric_correlation, metric_correlations, normalize_scores, zscore
from saliencylab.metrics.normalize import with_category

METHODS = ["gradient", "ig", "smoothgrad", "lrp", "random"]


def long_table(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for metric, dataset, model, method in itertools.product(
        ["sanity", "faithfulness", "robustness"], ["FordA", "GunPoint"], ["fcn", "tcn"], METHODS
    ):
        scale = {"sanity": 1.0, "faithfulness": 0.1, "robustness": 50.0}[metric]
        rows.append({"metric": metric, "dataset": dataset, "model": model, "method": method,
                     "value": scale * rng.normal() + scale})
    return pd.DataFrame(rows)


def test_zscore_has_mean_zero_variance_one_per_metric_and_dataset():
    f = long_table()
    z = normalize_scores(f)
    assert len(z) == len(f) and list(f.columns) == list(z.columns)[:-1]
    for _, g in z.groupby(["metric", "dataset"]):
        assert len(g) == 10  # 2 models x 5 methods
        assert g["z"].mean() == pytest.approx(0.0, abs=1e-12)
        assert g["z"].var(ddof=0) == pytest.approx(1.0, rel=1e-12)
    # the order within a group is kept: z is an increasing function of the value there
    for _, g in z.groupby(["metric", "dataset"]):
        assert (np.argsort(g["value"].to_numpy()) == np.argsort(g["z"].to_numpy())).all()
    sample = normalize_scores(f, ddof=1, by=["metric", "dataset", "model"])
    for _, g in sample.groupby(["metric", "dataset", "model"]):
        assert g["z"].var(ddof=1) == pytest.approx(1.0, rel=1e-12)


def test_zscore_constant_group_nan_and_errors():
    assert zscore([3.0, 3.0, 3.0]).tolist() == [0.0, 0.0, 0.0]
    out = zscore([1.0, np.nan, 3.0])
    assert np.isnan(out[1]) and out[0] == pytest.approx(-1.0) and out[2] == pytest.approx(1.0)
    with pytest.raises(InvalidDataError):
        zscore([1.0, np.inf])
    with pytest.raises(ConfigError, match="dataset"):
        normalize_scores(pd.DataFrame({"metric": ["a"], "value": [1.0]}))
    with pytest.raises(ConfigError, match="DataFrame"):
        normalize_scores([1, 2, 3])


def test_correlations_equal_numpy_and_scipy():
    f = long_table(1)
    wide = f.pivot(index=["method", "model", "dataset"], columns="metric", values="value")
    pearson = metric_correlation(f, index=["method", "model", "dataset"])
    spearman = metric_correlation(f, method="spearman")  # index: all other columns
    for a, b in itertools.combinations(wide.columns, 2):
        assert pearson.loc[a, b] == pytest.approx(np.corrcoef(wide[a], wide[b])[0, 1])
        assert spearman.loc[a, b] == pytest.approx(stats.spearmanr(wide[a], wide[b])[0])
        assert pearson.loc[a, b] == pytest.approx(pearson.loc[b, a])
    assert np.allclose(np.diag(pearson), 1.0)
    both = metric_correlations(f)
    assert set(both) == {"pearson", "spearman"}
    pd.testing.assert_frame_equal(both["spearman"], spearman)
    # a monotone but non-linear relation: Spearman 1, Pearson below 1
    g = pd.DataFrame({"method": list("abcde") * 2, "metric": ["x"] * 5 + ["y"] * 5,
                      "value": [1, 2, 3, 4, 5] + [1, 2, 4, 8, 100]})
    assert metric_correlation(g, method="spearman").loc["x", "y"] == pytest.approx(1.0)
    assert metric_correlation(g).loc["x", "y"] < 0.95


def test_correlation_errors():
    f = long_table()
    with pytest.raises(ConfigError, match="several scores"):
        metric_correlation(f, index=["method"])  # models and datasets collapse onto one entry
    with pytest.raises(ConfigError, match="method"):
        metric_correlation(f, method="kendall")
    with pytest.raises(ConfigError, match="column"):
        metric_correlation(f, index=["method", "seed"])


def test_per_category_normalisation_via_the_registry():
    f = long_table(2)
    f["metric"] = f["metric"].replace({"faithfulness": "inter_class_sensitivity"})
    cat = with_category(f)
    assert set(cat["category"]) == {"sanity", "sensitivity", "robustness"}
    z = normalize_scores(cat, by=["category", "dataset"])
    for _, g in z.groupby(["category", "dataset"]):
        assert g["z"].mean() == pytest.approx(0.0, abs=1e-12)
        assert g["z"].std(ddof=0) == pytest.approx(1.0)
    with pytest.raises(UnknownNameError):
        with_category(pd.DataFrame({"metric": ["nonsense"]}))
