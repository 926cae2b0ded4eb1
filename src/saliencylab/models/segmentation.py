"""Time-series segmenters of [OBJ]: a bi-LSTM and U-Time, both giving per-step class scores.

[OBJ] Löffler et al., *Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time
Series* (arXiv 2203.07861) segment the tool-tracking IMU data with

* a **bi-LSTM**: one bidirectional LSTM layer of 512 units, dropout 0.2, a linear layer per step;
* **U-Time** (Perslev et al., NeurIPS 2019): an encoder of four blocks (two dilated convolutions,
  dilation 3, each followed by ReLU and batch norm, then max-pooling by 2) with filters
  {16, 32, 64, 128}, two convolutions of 256 filters at the bottom, a decoder that up-samples by
  nearest neighbour and mirrors the encoder with filters {128, 64, 32, 16} and kernel 7, skip
  connections by concatenation, and a 1×1 convolution to the class scores of every step. We use
  kernel 7 in the encoder too (the study states it for the decoder; U-Time's paper uses 5).

Both take ``(batch, time, features)`` and return logits ``(batch, time, n_classes)``. U-Time pads
the input at the end to a multiple of ``2**depth`` steps and crops its output back, so any length
works. Convolutions and ReLUs are modules (GradCAM / LRP); the bi-LSTM runs without cuDNN when an
input gradient is needed in eval mode on CUDA (:func:`~saliencylab.models.base.rnn_context`).

To explain a segmenter with a classification method, wrap it in :class:`SegmenterAsClassifier`
(class scores averaged over the steps, optionally only over chosen steps).

Example:
    >>> import torch
    >>> model = UTimeSegmenter(n_features=6, n_time=100, n_classes=4)
    >>> model(torch.randn(2, 100, 6)).shape
    torch.Size([2, 100, 4])
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import nn
from torch.nn import functional as F

from saliencylab.errors import ConfigError, ShapeError
from saliencylab.models.base import (
    TimeSeriesClassifier,
    boolean,
    positive_int,
    positive_int_list,
    probability,
    rnn_context,
)

__all__ = [
    "BiLSTMSegmenter",
    "SegmenterAsClassifier",
    "TimeSeriesSegmenter",
    "UTimeSegmenter",
]


class TimeSeriesSegmenter(TimeSeriesClassifier):
    """Base of the segmenters: ``(batch, time, features)`` -> logits ``(batch, time, n_classes)``.

    ``task`` is ``"segmentation"`` (classifiers have no such attribute or ``"classification"``).
    """

    task: ClassVar[str] = "segmentation"
    output_layout: ClassVar[str] = "(batch, time, n_classes)"


class BiLSTMSegmenter(TimeSeriesSegmenter):
    """Bidirectional LSTM with a linear layer on every step [OBJ].

    Args:
        n_features: channels per time step (F).
        n_time: time steps (T) the model is built for; other lengths are accepted.
        n_classes: number of classes (including the "no class" label 0 of segmentation data).
        hidden_size: LSTM units per direction (reference 512).
        dropout: dropout on the LSTM outputs before the linear layer (reference 0.2).
        bidirectional: run the LSTM both ways (reference True).

    >>> BiLSTMSegmenter(n_features=3, n_time=10, hidden_size=8)(torch.randn(2, 10, 3)).shape
    torch.Size([2, 10, 2])
    """

    name = "bilstm_seg"

    option_checks = {"hidden_size": positive_int, "dropout": probability,
                     "bidirectional": boolean}

    def __init__(self, n_features: int, n_time: int, n_classes: int = 2, hidden_size: int = 512,
                 dropout: float = 0.2, bidirectional: bool = True) -> None:
        super().__init__(n_features, n_time, n_classes, hidden_size=hidden_size,
                         dropout=dropout, bidirectional=bidirectional)
        hidden_size, dropout, bidirectional = (
            self.config[k] for k in ("hidden_size", "dropout", "bidirectional"))
        self.rnn = nn.LSTM(
            self.n_features,
            hidden_size,
            num_layers=1,
            batch_first=True,
            bidirectional=bidirectional,
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        with rnn_context(x, self.training):
            out, _ = self.rnn(x)
        return self.fc(self.dropout(out))


def _conv_relu_bn(in_ch: int, out_ch: int, kernel_size: int, dilation: int = 1) -> nn.Sequential:
    """conv ('same' padding) → ReLU → batch norm, the U-Time unit."""
    return nn.Sequential(
        nn.Conv1d(in_ch, out_ch, kernel_size, dilation=dilation, padding="same"),
        nn.ReLU(),
        nn.BatchNorm1d(out_ch),
    )


def _encoder_widths(name: str, value: object) -> list[int]:
    """U-Time encoder widths: positive, at most 12 blocks (each pools by 2)."""
    widths = positive_int_list(name, value)
    if len(widths) > 12:
        raise ConfigError(f"at most 12 encoder blocks (pooling by 2 each), got {len(widths)}")
    return widths


class UTimeSegmenter(TimeSeriesSegmenter):
    """U-Time: a 1-D U-Net of dilated convolutions with per-step class scores [OBJ].

    Args:
        n_features: channels per time step (F).
        n_time: time steps (T) the model is built for; any length is accepted (padded to a
            multiple of ``2**len(filters)`` inside, output cropped back to T).
        n_classes: number of classes.
        filters: encoder widths (reference {16, 32, 64, 128}); the decoder mirrors them.
        bottom_filters: width of the two bottom convolutions (reference 256).
        kernel_size: kernel of every convolution (reference decoder 7).
        dilation: dilation of the encoder convolutions (reference 3).

    :attr:`feature_layer` is the last decoder block, whose ``(B, filters[0], T)`` output the
    class head reads (GradCAM's target).

    >>> UTimeSegmenter(n_features=2, n_time=37, n_classes=3)(torch.randn(1, 37, 2)).shape
    torch.Size([1, 37, 3])
    """

    name = "utime"
    option_checks = {"filters": _encoder_widths, "bottom_filters": positive_int,
                     "kernel_size": positive_int, "dilation": positive_int}

    def __init__(self, n_features: int, n_time: int, n_classes: int = 2,
                 filters: list[int] | tuple[int, ...] = (16, 32, 64, 128),
                 bottom_filters: int = 256, kernel_size: int = 7, dilation: int = 3) -> None:
        super().__init__(n_features, n_time, n_classes, filters=filters,
                         bottom_filters=bottom_filters, kernel_size=kernel_size,
                         dilation=dilation)
        filters, bottom_filters, kernel_size, dilation = (
            self.config[k] for k in ("filters", "bottom_filters", "kernel_size", "dilation"))
        self.multiple = 2 ** len(filters)
        self.encoder = nn.ModuleList()
        in_ch = self.n_features
        for f in filters:
            self.encoder.append(
                nn.Sequential(
                    _conv_relu_bn(in_ch, f, kernel_size, dilation),
                    _conv_relu_bn(f, f, kernel_size, dilation),
                )
            )
            in_ch = f
        self.pool = nn.MaxPool1d(2)
        self.bottom = nn.Sequential(
            _conv_relu_bn(in_ch, bottom_filters, kernel_size),
            _conv_relu_bn(bottom_filters, bottom_filters, kernel_size),
        )
        in_ch = bottom_filters
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.up_convs = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for f in reversed(filters):
            self.up_convs.append(_conv_relu_bn(in_ch, f, kernel_size))
            self.decoder.append(
                nn.Sequential(
                    _conv_relu_bn(2 * f, f, kernel_size),  # after concatenation with the skip
                    _conv_relu_bn(f, f, kernel_size),
                )
            )
            in_ch = f
        self.head = nn.Conv1d(in_ch, self.n_classes, 1)

    @property
    def feature_layer(self) -> nn.Module:
        return self.decoder[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        t = x.shape[1]
        h = x.transpose(1, 2)
        pad = (-t) % self.multiple
        if pad:  # zero padding at the end; cropped off below
            h = F.pad(h, (0, pad))
        skips = []
        for block in self.encoder:
            h = block(h)
            skips.append(h)
            h = self.pool(h)
        h = self.bottom(h)
        for up_conv, block, skip in zip(self.up_convs, self.decoder, reversed(skips), strict=True):
            h = up_conv(self.upsample(h))
            h = block(torch.cat([skip, h], dim=1))
        return self.head(h)[..., :t].transpose(1, 2)


class SegmenterAsClassifier(nn.Module):
    """A segmenter seen as a classifier: per-step logits reduced over time to ``(B, n_classes)``.

    Explaining class c of this wrapper explains "class c over the window" (or over ``steps``),
    so every classification method applies to a segmenter.

    Args:
        segmenter: a model returning ``(B, T, C)``.
        reduction: "mean" or "sum" over the steps.
        steps: optional boolean ``(T,)`` selecting the steps to reduce over (e.g. a labelled
            segment), shared by all samples (attribution methods enlarge the batch, so a
            per-sample selection would not follow them); None uses all steps.

    >>> seg = BiLSTMSegmenter(n_features=2, n_time=8, hidden_size=4)
    >>> SegmenterAsClassifier(seg)(torch.randn(3, 8, 2)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        segmenter: nn.Module,
        reduction: Literal["mean", "sum"] = "mean",
        steps: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ConfigError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        if steps is not None and (
            not isinstance(steps, torch.Tensor)
            or steps.dim() != 1
            or steps.dtype != torch.bool
            or not bool(steps.any())
        ):
            raise ConfigError("steps must be a boolean (T,) tensor selecting at least one step")
        self.segmenter = segmenter
        self.reduction = reduction
        self.steps = steps  # no .config on purpose: checkpoint the wrapped segmenter

    @property
    def feature_layer(self) -> nn.Module | None:
        return getattr(self.segmenter, "feature_layer", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.segmenter(x)
        if logits.dim() != 3:
            raise ShapeError(
                f"the segmenter must return (B, T, C) logits, got {tuple(logits.shape)}"
            )
        if self.steps is None:
            return logits.mean(1) if self.reduction == "mean" else logits.sum(1)
        if self.steps.shape[0] != logits.shape[1]:
            raise ShapeError(
                f"steps selects among {self.steps.shape[0]} steps but the input has "
                f"{logits.shape[1]}"
            )
        w = self.steps.to(device=logits.device, dtype=logits.dtype)[None, :, None]
        total = (logits * w).sum(1)
        return total if self.reduction == "sum" else total / w.sum()
