"""One registry of every metric, with its metadata next to its function.

Each metric module registers its own metrics at its bottom with :func:`register_metric`; this
module imports them. A :class:`Metric` is either a single metric (its function returns ``(N,)``
scores) or a *family* computed once that yields several named scores (``outputs``): the [TSB]
ground-truth evaluation (``aup``, ``aur``, ``aupr``, ``accuracy_auc``) and the [CS]
certification (``completeness``, ``soundness``). An output's name resolves to its family.

Names are case-insensitive. :func:`resolve_metrics` expands a user's spec (``"all"``, groups,
names) into the names that apply to some data; :func:`check_metric_options` checks per-metric
options before any work is done; :func:`higher_is_better` gives any name's orientation.

Example:
    >>> from saliencylab.metrics.registry import METRICS, get_metric, resolve_metrics
    >>> m = get_metric("robustness")
    >>> m.category, m.higher_is_better, sorted(m.needs), m.modalities
    ('robustness', True, ['explain_fn'], ('time_series', 'image'))
    >>> get_metric("aup").name, get_metric("aup").seed_offset
    ('groundtruth', 7919)
    >>> resolve_metrics("faithfulness,certification", modality="time_series",
    ...                 task="classification", has_groundtruth=False, has_background=False)
    ['faithfulness', 'completeness', 'soundness', 'deletion', 'insertion']
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from saliencylab.errors import ConfigError, NotApplicableError, UnknownNameError

__all__ = [
    "METRICS",
    "METRIC_GROUPS",
    "MODALITIES",
    "NEEDS",
    "TASKS",
    "Metric",
    "check_metric_options",
    "describe",
    "family_options",
    "get_metric",
    "higher_is_better",
    "metric_names",
    "register_metric",
    "resolve_metrics",
]

#: What a metric may need from its :class:`~saliencylab.metrics.protocol.MetricContext`.
NEEDS: tuple[str, ...] = ("explain_fn", "groundtruth", "background", "segments", "distractors")
MODALITIES: tuple[str, ...] = ("time_series", "image", "text")
TASKS: tuple[str, ...] = ("classification", "segmentation")


@dataclass(frozen=True)
class Metric:
    """What a metric measures, how to read it and where it applies.

    Attributes:
        name: the registry name (lower case); for a family, the family's name.
        fn: ``fn(model, x, y, attributions, *, context, **options)``.
        category: normalisation groups by it (sanity, faithfulness, sensitivity, robustness,
            stability, localization, groundtruth, certification).
        higher_is_better: orientation of the single metric (of a family: of its first output).
        description: what the value is.
        references: paper and section, e.g. ``("OBJ §3.4",)``.
        needs: what the metric reads from the context (:data:`NEEDS`).
        modalities: where it is defined (:data:`MODALITIES`).
        task: ``"classification"`` or ``"segmentation"`` (per-step labels).
        outputs: for a family computed once: ``output name -> higher_is_better``.
        seed_offset: :func:`~saliencylab.metrics.score` seeds the family with
            ``seed + seed_offset``.
        output_descriptions: per-output descriptions (for listings).
        check_options: ``check_options(**options)`` raises ``ConfigError`` for a value out of
            its range (naming the option, the value and the range), so
            :func:`check_metric_options` refuses it before any work is done; the metric
            itself applies the same rules.
    """

    name: str
    fn: Callable[..., Any]
    category: str
    higher_is_better: bool
    description: str
    references: tuple[str, ...]
    needs: frozenset[str] = frozenset()
    modalities: tuple[str, ...] = ("time_series",)
    task: str = "classification"
    outputs: dict[str, bool] | None = None
    seed_offset: int = 0
    output_descriptions: dict[str, str] | None = None
    check_options: Callable[..., None] | None = field(default=None, compare=False, repr=False)

    def names(self) -> tuple[str, ...]:
        """The score names this entry yields: its outputs, or its own name."""
        return tuple(self.outputs) if self.outputs else (self.name,)

    def options(self) -> frozenset[str]:
        """The options ``fn`` accepts: its keyword-only parameters but ``context``."""
        params = inspect.signature(self.fn).parameters
        return frozenset(k for k, p in params.items()
                         if p.kind is p.KEYWORD_ONLY and k != "context")


METRICS: dict[str, Metric] = {}

#: Names that stand for several metrics in a spec (``--metrics``, a grid's ``metrics:``).
METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "certification": ("completeness", "soundness", "deletion", "insertion"),
    "groundtruth": ("aup", "aur", "aupr", "accuracy_auc"),
}


def _outputs_index() -> dict[str, Metric]:
    return {out: m for m in METRICS.values() if m.outputs for out in m.outputs}


def register_metric(metric: Metric, *, overwrite: bool = False) -> Metric:
    """Add ``metric`` to :data:`METRICS` (an existing name needs ``overwrite=True``).

    Example:
        >>> m = Metric("my_metric", len, "faithfulness", True, "demo", ("none",))
        >>> register_metric(m).name in METRICS
        True
        >>> del METRICS["my_metric"]
    """
    if not isinstance(metric, Metric):
        raise ConfigError(f"register_metric takes a Metric, got {type(metric).__name__}")
    if not isinstance(metric.name, str) or metric.name != metric.name.lower() or not metric.name:
        raise ConfigError(f"metric names are non-empty lower-case strings, got {metric.name!r}")
    if not callable(metric.fn):
        raise ConfigError(f"metric {metric.name!r}: fn must be callable")
    bad = sorted(set(metric.needs) - set(NEEDS))
    if bad:
        raise ConfigError(f"metric {metric.name!r}: needs must be among {NEEDS}, got {bad}")
    bad = sorted(set(metric.modalities) - set(MODALITIES))
    if bad or not metric.modalities:
        raise ConfigError(f"metric {metric.name!r}: modalities must be among {MODALITIES}, "
                          f"got {metric.modalities}")
    if metric.task not in TASKS:
        raise ConfigError(f"metric {metric.name!r}: task must be one of {TASKS}, got "
                          f"{metric.task!r}")
    if metric.name in METRICS and not overwrite:
        raise ConfigError(f"metric {metric.name!r} is already registered; pass overwrite=True "
                          "to replace it")
    others = [m for name, m in METRICS.items() if name != metric.name]
    taken = {n for m in others for n in (m.name, *m.names())}
    clash = sorted(({metric.name, *metric.names()} & (taken | {"all"}))
                   | (set(metric.names()) & set(METRIC_GROUPS)))
    if clash:
        raise ConfigError(f"metric {metric.name!r}: the names {clash} are already taken by "
                          "another metric, output or group")
    METRICS[metric.name] = metric
    return metric


def metric_names() -> list[str]:
    """Every score name, in registry order: single metrics and families' outputs."""
    return [n for m in METRICS.values() for n in m.names()]


