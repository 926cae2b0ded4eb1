"""Masking functions of saliency guided training: each replaces exactly the masked units."""

from __future__ import annotations

import pytest
import torch

from saliencylab.errors import ConfigError, ShapeError, UnknownNameError
from saliencylab.train.masking import (
    MASKING_FUNCTIONS,
    PreviousToken,
    RandomInRange,
    RandomToken,
    RemoveTokens,
    ReplaceWithToken,
    SepToken,
    UnkToken,
    as_bool_mask,
    feature_range,
    get_masking,
    unit_shape,
)
from saliencylab.train.saliency_guided import lowest_saliency_mask

torch.set_num_threads(1)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# time series


def test_random_in_range_replaces_exactly_the_k_lowest_cells_within_feature_range():
    torch.manual_seed(0)
    x = torch.randn(4, 6, 5) * torch.arange(1, 6)  # features with different ranges
    saliency = torch.randn(4, 6, 5)
    k = 0.3
    where = lowest_saliency_mask(saliency, k)
    out = RandomInRange()(x, where, gen())

    # exactly ⌊k·n⌋ cells per sample, and they are the lowest-saliency ones
    m = int(k * 30)
    assert where.flatten(1).sum(1).tolist() == [m] * 4
    for b in range(4):
        lowest = torch.argsort(saliency[b].flatten())[:m]
        assert set(lowest.tolist()) == set(torch.nonzero(where[b].flatten()).flatten().tolist())
    # nothing else changes; every masked cell changes (continuous draws)
    assert torch.equal(out[~where], x[~where])
    assert (out[where] != x[where]).all()
    # values lie in that feature's range over the batch
    lo, hi = x.amin((0, 1)), x.amax((0, 1))
    f_idx = torch.nonzero(where)[:, 2]
    assert (out[where] >= lo[f_idx]).all() and (out[where] <= hi[f_idx]).all()
    # input untouched
    assert not torch.equal(out, x)


def test_random_in_range_fixed_range_and_determinism():
    x = torch.zeros(3, 4, 2)
    where = torch.ones_like(x, dtype=torch.bool)
    rng = (torch.tensor([10.0, -3.0]), torch.tensor([11.0, -2.0]))
    mask = RandomInRange(feature_range=rng)
    out = mask(x, where, gen(1))
    assert ((out[..., 0] >= 10) & (out[..., 0] <= 11)).all()
    assert ((out[..., 1] >= -3) & (out[..., 1] <= -2)).all()
    assert torch.equal(out, mask(x, where, gen(1)))  # same seed, same numbers
    assert not torch.equal(out, mask(x, where, gen(2)))
    # the values are spread over the range, not a constant
    assert out[..., 0].std() > 0.1


def test_feature_range_helper_and_sample_scope():
    x = torch.tensor([[[0.0, 5.0], [2.0, 1.0]], [[-1.0, 3.0], [1.0, 9.0]]])
    lo, hi = feature_range(x)
    assert lo.tolist() == [-1.0, 1.0] and hi.tolist() == [2.0, 9.0]
    out = RandomInRange(scope="sample")(x, torch.ones_like(x, dtype=torch.bool), gen())
    assert ((out[0] >= 0) & (out[0] <= 5)).all()
    assert ((out[1] >= -1) & (out[1] <= 9)).all()


def test_random_in_range_images_same_pixels_all_channels_per_channel_range():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 5, 5) + torch.tensor([0.0, 10.0, 100.0]).view(1, 3, 1, 1)
    saliency = torch.randn(2, 3, 5, 5).sum(1, keepdim=True)  # summed over channels
    where = lowest_saliency_mask(saliency, 0.4)
    assert where.shape == (2, 1, 5, 5) and where.flatten(1).sum(1).tolist() == [10, 10]
    out = RandomInRange()(x, where, gen())
    full = where.expand_as(x)
    assert torch.equal(out[~full], x[~full])
    assert (out[full] != x[full]).all()  # every channel of a masked pixel changes
    for c in range(3):
        lo, hi = x[:, c].min(), x[:, c].max()
        vals = out[:, c][where[:, 0]]
        assert ((vals >= lo) & (vals <= hi)).all()
    # channels get independent draws (not one value copied to all channels)
    frac = (out[:, 1] - 10.0)[where[:, 0]]
    frac0 = out[:, 0][where[:, 0]]
    assert not torch.allclose(frac, frac0, atol=0.05)


