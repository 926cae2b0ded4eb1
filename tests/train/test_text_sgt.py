"""Saliency guided training on token ids: valid tokens only, lengths and padding as documented."""

from __future__ import annotations

import pytest
import torch

from saliencylab.data import load_dataset
from saliencylab.errors import ConfigError
from saliencylab.models import build_model_for
from saliencylab.train import TrainConfig, fine_tune, fit
from saliencylab.train.masking import TEXT_MASKING
from saliencylab.train.text import (
    TEXT_SGT_K,
    TextSaliencyGuided,
    text_saliency_guided,
    valid_lowest_saliency,
)


@pytest.fixture(scope="module")
def setup():
    data = load_dataset("SyntheticText", n_train=60, n_val=20, n_test=20, seed=0)
    model = build_model_for("bilstm", data, seed=0, embed_dim=8, hidden_size=8)
    return data, model


def test_only_valid_tokens_are_masked_and_k_counts_them():
    sal = torch.tensor([[5.0, 1.0, 3.0, 2.0, 0.0, 0.0], [4.0, 3.0, 2.0, 1.0, -1.0, 0.5]])
    lengths = torch.tensor([4, 6])
    where = valid_lowest_saliency(sal, lengths, 0.5)
    assert where.tolist() == [[False, True, False, True, False, False],
                              [False, False, False, True, True, True]]


@pytest.mark.parametrize("masking", TEXT_MASKING)
def test_masking_keeps_lengths_and_padding(setup, masking):
    data, model = setup
    sgt = text_saliency_guided(data, k=0.5, masking=masking)
    x, y = data.train.x[:16], data.train.y[:16]
    lengths = data.train.lengths[:16]
    masked, where = sgt.masked_input(model, x, y, torch.Generator().manual_seed(0))
    pad = x == 0
    assert masked.shape == x.shape and masked.dtype == x.dtype
    assert not bool((where & pad).any())                          # padding is never masked
    assert torch.equal(where.sum(1), (lengths * 0.5).floor().long())   # k of the valid tokens
    new_lengths = sgt.lengths(masked)
    if masking == "remove":
        # The masked tokens are deleted: the valid part shrinks by them, the end is padded.
        assert torch.equal(new_lengths, lengths - where.sum(1))
        for row in range(len(x)):
            kept = x[row][~where[row] & ~pad[row]]
            assert torch.equal(masked[row, : len(kept)], kept)
            assert bool((masked[row, len(kept):] == 0).all())
    else:
        assert torch.equal(new_lengths, lengths)                   # lengths kept
        assert torch.equal(masked[pad], x[pad])                    # padding unchanged
        assert torch.equal(masked[~where], x[~where])              # unmasked tokens unchanged
        assert not bool((masked[~pad] == 0).any())                 # no [PAD] inside a row
    if masking == "previous_word":
        # Every masked token copies an unmasked token of its own row.
        for row in range(len(x)):
            assert set(masked[row][where[row]].tolist()) <= set(x[row][~where[row]].tolist())


def test_table3_k_and_training_and_fine_tuning(setup):
    data, model = setup
    assert TEXT_SGT_K == {"movies": 0.6, "fever": 0.8, "esnli": 0.7}
    with pytest.raises(ConfigError, match="Table 3"):
        text_saliency_guided(data)  # not an ERASER set: k must be given
    with pytest.raises(ConfigError, match="text masking"):
        TextSaliencyGuided(0.5, vocab_size=10, masking="random_in_range")
    sgt = text_saliency_guided(data, k=0.5)
    first = fit(model, data, TrainConfig(epochs=1, batch_size=30), sgt, progress=False)
    assert first.procedure["masking"] == "previous_word" and first.procedure["k"] == 0.5
    again = fine_tune(first.model, data, TrainConfig(epochs=1, batch_size=30), sgt,
                      progress=False)
    assert 0.0 <= again.test_accuracy <= 1.0
