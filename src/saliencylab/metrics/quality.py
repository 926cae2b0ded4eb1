"""The objective quality metrics of [OBJ] §3 for classifiers, in one place.

Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series"
(ICLR 2022 submission "Objective Evaluation of Deep Visual Interpretations on Time Series
Data"). Every metric returns a per-sample ``(N,)`` tensor, oriented so that higher is better:

============================  =======================================================  ========
metric                        per sample                                               best
============================  =======================================================  ========
:func:`sanity`                ``-mean_i SSIM(M(x), M_i(x))``, cascading randomisation  1
:func:`faithfulness`          ``p_c(X) - p_c(X')``, top sub-sequence reversed          1
:func:`inter_class_sensitivity` ``-cos(M_max class, M_min class)``                     1
:func:`robustness`            ``-max_k ‖M(X) - M(X + ε_k)‖``, ``‖ε‖∞ <= r``            0
:func:`stability`             ``-mean DTW`` to the maps of the same class              0
============================  =======================================================  ========

Call shape: ``fn(model, x, y, attributions, *, context: MetricContext, **options)``.
``context.explain_fn(model, inputs, target) -> attributions`` re-explains where a metric needs
new maps (:func:`make_explain_fn` builds it from :func:`saliencylab.explain.explain`);
``context.batch_size``, ``context.generator`` and ``context.valid`` (ragged series) are read
where they matter. Sanity, inter-class sensitivity and robustness take images
``(N, C, H, W)`` too; faithfulness and stability need a time axis.

Example:
    >>> import torch
    >>> from saliencylab.metrics import MetricContext, quality
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 2))
    >>> x, y = torch.rand(4, 20, 2), torch.tensor([0, 1, 0, 1])
    >>> fn = quality.make_explain_fn("gradient")
    >>> a = fn(net, x, y)
    >>> quality.robustness(net, x, y, a, context=MetricContext(explain_fn=fn)).shape
    torch.Size([4])
"""

from saliencylab.metrics._common import ExplainFn, make_explain_fn
from saliencylab.metrics.faithfulness import faithfulness, perturb_subsequence
from saliencylab.metrics.robustness import robustness, uniform_perturbation
from saliencylab.metrics.sanity import (
    SanityResult,
    randomizable_layers,
    reinitialize_,
    sanity,
    sanity_curve,
)
from saliencylab.metrics.sensitivity import cosine_per_sample, inter_class_sensitivity
from saliencylab.metrics.ssim import ssim
from saliencylab.metrics.stability import class_mean_distance, dtw_distance_matrix, stability

__all__ = [
    "ExplainFn",
    "SanityResult",
    "class_mean_distance",
    "cosine_per_sample",
    "dtw_distance_matrix",
    "faithfulness",
    "inter_class_sensitivity",
    "make_explain_fn",
    "perturb_subsequence",
    "randomizable_layers",
    "reinitialize_",
    "robustness",
    "sanity",
    "sanity_curve",
    "ssim",
    "stability",
    "uniform_perturbation",
]
