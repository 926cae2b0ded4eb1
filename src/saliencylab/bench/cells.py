"""Benchmark cells: the units of work of a grid, each a pure function of its task.

A *train cell* trains one (design, process, model, training, seed) and returns its checkpoint as a
dict; an *eval cell* explains the test samples of one trained model with one method (optionally
with TSR) and scores the maps against the ground truth ([TSB] Section 5). Cells read nothing from
the run directory and write nothing to it: the driver stores what they return, so the same
functions run in-process, in a process pool or on Ray workers on other machines.

A cell's key is the hash of everything that determines its output, so a finished cell is never
recomputed and a changed setting never reuses a stale result.

Quality metrics: when the grid names ``metrics:`` (the [OBJ] quality metrics of Löffler et al.,
"Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series", and the
``certification`` group of [CS] Gupta et al., NeurIPS 2022), an eval cell also scores its maps
with :func:`score_quality` and stores the rows under the metrics' own names (``sanity``,
``robustness``, ``completeness``, ...; no prefix: the names do not collide with the ground-truth
rows). Real (UCR) data has no ground truth, so its eval cells hold only quality rows.
``saliencylab evaluate`` uses the same function for its ``quality`` cells.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from saliencylab.errors import ConfigError, NotApplicableError, UnknownNameError
from saliencylab.runtime import tune_cpu_allocator
from saliencylab.utils import make_generator, seed_everything, stable_hash

if TYPE_CHECKING:  # torch is imported where used: configs and keys stay light
    from torch import Tensor, nn

#: ``TrainTask.process`` of a real (UCR / UEA) dataset: ``dataset`` is then the archive name.
UCR_PROCESS = "UCR"


@dataclass(frozen=True)
class TrainTask:
    """One model to train."""

    dataset: str
    process: str
    model: str
    training: str
    seed: int
    data: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    sgt: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return "train-" + stable_hash(asdict(self))

    def describe(self) -> dict[str, Any]:
        """Flat columns for the results store."""
        return {"dataset": self.dataset, "process": self.process, "model": self.model,
                "training": self.training, "seed": self.seed}


@dataclass(frozen=True)
class EvalTask:
    """One (trained model, method) pair to explain and score."""

    train: TrainTask
    method: str
    tsr: bool = False
    method_params: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    metric_params: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.method}+tsr" if self.tsr else self.method

    @property
    def key(self) -> str:
        content = {**asdict(self), "train": self.train.key}
        if not self.metrics:  # grids without quality metrics keep the keys they always had
            content.pop("metrics")
            content.pop("metric_params")
        return "eval-" + stable_hash(content)

    def describe(self) -> dict[str, Any]:
        return {**self.train.describe(), "method": self.label, "base_method": self.method,
                "tsr": self.tsr, "train_key": self.train.key}


@dataclass
class CellOutput:
    """What a cell returns to the driver."""

    rows: list[tuple[str, str, float]]
    seconds: float
    checkpoint: dict[str, Any] | None = None
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)
    examples: bytes | None = None


@contextlib.contextmanager
def blas_threads(n: int | None = None) -> Iterator[None]:
    """Limit NumPy / SciPy BLAS threads to ``n`` (default: torch's thread count) for a block.

    Captum's LIME and KernelSHAP fit their surrogate models with scikit-learn / SciPy, whose
    OpenBLAS otherwise starts one thread per core: on a busy 2-core machine that made
    KernelSHAP about 2.5x slower than with one thread. A no-op without threadpoolctl.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    import torch

    with threadpool_limits(limits=n or torch.get_num_threads(), user_api="blas"):
        yield


def _load_data(task: TrainTask):
    if task.process == UCR_PROCESS:
        from saliencylab.data import load_ucr

        return load_ucr(task.dataset, seed=task.seed, **task.data)
    from saliencylab.data import load_synthetic

    return load_synthetic(task.dataset, task.process, seed=task.seed, **task.data)


def _procedure(task: TrainTask):
    if task.training == "traditional":
        from saliencylab.train import Traditional

        return Traditional()
    from saliencylab.train.saliency_guided import SaliencyGuided

    return SaliencyGuided(**task.sgt)


def run_train_cell(task: TrainTask) -> CellOutput:
    """Train one model; rows hold its accuracies and time, ``checkpoint`` its weights."""
    from saliencylab.models import build_model
    from saliencylab.train import TrainConfig, fit, make_checkpoint

    tune_cpu_allocator()  # cells may run in pool or Ray workers: set it in each process
    start = time.perf_counter()
    data = _load_data(task)
    seed_everything(task.seed)
    model = build_model(task.model, n_features=data.n_features, n_time=data.n_time,
                        n_classes=data.n_classes, **task.model_kwargs)
    config = TrainConfig(seed=task.seed, device="auto", **task.train)
    result = fit(model, data, config, _procedure(task), progress=False)
    checkpoint = make_checkpoint(result.model, data_config=data.config, train_config=config,
                                 procedure=result.procedure, metrics=result.metrics())
    rows = [
        ("test_accuracy", "value", result.test_accuracy),
        ("val_accuracy", "value", result.val_accuracy),
        ("fit_to_interpret", "value", float(result.fit_to_interpret)),
        ("train_seconds", "value", result.seconds),
        ("epochs_run", "value", float(len(result.epoch_seconds))),
        ("epoch_seconds", "median", float(np.median(result.epoch_seconds))),
    ]
    return CellOutput(rows=rows, seconds=time.perf_counter() - start, checkpoint=checkpoint)


def run_eval_cell(job: tuple[EvalTask, dict[str, Any]]) -> CellOutput:
    """Explain ``evaluation.n_samples`` test samples; score the maps against the ground truth
    (synthetic data) and with the task's quality metrics (:func:`score_quality`)."""
    from saliencylab.explain import explain
    from saliencylab.metrics.groundtruth import evaluate_groundtruth
    from saliencylab.train import model_from_checkpoint
    from saliencylab.utils import resolve_device

    task, checkpoint = job
    tune_cpu_allocator()
    start = time.perf_counter()
    data = _load_data(task.train)
    model, _ = model_from_checkpoint(checkpoint, resolve_device("auto"))
    n = min(task.evaluation.get("n_samples", 100), len(data.test.x))
    x, y = data.test.x[:n], data.test.y[:n]
    box = None if data.test.mask is None else data.test.mask[:n]

    device = next(model.parameters()).device  # x stays on the CPU for the examples file
    xd, yd = x.to(device), y.to(device)
    t0 = time.perf_counter()
    with blas_threads():
        explanation = explain(model, xd, yd, method=task.method, seed=task.train.seed,
                              postprocess="tsb", tsr=True if task.tsr else None,
                              **task.method_params)
    saliency = explanation.attributions.detach().cpu()
    explain_seconds = time.perf_counter() - t0

    rows: list[tuple[str, str, float]] = [("explain_seconds", "value", explain_seconds)]
    per_sample: dict[str, np.ndarray] = {}
    if box is not None:
        t0 = time.perf_counter()
        result = evaluate_groundtruth(
            model, xd, yd, box.to(device), saliency.to(device), data.background,
            shared_background=task.evaluation.get("shared_background", False),
            generator=make_generator(task.train.seed + 7919),
            batch_size=task.evaluation.get("batch_size", 256),
        )
        rows += list(result.to_rows())
        rows.append(("eval_seconds", "value", time.perf_counter() - t0))
        per_sample.update(result.per_sample_arrays())
    if task.metrics:
        t0 = time.perf_counter()
        with blas_threads():
            scores = score_quality(
                model, x, y, saliency, task.metrics, method=task.method,
                params=task.method_params, tsr=task.tsr, postprocess="tsb",
                seed=task.train.seed, batch_size=task.evaluation.get("batch_size", 256),
                metric_params=task.metric_params, gray=float(data.train.x.mean()),
            )
        rows += scores.rows()
        rows.append(("quality_seconds", "value", time.perf_counter() - t0))
        per_sample.update(scores.arrays())

    n_ex = min(task.evaluation.get("n_examples", 4), n)
    mask = box[:n_ex].numpy() if box is not None else np.zeros(tuple(x[:n_ex].shape), bool)
    buf = io.BytesIO()
    np.savez_compressed(buf, x=x[:n_ex].numpy(), y=y[:n_ex].numpy(), mask=mask,
                        saliency=saliency[:n_ex].numpy())
    return CellOutput(rows=rows, seconds=time.perf_counter() - start,
                      per_sample=per_sample, examples=buf.getvalue())


# ------------------------------------------------------------------------------------------------
# Quality metrics of a method's maps: [OBJ] (metric registry) and [CS] certification

#: The [CS] scores of a method's maps (Gupta et al., NeurIPS 2022; SPEC.md section 8), computed
#: by :func:`score_quality`: ``name -> (higher_is_better, description)``. They are not in the
#: metric registry because one ``certify`` call yields several numbers.
CERTIFICATION_METRICS: dict[str, tuple[bool, str]] = {
    "completeness": (
        True, "worst case over the predicted and the second most likely label of "
        "min(max(0.01, AUC_a) / p_a, 1); insertion curve with gray fill, label-specific maps"),
    "soundness": (
        True, "worst case over the same two labels of min(max(0.1, p_a) / AUC_a, 1); "
        "insertion curve with gray fill"),
    "deletion": (
        False, "deletion game: mean probability of the predicted label while its top "
        "0..100 % cells are replaced by gray (lower is better)"),
    "insertion": (
        True, "insertion game: mean probability of the predicted label while its top "
        "0..100 % cells are inserted into gray"),
}
#: Names that stand for several metrics in ``--metrics`` and in a grid's ``metrics:``.
METRIC_GROUPS: dict[str, tuple[str, ...]] = {"certification": tuple(CERTIFICATION_METRICS)}


@dataclass(frozen=True)
class MetricEntry:
    """One row of :func:`metric_catalog`."""

    name: str
    category: str
    higher_is_better: bool
    applies_to: str
    description: str
    references: tuple[str, ...]
    needs_explain_fn: bool = False


def metric_catalog() -> list[MetricEntry]:
    """Every metric ``saliencylab evaluate`` knows: the registry's, then the [CS] ones.

    Example:
        >>> names = [m.name for m in metric_catalog()]
        >>> "sanity" in names and "completeness" in names
        True
    """
    from saliencylab.metrics.registry import METRICS

    out = [MetricEntry(m.name, m.category, m.higher_is_better, m.applies_to, m.description,
                       m.references, m.needs_explain_fn) for m in METRICS.values()]
    out += [MetricEntry(name, "certification", hib, "classification", text, ("CS",),
                        needs_explain_fn=True)
            for name, (hib, text) in CERTIFICATION_METRICS.items()]
    return out


def higher_is_better(name: str) -> bool:
    """Orientation of a metric of :func:`metric_catalog`."""
    for m in metric_catalog():
        if m.name == name:
            return m.higher_is_better
    raise UnknownNameError("metric", name, [m.name for m in metric_catalog()])


def quality_metric_names() -> list[str]:
    """Names of the metrics a method's maps get besides the ground truth: the registry's
    classification metrics and the [CS] certification metrics."""
    return [m.name for m in metric_catalog() if m.applies_to == "classification"]


def resolve_metrics(
    spec: str | Sequence[str], *, groundtruth: bool, data_name: str = "this data"
) -> list[str]:
    """Expand a metric spec into metric names, checking that each applies.

    ``spec`` is a comma-separated string or a list of names: metric names, ``"all"`` (every
    registry metric that applies: the [OBJ] classification metrics, plus the [TSB] ground-truth
    metrics when ``groundtruth``) and groups (``"certification"``).

    Raises:
        UnknownNameError: an unknown name (the message lists the valid ones).
        NotApplicableError: a ground-truth metric on data without masks, or a segmentation
            metric on a classifier.

    Example:
        >>> resolve_metrics("faithfulness,certification", groundtruth=False)[:3]
        ['faithfulness', 'completeness', 'soundness']
    """
    catalog = {m.name: m for m in metric_catalog()}
    tokens = [t.strip() for t in spec.split(",")] if isinstance(spec, str) else list(spec)
    tokens = [t for t in tokens if t]
    if not tokens:
        raise ConfigError("no metrics given; name some (see `saliencylab metrics`), 'all' or "
                          "'certification'")
    names: list[str] = []
    for token in tokens:
        if token == "all":
            names += [n for n, m in catalog.items() if m.category != "certification" and (
                m.applies_to == "classification" or (groundtruth and m.applies_to ==
                                                     "groundtruth"))]
        elif token in METRIC_GROUPS:
            names += METRIC_GROUPS[token]
        elif token in catalog:
            names.append(token)
        else:
            raise UnknownNameError("metric", token, [*catalog, *METRIC_GROUPS, "all"])
    for name in names:
        m = catalog[name]
        if m.applies_to == "groundtruth" and not groundtruth:
            valid = [n for n, e in catalog.items() if e.applies_to == "classification"]
            raise NotApplicableError(
                f"{name} is a ground-truth metric [TSB] and needs data with known informative "
                f"cells (the synthetic designs); {data_name} has none. Metrics that apply: "
                f"{', '.join(valid)}")
        if m.applies_to == "segmentation":
            raise NotApplicableError(f"{name} scores segmentation models (per-step labels); "
                                     "it does not apply to a classifier")
    return list(dict.fromkeys(names))


def check_metric_params(metric_params: dict[str, Any]) -> None:
    """Every key must be a registry metric (or ``certification``) and every option one its
    function takes, so a typo fails before any work is done."""
    from saliencylab.metrics.registry import METRICS

    for name, options in metric_params.items():
        if not isinstance(options, dict):
            raise ConfigError(f"metric_params[{name!r}] must be a mapping of options, got "
                              f"{options!r}")
        if name == "certification":
            accepted = {"fill", "fractions"}
        elif name in METRICS and METRICS[name].applies_to != "groundtruth":
            sig = inspect.signature(METRICS[name].fn).parameters
            accepted = {k for k, p in sig.items() if p.kind is p.KEYWORD_ONLY} - {
                "explain_fn", "batch_size", "generator"}
        else:
            valid = [n for n, m in METRICS.items() if m.applies_to != "groundtruth"]
            raise UnknownNameError("metric with options", name, [*valid, "certification"])
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise ConfigError(f"metric {name} does not take {', '.join(unknown)}; it accepts: "
                              f"{', '.join(sorted(accepted)) or 'nothing'}")


@dataclass
class QualityScores:
    """Per-sample scores ``(N,)`` (NaN = undefined for that sample), seconds per metric (or
    metric group) and the ground-truth rows, from :func:`score_quality`."""

    per_sample: dict[str, Tensor]
    seconds: dict[str, float]
    groundtruth_rows: list[tuple[str, str, float]] = field(default_factory=list)

    def rows(self) -> list[tuple[str, str, float]]:
        """``(metric, "mean" | "se" | "n", value)`` rows (undefined statistics left out) and
        ``(name, "seconds", value)`` timings, for the results store."""
        from saliencylab.metrics.aggregate import mean_se

        rows: list[tuple[str, str, float]] = []
        for name, values in self.per_sample.items():
            mean, se, n = mean_se(values)
            if n > 0 and math.isfinite(mean):
                rows.append((name, "mean", mean))
            if n > 1 and math.isfinite(se):
                rows.append((name, "se", se))
            rows.append((name, "n", float(n)))
        rows += self.groundtruth_rows
        rows += [(name, "seconds", float(s)) for name, s in self.seconds.items()]
        return rows

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.per_sample.items()}


