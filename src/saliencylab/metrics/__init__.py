"""saliencylab.metrics: scores of saliency maps, per sample, with aggregation kept separate.

Ground-truth evaluation of [TSB] Ismail et al., NeurIPS 2020 lives in
:mod:`saliencylab.metrics.groundtruth`; means, standard errors and seed combination in
:mod:`saliencylab.metrics.aggregate`.
"""

from saliencylab.metrics.aggregate import (
    combine_seeds,
    combine_summaries,
    mean_se,
    mean_se_along,
    trapezoid,
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
