"""Tests of the segmentation data: synthetic segments, label runs, the tool-tracking reader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saliencylab.data import (
    SegmentationConfig,
    SegmentationDataset,
    label_segments,
    load_synthetic_segmentation,
    load_tool_tracking,
)
from saliencylab.data.segmentation import run_ids, write_tool_tracking_example
from saliencylab.errors import ConfigError, SaliencyLabError

torch.set_num_threads(2)


def _segments_by_loop(y: torch.Tensor, background: int = 0) -> list[list[int]]:
    out = []
    for n, row in enumerate(y.tolist()):
        t = 0
        while t < len(row):
            end = t
            while end < len(row) and row[end] == row[t]:
                end += 1
            if row[t] != background:
                out.append([n, t, end, row[t]])
            t = end
    return out


@pytest.fixture(scope="module")
def data() -> SegmentationDataset:
    return load_synthetic_segmentation(n_train=60, n_test=20, seed=3)


def test_shapes_labels_and_ground_truth_mask(data):
    cfg = data.config
    assert isinstance(data, SegmentationDataset) and data.meta["task"] == "segmentation"
    for split, n in (("train", 54), ("val", 6), ("test", 20)):
        s = data.splits[split]
        assert tuple(s.x.shape) == (n, 200, 6) and s.x.dtype == torch.float32
        assert tuple(s.y.shape) == (n, 200) and s.y.dtype == torch.int64
        assert s.y.min() >= 0 and s.y.max() < cfg.n_classes
        # the ground truth is exactly the signature's channels inside each segment
        channels = cfg.channel_mask()[s.y]  # (N, T, F)
        assert torch.equal(s.mask, channels)
    assert data.n_classes == 4 and data.meta["class_names"][0] == "no class"


def test_segments_respect_the_slots_and_lengths(data):
    cfg = data.config
    segs = label_segments(data.train.y)
    lengths = segs[:, 2] - segs[:, 1]
    assert ((lengths >= cfg.min_length) & (lengths <= cfg.max_length)).all()
    assert (segs[:, 1] // cfg.slot == (segs[:, 2] - 1) // cfg.slot).all()  # inside one slot
    per_sample = torch.bincount(segs[:, 0], minlength=len(data.train))
    assert (per_sample >= 1).all() and (per_sample <= cfg.max_segments).all()
    assert set(segs[:, 3].tolist()) == {1, 2, 3}


def test_signatures_sit_on_their_channels(data):
    x, y = data.train.x, data.train.y
    shift = 2  # class 2 is the level shift on channels f % 3 == 1
    on = x[..., [1, 4]][y == shift]
    off = x[..., [0, 2, 3, 5]][y == shift]
    assert on.mean().item() == pytest.approx(data.config.amplitude, abs=0.05)
    assert off.mean().abs().item() < 0.05
    background = x[y == 0]
    assert background.mean().abs().item() < 0.05
    assert background.std().item() == pytest.approx(data.config.noise, rel=0.05)
    sine = x[..., 0][y == 1]  # zero-mean oscillation of amplitude 1 plus noise
    assert sine.abs().mean().item() > 0.5 and sine.mean().abs().item() < 0.1


def test_seeded_and_background(data):
    again = load_synthetic_segmentation(n_train=60, n_test=20, seed=3)
    other = load_synthetic_segmentation(n_train=60, n_test=20, seed=4)
    assert torch.equal(data.test.x, again.test.x) and torch.equal(data.test.y, again.test.y)
    assert not torch.equal(data.test.y, other.test.y)
    bg = data.background(5, seed=0)
    assert tuple(bg.shape) == (5, 200, 6)
    assert torch.equal(bg, data.background(5, seed=0))
    assert bg.std().item() == pytest.approx(data.config.noise, rel=0.1)


def test_split_helpers(data):
    moved = data.to("cpu")
    assert moved.test.class_counts(4) == data.test.class_counts(4)
    assert sum(data.test.class_counts(4)) == 20 * 200
    assert data.summary()["test"]["shape"] == (20, 200, 6)


def test_more_classes_than_channels_share_channels():
    d = load_synthetic_segmentation(n_train=8, n_test=4, n_features=2, n_classes=6)
    mask = d.config.channel_mask()
    assert mask[1:].sum(1).tolist() == [1] * 5  # every class uses one channel
    assert d.meta["class_names"] == ["no class", "sine-10", "shift-10", "square-10", "sine-15",
                                     "shift-15"]


def test_config_errors():
    with pytest.raises(ConfigError, match="min_length"):
        SegmentationConfig(n_time=50, max_segments=3, min_length=20)
    with pytest.raises(ConfigError, match="max_length"):
        SegmentationConfig(min_length=30, max_length=20)
    with pytest.raises(ConfigError):
        SegmentationConfig(n_classes=1)
    with pytest.raises(ConfigError):
        load_synthetic_segmentation(unknown_option=1)


def test_run_ids_and_label_segments_match_a_loop():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (7, 9), generator=g).repeat_interleave(2, dim=1)
    assert label_segments(y).tolist() == _segments_by_loop(y)
    assert label_segments(y, background=2).tolist() == _segments_by_loop(y, background=2)
    ids, starts = run_ids(y)
    for n in range(len(y)):
        for t in range(y.shape[1]):
            s = starts[n, t].item()
            assert (y[n, s:t + 1] == y[n, t]).all() and (s == 0 or y[n, s - 1] != y[n, t])
    assert (ids.flatten().diff() >= 0).all()


# ------------------------------------------------------------------------------------------------
# tool-tracking layout
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tool_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("tool-tracking-data")
    write_tool_tracking_example(root, n_measurements=3, n_samples=400)
    return root


def test_tool_tracking_labels_follow_the_annotation(tool_folder):
    data = load_tool_tracking(tool_folder, window=400, normalize=False)
    assert data.meta["class_names"] == ["no class", "no_action", "tightening", "untightening"]
    assert data.meta["features"][0] == "acc:acc x-axis [m/s^2]" and data.n_features == 6
    assert [len(s) for s in data.splits.values()] == [1, 1, 1]  # one measurement per split
    y = data.test.y[0]
    expected = torch.zeros(400, dtype=torch.long)
    expected[50:100] = 2  # tightening, 0.5-1.0 s at 100 Hz
    expected[120:150] = 1  # no_action, 1.2-1.5 s
    expected[200:260] = 3  # untightening, 2.0-2.6 s (3.0-3.2 s is garbage, -1 -> no class)
    assert torch.equal(y, expected)


def test_tool_tracking_aligns_sensors_and_windows(tool_folder):
    data = load_tool_tracking(tool_folder, window=100, stride=50, normalize=False,
                              split_by="window", val_fraction=0.0, test_fraction=0.1)
    n_windows = 3 * 7  # (400 - 100) / 50 + 1 per measurement
    assert sum(len(s) for s in data.splits.values()) == n_windows
    # the first window of measurement 01 is found again: GYR interpolated onto the ACC grid
    series = tool_folder / "test_tool" / "test-00-20200202"
    acc = np.loadtxt(series / "ACC-01-100.csv", delimiter=";", skiprows=1)
    gyr = np.loadtxt(series / "GYR-01-100.csv", delimiter=";", skiprows=1)
    expected = np.column_stack([acc[:100, 1:]] + [np.interp(acc[:100, 0], gyr[:, 0], gyr[:, j])
                                                  for j in range(1, 4)])
    all_x = torch.cat([s.x for s in data.splits.values()])
    dist = (all_x - torch.from_numpy(expected).float()).abs().amax(dim=(1, 2))
    assert dist.min().item() < 1e-5


def test_tool_tracking_options_and_errors(tool_folder, tmp_path):
    folded = load_tool_tracking(tool_folder, tool="test_tool", window=200,
                                background_classes=["no_action"])
    assert folded.meta["class_names"] == ["no class", "tightening", "untightening"]
    train = folded.train.x
    assert train.mean(dim=(0, 1)).abs().max().item() < 1e-5  # normalised with train statistics
    with pytest.raises(SaliencyLabError, match="no measurement"):
        load_tool_tracking(tool_folder, tool="pneumatic_rivet_gun")
    with pytest.raises(SaliencyLabError, match="does not exist"):
        load_tool_tracking(tmp_path / "missing")
    with pytest.raises(ConfigError):
        load_tool_tracking(tool_folder, data_types=["acc", "thermometer"])
    with pytest.raises(ConfigError):
        load_tool_tracking(tool_folder, window=0)
    two = tmp_path / "two"
    write_tool_tracking_example(two, n_measurements=2, n_samples=200)
    with pytest.raises(ConfigError, match="split_by='window'"):
        load_tool_tracking(two, window=100)
    with pytest.raises(SaliencyLabError, match="shorter than window"):
        load_tool_tracking(two, window=1000, split_by="window")
