"""[TSB] §6 models: the 2-D CNN on the series as an image and the TCN on reshaped series."""

from __future__ import annotations

import pytest
import torch

from saliencylab.errors import ConfigError, ShapeError
from saliencylab.explain import explain
from saliencylab.models import build_model
from saliencylab.models.series_cnn import ReshapedTCN, SeriesCNN, from_series, to_series
from saliencylab.train import make_checkpoint, model_from_checkpoint

NAMES = ("series_cnn", "tcn_univariate", "tcn_bivariate", "tcn_reshaped")


@pytest.mark.parametrize("name", NAMES)
def test_same_shapes_as_the_other_classifiers(name: str) -> None:
    model = build_model(name, n_features=6, n_time=10, n_classes=3, seed=0)
    assert model(torch.randn(4, 10, 6)).shape == (4, 3)
    with pytest.raises(ShapeError):
        model(torch.randn(4, 10, 5))  # wrong number of features


@pytest.mark.parametrize("name", NAMES)
def test_eval_mode_input_gradients_are_maps_of_the_series(name: str) -> None:
    model = build_model(name, n_features=6, n_time=10, seed=0).eval()
    x = torch.randn(3, 10, 6)
    maps = explain(model, x, torch.tensor([0, 1, 0]), "gradient").attributions
    assert maps.shape == x.shape and torch.isfinite(maps).all() and maps.abs().sum() > 0
    # eval mode: dropout off, so the same input gives the same map
    again = explain(model, x, torch.tensor([0, 1, 0]), "gradient").attributions
    assert torch.equal(maps, again)


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip(name: str) -> None:
    model = build_model(name, n_features=4, n_time=8, seed=1).eval()
    x = torch.randn(2, 8, 4)
    rebuilt, _ = model_from_checkpoint(make_checkpoint(model))
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    assert torch.equal(rebuilt(x), model(x))


def test_reshaping_round_trip_is_exact_and_as_documented() -> None:
    x = torch.randn(3, 7, 6)
    for group in (1, 2, 3, 6):
        series = to_series(x, group)
        assert series.shape == (3, 6 // group * 7, group)
        assert torch.equal(from_series(series, 7, 6), x)
    # univariate: each feature's series in turn; bivariate: step k T + t, channel c = x[t, 2k+c]
    assert torch.equal(to_series(x, 1)[:, 7 * 2:7 * 3, 0], x[:, :, 2])
    assert torch.equal(to_series(x, 2)[:, 7 * 1 + 4, 1], x[:, 4, 3])
    assert torch.equal(to_series(x, 6), x)  # the multivariate series itself
    with pytest.raises(ConfigError, match="divisible"):
        to_series(x, 4)
    with pytest.raises(ConfigError, match="divisible"):
        ReshapedTCN(n_features=5, n_time=4, group=2)
    with pytest.raises(ShapeError):
        from_series(torch.zeros(1, 10, 2), 7, 6)


@pytest.mark.parametrize("group", [1, 2])
def test_maps_come_back_on_the_original_cells(group: int) -> None:
    """The wrapper's gradient on (T, F) equals the inner TCN's gradient on the reshaped series,
    mapped back by from_series, cell for cell."""
    model = ReshapedTCN(n_features=4, n_time=9, group=group).eval()
    x = torch.randn(2, 9, 4)
    outer = explain(model, x, torch.tensor([1, 0]), "gradient").attributions
    inner = explain(model.tcn, to_series(x, group), torch.tensor([1, 0]),
                    "gradient").attributions
    assert torch.allclose(outer, from_series(inner, 9, 4), atol=1e-7, rtol=0)


def test_cnn_refuses_another_length() -> None:
    with pytest.raises(ShapeError, match="time steps"):
        SeriesCNN(n_features=4, n_time=8)(torch.zeros(1, 9, 4))
