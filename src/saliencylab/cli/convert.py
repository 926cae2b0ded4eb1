"""``saliencylab convert``: rewrite a checkpoint that holds Python objects (an older
saliencylab's, or one made by ``torch.save`` of a whole model) as plain tensors and values.

    saliencylab convert old.pt              # in place
    saliencylab convert old.pt --out new.pt

Loading such a file runs whatever code it contains, which is why every other command refuses
it: run this only on a file from a source you trust.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def convert(
    checkpoint: Path = typer.Argument(..., exists=True, dir_okay=False,
                                      help="a checkpoint file you trust"),
    out: Path = typer.Option(None, help="where to write the converted file (default: in place)"),
) -> None:
    """Rewrite a trusted old checkpoint so that it loads without running code."""
    from saliencylab.train import convert_checkpoint

    path = convert_checkpoint(checkpoint, out)
    Console().print(f"converted: {path} (loads with weights_only=True)")


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
