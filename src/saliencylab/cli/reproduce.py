"""``saliencylab reproduce``: run the papers' presets and write the reproduction page.

Each table's preset runs in ``runs/<preset>`` (the run directory of ``saliencylab bench
--preset <preset>``, so the two share their cells: a rerun computes only what is missing), then
:func:`saliencylab.report.reproduction.write_reproduction` writes ``docs/reproduction.md`` from
the stores.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console

console = Console()


def reproduce(
    scale: str = typer.Option("small", help="small (a 2-core CPU) or full (the papers' sizes)"),
    only: str = typer.Option(None, help="comma-separated paper presets to run (default: all "
                             "of vanishing, tsb-table1, sgt-table2, tsb-figure3, tsb-figure8)"),
    run_root: Path = typer.Option(Path("runs"), help="folder of the presets' run directories"),
    out: Path = typer.Option(Path("docs/reproduction.md"), help="the page to write"),
    executor: str = typer.Option("local", help="local or ray"),
    workers: int = typer.Option(0, min=0, help="local process-pool size (0/1 = in-process)"),
    address: str = typer.Option(None, help="Ray cluster address (default: a local Ray)"),
    run: bool = typer.Option(True, help="run the presets first (--no-run: page from the "
                             "stores as they are)"),
) -> None:
    """Run the papers' presets (cells cached) and write the reproduction page."""
    from saliencylab.bench.config import SCALES, load_config, scaled_preset
    from saliencylab.bench.runner import run_grid
    from saliencylab.errors import UnknownNameError
    from saliencylab.report.reproduction import write_reproduction

    names = list(SCALES) if not only else [n.strip() for n in only.split(",") if n.strip()]
    for name in names:
        if name not in SCALES:
            raise UnknownNameError("paper preset", name, list(SCALES))
    presets = [scaled_preset(n, scale) for n in names]  # checks the scale too
    seconds: dict[str, float] = {}
    if run:
        for preset in presets:
            grid = load_config(preset=preset)
            console.print(f"[bold]reproduce[/] {preset} -> {run_root / preset}")
            start = time.perf_counter()
            summary = run_grid(grid, run_root / preset, executor=executor, workers=workers,
                               address=address)
            seconds[preset] = time.perf_counter() - start
            console.print(f"cells: {summary.line()} ({seconds[preset]:.0f} s)", highlight=False)
    command = f"saliencylab reproduce --scale {scale}" + (f" --only {only}" if only else "")
    page = write_reproduction(out, run_root=run_root, scale=scale, command=command)
    console.print(f"page: [bold]{page}[/]")


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)
