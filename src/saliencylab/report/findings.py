"""Measured checks of the papers' claims on a run, each stated with what was measured."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# [SGT] Table 2, mean Diff(AUP) over the 10 designs, (traditional, saliency guided).
SGT_TABLE2_AUP = {
    ("tcn", "integrated_gradients"): (0.233, 0.291),
    ("lstm_ica", "integrated_gradients"): (0.188, 0.245),
    ("lstm", "gradient"): (-0.113, -0.119),
    ("transformer", "integrated_gradients"): (0.061, 0.044),
}


@dataclass
class Finding:
    claim: str
    measured: str
    agrees: bool | None  # None: no paper figure to compare with, or not in this run

    @property
    def verdict(self) -> str:
        if self.agrees is None:
            return "not measured" if self.measured.startswith("not in") else "measured"
        return "agrees" if self.agrees else "disagrees"


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
            paper = SGT_TABLE2_AUP.get((model, method))
            if paper is None:
                claim = (f"Saliency guided training and Diff(AUP) for {model} + {method} "
                         "([SGT] Table 2 has no figure for this pair)")
                agrees = None
            else:
                direction = "raises" if paper[1] > paper[0] else "lowers"
                claim = (f"Saliency guided training {direction} Diff(AUP) for {model} + {method} "
                         f"([SGT] Table 2: {paper[0]:+.3f} -> {paper[1]:+.3f})")
                agrees = (s > t) == (paper[1] > paper[0])
            out.append(Finding(claim, f"Diff(AUP) Trad. {t:+.3f} -> Sal. {s:+.3f}", agrees))
    return out
