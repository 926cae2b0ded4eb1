"""Tests of the UCR/UEA loader: aeon's shipped problems (offline), local .ts / .tsv folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saliencylab.data import TimeSeriesDataset, load_ucr, shipped_datasets
from saliencylab.data.ucr import stratified_split, znormalize
from saliencylab.errors import (
    ConfigError,
    InvalidDataError,
    NotApplicableError,
    SaliencyLabError,
)

torch.set_num_threads(2)

needs_aeon = pytest.mark.skipif(not shipped_datasets(), reason="aeon is not installed")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCYLAB_CACHE", str(tmp_path / "cache"))


def _valid(lengths: list[int], t: int) -> torch.Tensor:
    return torch.arange(t)[None, :] < torch.tensor(lengths)[:, None]


def _assert_znormalised(x: torch.Tensor, lengths: list[int] | None = None) -> None:
    """Every series and channel has mean 0 and (population) std 1 over its own length."""
    n, t, _ = x.shape
    valid = _valid(lengths or [t] * n, t)[..., None].double()
    count = valid.sum(1)
    mean = (x.double() * valid).sum(1) / count
    std = ((((x.double() - mean[:, None]) * valid) ** 2).sum(1) / count).sqrt()
    assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-5)
    assert torch.allclose(std, torch.ones_like(std), atol=1e-4)


# ------------------------------------------------------------------------------------------------
# aeon's shipped problems
# ------------------------------------------------------------------------------------------------


@needs_aeon
def test_gunpoint_shapes_labels_znorm_and_stratified_validation():
    data = load_ucr("GunPoint", cache=False)
    assert isinstance(data, TimeSeriesDataset)
    assert tuple(data.train.x.shape) == (40, 150, 1)
    assert tuple(data.val.x.shape) == (10, 150, 1)
    assert tuple(data.test.x.shape) == (150, 150, 1)
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    assert data.n_classes == 2 and data.meta["class_names"] == ["1", "2"]
    assert data.val.class_counts(2) == [5, 5]  # 24 / 26 in the file, 20 % of each held out
    assert data.train.mask is None and data.test.mask is None
    for split in data.splits.values():
        _assert_znormalised(split.x)
    # normalize=False keeps the file's values (GunPoint's file is z-normalised already)
    raw = load_ucr("GunPoint", normalize=False, cache=False)
    # validation comes out of the training file only: train + val = the 50 training series
    from aeon.datasets import load_classification

    x_file, _ = load_classification("GunPoint", split="train")
    ours = torch.cat([raw.train.x, raw.val.x]).double().sum(dim=(1, 2)).sort().values
    theirs = torch.from_numpy(x_file).sum(dim=(1, 2)).sort().values
    assert torch.allclose(ours, theirs, atol=1e-3)
    assert len(raw.test) == 150


@needs_aeon
def test_real_data_has_no_background():
    data = load_ucr("ItalyPowerDemand", cache=False)
    with pytest.raises(NotApplicableError, match="ItalyPowerDemand"):
        data.background(4)


@needs_aeon
def test_basicmotions_channels_become_features_and_are_znormalised_each():
    data = load_ucr("BasicMotions", cache=False)
    assert tuple(data.train.x.shape) == (32, 100, 6)
    assert tuple(data.test.x.shape) == (40, 100, 6)
    assert data.meta["class_names"] == ["standing", "running", "walking", "badminton"]
    assert data.meta["n_channels"] == 6 and data.n_classes == 4
    _assert_znormalised(data.train.x)


@needs_aeon
def test_japanese_vowels_is_padded_to_the_longest_series():
    zero = load_ucr("JapaneseVowels", cache=False)
    last = load_ucr("JapaneseVowels", padding="last", cache=False)
    assert zero.n_time == 29 and zero.n_features == 12 and zero.n_classes == 9
    assert zero.meta["ragged"] is True
    lengths = zero.train.lengths.tolist()
    assert min(lengths) < 29 and max(zero.test.lengths.tolist() + lengths) == 29
    valid = _valid(lengths, 29)
    x0, x1 = zero.train.x, last.train.x
    assert (x0[~valid] == 0).all()  # zero padding
    last_value = x1[torch.arange(len(x1)), torch.tensor(lengths) - 1]  # (N, F)
    assert torch.equal(x1, torch.where(valid[..., None], x1, last_value[:, None, :]))
    assert torch.equal(x0[valid], x1[valid])  # padding does not change the observed part
    _assert_znormalised(x0, lengths)  # statistics over the observed steps only


@needs_aeon
def test_seed_changes_the_validation_split_only_and_cache_round_trips():
    a = load_ucr("ArrowHead")
    b = load_ucr("ArrowHead")
    c = load_ucr("ArrowHead", seed=1)
    assert a.meta["from_cache"] is False and b.meta["from_cache"] is True
    for name in ("train", "val", "test"):
        assert torch.equal(a.splits[name].x, b.splits[name].x)
        assert torch.equal(a.splits[name].y, b.splits[name].y)
    assert not torch.equal(a.val.x, c.val.x)
    assert torch.equal(a.test.x, c.test.x)
    assert a.meta["class_names"] == b.meta["class_names"]


def test_unknown_name_offline_says_what_ships_and_how_to_use_a_folder():
    pytest.importorskip("aeon")
    with pytest.raises(SaliencyLabError) as info:
        load_ucr("NoSuchArchiveProblem", cache=False)  # not in aeon's list: no download tried
    message = str(info.value)
    assert "GunPoint" in message and "folder" in message and "_TRAIN.ts" in message


def test_bad_options_raise_config_errors():
    with pytest.raises(ConfigError):
        load_ucr("GunPoint", val_fraction=1.0, cache=False)
    with pytest.raises(ConfigError):
        load_ucr("GunPoint", padding="edge", cache=False)
    with pytest.raises(ConfigError):
        load_ucr(3, cache=False)


# ------------------------------------------------------------------------------------------------
# local folders
# ------------------------------------------------------------------------------------------------

TS_HEADER = """# a tiny multivariate problem
@problemName Tiny
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength false
@classLabel true b a
@data
"""


def _write_ts(path, rows):
    lines = [":".join(",".join(str(v) for v in ch) for ch in chans) + f":{label}"
             for chans, label in rows]
    path.write_text(TS_HEADER + "\n".join(lines) + "\n")


def test_ts_files_from_a_folder(tmp_path):
    pytest.importorskip("aeon")
    folder = tmp_path / "archive" / "Tiny"
    folder.mkdir(parents=True)
    train = [([[1, 2, 3, 4], [0, 0, 1, 1]], "a"), ([[4, 3, 2], [5, 5, 8]], "b"),
             ([[1, 1, 2, 2], [3, 3, 3, 9]], "a"), ([[7, 8, 9, 10], [1, 2, 1, 2]], "b"),
             ([[2, 2, 2, 2], [1, 0, 1, 0]], "a"), ([[0, 5, 0, 5], [6, 7, 8, 9]], "b")]
    test = [([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]], "b"), ([[3, 1], [2, 4]], "a")]
    _write_ts(folder / "Tiny_TRAIN.ts", train)
    _write_ts(folder / "Tiny_TEST.ts", test)

    data = load_ucr("Tiny", folder=tmp_path / "archive", val_fraction=0.34, cache=False)
    assert data.meta["class_names"] == ["b", "a"]  # the declared order of @classLabel
    assert data.n_time == 5 and data.n_features == 2
    assert data.val.class_counts(2) == [1, 1]
    assert data.test.lengths.tolist() == [5, 2]
    x = data.test.x
    expected = torch.tensor([1.0, 2, 3, 4, 5])
    expected = (expected - expected.mean()) / expected.std(unbiased=False)
    assert torch.allclose(x[0, :, 0], expected, atol=1e-6)
    assert torch.allclose(x[1, :2, 1], torch.tensor([-1.0, 1.0])) and (x[1, 2:] == 0).all()
    assert data.test.y.tolist() == [0, 1]
    assert data.meta["source"]["kind"] == "folder"
    # a constant channel becomes 0, not NaN
    assert torch.isfinite(data.train.x).all()


def _write_tsv(path, rows):
    width = max(len(v) for _, v in rows)
    lines = ["\t".join([label] + [f"{v:g}" for v in vals] + ["NaN"] * (width - len(vals)))
             for label, vals in rows]
    path.write_text("\n".join(lines) + "\n")


def test_tsv_files_from_a_folder_with_ragged_series_and_numeric_labels(tmp_path):
    rng = np.random.default_rng(0)
    labels = ["10", "-1", "2", "10", "-1", "2", "10", "-1", "2", "1"]
    train = [(lab, rng.normal(size=8 if i % 2 else 6).tolist()) for i, lab in enumerate(labels)]
    test = [("2", rng.normal(size=8).tolist()), ("1", rng.normal(size=3).tolist())]
    _write_tsv(tmp_path / "Flat_TRAIN.tsv", train)  # files directly in the folder
    _write_tsv(tmp_path / "Flat_TEST.tsv", test)

    data = load_ucr("Flat", folder=tmp_path, normalize=False, val_fraction=0.0, cache=False)
    assert data.meta["class_names"] == ["-1", "1", "2", "10"]  # numeric order
    assert len(data.val) == 0
    assert data.n_time == 8 and data.n_features == 1
    assert data.train.lengths.tolist() == [6, 8] * 5
    assert data.train.y.tolist() == [3, 0, 2, 3, 0, 2, 3, 0, 2, 1]
    assert np.allclose(data.train.x[1, :, 0].numpy(), train[1][1], atol=1e-5)
    assert (data.train.x[0, 6:] == 0).all()
    assert data.test.y.tolist() == [2, 1]


def test_folder_errors(tmp_path):
    with pytest.raises(SaliencyLabError, match="<folder>/<name>/<name>_TRAIN.ts"):
        load_ucr("Missing", folder=tmp_path, cache=False)
    with pytest.raises(SaliencyLabError, match="does not exist"):
        load_ucr("Missing", folder=tmp_path / "nowhere", cache=False)
    (tmp_path / "Holes_TRAIN.tsv").write_text("1\t0.5\tNaN\t0.7\n2\t0.1\t0.2\t0.3\n")
    (tmp_path / "Holes_TEST.tsv").write_text("1\t0.5\t0.6\t0.7\n")
    with pytest.raises(InvalidDataError, match="missing values"):
        load_ucr("Holes", folder=tmp_path, cache=False)


def test_folder_cache_notices_changed_files(tmp_path):
    _write_tsv(tmp_path / "C_TRAIN.tsv", [("1", [1.0, 2.0, 3.0]), ("2", [3.0, 1.0, 0.0])] * 3)
    _write_tsv(tmp_path / "C_TEST.tsv", [("1", [1.0, 2.0, 4.0])])
    first = load_ucr("C", folder=tmp_path, normalize=False)
    again = load_ucr("C", folder=tmp_path, normalize=False)
    assert again.meta["from_cache"] is True
    _write_tsv(tmp_path / "C_TEST.tsv", [("1", [9.0, 9.0, 9.0, 9.0])])
    changed = load_ucr("C", folder=tmp_path, normalize=False)
    assert changed.meta["from_cache"] is False and changed.n_time == 4
    assert first.test.x[0, 0, 0].item() == 1.0 and changed.test.x[0, 0, 0].item() == 9.0


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def test_stratified_split_keeps_class_proportions_and_is_seeded():
    y = torch.tensor([0] * 20 + [1] * 10 + [2] * 1)
    tr, va = stratified_split(y, 0.2, torch.Generator().manual_seed(0))
    assert torch.bincount(y[va], minlength=3).tolist() == [4, 2, 0]  # a lone class stays in train
    assert sorted(tr.tolist() + va.tolist()) == list(range(len(y)))
    tr2, va2 = stratified_split(y, 0.2, torch.Generator().manual_seed(0))
    tr3, va3 = stratified_split(y, 0.2, torch.Generator().manual_seed(1))
    assert torch.equal(va, va2) and not torch.equal(va, va3)


def test_znormalize_ignores_padding_and_constant_channels():
    x = torch.tensor([[[1.0, 5.0], [3.0, 5.0], [100.0, 100.0]]])
    z = znormalize(x, torch.tensor([2]))
    assert z[0, :2].tolist() == [[-1.0, 0.0], [1.0, 0.0]]
    assert z[0, 2].tolist() == [100.0, 100.0]