def test_unit_shape_and_index_form():
    assert unit_shape(torch.zeros(2, 3, 4, 5)) == (2, 1, 4, 5)
    assert unit_shape(torch.zeros(2, 7, 3)) == (2, 7, 3)
    assert unit_shape(torch.zeros(2, 7, dtype=torch.long)) == (2, 7)
    x = torch.zeros(2, 2, 3)
    where = as_bool_mask(x, torch.tensor([[0, 5], [2, 3]]))
    assert where.tolist() == [
        [[True, False, False], [False, False, True]],
        [[False, False, True], [True, False, False]],
    ]
    # index form and bool form mask the same cells
    a = RandomInRange()(x + torch.arange(6.0).view(1, 2, 3), where, gen())
    b = RandomInRange()(x + torch.arange(6.0).view(1, 2, 3), torch.tensor([[0, 5], [2, 3]]), gen())
    assert torch.equal(a, b)
    with pytest.raises(ShapeError):
        as_bool_mask(x, torch.tensor([[0, 6]]))
    with pytest.raises(ShapeError):
        as_bool_mask(x, torch.ones(2, 2, 4, dtype=torch.bool))


# ---------------------------------------------------------------------------------------------
# text on a toy vocabulary: 0 [PAD], 1 [UNK], 2 [SEP], 3.. words

IDS = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 10, 11, 12]])
WHERE = torch.tensor([[False, True, False, True, False], [True, True, False, False, True]])


def test_remove_shortens_and_pads_at_end():
    out = RemoveTokens(pad_id=0)(IDS, WHERE, gen())
    assert out.tolist() == [[3, 5, 7, 0, 0], [10, 11, 0, 0, 0]]


def test_unk_and_sep_replace_with_token_ids():
    assert UnkToken(unk_id=1)(IDS, WHERE, gen()).tolist() == [
        [3, 1, 5, 1, 7],
        [1, 1, 10, 11, 1],
    ]
    assert SepToken(sep_id=2)(IDS, WHERE, gen()).tolist() == [
        [3, 2, 5, 2, 7],
        [2, 2, 10, 11, 2],
    ]
    assert ReplaceWithToken(9)(IDS, WHERE, gen()).tolist()[0] == [3, 9, 5, 9, 7]


def test_previous_word_copies_nearest_preceding_unmasked_token():
    # row 1 starts with a masked run: it takes the first unmasked token after it (10)
    out = PreviousToken()(IDS, WHERE, gen())
    assert out.tolist() == [[3, 3, 5, 5, 7], [10, 10, 10, 11, 11]]
    run = torch.tensor([[False, True, True, True, False]])
    assert PreviousToken()(IDS[:1], run, gen()).tolist() == [[3, 3, 3, 3, 7]]


def test_previous_word_all_masked_row():
    everything = torch.ones(1, 5, dtype=torch.bool)
    with pytest.raises(ConfigError):
        PreviousToken()(IDS[:1], everything, gen())
    assert PreviousToken(fallback_id=0)(IDS[:1], everything, gen()).tolist() == [[0] * 5]


def test_random_word_only_masked_positions_and_excluded_ids():
    ids = torch.full((20, 30), 3)
    where = torch.rand(20, 30, generator=gen(5)) < 0.5
    out = RandomToken(vocab_size=8, exclude=(0, 1, 2))(ids, where, gen())
    assert torch.equal(out[~where], ids[~where])
    drawn = out[where]
    assert ((drawn >= 3) & (drawn < 8)).all()
    assert set(drawn.tolist()) == {3, 4, 5, 6, 7}  # every allowed id occurs in ~300 draws
    assert out.dtype == ids.dtype


def test_text_masking_rejects_float_input_and_float_masking_rejects_ids():
    with pytest.raises(ShapeError):
        RemoveTokens()(torch.zeros(2, 5), WHERE, gen())
    with pytest.raises(ShapeError):
        RandomInRange()(IDS, WHERE, gen())


def test_registry_and_factory():
    assert set(MASKING_FUNCTIONS) == {
        "random_in_range", "remove", "unk", "sep", "random_word", "previous_word"
    }
    assert get_masking("sep", sep_id=2).token_id == 2
    assert get_masking("remove").pad_id == 0
    with pytest.raises(UnknownNameError):
        get_masking("blur")
    with pytest.raises(ConfigError):
        get_masking("unk")  # needs unk_id
    with pytest.raises(ConfigError):
        RandomInRange(feature_range=(torch.ones(2), torch.zeros(2)))
    with pytest.raises(ConfigError):
        RandomToken(3, exclude=(0, 1, 2))
