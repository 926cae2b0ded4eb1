"""The papers' figures on the reproduction page: one verdict each, from the presets' stores.

Every figure of :data:`saliencylab.bench.paper_tables.PAPER_FIGURES` has a
:class:`~saliencylab.report.claims.FigureCheck` ([TSB] Figures 3, 6, 7, 8 in
:mod:`saliencylab.report.tsb_figures`; [OBJ] Figures 3 to 8 in
:mod:`saliencylab.report.obj_figures`). :func:`figure_rows` loads the store of each figure's
preset at a scale and applies the check; where the figure names the paper's data and the store
holds other data only (the small scale's GunPoint and synthetic segmentation series), the rule
is applied and shown but the verdict is *not comparable* (other data), as for the tables.

Example:
    >>> figure_rows("no-such-folder", "small")[0]["verdict"]
    'not comparable'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from saliencylab.bench.paper_tables import PAPER_FIGURES
from saliencylab.report.claims import FigureCheck, restrict
from saliencylab.report.obj_figures import OBJ_CHECKS
from saliencylab.report.tsb_figures import TSB_CHECKS

__all__ = ["CHECKS", "figure_rows", "figure_sections"]

#: Every figure's check, in the page's order.
CHECKS: tuple[FigureCheck, ...] = (*TSB_CHECKS, *OBJ_CHECKS)


def _load(run_root: str | Path, preset: str) -> Any:
    from saliencylab.report.reproduction import _load as load  # the page's one store loader

    return load(Path(run_root) / preset, preset)


def figure_rows(run_root: str | Path = "runs", scale: str = "small") -> list[dict[str, Any]]:
    """One summary row per figure: ``table`` (the figure), ``preset``, ``verdict``,
    ``measured``, ``cell seconds`` (None when the preset has not run), ``stand_in`` (the data
    that stood in for the paper's, or None) and, for the page, ``run``, ``frame`` (the
    figure's numbers) and ``run_dir``."""
    from saliencylab.bench.config import scaled_preset

    loaded: dict[str, Any] = {}
    rows = []
    for check in CHECKS:
        info = PAPER_FIGURES[check.figure]
        preset = scaled_preset(info["preset"], scale)
        if preset not in loaded:
            loaded[preset] = _load(run_root, preset)
        run, stand_in = loaded[preset], None
        if run is not None and info.get("datasets") and not run.trains.empty:
            have = list(dict.fromkeys(run.trains["dataset"]))
            paper = [d for d in have if d in info["datasets"]]
            if paper:
                run = restrict(run, paper)
            else:
                stand_in = ", ".join(have)
        table = pd.DataFrame() if run is None else check.table(run)
        verdict, measured = check.verdict(table)
        if run is None:
            measured = "not run yet"
        elif stand_in and not table.empty:
            measured = (f"on {stand_in}, standing in for the paper's "
                        f"{', '.join(info['datasets'])}, the rule gives *{verdict}*: {measured}")
            verdict = "not comparable"
        rows.append({"table": check.figure, "preset": preset, "verdict": verdict,
                     "measured": measured, "stand_in": stand_in,
                     "cell seconds": None if loaded[preset] is None
                     else loaded[preset].cell_seconds,
                     "run": run, "frame": table, "run_dir": Path(run_root) / preset,
                     "check": check})
    return rows


def figure_sections(rows: list[dict[str, Any]], img_dir: str | Path) -> list[str]:
    """The page's markdown section of each figure (from :func:`figure_rows`); the figures are
    written under ``img_dir`` and linked as ``img/<name>``."""
    from saliencylab.report.reproduction import _command, disagreement_note

    img_dir = Path(img_dir)
    parts: list[str] = []
    for row in rows:
        figure, preset, check = row["table"], row["preset"], row["check"]
        info = PAPER_FIGURES[figure]
        parts.append(f"## {figure}\n")
        parts.append(f"The paper shows {info['shows']}, and says: \"{info['claim']}\".\n")
        parts.append(f"Verdict rule: {check.rule}.\n")
        if row["run"] is None or row["frame"].empty:
            state = "not run yet" if row["run"] is None else "run, but its store lacks them"
            parts.append(f"Preset `{preset}` {state}: `{_command(preset)}` (or "
                         f"`{_command(preset, 'reproduce')}`) computes it.\n")
            continue
        parts.append(f"**Verdict: {row['verdict']}** — {row['measured']}. "
                     f"Command: `{_command(preset)}`.\n")
        if note := disagreement_note(figure, int(row["verdict"] == "disagrees")):
            parts.append(note)
        parts += check.render(row, img_dir)
    return parts
