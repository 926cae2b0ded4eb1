"""Model registry: name -> constructor, with option checking.

>>> model = build_model("lstm", n_features=3, n_time=10, hidden_size=8)
>>> rebuilt = build_model(**model.config)   # same architecture
>>> sorted(list_models(kind="classifier"))  # doctest: +NORMALIZE_WHITESPACE
['fcn', 'lstm', 'lstm_ica', 'series_cnn', 'tcn', 'tcn_bivariate', 'tcn_obj', 'tcn_reshaped',
 'tcn_univariate', 'transformer']
>>> sorted(list_models(kind="segmenter"))
['bilstm_seg', 'utime']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from saliencylab.errors import ConfigError, NotApplicableError, UnknownNameError
from saliencylab.models.fcn import FCNClassifier, TCNObjClassifier
from saliencylab.models.input_cell_attention import LSTMInputCellAttention
from saliencylab.models.lstm import LSTMClassifier
from saliencylab.models.resnet import VGG16, ResNet18, ResNet18ImageNet
from saliencylab.models.segmentation import BiLSTMSegmenter, UTimeSegmenter
from saliencylab.models.series_cnn import BivariateTCN, ReshapedTCN, SeriesCNN, UnivariateTCN
from saliencylab.models.tcn import TCNClassifier
from saliencylab.models.text import (
    BiLSTMTextClassifier,
    TransformerTextClassifier,
    build_text_model_for,
)
from saliencylab.models.transformer import TransformerClassifier
from saliencylab.models.vision import MnistCNN

_SIZE_ARGS = ("n_features", "n_time", "n_classes")
_TIME_SERIES_KINDS = ("classifier", "segmenter")


@dataclass(frozen=True)
class ModelInfo:
    """A registered model.

    ``kind`` is ``"classifier"`` for time-series classifiers on ``(batch, time, features)``
    (built from ``n_features`` and ``n_time``), ``"segmenter"`` for time-series segmenters (same
    input, per-step logits ``(batch, time, n_classes)``) and ``"image_classifier"`` for image
    models on ``(batch, channels, height, width)`` (built from their own size options).
    """

    constructor: Callable[..., nn.Module]
    description: str
    kind: str = "classifier"
    layout: str = "(batch, time, features)"

    @property
    def options(self) -> dict[str, Any]:
        """The constructor's options (all but the sizes) and their defaults."""
        params = inspect.signature(self.constructor).parameters
        return {
            name: p.default
            for name, p in params.items()
            if name not in ("n_features", "n_time") and p.kind is p.POSITIONAL_OR_KEYWORD
        }


MODELS: dict[str, ModelInfo] = {
    "lstm": ModelInfo(LSTMClassifier, "one-layer LSTM, last hidden state -> linear [TSB]"),
    "lstm_ica": ModelInfo(
        LSTMInputCellAttention, "LSTM with input-cell attention (r hops over x_1..x_t) [ICA]"
    ),
    "tcn": ModelInfo(
        TCNClassifier, "dilated causal residual TCN with weight norm, max-pool over time [TSB]"
    ),
    "transformer": ModelInfo(
        TransformerClassifier,
        "pre-norm Transformer encoder, sinusoidal positions, max-pool over time [TSB]",
    ),
    "fcn": ModelInfo(
        FCNClassifier,
        "FCN: 4 unpadded conv-BN-ReLU blocks, 1x1 class projection, global max pool [OBJ]",
    ),
    "tcn_obj": ModelInfo(
        TCNObjClassifier, "TCN: 4 residual dilated causal blocks, global pooling, linear [OBJ]"
    ),
    "bilstm_seg": ModelInfo(
        BiLSTMSegmenter,
        "bi-LSTM segmenter: per-step logits (batch, time, n_classes) [OBJ]",
        kind="segmenter",
    ),
    "utime": ModelInfo(
        UTimeSegmenter,
        "U-Time segmenter: dilated conv U-Net, per-step logits (batch, time, n_classes) [OBJ]",
        kind="segmenter",
    ),
    "mnist_cnn": ModelInfo(
        MnistCNN,
        "2-conv CNN for small images (the MNIST network) [SGT]",
        kind="image_classifier",
        layout="(batch, channels, height, width)",
    ),
    "resnet18": ModelInfo(
        ResNet18, "ResNet-18, CIFAR stem (3x3 conv, no pool); stem=imagenet for 7x7 + pool [SGT]",
        kind="image_classifier", layout="(batch, channels, height, width)",
    ),
    "resnet18_imagenet": ModelInfo(
        ResNet18ImageNet, "ResNet-18 with the ImageNet stem (7x7 stride-2 conv, 3x3 max-pool)",
        kind="image_classifier", layout="(batch, channels, height, width)",
    ),
    "vgg16": ModelInfo(
        VGG16, "VGG-16 (configuration D), last layer sized to the classes (BIRD) [SGT]",
        kind="image_classifier", layout="(batch, channels, height, width)",
    ),
}


def list_models(kind: str | None = None) -> list[str]:
    """Registered model names, optionally only those of one ``kind``.

    >>> "tcn" in list_models()
    True
    """
    return [name for name, info in MODELS.items() if kind is None or info.kind == kind]


