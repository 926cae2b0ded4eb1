"""Model zoo: time-series classifiers on ``(batch, time, features)`` returning logits.

>>> from saliencylab.models import build_model
>>> model = build_model("lstm", n_features=50, n_time=50)

Names: ``lstm``, ``lstm_ica`` (input-cell attention), ``tcn``, ``transformer`` ([TSB], [ICA]),
and the image models ``mnist_cnn``, ``resnet18`` (CIFAR stem), ``resnet18_imagenet`` and
``vgg16`` ([SGT]), ``series_cnn`` / ``tcn_univariate`` / ``tcn_bivariate`` ([TSB] §6), and
the text models ``bilstm`` ([SGT] Section 5.2) and
``text_transformer`` on ``(batch, tokens)`` token ids. ``build_model(**model.config)`` rebuilds a
model.
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
from saliencylab.models.resnet import VGG16, ResNet18, ResNet18ImageNet
from saliencylab.models.series_cnn import ReshapedTCN, SeriesCNN
from saliencylab.models.tcn import TCNClassifier, strip_weight_norm
from saliencylab.models.text import BiLSTMTextClassifier, TransformerTextClassifier
from saliencylab.models.transformer import TransformerClassifier
from saliencylab.models.vision import MnistCNN

__all__ = [
    "BiLSTMTextClassifier",
    "MODELS",
    "InputCellAttention",
    "LSTMClassifier",
    "LSTMInputCellAttention",
    "MnistCNN",
    "ResNet18",
    "ResNet18ImageNet",
    "ReshapedTCN",
    "SeriesCNN",
    "ModelInfo",
    "TCNClassifier",
    "TimeSeriesClassifier",
    "TransformerClassifier",
    "TransformerTextClassifier",
    "VGG16",
    "build_model",
    "build_model_for",
    "get_model_info",
    "list_models",
    "rnn_context",
    "strip_weight_norm",
]
