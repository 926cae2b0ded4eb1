"""``saliencylab bench``, ``saliencylab results`` and ``saliencylab report``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()
results_app = typer.Typer(help="Read a run's results store.", no_args_is_help=True)


def bench(
    preset: str = typer.Option(
        None, help="grid: quick (default), vanishing, paper-gaussian, paper, quality; "
        "experiment: certify, certify-full"),
    config: Path = typer.Option(None, help="grid YAML (may name `preset:` and override it)"),
    run_dir: Path = typer.Option(None, help="run directory (default runs/<grid name>)"),
    executor: str = typer.Option("local", help="local or ray"),
    workers: int = typer.Option(0, min=0, help="local process-pool size (0/1 = in-process)"),
    address: str = typer.Option(None, help="Ray cluster address (default: a local Ray)"),
    report: bool = typer.Option(True, help="write the HTML report at the end"),
    max_cells: int = typer.Option(None, min=1, help="stop after this many new cells"),
) -> None:
    """Run (or resume) a benchmark grid and write its report."""
    from saliencylab.bench.config import EXPERIMENTS, load_config
    from saliencylab.bench.runner import run_grid

    if preset in EXPERIMENTS:
        _run_experiment(preset, run_dir)
        return
    grid = load_config(config, preset)
    run_dir = run_dir or Path("runs") / grid.name
    data = f"{len(grid.datasets)} designs x {len(grid.processes)} processes"
    if grid.ucr:
        data = (data + " + " if grid.datasets else "") + f"{len(grid.ucr)} UCR datasets"
    quality = f" x {len(grid.quality_metrics())} quality metrics" if grid.metrics else ""
    console.print(f"[bold]bench[/] {grid.name}: {data} x {len(grid.models)} models x "
                  f"{len(grid.training)} trainings x {len(grid.all_methods())} methods "
                  f"(+{len(grid.tsr)} TSR) x {len(grid.seeds)} seeds{quality} -> {run_dir}")
    summary = run_grid(grid, run_dir, executor=executor, workers=workers, address=address,
                       max_cells=max_cells)
    console.print(f"cells: {summary.cells_run} run, {summary.cells_skipped} already finished, "
                  f"{summary.cells_total} in the grid")
    if report:
        from saliencylab.report.html import write_report

        page = write_report(run_dir)
        console.print(f"report: [bold]{page}[/]")


def _run_experiment(preset: str, run_dir: Path | None) -> None:
    """Presets that are experiments with their own runner (the [CS] certification)."""
    from saliencylab.bench.config import EXPERIMENTS
    from saliencylab.experiments.certify import run_certify

    run_dir = run_dir or Path("runs") / preset
    quick = EXPERIMENTS[preset]["quick"]
    console.print(f"[bold]bench[/] {preset}: {EXPERIMENTS[preset]['description']} -> {run_dir}")
    page = run_certify(run_dir, quick=quick)
    console.print(f"report: [bold]{page}[/]")


def report_cmd(run_dir: Path = typer.Argument(..., help="a run directory of `bench`")) -> None:
    """Write RUN_DIR/report/index.html from the run's results."""
    from saliencylab.report.html import write_report

    console.print(f"report: [bold]{write_report(run_dir)}[/]")


@results_app.command("show")
def results_show(
    run_dir: Path = typer.Argument(..., help="a run directory of `bench`"),
    metric: str = typer.Option("aup", help="metric for the per-method table"),
) -> None:
    """Print model accuracies and a method table with Diff against random."""
    from saliencylab.bench.store import ResultStore
    from saliencylab.errors import SaliencyLabError
    from saliencylab.report.tables import eval_table, train_table, with_diffs

    db = Path(run_dir) / "results.sqlite"
    if not db.is_file():
        raise SaliencyLabError(f"{run_dir} holds no results.sqlite: run `saliencylab bench` first")
    with ResultStore(db) as store:
        _print(train_table(store), "models")
        evals = with_diffs(eval_table(store))
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
    from saliencylab.bench.store import ResultStore

    with ResultStore(Path(run_dir) / "results.sqlite") as store:
        console.print(f"wrote {store.export(out, table=table)}")


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
