"""Run the CLI in-process for the CLI tests: a crash re-raises its exception, a failure shows
the command's output."""

from __future__ import annotations

from typer.testing import CliRunner

from saliencylab.cli import app

runner = CliRunner()


def invoke(*args: object, columns: int = 220):
    """``saliencylab ARGS`` in a terminal ``columns`` wide; asserts exit code 0."""
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result
