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
                             "of vanishing, tsb-table1, sgt-table2, tsb-figure3, tsb-figure8, "
                             "sgt-text, sgt-images, obj-table1, quality, segmentation, "
                             "cs-table4)"),
    data_dir: Path = typer.Option(None, help="folder of the data the papers' own sets need "
                                  "(the MNIST IDX files, ERASER's folders); without it those "
                                  "presets are skipped"),
    run_root: Path = typer.Option(Path("runs"), help="folder of the presets' run directories"),
    out: Path = typer.Option(Path("docs/reproduction.md"), help="the page to write"),
    executor: str = typer.Option("local", help="local or ray"),
    workers: int = typer.Option(0, min=0, help="local process-pool size (0/1 = in-process)"),
    address: str = typer.Option(None, help="Ray cluster address (default: a local Ray)"),
    run: bool = typer.Option(True, help="run the presets first (--no-run: page from the "
                             "stores as they are)"),
) -> None:
    """Run the papers' presets (cells cached) and write the reproduction page."""
    from saliencylab.bench.config import (
        DATA_DIR_PRESETS,
        EXPERIMENTS,
        SCALES,
        load_config,
        scaled_preset,
    )
    from saliencylab.bench.runner import run_grid
    from saliencylab.cli.bench import run_experiment
    from saliencylab.errors import SaliencyLabError, UnknownNameError
    from saliencylab.report.reproduction import write_reproduction

    names = list(SCALES) if not only else [n.strip() for n in only.split(",") if n.strip()]
    for name in names:
        if name not in SCALES:
            raise UnknownNameError("paper preset", name, list(SCALES))
    presets = [scaled_preset(n, scale) for n in names]  # checks the scale too
    if run:
        for preset in presets:
            if preset in DATA_DIR_PRESETS and data_dir is None:
                console.print(f"[bold]reproduce[/] {preset}: skipped, it reads its data from a "
                              "folder (--data-dir DIR)")
                continue
            console.print(f"[bold]reproduce[/] {preset} -> {run_root / preset}")
            start = time.perf_counter()
            try:
                if preset in EXPERIMENTS:  # the image and [CS] experiments have own runners
                    run_experiment(preset, run_root / preset,
                                    data_dir if preset in DATA_DIR_PRESETS else None)
                    line = "done"
                else:
                    grid = load_config(preset=preset, **({} if data_dir is None else
                                                         {"data_dir": str(data_dir)}))
                    line = run_grid(grid, run_root / preset, executor=executor,
                                    workers=workers, address=address).line()
            except SaliencyLabError as exc:  # e.g. the archives of a table are not in DIR
                if preset not in DATA_DIR_PRESETS:
                    raise
                console.print(f"[bold]reproduce[/] {preset}: skipped, its data is not in "
                              f"{data_dir}: {exc}", highlight=False)
                continue
            console.print(f"cells: {line} ({time.perf_counter() - start:.0f} s)",
                          highlight=False)
    command = (f"saliencylab reproduce --scale {scale}" + (f" --only {only}" if only else "")
               + (" --data-dir DIR" if data_dir is not None else ""))
    page = write_reproduction(out, run_root=run_root, scale=scale, command=command)
    console.print(f"page: [bold]{page}[/]")


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)
