"""``saliencylab metrics`` and ``saliencylab evaluate``: list the quality metrics; score the maps
of several methods for a trained checkpoint and store the scores in a run's results store.

    saliencylab metrics
    saliencylab evaluate --checkpoint runs/checkpoints/Middle-Gaussian-tcn-s0.pt \\
        --methods gradient,integrated_gradients --metrics all --n 50
    saliencylab evaluate --checkpoint fcn-gunpoint.pt --dataset GunPoint --obj-settings \\
        --metrics sanity,faithfulness,certification --run-dir runs/gunpoint
    saliencylab evaluate --checkpoint CKPT --dataset ECG200 --data-dir data/ucr

Metrics are those of [OBJ] (Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual
Interpretations to Time Series"), the ground-truth evaluation of [TSB] (Ismail et al., NeurIPS
2020; synthetic data only) and the certification of [CS] (Gupta et al., NeurIPS 2022). Each
method is one eval cell of ``RUN_DIR/results.sqlite`` — the cell ``saliencylab bench`` runs, with
the same rows — keyed by everything that determines it, so a rerun skips what is stored;
``saliencylab report RUN_DIR`` draws the metric x method heatmaps.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from saliencylab.cli.options import parse_dotted
from saliencylab.errors import ConfigError

console = Console()


def metrics_cmd(
    category: str = typer.Option(None, help="only this category (e.g. sanity, certification)"),
) -> None:
    """List every metric with its category, orientation, needs and where it applies."""
    from saliencylab.metrics import METRICS

    # A narrow terminal gets the descriptions under the table: as a column they would squeeze
    # the others to nothing.
    wide = console.width >= 150
    table = Table(title="saliency metrics (`evaluate --metrics NAME,...`; 'all' = every metric "
                  "that applies to the data; a family name gives all its outputs)")
    table.add_column("metric", no_wrap=True)
    for col in ("category", "better", "applies to", "needs"):
        table.add_column(col, overflow="fold")
    if wide:
        table.add_column("what it measures", overflow="fold", ratio=1, min_width=24)
    table.add_column("papers", overflow="fold")
    shown = [m for m in METRICS.values() if not category or m.category == category]
    for m in shown:
        outputs = m.outputs or {m.name: m.higher_is_better}
        better = ", ".join(f"{n}: {'higher' if hib else 'lower'}" if len(outputs) > 1 else
                           ("higher" if hib else "lower") for n, hib in outputs.items())
        where = f"{m.task}: {', '.join(m.modalities)}"
        described = [m.description] if wide else []
        table.add_row(m.name, m.category, better, where, ", ".join(sorted(m.needs)) or "-",
                      *described, ", ".join(m.references) or "-")
    console.print(table)
    if not wide:
        for m in shown:
            console.print(f"[bold]{m.name}[/]: {m.description}", highlight=False)


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "ckpt-" + digest.hexdigest()[:16]


def _check_fits(model_config: dict[str, Any], data: Any, name: str) -> None:
    """The checkpoint's model must take the data's samples."""
    want = model_config.get("n_features"), model_config.get("n_time")
    if want[0] is not None and want[0] != data.n_features:
        raise ConfigError(f"the checkpoint's {model_config.get('name')} takes {want[0]} features; "
                          f"{name} has {data.n_features} (sample shape {data.input_shape})")
    n_classes = model_config.get("n_classes")
    if n_classes is not None and data.n_classes > n_classes:
        raise ConfigError(f"the checkpoint's model predicts {n_classes} classes; {name} has "
                          f"{data.n_classes}")


def checkpoint_task(info: dict[str, Any], dataset: str | None, process: str | None,
                    data_dir: Path | None) -> Any:
    """The checkpoint's training task, pointed at another dataset when one is named."""
    from dataclasses import replace

    from saliencylab.bench.cells import TrainTask
    from saliencylab.bench.config import source_of

    folder = None if data_dir is None else str(data_dir)
    try:
        task = TrainTask.from_checkpoint(info)
    except ConfigError:
        if dataset is None:
            raise
        model = (info.get("model_config") or {}).get("name", "model")
        task = TrainTask(dataset, process, model, "traditional", 0, data_dir=folder)
    if dataset is None and folder is None and process is None:
        return task
    source = source_of(dataset or task.dataset, folder or task.data_dir)
    same = source.name == task.dataset
    return replace(
        task, dataset=source.name, data=task.data if same else {},
        data_dir=folder or (task.data_dir if same else None),
        process=(process or (task.process if same else source.default_process))
        if source.processes else None)


