"""The models of [TSB] §6 / Figure 8: a 2-D CNN on the whole multivariate series seen as an image,
and the TCN on univariate / bivariate reshapings of the same series.

[TSB] Ismail, Gunady, Corrada Bravo, Feizi, *Benchmarking Deep Learning Interpretability in
Time Series Predictions*, NeurIPS 2020, §6: "we compare the saliency maps produced from models
like CNN, which fit images, to the maps produced by temporal models like TCN ... by treating the
complete multivariate time series as an image", and "we examine the effect of reshaping a
multivariate time series into univariate or bivariate time series".

Both take and return what every time-series classifier does (``(batch, time, features)`` in,
logits out), so explain and the metrics work unchanged and every map is a ``(T, F)`` map:

- :class:`SeriesCNN` views the input as a one-channel ``T x F`` image ``(batch, 1, T, F)``.
- :class:`ReshapedTCN` reshapes inside its forward, so the gradient with respect to its
  ``(T, F)`` input *is* the TCN's map of the reshaped series mapped back cell by cell (a
  permutation of cells, :func:`to_series` / :func:`from_series`, exactly invertible).

The paper does not say how it reshaped; we chose, with group size ``g`` (1: univariate, 2:
bivariate, F: the multivariate TCN itself): the features are split into ``F / g`` groups of
``g`` consecutive features and the groups' series are concatenated in time, so the reshaped
series has ``F/g · T`` steps and ``g`` channels, and step ``k T + t`` of channel ``c`` holds
``x[t, k g + c]``. Each feature's own series stays contiguous and in order (a TCN sees real
temporal neighbours, not other features as neighbours in time), and the univariate case is the
plain concatenation of the F series. F must be a multiple of g.

Example:
    >>> import torch
    >>> x = torch.arange(6.0).reshape(1, 3, 2)          # T = 3, F = 2
    >>> to_series(x, 1)[0, :, 0].tolist()               # feature 0's series, then feature 1's
    [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]
    >>> torch.equal(from_series(to_series(x, 1), 3, 2), x)
    True
    >>> SeriesCNN(n_features=4, n_time=12)(torch.zeros(2, 12, 4)).shape
    torch.Size([2, 2])
"""

from __future__ import annotations

import torch
from torch import nn

from saliencylab.errors import ConfigError, ShapeError
from saliencylab.models.base import (
    TimeSeriesClassifier,
    positive_int,
    positive_int_list,
    probability,
)
from saliencylab.models.tcn import TCNClassifier, dilated_blocks

__all__ = ["ReshapedTCN", "SeriesCNN", "from_series", "to_series"]


def _check_group(n_features: int, group: int) -> None:
    if n_features % group:
        raise ConfigError(f"reshaping {n_features} features into series of {group} channels "
                          f"needs a number of features divisible by {group}")


