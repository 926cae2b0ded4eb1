"""``saliencylab convert``: rewrite a checkpoint that holds NumPy values or paths (what older
checkpoints could hold besides tensors) as plain tensors and values, so every command reads it.

    saliencylab convert old.pt              # in place
    saliencylab convert old.pt --out new.pt

It reads the file with ``weights_only=True`` and only the NumPy and path types allowed: a file
with any other Python object is refused, as everywhere else, and no code in it runs.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def convert(
    checkpoint: Path = typer.Argument(..., exists=True, dir_okay=False,
                                      help="a checkpoint holding NumPy values or paths"),
    out: Path = typer.Option(None, help="where to write the converted file (default: in place)"),
) -> None:
    """Rewrite an old checkpoint's NumPy values and paths as plain tensors and values."""
    from saliencylab.train import convert_checkpoint

    path = convert_checkpoint(checkpoint, out)
    Console().print(f"converted: {path} (loads with weights_only=True)")


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
