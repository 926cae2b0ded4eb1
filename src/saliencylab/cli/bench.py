"""``saliencylab bench``, ``saliencylab results`` and ``saliencylab report``.

Several ``bench`` processes may run on one run directory at once: they split the cells through
claims in the results store (see :mod:`saliencylab.bench.runner`) and each prints what it ran,
what the others finished and what is left. A damaged results store is refused by every command
with a :class:`~saliencylab.errors.CorruptStoreError` (exit code 2) that says what to do.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from saliencylab.errors import ConfigError

console = Console()
results_app = typer.Typer(help="Read a run's results store.", no_args_is_help=True)


def bench(
    preset: str = typer.Option(
        None, help="grid: quick (default); the papers' tables vanishing, tsb-table1, "
        "tsb-figure3, tsb-figure8, sgt-table2, segmentation (each also NAME-full, the paper's "
        "scale); paper-gaussian, paper, quality (quality-full: [OBJ]'s six archives from "
        "--data-dir), localization, text-quick, eraser; "
        "experiment: certify, certify-full, images-quick, mnist, mnist-small (both need "
        "--data-dir)"),
    config: Path = typer.Option(None, help="grid YAML (may name `preset:` and override it)"),
    run_dir: Path = typer.Option(None, help="run directory (default runs/<grid name>)"),
    data_dir: Path = typer.Option(None, help="folder of the folder-backed sources (overrides "
                                  "the grid's data_dir; the mnist presets' IDX files)"),
    executor: str = typer.Option("local", help="local or ray"),
    workers: int = typer.Option(0, min=0, help="local process-pool size (0/1 = in-process)"),
    address: str = typer.Option(None, help="Ray cluster address (default: a local Ray)"),
    report: bool = typer.Option(True, help="write the HTML report at the end"),
    max_cells: int = typer.Option(None, min=1, help="stop after this many new cells"),
    lease: float = typer.Option(
        None, min=1.0, help="seconds a cell's claim lasts unless renewed (renewed every "
        "quarter lease while it runs; default $SALIENCYLAB_LEASE or 600): how long a killed "
        "run's cells wait before a process on another machine takes them over"),
    check: bool = typer.Option(False, "--check", help="check the whole grid (names, data, "
                               "models, method and metric parameters on two samples; an "
                               "experiment: its data and cells), print its cells and exit "
                               "without running anything"),
) -> None:
    """Run (or resume) a benchmark grid and write its report."""
    from saliencylab.bench.config import EXPERIMENTS, load_config
    from saliencylab.bench.plan import check_grid
    from saliencylab.bench.runner import run_grid

    if preset in EXPERIMENTS:
        # Experiments have their own runner: options of a grid run would be ignored silently.
        given = [flag for flag, value in (("--config", config), ("--executor", executor != "local"),
                                          ("--workers", workers), ("--address", address),
                                          ("--max-cells", max_cells), ("--lease", lease))
                 if value]
        if given:
            raise ConfigError(f"preset {preset} is an experiment with its own runner; "
                              f"{', '.join(given)} applies to grids only")
        run_experiment(preset, run_dir, data_dir, check=check)
        return
    grid = load_config(config, preset, **({} if data_dir is None else
                                          {"data_dir": str(data_dir)}))
    run_dir = run_dir or Path("runs") / grid.name
    if check:
        plan = check_grid(grid)
        import pandas as pd

        _print(pd.DataFrame(plan.rows()), f"grid {grid.name}: {len(plan.trains)} train cells, "
               f"{len(plan.evals)} eval cells — checked, nothing run")
        return
    if (Path(run_dir) / "results.sqlite").exists():
        _open_store(run_dir).close()  # refuse a damaged store before saying anything else
    datasets = grid.dataset_names()
    metrics = f" + metrics {', '.join(grid.metrics)}" if grid.metrics else ""
    console.print(f"[bold]bench[/] {grid.name}: {len(datasets)} datasets "
                  f"({', '.join(datasets[:4])}{', ...' if len(datasets) > 4 else ''}) x "
                  f"{len(grid.models)} models x {len(grid.training)} trainings x "
                  f"{len(grid.all_methods())} methods (+{len(grid.tsr)} TSR) x "
                  f"{len(grid.seeds)} seeds{metrics} -> {run_dir}")
    summary = run_grid(grid, run_dir, executor=executor, workers=workers, address=address,
                       max_cells=max_cells, lease=lease)
    console.print(f"cells: {summary.line()}", highlight=False, soft_wrap=True)
    if summary.cells_held:
        console.print(f"{_cells(summary.cells_held)} held by another process on {run_dir}: it "
                      "stores them when done", highlight=False)
    if summary.cells_left:
        console.print(f"run again to compute the {_cells(summary.cells_left)} left",
                      highlight=False)
    if report:
        from saliencylab.report.html import write_report

        page = write_report(run_dir)
        console.print(f"report: [bold]{page}[/]")


def _cells(n: int) -> str:
    return f"{n} cell" if n == 1 else f"{n} cells"


def run_experiment(preset: str, run_dir: Path | None, data_dir: Path | None = None,
                   check: bool = False) -> None:
    """Presets that are experiments with their own runner (the [CS] certification, the [SGT]
    images); ``check``: build their cells (reading the data) and print the counts, run
    nothing."""
    from saliencylab.bench.config import EXPERIMENTS
    from saliencylab.experiments.certify import CertifySettings, certify_tasks, run_certify
    from saliencylab.experiments.images import ImagesSettings, image_tasks, run_images

    run_dir = run_dir or Path("runs") / preset
    quick = EXPERIMENTS[preset]["quick"]
    images = EXPERIMENTS[preset].get("runner") == "images"
    if data_dir is not None and not (images and not quick):
        raise ConfigError(f"preset {preset} reads no folder; --data-dir applies to grids and "
                          "the mnist presets")
    settings = ImagesSettings.for_preset(preset, data_dir) if images else None
    sizes = CertifySettings.for_scale(quick)  # the [CS] runner's
    if check:
        if settings is not None:
            trains, evals = image_tasks(settings)
            extra = f" (+ ROAR retraining for {', '.join(settings.roar_methods)})"
        else:
            trains, evals = certify_tasks(sizes)
            extra = ""
        console.print(f"experiment {preset}: {_cells(len(trains))} to train, "
                      f"{_cells(len(evals))} to evaluate{extra} — checked, nothing run",
                      highlight=False)
        return
    console.print(f"[bold]bench[/] {preset}: {EXPERIMENTS[preset]['description']} -> {run_dir}")
    if settings is not None:
        page = run_images(run_dir, settings, progress=True)
    else:
        page = run_certify(run_dir, quick=quick, settings=sizes)
    console.print(f"report: [bold]{page}[/]")


def report_cmd(run_dir: Path = typer.Argument(..., help="a run directory of `bench`")) -> None:
    """Write RUN_DIR/report/index.html from the run's results."""
    from saliencylab.report.html import write_report

    _open_store(run_dir).close()  # a missing or damaged store: a clear error, nothing written
    console.print(f"report: [bold]{write_report(run_dir)}[/]")


