"""Measured checks of the papers' claims on a run, each stated with what was measured."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass
class Finding:
    claim: str
    measured: str
    agrees: bool | None  # None: the run does not contain what the claim needs


def _mean(frame: pd.DataFrame, column: str) -> float | None:
    values = frame[column].dropna() if column in frame else pd.Series(dtype=float)
    return float(values.mean()) if len(values) else None


def findings(evals: pd.DataFrame) -> list[Finding]:
    """Checks of [TSB] (Ismail et al., NeurIPS 2020) and [SGT] (NeurIPS 2021) claims."""
    out: list[Finding] = []
    if evals.empty:
        return out
    trad = evals[evals["training"] == "traditional"]

    ig = trad[(trad["model"] == "tcn") & (trad["method"] == "integrated_gradients")]
    diff = _mean(ig, "diff_aup")
    out.append(Finding(
        "TCN + Integrated Gradients beats the random baseline: Diff(AUP) > 0 "
        "([TSB]; [SGT] Table 2 reports +.233 averaged over the 10 designs)",
        "not in this run" if diff is None else
        f"Diff(AUP) = {diff:+.3f} (mean over {len(ig)} cells: "
        f"{', '.join(sorted(ig['dataset'].unique()))})",
        None if diff is None else diff > 0,
    ))

    for model in sorted(trad["model"].unique()):
        mid = trad[(trad["model"] == model) & (trad["dataset"] == "Middle")
                   & (trad["process"] == "Gaussian")]
        grad = _mean(mid[mid["method"] == "gradient"], "aup")
        tsr = _mean(mid[mid["method"] == "gradient+tsr"], "aup")
        if grad is None or tsr is None:
            continue
        paper = " (paper, TCN: .328 -> .381)" if model == "tcn" else ""
        out.append(Finding(
            f"TSR + Gradient improves AUP over Gradient on Middle / Gaussian, {model} "
            f"([TSB] Table 1){paper}",
            f"AUP {grad:.3f} -> {tsr:.3f}",
            tsr > grad,
        ))

    if set(evals["training"]) >= {"traditional", "saliency_guided"}:
        for (model, method), sub in evals.groupby(["model", "method"]):
            if method == "random":
                continue
            t = _mean(sub[sub["training"] == "traditional"], "diff_aup")
            s = _mean(sub[sub["training"] == "saliency_guided"], "diff_aup")
            if t is None or s is None:
                continue
            out.append(Finding(
                f"Saliency guided training raises Diff(AUP) for {model} + {method} "
                "([SGT] Table 2 direction: up for TCN+IG and LSTM+input-cell+IG)",
                f"Diff(AUP) Trad. {t:+.3f} -> Sal. {s:+.3f}",
                s > t,
            ))
    return out
