"""Tiny models for the explanation tests (T = F = 10, batch 4).

The time-series models and the 2-D CNN come from ``saliencylab.models.build_model``; a small
text CNN and a few hand-made models with known attributions are defined here.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from saliencylab.models import build_model

T, F, B, C = 10, 10, 4, 3

torch.set_num_threads(1)  # tiny models: threads only add contention

TS_MODELS = ("lstm", "lstm_ica", "tcn", "transformer")


def ts_model(name: str) -> nn.Module:
    """A small registry model with random weights, in train mode (explain must switch)."""
    small = {
        "lstm": {"hidden_size": 6},
        "lstm_ica": {"hidden_size": 6, "hops": 3, "d_a": 8},
        "tcn": {"channels": [4, 4, 6]},
        "transformer": {"n_layers": 2, "d_ff": 16, "heads": 2},
    }[name]
    return build_model(name, n_features=F, n_time=T, n_classes=C, seed=0, **small)


def image_model() -> nn.Module:
    return build_model("mnist_cnn", in_channels=2, image_size=10, n_classes=C,
                       channels=[3, 4], hidden=8, seed=0)


class TextCNN(nn.Module):
    """Embedding -> Conv1d over tokens -> ReLU -> max over tokens -> Linear."""

    def __init__(self, vocab: int = 20, dim: int = 6, n_classes: int = C):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.conv = nn.Conv1d(dim, 5, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(5, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.conv(self.embedding(ids).transpose(1, 2)))
        return self.fc(h.max(dim=2).values)


class TextLSTM(nn.Module):
    """Embedding -> LSTM -> Linear on the last hidden state (no conv: GradCAM does not apply)."""

    def __init__(self, vocab: int = 20, dim: int = 6, n_classes: int = C):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.lstm = nn.LSTM(dim, 5, batch_first=True)
        self.fc = nn.Linear(5, n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(ids))
        return self.fc(out[:, -1])


class LinearTS(nn.Module):
    """logits = flatten(x) @ W.T + b: the gradient of logit c is W[c] exactly."""

    def __init__(self, t: int = T, f: int = F, n_classes: int = C, seed: int = 0):
        super().__init__()
        self.fc = nn.Linear(t * f, n_classes)
        with torch.no_grad():
            g = torch.Generator().manual_seed(seed)
            self.fc.weight.copy_(torch.randn(self.fc.weight.shape, generator=g))
            self.fc.bias.copy_(torch.randn(self.fc.bias.shape, generator=g))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class IgnoresFeature(nn.Module):
    """A ReLU MLP that multiplies feature ``ignored`` by 0 before anything else."""

    def __init__(self, ignored: int = 3, t: int = T, f: int = F, n_classes: int = C):
        super().__init__()
        self.register_buffer("keep", torch.ones(1, 1, f))
        self.keep[..., ignored] = 0.0
        torch.manual_seed(1)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(t * f, 16), nn.ReLU(),
                                 nn.Linear(16, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * self.keep)


@pytest.fixture
def x_ts() -> torch.Tensor:
    return torch.rand(B, T, F, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def x_img() -> torch.Tensor:
    return torch.rand(B, 2, 10, 10, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def x_text() -> torch.Tensor:
    return torch.randint(0, 20, (B, 7), generator=torch.Generator().manual_seed(0))


class Zoo:
    """The helpers above, handed to tests by the ``zoo`` fixture (no ``import conftest``)."""

    T, F, B, C = T, F, B, C
    TS_MODELS = TS_MODELS
    ts_model = staticmethod(ts_model)
    image_model = staticmethod(image_model)
    TextCNN, TextLSTM, LinearTS, IgnoresFeature = TextCNN, TextLSTM, LinearTS, IgnoresFeature


@pytest.fixture
def zoo() -> type[Zoo]:
    return Zoo
