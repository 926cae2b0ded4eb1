"""Image loaders on small files written in each published format (IDX plain and gzipped, the
CIFAR Python-pickle batches, a class-folder tree), and their errors."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from saliencylab.data import load_dataset
from saliencylab.data.image_sources import (
    IDX_FILES,
    ImageFormatError,
    UnsafePickleError,
    read_idx,
    safe_unpickle,
)
from saliencylab.errors import ConfigError, SaliencyLabError


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding (unsigned bytes) of ``array``."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, n_train: int = 40, n_test: int = 12, size: int = 28,
                gz: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (n_train, size, size)),
              "train_labels": np.arange(n_train) % 10,
              "test_images": rng.integers(0, 256, (n_test, size, size)),
              "test_labels": np.arange(n_test) % 10}
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_FILES.items():
        data = idx_bytes(arrays[key])
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_plain_and_gz(tmp_path: Path, gz: bool) -> None:
    arrays = write_mnist(tmp_path, gz=gz)
    data = load_dataset("mnist", data_dir=tmp_path, n_val=8, standardize=False)
    assert data.modality == "image" and data.n_classes == 10
    assert tuple(data.train.x.shape) == (32, 1, 28, 28) and len(data.val) == 8
    # The test split is the t10k file, in order, scaled to [0, 1].
    expected = torch.tensor(arrays["test_images"], dtype=torch.float32)[:, None] / 255
    assert torch.allclose(data.test.x, expected)
    assert data.test.y.tolist() == arrays["test_labels"].tolist()
    # Train + val together are exactly the training file's images.
    both = torch.cat([data.train.x, data.val.x]).flatten(1).sum(1).sort().values
    ref = (torch.tensor(arrays["train_images"], dtype=torch.float32) / 255).flatten(1).sum(1)
    assert torch.allclose(both, ref.sort().values)
    assert data.meta["channel_min"][0] == pytest.approx(float(data.train.x.min()))
    assert data.meta["channel_mean"][0] == pytest.approx(float(data.train.x.mean()), rel=1e-5)


def test_standardized_meta_and_torchvision_layout(tmp_path: Path) -> None:
    write_mnist(tmp_path / "FashionMNIST" / "raw", gz=True)
    data = load_dataset("fashion-mnist", data_dir=tmp_path, n_val=4)
    assert abs(float(data.train.x.mean())) < 1e-4  # standardised on the training split
    assert data.meta["class_names"][0] == "T-shirt/top"
    assert data.spec["name"] == "fashion-mnist"


def test_missing_and_malformed_idx(tmp_path: Path) -> None:
    with pytest.raises(ImageFormatError, match="train-images-idx3-ubyte"):
        load_dataset("mnist", data_dir=tmp_path)
    with pytest.raises(ImageFormatError, match="does not exist"):
        load_dataset("mnist", data_dir=tmp_path / "nope")
    with pytest.raises(ConfigError, match="data_dir"):
        load_dataset("mnist")
    write_mnist(tmp_path)
    stem = tmp_path / IDX_FILES["test_images"]
    stem.write_bytes(stem.read_bytes()[:-5])  # truncated
    with pytest.raises(ImageFormatError, match="promises shape"):
        load_dataset("mnist", data_dir=tmp_path)
    stem.write_bytes(b"not an idx file")
    with pytest.raises(ImageFormatError, match="not an IDX file"):
        read_idx(stem)


def cifar_batch(n: int, label_key: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key.encode(): list(rng.integers(0, 10, n).tolist()), b"batch_label": b"x"}


def write_cifar10(root: Path, n: int = 6) -> dict[str, dict]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i}": cifar_batch(n, "labels", i) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(n, "labels", 9)
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    return batches


def test_cifar10_pickle_batches(tmp_path: Path) -> None:
    batches = write_cifar10(tmp_path)
    data = load_dataset("cifar10", data_dir=tmp_path, n_val=5, standardize=False)
    assert tuple(data.train.x.shape) == (25, 3, 32, 32) and len(data.test) == 6
    test = batches["test_batch"]
    expected = torch.tensor(test[b"data"].reshape(-1, 3, 32, 32), dtype=torch.float32) / 255
    assert torch.allclose(data.test.x, expected)  # channel-first, row-major as published
    assert data.test.y.tolist() == test[b"labels"]
    assert data.meta["class_names"][:2] == ["airplane", "automobile"]
    assert len(data.meta["channel_mean"]) == 3 and len(data.meta["channel_max"]) == 3


def test_cifar100_fine_and_coarse(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, seed in (("train", 0), ("test", 1)):
        batch = cifar_batch(8, "fine_labels", seed)
        batch[b"coarse_labels"] = [i % 20 for i in range(8)]
        (folder / name).write_bytes(pickle.dumps(batch))  # the default (newest) protocol too
    fine = load_dataset("cifar100", data_dir=tmp_path, n_val=2)
    coarse = load_dataset("cifar100", data_dir=tmp_path, n_val=2, label_type="coarse")
    assert fine.n_classes == 100 and coarse.n_classes == 20
    assert coarse.test.y.tolist() == [i % 20 for i in range(8)]


class Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    bad.write_bytes(pickle.dumps({b"data": Exploit(), b"labels": [0]}, protocol=2))
    with pytest.raises(UnsafePickleError, match="refusing to unpickle"):
        load_dataset("cifar10", data_dir=tmp_path)
    with pytest.raises(UnsafePickleError):
        safe_unpickle(bad)


def test_cifar_missing_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(ImageFormatError, match="data_batch_1"):
        load_dataset("cifar10", data_dir=tmp_path)
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(ImageFormatError, match="CIFAR pickle"):
        load_dataset("cifar10", data_dir=tmp_path)
    bad = {b"data": np.zeros((3, 100), np.uint8), b"labels": [0, 1, 2]}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(ImageFormatError, match="3072"):
        load_dataset("cifar10", data_dir=tmp_path)


def write_tree(root: Path, classes=("crow", "owl"), n: int = 5, size=(12, 10)) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for j in range(n):
            arr = np.full((*size, 3), 40 + 150 * i, np.uint8) + rng.integers(0, 20, (*size, 3),
                                                                             dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{j}.png")


def test_image_folder_tree(tmp_path: Path) -> None:
    write_tree(tmp_path)
    data = load_dataset("image-folder", data_dir=tmp_path, image_size=8, test_fraction=0.2,
                        n_val=1, standardize=False)
    assert data.meta["class_names"] == ["crow", "owl"]
    assert tuple(data.train.x.shape[1:]) == (3, 8, 8)
    assert len(data.train) + len(data.val) + len(data.test) == 10
    # owl images are bright, crow images dark: labels follow the folders.
    bright = data.test.x.mean((1, 2, 3)) > 0.5
    assert bright.tolist() == (data.test.y == 1).tolist()
    gray = load_dataset("image-folder", data_dir=tmp_path, image_size=[6, 4], channels=1,
                        n_val=1)
    assert tuple(gray.train.x.shape[1:]) == (1, 6, 4)


def test_image_folder_train_test_and_errors(tmp_path: Path) -> None:
    write_tree(tmp_path / "train", n=4)
    write_tree(tmp_path / "test", n=2)
    data = load_dataset("image-folder", data_dir=tmp_path, image_size=8, n_val=2)
    assert len(data.test) == 4 and len(data.train) == 6
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    with pytest.raises(ImageFormatError, match="class"):
        load_dataset("image-folder", data_dir=empty)
    (empty / "b").mkdir()
    (empty / "a" / "x.png").write_bytes(b"not a png")
    (empty / "b" / "y.png").write_bytes(b"not a png")
    (empty / "b" / "z.png").write_bytes(b"not a png")
    with pytest.raises(ImageFormatError, match="cannot read the image"):
        load_dataset("image-folder", data_dir=empty, test_fraction=0.3)


def test_images_as_series_sources(tmp_path: Path) -> None:
    digits = load_dataset("digits")
    series = load_dataset("digits-ts")
    assert series.modality == "time_series" and series.input_shape == (8, 8)
    assert torch.equal(series.test.x, digits.test.x[:, 0])  # rows are the time steps
    write_mnist(tmp_path)
    mnist = load_dataset("mnist-ts", data_dir=tmp_path, n_val=4)
    assert mnist.input_shape == (28, 28)
    with pytest.raises(SaliencyLabError):
        load_dataset("digits-ts", data_dir=tmp_path)
