"""``saliencylab data``: list the synthetic datasets and look at one.

    saliencylab data list
    saliencylab data show Middle --process AutoRegressive --seed 0 --out middle_ar.png
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

data_app = typer.Typer(
    name="data",
    help="Synthetic benchmark datasets ([TSB] boxes, [ICA] vanishing saliency).",
    no_args_is_help=True,
)


@data_app.command("list")
def list_designs() -> None:
    """List the designs (box size and placement) and the generating processes."""
    from saliencylab.data import ALL_DESIGNS, PROCESSES, SyntheticConfig

    table = Table(title="synthetic designs (dataset = design x process)")
    for col in ("design", "paper", "T x F", "box (time x features)", "placement"):
        table.add_column(col)
    for design in ALL_DESIGNS:
        config = SyntheticConfig(design=design)
        geom = config.geometry()
        if geom.moving:
            placement = "random per sample"
        elif geom.class_axis is not None:
            other = "time" if geom.class_axis == "feature" else "feature"
            placement = (f"{other} start random; {geom.class_axis} start "
                         f"{geom.positions[0]} (class 1) / {geom.positions[1]} (class 0)")
        else:
            placement = f"fixed at (t, f) = {geom.start}"
        source = "ICA" if design.startswith("Vanishing") else "TSB"
        table.add_row(design, source, f"{config.n_time} x {config.n_features}",
                      f"{geom.box[0]} x {geom.box[1]}", placement)
    console = Console()
    console.print(table)
    console.print("processes: " + ", ".join(PROCESSES))


def _split_name(name: str, process: str | None) -> tuple[str, str]:
    """Accept ``Middle`` (with --process) or ``Middle_AutoRegressive``."""
    from saliencylab.data import ALL_DESIGNS, PROCESSES

    if name not in ALL_DESIGNS and "_" in name:
        design, _, proc = name.partition("_")
        if design in ALL_DESIGNS and proc in PROCESSES:
            return design, proc
    return name, process or "Gaussian"


def plot_samples(dataset, n_per_class: int, path: Path) -> Path:
    """Heatmaps (time on x, features on y) of a few training samples of each class, box outlined."""
    import torch
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    split = dataset.train
    classes = list(range(dataset.n_classes))
    fig = Figure(figsize=(3.0 * n_per_class, 2.8 * len(classes)), constrained_layout=True)
    axes = fig.subplots(len(classes), n_per_class, squeeze=False)
    for row, label in enumerate(classes):
        idx = torch.nonzero(split.y == label).flatten()[:n_per_class].tolist()
        for col in range(n_per_class):
            ax = axes[row][col]
            if col >= len(idx):
                ax.axis("off")
                continue
            i = idx[col]
            image = ax.imshow(split.x[i].T.numpy(), aspect="auto", origin="lower", cmap="viridis")
            if split.starts is not None:
                t0, f0 = split.starts[i].tolist()
                h, w = dataset.meta["box"]
                ax.add_patch(Rectangle((t0 - 0.5, f0 - 0.5), h, w, fill=False, edgecolor="red",
                                       linewidth=1.5))
            ax.set_title(f"class {label}, sample {i}", fontsize=9)
            ax.set_xlabel("time")
            ax.set_ylabel("feature")
            fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(dataset.meta.get("name", "dataset"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


@data_app.command("show")
def show(
    name: str = typer.Argument(..., help="design (e.g. Middle) or design_process"),
    process: str = typer.Option(None, "--process", "-p", help="generating process (Gaussian)"),
    seed: int = typer.Option(0, min=0, help="data seed"),
    out: Path = typer.Option(None, help="PNG path (default runs/data/<name>_s<seed>.png)"),
    n_per_class: int = typer.Option(2, min=1, max=8, help="samples plotted per class"),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="use the on-disk cache"),
) -> None:
    """Print the shapes and class balance of a dataset and plot a few samples of each class."""
    from saliencylab.data import load_synthetic

    design, process = _split_name(name, process)
    data = load_synthetic(design, process, seed=seed, cache=cache)
    meta = data.meta
    table = Table(title=f"{meta['name']} (seed {seed})")
    for col in ("split", "x shape", *(f"class {c}" for c in range(data.n_classes))):
        table.add_column(col, justify="right")
    for split, info in data.summary().items():
        table.add_row(split, " x ".join(map(str, info["shape"])), *map(str, info["classes"]))
    console = Console()
    console.print(table)
    if meta["moving"]:
        where = "random start per sample"
    elif meta["positional"]:
        where = f"class sets the {meta['positional']} start {meta['positions']}"
    else:
        where = f"start (t, f) = {meta['start']}"
    console.print(f"box {meta['box'][0]} x {meta['box'][1]} (time x features), {where}; "
                  f"{'min-max scaled' if meta['scaled'] else 'unscaled'}")
    out = out or Path("runs") / "data" / f"{meta['name']}_s{seed}.png"
    console.print(f"samples: {plot_samples(data, n_per_class, out)}")


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the main app."""
    app.add_typer(data_app, name="data")
