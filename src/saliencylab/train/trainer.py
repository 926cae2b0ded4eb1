"""A plain PyTorch training loop with checkpoint selection on the validation split.

No framework is spun up: one loop, Adam by default (the [TSB] setting: Adam 1e-3, batch 50),
early stopping on validation accuracy, the best validation checkpoint restored at the end, and the
test split touched once, after selection. Models under 95 % test accuracy are flagged as not fit to
interpret, as [TSB] (Ismail et al., NeurIPS 2020) excludes them from its analysis.

Example:
    >>> from saliencylab.data import load_synthetic
    >>> from saliencylab.models import build_model
from saliencylab.settings import CheckedModel
    >>> from saliencylab.train import TrainConfig, fit
    >>> data = load_synthetic("Middle", "Gaussian")
    >>> model = build_model("tcn", n_features=data.n_features, n_time=data.n_time)
    >>> result = fit(model, data, TrainConfig(epochs=20))
    >>> result.test_accuracy  # doctest: +SKIP
    0.99
"""

from __future__ import annotations

import copy
import math
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn

from saliencylab.errors import (
    ConfigError,
    SaliencyLabError,
    ShapeError,
    UnsafeCheckpointError,
    prefixed,
)
from saliencylab.models import build_model
from saliencylab.settings import CheckedModel
from saliencylab.train.procedures import Traditional, TrainingProcedure
from saliencylab.utils import (
    check_finite,
    eval_mode,
    make_generator,
    model_device,
    resolve_device,
    seed_everything,
)

CHECKPOINT_FORMAT = 1


class TrainConfig(CheckedModel):
    """Settings of one training run; hashed into cache keys, stored in checkpoints."""

    epochs: int = Field(100, ge=1, description="maximum number of epochs")
    batch_size: int = Field(50, ge=1)
    lr: float = Field(1e-3, gt=0)
    optimizer: Literal["adam", "adamw", "sgd", "adadelta"] = "adam"
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(15, ge=1, description="epochs without validation gain before stopping")
    grad_clip: float | None = Field(None, gt=0)
    seed: int = 0
    device: str = "auto"
    min_test_accuracy: float = Field(0.95, ge=0, le=1,
                                     description="gate for 'fit to interpret' ([TSB] §5: 95 %)")
    eval_batch_size: int = Field(512, ge=1)
    segmentation_loss: Literal["dice_ce", "ce"] = Field(
        "dice_ce", description="segmenters: generalized Dice + cross-entropy ([OBJ] Appendix "
        "B.3) or cross-entropy")


