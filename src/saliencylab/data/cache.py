"""On-disk dataset cache shared by the synthetic and UCR loaders.

A cache file is a ``torch.save`` payload ``{"version": ..., "config": ..., ...}``: written
atomically, read back with ``weights_only=True`` (tensors and plain containers only, nothing that
can run code) and ignored (``None``) when it is missing, of another format version or config, or
unreadable (with a warning). :func:`cached_dataset` stores every field of each
:class:`~saliencylab.data.Split` (``x``, ``y``, ``mask``, ``starts``, ``lengths``).

Every payload carries ``"checksum"``: the SHA-256 (:func:`payload_checksum`) over the bytes,
dtypes, shapes and places of all its tensors and its other values. A file that still loads but
whose checksum does not match (a tensor changed on disk, a truncated copy that happens to
parse, a file written without a checksum) is ignored with a warning, and the dataset is rebuilt
and written again.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from saliencylab.data.dataset import Dataset, Split

__all__ = ["cached_dataset", "load_or_build", "payload_checksum", "read_payload",
           "write_payload"]

T = TypeVar("T")

_UNREADABLE = (OSError, RuntimeError, EOFError, KeyError, TypeError, ValueError,
               pickle.UnpicklingError)


def _feed(digest: Any, key: str, value: Any) -> None:
    """Add ``value`` (found at ``key``) to ``digest``: tensors by dtype, shape and raw bytes,
    containers recursively in a fixed order, anything else by its JSON (or repr) text."""
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous()
        digest.update(f"{key}:tensor:{t.dtype}:{tuple(t.shape)}:".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"{key}:dict:{len(value)}:".encode())
        for k in sorted(value, key=str):
            _feed(digest, f"{key}/{k}", value[k])
    elif isinstance(value, list | tuple):
        digest.update(f"{key}:{type(value).__name__}:{len(value)}:".encode())
        for i, v in enumerate(value):
            _feed(digest, f"{key}[{i}]", v)
    else:
        try:
            text = json.dumps(value, sort_keys=True, default=repr)
        except (TypeError, ValueError):
            text = repr(value)
        digest.update(f"{key}:{text}:".encode())


def payload_checksum(payload: dict[str, Any]) -> str:
    """SHA-256 hex digest of ``payload`` without its ``"checksum"`` entry: every tensor's
    dtype, shape and bytes and every other value, each with its place in the payload.

    Example:
        >>> a = payload_checksum({"x": torch.zeros(2)})
        >>> a == payload_checksum({"x": torch.zeros(2)})
        True
        >>> a == payload_checksum({"x": torch.ones(2)})
        False
    """
    digest = hashlib.sha256()
    for key in sorted(k for k in payload if k != "checksum"):
        _feed(digest, key, payload[key])
    return digest.hexdigest()


def write_payload(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` ``payload`` with its ``"checksum"`` (:func:`payload_checksum`) to
    ``path`` via a per-process temp file and ``os.replace``.

    The replace is atomic, so parallel workers never see a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**payload, "checksum": payload_checksum(payload)}
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
    warning, when loading or decoding fails, and with an ``"ignoring corrupted {what} {path}:
    ..."`` warning when its ``"checksum"`` is missing or does not match its contents. The
    default ``stacklevel`` points the warning at the caller of the public loader (loader ->
    :func:`load_or_build` -> load -> here).
    """
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("version") != version or payload["config"] != config:
            return None
        stored = payload.get("checksum")
        if stored != payload_checksum(payload):
            why = ("it carries no checksum" if stored is None else
                   "its checksum does not match its tensors (changed or damaged on disk)")
            warnings.warn(f"ignoring corrupted {what} {path}: {why}; rebuilding it",
                          stacklevel=stacklevel)
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


#: ``assemble(splits, scaler state or None, meta) -> Dataset``: the loader's own constructor.
Assemble = Callable[[dict[str, Split], "Mapping[str, Any] | None", dict[str, Any]], Dataset]


def cached_dataset(
    path: Path | None,
    config: Any,
    *,
    version: int,
    what: str,
    build: Callable[[], Dataset],
    assemble: Assemble,
) -> Dataset:
    """The dataset of ``config`` from the cache file ``path``, or ``build()`` written there.

    The payload holds the format ``version``, ``config.model_dump()``, every split, the
    scaler's state and ``meta``; ``assemble`` turns the read parts back into a dataset (the
    background sampler and scaler are the loader's business). ``path=None`` disables the cache.
    """
    expected = config.model_dump()

    def save(dataset: Dataset, target: Path) -> None:
        write_payload(target, {
            "version": version,
            "config": expected,
            "splits": {name: split.tensors() for name, split in dataset.splits.items()},
            "scaler": None if dataset.scaler is None else dataset.scaler.state_dict(),
            "meta": dataset.meta,
        })

    def decode(payload: dict[str, Any]) -> Dataset:
        splits = {name: Split(**tensors) for name, tensors in payload["splits"].items()}
        return assemble(splits, payload.get("scaler"), dict(payload["meta"]))

    def load(source: Path) -> Dataset | None:
        return read_payload(source, version=version, config=expected, decode=decode, what=what,
                            stacklevel=6)

    return load_or_build(path, build, load, save)
