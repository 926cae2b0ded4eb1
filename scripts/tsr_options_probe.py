"""Does TSR raise AUP on a run's models with the paper's choices, or with the released code's?

[TSB] Table 1 reports that TSR (Temporal Saliency Rescaling, [TSB] Algorithm 1) raises the AUP of
Gradient, DeepLIFT-SHAP and SmoothGrad on the TCN. saliencylab's TSR defaults to the paper's
choices (mask with 0, threshold at the mean time relevance); ``reference_quirks=True`` takes the
released code's (mask with the series' first value, its quantile threshold and 0.1 floor). This
script takes the trained models of a run (e.g. ``runs/tsb-table1``), explains their first
``--n`` test series with each method alone, with TSR as the paper writes it and with TSR as the
code does, with the run's method settings (its ``grid.yaml``), post-processes every map as the
benchmark does (absolute value, min-max per sample) and prints AUP / AUR of the [TSB] masking
evaluation.

    python scripts/tsr_options_probe.py runs/tsb-table1 [--n 20] [--methods gradient,smoothgrad]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from saliencylab.bench.cells import trained_models
from saliencylab.explain import explain
from saliencylab.metrics.groundtruth import evaluate_groundtruth
from saliencylab.runtime import configure_cpu

VARIANTS = {"alone": None, "TSR, paper": True, "TSR, released code": {"reference_quirks": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--n", type=int, default=20, help="test series per model")
    parser.add_argument("--methods", default="gradient,deeplift_shap,smoothgrad")
    args = parser.parse_args()
    configure_cpu()
    grid = yaml.safe_load((args.run_dir / "grid.yaml").read_text())
    settings = grid.get("method_params") or {}
    print("| design | method | map | AUP | AUR |")
    print("|---|---|---|---|---|")
    for task, model, data in trained_models(args.run_dir):
        x, y = data.test.x[: args.n], data.test.y[: args.n]
        box = data.test.mask[: args.n].bool().expand_as(x)
        for method in args.methods.split(","):
            for label, tsr in VARIANTS.items():
                saliency = explain(model, x, y, method, tsr=tsr, postprocess="tsb",
                                   **settings.get(method, {})).attributions
                summary = evaluate_groundtruth(model, x, y, box, saliency, data.background,
                                               generator=0).summary()
                print(f"| {task.dataset} | {method} | {label} | {summary['aup']:.3f} | "
                      f"{summary['aur']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
