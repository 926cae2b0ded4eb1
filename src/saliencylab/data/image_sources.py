"""Image data read from a folder: MNIST / Fashion-MNIST (IDX), CIFAR-10 / -100 (Python pickle
batches) and any folder of class sub-folders of image files; plus any image source as a time
series (rows as time steps).

The image experiments of [SGT] (Ismail, Corrada Bravo, Feizi, NeurIPS 2021, Section 5.1 and the
supplement's Table 1) use MNIST (60000 / 10000, 1 x 28 x 28), CIFAR-10 (50000 / 10000,
3 x 32 x 32) and BIRD (a class-folder tree, 3 x 224 x 224). Nothing is downloaded: each loader
reads a folder the user fills, and a missing or malformed file raises a
:class:`~saliencylab.errors.ImageFormatError` that names the expected files.

Layouts (``data_dir`` is the folder given, ``--data-dir DIR``):

* ``mnist`` / ``fashion-mnist``: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``), directly in
  ``data_dir`` or in ``data_dir/<name>/`` or ``data_dir/<name>/raw/`` (torchvision's layout:
  ``MNIST/raw``, ``FashionMNIST/raw``).
* ``cifar10``: ``cifar-10-batches-py/`` (``data_batch_1`` .. ``data_batch_5``, ``test_batch``,
  ``batches.meta``); ``cifar100``: ``cifar-100-python/`` (``train``, ``test``, ``meta``), or
  those files directly in ``data_dir``. The batches are Python pickles: they are read with a
  restricted unpickler that builds only NumPy arrays, dicts, lists and strings, so a pickle
  that would run code is refused.
* ``image-folder``: ``data_dir/<class>/<image>`` (PNG, JPEG, BMP, GIF), or ``data_dir/train/``
  and ``data_dir/test/`` each with class sub-folders; images are resized to ``image_size``.

Pixels are scaled to [0, 1] and, by default, standardised per channel with the training split's
mean and standard deviation. ``meta`` records the per-channel minimum, maximum and mean of the
training split (:func:`~saliencylab.data.images.channel_stats`): the ranges the per-channel
random masking of saliency guided training draws from ([SGT] supplement, "Masking") and the mean
pixel of the OOD replacement of the accuracy-drop test ([SGT] Section 5.1).

Example:
    >>> from saliencylab.data import load_dataset
    >>> data = load_dataset("mnist", data_dir="data/mnist")  # doctest: +SKIP
    >>> data.train.x.shape, data.test.x.shape  # doctest: +SKIP
    (torch.Size([55000, 1, 28, 28]), torch.Size([10000, 1, 28, 28]))
"""

from __future__ import annotations

import gzip
import importlib
import io
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from saliencylab.data.dataset import Dataset, Split
from saliencylab.data.images import channel_stats
from saliencylab.errors import ConfigError, InvalidDataError, ShapeError
from saliencylab.utils import make_generator

__all__ = [
    "CIFAR_LAYOUTS",
    "IDX_FILES",
    "ImageFormatError",
    "UnsafePickleError",
    "images_as_series",
    "load_cifar",
    "load_idx_images",
    "load_image_folder",
    "read_idx",
    "safe_unpickle",
]

#: The four IDX files of MNIST and Fashion-MNIST (each may also be gzipped, ``.gz``).
IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}

#: Folder, training batches, test batch, label key and metadata file of each CIFAR variant.
CIFAR_LAYOUTS: dict[str, dict[str, Any]] = {
    "cifar10": {"folder": "cifar-10-batches-py",
                "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"],
                "labels": "labels", "meta": "batches.meta", "names": "label_names",
                "n_classes": 10},
    "cifar100": {"folder": "cifar-100-python", "train": ["train"], "test": ["test"],
                 "labels": "fine_labels", "meta": "meta", "names": "fine_label_names",
                 "n_classes": 100},
}



class ImageFormatError(InvalidDataError):
    """An image file or folder that is missing or not in its published format; the message
    names the expected files and where."""


class UnsafePickleError(ImageFormatError):
    """A pickle that names a global beyond the few a CIFAR batch needs: loading it could run
    code, so it is refused."""


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


# ---------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)


