"""Synthetic datasets of [TSB] and [ICA]: boxes where the papers put them, balanced labels, the
+-mu signal only inside the box, reproducibility, scaling, background draws and the cache."""

from __future__ import annotations

import functools

import pytest
import torch
from typer.testing import CliRunner

from saliencylab.data import (
    DESIGNS,
    PROCESSES,
    VANISHING_DESIGNS,
    MinMaxScaler,
    SyntheticConfig,
    cache_path,
    list_datasets,
    load_synthetic,
)
from saliencylab.errors import ConfigError, SaliencyLabError, UnknownNameError

torch.set_num_threads(1)

N_TRAIN, N_TEST, T, F = 200, 50, 50, 50
GRID = [(d, p) for d in DESIGNS for p in PROCESSES]

# [TSB] Ismail et al. NeurIPS 2020, written out independently of the implementation: (box, start).
FIXED = {
    "Middle": ((30, 30), (10, 10)),
    "SmallMiddle": ((15, 15), (17, 17)),  # centred: (50 - 15) // 2
    "RareTime": ((6, 40), (22, 5)),
    "RareFeature": ((40, 6), (5, 22)),
}
MOVING = {
    "MovingMiddle": (30, 30),
    "MovingSmallMiddle": (15, 15),
    "MovingRareTime": (6, 40),
    "MovingRareFeature": (40, 6),
}
POSITIONAL = {"PositionalTime": "feature", "PositionalFeature": "time"}  # axis set by the class
VANISHING = {  # [ICA]: (time slice, feature slice) of the 100 x 100 sample
    "VanishingEarly": (slice(0, 30), slice(10, 90)),
    "VanishingMiddle": (slice(20, 80), slice(20, 80)),
    "VanishingLate": (slice(70, 100), slice(10, 90)),
}


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCYLAB_CACHE", str(tmp_path))


@functools.cache
def small(design: str, process: str, scale: bool = False, seed: int = 0, **kw):
    return load_synthetic(design, process, n_train=N_TRAIN, n_test=N_TEST, scale=scale,
                          seed=seed, cache=False, **kw)


def _rectangle(start, box, shape) -> torch.Tensor:
    m = torch.zeros(shape, dtype=torch.bool)
    m[start[0]:start[0] + box[0], start[1]:start[1] + box[1]] = True
    return m


@pytest.mark.parametrize(("design", "process"), GRID)
def test_box_location_and_size(design, process):
    data = small(design, process)
    for name, split in data.splits.items():
        n = len(split)
        assert split.mask.shape == (n, T, F) and split.mask.dtype == torch.bool, name
        starts = split.starts
        box = data.meta["box"]
        # Every mask is exactly the rectangle at its recorded start (checked by slicing).
        for i in range(0, n, 7):
            assert torch.equal(split.mask[i], _rectangle(starts[i].tolist(), box, (T, F)))
        assert (split.mask.sum(dim=(1, 2)) == box[0] * box[1]).all()
        if design in FIXED:
            spec_box, spec_start = FIXED[design]
            assert box == spec_box
            assert (starts == torch.tensor(spec_start)).all()
        elif design in MOVING:
            assert box == MOVING[design]
            hi = torch.tensor([T - box[0], F - box[1]])
            assert (starts >= 0).all() and (starts <= hi).all()
            if name != "val":  # 20 samples are too few to insist on variety along both axes
                for axis in (0, 1):
                    assert starts[:, axis].unique().numel() > 3, (name, axis)
        else:
            assert box == (20, 20)
            class_axis = 1 if POSITIONAL[design] == "feature" else 0
            expected = torch.where(split.y == 1, 1, 29)
            assert torch.equal(starts[:, class_axis], expected)
            free = starts[:, 1 - class_axis]
            assert free.min() >= 0 and free.max() <= 30 and free.unique().numel() > 3


