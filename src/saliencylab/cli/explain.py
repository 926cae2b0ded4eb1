"""``saliencylab methods`` and ``saliencylab explain``: list the saliency methods; explain a
trained checkpoint on its own synthetic test data.

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

from saliencylab.errors import ConfigError


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "auto"
    return str(value)


def methods(
    family: str = typer.Option(None, help="only this family: gradient, perturbation, random"),
) -> None:
    """List every saliency method with its family, needs and reference defaults."""
    from saliencylab.explain.registry import METHODS

    table = Table(title="saliency methods (defaults from SPEC.md section 3)", show_lines=False)
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


def _parse_params(items: list[str]) -> dict[str, Any]:
    import yaml

    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param must look like name=value, got {item!r}")
        params[key.strip()] = yaml.safe_load(raw)
    return params


def plot_explanation(x, mask, attribution, title: str, path: Path) -> Path:
    """Input heatmap, ground-truth box and saliency map side by side (time on x, features on y)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.2), constrained_layout=True)
    axes = fig.subplots(1, 3)
    panels = ((x, "input", "viridis"), (mask.float(), "ground truth", "Greys"),
              (attribution, "saliency", "magma"))
    for ax, (image, label, cmap) in zip(axes, panels, strict=True):
        shown = ax.imshow(image.T.numpy(), aspect="auto", origin="lower", cmap=cmap)
        ax.set_title(label)
        ax.set_xlabel("time")
        fig.colorbar(shown, ax=ax, fraction=0.046)
        if label == "saliency" and mask.any():
            ax.contour(mask.float().T.numpy(), levels=[0.5], colors="cyan", linewidths=0.8)
    axes[0].set_ylabel("feature")
    fig.suptitle(title)
    fig.savefig(path, dpi=90)
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
    """Explain N samples of CHECKPOINT's own dataset; write attributions.npz and PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    import torch

    from saliencylab.data import SyntheticConfig, load_synthetic
    from saliencylab.explain import explain
    from saliencylab.explain.registry import get_method
    from saliencylab.train.trainer import load_checkpoint

    get_method(method)  # fail before loading anything
    if split not in ("test", "val", "train"):
        raise ConfigError(f"--split must be test, val or train, got {split!r}")
    if target not in ("label", "pred"):
        raise ConfigError(f"--target must be 'label' or 'pred', got {target!r}")
    params = _parse_params(param)
    shortcuts = {"lambda_tv": tv, "upsample": upsample, "steps": mask_steps}
    if any(v is not None for v in shortcuts.values()) and method != "learned_mask":
        raise ConfigError("--tv, --upsample and --steps apply to --method learned_mask only")
    params.update({k: v for k, v in shortcuts.items() if v is not None})
    steps = None if postprocess.strip().lower() == "none" else [
        s.strip() for s in postprocess.split(",") if s.strip()
    ]
    console = Console()
    model, info = load_checkpoint(checkpoint)
    if not info.get("data_config"):
        raise ConfigError(f"{checkpoint} records no data_config; cannot find its dataset")
    data = load_synthetic(SyntheticConfig(**info["data_config"]))
    part = getattr(data, split)
    count = min(n, part.x.shape[0])
    device = next(model.parameters()).device
    x = part.x[:count].to(device)
    labels, masks = part.y[:count], part.mask[:count]
    if target == "pred":
        with torch.no_grad():
            targets = model(x).argmax(1)
    else:
        targets = labels.to(device)

    start = time.perf_counter()
    result = explain(model, x, targets, method, batch_size=batch_size, seed=seed,
                     postprocess=steps, tsr=True if tsr else None, **params)
    seconds = time.perf_counter() - start

    out = out or Path("runs") / "explain" / f"{checkpoint.stem}-{method}{'-tsr' if tsr else ''}"
    out.mkdir(parents=True, exist_ok=True)
    attributions = result.attributions.detach().cpu()
    metadata = {
        "checkpoint": str(checkpoint), "method": method, "tsr": tsr, "split": split,
        "target": target, "params": result.params, "model_config": info.get("model_config"),
        "data_config": info.get("data_config"), "seconds": seconds,
    }
    np.savez_compressed(
        out / "attributions.npz", attributions=attributions.numpy(), inputs=x.cpu().numpy(),
        labels=labels.numpy(), targets=targets.cpu().numpy(), masks=masks.numpy(),
        metadata=np.array(json.dumps(metadata, default=str)),
    )
    if plots:
        name = f"{method}{' + TSR' if tsr else ''}"
        for i in range(count):
            plot_explanation(x[i].cpu(), masks[i], attributions[i],
                             f"{name} — sample {i}, label {int(labels[i])}",
                             out / f"sample_{i:03d}.png")
    table = Table(title=f"{method}{' + TSR' if tsr else ''} on {count} {split} samples")
    for col in ("samples", "seconds", "output"):
        table.add_column(col)
    table.add_row(str(count), f"{seconds:.2f}", str(out))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("methods")(methods)
    app.command("explain")(explain_cmd)