def read_idx(path: str | Path) -> np.ndarray:
    """The array of one IDX file (plain or gzipped), e.g. ``(N, 28, 28)`` uint8 images.

    The format (LeCun et al.): two zero bytes, a type code (0x08 = unsigned byte), the number of
    dimensions, one big-endian 32-bit size per dimension, then the data.

    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "t")
    >>> _ = open(f, "wb").write(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]))
    >>> read_idx(f).tolist()
    [7, 9]
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ImageFormatError(f"cannot read the IDX file {str(path)!r}: {exc}") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES or raw[3] < 1:
        raise ImageFormatError(f"{str(path)!r} is not an IDX file: expected two zero bytes, a "
                              f"type code and the number of dimensions, got {raw[:4]!r}")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ImageFormatError(f"{str(path)!r}: the IDX header ends early")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = raw[4 + 4 * ndim:]
    if len(body) != expected:
        raise ImageFormatError(f"{str(path)!r}: the header promises shape {shape} "
                              f"({expected} bytes) but the file holds {len(body)} bytes")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def _find_file(folders: Sequence[Path], stem: str) -> Path | None:
    for folder in folders:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _idx_folders(root: Path, name: str) -> list[Path]:
    alias = {"mnist": ["mnist", "MNIST"], "fashion-mnist": ["fashion-mnist", "FashionMNIST",
                                                           "fashion_mnist"]}.get(name, [name])
    folders = [root]
    for a in alias:
        folders += [root / a, root / a / "raw"]
    return folders


def _check_folder(data_dir: str | Path | None, name: str, layout: str) -> Path:
    if data_dir is None:
        raise ConfigError(f"{name} reads files: pass data_dir=DIR (--data-dir DIR) with {layout}")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise ImageFormatError(f"{name}: the folder {str(root)!r} does not exist; expected "
                              f"{layout}")
    return root


def _split_train(x: torch.Tensor, y: torch.Tensor, n_val: int, seed: int
                 ) -> tuple[Split, Split]:
    if not 1 <= n_val < len(x):
        raise ConfigError(f"n_val must be >= 1 and leave training images; got n_val={n_val} "
                          f"of {len(x)}")
    order = torch.randperm(len(x), generator=make_generator(seed))
    train, val = order[n_val:], order[:n_val]
    return Split(x[train], y[train]), Split(x[val], y[val])


def image_dataset(name: str, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                  test_y: np.ndarray, *, class_names: list[str], config: dict[str, Any],
                  seed: int, n_val: int, standardize: bool, max_value: float = 255.0
                  ) -> Dataset:
    """A :class:`Dataset` from ``(N, C, H, W)`` uint8 arrays: pixels / ``max_value``, a seeded
    validation split carved out of the training images, optional per-channel standardisation
    (training statistics) and the per-channel ranges and means in ``meta``.

    >>> x = np.zeros((6, 1, 2, 2), np.uint8); y = np.array([0, 1] * 3)
    >>> d = image_dataset("t", x, y, x[:2], y[:2], class_names=["a", "b"], config={}, seed=0,
    ...                   n_val=2, standardize=False)
    >>> len(d.train), len(d.val), d.meta["channel_mean"]
    (4, 2, [0.0])
    """
    n_classes = len(class_names)
    tensors = []
    for what, x, y in (("training", train_x, train_y), ("test", test_x, test_y)):
        if x.ndim != 4 or len(x) != len(y) or len(x) == 0:
            raise ImageFormatError(f"{name}: {what} images must be (N, C, H, W) with one label "
                                  f"each; got images {x.shape} and {len(y)} labels")
        labels = torch.as_tensor(np.asarray(y, dtype=np.int64))
        if bool((labels < 0).any()) or bool((labels >= n_classes).any()):
            raise ImageFormatError(f"{name}: {what} labels must lie in [0, {n_classes}), got "
                                  f"[{int(labels.min())}, {int(labels.max())}]")
        tensors.append((torch.from_numpy(np.array(x)).float() / max_value, labels))
    if tuple(tensors[0][0].shape[1:]) != tuple(tensors[1][0].shape[1:]):
        raise ImageFormatError(f"{name}: training images {tuple(tensors[0][0].shape[1:])} and "
                              f"test images {tuple(tensors[1][0].shape[1:])} differ in shape")
    train, val = _split_train(*tensors[0], n_val, seed)
    test = Split(*tensors[1])
    flat = train.x.transpose(0, 1).reshape(train.x.shape[1], -1)
    mean, std = flat.mean(1), flat.std(1).clamp_min(1e-8)
    if standardize:
        def scale(s: Split) -> Split:
            return Split((s.x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1), s.y)
        train, val, test = scale(train), scale(val), scale(test)
    meta = {"name": name, "task": "classification", "n_classes": n_classes,
            "class_names": class_names, "pixel_mean": mean.tolist(), "pixel_std": std.tolist(),
            "standardized": standardize, **channel_stats(train.x)}
    config = {"name": name, "seed": seed, "n_val": n_val, "standardize": standardize, **config}
    return Dataset(config=config, train=train, val=val, test=test, meta=meta, modality="image")


def load_idx_images(name: str, data_dir: str | Path | None, *, seed: int = 0,
                    n_val: int = 5000, standardize: bool = True, n_train: int | None = None,
                    n_test: int | None = None) -> Dataset:
    """MNIST or Fashion-MNIST from the four IDX files in ``data_dir`` (see the module).

    Args:
        name: ``"mnist"`` or ``"fashion-mnist"`` (names the dataset; the files are the same).
        n_val: validation images carved out of the 60000 training images (seeded).
        standardize: subtract the training mean and divide by its standard deviation.
        n_train, n_test: keep only the first images of each file (quick runs); None = all.
    """
    layout = (f"the IDX files {', '.join(IDX_FILES.values())} (optionally .gz) in DIR, "
              f"DIR/{name}/ or DIR/{name}/raw/")
    root = _check_folder(data_dir, name, layout)
    folders = _idx_folders(root, name)
    found = {key: _find_file(folders, stem) for key, stem in IDX_FILES.items()}
    missing = [IDX_FILES[k] for k, p in found.items() if p is None]
    if missing:
        raise ImageFormatError(f"{name}: {str(root)!r} lacks {', '.join(missing)} (or .gz); "
                              f"expected {layout}")
    arrays = {key: read_idx(path) for key, path in found.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ImageFormatError(f"{name}: {split} images must be (N, H, W) with N labels; got "
                                  f"{images.shape} and {labels.shape}")
    keep = {"train": n_train, "test": n_test}
    x = {s: arrays[f"{s}_images"][:keep[s]][:, None] for s in ("train", "test")}
    y = {s: arrays[f"{s}_labels"][:keep[s]] for s in ("train", "test")}
    n_classes = max(10, int(max(y["train"].max(), y["test"].max())) + 1)
    names = ([str(c) for c in range(10)] if name == "mnist" else
             ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
              "Sneaker", "Bag", "Ankle boot"])[:n_classes]
    return image_dataset(name, x["train"], y["train"], x["test"], y["test"], class_names=names,
                         config={"folder": str(root), "n_train": n_train, "n_test": n_test},
                         seed=seed, n_val=n_val, standardize=standardize)


# ---------------------------------------------------------------------------------------------
# CIFAR (restricted unpickling)

#: The globals a CIFAR batch (a dict of a NumPy array and lists) may name when unpickled.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise UnsafePickleError(f"refusing to unpickle {module}.{name}: a CIFAR batch holds "
                                  "only NumPy arrays, lists, dicts and strings")
        if module.startswith("numpy.core") and int(np.__version__.split(".")[0]) >= 2:
            module = module.replace("numpy.core", "numpy._core", 1)
        return getattr(importlib.import_module(module), name)


def safe_unpickle(path: str | Path) -> Any:
    """Unpickle ``path`` allowing only NumPy arrays and plain containers (no code runs).

    Bytes keys and values (Python 2 pickles, as CIFAR's) are decoded as ``bytes``.

    >>> import pickle, tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "b")
    >>> _ = open(f, "wb").write(pickle.dumps({"labels": [1, 2]}, protocol=2))
    >>> safe_unpickle(f)
    {'labels': [1, 2]}
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return _SafeUnpickler(io.BufferedReader(handle), encoding="bytes").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{str(path)!r}: {exc}") from None
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as exc:
        raise ImageFormatError(f"cannot read {str(path)!r} as a CIFAR pickle batch: "
                              f"{type(exc).__name__}: {exc}") from None


