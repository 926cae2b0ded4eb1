"""Text classifiers on ``(batch, tokens)`` token ids, returning logits ``(batch, n_classes)``.

* ``bilstm`` — the [SGT] Section 5.2 model: word embeddings (GloVe, [SGT-supp] "Saliency Guided
  Training for Language") passed to a bidirectional LSTM; the last forward and the first
  backward hidden states, concatenated, go through a linear layer.
* ``text_transformer`` — a small Transformer encoder (sinusoidal positions, pre-norm layers,
  key-padding mask) whose valid-token mean goes through a linear layer: a second architecture.

Inputs are padded at the end with ``[PAD]`` (id 0); a row's length is its last non-pad position
+ 1 (at least 1, so an empty document reads one ``[PAD]``). Padded positions are never read
(packed sequences; a key-padding mask and a valid-token mean), so every attribution on the
embedding output is exactly zero there: saliency maps exclude padding by construction.

The embedding is ``model.embedding`` (an ``nn.Embedding``, ``padding_idx = 0``), the layer
:func:`saliencylab.explain.explain` and saliency guided training attribute to, summing over the
embedding dim for one score per token. :func:`build_text_model_for` sizes a model for a text
dataset and copies GloVe vectors into the embedding (:mod:`saliencylab.data.glove`).

Example:
    >>> model = BiLSTMTextClassifier(vocab_size=100, embed_dim=8, hidden_size=16)
    >>> ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    >>> model(ids).shape
    torch.Size([2, 2])
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from saliencylab.data.text import token_lengths as valid_tokens
from saliencylab.errors import ConfigError, InvalidDataError, ShapeError
from saliencylab.models.base import boolean, positive_int, probability, rnn_context

__all__ = ["BiLSTMTextClassifier", "TextClassifier", "TransformerTextClassifier",
           "build_text_model_for", "init_embeddings", "token_lengths"]


def token_lengths(ids: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """``(N,)`` lengths the models read: the last non-pad position + 1, at least 1 (an empty
    document reads one ``[PAD]``).

    >>> token_lengths(torch.tensor([[4, 5, 0, 0], [0, 0, 0, 0], [3, 0, 2, 0]])).tolist()
    [2, 1, 3]
    """
    return valid_tokens(ids, pad_id).clamp(min=1)


def _embeddings_source(name: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{name} must be None, 'glove-6b-50d' or a glove.*.txt path, got "
                          f"{value!r}")
    return value


class TextClassifier(nn.Module):
    """Base of the text classifiers: ``config``, the embedding, input checks."""

    name: ClassVar[str] = ""
    layout: ClassVar[str] = "(batch, tokens) int64 token ids"
    option_checks: ClassVar[dict[str, Any]] = {}

    def __init__(self, vocab_size: int, n_classes: int, embed_dim: int, dropout: float,
                 embeddings: str | None, freeze_embeddings: bool, **options: Any) -> None:
        super().__init__()
        self.vocab_size = positive_int("vocab_size", vocab_size, minimum=3)
        self.n_classes = positive_int("n_classes", n_classes, minimum=2)
        self.embed_dim = positive_int("embed_dim", embed_dim)
        checked = {k: self.option_checks[k](k, v) if k in self.option_checks else v
                   for k, v in options.items()}
        self.config: dict[str, Any] = {
            "name": self.name, "vocab_size": self.vocab_size, "n_classes": self.n_classes,
            "embed_dim": self.embed_dim, "dropout": probability("dropout", dropout),
            "embeddings": _embeddings_source("embeddings", embeddings),
            "freeze_embeddings": boolean("freeze_embeddings", freeze_embeddings), **checked}
        self.embedding = nn.Embedding(self.vocab_size, self.embed_dim, padding_idx=0)
        self.embedding.weight.requires_grad_(not freeze_embeddings)
        self.embedding_dropout = nn.Dropout(self.config["dropout"])

    def check_input(self, ids: torch.Tensor) -> None:
        """``ShapeError`` / ``InvalidDataError`` unless ``ids`` is ``(batch, tokens)`` integer
        ids inside the vocabulary."""
        if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.shape[1] < 1:
            got = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
            raise ShapeError(f"{self.name} expects {self.layout}, got {got}")
        if ids.is_floating_point() or ids.dtype == torch.bool:
            raise InvalidDataError(f"{self.name} expects integer token ids, got {ids.dtype}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise InvalidDataError(f"token ids must lie in [0, {self.vocab_size}), got "
                                   f"[{int(ids.min())}, {int(ids.max())}]")

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        self.check_input(ids)
        return self.embedding_dropout(self.embedding(ids))

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, n_classes={self.n_classes}"


class BiLSTMTextClassifier(TextClassifier):
    """Embedding -> bidirectional LSTM -> [last forward; first backward] hidden -> linear [SGT].

    Args:
        vocab_size: rows of the embedding (the dataset's vocabulary).
        n_classes: number of classes.
        embed_dim: embedding size (GloVe 6B 50-d: 50).
        hidden_size: LSTM hidden size per direction.
        dropout: dropout on the embeddings and on the final hidden state.
        embeddings: where the initial vectors came from (recorded; :func:`init_embeddings`
            copies them in): None (random), ``"glove-6b-50d"`` or a ``glove.*.txt`` path.
        freeze_embeddings: keep the embedding fixed (default: trained with the model).

    >>> model = BiLSTMTextClassifier(vocab_size=50, embed_dim=4, hidden_size=8, n_classes=3)
    >>> model(torch.randint(1, 50, (2, 7))).shape
    torch.Size([2, 3])
    """

    name = "bilstm"
    option_checks = {"hidden_size": positive_int}

    def __init__(self, vocab_size: int, n_classes: int = 2, embed_dim: int = 50,
                 hidden_size: int = 64, dropout: float = 0.1, embeddings: str | None = None,
                 freeze_embeddings: bool = False) -> None:
        super().__init__(vocab_size, n_classes, embed_dim, dropout, embeddings,
                         freeze_embeddings, hidden_size=hidden_size)
        hidden = self.config["hidden_size"]
        self.rnn = nn.LSTM(self.embed_dim, hidden, batch_first=True, bidirectional=True)
        self.output_dropout = nn.Dropout(self.config["dropout"])
        self.fc = nn.Linear(2 * hidden, self.n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(ids)
        lengths = token_lengths(ids).cpu()
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        with rnn_context(emb, self.training):
            _, (h, _) = self.rnn(packed)
        # h: (2, B, H), forward direction's state after the last valid token, backward's after
        # the first one.
        return self.fc(self.output_dropout(torch.cat([h[0], h[1]], dim=1)))


class TransformerTextClassifier(TextClassifier):
    """Embedding + sinusoidal positions -> pre-norm Transformer encoder -> valid-token mean ->
    linear.

    Args:
        vocab_size, n_classes, embed_dim, dropout, embeddings, freeze_embeddings: as
            :class:`BiLSTMTextClassifier`.
        n_heads: attention heads (must divide ``embed_dim``).
        n_layers: encoder layers.
        ff_size: width of the feed-forward block.

    >>> model = TransformerTextClassifier(vocab_size=50, embed_dim=8, n_heads=2)
    >>> model(torch.randint(1, 50, (3, 5))).shape
    torch.Size([3, 2])
    """

    name = "text_transformer"
    option_checks = {"n_heads": positive_int, "n_layers": positive_int, "ff_size": positive_int}

    def __init__(self, vocab_size: int, n_classes: int = 2, embed_dim: int = 50,
                 n_heads: int = 2, n_layers: int = 2, ff_size: int = 128, dropout: float = 0.1,
                 embeddings: str | None = None, freeze_embeddings: bool = False) -> None:
        super().__init__(vocab_size, n_classes, embed_dim, dropout, embeddings,
                         freeze_embeddings, n_heads=n_heads, n_layers=n_layers, ff_size=ff_size)
        if self.embed_dim % self.config["n_heads"]:
            raise ConfigError(f"n_heads ({self.config['n_heads']}) must divide embed_dim "
                              f"({self.embed_dim})")
        layer = nn.TransformerEncoderLayer(
            self.embed_dim, self.config["n_heads"], self.config["ff_size"],
            self.config["dropout"], batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, self.config["n_layers"],
                                             enable_nested_tensor=False)
        self.norm = nn.LayerNorm(self.embed_dim)
        self.fc = nn.Linear(self.embed_dim, self.n_classes)

    def _positions(self, length: int, device: torch.device) -> torch.Tensor:
        pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
        rate = torch.exp(torch.arange(0, self.embed_dim, 2, device=device, dtype=torch.float32)
                         * (-math.log(10000.0) / self.embed_dim))
        table = torch.zeros(length, self.embed_dim, device=device)
        table[:, 0::2] = torch.sin(pos * rate)
        table[:, 1::2] = torch.cos(pos * rate)[:, : self.embed_dim // 2]
        return table

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(ids)
        lengths = token_lengths(ids)
        valid = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]
        h = emb + self._positions(ids.shape[1], emb.device).to(emb.dtype)
        h = self.norm(self.encoder(h, src_key_padding_mask=~valid))
        pooled = (h * valid[..., None]).sum(1) / lengths[:, None].to(h.dtype)
        return self.fc(pooled)


def init_embeddings(model: TextClassifier, vocab: Any, source: Any, *, seed: int = 0) -> float:
    """Copy GloVe vectors of ``vocab`` from ``source`` (a ``glove.*.txt`` path,
    ``"glove-6b-50d"`` or loaded :class:`~saliencylab.data.glove.GloveVectors`) into
    ``model.embedding``; returns the vocabulary coverage. Missing tokens as
    :mod:`saliencylab.data.glove` says."""
    from saliencylab.data.glove import GloveVectors, glove_vectors

    vectors = source if isinstance(source, GloveVectors) else glove_vectors(vocab, source,
                                                                             seed=seed)
    if tuple(vectors.matrix.shape) != tuple(model.embedding.weight.shape):
        raise ConfigError(f"the {vectors.source} vectors are {tuple(vectors.matrix.shape)} but "
                          f"the model's embedding is {tuple(model.embedding.weight.shape)} "
                          f"(vocab_size x embed_dim)")
    with torch.no_grad():
        model.embedding.weight.copy_(vectors.matrix)
    return vectors.coverage


def build_text_model_for(build: Any, name: str, data: Any, *, seed: int | None = None,
                         **kwargs: Any) -> nn.Module:
    """Model ``name`` sized for the text dataset ``data`` (vocabulary, classes); with
    ``embeddings=`` the GloVe vectors are copied in and ``embed_dim`` follows them.

    ``build`` is :func:`saliencylab.models.build_model`.
    """
    from saliencylab.data.glove import glove_vectors
    from saliencylab.data.text import vocabulary_of

    vocab = vocabulary_of(data)
    source = _embeddings_source("embeddings", kwargs.get("embeddings"))
    vectors = None
    if source is not None:
        vectors = glove_vectors(vocab, source, seed=0 if seed is None else int(seed))
        kwargs.setdefault("embed_dim", int(vectors.matrix.shape[1]))
    model = build(name, n_classes=data.n_classes, seed=seed, vocab_size=len(vocab), **kwargs)
    if vectors is not None:
        init_embeddings(model, vocab, vectors)
    return model