@dataclass
class TrainResult:
    """What a training run produced; ``model`` holds the selected (best validation) weights."""

    model: nn.Module
    best_epoch: int
    val_accuracy: float
    test_accuracy: float
    fit_to_interpret: bool
    seconds: float
    epoch_seconds: list[float] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    procedure: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best_epoch,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "fit_to_interpret": self.fit_to_interpret,
            "seconds": self.seconds,
            "epochs_run": len(self.epoch_seconds),
        }


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    kwargs = {"lr": config.lr, "weight_decay": config.weight_decay}
    if config.optimizer == "adam":
        return torch.optim.Adam(params, **kwargs)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, **kwargs)
    if config.optimizer == "adadelta":
        return torch.optim.Adadelta(params, **kwargs)
    return torch.optim.SGD(params, momentum=0.9, **kwargs)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in eval mode, in chunks, on the model's device."""
    device = model_device(model)
    with eval_mode(model):
        out = [model(x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Fraction of samples (of (sample, step) pairs for per-step logits) whose arg-max logit
    equals the label."""
    if len(x) != len(y):
        raise ShapeError(f"inputs and labels must have the same length, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise SaliencyLabError("cannot compute accuracy on an empty split")
    logits = predict_logits(model, x, batch_size)
    return float((logits.argmax(-1).cpu() == y.cpu()).float().mean())


def _check_split(split: Any, name: str) -> None:
    for attr in ("x", "y"):
        if not hasattr(split, attr):
            raise SaliencyLabError(f"dataset.{name} must have .x and .y tensors, it lacks .{attr}")
    check_finite(split.x, f"dataset.{name}.x")
    if len(split.x) != len(split.y):
        raise ShapeError(
            f"dataset.{name}: x has {len(split.x)} samples but y has {len(split.y)} labels"
        )


def fit(
    model: nn.Module,
    dataset: Any,
    config: TrainConfig | None = None,
    procedure: TrainingProcedure | None = None,
    *,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` on ``dataset.train``, select on ``dataset.val``, report ``dataset.test``.

    Args:
        model: a classifier returning logits.
        dataset: anything with ``.train``, ``.val`` and ``.test`` splits holding ``x`` and ``y``.
        config: training settings (defaults: Adam 1e-3, batch 50, up to 100 epochs).
        procedure: how a batch becomes a loss; :class:`Traditional` (cross-entropy) by default,
            :class:`saliencylab.train.saliency_guided.SaliencyGuided` for [SGT].
        progress: show a rich progress bar.

    Returns:
        A :class:`TrainResult` whose ``model`` holds the best-validation weights.
    """
    config = config or TrainConfig()
    procedure = procedure or Traditional()
    if not isinstance(procedure, TrainingProcedure):
        raise ConfigError(
            f"procedure must have name, loss(model, x, y, generator) and params(); "
            f"got {type(procedure).__name__}"
        )
    for name in ("train", "val", "test"):
        _check_split(getattr(dataset, name, None) if hasattr(dataset, name) else None, name)
    if len(dataset.val.x) == 0:
        raise ConfigError("the validation split is empty: checkpoints are selected on it")

    seed_everything(config.seed)
    device = resolve_device(config.device)
    model.to(device)
    optimizer = _make_optimizer(model, config)
    shuffle_gen = make_generator(config.seed)
    proc_gen = make_generator(config.seed + 1, device)
    x_train, y_train = dataset.train.x, dataset.train.y
    n = len(x_train)
    n_batches = math.ceil(n / config.batch_size)

    best_state = copy.deepcopy(model.state_dict())
    best = (-1.0, math.inf)  # (val accuracy, val loss): higher accuracy, then lower loss wins
    best_epoch, stale = 0, 0
    history: list[dict[str, float]] = []
    epoch_seconds: list[float] = []
    start = time.perf_counter()

    columns = (
        TextColumn("[bold]train[/] {task.fields[label]}"),
        BarColumn(),
        TextColumn("epoch {task.completed}/{task.total}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task(
            "train", total=config.epochs, label=type(model).__name__, status=""
        )
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=shuffle_gen)
            total_loss = 0.0
            for b in range(n_batches):
                idx = order[b * config.batch_size : (b + 1) * config.batch_size]
                xb, yb = x_train[idx].to(device), y_train[idx].to(device)
                optimizer.zero_grad(set_to_none=True)
                loss, _ = procedure.loss(model, xb, yb, proc_gen)
                if not torch.isfinite(loss):
                    raise SaliencyLabError(
                        f"training loss became {loss.item()} at epoch {epoch}; "
                        "lower the learning rate or check the data"
                    )
                loss.backward()
                if config.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                total_loss += float(loss.detach()) * len(idx)
            epoch_seconds.append(time.perf_counter() - t0)

            val_logits = predict_logits(model, dataset.val.x, config.eval_batch_size)
            # Per-step logits (B, T, C) of segmenters are scored per (sample, step).
            val_y = dataset.val.y.to(val_logits.device).reshape(-1)
            val_logits = val_logits.reshape(-1, val_logits.shape[-1])
            val_loss = float(F.cross_entropy(val_logits, val_y))
            val_acc = float((val_logits.argmax(-1) == val_y).float().mean())
            history.append(
                {"epoch": epoch, "train_loss": total_loss / n, "val_loss": val_loss,
                 "val_accuracy": val_acc}
            )
            if (val_acc, -val_loss) > (best[0], -best[1]):
                best, best_epoch, stale = (val_acc, val_loss), epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
            bar.update(task, advance=1, status=f"val acc {val_acc:.3f} (best {best[0]:.3f})")
            if stale >= config.patience:
                break

    model.load_state_dict(best_state)
    model.eval()
    test_acc = accuracy(model, dataset.test.x, dataset.test.y, config.eval_batch_size)
    return TrainResult(
        model=model,
        best_epoch=best_epoch,
        val_accuracy=best[0],
        test_accuracy=test_acc,
        fit_to_interpret=test_acc >= config.min_test_accuracy,
        seconds=time.perf_counter() - start,
        epoch_seconds=epoch_seconds,
        history=history,
        procedure=procedure.params(),
    )


def _to_plain(obj: Any) -> Any:
    if obj is None:
        return None
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return dict(obj)


def make_checkpoint(
    model: nn.Module,
    *,
    data_config: Any = None,
    data_spec: dict[str, Any] | None = None,
    task: dict[str, Any] | None = None,
    train_config: TrainConfig | None = None,
    procedure: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything needed to rebuild ``model`` and find its data, as a dict of plain values and
    CPU tensors (readable with ``torch.load(weights_only=True)``).

    ``data_spec`` is the dataset's recipe (``Dataset.spec``: source name, process, data
    directory, seed, options) and ``task`` the training task that made the model, so
    ``explain`` and ``evaluate`` need the checkpoint file alone. The model must carry
    ``model.config`` (every registry model does).
    """
    if not isinstance(getattr(model, "config", None), dict):
        raise SaliencyLabError(
            "checkpoints need a model built by saliencylab.models.build_model "
            "(it carries .config to rebuild it)"
        )
    return {
        "format": CHECKPOINT_FORMAT,
        "model_config": dict(model.config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "data_config": _to_plain(data_config),
        "data_spec": dict(data_spec or {}),
        "task": dict(task or {}),
        "train_config": _to_plain(train_config),
        "procedure": procedure or {},
        "metrics": metrics or {},
    }


def write_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write a checkpoint dict atomically (temporary name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def save_checkpoint(path: str | Path, model: nn.Module, **info: Any) -> Path:
    """Write weights with everything needed to rebuild the model from the file alone.

    Keyword arguments are those of :func:`make_checkpoint` (data_config, train_config,
    procedure, metrics). A crash never leaves a half-written file.
    """
    return write_checkpoint(path, make_checkpoint(model, **info))


def model_from_checkpoint(
    payload: dict[str, Any], device: str | torch.device | None = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint dict; returns ``(model in eval mode, info)``.

    Raises:
        SaliencyLabError: not a checkpoint of this format, or weights that do not fit the
            recorded model (the message lists the missing, unexpected and mis-shaped keys).
    """
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise SaliencyLabError(f"not a saliencylab checkpoint (format {CHECKPOINT_FORMAT})")
    for key in ("model_config", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise SaliencyLabError(f"the checkpoint has no {key} (a dict); it is damaged or not "
                                   "one saliencylab wrote")
    model = build_model(**payload["model_config"])
    _check_state(model, payload["state_dict"], payload["model_config"].get("name", "model"))
    model.load_state_dict(payload["state_dict"])
    model.to(resolve_device(device)).eval()
    return model, {k: v for k, v in payload.items() if k != "state_dict"}


def _check_state(model: nn.Module, state: dict[str, Any], name: str) -> None:
    """Say which keys and shapes of ``state`` differ from ``model``'s before loading it."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else None for k, v in state.items()}
    missing, unexpected = sorted(want.keys() - have), sorted(have.keys() - want)
    shapes = [f"{k}: {have[k]} instead of {want[k]}" for k in sorted(want.keys() & have.keys())
              if have[k] != want[k]]
    if not (missing or unexpected or shapes):
        return
    parts = [f"missing {', '.join(missing[:8])}" if missing else "",
             f"unexpected {', '.join(unexpected[:8])}" if unexpected else "",
             f"shapes {'; '.join(shapes[:8])}" if shapes else ""]
    raise SaliencyLabError(f"the checkpoint's weights do not fit the {name} its model_config "
                           f"describes: " + "; ".join(p for p in parts if p))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict in ``path``, read with ``weights_only=True`` (tensors and plain
    values only: a file cannot run code when it is loaded).

    A file that holds other Python objects (an older checkpoint with NumPy values, or one
    crafted to run code) is refused; ``saliencylab convert FILE`` rewrites one whose extra
    objects are NumPy values or paths, without running code either.
    """
    return _load_file(path, (), f"If it is an older checkpoint holding NumPy values or paths, "
                                f"rewrite it once with `saliencylab convert {path}` (that reads "
                                f"no other objects)")


def _load_file(path: str | Path, allowed: list[Any] | tuple, refusal: str) -> dict[str, Any]:
    """The dict ``torch.load(weights_only=True)`` reads from ``path``, with the extra types
    ``allowed`` by name; ``refusal`` says what to do when the file holds other objects."""
    path = Path(path)
    if not path.is_file():
        raise SaliencyLabError(f"checkpoint file not found: {path}")
    try:
        with torch.serialization.safe_globals(list(allowed)):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # Python objects beyond what is allowed
        raise UnsafeCheckpointError(
            f"{path} holds Python objects that loading would have to execute, so it was not "
            f"loaded. {refusal}") from None
    except Exception as exc:  # truncated, not a torch file, ...
        raise SaliencyLabError(f"{path} is not a readable saliencylab checkpoint: {exc}") from exc
    if not isinstance(payload, dict):
        raise SaliencyLabError(f"{path} is not a saliencylab checkpoint (it holds a "
                               f"{type(payload).__name__}, not a dict)")
    return payload


def _convertible_globals() -> list[Any]:
    """The types beyond tensors and plain values that :func:`convert_checkpoint` may read:
    NumPy scalars, dtypes and arrays, and paths. Unpickling them builds data, never runs code."""
    import pathlib

    import numpy as np

    core = np._core if hasattr(np, "_core") else np.core
    # NumPy 1 pickles name these numpy.core.multiarray.*, NumPy 2 numpy._core.multiarray.*
    builders = [(f, f"numpy.{m}.multiarray.{f.__name__}")
                for f in (core.multiarray.scalar, core.multiarray._reconstruct)
                for m in ("core", "_core")]
    dtypes = [type(np.dtype(c)) for c in "?bhilqBHILQefdgFDGUS"]
    return [*builders, np.ndarray, np.dtype, *dtypes, pathlib.Path, pathlib.PosixPath,
            pathlib.PurePosixPath, pathlib.WindowsPath, pathlib.PureWindowsPath]


def _plain_values(obj: Any) -> Any:
    """``obj`` with NumPy values as tensors or numbers and paths as strings, so that the result
    loads with ``weights_only=True``."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _plain_values(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain_values(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def convert_checkpoint(source: str | Path, target: str | Path | None = None) -> Path:
    """Rewrite a checkpoint that holds NumPy values or paths (what older checkpoints could
    hold besides tensors) as plain tensors and values.

    The file is read with ``weights_only=True`` and only the NumPy and path types allowed
    (:func:`_convertible_globals`): like every other load, it cannot run code. A file with any
    other Python object is refused (:class:`~saliencylab.errors.UnsafeCheckpointError`): re-save
    its weights with :func:`save_checkpoint` from the code that made it. The model is rebuilt
    from its recorded config (so the weights are checked); the task and data recipe are kept.
    ``target`` defaults to ``source`` itself.
    """
    payload = _load_file(source, _convertible_globals(),
                         "Besides tensors and plain values only NumPy values and paths are "
                         "read, so it is not converted; re-save the weights with "
                         "saliencylab.train.save_checkpoint from the code that made the model")
    payload = _plain_values(payload)
    model, info = model_from_checkpoint(payload)
    plain = make_checkpoint(model, data_config=info.get("data_config"),
                            data_spec=info.get("data_spec"), task=info.get("task"),
                            procedure=info.get("procedure"), metrics=info.get("metrics"))
    plain["train_config"] = info.get("train_config")
    out = write_checkpoint(Path(target) if target is not None else source, plain)
    read_checkpoint(out)  # the rewritten file loads safely
    return out


def load_checkpoint(
    path: str | Path, device: str | torch.device | None = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint file; returns ``(model in eval mode, info)``.

    ``info`` holds ``model_config``, ``data_config``, ``train_config``, ``procedure``, ``metrics``.
    """
    path = Path(path)
    if not path.is_file():
        raise SaliencyLabError(f"checkpoint file not found: {path}")
    payload = read_checkpoint(path)
    try:
        return model_from_checkpoint(payload, device)
    except SaliencyLabError as exc:
        raise prefixed(exc, path) from exc
