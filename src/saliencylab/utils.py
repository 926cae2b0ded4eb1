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


def submodules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """``list(model.modules())`` (the same modules, in the same order, each once), without the
    dotted names ``named_modules`` builds: under half its cost, which ``explain`` pays per call.

    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sequential(torch.nn.ReLU()))
    >>> submodules(net) == list(net.modules())
    True
    """
    found = [model]
    _visit(model, {model}, found)  # a set of modules, as named_modules keeps its memo
    return found


def _visit(module: torch.nn.Module, seen: set, found: list) -> None:
    """Pre-order walk of ``module``'s children in registration order (a module-level function:
    a recursive closure would leave a reference cycle per call for the garbage collector)."""
    for child in module._modules.values():
        if child is not None and child not in seen:
            seen.add(child)
            found.append(child)
            _visit(child, seen, found)


@contextmanager
def eval_mode(model: torch.nn.Module, modules: list[torch.nn.Module] | None = None
              ) -> Iterator[torch.nn.Module]:
    """Put every submodule in eval mode for a block and restore **each one's own** mode after.
    ``modules``: :func:`submodules` of ``model`` when the caller has walked it already.

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
    modules = submodules(model) if modules is None else modules
    if not any(m.training for m in modules):  # already in eval mode: nothing to set or restore
        yield model
        return
    modes = [(m, m.training) for m in modules]
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


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values (dataclasses and pydantic models dumped, dict keys sorted,
    paths as strings); ConfigError for anything else.

    >>> jsonable({"b": (1, 2), "a": Path("x")})
    {'a': 'x', 'b': [1, 2]}
    """
    if is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(asdict(obj))
    if hasattr(obj, "model_dump"):
        return jsonable(obj.model_dump())
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float | int | str | bool) or obj is None:
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    raise ConfigError(f"cannot hash a value of type {type(obj).__name__} in a config")


def stable_hash(obj: Any, length: int = 16) -> str:
    """A content hash of a config (dataclass, pydantic model, dict, ...), stable across runs."""
    text = json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"))
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


#: Elements (floats) one chunk of an expensive call may create: 2**26 ≈ 67 M, 256 MiB of float32
#: (a laptop's share); ``SALIENCYLAB_MEMORY_BUDGET`` (elements) overrides it.
DEFAULT_MEMORY_BUDGET = 1 << 26


def memory_budget(budget: int | None = None) -> int:
    """The element budget of one chunk: ``budget``, else ``$SALIENCYLAB_MEMORY_BUDGET``, else
    :data:`DEFAULT_MEMORY_BUDGET`.

    >>> memory_budget(1000)
    1000
    """
    if budget is None:
        raw = os.environ.get("SALIENCYLAB_MEMORY_BUDGET")
        if raw is None:
            return DEFAULT_MEMORY_BUDGET
        try:
            budget = int(float(raw))
        except ValueError:
            raise ConfigError(f"SALIENCYLAB_MEMORY_BUDGET must be a number of elements, got "
                              f"{raw!r}") from None
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ConfigError(f"the memory budget must be a positive number of elements, got "
                          f"{budget!r}")
    return budget


def rows_per_chunk(elements_per_row: int, *, batch_size: int | None = None,
                   budget: int | None = None) -> int:
    """How many input rows one chunk may hold when each row creates ``elements_per_row``
    elements (e.g. IG: steps x input size; LIME: perturbations x input size): ``batch_size``
    when given (the explicit override), else the memory budget divided by the row's cost.

    Chunking by the memory a call creates, not by rows, keeps the cost linear in the number of
    rows and the input length instead of falling off a cliff when one chunk no longer fits.

    >>> rows_per_chunk(50 * 2500, budget=1 << 26)
    536
    >>> rows_per_chunk(50 * 2500, batch_size=64)
    64
    """
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive int or None, got {batch_size!r}")
        return batch_size
    return max(1, memory_budget(budget) // max(int(elements_per_row), 1))


def chunks(n: int, batch_size: int | None):
    """Yield ``slice`` objects covering ``range(n)`` in pieces of at most ``batch_size``."""
    if batch_size is None or batch_size <= 0:
        batch_size = max(n, 1)
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