def evaluate(
    checkpoint: Path = typer.Option(..., exists=True, dir_okay=False, help="a saved model"),
    dataset: str = typer.Option(None, help="a source name (see `saliencylab data list`); "
                                "default: the checkpoint's own data"),
    process: str = typer.Option(None, help="process of a synthetic design"),
    data_dir: Path = typer.Option(None, help="folder of a folder-backed source"),
    methods: str = typer.Option("gradient,integrated_gradients",
                                help="comma-separated, see `saliencylab methods`"),
    metrics: str = typer.Option(
        "all", help="comma-separated names (see `saliencylab metrics`), 'all' (every metric "
        "that applies) and/or groups such as 'certification'"),
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
    batch_size: int = typer.Option(256, min=1, help="inputs per chunk of every expensive call"),
) -> None:
    """Explain N samples with each method, score the metrics, store and print the means.

    Each method is one eval cell of ``saliencylab bench`` (the same function, rows and store
    schema), seeded by the checkpoint's seed; a rerun skips what is stored.
    """
    from saliencylab.bench.cells import EvalTask
    from saliencylab.bench.config import EvalSettings, cell_metrics
    from saliencylab.bench.runner import run_tasks
    from saliencylab.bench.store import ResultStore
    from saliencylab.explain import OBJ_PRESETS
    from saliencylab.explain.registry import get_method
    from saliencylab.metrics import check_metric_options
    from saliencylab.train import read_checkpoint

    method_names = [m.strip() for m in methods.split(",") if m.strip()]
    if not method_names:
        raise ConfigError("--methods is empty; name at least one (see `saliencylab methods`)")
    for name in method_names:
        get_method(name)  # UnknownNameError lists the valid names, before anything is loaded
    method_params = parse_dotted(param, "--param")
    for name in method_params:
        if name not in method_names:
            raise ConfigError(f"--param {name}.… names a method not in --methods "
                              f"({', '.join(method_names)})")
    metric_params = parse_dotted(metric_param, "--metric-param")
    check_metric_options(metric_params)
    evaluation = EvalSettings(n_samples=n, split=split, batch_size=batch_size,
                              postprocess=None if postprocess.strip().lower() == "none"
                              else postprocess).model_dump()

    payload = read_checkpoint(checkpoint)
    train = checkpoint_task(payload, dataset, process, data_dir)
    names = cell_metrics(train.dataset, [m.strip() for m in metrics.split(",") if m.strip()],
                         data_dir=train.data_dir)
    data = train.load_data()
    _check_fits(payload.get("model_config", {}), data, train.dataset)
    model_hash = _file_hash(checkpoint)
    tasks = [EvalTask(train, method,
                      method_params={**(OBJ_PRESETS.get(method, {}) if obj_settings else {}),
                                     **method_params.get(method, {})},
                      evaluation=evaluation, metrics=names, metric_params=metric_params,
                      model_hash=model_hash)
             for method in method_names]
    console.print(f"[bold]evaluate[/] {train.model} on {train.dataset} ({split}, "
                  f"{min(n, len(getattr(data, split)))} samples): {len(tasks)} methods x "
                  f"{len(names)} metrics -> {run_dir}")
    summary = run_tasks(run_dir, [], tasks, checkpoints={model_hash: payload}, title="evaluate")
    console.print(f"cells: {summary.cells_run} run, {summary.cells_skipped} already stored")
    with ResultStore(Path(run_dir) / "results.sqlite") as store:
        results = {t.name: {(m, s): v for m, s, v in store.rows(t.key)} for t in tasks}
    _print_results(results, names, f"{train.model} on {train.dataset}: mean ± se over the "
                   "samples (higher is better unless marked ↓)")


def _print_results(results: dict[str, dict[tuple[str, str], float]], names: tuple[str, ...],
                   title: str) -> None:
    from saliencylab.metrics import higher_is_better

    # one row per metric: a grid has few methods and, with --metrics all, many metrics
    table = Table(title=title)
    table.add_column("metric", no_wrap=True)
    for method in results:
        table.add_column(method, justify="right")
    for m in names:
        cells = []
        for rows in results.values():
            mean = rows.get((m, "mean"), rows.get((m, "value"), math.nan))
            se = rows.get((m, "se"), math.nan)
            cells.append("–" if math.isnan(mean) else f"{mean:.3f}" + (
                "" if math.isnan(se) else f" ± {se:.3f}"))
        table.add_row(m if higher_is_better(m) else f"{m} ↓", *cells)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics_cmd)
    app.command("evaluate")(evaluate)