def _lookup(name: Any) -> Metric | None:
    if not isinstance(name, str):
        return None
    key = name.strip().lower()
    if key in METRICS:
        return METRICS[key]
    return _outputs_index().get(key)


def _valid_names() -> list[str]:
    return [*metric_names(), *(m.name for m in METRICS.values() if m.outputs)]


def get_metric(name: str) -> Metric:
    """The :class:`Metric` of ``name`` (a metric, a family or a family's output, any case);
    :class:`UnknownNameError` lists the valid names."""
    metric = _lookup(name)
    if metric is None:
        raise UnknownNameError("metric", name, _valid_names())
    return metric


def higher_is_better(name: str) -> bool:
    """Orientation of any metric or output name (``accuracy_auc``, ``deletion`` and
    ``saliency_metric`` are lower-is-better).

    >>> higher_is_better("aup"), higher_is_better("accuracy_auc"), higher_is_better("Deletion")
    (True, False, False)
    """
    metric = get_metric(name)
    key = name.strip().lower()
    if metric.outputs and key in metric.outputs:
        return metric.outputs[key]
    return metric.higher_is_better


def describe(name: str) -> str:
    """The description of a metric or output name."""
    metric = get_metric(name)
    key = name.strip().lower()
    if metric.output_descriptions and key in metric.output_descriptions:
        return metric.output_descriptions[key]
    return metric.description


def _why_not(metric: Metric, modality: str, task: str, has_groundtruth: bool,
             has_background: bool) -> str | None:
    """Why ``metric`` does not apply to that data (None if it does)."""
    if metric.task != task:
        if metric.task == "segmentation":
            return ("scores segmentation models (per-step labels); it does not apply to a "
                    "classifier")
        return f"scores {metric.task} models; it does not apply to a {task} model"
    if modality not in metric.modalities:
        where = " and ".join(m.replace("_", " ") for m in metric.modalities)
        return f"is defined for {where} only, not for {modality.replace('_', ' ')} data"
    if "groundtruth" in metric.needs and not has_groundtruth:
        return ("is a ground-truth metric [TSB] and needs data with known informative cells "
                "(the synthetic designs); this data has none")
    if "background" in metric.needs and not has_background:
        return ("needs a background sampler (fresh uninformative draws of the data's process); "
                "this data has none")
    return None