def get_model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of ``name``; ``UnknownNameError`` listing valid names otherwise."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in MODELS:
        raise UnknownNameError("model", name, MODELS)
    return MODELS[key]


def build_model(
    name: str,
    n_features: int | None = None,
    n_time: int | None = None,
    n_classes: int | None = None,
    *,
    seed: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from :func:`list_models` (case-insensitive).
        n_features, n_time: input size of a time-series model ``(batch, time, features)``;
            required for kind ``"classifier"``, refused for image models (which take
            ``in_channels`` and ``image_size`` options instead).
        n_classes: number of classes; None uses the model's default (2 for time series).
        seed: if given, the weights are initialised from this seed without touching the global
            random state, so the same seed gives the same model.
        **kwargs: model options, see ``MODELS[name].options``.

    ``build_model(**model.config)`` rebuilds a model with the same architecture.

    >>> model = build_model("tcn", n_features=5, n_time=20, seed=0)
    >>> model(torch.zeros(2, 20, 5)).shape
    torch.Size([2, 2])
    """
    info = get_model_info(name)
    options = info.options
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for model {name!r}; "
            f"valid options: {', '.join(sorted(options))}"
        )
    args: dict[str, Any] = dict(kwargs)
    if n_classes is not None:
        args["n_classes"] = n_classes
    if info.kind in _TIME_SERIES_KINDS:
        if n_features is None or n_time is None:
            raise ConfigError(
                f"model {name!r} takes input {info.layout}: pass n_features and n_time, "
                f"got n_features={n_features!r}, n_time={n_time!r}"
            )
        args["n_features"], args["n_time"] = n_features, n_time
    elif n_features is not None or n_time is not None:
        raise ConfigError(
            f"model {name!r} is an {info.kind} on {info.layout}; it takes no n_features/n_time "
            f"(use its options {', '.join(sorted(options))})"
        )
    if seed is None:
        return info.constructor(**args)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return info.constructor(**args)


# [TSB] §6 / Figure 8: the series as an image (2-D CNN) and the TCN on reshaped series.
MODELS["series_cnn"] = ModelInfo(
    SeriesCNN, "2-D CNN on the series as a one-channel T x F image (3x3 conv-ReLU-pool blocks) "
    "[TSB] §6")
MODELS["tcn_reshaped"] = ModelInfo(
    ReshapedTCN, "[TSB] TCN on the series reshaped into group-channel series (F/group * T "
    "steps); maps stay (T, F) [TSB] §6")
MODELS["tcn_univariate"] = ModelInfo(
    UnivariateTCN, "[TSB] TCN on the F series concatenated into one (F * T steps) [TSB] §6")
MODELS["tcn_bivariate"] = ModelInfo(
    BivariateTCN, "[TSB] TCN on feature pairs concatenated in time (F/2 * T steps, 2 "
    "channels) [TSB] §6")

# Text classifiers on (batch, tokens) token ids ([SGT] Section 5.2), sized by build_model_for.
MODELS["bilstm"] = ModelInfo(
    BiLSTMTextClassifier, "embedding (GloVe) -> bidirectional LSTM -> linear, on token ids [SGT]",
    kind="text_classifier", layout="(batch, tokens) token ids")
MODELS["text_transformer"] = ModelInfo(
    TransformerTextClassifier, "small pre-norm Transformer encoder on token ids, valid-token "
    "mean -> linear", kind="text_classifier", layout="(batch, tokens) token ids")

#: The model kinds that fit each (modality, task) of a dataset.
_KIND_FOR_DATA = {("time_series", "classification"): "classifier",
                  ("time_series", "segmentation"): "segmenter",
                  ("image", "classification"): "image_classifier"}
_KIND_FOR_DATA[("text", "classification")] = "text_classifier"


def build_model_for(name: str, data: Any, *, seed: int | None = None, **kwargs: Any) -> nn.Module:
    """Build model ``name`` sized for ``data`` (a :class:`saliencylab.data.Dataset`): input
    length, features or channels, image size and number of classes come from the data.

    Raises:
        NotApplicableError: the model does not fit the data's modality or task (a classifier
            on segmentation data, an image model on series, ...).

    >>> from saliencylab.data import load_dataset
    >>> data = load_dataset("Middle", n_train=20, n_test=4, cache=False)
    >>> build_model_for("tcn", data).config["n_features"]
    50
    """
    info = get_model_info(name)
    modality, task = getattr(data, "modality", "time_series"), getattr(data, "task",
                                                                       "classification")
    want = _KIND_FOR_DATA.get((modality, task))
    if info.kind != want:
        fitting = [n for n, m in MODELS.items() if m.kind == want]
        raise NotApplicableError(
            f"model {name!r} is a {info.kind} on {info.layout}; the data is {modality} "
            f"{task}, which takes: {', '.join(fitting) or 'no registered model'}")
    if modality == "text":  # vocabulary and classes from the data, GloVe copied in
        return build_text_model_for(build_model, name, data, seed=seed, **kwargs)
    if modality == "image":
        channels, height, width = data.input_shape
        kwargs = {"in_channels": channels, "image_size": (height, width), **kwargs}
        return build_model(name, n_classes=data.n_classes, seed=seed, **kwargs)
    return build_model(name, n_features=data.n_features, n_time=data.n_time,
                       n_classes=data.n_classes, seed=seed, **kwargs)
