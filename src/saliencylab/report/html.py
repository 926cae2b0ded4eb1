"""``saliencylab report RUN_DIR``: a self-contained HTML page with its PNG figures.

The page holds what was measured, the model accuracies, the Diff(AUP) / Diff(AUR) table in the
layout of [TSB] / [SGT] Table 2 (rows = model per dataset, columns = method x training),
accuracy-drop curves against random, AUP / AUR distributions by model and by method, example maps
next to the ground truth, measured checks of the papers' claims and, when the run computed them,
the quality metrics of [OBJ] / [CS] (:mod:`saliencylab.report.quality`).
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from saliencylab.bench.store import ResultStore
from saliencylab.errors import SaliencyLabError
from saliencylab.report import plots
from saliencylab.report.findings import findings
from saliencylab.report.images import image_section
from saliencylab.report.quality import quality_section
from saliencylab.report.tables import diff_table, eval_table, train_table, with_diffs
from saliencylab.report.text import text_section

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{margin-bottom:0} .sub{color:#666;margin-top:.2em}
table{border-collapse:collapse;margin:.8em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3} td.pos{background:#e3f4e3} td.neg{background:#f8e1e1}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
.ok{color:#137333;font-weight:600} .no{color:#b3261e;font-weight:600} .na{color:#777}
"""


def _fmt_table(frame: pd.DataFrame, signed: bool = False, digits: int = 3) -> str:
    if frame.empty:
        return "<p class='na'>nothing measured yet</p>"

    def cell(v: object) -> str:
        if isinstance(v, float | np.floating):
            if np.isnan(v):
                return "<td>–</td>"
            cls = (" class='pos'" if v > 0 else " class='neg'" if v < 0 else "") if signed else ""
            return f"<td{cls}>{v:+.{digits}f}</td>" if signed else f"<td>{v:.{digits}f}</td>"
        return f"<td>{html.escape(str(v))}</td>"

    flat = frame.copy()
    if isinstance(flat.columns, pd.MultiIndex):
        flat.columns = [" / ".join(map(str, c)) for c in flat.columns]
    flat = flat.reset_index() if not isinstance(flat.index, pd.RangeIndex) else flat
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in flat.columns)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>"
                   for row in flat.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(run_dir: str | Path, random_method: str | None = None) -> Path:
    """Write ``RUN_DIR/report/index.html`` (+ PNGs) from the run's store; returns the page."""
    run_dir = Path(run_dir)
    db = run_dir / "results.sqlite"
    if not db.is_file():
        raise SaliencyLabError(f"{run_dir} holds no results.sqlite: run `saliencylab bench` first")
    grid_file = run_dir / "grid.yaml"
    grid = yaml.safe_load(grid_file.read_text()) if grid_file.is_file() else {}
    random_method = random_method or grid.get("random_baseline") or "random"
    out = run_dir / "report"
    out.mkdir(exist_ok=True)
    store = ResultStore(db)
    trains = train_table(store)
    evals = eval_table(store)
    if "aup" in evals:  # data without ground truth (UCR, images) has quality cells only
        evals = evals[evals["aup"].notna()].reset_index(drop=True)
    evals = with_diffs(evals, random_method)
    cells = store.cells_frame()
    quality = quality_section(store, out)
    # A run with quality metrics only (UCR data, `saliencylab evaluate`) has no [TSB] part.
    groundtruth = "aup" in evals or not quality

    parts = [f"<h1>saliencylab benchmark — {html.escape(str(grid.get('name', run_dir.name)))}</h1>",
             f"<p class='sub'>{time.strftime('%Y-%m-%d %H:%M')} · {len(cells)} cells · "
             f"{cells['duration'].sum():.0f} s of cell time · run directory "
             f"<code>{html.escape(str(run_dir))}</code></p>"]
    measured = ("<h2>What was measured</h2><p>Each model is trained on the training split, "
                 "selected on the validation split, and explained on test samples with the "
                 "target = true label. Maps are post-processed as in [TSB] (absolute value, "
                 "per-sample min-max). The top cells by cumulative saliency mass at d = 0…100 % "
                 "are replaced with fresh draws of the dataset's own background; AUP / AUR are "
                 "trapezoids of weighted precision / recall over d = 0.1…0.9 (at most 0.8). "
                 "Diff(AUP) = AUP(method) − AUP(" + html.escape(random_method) + ") of the same "
                 "model. Models under the grid's gate of "
                 f"{100 * float((grid.get('train') or {}).get('min_test_accuracy', 0.95)):g} % "
                 "test accuracy are marked (fit_to_interpret = 0); [TSB] §5 analyses models above "
                 "95 %.</p>")
    if groundtruth:
        parts.append(measured)

    facts = findings(evals) if "aup" in evals else []
    if facts:
        css = {"agrees": "ok", "disagrees": "no"}
        items = "".join(
            f"<li><span class='{css.get(f.verdict, 'na')}'>{f.verdict}</span> — "
            f"{html.escape(f.claim)}: {html.escape(f.measured)}</li>" for f in facts)
        parts.append(f"<h2>The papers' claims, measured</h2><ul>{items}</ul>")

    parts.append("<h2>Models</h2>" + _fmt_table(trains))
    for metric, title in (("diff_aup", "Diff(AUP)"), ("diff_aur", "Diff(AUR)")):
        if not groundtruth:
            break
        parts.append(f"<h2>{title} against {html.escape(random_method)}</h2>"
                     + _fmt_table(diff_table(evals, metric, random_method), signed=True))
    if not evals.empty and "aup" in evals:  # eval cells of UCR data hold quality rows only
        summary = evals.groupby(["model", "method", "training"])[["aup", "aur", "aupr",
                                                                  "accuracy_auc"]].mean()
        parts.append("<h2>AUP, AUR, AUPR and accuracy-drop AUC (mean over datasets)</h2>"
                     + _fmt_table(summary))
        plots.accuracy_drop_curves(evals, out / "accuracy_drop.png", random_method)
        parts.append("<h2>Accuracy drop against random</h2><p>Lower curves = the masked cells "
                     "mattered more to the model.</p><img src='accuracy_drop.png'>")
        for by in ("model", "method"):
            plots.distributions(evals, by, out / f"pr_by_{by}.png", random_method)
            parts.append(f"<h2>Precision / recall by {by}</h2><img src='pr_by_{by}.png'>")

    parts.append(quality)
    parts.append(image_section(run_dir, store, out))  # [SGT] images: empty for other runs
    text = text_section(run_dir, store)  # [SGT] Table 1 and token maps of text cells
    parts.append(text)
    examples = [] if text else _examples(run_dir, store)
    if examples:
        plots.example_maps(examples, out / "examples.png")
        parts.append("<h2>Example saliency maps</h2><img src='examples.png'>")

    page = out / "index.html"
    page.write_text("<!doctype html><html><head><meta charset='utf-8'><title>saliencylab "
                    f"report</title><style>{_CSS}</style></head><body>"
                    + "\n".join(parts) + "</body></html>")
    store.close()
    return page


def _examples(run_dir: Path, store: ResultStore, limit: int = 6):
    """One example per (model, method) of the first dataset, random baseline left out."""
    cells = store.cells_frame(kind="eval")
    if cells.empty:
        return []
    first = cells["dataset"].iloc[0]
    chosen = cells[(cells["dataset"] == first) & (cells["method"] != "random")]
    out = []
    for row in chosen.head(limit).itertuples():
        path = run_dir / "examples" / f"{row.key}.npz"
        if path.is_file():
            out.append((f"{row.model} · {row.method} · {row.training}", np.load(path)))
    return out
