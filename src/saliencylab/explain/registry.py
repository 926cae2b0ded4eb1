"""Names, families, needs and reference defaults of every saliency method.

This module is metadata only (no Captum import), so configuration code can validate method names
cheaply. The defaults are the settings of the papers in SPEC.md section 3:

- [TSB] Ismail et al., "Benchmarking Deep Learning Interpretability in Time Series Predictions",
  NeurIPS 2020 -- Captum with one U[0,1) baseline for IG / DeepLIFT, GradientSHAP with 5·batch
  U[0,1) baselines and stdev 0.09, SmoothGrad with NoiseTunnel's defaults (5 samples, stdev 1.0),
  Shapley Value Sampling / Feature Permutation with one feature group per time step, Feature
  Ablation per element, Occlusion with a window of one whole time step.
- [OBJ] Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time
  Series" -- IG with a zero baseline and 60 steps, SmoothGrad with 60 samples and sigma 0.2,
  Guided Backprop, GradCAM on the last conv layer, Guided GradCAM, LRP-epsilon (1e-9), LIME
  (cosine kernel width 5, 1000 samples, 50 time segments), KernelSHAP (1000 samples, 50 segments).
- [CS] Gupta et al., NeurIPS 2022 -- Gradient ⊙ Input.

LIME (Ribeiro et al., KDD 2016) and KernelSHAP (Lundberg & Lee, NeurIPS 2017) run Captum's
algorithms batched over samples and perturbations (:mod:`saliencylab.explain.surrogate`);
``implementation="captum"`` calls Captum's ``Lime`` / ``KernelShap`` one sample at a time.

Every default can be overridden by a keyword argument of :func:`saliencylab.explain.explain`;
:data:`OBJ_PRESETS` lists the [OBJ] variants as ready-made overrides.

Example:
    >>> from saliencylab.explain.registry import METHODS
    >>> METHODS["integrated_gradients"].defaults["n_steps"]
    50
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from saliencylab.errors import UnknownNameError

Family = Literal["gradient", "perturbation", "learned", "random"]
Modality = Literal["time_series", "image", "text"]
ALL_MODALITIES: tuple[Modality, ...] = ("time_series", "image", "text")


@dataclass(frozen=True)
class MethodInfo:
    """What a method is, what it needs and its reference defaults.

    ``needs`` names what the method requires beyond a differentiable model:
    ``"baseline"`` (a reference input), ``"conv_layer"`` (a Conv1d/Conv2d to hook),
    ``"feature_groups"`` (a grouping of input cells), ``"piecewise_linear"`` (only layers with an
    LRP rule). ``options`` are accepted parameters without a default value in ``defaults``.
    ``sampling`` tells whether the result depends on the seed.
    """

    name: str
    family: Family
    description: str
    needs: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    options: tuple[str, ...] = ()
    applies_to: tuple[Modality, ...] = ALL_MODALITIES
    sampling: bool = False
    references: tuple[str, ...] = ()

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every parameter name the method accepts."""
        return tuple(self.defaults) + self.options


# Values every perturbation method with a baseline accepts: "zero", "uniform" (U[0,1) drawn from
# the seed), "mean" (per-sample mean), a number, or a tensor broadcastable to the inputs.
_PERTURB = ("feature_mask", "perturbations_per_eval")

