"""The text part of a run's report: the [SGT] Table 1 layout and token maps as highlighted text.

Table 1 of [SGT] (Section 5.2) lists, per ERASER dataset, comprehensiveness ↑ and sufficiency ↓
(AOPC) per saliency method for traditional ("Trad.") and saliency guided ("Sal. Guided")
training, next to random token scores. :func:`table1_frame` builds that layout from the eval
cells of a results store; :func:`text_section` renders it, the agreement with the rationales
(token F1, AUPRC), the per-bin curves, and for each (training, method) the first stored example
as text whose tokens are shaded by saliency (rationale tokens underlined). Every token is
HTML-escaped.

Example:
    >>> html = text_section(run_dir, store)  # doctest: +SKIP
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from saliencylab.bench.store import ResultStore
from saliencylab.report.tables import current_results

__all__ = ["TEXT_METRICS", "highlight_tokens", "table1_frame", "text_section"]

#: The text metrics and their orientation (True: higher is better).
TEXT_METRICS: dict[str, bool] = {"comprehensiveness": True, "sufficiency": False,
                                 "token_f1": True, "token_auprc": True}
_TRAINING = {"traditional": "Trad.", "saliency_guided": "Sal. Guided", "fine_tuned": "Fine-tuned"}


def _method_rank(method: str) -> tuple[int, str]:
    """The registry's order (gradient, integrated gradients, ...), random baselines last."""
    from saliencylab.explain.registry import METHODS

    names = list(METHODS)
    rank = names.index(method) if method in names else len(names)
    return (len(names) + 1 if method == "random" else rank, method)


def _text_rows(store: ResultStore) -> pd.DataFrame:
    frame = current_results(store, "eval")
    if frame.empty or "metric" not in frame:
        return pd.DataFrame()
    return frame[frame["metric"].isin(TEXT_METRICS)]


def table1_frame(store: ResultStore, metrics: tuple[str, ...] = ("comprehensiveness",
                                                                   "sufficiency")
                 ) -> pd.DataFrame:
    """Rows ``(dataset, model, metric)``, columns ``(method, training)``: mean over samples
    (and seeds) of each metric, the [SGT] Table 1 layout; random columns included."""
    rows = _text_rows(store)
    if rows.empty:
        return pd.DataFrame()
    means = rows[(rows["statistic"] == "mean") & rows["metric"].isin(metrics)].copy()
    if means.empty:
        return pd.DataFrame()
    means["training"] = [_TRAINING.get(t, t) for t in means["training"]]
    means["metric"] = [m + (" ↑" if TEXT_METRICS[m] else " ↓") for m in means["metric"]]
    table = means.pivot_table(index=["dataset", "model", "metric"],
                              columns=["method", "training"], values="value", aggfunc="mean")
    order = sorted(dict.fromkeys(means["method"]), key=_method_rank)
    trainings = [t for t in _TRAINING.values() if t in set(means["training"])]
    columns = [(m, t) for m in order for t in trainings if (m, t) in table.columns]
    return table.reindex(columns=pd.MultiIndex.from_tuples(columns))


def _table_html(frame: pd.DataFrame, best: bool = True) -> str:
    if frame.empty:
        return "<p class='na'>nothing measured yet</p>"
    methods = list(dict.fromkeys(m for m, _ in frame.columns))
    head1 = "<th colspan=3></th>" + "".join(
        f"<th colspan={sum(1 for c in frame.columns if c[0] == m)}>{html.escape(m)}</th>"
        for m in methods)
    head2 = "<th>dataset</th><th>model</th><th>metric</th>" + "".join(
        f"<th>{html.escape(t)}</th>" for _, t in frame.columns)
    body = []
    for (dataset, model, metric), values in frame.iterrows():
        higher = metric.endswith("↑")
        finite = [v for (m, _), v in values.items() if m != "random" and np.isfinite(v)]
        top = (max(finite) if higher else min(finite)) if finite and best else None
        cells = "".join("<td>–</td>" if not np.isfinite(v) else
                        (f"<td><b>{v:.3f}</b></td>" if v == top else f"<td>{v:.3f}</td>")
                        for v in values)
        body.append(f"<tr><td>{html.escape(str(dataset))}</td><td>{html.escape(str(model))}"
                    f"</td><td>{html.escape(str(metric))}</td>{cells}</tr>")
    return f"<table><tr>{head1}</tr><tr>{head2}</tr>{''.join(body)}</table>"


def _bins_html(rows: pd.DataFrame) -> str:
    curves = rows[rows["statistic"].astype(str).str.startswith("at_")].copy()
    if curves.empty:
        return ""
    curves["q"] = curves["statistic"].str.removeprefix("at_").str.removesuffix("pct")
    curves["training"] = [_TRAINING.get(t, t) for t in curves["training"]]
    table = curves.pivot_table(index=["dataset", "metric", "method", "training"], columns="q",
                               values="value", aggfunc="mean")
    table = table.reindex(columns=sorted(table.columns, key=float))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in
                   ["dataset", "metric", "method", "training", *(f"{q} %" for q in
                                                                 table.columns)])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(i))}</td>" for i in index)
                   + "".join(f"<td>{v:.3f}</td>" for v in values) + "</tr>"
                   for index, values in zip(table.index, table.to_numpy(), strict=True))
    return ("<h3>Per-bin terms</h3><p>Mean of each AOPC term: p(X) − p(X without the top q % "
            "tokens) for comprehensiveness, p(X) − p(only the top q %) for sufficiency; q = 0 is "
            f"the k = 0 term.</p><table><tr>{head}</tr>{body}</table>")