def score_quality(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attributions: Tensor,
    metrics: Sequence[str],
    *,
    method: str,
    params: dict[str, Any] | None = None,
    tsr: bool = False,
    postprocess: Any = "tsb",
    seed: int = 0,
    batch_size: int | None = 256,
    metric_params: dict[str, dict[str, Any]] | None = None,
    box: Tensor | None = None,
    background: Any = None,
    gray: float = 0.0,
) -> QualityScores:
    """Score one method's maps with quality metrics, per sample.

    Args:
        model: the classifier (its device is used).
        x, y: ``(N, T, F)`` inputs and ``(N,)`` labels the maps explain.
        attributions: the maps of ``x`` for ``y`` made by ``method`` with ``params``, ``tsr``
            and ``postprocess``; metrics that re-explain (sanity, sensitivity, robustness,
            certification) use the same settings so new maps are comparable.
        metrics: names from :func:`resolve_metrics`.
        seed: seeds the explanations and each metric's draws.
        batch_size: inputs per chunk of the [OBJ] metrics and of the ground-truth evaluation.
        metric_params: per-metric options, e.g. ``{"robustness": {"radius": 0.2}}``;
            ``{"certification": {"fill": ...}}`` replaces the gray value.
        box, background: ground truth and background sampler (ground-truth metrics only).
        gray: the fill of the [CS] insertion / deletion curves (0 for z-normalised data, the
            training mean for min-max scaled data).

    Returns:
        :class:`QualityScores`; all [OBJ] and [CS] scores but ``deletion`` are higher-is-better.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, 2))
        >>> x, y = torch.rand(4, 10, 2), torch.tensor([0, 1, 0, 1])
        >>> a = torch.rand(4, 10, 2)
        >>> s = score_quality(net, x, y, a, ["faithfulness", "insertion"], method="gradient")
        >>> sorted(s.per_sample), s.per_sample["insertion"].shape
        (['faithfulness', 'insertion'], torch.Size([4]))
    """
    import torch

    from saliencylab.metrics.quality import make_explain_fn
    from saliencylab.metrics.registry import METRICS

    params = dict(params or {})
    metric_params = dict(metric_params or {})
    check_metric_params(metric_params)
    device = next(iter(model.parameters()), torch.empty(0)).device
    x, y = x.to(device), y.to(device)
    attributions = attributions.to(device)
    extra = {"tsr": True} if tsr else {}
    explain_fn = make_explain_fn(method, seed=seed, postprocess=postprocess, **params, **extra)

    per_sample: dict[str, Tensor] = {}
    seconds: dict[str, float] = {}
    gt_rows: list[tuple[str, str, float]] = []
    gt = [m for m in metrics if m in METRICS and METRICS[m].applies_to == "groundtruth"]
    for name in metrics:
        if name in gt or name in CERTIFICATION_METRICS:
            continue
        if name not in METRICS:
            raise UnknownNameError("metric", name, quality_metric_names())
        info = METRICS[name]
        kwargs: dict[str, Any] = {"batch_size": batch_size, "generator": make_generator(seed)}
        if info.needs_explain_fn:
            kwargs["explain_fn"] = explain_fn
        kwargs.update(metric_params.get(name, {}))
        t0 = time.perf_counter()
        per_sample[name] = info.fn(model, x, y, attributions, **kwargs).detach().float().cpu()
        seconds[name] = time.perf_counter() - t0

    if gt:
        from saliencylab.metrics.groundtruth import evaluate_groundtruth

        if box is None or background is None:
            raise NotApplicableError(f"{', '.join(gt)} need ground-truth masks and a background "
                                     "sampler (synthetic data)")
        t0 = time.perf_counter()
        result = evaluate_groundtruth(model, x, y, box.to(device), attributions, background,
                                      generator=make_generator(seed + 7919),
                                      batch_size=batch_size or 256)
        gt_rows = [r for r in result.to_rows() if r[0] in gt]
        seconds["groundtruth"] = time.perf_counter() - t0

    cert = [m for m in metrics if m in CERTIFICATION_METRICS]
    if cert:
        per_sample.update(_certification_scores(
            model, x, cert, method=method, params=params, tsr=tsr, postprocess=postprocess,
            seed=seed, options={"fill": gray, **metric_params.get("certification", {})},
            seconds=seconds))
    return QualityScores(per_sample, seconds, gt_rows)


