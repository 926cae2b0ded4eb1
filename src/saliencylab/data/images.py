"""Image data as ``(batch, channels, height, width)`` float32 datasets.

``digits`` is scikit-learn's bundled 8 x 8 handwritten digits (1797 images, 10 classes): the
offline image source the tests and the certification experiment of [CS] (Gupta et al., NeurIPS
2022) use. Pixels are scaled to [0, 1] and, by default, standardised with the training split's
mean and standard deviation, so a gray image (the mean) is 0 — the fill [CS] inserts into.
``meta`` records per-channel minimum, maximum and mean of the training split: the ranges the
per-channel random masking of saliency guided training draws from ([SGT] supplement, "Saliency
Guided Training for Images") and the mean pixel of the OOD replacement ([SGT] §5.1).

Example:
    >>> from saliencylab.data import load_dataset
    >>> data = load_dataset("digits")
    >>> tuple(data.train.x.shape[1:]), data.n_classes, data.modality
    ((1, 8, 8), 10, 'image')
"""

from __future__ import annotations

from typing import Any

import torch

from saliencylab.data.dataset import Dataset, Split
from saliencylab.errors import ConfigError, SaliencyLabError
from saliencylab.utils import make_generator

__all__ = ["channel_stats", "load_digits"]


def channel_stats(x: torch.Tensor) -> dict[str, list[float]]:
    """Per-channel minimum, maximum and mean of ``(N, C, H, W)`` images.

    >>> channel_stats(torch.tensor([[[[0.0, 1.0]]], [[[0.5, 0.5]]]]))
    {'channel_min': [0.0], 'channel_max': [1.0], 'channel_mean': [0.5]}
    """
    flat = x.transpose(0, 1).reshape(x.shape[1], -1)
    return {"channel_min": flat.min(1).values.tolist(), "channel_max": flat.max(1).values.tolist(),
            "channel_mean": flat.mean(1).tolist()}


def load_digits(*, seed: int = 0, n_val: int = 200, n_test: int = 397,
                standardize: bool = True) -> Dataset:
    """scikit-learn's digits, ``(N, 1, 8, 8)``, split by a seeded shuffle into train / val / test.

    Args:
        seed: seed of the shuffle.
        n_val, n_test: sizes of the validation and test splits (the rest trains).
        standardize: subtract the training mean and divide by its standard deviation.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as exc:  # scikit-learn ships the digits
        raise SaliencyLabError("the digits need scikit-learn (pip install scikit-learn)") from exc
    raw = sklearn_digits()
    n = len(raw.target)
    if n_val < 1 or n_test < 1 or n_val + n_test >= n:
        raise ConfigError(f"n_val and n_test must be >= 1 and leave training images out of the "
                          f"{n}; got n_val={n_val}, n_test={n_test}")
    x = torch.tensor(raw.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(raw.target, dtype=torch.long)
    order = torch.randperm(n, generator=make_generator(seed))
    x, y = x[order], y[order]
    n_train = n - n_val - n_test
    mean, std = float(x[:n_train].mean()), float(x[:n_train].std())
    if standardize:
        x = (x - mean) / std
    cuts = (slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None))
    train, val, test = (Split(x[c], y[c]) for c in cuts)
    config: dict[str, Any] = {"name": "digits", "seed": seed, "n_val": n_val, "n_test": n_test,
                              "standardize": standardize}
    meta = {"name": "digits", "task": "classification", "n_classes": 10,
            "class_names": [str(c) for c in range(10)], "pixel_mean": mean, "pixel_std": std,
            **channel_stats(train.x)}
    return Dataset(config=config, train=train, val=val, test=test, meta=meta, modality="image")