def resolve_metrics(
    spec: str | Sequence[str],
    *,
    modality: str,
    task: str,
    has_groundtruth: bool,
    has_background: bool,
) -> list[str]:
    """Expand a metric spec into the score names to compute, checking that each applies.

    Args:
        spec: a comma-separated string or a list of names (any case): metric names, output
            names (``aup``), groups (``certification`` = completeness, soundness, deletion,
            insertion; ``groundtruth`` = aup, aur, aupr, accuracy_auc) and ``"all"`` (every
            metric that applies to the data).
        modality: ``"time_series"``, ``"image"`` or ``"text"``.
        task: ``"classification"`` or ``"segmentation"``.
        has_groundtruth, has_background: whether the data has known informative cells and a
            background sampler (both needed by the ground-truth metrics).

    Returns:
        Score names without duplicates, in the order given (``"all"``: registry order).

    Raises:
        UnknownNameError: an unknown name (the message lists the valid ones).
        NotApplicableError: a metric that does not apply (the message says why and lists the
            metrics that apply).

    Example:
        >>> resolve_metrics("all", modality="image", task="classification",
        ...                 has_groundtruth=False, has_background=False)[:3]
        ['sanity', 'inter_class_sensitivity', 'robustness']
    """
    if modality not in MODALITIES:
        raise UnknownNameError("modality", modality, MODALITIES)
    if task not in TASKS:
        raise UnknownNameError("task", task, TASKS)
    if isinstance(spec, str):
        tokens = [t.strip() for t in spec.split(",")]
    elif isinstance(spec, Sequence):
        tokens = [str(t).strip() for t in spec]
    else:
        raise ConfigError(f"metrics must be a comma-separated string or a list of names, got "
                          f"{type(spec).__name__}")
    tokens = [t.lower() for t in tokens if t]
    if not tokens:
        raise ConfigError("no metrics given; name some (see `saliencylab metrics`), 'all' or a "
                          f"group ({', '.join(METRIC_GROUPS)})")

    def why(name: str) -> str | None:
        return _why_not(get_metric(name), modality, task, has_groundtruth, has_background)

    applicable = [n for n in metric_names() if why(n) is None]
    names: list[str] = []
    for token in tokens:
        if token == "all":
            if not applicable:
                raise NotApplicableError(f"no metric applies to {modality.replace('_', ' ')} "
                                         f"data and a {task} model")
            names += applicable
        elif token in METRIC_GROUPS:
            names += METRIC_GROUPS[token]
        elif token in METRICS and METRICS[token].outputs:
            names += METRICS[token].outputs
        elif _lookup(token) is not None:
            names.append(token)
        else:
            raise UnknownNameError("metric", token, [*metric_names(), *METRIC_GROUPS, "all"])
    for name in names:
        reason = why(name)
        if reason is not None:
            raise NotApplicableError(f"{name} {reason}. Metrics that apply: "
                                     f"{', '.join(applicable) or 'none'}")
    return list(dict.fromkeys(names))


def family_options(options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """``options`` checked (:func:`check_metric_options`) and keyed by registry entry: options
    given under an output's name (``"completeness"``) go to its family (``"certification"``).
    """
    check_metric_options(options)
    out: dict[str, dict[str, Any]] = {}
    for key, opts in (options or {}).items():
        family = get_metric(key).name
        merged = out.setdefault(family, {})
        for k, v in opts.items():
            if k in merged and merged[k] is not v and merged[k] != v:
                raise ConfigError(f"option {k!r} of {family} is given twice with different "
                                  f"values ({merged[k]!r} and {v!r})")
            merged[k] = v
    return out


def check_metric_options(options: Mapping[str, Mapping[str, Any]] | None) -> None:
    """Every key must name a metric, a family or an output, every option one its function
    accepts and every value one in the option's range (the metric's ``check_options``), so a
    typo or an out-of-range value fails before any work is done.

    >>> check_metric_options({"robustness": {"radius": 0.2}, "certification": {"fill": 0.5}})
    >>> check_metric_options({"robustness": {"raduis": 0.2}})
    Traceback (most recent call last):
    ...
    saliencylab.errors.ConfigError: metric robustness does not take raduis; it accepts: \
n_perturbations, perturb_fn, radius, relative
    """
    if options is None:
        return
    if not isinstance(options, Mapping):
        raise ConfigError(f"metric options must be a mapping of metric name -> options, got "
                          f"{type(options).__name__}")
    for name, opts in options.items():
        metric = _lookup(name)
        if metric is None:
            raise UnknownNameError("metric with options", name, _valid_names())
        if not isinstance(opts, Mapping):
            raise ConfigError(f"options of {name!r} must be a mapping of option -> value, got "
                              f"{opts!r}")
        accepted = metric.options()
        unknown = sorted(set(opts) - accepted)
        if unknown:
            raise ConfigError(f"metric {name} does not take {', '.join(map(str, unknown))}; it "
                              f"accepts: {', '.join(sorted(accepted)) or 'nothing'}")
        if metric.check_options is not None:
            try:
                metric.check_options(**opts)
            except ConfigError as exc:
                if type(exc) is not ConfigError:
                    raise
                raise ConfigError(f"metric {name}: {exc}") from exc


# The built-in metrics register themselves at the bottom of their modules; importing them here
# fills the registry. ``_ORDER`` fixes the order of the listing and of "all".
_ORDER = ("sanity", "faithfulness", "inter_class_sensitivity", "robustness", "stability",
          "groundtruth", "certification", "deletion", "insertion", "saliency_metric",
          "localization")
for _module in ("sanity", "faithfulness", "sensitivity", "robustness", "stability", "groundtruth",
                "certification", "games", "localization", "accuracy_drop", "blur", "vanishing",
                "eraser", "distribution"):
    importlib.import_module(f"saliencylab.metrics.{_module}")
for _name in sorted(METRICS, key=lambda n: _ORDER.index(n) if n in _ORDER else len(_ORDER)):
    METRICS[_name] = METRICS.pop(_name)
del _module, _name