@results_app.command("show")
def results_show(
    run_dir: Path = typer.Argument(..., help="a run directory of `bench`"),
    metric: str = typer.Option("aup", help="metric for the per-method table"),
) -> None:
    """Print model accuracies and a method table with Diff against random."""
    from saliencylab.errors import UnknownNameError
    from saliencylab.report.tables import eval_table, train_table, with_diffs

    with _open_store(run_dir) as store:
        trains = train_table(store)
        evals = with_diffs(eval_table(store), _random_baseline(run_dir))
    described = {"key", "dataset", "process", "model", "training", "seed", "method",
                 "base_method", "tsr", "train_key", "model_key", "split", "metrics"}
    available = [c for c in evals.columns if c not in described and not c.startswith("diff_")]
    if not evals.empty and metric not in available:
        raise UnknownNameError("metric of this run", metric, available)
    _print(trains, "models")
    if not evals.empty:
        cols = ["dataset", "process", "model", "training", "method", metric, f"diff_{metric}"]
        _print(evals[[c for c in cols if c in evals]], f"{metric} per method")


@results_app.command("export")
def results_export(
    run_dir: Path = typer.Argument(..., help="a run directory of `bench`"),
    out: Path = typer.Argument(..., help="file ending in .csv or .parquet"),
    table: str = typer.Option("results", help="results (one row per metric) or cells"),
) -> None:
    """Export the results store to CSV or Parquet."""
    with _open_store(run_dir) as store:
        console.print(f"wrote {store.export(out, table=table)}")


def _random_baseline(run_dir: Path) -> str:
    """The method the run's Diff columns subtract (its grid's ``random_baseline``)."""
    import yaml

    grid_file = Path(run_dir) / "grid.yaml"
    grid = yaml.safe_load(grid_file.read_text()) if grid_file.is_file() else {}
    return (grid or {}).get("random_baseline") or "random"


def _open_store(run_dir: Path):
    """The checked results store of an existing run directory (never creates one)."""
    from saliencylab.bench.store import DEFAULT_FILENAME, ResultStore
    from saliencylab.errors import StoreError

    db = Path(run_dir) / DEFAULT_FILENAME
    if not db.is_file():
        raise StoreError(f"{run_dir} holds no {DEFAULT_FILENAME}: run `saliencylab bench` first")
    return ResultStore(db, create=False)


def _print(frame, title: str) -> None:
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
    app.command("report")(report_cmd)
    app.add_typer(results_app, name="results")