def _certification_scores(
    model: nn.Module, x: Tensor, names: list[str], *, method: str, params: dict[str, Any],
    tsr: bool, postprocess: Any, seed: int, options: dict[str, Any], seconds: dict[str, float],
) -> dict[str, Tensor]:
    """[CS] scores of ``method``'s maps for the predicted and the second most likely label."""
    from saliencylab.explain import explain
    from saliencylab.metrics.certification import (
        certify,
        deletion_game,
        insertion_game,
        top_labels,
    )

    t0 = time.perf_counter()
    labels = top_labels(model, x, 2)
    maps = explain(model, x, [labels[:, 0], labels[:, 1]], method, seed=seed,
                   postprocess=postprocess, tsr=True if tsr else None, **params).attributions
    maps = maps.transpose(0, 1)  # (N, 2, T, F): one map per label
    seconds["certification_explain"] = time.perf_counter() - t0
    fill, fractions = options.get("fill", 0.0), options.get("fractions")
    out: dict[str, Tensor] = {}
    if {"completeness", "soundness"} & set(names):
        t0 = time.perf_counter()
        r = certify(model, x, maps, labels, fill=fill, fractions=fractions, seed=seed)
        if "completeness" in names:
            out["completeness"] = r.worst_completeness
        if "soundness" in names:
            out["soundness"] = r.worst_soundness
        seconds["certify"] = time.perf_counter() - t0
    for name, game in (("deletion", deletion_game), ("insertion", insertion_game)):
        if name in names:
            t0 = time.perf_counter()
            out[name] = game(model, x, maps[:, 0], labels[:, 0], fill=fill,
                             fractions=fractions, seed=seed).auc
            seconds[name] = time.perf_counter() - t0
    return {k: v.detach().float().cpu() for k, v in out.items()}
