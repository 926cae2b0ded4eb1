"""Saliency guided training for language ([SGT] Section 5.2, [SGT-supp] "Saliency Guided
Training for Language").

:class:`TextSaliencyGuided` is :class:`~saliencylab.train.saliency_guided.SaliencyGuided` on
``(batch, tokens)`` token ids padded at the end with ``[PAD]``: the saliency of a token is the
gradient of the label's logit w.r.t. its embedding summed over the embedding dim, and each row
masks ``⌊k · length⌋`` of its *valid* tokens — the lowest-saliency ones (signed by default, as
the authors' code) — with one of the five masking functions of [SGT-supp]:

==================  =========================================================================
``previous_word``   (default, the best in [SGT-supp]) the previous high-saliency word
``remove``          delete the token; the rest moves left and the end is padded
``unk``             the ``[UNK]`` token
``sep``             the ``[SEP]`` token
``random_word``     a uniformly random vocabulary word (never ``[PAD]``, ``[UNK]``, ``[SEP]``)
==================  =========================================================================

Lengths and padding: padded positions are never masked and never counted in ``k``. ``remove``
shortens each row's valid part by its number of masked tokens (the padding grows at the end,
the row keeps its width ``L``); every other function keeps every row's length, and its padding
unchanged.

``k`` per dataset is [SGT-supp] Table 3 (:data:`TEXT_SGT_K`: movies 60 %, FEVER 80 %, e-SNLI
70 %; λ = 1 everywhere).

Example:
    >>> from saliencylab.data import load_dataset
    >>> from saliencylab.models import build_model_for
    >>> from saliencylab.train import TrainConfig, fit
    >>> data = load_dataset("SyntheticText", n_train=60, n_val=20, n_test=20)
    >>> sgt = text_saliency_guided(data, k=0.5)
    >>> sgt.params()["masking"], sgt.params()["k"]
    ('previous_word', 0.5)
    >>> model = build_model_for("bilstm", data, seed=0, hidden_size=8, embed_dim=8)
    >>> result = fit(model, data, TrainConfig(epochs=1), sgt, progress=False)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from saliencylab.data.text import token_lengths
from saliencylab.errors import ConfigError, ShapeError
from saliencylab.train.masking import (
    TEXT_MASKING,
    PreviousToken,
    RandomToken,
    RemoveTokens,
    SepToken,
    UnkToken,
)
from saliencylab.train.saliency_guided import SaliencyGuided

__all__ = ["TEXT_SGT_K", "TextSaliencyGuided", "text_masking", "text_saliency_guided",
           "valid_lowest_saliency"]

#: k of saliency guided training per ERASER dataset, [SGT-supp] Table 3 (λ = 1).
TEXT_SGT_K: dict[str, float] = {"movies": 0.6, "fever": 0.8, "esnli": 0.7}


def text_masking(name: str, *, vocab_size: int, pad_id: int = 0, unk_id: int = 1,
                 sep_id: int = 2) -> Any:
    """The text masking function ``name`` of [SGT-supp] built with the vocabulary's ids.

    >>> text_masking("unk", vocab_size=10).token_id
    1
    """
    if name not in TEXT_MASKING:
        raise ConfigError(f"text masking must be one of {', '.join(TEXT_MASKING)}, got {name!r}")
    if name == "remove":
        return RemoveTokens(pad_id=pad_id)
    if name == "unk":
        return UnkToken(unk_id)
    if name == "sep":
        return SepToken(sep_id)
    if name == "random_word":
        return RandomToken(vocab_size, exclude=(pad_id, unk_id, sep_id))
    return PreviousToken()


def valid_lowest_saliency(saliency: torch.Tensor, lengths: torch.Tensor, k: float,
                          by_magnitude: bool = False) -> torch.Tensor:
    """``(B, L)`` bool: the ``⌊k · lengths[b]⌋`` lowest-saliency tokens among the first
    ``lengths[b]`` of each row (padding never selected). Batched: one stable sort.

    >>> s = torch.tensor([[3.0, -1.0, 2.0, 0.0]])
    >>> valid_lowest_saliency(s, torch.tensor([3]), 0.67).tolist()
    [[False, True, True, False]]
    """
    if saliency.dim() != 2 or lengths.shape != saliency.shape[:1]:
        raise ShapeError(f"saliency must be (B, L) with (B,) lengths, got "
                         f"{tuple(saliency.shape)} and {tuple(lengths.shape)}")
    key = saliency.detach().abs() if by_magnitude else saliency.detach()
    pos = torch.arange(saliency.shape[1], device=saliency.device)
    valid = pos[None, :] < lengths[:, None]
    key = key.masked_fill(~valid, math.inf)
    order = torch.sort(key, dim=1, stable=True).indices
    rank = torch.empty_like(order).scatter_(1, order, pos.expand_as(order))
    n = torch.floor(lengths.to(torch.float64) * k + 1e-9).long()
    return (rank < n[:, None]) & valid


class TextSaliencyGuided(SaliencyGuided):
    """[SGT] on token ids: ``k`` of each row's valid tokens masked (module docstring).

    Args:
        k: fraction of each document's tokens to mask, strictly between 0 and 1.
        lam: weight of the KL term (1 in [SGT-supp] Table 3).
        masking: one of :data:`~saliencylab.train.masking.TEXT_MASKING` (default
            ``previous_word``).
        vocab_size, pad_id, unk_id, sep_id: the vocabulary's size and special ids.
        by_magnitude: rank ``|g|`` instead of the signed gradient.
        embedding: the model's ``nn.Embedding`` (or its path); None finds the single one.
        fuse_forward: as :class:`SaliencyGuided`.

    Example:
        >>> sgt = TextSaliencyGuided(0.6, vocab_size=100, masking="remove")
        >>> sgt.params()["masking_params"]
        {'name': 'remove', 'pad_id': 0}
    """

    def __init__(self, k: float, lam: float = 1.0, masking: str = "previous_word", *,
                 vocab_size: int, pad_id: int = 0, unk_id: int = 1, sep_id: int = 2,
                 by_magnitude: bool = False, embedding: nn.Module | str | None = None,
                 fuse_forward: bool | None = None) -> None:
        function = text_masking(masking, vocab_size=vocab_size, pad_id=pad_id, unk_id=unk_id,
                                sep_id=sep_id)
        super().__init__(k, lam, function, by_magnitude, embedding=embedding,
                         fuse_forward=fuse_forward)
        self.pad_id = int(pad_id)

    def lengths(self, x: torch.Tensor) -> torch.Tensor:
        """Valid tokens of each row: the last non-pad position + 1."""
        return token_lengths(x, self.pad_id)

    def masked_input(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                     generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X̃ detached, where)``: each row's ``⌊k · length⌋`` lowest-saliency valid tokens
        masked."""
        if x.is_floating_point() or x.dim() != 2:
            raise ShapeError(f"TextSaliencyGuided takes (batch, tokens) token ids, got "
                             f"{tuple(x.shape)} {x.dtype}")
        where = valid_lowest_saliency(self.saliency(model, x, y), self.lengths(x), self.k,
                                      self.by_magnitude)
        x_masked = self.masking(x.detach(), where, generator)
        return x_masked.detach(), where


def text_saliency_guided(data: Any, k: float | None = None, lam: float = 1.0,
                         masking: str = "previous_word", by_magnitude: bool = False,
                         **kwargs: Any) -> TextSaliencyGuided:
    """:class:`TextSaliencyGuided` for the text dataset ``data`` (its vocabulary's ids); ``k``
    defaults to the [SGT-supp] Table 3 value of an ERASER dataset (:data:`TEXT_SGT_K`)."""
    if getattr(data, "modality", None) != "text" or "vocab" not in data.meta:
        raise ConfigError("text_saliency_guided needs a text dataset with a vocabulary")
    if k is None:
        if data.name.lower() not in TEXT_SGT_K:
            raise ConfigError(f"no [SGT-supp] Table 3 k for {data.name!r} (known: "
                              f"{', '.join(TEXT_SGT_K)}); pass k")
        k = TEXT_SGT_K[data.name.lower()]
    meta = data.meta
    return TextSaliencyGuided(k, lam, masking, vocab_size=len(meta["vocab"]),
                              pad_id=meta.get("pad_id", 0), unk_id=meta.get("unk_id", 1),
                              sep_id=meta.get("sep_id", 2), by_magnitude=by_magnitude, **kwargs)
