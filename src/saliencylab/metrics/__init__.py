"""saliencylab.metrics: scores of saliency maps, per sample, with aggregation kept separate.

One protocol for every family (:mod:`saliencylab.metrics.protocol`): each metric is
``fn(model, x, y, attributions, *, context: MetricContext, **options)`` and returns ``(N,)``
scores or a :class:`MetricOutput`; one registry (:mod:`saliencylab.metrics.registry`) holds each
metric's metadata next to its function; :func:`score` computes a list of them, each family once.

- [TSB] Ismail et al., NeurIPS 2020, §4.2-4.3: ground-truth evaluation
  (:mod:`saliencylab.metrics.groundtruth`);
- [OBJ] Löffler et al. (ICLR 2022 submission), §3.1-3.6: sanity, faithfulness, inter-class
  sensitivity, robustness, stability (:mod:`saliencylab.metrics.quality`) and localization
  (:mod:`saliencylab.metrics.localization`);
- [CS] Gupta et al., NeurIPS 2022, §3 and App. D: completeness and soundness
  (:mod:`saliencylab.metrics.certification`), the deletion / insertion games and the Saliency
  Metric (:mod:`saliencylab.metrics.games`).

Means, standard errors and seed combination are in :mod:`saliencylab.metrics.aggregate`,
normalisation and metric correlations in :mod:`saliencylab.metrics.normalize`.
"""

# The registry first: it imports the metric modules, which register themselves, in a fixed order.
from saliencylab.metrics.registry import (
    METRIC_GROUPS,
    METRICS,
    Metric,
    check_metric_options,
    get_metric,
    higher_is_better,
    register_metric,
    resolve_metrics,
)

# isort: split
from saliencylab.metrics import groundtruth
from saliencylab.metrics.aggregate import (
    combine_seeds,
    combine_summaries,
    mean_se,
    mean_se_along,
    trapezoid,
)
from saliencylab.metrics.certification import (
    CertificationResult,
    certification_scores,
    certify,
    certify_masks,
    completeness,
    soundness,
)
from saliencylab.metrics.games import (
    GameResult,
    deletion,
    deletion_curve,
    deletion_game,
    insertion,
    insertion_curve,
    insertion_game,
    saliency_metric,
    saliency_metric_score,
    tune_saliency_threshold,
)
from saliencylab.metrics.groundtruth import *  # noqa: F403  (its __all__, listed once, below)
from saliencylab.metrics.localization import localization_score
from saliencylab.metrics.normalize import (
    metric_correlation,
    metric_correlations,
    normalize_scores,
    zscore,
)
from saliencylab.metrics.protocol import MetricContext, MetricOutput
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
from saliencylab.metrics.scoring import Scores, score

__all__ = [
    "METRICS",
    "METRIC_GROUPS",
    "Metric",
    "MetricContext",
    "MetricOutput",
    "Scores",
    "check_metric_options",
    "get_metric",
    "higher_is_better",
    "register_metric",
    "resolve_metrics",
    "score",
]
__all__ += [
    "combine_seeds",
    "combine_summaries",
    "mean_se",
    "mean_se_along",
    "trapezoid",
]
__all__ += groundtruth.__all__
__all__ += [
    "ExplainFn",
    "SanityResult",
    "faithfulness",
    "inter_class_sensitivity",
    "localization_score",
    "make_explain_fn",
    "metric_correlation",
    "metric_correlations",
    "normalize_scores",
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
    "certification_scores",
    "certify",
    "certify_masks",
    "completeness",
    "deletion",
    "deletion_curve",
    "deletion_game",
    "insertion",
    "insertion_curve",
    "insertion_game",
    "saliency_metric",
    "saliency_metric_score",
    "soundness",
    "tune_saliency_threshold",
]
