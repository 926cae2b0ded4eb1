"""Tables derived from a run's results store: accuracies, AUP/AUR, Diff against random.

Diff(AUP) = AUP(method) - AUP(random baseline) for the same trained model, as in [TSB]
(Ismail et al., NeurIPS 2020) and [SGT] Table 2 (Ismail et al., NeurIPS 2021).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from saliencylab.bench.store import ResultStore

ID_COLUMNS = ["dataset", "process", "model", "training", "seed"]


def _wide(frame: pd.DataFrame, statistic: str = "mean") -> pd.DataFrame:
    """One row per cell, one column per metric (the given statistic)."""
    if frame.empty:
        return frame
    sub = frame[frame["statistic"] == statistic]
    index = [c for c in frame.columns if c not in ("metric", "statistic", "value")]
    # A cell described with a None (no process for real data) would vanish from the pivot.
    sub = sub.astype({c: object for c in index}).fillna({c: "–" for c in index})
    wide = sub.pivot_table(index=index, columns="metric", values="value", aggfunc="first")
    return wide.reset_index()


def newest_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``cells`` (:meth:`ResultStore.cells_frame`) that finished last among those
    describing the same model or the same (model, method).

    A store keeps the cells of an earlier version of its grid (a preset whose settings changed
    gives its models new keys): read side by side, the old and the new models would be
    averaged together."""
    if cells.empty:
        return cells
    ids = [c for c in (*ID_COLUMNS, "method", "split") if c in cells]
    order = cells.assign(_finished=cells["finished"].fillna(0.0))
    order = order.sort_values("_finished", kind="stable")
    return order.drop_duplicates(subset=ids, keep="last").drop(columns="_finished").sort_index()


def current_results(store: ResultStore, kind: str) -> pd.DataFrame:
    """``store.results_frame(kind=kind)`` without the cells an earlier version of the grid left
    behind (:func:`newest_cells`): what every table and page reads."""
    cells = store.cells_frame(kind)
    frame = store.results_frame(kind=kind)
    if frame.empty or cells.empty:
        return frame
    return frame[frame["key"].isin(set(newest_cells(cells)["key"]))]


def train_table(store: ResultStore) -> pd.DataFrame:
    """Accuracy and training time per trained model."""
    frame = _wide(current_results(store, "train"), "value")
    if frame.empty:
        return frame
    cols = [c for c in ID_COLUMNS if c in frame] + [
        c for c in ("val_accuracy", "test_accuracy", "fit_to_interpret", "epochs_run",
                    "train_seconds") if c in frame
    ]
    return frame[cols].sort_values(ID_COLUMNS).reset_index(drop=True)


def eval_table(store: ResultStore) -> pd.DataFrame:
    """One row per eval cell with its summary metrics (means)."""
    frame = _wide(current_results(store, "eval"), "mean")
    if frame.empty:
        return frame
    keep = ID_COLUMNS + ["method", "train_key"]
    metrics = [c for c in frame.columns if c.endswith(("aup", "aur", "aupr")) or
               c.startswith("accuracy_") or c in ("clean_accuracy_pct", "wjac", "euc")]
    return frame[[c for c in keep if c in frame] + metrics]


def with_diffs(evals: pd.DataFrame, random_method: str = "random") -> pd.DataFrame:
    """Add Diff columns (``diff_aup``, ``diff_aur``, time/feature versions) per trained model,
    and ``diff_baseline``: the method label the Diff columns subtract (``random``, or
    ``tsb_random`` for the baseline of [TSB] §4.3)."""
    if evals.empty:
        return evals
    metrics = [c for c in evals.columns if c.endswith(("aup", "aur"))]
    base = evals[evals["method"] == random_method].set_index("train_key")[metrics]
    out = evals.copy()
    for m in metrics:
        out[f"diff_{m}"] = out[m] - out["train_key"].map(base[m])
    out["diff_baseline"] = random_method
    return out


def diff_table(evals: pd.DataFrame, metric: str = "diff_aup",
               random_method: str = "random") -> pd.DataFrame:
    """The paper's layout: rows = model per dataset, columns = method x training.

    Values are means over seeds.
    """
    if evals.empty or metric not in evals:
        return pd.DataFrame()
    sub = evals[evals["method"] != random_method]
    table = sub.pivot_table(index=["dataset", "process", "model"], columns=["method", "training"],
                            values=metric, aggfunc="mean")
    return table.sort_index(axis=1)


def method_means(evals: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean, standard error and count of ``metric`` per (model, method, training).

    Taken over datasets and seeds.
    """
    if evals.empty or metric not in evals:
        return pd.DataFrame()
    grouped = evals.groupby(["model", "method", "training"])[metric]
    return pd.DataFrame({"mean": grouped.mean(), "se": grouped.sem(), "n": grouped.count()})


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, columns: list[str]) -> str:
    """``frame[columns]`` as a markdown table: floats to 3 decimals, ``–`` for missing values,
    flags as yes / no.

    >>> print(markdown_table(pd.DataFrame({"a": [0.5], "ok": [True]}), ["a", "ok"]), end="")
    | a | ok |
    |---|---|
    | 0.500 | yes |
    """
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(_cell(v) for v in row) + " |\n"
                   for row in frame[columns].astype(object).itertuples(index=False))
    return head + body