def to_series(x: torch.Tensor, group: int) -> torch.Tensor:
    """``(B, T, F)`` -> ``(B, F/group · T, group)``: the groups of ``group`` consecutive
    features, their series concatenated in time (see the module docstring).

    >>> to_series(torch.arange(8.0).reshape(1, 2, 4), 2)[0].tolist()
    [[0.0, 1.0], [4.0, 5.0], [2.0, 3.0], [6.0, 7.0]]
    """
    if x.dim() != 3:
        raise ShapeError(f"to_series takes (batch, time, features), got {tuple(x.shape)}")
    b, t, f = x.shape
    _check_group(f, group)
    return x.reshape(b, t, f // group, group).transpose(1, 2).reshape(b, (f // group) * t, group)


def from_series(s: torch.Tensor, n_time: int, n_features: int) -> torch.Tensor:
    """The inverse of :func:`to_series`: ``(B, F/g · T, g)`` -> ``(B, T, F)``, e.g. a map of the
    reshaped series back on the original cells.

    >>> x = torch.randn(2, 5, 6)
    >>> torch.equal(from_series(to_series(x, 3), 5, 6), x)
    True
    """
    if s.dim() != 3:
        raise ShapeError(f"from_series takes (batch, steps, channels), got {tuple(s.shape)}")
    b, steps, group = s.shape
    if steps * group != n_time * n_features or n_features % group:
        raise ShapeError(f"a reshaped series of shape {tuple(s.shape)} does not come from "
                         f"{n_time} steps x {n_features} features")
    k = n_features // group
    return s.reshape(b, k, n_time, group).transpose(1, 2).reshape(b, n_time, n_features)


class SeriesCNN(TimeSeriesClassifier):
    """A small 2-D CNN on the series as a one-channel ``T x F`` image ([TSB] §6, Figure 8).

    Blocks of 3 x 3 convolution (padding 1), ReLU and 2 x 2 max-pooling (``channels`` gives
    each block's width), then dropout and a linear layer on the flattened map. Input
    ``(batch, n_time, n_features)``, logits ``(batch, n_classes)``; the length is fixed (the
    linear layer's size comes from it).

    >>> model = SeriesCNN(n_features=10, n_time=10, channels=[4, 8])
    >>> model(torch.randn(3, 10, 10)).shape
    torch.Size([3, 2])
    """

    name = "series_cnn"
    layout = "(batch, time, features), seen as a (batch, 1, time, features) image"
    option_checks = {"channels": positive_int_list, "dropout": probability}

    def __init__(self, n_features: int, n_time: int, n_classes: int = 2,
                 channels: list[int] | tuple[int, ...] = (8, 16), dropout: float = 0.1) -> None:
        super().__init__(n_features, n_time, n_classes, channels=channels, dropout=dropout)
        layers: list[nn.Module] = []
        in_ch, h, w = 1, self.n_time, self.n_features
        for out_ch in self.config["channels"]:
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU()]
            if h >= 2 and w >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(self.config["dropout"])
        self.fc = nn.Linear(in_ch * h * w, self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if x.shape[1] != self.n_time:
            raise ShapeError(f"{self.name} was built for {self.n_time} time steps (its linear "
                             f"layer depends on them), got input of shape {tuple(x.shape)}")
        h = self.features(x[:, None])
        return self.fc(self.dropout(h.flatten(1)))


class ReshapedTCN(TimeSeriesClassifier):
    """The [TSB] TCN on a reshaping of the series into ``group``-channel series ([TSB] §6).

    The forward reshapes ``(B, T, F)`` with :func:`to_series` and runs a
    :class:`~saliencylab.models.tcn.TCNClassifier` built for ``group`` features and
    ``F/group · T`` steps (``self.tcn``), so attributions of this model are maps on the original
    ``(T, F)`` cells. ``group=1`` is the univariate TCN, ``group=2`` the bivariate one.

    >>> model = ReshapedTCN(n_features=4, n_time=6, group=2)
    >>> model(torch.randn(3, 6, 4)).shape, model.tcn.n_time, model.tcn.n_features
    (torch.Size([3, 2]), 12, 2)
    """

    name = "tcn_reshaped"
    option_checks = {"group": positive_int, "channels": dilated_blocks,
                     "kernel_size": positive_int, "dropout": probability}

    def __init__(self, n_features: int, n_time: int, n_classes: int = 2, group: int = 1,
                 channels: list[int] | tuple[int, ...] = (5, 5, 50), kernel_size: int = 4,
                 dropout: float = 0.1) -> None:
        super().__init__(n_features, n_time, n_classes, group=group, channels=channels,
                         kernel_size=kernel_size, dropout=dropout)
        self.group = self.config["group"]
        _check_group(self.n_features, self.group)
        self.tcn = TCNClassifier(self.group, (self.n_features // self.group) * self.n_time,
                                 self.n_classes, channels=self.config["channels"],
                                 kernel_size=self.config["kernel_size"],
                                 dropout=self.config["dropout"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.tcn(to_series(x, self.group))


class _FixedGroupTCN(ReshapedTCN):
    """:class:`ReshapedTCN` whose group is the class's ``fixed_group``, not an option (so the
    config leaves it out)."""

    fixed_group: int

    def __init__(self, n_features: int, n_time: int, n_classes: int = 2,
                 channels: list[int] | tuple[int, ...] = (5, 5, 50), kernel_size: int = 4,
                 dropout: float = 0.1) -> None:
        super().__init__(n_features, n_time, n_classes, self.fixed_group, channels, kernel_size,
                         dropout)
        del self.config["group"]


class UnivariateTCN(_FixedGroupTCN):
    """:class:`ReshapedTCN` with ``group=1`` (registry name ``tcn_univariate``)."""

    name = "tcn_univariate"
    fixed_group = 1


class BivariateTCN(_FixedGroupTCN):
    """:class:`ReshapedTCN` with ``group=2`` (registry name ``tcn_bivariate``)."""

    name = "tcn_bivariate"
    fixed_group = 2
