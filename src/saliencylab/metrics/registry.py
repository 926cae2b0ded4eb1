"""Metric names, categories, orientation and where each metric applies.

``METRICS`` maps a name to a :class:`MetricInfo`. The [OBJ] quality metrics (Löffler et al.,
"Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series") are per-sample
functions ``fn(model, x, y, attributions, *, explain_fn, batch_size, generator, ...)`` that are
higher-is-better. The ground-truth evaluation of [TSB] (Ismail et al., NeurIPS 2020) is one
function, :func:`~saliencylab.metrics.groundtruth.evaluate_groundtruth`, whose result's
``summary()`` holds several numbers; each of those is an entry with ``summary_key`` set and its
own orientation (the accuracy-drop AUC is lower-is-better).

Example:
    >>> from saliencylab.metrics.registry import METRICS, get_metric
    >>> info = get_metric("robustness")
    >>> info.category, info.higher_is_better, info.applies_to, info.needs_explain_fn
    ('robustness', True, 'classification', True)
    >>> sorted(n for n, m in METRICS.items() if m.applies_to == "groundtruth")
    ['accuracy_auc', 'aup', 'aupr', 'aur']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from saliencylab.errors import ConfigError, UnknownNameError
from saliencylab.metrics.faithfulness import faithfulness
from saliencylab.metrics.groundtruth import evaluate_groundtruth
from saliencylab.metrics.localization import localization_score
from saliencylab.metrics.robustness import robustness
from saliencylab.metrics.sanity import sanity
from saliencylab.metrics.sensitivity import inter_class_sensitivity
from saliencylab.metrics.stability import stability

__all__ = ["APPLIES_TO", "METRICS", "MetricInfo", "get_metric", "register_metric"]

AppliesTo = Literal["classification", "segmentation", "groundtruth"]
APPLIES_TO: tuple[str, ...] = ("classification", "segmentation", "groundtruth")


@dataclass(frozen=True)
class MetricInfo:
    """What a metric measures and how to read it.

    ``fn``: the function to call. ``category``: the [OBJ] category (sanity, faithfulness,
    sensitivity, robustness, stability, localization) or ``"groundtruth"``; normalisation groups
    by it. ``higher_is_better``: orientation of the value. ``applies_to``: ``"classification"``
    (a classifier and its maps), ``"segmentation"`` (a per-time-step model) or
    ``"groundtruth"`` (data with known informative cells). ``needs_explain_fn``: the metric
    re-explains inputs. ``summary_key``: for functions returning a result object, the key of
    ``result.summary()`` this entry reads.
    """

    name: str
    fn: Callable[..., Any]
    category: str
    higher_is_better: bool
    applies_to: AppliesTo
    description: str
    needs_explain_fn: bool = False
    summary_key: str | None = None
    references: tuple[str, ...] = ()


METRICS: dict[str, MetricInfo] = {}


def register_metric(info: MetricInfo, *, overwrite: bool = False) -> MetricInfo:
    """Add ``info`` to :data:`METRICS` (an existing name needs ``overwrite=True``).

    Example:
        >>> info = MetricInfo("my_metric", len, "faithfulness", True, "classification", "demo")
        >>> register_metric(info).name in METRICS
        True
        >>> del METRICS["my_metric"]
    """
    if not isinstance(info, MetricInfo):
        raise ConfigError(f"register_metric takes a MetricInfo, got {type(info).__name__}")
    if info.applies_to not in APPLIES_TO:
        raise ConfigError(f"applies_to must be one of {APPLIES_TO}, got {info.applies_to!r}")
    if info.name in METRICS and not overwrite:
        raise ConfigError(f"metric {info.name!r} is already registered; pass overwrite=True "
                          "to replace it")
    METRICS[info.name] = info
    return info


def get_metric(name: str) -> MetricInfo:
    """The :class:`MetricInfo` of ``name``; :class:`UnknownNameError` lists the valid names."""
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("metric", name, METRICS) from None


_OBJ = ("OBJ",)
for _info in (
    MetricInfo("sanity", sanity, "sanity", True, "classification",
               "-mean SSIM between the maps of the model and of cascading layer-randomised "
               "copies (output layer first)", needs_explain_fn=True, references=_OBJ),
    MetricInfo("faithfulness", faithfulness, "faithfulness", True, "classification",
               "drop of the target-class softmax when the most relevant sub-sequence "
               "(ceil(0.15 T) steps) of the most relevant channel is reversed",
               references=_OBJ),
    MetricInfo("inter_class_sensitivity", inter_class_sensitivity, "sensitivity", True,
               "classification",
               "-cosine similarity of the maps for the most and the least likely class",
               needs_explain_fn=True, references=_OBJ),
    MetricInfo("robustness", robustness, "robustness", True, "classification",
               "-max over 10 uniform perturbations (|eps| <= r) of ||M(X) - M(X + eps)||_F",
               needs_explain_fn=True, references=_OBJ),
    MetricInfo("stability", stability, "stability", True, "classification",
               "-mean DTW distance (window 20, summed over channels) to the maps of the other "
               "samples of the same class", references=_OBJ),
    MetricInfo("aup", evaluate_groundtruth, "groundtruth", True, "groundtruth",
               "area under the weighted precision curve over d = 10..90 % of saliency mass",
               summary_key="aup", references=("TSB",)),
    MetricInfo("aur", evaluate_groundtruth, "groundtruth", True, "groundtruth",
               "area under the weighted recall curve over d = 10..90 % of saliency mass",
               summary_key="aur", references=("TSB",)),
    MetricInfo("aupr", evaluate_groundtruth, "groundtruth", True, "groundtruth",
               "area under weighted precision over recall", summary_key="aupr",
               references=("TSB",)),
    MetricInfo("accuracy_auc", evaluate_groundtruth, "groundtruth", False, "groundtruth",
               "area under accuracy (%) when the top-mass cells are replaced by background; "
               "a faster drop (lower) is better", summary_key="accuracy_auc",
               references=("TSB",)),
    MetricInfo("localization", localization_score, "localization", True, "segmentation",
               "mean range-based recall [TAT] of the labelled segments by the steps whose max "
               "channel |relevance| exceeds 0.5 max (NaN for samples without segments)",
               references=("OBJ", "TAT")),
):
    register_metric(_info)
del _info
