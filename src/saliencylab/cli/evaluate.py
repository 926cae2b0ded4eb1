"""``saliencylab metrics`` and ``saliencylab evaluate``: list the quality metrics; score the maps
of several methods for a trained checkpoint and store the scores in a run's results store.

    saliencylab metrics
    saliencylab evaluate --checkpoint runs/checkpoints/Middle-Gaussian-tcn-s0.pt \\
        --methods gradient,integrated_gradients --metrics all --n 50
    saliencylab evaluate --checkpoint fcn-gunpoint.pt --dataset GunPoint --obj-settings \\
        --metrics sanity,faithfulness,certification --run-dir runs/gunpoint

Metrics are those of [OBJ] (Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual
Interpretations to Time Series"), the ground-truth evaluation of [TSB] (Ismail et al., NeurIPS
2020; synthetic data only) and the certification of [CS] (Gupta et al., NeurIPS 2022). Each
(model, dataset, method, metric set) is one ``quality`` cell of ``RUN_DIR/results.sqlite``, keyed
by everything that determines it, so a rerun skips what is stored; ``saliencylab report RUN_DIR``
draws the metric x method heatmaps.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from saliencylab.errors import ConfigError

console = Console()


def metrics_cmd(
    category: str = typer.Option(None, help="only this category (e.g. sanity, certification)"),
) -> None:
    """List every metric with its category, orientation and the data it applies to."""
    from saliencylab.bench.cells import METRIC_GROUPS, metric_catalog

    table = Table(title="saliency metrics (`evaluate --metrics NAME,...`; 'all' = every "
                  "registry metric that applies; groups: " + ", ".join(METRIC_GROUPS) + ")")
    table.add_column("metric", no_wrap=True)
    for col in ("category", "better", "applies to", "re-explains"):
        table.add_column(col, overflow="fold")
    table.add_column("what it measures", overflow="fold", ratio=1, min_width=24)
    table.add_column("papers", no_wrap=True)
    applies = {"classification": "classifiers", "groundtruth": "synthetic (masks)",
               "segmentation": "segmentation"}
    for m in metric_catalog():
        if category and m.category != category:
            continue
        table.add_row(m.name, m.category, "higher" if m.higher_is_better else "lower",
                      applies.get(m.applies_to, m.applies_to),
                      "yes" if m.needs_explain_fn else "no", m.description,
                      ", ".join(m.references) or "-")
    console.print(table)


def _parse_dotted(items: list[str] | None, option: str) -> dict[str, dict[str, Any]]:
    """``["robustness.radius=0.2"]`` -> ``{"robustness": {"radius": 0.2}}`` (YAML values)."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        owner, dot, name = key.strip().partition(".")
        if not sep or not dot or not owner or not name:
            raise ConfigError(f"{option} must look like name.option=value, got {item!r}")
        out.setdefault(owner, {})[name] = yaml.safe_load(raw)
    return out


def _load_data(info: dict[str, Any], dataset: str | None, seed: int):
    """The checkpoint's data, or ``dataset``: a synthetic design (the checkpoint's process and
    sizes) or a UCR / UEA name. Returns ``(data, dataset name, process)``."""
    from saliencylab.bench.cells import UCR_PROCESS
    from saliencylab.data import ALL_DESIGNS, SyntheticConfig, load_synthetic, load_ucr

    config = dict(info.get("data_config") or {})
    if dataset is not None and dataset not in ALL_DESIGNS:
        data = load_ucr(dataset, seed=seed)
        return data, dataset, UCR_PROCESS
    if "design" in config:
        if dataset is not None:
            config["design"] = dataset
        data = load_synthetic(SyntheticConfig(**config))
        return data, data.config.design, data.config.process
    if dataset is not None:  # a design, but the checkpoint was not trained on synthetic data
        data = load_synthetic(dataset)
        return data, dataset, data.config.process
    if "name" in config:  # a UCRConfig
        data = load_ucr(**config)
        return data, config["name"], UCR_PROCESS
    raise ConfigError("the checkpoint records no data_config; pass --dataset (a UCR name such as "
                      "GunPoint or a synthetic design)")


