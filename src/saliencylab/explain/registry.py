"""The registry of saliency methods: every built-in :class:`~saliencylab.explain.method.Method`
registered once, in the order the command line lists them.

Each method is defined in one place, next to the code that runs it (name, family, needs,
reference defaults, parameter checks and runner together):

- :mod:`saliencylab.explain.adapters`: the Captum-backed gradient and perturbation methods;
- :mod:`saliencylab.explain.gradcam`: GradCAM and Guided GradCAM;
- :mod:`saliencylab.explain.lrp`: LRP-ε;
- :mod:`saliencylab.explain.surrogate`: batched LIME and KernelSHAP;
- :mod:`saliencylab.explain.masks`: the learned masks of [CS];
- :mod:`saliencylab.explain.baselines`: the random controls.

The defaults are the papers' settings: [TSB] Ismail et al., "Benchmarking Deep Learning
Interpretability in Time Series Predictions", NeurIPS 2020, §2.1 (Captum, with the settings of
the authors' released code: one U[0,1) baseline for IG / DeepLIFT, GradientSHAP with 5·batch
U[0,1) baselines and stdev 0.09, SmoothGrad with NoiseTunnel's defaults, Shapley Value Sampling /
Feature Permutation with one feature group per time step, Feature Ablation per element, Occlusion
with a window of one whole time step); [OBJ] Löffler et al., "Don't Get Me Wrong: How to Apply
Deep Visual Interpretations to Time Series", §4.1 and Appendix B.2 (IG with a zero baseline and
60 steps, SmoothGrad with 60 samples and sigma 0.2, Guided Backprop, GradCAM on the last conv
layer, Guided GradCAM, LRP-epsilon 1e-9, LIME with a cosine kernel of width 5, 1000 samples and
50 time segments, KernelSHAP with 1000 samples and 50 segments); [CS] Gupta et al., "New
Definitions and Evaluations for Saliency Methods", NeurIPS 2022 (Gradient ⊙ Input, Appendix D;
learned masks, §4).

Every default can be overridden by a keyword argument of :func:`saliencylab.explain.explain`;
:data:`OBJ_PRESETS` lists the [OBJ] variants as ready-made overrides.

Example:
    >>> from saliencylab.explain.registry import METHODS
    >>> METHODS["integrated_gradients"].defaults["n_steps"]
    50
"""

from __future__ import annotations

import dataclasses
from typing import Any

from saliencylab.errors import ConfigError, UnknownNameError
from saliencylab.explain.adapters import CAPTUM_METHODS, PERTURBATION_METHODS
from saliencylab.explain.baselines import RANDOM_METHODS
from saliencylab.explain.gradcam import GRADCAM_METHODS
from saliencylab.explain.lrp import LRP
from saliencylab.explain.masks import LEARNED_MASK
from saliencylab.explain.method import (
    ALL_MODALITIES,
    Family,
    Method,
    MethodInfo,
    Modality,
    ResolveFn,
    RunFn,
)
from saliencylab.explain.surrogate import SURROGATE_METHODS

__all__ = [
    "ALL_MODALITIES",
    "COMMON_PARAMS",
    "METHODS",
    "OBJ_PRESETS",
    "Family",
    "Method",
    "MethodInfo",
    "Modality",
    "get_method",
    "methods_for",
    "register_method",
]

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        *CAPTUM_METHODS,  # gradient, gradient_x_input, IG, DeepLIFT(-SHAP), GradientSHAP, ...
        *GRADCAM_METHODS,
        LRP,
        *SURROGATE_METHODS,
        *PERTURBATION_METHODS,
        LEARNED_MASK,
        *RANDOM_METHODS,
    )
}

# [OBJ] settings as overrides: ``explain(model, x, y, "smoothgrad", **OBJ_PRESETS["smoothgrad"])``.
OBJ_PRESETS: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"baseline": "zero", "n_steps": 60},
    "smoothgrad": {"n_samples": 60, "stdevs": 0.2},
    "lrp": {"epsilon": 1e-9},
}

# Parameters every method accepts (handled by explain() itself, not by the method).
COMMON_PARAMS: tuple[str, ...] = ("embedding_layer", "reduce_embedding")


def get_method(name: str) -> Method:
    """The :class:`Method` of ``name``; ``UnknownNameError`` lists the valid names."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("saliency method", name, METHODS) from None


def methods_for(modality: Modality | None = None, family: Family | None = None) -> list[str]:
    """Names of the methods that apply to ``modality`` and belong to ``family`` (None = any)."""
    return [
        n for n, m in METHODS.items()
        if (modality is None or modality in m.applies_to) and (family is None or m.family == family)
    ]


def register_method(
    info: Method, run: RunFn | None = None, prepare: ResolveFn | None = None, *,
    replace: bool = False,
) -> Method:
    """Make a new method available to :func:`saliencylab.explain.explain`; returns it.

    ``info`` is a :class:`Method` (``MethodInfo`` is the same class). ``run(ctx, x, target,
    extra, rows) -> Tensor`` handles one chunk and ``prepare(ctx, x) -> dict | None`` (the
    method's ``resolve``) checks the parameters once per call, before anything runs; either
    may be given here or already be set on ``info`` (see :mod:`saliencylab.explain.method`:
    ``ctx.forward(x, *extra)`` returns the explained scalar of every row, ``(rows, 1)``).
    The method's parameters are ``info.defaults`` (overridable) and ``info.options``.

    Example:
        >>> import torch
        >>> from saliencylab.explain import explain
        >>> def run(ctx, x, target, extra, rows):
        ...     return x.abs()
        >>> _ = register_method(MethodInfo("magnitude", "gradient", "|x|"), run, replace=True)
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
        >>> explain(net, -torch.ones(1, 2, 3), 0, "magnitude").attributions.sum().item()
        6.0
        >>> _ = METHODS.pop("magnitude")  # leave the registry as it was
    """
    if not isinstance(info, Method):
        raise ConfigError(f"register_method takes a Method, got {type(info).__name__}")
    if info.name in METHODS and not replace:
        raise ConfigError(f"method {info.name!r} is already registered (pass replace=True)")
    if info.family == "random":
        raise ConfigError("random-family methods are built in; register a real method instead")
    method = dataclasses.replace(
        info, run=run if run is not None else info.run,
        resolve=prepare if prepare is not None else info.resolve,
    )
    if method.run is None and method.run_all is None:
        raise ConfigError(f"method {info.name!r} needs a run function")
    METHODS[method.name] = method
    return method