def highlight_tokens(tokens: list[str], saliency: np.ndarray, rationale: np.ndarray | None = None
                     ) -> str:
    """HTML of ``tokens`` shaded red by ``saliency`` (scaled to its maximum |value|), rationale
    tokens underlined; every token escaped.

    >>> highlight_tokens(["<b>", "ok"], np.array([1.0, 0.0]), np.array([True, False]))[:60]
    '<span title="1.000" style="background:rgba(220,40,40,1.00);b'
    """
    sal = np.abs(np.asarray(saliency, dtype=float))
    scale = float(sal.max()) if sal.size and float(sal.max()) > 0 else 1.0
    out = []
    for i, token in enumerate(tokens):
        alpha = sal[i] / scale
        line = ";border-bottom:2px solid #1a5fb4" if rationale is not None and rationale[i] else ""
        out.append(f'<span title="{sal[i]:.3f}" style="background:rgba(220,40,40,{alpha:.2f})'
                   f'{line}">{html.escape(token)}</span>')
    return " ".join(out)


def _vocabularies(run_dir: Path) -> dict[str, Any]:
    """The vocabulary of each text dataset of the grid (``dataset -> Vocabulary``), rebuilt
    from ``grid.yaml``; datasets that cannot be loaded now (a moved folder) are left out."""
    from saliencylab.bench.config import GridConfig
    from saliencylab.bench.plan import train_tasks
    from saliencylab.data.text import vocabulary_of
    from saliencylab.errors import SaliencyLabError

    grid_file = run_dir / "grid.yaml"
    if not grid_file.is_file():
        return {}
    try:
        grid = GridConfig(**(yaml.safe_load(grid_file.read_text()) or {}))
        tasks = train_tasks(grid)
    except SaliencyLabError:
        return {}
    out: dict[str, Any] = {}
    for task in tasks:
        if task.dataset in out:
            continue
        try:
            data = task.load_data()
        except SaliencyLabError:
            continue
        if data.modality == "text":
            out[task.dataset] = vocabulary_of(data)
    return out


def _examples_html(run_dir: Path, store: ResultStore, limit: int = 8) -> str:
    cells = store.cells_frame(kind="eval")
    rows = _text_rows(store)
    if cells.empty or rows.empty:
        return ""
    vocabs = _vocabularies(run_dir)
    text_keys = set(rows["key"])
    chosen = cells[cells["key"].isin(text_keys)]
    parts = []
    for row in chosen.head(limit).itertuples():
        path = run_dir / "examples" / f"{row.key}.npz"
        vocab = vocabs.get(row.dataset)
        if not path.is_file() or vocab is None:
            continue
        with np.load(path, allow_pickle=False) as ex:
            ids, sal, mask = ex["x"][0], ex["saliency"][0], ex["mask"][0]
            label = int(ex["y"][0])
        n = int(np.max(np.nonzero(ids)[0]) + 1) if np.any(ids) else 1
        tokens = vocab.decode(ids[:n].tolist())
        title = (f"{row.dataset} · {row.model} · {_TRAINING.get(row.training, row.training)} · "
                 f"{row.method} · label {label}")
        parts.append(f"<p><b>{html.escape(title)}</b><br>"
                     f"{highlight_tokens(tokens, sal[:n], mask[:n].astype(bool))}</p>")
    if not parts:
        return ""
    return ("<h3>Token maps</h3><p>The first test document of each cell, tokens shaded by the "
            "map (darker = more salient); the ground-truth rationale is underlined.</p>"
            + "\n".join(parts))


def text_section(run_dir: str | Path, store: ResultStore) -> str:
    """HTML for the report (empty when the run has no text metrics)."""
    run_dir = Path(run_dir)
    rows = _text_rows(store)
    if rows.empty:
        return ""
    parts = ["<h2>Text: ERASER faithfulness [SGT] Table 1</h2><p>Comprehensiveness ↑ = AOPC of "
             "the drop of the label's probability when the top 0 / 1 / 5 / 10 / 20 / 50 % tokens "
             "by saliency are deleted; sufficiency ↓ = AOPC of the drop when only they are kept; "
             "the k = 0 term is included (divide by |bins| + 1). 'random' = random token scores. "
             "Best non-random value per row in bold.</p>",
             _table_html(table1_frame(store))]
    agreement = table1_frame(store, ("token_f1", "token_auprc"))
    if not agreement.empty:
        parts.append("<h3>Agreement with the rationales (ERASER)</h3><p>token F1 of the top "
                     "k_d tokens (k_d = mean rationale fraction) and AUPRC of the token scores "
                     "against the ground-truth rationale.</p>" + _table_html(agreement))
    parts.append(_bins_html(rows))
    parts.append(_examples_html(run_dir, store))
    return "\n".join(p for p in parts if p)
