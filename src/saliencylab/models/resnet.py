"""ResNet-18 and VGG-16 for images, our own code (no torchvision needed).

[SGT] (Ismail, Corrada Bravo, Feizi, NeurIPS 2021; supplement Table 1) trains ResNet-18 on
CIFAR-10 and VGG-16 with a resized head on BIRD.

* :class:`ResNet18`: He et al. 2016, basic blocks [2, 2, 2, 2] with widths 64-512. ``stem="cifar"``
  is the 3 x 3 stride-1 convolution without max-pool of the CIFAR variant (11,173,962
  parameters for 10 classes); ``stem="imagenet"`` the 7 x 7 stride-2 convolution and 3 x 3
  max-pool (11,689,512 parameters for 1000 classes, as torchvision's ``resnet18``).
* :class:`VGG16`: Simonyan & Zisserman 2015, configuration D, adaptive average pool to 7 x 7 and
  the 4096-4096 classifier whose last layer is sized to ``n_classes`` (138,357,544 parameters
  for 1000 classes, as torchvision's ``vgg16``); ``batch_norm=True`` adds batch norm.

A torchvision model a user brings is an ``nn.Module`` and works with every method and metric too.
Every ReLU is its own module (not in place), so hooks of the attribution methods see each use.

Example:
    >>> model = ResNet18(n_classes=10, image_size=32)
    >>> model(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from saliencylab.errors import ConfigError
from saliencylab.models.base import boolean, positive_int, probability
from saliencylab.models.vision import ImageClassifier, _image_size

__all__ = ["VGG16", "VGG16_LAYERS", "BasicBlock", "ResNet18", "ResNet18ImageNet"]


class BasicBlock(nn.Module):
    """Two 3 x 3 conv-BN layers with an identity (or 1 x 1 projection) shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False),
                                          nn.BatchNorm2d(planes))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet18(ImageClassifier):
    """ResNet-18 on ``(batch, channels, height, width)``, returning logits.

    Args:
        in_channels: image channels (CIFAR 3).
        image_size: ``int`` or ``[height, width]`` (CIFAR 32, ImageNet 224).
        n_classes: number of classes.
        stem: ``"cifar"`` (3 x 3 conv, stride 1, no pool) or ``"imagenet"`` (7 x 7 conv, stride
            2, 3 x 3 max-pool).
        width: channels of the first stage (64; the stages double it).

    ``feature_layer`` is the last residual stage (GradCAM target).

    >>> sum(p.numel() for p in ResNet18(n_classes=10).parameters())
    11173962
    """

    name: ClassVar[str] = "resnet18"
    default_stem: ClassVar[str] = "cifar"

    def __init__(self, in_channels: int = 3, image_size: int | list[int] | tuple[int, int] = 32,
                 n_classes: int = 10, stem: str | None = None, width: int = 64) -> None:
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.image_size = _image_size(image_size)
        self.n_classes = positive_int("n_classes", n_classes, minimum=2)
        stem = self.default_stem if stem is None else stem
        if stem not in ("cifar", "imagenet"):
            raise ConfigError(f"stem must be 'cifar' or 'imagenet', got {stem!r}")
        width = positive_int("width", width)
        if stem == "imagenet" and min(self.image_size) < 32:
            raise ConfigError(f"the imagenet stem reduces the image 32-fold: image_size must be "
                              f">= 32 per side, got {self.image_size}")
        self.config: dict[str, Any] = {"name": self.name, "in_channels": self.in_channels,
                                       "image_size": self.image_size,
                                       "n_classes": self.n_classes, "stem": stem, "width": width}
        if stem == "cifar":
            self.stem = nn.Sequential(nn.Conv2d(self.in_channels, width, 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU())
        else:
            self.stem = nn.Sequential(nn.Conv2d(self.in_channels, width, 7, 2, 3, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU(),
                                      nn.MaxPool2d(3, 2, 1))
        stages, planes = [], width
        for i, w in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(planes, w, stride), BasicBlock(w, w)))
            planes = w
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(planes, self.n_classes)

    @property
    def feature_layer(self) -> nn.Module:
        """The last residual stage (its output is the last convolutional feature map)."""
        return self.layer4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        h = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(self.flatten(self.pool(h)))


class ResNet18ImageNet(ResNet18):
    """:class:`ResNet18` with the ImageNet stem by default (``image_size`` 224, 1000 classes).

    >>> sum(p.numel() for p in ResNet18ImageNet().parameters())
    11689512
    """

    name: ClassVar[str] = "resnet18_imagenet"
    default_stem: ClassVar[str] = "imagenet"

    def __init__(self, in_channels: int = 3, image_size: int | list[int] | tuple[int, int] = 224,
                 n_classes: int = 1000, stem: str | None = None, width: int = 64) -> None:
        super().__init__(in_channels, image_size, n_classes, stem, width)


#: Configuration D of Simonyan & Zisserman: conv widths, ``"M"`` = 2 x 2 max-pool.
VGG16_LAYERS: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512,
                                       512, "M", 512, 512, 512, "M")


class VGG16(ImageClassifier):
    """VGG-16 with its classifier's last layer sized to ``n_classes``, returning logits.

    Args:
        in_channels, image_size, n_classes: input and output sizes (the image needs >= 32
            pixels per side for the five pools).
        hidden: width of the two hidden fully connected layers (4096).
        dropout: dropout of the classifier (0.5).
        batch_norm: batch norm after each convolution.

    >>> sum(p.numel() for p in VGG16(n_classes=1000, image_size=32).parameters())
    138357544
    """

    name: ClassVar[str] = "vgg16"

    def __init__(self, in_channels: int = 3, image_size: int | list[int] | tuple[int, int] = 224,
                 n_classes: int = 1000, hidden: int = 4096, dropout: float = 0.5,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.image_size = _image_size(image_size)
        self.n_classes = positive_int("n_classes", n_classes, minimum=2)
        hidden = positive_int("hidden", hidden)
        dropout = probability("dropout", dropout)
        batch_norm = boolean("batch_norm", batch_norm)
        if min(self.image_size) < 32:
            raise ConfigError(f"VGG-16's five 2 x 2 pools need image_size >= 32 per side, got "
                              f"{self.image_size}")
        self.config: dict[str, Any] = {"name": self.name, "in_channels": self.in_channels,
                                       "image_size": self.image_size,
                                       "n_classes": self.n_classes, "hidden": hidden,
                                       "dropout": dropout, "batch_norm": batch_norm}
        layers: list[nn.Module] = []
        channels = self.in_channels
        for spec in VGG16_LAYERS:
            if spec == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            layers.append(nn.Conv2d(channels, int(spec), 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(int(spec)))
            layers.append(nn.ReLU())
            channels = int(spec)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((7, 7))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(channels * 49, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, self.n_classes))

    @property
    def feature_layer(self) -> nn.Module:
        """The last ReLU of the convolutional part (GradCAM target)."""
        return self.features[-2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.classifier(self.flatten(self.pool(self.features(x))))
