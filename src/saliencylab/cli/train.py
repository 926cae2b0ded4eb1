"""``saliencylab train``: train a benchmark model on a synthetic dataset and save a checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


def train(
    dataset: str = typer.Option("Middle", help="design name, see `saliencylab data list`"),
    process: str = typer.Option("Gaussian", help="generating process"),
    model: str = typer.Option("tcn", help="model name: lstm, lstm_ica, tcn, transformer, ..."),
    epochs: int = typer.Option(50, min=1, help="maximum epochs (early stopping on validation)"),
    batch_size: int = typer.Option(50, min=1),
    lr: float = typer.Option(1e-3, min=0.0),
    seed: int = typer.Option(0, help="seeds data, initialisation and batch order"),
    device: str = typer.Option("auto", help="auto, cpu, cuda, mps"),
    out: Path = typer.Option(None, help="checkpoint path (default runs/checkpoints/...)"),
) -> None:
    """Train MODEL on DATASET / PROCESS; print validation and test accuracy; save a checkpoint."""
    from saliencylab.data import load_synthetic
    from saliencylab.models import build_model
    from saliencylab.train import TrainConfig, fit, save_checkpoint
    from saliencylab.utils import seed_everything

    console = Console()
    data = load_synthetic(dataset, process, seed=seed)
    seed_everything(seed)
    net = build_model(model, n_features=data.n_features, n_time=data.n_time,
                      n_classes=data.n_classes)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
    result = fit(net, data, config)
    out = out or Path("runs") / "checkpoints" / f"{dataset}-{process}-{model}-s{seed}.pt"
    save_checkpoint(out, result.model, data_config=data.config, train_config=config,
                    procedure=result.procedure, metrics=result.metrics())

    table = Table(title=f"{model} on {dataset} / {process}")
    for col in ("val accuracy", "test accuracy", "best epoch", "epochs run", "seconds", "fit"):
        table.add_column(col, justify="right")
    table.add_row(f"{result.val_accuracy:.3f}", f"{result.test_accuracy:.3f}",
                  str(result.best_epoch), str(len(result.epoch_seconds)),
                  f"{result.seconds:.1f}", "yes" if result.fit_to_interpret else "no (< 90 %)")
    console.print(table)
    console.print(f"checkpoint: {out}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
