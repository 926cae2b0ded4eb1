"""The ``saliencylab`` command-line tool (typer).

Each command group lives in its own module and registers itself on :data:`app` through a
``register(app)`` function, so the tool grows without one giant file.
"""

from __future__ import annotations

import importlib

import typer

from saliencylab.errors import SaliencyLabError

app = typer.Typer(
    name="saliencylab",
    help="Explain, evaluate and improve the saliency maps of PyTorch models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

@app.callback()
def _global_options(
    threads: int = typer.Option(
        1, min=1, envvar="SALIENCYLAB_THREADS",
        help="torch CPU threads; the benchmark's small models run fastest on one, and more "
        "threads on a busy machine can be many times slower",
    ),
) -> None:
    from saliencylab.runtime import configure_cpu

    configure_cpu(threads)


# Command modules, in the order their commands appear in --help.
_COMMAND_MODULES = ("data", "train", "explain", "evaluate", "bench", "reproduce", "convert")

for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"saliencylab.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command group not written yet
        if exc.name != f"saliencylab.cli.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    """Entry point: run the app and turn our errors into one clear line and exit code 2."""
    try:
        app()
    except SaliencyLabError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from exc

