"""Model zoo: time-series classifiers on ``(batch, time, features)`` returning logits.

>>> from saliencylab.models import build_model
>>> model = build_model("lstm", n_features=50, n_time=50)

Names: ``lstm``, ``lstm_ica`` (input-cell attention), ``tcn``, ``transformer`` ([TSB], [ICA]),
and the image model ``mnist_cnn`` ([SGT]). ``build_model(**model.config)`` rebuilds a model.
"""

from saliencylab.models.base import TimeSeriesClassifier, rnn_context
from saliencylab.models.input_cell_attention import InputCellAttention, LSTMInputCellAttention
from saliencylab.models.lstm import LSTMClassifier
from saliencylab.models.registry import (
    MODELS,
    ModelInfo,
    build_model,
    build_model_for,
    get_model_info,
    list_models,
)
from saliencylab.models.tcn import TCNClassifier, strip_weight_norm
from saliencylab.models.transformer import TransformerClassifier
from saliencylab.models.vision import MnistCNN

__all__ = [
    "MODELS",
    "InputCellAttention",
    "LSTMClassifier",
    "LSTMInputCellAttention",
    "MnistCNN",
    "ModelInfo",
    "TCNClassifier",
    "TimeSeriesClassifier",
    "TransformerClassifier",
    "build_model",
    "build_model_for",
    "get_model_info",
    "list_models",
    "rnn_context",
    "strip_weight_norm",
]
