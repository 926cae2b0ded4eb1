"""``saliencylab data``: list the registered data sources and look at one.

    saliencylab data list
    saliencylab data show Middle --process AutoRegressive --seed 0 --out middle_ar.png
    saliencylab data show gunpoint
    saliencylab data show Coffee --data-dir ~/UCRArchive_2018
    saliencylab data show SyntheticSegmentation
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

data_app = typer.Typer(
    name="data",
    help="Datasets: [TSB] / [ICA] synthetic designs, UCR/UEA archives, segmentation data.",
    no_args_is_help=True,
)


@data_app.command("list")
def list_designs() -> None:
    """List every registered source, grouped by kind (synthetic, vanishing, ucr, segmentation)."""
    from saliencylab.data import list_sources
    from saliencylab.data.sources import ARCHIVE_NOTE, KIND_TITLES

    sources = list_sources()
    console = Console()
    for kind in dict.fromkeys(s.kind for s in sources):
        group = [s for s in sources if s.kind == kind]
        process_sets = {s.processes for s in group}
        shared = process_sets.pop() if len(process_sets) == 1 else None
        table = Table(title=escape(f"{kind}: {KIND_TITLES.get(kind, kind)}"),
                      title_justify="left")
        columns = ["name", "description"]
        if shared is None:
            columns.append("processes")
        if len({s.task for s in group}) > 1:
            columns.append("task")
        if any(s.needs_data_dir for s in group):
            columns.append("needs --data-dir")
        for col in columns:
            table.add_column(col, no_wrap=col == "name")
        for s in group:
            cells = {"name": s.name, "description": s.description,
                     "processes": ", ".join(s.processes) or "-", "task": s.task,
                     "needs --data-dir": "yes" if s.needs_data_dir else ""}
            table.add_row(*(escape(cells[c]) for c in columns))
        console.print(table)
        if shared:
            console.print(f"processes: {', '.join(shared)} (default {group[0].default_process}; "
                          f"--process P, any case)")
        if kind == "ucr":
            console.print(escape(ARCHIVE_NOTE))
        console.print()


def _draw(ax: Any, dataset: Any, i: int) -> None:
    """One training sample: lines (few features) or a heatmap, with its ground truth / labels;
    an image as its channel mean."""
    from matplotlib.patches import Rectangle

    split = dataset.train
    x = split.x[i]  # (T, F), or (C, H, W) for an image
    if x.dim() == 3:
        ax.imshow(x.float().mean(0).numpy(), cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    length = int(split.lengths[i]) if split.lengths is not None else x.shape[0]
    if x.shape[1] <= 6:
        ax.plot(x.numpy(), linewidth=1)
        ax.set_ylabel("value")
        if split.mask is not None and split.y.dim() == 1:
            steps = split.mask[i].any(dim=1).nonzero().flatten()
            if len(steps):
                ax.axvspan(int(steps.min()) - 0.5, int(steps.max()) + 0.5, color="red",
                           alpha=0.15)
    else:
        image = ax.imshow(x.T.numpy(), aspect="auto", origin="lower", cmap="viridis")
        ax.figure.colorbar(image, ax=ax, shrink=0.8)
        ax.set_ylabel("feature")
        if split.starts is not None and "box" in dataset.meta:
            t0, f0 = split.starts[i].tolist()
            h, w = dataset.meta["box"]
            ax.add_patch(Rectangle((t0 - 0.5, f0 - 0.5), h, w, fill=False, edgecolor="red",
                                   linewidth=1.5))
    if length < x.shape[0]:
        ax.axvline(length - 0.5, color="black", linestyle="--", linewidth=1)
    if split.y.dim() == 2:
        labels = ax.twinx()
        labels.step(range(x.shape[0]), split.y[i].numpy(), where="mid", color="red",
                    linewidth=1)
        labels.set_ylabel("label", color="red")
    ax.set_xlabel("time")


def plot_samples(dataset: Any, n_per_class: int, path: Path) -> Path:
    """A few training samples of each class (segmentation: the first samples, labels drawn as a
    red step line), box outlined or informative steps shaded, padding after a dashed line."""
    from matplotlib.figure import Figure

    split = dataset.train
    if split.y.dim() == 2:
        rows = [[i] for i in range(min(len(split), 2 * n_per_class))]
        titles = [[f"sample {i}"] for i in range(len(rows))]
        n_cols = 1
    else:
        rows, titles = [], []
        for label in range(dataset.n_classes):
            idx = (split.y == label).nonzero().flatten()[:n_per_class].tolist()
            rows.append(idx)
            titles.append([f"class {label}, sample {i}" for i in idx])
        n_cols = n_per_class
    fig = Figure(figsize=(3.4 * n_cols + 1.5, 2.6 * len(rows)), constrained_layout=True)
    axes = fig.subplots(len(rows), n_cols, squeeze=False)
    for r, idx in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            if c >= len(idx):
                ax.axis("off")
                continue
            _draw(ax, dataset, idx[c])
            ax.set_title(titles[r][c], fontsize=9)
    fig.suptitle(dataset.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _describe(data: Any) -> list[str]:
    """Lines about the data beyond the split table: box, lengths, classes, source."""
    meta, lines = data.meta, []
    if "box" in meta:
        if meta["moving"]:
            where = "random start per sample"
        elif meta["positional"]:
            where = f"class sets the {meta['positional']} start {meta['positions']}"
        else:
            where = f"start (t, f) = {meta['start']}"
        lines.append(f"box {meta['box'][0]} x {meta['box'][1]} (time x features), {where}; "
                     f"{'min-max scaled' if meta['scaled'] else 'unscaled'}")
    lengths = [s.lengths for s in data.splits.values() if s.lengths is not None and len(s)]
    if lengths:
        lo = min(int(t.min()) for t in lengths)
        hi = max(int(t.max()) for t in lengths)
        lines.append(f"ragged: {lo}..{hi} valid steps, padded to {data.n_time} "
                     f"({meta.get('padding', '?')} padding)")
    if meta.get("class_names"):
        names = ", ".join(f"{i} = {n}" for i, n in enumerate(meta["class_names"]))
        lines.append(f"classes: {names}")
    lines.append(f"task: {data.task}; ground-truth mask: {'yes' if data.has_mask else 'no'}; "
                 f"background draws: {'yes' if data.has_background else 'no'}")
    return lines


@data_app.command("show")
def show(
    name: str = typer.Argument(..., help="a source of `data list` (any case), design_process, "
                               "or any UCR/UEA archive name"),
    process: str = typer.Option(None, "--process", "-p",
                                help="generating process of a synthetic design (Gaussian)"),
    data_dir: Path = typer.Option(None, "--data-dir", help="folder to read the data from "
                                  "(<DIR>/<Name>/<Name>_TRAIN.ts|.tsv|.arff; ToolTracking root)"),
    seed: int = typer.Option(0, min=0, help="data seed (UCR: seed of the validation split)"),
    out: Path = typer.Option(None, help="PNG path (default runs/data/<name>_s<seed>.png)"),
    n_per_class: int = typer.Option(2, min=1, max=8, help="samples plotted per class"),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="use the on-disk cache"),
) -> None:
    """Print the shapes and class balance of a dataset and plot a few samples of each class."""
    from saliencylab.data import load_dataset

    data = load_dataset(name, process=process, data_dir=data_dir, seed=seed, cache=cache)
    table = Table(title=escape(f"{data.name} (seed {seed})"))
    for col in ("split", "x shape", *(f"class {c}" for c in range(data.n_classes))):
        table.add_column(col, justify="right")
    for split, info in data.summary().items():
        table.add_row(split, " x ".join(map(str, info["shape"])), *map(str, info["classes"]))
    console = Console()
    console.print(table)
    for line in _describe(data):
        console.print(escape(line))
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", data.name)
    out = out or Path("runs") / "data" / f"{safe}_s{seed}.png"
    console.print(escape(f"samples: {plot_samples(data, n_per_class, out)}"))


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the main app."""
    app.add_typer(data_app, name="data")