@pytest.mark.parametrize(("design", "process"), GRID)
def test_balanced_splits_and_types(design, process):
    data = small(design, process)
    sizes = {"train": 180, "val": 20, "test": 50}
    for name, split in data.splits.items():
        assert split.x.shape == (sizes[name], T, F) and split.x.dtype == torch.float32
        assert split.y.dtype == torch.int64
        assert split.class_counts() == [sizes[name] // 2] * 2, name
        assert torch.isfinite(split.x).all()
    assert (data.n_time, data.n_features, data.n_classes) == (T, F, 2)
    assert not torch.equal(data.train.y[:20], data.train.y[:20].sort().values)  # shuffled


@pytest.mark.parametrize(("design", "process"), GRID)
def test_signal_only_in_box_and_not_in_background(design, process):
    data = small(design, process)  # unscaled, so the means are in units of mu
    split = data.train
    x, y, mask = split.x.double(), split.y, split.mask
    background = data.background(len(split), seed=1).double()
    assert background.shape == x.shape

    def class_gap(z):  # mean in the box of class 1 minus class 0
        return z[y == 1][mask[y == 1]].mean() - z[y == 0][mask[y == 0]].mean()

    def in_out_gap(z):  # mean in the box minus outside it
        return z[mask].mean() - z[~mask].mean()

    if design in POSITIONAL:  # both classes get +mu
        assert abs(in_out_gap(x) - in_out_gap(background) - 1.0) < 0.25
        assert abs(class_gap(x) - class_gap(background)) < 0.25
    else:  # class 1 gets +mu, class 0 gets -mu
        assert abs(class_gap(x) - 2.0) < 0.25
        assert abs(class_gap(background)) < 0.2
        outside = x[y == 1][~mask[y == 1]].mean() - x[y == 0][~mask[y == 0]].mean()
        assert abs(outside) < 0.2


@pytest.mark.parametrize(("design", "process"), GRID)
def test_same_seed_same_data_other_seed_other_data(design, process):
    def tiny(seed):
        return load_synthetic(design, process, n_train=24, n_test=6, seed=seed, cache=False)

    a, b, c = tiny(0), tiny(0), tiny(1)
    for name in ("train", "val", "test"):
        sa, sb, sc = a.splits[name], b.splits[name], c.splits[name]
        for field in ("x", "y", "mask", "starts"):
            assert torch.equal(getattr(sa, field), getattr(sb, field)), (name, field)
        assert not torch.allclose(sa.x, sc.x)
    assert not torch.equal(a.train.y, c.train.y)
    torch.testing.assert_close(a.background(5, seed=3), b.background(5, seed=3))
    assert not torch.allclose(a.background(5, seed=3), a.background(5, seed=4))


@pytest.mark.parametrize("process", PROCESSES)
def test_scaling_fit_on_train_only(process):
    raw = small("MovingMiddle", process)
    scaled = small("MovingMiddle", process, scale=True)
    x = scaled.train.x
    torch.testing.assert_close(x.amin(dim=0), torch.zeros(T, F))
    torch.testing.assert_close(x.amax(dim=0), torch.ones(T, F))
    scaler = MinMaxScaler.fit(raw.train.x)
    torch.testing.assert_close(scaled.scaler.minimum, scaler.minimum)
    for name in ("val", "test"):
        torch.testing.assert_close(scaled.splits[name].x, scaler.transform(raw.splits[name].x))
        assert torch.equal(scaled.splits[name].mask, raw.splits[name].mask)
    torch.testing.assert_close(scaled.background(6, seed=2),
                               scaler.transform(raw.background(6, seed=2)))
    gen = torch.Generator().manual_seed(2)
    torch.testing.assert_close(scaled.background(6, generator=gen),
                               scaled.background(6, seed=2))


@pytest.mark.parametrize("design", VANISHING_DESIGNS)
def test_vanishing_blocks(design):
    data = load_synthetic(design, "Gaussian", n_train=100, n_test=20, scale=False, cache=False)
    assert (data.n_time, data.n_features) == (100, 100)
    t, f = VANISHING[design]
    expected = torch.zeros(100, 100, dtype=torch.bool)
    expected[t, f] = True
    split = data.train
    assert (split.mask == expected).all()
    x, y = split.x.double(), split.y
    gap = x[y == 1][:, t, f].mean() - x[y == 0][:, t, f].mean()
    assert abs(gap - 2.0) < 0.1  # N(+1, 1) vs N(-1, 1)
    assert abs(x[:, ~expected].std() - 1.0) < 0.02  # N(0, 1) elsewhere


def test_reference_quirks():
    ref = SyntheticConfig(design="SmallMiddle", small_middle_reference=True).geometry()
    assert (ref.box, ref.start) == ((14, 14), (18, 18))
    data = small("SmallMiddle", "Gaussian", small_middle_reference=True)
    assert torch.equal(data.test.mask[0], _rectangle((18, 18), (14, 14), (T, F)))
    many = load_synthetic("MovingSmallMiddle", n_train=2000, n_test=2, cache=False)
    assert many.train.starts.max().item() == 35  # inclusive: every position where it fits
    quirk = load_synthetic("MovingSmallMiddle", n_train=2000, n_test=2, cache=False,
                           moving_start_reference=True)
    assert quirk.train.starts.max().item() == 34  # np.random.randint(50 - 15)
    narma = small("Middle", "NARMA", narma_shared_seed=True)
    bg = narma.background(40, seed=0).double()
    assert abs((bg - bg.mean(dim=(0, 2), keepdim=True)).std().item() - 0.3) < 0.02


def test_geometry_overrides():
    data = load_synthetic("Middle", n_time=20, n_features=30, box_size=(5, 6), box_start=(2, 3),
                          n_train=20, n_test=4, cache=False)
    assert torch.equal(data.train.mask[0], _rectangle((2, 3), (5, 6), (20, 30)))
    pos = load_synthetic("PositionalFeature", positions=(0, 10), n_train=20, n_test=4,
                         cache=False)
    assert set(pos.train.starts[:, 0].tolist()) == {0, 10}


def test_bad_names_and_values():
    with pytest.raises(UnknownNameError):
        load_synthetic("Top", "Gaussian", cache=False)
    with pytest.raises(UnknownNameError):
        load_synthetic("Middle", "Brownian", cache=False)
    bad = [
        {"mu": 0.0}, {"mu": float("inf")}, {"val_fraction": 1.0}, {"val_fraction": -0.1},
        {"n_train": 1}, {"n_test": 0}, {"n_time": 20},  # the 30 x 30 box at (10, 10) misfits
        {"n_trian": 100}, {"box_size": (0, 3)}, {"box_start": (30, 30)},
    ]
    for kwargs in bad:
        with pytest.raises(ConfigError):
            load_synthetic("Middle", "Gaussian", cache=False, **kwargs)
    with pytest.raises(ConfigError):
        SyntheticConfig(design="PositionalTime", positions=(1, 31))
    with pytest.raises(ConfigError):
        SyntheticConfig(design="MovingMiddle", box_start=(0, 0))
    with pytest.raises(SaliencyLabError):
        small("Middle", "Gaussian").background(-1)


def test_cache_round_trip(tmp_path):
    first = load_synthetic("MovingRareTime", "GaussianProcess", n_train=60, n_test=10)
    path = cache_path(first.config)
    assert path.exists() and path.parent == tmp_path / "data"
    assert first.meta["from_cache"] is False
    second = load_synthetic("MovingRareTime", "GaussianProcess", n_train=60, n_test=10)
    assert second.meta["from_cache"] is True
    for name in ("train", "val", "test"):
        for field in ("x", "y", "mask", "starts"):
            assert torch.equal(getattr(first.splits[name], field),
                               getattr(second.splits[name], field))
    torch.testing.assert_close(first.background(3, seed=0), second.background(3, seed=0))
    other = load_synthetic("MovingRareTime", "GaussianProcess", n_train=60, n_test=10, seed=1)
    assert cache_path(other.config) != path and other.meta["from_cache"] is False
    path.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="unreadable"):
        again = load_synthetic("MovingRareTime", "GaussianProcess", n_train=60, n_test=10)
    assert torch.equal(again.train.x, first.train.x)


def test_list_datasets():
    rows = list_datasets()
    names = [r["name"] for r in rows]
    assert len(rows) == 73 and len(set(names)) == 73
    assert len(list_datasets(include_vanishing=False)) == 70
    by_name = {r["name"]: r for r in rows}
    assert by_name["RareFeature_CAR"]["box"] == (40, 6)
    assert by_name["MovingMiddle_NARMA"]["moving"] is True
    assert by_name["PositionalTime_Harmonic"]["positional"] == "feature"
    assert by_name["VanishingLate_Gaussian"]["n_time"] == 100


def test_cli_list_and_show(tmp_path):
    from saliencylab.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["data", "list"])
    assert listed.exit_code == 0, listed.output
    assert "MovingRareFeature" in listed.output and "NARMA" in listed.output
    png = tmp_path / "show.png"
    shown = runner.invoke(app, ["data", "show", "RareTime", "--process", "CAR", "--seed", "1",
                                "--out", str(png), "--no-cache"])
    assert shown.exit_code == 0, shown.output
    assert "450" in shown.output and png.stat().st_size > 1000