def _key(batch: dict, name: str) -> Any:
    for k in (name, name.encode()):
        if k in batch:
            return batch[k]
    raise KeyError(name)


def _read_batches(files: list[Path], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for path in files:
        batch = safe_unpickle(path)
        try:
            data = np.asarray(_key(batch, "data"))
            labels = np.asarray(_key(batch, label_key), dtype=np.int64)
        except (KeyError, TypeError):
            raise ImageFormatError(f"{str(path)!r}: a CIFAR batch is a dict with 'data' "
                                  f"(N x 3072 uint8) and '{label_key}'") from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
            raise ImageFormatError(f"{str(path)!r}: 'data' must be (N, 3072) with N labels, got "
                                  f"{data.shape} and {labels.shape}")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys)


def load_cifar(name: str, data_dir: str | Path | None, *, seed: int = 0, n_val: int = 5000,
               standardize: bool = True, label_type: str = "fine", n_train: int | None = None,
               n_test: int | None = None) -> Dataset:
    """CIFAR-10 or CIFAR-100 from the published Python-pickle batches (see the module).

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        label_type: CIFAR-100 only: ``"fine"`` (100 classes) or ``"coarse"`` (20).
        n_val, standardize, n_train, n_test: as :func:`load_idx_images`.
    """
    layout = CIFAR_LAYOUTS[name]
    files = layout["train"] + layout["test"]
    where = (f"DIR/{layout['folder']}/ (or DIR itself) holding {', '.join(files)} and "
             f"{layout['meta']}")
    root = _check_folder(data_dir, name, where)
    folder = root / layout["folder"] if (root / layout["folder"]).is_dir() else root
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise ImageFormatError(f"{name}: {str(folder)!r} lacks {', '.join(missing)}; expected "
                              f"{where}")
    label_key, names_key, n_classes = layout["labels"], layout["names"], layout["n_classes"]
    if name == "cifar100":
        if label_type not in ("fine", "coarse"):
            raise ConfigError(f"label_type must be 'fine' or 'coarse', got {label_type!r}")
        label_key, names_key = f"{label_type}_labels", f"{label_type}_label_names"
        n_classes = 100 if label_type == "fine" else 20
    train_x, train_y = _read_batches([folder / f for f in layout["train"]], label_key)
    test_x, test_y = _read_batches([folder / f for f in layout["test"]], label_key)
    class_names = [str(c) for c in range(n_classes)]
    if (folder / layout["meta"]).is_file():
        try:
            raw = _key(safe_unpickle(folder / layout["meta"]), names_key)
            listed = [n.decode() if isinstance(n, bytes) else str(n) for n in raw]
            if len(listed) == n_classes:
                class_names = listed
        except (KeyError, TypeError):
            pass  # class names are cosmetic; the labels are checked
    return image_dataset(name, train_x[:n_train], train_y[:n_train], test_x[:n_test],
                         test_y[:n_test], class_names=class_names,
                         config={"folder": str(folder), "label_type": label_type,
                                 "n_train": n_train, "n_test": n_test},
                         seed=seed, n_val=n_val, standardize=standardize)


