"""Small shared helpers: seeds and generators, devices and modes of models, hashing of configs,
the on-disk cache, input checks. Every layer may import this module; it imports none of them."""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from saliencylab.errors import ConfigError, InvalidDataError, ShapeError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (a fresh random seed if None)."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen


GeneratorLike = torch.Generator | int | None


def resolve_generator(
    generator: GeneratorLike, device: torch.device | str = "cpu"
) -> torch.Generator:
    """The one randomness argument of the library: a ``torch.Generator`` is used as it is, an
    int seeds a new one on ``device``, None means seed 0 (results repeat by default).

    Example:
        >>> a = torch.rand(1, generator=resolve_generator(3))
        >>> bool(a == torch.rand(1, generator=resolve_generator(3)))
        True
    """
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None or (isinstance(generator, int | np.integer)
                             and not isinstance(generator, bool)):
        return make_generator(0 if generator is None else int(generator), device)
    raise ConfigError(f"generator must be a torch.Generator, an int seed or None, "
                      f"got {type(generator).__name__}")


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (or buffer); CPU for a module without any."""
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put every submodule in eval mode for a block and restore **each one's own** mode after.

    ``model.train(was_training)`` would not do: it sets every submodule to the top module's
    mode, so a model whose batch-norm layers were frozen in eval mode would come back training.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout())
        >>> _ = net[1].eval()
        >>> with eval_mode(net):
        ...     net.training
        False
        >>> net.training, net[1].training
        (True, False)
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``"auto"``/None picks CUDA when available, else MPS, else CPU; other names pass through."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(
            f"device must be 'auto', 'cpu', 'cuda[:N]' or 'mps', got {device!r}"
        ) from exc


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if hasattr(obj, "model_dump"):
        return _jsonable(obj.model_dump())
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float | int | str | bool) or obj is None:
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    raise ConfigError(f"cannot hash a value of type {type(obj).__name__} in a config")


def stable_hash(obj: Any, length: int = 16) -> str:
    """A content hash of a config (dataclass, pydantic model, dict, ...), stable across runs."""
    text = json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def cache_dir() -> Path:
    """Root of the on-disk cache: ``$SALIENCYLAB_CACHE`` or ``./.cache/saliencylab``."""
    root = Path(os.environ.get("SALIENCYLAB_CACHE", Path.cwd() / ".cache" / "saliencylab"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def check_finite(tensor: torch.Tensor, name: str) -> None:
    """Raise ``InvalidDataError`` if ``tensor`` holds NaN or inf."""
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).sum())
        raise InvalidDataError(
            f"{name} must be finite, but {bad} of {tensor.numel()} values are NaN or inf"
        )


def check_rank(tensor: torch.Tensor, rank: int, name: str, layout: str) -> None:
    """Raise ``ShapeError`` unless ``tensor`` has ``rank`` dimensions (``layout`` names them)."""
    if tensor.dim() != rank:
        raise ShapeError(
            f"{name} must have shape {layout} ({rank} dims), got {tuple(tensor.shape)}"
        )


def chunks(n: int, batch_size: int | None):
    """Yield ``slice`` objects covering ``range(n)`` in pieces of at most ``batch_size``."""
    if batch_size is None or batch_size <= 0:
        batch_size = max(n, 1)
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
