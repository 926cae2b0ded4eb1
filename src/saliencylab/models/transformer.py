"""Transformer encoder classifier of the time-series interpretability benchmark.

[TSB] Ismail, Gunady, Corrada Bravo, Feizi. *Benchmarking Deep Learning Interpretability in Time
Series Predictions.* NeurIPS 2020: d_model = F, 6 pre-norm encoder layers, 5 heads, feed-forward
400, dropout 0.1, sinusoidal positional encoding, a final norm, max-pool over time, linear.
As in the authors' code the input is scaled by sqrt(d_model) before the positional encoding is
added, and self-attention is causal (step t attends to steps <= t); ``causal=False`` gives
full attention.

Attention is written out with ``nn.Linear`` modules and a plain softmax (no fused kernels), so
hooks see every step and higher-order gradients work on every device.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from saliencylab.errors import ConfigError
from saliencylab.models.base import (
    TimeSeriesClassifier,
    boolean,
    pool_over_time,
    positive_int,
    probability,
)


def sinusoidal_encoding(n_time: int, d_model: int) -> torch.Tensor:
    """Vaswani et al. (2017) positional encoding, ``(n_time, d_model)``:
    PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(t / 10000^(2i/d)).

    >>> sinusoidal_encoding(4, 6).shape
    torch.Size([4, 6])
    """
    position = torch.arange(n_time, dtype=torch.float64)[:, None]
    exponent = torch.arange(0, d_model, 2, dtype=torch.float64) / d_model
    div = torch.exp(-math.log(10000.0) * exponent)
    pe = torch.zeros(n_time, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)[:, : d_model // 2]
    return pe.float()


class MultiHeadSelfAttention(nn.Module):
    """Scaled dot-product self-attention with ``heads`` heads and an optional causal mask."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.d_head = heads, d_model // heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, t, d = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, heads, T, d_head)
            return y.view(b, t, self.heads, self.d_head).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))
        # functional softmax as in the reference code (Captum's DeepLIFT keeps its gradient)
        attn = self.dropout(torch.softmax(scores, dim=-1))
        return self.out((attn @ v).transpose(1, 2).reshape(b, t, d))


class EncoderLayer(nn.Module):
    """Pre-norm encoder layer: x + drop(attn(norm(x))), then x + drop(ff(norm(x)))."""

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, heads, dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model)
        )
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.dropout1(self.attn(self.norm1(x), mask))
        return x + self.dropout2(self.ff(self.norm2(x)))


def _optional_positive_int(name: str, value: object) -> int | None:
    return None if value is None else positive_int(name, value)


class TransformerClassifier(TimeSeriesClassifier):
    """Pre-norm Transformer encoder, max-pooled over time, then a linear layer [TSB].

    Args:
        n_features: features per time step (F).
        n_time: time steps (T) the model is built for; other lengths are accepted.
        n_classes: number of classes.
        d_model: model width. None (default) means F, the reference, when ``heads`` divides F;
            otherwise the next multiple of ``heads`` above F. When d_model != F an input
            projection ``nn.Linear(F, d_model)`` is added. An explicit value must be divisible
            by ``heads``.
        n_layers: encoder layers (reference 6).
        heads: attention heads (reference 5).
        d_ff: feed-forward width (reference 400).
        dropout: dropout rate (reference 0.1).
        causal: mask attention to steps <= t, as the reference code does.

    >>> model = TransformerClassifier(n_features=10, n_time=20, n_layers=2)
    >>> model(torch.randn(4, 20, 10)).shape
    torch.Size([4, 2])
    """

    name = "transformer"

    option_checks = {"d_model": _optional_positive_int, "n_layers": positive_int,
                     "heads": positive_int, "d_ff": positive_int, "dropout": probability,
                     "causal": boolean}

    def __init__(self, n_features: int, n_time: int, n_classes: int = 2,
                 d_model: int | None = None, n_layers: int = 6, heads: int = 5, d_ff: int = 400,
                 dropout: float = 0.1, causal: bool = True) -> None:
        super().__init__(n_features, n_time, n_classes, d_model=d_model, n_layers=n_layers,
                         heads=heads, d_ff=d_ff, dropout=dropout, causal=causal)
        d_model, n_layers, heads, d_ff, dropout, causal = (
            self.config[k] for k in ("d_model", "n_layers", "heads", "d_ff", "dropout", "causal"))
        if d_model is None:
            width = -(-self.n_features // heads) * heads  # F rounded up to a multiple of heads
        else:
            width = d_model
            if width % heads:
                raise ConfigError(
                    f"d_model must be divisible by heads={heads}, got d_model={width}; "
                    f"pass d_model=None to use the next multiple of heads >= n_features"
                )
        self.d_model = width
        self.causal = causal
        self.input_projection = (
            nn.Linear(self.n_features, width) if width != self.n_features else nn.Identity()
        )
        self.register_buffer("pe", sinusoidal_encoding(self.n_time, width), persistent=False)
        self.pe_dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(width, heads, d_ff, dropout) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(width)
        self.pool = nn.MaxPool1d(self.n_time)
        self.fc = nn.Linear(width, self.n_classes)

    def _positional(self, n_time: int, like: torch.Tensor) -> torch.Tensor:
        if n_time <= self.pe.shape[0]:
            return self.pe[:n_time].to(like.dtype)
        return sinusoidal_encoding(n_time, self.d_model).to(like.device, like.dtype)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's output, ``(batch, time, d_model)``, before pooling."""
        self.check_input(x)
        n_time = x.shape[1]
        h = self.input_projection(x) * math.sqrt(self.d_model)
        h = self.pe_dropout(h + self._positional(n_time, h))
        mask = None
        if self.causal:
            mask = torch.ones(n_time, n_time, dtype=torch.bool, device=x.device).triu(1)
        for layer in self.layers:
            h = layer(h, mask)
        return self.norm(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(pool_over_time(self.pool, self.encode(x).transpose(1, 2)))
