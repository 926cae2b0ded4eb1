"""On-disk dataset cache shared by the synthetic and UCR loaders.

A cache file is a ``torch.save`` payload ``{"version": ..., "config": ..., ...}``: written
atomically, read back with ``weights_only=True`` (tensors and plain containers only, nothing that
can run code) and ignored (``None``) when it is missing, of another format version or config, or
unreadable (with a warning). :func:`encode_splits` / :func:`decode_splits` store every field of
each :class:`~saliencylab.data.Split` (``x``, ``y``, ``mask``, ``starts``, ``lengths``).
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from saliencylab.data.dataset import Dataset, Split

__all__ = ["decode_splits", "encode_splits", "load_or_build", "read_payload", "write_payload"]

T = TypeVar("T")

_UNREADABLE = (OSError, RuntimeError, EOFError, KeyError, TypeError, ValueError,
               pickle.UnpicklingError)


def encode_splits(dataset: Dataset) -> dict[str, dict[str, torch.Tensor | None]]:
    """``{split name: {field: tensor or None}}`` of every split, for a cache payload."""
    return {name: split.tensors() for name, split in dataset.splits.items()}


def decode_splits(encoded: dict[str, dict[str, Any]]) -> dict[str, Split]:
    """The :class:`~saliencylab.data.Split` s of :func:`encode_splits`' output."""
    return {name: Split(**tensors) for name, tensors in encoded.items()}


def write_payload(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` ``payload`` to ``path`` via a per-process temp file and ``os.replace``.

    The replace is atomic, so parallel workers never see a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def read_payload(
    path: Path,
    *,
    version: int,
    config: dict[str, Any],
    decode: Callable[[dict[str, Any]], T],
    what: str,
    stacklevel: int = 5,
) -> T | None:
    """``decode(payload)`` of the cache file at ``path``, or None if it cannot be reused.

    None when the file is missing, its ``"version"`` differs from ``version`` or its
    ``"config"`` from ``config``; also None, with a ``"ignoring unreadable {what} {path}: ..."``
    warning, when loading or decoding fails. The default ``stacklevel`` points the warning at
    the caller of the public loader (loader -> :func:`load_or_build` -> load -> here).
    """
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("version") != version or payload["config"] != config:
            return None
        return decode(payload)
    except _UNREADABLE as exc:
        warnings.warn(f"ignoring unreadable {what} {path}: {exc}", stacklevel=stacklevel)
        return None


def load_or_build(
    path: Path | None,
    build: Callable[[], Dataset],
    load: Callable[[Path], Dataset | None],
    save: Callable[[Dataset, Path], None],
) -> Dataset:
    """The dataset cached at ``path`` if ``load`` accepts it, else ``build()`` (saved to ``path``).

    ``path=None`` disables the cache. ``meta`` records ``from_cache`` and ``cache_path``.
    """
    if path is None:
        dataset = build()
        dataset.meta.update(from_cache=False, cache_path=None)
        return dataset
    dataset = load(path)
    if dataset is not None:
        dataset.meta.update(from_cache=True, cache_path=str(path))
        return dataset
    dataset = build()
    dataset.meta.update(from_cache=False, cache_path=str(path))
    save(dataset, path)
    return dataset
