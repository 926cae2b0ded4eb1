"""Convolutional classifiers of the objective-evaluation study [OBJ]: FCN and TCN.

[OBJ] Löffler, Lai, Eskofier, Zanca, Schmidt, Mutschler. *Don't Get Me Wrong: How to Apply Deep
Visual Interpretations to Time Series* (ICLR 2022 submission; arXiv 2203.07861):

* **FCN** — four Conv1d blocks (conv → batch norm → ReLU) with kernels {7, 5, 3, 3} and filters
  {16, 32, 32, 16}, no padding, then a 1×1 convolution to the classes without ReLU and global max
  pooling over time (the authors' "FCN_withoutFC": no dense layer, so the last feature map is a
  class activation map).
* **TCN** — four residual blocks with filters {16, 32, 32, 32} and kernels {7, 5, 5, 5}, global
  pooling, a linear layer. The study gives no more detail; we use the usual TCN block of Bai et
  al. (2018): two dilated causal convolutions (dilation 2^i) each followed by batch norm, ReLU and
  dropout, a 1×1 convolution on the residual path when the width changes, ReLU after the sum.

Every convolution is a real ``nn.Conv1d``, every ReLU an ``nn.ReLU`` module and the residual a
plain addition, so GradCAM, guided backprop and LRP can hook them; :attr:`feature_layer` is the
last convolutional block (GradCAM's target in [OBJ]).

Example:
    >>> import torch
    >>> model = FCNClassifier(n_features=1, n_time=150)
    >>> model(torch.randn(4, 150, 1)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from saliencylab.errors import ConfigError, ShapeError
from saliencylab.models.base import (
    TimeSeriesClassifier,
    pool_over_time,
    positive_int_list,
    probability,
)
from saliencylab.models.tcn import TemporalBlock, TemporalStackClassifier, dilated_blocks

__all__ = ["FCNClassifier", "TCNObjClassifier"]


def _pooling(name: str, value: object) -> str:
    if value not in ("max", "avg"):
        raise ConfigError(f"{name} must be 'max' or 'avg', got {value!r}")
    return str(value)


def _same_length(name: str, a: list[int], b: list[int]) -> None:
    if len(a) != len(b):
        raise ConfigError(
            f"{name}: filters and kernel_sizes must have the same length, got {len(a)} and {len(b)}"
        )


class FCNClassifier(TimeSeriesClassifier):
    """Fully convolutional network of [OBJ]: unpadded conv blocks, 1×1 class projection, max-pool.

    Args:
        n_features: channels per time step (F).
        n_time: time steps (T) the model is built for; inputs of another length >= the receptive
            field are accepted.
        n_classes: number of classes.
        filters: output channels of the conv blocks (reference {16, 32, 32, 16}).
        kernel_sizes: kernel of each block (reference {7, 5, 3, 3}); no padding, so the feature
            map has ``T - sum(k - 1)`` steps (T - 14 for the reference).
        pooling: global pooling of the class map: "max" ([OBJ]) or "avg" (the FCN of Wang et
            al. 2017). On GunPoint "avg" generalises clearly better (99.5 % vs 93.2 % mean test
            accuracy over five seeds, docs/quality.md).

    The output is the 1×1 projection ("class activation map", ``(B, C, T')``) pooled over time:
    :meth:`class_map` returns it before pooling.

    >>> FCNClassifier(n_features=3, n_time=20, n_classes=4)(torch.randn(2, 20, 3)).shape
    torch.Size([2, 4])
    """

    name = "fcn"
    option_checks = {"filters": positive_int_list, "kernel_sizes": positive_int_list,
                     "pooling": _pooling}

    def __init__(self, n_features: int, n_time: int, n_classes: int = 2,
                 filters: list[int] | tuple[int, ...] = (16, 32, 32, 16),
                 kernel_sizes: list[int] | tuple[int, ...] = (7, 5, 3, 3),
                 pooling: Literal["max", "avg"] = "max") -> None:
        super().__init__(n_features, n_time, n_classes, filters=filters,
                         kernel_sizes=kernel_sizes, pooling=pooling)
        filters, kernel_sizes, pooling = (self.config[k] for k in ("filters", "kernel_sizes",
                                                                   "pooling"))
        _same_length("FCN", filters, kernel_sizes)
        self.shrink = sum(k - 1 for k in kernel_sizes)
        if self.n_time - self.shrink < 1:
            raise ConfigError(
                f"the FCN's unpadded convolutions need n_time >= {self.shrink + 1} "
                f"(kernels {kernel_sizes}), got n_time={self.n_time}"
            )
        blocks = []
        in_ch = self.n_features
        for out_ch, k in zip(filters, kernel_sizes, strict=True):
            blocks.append(
                nn.Sequential(nn.Conv1d(in_ch, out_ch, k), nn.BatchNorm1d(out_ch), nn.ReLU())
            )
            in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.projection = nn.Conv1d(in_ch, self.n_classes, 1)
        t_out = self.n_time - self.shrink
        self.pool = nn.MaxPool1d(t_out) if pooling == "max" else nn.AvgPool1d(t_out)

    @property
    def feature_layer(self) -> nn.Module:
        return self.blocks[-1]

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        if x.shape[1] <= self.shrink:
            raise ShapeError(
                f"{self.name} needs at least {self.shrink + 1} time steps (unpadded kernels "
                f"{self.config['kernel_sizes']}), got input of shape {tuple(x.shape)}"
            )

    def class_map(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores per feature-map step before pooling, ``(B, n_classes, T - shrink)``."""
        self.check_input(x)
        return self.projection(self.blocks(x.transpose(1, 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pool_over_time(self.pool, self.class_map(x))


class TCNObjClassifier(TemporalStackClassifier):
    """TCN classifier of [OBJ]: four residual blocks, global pooling, linear layer.

    Args:
        n_features: channels per time step (F).
        n_time: time steps (T) the model is built for; other lengths are accepted.
        n_classes: number of classes.
        filters: output channels per block (reference {16, 32, 32, 32}); block i has dilation 2**i.
        kernel_sizes: kernel per block (reference {7, 5, 5, 5}).
        dropout: dropout after each ReLU inside the blocks.
        pooling: global pooling over time, "avg" (default) or "max".

    >>> TCNObjClassifier(n_features=2, n_time=30)(torch.randn(3, 30, 2)).shape
    torch.Size([3, 2])
    """

    name = "tcn_obj"
    option_checks = {"filters": dilated_blocks, "kernel_sizes": positive_int_list,
                     "dropout": probability, "pooling": _pooling}

    def __init__(self, n_features: int, n_time: int, n_classes: int = 2,
                 filters: list[int] | tuple[int, ...] = (16, 32, 32, 32),
                 kernel_sizes: list[int] | tuple[int, ...] = (7, 5, 5, 5), dropout: float = 0.1,
                 pooling: Literal["max", "avg"] = "avg") -> None:
        super().__init__(n_features, n_time, n_classes, filters=filters,
                         kernel_sizes=kernel_sizes, dropout=dropout, pooling=pooling)
        filters, kernel_sizes, dropout, pooling = (
            self.config[k] for k in ("filters", "kernel_sizes", "dropout", "pooling"))
        _same_length("TCN", filters, kernel_sizes)
        blocks = []
        in_ch = self.n_features
        for level, (out_ch, k) in enumerate(zip(filters, kernel_sizes, strict=True)):
            blocks.append(TemporalBlock(in_ch, out_ch, k, 2**level, dropout,
                                        normalization="batch"))
            in_ch = out_ch
        self.network = nn.Sequential(*blocks)
        self.pool = nn.MaxPool1d(self.n_time) if pooling == "max" else nn.AvgPool1d(self.n_time)
        self.fc = nn.Linear(in_ch, self.n_classes)
