"""LSTM with input-cell attention.

[ICA] Ismail, Gunady, Pessoa, Corrada Bravo, Feizi. *Input-Cell Attention Reduces Vanishing
Saliency of Recurrent Neural Networks.* NeurIPS 2019. At step t the cell attends over the inputs
x_1..x_t:

    A_t = softmax over s <= t of  W2 · tanh(W1 x_s)      (W1: F -> d_a, W2: d_a -> r hops)
    M_t = mean over the r hops of  sum_s A_t[s] x_s     (in R^F)

and the LSTM gates read M_t in place of x_t (gates = M_t W + h_{t-1} U + b).

Because M_t depends on the inputs only (not on h), all M_t can be computed at once with a causal
mask and then fed to a standard ``nn.LSTM``; this is exactly the recurrence above, costs O(T^2·r)
memory per sample instead of a Python loop over t, and uses the fused LSTM kernels.
"""

from __future__ import annotations

import torch
from torch import nn

from saliencylab.models.base import TimeSeriesClassifier, positive_int, probability, rnn_context


class InputCellAttention(nn.Module):
    """The causal self-attention summary M_t of [ICA] for every t at once.

    >>> att = InputCellAttention(n_features=3, d_a=8, hops=2)
    >>> att(torch.randn(4, 10, 3)).shape
    torch.Size([4, 10, 3])
    """

    def __init__(self, n_features: int, d_a: int = 50, hops: int = 10) -> None:
        super().__init__()
        self.hops = hops
        self.w1 = nn.Linear(n_features, d_a)
        self.w2 = nn.Linear(d_a, hops)
        # the authors' initialisation: Xavier-uniform matrices, zero biases
        for layer in (self.w1, self.w2):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """Attention ``A[b, k, t, s]`` of step t on input s for hop k; zero for s > t."""
        n_time = x.shape[1]
        # a score depends on x_s only; the step t enters through the causal mask alone
        scores = self.w2(torch.tanh(self.w1(x))).transpose(1, 2)  # (B, r, T_s)
        future = torch.ones(n_time, n_time, dtype=torch.bool, device=x.device).triu(1)
        # hops first, time last: the softmax runs over contiguous memory (2x faster than last-r)
        logits = scores.unsqueeze(2).masked_fill(future, float("-inf"))  # (B, r, T_t, T_s)
        return torch.softmax(logits, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # averaging over hops before the product with X equals averaging the r rows of A X
        mixing = self.weights(x).mean(dim=1)  # (B, T_t, T_s)
        return mixing @ x


class LSTMInputCellAttention(TimeSeriesClassifier):
    """LSTM whose gates read the input-cell attention summary M_t instead of x_t [ICA].

    Args:
        n_features: features per time step (F).
        n_time: time steps (T) the model is built for; other lengths are accepted.
        n_classes: number of classes.
        hidden_size: LSTM hidden size (reference: 5).
        hops: attention hops r (reference 10).
        d_a: attention hidden size (reference 50).
        dropout: dropout on the input and on the last hidden state (reference 0.1).

    Memory grows as batch · T² · hops; pass a smaller batch for long series.

    >>> model = LSTMInputCellAttention(n_features=3, n_time=10, hidden_size=4, hops=2, d_a=8)
    >>> model(torch.randn(4, 10, 3)).shape
    torch.Size([4, 2])
    """

    name = "lstm_ica"

    option_checks = {"hidden_size": positive_int, "hops": positive_int, "d_a": positive_int,
                     "dropout": probability}

    def __init__(self, n_features: int, n_time: int, n_classes: int = 2, hidden_size: int = 64,
                 hops: int = 10, d_a: int = 50, dropout: float = 0.1) -> None:
        super().__init__(n_features, n_time, n_classes, hidden_size=hidden_size, hops=hops,
                         d_a=d_a, dropout=dropout)
        hidden_size, hops, d_a, dropout = (self.config[k] for k in ("hidden_size", "hops", "d_a",
                                                                   "dropout"))
        self.input_dropout = nn.Dropout(dropout)
        self.attention = InputCellAttention(self.n_features, d_a=d_a, hops=hops)
        self.rnn = nn.LSTM(self.n_features, hidden_size, num_layers=1, batch_first=True)
        self.output_dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size, self.n_classes)

    def summaries(self, x: torch.Tensor) -> torch.Tensor:
        """The attention summaries M_t, shape ``(batch, time, features)``, of an input batch."""
        self.check_input(x)
        return self.attention(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        m = self.attention(self.input_dropout(x))
        with rnn_context(m, self.training):
            out, _ = self.rnn(m)
        return self.fc(self.output_dropout(out[:, -1, :]))
