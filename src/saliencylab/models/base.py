"""Shared pieces of the model zoo: the time-series base class, option checks, the cuDNN guard.

Every classifier takes ``(batch, time, features)`` and returns logits ``(batch, n_classes)``;
``model.config`` holds everything :func:`saliencylab.models.build_model` needs to rebuild it.
"""

from __future__ import annotations

import contextlib
import math
import operator
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from saliencylab.errors import ConfigError, InvalidDataError, ShapeError


def positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """``value`` as an ``int`` >= ``minimum``, else ``ConfigError`` (bools are refused)."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        ivalue = operator.index(value)
    except TypeError as exc:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}") from exc
    if ivalue < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {ivalue}")
    return ivalue


def probability(name: str, value: Any) -> float:
    """``value`` as a float in [0, 1), the range of a dropout rate, else ``ConfigError``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def positive_int_list(name: str, value: Any) -> list[int]:
    """A non-empty sequence of positive ints as a ``list`` (JSON-friendly for configs)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) == 0:
        raise ConfigError(f"{name} must be a non-empty list of positive integers, got {value!r}")
    return [positive_int(f"{name}[{i}]", v) for i, v in enumerate(value)]


def boolean(name: str, value: Any) -> bool:
    """``value`` if it is a bool, else ``ConfigError``."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value


def optional_bias(name: str, value: Any) -> float | None:
    """``None`` or a finite number (a bias to initialise), else ``ConfigError``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number or None, got {value!r}")
    return float(value)


def init_forget_bias(lstm: nn.LSTM, value: float | None) -> None:
    """Start ``lstm``'s forget gates at bias ``value`` (``b_ih`` = value, ``b_hh`` = 0 in the
    forget quarter of PyTorch's ``[i, f, g, o]`` layout); ``None`` keeps PyTorch's uniform
    initialisation (forget gates near 0.5 at the start).

    A forget bias of 1 (Jozefowicz et al., ICML 2015; Keras's ``unit_forget_bias`` default) lets
    a state survive many steps from the first update: with PyTorch's start a state halves at
    every step, and a block 20 steps before the last one barely reaches the classifier
    (``scripts/vanishing_lstm_probe.py``).
    """
    if value is None:
        return
    h = lstm.hidden_size
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias_ih"):
                p[h:2 * h] = value
            elif name.startswith("bias_hh"):
                p[h:2 * h] = 0.0


# ------------------------------------------------------------------------------------------------
# cuDNN guard for recurrent models
# ------------------------------------------------------------------------------------------------


def cudnn_rnn_workaround_needed(
    is_cuda: bool, training: bool, grad_enabled: bool, cudnn_enabled: bool
) -> bool:
    """Whether an RNN forward must run without cuDNN so that a backward pass is possible.

    cuDNN refuses the RNN backward in eval mode ("cudnn RNN backward can only be called in
    training mode"), yet saliency methods need input gradients of a model in eval mode. The
    native kernels have no such limit, so we switch cuDNN off exactly when all of these hold:
    CUDA input, eval mode, autograd recording, cuDNN currently on.

    >>> cudnn_rnn_workaround_needed(True, False, True, True)
    True
    >>> cudnn_rnn_workaround_needed(True, True, True, True)  # training mode: cuDNN is fine
    False
    """
    return bool(is_cuda and not training and grad_enabled and cudnn_enabled)


def rnn_context(x: torch.Tensor, training: bool) -> contextlib.AbstractContextManager:
    """Context to run a recurrent layer in: cuDNN off when a backward in eval mode may follow.

    The implementation (cuDNN or native) is picked at forward time and the backward follows the
    forward's choice, so disabling cuDNN around the forward alone is enough.

    >>> with rnn_context(torch.zeros(1, 3, 2), training=False):
    ...     pass
    """
    needed = cudnn_rnn_workaround_needed(
        bool(x.is_cuda), training, torch.is_grad_enabled(), bool(torch.backends.cudnn.enabled)
    )
    if needed:
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def pool_over_time(pool: nn.MaxPool1d | nn.AvgPool1d, h: torch.Tensor) -> torch.Tensor:
    """Max or mean over the time axis of ``h`` ``(batch, channels, time)`` -> ``(batch,
    channels)``.

    ``pool`` is an ``nn.MaxPool1d`` / ``nn.AvgPool1d`` whose kernel is the model's ``n_time``: a
    real module (as in the reference code) so Captum's DeepLIFT applies its pooling rule; inputs
    of another length fall back to the functional adaptive pool.
    """
    kernel = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[0]
    if h.shape[-1] == kernel:
        return pool(h)[..., 0]
    if isinstance(pool, nn.MaxPool1d):
        return F.adaptive_max_pool1d(h, 1)[..., 0]
    return F.adaptive_avg_pool1d(h, 1)[..., 0]


# ------------------------------------------------------------------------------------------------
# Base class
# ------------------------------------------------------------------------------------------------


class TimeSeriesClassifier(nn.Module):
    """Base of the time-series classifiers: stores ``config`` and validates inputs.

    Subclasses set ``name`` and ``option_checks`` and pass every constructor option to this
    constructor, so that
    ``build_model(**model.config)`` rebuilds an identical architecture.
    """

    name: ClassVar[str] = ""
    layout: ClassVar[str] = "(batch, time, features)"
    #: How each constructor option is checked: ``option -> check(name, value) -> value``. The
    #: base class applies the checks and records the checked values in ``config``, so a model
    #: declares its options once (signature defaults) and their rules once (here).
    option_checks: ClassVar[dict[str, Any]] = {}

    def __init__(self, n_features: int, n_time: int, n_classes: int, **options: Any) -> None:
        super().__init__()
        self.n_features = positive_int("n_features", n_features)
        self.n_time = positive_int("n_time", n_time)
        self.n_classes = positive_int("n_classes", n_classes, minimum=2)
        checked = {k: self.option_checks[k](k, v) if k in self.option_checks else v
                   for k, v in options.items()}
        self.config: dict[str, Any] = {"name": self.name, "n_features": self.n_features,
                                       "n_time": self.n_time, "n_classes": self.n_classes,
                                       **checked}

    @property
    def options(self) -> dict[str, Any]:
        """The checked constructor options (``config`` without the sizes and the name)."""
        return {k: v for k, v in self.config.items()
                if k not in ("name", "n_features", "n_time", "n_classes")}

    @property
    def feature_layer(self) -> nn.Module | None:
        """Module whose output is the last ``(batch, channels, time)`` feature map (for GradCAM);
        None when the architecture has none."""
        return None

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ShapeError`` unless ``x`` is ``(batch, time, n_features)`` with time >= 1."""
        if not isinstance(x, torch.Tensor):
            raise ShapeError(
                f"{self.name} expects a tensor of shape {self.layout}, got {type(x).__name__}"
            )
        if x.dim() != 3:
            raise ShapeError(
                f"{self.name} expects input of shape {self.layout} = (B, T, {self.n_features}), "
                f"got {x.dim()} dims {tuple(x.shape)}"
            )
        if x.shape[-1] != self.n_features:
            raise ShapeError(
                f"{self.name} was built for {self.n_features} features (last dim of {self.layout}),"
                f" got input of shape {tuple(x.shape)}"
            )
        if x.shape[1] < 1:
            raise ShapeError(f"{self.name} needs at least one time step, got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise InvalidDataError(f"{self.name} expects a floating-point input, got {x.dtype}")

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, n_time={self.n_time}, n_classes={self.n_classes}"
