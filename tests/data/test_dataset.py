"""The dataset container: Split fields (lengths, valid_mask, take, to, class_counts), Dataset
properties, the former names, and the caches storing every Split field."""

from __future__ import annotations

import pytest
import torch

import saliencylab.data.cache as cache_module
from saliencylab.data import (
    Dataset,
    SegmentationDataset,
    SegmentationSplit,
    Split,
    TimeSeriesDataset,
    load_synthetic,
    load_synthetic_segmentation,
    load_ucr,
)
from saliencylab.data.synthetic import Split as SyntheticSplit
from saliencylab.errors import ConfigError, NotApplicableError, ShapeError

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCYLAB_CACHE", str(tmp_path / "cache"))


def _split() -> Split:
    g = torch.Generator().manual_seed(0)
    return Split(
        x=torch.randn(5, 4, 3, generator=g),
        y=torch.tensor([0, 1, 1, 0, 2]),
        mask=torch.rand(5, 4, 3, generator=g) > 0.5,
        starts=torch.arange(10).view(5, 2),
        lengths=torch.tensor([4, 1, 2, 4, 3]),
    )


def test_former_names_are_the_new_classes():
    assert TimeSeriesDataset is Dataset and SegmentationDataset is Dataset
    assert SegmentationSplit is Split and SyntheticSplit is Split


def test_valid_mask_follows_lengths():
    s = _split()
    assert s.valid_mask.dtype == torch.bool and tuple(s.valid_mask.shape) == (5, 4)
    assert s.valid_mask.sum(1).tolist() == [4, 1, 2, 4, 3]
    assert s.valid_mask[2].tolist() == [True, True, False, False]
    assert Split(s.x, s.y).valid_mask is None


@pytest.mark.parametrize("index", [slice(1, 4), torch.tensor([1, 2, 3]), [1, 2, 3],
                                   torch.tensor([False, True, True, True, False]),
                                   [False, True, True, True, False]])
def test_take_subsets_every_field(index):
    s = _split()
    part = s.take(index)
    assert len(part) == 3
    for name in ("x", "y", "mask", "starts", "lengths"):
        assert torch.equal(getattr(part, name), getattr(s, name)[1:4]), name
    none = Split(s.x, s.y).take([4, 0])
    assert none.mask is None and none.lengths is None and none.y.tolist() == [2, 0]


def test_to_moves_every_field():
    s = _split().to("cpu")
    assert all(t.device.type == "cpu" for t in s.tensors().values())
    assert torch.equal(s.lengths, _split().lengths)


def test_class_counts_per_sample_and_per_valid_step():
    s = _split()
    assert s.class_counts(3) == [2, 2, 1]
    steps = Split(torch.zeros(2, 3, 1), torch.tensor([[1, 1, 0], [2, 0, 0]]))
    assert steps.class_counts(3) == [3, 2, 1]
    ragged = Split(steps.x, steps.y, lengths=torch.tensor([2, 1]))
    assert ragged.class_counts(3) == [0, 2, 1]  # padding steps are not counted


def test_split_checks_row_counts():
    with pytest.raises(ShapeError, match="lengths"):
        Split(torch.zeros(3, 2, 1), torch.zeros(3, dtype=torch.long),
              lengths=torch.tensor([1, 2]))
    with pytest.raises(ShapeError, match="y"):
        Split(torch.zeros(3, 2, 1), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ShapeError, match="integer"):
        Split(torch.zeros(2, 2, 1), torch.zeros(2, dtype=torch.long),
              lengths=torch.tensor([1.0, 2.0]))


def test_dataset_properties():
    data = load_synthetic("RareTime", "CAR", n_train=20, n_test=4, cache=False)
    assert data.input_shape == (50, 50) and (data.n_time, data.n_features) == (50, 50)
    assert data.task == "classification" and data.modality == "time_series"
    assert data.name == "RareTime_CAR" and data.has_mask and data.has_background
    seg = load_synthetic_segmentation(n_train=10, n_test=4)
    assert seg.task == "segmentation" and seg.n_classes == 4 and seg.has_mask
    assert seg.input_shape == (200, 6)
    real = Dataset(config=None, train=Split(torch.zeros(4, 3, 2), torch.tensor([0, 1, 2, 1])),
                   val=Split(torch.zeros(0, 3, 2), torch.zeros(0, dtype=torch.long)),
                   test=Split(torch.zeros(2, 3, 2), torch.tensor([0, 3])))
    assert real.n_classes == 4 and not real.has_mask and not real.has_background
    assert real.name == "dataset" and real.spec == {}
    with pytest.raises(NotApplicableError, match="background"):
        real.background(2)
    image = Dataset(config=None, train=Split(torch.zeros(2, 1, 8, 8), torch.tensor([0, 1])),
                    val=Split(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long)),
                    test=Split(torch.zeros(1, 1, 8, 8), torch.tensor([1])), modality="image")
    assert image.input_shape == (1, 8, 8)
    with pytest.raises(NotApplicableError, match="input_shape"):
        _ = image.n_time
    with pytest.raises(ConfigError, match="modality"):
        Dataset(config=None, train=real.train, val=real.val, test=real.test, modality="audio")


def _write_tsv(path, rows):
    width = max(len(v) for _, v in rows)
    lines = ["\t".join([label] + [f"{v:g}" for v in vals] + ["NaN"] * (width - len(vals)))
             for label, vals in rows]
    path.write_text("\n".join(lines) + "\n")


def test_ucr_cache_stores_and_restores_lengths_with_weights_only(tmp_path, monkeypatch):
    rows = [("1", [1.0, 2.0, 3.0, 4.0]), ("2", [3.0, 1.0]), ("1", [0.0, 1.0, 5.0]),
            ("2", [2.0, 2.0, 1.0, 0.0])] * 2
    _write_tsv(tmp_path / "Rag_TRAIN.tsv", rows)
    _write_tsv(tmp_path / "Rag_TEST.tsv", rows[:3])
    first = load_ucr("Rag", folder=tmp_path, val_fraction=0.25)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(cache_module.torch, "load", spy)
    again = load_ucr("Rag", folder=tmp_path, val_fraction=0.25)
    assert again.meta["from_cache"] is True and calls == [True]
    for name in ("train", "val", "test"):
        a, b = first.splits[name], again.splits[name]
        assert b.lengths is not None and torch.equal(a.lengths, b.lengths), name
        assert torch.equal(a.x, b.x)
    assert again.test.lengths.tolist() == [4, 2, 3]
    assert "lengths" not in again.meta


def test_synthetic_cache_round_trips_every_field():
    first = load_synthetic("MovingMiddle", n_train=20, n_test=4)
    second = load_synthetic("MovingMiddle", n_train=20, n_test=4)
    assert second.meta["from_cache"] is True
    for name in ("train", "val", "test"):
        for field, value in first.splits[name].tensors().items():
            other = getattr(second.splits[name], field)
            assert (value is None and other is None) or torch.equal(value, other), field
