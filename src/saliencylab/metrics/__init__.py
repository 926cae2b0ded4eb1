"""saliencylab.metrics: scores of saliency maps, per sample, with aggregation kept separate.

Ground-truth evaluation of [TSB] Ismail et al., NeurIPS 2020 lives in
:mod:`saliencylab.metrics.groundtruth`; means, standard errors and seed combination in
:mod:`saliencylab.metrics.aggregate`. The objective quality metrics of [OBJ] Löffler et al.
(sanity, faithfulness, inter-class sensitivity, robustness, stability) are in
:mod:`saliencylab.metrics.quality`, normalisation and metric correlations in
:mod:`saliencylab.metrics.normalize`, names and orientation in :mod:`saliencylab.metrics.registry`.
Completeness, soundness, the deletion / insertion games and the Saliency Metric of [CS] Gupta et
al., NeurIPS 2022 are in :mod:`saliencylab.metrics.certification`.
"""

from saliencylab.metrics.aggregate import (
    combine_seeds,
    combine_summaries,
    mean_se,
    mean_se_along,
    trapezoid,
)
from saliencylab.metrics.certification import (
    CertificationResult,
    GameResult,
    certify,
    certify_masks,
    completeness,
    deletion_curve,
    deletion_game,
    insertion_curve,
    insertion_game,
    saliency_metric,
    soundness,
    tune_saliency_threshold,
)
from saliencylab.metrics.groundtruth import (
    DEFAULT_FRACTIONS,
    GroundTruthResult,
    PrecisionRecall,
    diff_vs_random,
    evaluate_groundtruth,
    level_precision_recall,
    masked_accuracy,
    mass_top_mask,
    precision_recall,
)
from saliencylab.metrics.normalize import (
    metric_correlation,
    metric_correlations,
    normalize_scores,
    zscore,
)
from saliencylab.metrics.quality import (
    ExplainFn,
    SanityResult,
    faithfulness,
    inter_class_sensitivity,
    make_explain_fn,
    robustness,
    sanity,
    sanity_curve,
    ssim,
    stability,
)
from saliencylab.metrics.registry import METRICS, MetricInfo, get_metric, register_metric

__all__ = [
    "DEFAULT_FRACTIONS",
    "GroundTruthResult",
    "PrecisionRecall",
    "combine_seeds",
    "combine_summaries",
    "diff_vs_random",
    "evaluate_groundtruth",
    "level_precision_recall",
    "mass_top_mask",
    "masked_accuracy",
    "mean_se",
    "mean_se_along",
    "precision_recall",
    "trapezoid",
]
__all__ += [
    "METRICS",
    "ExplainFn",
    "MetricInfo",
    "SanityResult",
    "faithfulness",
    "get_metric",
    "inter_class_sensitivity",
    "make_explain_fn",
    "metric_correlation",
    "metric_correlations",
    "normalize_scores",
    "register_metric",
    "robustness",
    "sanity",
    "sanity_curve",
    "ssim",
    "stability",
    "zscore",
]
__all__ += [
    "CertificationResult",
    "GameResult",
    "certify",
    "certify_masks",
    "completeness",
    "deletion_curve",
    "deletion_game",
    "insertion_curve",
    "insertion_game",
    "saliency_metric",
    "soundness",
    "tune_saliency_threshold",
]
