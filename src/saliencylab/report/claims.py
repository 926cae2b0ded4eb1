"""A figure of a paper, checked against our results: what one check is made of.

The papers' figures carry no numbers, only what the authors read from them
(:data:`saliencylab.bench.paper_tables.PAPER_FIGURES`). A :class:`FigureCheck` measures the same
quantity in a preset's store (``table``), applies a rule stated on the page (``verdict``) and
draws our version of the figure (``render``). :mod:`saliencylab.report.figures` runs the checks
for the reproduction page; the checks themselves live with their paper
(:mod:`saliencylab.report.tsb_figures`, :mod:`saliencylab.report.obj_figures`).

Example:
    >>> check = FigureCheck("[TSB] Figure 3", "a rule", lambda run: pd.DataFrame(),
    ...                     lambda table: ("not comparable", "nothing stored"),
    ...                     lambda row, img_dir: [])
    >>> check.verdict(check.table(None))
    ('not comparable', 'nothing stored')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["FigureCheck", "gate_note", "restrict", "without_baselines"]

#: The random baselines a grid may run next to the methods (drawn, never counted by a rule).
BASELINES = ("random", "tsb_random", "feature_permuted_random")


@dataclass(frozen=True)
class FigureCheck:
    """One figure of a paper: ``table(run)`` its numbers from a store (an empty frame when the
    store lacks them), ``verdict(table)`` → ``(verdict, what was measured)`` by ``rule``,
    ``render(row, img_dir)`` the page's markdown after the verdict line (figures written under
    ``img_dir``; ``row`` is the figure's row of :func:`saliencylab.report.figures.figure_rows`).
    """

    figure: str
    rule: str
    table: Callable[[Any], pd.DataFrame]
    verdict: Callable[[pd.DataFrame], tuple[str, str]]
    render: Callable[[dict[str, Any], Path], list[str]]


def restrict(run: Any, datasets: list[str]) -> Any:
    """``run`` (a store's frames) with only the cells of ``datasets``."""
    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty or "dataset" not in frame:
            return frame
        return frame[frame["dataset"].isin(datasets)].reset_index(drop=True)

    return replace(run, trains=keep(run.trains), evals=keep(run.evals))


def without_baselines(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` that are methods, not a random baseline."""
    return frame[~frame["method"].isin(BASELINES)]


def gate_note(run: Any) -> str:
    """Which models of ``run`` fell under the grid's accuracy gate (empty without train cells)."""
    if run.trains.empty:
        return ""
    low = run.trains[~run.trains["fit"]]
    if low.empty:
        return "Every model passed the grid's accuracy gate.\n"
    names = ", ".join(
        f"{r.model} on {r.dataset}" + (f"/{r.process}" if isinstance(getattr(r, "process", None),
                                                                   str) else "")
        + f" ({r.test_accuracy_pct:.0f} %)" for r in low.itertuples())
    return (f"Under the grid's accuracy gate (their numbers are shown, but read them with care): "
            f"{names}.\n")