METHODS: dict[str, MethodInfo] = {
    m.name: m
    for m in (
        MethodInfo(
            "gradient", "gradient",
            "Gradient of the target logit w.r.t. the input (Captum Saliency); absolute value by "
            "default as in [TSB]",
            defaults={"abs": True}, references=("TSB", "OBJ"),
        ),
        MethodInfo(
            "gradient_x_input", "gradient",
            "Gradient times input (Captum InputXGradient) [CS]",
            references=("CS",),
        ),
        MethodInfo(
            "integrated_gradients", "gradient",
            "Integrated Gradients from one baseline (Captum); [TSB] one U[0,1) baseline, [OBJ] "
            "zero baseline with 60 steps",
            needs=("baseline",),
            defaults={"baseline": "uniform", "n_steps": 50, "method": "gausslegendre",
                      "internal_batch_size": None},
            sampling=True, references=("TSB", "OBJ"),
        ),
        MethodInfo(
            "deeplift", "gradient",
            "DeepLIFT rescale rule (Captum DeepLift) from one U[0,1) baseline [TSB]",
            needs=("baseline",), defaults={"baseline": "uniform"},
            sampling=True, references=("TSB",),
        ),
        MethodInfo(
            "deeplift_shap", "gradient",
            "DeepLIFT averaged over a baseline distribution (Captum DeepLiftShap); [TSB] the "
            "GradientSHAP baselines: 5·batch U[0,1) draws",
            needs=("baseline",),
            defaults={"baseline": "uniform", "n_baselines": None, "baselines_per_eval": None},
            sampling=True, references=("TSB",),
        ),
        MethodInfo(
            "gradient_shap", "gradient",
            "GradientSHAP: expected (x+noise-b)·∇f at random points between baseline b and the "
            "noisy input (Captum GradientShap semantics); [TSB] 5·batch U[0,1) baselines, "
            "stdev 0.09, 5 samples",
            needs=("baseline",),
            defaults={"baseline": "uniform", "n_baselines": None, "n_samples": 5,
                      "stdevs": 0.09},
            sampling=True, references=("TSB",),
        ),
        MethodInfo(
            "smoothgrad", "gradient",
            "SmoothGrad: mean |gradient| over Gaussian-noised copies (Captum NoiseTunnel over "
            "Saliency); [TSB] NoiseTunnel defaults 5 samples, stdev 1.0 (large for [0,1] data); "
            "[OBJ] 60 samples, stdev 0.2",
            defaults={"n_samples": 5, "stdevs": 1.0, "abs": True, "nt_type": "smoothgrad"},
            sampling=True, references=("TSB", "OBJ"),
        ),
        MethodInfo(
            "guided_backprop", "gradient",
            "Guided Backpropagation (Captum GuidedBackprop; overrides nn.ReLU modules) [OBJ]",
            references=("OBJ",),
        ),
        MethodInfo(
            "gradcam", "gradient",
            "GradCAM on the last Conv1d/Conv2d (or layer=), up-sampled to the input [OBJ]",
            needs=("conv_layer",),
            defaults={"layer": None, "relu_attributions": True, "interpolate_mode": None},
            references=("OBJ",),
        ),
        MethodInfo(
            "guided_gradcam", "gradient",
            "Guided Backprop times up-sampled GradCAM [OBJ]",
            needs=("conv_layer",),
            defaults={"layer": None, "relu_attributions": True, "interpolate_mode": None},
            references=("OBJ",),
        ),
        MethodInfo(
            "lrp", "gradient",
            "Layer-wise relevance propagation, epsilon rule for Linear/Conv/BatchNorm, plain "
            "gradient through ReLU, pooling and residual adds [OBJ]",
            needs=("piecewise_linear",), defaults={"epsilon": 1e-9, "strict": True},
            references=("OBJ",),
        ),
        MethodInfo(
            "lime", "perturbation",
            "LIME: Captum Lime's algorithm batched over samples and perturbations "
            "(implementation='captum': Captum itself); exponential cosine kernel width 5, Lasso "
            "alpha 0.01, 1000 samples, 50 time segments [OBJ]",
            needs=("feature_groups",),
            defaults={"n_samples": 1000, "kernel_width": 5.0, "distance_mode": "cosine",
                      "n_segments": 50, "baseline": "zero", "perturbations_per_eval": 50,
                      "implementation": "batched"},
            options=("feature_mask",), sampling=True, references=("OBJ",),
        ),
        MethodInfo(
            "kernel_shap", "perturbation",
            "KernelSHAP: Captum KernelShap's algorithm batched over samples and perturbations "
            "(implementation='captum': Captum itself); 1000 samples, 50 time segments [OBJ]",
            needs=("feature_groups",),
            defaults={"n_samples": 1000, "n_segments": 50, "baseline": "zero",
                      "perturbations_per_eval": 50, "implementation": "batched"},
            options=("feature_mask",), sampling=True, references=("OBJ",),
        ),
        MethodInfo(
            "occlusion", "perturbation",
            "Occlusion (Captum) with a window of one whole time step [TSB]; images: 4x4 "
            "patches, stride 2; text: one token",
            defaults={"sliding_window_shapes": None, "strides": None, "baseline": "zero",
                      "perturbations_per_eval": None},
            references=("TSB",),
        ),
        MethodInfo(
            "feature_ablation", "perturbation",
            "Feature Ablation (Captum), one element at a time [TSB]",
            defaults={"baseline": "zero", "perturbations_per_eval": None},
            options=("feature_mask",), references=("TSB",),
        ),
        MethodInfo(
            "feature_permutation", "perturbation",
            "Feature Permutation (Captum): shuffle one time step across the batch [TSB]; needs "
            "at least 2 samples per batch and depends on the batch by definition",
            needs=("feature_groups",), defaults={"perturbations_per_eval": None},
            options=("feature_mask",), sampling=True, references=("TSB",),
        ),
        MethodInfo(
            "shapley_value_sampling", "perturbation",
            "Shapley Value Sampling (Captum), one feature group per time step [TSB]",
            needs=("feature_groups",),
            defaults={"n_samples": 25, "baseline": "zero", "perturbations_per_eval": None},
            options=("feature_mask",), sampling=True, references=("TSB",),
        ),
        MethodInfo(
            "learned_mask", "learned",
            "Mask upsample(sigmoid(W)) learned against K distractors with TV and L1 penalties "
            "(Adam lr 0.05, 2000 steps) [CS]; distractors= a pool (default: the explained batch)",
            defaults={"steps": 2000, "lr": 0.05, "upsample": 1, "lambda_tv": 0.0,
                      "lambda_l1": 1e-3, "n_distractors": 10, "shared_across_features": False},
            options=("distractors",), applies_to=("time_series", "image"), sampling=True,
            references=("CS",),
        ),
        MethodInfo(
            "random", "random",
            "Uniform U[0,1) map of the input's shape drawn from the seed (control)",
            sampling=True,
        ),
        MethodInfo(
            "feature_permuted_random", "random",
            "A real method's map with its feature axis permuted by one permutation for all "
            "samples and time steps [TSB]",
            defaults={"base_method": "gradient", "base_params": {}},
            sampling=True, references=("TSB",),
        ),
    )
}

# [OBJ] settings as overrides: ``explain(model, x, y, "smoothgrad", **OBJ_PRESETS["smoothgrad"])``.
OBJ_PRESETS: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"baseline": "zero", "n_steps": 60},
    "smoothgrad": {"n_samples": 60, "stdevs": 0.2},
    "lrp": {"epsilon": 1e-9},
}

# Parameters every method accepts (handled by explain() itself, not by the adapter).
COMMON_PARAMS: tuple[str, ...] = ("embedding_layer", "reduce_embedding")


def get_method(name: str) -> MethodInfo:
    """The :class:`MethodInfo` of ``name``; ``UnknownNameError`` lists the valid names."""
    try:
        return METHODS[name]
    except KeyError:
        raise UnknownNameError("saliency method", name, METHODS) from None


def methods_for(modality: Modality | None = None, family: Family | None = None) -> list[str]:
    """Names of the methods that apply to ``modality`` and belong to ``family`` (None = any)."""
    return [
        n for n, m in METHODS.items()
        if (modality is None or modality in m.applies_to) and (family is None or m.family == family)
    ]
