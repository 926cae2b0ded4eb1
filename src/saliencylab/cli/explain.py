"""``saliencylab methods`` and ``saliencylab explain``: list the saliency methods; explain a
trained checkpoint on its own data (any source it was trained on).

    saliencylab methods
    saliencylab explain --checkpoint runs/checkpoints/Middle-Gaussian-tcn-s0.pt \\
        --method integrated_gradients --n 8 --out runs/explain/ig
    saliencylab explain --checkpoint CKPT --method gradient --tsr -p abs=false
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from saliencylab.cli.options import parse_options
from saliencylab.errors import ConfigError


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "auto"
    return str(value)


def methods(
    family: str = typer.Option(
        None, help="only this family: gradient, perturbation, learned, random"
    ),
) -> None:
    """List every saliency method with its family, needs and reference defaults."""
    from saliencylab.explain.registry import METHODS

    table = Table(title="saliency methods (defaults: the papers' reference settings)",
                  show_lines=False)
    for col in ("method", "family"):
        table.add_column(col, no_wrap=True)
    table.add_column("needs", overflow="fold")
    table.add_column("defaults", overflow="fold", ratio=1)
    table.add_column("papers", no_wrap=True)
    for name, info in METHODS.items():
        if family and info.family != family:
            continue
        defaults = ", ".join(f"{k}={_fmt(v)}" for k, v in info.defaults.items()) or "-"
        table.add_row(name, info.family, ", ".join(info.needs) or "-", defaults,
                      ", ".join(info.references) or "-")
    Console().print(table)


def plot_explanation(x, mask, attribution, title: str, path: Path) -> Path:
    """Input, ground truth (when known) and saliency side by side: time on x and features on y
    for a series ``(T, F)``, the channel mean of an image ``(C, H, W)``."""
    from matplotlib.figure import Figure

    image = x.dim() == 3

    def show(t):  # (T, F) -> features x time; (C, H, W) -> H x W
        return (t.float().mean(0) if image else t.float().T).numpy()

    panels = [(x, "input", "viridis")]
    if mask is not None and mask.any():
        panels.append((mask, "ground truth", "Greys"))
    panels.append((attribution, "saliency", "magma"))
    fig = Figure(figsize=(3.7 * len(panels), 3.2), constrained_layout=True)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (panel, label, cmap) in zip(axes, panels, strict=True):
        shown = ax.imshow(show(panel), aspect="auto" if not image else "equal",
                          origin="lower" if not image else "upper", cmap=cmap)
        ax.set_title(label)
        ax.set_xlabel("x" if image else "time")
        fig.colorbar(shown, ax=ax, fraction=0.046)
    axes[0].set_ylabel("y" if image else "feature")
    fig.suptitle(title)
    fig.savefig(path, dpi=90)
    return path


def write_token_page(data, part, attributions, title: str, path: Path) -> Path:
    """One HTML page of the explained documents, each token shaded by its saliency and the
    rationale (where the data has one) underlined; every token escaped."""
    import html

    from saliencylab.data.text import vocabulary_of
    from saliencylab.report.text import highlight_tokens

    vocab = vocabulary_of(data)
    lengths = part.valid_mask.sum(1).tolist() if part.valid_mask is not None else None
    blocks = []
    for i in range(attributions.shape[0]):
        n_tok = int(lengths[i]) if lengths is not None else attributions.shape[1]
        tokens = vocab.decode(part.x[i, :n_tok].tolist())
        rationale = None if part.mask is None else part.mask[i, :n_tok].numpy()
        blocks.append(f"<p><b>sample {i}, label {int(part.y[i])}</b><br>"
                      + highlight_tokens(tokens, attributions[i, :n_tok].numpy(), rationale)
                      + "</p>")
    path.write_text(f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
                    f"<h1>{html.escape(title)}</h1>" + "\n".join(blocks))
    return path


def explain_cmd(
    checkpoint: Path = typer.Option(..., exists=True, dir_okay=False, help="a saved model"),
    method: str = typer.Option("gradient", help="see `saliencylab methods`"),
    tsr: bool = typer.Option(False, "--tsr", help="apply temporal saliency rescaling"),
    n: int = typer.Option(8, min=1, help="samples to explain (the first n of the split)"),
    out: Path = typer.Option(None, help="output folder (default runs/explain/<ckpt>-<method>)"),
    split: str = typer.Option("test", help="test, val or train"),
    target: str = typer.Option("label", help="explain the true 'label' or the 'pred'iction"),
    seed: int = typer.Option(0, help="seeds baselines, noise and sampling"),
    batch_size: int = typer.Option(None, min=1, help="inputs per chunk (default: all)"),
    postprocess: str = typer.Option("tsb", help="comma-separated steps; 'none' for raw maps"),
    param: list[str] = typer.Option(None, "--param", "-p", help="method parameter name=value"),
    plots: bool = typer.Option(True, help="write one PNG per sample"),
    tv: float = typer.Option(None, min=0.0, help="learned_mask: lambda_TV (TV penalty) [CS]"),
    upsample: int = typer.Option(None, min=1, help="learned_mask: mask resolution 1/s [CS]"),
    mask_steps: int = typer.Option(None, "--steps", min=1,
                                   help="learned_mask: optimisation steps"),
) -> None:
    """Explain N samples of CHECKPOINT's own dataset; write attributions.npz and PNGs.

    The checkpoint alone says which data, model and procedure it came from (any source:
    synthetic, UCR / UEA, segmentation, images). Segmentation models are explained with the
    label of every step inside a labelled segment as target ("no class" and padded steps are
    not explained).
    """
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    import torch

    from saliencylab.bench.cells import TrainTask, explain_targets
    from saliencylab.explain import explain
    from saliencylab.explain.registry import get_method
    from saliencylab.train import model_from_checkpoint, read_checkpoint
    from saliencylab.utils import model_device

    get_method(method)  # fail before loading anything
    if split not in ("test", "val", "train"):
        raise ConfigError(f"--split must be test, val or train, got {split!r}")
    if target not in ("label", "pred"):
        raise ConfigError(f"--target must be 'label' or 'pred', got {target!r}")
    params = parse_options(param, "--param")
    shortcuts = {"lambda_tv": tv, "upsample": upsample, "steps": mask_steps}
    if any(v is not None for v in shortcuts.values()) and method != "learned_mask":
        raise ConfigError("--tv, --upsample and --steps apply to --method learned_mask only")
    params.update({k: v for k, v in shortcuts.items() if v is not None})
    steps = None if postprocess.strip().lower() == "none" else [
        s.strip() for s in postprocess.split(",") if s.strip()
    ]
    console = Console()
    payload = read_checkpoint(checkpoint)
    task = TrainTask.from_checkpoint(payload)
    model, info = model_from_checkpoint(payload)
    data = task.load_data()
    part = getattr(data, split)
    part = part.take(slice(0, min(n, len(part))))
    count = len(part)
    device = model_device(model)
    x = part.x.to(device)
    # text maps are zero on padding by the models' construction; valid= is for series
    valid = (None if part.valid_mask is None or data.modality == "text"
             else part.valid_mask.to(device))
    if target == "pred":
        with torch.no_grad():
            targets = model(x).argmax(-1)
        if valid is not None and targets.dim() == 2:
            targets = torch.where(valid, targets, torch.full_like(targets, -1))
    else:
        targets = explain_targets(data, part).to(device)

    start = time.perf_counter()
    result = explain(model, x, targets, method, batch_size=batch_size, seed=seed,
                     postprocess=steps, tsr=True if tsr else None, valid=valid, **params)
    seconds = time.perf_counter() - start

    out = out or Path("runs") / "explain" / f"{checkpoint.stem}-{method}{'-tsr' if tsr else ''}"
    out.mkdir(parents=True, exist_ok=True)
    attributions = result.attributions.detach().cpu()
    metadata = {
        "checkpoint": str(checkpoint), "method": method, "tsr": tsr, "split": split,
        "target": target, "params": result.params, "model_config": info.get("model_config"),
        "task": info.get("task"), "seconds": seconds,
    }
    masks = part.mask if part.mask is not None else torch.zeros(part.x.shape, dtype=torch.bool)
    np.savez_compressed(
        out / "attributions.npz", attributions=attributions.numpy(), inputs=part.x.numpy(),
        labels=part.y.numpy(), targets=targets.cpu().numpy(), masks=masks.numpy(),
        metadata=np.array(json.dumps(metadata, default=str)),
    )
    if plots and data.modality == "text":  # token maps as highlighted text
        write_token_page(data, part, attributions, f"{method} on {task.dataset}",
                         out / "tokens.html")
    elif plots:
        name = f"{method}{' + TSR' if tsr else ''}"
        for i in range(count):
            label = "" if part.y.dim() > 1 else f", label {int(part.y[i])}"
            plot_explanation(part.x[i], None if part.mask is None else part.mask[i],
                             attributions[i], f"{name} — sample {i}{label}",
                             out / f"sample_{i:03d}.png")
    table = Table(title=f"{method}{' + TSR' if tsr else ''} on {count} {split} samples of "
                        f"{task.dataset}")
    for col in ("samples", "seconds", "output"):
        table.add_column(col)
    table.add_row(str(count), f"{seconds:.2f}", str(out))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("methods")(methods)
    app.command("explain")(explain_cmd)