# ---------------------------------------------------------------------------------------------
# A folder of class sub-folders


def _image_size(value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, value
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        return int(value[0]), int(value[1])
    raise ConfigError(f"image_size must be a positive int or [height, width], got {value!r}")


def _class_tree(folder: Path) -> dict[str, list[Path]]:
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    return {c.name: sorted(f for f in c.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            for c in classes}


def _read_images(files: list[Path], size: tuple[int, int], channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    mode = "RGB" if channels == 3 else "L"
    out = np.empty((len(files), channels, *size), dtype=np.uint8)
    for i, path in enumerate(files):  # decoding is per file; the tensors are built at once
        try:
            with Image.open(path) as img:
                arr = np.asarray(img.convert(mode).resize((size[1], size[0]),
                                                         Image.Resampling.BILINEAR))
        except (OSError, UnidentifiedImageError) as exc:
            raise ImageFormatError(f"cannot read the image {str(path)!r}: {exc}") from None
        out[i] = arr.reshape(size[0], size[1], channels).transpose(2, 0, 1)
    return out


def load_image_folder(data_dir: str | Path | None, *, seed: int = 0, image_size: Any = 224,
                      channels: int = 3, n_val: int | None = None,
                      test_fraction: float = 0.2, standardize: bool = True) -> Dataset:
    """Images in class sub-folders (the [SGT] BIRD layout), resized to ``image_size``.

    ``data_dir/<class>/*.png`` is split by a seeded shuffle (``test_fraction`` to test);
    ``data_dir/train/<class>/`` with ``data_dir/test/<class>/`` (and optionally ``valid/``)
    keeps the given splits. Classes are the sub-folder names in sorted order.

    Args:
        image_size: int or ``[height, width]`` after resizing ([SGT] BIRD: 224).
        channels: 3 (RGB) or 1 (gray).
        n_val: validation images carved out of the training images (default 10 %, >= 1).
    """
    layout = ("DIR/<class>/<image> (.png, .jpg, .jpeg, .bmp, .gif), or DIR/train/<class>/ "
              "and DIR/test/<class>/")
    root = _check_folder(data_dir, "image-folder", layout)
    size = _image_size(image_size)
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    split_dirs = {s: root / s for s in ("train", "test") if (root / s).is_dir()}
    trees = ({s: _class_tree(p) for s, p in split_dirs.items()} if len(split_dirs) == 2
             else {"all": _class_tree(root)})
    classes = sorted({c for tree in trees.values() for c in tree})
    n_files = sum(len(v) for tree in trees.values() for v in tree.values())
    if len(classes) < 2 or n_files == 0:
        raise ImageFormatError(f"image-folder: {str(root)!r} holds {len(classes)} class "
                              f"folder(s) and {n_files} images; expected {layout} with at least "
                              "2 classes")
    index = {c: i for i, c in enumerate(classes)}

    def gather(tree: dict[str, list[Path]]) -> tuple[list[Path], np.ndarray]:
        files = [f for c in sorted(tree) for f in tree[c]]
        labels = np.array([index[c] for c in sorted(tree) for _ in tree[c]], dtype=np.int64)
        return files, labels

    if "all" in trees:
        files, labels = gather(trees["all"])
        order = torch.randperm(len(files), generator=make_generator(seed + 1)).numpy()
        n_test = max(1, int(round(float(test_fraction) * len(files))))
        if n_test >= len(files) - 1:
            raise ImageFormatError(f"image-folder: {len(files)} images are too few to split")
        test_idx, train_idx = order[:n_test], order[n_test:]
        train_files = [files[i] for i in train_idx]
        test_files = [files[i] for i in test_idx]
        train_y, test_y = labels[train_idx], labels[test_idx]
    else:
        train_files, train_y = gather(trees["train"])
        test_files, test_y = gather(trees["test"])
        if not train_files or not test_files:
            raise ImageFormatError(f"image-folder: {str(root)!r} train/ or test/ holds no images")
    n_val = max(1, len(train_files) // 10) if n_val is None else n_val
    return image_dataset(
        "image-folder", _read_images(train_files, size, channels), train_y,
        _read_images(test_files, size, channels), test_y, class_names=classes,
        config={"folder": str(root), "image_size": list(size), "channels": channels,
                "test_fraction": test_fraction}, seed=seed, n_val=n_val,
        standardize=standardize)


# ---------------------------------------------------------------------------------------------
# Images as time series


def images_as_series(data: Dataset) -> Dataset:
    """An image dataset as a time series: ``(N, C, H, W)`` -> ``(N, H, C * W)``, rows as time
    steps ([SGT] supplement, "MNIST as a time series": 28 steps x 28 features).

    >>> from saliencylab.data.images import load_digits
    >>> ts = images_as_series(load_digits())
    >>> ts.modality, tuple(ts.train.x.shape[1:])
    ('time_series', (8, 8))
    """
    if data.modality != "image":
        raise ShapeError(f"images_as_series takes image data, got {data.modality} data")

    def rows(s: Split) -> Split:
        n, c, h, w = s.x.shape
        return Split(s.x.permute(0, 2, 1, 3).reshape(n, h, c * w).contiguous(), s.y)

    meta = {**data.meta, "layout": "rows as time steps, (channel, column) as features"}
    config = (dict(data.config) if isinstance(data.config, dict) else {"image": data.config})
    return Dataset(config={**config, "as_series": True}, train=rows(data.train),
                   val=rows(data.val), test=rows(data.test), meta=meta, modality="time_series")


# ---------------------------------------------------------------------------------------------
# Source loaders (registered by saliencylab.data.sources)

IDX_OPTIONS = ("n_val", "standardize", "n_train", "n_test")
CIFAR_OPTIONS = (*IDX_OPTIONS, "label_type")
FOLDER_OPTIONS = ("image_size", "channels", "n_val", "test_fraction", "standardize")


def _load_idx_source(name: str, *, process: str | None, data_dir: str | None, seed: int,
                     cache: bool, **options: Any) -> Dataset:
    return load_idx_images(name, data_dir, seed=seed, **options)


def _load_cifar_source(name: str, *, process: str | None, data_dir: str | None, seed: int,
                       cache: bool, **options: Any) -> Dataset:
    return load_cifar(name, data_dir, seed=seed, **options)


def _load_folder_source(name: str, *, process: str | None, data_dir: str | None, seed: int,
                        cache: bool, **options: Any) -> Dataset:
    return load_image_folder(data_dir, seed=seed, **options)


def _load_digits_series(name: str, *, process: str | None, data_dir: str | None, seed: int,
                        cache: bool, **options: Any) -> Dataset:
    from saliencylab.data.images import load_digits

    if data_dir is not None:
        raise ConfigError(f"{name} is bundled with scikit-learn: it takes no data_dir")
    return images_as_series(load_digits(seed=seed, **options))


def _load_mnist_series(name: str, *, process: str | None, data_dir: str | None, seed: int,
                       cache: bool, **options: Any) -> Dataset:
    return images_as_series(load_idx_images("mnist", data_dir, seed=seed, **options))


#: ``(name, description, loader, options, needs_data_dir, modality)`` of each image source.
IMAGE_SOURCES: tuple[tuple[str, str, Any, tuple[str, ...], bool, str], ...] = (
    ("mnist", "MNIST handwritten digits, 60000 / 10000 images 1 x 28 x 28, 10 classes [SGT]; "
     "data_dir = the four IDX files (train-images-idx3-ubyte[.gz], ...)", _load_idx_source,
     IDX_OPTIONS, True, "image"),
    ("fashion-mnist", "Fashion-MNIST, 60000 / 10000 images 1 x 28 x 28, 10 classes; data_dir "
     "= the four IDX files", _load_idx_source, IDX_OPTIONS, True, "image"),
    ("cifar10", "CIFAR-10, 50000 / 10000 images 3 x 32 x 32, 10 classes [SGT]; data_dir = "
     "cifar-10-batches-py/ (the Python pickle batches)", _load_cifar_source, CIFAR_OPTIONS,
     True, "image"),
    ("cifar100", "CIFAR-100, 50000 / 10000 images 3 x 32 x 32, 100 (fine) or 20 (coarse) "
     "classes; data_dir = cifar-100-python/", _load_cifar_source, CIFAR_OPTIONS, True, "image"),
    ("image-folder", "any folder of class sub-folders of images (the [SGT] BIRD layout), "
     "resized (default 224 x 224 RGB)", _load_folder_source, FOLDER_OPTIONS, True, "image"),
    ("digits-ts", "scikit-learn's 8 x 8 digits as time series: 8 steps (rows) x 8 features; "
     "bundled, offline", _load_digits_series, ("n_val", "n_test", "standardize"), False,
     "time_series"),
    ("mnist-ts", "MNIST as time series, 28 steps (rows) x 28 features ([SGT] supplement); "
     "data_dir = the four IDX files", _load_mnist_series, IDX_OPTIONS, True, "time_series"),
)
