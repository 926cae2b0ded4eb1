"""Tests of saliencylab.metrics.aggregate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from saliencylab.errors import InvalidDataError, ShapeError
from saliencylab.metrics import (
    combine_seeds,
    combine_summaries,
    mean_se,
    mean_se_along,
    trapezoid,
)


def test_mean_se_matches_numpy():
    v = np.random.default_rng(0).normal(size=50)
    m, se, n = mean_se(v)
    assert n == 50
    assert m == pytest.approx(v.mean())
    assert se == pytest.approx(v.std(ddof=1) / math.sqrt(50))
    assert mean_se(torch.tensor(v)) == pytest.approx((m, se, n))


def test_mean_se_excludes_invalid_and_nan():
    v = torch.tensor([1.0, 100.0, 3.0, float("nan")])
    valid = torch.tensor([True, False, True, True])
    assert mean_se(v, valid) == pytest.approx((2.0, 1.0, 2))
    assert mean_se([1.0, float("nan"), 3.0]) == pytest.approx((2.0, 1.0, 2))
    assert mean_se(torch.tensor([True, False, True, True]))[0] == pytest.approx(0.75)


def test_mean_se_undefined_cases_and_errors():
    m, se, n = mean_se([float("nan")])
    assert n == 0 and math.isnan(m) and math.isnan(se)
    m, se, n = mean_se([4.0])
    assert (m, n) == (4.0, 1) and math.isnan(se)
    with pytest.raises(InvalidDataError):
        mean_se([1.0, float("inf")])
    with pytest.raises(ShapeError):
        mean_se_along(torch.ones(2, 3), torch.ones(3, 2, dtype=torch.bool))


def test_mean_se_along_equals_rowwise_mean_se():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(5, 20, generator=g, dtype=torch.float64)
    valid = torch.rand(5, 20, generator=g) > 0.3
    valid[4] = False
    valid[3] = False
    valid[3, 0] = True
    m, se, n = mean_se_along(v, valid)
    for i in range(5):
        mi, sei, ni = mean_se(v[i], valid[i])
        assert int(n[i]) == ni
        assert (math.isnan(mi) and math.isnan(m[i])) or m[i].item() == pytest.approx(mi)
        assert (math.isnan(sei) and math.isnan(se[i])) or se[i].item() == pytest.approx(sei)
    m0, _, n0 = mean_se_along(v, valid, dim=0)
    assert m0.shape == (20,) and n0.sum() == valid.sum()


def test_combine_seeds_and_summaries():
    m, se, n = combine_seeds([0.2, 0.4, float("nan")])
    assert (m, n) == (pytest.approx(0.3), 2)
    assert se == pytest.approx(np.std([0.2, 0.4], ddof=1) / math.sqrt(2))
    out = combine_summaries([{"aup": 0.2, "aur": 0.1}, {"aup": 0.4}])
    assert out["aup"][0] == pytest.approx(0.3) and out["aup"][2] == 2
    assert out["aur"][0] == pytest.approx(0.1) and out["aur"][2] == 1


def test_trapezoid_known_values():
    assert trapezoid([0.0, 1.0], [0.0, 1.0]) == pytest.approx(0.5)
    x = [i / 10 for i in range(1, 10)]
    assert trapezoid([1.0] * 9, x) == pytest.approx(0.8)
    assert trapezoid([5.0], [0.3]) == 0.0
    assert math.isnan(trapezoid([1.0, float("nan")], [0.0, 1.0]))
    with pytest.raises(ShapeError):
        trapezoid([1.0, 2.0], [0.0])
