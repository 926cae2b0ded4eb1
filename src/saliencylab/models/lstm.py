"""LSTM classifier of the time-series interpretability benchmark.

[TSB] Ismail, Gunady, Corrada Bravo, Feizi. *Benchmarking Deep Learning Interpretability in Time
Series Predictions.* NeurIPS 2020: one LSTM layer, the last hidden state goes through a linear
layer; dropout on the input and on that hidden state (as in the authors' code).
"""

from __future__ import annotations

import torch
from torch import nn

from saliencylab.models.base import (
    TimeSeriesClassifier,
    init_forget_bias,
    optional_bias,
    positive_int,
    probability,
    rnn_context,
)

#: Hidden size the [TSB] authors used; our default is larger so training converges in few epochs.
REFERENCE_HIDDEN_SIZE = 5


class LSTMClassifier(TimeSeriesClassifier):
    """One-layer LSTM; the last hidden state goes through a linear layer [TSB].

    Args:
        n_features: features per time step (F).
        n_time: time steps (T) the model is built for; other lengths are accepted.
        n_classes: number of classes.
        hidden_size: LSTM hidden size (reference: 5, :data:`REFERENCE_HIDDEN_SIZE`).
        dropout: dropout rate on the input and on the last hidden state (reference 0.1).
        forget_bias: start the forget gates at this bias
            (:func:`saliencylab.models.base.init_forget_bias`); None (default): PyTorch's
            initialisation, as the [TSB] code. The ``vanishing`` preset uses 1.

    In eval mode with autograd on and a CUDA input, the LSTM runs without cuDNN so that input
    gradients work (cuDNN refuses the RNN backward in eval mode).

    >>> model = LSTMClassifier(n_features=3, n_time=10)
    >>> model(torch.randn(4, 10, 3)).shape
    torch.Size([4, 2])
    """

    name = "lstm"
    option_checks = {"hidden_size": positive_int, "dropout": probability,
                     "forget_bias": optional_bias}

    def __init__(self, n_features: int, n_time: int, n_classes: int = 2, hidden_size: int = 64,
                 dropout: float = 0.1, forget_bias: float | None = None) -> None:
        super().__init__(n_features, n_time, n_classes, hidden_size=hidden_size, dropout=dropout,
                         forget_bias=forget_bias)
        hidden_size, dropout = self.config["hidden_size"], self.config["dropout"]
        self.input_dropout = nn.Dropout(dropout)
        self.rnn = nn.LSTM(self.n_features, hidden_size, num_layers=1, batch_first=True)
        init_forget_bias(self.rnn, self.config["forget_bias"])
        self.output_dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.input_dropout(x)
        with rnn_context(x, self.training):
            out, _ = self.rnn(x)
        return self.fc(self.output_dropout(out[:, -1, :]))
