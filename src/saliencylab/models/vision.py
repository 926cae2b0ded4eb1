"""Small 2-D CNN for images, the MNIST network of saliency guided training.

[SGT] Ismail, Corrada Bravo, Feizi. *Improving Deep Learning Interpretability by Saliency Guided
Training.* NeurIPS 2021: conv32(3) → ReLU → conv64(3) → ReLU → max-pool 2 → dropout 0.25 →
fc128 → ReLU → dropout 0.5 → fc10. Input channels, image size and class count are options.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from saliencylab.errors import ConfigError, InvalidDataError, ShapeError
from saliencylab.models.base import positive_int, positive_int_list, probability


def _image_size(value: Any) -> list[int]:
    if isinstance(value, bool):
        raise ConfigError(f"image_size must be an int or [height, width], got {value!r}")
    if isinstance(value, int):
        value = [value, value]
    size = positive_int_list("image_size", value)
    if len(size) != 2:
        raise ConfigError(f"image_size must be an int or [height, width], got {value!r}")
    return size


class ImageClassifier(nn.Module):
    """Base of the image models: ``(batch, in_channels, height, width)`` checked, logits out."""

    name: ClassVar[str] = "image_model"
    layout: ClassVar[str] = "(batch, channels, height, width)"
    in_channels: int
    image_size: list[int]

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ShapeError`` unless ``x`` is ``(batch, in_channels, height, width)``."""
        expected = (self.in_channels, *self.image_size)
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != expected:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ShapeError(
                f"{self.name} expects input of shape {self.layout} = (B, {expected[0]}, "
                f"{expected[1]}, {expected[2]}), got {got}"
            )
        if not x.is_floating_point():
            raise InvalidDataError(f"{self.name} expects a floating-point input, got {x.dtype}")


class MnistCNN(ImageClassifier):
    """The [SGT] MNIST CNN on ``(batch, channels, height, width)``, returning logits.

    Args:
        in_channels: image channels (MNIST 1).
        image_size: ``int`` or ``[height, width]`` (MNIST 28); the two valid 3x3 convolutions
            and the 2x2 pool need at least 6 pixels per side.
        n_classes: number of classes (MNIST 10).
        channels: output channels of the two convolutions (reference [32, 64]).
        hidden: width of the hidden fully connected layer (reference 128).
        dropout_conv, dropout_fc: dropout after the pool and after the hidden layer
            (reference 0.25, 0.5).

    ``feature_layer`` (``relu2``) outputs the last convolutional feature map (GradCAM target).

    >>> model = MnistCNN()
    >>> model(torch.randn(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    name: ClassVar[str] = "mnist_cnn"

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int | list[int] | tuple[int, int] = 28,
        n_classes: int = 10,
        channels: list[int] | tuple[int, int] = (32, 64),
        hidden: int = 128,
        dropout_conv: float = 0.25,
        dropout_fc: float = 0.5,
    ) -> None:
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.image_size = _image_size(image_size)
        self.n_classes = positive_int("n_classes", n_classes, minimum=2)
        channels = positive_int_list("channels", channels)
        if len(channels) != 2:
            raise ConfigError(f"channels must list 2 convolution widths, got {channels!r}")
        hidden = positive_int("hidden", hidden)
        dropout_conv = probability("dropout_conv", dropout_conv)
        dropout_fc = probability("dropout_fc", dropout_fc)
        height, width = ((s - 4) // 2 for s in self.image_size)
        if height < 1 or width < 1:
            raise ConfigError(f"image_size must be at least 6 pixels per side, got {image_size!r}")
        self.config: dict[str, Any] = {
            "name": self.name,
            "in_channels": self.in_channels,
            "image_size": self.image_size,
            "n_classes": self.n_classes,
            "channels": channels,
            "hidden": hidden,
            "dropout_conv": dropout_conv,
            "dropout_fc": dropout_fc,
        }
        self.conv1 = nn.Conv2d(self.in_channels, channels[0], 3)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.dropout1 = nn.Dropout(dropout_conv)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(channels[1] * height * width, hidden)
        self.relu3 = nn.ReLU()
        self.dropout2 = nn.Dropout(dropout_fc)
        self.fc2 = nn.Linear(hidden, self.n_classes)

    @property
    def feature_layer(self) -> nn.Module:
        """Module whose output is the last convolutional feature map (GradCAM target)."""
        return self.relu2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        h = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        h = self.flatten(self.dropout1(self.pool(h)))
        return self.fc2(self.dropout2(self.relu3(self.fc1(h))))
