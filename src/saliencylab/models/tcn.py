"""Temporal convolutional network of the time-series interpretability benchmark.

[TSB] Ismail, Gunady, Corrada Bravo, Feizi. *Benchmarking Deep Learning Interpretability in Time
Series Predictions.* NeurIPS 2020 (after Bai, Kolter, Koltun 2018): residual blocks of two
weight-normalised dilated causal convolutions (kernel 4, dilation 2^level), channels
[5, 5, 50], dropout 0.1, max-pool over time, then a linear layer.

Every convolution is a real ``nn.Conv1d`` and every ReLU an ``nn.ReLU`` module and the residual
is a plain addition, so GradCAM, guided backprop and LRP can hook them. Causality comes from
left padding (``nn.ConstantPad1d``), equivalent to the reference's pad-both-sides-then-chomp.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from saliencylab.errors import ConfigError
from saliencylab.models.base import (
    TimeSeriesClassifier,
    pool_over_time,
    positive_int,
    positive_int_list,
    probability,
)


def dilated_blocks(name: str, value: object) -> list[int]:
    """Output widths of a stack of blocks with dilation ``2**i``: positive, at most 30."""
    widths = positive_int_list(name, value)
    if len(widths) > 30:
        raise ConfigError(f"{name} may list at most 30 blocks (dilation 2**i), got {len(widths)}")
    return widths


class TemporalBlock(nn.Module):
    """Two dilated causal convolutions, each followed by its normalisation, ReLU and dropout,
    plus a (1x1-projected) residual, then ReLU.

    ``normalization="weight"`` is the [TSB] TCN (weight-normed convolutions, the reference
    code's N(0, 0.01) init of the 1x1 projection); ``"batch"`` is the block of Bai et al. (2018)
    that the [OBJ] TCN uses (batch norm after each convolution). Input and output are
    ``(batch, channels, time)``; output step t sees inputs <= t only.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
        dropout: float, normalization: Literal["weight", "batch"] = "weight",
    ) -> None:
        super().__init__()
        self.normalization = normalization
        left = (kernel_size - 1) * dilation
        for i, (c_in, c_out) in enumerate(((in_channels, out_channels),
                                           (out_channels, out_channels)), start=1):
            conv = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation)
            setattr(self, f"pad{i}", nn.ConstantPad1d((left, 0), 0.0))
            setattr(self, f"conv{i}", weight_norm(conv) if normalization == "weight" else conv)
            setattr(self, f"bn{i}", nn.BatchNorm1d(c_out) if normalization == "batch"
                    else nn.Identity())
            setattr(self, f"relu{i}", nn.ReLU())
            setattr(self, f"dropout{i}", nn.Dropout(dropout))
        self.downsample = (
            nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )
        if self.downsample is not None and normalization == "weight":
            nn.init.normal_(self.downsample.weight, 0.0, 0.01)  # as the reference code
        self.relu = nn.ReLU()

    def reset_parameters(self) -> None:
        """Draw fresh weights (used by cascading-randomisation sanity checks).

        ``Conv1d.reset_parameters`` is a silent no-op on a weight-normed convolution: it
        re-initialises the computed weight, not the stored g and v. Assigning a weight goes
        through the parametrisation's ``right_inverse`` and does update g and v.
        """
        for conv in (self.conv1, self.conv2):
            if self.normalization != "weight":
                conv.reset_parameters()
                continue
            fresh = nn.Conv1d(
                conv.in_channels, conv.out_channels, conv.kernel_size, dilation=conv.dilation
            ).to(device=conv.bias.device, dtype=conv.bias.dtype)
            with torch.no_grad():
                conv.weight = fresh.weight.detach()
                conv.bias.copy_(fresh.bias)
        if self.downsample is not None:
            self.downsample.reset_parameters()
            if self.normalization == "weight":
                nn.init.normal_(self.downsample.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout1(self.relu1(self.bn1(self.conv1(self.pad1(x)))))
        out = self.dropout2(self.relu2(self.bn2(self.conv2(self.pad2(out)))))
        res = x if self.downsample is None else self.downsample(x)
        return self.relu(out + res)


class TemporalStackClassifier(TimeSeriesClassifier):
    """A stack of :class:`TemporalBlock` s (``self.network``), pooled over time (``self.pool``),
    then a linear layer (``self.fc``); subclasses build the three."""

    network: nn.Sequential
    pool: nn.MaxPool1d | nn.AvgPool1d
    fc: nn.Linear

    @property
    def feature_layer(self) -> nn.Module:
        return self.network[-1]

    def temporal_features(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the causal conv stack, ``(batch, channels[-1], time)``."""
        self.check_input(x)
        return self.network(x.transpose(1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(pool_over_time(self.pool, self.temporal_features(x)))


class TCNClassifier(TemporalStackClassifier):
    """Dilated causal residual TCN, max-pooled over time, then a linear layer [TSB].

    Args:
        n_features: features per time step (F), the input channels of the first convolution.
        n_time: time steps (T) the model is built for; other lengths are accepted.
        n_classes: number of classes.
        channels: output channels per block; block i has dilation 2**i (reference [5, 5, 50]:
            the authors' ``[hidden] * (levels - 1) + [n_time]`` with hidden 5, T 50).
        kernel_size: convolution width (reference 4).
        dropout: dropout after each ReLU inside the blocks (reference 0.1).

    :meth:`temporal_features` returns the conv stack's ``(batch, channels, time)`` output;
    :attr:`feature_layer` is its last block (the GradCAM target).

    >>> model = TCNClassifier(n_features=3, n_time=20)
    >>> model(torch.randn(4, 20, 3)).shape
    torch.Size([4, 2])
    """

    name = "tcn"
    option_checks = {"channels": dilated_blocks, "kernel_size": positive_int,
                     "dropout": probability}

    def __init__(self, n_features: int, n_time: int, n_classes: int = 2,
                 channels: list[int] | tuple[int, ...] = (5, 5, 50), kernel_size: int = 4,
                 dropout: float = 0.1) -> None:
        super().__init__(n_features, n_time, n_classes, channels=channels,
                         kernel_size=kernel_size, dropout=dropout)
        channels, kernel_size, dropout = (self.config[k] for k in ("channels", "kernel_size",
                                                                   "dropout"))
        blocks = []
        in_ch = self.n_features
        for level, out_ch in enumerate(channels):
            blocks.append(TemporalBlock(in_ch, out_ch, kernel_size, 2**level, dropout))
            in_ch = out_ch
        self.network = nn.Sequential(*blocks)
        self.pool = nn.MaxPool1d(self.n_time)
        self.fc = nn.Linear(channels[-1], self.n_classes)

    @property
    def receptive_field(self) -> int:
        """Number of input steps one output step can see: 1 + 2·(k − 1)·Σ dilations."""
        k = self.config["kernel_size"]
        return 1 + 2 * (k - 1) * sum(2**i for i in range(len(self.config["channels"])))



def strip_weight_norm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every weight-norm parametrisation folded into a plain weight.

    Outputs are unchanged; use it for tools that rewrite ``module.weight`` (e.g. LRP rules),
    which a parametrised weight does not allow. The copy's state-dict keys differ (``weight``
    instead of ``parametrizations.weight.original0/1``), so checkpoint the original.

    >>> plain = strip_weight_norm(TCNClassifier(n_features=3, n_time=20))
    >>> isinstance(plain.network[0].conv1.weight, nn.Parameter)
    True
    """
    plain = copy.deepcopy(model)
    for module in plain.modules():
        if parametrize.is_parametrized(module):
            # a deep copy shares the original's generated "Parametrized..." class, and removal
            # deletes the property from that class: give the copy a class of its own first
            cls = type(module)
            module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            for name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return plain
