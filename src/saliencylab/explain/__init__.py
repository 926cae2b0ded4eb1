"""Saliency maps for PyTorch models: every method of the papers behind one call.

>>> import torch
>>> from saliencylab.explain import explain, METHODS
>>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
>>> explain(net, torch.rand(2, 4, 3), 1, "gradient").attributions.shape
torch.Size([2, 4, 3])

See :func:`explain`, :data:`METHODS` (names, families, defaults; one :class:`Method` per
method), :mod:`saliencylab.explain.selection` (the accepted targets: classes, classes per time
step, output indices, ``None`` for regression) and :mod:`saliencylab.explain.postprocess`;
learned masks of [CS] §4 in :func:`learn_masks` (``method="learned_mask"``).
"""

from saliencylab.explain.api import (
    Explanation,
    attribute_fn,
    detect_modality,
    explain,
    register_method,
)
from saliencylab.explain.baselines import permute_features, random_map
from saliencylab.explain.lrp import lrp_epsilon
from saliencylab.explain.masks import MaskResult, learn_masks
from saliencylab.explain.method import Context, Method, MethodInfo
from saliencylab.explain.postprocess import aggregate, maxabs, minmax, postprocess
from saliencylab.explain.registry import METHODS, OBJ_PRESETS, get_method, methods_for
from saliencylab.explain.selection import SelectedOutput, resolve_targets, select_output

__all__ = [
    "METHODS",
    "OBJ_PRESETS",
    "Context",
    "Explanation",
    "MaskResult",
    "Method",
    "MethodInfo",
    "SelectedOutput",
    "aggregate",
    "attribute_fn",
    "detect_modality",
    "explain",
    "get_method",
    "learn_masks",
    "lrp_epsilon",
    "maxabs",
    "methods_for",
    "minmax",
    "permute_features",
    "postprocess",
    "random_map",
    "register_method",
    "resolve_targets",
    "select_output",
]
