"""ResNet-18 and VGG-16: published parameter counts, output shape, eval-mode input gradient and
the checkpoint round trip, on tiny inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from saliencylab.data import load_dataset
from saliencylab.errors import ConfigError, ShapeError
from saliencylab.models import build_model, build_model_for
from saliencylab.train import load_checkpoint, save_checkpoint


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_published_parameter_counts() -> None:
    # He et al. 2016, CIFAR-10 ResNet-18 (3x3 stem): 11,173,962; torchvision resnet18: 11,689,512.
    assert n_params(build_model("resnet18", n_classes=10)) == 11_173_962
    assert n_params(build_model("resnet18_imagenet", n_classes=1000)) == 11_689_512
    # Simonyan & Zisserman 2015, VGG-16 (D) with 1000 classes: 138,357,544 (construction only).
    assert n_params(build_model("vgg16", n_classes=1000, image_size=32)) == 138_357_544
    # The resized head: only the last layer changes, 4096 * (1000 - 260) weights + biases fewer.
    assert n_params(build_model("vgg16", n_classes=260, image_size=32)) == (
        138_357_544 - 4097 * 740)


@pytest.mark.parametrize("name, options, shape", [
    ("resnet18", {"width": 4, "image_size": 8}, (3, 8, 8)),
    ("resnet18_imagenet", {"width": 4, "image_size": 32, "in_channels": 1}, (1, 32, 32)),
    ("vgg16", {"hidden": 16, "image_size": 32}, (3, 32, 32)),
])
def test_shape_gradient_and_round_trip(tmp_path: Path, name: str, options: dict,
                                       shape: tuple) -> None:
    model = build_model(name, n_classes=5, seed=0, **options)
    x = torch.randn(2, *shape, requires_grad=True)
    model.eval()
    out = model(x)
    assert out.shape == (2, 5)
    (grad,) = torch.autograd.grad(out[:, 1].sum(), x)
    assert grad.shape == x.shape and bool(grad.abs().sum() > 0)
    path = save_checkpoint(tmp_path / f"{name}.pt", model)
    rebuilt, info = load_checkpoint(path)
    assert info["model_config"]["name"] == name
    assert torch.equal(rebuilt(x.detach()), model(x.detach()))
    with pytest.raises(ShapeError, match=r"\(batch, channels, height, width\)"):
        model(torch.randn(2, shape[0], shape[1] + 1, shape[2]))


def test_bad_options_and_sizing_from_data() -> None:
    with pytest.raises(ConfigError, match="stem"):
        build_model("resnet18", stem="tiny")
    with pytest.raises(ConfigError, match="32"):
        build_model("vgg16", image_size=16)
    data = load_dataset("digits")
    model = build_model_for("resnet18", data, width=4)
    assert model.config["in_channels"] == 1 and model.config["image_size"] == [8, 8]
    assert model(data.test.x[:3]).shape == (3, 10)