def _check_fits(model_config: dict[str, Any], data: Any, name: str) -> None:
    want = (model_config.get("n_time"), model_config.get("n_features"))
    have = (data.n_time, data.n_features)
    n_classes = model_config.get("n_classes")
    if want[1] is not None and want[1] != have[1]:
        raise ConfigError(f"the checkpoint's {model_config.get('name')} takes {want[1]} features; "
                          f"{name} has {have[1]} (time x features = {have})")
    if n_classes is not None and data.n_classes > n_classes:
        raise ConfigError(f"the checkpoint's model predicts {n_classes} classes; {name} has "
                          f"{data.n_classes}")


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def evaluate(
    checkpoint: Path = typer.Option(..., exists=True, dir_okay=False, help="a saved model"),
    dataset: str = typer.Option(
        None, help="UCR / UEA name (e.g. GunPoint) or synthetic design; default: the "
        "checkpoint's own data"),
    methods: str = typer.Option("gradient,integrated_gradients",
                                help="comma-separated, see `saliencylab methods`"),
    metrics: str = typer.Option(
        "all", help="comma-separated names (see `saliencylab metrics`), 'all' (every metric "
        "that applies) and/or 'certification'"),
    n: int = typer.Option(100, min=1, help="samples (the first n of the split)"),
    split: str = typer.Option("test", help="test, val or train"),
    run_dir: Path = typer.Option(Path("runs") / "evaluate", help="results go to "
                                 "RUN_DIR/results.sqlite"),
    obj_settings: bool = typer.Option(
        False, "--obj-settings", help="use the [OBJ] method settings (IG zero baseline, 60 "
        "steps; SmoothGrad 60 samples, sigma 0.2) instead of the registry's [TSB] defaults"),
    param: list[str] = typer.Option(None, "--param", "-p",
                                    help="method option method.name=value"),
    metric_param: list[str] = typer.Option(
        None, "--metric-param", "-q", help="metric option metric.name=value, e.g. "
        "robustness.radius=0.2 or certification.fill=0"),
    postprocess: str = typer.Option("tsb", help="map post-processing before scoring ('none' "
                                    "for raw maps)"),
    seed: int = typer.Option(0, help="seeds explanations, metric draws and the UCR split"),
    batch_size: int = typer.Option(256, min=1, help="inputs per chunk"),
) -> None:
    """Explain N samples with each method, score every metric, store and print the means."""
    from saliencylab.bench.cells import (
        blas_threads,
        check_metric_params,
        resolve_metrics,
        score_quality,
    )
    from saliencylab.bench.store import ResultStore
    from saliencylab.explain import OBJ_PRESETS, explain
    from saliencylab.explain.registry import get_method
    from saliencylab.train import load_checkpoint
    from saliencylab.utils import stable_hash

    method_names = [m.strip() for m in methods.split(",") if m.strip()]
    if not method_names:
        raise ConfigError("--methods is empty; name at least one (see `saliencylab methods`)")
    for name in method_names:
        get_method(name)  # UnknownNameError lists the valid names, before anything is loaded
    if split not in ("test", "val", "train"):
        raise ConfigError(f"--split must be test, val or train, got {split!r}")
    method_params = _parse_dotted(param, "--param")
    for name in method_params:
        if name not in method_names:
            raise ConfigError(f"--param {name}.… names a method not in --methods "
                              f"({', '.join(method_names)})")
    metric_params = _parse_dotted(metric_param, "--metric-param")
    check_metric_params(metric_params)
    resolve_metrics(metrics, groundtruth=True)  # unknown names fail before anything is loaded
    steps = None if postprocess.strip().lower() == "none" else postprocess

    model, info = load_checkpoint(checkpoint)
    data, data_name, process = _load_data(info, dataset, seed)
    _check_fits(info["model_config"], data, data_name)
    part = getattr(data, split)
    has_masks = part.mask is not None
    names = resolve_metrics(metrics, groundtruth=has_masks, data_name=data_name)

    count = min(n, part.x.shape[0])
    device = next(model.parameters()).device
    x, y = part.x[:count].to(device), part.y[:count].to(device)
    box = part.mask[:count] if has_masks else None
    background = data.background if has_masks else None
    gray = float(data.train.x.mean())
    model_name = info["model_config"].get("name", "model")
    base = {
        "model": model_name, "dataset": data_name, "process": process, "split": split,
        "n": count, "seed": seed, "checkpoint": str(checkpoint),
        "checkpoint_sha256": _file_hash(checkpoint), "training":
            (info.get("procedure") or {}).get("name", "traditional"),
        "metrics": names, "metric_params": metric_params, "postprocess": postprocess,
    }
    console.print(f"[bold]evaluate[/] {model_name} on {data_name} ({split}, {count} samples): "
                  f"{len(method_names)} methods x {len(names)} metrics -> {run_dir}")
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with ResultStore(Path(run_dir) / "results.sqlite") as store:
        for method in method_names:
            params = {**(OBJ_PRESETS.get(method, {}) if obj_settings else {}),
                      **method_params.get(method, {})}
            config = {**base, "method": method, "method_params": params}
            key = "quality-" + stable_hash(config)
            if not store.is_finished(key):
                start = time.perf_counter()
                with blas_threads():
                    maps = explain(model, x, y, method, seed=seed, postprocess=steps,
                                   batch_size=batch_size, **params).attributions.detach()
                    explain_seconds = time.perf_counter() - start
                    scores = score_quality(
                        model, x, y, maps, names, method=method, params=params,
                        postprocess=steps, seed=seed, batch_size=batch_size,
                        metric_params=metric_params, box=box, background=background, gray=gray,
                    )
                rows = [("explain_seconds", "value", explain_seconds), *scores.rows()]
                store.write_cell(key, "quality", config, rows,
                                 duration=time.perf_counter() - start,
                                 per_sample=scores.arrays())
                status = f"{time.perf_counter() - start:.1f} s"
            else:
                status = "stored, skipped"
            console.print(f"  {method}: {status}")
            stored = {(m, s): v for m, s, v in store.rows(key)}
            results[method] = {m: (stored.get((m, "mean"), math.nan),
                                   stored.get((m, "se"), math.nan)) for m in names}
    _print_results(results, names, f"{model_name} on {data_name}: mean ± se over {count} "
                   "samples (higher is better unless marked ↓)")


def _print_results(results: dict[str, dict[str, tuple[float, float]]], names: list[str],
                   title: str) -> None:
    from saliencylab.bench.cells import higher_is_better

    table = Table(title=title)
    table.add_column("method", no_wrap=True)
    for m in names:
        table.add_column(m if higher_is_better(m) else f"{m} ↓", justify="right")
    for method, values in results.items():
        cells = []
        for m in names:
            mean, se = values[m]
            cells.append("–" if math.isnan(mean) else f"{mean:.3f}" + (
                "" if math.isnan(se) else f" ± {se:.3f}"))
        table.add_row(method, *cells)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics_cmd)
    app.command("evaluate")(evaluate)
